//! The bridge from SIP endpoint events to the rest of the engine.
//!
//! Owns the rules that join SIP to routing: a live registration logs an agent in (paused when
//! the profile has log-in pause — the router applies that), and the last binding's removal or
//! expiry logs the agent out. Called numbers are resolved against the admin's numbers and
//! extensions; a number acd does not serve gets `404`.
//!
//! Calls are driven by [`CallFlow`] (sans-IO, `sip::b2bua`): this task only resolves numbers
//! and forwards its actions to the SIP task and the router. Not here yet: offers as INVITEs
//! to agents and bridging; see docs/architecture.md "SIP".

use crate::admin::Admin;
use crate::common::Channel;
use crate::model::NumberTarget;
use crate::router::Arrival;
use crate::runtime::router_task::{Command, RouterHandle};
use crate::runtime::sip_io::SipCommand;
use crate::sip::b2bua::{Action, CallFlow, CallFlowConfig, Called};
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

/// Consumes endpoint events until the SIP stack stops; `flow` sets the media address and
/// codecs of answered calls.
pub async fn run(
    mut events: mpsc::Receiver<EndpointEvent>,
    commands: mpsc::Sender<SipCommand>,
    admin: Arc<Admin>,
    router: RouterHandle,
    flow: CallFlowConfig,
) {
    let mut calls = CallFlow::new(flow);
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
            EndpointEvent::Invite {
                txn,
                called,
                request,
                ..
            } => {
                let target = match called.as_deref().and_then(|c| resolve_called(&admin, c)) {
                    None => Called::Unknown,
                    Some(CalledTarget::Queue(q)) => Called::Queue(q),
                    Some(CalledTarget::Agent(a)) => Called::Agent(a),
                };
                let body = crate::sip::parse(&request).map(|m| m.body).unwrap_or(b"");
                calls.handle_invite(txn, target, body);
            }
            EndpointEvent::Confirmed(txn) => calls.handle_confirmed(txn),
            EndpointEvent::Bye(txn) | EndpointEvent::Cancelled(txn) => {
                calls.handle_caller_gone(txn)
            }
            EndpointEvent::NoAck(txn) => calls.handle_no_ack(txn),
            _ => {}
        }
        while let Some(action) = calls.poll_action() {
            perform(action, &commands, &router).await;
        }
    }
}

async fn perform(action: Action, commands: &mpsc::Sender<SipCommand>, router: &RouterHandle) {
    match action {
        Action::Respond {
            txn,
            code,
            reason,
            sdp,
        } => {
            let (headers, body) = match sdp {
                Some(s) => (
                    vec![("Content-Type".to_owned(), "application/sdp".to_owned())],
                    s.into_bytes(),
                ),
                None => (Vec::new(), Vec::new()),
            };
            let _ = commands
                .send(SipCommand::Respond {
                    txn,
                    code,
                    reason: reason.to_owned(),
                    headers,
                    body,
                })
                .await;
        }
        Action::Arrival { interaction, queue } => {
            let arrival = Arrival::queued(interaction, Channel::Voice, queue);
            if let Err(e) = router.call_async(Command::Arrival(arrival)).await {
                tracing::warn!(%interaction, error = %e, "call could not enter its queue");
            }
        }
        Action::Abandon(interaction) => {
            if let Err(e) = router.call_async(Command::Abandon(interaction)).await {
                tracing::warn!(%interaction, error = %e, "abandon not recorded");
            }
        }
    }
}
