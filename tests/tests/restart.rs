//! Everything acknowledged survives a stop (SIGTERM) and a start on the same data dir.

use acd_tests::{json_body, Acd};
use serde_json::json;

#[test]
fn agents_and_configuration_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = Acd::builder().data_dir(dir.path()).start();
    let agent = json_body(first.post(
        "/api/v1/agents",
        &json!({"username": "durable", "first_name": "Dura", "last_name": "Ble", "alias": "dd"}),
    ));
    let team = json_body(first.post("/api/v1/teams", &json!({"name": "blue"})));
    let queue = json_body(first.post(
        "/api/v1/queues",
        &json!({"name": "sales", "channel": "chat"}),
    ));
    let member = first.put(
        &format!("/api/v1/queues/{}/members/{}", queue["id"], agent["id"]),
        &json!({"penalty": 3}),
    );
    assert_eq!(member.status(), 200);
    assert_eq!(
        first
            .patch("/api/v1/settings", &json!({"lockout_threshold": 7}))
            .status(),
        200
    );
    assert!(first.stop().success());

    let second = Acd::builder().data_dir(dir.path()).start();
    let got = json_body(second.get(&format!("/api/v1/agents/{}", agent["id"])));
    assert_eq!(got["username"], "durable");
    assert_eq!(got["alias"], "dd");
    assert_eq!(
        json_body(second.get(&format!("/api/v1/teams/{}", team["id"])))["name"],
        "blue"
    );
    let members = json_body(second.get(&format!("/api/v1/queues/{}/members", queue["id"])));
    assert_eq!(members[0]["penalty"], 3);
    assert_eq!(
        json_body(second.get("/api/v1/settings"))["lockout_threshold"],
        7
    );
    // Ids are never reused after a restart.
    let next = json_body(second.post(
        "/api/v1/agents",
        &json!({"username": "next", "first_name": "Ne", "last_name": "Xt"}),
    ));
    assert!(next["id"].as_u64() > agent["id"].as_u64());
}

#[test]
fn acknowledged_creates_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let first = Acd::builder().data_dir(dir.path()).start();
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = first.post(
            "/api/v1/agents",
            &json!({"username": format!("k{i}"), "first_name": "Kil", "last_name": "Led"}),
        );
        assert_eq!(r.status(), 201);
        ids.push(json_body(r)["id"].clone());
    }
    drop(first); // SIGKILL: no graceful flush, only what was acknowledged.

    let second = Acd::builder().data_dir(dir.path()).start();
    for id in ids {
        assert_eq!(
            second.get(&format!("/api/v1/agents/{id}")).status(),
            200,
            "{id}"
        );
    }
}
