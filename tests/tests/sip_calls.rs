//! Calls through acd's B2BUA, end to end: SIPp callers dial a queue's DID or an agent's
//! extension, SIPp agents register their extension (digest auth) with a SIPp UAS as Contact,
//! and the real `acd` binary routes the call, rings the agent, bridges the legs and ends them.
//! Outcomes are read from both SIPp sides and from the admin API's live router statistics.
//! Everything runs on 127.0.0.1 and every SIPp run is bounded by `-m` and `-timeout`.

use acd_tests::{json_body, Acd};
use serde_json::{json, Value};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NUMBER: &str = "4620000";

fn scenario(name: &str) -> String {
    format!("{}/../loadgen/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

fn sipp_command(args: &[&str]) -> Command {
    let mut c = Command::new("sipp");
    // -recv_timeout bounds each wait for a message (a missing one fails the call), and
    // -timeout the whole run.
    c.args([
        "-i",
        "127.0.0.1",
        "-timeout",
        "60s",
        "-recv_timeout",
        "30s",
        "-nostdin",
    ])
    .args(args)
    // ACD_TEST_SIPP_TRACE=1 keeps each SIPp's message trace (*_messages.log in tests/).
    .args(if std::env::var_os("ACD_TEST_SIPP_TRACE").is_some() {
        &["-trace_msg"][..]
    } else {
        &[][..]
    })
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

/// One SIPp caller toward acd (`-m 1`), ready to run.
fn caller(sip: SocketAddr, scenario_file: &str, number: &str, extra: &[&str]) -> Command {
    let port = free_udp_port().to_string();
    let target = sip.to_string();
    let sf = scenario(scenario_file);
    let mut args = vec![
        target.as_str(),
        "-p",
        &port,
        "-m",
        "1",
        "-sf",
        &sf,
        "-s",
        number,
    ];
    args.extend_from_slice(extra);
    sipp_command(&args)
}

/// Runs one SIPp call toward acd and waits for it.
fn call(sip: SocketAddr, scenario_file: &str, number: &str, extra: &[&str]) -> Output {
    caller(sip, scenario_file, number, extra)
        .output()
        .expect("sipp runs (Debian package sip-tester; .ci/run installs it)")
}

fn explain(what: &str, out: &Output) -> String {
    format!(
        "{what}: status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_ok(what: &str, out: &Output) {
    assert!(out.status.success(), "{}", explain(what, out));
}

/// A SIP phone: an agent's UAS, answering on its own port.
struct Phone {
    port: u16,
    child: Option<Child>,
}

impl Phone {
    fn start(scenario_file: &str, extra: &[&str]) -> Phone {
        let port = free_udp_port();
        let p = port.to_string();
        let sf = scenario(scenario_file);
        let mut args = vec!["-p", p.as_str(), "-m", "1", "-sf", sf.as_str()];
        args.extend_from_slice(extra);
        // The screen output is dropped: a phone runs in the background and nobody drains
        // its stdout until it ends; errors still come back on stderr.
        let child = sipp_command(&args)
            .stdout(Stdio::null())
            .spawn()
            .expect("sipp runs");
        Phone {
            port,
            child: Some(child),
        }
    }

    /// Waits for the phone's scenario to end (bounded by its -timeout).
    fn finish(mut self) -> Output {
        let child = self.child.take().expect("a running phone");
        child.wait_with_output().expect("sipp output")
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Agent {
    id: u64,
    extension: String,
    password: String,
}

fn create_queue(acd: &Acd, settings: Value) -> u64 {
    let mut body = json!({"name": "calls", "wrap_up_seconds": 0, "reject_delay_seconds": 0});
    for (k, v) in settings.as_object().expect("an object") {
        body[k] = v.clone();
    }
    let r = acd.post("/api/v1/queues", &body);
    assert_eq!(r.status(), 201);
    let q = json_body(r)["id"].as_u64().unwrap();
    let r = acd.post(
        "/api/v1/numbers",
        &json!({"number": NUMBER, "target": {"type": "queue", "queue": q}}),
    );
    assert_eq!(r.status(), 201);
    q
}

fn create_agent(acd: &Acd, username: &str, profile: Value) -> Agent {
    let mut body = json!({"username": username, "first_name": "Sip", "last_name": "Agent",
                          "typology": "sip_phone"});
    for (k, v) in profile.as_object().expect("an object") {
        body[k] = v.clone();
    }
    let r = acd.post("/api/v1/agents", &body);
    assert_eq!(r.status(), 201);
    let b = json_body(r);
    Agent {
        id: b["id"].as_u64().unwrap(),
        extension: b["extension"].as_str().unwrap().to_owned(),
        password: b["sip_password"].as_str().unwrap().to_owned(),
    }
}

fn join(acd: &Acd, queue: u64, agent: &Agent, penalty: u32) {
    let r = acd.put(
        &format!("/api/v1/queues/{queue}/members/{}", agent.id),
        &json!({"penalty": penalty}),
    );
    assert!(r.status().is_success(), "membership: {}", r.status());
}

/// The agent registers its extension with `contact_port` as Contact (logging it in).
fn register(acd: &Acd, agent: &Agent, contact_port: u16) {
    register_with(acd, agent, contact_port, "")
}

/// Registers over UDP with `contact_params` appended to the Contact URI.
fn register_with(acd: &Acd, agent: &Agent, contact_port: u16, contact_params: &str) {
    let sip = acd.sip.expect("acd prints its SIP address");
    let port = contact_port.to_string();
    let out = call(
        sip,
        "agent_register.xml",
        &agent.extension,
        &[
            "-au",
            &agent.extension,
            "-ap",
            &agent.password,
            "-key",
            "contact_port",
            &port,
            "-key",
            "contact_params",
            contact_params,
        ],
    );
    assert_ok("registration", &out);
}

fn queue_stats(acd: &Acd, queue: u64) -> Value {
    let r = acd.get(&format!("/api/v1/queues/{queue}/stats"));
    assert_eq!(r.status(), 200);
    json_body(r)
}

fn agent_state(acd: &Acd, agent: &Agent) -> Value {
    let r = acd.get(&format!("/api/v1/agents/{}/state", agent.id));
    assert_eq!(r.status(), 200);
    json_body(r)
}

/// Polls until `f` holds (the router acts on real time here); panics after 20 s.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn caller_reaches_an_available_agent_and_the_agent_hangs_up() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(&acd, json!({}));
    let a = create_agent(&acd, "hangs", json!({}));
    join(&acd, q, &a, 0);
    let phone = Phone::start("agent_answer_hangup.xml", &["-d", "200"]);
    register(&acd, &a, phone.port);
    let caller = call(sip, "caller_wait_bye.xml", NUMBER, &[]);
    assert_ok("caller", &caller);
    assert_ok("agent", &phone.finish());
    let s = queue_stats(&acd, q);
    assert_eq!(
        (s["answered"].as_u64(), s["completed"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn caller_reaches_an_available_agent_and_the_caller_hangs_up() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    // Early media: the caller's 200 comes when the agent answers, so its BYE follows a bridge.
    let q = create_queue(&acd, json!({"early_media": true}));
    let a = create_agent(&acd, "callerhangs", json!({}));
    join(&acd, q, &a, 0);
    let phone = Phone::start("agent_answer.xml", &[]);
    register(&acd, &a, phone.port);
    let caller = call(sip, "caller_talk.xml", NUMBER, &["-d", "200"]);
    assert_ok("caller", &caller);
    assert_ok("agent", &phone.finish());
    let s = queue_stats(&acd, q);
    assert_eq!(
        (s["answered"].as_u64(), s["completed"].as_u64()),
        (Some(1), Some(1))
    );
    wait_for("the agent back to available", || {
        agent_state(&acd, &a)["state"] == "available"
    });
}

#[test]
fn paused_agent_is_never_rung() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(&acd, json!({}));
    let paused = create_agent(&acd, "paused", json!({"login_pause": true}));
    let ready = create_agent(&acd, "ready", json!({}));
    join(&acd, q, &paused, 0);
    join(&acd, q, &ready, 1);
    // The paused agent's "phone" is a bare socket: anything acd sends it is seen.
    let paused_phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    register(&acd, &paused, paused_phone.local_addr().unwrap().port());
    let phone = Phone::start("agent_answer_hangup.xml", &["-d", "100"]);
    register(&acd, &ready, phone.port);
    wait_for("the paused agent logged in", || {
        agent_state(&acd, &paused)["state"] == "paused"
    });
    let caller = call(sip, "caller_wait_bye.xml", NUMBER, &[]);
    assert_ok("caller", &caller);
    assert_ok("available agent", &phone.finish());
    paused_phone.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    let got = paused_phone.recv(&mut buf);
    assert!(
        got.is_err(),
        "the paused agent was sent: {}",
        String::from_utf8_lossy(&buf[..got.unwrap_or(0)])
    );
    assert_eq!(agent_state(&acd, &paused)["handled"], 0);
    assert_eq!(agent_state(&acd, &ready)["handled"], 1);
}

#[test]
fn agent_on_a_call_is_not_rung_for_the_next_caller() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(&acd, json!({"early_media": true}));
    let a = create_agent(&acd, "busy", json!({}));
    join(&acd, q, &a, 0);
    // The agent answers the first call and stays on it.
    let phone = Phone::start("agent_answer.xml", &[]);
    register(&acd, &a, phone.port);
    let first = {
        let port = free_udp_port().to_string();
        sipp_command(&[
            &sip.to_string(),
            "-p",
            &port,
            "-m",
            "1",
            "-sf",
            &scenario("caller_talk.xml"),
            "-s",
            NUMBER,
            "-d",
            "20000",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("sipp runs")
    };
    let _first = KillOnDrop(first);
    wait_for("the agent on the first call", || {
        agent_state(&acd, &a)["state"] == "busy"
    });
    // A second caller waits; it gives up after a while (an abandon).
    let second =
        std::thread::spawn(move || call(sip, "caller_cancel.xml", NUMBER, &["-d", "3000"]));
    wait_for("the second caller queued", || {
        queue_stats(&acd, q)["waiting"] == 1
    });
    let s = queue_stats(&acd, q);
    assert_eq!(s["ringing"], 0, "nobody may ring: {s}");
    assert_eq!(agent_state(&acd, &a)["held"]["voice"], 1);
    assert_ok("second caller", &second.join().unwrap());
    // The endpoint answers the CANCEL itself; the abandon reaches routing right after.
    wait_for("the abandon counted", || {
        queue_stats(&acd, q)["abandoned"] == 1
    });
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cancel_while_queued_counts_as_abandoned() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(&acd, json!({"early_media": true}));
    let caller = call(sip, "caller_cancel.xml", NUMBER, &["-d", "300"]);
    assert_ok("caller", &caller);
    // The endpoint answers the CANCEL itself; the abandon reaches routing right after.
    wait_for("the abandon counted", || {
        queue_stats(&acd, q)["abandoned"] == 1
    });
    let s = queue_stats(&acd, q);
    assert_eq!(
        (s["offered"].as_u64(), s["waiting"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn ring_timeout_moves_the_call_to_the_next_agent() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(
        &acd,
        json!({"strategy": "linear", "ring_timeout_seconds": 5, "reject_delay_seconds": 30}),
    );
    let first = create_agent(&acd, "ringsout", json!({}));
    let second = create_agent(&acd, "answers", json!({}));
    join(&acd, q, &first, 0);
    join(&acd, q, &second, 1);
    let away = Phone::start("agent_no_answer.xml", &[]);
    register(&acd, &first, away.port);
    let phone = Phone::start("agent_answer_hangup.xml", &["-d", "100"]);
    register(&acd, &second, phone.port);
    let caller = call(sip, "caller_wait_bye.xml", NUMBER, &[]);
    assert_ok("caller", &caller);
    assert_ok("agent who rang out (CANCEL, 487)", &away.finish());
    assert_ok("agent who answered", &phone.finish());
    assert_eq!(agent_state(&acd, &first)["no_answers"], 1);
    assert_eq!(agent_state(&acd, &second)["handled"], 1);
}

#[test]
fn busy_phone_rejects_and_the_call_goes_to_the_next_agent() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(
        &acd,
        json!({"strategy": "linear", "reject_delay_seconds": 30}),
    );
    let first = create_agent(&acd, "declines", json!({}));
    let second = create_agent(&acd, "takes", json!({}));
    join(&acd, q, &first, 0);
    join(&acd, q, &second, 1);
    let busy = Phone::start("agent_busy.xml", &[]);
    register(&acd, &first, busy.port);
    let phone = Phone::start("agent_answer_hangup.xml", &["-d", "100"]);
    register(&acd, &second, phone.port);
    let caller = call(sip, "caller_wait_bye.xml", NUMBER, &[]);
    assert_ok("caller", &caller);
    assert_ok("busy agent (486)", &busy.finish());
    assert_ok("agent who answered", &phone.finish());
    assert_eq!(agent_state(&acd, &first)["handled"], 0);
    assert_eq!(agent_state(&acd, &second)["handled"], 1);
}

#[test]
fn ring_all_answer_race_bridges_exactly_one_agent() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(&acd, json!({"strategy": "ring_all", "early_media": true}));
    let a = create_agent(&acd, "racera", json!({}));
    let b = create_agent(&acd, "racerb", json!({}));
    join(&acd, q, &a, 0);
    join(&acd, q, &b, 0);
    let phone_a = Phone::start("agent_answer_race.xml", &[]);
    let phone_b = Phone::start("agent_answer_race.xml", &[]);
    register(&acd, &a, phone_a.port);
    register(&acd, &b, phone_b.port);
    let caller = call(sip, "caller_talk.xml", NUMBER, &["-d", "300"]);
    assert_ok("caller", &caller);
    // Both phones answered at once; both calls end with acd's BYE (the loser's at once).
    assert_ok("agent a", &phone_a.finish());
    assert_ok("agent b", &phone_b.finish());
    let handled = |x: &Agent| agent_state(&acd, x)["handled"].as_u64().unwrap();
    assert_eq!(
        handled(&a) + handled(&b),
        1,
        "exactly one agent was bridged"
    );
    assert_eq!(queue_stats(&acd, q)["answered"], 1);
}

#[test]
fn direct_call_to_an_agent_extension_rings_that_agent() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let a = create_agent(&acd, "direct", json!({}));
    let phone = Phone::start("agent_answer_hangup.xml", &["-d", "100"]);
    register(&acd, &a, phone.port);
    let caller = call(sip, "caller_wait_bye.xml", &a.extension, &[]);
    assert_ok("caller", &caller);
    assert_ok("agent", &phone.finish());
    assert_eq!(agent_state(&acd, &a)["handled"], 1);
}

#[test]
fn direct_call_to_a_paused_agent_gets_busy() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let a = create_agent(&acd, "dnd", json!({"login_pause": true}));
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    register(&acd, &a, phone.local_addr().unwrap().port());
    let caller = call(sip, "caller_busy.xml", &a.extension, &[]);
    assert_ok("caller", &caller);
    phone.set_nonblocking(true).unwrap();
    assert!(
        phone.recv(&mut [0u8; 2048]).is_err(),
        "a paused agent is not rung"
    );
}

// ----- presence: SIP registration and toolbar session together -------------------------------

const FIRST_PASSWORD: &str = "Initial-pass1";

/// A toolbar login with the forced password change done; returns the session token.
fn toolbar_login(acd: &Acd, username: &str) -> String {
    let r = acd
        .toolbar_request(reqwest::Method::POST, "/api/v1/toolbar/login")
        .json(&json!({"username": username, "password": FIRST_PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = json_body(r)["token"].as_str().unwrap().to_owned();
    let r = acd
        .toolbar_request(reqwest::Method::POST, "/api/v1/toolbar/password")
        .bearer_auth(&token)
        .json(&json!({"current_password": FIRST_PASSWORD, "new_password": "Second-pass22"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    token
}

fn toolbar(acd: &Acd, method: reqwest::Method, path: &str, token: &str, body: Value) -> u16 {
    acd.toolbar_request(method, path)
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn unregister(acd: &Acd, agent: &Agent) {
    let out = call(
        acd.sip.unwrap(),
        "agent_unregister.xml",
        &agent.extension,
        &["-au", &agent.extension, "-ap", &agent.password],
    );
    assert_ok("un-REGISTER", &out);
}

#[test]
fn toolbar_logout_keeps_an_agent_with_a_registered_phone_logged_in_and_paused() {
    let acd = Acd::start();
    let a = create_agent(&acd, "deskphone", json!({"password": FIRST_PASSWORD}));
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    register(&acd, &a, phone.local_addr().unwrap().port());
    let token = toolbar_login(&acd, "deskphone");
    let paused = json!({"state": "paused"});
    assert_eq!(
        toolbar(
            &acd,
            reqwest::Method::PUT,
            "/api/v1/toolbar/state",
            &token,
            paused
        ),
        204
    );
    let status = toolbar(
        &acd,
        reqwest::Method::POST,
        "/api/v1/toolbar/logout",
        &token,
        json!({}),
    );
    assert!((200..300).contains(&status), "toolbar logout: {status}");
    assert_eq!(agent_state(&acd, &a)["state"], "paused");
    unregister(&acd, &a);
    wait_for("the agent logged out", || {
        agent_state(&acd, &a)["state"] == "logged_out"
    });
}

#[test]
fn registration_ending_keeps_an_agent_with_a_toolbar_session_logged_in() {
    let acd = Acd::start();
    let a = create_agent(&acd, "softphone", json!({"password": FIRST_PASSWORD}));
    let _token = toolbar_login(&acd, "softphone");
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    register(&acd, &a, phone.local_addr().unwrap().port());
    unregister(&acd, &a);
    // SIP events reach routing in order: once a later registration has logged its agent in,
    // the un-REGISTER has been handled.
    let witness = create_agent(&acd, "witness", json!({}));
    register(&acd, &witness, phone.local_addr().unwrap().port());
    wait_for("the witness logged in", || {
        agent_state(&acd, &witness)["state"] == "available"
    });
    assert_eq!(agent_state(&acd, &a)["state"], "available");
}

#[test]
fn direct_call_to_an_unavailable_agent_with_a_voicemail_box_is_redirected_to_voicemail() {
    let acd = Acd::builder()
        .arg("--sip-voicemail")
        .arg("vm.example.com")
        .start();
    let sip = acd.sip.unwrap();
    let a = create_agent(
        &acd,
        "boxed",
        json!({"login_pause": true, "voicemail": true}),
    );
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    register(&acd, &a, phone.local_addr().unwrap().port());
    let caller = call(sip, "caller_redirect.xml", &a.extension, &[]);
    assert_ok("caller", &caller);
}

#[test]
fn call_ending_on_either_side_puts_the_agent_in_wrap_up() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(&acd, json!({"wrap_up_seconds": 600}));
    let a = create_agent(&acd, "wrapper", json!({}));
    join(&acd, q, &a, 0);
    let phone = Phone::start("agent_answer_hangup.xml", &["-d", "100"]);
    register(&acd, &a, phone.port);
    assert_ok("caller", &call(sip, "caller_wait_bye.xml", NUMBER, &[]));
    assert_ok("agent", &phone.finish());
    assert_eq!(agent_state(&acd, &a)["state"], "wrap_up");
}

/// A phone call offered to an agent who also has the toolbar open shows there, but is
/// answered on the phone: the toolbar's accept is refused (409) and routing does not count it
/// answered; the toolbar's reject stops the phone and the call moves on.
#[test]
fn toolbar_cannot_answer_a_phone_call_but_can_reject_it() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(
        &acd,
        json!({"ring_timeout_seconds": 60, "early_media": true}),
    );
    let a = create_agent(&acd, "desk", json!({"password": FIRST_PASSWORD}));
    join(&acd, q, &a, 0);
    let token = toolbar_login(&acd, "desk");
    // A phone that rings and never answers.
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    register(&acd, &a, phone.local_addr().unwrap().port());
    let mut calling = caller(sip, "caller_cancel.xml", NUMBER, &["-d", "30000"])
        .spawn()
        .expect("sipp runs");
    // acd numbers SIP calls from 2^40: the first call is this one.
    let accept = format!("/api/v1/toolbar/interactions/{}/accept", 1u64 << 40);
    wait_for(
        "the toolbar refuses to answer the ringing phone call",
        || toolbar(&acd, reqwest::Method::POST, &accept, &token, json!({})) == 409,
    );
    assert_ne!(agent_state(&acd, &a)["state"], "busy");
    assert_eq!(queue_stats(&acd, q)["answered"], 0);
    let reject = format!("/api/v1/toolbar/interactions/{}/reject", 1u64 << 40);
    let status = toolbar(&acd, reqwest::Method::POST, &reject, &token, json!({}));
    assert!((200..300).contains(&status), "toolbar reject: {status}");
    let _ = calling.kill();
    let _ = calling.wait();
}

/// A phone whose Contact asks for TCP (`;transport=tcp`) is called over TCP: acd opens the
/// connection itself, and the call runs to the end over it.
#[test]
fn an_agent_whose_contact_asks_for_tcp_is_called_over_a_connection_acd_opens() {
    let acd = Acd::start();
    let sip = acd.sip.unwrap();
    let q = create_queue(&acd, json!({}));
    let a = create_agent(&acd, "tcpdesk", json!({}));
    join(&acd, q, &a, 0);
    let phone = Phone::start("agent_answer_hangup.xml", &["-t", "t1", "-d", "100"]);
    // SIPp takes a while to listen on a loaded machine; acd's INVITE would find nothing to
    // connect to and the offer would fail, so wait for the phone's TCP listener first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", phone.port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the TCP phone never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    register_with(&acd, &a, phone.port, ";transport=tcp");
    assert_ok("caller", &call(sip, "caller_wait_bye.xml", NUMBER, &[]));
    assert_ok("agent over TCP", &phone.finish());
    let s = queue_stats(&acd, q);
    assert_eq!(
        (s["answered"].as_u64(), s["completed"].as_u64()),
        (Some(1), Some(1))
    );
}
