//! The thin io layer: owns threads, clocks, sockets, RNG seeds and the store, and drives the
//! sans-IO state machines. It holds no routing or SIP rules of its own.
//!
//! - [`interactions_io`]: keeps the durable chat/email log in step with the router and gives
//!   a restarted router back what it holds.
//! - [`presence`]: which sources (SIP registration, toolbar session) keep an agent logged in.
//! - [`router_task`]: the one owner thread of the routing core, with its command channel,
//!   output fan-out and published statistics.
//! - [`sip_bridge`]: SIP registrations log agents in and out; called numbers are resolved.
//! - [`media_io`]: the media shard threads, their RTP/RTCP sockets and the handle that routes
//!   the call flow's media commands to them.
//! - [`sip_io`]: the SIP UDP/TCP listeners and the task that owns the SIP endpoint.
//! - [`directory`]: answers the SIP layer's agent lookups from the admin service.
//! - [`engine`]: starts and stops the admin service, the router task and the feed together.
//! - [`feed`]: converts the admin model into router settings and keeps the router in step with
//!   every admin change.
//! - `follower`: the stop-and-join of the threads that follow the admin change feed.
//! - [`prompts_io`]: the live prompt set (built-ins overlaid with uploads), rebuilt on every
//!   prompt change.

pub mod directory;
pub mod engine;
pub mod feed;
mod follower;
pub mod interactions_io;
pub mod media_io;
pub mod presence;
pub mod prompts_io;
pub mod router_task;
pub mod sip_bridge;
pub mod sip_io;
