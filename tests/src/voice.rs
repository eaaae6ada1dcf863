//! Admin-API set-up for voice tests: a queue reachable on a DID, agents with SIP
//! credentials, queue membership, live states, media statistics, and waiting on the log.
//!
//! Owns only set-up and polling; the SIP and RTP parties are `acd_loadgen::{sipua, rtp}`.

use crate::{json_body, Acd};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// An agent created over the admin API.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its id.
    pub id: u64,
    /// Its SIP extension (the digest username).
    pub extension: String,
    /// Its SIP password.
    pub password: String,
}

/// Creates a queue (no wrap-up, no reject delay, plus `settings`) reachable on `number`;
/// returns its id.
pub fn queue_with_did(acd: &Acd, number: &str, settings: Value) -> u64 {
    let mut body = json!({"name": format!("q{number}"), "wrap_up_seconds": 0,
                          "reject_delay_seconds": 0});
    for (k, v) in settings.as_object().expect("an object") {
        body[k] = v.clone();
    }
    let r = acd.post("/api/v1/queues", &body);
    let status = r.status();
    let b = json_body(r);
    assert_eq!(status, 201, "queue: {b}");
    let q = b["id"].as_u64().expect("queue id");
    let r = acd.post(
        "/api/v1/numbers",
        &json!({"number": number, "target": {"type": "queue", "queue": q}}),
    );
    assert_eq!(r.status(), 201, "number");
    q
}

/// Creates a SIP-phone agent with `profile` merged in.
pub fn sip_agent(acd: &Acd, username: &str, profile: Value) -> Agent {
    let mut body = json!({"username": username, "first_name": "Media", "last_name": "Agent",
                          "typology": "sip_phone"});
    for (k, v) in profile.as_object().expect("an object") {
        body[k] = v.clone();
    }
    let r = acd.post("/api/v1/agents", &body);
    let status = r.status();
    let b = json_body(r);
    assert_eq!(status, 201, "agent: {b}");
    Agent {
        id: b["id"].as_u64().expect("agent id"),
        extension: b["extension"].as_str().expect("extension").to_owned(),
        password: b["sip_password"].as_str().expect("sip_password").to_owned(),
    }
}

/// Puts `agent` in `queue` with `penalty`.
pub fn join(acd: &Acd, queue: u64, agent: &Agent, penalty: u32) {
    let r = acd.put(
        &format!("/api/v1/queues/{queue}/members/{}", agent.id),
        &json!({"penalty": penalty}),
    );
    assert!(r.status().is_success(), "membership: {}", r.status());
}

/// The agent's live state document.
pub fn agent_state(acd: &Acd, agent: &Agent) -> Value {
    let r = acd.get(&format!("/api/v1/agents/{}/state", agent.id));
    assert_eq!(r.status(), 200);
    json_body(r)
}

/// `GET /api/v1/stats/media`, or `None` while acd has no such route (status in the error).
pub fn media_stats(acd: &Acd) -> Result<Value, u16> {
    let r = acd.get("/api/v1/stats/media");
    match r.status().as_u16() {
        200 => Ok(json_body(r)),
        s => Err(s),
    }
}

/// Polls `f` every 20 ms until it holds; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until a line of acd's log satisfies `f`; returns that line, or `None` after
/// `timeout`.
pub fn wait_log(acd: &Acd, timeout: Duration, mut f: impl FnMut(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(l) = acd.stderr().lines().find(|l| f(l)) {
            return Some(l.to_owned());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of `key=` in a structured log line (quotes trimmed), e.g. `digit` in
/// `dtmf interaction=7 digit=5 duration_ms=200`.
pub fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(needle.as_str()))
        .map(|v| v.trim_matches(['"', '\'']))
}
