//! The bridge from SIP endpoint events to the rest of the engine.
//!
//! Owns the rules that join SIP to routing: a live registration logs an agent in (paused when
//! the profile has log-in pause — the router applies that), and the last binding's removal or
//! expiry logs the agent out. Called numbers are resolved against the admin's numbers and
//! extensions; a number acd does not serve gets `404`.
//!
//! Not here yet: the B2BUA call flow (queue audio, offers as INVITEs to agents, bridging).
//! Until it lands, INVITEs to a served number get `480 Temporarily Unavailable`, which callers
//! and carriers treat as "try again later"; see docs/architecture.md "SIP".

use crate::admin::Admin;
use crate::model::NumberTarget;
use crate::runtime::router_task::{Command, RouterHandle};
use crate::runtime::sip_io::SipCommand;
use crate::sip::endpoint::EndpointEvent;
use crate::sip::registrar::RegistrarEvent;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Where a called number leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalledTarget {
    /// A queue's DID.
    Queue(crate::common::QueueId),
    /// An agent's DID or extension.
    Agent(crate::common::AgentId),
}

/// Resolves a called number: a configured number (DID) first, then an agent extension.
pub fn resolve_called(admin: &Admin, called: &str) -> Option<CalledTarget> {
    match admin.route_number(called) {
        Some(NumberTarget::Queue { queue }) => return Some(CalledTarget::Queue(queue)),
        Some(NumberTarget::Agent { agent }) => return Some(CalledTarget::Agent(agent)),
        None => {}
    }
    admin
        .agent_by_extension(called)
        .map(|a| CalledTarget::Agent(a.id))
}

/// Consumes endpoint events until the SIP stack stops.
pub async fn run(
    mut events: mpsc::Receiver<EndpointEvent>,
    commands: mpsc::Sender<SipCommand>,
    admin: Arc<Admin>,
    router: RouterHandle,
) {
    while let Some(ev) = events.recv().await {
        match ev {
            EndpointEvent::Registrar(RegistrarEvent::Registered { agent, .. }) => {
                // Login is idempotent in the router; refreshes cost one message.
                if let Err(e) = router.call_async(Command::Login(agent)).await {
                    tracing::warn!(%agent, error = %e, "registered agent could not log in");
                }
            }
            EndpointEvent::Registrar(RegistrarEvent::Unregistered { agent }) => {
                if let Err(e) = router.call_async(Command::Logout(agent)).await {
                    tracing::warn!(%agent, error = %e, "unregistered agent could not log out");
                }
            }
            EndpointEvent::Invite { txn, called, .. } => {
                let target = called.as_deref().and_then(|c| resolve_called(&admin, c));
                let (code, reason) = match target {
                    None => (404, "Not Found"),
                    Some(_) => (480, "Temporarily Unavailable"),
                };
                let _ = commands
                    .send(SipCommand::Respond {
                        txn,
                        code,
                        reason: reason.to_owned(),
                        headers: Vec::new(),
                        body: Vec::new(),
                    })
                    .await;
            }
            EndpointEvent::NoAck(_) => {}
        }
    }
}
