//! The B2BUA call flow on the caller's side, sans-IO: which answer an INVITE gets, when a
//! call becomes a voice interaction in the routing core, and when it is abandoned.
//!
//! Owns the table of inbound calls (keyed by the INVITE's server transaction) and the
//! interaction ids it hands to the router. It does not own transactions or dialogs
//! ([`super::endpoint`] answers BYE/CANCEL and reports them), number resolution (the caller
//! passes a [`Called`]) or the router (it emits [`Action`]s the runtime forwards).
//!
//! Flow for a queue's DID: `180 Ringing`, then `200 OK` with an SDP answer limited to
//! [`DEFAULT_CODECS`]; the caller's ACK makes the call a queued voice interaction
//! (`Arrival`); a BYE or CANCEL before the call ends there is an `Abandon`. Not here yet:
//! offers to agents as outgoing INVITEs and bridging (docs/architecture.md, "SIP").

use super::endpoint::TxnId;
use super::sdp::{self, LocalMedia};
use crate::common::{AgentId, InteractionId, QueueId};
use crate::model::Codec;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Codecs acd answers callers with until per-queue codec settings exist: G.711 both laws
/// (every carrier has them), then g722 and gsm.
pub const DEFAULT_CODECS: [Codec; 4] = [Codec::Ulaw, Codec::Alaw, Codec::G722, Codec::Gsm];

/// Where a called number leads (resolved by the runtime against the admin's numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Called {
    /// A queue's DID.
    Queue(QueueId),
    /// An agent's DID or extension.
    Agent(AgentId),
    /// A number acd does not serve.
    Unknown,
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
    /// The caller left before the interaction ended.
    Abandon(InteractionId),
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
}

impl Default for CallFlowConfig {
    fn default() -> Self {
        CallFlowConfig {
            media_addr: IpAddr::from([127, 0, 0, 1]),
            media_port: 40_000,
            codecs: DEFAULT_CODECS.to_vec(),
            first_interaction: 1 << 40,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// 200 sent; the interaction starts with the ACK.
    Answered(QueueId),
    /// In the routing core.
    Queued(InteractionId),
}

/// The inbound-call state machine.
pub struct CallFlow {
    cfg: CallFlowConfig,
    calls: HashMap<TxnId, CallState>,
    next_interaction: u64,
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
            session: 1,
            actions: VecDeque::new(),
        }
    }

    /// Calls in progress (answered or queued).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The interaction of a queued call, if it is queued.
    pub fn interaction(&self, txn: TxnId) -> Option<InteractionId> {
        match self.calls.get(&txn) {
            Some(CallState::Queued(i)) => Some(*i),
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

    /// A new INVITE: `body` is its SDP (empty for a late offer).
    pub fn handle_invite(&mut self, txn: TxnId, called: Called, body: &[u8]) {
        let queue = match called {
            Called::Unknown => return self.respond(txn, 404, "Not Found", None),
            // Direct agent calls need outgoing legs (not built yet): "try again later".
            Called::Agent(_) => return self.respond(txn, 480, "Temporarily Unavailable", None),
            Called::Queue(q) => q,
        };
        let local = LocalMedia {
            addr: self.cfg.media_addr,
            port: self.cfg.media_port,
            session_id: self.session,
            version: 1,
        };
        self.session += 1;
        let sdp = if body.iter().all(u8::is_ascii_whitespace) {
            // Late offer (RFC 3261 §13.2.1): our offer goes in the 200, the answer in the ACK.
            sdp::offer(&self.cfg.codecs, false, &local)
        } else {
            sdp::parse_offer(body)
                .and_then(|o| sdp::answer(&o, &self.cfg.codecs, false, &local).map(|(s, _)| s))
        };
        match sdp {
            Ok(sdp) => {
                self.respond(txn, 180, "Ringing", None);
                self.respond(txn, 200, "OK", Some(sdp));
                self.calls.insert(txn, CallState::Answered(queue));
            }
            Err(e) => {
                let code = e.status();
                let reason = if code == 488 {
                    "Not Acceptable Here"
                } else {
                    "Bad Request"
                };
                self.respond(txn, code, reason, None);
            }
        }
    }

    /// The caller's ACK to our 200: the call enters its queue.
    pub fn handle_confirmed(&mut self, txn: TxnId) {
        if let Some(state) = self.calls.get_mut(&txn) {
            if let CallState::Answered(queue) = *state {
                let interaction = InteractionId(self.next_interaction);
                self.next_interaction += 1;
                *state = CallState::Queued(interaction);
                self.actions
                    .push_back(Action::Arrival { interaction, queue });
            }
        }
    }

    /// The caller hung up (BYE) or cancelled; both mean the caller is gone.
    pub fn handle_caller_gone(&mut self, txn: TxnId) {
        if let Some(CallState::Queued(i)) = self.calls.remove(&txn) {
            self.actions.push_back(Action::Abandon(i));
        }
    }

    /// Our 2xx was never acknowledged: the call never started.
    pub fn handle_no_ack(&mut self, txn: TxnId) {
        self.calls.remove(&txn);
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
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), OFFER);
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
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), OFFER);
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
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), OFFER);
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
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), OFFER);
        drain(&mut f);
        f.handle_caller_gone(TxnId(1));
        assert_eq!(drain(&mut f), vec![]);
        assert_eq!(f.call_count(), 0);
    }

    #[test]
    fn offer_without_a_common_codec_gets_488() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        let g729 = b"v=0\r\no=c 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), g729);
        assert_eq!(codes(&drain(&mut f)), vec![488]);
        assert_eq!(f.call_count(), 0);
    }

    #[test]
    fn late_offer_invite_gets_our_offer_in_the_200() {
        let mut f = CallFlow::new(CallFlowConfig::default());
        f.handle_invite(TxnId(1), Called::Queue(QueueId(3)), b"");
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
        f.handle_invite(TxnId(1), Called::Unknown, OFFER);
        assert_eq!(codes(&drain(&mut f)), vec![404]);
    }
}
