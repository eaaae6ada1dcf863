//! The engine API end to end: the real `acd` binary, agents and queues created over the admin
//! API, toolbars logging in over HTTP and receiving offers over a real WebSocket, chats and
//! emails ingested over HTTP, and a `kill -9` in the middle. One behaviour per test.

use acd_tests::{expect_problem, json_body, Acd, TEST_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const FIRST_PASSWORD: &str = "Initial-pass1";
const PASSWORD: &str = "Second-pass22";
/// How long a test waits for an event that must come (a failure, not a timing assertion).
const WAIT: Duration = Duration::from_secs(20);

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn queue(acd: &Acd, name: &str, channel: &str) -> u64 {
    let r = acd.post(
        "/api/v1/queues",
        &json!({"name": name, "channel": channel, "wrap_up_seconds": 0, "reject_delay_seconds": 0}),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    json_body(r)["id"].as_u64().unwrap()
}

/// Creates an agent with a first password, member of `queues`, with extra profile fields.
fn agent(acd: &Acd, username: &str, queues: &[u64], extra: Value) -> u64 {
    let mut body = json!({
        "username": username, "first_name": "Ann", "last_name": "Agent",
        "password": FIRST_PASSWORD,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = acd.post("/api/v1/agents", &body);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let id = json_body(r)["id"].as_u64().unwrap();
    for q in queues {
        let r = acd.put(&format!("/api/v1/queues/{q}/members/{id}"), &json!({}));
        assert_eq!(r.status(), 200);
    }
    id
}

fn tb(
    acd: &Acd,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::blocking::Response {
    let mut r = acd.toolbar_request(method, path);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("engine API request")
}

fn login(
    acd: &Acd,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> reqwest::blocking::Response {
    let mut b = json!({"username": username, "password": password});
    if let Some(code) = totp {
        b["totp"] = json!(code);
    }
    tb(acd, Method::POST, "/api/v1/toolbar/login", None, Some(b))
}

/// First login with the admin-set password, then the forced change: an active session.
fn login_active(acd: &Acd, username: &str) -> String {
    let r = login(acd, username, FIRST_PASSWORD, None);
    assert_eq!(r.status(), 201);
    let b = json_body(r);
    assert_eq!(b["stage"], "password_change_required");
    let token = b["token"].as_str().unwrap().to_owned();
    let r = tb(
        acd,
        Method::POST,
        "/api/v1/toolbar/password",
        Some(&token),
        Some(json!({"current_password": FIRST_PASSWORD, "new_password": PASSWORD})),
    );
    assert_eq!(r.status(), 200);
    token
}

fn ws(acd: &Acd, token: &str) -> Ws {
    let url = format!("ws://{}/api/v1/toolbar/events?token={token}", acd.toolbar);
    let (mut socket, _) = tungstenite::connect(url).expect("websocket connect");
    if let MaybeTlsStream::Plain(s) = socket.get_mut() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    let hello = next_any(&mut socket);
    assert_eq!(hello["type"], "hello");
    socket
}

fn next_any(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("an event before the timeout") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Close(_) => panic!("websocket closed"),
            _ => continue,
        }
    }
}

/// The next event of `kind`, skipping others (state changes and the like).
fn next(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let e = next_any(ws);
        if e["type"] == kind {
            return e;
        }
    }
}

fn ingest(acd: &Acd, body: Value) -> reqwest::blocking::Response {
    acd.toolbar_request(Method::POST, "/api/v1/interactions")
        .bearer_auth(TEST_TOKEN)
        .json(&body)
        .send()
        .unwrap()
}

fn chat(acd: &Acd, queue: u64, key: &str) -> u64 {
    item(acd, "chat", queue, key)
}

fn item(acd: &Acd, channel: &str, queue: u64, key: &str) -> u64 {
    let r = ingest(
        acd,
        json!({
            "channel": channel, "queue": queue, "idempotency_key": key,
            "customer": {"name": "Carl Customer", "email": "carl@example.com",
                         "phone": "+46701234567", "subject": format!("about {key}")}
        }),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    json_body(r)["id"].as_u64().unwrap()
}

fn post_ok(acd: &Acd, token: &str, path: &str) {
    let r = tb(acd, Method::POST, path, Some(token), None);
    assert_eq!(r.status(), 204, "{path}: {}", r.text().unwrap());
}

fn accept(acd: &Acd, token: &str, id: u64) {
    post_ok(
        acd,
        token,
        &format!("/api/v1/toolbar/interactions/{id}/accept"),
    );
}

fn complete(acd: &Acd, token: &str, id: u64) {
    post_ok(
        acd,
        token,
        &format!("/api/v1/toolbar/interactions/{id}/complete"),
    );
}

fn me(acd: &Acd, token: &str) -> Value {
    let r = tb(acd, Method::GET, "/api/v1/toolbar/me", Some(token), None);
    assert_eq!(r.status(), 200);
    json_body(r)
}

// ----- login rules --------------------------------------------------------------------------

#[test]
fn wrong_password_is_401() {
    let acd = Acd::start();
    agent(&acd, "ann", &[], json!({}));
    expect_problem(login(&acd, "ann", "Wrong-pass1", None), 401);
}

#[test]
fn lockout_after_threshold_until_admin_unlock() {
    let acd = Acd::start();
    let r = acd.patch("/api/v1/settings", &json!({"lockout_threshold": 3}));
    assert_eq!(r.status(), 200);
    let id = agent(&acd, "ann", &[], json!({}));
    expect_problem(login(&acd, "ann", "Wrong-pass1", None), 401);
    expect_problem(login(&acd, "ann", "Wrong-pass1", None), 401);
    expect_problem(login(&acd, "ann", "Wrong-pass1", None), 423);
    // Locked: even the right password is refused.
    expect_problem(login(&acd, "ann", FIRST_PASSWORD, None), 423);
    let r = acd
        .request(Method::POST, &format!("/api/v1/agents/{id}/unlock"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(login(&acd, "ann", FIRST_PASSWORD, None).status(), 201);
}

#[test]
fn first_login_must_change_password_before_anything_else() {
    let acd = Acd::start();
    agent(&acd, "ann", &[], json!({}));
    let b = json_body(login(&acd, "ann", FIRST_PASSWORD, None));
    assert_eq!(b["stage"], "password_change_required");
    let token = b["token"].as_str().unwrap();
    let p = expect_problem(
        tb(&acd, Method::GET, "/api/v1/toolbar/me", Some(token), None),
        403,
    );
    assert_eq!(p["errors"][0]["rule"], "password_change_required");
    let r = tb(
        &acd,
        Method::POST,
        "/api/v1/toolbar/password",
        Some(token),
        Some(json!({"current_password": FIRST_PASSWORD, "new_password": PASSWORD})),
    );
    assert_eq!(json_body(r)["stage"], "active");
    assert_eq!(me(&acd, token)["state"], "available");
}

#[test]
fn admin_password_reset_forces_a_change_again() {
    let acd = Acd::start();
    let id = agent(&acd, "ann", &[], json!({}));
    login_active(&acd, "ann");
    let r = acd.post(&format!("/api/v1/agents/{id}/password/reset"), &json!({}));
    let new = json_body(r)["password"].as_str().unwrap().to_owned();
    let b = json_body(login(&acd, "ann", &new, None));
    assert_eq!(b["stage"], "password_change_required");
}

#[test]
fn new_password_breaking_the_policy_is_422() {
    let acd = Acd::start();
    agent(&acd, "ann", &[], json!({}));
    let token = json_body(login(&acd, "ann", FIRST_PASSWORD, None))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = tb(
        &acd,
        Method::POST,
        "/api/v1/toolbar/password",
        Some(&token),
        Some(json!({"current_password": FIRST_PASSWORD, "new_password": "short"})),
    );
    let p = expect_problem(r, 422);
    assert_eq!(p["errors"][0]["field"], "password");
}

#[test]
fn disabled_agent_is_refused() {
    let acd = Acd::start();
    let id = agent(&acd, "ann", &[], json!({}));
    let r = acd
        .request(Method::POST, &format!("/api/v1/agents/{id}/disable"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    expect_problem(login(&acd, "ann", FIRST_PASSWORD, None), 403);
}

#[test]
fn agent_with_login_disabled_is_refused() {
    let acd = Acd::start();
    agent(&acd, "ann", &[], json!({"login_enabled": false}));
    expect_problem(login(&acd, "ann", FIRST_PASSWORD, None), 403);
}

#[test]
fn disabling_a_logged_in_agent_revokes_its_session() {
    let acd = Acd::start();
    let id = agent(&acd, "ann", &[], json!({}));
    let token = login_active(&acd, "ann");
    acd.request(Method::POST, &format!("/api/v1/agents/{id}/disable"))
        .send()
        .unwrap();
    // The revocation follows the admin change feed; poll the observable outcome.
    let mut status = 200;
    for _ in 0..200 {
        status = tb(&acd, Method::GET, "/api/v1/toolbar/me", Some(&token), None)
            .status()
            .as_u16();
        if status == 401 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status, 401);
}

#[test]
fn totp_enrolment_then_login_needs_a_valid_code() {
    use acd_engine::toolbar::totp::code_at;
    let acd = Acd::start();
    agent(&acd, "ann", &[], json!({"mfa": {"totp": true}}));
    let b = json_body(login(&acd, "ann", FIRST_PASSWORD, None));
    assert_eq!(b["stage"], "totp_enrolment_required");
    let token = b["token"].as_str().unwrap().to_owned();
    let e = json_body(tb(
        &acd,
        Method::POST,
        "/api/v1/toolbar/totp/enrol",
        Some(&token),
        None,
    ));
    let secret = e["secret"].as_str().unwrap().to_owned();
    assert!(e["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let bad = tb(
        &acd,
        Method::POST,
        "/api/v1/toolbar/totp/confirm",
        Some(&token),
        Some(json!({"code": "12345x"})),
    );
    expect_problem(bad, 401);
    let r = tb(
        &acd,
        Method::POST,
        "/api/v1/toolbar/totp/confirm",
        Some(&token),
        Some(json!({"code": code_at(&secret, now).unwrap()})),
    );
    assert_eq!(json_body(r)["stage"], "password_change_required");
    let r = tb(
        &acd,
        Method::POST,
        "/api/v1/toolbar/password",
        Some(&token),
        Some(json!({"current_password": FIRST_PASSWORD, "new_password": PASSWORD})),
    );
    assert_eq!(r.status(), 200);
    // Now every login needs a code.
    let p = expect_problem(login(&acd, "ann", PASSWORD, None), 401);
    assert_eq!(p["errors"][0]["field"], "totp");
    expect_problem(login(&acd, "ann", PASSWORD, Some("000000x")), 401);
    // The next step's code (inside the ±1 step window; the current one was used to confirm).
    let code = code_at(&secret, now + 30).unwrap();
    let b = json_body(login(&acd, "ann", PASSWORD, Some(&code)));
    assert_eq!(b["stage"], "active");
}

#[test]
fn unknown_token_is_401() {
    let acd = Acd::start();
    expect_problem(
        tb(&acd, Method::GET, "/api/v1/toolbar/me", Some("nope"), None),
        401,
    );
    expect_problem(tb(&acd, Method::GET, "/api/v1/toolbar/me", None, None), 401);
}

#[test]
fn logout_revokes_the_token() {
    let acd = Acd::start();
    agent(&acd, "ann", &[], json!({}));
    let token = login_active(&acd, "ann");
    post_ok(&acd, &token, "/api/v1/toolbar/logout");
    expect_problem(
        tb(&acd, Method::GET, "/api/v1/toolbar/me", Some(&token), None),
        401,
    );
}

// ----- state --------------------------------------------------------------------------------

fn set_state(acd: &Acd, token: &str, body: Value) -> reqwest::blocking::Response {
    tb(
        acd,
        Method::PUT,
        "/api/v1/toolbar/state",
        Some(token),
        Some(body),
    )
}

#[test]
fn pause_with_a_configured_reason_then_available() {
    let acd = Acd::start();
    let reason =
        json_body(acd.post("/api/v1/pause-reasons", &json!({"name": "lunch"})))["id"].clone();
    agent(&acd, "ann", &[], json!({}));
    let token = login_active(&acd, "ann");
    assert_eq!(
        set_state(
            &acd,
            &token,
            json!({"state": "paused", "reason_id": reason})
        )
        .status(),
        204
    );
    let m = me(&acd, &token);
    assert_eq!(
        (m["state"].clone(), m["pause"]["reason_id"].clone()),
        (json!("paused"), reason)
    );
    assert_eq!(
        set_state(&acd, &token, json!({"state": "available"})).status(),
        204
    );
    assert_eq!(me(&acd, &token)["state"], "available");
}

#[test]
fn pause_without_reason_is_422_when_the_organisation_requires_one() {
    let acd = Acd::start();
    acd.patch("/api/v1/settings", &json!({"pause_reason_required": true}));
    agent(&acd, "ann", &[], json!({}));
    let token = login_active(&acd, "ann");
    let p = expect_problem(set_state(&acd, &token, json!({"state": "paused"})), 422);
    assert_eq!(p["errors"][0]["rule"], "required");
}

#[test]
fn pause_with_an_unknown_reason_is_422() {
    let acd = Acd::start();
    agent(&acd, "ann", &[], json!({}));
    let token = login_active(&acd, "ann");
    let p = expect_problem(
        set_state(&acd, &token, json!({"state": "paused", "reason_id": 999})),
        422,
    );
    assert_eq!(p["errors"][0]["field"], "reason_id");
}

#[test]
fn login_pause_starts_the_agent_paused() {
    let acd = Acd::start();
    agent(&acd, "ann", &[], json!({"login_pause": true}));
    let token = login_active(&acd, "ann");
    let m = me(&acd, &token);
    assert_eq!(
        (m["state"].clone(), m["pause"]["kind"].clone()),
        (json!("paused"), json!("log_in"))
    );
}

// ----- offers -------------------------------------------------------------------------------

fn offer_accept_complete(channel: &str) {
    let acd = Acd::start();
    let q = queue(&acd, "q", channel);
    agent(&acd, "ann", &[q], json!({}));
    let token = login_active(&acd, "ann");
    let mut socket = ws(&acd, &token);
    let id = item(&acd, channel, q, "k1");
    let offer = next(&mut socket, "offer");
    assert_eq!(
        (offer["interaction"].as_u64(), offer["channel"].as_str()),
        (Some(id), Some(channel))
    );
    assert_eq!(offer["customer"]["name"], "Carl Customer");
    accept(&acd, &token, id);
    assert_eq!(next(&mut socket, "answered")["interaction"], id);
    assert_eq!(me(&acd, &token)["interactions"][0]["id"], id);
    complete(&acd, &token, id);
    let ended = next(&mut socket, "ended");
    assert_eq!(
        (ended["interaction"].as_u64(), ended["reason"].as_str()),
        (Some(id), Some("completed"))
    );
    assert_eq!(me(&acd, &token)["interactions"], json!([]));
}

#[test]
fn chat_is_offered_accepted_and_completed_over_websocket() {
    offer_accept_complete("chat");
}

#[test]
fn email_is_offered_accepted_and_completed_over_websocket() {
    offer_accept_complete("email");
}

#[test]
fn capacity_is_respected_per_channel_across_channels() {
    let acd = Acd::start();
    let qc = queue(&acd, "chats", "chat");
    let qe = queue(&acd, "emails", "email");
    agent(
        &acd,
        "ann",
        &[qc, qe],
        json!({"capacity": {"chat": 1, "email": 1}}),
    );
    let token = login_active(&acd, "ann");
    let mut socket = ws(&acd, &token);
    let c1 = chat(&acd, qc, "c1");
    let c2 = chat(&acd, qc, "c2");
    let e1 = item(&acd, "email", qe, "e1");
    let mut offered = vec![next(&mut socket, "offer")["interaction"].as_u64().unwrap()];
    offered.push(next(&mut socket, "offer")["interaction"].as_u64().unwrap());
    offered.sort_unstable();
    assert_eq!(offered, vec![c1, e1]);
    accept(&acd, &token, c1);
    complete(&acd, &token, c1);
    assert_eq!(next(&mut socket, "offer")["interaction"], c2);
}

#[test]
fn masked_agent_gets_offers_without_name_email_or_phone() {
    let acd = Acd::start();
    let q = queue(&acd, "q", "chat");
    agent(&acd, "ann", &[q], json!({"mask_sensitive_data": true}));
    let token = login_active(&acd, "ann");
    let mut socket = ws(&acd, &token);
    chat(&acd, q, "k1");
    let offer = next(&mut socket, "offer");
    let c = &offer["customer"];
    assert!(
        c.get("name").is_none() && c.get("email").is_none() && c.get("phone").is_none(),
        "{offer}"
    );
    assert_eq!(c["subject"], "about k1");
    assert!(!offer.to_string().contains("Carl"), "{offer}");
}

#[test]
fn rejected_offer_goes_to_the_next_agent() {
    let acd = Acd::start();
    let q = queue(&acd, "q", "chat");
    agent(&acd, "ann", &[q], json!({}));
    let ann = login_active(&acd, "ann");
    let mut ann_ws = ws(&acd, &ann);
    let id = chat(&acd, q, "k1");
    assert_eq!(next(&mut ann_ws, "offer")["interaction"], id);
    agent(&acd, "bob", &[q], json!({}));
    let bob = login_active(&acd, "bob");
    let mut bob_ws = ws(&acd, &bob);
    post_ok(
        &acd,
        &ann,
        &format!("/api/v1/toolbar/interactions/{id}/reject"),
    );
    assert_eq!(next(&mut bob_ws, "offer")["interaction"], id);
}

#[test]
fn auto_answer_answers_without_an_accept() {
    let acd = Acd::start();
    let q = queue(&acd, "q", "chat");
    agent(
        &acd,
        "ann",
        &[q],
        json!({"auto_answer": {"enabled": true, "delay_seconds": 0}}),
    );
    let token = login_active(&acd, "ann");
    let mut socket = ws(&acd, &token);
    let id = chat(&acd, q, "k1");
    assert_eq!(next(&mut socket, "offer")["auto_answer"], true);
    assert_eq!(next(&mut socket, "answered")["interaction"], id);
}

#[test]
fn follow_up_in_a_thread_goes_to_the_agent_who_has_it() {
    let acd = Acd::start();
    let q = queue(&acd, "q", "chat");
    agent(&acd, "ann", &[q], json!({"capacity": {"chat": 2}}));
    let ann = login_active(&acd, "ann");
    let mut ann_ws = ws(&acd, &ann);
    let first = json_body(ingest(
        &acd,
        json!({"channel": "chat", "queue": q, "idempotency_key": "t1", "thread_id": "T"}),
    ))["id"]
        .as_u64()
        .unwrap();
    assert_eq!(next(&mut ann_ws, "offer")["interaction"], first);
    accept(&acd, &ann, first);
    agent(&acd, "bob", &[q], json!({}));
    let bob = login_active(&acd, "bob");
    let _bob_ws = ws(&acd, &bob);
    let follow = json_body(ingest(
        &acd,
        json!({"channel": "chat", "queue": q, "idempotency_key": "t2", "thread_id": "T"}),
    ))["id"]
        .as_u64()
        .unwrap();
    let offer = next(&mut ann_ws, "offer");
    assert_eq!(
        (offer["interaction"].as_u64(), offer["thread_id"].as_str()),
        (Some(follow), Some("T"))
    );
}

#[test]
fn transfer_to_a_queue_offers_it_to_that_queues_agent() {
    let acd = Acd::start();
    let q1 = queue(&acd, "first", "chat");
    let q2 = queue(&acd, "second", "chat");
    agent(&acd, "ann", &[q1], json!({}));
    agent(&acd, "bob", &[q2], json!({}));
    let ann = login_active(&acd, "ann");
    let bob = login_active(&acd, "bob");
    let mut ann_ws = ws(&acd, &ann);
    let mut bob_ws = ws(&acd, &bob);
    let id = chat(&acd, q1, "k1");
    next(&mut ann_ws, "offer");
    accept(&acd, &ann, id);
    let r = tb(
        &acd,
        Method::POST,
        &format!("/api/v1/toolbar/interactions/{id}/transfer"),
        Some(&ann),
        Some(json!({"queue_id": q2})),
    );
    assert_eq!(r.status(), 201);
    let new = json_body(r)["id"].as_u64().unwrap();
    let offer = next(&mut bob_ws, "offer");
    assert_eq!(
        (
            offer["interaction"].as_u64(),
            offer["transferred"].as_bool()
        ),
        (Some(new), Some(true))
    );
    assert_eq!(offer["customer"]["subject"], "about k1");
}

#[test]
fn transfer_to_a_paused_agent_who_takes_transfers_reaches_them() {
    let acd = Acd::start();
    let q = queue(&acd, "q", "chat");
    agent(&acd, "ann", &[q], json!({}));
    let bob_id = agent(
        &acd,
        "bob",
        &[],
        json!({"permissions": {"toolbar": {"receive_transfers_when_paused": true}}}),
    );
    let ann = login_active(&acd, "ann");
    let bob = login_active(&acd, "bob");
    assert_eq!(
        set_state(&acd, &bob, json!({"state": "paused"})).status(),
        204
    );
    let mut ann_ws = ws(&acd, &ann);
    let mut bob_ws = ws(&acd, &bob);
    let id = chat(&acd, q, "k1");
    next(&mut ann_ws, "offer");
    accept(&acd, &ann, id);
    let r = tb(
        &acd,
        Method::POST,
        &format!("/api/v1/toolbar/interactions/{id}/transfer"),
        Some(&ann),
        Some(json!({"agent_id": bob_id})),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    assert_eq!(next(&mut bob_ws, "offer")["transferred"], true);
}

// ----- permissions --------------------------------------------------------------------------

#[test]
fn toolbar_endpoints_without_their_permission_are_403() {
    let acd = Acd::start();
    agent(
        &acd,
        "ann",
        &[],
        json!({"permissions": {"toolbar": {"agent_call": false}}}),
    );
    let token = login_active(&acd, "ann");
    for (method, path, perm) in [
        (Method::POST, "/api/v1/toolbar/calls/manual", "manual_call"),
        (Method::POST, "/api/v1/toolbar/calls/agent", "agent_call"),
        (Method::GET, "/api/v1/toolbar/emails?q=x", "email_search"),
        (Method::GET, "/api/v1/toolbar/callbacks", "callback_list"),
        (Method::GET, "/api/v1/toolbar/leads", "lead_manager"),
    ] {
        let p = expect_problem(tb(&acd, method, path, Some(&token), None), 403);
        assert_eq!(p["errors"][0]["field"], perm, "{path}");
    }
}

#[test]
fn email_search_with_permission_finds_live_emails() {
    let acd = Acd::start();
    let q = queue(&acd, "mail", "email");
    agent(
        &acd,
        "ann",
        &[],
        json!({"permissions": {"toolbar": {"email_search": true}}}),
    );
    let token = login_active(&acd, "ann");
    let id = item(&acd, "email", q, "invoice-7");
    let r = tb(
        &acd,
        Method::GET,
        "/api/v1/toolbar/emails?q=INVOICE",
        Some(&token),
        None,
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json_body(r)[0]["id"], id);
}

#[test]
fn queue_counts_show_only_permitted_channels() {
    let acd = Acd::start();
    let qc = queue(&acd, "chats", "chat");
    let qe = queue(&acd, "emails", "email");
    agent(
        &acd,
        "ann",
        &[qc, qe],
        json!({"permissions": {"toolbar": {"show_queued_chats": false}}, "login_pause": true}),
    );
    let token = login_active(&acd, "ann");
    item(&acd, "email", qe, "e1");
    // Counts come from the router's published snapshot: poll until the email shows.
    let mut counts = Value::Null;
    for _ in 0..200 {
        counts = json_body(tb(
            &acd,
            Method::GET,
            "/api/v1/toolbar/queues",
            Some(&token),
            None,
        ));
        if counts.as_array().unwrap().iter().any(|c| c["waiting"] == 1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let of = |q: u64| {
        counts
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["queue"] == q)
            .unwrap()
            .clone()
    };
    assert!(of(qc).get("waiting").is_none(), "{counts}");
    assert_eq!(of(qe)["waiting"], 1, "{counts}");
}

// ----- ingest -------------------------------------------------------------------------------

#[test]
fn same_idempotency_key_never_creates_two() {
    let acd = Acd::start();
    let q = queue(&acd, "q", "chat");
    let body = json!({"channel": "chat", "queue": q, "idempotency_key": "once"});
    let a = ingest(&acd, body.clone());
    assert_eq!(a.status(), 201);
    let b = ingest(&acd, body);
    assert_eq!(b.status(), 200);
    assert_eq!(json_body(a)["id"], json_body(b)["id"]);
}

#[test]
fn same_idempotency_key_with_another_body_is_409() {
    let acd = Acd::start();
    let q = queue(&acd, "q", "chat");
    assert_eq!(
        ingest(
            &acd,
            json!({"channel": "chat", "queue": q, "idempotency_key": "k"})
        )
        .status(),
        201
    );
    let p = expect_problem(
        ingest(
            &acd,
            json!({"channel": "chat", "queue": q, "idempotency_key": "k", "priority": 5}),
        ),
        409,
    );
    assert_eq!(p["errors"][0]["field"], "idempotency_key");
}

#[test]
fn ingest_into_a_queue_of_another_channel_is_422() {
    let acd = Acd::start();
    let q = queue(&acd, "q", "email");
    let p = expect_problem(
        ingest(
            &acd,
            json!({"channel": "chat", "queue": q, "idempotency_key": "k"}),
        ),
        422,
    );
    assert_eq!(p["errors"][0]["field"], "channel");
}

#[test]
fn ingest_without_the_integration_token_is_401() {
    let acd = Acd::start();
    let r = acd
        .toolbar_request(Method::POST, "/api/v1/interactions")
        .json(&json!({}))
        .send()
        .unwrap();
    expect_problem(r, 401);
}

#[test]
fn kill_9_loses_no_acknowledged_interaction() {
    let dir = tempfile::tempdir().unwrap();
    let acd = Acd::builder().data_dir(dir.path()).start();
    let q = queue(&acd, "q", "chat");
    agent(&acd, "ann", &[q], json!({"capacity": {"chat": 1}}));
    let token = login_active(&acd, "ann");
    let mut socket = ws(&acd, &token);
    let ids: Vec<u64> = (0..5).map(|i| chat(&acd, q, &format!("k{i}"))).collect();
    assert_eq!(next(&mut socket, "offer")["interaction"], ids[0]);
    accept(&acd, &token, ids[0]);
    drop(socket);
    acd.kill9();

    let acd = Acd::builder().data_dir(dir.path()).start();
    let b = json_body(login(&acd, "ann", PASSWORD, None));
    let token = b["token"].as_str().unwrap().to_owned();
    let mut socket = ws(&acd, &token);
    // The answered one is back with the agent; the waiting ones come in their original order.
    assert_eq!(me(&acd, &token)["interactions"][0]["id"], ids[0]);
    let mut seen = vec![ids[0]];
    let mut current = ids[0];
    for _ in 1..ids.len() {
        complete(&acd, &token, current);
        // Also for the one resumed after the crash, the agent's toolbar is told it ended.
        assert_eq!(next(&mut socket, "ended")["interaction"], current);
        current = next(&mut socket, "offer")["interaction"].as_u64().unwrap();
        accept(&acd, &token, current);
        seen.push(current);
    }
    assert_eq!(seen, ids);
    // A retry of an acknowledged ingest after the crash is still recognised.
    let r = ingest(
        &acd,
        json!({
            "channel": "chat", "queue": q, "idempotency_key": "k1",
            "customer": {"name": "Carl Customer", "email": "carl@example.com",
                         "phone": "+46701234567", "subject": "about k1"}
        }),
    );
    assert_eq!(
        (r.status().as_u16(), json_body(r)["id"].as_u64()),
        (200, Some(ids[1]))
    );
}

#[test]
fn engine_api_openapi_document_covers_every_route() {
    let acd = Acd::start();
    let r = acd
        .toolbar_request(Method::GET, "/api/v1/openapi.json")
        .send()
        .unwrap();
    let doc = json_body(r);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/interactions",
        "/api/v1/toolbar/login",
        "/api/v1/toolbar/events",
        "/api/v1/toolbar/interactions/{id}/transfer",
    ] {
        assert!(paths.contains_key(p), "{p}");
    }
    // Every documented operation is served (anything but a route-level 404 or a 405).
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "1");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = acd.toolbar_request(m, &concrete).send().unwrap();
            let status = r.status().as_u16();
            let text = r.text().unwrap();
            assert!(
                status != 405 && !(status == 404 && text.contains("no route")),
                "{method} {path}: {status} {text}"
            );
        }
    }
}
