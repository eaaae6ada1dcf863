//! Regression tests for the security review of issue 13, each reproducing the attack against
//! the real `acd` binary over real sockets: raw SIP bytes written from Rust over TCP and UDP,
//! SIPp where a full call is needed, HTTP for the toolbar. One attack per test.

use acd_tests::{expect_problem, json_body, Acd};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// How long a test waits for an answer that must come (a failure, not a timing assertion).
const WAIT: Duration = Duration::from_secs(10);

fn udp_exchange_on(sock: &UdpSocket, sip: SocketAddr, msg: &str) -> Option<String> {
    sock.send_to(msg.as_bytes(), sip).unwrap();
    let mut buf = [0u8; 65_535];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        // Provisional responses (100 Trying) are not the answer.
        if !text.starts_with("SIP/2.0 1") {
            return Some(text);
        }
    }
}

fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn options(local: SocketAddr, call_id: &str) -> String {
    format!(
        "OPTIONS sip:acd@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:acd@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// acd still answers an OPTIONS over UDP.
fn assert_answers_options(sip: SocketAddr, call_id: &str) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let local = sock.local_addr().unwrap();
    let resp = udp_exchange_on(&sock, sip, &options(local, call_id))
        .expect("acd answers OPTIONS after the attack");
    assert_eq!(status_of(&resp), 200, "{resp}");
}

// ----- H1: Content-Length near 2^64 over TCP ------------------------------------------------

/// Before the fix `n as usize + body_start` wrapped, the size check never tripped and the
/// connection buffered everything sent (300 MB: RSS +320 MB). Now the headers get a 413, the
/// connection closes, and streaming on cannot grow acd.
#[test]
fn tcp_content_length_near_2_pow_64_gets_413_and_the_connection_closes() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    // Warm up (first-use allocations) so RSS is compared at rest.
    assert_answers_options(sip, "warm-up");
    let rss_before = acd.rss_kib();

    let mut tcp = TcpStream::connect(sip).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    let local = tcp.local_addr().unwrap();
    let head = format!(
        "MESSAGE sip:acd@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-h1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:attacker@127.0.0.1>;tag=a1\r\n\
         To: <sip:acd@127.0.0.1>\r\n\
         Call-ID: h1-overflow\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Length: {}\r\n\r\n",
        u64::MAX - 100
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The answer, then end of stream (or a reset): acd closed the connection.
    loop {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("SIP/2.0 413 "),
        "expected a 413, got {text:?}"
    );
    assert!(text.contains("Call-ID: h1-overflow"), "{text}");

    // Streaming the "body" on (what the attack did) fails quickly: nobody reads it. Bounded.
    let chunk = vec![b'x'; 1 << 16];
    let mut sent = 0usize;
    let limit = 256usize << 20;
    while sent < limit {
        match tcp.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    assert!(
        sent < limit,
        "acd kept reading {sent} bytes of an oversized body"
    );

    let rss_after = acd.rss_kib();
    assert!(
        rss_after < rss_before + 32 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert_answers_options(sip, "after-h1");
}

/// The same attack without waiting for the answer: the body streams in right behind the
/// headers, as fast as the socket takes it. acd's memory stays bounded and it keeps serving.
#[test]
fn tcp_stream_behind_a_huge_content_length_does_not_grow_acd() {
    let acd = Acd::start();
    let sip = acd.sip.expect("acd prints its SIP address");
    assert_answers_options(sip, "warm-up");
    let rss_before = acd.rss_kib();
    let mut tcp = TcpStream::connect(sip).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    let mut data = format!(
        "INVITE sip:4620000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-h1b\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:4620000@127.0.0.1>\r\nCall-ID: h1b\r\n\
         CSeq: 1 INVITE\r\nContent-Length: {}\r\n\r\n",
        u64::MAX
    )
    .into_bytes();
    data.resize(1 << 16, b'x');
    let mut sent = 0usize;
    let limit = 256usize << 20;
    while sent < limit {
        match tcp.write(&data) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
        data.fill(b'x');
    }
    assert!(
        sent < limit,
        "acd kept reading {sent} bytes of an oversized body"
    );
    let rss_after = acd.rss_kib();
    assert!(
        rss_after < rss_before + 32 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert_answers_options(sip, "after-h1b");
}

// ----- H2: digest nonces, nonce counts, qop, uri --------------------------------------------

/// Creates a SIP-phone agent; returns (extension, generated SIP password).
fn sip_agent(acd: &Acd, username: &str) -> (String, String) {
    let response = acd.post(
        "/api/v1/agents",
        &json!({"username": username, "first_name": "Sip", "last_name": "Phone",
                "typology": "sip_phone"}),
    );
    assert_eq!(response.status(), 201);
    let body = json_body(response);
    (
        body["extension"].as_str().unwrap().to_owned(),
        body["sip_password"].as_str().unwrap().to_owned(),
    )
}

/// A REGISTER for `ext` from `local` with `contact_port`, optionally with an Authorization.
fn register(
    sip: SocketAddr,
    local: SocketAddr,
    ext: &str,
    contact_port: u16,
    call_id: &str,
    cseq: u32,
    auth: Option<&str>,
) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}-{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{ext}@{ip}>;tag=r{cseq}\r\n\
         To: <sip:{ext}@{ip}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{ext}@127.0.0.1:{contact_port}>\r\n\
         Expires: 600\r\n\
         {auth}Content-Length: 0\r\n\r\n",
        ip = sip.ip()
    )
}

/// The WWW-Authenticate values of a response, in order.
fn challenges(resp: &str) -> Vec<String> {
    resp.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("WWW-Authenticate")
                .then(|| value.trim().to_owned())
        })
        .collect()
}

fn nonce_in(challenge: &str) -> String {
    let i = challenge.find("nonce=\"").expect("a nonce") + 7;
    challenge[i..i + challenge[i..].find('"').unwrap()].to_owned()
}

/// How the Authorization header is built (each knob is one of the attacks).
struct Creds<'a> {
    ext: &'a str,
    password: &'a str,
    nonce: &'a str,
    uri: String,
    /// `Some(nc)`: `qop=auth, nc=…`; `None`: the RFC 2069 form without qop.
    nc: Option<&'a str>,
}

fn authorization(c: &Creds<'_>) -> String {
    use acd_engine::sip::digest::{client_response, Algorithm};
    let qop = c.nc.map(|nc| (nc, "0a4f113b"));
    let response = client_response(
        Algorithm::Md5,
        c.ext,
        "acd",
        c.password,
        "REGISTER",
        &c.uri,
        c.nonce,
        qop,
    );
    let mut a = format!(
        "Digest username=\"{}\", realm=\"acd\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm=MD5",
        c.ext, c.nonce, c.uri
    );
    if let Some(nc) = c.nc {
        a += &format!(", qop=auth, nc={nc}, cnonce=\"0a4f113b\"");
    }
    a
}

/// A socket, and the nonce of a first, unauthenticated REGISTER from it.
fn challenged(sip: SocketAddr, ext: &str, call_id: &str) -> (UdpSocket, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let local = sock.local_addr().unwrap();
    let resp = udp_exchange_on(
        &sock,
        sip,
        &register(sip, local, ext, 5999, call_id, 1, None),
    )
    .expect("a challenge");
    assert_eq!(status_of(&resp), 401, "{resp}");
    let ch = challenges(&resp);
    (sock, nonce_in(&ch[0]))
}

/// Sends the second REGISTER of a challenge/answer pair and returns the status.
fn answer(sip: SocketAddr, sock: &UdpSocket, ext: &str, call_id: &str, auth: &str) -> u16 {
    answer_cseq(sip, sock, ext, call_id, 2, auth)
}

/// Sends an authenticated REGISTER with this CSeq (a new transaction: a new branch, so it is
/// not absorbed as a retransmission) and returns the status.
fn answer_cseq(
    sip: SocketAddr,
    sock: &UdpSocket,
    ext: &str,
    call_id: &str,
    cseq: u32,
    auth: &str,
) -> u16 {
    let local = sock.local_addr().unwrap();
    let req = register(sip, local, ext, 5999, call_id, cseq, Some(auth));
    let resp = udp_exchange_on(sock, sip, &req).expect("an answer");
    status_of(&resp)
}

/// The control: a correct answer registers (so the refusals below are about the attack).
#[test]
fn a_correct_qop_auth_answer_registers_over_udp() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let (ext, password) = sip_agent(&acd, "h2ok");
    let (sock, nonce) = challenged(sip, &ext, "h2-ok");
    let auth = authorization(&Creds {
        ext: &ext,
        password: &password,
        nonce: &nonce,
        uri: format!("sip:{sip}"),
        nc: Some("00000001"),
    });
    assert_eq!(answer(sip, &sock, &ext, "h2-ok", &auth), 200);
}

/// Every acd used the seed 0x5eed, so a nonce issued by one process was accepted by another.
#[test]
fn a_nonce_from_another_acd_process_is_refused() {
    let issuer = Acd::start();
    let target = Acd::start();
    let (issuer_ext, _) = sip_agent(&issuer, "h2a");
    let (ext, password) = sip_agent(&target, "h2b");
    let (_, foreign_nonce) = challenged(issuer.sip.unwrap(), &issuer_ext, "h2-foreign-1");
    let sip = target.sip.unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let auth = authorization(&Creds {
        ext: &ext,
        password: &password,
        nonce: &foreign_nonce,
        uri: format!("sip:{sip}"),
        nc: Some("00000001"),
    });
    assert_eq!(answer(sip, &sock, &ext, "h2-foreign-2", &auth), 401);
}

/// An exact Authorization header replayed from another socket, with another Contact, must not
/// add a binding (calls went to the newest binding: the attacker's).
#[test]
fn a_replayed_authorization_with_the_same_nonce_count_is_refused() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let (ext, password) = sip_agent(&acd, "h2replay");
    let (sock, nonce) = challenged(sip, &ext, "h2-replay");
    let auth = authorization(&Creds {
        ext: &ext,
        password: &password,
        nonce: &nonce,
        uri: format!("sip:{sip}"),
        nc: Some("00000001"),
    });
    assert_eq!(answer(sip, &sock, &ext, "h2-replay", &auth), 200);

    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker.set_read_timeout(Some(WAIT)).unwrap();
    let local = attacker.local_addr().unwrap();
    let replay = register(sip, local, &ext, 6666, "h2-replay-attacker", 2, Some(&auth));
    let resp = udp_exchange_on(&attacker, sip, &replay).expect("an answer");
    assert_eq!(status_of(&resp), 401, "{resp}");
    assert!(
        !resp.contains(":6666"),
        "the attacker's contact was bound: {resp}"
    );
    // The same header in a new transaction from the legitimate socket is a replay too.
    assert_eq!(answer_cseq(sip, &sock, &ext, "h2-replay", 3, &auth), 401);
    // The client's next count is fine.
    let next = authorization(&Creds {
        ext: &ext,
        password: &password,
        nonce: &nonce,
        uri: format!("sip:{sip}"),
        nc: Some("00000002"),
    });
    assert_eq!(answer_cseq(sip, &sock, &ext, "h2-replay", 4, &next), 200);
}

/// RFC 2069 answers (no qop, nc, cnonce) replay as they are: they are challenged again.
#[test]
fn an_answer_without_qop_is_challenged_again() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let (ext, password) = sip_agent(&acd, "h2qop");
    let (sock, nonce) = challenged(sip, &ext, "h2-qop");
    let auth = authorization(&Creds {
        ext: &ext,
        password: &password,
        nonce: &nonce,
        uri: format!("sip:{sip}"),
        nc: None,
    });
    assert_eq!(answer(sip, &sock, &ext, "h2-qop", &auth), 401);
}

/// A digest computed for another Request-URI is refused (400), not registered.
#[test]
fn a_digest_uri_that_is_not_the_request_uri_is_refused() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let (ext, password) = sip_agent(&acd, "h2uri");
    let (sock, nonce) = challenged(sip, &ext, "h2-uri");
    let auth = authorization(&Creds {
        ext: &ext,
        password: &password,
        nonce: &nonce,
        uri: "sip:elsewhere.example.com".into(),
        nc: Some("00000001"),
    });
    assert_eq!(answer(sip, &sock, &ext, "h2-uri", &auth), 400);
}

// ----- sip.digest_algorithms ---------------------------------------------------------------

fn challenge_algorithms(acd: &Acd, username: &str) -> Vec<String> {
    let sip = acd.sip.unwrap();
    let (ext, _) = sip_agent(acd, username);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let local = sock.local_addr().unwrap();
    let resp = udp_exchange_on(
        &sock,
        sip,
        &register(sip, local, &ext, 5999, username, 1, None),
    )
    .expect("a challenge");
    assert_eq!(status_of(&resp), 401, "{resp}");
    challenges(&resp)
        .iter()
        .map(|c| {
            let i = c.find("algorithm=").expect("an algorithm") + 10;
            c[i..].split([',', ' ']).next().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn by_default_a_register_gets_exactly_one_md5_challenge() {
    let acd = Acd::start();
    assert_eq!(challenge_algorithms(&acd, "algdefault"), ["MD5"]);
}

#[test]
fn configured_digest_algorithms_are_challenged_in_their_order() {
    let acd = Acd::builder()
        .arg("--sip-digest-algorithms")
        .arg("SHA-256,MD5")
        .start();
    assert_eq!(challenge_algorithms(&acd, "algboth"), ["SHA-256", "MD5"]);
}

#[test]
fn an_unknown_digest_algorithm_stops_the_start_naming_key_and_value() {
    let Err(err) = Acd::builder()
        .env("ACD_SIP_DIGEST_ALGORITHMS", "MD5,SHA-512")
        .try_start()
    else {
        panic!("acd must refuse SHA-512");
    };
    assert!(
        err.stderr.contains("sip.digest_algorithms"),
        "{}",
        err.stderr
    );
    assert!(err.stderr.contains("SHA-512"), "{}", err.stderr);
}

// ----- H3: TOTP enrolment only while enrolling; wrong codes count toward lockout -----------

const FIRST_PASSWORD: &str = "Initial-pass1";
const PASSWORD: &str = "Second-pass22";

fn toolbar(
    acd: &Acd,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> reqwest::blocking::Response {
    let mut r = acd.toolbar_request(reqwest::Method::POST, path);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("engine API request")
}

fn toolbar_login(
    acd: &Acd,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> reqwest::blocking::Response {
    let mut b = json!({"username": username, "password": password});
    if let Some(code) = totp {
        b["totp"] = json!(code);
    }
    toolbar(acd, "/api/v1/toolbar/login", None, Some(b))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An agent with TOTP on, enrolled and past the first password change; returns its secret,
/// the active session's token and the time its confirmation code was made for.
fn enrolled_agent(acd: &Acd, username: &str) -> (String, String, u64) {
    use acd_engine::toolbar::totp::code_at;
    let r = acd.post(
        "/api/v1/agents",
        &json!({"username": username, "first_name": "Ann", "last_name": "Agent",
                "password": FIRST_PASSWORD, "mfa": {"totp": true}}),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let b = json_body(toolbar_login(acd, username, FIRST_PASSWORD, None));
    assert_eq!(b["stage"], "totp_enrolment_required");
    let token = b["token"].as_str().unwrap().to_owned();
    let e = json_body(toolbar(
        acd,
        "/api/v1/toolbar/totp/enrol",
        Some(&token),
        None,
    ));
    let secret = e["secret"].as_str().unwrap().to_owned();
    let now = unix_now();
    let r = toolbar(
        acd,
        "/api/v1/toolbar/totp/confirm",
        Some(&token),
        Some(json!({"code": code_at(&secret, now).unwrap()})),
    );
    assert_eq!(json_body(r)["stage"], "password_change_required");
    let r = toolbar(
        acd,
        "/api/v1/toolbar/password",
        Some(&token),
        Some(json!({"current_password": FIRST_PASSWORD, "new_password": PASSWORD})),
    );
    assert_eq!(r.status(), 200);
    (secret, token, now)
}

/// One call from an active session turned the account back into "not enrolled"; the password
/// alone then enrolled a new secret and took the account.
#[test]
fn totp_enrol_from_an_active_session_is_409_and_the_secret_stays() {
    use acd_engine::toolbar::totp::code_at;
    let acd = Acd::start();
    let (secret, token, confirmed_at) = enrolled_agent(&acd, "h3enrol");
    let p = expect_problem(
        toolbar(&acd, "/api/v1/toolbar/totp/enrol", Some(&token), None),
        409,
    );
    assert!(p.get("secret").is_none(), "{p}");
    // Nor can a confirmation be replayed from it.
    expect_problem(
        toolbar(
            &acd,
            "/api/v1/toolbar/totp/confirm",
            Some(&token),
            Some(json!({"code": code_at(&secret, confirmed_at + 30).unwrap()})),
        ),
        409,
    );
    // The password alone still does not log in: the account is still enrolled.
    let p = expect_problem(toolbar_login(&acd, "h3enrol", PASSWORD, None), 401);
    assert_eq!(p["errors"][0]["field"], "totp", "{p}");
    // And the original secret still works (the next step's code; the current one was used).
    let code = code_at(&secret, confirmed_at + 30).unwrap();
    let b = json_body(toolbar_login(&acd, "h3enrol", PASSWORD, Some(&code)));
    assert_eq!(b["stage"], "active", "{b}");
}

/// With the right password, TOTP guesses were unlimited.
#[test]
fn wrong_totp_codes_count_toward_the_lockout_threshold() {
    use acd_engine::toolbar::totp::code_at;
    let acd = Acd::start();
    let r = acd.patch("/api/v1/settings", &json!({"lockout_threshold": 3}));
    assert_eq!(r.status(), 200);
    let (secret, _, confirmed_at) = enrolled_agent(&acd, "h3lock");
    // A code from an hour away is wrong now (and not a replay).
    let wrong = code_at(&secret, unix_now() + 3600).unwrap();
    expect_problem(toolbar_login(&acd, "h3lock", PASSWORD, Some(&wrong)), 401);
    expect_problem(toolbar_login(&acd, "h3lock", PASSWORD, Some(&wrong)), 401);
    expect_problem(toolbar_login(&acd, "h3lock", PASSWORD, Some(&wrong)), 423);
    // Locked: even the right password and code are refused.
    let code = code_at(&secret, confirmed_at + 30).unwrap();
    expect_problem(toolbar_login(&acd, "h3lock", PASSWORD, Some(&code)), 423);
}

/// A right password followed by a wrong code does not reset the count either: password and
/// code guesses add up.
#[test]
fn wrong_passwords_and_wrong_codes_add_up_to_the_lockout() {
    use acd_engine::toolbar::totp::code_at;
    let acd = Acd::start();
    let r = acd.patch("/api/v1/settings", &json!({"lockout_threshold": 3}));
    assert_eq!(r.status(), 200);
    let (secret, _, _) = enrolled_agent(&acd, "h3mixed");
    let wrong = code_at(&secret, unix_now() + 3600).unwrap();
    expect_problem(toolbar_login(&acd, "h3mixed", "Wrong-pass1", None), 401);
    expect_problem(toolbar_login(&acd, "h3mixed", PASSWORD, Some(&wrong)), 401);
    expect_problem(toolbar_login(&acd, "h3mixed", "Wrong-pass1", None), 423);
}

// ----- H4: an agent cannot hang up another agent's phone call -------------------------------

fn scenario(name: &str) -> String {
    format!("{}/../loadgen/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

/// SIPp on 127.0.0.1, every wait and the whole run bounded.
fn sipp(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("sipp");
    c.args([
        "-i",
        "127.0.0.1",
        "-timeout",
        "60s",
        "-recv_timeout",
        "30s",
        "-nostdin",
        "-m",
        "1",
    ])
    .args(args)
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    c
}

/// A SIPp process killed on drop (a failed assertion must not leave it running).
struct Sipp(Option<std::process::Child>);

impl Sipp {
    fn finish(mut self) -> std::process::Output {
        self.0
            .take()
            .unwrap()
            .wait_with_output()
            .expect("sipp output")
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn explain(what: &str, out: &std::process::Output) -> String {
    format!(
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls until `f` holds; panics after 20 s.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Agent A answers a queue call on its SIP phone; agent B, logged in to the toolbar, asks to
/// complete A's call. Before the fix acd hung it up; now B gets 404 and the call goes on until
/// the caller hangs up.
#[test]
fn an_agent_cannot_complete_another_agents_phone_call() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let number = "4620000";
    let r = acd.post(
        "/api/v1/queues",
        &json!({"name": "calls", "wrap_up_seconds": 0, "reject_delay_seconds": 0}),
    );
    assert_eq!(r.status(), 201);
    let q = json_body(r)["id"].as_u64().unwrap();
    let r = acd.post(
        "/api/v1/numbers",
        &json!({"number": number, "target": {"type": "queue", "queue": q}}),
    );
    assert_eq!(r.status(), 201);
    let r = acd.post(
        "/api/v1/agents",
        &json!({"username": "h4a", "first_name": "A", "last_name": "Agent",
                "typology": "sip_phone"}),
    );
    assert_eq!(r.status(), 201);
    let a = json_body(r);
    let (a_id, a_ext, a_pw) = (
        a["id"].as_u64().unwrap(),
        a["extension"].as_str().unwrap().to_owned(),
        a["sip_password"].as_str().unwrap().to_owned(),
    );
    let r = acd.put(&format!("/api/v1/queues/{q}/members/{a_id}"), &json!({}));
    assert!(r.status().is_success());
    // Agent B: a toolbar session, not in the queue.
    let r = acd.post(
        "/api/v1/agents",
        &json!({"username": "h4b", "first_name": "B", "last_name": "Agent",
                "password": FIRST_PASSWORD}),
    );
    assert_eq!(r.status(), 201);
    let b = json_body(toolbar_login(&acd, "h4b", FIRST_PASSWORD, None));
    let b_token = b["token"].as_str().unwrap().to_owned();
    let r = toolbar(
        &acd,
        "/api/v1/toolbar/password",
        Some(&b_token),
        Some(json!({"current_password": FIRST_PASSWORD, "new_password": PASSWORD})),
    );
    assert_eq!(r.status(), 200);

    // A's phone answers and waits for the BYE; A registers it.
    let phone_port = free_udp_port();
    let phone = Sipp(Some(
        sipp(&[
            "-p",
            &phone_port.to_string(),
            "-sf",
            &scenario("agent_answer.xml"),
        ])
        .spawn()
        .expect("sipp runs"),
    ));
    let reg = sipp(&[
        &sip.to_string(),
        "-p",
        &free_udp_port().to_string(),
        "-sf",
        &scenario("agent_register.xml"),
        "-s",
        &a_ext,
        "-au",
        &a_ext,
        "-ap",
        &a_pw,
        "-key",
        "contact_port",
        &phone_port.to_string(),
        "-key",
        "contact_params",
        "",
    ])
    .output()
    .expect("sipp runs");
    assert!(reg.status.success(), "{}", explain("registration", &reg));

    // The caller talks for a while, then hangs up itself.
    let caller = Sipp(Some(
        sipp(&[
            &sip.to_string(),
            "-p",
            &free_udp_port().to_string(),
            "-sf",
            &scenario("caller_talk.xml"),
            "-s",
            number,
            "-d",
            "5000",
        ])
        .spawn()
        .expect("sipp runs"),
    ));
    let stats = || json_body(acd.get(&format!("/api/v1/queues/{q}/stats")));
    wait_for("A answers the call", || stats()["answered"] == 1);

    // acd numbers SIP calls from 2^40: the first call is this one.
    let complete = format!("/api/v1/toolbar/interactions/{}/complete", 1u64 << 40);
    expect_problem(toolbar(&acd, &complete, Some(&b_token), None), 404);
    // Nor can B hang up by any other id near it.
    expect_problem(
        toolbar(
            &acd,
            &format!("/api/v1/toolbar/interactions/{}/complete", (1u64 << 40) + 1),
            Some(&b_token),
            None,
        ),
        404,
    );

    // The call is untouched: still answered, not completed, A still on it.
    let s = stats();
    assert_eq!(
        (s["answered"].as_u64(), s["completed"].as_u64()),
        (Some(1), Some(0)),
        "{s}"
    );
    let state = json_body(acd.get(&format!("/api/v1/agents/{a_id}/state")));
    assert_eq!(state["state"], "busy", "{state}");
    // The caller hangs up on its own after its pause, and both sides see a normal end.
    let out = caller.finish();
    assert!(out.status.success(), "{}", explain("caller", &out));
    let out = phone.finish();
    assert!(out.status.success(), "{}", explain("agent A's phone", &out));
}

// ----- M5: UDP reflection -------------------------------------------------------------------

/// One small INVITE to a queue number from a spoofable source, never ACKed, drew 24 packets
/// and 9,761 bytes of responses (x36). Responses to an address now total at most
/// 4x what it sent (runtime::sip_io::UDP_AMPLIFICATION).
#[test]
fn an_unacked_invite_draws_at_most_four_times_its_size_in_responses() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let r = acd.post("/api/v1/queues", &json!({"name": "calls"}));
    assert_eq!(r.status(), 201);
    let q = json_body(r)["id"].as_u64().unwrap();
    let r = acd.post(
        "/api/v1/numbers",
        &json!({"number": "4620000", "target": {"type": "queue", "queue": q}}),
    );
    assert_eq!(r.status(), 201);
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = victim.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:4620000@{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-m5\r\n\
         From: <sip:x@{local}>;tag=m5\r\n\
         To: <sip:4620000@{sip}>\r\n\
         Call-ID: m5-reflect\r\n\
         CSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    victim.send_to(invite.as_bytes(), sip).unwrap();
    // Collect until 6 s pass without a packet (retransmissions come at most 4 s apart),
    // bounded by 40 s (Timer H is 32 s).
    victim
        .set_read_timeout(Some(Duration::from_secs(6)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let (mut response_bytes, mut responses) = (0usize, 0usize);
    let mut buf = [0u8; 65_535];
    let mut first = None;
    while std::time::Instant::now() < deadline {
        let Ok((n, _)) = victim.recv_from(&mut buf) else {
            break;
        };
        if buf.starts_with(b"SIP/2.0 ") {
            responses += 1;
            response_bytes += n;
            first.get_or_insert_with(|| String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert!(responses >= 1, "acd must still answer the INVITE");
    assert!(
        response_bytes <= 4 * invite.len(),
        "{responses} responses, {response_bytes} bytes for a {}-byte INVITE; first: {first:?}",
        invite.len()
    );
}
