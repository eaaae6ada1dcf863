//! RFC 3261 §17 transactions: INVITE and non-INVITE, client and server, as sans-IO state
//! machines with timers A–K held as data.
//!
//! Owns retransmission, absorption of retransmitted requests, and the transaction lifetime.
//! It does not own matching (see [`TxnKey`], used by the endpoint's table), message contents
//! beyond the bytes it retransmits, or dialogs. Time only enters through `now` arguments.
//!
//! Deviation, on purpose: a server INVITE transaction that sends a 2xx enters `Accepted`
//! (RFC 6026) and retransmits the 2xx on the timer-G schedule until the ACK arrives or timer H
//! fires, instead of handing 2xx retransmission to the TU as RFC 3261 §13.3.1.4 does; the
//! schedule is the same, and keeping it here keeps the UAS core free of timers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// RFC 3261 timers, named as in §17 and table 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SipTimer {
    /// INVITE client: request retransmission (unreliable transports).
    A,
    /// INVITE client: transaction timeout.
    B,
    /// INVITE client: wait time for response retransmissions after a non-2xx final.
    D,
    /// Non-INVITE client: request retransmission.
    E,
    /// Non-INVITE client: transaction timeout.
    F,
    /// INVITE server: final response retransmission.
    G,
    /// INVITE server: wait time for the ACK.
    H,
    /// INVITE server: wait time for ACK retransmissions.
    I,
    /// Non-INVITE server: wait time for request retransmissions.
    J,
    /// Non-INVITE client: wait time for response retransmissions.
    K,
}

impl SipTimer {
    const ALL: [SipTimer; 10] = [
        SipTimer::A,
        SipTimer::B,
        SipTimer::D,
        SipTimer::E,
        SipTimer::F,
        SipTimer::G,
        SipTimer::H,
        SipTimer::I,
        SipTimer::J,
        SipTimer::K,
    ];

    fn idx(self) -> usize {
        SipTimer::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// The RFC 3261 timer base values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum duration a message remains in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Whether the transport retransmits for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    /// UDP: the transaction retransmits.
    Unreliable,
    /// TCP: no retransmission, zero-length wait timers.
    Reliable,
}

/// Transaction states (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2, RFC 6026 `Accepted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// INVITE client before any response.
    Calling,
    /// Non-INVITE client or server before any response.
    Trying,
    /// A provisional response was received or sent.
    Proceeding,
    /// A final response was received or sent; absorbing retransmissions.
    Completed,
    /// INVITE server: 2xx sent, waiting for the ACK.
    Accepted,
    /// INVITE server: ACK received after a non-2xx; absorbing ACK retransmissions.
    Confirmed,
    /// Done; the transaction can be removed.
    Terminated,
}

/// What a transaction reports to its user (the TU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnEvent {
    /// Client: a response the TU must see (first provisional of each code, every final, every 2xx).
    Response(u16),
    /// Client: timer B or F fired without a final response (treat as 408).
    Timeout,
    /// Server INVITE: timer H fired without an ACK.
    NoAck,
    /// Server INVITE: the ACK for the 2xx or non-2xx arrived.
    Acked,
    /// The transaction reached `Terminated`.
    Terminated,
}

/// The transaction kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    /// INVITE client transaction.
    ClientInvite,
    /// Non-INVITE client transaction.
    ClientNonInvite,
    /// INVITE server transaction.
    ServerInvite,
    /// Non-INVITE server transaction.
    ServerNonInvite,
}

/// The key matching messages to transactions (§17.1.3, §17.2.3): the top Via branch, its
/// sent-by, and the method (ACK maps to INVITE for server matching of non-2xx ACKs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxnKey {
    /// Branch parameter of the top Via.
    pub branch: String,
    /// sent-by host:port of the top Via (server side; empty on the client side).
    pub sent_by: String,
    /// The CSeq method (INVITE for ACK).
    pub method: String,
}

/// One transaction. Build with [`Transaction::client`] or [`Transaction::server`].
#[derive(Debug)]
pub struct Transaction {
    kind: TxnKind,
    state: TxnState,
    rel: Reliability,
    cfg: TimerConfig,
    timers: [Option<Instant>; 10],
    /// Current retransmit interval for A, E or G.
    interval: Duration,
    /// The request (client) or the last response sent (server): what retransmissions resend.
    last: Vec<u8>,
    /// Client INVITE: the ACK for a non-2xx final, resent on retransmitted finals.
    ack: Option<Vec<u8>>,
    /// The codes already reported to the TU (1xx only reported once per code).
    seen_provisional: u16,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<TxnEvent>,
}

impl Transaction {
    /// Starts a client transaction sending `request` now.
    pub fn client(
        now: Instant,
        invite: bool,
        request: Vec<u8>,
        rel: Reliability,
        cfg: TimerConfig,
    ) -> Self {
        let mut t = Transaction {
            kind: if invite {
                TxnKind::ClientInvite
            } else {
                TxnKind::ClientNonInvite
            },
            state: if invite {
                TxnState::Calling
            } else {
                TxnState::Trying
            },
            rel,
            cfg,
            timers: [None; 10],
            interval: cfg.t1,
            last: request,
            ack: None,
            seen_provisional: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        t.transmits.push_back(t.last.clone());
        let (retrans, timeout) = if invite {
            (SipTimer::A, SipTimer::B)
        } else {
            (SipTimer::E, SipTimer::F)
        };
        if rel == Reliability::Unreliable {
            t.set(retrans, now + cfg.t1);
        }
        t.set(timeout, now + cfg.t1 * 64);
        t
    }

    /// Starts a server transaction for a received request. INVITE transactions send
    /// `trying` (a 100 built by the caller) at once, as §17.2.1 allows.
    pub fn server(
        invite: bool,
        trying: Option<Vec<u8>>,
        rel: Reliability,
        cfg: TimerConfig,
    ) -> Self {
        let mut t = Transaction {
            kind: if invite {
                TxnKind::ServerInvite
            } else {
                TxnKind::ServerNonInvite
            },
            state: if invite {
                TxnState::Proceeding
            } else {
                TxnState::Trying
            },
            rel,
            cfg,
            timers: [None; 10],
            interval: cfg.t1,
            last: Vec::new(),
            ack: None,
            seen_provisional: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        if let Some(b) = trying {
            t.last = b.clone();
            t.transmits.push_back(b);
        }
        t
    }

    /// The transaction kind.
    pub fn kind(&self) -> TxnKind {
        self.kind
    }

    /// The current state.
    pub fn state(&self) -> TxnState {
        self.state
    }

    /// Whether a timer is armed (for tests and diagnostics).
    pub fn timer(&self, t: SipTimer) -> Option<Instant> {
        self.timers[t.idx()]
    }

    fn set(&mut self, t: SipTimer, at: Instant) {
        self.timers[t.idx()] = Some(at);
    }

    fn clear(&mut self, t: SipTimer) {
        self.timers[t.idx()] = None;
    }

    fn terminate(&mut self) {
        self.state = TxnState::Terminated;
        self.timers = [None; 10];
        self.events.push_back(TxnEvent::Terminated);
    }

    fn wait(&self, unreliable: Duration) -> Duration {
        match self.rel {
            Reliability::Unreliable => unreliable,
            Reliability::Reliable => Duration::ZERO,
        }
    }

    /// The earliest armed timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    /// Bytes to send to the peer, oldest first.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// Events for the TU, oldest first.
    pub fn poll_event(&mut self) -> Option<TxnEvent> {
        self.events.pop_front()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for t in SipTimer::ALL {
            if self.timers[t.idx()].is_some_and(|at| at <= now) {
                self.clear(t);
                self.fire(now, t);
            }
        }
    }

    fn fire(&mut self, now: Instant, t: SipTimer) {
        match (t, self.state) {
            (SipTimer::A, TxnState::Calling) => {
                self.transmits.push_back(self.last.clone());
                self.interval *= 2;
                self.set(SipTimer::A, now + self.interval);
            }
            (SipTimer::B, TxnState::Calling)
            | (SipTimer::F, TxnState::Trying | TxnState::Proceeding) => {
                self.events.push_back(TxnEvent::Timeout);
                self.terminate();
            }
            (SipTimer::E, TxnState::Trying | TxnState::Proceeding) => {
                self.transmits.push_back(self.last.clone());
                self.interval = if self.state == TxnState::Trying {
                    (self.interval * 2).min(self.cfg.t2)
                } else {
                    self.cfg.t2
                };
                self.set(SipTimer::E, now + self.interval);
            }
            (SipTimer::G, TxnState::Completed | TxnState::Accepted) => {
                self.transmits.push_back(self.last.clone());
                self.interval = (self.interval * 2).min(self.cfg.t2);
                self.set(SipTimer::G, now + self.interval);
            }
            (SipTimer::H, TxnState::Completed | TxnState::Accepted) => {
                self.events.push_back(TxnEvent::NoAck);
                self.terminate();
            }
            (SipTimer::D, TxnState::Completed)
            | (SipTimer::K, TxnState::Completed)
            | (SipTimer::J, TxnState::Completed)
            | (SipTimer::I, TxnState::Confirmed) => self.terminate(),
            _ => {}
        }
    }

    /// Client: a response matched this transaction. `ack` builds the ACK for a non-2xx final
    /// to an INVITE (called once; its bytes are resent on retransmitted finals).
    pub fn handle_response(&mut self, now: Instant, code: u16, ack: impl FnOnce() -> Vec<u8>) {
        let provisional = code < 200;
        match (self.kind, self.state) {
            (TxnKind::ClientInvite, TxnState::Calling | TxnState::Proceeding) => {
                if provisional {
                    self.clear(SipTimer::A);
                    self.clear(SipTimer::B);
                    self.state = TxnState::Proceeding;
                    self.report_provisional(code);
                } else if code < 300 {
                    // 2xx: the TU (dialog) acknowledges; the transaction ends at once.
                    self.events.push_back(TxnEvent::Response(code));
                    self.terminate();
                } else {
                    let a = ack();
                    self.transmits.push_back(a.clone());
                    self.ack = Some(a);
                    self.events.push_back(TxnEvent::Response(code));
                    self.timers = [None; 10];
                    self.state = TxnState::Completed;
                    let d = self.wait(Duration::from_secs(32));
                    self.set(SipTimer::D, now + d);
                    if d.is_zero() {
                        self.handle_timeout(now);
                    }
                }
            }
            (TxnKind::ClientInvite, TxnState::Completed) if !provisional && code >= 300 => {
                // A retransmitted final: resend the ACK, tell nobody.
                if let Some(a) = &self.ack {
                    self.transmits.push_back(a.clone());
                }
            }
            (TxnKind::ClientNonInvite, TxnState::Trying | TxnState::Proceeding) => {
                if provisional {
                    self.state = TxnState::Proceeding;
                    self.report_provisional(code);
                } else {
                    self.events.push_back(TxnEvent::Response(code));
                    self.timers = [None; 10];
                    self.state = TxnState::Completed;
                    let k = self.wait(self.cfg.t4);
                    self.set(SipTimer::K, now + k);
                    if k.is_zero() {
                        self.handle_timeout(now);
                    }
                }
            }
            _ => {}
        }
    }

    fn report_provisional(&mut self, code: u16) {
        let bit = 1u16 << (code % 16);
        if code == 100 {
            return;
        }
        if self.seen_provisional & bit == 0 {
            self.seen_provisional |= bit;
            self.events.push_back(TxnEvent::Response(code));
        }
    }

    /// Server: the same request arrived again (a retransmission): resend the last response.
    pub fn handle_retransmission(&mut self) {
        match self.state {
            TxnState::Proceeding | TxnState::Completed | TxnState::Accepted
                if !self.last.is_empty() =>
            {
                self.transmits.push_back(self.last.clone());
            }
            _ => {}
        }
    }

    /// Server INVITE: an ACK matched this transaction (non-2xx by branch, 2xx by dialog).
    pub fn handle_ack(&mut self, now: Instant) {
        if self.kind != TxnKind::ServerInvite {
            return;
        }
        match self.state {
            TxnState::Completed => {
                self.timers = [None; 10];
                self.state = TxnState::Confirmed;
                self.events.push_back(TxnEvent::Acked);
                let i = self.wait(self.cfg.t4);
                self.set(SipTimer::I, now + i);
                if i.is_zero() {
                    self.handle_timeout(now);
                }
            }
            TxnState::Accepted => {
                self.events.push_back(TxnEvent::Acked);
                self.terminate();
            }
            _ => {}
        }
    }

    /// Server: the TU sends a response with status `code`.
    pub fn send_response(&mut self, now: Instant, code: u16, bytes: Vec<u8>) {
        if matches!(
            self.state,
            TxnState::Completed | TxnState::Confirmed | TxnState::Terminated | TxnState::Accepted
        ) {
            return;
        }
        self.transmits.push_back(bytes.clone());
        self.last = bytes;
        if code < 200 {
            self.state = TxnState::Proceeding;
            return;
        }
        match self.kind {
            TxnKind::ServerInvite => {
                self.state = if code < 300 {
                    TxnState::Accepted
                } else {
                    TxnState::Completed
                };
                self.interval = self.cfg.t1;
                if self.rel == Reliability::Unreliable {
                    self.set(SipTimer::G, now + self.cfg.t1);
                }
                self.set(SipTimer::H, now + self.cfg.t1 * 64);
            }
            TxnKind::ServerNonInvite => {
                self.state = TxnState::Completed;
                let j = self.wait(self.cfg.t1 * 64);
                self.set(SipTimer::J, now + j);
                if j.is_zero() {
                    self.handle_timeout(now);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(t: &mut Transaction, until: Instant) -> (Vec<Instant>, Vec<TxnEvent>) {
        // Virtual time: jump from timeout to timeout, never sleeping.
        let mut sends = Vec::new();
        let mut events = Vec::new();
        while let Some(at) = t.poll_timeout() {
            if at > until {
                break;
            }
            t.handle_timeout(at);
            while t.poll_transmit().is_some() {
                sends.push(at);
            }
            while let Some(e) = t.poll_event() {
                events.push(e);
            }
        }
        (sends, events)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn invite_client_timer_a_doubles_until_timer_b() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            true,
            b"INVITE".to_vec(),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        assert!(t.poll_transmit().is_some());
        let (sends, events) = drive(&mut t, t0 + Duration::from_secs(60));
        let offsets: Vec<u64> = sends.iter().map(|s| (*s - t0).as_millis() as u64).collect();
        assert_eq!(offsets, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(events, vec![TxnEvent::Timeout, TxnEvent::Terminated]);
        assert_eq!(t.state(), TxnState::Terminated);
    }

    #[test]
    fn invite_client_over_tcp_never_retransmits() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            true,
            b"INVITE".to_vec(),
            Reliability::Reliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        assert_eq!(t.timer(SipTimer::A), None);
        let (sends, events) = drive(&mut t, t0 + Duration::from_secs(60));
        assert!(sends.is_empty());
        assert_eq!(events[0], TxnEvent::Timeout);
    }

    #[test]
    fn invite_client_provisional_stops_retransmission() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            true,
            b"INVITE".to_vec(),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        t.handle_response(t0 + ms(100), 180, Vec::new);
        assert_eq!(t.state(), TxnState::Proceeding);
        assert_eq!(t.poll_event(), Some(TxnEvent::Response(180)));
        assert_eq!(t.poll_timeout(), None);
        t.handle_response(t0 + ms(150), 180, Vec::new);
        assert_eq!(t.poll_event(), None, "a repeated 180 is reported once");
    }

    #[test]
    fn invite_client_non2xx_acks_and_timer_d_absorbs_retransmissions() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            true,
            b"INVITE".to_vec(),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        t.handle_response(t0 + ms(10), 486, || b"ACK".to_vec());
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"ACK"[..]));
        assert_eq!(t.poll_event(), Some(TxnEvent::Response(486)));
        assert_eq!(
            t.timer(SipTimer::D),
            Some(t0 + ms(10) + Duration::from_secs(32))
        );
        t.handle_response(t0 + ms(600), 486, || panic!("ACK is built once"));
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"ACK"[..]));
        assert_eq!(
            t.poll_event(),
            None,
            "a retransmitted final is not reported again"
        );
        let (_, ev) = drive(&mut t, t0 + Duration::from_secs(40));
        assert_eq!(ev, vec![TxnEvent::Terminated]);
    }

    #[test]
    fn invite_client_2xx_terminates_at_once() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            true,
            b"INVITE".to_vec(),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        t.handle_response(t0, 200, Vec::new);
        assert_eq!(t.poll_event(), Some(TxnEvent::Response(200)));
        assert_eq!(t.state(), TxnState::Terminated);
    }

    #[test]
    fn non_invite_client_timer_e_caps_at_t2_then_timer_f() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            false,
            b"OPTIONS".to_vec(),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        let (sends, events) = drive(&mut t, t0 + Duration::from_secs(60));
        let offsets: Vec<u64> = sends.iter().map(|s| (*s - t0).as_millis() as u64).collect();
        assert_eq!(
            offsets,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(events, vec![TxnEvent::Timeout, TxnEvent::Terminated]);
    }

    #[test]
    fn non_invite_client_proceeding_retransmits_every_t2() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            false,
            b"BYE".to_vec(),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        t.handle_response(t0 + ms(100), 180, Vec::new);
        let (sends, _) = drive(&mut t, t0 + ms(9000));
        let offsets: Vec<u64> = sends.iter().map(|s| (*s - t0).as_millis() as u64).collect();
        assert_eq!(offsets, vec![500, 4500, 8500]);
    }

    #[test]
    fn non_invite_client_final_then_timer_k() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            false,
            b"BYE".to_vec(),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        t.handle_response(t0 + ms(100), 200, Vec::new);
        assert_eq!(t.poll_event(), Some(TxnEvent::Response(200)));
        assert_eq!(t.timer(SipTimer::K), Some(t0 + ms(5100)));
        let (_, ev) = drive(&mut t, t0 + Duration::from_secs(10));
        assert_eq!(ev, vec![TxnEvent::Terminated]);
    }

    #[test]
    fn non_invite_client_over_tcp_terminates_on_final() {
        let t0 = Instant::now();
        let mut t = Transaction::client(
            t0,
            false,
            b"BYE".to_vec(),
            Reliability::Reliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        t.handle_response(t0, 200, Vec::new);
        assert_eq!(t.state(), TxnState::Terminated);
    }

    #[test]
    fn invite_server_non2xx_timer_g_then_timer_h_without_ack() {
        let t0 = Instant::now();
        let mut t = Transaction::server(
            true,
            Some(b"100".to_vec()),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"100"[..]));
        t.send_response(t0, 486, b"486".to_vec());
        t.poll_transmit();
        let (sends, events) = drive(&mut t, t0 + Duration::from_secs(60));
        let offsets: Vec<u64> = sends.iter().map(|s| (*s - t0).as_millis() as u64).collect();
        assert_eq!(
            offsets,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(events, vec![TxnEvent::NoAck, TxnEvent::Terminated]);
    }

    #[test]
    fn invite_server_ack_confirms_and_timer_i_ends() {
        let t0 = Instant::now();
        let mut t =
            Transaction::server(true, None, Reliability::Unreliable, TimerConfig::default());
        t.send_response(t0, 404, b"404".to_vec());
        t.poll_transmit();
        t.handle_ack(t0 + ms(200));
        assert_eq!(t.state(), TxnState::Confirmed);
        assert_eq!(t.poll_event(), Some(TxnEvent::Acked));
        assert_eq!(t.timer(SipTimer::I), Some(t0 + ms(5200)));
        assert_eq!(t.timer(SipTimer::G), None);
        let (sends, ev) = drive(&mut t, t0 + Duration::from_secs(10));
        assert!(sends.is_empty());
        assert_eq!(ev, vec![TxnEvent::Terminated]);
    }

    #[test]
    fn invite_server_absorbs_retransmitted_invite_by_resending_last_response() {
        let mut t = Transaction::server(
            true,
            Some(b"100".to_vec()),
            Reliability::Unreliable,
            TimerConfig::default(),
        );
        t.poll_transmit();
        t.send_response(Instant::now(), 180, b"180".to_vec());
        t.poll_transmit();
        t.handle_retransmission();
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"180"[..]));
        assert_eq!(t.poll_event(), None);
    }

    #[test]
    fn invite_server_2xx_is_retransmitted_until_ack() {
        let t0 = Instant::now();
        let mut t =
            Transaction::server(true, None, Reliability::Unreliable, TimerConfig::default());
        t.send_response(t0, 200, b"200".to_vec());
        t.poll_transmit();
        assert_eq!(t.state(), TxnState::Accepted);
        let (sends, _) = drive(&mut t, t0 + ms(2000));
        assert_eq!(sends.len(), 2);
        t.handle_ack(t0 + ms(2100));
        assert_eq!(t.poll_event(), Some(TxnEvent::Acked));
        assert_eq!(t.state(), TxnState::Terminated);
    }

    #[test]
    fn non_invite_server_absorbs_retransmissions_and_timer_j_ends() {
        let t0 = Instant::now();
        let mut t =
            Transaction::server(false, None, Reliability::Unreliable, TimerConfig::default());
        t.handle_retransmission();
        assert_eq!(t.poll_transmit(), None, "nothing to resend in Trying");
        t.send_response(t0, 200, b"200".to_vec());
        t.poll_transmit();
        t.handle_retransmission();
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"200"[..]));
        assert_eq!(t.timer(SipTimer::J), Some(t0 + Duration::from_secs(32)));
        let (_, ev) = drive(&mut t, t0 + Duration::from_secs(40));
        assert_eq!(ev, vec![TxnEvent::Terminated]);
    }

    #[test]
    fn non_invite_server_over_tcp_terminates_on_final() {
        let mut t = Transaction::server(false, None, Reliability::Reliable, TimerConfig::default());
        t.send_response(Instant::now(), 200, b"200".to_vec());
        assert_eq!(t.state(), TxnState::Terminated);
    }
}
