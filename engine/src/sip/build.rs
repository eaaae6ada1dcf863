//! Encoding of the messages acd sends: responses to received requests and new requests.
//!
//! Owns the byte layout (header order, Content-Length). It does not own any state: tags,
//! branches and CSeq numbers are passed in by the transaction, dialog and registrar layers.

use super::parse::{HeaderName, Message};
use std::io::Write;

/// Builds a response to `req`: its Via headers (all, in order), From, Call-ID and CSeq copied,
/// To copied with `to_tag` added when given and absent, then `extra` headers and the body.
pub fn build_response(
    req: &Message<'_>,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + body.len());
    let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
    if let Some(to) = push_echoed(&mut out, req) {
        push_to_line(&mut out, to, to_tag.filter(|_| !has_tag(to)));
    }
    push_tail(out, extra, body)
}

/// Copies the Via, From, Call-ID and CSeq lines of `req` to `out`, in the request's order
/// and unfolded; returns the request's To value (written by [`push_to_line`]).
fn push_echoed<'a>(out: &mut Vec<u8>, req: &Message<'a>) -> Option<&'a str> {
    let mut to = None;
    for h in &req.headers {
        let name: &[u8] = match h.name {
            HeaderName::Via => b"Via: ",
            HeaderName::From => b"From: ",
            HeaderName::CallId => b"Call-ID: ",
            HeaderName::CSeq => b"CSeq: ",
            HeaderName::To => {
                to = Some(h.value);
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(name);
        push_unfolded(out, h.value);
        out.extend_from_slice(b"\r\n");
    }
    to
}

/// Writes the To line: the request's value, unfolded, with `;tag=add_tag` when given.
fn push_to_line(out: &mut Vec<u8>, to: &str, add_tag: Option<&str>) {
    out.extend_from_slice(b"To: ");
    push_unfolded(out, to);
    if let Some(tag) = add_tag {
        out.extend_from_slice(b";tag=");
        out.extend_from_slice(tag.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a To value already carries a tag (an unparsable one is left as it is).
fn has_tag(to: &str) -> bool {
    super::header::parse_name_addr(to)
        .map(|n| n.tag().is_some())
        .unwrap_or(true)
}

/// Appends `extra` headers, Content-Length and the body: the end of every response.
fn push_tail(mut out: Vec<u8>, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    for (n, v) in extra {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
    out
}

/// What every response to one request copies from it (RFC 3261 §8.2.6.2), captured once: an
/// INVITE answered several times (100, 180, 183, 200) is not walked again for each answer.
#[derive(Debug, Clone)]
pub struct ResponseEcho {
    /// The Via, From, Call-ID and CSeq lines, in the request's order.
    head: Vec<u8>,
    /// The request's To value.
    to: Option<String>,
    /// That To already had a tag (then none is added).
    to_has_tag: bool,
}

impl ResponseEcho {
    /// Captures the echoed headers of `req`.
    pub fn of(req: &Message<'_>) -> Self {
        let mut head = Vec::with_capacity(256);
        let to = push_echoed(&mut head, req);
        ResponseEcho {
            head,
            to_has_tag: to.is_none_or(has_tag),
            to: to.map(str::to_owned),
        }
    }

    /// The same response [`build_response`] builds from the request.
    pub fn build(
        &self,
        code: u16,
        reason: &str,
        to_tag: Option<&str>,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<u8> {
        let to_len = self.to.as_ref().map_or(0, String::len);
        let mut out = Vec::with_capacity(self.head.len() + to_len + 256 + body.len());
        let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
        out.extend_from_slice(&self.head);
        if let Some(to) = &self.to {
            push_to_line(&mut out, to, to_tag.filter(|_| !self.to_has_tag));
        }
        push_tail(out, extra, body)
    }
}

/// Copies a header value with folding (CRLF + whitespace) collapsed to one space, so that
/// echoed headers are single lines.
fn push_unfolded(out: &mut Vec<u8>, v: &str) {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\r' || b[i] == b'\n' {
            while i < b.len() && matches!(b[i], b'\r' | b'\n' | b' ' | b'\t') {
                i += 1;
            }
            out.push(b' ');
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
}

/// A request under construction (for INVITE/CANCEL/ACK/BYE/OPTIONS sent by acd).
pub struct RequestBuilder {
    buf: Vec<u8>,
}

impl RequestBuilder {
    /// Starts `METHOD uri SIP/2.0`.
    pub fn new(method: &str, uri: &str) -> Self {
        let mut buf = Vec::with_capacity(512);
        let _ = write!(buf, "{method} {uri} SIP/2.0\r\n");
        RequestBuilder { buf }
    }

    /// Appends one header line.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Finishes with Content-Length and the body.
    pub fn body(mut self, body: &[u8]) -> Vec<u8> {
        let _ = write!(self.buf, "Content-Length: {}\r\n\r\n", body.len());
        self.buf.extend_from_slice(body);
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::parse;

    const INVITE: &[u8] = b"INVITE sip:4620000@acd SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5060\r\n ;branch=z9hG4bK2\r\n\
f: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:4620000@acd>\r\n\
Call-ID: c1@example.com\r\n\
CSeq: 7 INVITE\r\n\
Contact: <sip:alice@10.0.0.1>\r\n\
Content-Length: 0\r\n\r\n";

    fn headers(resp: &[u8]) -> Vec<(HeaderName, String)> {
        let m = parse(resp).unwrap();
        let mut v: Vec<_> = m
            .headers
            .iter()
            .map(|h| (h.name, h.value.to_owned()))
            .collect();
        v.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
        v
    }

    #[test]
    fn an_echoed_response_carries_what_build_response_does() {
        let req = parse(INVITE).unwrap();
        let echo = ResponseEcho::of(&req);
        let extra = [("Contact", "<sip:acd@127.0.0.1:5060>")];
        for (code, tag) in [(180, Some("t9")), (200, Some("t9")), (100, None)] {
            let a = build_response(&req, code, "X", tag, &extra, b"v=0\r\n");
            let b = echo.build(code, "X", tag, &extra, b"v=0\r\n");
            assert_eq!(headers(&a), headers(&b), "code {code}");
            assert!(b.starts_with(format!("SIP/2.0 {code} X\r\n").as_bytes()));
            assert!(b.ends_with(b"\r\n\r\nv=0\r\n"));
        }
        // Vias keep their order, folding is undone, the tag is added once.
        let b = String::from_utf8(echo.build(200, "OK", Some("t9"), &[], b"")).unwrap();
        let v1 = b.find("branch=z9hG4bK1").unwrap();
        let v2 = b.find("branch=z9hG4bK2").unwrap();
        assert!(v1 < v2);
        assert!(b.contains("To: <sip:4620000@acd>;tag=t9\r\n"));
        assert!(!b.contains("\r\n ;"));
    }

    #[test]
    fn a_to_that_has_a_tag_keeps_it() {
        let raw = String::from_utf8(INVITE.to_vec())
            .unwrap()
            .replace("To: <sip:4620000@acd>", "To: <sip:4620000@acd>;tag=old");
        let req = parse(raw.as_bytes()).unwrap();
        let b = String::from_utf8(ResponseEcho::of(&req).build(481, "X", Some("new"), &[], b""))
            .unwrap();
        assert!(b.contains("To: <sip:4620000@acd>;tag=old\r\n"));
        assert!(!b.contains("new"));
    }
}
