//! RFC 3261 §12 dialogs: identity, route set, remote target and CSeq spaces, for both the
//! UAS side (calls arriving from carriers) and the UAC side (legs acd places to agents).
//!
//! Owns dialog state and the building of in-dialog requests (ACK for 2xx, BYE, re-INVITE).
//! It does not own transactions (see [`super::txn`]) or branch/tag generation (passed in from
//! the endpoint's seeded RNG).

use super::build::RequestBuilder;
use super::header::{parse_contacts, parse_cseq, parse_name_addr, Contact};
use super::parse::{HeaderName, Message};
use thiserror::Error;

/// Why a dialog could not be created or a request does not fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DialogError {
    /// A header needed to build the dialog is missing or malformed.
    #[error("missing or malformed {0}")]
    Missing(&'static str),
    /// An in-dialog request has a CSeq not above the last one (RFC 3261 §12.2.2: 500).
    #[error("CSeq out of order")]
    CSeqOutOfOrder,
    /// The request does not belong to this dialog.
    #[error("request does not match the dialog")]
    Mismatch,
}

/// Dialog identity (§12): Call-ID plus both tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Dialog state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// A 2xx was sent or received.
    Confirmed,
    /// BYE sent or received, or the INVITE failed.
    Terminated,
}

/// One dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Identity.
    pub id: DialogId,
    /// State.
    pub state: DialogState,
    /// Our CSeq space (last used).
    pub local_seq: u32,
    /// The peer's last CSeq, if it sent any request in this dialog.
    pub remote_seq: Option<u32>,
    /// Our URI (From on requests we send).
    pub local_uri: String,
    /// The peer's URI (To on requests we send).
    pub remote_uri: String,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: String,
    /// Route set, in the order Route headers are sent.
    pub route_set: Vec<String>,
}

fn need<'a>(m: &Message<'a>, h: HeaderName, label: &'static str) -> Result<&'a str, DialogError> {
    m.header(h).ok_or(DialogError::Missing(label))
}

fn contact_uri(m: &Message<'_>) -> Result<String, DialogError> {
    let v = need(m, HeaderName::Contact, "Contact")?;
    match parse_contacts(v).next() {
        Some(Ok(Contact::Addr(a))) => Ok(format!("{}:{}", a.uri.scheme, a.uri.opaque)),
        _ => Err(DialogError::Missing("Contact")),
    }
}

fn record_route(m: &Message<'_>) -> Vec<String> {
    m.headers_named(HeaderName::RecordRoute)
        .flat_map(|v| super::header::split_top(v, b','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn addr_uri(v: &str) -> Result<(String, Option<String>), DialogError> {
    let n = parse_name_addr(v).map_err(|_| DialogError::Missing("From/To"))?;
    Ok((
        format!("{}:{}", n.uri.scheme, n.uri.opaque),
        n.tag().map(str::to_owned),
    ))
}

impl Dialog {
    /// The UAS dialog created when acd answers `invite` with a tag (§12.1.1): route set =
    /// Record-Route in order, remote target = Contact, remote CSeq = the INVITE's.
    pub fn uas(
        invite: &Message<'_>,
        local_tag: &str,
        confirmed: bool,
    ) -> Result<Dialog, DialogError> {
        let (remote_uri, remote_tag) = addr_uri(need(invite, HeaderName::From, "From")?)?;
        let (local_uri, _) = addr_uri(need(invite, HeaderName::To, "To")?)?;
        let (seq, _) = parse_cseq(need(invite, HeaderName::CSeq, "CSeq")?)
            .map_err(|_| DialogError::Missing("CSeq"))?;
        Ok(Dialog {
            id: DialogId {
                call_id: need(invite, HeaderName::CallId, "Call-ID")?.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: remote_tag.unwrap_or_default(),
            },
            state: if confirmed {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: 0,
            remote_seq: Some(seq),
            local_uri,
            remote_uri,
            remote_target: contact_uri(invite)?,
            route_set: record_route(invite),
        })
    }

    /// The UAC dialog created by a 1xx-with-tag or 2xx `response` to our `request` (§12.1.2):
    /// route set = Record-Route reversed, remote target = the response's Contact.
    pub fn uac(
        request: &Message<'_>,
        response: &Message<'_>,
        code: u16,
    ) -> Result<Dialog, DialogError> {
        let (local_uri, local_tag) = addr_uri(need(request, HeaderName::From, "From")?)?;
        let (remote_uri, remote_tag) = addr_uri(need(response, HeaderName::To, "To")?)?;
        let remote_tag = remote_tag.ok_or(DialogError::Missing("To tag"))?;
        let (seq, _) = parse_cseq(need(request, HeaderName::CSeq, "CSeq")?)
            .map_err(|_| DialogError::Missing("CSeq"))?;
        let mut route_set = record_route(response);
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: need(request, HeaderName::CallId, "Call-ID")?.to_owned(),
                local_tag: local_tag.unwrap_or_default(),
                remote_tag,
            },
            state: if (200..300).contains(&code) {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: seq,
            remote_seq: None,
            local_uri,
            remote_uri,
            remote_target: contact_uri(response)?,
            route_set,
        })
    }

    /// A response to the dialog-creating INVITE arrived: 2xx confirms (refreshing the remote
    /// target), a failure ends an early dialog.
    pub fn handle_response(&mut self, code: u16, response: &Message<'_>) {
        match code {
            200..=299 => {
                self.state = DialogState::Confirmed;
                if let Ok(t) = contact_uri(response) {
                    self.remote_target = t;
                }
            }
            300..=699 if self.state == DialogState::Early => self.state = DialogState::Terminated,
            _ => {}
        }
    }

    /// An in-dialog request from the peer (§12.2.2): checks identity and CSeq order, follows
    /// target refreshes (re-INVITE Contact) and BYE.
    pub fn handle_request(&mut self, req: &Message<'_>) -> Result<(), DialogError> {
        let call_id = need(req, HeaderName::CallId, "Call-ID")?;
        let (_, from_tag) = addr_uri(need(req, HeaderName::From, "From")?)?;
        let (_, to_tag) = addr_uri(need(req, HeaderName::To, "To")?)?;
        if call_id != self.id.call_id
            || from_tag.as_deref() != Some(self.id.remote_tag.as_str())
            || to_tag.as_deref() != Some(self.id.local_tag.as_str())
        {
            return Err(DialogError::Mismatch);
        }
        let (seq, method) = parse_cseq(need(req, HeaderName::CSeq, "CSeq")?)
            .map_err(|_| DialogError::Missing("CSeq"))?;
        // ACK and CANCEL reuse the INVITE's CSeq number.
        if method != "ACK" && method != "CANCEL" {
            if self.remote_seq.is_some_and(|last| seq <= last) {
                return Err(DialogError::CSeqOutOfOrder);
            }
            self.remote_seq = Some(seq);
        }
        match method {
            "BYE" => self.state = DialogState::Terminated,
            "INVITE" | "UPDATE" => {
                if let Ok(t) = contact_uri(req) {
                    self.remote_target = t;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Builds an in-dialog request (§12.2.1.1). `ACK` reuses the current CSeq number; other
    /// methods increment it. `via` is the complete Via value (with a fresh branch).
    pub fn request(
        &mut self,
        method: &str,
        via: &str,
        contact: &str,
        body: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        if method != "ACK" {
            self.local_seq += 1;
        }
        if method == "BYE" {
            self.state = DialogState::Terminated;
        }
        // Loose routing (lr) is assumed, as every modern element does: R-URI = remote target.
        let mut b = RequestBuilder::new(method, &self.remote_target).header("Via", via);
        for r in &self.route_set {
            b = b.header("Route", r);
        }
        b = b
            .header("Max-Forwards", "70")
            .header(
                "From",
                &format!("<{}>;tag={}", self.local_uri, self.id.local_tag),
            )
            .header(
                "To",
                &format!("<{}>;tag={}", self.remote_uri, self.id.remote_tag),
            )
            .header("Call-ID", &self.id.call_id)
            .header("CSeq", &format!("{} {method}", self.local_seq))
            .header("Contact", contact);
        match body {
            Some((ct, bytes)) => b.header("Content-Type", ct).body(bytes),
            None => b.body(b""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::parse;

    const INVITE: &[u8] =
        b"INVITE sip:500@acd SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
        Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
        From: \"Caller\" <sip:caller@carrier>;tag=ct\r\nTo: <sip:500@acd>\r\nCall-ID: d1\r\n\
        CSeq: 10 INVITE\r\nContact: <sip:caller@10.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n";

    fn req(method: &str, seq: u32, extra: &str) -> Vec<u8> {
        format!(
            "{method} sip:500@acd SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK{seq}\r\n\
             From: <sip:caller@carrier>;tag=ct\r\nTo: <sip:500@acd>;tag=me\r\nCall-ID: d1\r\n\
             CSeq: {seq} {method}\r\n{extra}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn uas_dialog_takes_record_route_in_order_and_contact_as_target() {
        let d = Dialog::uas(&parse(INVITE).unwrap(), "me", true).unwrap();
        assert_eq!(
            d.route_set,
            vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(d.remote_target, "sip:caller@10.0.0.1:5070");
        assert_eq!(d.id.remote_tag, "ct");
        assert_eq!(d.remote_seq, Some(10));
    }

    #[test]
    fn in_dialog_request_with_lower_cseq_is_refused() {
        let mut d = Dialog::uas(&parse(INVITE).unwrap(), "me", true).unwrap();
        assert_eq!(
            d.handle_request(&parse(&req("INFO", 9, "")).unwrap()),
            Err(DialogError::CSeqOutOfOrder)
        );
        assert_eq!(
            d.handle_request(&parse(&req("INFO", 11, "")).unwrap()),
            Ok(())
        );
    }

    #[test]
    fn ack_reuses_the_invite_cseq() {
        let mut d = Dialog::uas(&parse(INVITE).unwrap(), "me", true).unwrap();
        assert_eq!(
            d.handle_request(&parse(&req("ACK", 10, "")).unwrap()),
            Ok(())
        );
    }

    #[test]
    fn bye_terminates_the_dialog() {
        let mut d = Dialog::uas(&parse(INVITE).unwrap(), "me", true).unwrap();
        d.handle_request(&parse(&req("BYE", 11, "")).unwrap())
            .unwrap();
        assert_eq!(d.state, DialogState::Terminated);
    }

    #[test]
    fn reinvite_refreshes_the_remote_target() {
        let mut d = Dialog::uas(&parse(INVITE).unwrap(), "me", true).unwrap();
        d.handle_request(&parse(&req("INVITE", 12, "Contact: <sip:caller@10.0.0.9>\r\n")).unwrap())
            .unwrap();
        assert_eq!(d.remote_target, "sip:caller@10.0.0.9");
    }

    #[test]
    fn request_from_another_dialog_is_a_mismatch() {
        let mut d = Dialog::uas(&parse(INVITE).unwrap(), "other", true).unwrap();
        assert_eq!(
            d.handle_request(&parse(&req("BYE", 11, "")).unwrap()),
            Err(DialogError::Mismatch)
        );
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_builds_bye() {
        let ours = b"INVITE sip:1001@10.0.0.5 SIP/2.0\r\nVia: SIP/2.0/UDP acd;branch=z9hG4bKa\r\n\
            From: <sip:acd@acd>;tag=L\r\nTo: <sip:1001@acd>\r\nCall-ID: leg2\r\nCSeq: 1 INVITE\r\n\
            Contact: <sip:acd@192.0.2.1>\r\nContent-Length: 0\r\n\r\n";
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP acd;branch=z9hG4bKa\r\n\
            Record-Route: <sip:a;lr>\r\nRecord-Route: <sip:b;lr>\r\n\
            From: <sip:acd@acd>;tag=L\r\nTo: <sip:1001@acd>;tag=R\r\nCall-ID: leg2\r\nCSeq: 1 INVITE\r\n\
            Contact: <sip:1001@10.0.0.5:5062>\r\nContent-Length: 0\r\n\r\n";
        let mut d = Dialog::uac(&parse(ours).unwrap(), &parse(resp).unwrap(), 200).unwrap();
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.route_set, vec!["<sip:b;lr>", "<sip:a;lr>"]);
        let ack = d.request(
            "ACK",
            "SIP/2.0/UDP acd;branch=z9hG4bKb",
            "<sip:acd@192.0.2.1>",
            None,
        );
        let ack = parse(&ack).unwrap();
        assert_eq!(ack.header(HeaderName::CSeq), Some("1 ACK"));
        let bye = d.request(
            "BYE",
            "SIP/2.0/UDP acd;branch=z9hG4bKc",
            "<sip:acd@192.0.2.1>",
            None,
        );
        let bye = parse(&bye).unwrap();
        assert_eq!(bye.start_uri(), Some("sip:1001@10.0.0.5:5062"));
        assert_eq!(bye.header(HeaderName::CSeq), Some("2 BYE"));
        assert_eq!(bye.header(HeaderName::To), Some("<sip:1001@acd>;tag=R"));
        assert_eq!(
            bye.headers_named(HeaderName::Route).collect::<Vec<_>>(),
            vec!["<sip:b;lr>", "<sip:a;lr>"]
        );
        assert_eq!(d.state, DialogState::Terminated);
    }

    #[test]
    fn early_dialog_ends_on_failure() {
        let ours = b"INVITE sip:1001@h SIP/2.0\r\nVia: SIP/2.0/UDP acd;branch=z9hG4bKa\r\nFrom: <sip:acd@acd>;tag=L\r\nTo: <sip:1001@acd>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let ring = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP acd;branch=z9hG4bKa\r\nFrom: <sip:acd@acd>;tag=L\r\nTo: <sip:1001@acd>;tag=R\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@h>\r\nContent-Length: 0\r\n\r\n";
        let mut d = Dialog::uac(&parse(ours).unwrap(), &parse(ring).unwrap(), 180).unwrap();
        assert_eq!(d.state, DialogState::Early);
        d.handle_response(486, &parse(ring).unwrap());
        assert_eq!(d.state, DialogState::Terminated);
    }
}
