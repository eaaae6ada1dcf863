//! The engine API listener (default `127.0.0.1:8081`): agent toolbars over HTTP + WebSocket,
//! and chat/email ingest for other systems.
//!
//! Owns: the listener, matching requests against [`routes::TOOLBAR_ROUTES`], authentication
//! (session tokens for toolbars, the admin token for integrations), mapping
//! [`ToolbarError`] to problem+json, and the WebSocket pump from the engine's [`Hub`] to the
//! socket. Does not own any rule: login, sessions, permissions, state and ingest live in
//! `acd_engine::toolbar` and `acd_engine::interactions`, whose blocking calls run on tokio's
//! blocking pool.
//!
//! [`Hub`]: acd_engine::toolbar::Hub

pub mod routes;

use crate::auth::AdminToken;
use crate::problem::{Problem, ProblemField};
use acd_engine::common::{AgentId, InteractionId, PauseReasonId, QueueId};
use acd_engine::interactions::{InteractionError, NewInteraction};
use acd_engine::toolbar::{
    events, Permission, Session, Toolbar, ToolbarError, TransferTarget, WantedState,
};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use routes::{Auth, TOp, TRoute};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use warp::http::{header, HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

/// Largest body accepted on the engine API.
const BODY_LIMIT: usize = 256 * 1024;

/// What the handlers share.
pub struct ToolbarState {
    toolbar: Arc<Toolbar>,
    integration: AdminToken,
    openapi: serde_json::Value,
}

impl std::fmt::Debug for ToolbarState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolbarState").finish_non_exhaustive()
    }
}

impl ToolbarState {
    /// State serving `toolbar`, with `integration` as the token ingest callers present.
    pub fn new(toolbar: Arc<Toolbar>, integration: AdminToken) -> Self {
        ToolbarState {
            toolbar,
            integration,
            openapi: routes::document(),
        }
    }
}

/// Milliseconds since the Unix epoch: the toolbar service's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The problem for a toolbar service error.
pub fn problem_of(e: ToolbarError) -> Problem {
    let field = |status: StatusCode, field: &str, rule: &str, msg: String| {
        Problem::new(status, msg.clone()).with_errors(vec![ProblemField {
            field: field.into(),
            rule: rule.into(),
            message: msg,
        }])
    };
    match e {
        e @ ToolbarError::InvalidCredentials => Problem::unauthorized(e.to_string()),
        e @ ToolbarError::TotpRequired => {
            field(StatusCode::UNAUTHORIZED, "totp", "required", e.to_string())
        }
        e @ ToolbarError::TotpInvalid => {
            field(StatusCode::UNAUTHORIZED, "totp", "invalid", e.to_string())
        }
        e @ ToolbarError::Locked => Problem::new(StatusCode::LOCKED, e.to_string()),
        e @ ToolbarError::Disabled => Problem::new(StatusCode::FORBIDDEN, e.to_string()),
        ToolbarError::Session(e) => Problem::unauthorized(e.to_string()),
        e @ ToolbarError::Stage(stage) => field(
            StatusCode::FORBIDDEN,
            "session",
            stage.as_str(),
            e.to_string(),
        ),
        e @ ToolbarError::Forbidden(p) => field(
            StatusCode::FORBIDDEN,
            p.as_str(),
            "permission",
            e.to_string(),
        ),
        ToolbarError::Invalid {
            field: f,
            rule,
            message,
        } => field(StatusCode::UNPROCESSABLE_ENTITY, f, rule, message),
        e @ ToolbarError::NotYours(_) => Problem::not_found(e.to_string()),
        ToolbarError::Conflict(m) => Problem::conflict(m),
        ToolbarError::Admin(e) => crate::api::problem_of(e),
        ToolbarError::Interaction(InteractionError::Invalid(list)) => {
            let detail = list
                .iter()
                .map(|i| format!("{}: {}", i.field, i.message))
                .collect::<Vec<_>>()
                .join("; ");
            Problem::unprocessable(
                detail,
                list.into_iter()
                    .map(|i| ProblemField {
                        field: i.field.into(),
                        rule: i.rule.into(),
                        message: i.message,
                    })
                    .collect(),
            )
        }
        ToolbarError::Interaction(e @ InteractionError::KeyReused { .. }) => field(
            StatusCode::CONFLICT,
            "idempotency_key",
            "reused",
            e.to_string(),
        ),
        ToolbarError::Interaction(e @ InteractionError::NotFound(_)) => {
            Problem::not_found(e.to_string())
        }
        ToolbarError::Interaction(InteractionError::Store(e)) | ToolbarError::Store(e) => {
            tracing::error!(error = %e, "store failure on the engine API");
            Problem::internal(format!("storage failure, nothing was acknowledged: {e}"))
        }
        e @ ToolbarError::Router(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// A bound, not yet serving, engine API server.
#[derive(Debug)]
pub struct ToolbarServer {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<ToolbarState>,
}

impl ToolbarServer {
    /// Binds `addr` (port 0 allowed).
    pub async fn bind(addr: SocketAddr, state: Arc<ToolbarState>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(ToolbarServer {
            listener,
            addr,
            state,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` fires (then up to `grace` for open requests); also sweeps expired
    /// sessions once a second. `done` is dropped on return.
    pub async fn run(self, stop: broadcast::Receiver<()>, grace: Duration, done: mpsc::Sender<()>) {
        let sweeper = {
            let tb = self.state.toolbar.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let tb = tb.clone();
                    let _ = tokio::task::spawn_blocking(move || tb.handle_sweep(now_ms())).await;
                }
            })
        };
        let (stopping_tx, mut stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            crate::shutdown::signalled(stop).await;
            let _ = stopping_tx.send(());
        };
        let server = warp::serve(filter(self.state))
            .incoming(self.listener)
            .graceful(signal)
            .run();
        let mut server = std::pin::pin!(server);
        tokio::select! {
            () = &mut server => {}
            _ = &mut stopping_rx => {
                if tokio::time::timeout(grace, &mut server).await.is_err() {
                    tracing::warn!(?grace, "engine API requests still open after the grace period");
                }
            }
        }
        sweeper.abort();
        drop(done);
    }
}

/// The warp filter of the engine API.
pub fn filter(
    state: Arc<ToolbarState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let ws_state = state.clone();
    let ws = warp::path!("api" / "v1" / "toolbar" / "events")
        .and(warp::get())
        .and(warp::ws())
        .and(warp::header::headers_cloned())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .then(move |ws: warp::ws::Ws, headers: HeaderMap, query: String| {
            let state = ws_state.clone();
            async move { upgrade(state, ws, headers, query).await }
        });
    let state2 = state.clone();
    let api = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  body| {
                let state = state2.clone();
                async move {
                    let body = match read_body(body).await {
                        Ok(b) => b,
                        Err(p) => return p.into_response(),
                    };
                    match handle(state, method, path.as_str(), query, headers, body).await {
                        Ok(r) => r,
                        Err(p) => p.into_response(),
                    }
                }
            },
        );
    ws.or(api).unify().recover(crate::problem::recover).unify()
}

/// Reads the body up to [`BODY_LIMIT`] (with or without a Content-Length).
async fn read_body<S, B>(body: S) -> Result<Bytes, Problem>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send,
    B: bytes::Buf,
{
    let mut body = std::pin::pin!(body);
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| Problem::bad_request(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.remaining() > BODY_LIMIT {
            return Err(Problem::too_large(BODY_LIMIT));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buf.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn missing_token() -> Problem {
    Problem::unauthorized("missing `Authorization: Bearer <session token>` header; log in first")
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ToolbarError> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Problem::internal(format!("handler failed: {e}")))?
        .map_err(problem_of)
}

fn json_reply(status: StatusCode, v: &impl serde::Serialize) -> Response {
    let mut r = warp::reply::json(v).into_response();
    *r.status_mut() = status;
    r
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn body<T: serde::de::DeserializeOwned + serde::Serialize>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, Problem> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(Problem::unsupported_media(format!(
            "expected `Content-Type: application/json`, got `{}`",
            if ct.is_empty() { "(none)" } else { ct }
        )));
    }
    crate::http::decode_json(body)
}

fn id_param(params: &[String]) -> Result<InteractionId, Problem> {
    let raw = params.first().map(String::as_str).unwrap_or("");
    raw.parse::<u64>().map(InteractionId).map_err(|_| {
        Problem::bad_param(
            "id",
            "integer",
            format!("path parameter `id` must be a non-negative integer, got `{raw}`"),
        )
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum StateName {
    Available,
    Paused,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: StateName,
    #[serde(default)]
    reason_id: Option<PauseReasonId>,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    #[serde(default)]
    agent_id: Option<AgentId>,
    #[serde(default)]
    queue_id: Option<QueueId>,
}

async fn handle(
    state: Arc<ToolbarState>,
    method: Method,
    path: &str,
    query: String,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, Problem> {
    let (route, params): (&'static TRoute, Vec<String>) = match routes::find(method.as_str(), path)
    {
        Ok(found) => found,
        Err(allowed) if !allowed.is_empty() => {
            return Err(Problem::method_not_allowed(format!(
                "{method} is not allowed on {path}; allowed: {}",
                allowed.join(", ")
            )))
        }
        Err(_) => {
            return Err(Problem::not_found(format!(
                "no route {path}; see GET /api/v1/openapi.json"
            )))
        }
    };
    let tb = state.toolbar.clone();
    let now = now_ms();
    let token = bearer(&headers).map(str::to_owned);
    let session: Option<(String, Session)> = match route.auth {
        Auth::Open => None,
        Auth::Integration => {
            if !state
                .integration
                .accepts_header(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
            {
                return Err(Problem::unauthorized(
                    "ingest needs `Authorization: Bearer <admin token>`",
                ));
            }
            None
        }
        Auth::AnySession | Auth::Session => {
            let t = token.ok_or_else(missing_token)?;
            let s = if route.auth == Auth::Session {
                tb.authenticate_active(now, &t)
            } else {
                tb.authenticate(now, &t)
            }
            .map_err(problem_of)?;
            Some((t, s))
        }
    };
    let sess = || session.clone().expect("a session route has a session");
    match route.op {
        TOp::OpenApi => Ok(json_reply(StatusCode::OK, &state.openapi)),
        TOp::Ingest => {
            let req: NewInteraction = body(&headers, &raw)?;
            let (id, created) = blocking(move || tb.handle_ingest(now, req)).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_reply(status, &json!({"id": id.0, "created": created})))
        }
        TOp::GetInteraction => {
            let id = id_param(&params)?;
            match tb.log().get(id) {
                Some(r) => Ok(json_reply(StatusCode::OK, &r)),
                None => Err(Problem::not_found(format!(
                    "interaction {id} is not live (never ingested, or ended)"
                ))),
            }
        }
        TOp::CloseInteraction => {
            let id = id_param(&params)?;
            blocking(move || tb.handle_close(id)).await?;
            Ok(no_content())
        }
        TOp::Login => {
            let b: LoginBody = body(&headers, &raw)?;
            let li =
                blocking(move || tb.handle_login(now, &b.username, &b.password, b.totp.as_deref()))
                    .await?;
            Ok(json_reply(
                StatusCode::CREATED,
                &json!({
                    "token": li.token,
                    "agent_id": li.agent.id.0,
                    "stage": li.session.stage.as_str(),
                    "expires_at_ms": li.session.expires_at_ms,
                }),
            ))
        }
        TOp::Logout => {
            let (t, _) = sess();
            blocking(move || tb.handle_logout(&t)).await?;
            Ok(no_content())
        }
        TOp::ChangePassword => {
            let b: PasswordBody = body(&headers, &raw)?;
            let (t, s) = sess();
            let stage = blocking(move || {
                tb.handle_change_password(&t, s, &b.current_password, &b.new_password)
            })
            .await?;
            Ok(json_reply(
                StatusCode::OK,
                &json!({"stage": stage.as_str()}),
            ))
        }
        TOp::TotpEnrol => {
            let (_, s) = sess();
            let e = blocking(move || tb.handle_totp_begin(s)).await?;
            Ok(json_reply(StatusCode::OK, &e))
        }
        TOp::TotpConfirm => {
            let b: CodeBody = body(&headers, &raw)?;
            let (t, s) = sess();
            let stage = blocking(move || tb.handle_totp_confirm(now, &t, s, &b.code)).await?;
            Ok(json_reply(
                StatusCode::OK,
                &json!({"stage": stage.as_str()}),
            ))
        }
        TOp::Me => {
            let (_, s) = sess();
            let v = blocking(move || {
                let agent = tb.admin().agent(s.agent)?;
                let (held, ringing) = tb.my_interactions(s);
                let (name, pause) = tb
                    .state(s)
                    .map(events::state_fields)
                    .unwrap_or(("logged_out", serde_json::Value::Null));
                Ok(json!({
                    "agent_id": s.agent.0,
                    "username": agent.username,
                    "state": name,
                    "pause": pause,
                    "interactions": held,
                    "ringing": ringing.iter().map(|i| i.0).collect::<Vec<_>>(),
                }))
            })
            .await?;
            Ok(json_reply(StatusCode::OK, &v))
        }
        TOp::SetState => {
            let b: StateBody = body(&headers, &raw)?;
            let (_, s) = sess();
            let want = match b.state {
                StateName::Available => WantedState::Available,
                StateName::Paused => WantedState::Paused(b.reason_id),
            };
            blocking(move || tb.handle_state(s, want)).await?;
            Ok(no_content())
        }
        TOp::EndWrapUp => {
            let (_, s) = sess();
            blocking(move || tb.handle_wrap_up_end(s)).await?;
            Ok(no_content())
        }
        TOp::PauseReasons => {
            let list: Vec<_> = tb
                .admin()
                .pause_reasons()
                .into_iter()
                .map(|r| json!({"id": r.id.0, "name": r.settings.name}))
                .collect();
            Ok(json_reply(StatusCode::OK, &list))
        }
        TOp::Accept | TOp::Reject | TOp::Complete => {
            let id = id_param(&params)?;
            let (_, s) = sess();
            let op = route.op;
            blocking(move || match op {
                TOp::Accept => tb.handle_accept(s, id),
                TOp::Reject => tb.handle_reject(s, id),
                _ => tb.handle_complete(s, id),
            })
            .await?;
            Ok(no_content())
        }
        TOp::Transfer => {
            let id = id_param(&params)?;
            let b: TransferBody = body(&headers, &raw)?;
            let to = match (b.agent_id, b.queue_id) {
                (Some(a), None) => TransferTarget::Agent(a),
                (None, Some(q)) => TransferTarget::Queue(q),
                _ => {
                    return Err(problem_of(ToolbarError::Invalid {
                        field: "agent_id",
                        rule: "one_of",
                        message: "give exactly one of `agent_id` and `queue_id`".into(),
                    }))
                }
            };
            let (_, s) = sess();
            let new = blocking(move || tb.handle_transfer(s, id, to)).await?;
            Ok(json_reply(
                StatusCode::CREATED,
                &json!({"id": new.id.0, "created": true}),
            ))
        }
        TOp::QueueCounts => {
            let (_, s) = sess();
            let list = blocking(move || tb.queue_counts(s)).await?;
            let v: Vec<_> = list
                .iter()
                .map(|c| {
                    let mut o = json!({"queue": c.queue.0, "channel": c.channel});
                    if let Some(w) = c.waiting {
                        o["waiting"] = json!(w);
                    }
                    o
                })
                .collect();
            Ok(json_reply(StatusCode::OK, &v))
        }
        TOp::EmailSearch => {
            let (_, s) = sess();
            let q = query_param(&query, "q").unwrap_or_default();
            let found = blocking(move || tb.handle_email_search(s, &q, 100)).await?;
            Ok(json_reply(StatusCode::OK, &found))
        }
        TOp::Callbacks => {
            let (_, s) = sess();
            blocking(move || tb.require(s, Permission::CallbackList)).await?;
            // No callback is scheduled by any part of acd yet: the list is truly empty.
            Ok(json_reply(StatusCode::OK, &json!([])))
        }
        TOp::Leads | TOp::ManualCall | TOp::AgentCall => {
            let (_, s) = sess();
            let p = match route.op {
                TOp::Leads => Permission::LeadManager,
                TOp::ManualCall => Permission::ManualCall,
                _ => Permission::AgentCall,
            };
            blocking(move || tb.require(s, p)).await?;
            Err(Problem::new(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "you have permission `{}`, but this acd does not place outbound or internal \
                     voice calls from the toolbar yet",
                    p.as_str()
                ),
            ))
        }
        TOp::Events => Err(Problem::bad_request(
            "this route is a WebSocket: send `Connection: Upgrade` and `Upgrade: websocket`",
        )),
    }
}

async fn upgrade(
    state: Arc<ToolbarState>,
    ws: warp::ws::Ws,
    headers: HeaderMap,
    query: String,
) -> Response {
    let token = bearer(&headers)
        .map(str::to_owned)
        .or_else(|| query_param(&query, "token"));
    let Some(token) = token else {
        return missing_token().into_response();
    };
    let session = match state.toolbar.authenticate_active(now_ms(), &token) {
        Ok(s) => s,
        Err(e) => return problem_of(e).into_response(),
    };
    let tb = state.toolbar.clone();
    ws.on_upgrade(move |socket| pump(tb, session, token, socket))
        .into_response()
}

/// Forwards the agent's events to the socket until either side closes or the session ends.
async fn pump(tb: Arc<Toolbar>, s: Session, token: String, socket: warp::ws::WebSocket) {
    let hello = json!({"type": "hello", "agent_id": s.agent.0}).to_string();
    let mut rx = tb.hub().connect(s.agent, hello.into());
    let (mut tx_ws, mut rx_ws) = socket.split();
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(text) => {
                    if tx_ws.send(warp::ws::Message::text(text.to_string())).await.is_err() {
                        break;
                    }
                }
                // The hub dropped this connection: logout, revocation, or too slow.
                None => break,
            },
            msg = rx_ws.next() => match msg {
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => {}
                _ => break,
            },
            _ = check.tick() => {
                if tb.authenticate_active(now_ms(), &token).is_err() {
                    break;
                }
            }
        }
    }
    let _ = tx_ws.send(warp::ws::Message::close()).await;
}
