//! The OpenAPI 3.0 document of the admin API, generated from the route table.
//!
//! Owns: turning [`crate::routes::ROUTES`] and the component schemas into one JSON document.
//! Does not own: the routes themselves.

use crate::routes::{Payload, Route, ROUTES};
use serde_json::{json, Map, Value};

/// What every stats operation says about how current its answer is.
const STATS_FRESHNESS: &str = "Fresh, not sampled: the server asks the router thread for a new \
    snapshot on each request, so the answer reflects every command the router received before \
    the request (toolbar login, pause, accept, an arrival). Times (`at_ms`, `since_ms`) are ms \
    on the router clock, which starts at 0 when the engine starts. Queues and agents are those \
    of the admin configuration; one the router does not hold yet shows zeros and `logged_out`.";

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(route.verb.as_str().to_ascii_lowercase(), operation(route));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "acd admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Agents, teams, queues, campaigns, skills, pause reasons, numbers and \
                organisation settings of acd, and live routing statistics. Every route needs \
                `Authorization: Bearer <token>`. Errors are application/problem+json. The `stats` \
                routes are fresh, not sampled: each answer reflects every command the router \
                received before the request (an agent's toolbar pause, a login, an arrival), so a \
                client can act and then read without waiting. Their `at_ms` and `since_ms` are \
                milliseconds on the router clock, which starts at 0 when the engine starts."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": crate::schemas::components(),
            "responses": {
                "Problem": {
                    "description": "An error (RFC 9457 problem details).",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                }
            }
        }
    })
}

fn operation(route: &Route) -> Value {
    let mut parameters: Vec<Value> = route
        .param_names()
        .map(|name| {
            let schema = if name == "number" || name == "name" {
                json!({"type": "string"})
            } else {
                json!({"type": "integer", "format": "int64", "minimum": 0})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    for q in route.query {
        let mut schema = json!({"type": q.kind});
        if !q.values.is_empty() {
            schema["enum"] = json!(q.values);
        }
        parameters.push(json!({
            "name": q.name, "in": "query", "required": false,
            "description": q.description, "schema": schema
        }));
    }
    let mut op = json!({
        "operationId": route.operation_id(),
        "tags": [route.tag],
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses(route),
    });
    if route.tag == "stats" {
        op["description"] = json!(STATS_FRESHNESS);
    }
    if let Some(body) = content(route.request) {
        op["requestBody"] = json!({"required": true, "content": body});
    }
    op
}

fn responses(route: &Route) -> Value {
    let mut out = Map::new();
    let ok = match content(route.response) {
        Some(content) => json!({"description": "Success", "content": content}),
        None => json!({"description": "Success, no body"}),
    };
    if route.request == Payload::Audio {
        // An upload under a name that already plays something replaces it.
        out.insert("200".to_owned(), ok.clone());
    }
    out.insert(route.status.to_string(), ok);
    let mut errors = vec![401u16];
    if route.param_names().next().is_some() || !route.query.is_empty() {
        errors.extend([400, 404]);
    }
    match route.request {
        Payload::Json(_) | Payload::JsonList(_) => errors.extend([400, 409, 413, 415, 422]),
        Payload::Image => errors.extend([413, 415]),
        Payload::Audio => errors.extend([413, 415, 422]),
        Payload::Empty => {}
    }
    if route.verb.as_str() == "DELETE" {
        errors.push(409);
    }
    if route.tag == "stats" {
        // The routing engine has stopped (shutting down).
        errors.push(503);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        out.insert(
            status.to_string(),
            json!({"$ref": "#/components/responses/Problem"}),
        );
    }
    Value::Object(out)
}

fn content(payload: Payload) -> Option<Value> {
    match payload {
        Payload::Empty => None,
        Payload::Json(name) => Some(json!({
            "application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}
        })),
        Payload::JsonList(name) => Some(json!({
            "application/json": {"schema": {
                "type": "array", "items": {"$ref": format!("#/components/schemas/{name}")}
            }}
        })),
        Payload::Image => Some(json!({
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}}
        })),
        Payload::Audio => Some(Value::Object(
            crate::routes::WAV_TYPES
                .iter()
                .map(|t| {
                    (
                        (*t).to_owned(),
                        json!({"schema": {"type": "string", "format": "binary"}}),
                    )
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_method() {
        let doc = document();
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.verb.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", r.verb.as_str(), r.path);
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/").skip(1) {
            let target = part.split('"').next().unwrap();
            let (kind, name) = target.split_once('/').unwrap();
            assert!(
                doc["components"][kind][name].is_object(),
                "unresolved reference {target}"
            );
        }
    }
}
