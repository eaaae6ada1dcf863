//! Live routing statistics on the admin API, end to end: the real `acd` binary, queues and
//! agents created over the admin API, agents logging in and pausing over the toolbar API,
//! chats ingested over HTTP, and the stats read back at once. Reads never wait: the stats
//! routes answer from a fresh router snapshot, so what a test just did is already visible.
//! One behaviour per test.

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

fn queue(acd: &Acd, name: &str, channel: &str) -> u64 {
    let r = acd.post(
        "/api/v1/queues",
        &json!({"name": name, "channel": channel, "wrap_up_seconds": 0, "reject_delay_seconds": 0}),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    json_body(r)["id"].as_u64().unwrap()
}

/// An agent with a first password, member of `queues`.
fn agent(acd: &Acd, username: &str, queues: &[u64]) -> u64 {
    let r = acd.post(
        "/api/v1/agents",
        &json!({"username": username, "first_name": "Ann", "last_name": "Agent",
                "password": FIRST_PASSWORD}),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let id = json_body(r)["id"].as_u64().unwrap();
    for q in queues {
        let r = acd.put(&format!("/api/v1/queues/{q}/members/{id}"), &json!({}));
        assert_eq!(r.status(), 200);
    }
    id
}

fn tb(acd: &Acd, method: Method, path: &str, token: &str, body: Option<Value>) -> u16 {
    let mut r = acd.toolbar_request(method, path).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().expect("engine API request");
    r.status().as_u16()
}

/// A toolbar login with the forced password change done: the agent is logged in to routing.
fn login_active(acd: &Acd, username: &str) -> String {
    let r = acd
        .toolbar_request(Method::POST, "/api/v1/toolbar/login")
        .json(&json!({"username": username, "password": FIRST_PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = json_body(r)["token"].as_str().unwrap().to_owned();
    let status = tb(
        acd,
        Method::POST,
        "/api/v1/toolbar/password",
        &token,
        Some(json!({"current_password": FIRST_PASSWORD, "new_password": PASSWORD})),
    );
    assert_eq!(status, 200);
    token
}

fn pause(acd: &Acd, token: &str, reason: Option<u64>) {
    let mut body = json!({"state": "paused"});
    if let Some(r) = reason {
        body["reason_id"] = json!(r);
    }
    let status = tb(acd, Method::PUT, "/api/v1/toolbar/state", token, Some(body));
    assert_eq!(status, 204);
}

fn chat(acd: &Acd, queue: u64, key: &str) -> u64 {
    let r = acd
        .toolbar_request(Method::POST, "/api/v1/interactions")
        .bearer_auth(TEST_TOKEN)
        .json(
            &json!({"channel": "chat", "queue": queue, "idempotency_key": key,
                      "customer": {"name": "Carl Customer"}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    json_body(r)["id"].as_u64().unwrap()
}

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn ws(acd: &Acd, token: &str) -> Ws {
    let url = format!("ws://{}/api/v1/toolbar/events?token={token}", acd.toolbar);
    let (mut socket, _) = tungstenite::connect(url).expect("websocket connect");
    if let MaybeTlsStream::Plain(s) = socket.get_mut() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    socket
}

/// The next toolbar event of `kind`, skipping others.
fn next(ws: &mut Ws, kind: &str) -> Value {
    loop {
        match ws.read().expect("an event before the timeout") {
            Message::Text(t) => {
                let e: Value = serde_json::from_str(t.as_str()).unwrap();
                if e["type"] == kind {
                    return e;
                }
            }
            Message::Close(_) => panic!("websocket closed"),
            _ => {}
        }
    }
}

fn ok_json(acd: &Acd, path: &str) -> Value {
    let r = acd.get(path);
    assert_eq!(r.status(), 200, "{path}");
    json_body(r)
}

fn queue_stats(acd: &Acd, id: u64) -> Value {
    ok_json(acd, &format!("/api/v1/queues/{id}/stats"))
}

fn agent_state(acd: &Acd, id: u64) -> Value {
    ok_json(acd, &format!("/api/v1/agents/{id}/state"))
}

// ----- queues -------------------------------------------------------------------------------

#[test]
fn new_queue_shows_zeros() {
    let acd = Acd::start();
    let q = queue(&acd, "support", "voice");
    let s = queue_stats(&acd, q);
    assert_eq!(
        (s["id"].as_u64(), s["name"].as_str()),
        (Some(q), Some("support"))
    );
    for field in [
        "waiting",
        "ringing",
        "longest_wait_ms",
        "offered",
        "answered",
        "answered_within_sl",
        "abandoned",
        "overflowed",
        "completed",
        "asa_ms",
        "aht_ms",
        "agents_logged_in",
        "agents_ready",
    ] {
        assert_eq!(s[field], 0, "{field} in {s}");
    }
}

#[test]
fn queue_list_has_every_queue_with_its_name() {
    let acd = Acd::start();
    let a = queue(&acd, "support", "voice");
    let b = queue(&acd, "sales", "chat");
    let list = ok_json(&acd, "/api/v1/stats/queues");
    assert!(list["at_ms"].is_u64(), "{list}");
    let items: Vec<(u64, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_u64().unwrap(), i["name"].as_str().unwrap()))
        .collect();
    assert_eq!(items, vec![(a, "support"), (b, "sales")]);
}

#[test]
fn logged_in_member_counts_as_logged_in_and_ready() {
    let acd = Acd::start();
    let q = queue(&acd, "chats", "chat");
    agent(&acd, "ann", &[q]);
    login_active(&acd, "ann");
    let s = queue_stats(&acd, q);
    assert_eq!(
        (s["agents_logged_in"].as_u64(), s["agents_ready"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
}

#[test]
fn ingested_chat_shows_as_offered_and_ringing_at_once() {
    let acd = Acd::start();
    let q = queue(&acd, "chats", "chat");
    let ann = agent(&acd, "ann", &[q]);
    login_active(&acd, "ann");
    chat(&acd, q, "k1");
    let s = queue_stats(&acd, q);
    assert_eq!(
        (s["offered"].as_u64(), s["ringing"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    let a = agent_state(&acd, ann);
    assert_eq!(a["state"], "ringing", "{a}");
    assert_eq!(a["held"], json!({"voice": 0, "chat": 1, "email": 0}));
}

#[test]
fn chat_waits_while_the_only_member_is_paused() {
    let acd = Acd::start();
    let q = queue(&acd, "chats", "chat");
    agent(&acd, "ann", &[q]);
    let token = login_active(&acd, "ann");
    pause(&acd, &token, None);
    chat(&acd, q, "k1");
    let s = queue_stats(&acd, q);
    assert_eq!(
        (
            s["waiting"].as_u64(),
            s["ringing"].as_u64(),
            s["agents_ready"].as_u64()
        ),
        (Some(1), Some(0), Some(0)),
        "{s}"
    );
}

#[test]
fn completed_chat_counts_as_answered_completed_and_handled() {
    let acd = Acd::start();
    let q = queue(&acd, "chats", "chat");
    let ann = agent(&acd, "ann", &[q]);
    let token = login_active(&acd, "ann");
    let mut socket = ws(&acd, &token);
    let id = chat(&acd, q, "k1");
    // The toolbar must have seen the offer before it can accept it.
    next(&mut socket, "offer");
    for step in ["accept", "complete"] {
        let path = format!("/api/v1/toolbar/interactions/{id}/{step}");
        assert_eq!(tb(&acd, Method::POST, &path, &token, None), 204, "{step}");
    }
    let s = queue_stats(&acd, q);
    assert_eq!(
        (
            s["offered"].as_u64(),
            s["answered"].as_u64(),
            s["completed"].as_u64(),
            s["waiting"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(0)),
        "{s}"
    );
    let a = agent_state(&acd, ann);
    assert_eq!(a["handled"], 1, "{a}");
    assert_eq!(a["held"]["chat"], 0, "{a}");
}

#[test]
fn unknown_queue_is_404_problem() {
    let acd = Acd::start();
    let p = expect_problem(acd.get("/api/v1/queues/999/stats"), 404);
    assert!(p["detail"].as_str().unwrap().contains("999"), "{p}");
}

#[test]
fn malformed_queue_id_is_400_problem() {
    let acd = Acd::start();
    let p = expect_problem(acd.get("/api/v1/queues/abc/stats"), 400);
    assert_eq!(p["errors"][0]["field"], "id", "{p}");
}

// ----- agents -------------------------------------------------------------------------------

#[test]
fn agent_never_logged_in_is_logged_out() {
    let acd = Acd::start();
    let ann = agent(&acd, "ann", &[]);
    let a = agent_state(&acd, ann);
    assert_eq!(
        (
            a["id"].as_u64(),
            a["username"].as_str(),
            a["state"].as_str()
        ),
        (Some(ann), Some("ann"), Some("logged_out")),
        "{a}"
    );
}

#[test]
fn toolbar_login_shows_available() {
    let acd = Acd::start();
    let ann = agent(&acd, "ann", &[]);
    login_active(&acd, "ann");
    let a = agent_state(&acd, ann);
    assert_eq!(a["state"], "available", "{a}");
    assert!(a.get("pause_reason").is_none(), "{a}");
}

#[test]
fn toolbar_pause_shows_paused() {
    let acd = Acd::start();
    let ann = agent(&acd, "ann", &[]);
    let token = login_active(&acd, "ann");
    pause(&acd, &token, None);
    let a = agent_state(&acd, ann);
    assert_eq!(a["state"], "paused", "{a}");
    assert_eq!(a["pause_reason"]["kind"], "manual", "{a}");
}

#[test]
fn toolbar_pause_with_a_reason_shows_its_id_and_name() {
    let acd = Acd::start();
    let r = acd.post("/api/v1/pause_reasons", &json!({"name": "lunch"}));
    assert_eq!(r.status(), 201);
    let reason = json_body(r)["id"].as_u64().unwrap();
    let ann = agent(&acd, "ann", &[]);
    let token = login_active(&acd, "ann");
    pause(&acd, &token, Some(reason));
    let a = agent_state(&acd, ann);
    assert_eq!(
        a["pause_reason"],
        json!({"kind": "manual", "reason_id": reason, "name": "lunch"}),
        "{a}"
    );
}

#[test]
fn agent_list_has_every_agent_with_its_state() {
    let acd = Acd::start();
    let ann = agent(&acd, "ann", &[]);
    let bob = agent(&acd, "bob", &[]);
    login_active(&acd, "ann");
    let list = ok_json(&acd, "/api/v1/stats/agents");
    let items: Vec<(u64, &str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_u64().unwrap(),
                i["username"].as_str().unwrap(),
                i["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![(ann, "ann", "available"), (bob, "bob", "logged_out")]
    );
}

#[test]
fn unknown_agent_is_404_problem() {
    let acd = Acd::start();
    expect_problem(acd.get("/api/v1/agents/999/state"), 404);
}

// ----- authentication -----------------------------------------------------------------------

#[test]
fn stats_without_a_token_are_401() {
    let acd = Acd::start();
    for path in [
        "/api/v1/stats/queues",
        "/api/v1/stats/agents",
        "/api/v1/queues/1/stats",
        "/api/v1/agents/1/state",
    ] {
        let r = acd.anonymous(Method::GET, path).send().unwrap();
        expect_problem(r, 401);
    }
}
