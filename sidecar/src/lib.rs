//! acd admin sidecar: the warp HTTP API for agents, teams, queues, campaigns, skills, pause
//! reasons, numbers, organisation settings, passwords, permissions and avatars.
//!
//! Module map:
//! - [`server`]: binds the admin listener and serves until shutdown.
//! - `http`: the warp filter, authentication, route matching, body and query decoding.
//! - [`routes`]: the route table (served routes and the OpenAPI document both come from it).
//! - `api`: one handler per operation, calling the blocking admin service off the reactor.
//! - [`problem`]: `application/problem+json` errors.
//! - [`auth`], [`shutdown`]: the token and graceful shutdown (the data-dir lock is the store's).
//! - `openapi`, `schemas`: the OpenAPI document.
//! - `stats`: live routing statistics (queue figures, agent states) joined with admin names.
//! - [`toolbar`]: the engine API listener (agent toolbars over HTTP + WebSocket, chat/email
//!   ingest), with its own route table and OpenAPI document.
//!
//! Owns nothing of the engine: validation, storage and search live in `acd_engine::admin`;
//! statistics come from the router task's snapshots (`acd_engine::runtime::router_task`).

pub mod api;
pub mod auth;
mod http;
mod openapi;
pub mod problem;
pub mod routes;
mod schemas;
pub mod server;
pub mod shutdown;
mod stats;
pub mod toolbar;

pub use http::filter;
pub use openapi::document as openapi_document;
