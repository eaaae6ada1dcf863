//! Outgoing legs: the INVITEs acd places to agents (acd as UAC), their client transactions
//! (§17.1), the dialogs their 2xx create (§12.1.2), CANCEL (§9.1), and the BYEs acd sends on
//! either side of a call.
//!
//! Owns the leg table, client transaction matching (top Via branch + CSeq method, §17.1.3),
//! the ACK for a 2xx (sent at once: acd always takes the answer) and its resending when the 2xx
//! is retransmitted, and the rule for ending a leg in each state: before any provisional the
//! CANCEL waits for one (§9.1), an early leg is CANCELled, an answered one gets a BYE, and a
//! 2xx that crosses a CANCEL is acknowledged and hung up. It does not decide which agent rings
//! or when (the TU does) and does not pick leg ids (the TU does, so it needs no round trip).
//!
//! In-dialog requests to an agent go to the address its registration is reached at (the
//! binding's target, which already follows the agent's NAT setting), not to a host named in
//! its Contact: the same path the INVITE took.

use super::{Endpoint, EndpointEvent, Transmit, Transport, TxnId};
use crate::sip::dialog::Dialog;
use crate::sip::header::{parse_cseq, parse_vias};
use crate::sip::parse::{HeaderName, Message, StartLine};
use crate::sip::txn::{Reliability, Transaction, TxnEvent, TxnState};
use rand::Rng;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Instant;

/// An outgoing leg, named by the TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

/// An INVITE for the endpoint to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingInvite {
    /// The TU's name for the leg; reused ids of live legs are ignored.
    pub leg: LegId,
    /// Where to send it (a registered binding's target).
    pub target: SocketAddr,
    /// The transport.
    pub transport: Transport,
    /// The Request-URI (the registered Contact URI).
    pub request_uri: String,
    /// The To URI (the agent's address of record, e.g. `sip:1001@acd`).
    pub to_uri: String,
    /// The caller's number, shown to the agent in From.
    pub from_user: String,
    /// The SDP offer.
    pub sdp: Vec<u8>,
    /// Extra headers (e.g. `Call-Info` for auto-answer).
    pub headers: Vec<(String, String)>,
}

/// Which side a dialog in the endpoint's table belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DialogRef {
    /// A caller's dialog, by its INVITE server transaction id.
    Caller(u64),
    /// An agent leg, by leg id.
    Agent(u64),
}

/// A UAS dialog (caller side), for the BYE acd may send.
pub(super) struct UasDialog {
    pub(super) dialog: Dialog,
    pub(super) peer: SocketAddr,
    pub(super) transport: Transport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// INVITE sent, no provisional yet.
    Calling,
    /// A provisional arrived: CANCEL may be sent.
    Early,
    /// 2xx received and acknowledged.
    Confirmed,
}

/// One outgoing leg.
pub(super) struct Leg {
    target: SocketAddr,
    transport: Transport,
    request_uri: String,
    from: String,
    to: String,
    call_id: String,
    branch: String,
    phase: Phase,
    /// The TU ended the leg: it hears nothing more about it.
    ended: bool,
    dialog: Option<Dialog>,
    ack: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invite,
    Cancel,
    Bye,
}

/// A client transaction.
pub(super) struct ClientTxn {
    txn: Transaction,
    kind: Kind,
    /// The leg it serves, if any (a BYE to a caller has none).
    leg: Option<u64>,
    to: SocketAddr,
    transport: Transport,
    key: String,
    /// INVITE only: what the ACK for a non-2xx final is built from.
    ack_base: Option<AckBase>,
    /// The earliest heap entry of this transaction (see [`Endpoint::handle_timeout`]).
    pub(super) scheduled: Option<Instant>,
}

/// The INVITE's fields an ACK for a non-2xx copies (§17.1.1.3).
struct AckBase {
    request_uri: String,
    via: String,
    from: String,
    call_id: String,
}

fn via_value(contact: SocketAddr, transport: Transport, branch: &str) -> String {
    let t = match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    };
    format!("SIP/2.0/{t} {contact};branch={branch};rport")
}

fn contact_value(contact: SocketAddr, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:acd@{contact}>"),
        Transport::Tcp => format!("<sip:acd@{contact};transport=tcp>"),
    }
}

fn reliability(t: Transport) -> Reliability {
    match t {
        Transport::Udp => Reliability::Unreliable,
        Transport::Tcp => Reliability::Reliable,
    }
}

impl Endpoint {
    fn branch(&mut self) -> String {
        let v: u64 = self.rng.gen();
        let mut s = String::with_capacity(24);
        let _ = write!(s, "z9hG4bK{v:016x}");
        s
    }

    /// Outgoing legs alive (ringing or answered).
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// UAS dialogs alive (answered callers).
    pub fn caller_dialog_count(&self) -> usize {
        self.uas.len()
    }

    /// Places an outgoing INVITE. Its outcome is reported as [`EndpointEvent::LegRinging`],
    /// [`EndpointEvent::LegAnswered`], [`EndpointEvent::LegFailed`] or
    /// [`EndpointEvent::LegBye`].
    pub fn invite(&mut self, now: Instant, req: OutgoingInvite) {
        if self.legs.contains_key(&req.leg.0) {
            return;
        }
        let branch = self.branch();
        let tag = self.tag();
        let call_id = {
            let v: u64 = self.rng.gen();
            format!("{v:016x}@{}", self.cfg.contact.ip())
        };
        let via = via_value(self.cfg.contact, req.transport, &branch);
        let contact = contact_value(self.cfg.contact, req.transport);
        let from = format!(
            "<sip:{}@{}>;tag={tag}",
            req.from_user,
            self.cfg.contact.ip()
        );
        let to = format!("<{}>", req.to_uri);
        let mut b = crate::sip::build::RequestBuilder::new("INVITE", &req.request_uri)
            .header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", &from)
            .header("To", &to)
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", &contact)
            .header("Allow", super::ALLOW)
            .header("User-Agent", &self.cfg.server);
        for (n, v) in &req.headers {
            b = b.header(n, v);
        }
        let bytes = b.header("Content-Type", "application/sdp").body(&req.sdp);
        let id = self.next_id;
        self.next_id += 1;
        let key = format!("{branch}|INVITE");
        self.client_keys.insert(key.clone(), id);
        self.leg_branches.insert(branch.clone(), req.leg.0);
        self.ctxns.insert(
            id,
            ClientTxn {
                scheduled: None,
                txn: Transaction::client(
                    now,
                    true,
                    bytes,
                    reliability(req.transport),
                    self.cfg.timers,
                ),
                kind: Kind::Invite,
                leg: Some(req.leg.0),
                to: req.target,
                transport: req.transport,
                key,
                ack_base: Some(AckBase {
                    request_uri: req.request_uri.clone(),
                    via,
                    from: from.clone(),
                    call_id: call_id.clone(),
                }),
            },
        );
        self.legs.insert(
            req.leg.0,
            Leg {
                target: req.target,
                transport: req.transport,
                request_uri: req.request_uri,
                from,
                to,
                call_id,
                branch,
                phase: Phase::Calling,
                ended: false,
                dialog: None,
                ack: None,
            },
        );
        self.flush_client(now, id);
    }

    /// Ends a leg, whatever its state: an answered leg gets a BYE, a ringing one a CANCEL
    /// (sent when its first provisional arrives if none has yet). The TU hears nothing more
    /// about it. Unknown legs are ignored.
    pub fn end_leg(&mut self, now: Instant, leg: LegId) {
        let Some(l) = self.legs.get_mut(&leg.0) else {
            return;
        };
        l.ended = true;
        match l.phase {
            Phase::Calling => {}
            Phase::Early => self.send_cancel(now, leg.0),
            Phase::Confirmed => self.send_leg_bye(now, leg.0),
        }
    }

    /// Hangs up an answered caller (acd sends the BYE). Unknown or ended dialogs are ignored.
    pub fn hangup_caller(&mut self, now: Instant, txn: TxnId) {
        let Some(mut u) = self.uas.remove(&txn.0) else {
            return;
        };
        let d = &u.dialog.id;
        self.dialogs
            .remove(&format!("{}|{}", d.call_id, d.remote_tag));
        let branch = self.branch();
        let via = via_value(self.cfg.contact, u.transport, &branch);
        let contact = contact_value(self.cfg.contact, u.transport);
        let bytes = u.dialog.request("BYE", &via, &contact, None);
        self.start_client(now, Kind::Bye, None, u.peer, u.transport, &branch, bytes);
    }

    #[allow(clippy::too_many_arguments)]
    fn start_client(
        &mut self,
        now: Instant,
        kind: Kind,
        leg: Option<u64>,
        to: SocketAddr,
        transport: Transport,
        branch: &str,
        bytes: Vec<u8>,
    ) {
        let method = match kind {
            Kind::Invite => "INVITE",
            Kind::Cancel => "CANCEL",
            Kind::Bye => "BYE",
        };
        let id = self.next_id;
        self.next_id += 1;
        let key = format!("{branch}|{method}");
        self.client_keys.insert(key.clone(), id);
        self.ctxns.insert(
            id,
            ClientTxn {
                scheduled: None,
                txn: Transaction::client(
                    now,
                    false,
                    bytes,
                    reliability(transport),
                    self.cfg.timers,
                ),
                kind,
                leg,
                to,
                transport,
                key,
                ack_base: None,
            },
        );
        self.flush_client(now, id);
    }

    fn send_cancel(&mut self, now: Instant, leg: u64) {
        let Some(l) = self.legs.get(&leg) else { return };
        // §9.1: same Request-URI, Call-ID, From, To (no tag), CSeq number and top Via.
        let via = via_value(self.cfg.contact, l.transport, &l.branch);
        let bytes = crate::sip::build::RequestBuilder::new("CANCEL", &l.request_uri)
            .header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", &l.from)
            .header("To", &l.to)
            .header("Call-ID", &l.call_id)
            .header("CSeq", "1 CANCEL")
            .body(b"");
        let (target, transport, branch) = (l.target, l.transport, l.branch.clone());
        self.start_client(
            now,
            Kind::Cancel,
            Some(leg),
            target,
            transport,
            &branch,
            bytes,
        );
    }

    fn send_leg_bye(&mut self, now: Instant, leg: u64) {
        let branch = self.branch();
        let contact = self.cfg.contact;
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let Some(d) = l.dialog.as_mut() else { return };
        let via = via_value(contact, l.transport, &branch);
        let bytes = d.request("BYE", &via, &contact_value(contact, l.transport), None);
        let (target, transport) = (l.target, l.transport);
        let key = format!("{}|{}", d.id.call_id, d.id.remote_tag);
        self.dialogs.remove(&key);
        self.start_client(now, Kind::Bye, Some(leg), target, transport, &branch, bytes);
    }

    /// The dialog of an answered leg (in-dialog requests from the agent are checked in it).
    pub(super) fn leg_dialog_mut(&mut self, leg: u64) -> Option<&mut Dialog> {
        self.legs.get_mut(&leg)?.dialog.as_mut()
    }

    pub(super) fn remove_leg(&mut self, leg: u64) {
        if let Some(l) = self.legs.remove(&leg) {
            self.leg_branches.remove(&l.branch);
            if let Some(d) = &l.dialog {
                self.dialogs
                    .remove(&format!("{}|{}", d.id.call_id, d.id.remote_tag));
            }
        }
    }

    /// A response arrived: match it to a client transaction.
    pub(super) fn handle_response(&mut self, now: Instant, m: &Message<'_>) {
        let StartLine::Response { code, .. } = m.start else {
            return;
        };
        let Some(code) = code.parse::<u16>().ok() else {
            return;
        };
        let Some(Ok(via)) = m.header(HeaderName::Via).and_then(|v| parse_vias(v).next()) else {
            return;
        };
        let Some(branch) = via.branch() else { return };
        let Some((_, method)) = m.header(HeaderName::CSeq).and_then(|c| parse_cseq(c).ok()) else {
            return;
        };
        let key = format!("{branch}|{method}");
        let Some(&id) = self.client_keys.get(&key) else {
            // A 2xx retransmitted after the INVITE transaction ended: ACK it again.
            if method == "INVITE" && (200..300).contains(&code) {
                if let Some(l) = self.leg_branches.get(branch).and_then(|l| self.legs.get(l)) {
                    if let Some(ack) = l.ack.clone() {
                        let (to, transport) = (l.target, l.transport);
                        self.push(to, transport, ack);
                    }
                }
            }
            return;
        };
        let Some(ct) = self.ctxns.get_mut(&id) else {
            return;
        };
        let ack_base = ct.ack_base.as_ref();
        ct.txn.handle_response(now, code, || {
            let b = ack_base.expect("INVITE transactions keep their ACK base");
            crate::sip::build::RequestBuilder::new("ACK", &b.request_uri)
                .header("Via", &b.via)
                .header("Max-Forwards", "70")
                .header("From", &b.from)
                .header("To", m.header(HeaderName::To).unwrap_or(""))
                .header("Call-ID", &b.call_id)
                .header("CSeq", "1 ACK")
                .body(b"")
        });
        let (kind, leg) = (ct.kind, ct.leg);
        let mut reported = Vec::new();
        while let Some(e) = ct.txn.poll_event() {
            reported.push(e);
        }
        self.flush_client(now, id);
        for e in reported {
            match (kind, e, leg) {
                (Kind::Invite, TxnEvent::Response(c), Some(leg)) => {
                    self.leg_response(now, leg, c, m)
                }
                (Kind::Invite, TxnEvent::Timeout, Some(leg)) => self.leg_failed(leg, 408),
                (Kind::Bye, TxnEvent::Response(c), Some(leg)) if c >= 200 => self.remove_leg(leg),
                _ => {}
            }
        }
    }

    fn leg_response(&mut self, now: Instant, leg: u64, code: u16, m: &Message<'_>) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        match code {
            101..=199 => {
                if l.phase != Phase::Calling {
                    return;
                }
                l.phase = Phase::Early;
                if l.ended {
                    self.send_cancel(now, leg);
                } else {
                    self.events.push_back(EndpointEvent::LegRinging(LegId(leg)));
                }
            }
            200..=299 => {
                if l.phase == Phase::Confirmed {
                    return;
                }
                let request = crate::sip::build::RequestBuilder::new("INVITE", &l.request_uri)
                    .header("From", &l.from)
                    .header("To", &l.to)
                    .header("Call-ID", &l.call_id)
                    .header("CSeq", "1 INVITE")
                    .body(b"");
                let Ok(req) = crate::sip::parse::parse(&request) else {
                    return;
                };
                let dialog = match Dialog::uac(&req, m, code) {
                    Ok(d) => d,
                    Err(_) => {
                        // No usable dialog (no To tag or Contact): nothing to ACK or BYE in.
                        let ended = l.ended;
                        self.remove_leg(leg);
                        if !ended {
                            self.events.push_back(EndpointEvent::LegFailed {
                                leg: LegId(leg),
                                code: 502,
                            });
                        }
                        return;
                    }
                };
                let branch = {
                    let v: u64 = self.rng.gen();
                    format!("z9hG4bK{v:016x}")
                };
                let Some(l) = self.legs.get_mut(&leg) else {
                    return;
                };
                let mut dialog = dialog;
                let via = via_value(self.cfg.contact, l.transport, &branch);
                let ack = dialog.request(
                    "ACK",
                    &via,
                    &contact_value(self.cfg.contact, l.transport),
                    None,
                );
                let key = format!("{}|{}", dialog.id.call_id, dialog.id.remote_tag);
                l.dialog = Some(dialog);
                l.ack = Some(ack.clone());
                l.phase = Phase::Confirmed;
                let (to, transport, ended) = (l.target, l.transport, l.ended);
                self.push(to, transport, ack);
                self.dialogs.insert(key, DialogRef::Agent(leg));
                if ended {
                    // The answer crossed our CANCEL (or came after the TU gave up): hang up.
                    self.send_leg_bye(now, leg);
                } else {
                    self.events.push_back(EndpointEvent::LegAnswered {
                        leg: LegId(leg),
                        body: m.body.to_vec(),
                    });
                }
            }
            _ => self.leg_failed(leg, code),
        }
    }

    fn leg_failed(&mut self, leg: u64, code: u16) {
        let Some(l) = self.legs.get(&leg) else { return };
        if l.phase == Phase::Confirmed {
            return;
        }
        let ended = l.ended;
        self.remove_leg(leg);
        if !ended {
            self.events.push_back(EndpointEvent::LegFailed {
                leg: LegId(leg),
                code,
            });
        }
    }

    fn push(&mut self, to: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit {
            to,
            transport,
            bytes,
        });
    }

    pub(super) fn client_timeout(&mut self, now: Instant, id: u64) {
        let Some(ct) = self.ctxns.get_mut(&id) else {
            return;
        };
        if ct.txn.poll_timeout().is_none_or(|t| t > now) {
            // Not due (the deadline moved later): wait for the real one.
            if let Some(at) = ct.txn.poll_timeout() {
                super::schedule(&mut self.heap, &mut ct.scheduled, at, id);
            }
            return;
        }
        ct.txn.handle_timeout(now);
        let (kind, leg) = (ct.kind, ct.leg);
        let mut timed_out = false;
        while let Some(e) = ct.txn.poll_event() {
            timed_out |= e == TxnEvent::Timeout;
        }
        self.flush_client(now, id);
        if timed_out {
            match (kind, leg) {
                (Kind::Invite, Some(leg)) => self.leg_failed(leg, 408),
                // No answer to our BYE: the dialog is over for us anyway.
                (Kind::Bye, Some(leg)) => self.remove_leg(leg),
                _ => {}
            }
        }
    }

    fn flush_client(&mut self, _now: Instant, id: u64) {
        let Some(ct) = self.ctxns.get_mut(&id) else {
            return;
        };
        while let Some(b) = ct.txn.poll_transmit() {
            self.transmits.push_back(Transmit {
                to: ct.to,
                transport: ct.transport,
                bytes: b,
            });
        }
        if ct.txn.state() == TxnState::Terminated {
            if let Some(ct) = self.ctxns.remove(&id) {
                self.client_keys.remove(&ct.key);
            }
        } else if let Some(at) = ct.txn.poll_timeout() {
            super::schedule(&mut self.heap, &mut ct.scheduled, at, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::build::build_response;
    use crate::sip::endpoint::EndpointConfig;
    use crate::sip::parse::parse;
    use std::collections::HashMap;
    use std::time::Duration;

    fn agent() -> SocketAddr {
        "127.0.0.1:6001".parse().unwrap()
    }

    fn dir() -> HashMap<String, crate::sip::registrar::SipAgent> {
        HashMap::new()
    }

    fn place(ep: &mut Endpoint, now: Instant, leg: u64) {
        ep.invite(
            now,
            OutgoingInvite {
                leg: LegId(leg),
                target: agent(),
                transport: Transport::Udp,
                request_uri: "sip:1001@127.0.0.1:6001".into(),
                to_uri: "sip:1001@acd".into(),
                from_user: "5551234".into(),
                sdp: b"v=0\r\n".to_vec(),
                headers: vec![],
            },
        );
    }

    fn sent(ep: &mut Endpoint) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| ep.poll_transmit())
            .map(|t| t.bytes)
            .collect()
    }

    fn methods(msgs: &[Vec<u8>]) -> Vec<String> {
        msgs.iter()
            .map(|b| {
                let m = parse(b).unwrap();
                match m.start {
                    StartLine::Request { method, .. } => method.to_owned(),
                    StartLine::Response { code, .. } => code.to_owned(),
                    _ => "?".to_owned(),
                }
            })
            .collect()
    }

    fn events(ep: &mut Endpoint) -> Vec<EndpointEvent> {
        std::iter::from_fn(|| ep.poll_event()).collect()
    }

    /// The agent's response to one of our requests, with the agent's tag and Contact.
    fn reply(req: &[u8], code: u16, body: &[u8]) -> Vec<u8> {
        let m = parse(req).unwrap();
        build_response(
            &m,
            code,
            "X",
            Some("agenttag"),
            &[("Contact", "<sip:1001@127.0.0.1:6001>")],
            body,
        )
    }

    /// A caller's INVITE (from 127.0.0.1:5070, Call-ID `call-c1`, tag `ctag`).
    const CALLER_INVITE: &[u8] =
        b"INVITE sip:500@acd SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1\r\n\
        From: <sip:c@x>;tag=ctag\r\nTo: <sip:500@acd>\r\nCall-ID: call-c1\r\nCSeq: 1 INVITE\r\n\
        Contact: <sip:c@127.0.0.1:5070>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    /// The agent's BYE in the dialog of the leg placed with `invite`.
    fn agent_bye(invite: &[u8]) -> Vec<u8> {
        let inv = parse(invite).unwrap();
        format!(
            "BYE sip:acd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKagentbye\r\n\
             From: <sip:1001@acd>;tag=agenttag\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 7 BYE\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            inv.header(HeaderName::From).unwrap(),
            inv.header(HeaderName::CallId).unwrap()
        )
        .into_bytes()
    }

    fn answered(ep: &mut Endpoint, now: Instant) -> Vec<u8> {
        place(ep, now, 1);
        let invite = sent(ep).remove(0);
        ep.handle_datagram(now, agent(), &reply(&invite, 180, b""), &dir());
        ep.handle_datagram(now, agent(), &reply(&invite, 200, b"v=0\r\n"), &dir());
        invite
    }

    #[test]
    fn invite_goes_to_the_target_with_our_via_contact_and_sdp() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        place(&mut ep, now, 1);
        let t = ep.poll_transmit().unwrap();
        assert_eq!(t.to, agent());
        let m = parse(&t.bytes).unwrap();
        assert_eq!(m.start_uri(), Some("sip:1001@127.0.0.1:6001"));
        assert!(m
            .header(HeaderName::Via)
            .unwrap()
            .contains("127.0.0.1:5060;branch=z9hG4bK"));
        assert!(m
            .header(HeaderName::From)
            .unwrap()
            .starts_with("<sip:5551234@"));
        assert_eq!(m.body, b"v=0\r\n");
        assert_eq!(ep.leg_count(), 1);
    }

    #[test]
    fn unanswered_invite_is_retransmitted_on_timer_a() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        place(&mut ep, now, 1);
        sent(&mut ep);
        ep.handle_timeout(now + Duration::from_millis(500));
        assert_eq!(methods(&sent(&mut ep)), vec!["INVITE"]);
    }

    #[test]
    fn no_response_fails_the_leg_with_408_after_timer_b() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        place(&mut ep, now, 1);
        let mut t = now;
        while t < now + Duration::from_secs(33) {
            t += Duration::from_millis(500);
            ep.handle_timeout(t);
        }
        assert_eq!(
            events(&mut ep),
            vec![EndpointEvent::LegFailed {
                leg: LegId(1),
                code: 408
            }]
        );
        assert_eq!(ep.leg_count(), 0);
    }

    #[test]
    fn ringing_then_200_is_acked_and_reported_with_the_answer_sdp() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        answered(&mut ep, now);
        assert_eq!(methods(&sent(&mut ep)), vec!["ACK"]);
        assert_eq!(
            events(&mut ep),
            vec![
                EndpointEvent::LegRinging(LegId(1)),
                EndpointEvent::LegAnswered {
                    leg: LegId(1),
                    body: b"v=0\r\n".to_vec()
                }
            ]
        );
    }

    #[test]
    fn retransmitted_200_is_acked_again_and_not_reported_twice() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let invite = answered(&mut ep, now);
        sent(&mut ep);
        events(&mut ep);
        ep.handle_datagram(now, agent(), &reply(&invite, 200, b"v=0\r\n"), &dir());
        assert_eq!(methods(&sent(&mut ep)), vec!["ACK"]);
        assert_eq!(events(&mut ep), vec![]);
    }

    #[test]
    fn busy_answer_fails_the_leg_and_is_acked() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        place(&mut ep, now, 1);
        let invite = sent(&mut ep).remove(0);
        ep.handle_datagram(now, agent(), &reply(&invite, 486, b""), &dir());
        let acks = sent(&mut ep);
        assert_eq!(methods(&acks), vec!["ACK"]);
        let ack = parse(&acks[0]).unwrap();
        assert_eq!(ack.header(HeaderName::CSeq), Some("1 ACK"));
        assert!(ack.header(HeaderName::To).unwrap().contains("tag=agenttag"));
        assert_eq!(
            events(&mut ep),
            vec![EndpointEvent::LegFailed {
                leg: LegId(1),
                code: 486
            }]
        );
        assert_eq!(ep.leg_count(), 0);
    }

    #[test]
    fn ending_a_ringing_leg_sends_cancel_and_its_487_is_silent() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        place(&mut ep, now, 1);
        let invite = sent(&mut ep).remove(0);
        ep.handle_datagram(now, agent(), &reply(&invite, 180, b""), &dir());
        events(&mut ep);
        ep.end_leg(now, LegId(1));
        let out = sent(&mut ep);
        assert_eq!(methods(&out), vec!["CANCEL"]);
        let cancel = parse(&out[0]).unwrap();
        let inv = parse(&invite).unwrap();
        assert_eq!(cancel.header(HeaderName::Via), inv.header(HeaderName::Via));
        assert_eq!(cancel.header(HeaderName::CSeq), Some("1 CANCEL"));
        ep.handle_datagram(now, agent(), &reply(&out[0], 200, b""), &dir());
        ep.handle_datagram(now, agent(), &reply(&invite, 487, b""), &dir());
        assert_eq!(methods(&sent(&mut ep)), vec!["ACK"]);
        assert_eq!(events(&mut ep), vec![]);
        assert_eq!(ep.leg_count(), 0);
    }

    #[test]
    fn ending_a_leg_before_any_provisional_cancels_when_one_arrives() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        place(&mut ep, now, 1);
        let invite = sent(&mut ep).remove(0);
        ep.end_leg(now, LegId(1));
        assert_eq!(methods(&sent(&mut ep)), Vec::<String>::new());
        ep.handle_datagram(now, agent(), &reply(&invite, 180, b""), &dir());
        assert_eq!(methods(&sent(&mut ep)), vec!["CANCEL"]);
        assert_eq!(events(&mut ep), vec![]);
    }

    #[test]
    fn answer_crossing_a_cancel_is_acked_then_hung_up() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        place(&mut ep, now, 1);
        let invite = sent(&mut ep).remove(0);
        ep.handle_datagram(now, agent(), &reply(&invite, 180, b""), &dir());
        ep.end_leg(now, LegId(1));
        sent(&mut ep);
        events(&mut ep);
        ep.handle_datagram(now, agent(), &reply(&invite, 200, b""), &dir());
        assert_eq!(methods(&sent(&mut ep)), vec!["ACK", "BYE"]);
        assert_eq!(events(&mut ep), vec![]);
    }

    #[test]
    fn ending_an_answered_leg_sends_bye_and_its_200_frees_the_leg() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        answered(&mut ep, now);
        sent(&mut ep);
        ep.end_leg(now, LegId(1));
        let out = sent(&mut ep);
        assert_eq!(methods(&out), vec!["BYE"]);
        let bye = parse(&out[0]).unwrap();
        assert_eq!(bye.start_uri(), Some("sip:1001@127.0.0.1:6001"));
        assert!(bye.header(HeaderName::To).unwrap().contains("tag=agenttag"));
        assert_eq!(bye.header(HeaderName::CSeq), Some("2 BYE"));
        ep.handle_datagram(now, agent(), &reply(&out[0], 200, b""), &dir());
        assert_eq!(ep.leg_count(), 0);
    }

    #[test]
    fn bye_from_the_agent_is_answered_and_reported() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let invite = answered(&mut ep, now);
        sent(&mut ep);
        events(&mut ep);
        ep.handle_datagram(now, agent(), &agent_bye(&invite), &dir());
        assert_eq!(methods(&sent(&mut ep)), vec!["200"]);
        assert_eq!(events(&mut ep), vec![EndpointEvent::LegBye(LegId(1))]);
        assert_eq!(ep.leg_count(), 0);
    }

    /// The agent's re-INVITE (hold) in the dialog of the leg placed with `invite`.
    fn agent_reinvite(invite: &[u8], cseq: u32, sdp: &str) -> Vec<u8> {
        let inv = parse(invite).unwrap();
        format!(
            "INVITE sip:acd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKre{cseq}\r\n\
             From: <sip:1001@acd>;tag=agenttag\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} INVITE\r\n\
             Contact: <sip:1001@127.0.0.1:6001>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            inv.header(HeaderName::From).unwrap(),
            inv.header(HeaderName::CallId).unwrap(),
            sdp.len()
        )
        .into_bytes()
    }

    #[test]
    fn agent_re_invite_is_reported_on_its_leg_and_answered_to_the_agent() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let invite = answered(&mut ep, now);
        sent(&mut ep);
        events(&mut ep);
        let hold = "v=0\r\nm=audio 7000 RTP/AVP 0\r\na=sendonly\r\n";
        ep.handle_datagram(now, agent(), &agent_reinvite(&invite, 7, hold), &dir());
        assert_eq!(methods(&sent(&mut ep)), vec!["100"]);
        let evs = events(&mut ep);
        let [EndpointEvent::ReInvite { txn, side, body }] = evs.as_slice() else {
            panic!("{evs:?}")
        };
        assert_eq!(*side, crate::sip::endpoint::DialogSide::Agent(LegId(1)));
        assert_eq!(body, hold.as_bytes());
        ep.respond(now, *txn, 200, "OK", &[], b"v=0\r\n");
        let out: Vec<Transmit> = std::iter::from_fn(|| ep.poll_transmit()).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, agent());
        assert_eq!(methods(&[out[0].bytes.clone()]), vec!["200"]);
        // Resume: a later CSeq is accepted; a repeated one is refused (§12.2.2).
        ep.handle_datagram(now, agent(), &agent_reinvite(&invite, 8, hold), &dir());
        assert!(matches!(
            events(&mut ep).as_slice(),
            [EndpointEvent::ReInvite { .. }]
        ));
        ep.handle_datagram(now, agent(), &agent_reinvite(&invite, 6, hold), &dir());
        assert!(methods(&sent(&mut ep)).contains(&"500".to_owned()));
        // The leg is still up: the agent's BYE ends it.
        ep.handle_datagram(now, agent(), &agent_bye(&invite), &dir());
        assert!(events(&mut ep).contains(&EndpointEvent::LegBye(LegId(1))));
    }

    #[test]
    fn hangup_caller_sends_bye_in_the_callers_dialog() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let caller: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        ep.handle_datagram(now, caller, CALLER_INVITE, &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!("invite reported")
        };
        ep.respond(now, txn, 200, "OK", &[], b"");
        sent(&mut ep);
        assert_eq!(ep.caller_dialog_count(), 1);
        ep.hangup_caller(now, txn);
        let out: Vec<Transmit> = std::iter::from_fn(|| ep.poll_transmit()).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, caller);
        let bye = parse(&out[0].bytes).unwrap();
        assert_eq!(bye.method(), Some("BYE"));
        assert_eq!(bye.start_uri(), Some("sip:c@127.0.0.1:5070"));
        assert_eq!(bye.header(HeaderName::CallId), Some("call-c1"));
        assert!(bye.header(HeaderName::To).unwrap().contains("tag=ctag"));
        assert_eq!(ep.caller_dialog_count(), 0);
    }

    /// A whole B2BUA call (caller answered and ACKed, agent leg answered and ACKed, the agent
    /// hangs up, acd BYEs the caller), then every timer: nothing may stay behind in any table
    /// (a leak here grows memory with every call under load).
    #[test]
    fn a_finished_call_leaves_nothing_behind_once_its_timers_ran() {
        let now = Instant::now();
        let mut ep = Endpoint::new(EndpointConfig::default(), 1, now);
        let caller: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        ep.handle_datagram(now, caller, CALLER_INVITE, &dir());
        let Some(EndpointEvent::Invite { txn, .. }) = ep.poll_event() else {
            panic!("invite reported")
        };
        ep.respond(now, txn, 180, "Ringing", &[], b"");
        ep.respond(now, txn, 200, "OK", &[], b"v=0\r\n");
        let ok = sent(&mut ep).pop().unwrap();
        let to = parse(&ok)
            .unwrap()
            .header(HeaderName::To)
            .unwrap()
            .to_owned();
        let ack = format!(
            "ACK sip:acd@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1ack\r\n\
             From: <sip:c@x>;tag=ctag\r\nTo: {to}\r\nCall-ID: call-c1\r\nCSeq: 1 ACK\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        ep.handle_datagram(now, caller, ack.as_bytes(), &dir());
        // The agent leg: answered, ACKed by the endpoint; then the agent hangs up.
        let leg_invite = answered(&mut ep, now);
        sent(&mut ep);
        ep.handle_datagram(now, agent(), &agent_bye(&leg_invite), &dir());
        // acd hangs up the caller, who answers the BYE.
        ep.hangup_caller(now, txn);
        let caller_bye = sent(&mut ep).pop().unwrap();
        assert_eq!(methods(std::slice::from_ref(&caller_bye)), vec!["BYE"]);
        let caller_ok = build_response(&parse(&caller_bye).unwrap(), 200, "OK", None, &[], b"");
        ep.handle_datagram(now, caller, &caller_ok, &dir());
        let evs = events(&mut ep);
        assert!(evs.contains(&EndpointEvent::Confirmed(txn)), "{evs:?}");
        assert!(evs.contains(&EndpointEvent::LegBye(LegId(1))), "{evs:?}");
        while let Some(t) = ep.poll_timeout() {
            ep.handle_timeout(t);
        }
        assert!(ep.txns.is_empty(), "server transactions left");
        assert!(ep.by_key.is_empty(), "server transaction keys left");
        assert!(ep.accepted.is_empty(), "2xx-ACK index left");
        assert!(ep.dialogs.is_empty(), "dialogs left");
        assert!(ep.uas.is_empty(), "caller dialogs left");
        assert!(ep.legs.is_empty(), "legs left");
        assert!(ep.ctxns.is_empty(), "client transactions left");
        assert!(ep.client_keys.is_empty(), "client transaction keys left");
        assert!(ep.leg_branches.is_empty(), "leg branches left");
        assert!(ep.heap.is_empty(), "timer entries left");
        assert_eq!(ep.pending_invites(), 0);
    }
}
