//! The bridge between the SIP endpoint, the call flow and the routing core.
//!
//! Owns the rules that join SIP to routing: a live registration logs an agent in (paused when
//! the profile has log-in pause — the router applies that), and the last binding's removal or
//! expiry logs the agent out. Called numbers are resolved against the admin's numbers and
//! extensions; a number acd does not serve gets `404`.
//!
//! Calls are driven by [`CallFlow`] (sans-IO, `sip::b2bua`): this task feeds it endpoint events
//! and the router's voice outputs (offers, withdrawn offers, ends), keeps its own copy of each
//! agent's registrations (from the registrar's events, so an offer needs no round trip to the
//! SIP task), and forwards the flow's actions to the SIP task and the router. Router commands
//! are sent without waiting for a verdict: the router's own outputs (a withdrawn offer, an
//! end) are the truth the flow follows.

use crate::admin::Admin;
use crate::common::{AgentId, Channel, InteractionId};
use crate::media::{Command as MediaCommand, Event as MediaEvent};
use crate::model::NumberTarget;
use crate::router::{Arrival, EndReason, Output};
use crate::runtime::media_io::{MediaHandle, MediaStats};
use crate::runtime::presence::{Presence, Source};
use crate::runtime::router_task::{Command, RouterHandle};
use crate::runtime::sip_io::SipCommand;
use crate::sip::b2bua::{Action, AgentTarget, CallFlow, CallFlowConfig, Called, QueueAudio};
use crate::sip::endpoint::EndpointEvent;
use crate::sip::header::parse_uri;
use crate::sip::registrar::{Binding, RegistrarEvent};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The bridge's side of the media plane: where commands go, where events come from, and the
/// figures it keeps.
#[derive(Debug)]
pub struct MediaLink {
    handle: MediaHandle,
    events: mpsc::Receiver<MediaEvent>,
    stats: Arc<MediaStats>,
}

impl MediaLink {
    /// A link to the shards behind `handle`, whose events arrive on `events`.
    pub fn new(
        handle: MediaHandle,
        events: mpsc::Receiver<MediaEvent>,
        stats: Arc<MediaStats>,
    ) -> MediaLink {
        MediaLink {
            handle,
            events,
            stats,
        }
    }

    /// Sends a media command to its shard. A command the shard cannot take (queue full,
    /// shard stopped) is logged; for an `Open` the flow gets [`MediaEvent::Failed`] back so
    /// the call does not wait for audio that will not come.
    fn send(&mut self, cmd: MediaCommand) -> Option<MediaEvent> {
        let leg = cmd.leg();
        let open = matches!(cmd, MediaCommand::Open { .. });
        match self.handle.send(cmd) {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(leg = leg.0, error = %e, "media command not delivered");
                open.then(|| MediaEvent::Failed {
                    leg,
                    reason: e.to_string(),
                })
            }
        }
    }
}

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

/// The router outputs the call flow follows, for interactions at or above `first`.
fn voice_output(o: &Output, first: u64) -> bool {
    match o {
        Output::Offer {
            interaction,
            channel,
            ..
        } => *channel == Channel::Voice && interaction.0 >= first,
        Output::CancelOffer { interaction, .. } | Output::Ended { interaction, .. } => {
            interaction.0 >= first
        }
        _ => false,
    }
}

/// Where a caller of `agent` goes when the agent cannot take the call: the configured
/// voicemail server, with the agent's extension as user, if the agent has a box.
fn voicemail_contact(admin: &Admin, agent: AgentId, server: &str) -> Option<String> {
    if server.is_empty() {
        return None;
    }
    let a = admin.agent(agent).ok()?;
    a.profile
        .voicemail
        .then(|| format!("<sip:{}@{server}>", a.extension))
}

/// How to reach `agent` now: its most recent binding and its current codec limits.
fn agent_target(
    admin: &Admin,
    bindings: &HashMap<AgentId, Vec<Binding>>,
    agent: AgentId,
) -> Option<AgentTarget> {
    let b = bindings.get(&agent)?.last()?;
    let a = admin.agent(agent).ok()?;
    let host = parse_uri(&b.uri)
        .map(|u| u.host.to_owned())
        .unwrap_or_default();
    Some(AgentTarget {
        uri: b.uri.clone(),
        target: b.target,
        transport: b.transport,
        aor: format!("sip:{}@{host}", a.extension),
        codecs: a.profile.voice.allowed_codecs.clone(),
        webrtc: a.profile.typology == crate::model::Typology::Webrtc,
        nat: matches!(
            a.profile.voice.nat,
            crate::model::Nat::Yes | crate::model::Nat::Comedia | crate::model::Nat::ForceRport
        ),
    })
}

/// Consumes endpoint events and router outputs until the SIP stack stops; `presence` is
/// shared with the toolbar (who keeps an agent logged in); `flow` sets the media address and
/// codecs of answered calls; `media` carries the flow's media commands and events.
pub async fn run(
    mut events: mpsc::Receiver<EndpointEvent>,
    commands: mpsc::Sender<SipCommand>,
    admin: Arc<Admin>,
    router: RouterHandle,
    presence: Arc<Presence>,
    flow: CallFlowConfig,
    mut media: MediaLink,
) {
    let first = flow.first_interaction;
    let mut outputs = match router.subscribe_async(move |o| voice_output(o, first)) {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!(error = %e, "SIP calls cannot follow the router; calls will not ring agents");
            mpsc::channel(1).1
        }
    };
    let voicemail = flow.voicemail.clone();
    let mut calls = CallFlow::new(flow);
    let mut bindings: HashMap<AgentId, Vec<Binding>> = HashMap::new();
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                // An agent's answer carries no time; the flow times queues' answers with it.
                calls.set_time(std::time::Instant::now());
                let ctx = Ctx { admin: &admin, router: &router, presence: &presence, voicemail: &voicemail };
                on_event(ev, &mut calls, &mut bindings, &ctx).await;
            }
            Some(o) = outputs.recv() => on_output(o, &mut calls, &bindings, &admin),
            Some(ev) = media.events.recv() => calls.handle_media_event(ev),
            // The call flow's own timers (position announcements); far away when none is set.
            _ = tokio::time::sleep_until(flow_deadline(&calls)) => {
                calls.handle_timeout(std::time::Instant::now());
            }
        }
        while let Some(action) = calls.poll_action() {
            if let Some(failed) = perform(action, &commands, &router, &mut media).await {
                calls.handle_media_event(failed);
            }
        }
        let stats = &media.stats;
        stats
            .calls
            .store(calls.call_count() as u64, Ordering::Relaxed);
        stats
            .ports_free
            .store(calls.pool().available() as u64, Ordering::Relaxed);
    }
}

/// When the call flow next needs `handle_timeout` (an hour away when it has no timer, so
/// the select simply re-arms).
fn flow_deadline(calls: &CallFlow) -> tokio::time::Instant {
    let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    tokio::time::Instant::from_std(calls.poll_timeout().unwrap_or(far))
}

/// What the event handler reads.
struct Ctx<'a> {
    admin: &'a Admin,
    router: &'a RouterHandle,
    presence: &'a Presence,
    voicemail: &'a str,
}

async fn on_event(
    ev: EndpointEvent,
    calls: &mut CallFlow,
    bindings: &mut HashMap<AgentId, Vec<Binding>>,
    ctx: &Ctx<'_>,
) {
    let Ctx {
        admin,
        router,
        presence,
        voicemail,
    } = *ctx;
    match ev {
        EndpointEvent::Registrar(RegistrarEvent::Registered { agent, contacts }) => {
            bindings.insert(agent, contacts);
            // Only the first source logs in: a refresh, or a phone registering under an open
            // toolbar session, leaves pause and availability as they are.
            if presence.handle_up(agent, Source::Sip) {
                if let Err(e) = router.call_async(Command::Login(agent)).await {
                    tracing::warn!(%agent, error = %e, "registered agent could not log in");
                }
            }
        }
        EndpointEvent::Registrar(RegistrarEvent::Unregistered { agent }) => {
            bindings.remove(&agent);
            if presence.handle_down(agent, Source::Sip) {
                if let Err(e) = router.call_async(Command::Logout(agent)).await {
                    tracing::warn!(%agent, error = %e, "unregistered agent could not log out");
                }
            }
        }
        EndpointEvent::Invite {
            txn,
            called,
            caller,
            body,
            ..
        } => {
            let target = match called.as_deref().and_then(|c| resolve_called(admin, c)) {
                None => Called::Unknown,
                Some(CalledTarget::Queue(q)) => match admin.queue(q) {
                    Ok(queue) => {
                        let audio = crate::runtime::prompts_io::queue_audio(&queue.settings);
                        if queue.settings.early_media {
                            Called::QueueEarlyMedia(q, audio)
                        } else {
                            Called::Queue(q, audio)
                        }
                    }
                    Err(_) => Called::Queue(q, QueueAudio::default()),
                },
                Some(CalledTarget::Agent(a)) => Called::Agent {
                    agent: a,
                    voicemail: voicemail_contact(admin, a, voicemail),
                },
            };
            let caller = caller.as_deref().unwrap_or("anonymous");
            calls.handle_invite(std::time::Instant::now(), txn, target, caller, &body);
        }
        EndpointEvent::AckAnswer { txn, body } => calls.handle_ack_answer(txn, &body),
        EndpointEvent::Confirmed(txn) => calls.handle_confirmed(txn),
        EndpointEvent::Bye(txn) | EndpointEvent::Cancelled(txn) => calls.handle_caller_gone(txn),
        EndpointEvent::NoAck(txn) => calls.handle_no_ack(txn),
        EndpointEvent::LegRinging(_) => {}
        EndpointEvent::LegAnswered { leg, body } => calls.handle_leg_answered(leg, &body),
        EndpointEvent::ReInvite { txn, side, body } => calls.handle_reinvite(txn, side, &body),
        EndpointEvent::LegFailed { leg, code } => {
            tracing::debug!(leg = leg.0, code, "agent leg failed");
            calls.handle_leg_failed(leg)
        }
        EndpointEvent::LegBye(leg) => calls.handle_leg_bye(leg),
    }
}

fn on_output(
    o: Output,
    calls: &mut CallFlow,
    bindings: &HashMap<AgentId, Vec<Binding>>,
    admin: &Admin,
) {
    match o {
        Output::Offer {
            interaction,
            agent,
            auto_answer_at,
            ..
        } => {
            if !calls.carries(interaction) {
                return;
            }
            let target = agent_target(admin, bindings, agent);
            if target.is_none() {
                tracing::debug!(%agent, %interaction, "offered agent has no SIP registration; the offer rings out");
            }
            calls.handle_offer(
                interaction,
                agent,
                target.as_ref(),
                auto_answer_at.is_some(),
            );
        }
        Output::CancelOffer { interaction, agent } => calls.handle_cancel_offer(interaction, agent),
        Output::Ended {
            interaction,
            reason,
        } => {
            let refused = match reason {
                EndReason::Refused { .. } => Some(true),
                EndReason::NotAnswered { .. } => Some(false),
                _ => None,
            };
            calls.handle_ended(interaction, refused);
        }
        _ => {}
    }
}

fn route(router: &RouterHandle, cmd: Command, what: &'static str, interaction: InteractionId) {
    if let Err(e) = router.try_send(cmd) {
        tracing::warn!(%interaction, error = %e, "{what} not delivered to the router");
    }
}

/// Carries out one action of the flow; a media command that could not be delivered comes
/// back as the event the flow must see.
async fn perform(
    action: Action,
    commands: &mpsc::Sender<SipCommand>,
    router: &RouterHandle,
    media: &mut MediaLink,
) -> Option<MediaEvent> {
    let cmd = match action {
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
            SipCommand::Respond {
                txn,
                code,
                reason: reason.to_owned(),
                headers,
                body,
            }
        }
        Action::Invite(invite) => SipCommand::Invite(invite),
        Action::EndLeg(leg) => SipCommand::EndLeg(leg),
        Action::HangupCaller(txn) => SipCommand::HangupCaller(txn),
        Action::Arrival { interaction, queue } => {
            let arrival = Arrival::queued(interaction, Channel::Voice, queue);
            route(
                router,
                Command::Arrival(arrival),
                "call arrival",
                interaction,
            );
            return None;
        }
        Action::Redirect { txn, contact } => SipCommand::Respond {
            txn,
            code: 302,
            reason: "Moved Temporarily".to_owned(),
            headers: vec![("Contact".to_owned(), contact)],
            body: Vec::new(),
        },
        Action::Direct {
            interaction,
            agent,
            voicemail,
        } => {
            let arrival = Arrival::direct(interaction, Channel::Voice, agent, voicemail);
            route(
                router,
                Command::Arrival(arrival),
                "direct call",
                interaction,
            );
            return None;
        }
        Action::Abandon(i) => {
            route(router, Command::Abandon(i), "abandon", i);
            return None;
        }
        Action::Accepted { interaction, agent } => {
            route(
                router,
                Command::Accepted(interaction, agent),
                "answer",
                interaction,
            );
            return None;
        }
        Action::Rejected { interaction, agent } => {
            route(
                router,
                Command::Rejected(interaction, agent),
                "rejection",
                interaction,
            );
            return None;
        }
        Action::Completed(i) => {
            route(router, Command::Completed(i), "completion", i);
            return None;
        }
        Action::Media(cmd) => return media.send(cmd),
        Action::Dtmf {
            interaction,
            leg,
            digit,
            duration_ms,
        } => {
            match interaction {
                Some(i) => {
                    tracing::info!(interaction = i.0, leg = leg.0, %digit, duration_ms, "dtmf")
                }
                None => tracing::info!(leg = leg.0, %digit, duration_ms, "dtmf"),
            }
            return None;
        }
        Action::MediaTimeout {
            interaction,
            leg,
            silent_secs,
        } => {
            match interaction {
                Some(i) => {
                    tracing::info!(interaction = i.0, leg = leg.0, silent_secs, "media timeout")
                }
                None => tracing::info!(leg = leg.0, silent_secs, "media timeout"),
            }
            return None;
        }
        Action::MediaExhausted { txn } => {
            tracing::warn!(
                txn = txn.0,
                "media port pool exhausted: new call refused with 503 (widen media.ports)"
            );
            return None;
        }
    };
    let _ = commands.send(cmd).await;
    None
}
