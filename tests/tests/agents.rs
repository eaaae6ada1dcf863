//! Agent CRUD, search, passwords, permissions, disable/enable/unlock and avatars over HTTP
//! against the real server.

use acd_tests::{expect_problem, json_body, Acd};
use reqwest::Method;
use serde_json::{json, Value};

fn create(acd: &Acd, username: &str, first: &str, last: &str) -> Value {
    let response = acd.post(
        "/api/v1/agents",
        &json!({"username": username, "first_name": first, "last_name": last}),
    );
    assert_eq!(response.status(), 201);
    json_body(response)
}

#[test]
fn created_agent_is_returned_with_id_extension_and_a_one_time_sip_password() {
    let acd = Acd::start();
    let agent = create(&acd, "jdoe", "Jane", "Doe");
    assert!(agent["id"].as_u64().unwrap() > 0);
    assert_eq!(agent["username"], "jdoe");
    assert!(agent["extension"]
        .as_str()
        .unwrap()
        .ends_with(&agent["id"].to_string()));
    assert!(agent["sip_password"]
        .as_str()
        .is_some_and(|p| !p.is_empty()));
    let again = json_body(acd.get(&format!("/api/v1/agents/{}", agent["id"])));
    assert_eq!(again["username"], "jdoe");
    assert!(
        again.get("sip_password").is_none(),
        "shown once only: {again}"
    );
    assert!(again.get("password_hash").is_none());
}

#[test]
fn extension_defaults_to_org_prefix_followed_by_agent_id() {
    let acd = Acd::start();
    let r = acd.patch("/api/v1/settings", &json!({"extension_prefix": "50143"}));
    assert_eq!(r.status(), 200);
    let agent = create(&acd, "ext", "Ex", "Ten");
    assert_eq!(agent["extension"], format!("50143{}", agent["id"]));
}

#[test]
fn patch_changes_only_the_given_fields() {
    let acd = Acd::start();
    let agent = create(&acd, "patchme", "Pat", "Ch");
    let path = format!("/api/v1/agents/{}", agent["id"]);
    let r = acd.patch(&path, &json!({"alias": "patty", "capacity": {"chat": 3}}));
    assert_eq!(r.status(), 200);
    let got = json_body(acd.get(&path));
    assert_eq!(got["alias"], "patty");
    assert_eq!(got["capacity"]["chat"], 3);
    assert_eq!(got["first_name"], "Pat");
}

#[test]
fn username_cannot_change() {
    let acd = Acd::start();
    let agent = create(&acd, "fixed", "Fi", "Xed");
    let r = acd.patch(
        &format!("/api/v1/agents/{}", agent["id"]),
        &json!({"username": "other"}),
    );
    let body = expect_problem(r, 422);
    assert_eq!(body["errors"][0]["field"], "username");
    assert_eq!(body["errors"][0]["rule"], "immutable");
}

#[test]
fn delete_removes_the_agent() {
    let acd = Acd::start();
    let agent = create(&acd, "gone", "Go", "Ne");
    let path = format!("/api/v1/agents/{}", agent["id"]);
    assert_eq!(acd.delete(&path).status(), 204);
    expect_problem(acd.get(&path), 404);
    expect_problem(acd.delete(&path), 404);
}

#[test]
fn duplicate_username_is_409_naming_the_field() {
    let acd = Acd::start();
    create(&acd, "twin", "Tw", "In");
    let r = acd.post(
        "/api/v1/agents",
        &json!({"username": "twin", "first_name": "Other", "last_name": "One"}),
    );
    let body = expect_problem(r, 409);
    assert_eq!(body["errors"][0]["field"], "username");
}

#[test]
fn invalid_fields_are_422_with_field_and_rule_for_each() {
    let acd = Acd::start();
    let r = acd.post(
        "/api/v1/agents",
        &json!({"username": "Bad User", "first_name": "J@ne", "last_name": "Doe",
                "timezone": "Mars/Olympus", "capacity": {"chat": 9}}),
    );
    let body = expect_problem(r, 422);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["username", "first_name", "timezone", "capacity.chat"] {
        assert!(fields.contains(&f), "{f} missing from {body}");
    }
    for e in body["errors"].as_array().unwrap() {
        assert!(e["rule"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
}

#[test]
fn list_returns_items_and_total_with_pagination() {
    let acd = Acd::start();
    for i in 0..5 {
        create(&acd, &format!("page{i}"), "Pa", "Ge");
    }
    let page = json_body(acd.get("/api/v1/agents?limit=2&offset=2"));
    assert_eq!(page["total"], 5);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["username"], "page2");
}

#[test]
fn quick_search_matches_part_of_username_or_id() {
    let acd = Acd::start();
    create(&acd, "alice", "Alice", "Smith");
    create(&acd, "bob", "Bob", "Jones");
    create(&acd, "malice", "Mal", "Ice");
    let page = json_body(acd.get("/api/v1/agents?q=lic"));
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alice", "malice"]);
    assert_eq!(page["total"], 2);
}

#[test]
fn advanced_search_filters_by_name_prefix_and_status_and_sorts() {
    let acd = Acd::start();
    create(&acd, "a1", "Anna", "Berg");
    let b = create(&acd, "a2", "Annika", "Ek");
    create(&acd, "a3", "Bo", "Anderson");
    let r = acd
        .request(Method::POST, &format!("/api/v1/agents/{}/disable", b["id"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = json_body(acd.get("/api/v1/agents?first_name=ann&sort=first_name&order=desc"));
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["first_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Annika", "Anna"]);
    let active = json_body(acd.get("/api/v1/agents?first_name=ann&status=active"));
    assert_eq!(active["total"], 1);
    assert_eq!(active["items"][0]["first_name"], "Anna");
    let inactive = json_body(acd.get("/api/v1/agents?status=inactive"));
    assert_eq!(inactive["total"], 1);
}

#[test]
fn bad_search_parameters_are_rejected_naming_the_parameter() {
    let acd = Acd::start();
    let body = expect_problem(acd.get("/api/v1/agents?sort=height"), 400);
    assert_eq!(body["errors"][0]["field"], "sort");
    let body = expect_problem(acd.get("/api/v1/agents?limit=lots"), 400);
    assert_eq!(body["errors"][0]["field"], "limit");
    let body = expect_problem(acd.get("/api/v1/agents?colour=red"), 400);
    assert_eq!(body["errors"][0]["field"], "colour");
    let body = expect_problem(acd.get("/api/v1/agents?limit=0"), 422);
    assert_eq!(body["errors"][0]["field"], "limit");
}

#[test]
fn password_reset_returns_a_generated_password_once_and_forces_a_change() {
    let acd = Acd::start();
    let agent = create(&acd, "resetme", "Re", "Set");
    let r = acd
        .request(
            Method::POST,
            &format!("/api/v1/agents/{}/password/reset", agent["id"]),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let password = json_body(r)["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 10);
    let got = json_body(acd.get(&format!("/api/v1/agents/{}", agent["id"])));
    assert_eq!(got["has_password"], true);
    assert_eq!(got["must_change_password"], true);
    assert!(!got.to_string().contains(&password), "never returned again");
}

#[test]
fn password_set_is_checked_against_the_policy() {
    let acd = Acd::start();
    let agent = create(&acd, "pw", "Pass", "Word");
    let path = format!("/api/v1/agents/{}/password", agent["id"]);
    let body = expect_problem(acd.put(&path, &json!({"password": "short"})), 422);
    assert_eq!(body["errors"][0]["field"], "password");
    let r = acd.put(&path, &json!({"password": "Long-enough-1"}));
    assert_eq!(r.status(), 200);
    assert_eq!(json_body(r)["has_password"], true);
}

#[test]
fn permissions_can_be_read_and_replaced() {
    let acd = Acd::start();
    let agent = create(&acd, "perm", "Per", "Mission");
    let path = format!("/api/v1/agents/{}/permissions", agent["id"]);
    let mut perms = json_body(acd.get(&path));
    perms["sections"] = json!(["contacts", "reports"]);
    perms["channels"] = json!(["voice"]);
    assert_eq!(acd.put(&path, &perms).status(), 200);
    let got = json_body(acd.get(&path));
    assert_eq!(got["sections"], json!(["contacts", "reports"]));
    assert_eq!(got["channels"], json!(["voice"]));
}

#[test]
fn disable_enable_and_unlock_change_the_account_state() {
    let acd = Acd::start();
    let agent = create(&acd, "toggle", "Tog", "Gle");
    let id = &agent["id"];
    let post = |action: &str| {
        let r = acd
            .request(Method::POST, &format!("/api/v1/agents/{id}/{action}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{action}");
        json_body(r)
    };
    assert_eq!(post("disable")["disabled"], true);
    assert_eq!(post("enable")["disabled"], false);
    let unlocked = post("unlock");
    assert_eq!(unlocked["locked"], false);
    assert_eq!(unlocked["failed_logins"], 0);
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";

#[test]
fn avatar_png_is_stored_and_served_with_its_type() {
    let acd = Acd::start();
    let agent = create(&acd, "pic", "Pic", "Ture");
    let path = format!("/api/v1/agents/{}/avatar", agent["id"]);
    // The name and declared type are ignored: the content decides.
    let r = acd
        .request(Method::PUT, &path)
        .header("content-type", "application/octet-stream")
        .body(PNG.to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json_body(r)["media_type"], "png");
    let r = acd.get(&path);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().unwrap().as_ref(), PNG);
}

#[test]
fn avatar_jpeg_is_accepted() {
    let acd = Acd::start();
    let agent = create(&acd, "jpg", "Jay", "Peg");
    let path = format!("/api/v1/agents/{}/avatar", agent["id"]);
    let r = acd
        .request(Method::PUT, &path)
        .body(JPEG.to_vec())
        .send()
        .unwrap();
    assert_eq!(json_body(r)["media_type"], "jpeg");
}

#[test]
fn avatar_that_is_not_png_or_jpeg_is_415() {
    let acd = Acd::start();
    let agent = create(&acd, "gif", "Gi", "F");
    let path = format!("/api/v1/agents/{}/avatar", agent["id"]);
    let r = acd
        .request(Method::PUT, &path)
        .header("content-type", "image/png")
        .body(b"GIF89a....".to_vec())
        .send()
        .unwrap();
    expect_problem(r, 415);
}

#[test]
fn avatar_over_8_mib_is_413_problem() {
    let acd = Acd::start();
    let agent = create(&acd, "huge", "Hu", "Ge");
    let path = format!("/api/v1/agents/{}/avatar", agent["id"]);
    let mut body = PNG.to_vec();
    body.resize(8 * 1024 * 1024 + 1, 0);
    let r = acd.request(Method::PUT, &path).body(body).send().unwrap();
    expect_problem(r, 413);
}

#[test]
fn avatar_of_exactly_8_mib_is_accepted() {
    let acd = Acd::start();
    let agent = create(&acd, "edge", "Ed", "Ge");
    let path = format!("/api/v1/agents/{}/avatar", agent["id"]);
    let mut body = PNG.to_vec();
    body.resize(8 * 1024 * 1024, 0);
    let r = acd.request(Method::PUT, &path).body(body).send().unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn avatar_can_be_deleted() {
    let acd = Acd::start();
    let agent = create(&acd, "nopic", "No", "Pic");
    let path = format!("/api/v1/agents/{}/avatar", agent["id"]);
    acd.request(Method::PUT, &path)
        .body(PNG.to_vec())
        .send()
        .unwrap();
    assert_eq!(acd.delete(&path).status(), 204);
    expect_problem(acd.get(&path), 404);
}
