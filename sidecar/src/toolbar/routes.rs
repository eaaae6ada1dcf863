//! The route table of the engine API (toolbar and ingest) and the OpenAPI document generated
//! from it, so the document cannot drift from what is served.
//!
//! Owns: paths, methods, who may call each route, payload schema names and success statuses.
//! Does not own: handlers (see `super::api`).

use serde_json::{json, Map, Value};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone (login, the OpenAPI document).
    Open,
    /// An integration holding the admin bearer token (chat and email systems).
    Integration,
    /// A toolbar session in any login stage (logout, password change, TOTP enrolment).
    AnySession,
    /// A fully logged-in toolbar session.
    Session,
}

/// Every operation of the engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum TOp {
    OpenApi,
    Ingest,
    GetInteraction,
    CloseInteraction,
    Login,
    Logout,
    ChangePassword,
    TotpEnrol,
    TotpConfirm,
    Me,
    SetState,
    EndWrapUp,
    PauseReasons,
    Accept,
    Reject,
    Complete,
    Transfer,
    QueueCounts,
    EmailSearch,
    Callbacks,
    Leads,
    ManualCall,
    AgentCall,
    Events,
}

/// One served route.
#[derive(Debug, Clone, Copy)]
pub struct TRoute {
    /// GET, POST, PUT.
    pub method: &'static str,
    /// Full path with `{id}` parameters.
    pub path: &'static str,
    /// The operation.
    pub op: TOp,
    /// Who may call it.
    pub auth: Auth,
    /// One line.
    pub summary: &'static str,
    /// Request body schema, if any.
    pub request: Option<&'static str>,
    /// Success status.
    pub status: u16,
    /// Success body schema, if any.
    pub response: Option<&'static str>,
}

// One row of the table per call: positional arguments keep the table one screen tall.
#[allow(clippy::too_many_arguments)]
const fn r(
    method: &'static str,
    path: &'static str,
    op: TOp,
    auth: Auth,
    summary: &'static str,
    request: Option<&'static str>,
    status: u16,
    response: Option<&'static str>,
) -> TRoute {
    TRoute {
        method,
        path,
        op,
        auth,
        summary,
        request,
        status,
        response,
    }
}

use Auth::*;
use TOp::*;

/// Every route of the engine API.
pub static TOOLBAR_ROUTES: &[TRoute] = &[
    r("GET", "/api/v1/openapi.json", OpenApi, Open, "This document", None, 200, None),
    r("POST", "/api/v1/interactions", Ingest, Integration,
      "Ingest a chat or email: 201 once durably stored; a repeated idempotency key answers 200 with the first id",
      Some("NewInteraction"), 201, Some("Ingested")),
    r("GET", "/api/v1/interactions/{id}", GetInteraction, Integration,
      "A live interaction", None, 200, Some("Interaction")),
    r("POST", "/api/v1/interactions/{id}/close", CloseInteraction, Integration,
      "The customer left (closed the chat)", None, 204, None),
    r("POST", "/api/v1/toolbar/login", Login, Open,
      "Log in with username, password and (when enabled) a TOTP code", Some("Login"), 201, Some("LoggedIn")),
    r("POST", "/api/v1/toolbar/logout", Logout, AnySession, "End this session", None, 204, None),
    r("POST", "/api/v1/toolbar/password", ChangePassword, AnySession,
      "Change your password (policy enforced)", Some("ChangePassword"), 200, Some("StageReply")),
    r("POST", "/api/v1/toolbar/totp/enrol", TotpEnrol, AnySession,
      "Start TOTP enrolment: a new secret, shown once", None, 200, Some("TotpEnrolment")),
    r("POST", "/api/v1/toolbar/totp/confirm", TotpConfirm, AnySession,
      "Confirm TOTP enrolment with a first code", Some("TotpCode"), 200, Some("StageReply")),
    r("GET", "/api/v1/toolbar/me", Me, Session,
      "Your state, answered interactions and ringing offers", None, 200, Some("Me")),
    r("PUT", "/api/v1/toolbar/state", SetState, Session,
      "Become available, or pause with a reason", Some("SetState"), 204, None),
    r("POST", "/api/v1/toolbar/wrap-up/end", EndWrapUp, Session, "End wrap-up now", None, 204, None),
    r("GET", "/api/v1/toolbar/pause-reasons", PauseReasons, Session,
      "The pause reasons you may give", None, 200, Some("PauseReasonList")),
    r("POST", "/api/v1/toolbar/interactions/{id}/accept", Accept, Session,
      "Accept a ringing offer (durable before the answer); a phone call is answered on the phone (409)", None, 204, None),
    r("POST", "/api/v1/toolbar/interactions/{id}/reject", Reject, Session,
      "Reject a ringing offer", None, 204, None),
    r("POST", "/api/v1/toolbar/interactions/{id}/complete", Complete, Session,
      "Complete an answered interaction", None, 204, None),
    r("POST", "/api/v1/toolbar/interactions/{id}/transfer", Transfer, Session,
      "Transfer an answered chat or email to an agent or a queue", Some("Transfer"), 201, Some("Ingested")),
    r("GET", "/api/v1/toolbar/queues", QueueCounts, Session,
      "Waiting counts of your queues, where your permissions show them", None, 200, Some("QueueCountList")),
    r("GET", "/api/v1/toolbar/emails", EmailSearch, Session,
      "Search live emails (permission email_search); query `q`", None, 200, Some("InteractionList")),
    r("GET", "/api/v1/toolbar/callbacks", Callbacks, Session,
      "Today's callbacks (permission callback_list)", None, 200, Some("InteractionList")),
    r("GET", "/api/v1/toolbar/leads", Leads, Session,
      "Lead manager (permission lead_manager); 501 until outbound campaigns exist", None, 200, None),
    r("POST", "/api/v1/toolbar/calls/manual", ManualCall, Session,
      "Manual outbound call (permission manual_call); 501 until outbound voice exists", None, 202, None),
    r("POST", "/api/v1/toolbar/calls/agent", AgentCall, Session,
      "Call another agent (permission agent_call); 501 until internal voice calls exist", None, 202, None),
    r("GET", "/api/v1/toolbar/events", Events, Session,
      "WebSocket upgrade: offers, answers, ends and state changes pushed as JSON text frames; \
       the token may be given as `?token=`", None, 101, None),
];

/// Finds the route and its path parameters, or the allowed methods for a known path.
pub(crate) fn find(
    method: &str,
    path: &str,
) -> Result<(&'static TRoute, Vec<String>), Vec<&'static str>> {
    let mut allowed = Vec::new();
    for route in TOOLBAR_ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method == method {
                return Ok((route, params));
            }
            allowed.push(route.method);
        }
    }
    Err(allowed)
}

fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (pat.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(g)) if p.starts_with('{') => {
                if g.is_empty() {
                    return None;
                }
                params.push(g.to_owned());
            }
            (Some(p), Some(g)) if p == g => {}
            _ => return None,
        }
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}})
}

/// The OpenAPI 3.0 document of the engine API.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in TOOLBAR_ROUTES {
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let mut params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}))
            .collect();
        if route.op == EmailSearch {
            params.push(
                json!({"name": "q", "in": "query", "required": true, "schema": {"type": "string"}}),
            );
        }
        let mut responses = Map::new();
        responses.insert(
            route.status.to_string(),
            match route.response {
                Some(s) => json!({"description": "Success", "content": schema_ref(s)}),
                None => json!({"description": "Success"}),
            },
        );
        let mut errors: Vec<u16> = match route.auth {
            Open => vec![],
            Integration | AnySession => vec![401],
            Session => vec![401, 403],
        };
        if route.request.is_some() {
            errors.extend([400, 415, 422]);
        }
        match route.op {
            Login => errors.extend([401, 403, 423]),
            Ingest => errors.extend([409, 503]),
            Accept | Reject | Complete | Transfer | GetInteraction | CloseInteraction => {
                errors.push(404)
            }
            Leads | ManualCall | AgentCall => errors.push(501),
            _ => {}
        }
        errors.sort_unstable();
        errors.dedup();
        for e in errors {
            responses.insert(
                e.to_string(),
                json!({"$ref": "#/components/responses/Problem"}),
            );
        }
        let mut op = json!({
            "operationId": format!("{:?}", route.op),
            "tags": [if route.path.contains("/toolbar/") { "toolbar" } else { "ingest" }],
            "summary": route.summary,
            "parameters": params,
            "responses": responses,
        });
        op["security"] = match route.auth {
            Open => json!([]),
            Integration => json!([{"integration": []}]),
            AnySession | Session => json!([{"session": []}]),
        };
        if let Some(s) = route.request {
            op["requestBody"] = json!({"required": true, "content": schema_ref(s)});
        }
        if let Value::Object(item) = item {
            item.insert(route.method.to_ascii_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "acd engine API (agent toolbar, chat and email ingest)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Toolbar routes take `Authorization: Bearer <session token>` from \
                POST /api/v1/toolbar/login; ingest routes take the admin token. Errors are \
                application/problem+json."
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer"},
                "integration": {"type": "http", "scheme": "bearer"}
            },
            "schemas": schemas(),
            "responses": {
                "Problem": {
                    "description": "An error (RFC 9457 problem details).",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                }
            }
        }
    })
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

fn schemas() -> Value {
    let int = json!({"type": "integer", "format": "int64"});
    let s = json!({"type": "string"});
    let customer = obj(
        json!({"name": s, "email": s, "phone": s, "subject": s}),
        &[],
    );
    let interaction = obj(
        json!({
            "id": int, "channel": {"type": "string", "enum": ["chat", "email"]}, "queue": int,
            "priority": int, "customer": customer, "thread_id": s, "transferred": {"type": "boolean"},
            "state": {"type": "string", "enum": ["waiting", "active"]}, "agent": int,
            "required_skills": {"type": "array", "items": obj(json!({"skill": int, "min_level": int}), &["skill", "min_level"])}
        }),
        &["id", "channel", "queue", "state"],
    );
    json!({
        "Problem": obj(json!({
            "type": s, "status": int, "title": s, "detail": s,
            "errors": {"type": "array", "items": obj(json!({"field": s, "rule": s, "message": s}), &["field", "rule", "message"])}
        }), &["type", "status", "title", "detail"]),
        "NewInteraction": obj(json!({
            "channel": {"type": "string", "enum": ["chat", "email"]}, "queue": int,
            "priority": {"type": "integer", "minimum": 0, "maximum": 255},
            "required_skills": {"type": "array", "maxItems": 4, "items": obj(json!({"skill": int, "min_level": int}), &["skill", "min_level"])},
            "customer": customer, "idempotency_key": s, "thread_id": s
        }), &["channel", "queue", "idempotency_key"]),
        "Ingested": obj(json!({"id": int, "created": {"type": "boolean"}}), &["id", "created"]),
        "Interaction": interaction,
        "InteractionList": {"type": "array", "items": {"$ref": "#/components/schemas/Interaction"}},
        "Login": obj(json!({"username": s, "password": s, "totp": s}), &["username", "password"]),
        "LoggedIn": obj(json!({
            "token": s, "agent_id": int, "expires_at_ms": int,
            "stage": {"type": "string", "enum": ["active", "totp_enrolment_required", "password_change_required"]}
        }), &["token", "agent_id", "stage", "expires_at_ms"]),
        "StageReply": obj(json!({"stage": s}), &["stage"]),
        "ChangePassword": obj(json!({"current_password": s, "new_password": s}), &["current_password", "new_password"]),
        "TotpEnrolment": obj(json!({"secret": s, "otpauth_uri": s}), &["secret", "otpauth_uri"]),
        "TotpCode": obj(json!({"code": s}), &["code"]),
        "SetState": obj(json!({"state": {"type": "string", "enum": ["available", "paused"]}, "reason_id": int}), &["state"]),
        "Transfer": obj(json!({"agent_id": int, "queue_id": int}), &[]),
        "Me": obj(json!({
            "agent_id": int, "username": s, "state": s, "pause": {"type": "object"},
            "interactions": {"type": "array", "items": {"$ref": "#/components/schemas/Interaction"}},
            "ringing": {"type": "array", "items": int}
        }), &["agent_id", "state"]),
        "PauseReasonList": {"type": "array", "items": obj(json!({"id": int, "name": s}), &["id", "name"])},
        "QueueCountList": {"type": "array", "items": obj(json!({"queue": int, "channel": s, "waiting": int}), &["queue", "channel"])},
    })
}
