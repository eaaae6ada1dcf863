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
    for h in &req.headers {
        match h.name {
            HeaderName::Via => {
                out.extend_from_slice(b"Via: ");
                push_unfolded(&mut out, h.value);
                out.extend_from_slice(b"\r\n");
            }
            HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                let name: &[u8] = match h.name {
                    HeaderName::From => b"From: ",
                    HeaderName::CallId => b"Call-ID: ",
                    _ => b"CSeq: ",
                };
                out.extend_from_slice(name);
                push_unfolded(&mut out, h.value);
                out.extend_from_slice(b"\r\n");
            }
            HeaderName::To => {
                out.extend_from_slice(b"To: ");
                push_unfolded(&mut out, h.value);
                if let Some(tag) = to_tag {
                    let has_tag = super::header::parse_name_addr(h.value)
                        .map(|n| n.tag().is_some())
                        .unwrap_or(true);
                    if !has_tag {
                        out.extend_from_slice(b";tag=");
                        out.extend_from_slice(tag.as_bytes());
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
            _ => {}
        }
    }
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
