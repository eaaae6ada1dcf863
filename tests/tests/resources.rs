//! Teams, queues and membership, campaigns, skills, pause reasons, numbers and organisation
//! settings over HTTP.

use acd_tests::{expect_problem, json_body, Acd};
use serde_json::{json, Value};

fn crud(acd: &Acd, collection: &str, create: Value, patch: Value, field: &str) {
    let base = format!("/api/v1/{collection}");
    let r = acd.post(&base, &create);
    assert_eq!(r.status(), 201, "create {collection}");
    let item = json_body(r);
    let path = format!("{base}/{}", item["id"]);
    assert_eq!(json_body(acd.get(&path))["name"], create["name"]);
    let list = json_body(acd.get(&base));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let updated = json_body(acd.patch(&path, &patch));
    assert_eq!(updated[field], patch[field], "patch {collection}");
    assert_eq!(updated["name"], create["name"], "patch keeps other fields");
    expect_problem(acd.post(&base, &create), 409);
    assert_eq!(acd.delete(&path).status(), 204);
    expect_problem(acd.get(&path), 404);
}

#[test]
fn teams_crud() {
    let acd = Acd::start();
    crud(
        &acd,
        "teams",
        json!({"name": "blue"}),
        json!({"description": "d"}),
        "description",
    );
}

#[test]
fn skills_crud() {
    let acd = Acd::start();
    crud(
        &acd,
        "skills",
        json!({"name": "french"}),
        json!({"description": "fr"}),
        "description",
    );
}

#[test]
fn campaigns_crud() {
    let acd = Acd::start();
    crud(
        &acd,
        "campaigns",
        json!({"name": "spring"}),
        json!({"description": "x"}),
        "description",
    );
}

#[test]
fn pause_reasons_crud() {
    let acd = Acd::start();
    crud(
        &acd,
        "pause_reasons",
        json!({"name": "lunch"}),
        json!({"paid": true}),
        "paid",
    );
}

#[test]
fn queues_crud_with_routing_settings() {
    let acd = Acd::start();
    crud(
        &acd,
        "queues",
        json!({"name": "support", "channel": "email", "strategy": "round_robin"}),
        json!({"wrap_up_seconds": 30}),
        "wrap_up_seconds",
    );
}

#[test]
fn invalid_queue_settings_are_422() {
    let acd = Acd::start();
    let body = expect_problem(
        acd.post(
            "/api/v1/queues",
            &json!({"name": "q", "ring_timeout_seconds": 1}),
        ),
        422,
    );
    assert_eq!(body["errors"][0]["field"], "ring_timeout_seconds");
}

#[test]
fn queue_membership_add_update_list_remove() {
    let acd = Acd::start();
    let agent = json_body(acd.post(
        "/api/v1/agents",
        &json!({"username": "member", "first_name": "Mem", "last_name": "Ber"}),
    ));
    let queue = json_body(acd.post("/api/v1/queues", &json!({"name": "q"})));
    let path = format!("/api/v1/queues/{}/members/{}", queue["id"], agent["id"]);
    assert_eq!(acd.put(&path, &json!({"penalty": 2})).status(), 200);
    assert_eq!(
        json_body(acd.put(&path, &json!({"penalty": 5})))["penalty"],
        5
    );
    let members = json_body(acd.get(&format!("/api/v1/queues/{}/members", queue["id"])));
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(members[0]["agent"], agent["id"]);
    assert_eq!(acd.delete(&path).status(), 204);
    expect_problem(acd.delete(&path), 404);
}

#[test]
fn membership_of_a_missing_agent_is_rejected() {
    let acd = Acd::start();
    let queue = json_body(acd.post("/api/v1/queues", &json!({"name": "q"})));
    let r = acd.put(
        &format!("/api/v1/queues/{}/members/999", queue["id"]),
        &json!({"penalty": 1}),
    );
    let status = r.status().as_u16();
    assert!(status == 404 || status == 422, "{status}");
    expect_problem(r, status);
}

#[test]
fn numbers_map_a_did_to_a_queue_or_an_agent() {
    let acd = Acd::start();
    let queue = json_body(acd.post("/api/v1/queues", &json!({"name": "q"})));
    let r = acd.post(
        "/api/v1/numbers",
        &json!({"number": "+4612345678", "target": {"type": "queue", "queue": queue["id"]}}),
    );
    assert_eq!(r.status(), 201);
    let got = json_body(acd.get("/api/v1/numbers/%2B4612345678"));
    assert_eq!(got["target"]["queue"], queue["id"]);
    let agent = json_body(acd.post(
        "/api/v1/agents",
        &json!({"username": "did", "first_name": "D", "last_name": "Id"}),
    ));
    let updated = json_body(acd.patch(
        "/api/v1/numbers/%2B4612345678",
        &json!({"target": {"type": "agent", "agent": agent["id"]}}),
    ));
    assert_eq!(updated["target"]["type"], "agent");
    assert_eq!(
        json_body(acd.get("/api/v1/numbers"))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    expect_problem(
        acd.post(
            "/api/v1/numbers",
            &json!({"number": "+4612345678", "target": {"type": "queue", "queue": queue["id"]}}),
        ),
        409,
    );
    assert_eq!(acd.delete("/api/v1/numbers/%2B4612345678").status(), 204);
}

#[test]
fn number_with_letters_is_422() {
    let acd = Acd::start();
    let queue = json_body(acd.post("/api/v1/queues", &json!({"name": "q"})));
    let body = expect_problem(
        acd.post(
            "/api/v1/numbers",
            &json!({"number": "call-me", "target": {"type": "queue", "queue": queue["id"]}}),
        ),
        422,
    );
    assert_eq!(body["errors"][0]["field"], "number");
}

#[test]
fn queue_referenced_by_a_number_cannot_be_deleted() {
    let acd = Acd::start();
    let queue = json_body(acd.post("/api/v1/queues", &json!({"name": "q"})));
    acd.post(
        "/api/v1/numbers",
        &json!({"number": "12345", "target": {"type": "queue", "queue": queue["id"]}}),
    );
    expect_problem(acd.delete(&format!("/api/v1/queues/{}", queue["id"])), 409);
}

#[test]
fn organisation_settings_read_and_patch() {
    let acd = Acd::start();
    let org = json_body(acd.get("/api/v1/settings"));
    assert!(org["password_policy"]["min_length"].is_u64());
    let updated = json_body(acd.patch(
        "/api/v1/settings",
        &json!({"extension_prefix": "77", "password_policy": {"min_length": 12}}),
    ));
    assert_eq!(updated["extension_prefix"], "77");
    assert_eq!(updated["password_policy"]["min_length"], 12);
    assert_eq!(
        updated["password_policy"]["require_digit"],
        org["password_policy"]["require_digit"]
    );
    let body = expect_problem(
        acd.patch("/api/v1/settings", &json!({"extension_prefix": "abc"})),
        422,
    );
    assert_eq!(body["errors"][0]["field"], "extension_prefix");
}
