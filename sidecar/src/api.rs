//! The admin API's handlers: one per [`Op`], each decoding its input, calling the blocking
//! admin service on tokio's blocking pool, and encoding the result or a problem.
//!
//! Owns: the mapping between HTTP and `acd_engine::admin::Admin` (ids from paths, search from
//! queries, `AdminError` to status codes), and the stats routes' trip to the router task for a
//! fresh snapshot. Does not own: validation, storage or search (the engine's admin service does
//! those, and acknowledges a write only after the store flushed), nor the figures (the router).

use crate::auth::AdminToken;
use crate::http::{self, ApiRequest, Query};
use crate::problem::{Problem, ProblemField};
use crate::routes::Op;
use crate::schemas::{GeneratedPassword, SetPassword};
use crate::stats;
use acd_engine::admin::{Admin, AdminError, AgentQuery};
use acd_engine::common::{AgentId, CampaignId, PauseReasonId, QueueId, SkillId, TeamId};
use acd_engine::model::{
    AgentPatch, MemberSettings, Number, NumberPatch, OrgSettingsPatch, Permissions,
};
use acd_engine::router::Snapshot;
use acd_engine::runtime::media_io::MediaStats;
use acd_engine::runtime::router_task::{RouterHandle, TaskError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Reply;

/// What every handler shares.
pub struct AppState {
    token: AdminToken,
    admin: Arc<Admin>,
    router: RouterHandle,
    media: Arc<MediaStats>,
    openapi: serde_json::Value,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // RouterHandle has no Debug (it is a channel and a snapshot cell).
        f.debug_struct("AppState")
            .field("token", &self.token)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for a server checking `token`, serving `admin`, and reading live statistics from
    /// `router`.
    pub fn new(token: AdminToken, admin: Arc<Admin>, router: RouterHandle) -> Self {
        AppState {
            token,
            admin,
            router,
            media: Arc::new(MediaStats::new(0, Vec::new())),
            openapi: crate::openapi::document(),
        }
    }

    /// Serves `GET /stats/media` from `media` (without it the route answers zeros: a server
    /// without a media plane).
    pub fn with_media_stats(mut self, media: Arc<MediaStats>) -> Self {
        self.media = media;
        self
    }

    pub(crate) fn token(&self) -> &AdminToken {
        &self.token
    }
}

/// The problem for an admin service error. Only a store failure is a 500: bad input never is.
pub fn problem_of(error: AdminError) -> Problem {
    match error {
        AdminError::Validation(errors) => {
            let detail = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            Problem::unprocessable(
                detail,
                errors
                    .into_iter()
                    .map(|e| ProblemField {
                        field: e.field,
                        rule: e.rule.to_string(),
                        message: e.message,
                    })
                    .collect(),
            )
        }
        e @ AdminError::NotFound { .. } => Problem::not_found(e.to_string()),
        AdminError::Conflict {
            field,
            rule,
            message,
        } => Problem::conflict(message.clone()).with_errors(vec![ProblemField {
            field,
            rule: rule.to_string(),
            message,
        }]),
        e @ AdminError::UnsupportedMedia => Problem::unsupported_media(e.to_string()),
        e @ AdminError::TooLarge { .. } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        AdminError::Store(e) => {
            tracing::error!(error = %e, "store failure");
            Problem::internal(format!("storage failure, the change may not be saved: {e}"))
        }
    }
}

/// Runs `f` on the blocking pool: the admin service takes locks, hashes passwords and waits
/// for fsync, none of which may stall the reactor.
async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, Problem>
where
    T: Send + 'static,
    F: FnOnce(&Admin) -> Result<T, AdminError> + Send + 'static,
{
    let admin = state.admin.clone();
    tokio::task::spawn_blocking(move || f(&admin))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "admin task failed");
            Problem::internal("the admin service failed while handling this request")
        })?
        .map_err(problem_of)
}

/// 503: the router task stops only at shutdown, so live statistics cannot be answered then.
fn router_problem(error: TaskError) -> Problem {
    tracing::warn!(error = %error, "live statistics requested while the router is not running");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("live statistics are unavailable ({error}); the engine is shutting down"),
    )
}

/// Runs `f` on the blocking pool with a fresh snapshot: getting one is a blocking round trip to
/// the router thread, queued behind every command sent before it, so the answer reflects them
/// all (a client can act, then read, without waiting).
async fn with_fresh_snapshot<T, F>(state: &AppState, f: F) -> Result<T, Problem>
where
    T: Send + 'static,
    F: FnOnce(&Admin, &Snapshot) -> Result<T, AdminError> + Send + 'static,
{
    let admin = state.admin.clone();
    let router = state.router.clone();
    tokio::task::spawn_blocking(move || {
        let snapshot = router.fresh_snapshot().map_err(router_problem)?;
        f(&admin, &snapshot).map_err(problem_of)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "stats task failed");
        Problem::internal("the statistics service failed while handling this request")
    })?
}

fn ok<T: Serialize>(value: &T) -> Result<Response, Problem> {
    Ok(http::json(StatusCode::OK, value))
}

fn created<T: Serialize>(value: &T) -> Result<Response, Problem> {
    Ok(http::json(StatusCode::CREATED, value))
}

type GetFn<I, R> = fn(&Admin, I) -> Result<R, AdminError>;
type UpdateFn<I, P, R> = fn(&Admin, I, P) -> Result<R, AdminError>;

/// A read of one record from the admin's in-memory state, answered on the reactor: it takes a
/// read lock for a clone, and writers hold that lock only for an in-memory insert (never across
/// fsync or password hashing), so a blocking-pool hop would cost more than it protects.
fn read_one<I, R>(state: &AppState, id: I, f: GetFn<I, R>) -> Result<Response, Problem>
where
    R: Serialize,
{
    ok(&f(&state.admin, id).map_err(problem_of)?)
}

async fn get_one<I, R>(state: &AppState, id: I, f: GetFn<I, R>) -> Result<Response, Problem>
where
    I: Send + 'static,
    R: Serialize + Send + 'static,
{
    ok(&blocking(state, move |a| f(a, id)).await?)
}

async fn create_one<S, R>(
    state: &AppState,
    req: &ApiRequest,
    f: fn(&Admin, S) -> Result<R, AdminError>,
) -> Result<Response, Problem>
where
    S: DeserializeOwned + Serialize + Send + 'static,
    R: Serialize + Send + 'static,
{
    let input: S = req.json()?;
    created(&blocking(state, move |a| f(a, input)).await?)
}

async fn update_one<I, P, R>(
    state: &AppState,
    req: &ApiRequest,
    id: I,
    f: UpdateFn<I, P, R>,
) -> Result<Response, Problem>
where
    I: Send + 'static,
    P: DeserializeOwned + Serialize + Send + 'static,
    R: Serialize + Send + 'static,
{
    let patch: P = req.json()?;
    ok(&blocking(state, move |a| f(a, id, patch)).await?)
}

async fn delete_one<I>(
    state: &AppState,
    id: I,
    f: fn(&Admin, I) -> Result<(), AdminError>,
) -> Result<Response, Problem>
where
    I: Send + 'static,
{
    blocking(state, move |a| f(a, id)).await?;
    Ok(http::no_content())
}

async fn list_all<R>(state: &AppState, f: fn(&Admin) -> Vec<R>) -> Result<Response, Problem>
where
    R: Serialize + Send + 'static,
{
    ok(&blocking(state, move |a| Ok(f(a))).await?)
}

fn agent_query(query: &Query) -> Result<AgentQuery, Problem> {
    fn parse<T: DeserializeOwned>(v: Option<&'static str>) -> Option<T> {
        v.and_then(|v| serde_json::from_value(serde_json::Value::from(v)).ok())
    }
    let defaults = AgentQuery::default();
    let text = |name: &str| query.str(name).map(str::to_owned);
    Ok(AgentQuery {
        q: text("q"),
        first_name: text("first_name"),
        last_name: text("last_name"),
        username: text("username"),
        agent_id: text("agent_id"),
        cli: text("cli"),
        status: parse(query.one_of("status", crate::routes::STATUS_VALUES)?)
            .unwrap_or(defaults.status),
        sort: parse(query.one_of("sort", crate::routes::SORT_VALUES)?).unwrap_or(defaults.sort),
        order: parse(query.one_of("order", crate::routes::ORDER_VALUES)?).unwrap_or(defaults.order),
        offset: query
            .u64("offset", u32::MAX as u64)?
            .map_or(defaults.offset, |v| v as usize),
        limit: query
            .u64("limit", u32::MAX as u64)?
            .map_or(defaults.limit, |v| v as usize),
    })
}

pub(crate) async fn dispatch(state: &AppState, req: ApiRequest) -> Result<Response, Problem> {
    let query = req.query()?;
    let agent = |i| req.id(i).map(AgentId);
    match req.route.op {
        Op::OpenApi => ok(&state.openapi),

        Op::ListAgents => {
            let q = agent_query(&query)?;
            ok(&blocking(state, move |a| a.search_agents(&q)).await?)
        }
        Op::CreateAgent => create_one(state, &req, Admin::create_agent).await,
        Op::GetAgent => read_one(state, agent(0)?, Admin::agent),
        Op::UpdateAgent => {
            update_one(state, &req, agent(0)?, |a, id, p: AgentPatch| {
                a.update_agent(id, p)
            })
            .await
        }
        Op::DeleteAgent => delete_one(state, agent(0)?, Admin::delete_agent).await,
        Op::SetPassword => {
            update_one(state, &req, agent(0)?, |a, id, p: SetPassword| {
                a.set_password(id, &p.password)
            })
            .await
        }
        Op::ResetPassword => {
            let id = agent(0)?;
            let password = blocking(state, move |a| a.reset_password(id)).await?;
            ok(&GeneratedPassword { password })
        }
        Op::GetPermissions => read_one(state, agent(0)?, Admin::permissions),
        Op::PutPermissions => {
            update_one(state, &req, agent(0)?, |a, id, p: Permissions| {
                a.replace_permissions(id, p)
            })
            .await
        }
        Op::DisableAgent => get_one(state, agent(0)?, |a, id| a.set_disabled(id, true)).await,
        Op::EnableAgent => get_one(state, agent(0)?, |a, id| a.set_disabled(id, false)).await,
        Op::UnlockAgent => get_one(state, agent(0)?, Admin::unlock).await,
        Op::PutAvatar => {
            let id = agent(0)?;
            let bytes = req.body.clone();
            ok(&blocking(state, move |a| a.set_avatar(id, &bytes)).await?)
        }
        Op::GetAvatar => {
            let id = agent(0)?;
            let (kind, bytes) = blocking(state, move |a| a.avatar(id)).await?;
            let mut response = warp::http::Response::new(bytes).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
            Ok(response)
        }
        Op::DeleteAvatar => {
            let id = agent(0)?;
            blocking(state, move |a| a.delete_avatar(id)).await?;
            Ok(http::no_content())
        }

        Op::ListPrompts => list_all(state, Admin::list_prompts).await,
        Op::GetPrompt => {
            let name = req.params[0].clone();
            let bytes = blocking(state, move |a| a.prompt(&name)).await?;
            let mut response = warp::http::Response::new(bytes).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
            Ok(response)
        }
        Op::PutPrompt => {
            req.require_content_type(crate::routes::WAV_TYPES)?;
            let name = req.params[0].clone();
            let bytes = req.body.clone();
            let (info, is_new) = blocking(state, move |a| a.put_prompt(&name, &bytes)).await?;
            if is_new {
                created(&info)
            } else {
                ok(&info)
            }
        }
        Op::DeletePrompt => {
            let name = req.params[0].clone();
            blocking(state, move |a| a.delete_prompt(&name)).await?;
            Ok(http::no_content())
        }

        Op::ListTeams => list_all(state, Admin::teams).await,
        Op::CreateTeam => create_one(state, &req, Admin::create_team).await,
        Op::GetTeam => read_one(state, TeamId(req.id(0)?), Admin::team),
        Op::UpdateTeam => update_one(state, &req, TeamId(req.id(0)?), Admin::update_team).await,
        Op::DeleteTeam => delete_one(state, TeamId(req.id(0)?), Admin::delete_team).await,

        Op::ListQueues => list_all(state, Admin::queues).await,
        Op::CreateQueue => create_one(state, &req, Admin::create_queue).await,
        Op::GetQueue => read_one(state, QueueId(req.id(0)?), Admin::queue),
        Op::UpdateQueue => update_one(state, &req, QueueId(req.id(0)?), Admin::update_queue).await,
        Op::DeleteQueue => delete_one(state, QueueId(req.id(0)?), Admin::delete_queue).await,
        Op::ListMembers => read_one(state, QueueId(req.id(0)?), Admin::queue_members),
        Op::PutMember => {
            let (queue, agent) = (QueueId(req.id(0)?), agent(1)?);
            let settings: MemberSettings = req.json()?;
            ok(&blocking(state, move |a| a.set_member(queue, agent, settings)).await?)
        }
        Op::DeleteMember => {
            let (queue, agent) = (QueueId(req.id(0)?), agent(1)?);
            blocking(state, move |a| a.remove_member(queue, agent)).await?;
            Ok(http::no_content())
        }

        Op::ListCampaigns => list_all(state, Admin::campaigns).await,
        Op::CreateCampaign => create_one(state, &req, Admin::create_campaign).await,
        Op::GetCampaign => read_one(state, CampaignId(req.id(0)?), Admin::campaign),
        Op::UpdateCampaign => {
            update_one(state, &req, CampaignId(req.id(0)?), Admin::update_campaign).await
        }
        Op::DeleteCampaign => {
            delete_one(state, CampaignId(req.id(0)?), Admin::delete_campaign).await
        }

        Op::ListSkills => list_all(state, Admin::skills).await,
        Op::CreateSkill => create_one(state, &req, Admin::create_skill).await,
        Op::GetSkill => read_one(state, SkillId(req.id(0)?), Admin::skill),
        Op::UpdateSkill => update_one(state, &req, SkillId(req.id(0)?), Admin::update_skill).await,
        Op::DeleteSkill => delete_one(state, SkillId(req.id(0)?), Admin::delete_skill).await,

        Op::ListPauseReasons => list_all(state, Admin::pause_reasons).await,
        Op::CreatePauseReason => create_one(state, &req, Admin::create_pause_reason).await,
        Op::GetPauseReason => read_one(state, PauseReasonId(req.id(0)?), Admin::pause_reason),
        Op::UpdatePauseReason => {
            update_one(
                state,
                &req,
                PauseReasonId(req.id(0)?),
                Admin::update_pause_reason,
            )
            .await
        }
        Op::DeletePauseReason => {
            delete_one(state, PauseReasonId(req.id(0)?), Admin::delete_pause_reason).await
        }

        Op::ListNumbers => list_all(state, Admin::numbers).await,
        Op::CreateNumber => {
            create_one(state, &req, |a, n: Number| {
                a.create_number(&n.number, n.settings)
            })
            .await
        }
        Op::GetNumber => {
            let number = req.params[0].clone();
            ok(&blocking(state, move |a| a.number(&number)).await?)
        }
        Op::UpdateNumber => {
            let number = req.params[0].clone();
            let patch: NumberPatch = req.json()?;
            ok(&blocking(state, move |a| a.update_number(&number, patch)).await?)
        }
        Op::DeleteNumber => {
            let number = req.params[0].clone();
            blocking(state, move |a| a.delete_number(&number)).await?;
            Ok(http::no_content())
        }

        Op::GetSettings => ok(&blocking(state, |a| Ok(a.org_settings())).await?),
        Op::UpdateSettings => {
            let patch: OrgSettingsPatch = req.json()?;
            ok(&blocking(state, move |a| a.update_org_settings(patch)).await?)
        }

        Op::ListQueueStats => {
            ok(&with_fresh_snapshot(state, |a, snap| Ok(stats::queue_list(a, snap))).await?)
        }
        Op::GetQueueStats => {
            let id = QueueId(req.id(0)?);
            ok(&with_fresh_snapshot(state, move |a, snap| stats::queue_one(a, snap, id)).await?)
        }
        Op::ListAgentStates => ok(&with_fresh_snapshot(state, stats::agent_list).await?),
        Op::GetAgentState => {
            let id = agent(0)?;
            ok(&with_fresh_snapshot(state, move |a, snap| stats::agent_one(a, snap, id)).await?)
        }
        Op::GetMediaStats => ok(&stats::media(&state.media)),
    }
}
