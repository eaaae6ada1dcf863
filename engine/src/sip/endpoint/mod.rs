//! The SIP endpoint: one sans-IO object that turns received bytes into verdicts, server
//! transactions, registrar work and answers, and says what to send and when to wake up.
//!
//! Owns the server transaction table (matching per RFC 3261 §17.2.3, timers in a heap), the
//! seeded RNG for tags, the pending-INVITE budget (overload → 503 + Retry-After) and
//! the handling of OPTIONS and of methods acd does not serve, and (in [`legs`]) the outgoing
//! INVITE legs acd places to agents with their client transactions and dialogs, and the BYEs
//! acd sends. It does not own sockets (`runtime::sip_io`), agents ([`Directory`]) or call
//! routing: INVITEs are handed to the TU as [`EndpointEvent::Invite`] and answered through
//! [`Endpoint::respond`]; in-dialog INVITEs (hold, resume) on either side of a call are
//! checked against their dialog (CSeq order, §12.2.2) and handed up as
//! [`EndpointEvent::ReInvite`], answered the same way; legs are placed with
//! [`Endpoint::invite`] and ended with [`Endpoint::end_leg`].

use super::build::{build_response, ResponseEcho};
use super::check::{verdict, Verdict};
use super::header::{parse_cseq, parse_name_addr, parse_vias};
use super::parse::{Framing, HeaderName, Message};
use super::registrar::{Directory, Registrar, RegistrarConfig, RegistrarEvent};
use super::txn::{Reliability, TimerConfig, Transaction, TxnEvent, TxnState};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Instant;

mod legs;
use legs::{ClientTxn, DialogRef, Leg, UasDialog};
pub use legs::{LegId, OutgoingInvite};

/// The transport a message came on or leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP (the io layer reuses the connection to/from that peer).
    Tcp,
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// The encoded message.
    pub bytes: Vec<u8>,
}

/// A server transaction handle given to the TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnId(pub u64);

/// The side of a call an in-dialog request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogSide {
    /// The caller's dialog, by its first INVITE's server transaction.
    Caller(TxnId),
    /// An agent leg.
    Agent(LegId),
}

/// What the endpoint reports upward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// A registration changed (agent availability for the routing core).
    Registrar(RegistrarEvent),
    /// A new INVITE the TU must answer with [`Endpoint::respond`].
    Invite {
        /// The server transaction.
        txn: TxnId,
        /// The Request-URI user part (the called number), if any.
        called: Option<String>,
        /// The From URI's user part (the caller), if any.
        caller: Option<String>,
        /// The request body (the caller's SDP offer, or empty).
        body: Vec<u8>,
        /// Where it came from.
        source: SocketAddr,
    },
    /// An INVITE transaction ended without an ACK to its final response.
    NoAck(TxnId),
    /// The ACK for the 2xx sent on this INVITE arrived: the dialog is confirmed.
    Confirmed(TxnId),
    /// That ACK carried an SDP body: the caller's answer to the offer acd made in its 2xx
    /// (a late-offer INVITE). Reported just before [`EndpointEvent::Confirmed`].
    AckAnswer {
        /// The INVITE's server transaction.
        txn: TxnId,
        /// The SDP answer.
        body: Vec<u8>,
    },
    /// The caller cancelled this INVITE before its final response; the endpoint has already
    /// answered the CANCEL 200 and the INVITE 487.
    Cancelled(TxnId),
    /// The caller hung up the dialog created by a 2xx to this INVITE; the endpoint has already
    /// answered the BYE 200.
    Bye(TxnId),
    /// An outgoing leg got its first ringing/progress response (180/183).
    LegRinging(LegId),
    /// An outgoing leg was answered (2xx); the endpoint has already sent the ACK. `body` is
    /// the answer's SDP.
    LegAnswered {
        /// The leg.
        leg: LegId,
        /// The 2xx body.
        body: Vec<u8>,
    },
    /// An outgoing leg failed before an answer: a final response >= 300, or 408 when timer B
    /// fired. Not reported for legs the TU already ended.
    LegFailed {
        /// The leg.
        leg: LegId,
        /// The final status.
        code: u16,
    },
    /// The agent hung up an answered leg; the endpoint has already answered the BYE 200.
    LegBye(LegId),
    /// An INVITE inside an established dialog (hold, resume, codec change) on either side
    /// of a call: the TU answers it through [`Endpoint::respond`] on `txn` like a first
    /// INVITE (a 2xx's ACK is absorbed, not reported; a 488 leaves the session as it was).
    ReInvite {
        /// The re-INVITE's own server transaction.
        txn: TxnId,
        /// Whose dialog it came in.
        side: DialogSide,
        /// Its SDP offer (empty: the TU offers in the 2xx, the answer comes in the ACK).
        body: Vec<u8>,
    },
}

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// RFC 3261 T1/T2/T4.
    pub timers: TimerConfig,
    /// Registrar settings.
    pub registrar: RegistrarConfig,
    /// INVITEs waiting for a TU answer beyond which new INVITEs get 503.
    pub max_pending_invites: usize,
    /// The Retry-After (seconds) sent with overload 503s.
    pub retry_after_secs: u32,
    /// The Server / User-Agent string.
    pub server: String,
    /// The address acd puts in Via and Contact of the requests it sends (the io layer sets the
    /// bound address; a wildcard bind falls back to loopback).
    pub contact: SocketAddr,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            timers: TimerConfig::default(),
            registrar: RegistrarConfig::default(),
            max_pending_invites: 10_000,
            retry_after_secs: 5,
            server: "acd".to_owned(),
            contact: SocketAddr::from(([127, 0, 0, 1], 5060)),
        }
    }
}

struct ServerTxn {
    txn: Transaction,
    key: String,
    peer: SocketAddr,
    transport: Transport,
    /// INVITE only: what the TU's answers are built from.
    invite: Option<Box<InviteState>>,
    to_tag: String,
    pending: bool,
    /// The earliest heap entry of this transaction (see [`Endpoint::handle_timeout`]).
    scheduled: Option<Instant>,
}

/// What an INVITE server transaction keeps of its request, taken once when it arrives.
struct InviteState {
    echo: ResponseEcho,
    /// The UAS dialog a 2xx creates (taken by the first 2xx).
    dialog: Option<super::dialog::Dialog>,
    /// `Call-ID|CSeq number|From tag`: how the ACK for a 2xx finds this transaction.
    ack_key: Option<String>,
    /// `Call-ID|From tag`: how in-dialog requests (BYE) find the call.
    remote_key: Option<String>,
    /// A re-INVITE: its ACK and a missing ACK are not reported (the session goes on).
    reinvite: bool,
}

/// The methods acd serves (sent in Allow).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER";

/// The sans-IO SIP endpoint.
pub struct Endpoint {
    cfg: EndpointConfig,
    rng: ChaCha8Rng,
    registrar: Registrar,
    txns: HashMap<u64, ServerTxn>,
    by_key: HashMap<String, u64>,
    /// INVITE server transactions in `Accepted` by `Call-ID|CSeq number|From tag`: the ACK for
    /// a 2xx is a new transaction (new branch), so it is matched by dialog instead (§13.3.1.4).
    accepted: HashMap<String, u64>,
    /// Dialogs by `Call-ID|remote tag`: those acd answered 2xx as UAS (to the INVITE's id) and
    /// the legs it placed. A BYE in one of them is answered 200 and reported.
    dialogs: HashMap<String, DialogRef>,
    /// UAS dialogs (by the INVITE's id), kept so acd can send the caller a BYE.
    uas: HashMap<u64, UasDialog>,
    /// Outgoing legs by [`LegId`].
    legs: HashMap<u64, Leg>,
    /// Client transactions by id (ids shared with server transactions for the timer heap).
    ctxns: HashMap<u64, ClientTxn>,
    /// Client transactions by `branch|CSeq method` (§17.1.3 matching).
    client_keys: HashMap<String, u64>,
    /// Legs by their INVITE branch: a 2xx retransmitted after the INVITE transaction ended
    /// is matched here and gets the ACK again.
    leg_branches: HashMap<String, u64>,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    next_id: u64,
    pending_invites: usize,
    transmits: VecDeque<Transmit>,
    events: VecDeque<EndpointEvent>,
}

impl Endpoint {
    /// A new endpoint; `seed` drives tags and the nonce secret, so runs replay from it.
    pub fn new(cfg: EndpointConfig, seed: u64, now: Instant) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let secret: [u8; 32] = rng.gen();
        Endpoint {
            registrar: Registrar::new(cfg.registrar.clone(), secret, now),
            cfg,
            rng,
            txns: HashMap::new(),
            by_key: HashMap::new(),
            accepted: HashMap::new(),
            dialogs: HashMap::new(),
            uas: HashMap::new(),
            legs: HashMap::new(),
            ctxns: HashMap::new(),
            client_keys: HashMap::new(),
            leg_branches: HashMap::new(),
            heap: BinaryHeap::new(),
            next_id: 1,
            pending_invites: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The registrar (bindings, for routing calls to agents).
    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Live server transactions.
    pub fn transaction_count(&self) -> usize {
        self.txns.len()
    }

    /// INVITEs handed to the TU and not yet answered with a final response.
    pub fn pending_invites(&self) -> usize {
        self.pending_invites
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the TU / routing core.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self.heap.peek().map(|Reverse((at, _))| *at);
        match (t, self.registrar.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn tag(&mut self) -> String {
        let v: u64 = self.rng.gen();
        let mut s = String::with_capacity(16);
        let _ = write!(s, "{v:016x}");
        s
    }

    /// Handles one UDP datagram.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        src: SocketAddr,
        buf: &[u8],
        dir: &dyn Directory,
    ) {
        self.handle_framed(now, src, Transport::Udp, buf, Framing::Datagram, dir);
    }

    /// Handles bytes received on a TCP connection; returns how many were consumed (call again
    /// with the rest while it returns > 0). Returns `None` when the stream cannot be framed and
    /// the connection should be closed.
    pub fn handle_stream(
        &mut self,
        now: Instant,
        src: SocketAddr,
        buf: &[u8],
        dir: &dyn Directory,
    ) -> Option<usize> {
        let consumed = match super::parse::parse_stream(buf) {
            Ok(m) => m.consumed,
            Err(super::parse::ParseError::Incomplete) => return Some(0),
            Err(super::parse::ParseError::Empty) => return Some(buf.len()),
            Err(_) => return None,
        };
        self.handle_framed(
            now,
            src,
            Transport::Tcp,
            &buf[..consumed],
            Framing::Stream,
            dir,
        );
        Some(consumed)
    }

    fn send(&mut self, to: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit {
            to,
            transport,
            bytes,
        });
    }

    fn handle_framed(
        &mut self,
        now: Instant,
        src: SocketAddr,
        transport: Transport,
        buf: &[u8],
        framing: Framing,
        dir: &dyn Directory,
    ) {
        match verdict(buf, framing) {
            Verdict::Accept(m) => {
                if m.is_request() {
                    self.handle_request(now, src, transport, &m, dir);
                } else {
                    self.handle_response(now, &m);
                }
            }
            Verdict::Reject { response, .. } => {
                let r = stamp_received(response, src);
                self.send(src, transport, r);
            }
            Verdict::Drop(_) | Verdict::NeedMore => {}
        }
    }

    fn txn_key(m: &Message<'_>) -> Option<String> {
        let via = parse_vias(m.header(HeaderName::Via)?).next()?.ok()?;
        let (_, cseq_method) = parse_cseq(m.header(HeaderName::CSeq)?).ok()?;
        let method = if cseq_method == "ACK" {
            "INVITE"
        } else {
            cseq_method
        };
        let branch = via.branch().unwrap_or("");
        let mut k = String::with_capacity(64);
        if branch.starts_with("z9hG4bK") {
            let _ = write!(k, "{branch}|{}|{:?}|{method}", via.host, via.port);
        } else {
            // RFC 2543 peers: match on the dialog-ish identity (§17.2.3 fallback).
            let from_tag = m
                .header(HeaderName::From)
                .and_then(|f| parse_name_addr(f).ok())
                .and_then(|f| f.tag())
                .unwrap_or("");
            let _ = write!(
                k,
                "2543|{}|{}|{from_tag}|{}|{method}",
                m.header(HeaderName::CallId).unwrap_or(""),
                parse_cseq(m.header(HeaderName::CSeq)?).ok()?.0,
                m.header(HeaderName::Via).unwrap_or("")
            );
        }
        Some(k)
    }

    fn handle_request(
        &mut self,
        now: Instant,
        src: SocketAddr,
        transport: Transport,
        m: &Message<'_>,
        dir: &dyn Directory,
    ) {
        let Some(method) = m.method() else { return };
        let Some(key) = Self::txn_key(m) else { return };
        if let Some(&id) = self.by_key.get(&key) {
            if let Some(st) = self.txns.get_mut(&id) {
                if method == "ACK" {
                    st.txn.handle_ack(now);
                    if let Some(id) = dialog_key(m).and_then(|k| self.accepted.remove(&k)) {
                        self.confirmed(id, m.body);
                    }
                } else {
                    st.txn.handle_retransmission();
                }
                self.flush(now, id);
            }
            return;
        }
        match method {
            "ACK" => {
                // An ACK for a 2xx: stop that 2xx's retransmissions. Unmatched ACKs are absorbed.
                if let Some(id) = dialog_key(m).and_then(|k| self.accepted.remove(&k)) {
                    if let Some(st) = self.txns.get_mut(&id) {
                        st.txn.handle_ack(now);
                    }
                    self.confirmed(id, m.body);
                    self.flush(now, id);
                }
            }
            "REGISTER" => {
                let tag = self.tag();
                let resp = self
                    .registrar
                    .handle_register_over(now, m, src, transport, dir, &tag);
                while let Some(e) = self.registrar.poll_event() {
                    self.events.push_back(EndpointEvent::Registrar(e));
                }
                self.answer_non_invite(now, src, transport, key, resp, tag);
            }
            "OPTIONS" => {
                let tag = self.tag();
                let resp = build_response(
                    m,
                    200,
                    "OK",
                    Some(&tag),
                    &[
                        ("Allow", ALLOW),
                        ("Accept", "application/sdp"),
                        ("Supported", ""),
                        ("Server", &self.cfg.server),
                    ],
                    b"",
                );
                self.answer_non_invite(now, src, transport, key, resp, tag);
            }
            "INVITE" if has_to_tag(m) => self.handle_reinvite(now, src, transport, key, m),
            "INVITE" => {
                let tag = self.tag();
                if self.pending_invites >= self.cfg.max_pending_invites {
                    let ra = self.cfg.retry_after_secs.to_string();
                    let resp = build_response(
                        m,
                        503,
                        "Service Unavailable",
                        Some(&tag),
                        &[("Retry-After", &ra)],
                        b"",
                    );
                    let id = self.new_txn(now, src, transport, key, true, None, tag, false);
                    self.respond_raw(now, id, 503, resp);
                    return;
                }
                let echo = ResponseEcho::of(m);
                let trying = stamp_received(echo.build(100, "Trying", None, &[], b""), src);
                let invite = Box::new(InviteState {
                    echo,
                    dialog: super::dialog::Dialog::uas(m, &tag, true).ok(),
                    ack_key: dialog_key(m),
                    remote_key: remote_dialog_key(m),
                    reinvite: false,
                });
                let id = self.new_txn(now, src, transport, key, true, Some(trying), tag, true);
                if let Some(st) = self.txns.get_mut(&id) {
                    st.invite = Some(invite);
                }
                self.pending_invites += 1;
                let called = m
                    .start_uri()
                    .and_then(|u| super::header::parse_uri(u).ok())
                    .and_then(|u| u.user.map(str::to_owned));
                let caller = m
                    .header(HeaderName::From)
                    .and_then(|f| parse_name_addr(f).ok())
                    .and_then(|n| n.uri.user.map(str::to_owned));
                self.events.push_back(EndpointEvent::Invite {
                    txn: TxnId(id),
                    called,
                    caller,
                    body: m.body.to_vec(),
                    source: src,
                });
                self.flush(now, id);
            }
            "BYE" => {
                let tag = self.tag();
                let dialog = remote_dialog_key(m).and_then(|k| self.dialogs.remove(&k));
                let resp = match dialog {
                    Some(_) => build_response(m, 200, "OK", Some(&tag), &[], b""),
                    None => build_response(
                        m,
                        481,
                        "Call/Transaction Does Not Exist",
                        Some(&tag),
                        &[],
                        b"",
                    ),
                };
                self.answer_non_invite(now, src, transport, key, resp, tag);
                match dialog {
                    Some(DialogRef::Caller(id)) => {
                        self.uas.remove(&id);
                        self.events.push_back(EndpointEvent::Bye(TxnId(id)));
                    }
                    Some(DialogRef::Agent(leg)) if self.legs.contains_key(&leg) => {
                        self.remove_leg(leg);
                        self.events.push_back(EndpointEvent::LegBye(LegId(leg)));
                    }
                    _ => {}
                }
            }
            "CANCEL" => {
                // §9.2: the CANCEL matches the INVITE server transaction with the same branch.
                let invite_key = key
                    .strip_suffix("CANCEL")
                    .map(|k| format!("{k}INVITE"))
                    .and_then(|k| self.by_key.get(&k).copied());
                let tag = self.tag();
                let (code, reason) = match invite_key {
                    Some(_) => (200, "OK"),
                    None => (481, "Call/Transaction Does Not Exist"),
                };
                let resp = build_response(m, code, reason, Some(&tag), &[], b"");
                self.answer_non_invite(now, src, transport, key, resp, tag);
                if let Some(id) = invite_key {
                    let pending = self.txns.get(&id).is_some_and(|st| st.pending);
                    if pending {
                        self.respond(now, TxnId(id), 487, "Request Terminated", &[], b"");
                        self.events.push_back(EndpointEvent::Cancelled(TxnId(id)));
                    }
                }
            }
            _ => {
                let tag = self.tag();
                let resp = build_response(
                    m,
                    501,
                    "Not Implemented",
                    Some(&tag),
                    &[("Allow", ALLOW)],
                    b"",
                );
                self.answer_non_invite(now, src, transport, key, resp, tag);
            }
        }
    }

    /// The ACK for our 2xx to INVITE `id` arrived (with `body`: the answer to an offer we
    /// made in the 2xx). Reported for first INVITEs only.
    fn confirmed(&mut self, id: u64, body: &[u8]) {
        let reinvite = self
            .txns
            .get(&id)
            .and_then(|st| st.invite.as_ref())
            .is_some_and(|i| i.reinvite);
        if !reinvite {
            if !body.iter().all(u8::is_ascii_whitespace) {
                self.events.push_back(EndpointEvent::AckAnswer {
                    txn: TxnId(id),
                    body: body.to_vec(),
                });
            }
            self.events.push_back(EndpointEvent::Confirmed(TxnId(id)));
        }
    }

    /// An INVITE with a To tag: in a dialog we know (caller side or agent leg), a new server
    /// transaction handed to the TU as [`EndpointEvent::ReInvite`]; outside any, `481`; with
    /// a CSeq not above the dialog's last, `500` (§12.2.2).
    fn handle_reinvite(
        &mut self,
        now: Instant,
        src: SocketAddr,
        transport: Transport,
        key: String,
        m: &Message<'_>,
    ) {
        let side = remote_dialog_key(m).and_then(|k| self.dialogs.get(&k).copied());
        // A dialog known without its state (the INVITE had no usable Contact) is not checked.
        let checked = match side {
            Some(DialogRef::Caller(id)) => Some((
                self.uas
                    .get_mut(&id)
                    .map_or(Ok(()), |u| u.dialog.handle_request(m)),
                DialogSide::Caller(TxnId(id)),
            )),
            Some(DialogRef::Agent(leg)) => Some((
                self.leg_dialog_mut(leg)
                    .map_or(Ok(()), |d| d.handle_request(m)),
                DialogSide::Agent(LegId(leg)),
            )),
            None => None,
        };
        let (code, reason) = match checked {
            Some((Ok(()), side)) => {
                let echo = ResponseEcho::of(m);
                let trying = stamp_received(echo.build(100, "Trying", None, &[], b""), src);
                let invite = Box::new(InviteState {
                    echo,
                    dialog: None,
                    ack_key: dialog_key(m),
                    remote_key: None,
                    reinvite: true,
                });
                let id = self.new_txn(
                    now,
                    src,
                    transport,
                    key,
                    true,
                    Some(trying),
                    String::new(),
                    true,
                );
                if let Some(st) = self.txns.get_mut(&id) {
                    st.invite = Some(invite);
                }
                self.pending_invites += 1;
                self.events.push_back(EndpointEvent::ReInvite {
                    txn: TxnId(id),
                    side,
                    body: m.body.to_vec(),
                });
                return self.flush(now, id);
            }
            Some((Err(super::dialog::DialogError::CSeqOutOfOrder), _)) => {
                (500, "Server Internal Error")
            }
            Some((Err(super::dialog::DialogError::Missing(_)), _)) => (400, "Bad Request"),
            _ => (481, "Call/Transaction Does Not Exist"),
        };
        let resp = build_response(m, code, reason, None, &[], b"");
        let id = self.new_txn(now, src, transport, key, true, None, String::new(), false);
        self.respond_raw(now, id, code, resp);
    }

    #[allow(clippy::too_many_arguments)]
    fn new_txn(
        &mut self,
        _now: Instant,
        src: SocketAddr,
        transport: Transport,
        key: String,
        invite: bool,
        trying: Option<Vec<u8>>,
        to_tag: String,
        pending: bool,
    ) -> u64 {
        let rel = match transport {
            Transport::Udp => Reliability::Unreliable,
            Transport::Tcp => Reliability::Reliable,
        };
        let id = self.next_id;
        self.next_id += 1;
        self.by_key.insert(key.clone(), id);
        self.txns.insert(
            id,
            ServerTxn {
                txn: Transaction::server(invite, trying, rel, self.cfg.timers),
                key,
                peer: src,
                transport,
                invite: None,
                to_tag,
                pending,
                scheduled: None,
            },
        );
        id
    }

    fn answer_non_invite(
        &mut self,
        now: Instant,
        src: SocketAddr,
        transport: Transport,
        key: String,
        resp: Vec<u8>,
        tag: String,
    ) {
        let id = self.new_txn(now, src, transport, key, false, None, tag, false);
        let code = status_of(&resp);
        self.respond_raw(now, id, code, resp);
    }

    fn respond_raw(&mut self, now: Instant, id: u64, code: u16, resp: Vec<u8>) {
        if let Some(st) = self.txns.get_mut(&id) {
            let resp = stamp_received(resp, st.peer);
            st.txn.send_response(now, code, resp);
        }
        self.flush(now, id);
    }

    /// The TU answers an INVITE handed out as [`EndpointEvent::Invite`] or
    /// [`EndpointEvent::ReInvite`]. `extra` headers and `body` are added; the To tag is the
    /// transaction's; a 503 gets `Retry-After` (the configured seconds) unless `extra` has
    /// one. Unknown or finished ids are ignored.
    pub fn respond(
        &mut self,
        now: Instant,
        txn: TxnId,
        code: u16,
        reason: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) {
        let Some(st) = self.txns.get_mut(&txn.0) else {
            return;
        };
        let Some(inv) = st.invite.as_mut() else {
            return;
        };
        let tag = if code > 100 {
            Some(st.to_tag.as_str())
        } else {
            None
        };
        // A 1xx with a tag or a 2xx creates a dialog: the peer needs our Contact (§12.1.1).
        let contact;
        let retry_after = self.cfg.retry_after_secs.to_string();
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(extra.len() + 2);
        headers.extend_from_slice(extra);
        if code == 503
            && !extra
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("Retry-After"))
        {
            // A 503 from acd is always temporary (overload, media ports exhausted).
            headers.push(("Retry-After", &retry_after));
        }
        if code > 100 && code < 300 && !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case("Contact"))
        {
            contact = match st.transport {
                Transport::Udp => format!("<sip:acd@{}>", self.cfg.contact),
                Transport::Tcp => format!("<sip:acd@{};transport=tcp>", self.cfg.contact),
            };
            headers.push(("Contact", &contact));
        }
        let resp = inv.echo.build(code, reason, tag, &headers, body);
        let (peer, transport) = (st.peer, st.transport);
        if (200..300).contains(&code) {
            if let Some(k) = inv.ack_key.clone() {
                self.accepted.insert(k, txn.0);
            }
            if let Some(k) = inv.remote_key.take() {
                self.dialogs.insert(k, DialogRef::Caller(txn.0));
            }
            if let Some(dialog) = inv.dialog.take() {
                self.uas.insert(
                    txn.0,
                    UasDialog {
                        dialog,
                        peer,
                        transport,
                    },
                );
            }
        }
        if code >= 200 && st.pending {
            st.pending = false;
            self.pending_invites -= 1;
        }
        self.respond_raw(now, txn.0, code, resp);
    }

    fn flush(&mut self, now: Instant, id: u64) {
        let Some(st) = self.txns.get_mut(&id) else {
            return;
        };
        while let Some(b) = st.txn.poll_transmit() {
            self.transmits.push_back(Transmit {
                to: st.peer,
                transport: st.transport,
                bytes: b,
            });
        }
        let mut no_ack = false;
        while let Some(e) = st.txn.poll_event() {
            no_ack |= e == TxnEvent::NoAck;
        }
        let terminated = st.txn.state() == TxnState::Terminated;
        let reinvite = st.invite.as_ref().is_some_and(|i| i.reinvite);
        let st = if no_ack && !reinvite {
            // §13.3.1.4: a 2xx never acknowledged confirms the dialog, but the session
            // should end: acd sends the caller a BYE (its 200 may have been lost, or the
            // caller is gone) and the TU hears of it.
            self.hangup_caller(now, TxnId(id));
            self.events.push_back(EndpointEvent::NoAck(TxnId(id)));
            let Some(st) = self.txns.get_mut(&id) else {
                return;
            };
            st
        } else {
            st
        };
        if terminated {
            let st = self.txns.remove(&id);
            if let Some(st) = st {
                self.by_key.remove(&st.key);
                if let Some(k) = st.invite.and_then(|i| i.ack_key) {
                    if self.accepted.get(&k) == Some(&id) {
                        self.accepted.remove(&k);
                    }
                }
                if st.pending {
                    self.pending_invites -= 1;
                }
            }
        } else if let Some(at) = st.txn.poll_timeout() {
            let _ = now;
            schedule(&mut self.heap, &mut st.scheduled, at, id);
        }
    }

    /// Fires due transaction timers and binding expiries.
    ///
    /// The heap holds at most one live entry per transaction: the one its `scheduled` names
    /// (an earlier deadline pushes a new entry and makes the old one stale; a later one waits
    /// for the current entry, which then reschedules). Stale entries are skipped.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(ct) = self.ctxns.get_mut(&id) {
                if ct.scheduled == Some(at) {
                    ct.scheduled = None;
                    self.client_timeout(now, id);
                }
                continue;
            }
            let Some(st) = self.txns.get_mut(&id) else {
                continue;
            };
            if st.scheduled != Some(at) {
                continue;
            }
            st.scheduled = None;
            match st.txn.poll_timeout() {
                Some(t) if t <= now => {
                    st.txn.handle_timeout(now);
                    self.flush(now, id);
                }
                Some(t) => schedule(&mut self.heap, &mut st.scheduled, t, id),
                None => {}
            }
        }
        if self.registrar.poll_timeout().is_some_and(|t| t <= now) {
            self.registrar.handle_timeout(now);
            while let Some(e) = self.registrar.poll_event() {
                self.events.push_back(EndpointEvent::Registrar(e));
            }
        }
    }
}

/// Puts transaction `id`'s deadline `at` on the timer heap unless an entry at or before it
/// is there already (`scheduled`).
fn schedule(
    heap: &mut BinaryHeap<Reverse<(Instant, u64)>>,
    scheduled: &mut Option<Instant>,
    at: Instant,
    id: u64,
) {
    if scheduled.is_none_or(|s| at < s) {
        heap.push(Reverse((at, id)));
        *scheduled = Some(at);
    }
}

fn dialog_key(m: &Message<'_>) -> Option<String> {
    let from_tag = parse_name_addr(m.header(HeaderName::From)?)
        .ok()?
        .tag()?
        .to_owned();
    let (seq, _) = parse_cseq(m.header(HeaderName::CSeq)?).ok()?;
    Some(format!(
        "{}|{seq}|{from_tag}",
        m.header(HeaderName::CallId)?
    ))
}

/// `Call-ID|From tag` of a request from the remote party: the dialog it belongs to.
fn remote_dialog_key(m: &Message<'_>) -> Option<String> {
    let from_tag = parse_name_addr(m.header(HeaderName::From)?).ok()?.tag()?;
    Some(format!("{}|{from_tag}", m.header(HeaderName::CallId)?))
}

fn has_to_tag(m: &Message<'_>) -> bool {
    m.header(HeaderName::To)
        .and_then(|t| parse_name_addr(t).ok())
        .is_some_and(|t| t.tag().is_some())
}

fn status_of(resp: &[u8]) -> u16 {
    resp.get(8..11)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .unwrap_or(500)
}

/// RFC 3581 / RFC 3261 §18.2.1: record where the request really came from in the top Via of
/// the response (`received=`, and `rport=` when the client asked for it).
pub fn stamp_received(resp: Vec<u8>, src: SocketAddr) -> Vec<u8> {
    let Some(start) = find(&resp, b"\r\nVia: ") else {
        return resp;
    };
    let vstart = start + 7;
    let Some(len) = find(&resp[vstart..], b"\r\n") else {
        return resp;
    };
    let value = match std::str::from_utf8(&resp[vstart..vstart + len]) {
        Ok(v) => v,
        Err(_) => return resp,
    };
    // Only the first element of a comma list is ours to stamp.
    let first_len = value.find(',').unwrap_or(value.len());
    let first = &value[..first_len];
    let Some(Ok(via)) = parse_vias(first).next() else {
        return resp;
    };
    let ip = src.ip().to_string();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let mut stamped = String::with_capacity(first.len() + 40);
    let rport_valueless = via.param("rport") == Some(None);
    if rport_valueless {
        // Replace the valueless rport with rport=<port>.
        let mut done = false;
        for (i, p) in first.split(';').enumerate() {
            if i > 0 {
                stamped.push(';');
            }
            if !done && p.trim().eq_ignore_ascii_case("rport") {
                let _ = write!(stamped, "rport={}", src.port());
                done = true;
            } else {
                stamped.push_str(p);
            }
        }
    } else {
        stamped.push_str(first);
    }
    if (host != ip || rport_valueless) && via.param("received").is_none() {
        let _ = write!(stamped, ";received={ip}");
    }
    if stamped == first {
        return resp;
    }
    let mut out = Vec::with_capacity(resp.len() + 40);
    out.extend_from_slice(&resp[..vstart]);
    out.extend_from_slice(stamped.as_bytes());
    out.extend_from_slice(&resp[vstart + first_len..]);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::{parse, StartLine};
    use std::collections::HashMap;
    use std::time::Duration;

    fn src() -> SocketAddr {
        "127.0.0.1:5070".parse().unwrap()
    }

    fn invite(branch: &str) -> Vec<u8> {
        format!(
            "INVITE sip:500@acd SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch}\r\n\
             From: <sip:c@x>;tag=1\r\nTo: <sip:500@acd>\r\nCall-ID: {branch}\r\nCSeq: 1 INVITE\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn codes(ep: &mut Endpoint) -> Vec<u16> {
        let mut v = Vec::new();
        while let Some(t) = ep.poll_transmit() {
            let m = parse(&t.bytes).unwrap();
            if let StartLine::Response { code, .. } = m.start {
                v.push(code.parse().unwrap());
            }
        }
        v
    }

    fn dir() -> HashMap<String, crate::sip::registrar::SipAgent> {
        HashMap::new()
    }

    #[test]
    fn invite_is_answered_100_and_handed_to_the_tu() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &invite("a"), &dir());
        assert_eq!(codes(&mut ep), vec![100]);
        let Some(EndpointEvent::Invite { txn, called, .. }) = ep.poll_event() else {
            panic!("no invite event")
        };
        assert_eq!(called.as_deref(), Some("500"));
        assert_eq!(ep.pending_invites(), 1);
        ep.respond(now, txn, 486, "Busy Here", &[], b"");
        assert_eq!(codes(&mut ep), vec![486]);
        assert_eq!(ep.pending_invites(), 0);
    }

    #[test]
    fn retransmitted_invite_is_absorbed_not_handed_up_twice() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &invite("a"), &dir());
        ep.handle_datagram(
            now + Duration::from_millis(500),
            src(),
            &invite("a"),
            &dir(),
        );
        assert_eq!(codes(&mut ep), vec![100, 100]);
        assert!(matches!(
            ep.poll_event(),
            Some(EndpointEvent::Invite { .. })
        ));
        assert_eq!(ep.poll_event(), None);
    }

    #[test]
    fn saturated_pending_invites_get_503_with_retry_after() {
        let now = Instant::now();
        let cfg = EndpointConfig {
            max_pending_invites: 1,
            ..EndpointConfig::default()
        };
        let mut ep = Endpoint::new(cfg, 1, now);
        ep.handle_datagram(now, src(), &invite("a"), &dir());
        ep.handle_datagram(now, src(), &invite("b"), &dir());
        let mut out = Vec::new();
        while let Some(t) = ep.poll_transmit() {
            out.push(t.bytes);
        }
        let last = parse(out.last().unwrap()).unwrap();
        assert!(matches!(
            last.start,
            StartLine::Response { code: "503", .. }
        ));
        assert_eq!(last.other_header("Retry-After"), Some("5"));
        // The call already accepted is untouched: still pending for the TU.
        assert_eq!(ep.pending_invites(), 1);
    }

    #[test]
    fn final_to_invite_is_retransmitted_until_ack_in_virtual_time() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &invite("a"), &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!()
        };
        ep.respond(now, txn, 480, "Temporarily Unavailable", &[], b"");
        codes(&mut ep);
        let t1 = ep.poll_timeout().unwrap();
        ep.handle_timeout(t1);
        assert_eq!(codes(&mut ep), vec![480], "timer G retransmits");
        let ack = String::from_utf8(invite("a"))
            .unwrap()
            .replace("INVITE sip", "ACK sip")
            .replace("1 INVITE", "1 ACK");
        ep.handle_datagram(t1, src(), ack.as_bytes(), &dir());
        assert_eq!(
            ep.transaction_count(),
            1,
            "confirmed, absorbing ACKs for timer I"
        );
        while let Some(t) = ep.poll_timeout() {
            ep.handle_timeout(t);
        }
        assert_eq!(
            codes(&mut ep),
            Vec::<u16>::new(),
            "no retransmission after the ACK"
        );
        assert_eq!(ep.transaction_count(), 0);
    }

    #[test]
    fn ack_for_2xx_with_a_new_branch_stops_retransmission() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &invite("a"), &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!()
        };
        ep.respond(now, txn, 200, "OK", &[], b"");
        codes(&mut ep);
        let ack = String::from_utf8(invite("a"))
            .unwrap()
            .replace("INVITE sip", "ACK sip")
            .replace("1 INVITE", "1 ACK")
            .replace("branch=z9hG4bKa", "branch=z9hG4bKnew");
        ep.handle_datagram(
            now + Duration::from_millis(10),
            src(),
            ack.as_bytes(),
            &dir(),
        );
        assert_eq!(
            ep.transaction_count(),
            0,
            "the 2xx transaction ended on its ACK"
        );
        while let Some(t) = ep.poll_timeout() {
            ep.handle_timeout(t);
        }
        assert_eq!(codes(&mut ep), Vec::<u16>::new());
        assert!(
            !std::iter::from_fn(|| ep.poll_event()).any(|e| matches!(e, EndpointEvent::NoAck(_)))
        );
    }

    #[test]
    fn a_transaction_keeps_one_live_timer_entry_however_often_it_is_flushed() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &invite("h"), &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!()
        };
        for _ in 0..20 {
            ep.respond(now, txn, 180, "Ringing", &[], b"");
            // Retransmissions of the INVITE are absorbed, each flushing the transaction.
            ep.handle_datagram(now, src(), &invite("h"), &dir());
        }
        assert!(ep.heap.len() <= 2, "heap grew to {}", ep.heap.len());
        ep.respond(now, txn, 486, "Busy Here", &[], b"");
        // The 486 is retransmitted until the ACK or Timer H, then the transaction ends.
        while let Some(t) = ep.poll_timeout() {
            ep.handle_timeout(t);
        }
        assert!(ep.txns.is_empty());
        assert!(ep.heap.is_empty());
    }

    #[test]
    fn unanswered_2xx_reports_no_ack_after_timer_h() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let with_contact = String::from_utf8(invite("a")).unwrap().replace(
            "Max-Forwards",
            "Contact: <sip:c@127.0.0.1:5070>\r\nMax-Forwards",
        );
        ep.handle_datagram(now, src(), with_contact.as_bytes(), &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!()
        };
        ep.respond(now, txn, 200, "OK", &[], b"");
        codes(&mut ep);
        while let Some(t) = ep.poll_timeout() {
            ep.handle_timeout(t);
        }
        let (mut oks, mut byes) = (0, 0);
        while let Some(t) = ep.poll_transmit() {
            match parse(&t.bytes).unwrap().start {
                StartLine::Response { code: "200", .. } => oks += 1,
                StartLine::Request { method: "BYE", .. } => byes += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(oks, 10, "2xx retransmitted on the G schedule until H");
        assert!(byes >= 1, "the session is ended with a BYE (§13.3.1.4)");
        assert_eq!(ep.poll_event(), Some(EndpointEvent::NoAck(txn)));
    }

    #[test]
    fn unknown_method_gets_501_with_allow() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let m = String::from_utf8(invite("x"))
            .unwrap()
            .replace("INVITE", "PUBLISH");
        ep.handle_datagram(now, src(), m.as_bytes(), &dir());
        let t = ep.poll_transmit().unwrap();
        let r = parse(&t.bytes).unwrap();
        assert!(matches!(r.start, StartLine::Response { code: "501", .. }));
        assert_eq!(r.header(HeaderName::Allow), Some(ALLOW));
    }

    #[test]
    fn same_seed_gives_same_tags() {
        let now = Instant::now();
        let run = || {
            let mut ep = Endpoint::new(EndpointConfig::default(), 42, now);
            let m = String::from_utf8(invite("x"))
                .unwrap()
                .replace("INVITE", "OPTIONS");
            ep.handle_datagram(now, src(), m.as_bytes(), &dir());
            ep.poll_transmit().unwrap().bytes
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn received_is_added_when_the_source_differs_from_sent_by() {
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n".to_vec();
        let out = stamp_received(resp, "192.0.2.7:4000".parse().unwrap());
        let m = parse(&out).unwrap();
        assert_eq!(
            m.header(HeaderName::Via),
            Some("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;received=192.0.2.7")
        );
    }

    fn answered(ep: &mut Endpoint, now: Instant, branch: &str) -> TxnId {
        ep.handle_datagram(now, src(), &invite(branch), &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!("no invite event")
        };
        ep.respond(now, txn, 200, "OK", &[], b"");
        codes(ep);
        txn
    }

    fn in_dialog(method: &str, branch: &str, call_id: &str) -> Vec<u8> {
        format!(
            "{method} sip:500@acd SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch}\r\n\
             From: <sip:c@x>;tag=1\r\nTo: <sip:500@acd>;tag=t\r\nCall-ID: {call_id}\r\nCSeq: 2 {method}\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn answer_to_an_invite_carries_our_contact() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &invite("a"), &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!("no invite event")
        };
        ep.poll_transmit();
        ep.respond(now, txn, 200, "OK", &[], b"");
        let t = ep.poll_transmit().unwrap();
        let m = parse(&t.bytes).unwrap();
        assert_eq!(
            m.header(HeaderName::Contact),
            Some("<sip:acd@127.0.0.1:5060>")
        );
    }

    const HOLD: &[u8] = b"v=0\r\no=c 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";

    fn with_body(req: Vec<u8>, body: &[u8]) -> Vec<u8> {
        let mut r = String::from_utf8(req).unwrap().replace(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
        );
        r.push_str(std::str::from_utf8(body).unwrap());
        r.into_bytes()
    }

    #[test]
    fn re_invite_in_an_answered_dialog_is_handed_to_the_tu_and_answered_through_respond() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let call = answered(&mut ep, now, "a");
        while ep.poll_event().is_some() {}
        ep.handle_datagram(
            now,
            src(),
            &with_body(in_dialog("INVITE", "re", "a"), HOLD),
            &dir(),
        );
        assert_eq!(codes(&mut ep), vec![100]);
        let Some(EndpointEvent::ReInvite { txn, side, body }) = ep.poll_event() else {
            panic!("re-INVITE reported")
        };
        assert_eq!(side, DialogSide::Caller(call));
        assert_eq!(body, HOLD);
        assert_ne!(txn, call, "a transaction of its own");
        ep.respond(now, txn, 200, "OK", &[], b"v=0\r\n");
        assert_eq!(codes(&mut ep), vec![200]);
        assert_eq!(ep.pending_invites(), 0);
        // Its ACK ends the transaction and is not a new call's confirmation.
        ep.handle_datagram(now, src(), &in_dialog("ACK", "reack", "a"), &dir());
        assert_eq!(ep.poll_event(), None);
        // The call's dialog is still there: a BYE ends it.
        ep.handle_datagram(now, src(), &in_dialog("BYE", "bye", "a"), &dir());
        assert_eq!(codes(&mut ep), vec![200]);
        assert_eq!(ep.poll_event(), Some(EndpointEvent::Bye(call)));
    }

    #[test]
    fn declined_re_invite_leaves_the_dialog_as_it_was() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let call = answered(&mut ep, now, "a");
        while ep.poll_event().is_some() {}
        ep.handle_datagram(now, src(), &in_dialog("INVITE", "re", "a"), &dir());
        codes(&mut ep);
        let Some(EndpointEvent::ReInvite { txn, .. }) = ep.poll_event() else {
            panic!("re-INVITE reported")
        };
        ep.respond(now, txn, 488, "Not Acceptable Here", &[], b"");
        assert_eq!(codes(&mut ep), vec![488]);
        ep.handle_datagram(now, src(), &in_dialog("BYE", "bye", "a"), &dir());
        assert_eq!(codes(&mut ep), vec![200]);
        assert_eq!(ep.poll_event(), Some(EndpointEvent::Bye(call)));
    }

    #[test]
    fn re_invite_with_an_old_cseq_gets_500() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let with_contact = String::from_utf8(invite("a")).unwrap().replace(
            "Max-Forwards",
            "Contact: <sip:c@127.0.0.1:5070>\r\nMax-Forwards",
        );
        ep.handle_datagram(now, src(), with_contact.as_bytes(), &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!()
        };
        ep.respond(now, txn, 200, "OK", &[], b"");
        let ok = std::iter::from_fn(|| ep.poll_transmit()).last().unwrap();
        let to = parse(&ok.bytes)
            .unwrap()
            .header(HeaderName::To)
            .unwrap()
            .to_owned();
        // CSeq 1 again, in the dialog (our To tag): out of order.
        let stale = String::from_utf8(invite("stale"))
            .unwrap()
            .replace("To: <sip:500@acd>", &format!("To: {to}"))
            .replace("Call-ID: stale", "Call-ID: a");
        ep.handle_datagram(now, src(), stale.as_bytes(), &dir());
        assert_eq!(codes(&mut ep), vec![500]);
        assert!(!std::iter::from_fn(|| ep.poll_event())
            .any(|e| matches!(e, EndpointEvent::ReInvite { .. })));
    }

    #[test]
    fn a_503_from_the_tu_carries_retry_after() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &invite("a"), &dir());
        ep.poll_transmit();
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!()
        };
        ep.respond(now, txn, 503, "Service Unavailable", &[], b"");
        let t = ep.poll_transmit().unwrap();
        let m = parse(&t.bytes).unwrap();
        assert!(matches!(m.start, StartLine::Response { code: "503", .. }));
        assert_eq!(m.other_header("Retry-After"), Some("5"));
    }

    #[test]
    fn invite_with_a_to_tag_outside_any_dialog_gets_481() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &in_dialog("INVITE", "x", "nodialog"), &dir());
        assert_eq!(codes(&mut ep), vec![481]);
        assert_eq!(ep.poll_event(), None);
    }

    #[test]
    fn ack_for_2xx_reports_the_dialog_confirmed() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let txn = answered(&mut ep, now, "a");
        let ack = String::from_utf8(invite("a"))
            .unwrap()
            .replace("INVITE sip", "ACK sip")
            .replace("1 INVITE", "1 ACK")
            .replace("z9hG4bKa", "z9hG4bKack");
        ep.handle_datagram(now, src(), ack.as_bytes(), &dir());
        assert_eq!(ep.poll_event(), Some(EndpointEvent::Confirmed(txn)));
    }

    #[test]
    fn ack_with_an_answer_reports_it_before_the_confirmation() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let txn = answered(&mut ep, now, "a");
        let ack = with_body(
            String::from_utf8(invite("a"))
                .unwrap()
                .replace("INVITE sip", "ACK sip")
                .replace("1 INVITE", "1 ACK")
                .replace("z9hG4bKa", "z9hG4bKack")
                .into_bytes(),
            HOLD,
        );
        ep.handle_datagram(now, src(), &ack, &dir());
        assert_eq!(
            ep.poll_event(),
            Some(EndpointEvent::AckAnswer {
                txn,
                body: HOLD.to_vec()
            })
        );
        assert_eq!(ep.poll_event(), Some(EndpointEvent::Confirmed(txn)));
    }

    #[test]
    fn bye_in_an_answered_dialog_gets_200_and_is_reported() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let txn = answered(&mut ep, now, "a");
        ep.handle_datagram(now, src(), &in_dialog("BYE", "bye", "a"), &dir());
        assert_eq!(codes(&mut ep), vec![200]);
        assert_eq!(ep.poll_event(), Some(EndpointEvent::Bye(txn)));
    }

    #[test]
    fn bye_outside_any_dialog_gets_481() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &in_dialog("BYE", "bye", "nope"), &dir());
        assert_eq!(codes(&mut ep), vec![481]);
        assert_eq!(ep.poll_event(), None);
    }

    #[test]
    fn cancel_of_a_pending_invite_gets_200_and_the_invite_487() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        ep.handle_datagram(now, src(), &invite("a"), &dir());
        codes(&mut ep);
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!("no invite event")
        };
        let cancel = String::from_utf8(invite("a"))
            .unwrap()
            .replace("INVITE sip", "CANCEL sip")
            .replace("1 INVITE", "1 CANCEL");
        ep.handle_datagram(now, src(), cancel.as_bytes(), &dir());
        assert_eq!(codes(&mut ep), vec![200, 487]);
        assert_eq!(ep.poll_event(), Some(EndpointEvent::Cancelled(txn)));
        assert_eq!(ep.pending_invites(), 0);
    }

    #[test]
    fn cancel_matching_no_invite_gets_481() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let cancel = String::from_utf8(invite("a"))
            .unwrap()
            .replace("INVITE sip", "CANCEL sip")
            .replace("1 INVITE", "1 CANCEL");
        ep.handle_datagram(now, src(), cancel.as_bytes(), &dir());
        assert_eq!(codes(&mut ep), vec![481]);
    }
}
