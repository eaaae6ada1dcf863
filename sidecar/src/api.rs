//! The admin API's handlers: one per [`Op`], each decoding its input, calling the blocking
//! admin service on the blocking pool, and encoding the result or a problem.
//!
//! Owns: the mapping between HTTP and the admin service (ids from paths, search from queries,
//! `AdminError` to status codes). Does not own: validation or storage (the engine's `admin`).

use crate::auth::AdminToken;
use crate::http::{self, ApiRequest};
use crate::problem::Problem;
use crate::routes::Op;
use warp::http::StatusCode;
use warp::reply::Response;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    token: AdminToken,
    openapi: serde_json::Value,
}

impl AppState {
    /// State for a server checking `token`.
    pub fn new(token: AdminToken) -> Self {
        AppState {
            token,
            openapi: crate::openapi::document(),
        }
    }

    pub(crate) fn token(&self) -> &AdminToken {
        &self.token
    }
}

pub(crate) async fn dispatch(state: &AppState, req: ApiRequest) -> Result<Response, Problem> {
    match req.route.op {
        Op::OpenApi => {
            req.query()?;
            Ok(http::json(StatusCode::OK, &state.openapi))
        }
        _ => Err(Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "not wired to the admin service yet",
        )),
    }
}
