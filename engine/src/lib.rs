//! acd engine: everything that decides and carries contact-centre interactions.
//!
//! Module map (see `docs/architecture.md`):
//! - [`model`]: the agent profile and the admin configuration (teams, queues, numbers,
//!   organisation settings), with their validation rules. Pure data, no I/O.
//! - [`admin`]: the admin service over the store: CRUD, search, passwords, avatars and the
//!   `ConfigEvent` change feed the router and SIP follow. No HTTP (the sidecar maps it).
//! - [`store`]: the `Store` trait with its sled and in-memory implementations. The only module
//!   that touches the disk.
//! - [`router`]: the sans-IO routing core. Inputs with `now` in, outputs polled out; no clocks,
//!   sockets, locks or OS randomness inside.
//! - [`sip`]: the sans-IO SIP codec, transactions, dialogs and registrar.
//! - [`media`]: the sans-IO media plane: RTP/RTCP relay, G.711 transcoding, queue audio,
//!   DTMF detection and media timeouts; the command/event contract with the call flow.
//! - [`runtime`]: the thin tokio io layer that owns sockets, clocks, RNG seeds and the store, and
//!   drives the sans-IO state machines.
//! - [`interactions`]: durable chat/email interactions: ingest with idempotency keys, the
//!   live-interaction log and what a restart gives back to the router.
//! - [`toolbar`]: agent toolbar sessions: login rules, TOTP, session expiry and revocation,
//!   pause rules and toolbar permissions. Sans-IO: time is passed in.
//! - [`common`]: ids, channels, strategies and capacities shared by every module.
//! - [`config`]: runtime settings (`acd.toml`, flags, `ACD_*` environment variables).
//!
//! This crate never depends on the admin sidecar; the sidecar depends on it.

pub mod admin;
pub mod common;
pub mod config;
pub mod interactions;
pub mod media;
pub mod model;
pub mod router;
pub mod runtime;
pub mod sip;
pub mod store;
pub mod toolbar;
