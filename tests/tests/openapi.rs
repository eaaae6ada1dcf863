//! `GET /api/v1/openapi.json` is true to the server: every documented operation is served and
//! every served method on a documented path is documented.

use acd_tests::{json_body, Acd};
use reqwest::Method;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{number}" => "%2B4612345",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the server has a route for (method, path): anything but a route-level 404 or a 405.
fn served(acd: &Acd, method: &str, path: &str) -> bool {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let response = acd.request(method, &concrete(path)).send().unwrap();
    match response.status().as_u16() {
        405 => false,
        404 => {
            let body = json_body(response);
            !body["detail"]
                .as_str()
                .unwrap_or("")
                .starts_with("no route")
        }
        _ => true,
    }
}

#[test]
fn openapi_document_is_openapi_3_json() {
    let acd = Acd::start();
    let response = acd.get("/api/v1/openapi.json");
    assert_eq!(response.status(), 200);
    let doc = json_body(response);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"].as_object().unwrap().len() > 10);
}

#[test]
fn documented_operations_are_served_and_served_ones_documented() {
    let acd = Acd::start();
    let doc = json_body(acd.get("/api/v1/openapi.json"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for method in METHODS {
            let documented = item.get(method).is_some();
            assert_eq!(
                served(&acd, method, path),
                documented,
                "{method} {path}: served vs documented"
            );
        }
    }
}

#[test]
fn every_schema_reference_resolves() {
    let acd = Acd::start();
    let doc = json_body(acd.get("/api/v1/openapi.json"));
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/").skip(1) {
        let target = part.split('"').next().unwrap();
        let (kind, name) = target.split_once('/').unwrap();
        assert!(
            doc["components"][kind][name].is_object(),
            "unresolved {target}"
        );
    }
}
