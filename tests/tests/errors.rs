//! Every error class of the admin API is problem+json with the right status; bad input never
//! gets a 500.

use acd_tests::{expect_problem, Acd};
use reqwest::Method;
use serde_json::json;

#[test]
fn malformed_json_is_400_naming_line_and_column() {
    let acd = Acd::start();
    let r = acd
        .request(Method::POST, "/api/v1/agents")
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .unwrap();
    let body = expect_problem(r, 400);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("malformed JSON"), "{detail}");
    assert!(detail.contains("line 1 column"), "{detail}");
}

#[test]
fn empty_json_body_is_400() {
    let acd = Acd::start();
    let r = acd
        .request(Method::POST, "/api/v1/teams")
        .header("content-type", "application/json")
        .send()
        .unwrap();
    expect_problem(r, 400);
}

#[test]
fn wrong_content_type_is_415() {
    let acd = Acd::start();
    let r = acd
        .request(Method::POST, "/api/v1/agents")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .unwrap();
    let body = expect_problem(r, 415);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("application/json"));
}

#[test]
fn wrong_json_type_is_422_naming_the_nested_field() {
    let acd = Acd::start();
    let r = acd.post(
        "/api/v1/agents",
        &json!({"username": "t", "capacity": {"chat": "many"}}),
    );
    let body = expect_problem(r, 422);
    assert_eq!(body["errors"][0]["field"], "capacity.chat");
    assert_eq!(body["errors"][0]["rule"], "type");
}

#[test]
fn unknown_enum_value_is_422_with_rule_enum() {
    let acd = Acd::start();
    let r = acd.post(
        "/api/v1/queues",
        &json!({"name": "q", "strategy": "fastest"}),
    );
    let body = expect_problem(r, 422);
    assert_eq!(body["errors"][0]["field"], "strategy");
    assert_eq!(body["errors"][0]["rule"], "enum");
}

#[test]
fn json_body_over_1_mib_is_413() {
    let acd = Acd::start();
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let r = acd
        .request(Method::POST, "/api/v1/teams")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .unwrap();
    expect_problem(r, 413);
}

#[test]
fn non_numeric_id_is_400_naming_the_parameter() {
    let acd = Acd::start();
    let body = expect_problem(acd.get("/api/v1/teams/blue"), 400);
    assert_eq!(body["errors"][0]["field"], "id");
}

#[test]
fn missing_record_is_404() {
    let acd = Acd::start();
    let body = expect_problem(acd.get("/api/v1/queues/42"), 404);
    assert!(body["detail"].as_str().unwrap().contains("42"));
}

#[test]
fn random_garbage_bodies_never_cause_a_500() {
    let acd = Acd::start();
    let bodies: [&[u8]; 7] = [
        b"null",
        b"[]",
        b"\"text\"",
        b"{\"username\": null}",
        b"{\"profile\": {\"x\": [1, 2, {}]}}",
        b"\xff\xfe\x00garbage",
        b"{\"username\": \"a\", \"skills\": [{\"skill\": -1, \"level\": 1000}]}",
    ];
    for path in [
        "/api/v1/agents",
        "/api/v1/teams",
        "/api/v1/queues",
        "/api/v1/numbers",
    ] {
        for body in bodies {
            let r = acd
                .request(Method::POST, path)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .unwrap();
            let status = r.status().as_u16();
            assert!(
                (400..500).contains(&status),
                "POST {path} {:?} gave {status}",
                String::from_utf8_lossy(body)
            );
            expect_problem(r, status);
        }
    }
}

#[test]
fn misspelt_setting_is_a_422_naming_the_field_not_silently_ignored() {
    let acd = Acd::start();
    let r = acd.post(
        "/api/v1/agents",
        &serde_json::json!({"username": "typo", "first_name": "Ty", "last_name": "Po",
                            "login_pasue": true}),
    );
    let problem = expect_problem(r, 422);
    assert_eq!(problem["errors"][0]["field"], "login_pasue");
    assert_eq!(problem["errors"][0]["rule"], "unknown_field");

    let created = acd.post(
        "/api/v1/agents",
        &serde_json::json!({"username": "typo", "first_name": "Ty", "last_name": "Po"}),
    );
    assert_eq!(created.status(), 201);
    let id = acd_tests::json_body(created)["id"].as_u64().unwrap();
    let r = acd.patch(
        &format!("/api/v1/agents/{id}"),
        &serde_json::json!({"capacity": {"chat": 2, "emial": 3}}),
    );
    let problem = expect_problem(r, 422);
    assert_eq!(problem["errors"][0]["field"], "capacity.emial");
}
