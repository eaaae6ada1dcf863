//! The B2BUA call flow, sans-IO: which answer a caller's INVITE gets, when a call becomes a
//! voice interaction in the routing core, how the router's offers become INVITEs to agents,
//! and how the two legs are joined and ended.
//!
//! Owns the table of calls (keyed by the caller's INVITE server transaction), the legs placed
//! to agents (ids chosen here, so placing a leg needs no round trip), and the rules:
//! - A queue's DID: `180`, then `200` with an SDP answer limited to the configured codecs; the
//!   caller's ACK makes the call a queued voice interaction (`Arrival`). A queue set to early
//!   media answers `183` with the SDP instead and queues the call at once; the caller gets the
//!   `200` when an agent answers, and can CANCEL until then (an abandon).
//! - An agent's DID or extension: `180`, a direct interaction for that agent (`Direct`); the
//!   caller is answered only when the agent answers; a refusal (busy, paused, logged out, do
//!   not disturb) is `486 Busy Here`, an unanswered ring `480 Temporarily Unavailable` (acd
//!   has no voicemail server: the voicemail fallback answers the same way).
//! - The router's `Offer` places an INVITE to the agent's most recent registration, offering
//!   the agent's allowed codecs (the caller's codec first when the agent allows it). An agent
//!   with no live registration is not called: the offer rings out on the router's timer.
//! - `CancelOffer` ends that leg (CANCEL, or BYE if it had just been answered). A leg's
//!   failure (486/480/603/any final >= 300, or no answer at all) is a rejection. The first 2xx
//!   is the answer (`Accepted`); any later 2xx on the same call (a ring-all race) is
//!   acknowledged and hung up, so exactly one agent is bridged.
//! - A BYE from either side of a bridged call ends both legs and completes the interaction
//!   (the agent goes to wrap-up). A caller's BYE/CANCEL before that is an abandon. When the
//!   router ends a call itself (overflow, max wait), acd hangs the caller up.
//!
//! It does not own transactions or dialogs ([`super::endpoint`] does), number resolution (the
//! caller passes a [`Called`]), registrations (the caller passes an [`AgentTarget`]) or the
//! router (it emits [`Action`]s the runtime forwards). Media relay is not here.

use super::endpoint::{LegId, OutgoingInvite, Transport, TxnId};
use super::sdp::{self, LocalMedia};
use crate::common::{AgentId, InteractionId, QueueId};
use crate::model::Codec;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// Codecs acd answers callers with until per-queue codec settings exist: G.711 both laws
/// (every carrier has them), then g722 and gsm.
pub const DEFAULT_CODECS: [Codec; 4] = [Codec::Ulaw, Codec::Alaw, Codec::G722, Codec::Gsm];

/// Where a called number leads (resolved by the runtime against the admin's numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Called {
    /// A queue's DID.
    Queue(QueueId),
    /// A queue's DID, the queue set to early media: the caller waits unanswered.
    QueueEarlyMedia(QueueId),
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
    /// The RTP port put in SDP.
    pub media_port: u16,
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
            media_port: 40_000,
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

struct Call {
    state: CallState,
    interaction: Option<InteractionId>,
    /// The caller's number, shown to agents.
    caller: String,
    /// The codec agreed with the caller, offered to agents first.
    codec: Option<Codec>,
    /// Legs ringing agents.
    ringing: Vec<(LegId, AgentId)>,
}

/// The call state machine.
pub struct CallFlow {
    cfg: CallFlowConfig,
    calls: HashMap<TxnId, Call>,
    by_interaction: HashMap<InteractionId, TxnId>,
    legs: HashMap<LegId, TxnId>,
    next_interaction: u64,
    next_leg: u64,
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
            next_leg: 1,
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

    fn local(&mut self) -> LocalMedia {
        let local = LocalMedia {
            addr: self.cfg.media_addr,
            port: self.cfg.media_port,
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

    /// A new INVITE from `caller` (its From user, shown to agents); `body` is its SDP (empty
    /// for a late offer).
    pub fn handle_invite(&mut self, txn: TxnId, called: Called, caller: &str, body: &[u8]) {
        if matches!(called, Called::Unknown) {
            return self.respond(txn, 404, "Not Found", None);
        }
        let local = self.local();
        let negotiated = if body.iter().all(u8::is_ascii_whitespace) {
            // Late offer (RFC 3261 §13.2.1): our offer goes in the 200, the answer in the ACK.
            sdp::offer(&self.cfg.codecs, false, &local).map(|s| (s, None))
        } else {
            sdp::parse_offer(body).and_then(|o| {
                sdp::answer(&o, &self.cfg.codecs, false, &local).map(|(s, c)| (s, Some(c.codec)))
            })
        };
        let (answer, codec) = match negotiated {
            Ok(n) => n,
            Err(e) => {
                let code = e.status();
                let reason = if code == 488 {
                    "Not Acceptable Here"
                } else {
                    "Bad Request"
                };
                return self.respond(txn, code, reason, None);
            }
        };
        self.respond(txn, 180, "Ringing", None);
        let mut call = Call {
            state: CallState::Queued,
            interaction: None,
            caller: caller.to_owned(),
            codec,
            ringing: Vec::new(),
        };
        match called {
            Called::Queue(queue) => {
                self.respond(txn, 200, "OK", Some(answer));
                call.state = CallState::Answered(queue);
            }
            Called::QueueEarlyMedia(queue) => {
                let interaction = self.new_interaction(txn);
                call.interaction = Some(interaction);
                self.respond(txn, 183, "Session Progress", Some(answer.clone()));
                call.state = CallState::Pending {
                    answer,
                    voicemail: None,
                };
                self.actions
                    .push_back(Action::Arrival { interaction, queue });
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
        self.calls.insert(txn, call);
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
        }
    }

    fn forget(&mut self, txn: TxnId) -> Option<Call> {
        let call = self.calls.remove(&txn)?;
        if let Some(i) = call.interaction {
            self.by_interaction.remove(&i);
        }
        for (leg, _) in &call.ringing {
            self.legs.remove(leg);
            self.actions.push_back(Action::EndLeg(*leg));
        }
        if let CallState::Bridged(leg, _) = call.state {
            self.legs.remove(&leg);
        }
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
        let Some(codec) = self.calls.get(&txn).map(|c| c.codec) else {
            return;
        };
        let mut codecs = t.codecs.clone();
        if let Some(pos) = codec.and_then(|c| codecs.iter().position(|x| *x == c)) {
            let c = codecs.remove(pos);
            codecs.insert(0, c);
        }
        let local = self.local();
        let Ok(offer) = sdp::offer(&codecs, t.webrtc, &local) else {
            return;
        };
        let leg = LegId(self.next_leg);
        self.next_leg += 1;
        let Some(call) = self.calls.get_mut(&txn) else {
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
        self.legs.insert(leg, txn);
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
            self.legs.remove(&leg);
            self.actions.push_back(Action::EndLeg(leg));
        } else if let CallState::Bridged(leg, a) = call.state {
            if a == agent {
                call.state = CallState::Queued;
                self.legs.remove(&leg);
                self.actions.push_back(Action::EndLeg(leg));
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

    /// An agent leg answered.
    pub fn handle_leg_answered(&mut self, leg: LegId) {
        let Some(txn) = self.legs.get(&leg).copied() else {
            // A leg this flow already gave up on: hang it up.
            return self.actions.push_back(Action::EndLeg(leg));
        };
        let Some(call) = self.calls.get_mut(&txn) else {
            return;
        };
        let Some(pos) = call.ringing.iter().position(|(l, _)| *l == leg) else {
            return;
        };
        if matches!(call.state, CallState::Bridged(..)) {
            // Ring-all race: another agent answered first.
            call.ringing.remove(pos);
            self.legs.remove(&leg);
            return self.actions.push_back(Action::EndLeg(leg));
        }
        let (_, agent) = call.ringing.remove(pos);
        let previous = std::mem::replace(&mut call.state, CallState::Bridged(leg, agent));
        let Some(interaction) = call.interaction else {
            return;
        };
        if let CallState::Pending { answer, .. } = previous {
            self.respond(txn, 200, "OK", Some(answer));
        }
        self.actions
            .push_back(Action::Accepted { interaction, agent });
    }

    /// An agent leg failed before an answer (busy, declined, unavailable, no response).
    pub fn handle_leg_failed(&mut self, leg: LegId) {
        let Some(txn) = self.legs.remove(&leg) else {
            return;
        };
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

    /// An event from the media plane (DTMF, media timeout, a leg that could not open).
    pub fn handle_media_event(&mut self, _event: crate::media::Event) {}

    /// The agent hung up its leg: a bridged call ends on both sides.
    pub fn handle_leg_bye(&mut self, leg: LegId) {
        let Some(txn) = self.legs.get(&leg).copied() else {
            return;
        };
        let bridged = self
            .calls
            .get(&txn)
            .is_some_and(|c| matches!(c.state, CallState::Bridged(l, _) if l == leg));
        if !bridged {
            return;
        }
        let Some(call) = self.forget(txn) else { return };
        if let Some(i) = call.interaction {
            self.actions.push_back(Action::Completed(i));
        }
        self.actions.push_back(Action::HangupCaller(txn));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &[u8] = b"v=0\r\no=c 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n";

    fn drain(f: &mut CallFlow) -> Vec<Action> {
        std::iter::from_fn(|| f.poll_action()).collect()
    }

    fn codes(actions: &[Action]) -> Vec<u16> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Respond { code, .. } => Some(*code),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn queue_call_rings_then_answers_with_sdp() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        let a = drain(&mut f);
        assert_eq!(codes(&a), vec![180, 200]);
        let Action::Respond { sdp: Some(sdp), .. } = &a[1] else {
            panic!("200 has SDP: {a:?}")
        };
        assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8"), "{sdp}");
    }

    #[test]
    fn queue_call_enters_the_router_only_after_the_ack() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        drain(&mut f);
        assert_eq!(f.interaction(TxnId(1)), None);
        f.handle_confirmed(TxnId(1));
        let a = drain(&mut f);
        let i = f.interaction(TxnId(1)).expect("queued");
        assert_eq!(
            a,
            vec![Action::Arrival {
                interaction: i,
                queue: QueueId(3)
            }]
        );
    }

    #[test]
    fn bye_while_queued_abandons() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        f.handle_confirmed(TxnId(1));
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_caller_gone(TxnId(1));
        assert_eq!(drain(&mut f), vec![Action::Abandon(i)]);
        assert_eq!(f.call_count(), 0);
    }

    #[test]
    fn cancel_before_the_ack_abandons_nothing() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        drain(&mut f);
        f.handle_caller_gone(TxnId(1));
        assert_eq!(drain(&mut f), vec![]);
        assert_eq!(f.call_count(), 0);
    }

    #[test]
    fn offer_without_a_common_codec_gets_488() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let g729 = b"v=0\r\no=c 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", g729);
        assert_eq!(codes(&drain(&mut f)), vec![488]);
        assert_eq!(f.call_count(), 0);
    }

    #[test]
    fn late_offer_invite_gets_our_offer_in_the_200() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", b"");
        let a = drain(&mut f);
        assert_eq!(codes(&a), vec![180, 200]);
        let Action::Respond { sdp: Some(sdp), .. } = &a[1] else {
            panic!("{a:?}")
        };
        assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 9 3"), "{sdp}");
    }

    #[test]
    fn unknown_number_gets_404() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Unknown, "5551234", OFFER);
        assert_eq!(codes(&drain(&mut f)), vec![404]);
    }

    fn direct(voicemail: Option<&str>) -> Called {
        Called::Agent {
            agent: AgentId(7),
            voicemail: voicemail.map(str::to_owned),
        }
    }

    #[test]
    fn unanswered_direct_call_to_an_agent_with_voicemail_is_redirected() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let vm = "<sip:1001@vm.example.com>";
        f.handle_invite(TxnId(1), direct(Some(vm)), "5551234", OFFER);
        let i = f.interaction(TxnId(1)).unwrap();
        assert!(drain(&mut f).contains(&Action::Direct {
            interaction: i,
            agent: AgentId(7),
            voicemail: true
        }));
        f.handle_ended(i, Some(false));
        assert_eq!(
            drain(&mut f),
            vec![Action::Redirect {
                txn: TxnId(1),
                contact: vm.to_owned()
            }]
        );
    }

    fn target(port: u16) -> AgentTarget {
        AgentTarget {
            uri: format!("sip:1001@127.0.0.1:{port}"),
            target: SocketAddr::from(([127, 0, 0, 1], port)),
            transport: Transport::Udp,
            aor: "sip:1001@acd".into(),
            codecs: vec![Codec::G722, Codec::Ulaw],
            webrtc: false,
        }
    }

    /// A queue call in the router, offered to agent 7: returns the interaction and its leg.
    fn ringing(f: &mut CallFlow) -> (InteractionId, LegId) {
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        f.handle_confirmed(TxnId(1));
        let i = f.interaction(TxnId(1)).unwrap();
        drain(f);
        f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
        let a = drain(f);
        let [Action::Invite(inv)] = a.as_slice() else {
            panic!("one INVITE: {a:?}")
        };
        (i, inv.leg)
    }

    #[test]
    fn offer_places_an_invite_to_the_registration_with_the_callers_codec_first() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        f.handle_confirmed(TxnId(1));
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
        let a = drain(&mut f);
        let [Action::Invite(inv)] = a.as_slice() else {
            panic!("{a:?}")
        };
        assert_eq!(inv.target, SocketAddr::from(([127, 0, 0, 1], 6001)));
        assert_eq!(inv.request_uri, "sip:1001@127.0.0.1:6001");
        assert_eq!(inv.from_user, "5551234");
        let sdp = String::from_utf8(inv.sdp.clone()).unwrap();
        // The caller settled on PCMU (0); the agent allows g722 then ulaw: ulaw goes first.
        assert!(sdp.contains("m=audio 40000 RTP/AVP 0 9"), "{sdp}");
    }

    #[test]
    fn offer_to_an_agent_without_registration_places_nothing() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        f.handle_confirmed(TxnId(1));
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_offer(i, AgentId(7), None, false);
        assert_eq!(drain(&mut f), vec![]);
    }

    #[test]
    fn auto_answer_offer_carries_the_answer_after_hint() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        f.handle_confirmed(TxnId(1));
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_offer(i, AgentId(7), Some(&target(6001)), true);
        let a = drain(&mut f);
        let [Action::Invite(inv)] = a.as_slice() else {
            panic!("{a:?}")
        };
        assert!(inv
            .headers
            .iter()
            .any(|(n, v)| n == "Call-Info" && v.ends_with("answer-after=0")));
    }

    #[test]
    fn agent_answer_bridges_and_accepts() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let (i, leg) = ringing(&mut f);
        f.handle_leg_answered(leg);
        assert_eq!(
            drain(&mut f),
            vec![Action::Accepted {
                interaction: i,
                agent: AgentId(7)
            }]
        );
        assert_eq!(f.bridged(TxnId(1)), Some((leg, AgentId(7))));
    }

    #[test]
    fn ring_all_race_bridges_exactly_one_and_hangs_up_the_other() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let (i, leg7) = ringing(&mut f);
        f.handle_offer(i, AgentId(8), Some(&target(6002)), false);
        let a = drain(&mut f);
        let [Action::Invite(inv8)] = a.as_slice() else {
            panic!("{a:?}")
        };
        let leg8 = inv8.leg;
        f.handle_leg_answered(leg8);
        f.handle_leg_answered(leg7);
        assert_eq!(
            drain(&mut f),
            vec![
                Action::Accepted {
                    interaction: i,
                    agent: AgentId(8)
                },
                Action::EndLeg(leg7)
            ]
        );
        assert_eq!(f.bridged(TxnId(1)), Some((leg8, AgentId(8))));
    }

    #[test]
    fn leg_failure_is_a_rejection_by_that_agent() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let (i, leg) = ringing(&mut f);
        f.handle_leg_failed(leg);
        assert_eq!(
            drain(&mut f),
            vec![Action::Rejected {
                interaction: i,
                agent: AgentId(7)
            }]
        );
        assert_eq!(f.leg_count(), 0);
    }

    #[test]
    fn withdrawn_offer_ends_the_leg_and_a_late_answer_is_hung_up() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let (i, leg) = ringing(&mut f);
        f.handle_cancel_offer(i, AgentId(7));
        assert_eq!(drain(&mut f), vec![Action::EndLeg(leg)]);
        f.handle_leg_answered(leg);
        assert_eq!(drain(&mut f), vec![Action::EndLeg(leg)]);
        assert_eq!(f.bridged(TxnId(1)), None);
    }

    #[test]
    fn withdrawal_crossing_an_answer_hangs_the_agent_up_and_keeps_the_caller() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let (i, leg) = ringing(&mut f);
        f.handle_leg_answered(leg);
        drain(&mut f);
        f.handle_cancel_offer(i, AgentId(7));
        assert_eq!(drain(&mut f), vec![Action::EndLeg(leg)]);
        assert_eq!(f.bridged(TxnId(1)), None);
        assert_eq!(f.call_count(), 1);
    }

    #[test]
    fn caller_bye_while_bridged_ends_the_agent_leg_and_completes() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let (i, leg) = ringing(&mut f);
        f.handle_leg_answered(leg);
        drain(&mut f);
        f.handle_caller_gone(TxnId(1));
        assert_eq!(
            drain(&mut f),
            vec![Action::Completed(i), Action::EndLeg(leg)]
        );
        assert_eq!((f.call_count(), f.leg_count()), (0, 0));
    }

    #[test]
    fn agent_bye_while_bridged_hangs_up_the_caller_and_completes() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let (i, leg) = ringing(&mut f);
        f.handle_leg_answered(leg);
        drain(&mut f);
        f.handle_leg_bye(leg);
        assert_eq!(
            drain(&mut f),
            vec![Action::Completed(i), Action::HangupCaller(TxnId(1))]
        );
        assert_eq!((f.call_count(), f.leg_count()), (0, 0));
    }

    #[test]
    fn caller_leaving_while_an_agent_rings_abandons_and_cancels_the_leg() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let (i, leg) = ringing(&mut f);
        f.handle_caller_gone(TxnId(1));
        assert_eq!(drain(&mut f), vec![Action::EndLeg(leg), Action::Abandon(i)]);
    }

    #[test]
    fn router_ending_a_queued_call_hangs_up_the_caller() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), "5551234", OFFER);
        f.handle_confirmed(TxnId(1));
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_ended(i, None);
        assert_eq!(drain(&mut f), vec![Action::HangupCaller(TxnId(1))]);
        assert_eq!(f.call_count(), 0);
    }

    #[test]
    fn direct_call_rings_its_agent_and_is_answered_when_the_agent_answers() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), direct(None), "5551234", OFFER);
        let a = drain(&mut f);
        let i = f.interaction(TxnId(1)).unwrap();
        assert_eq!(codes(&a), vec![180]);
        assert!(a.contains(&Action::Direct {
            interaction: i,
            agent: AgentId(7),
            voicemail: false
        }));
        f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
        let a = drain(&mut f);
        let [Action::Invite(inv)] = a.as_slice() else {
            panic!("{a:?}")
        };
        f.handle_leg_answered(inv.leg);
        let a = drain(&mut f);
        assert_eq!(codes(&a), vec![200]);
        assert!(a.contains(&Action::Accepted {
            interaction: i,
            agent: AgentId(7)
        }));
    }

    #[test]
    fn direct_call_refused_by_the_router_gets_486() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), direct(None), "5551234", OFFER);
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_ended(i, Some(true));
        assert_eq!(codes(&drain(&mut f)), vec![486]);
        assert_eq!(f.call_count(), 0);
    }

    #[test]
    fn direct_call_not_answered_gets_480() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), direct(None), "5551234", OFFER);
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_ended(i, Some(false));
        assert_eq!(codes(&drain(&mut f)), vec![480]);
    }

    #[test]
    fn early_media_queue_call_is_queued_unanswered_with_183() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(
            TxnId(1),
            Called::QueueEarlyMedia(QueueId(3)),
            "5551234",
            OFFER,
        );
        let a = drain(&mut f);
        assert_eq!(codes(&a), vec![180, 183]);
        let i = f.interaction(TxnId(1)).expect("queued at once");
        assert!(a.contains(&Action::Arrival {
            interaction: i,
            queue: QueueId(3)
        }));
    }

    #[test]
    fn early_media_caller_is_answered_when_the_agent_answers() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(
            TxnId(1),
            Called::QueueEarlyMedia(QueueId(3)),
            "5551234",
            OFFER,
        );
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_offer(i, AgentId(7), Some(&target(6001)), false);
        let a = drain(&mut f);
        let [Action::Invite(inv)] = a.as_slice() else {
            panic!("{a:?}")
        };
        f.handle_leg_answered(inv.leg);
        let a = drain(&mut f);
        assert_eq!(codes(&a), vec![200]);
    }

    #[test]
    fn early_media_caller_cancelling_abandons() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(
            TxnId(1),
            Called::QueueEarlyMedia(QueueId(3)),
            "5551234",
            OFFER,
        );
        let i = f.interaction(TxnId(1)).unwrap();
        drain(&mut f);
        f.handle_caller_gone(TxnId(1));
        assert_eq!(drain(&mut f), vec![Action::Abandon(i)]);
    }
}
