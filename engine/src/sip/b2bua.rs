//! The B2BUA call flow, sans-IO: which answer a caller's INVITE gets, when a call becomes a
//! voice interaction in the routing core, how the router's offers become INVITEs to agents,
//! how the two legs are joined and ended, and what the media plane must do for each call.
//!
//! Owns the table of calls (keyed by the caller's INVITE server transaction), the legs placed
//! to agents (ids chosen here, so placing a leg needs no round trip), the RTP port pool (every
//! leg's media port, see [`crate::media::PortPool`]), and the rules:
//! - A queue's DID: `180`, then `200` with an SDP answer limited to the configured codecs; the
//!   caller's ACK makes the call a queued voice interaction (`Arrival`). A queue set to early
//!   media answers `183` with the SDP instead and queues the call at once; the caller gets the
//!   `200` when an agent answers, and can CANCEL until then (an abandon).
//! - An agent's DID or extension: `180`, a direct interaction for that agent (`Direct`); the
//!   caller is answered only when the agent answers; a refusal (busy, paused, logged out, do
//!   not disturb) is `486 Busy Here`, an unanswered ring `480 Temporarily Unavailable` (acd
//!   has no voicemail server: the voicemail fallback answers the same way).
//! - The router's `Offer` places an INVITE to the agent's most recent registration. Only what
//!   can work is offered: the caller's codec (plus the other G.711 law when the caller's is
//!   G.711: the media plane transcodes) within the agent's allowed codecs, and
//!   telephone-event; nothing left, or no free port on the call's media shard, and the leg is
//!   not placed (a rejection). An agent with no live registration is not called: the offer
//!   rings out on the router's timer.
//! - `CancelOffer` ends that leg (CANCEL, or BYE if it had just been answered). A leg's
//!   failure (486/480/603/any final >= 300, no answer at all, or an answer naming no codec we
//!   offered) is a rejection. The first 2xx is the answer (`Accepted`); any later 2xx on the
//!   same call (a ring-all race) is acknowledged and hung up, so exactly one agent is bridged.
//! - A BYE from either side of a bridged call ends both legs and completes the interaction
//!   (the agent goes to wrap-up). A caller's BYE/CANCEL before that is an abandon. When the
//!   router ends a call itself (overflow, max wait), acd hangs the caller up.
//!
//! Media relay is driven from here as [`crate::media::Command`]s (`Action::Media`): every leg
//! gets a port (the caller's at the INVITE, `503` when the pool is exhausted; each agent leg's
//! on the caller's shard at the offer), is `Open`ed with what its SDP says, `Update`d by the
//! agent's answer and by hold/resume re-INVITEs, `Connect`ed at the bridge, and `Release`d
//! exactly once when its call or leg ends, whatever the path. A waiting queue caller hears
//! the queue's welcome prompt then its hold audio, with periodic position announcements
//! ([`CallFlow::handle_timeout`]). Media events ([`CallFlow::handle_media_event`]): DTMF is
//! reported, a media timeout or a leg that cannot open ends the call. Those parts live in
//! `b2bua/media.rs`.
//!
//! It does not own transactions or dialogs ([`super::endpoint`] does), number resolution (the
//! caller passes a [`Called`]), registrations (the caller passes an [`AgentTarget`]), the
//! router (it emits [`Action`]s the runtime forwards) or sockets and packets (the media
//! shards, `crate::runtime::media_io`).

mod media;
#[cfg(test)]
mod tests;

use super::endpoint::{LegId, OutgoingInvite, Transport, TxnId};
use super::sdp::{self, LocalMedia};
use crate::common::{AgentId, InteractionId, QueueId};
use crate::media::prompts::PromptSet;
use crate::media::{Command, LegMedia, MediaLeg, PortPool};
use crate::model::Codec;
use arc_swap::ArcSwap;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

pub use media::QueueAudio;

/// Codecs acd answers callers with until per-queue codec settings exist: G.711 both laws
/// (every carrier has them), then g722 and gsm.
pub const DEFAULT_CODECS: [Codec; 4] = [Codec::Ulaw, Codec::Alaw, Codec::G722, Codec::Gsm];

/// Where a called number leads (resolved by the runtime against the admin's numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Called {
    /// A queue's DID, and what its callers hear.
    Queue(QueueId, QueueAudio),
    /// A queue's DID, the queue set to early media: the caller waits unanswered.
    QueueEarlyMedia(QueueId, QueueAudio),
    /// An agent's DID or extension; `voicemail` is where to redirect the caller (a Contact
    /// value) when the agent is unavailable or does not answer.
    Agent {
        /// The agent.
        agent: AgentId,
        /// The voicemail Contact, if the agent has a box and a server is configured.
        voicemail: Option<String>,
    },
    /// A number acd does not serve.
    Unknown,
}

/// How to reach an offered agent: its registration and its codec limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTarget {
    /// The registered Contact URI (the INVITE's Request-URI).
    pub uri: String,
    /// Where the registration is reached.
    pub target: SocketAddr,
    /// The transport it registered over.
    pub transport: Transport,
    /// The agent's address of record (To).
    pub aor: String,
    /// Allowed codecs in preference order.
    pub codecs: Vec<Codec>,
    /// A WebRTC endpoint (never offered g729).
    pub webrtc: bool,
    /// The agent is behind NAT (`voice.nat` yes/comedia/force_rport): its media is latched
    /// (sent to where its packets come from).
    pub nat: bool,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer the INVITE (through `Endpoint::respond`).
    Respond {
        /// The INVITE's server transaction.
        txn: TxnId,
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: &'static str,
        /// SDP body (sent with `Content-Type: application/sdp`), if any.
        sdp: Option<String>,
    },
    /// A voice interaction enters a queue.
    Arrival {
        /// Its id.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
    },
    /// A direct voice interaction for one agent.
    Direct {
        /// Its id.
        interaction: InteractionId,
        /// The called agent.
        agent: AgentId,
        /// The caller may be sent to voicemail.
        voicemail: bool,
    },
    /// Redirect the (unanswered) caller: `302 Moved Temporarily` with this Contact.
    Redirect {
        /// The INVITE's server transaction.
        txn: TxnId,
        /// The Contact value.
        contact: String,
    },
    /// The caller left before the interaction was answered.
    Abandon(InteractionId),
    /// Place an INVITE to an agent (`Endpoint::invite`).
    Invite(Box<OutgoingInvite>),
    /// End an agent leg (`Endpoint::end_leg`).
    EndLeg(LegId),
    /// Hang the caller up (`Endpoint::hangup_caller`).
    HangupCaller(TxnId),
    /// The agent answered the offer.
    Accepted {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
    },
    /// The agent's phone refused or never answered the offer.
    Rejected {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
    },
    /// The bridged call ended: the interaction is complete.
    Completed(InteractionId),
    /// A command for the media plane (sent to the shard `PortPool::shard_of(cmd.leg())`).
    Media(crate::media::Command),
    /// A DTMF digit a party sent (logged by the runtime: `dtmf`).
    Dtmf {
        /// The call's interaction, once it has one.
        interaction: Option<InteractionId>,
        /// The media leg it came from.
        leg: crate::media::MediaLeg,
        /// The digit.
        digit: char,
        /// Its duration.
        duration_ms: u32,
    },
    /// A call ended because a leg went silent (logged by the runtime: `media timeout`).
    MediaTimeout {
        /// The call's interaction, once it has one.
        interaction: Option<InteractionId>,
        /// The silent leg.
        leg: crate::media::MediaLeg,
        /// Seconds of silence.
        silent_secs: u32,
    },
    /// A new call was refused 503 because no RTP port was free (logged as a warning).
    MediaExhausted {
        /// The refused INVITE.
        txn: TxnId,
    },
}

/// Call-flow settings.
#[derive(Debug, Clone)]
pub struct CallFlowConfig {
    /// The address put in SDP (c=/o=).
    pub media_addr: IpAddr,
    /// The RTP ports handed to legs (the flow owns it from `CallFlow::new` on).
    pub pool: PortPool,
    /// The prompts queue callers hear (replaced as a whole when an administrator uploads one).
    pub prompts: Arc<ArcSwap<PromptSet>>,
    /// Codecs offered/accepted toward callers, in preference order.
    pub codecs: Vec<Codec>,
    /// The first interaction id used; a high base keeps SIP calls clear of ids other
    /// producers (chat, email, tests) use.
    pub first_interaction: u64,
    /// Voicemail server `host[:port]` (empty: none); the runtime builds each agent's
    /// redirect Contact from it.
    pub voicemail: String,
}

impl Default for CallFlowConfig {
    fn default() -> Self {
        CallFlowConfig {
            media_addr: IpAddr::from([127, 0, 0, 1]),
            pool: PortPool::new(20_000, 29_999, 1).expect("20000-29999 holds port pairs"),
            prompts: Arc::new(ArcSwap::from_pointee(PromptSet::default())),
            codecs: DEFAULT_CODECS.to_vec(),
            first_interaction: 1 << 40,
            voicemail: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CallState {
    /// Queue call: 200 sent; the interaction starts with the ACK.
    Answered(QueueId),
    /// Queue call in the routing core (waiting or ringing agents).
    Queued,
    /// Direct or early-media call: not answered yet; the caller gets `answer` when an agent
    /// answers.
    Pending {
        /// Our SDP answer to the caller's offer.
        answer: String,
        /// Where an unanswered direct call is redirected.
        voicemail: Option<String>,
    },
    /// One agent leg is joined to the caller.
    Bridged(LegId, AgentId),
}

/// One side's media: its port, what its remote negotiated, our SDP identity toward it.
#[derive(Debug, Clone)]
struct Side {
    media: MediaLeg,
    remote: LegMedia,
    local: LocalMedia,
    /// Codecs this side may use (a re-INVITE may switch among the compatible ones).
    allowed: Vec<Codec>,
}

/// A queue call's place and audio.
#[derive(Debug, Clone)]
struct Waiting {
    queue: QueueId,
    audio: QueueAudio,
    /// Arrival order in this flow (position announcements).
    seq: u64,
    /// The next position announcement, if the queue announces.
    next_announce: Option<Instant>,
}

struct Call {
    state: CallState,
    interaction: Option<InteractionId>,
    /// The caller's number, shown to agents.
    caller: String,
    /// The caller's media.
    side: Side,
    /// Set for queue calls.
    waiting: Option<Waiting>,
    /// Legs ringing agents.
    ringing: Vec<(LegId, AgentId)>,
}

/// An agent leg: its call and its media (the remote is unknown until the answer).
struct AgentLeg {
    txn: TxnId,
    side: Side,
}

/// Whose media leg a port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Caller(TxnId),
    Agent(LegId),
}

/// The call state machine.
pub struct CallFlow {
    cfg: CallFlowConfig,
    calls: HashMap<TxnId, Call>,
    by_interaction: HashMap<InteractionId, TxnId>,
    legs: HashMap<LegId, AgentLeg>,
    by_media: HashMap<MediaLeg, Owner>,
    /// Calls waiting per queue, by arrival order.
    queues: HashMap<QueueId, BTreeSet<u64>>,
    /// Position announcements due.
    announce: BTreeSet<(Instant, TxnId)>,
    /// How fast each queue's callers reach an agent (expected-wait announcements).
    pace: HashMap<QueueId, media::QueuePace>,
    /// The runtime's latest time, for inputs that carry none (see [`CallFlow::set_time`]).
    now: Option<Instant>,
    next_interaction: u64,
    next_leg: u64,
    next_seq: u64,
    session: u64,
    actions: VecDeque<Action>,
}

impl CallFlow {
    /// An empty call table.
    pub fn new(cfg: CallFlowConfig) -> Self {
        CallFlow {
            next_interaction: cfg.first_interaction,
            cfg,
            calls: HashMap::new(),
            by_interaction: HashMap::new(),
            legs: HashMap::new(),
            by_media: HashMap::new(),
            queues: HashMap::new(),
            pace: HashMap::new(),
            now: None,
            announce: BTreeSet::new(),
            next_leg: 1,
            next_seq: 1,
            session: 1,
            actions: VecDeque::new(),
        }
    }

    /// Calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Agent legs in progress (ringing or bridged).
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// The RTP port pool (for stats: `capacity()`, `available()`).
    pub fn pool(&self) -> &PortPool {
        &self.cfg.pool
    }

    /// Whether `id` is a call this flow carries.
    pub fn carries(&self, id: InteractionId) -> bool {
        self.by_interaction.contains_key(&id)
    }

    /// The interaction of a call, once it has one.
    pub fn interaction(&self, txn: TxnId) -> Option<InteractionId> {
        self.calls.get(&txn).and_then(|c| c.interaction)
    }

    /// The leg bridged to the caller, if any.
    pub fn bridged(&self, txn: TxnId) -> Option<(LegId, AgentId)> {
        match self.calls.get(&txn).map(|c| &c.state) {
            Some(CallState::Bridged(l, a)) => Some((*l, *a)),
            _ => None,
        }
    }

    /// Next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn respond(&mut self, txn: TxnId, code: u16, reason: &'static str, sdp: Option<String>) {
        self.actions.push_back(Action::Respond {
            txn,
            code,
            reason,
            sdp,
        });
    }

    fn media(&mut self, cmd: Command) {
        self.actions.push_back(Action::Media(cmd));
    }

    fn local(&mut self, leg: MediaLeg) -> LocalMedia {
        let local = LocalMedia {
            addr: self.cfg.media_addr,
            port: leg.rtp_port(),
            session_id: self.session,
            version: 1,
        };
        self.session += 1;
        local
    }

    fn new_interaction(&mut self, txn: TxnId) -> InteractionId {
        let i = InteractionId(self.next_interaction);
        self.next_interaction += 1;
        self.by_interaction.insert(i, txn);
        i
    }

    /// A new INVITE from `caller` (its From user, shown to agents) at `now`; `body` is its
    /// SDP (empty for a late offer).
    pub fn handle_invite(
        &mut self,
        now: Instant,
        txn: TxnId,
        called: Called,
        caller: &str,
        body: &[u8],
    ) {
        if matches!(called, Called::Unknown) {
            return self.respond(txn, 404, "Not Found", None);
        }
        let Some(port) = self.cfg.pool.alloc() else {
            self.respond(txn, 503, "Service Unavailable", None);
            return self.actions.push_back(Action::MediaExhausted { txn });
        };
        let local = self.local(port);
        let codecs = self.cfg.codecs.clone();
        let negotiated = if body.iter().all(u8::is_ascii_whitespace) {
            // Late offer (RFC 3261 §13.2.1): our offer goes in the 200, the answer in the ACK
            // (`handle_ack_answer`); until then the caller is assumed on our first codec and
            // is latched.
            sdp::offer(&codecs, false, &local).map(|s| (s, media::late_offer_media(&codecs)))
        } else {
            sdp::parse_offer(body).and_then(|o| {
                sdp::answer(&o, &codecs, false, &local)
                    .map(|(s, c)| (s, sdp::leg_media(&o, &c, false)))
            })
        };
        let (answer, remote) = match negotiated {
            Ok(n) => n,
            Err(e) => {
                // Never opened: the port goes straight back.
                self.cfg.pool.release(port);
                let code = e.status();
                let reason = if code == 488 {
                    "Not Acceptable Here"
                } else {
                    "Bad Request"
                };
                return self.respond(txn, code, reason, None);
            }
        };
        self.by_media.insert(port, Owner::Caller(txn));
        self.media(Command::Open {
            leg: port,
            media: remote.clone(),
        });
        self.respond(txn, 180, "Ringing", None);
        let mut call = Call {
            state: CallState::Queued,
            interaction: None,
            caller: caller.to_owned(),
            side: Side {
                media: port,
                remote,
                local,
                allowed: codecs,
            },
            waiting: None,
            ringing: Vec::new(),
        };
        let mut early = false;
        match called {
            Called::Queue(queue, audio) => {
                self.respond(txn, 200, "OK", Some(answer));
                call.state = CallState::Answered(queue);
                call.waiting = Some(self.waiting(now, queue, audio));
            }
            Called::QueueEarlyMedia(queue, audio) => {
                let interaction = self.new_interaction(txn);
                call.interaction = Some(interaction);
                self.respond(txn, 183, "Session Progress", Some(answer.clone()));
                call.state = CallState::Pending {
                    answer,
                    voicemail: None,
                };
                call.waiting = Some(self.waiting(now, queue, audio));
                self.actions
                    .push_back(Action::Arrival { interaction, queue });
                early = true;
            }
            Called::Agent { agent, voicemail } => {
                let interaction = self.new_interaction(txn);
                call.interaction = Some(interaction);
                self.actions.push_back(Action::Direct {
                    interaction,
                    agent,
                    voicemail: voicemail.is_some(),
                });
                call.state = CallState::Pending { answer, voicemail };
            }
            Called::Unknown => {}
        }
        if let Some(at) = call.waiting.as_ref().and_then(|w| w.next_announce) {
            self.announce.insert((at, txn));
        }
        self.calls.insert(txn, call);
        if early {
            self.enter_queue(txn);
        }
    }

    fn waiting(&mut self, now: Instant, queue: QueueId, audio: QueueAudio) -> Waiting {
        let seq = self.next_seq;
        self.next_seq += 1;
        Waiting {
            queue,
            next_announce: audio.announce_every.map(|d| now + d),
            audio,
            seq,
        }
    }

    /// The caller's ACK to our 200: a queue call enters its queue.
    pub fn handle_confirmed(&mut self, txn: TxnId) {
        let Some(call) = self.calls.get(&txn) else {
            return;
        };
        if let CallState::Answered(queue) = call.state {
            let interaction = self.new_interaction(txn);
            if let Some(call) = self.calls.get_mut(&txn) {
                call.state = CallState::Queued;
                call.interaction = Some(interaction);
            }
            self.actions
                .push_back(Action::Arrival { interaction, queue });
            self.enter_queue(txn);
        }
    }

    /// Ends an agent leg on our side: forgets it, gives its port back (`Release`), and sends
    /// the agent a CANCEL/BYE when `hang_up`.
    fn drop_leg(&mut self, leg: LegId, hang_up: bool) {
        if hang_up {
            self.actions.push_back(Action::EndLeg(leg));
        }
        if let Some(l) = self.legs.remove(&leg) {
            self.release(l.side.media);
        }
    }

    fn forget(&mut self, txn: TxnId) -> Option<Call> {
        self.leave_queue(txn);
        let call = self.calls.remove(&txn)?;
        if let Some(i) = call.interaction {
            self.by_interaction.remove(&i);
        }
        if let Some(at) = call.waiting.as_ref().and_then(|w| w.next_announce) {
            self.announce.remove(&(at, txn));
        }
        for (leg, _) in &call.ringing {
            self.drop_leg(*leg, true);
        }
        if let CallState::Bridged(leg, _) = call.state {
            self.drop_leg(leg, false);
        }
        self.release(call.side.media);
        Some(call)
    }

    /// The caller hung up (BYE) or cancelled: an abandon before an answer, the end of the
    /// call after one.
    pub fn handle_caller_gone(&mut self, txn: TxnId) {
        let Some(call) = self.forget(txn) else { return };
        match (call.state, call.interaction) {
            (CallState::Bridged(leg, _), Some(i)) => {
                // The router hears first, so whoever sees the BYE sees the agent in wrap-up.
                self.actions.push_back(Action::Completed(i));
                self.actions.push_back(Action::EndLeg(leg));
            }
            (_, Some(i)) => self.actions.push_back(Action::Abandon(i)),
            _ => {}
        }
    }

    /// Our 2xx to the caller was never acknowledged: the call never started (queue) or is
    /// over (a direct call the agent had answered).
    pub fn handle_no_ack(&mut self, txn: TxnId) {
        self.handle_caller_gone(txn);
    }

    /// The router offers `interaction` to `agent`; `target` is how to reach it (`None`: the
    /// agent has no live registration, and the offer rings out on the router's timer).
    pub fn handle_offer(
        &mut self,
        interaction: InteractionId,
        agent: AgentId,
        target: Option<&AgentTarget>,
        auto_answer: bool,
    ) {
        let Some(&txn) = self.by_interaction.get(&interaction) else {
            return;
        };
        let Some(t) = target else { return };
        let Some(caller) = self.calls.get(&txn).map(|c| c.side.clone()) else {
            return;
        };
        let codecs = media::agent_codecs(&caller.remote, t);
        if codecs.is_empty() {
            // No codec the agent allows can carry the caller's audio.
            return self
                .actions
                .push_back(Action::Rejected { interaction, agent });
        }
        let shard = self.cfg.pool.shard_of(caller.media);
        let Some(port) = self.cfg.pool.alloc_on(shard) else {
            tracing::warn!(%interaction, %agent, "media port pool exhausted: the offer is not placed and rings out");
            return;
        };
        let local = self.local(port);
        let Ok(offer) = sdp::offer(&codecs, t.webrtc, &local) else {
            self.cfg.pool.release(port);
            return;
        };
        let leg = LegId(self.next_leg);
        self.next_leg += 1;
        let Some(call) = self.calls.get_mut(&txn) else {
            self.cfg.pool.release(port);
            return;
        };
        call.ringing.push((leg, agent));
        let mut headers = Vec::new();
        if auto_answer {
            // The de-facto auto-answer hint most desk phones and softphones honour.
            headers.push((
                "Call-Info".to_owned(),
                format!("<{}>;answer-after=0", t.uri),
            ));
        }
        let invite = OutgoingInvite {
            leg,
            target: t.target,
            transport: t.transport,
            request_uri: t.uri.clone(),
            to_uri: t.aor.clone(),
            from_user: call.caller.clone(),
            sdp: offer.into_bytes(),
            headers,
        };
        let remote = LegMedia {
            remote: None,
            latch: t.nat,
            telephone_event: Some(101),
            direction: crate::media::Direction::SendRecv,
            ..caller.remote
        };
        self.by_media.insert(port, Owner::Agent(leg));
        self.media(Command::Open {
            leg: port,
            media: remote.clone(),
        });
        let side = Side {
            media: port,
            remote,
            local,
            allowed: codecs,
        };
        self.legs.insert(leg, AgentLeg { txn, side });
        self.actions.push_back(Action::Invite(Box::new(invite)));
    }

    /// The router withdrew an offer (ring timeout, another agent answered, the caller left):
    /// that agent's leg ends. If it had just been bridged (its answer crossed the withdrawal),
    /// the router's view wins: the agent is hung up and the caller stays in the queue.
    pub fn handle_cancel_offer(&mut self, interaction: InteractionId, agent: AgentId) {
        let Some(&txn) = self.by_interaction.get(&interaction) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&txn) else {
            return;
        };
        if let Some(pos) = call.ringing.iter().position(|(_, a)| *a == agent) {
            let (leg, _) = call.ringing.remove(pos);
            self.drop_leg(leg, true);
        } else if let CallState::Bridged(leg, a) = call.state {
            if a == agent {
                call.state = CallState::Queued;
                self.drop_leg(leg, true);
                self.enter_queue(txn);
            }
        }
    }

    /// The router ended an interaction. Ends acd did not ask for (overflow, max wait, a
    /// refused direct call) hang the caller up or answer its pending INVITE.
    pub fn handle_ended(&mut self, interaction: InteractionId, refused: Option<bool>) {
        let Some(&txn) = self.by_interaction.get(&interaction) else {
            return;
        };
        let Some(call) = self.forget(txn) else { return };
        match call.state {
            CallState::Pending {
                voicemail: Some(contact),
                ..
            } if refused.is_some() => self.actions.push_back(Action::Redirect { txn, contact }),
            CallState::Pending { .. } => match refused {
                Some(true) => self.respond(txn, 486, "Busy Here", None),
                _ => self.respond(txn, 480, "Temporarily Unavailable", None),
            },
            CallState::Bridged(leg, _) => {
                self.actions.push_back(Action::EndLeg(leg));
                self.actions.push_back(Action::HangupCaller(txn));
            }
            CallState::Answered(_) | CallState::Queued => {
                self.actions.push_back(Action::HangupCaller(txn));
            }
        }
    }

    /// An agent leg answered; `body` is its SDP answer.
    pub fn handle_leg_answered(&mut self, leg: LegId, body: &[u8]) {
        let Some(txn) = self.legs.get(&leg).map(|l| l.txn) else {
            // A leg this flow already gave up on: hang it up.
            return self.actions.push_back(Action::EndLeg(leg));
        };
        let Some(call) = self.calls.get_mut(&txn) else {
            return;
        };
        let Some(pos) = call.ringing.iter().position(|(l, _)| *l == leg) else {
            return;
        };
        let (_, agent) = call.ringing.remove(pos);
        if matches!(call.state, CallState::Bridged(..)) {
            // Ring-all race: another agent answered first.
            return self.drop_leg(leg, true);
        }
        let interaction = call.interaction;
        let Some(agent_media) = self.legs.get(&leg).and_then(|l| media::answered(l, body)) else {
            // An answer we cannot use (no codec we offered): the agent is hung up, a failure.
            self.drop_leg(leg, true);
            if let Some(interaction) = interaction {
                self.actions
                    .push_back(Action::Rejected { interaction, agent });
            }
            return;
        };
        let Some(call) = self.calls.get_mut(&txn) else {
            return;
        };
        let previous = std::mem::replace(&mut call.state, CallState::Bridged(leg, agent));
        let caller = call.side.media;
        let queue = call.waiting.as_ref().map(|w| w.queue);
        if let CallState::Pending { answer, .. } = previous {
            self.respond(txn, 200, "OK", Some(answer));
        }
        if let (Some(q), Some(now)) = (queue, self.now) {
            self.pace.entry(q).or_default().handle_answer(now);
        }
        self.leave_queue(txn);
        let l = self.legs.get_mut(&leg).map(|l| {
            l.side.remote = agent_media.clone();
            l.side.media
        });
        if let Some(port) = l {
            self.media(Command::Update {
                leg: port,
                media: agent_media,
            });
            self.media(Command::Connect { a: caller, b: port });
        }
        if let Some(interaction) = interaction {
            self.actions
                .push_back(Action::Accepted { interaction, agent });
        }
    }

    /// An agent leg failed before an answer (busy, declined, unavailable, no response).
    pub fn handle_leg_failed(&mut self, leg: LegId) {
        let Some(txn) = self.legs.get(&leg).map(|l| l.txn) else {
            return;
        };
        self.leg_failed(txn, leg, false);
    }

    /// A ringing leg is given up: forgotten (hung up when `hang_up`), a rejection.
    fn leg_failed(&mut self, txn: TxnId, leg: LegId, hang_up: bool) {
        self.drop_leg(leg, hang_up);
        let Some(call) = self.calls.get_mut(&txn) else {
            return;
        };
        let Some(pos) = call.ringing.iter().position(|(l, _)| *l == leg) else {
            return;
        };
        let (_, agent) = call.ringing.remove(pos);
        if let Some(interaction) = call.interaction {
            self.actions
                .push_back(Action::Rejected { interaction, agent });
        }
    }

    /// The agent hung up its leg: a bridged call ends on both sides.
    pub fn handle_leg_bye(&mut self, leg: LegId) {
        let Some(txn) = self.legs.get(&leg).map(|l| l.txn) else {
            return;
        };
        let bridged = self
            .calls
            .get(&txn)
            .is_some_and(|c| matches!(c.state, CallState::Bridged(l, _) if l == leg));
        if !bridged {
            return self.leg_failed(txn, leg, false);
        }
        let Some(call) = self.forget(txn) else { return };
        if let Some(i) = call.interaction {
            self.actions.push_back(Action::Completed(i));
        }
        self.actions.push_back(Action::HangupCaller(txn));
    }
}
