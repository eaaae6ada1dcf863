//! The verdict on a received message: accept it, answer it with an error status (requests),
//! or drop it (responses and anything that cannot be answered).
//!
//! Owns the RFC 3261 §8.2 / §18 / §25 validity rules acd enforces on every message before any
//! transaction sees it (the RFC 4475 §3.1.2 and RFC 5118 negative cases). It does not own
//! semantics beyond syntax (authentication, routing, dialogs).

use super::build::build_response;
use super::header::{
    parse_bounded, parse_contacts, parse_cseq, parse_name_addr, parse_uri, parse_vias, HeaderError,
};
use super::parse::{parse_framed, parse_u64, Framing, HeaderName, Message, ParseError, StartLine};
use thiserror::Error;

/// Why a scanned message is not valid SIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Invalid {
    /// The request line does not have exactly one SP between method, URI and version.
    #[error("request line must be `Method SP Request-URI SP SIP/2.0`")]
    BadRequestLine,
    /// The Request-URI is malformed.
    #[error("malformed Request-URI: {0}")]
    BadRequestUri(HeaderError),
    /// The Request-URI carries `?headers`, which RFC 3261 §19.1.5 forbids there.
    #[error("the Request-URI must not contain headers (?...)")]
    HeadersInRequestUri,
    /// The SIP version is not 2.0.
    #[error("only SIP/2.0 is supported")]
    VersionNotSupported,
    /// The status code is not three digits in 100..=699.
    #[error("status code must be 100..699")]
    BadStatusCode,
    /// A mandatory header is missing.
    #[error("missing mandatory header {0}")]
    MissingHeader(&'static str),
    /// A header that must appear once appears more than once.
    #[error("header {0} must appear once")]
    DuplicateHeader(&'static str),
    /// A header line has no colon or a name that is not a token.
    #[error("a header line is malformed (no colon or a non-token name)")]
    BadHeaderLine,
    /// A header value does not follow its grammar.
    #[error("malformed {0} header: {1}")]
    BadHeader(&'static str, HeaderError),
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// Content-Length is not a non-negative number.
    #[error("Content-Length must be a non-negative number")]
    BadContentLength,
    /// Content-Length is larger than the octets received.
    #[error("Content-Length is larger than the message body")]
    BodyTruncated,
    /// Content-Length is missing on a stream transport.
    #[error("Content-Length is mandatory on stream transports")]
    MissingContentLength,
    /// The Date header is not an RFC 1123 date in GMT.
    #[error("Date must be an RFC 1123 date in GMT")]
    BadDate,
}

impl Invalid {
    /// The status a request with this defect is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Invalid::VersionNotSupported => 505,
            _ => 400,
        }
    }

    /// The reason phrase for [`Invalid::status`].
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::VersionNotSupported => "Version Not Supported",
            _ => "Bad Request",
        }
    }
}

fn once<'a>(m: &Message<'a>, name: HeaderName, label: &'static str) -> Result<&'a str, Invalid> {
    let mut it = m.headers_named(name);
    let first = it.next().ok_or(Invalid::MissingHeader(label))?;
    if it.next().is_some() {
        return Err(Invalid::DuplicateHeader(label));
    }
    Ok(first)
}

fn check_common(m: &Message<'_>, framing: Framing) -> Result<(), Invalid> {
    if m.malformed_header {
        return Err(Invalid::BadHeaderLine);
    }
    let mut saw_via = false;
    for v in m.headers_named(HeaderName::Via) {
        for via in parse_vias(v) {
            let via = via.map_err(|e| Invalid::BadHeader("Via", e))?;
            if !via.version.eq_ignore_ascii_case("2.0") {
                return Err(Invalid::VersionNotSupported);
            }
            saw_via = true;
        }
    }
    if !saw_via {
        return Err(Invalid::MissingHeader("Via"));
    }
    let from = once(m, HeaderName::From, "From")?;
    parse_name_addr(from).map_err(|e| Invalid::BadHeader("From", e))?;
    let to = once(m, HeaderName::To, "To")?;
    parse_name_addr(to).map_err(|e| Invalid::BadHeader("To", e))?;
    once(m, HeaderName::CallId, "Call-ID")?;
    let cseq = once(m, HeaderName::CSeq, "CSeq")?;
    parse_cseq(cseq).map_err(|e| Invalid::BadHeader("CSeq", e))?;
    for c in m.headers_named(HeaderName::Contact) {
        for c in parse_contacts(c) {
            c.map_err(|e| Invalid::BadHeader("Contact", e))?;
        }
    }
    for name in [HeaderName::Route, HeaderName::RecordRoute] {
        for r in m.headers_named(name) {
            for c in parse_contacts(r) {
                c.map_err(|e| Invalid::BadHeader("Route", e))?;
            }
        }
    }
    if let Some(e) = m.header(HeaderName::Expires) {
        parse_bounded(e, u64::from(u32::MAX)).map_err(|e| Invalid::BadHeader("Expires", e))?;
    }
    if let Some(d) = m.header(HeaderName::Date) {
        if !d.ends_with(" GMT") {
            return Err(Invalid::BadDate);
        }
    }
    match m.content_length {
        Some(cl) => {
            let n = parse_u64(cl).ok_or(Invalid::BadContentLength)?;
            if n != m.body.len() as u64 {
                return Err(Invalid::BodyTruncated);
            }
        }
        None if framing == Framing::Stream => return Err(Invalid::MissingContentLength),
        None => {}
    }
    Ok(())
}

/// Checks a scanned request; the error says what to answer.
pub fn check_request(m: &Message<'_>, framing: Framing) -> Result<(), Invalid> {
    let (method, uri, version) = match m.start {
        StartLine::Request {
            method,
            uri,
            version,
        } => (method, uri, version),
        StartLine::MalformedRequest(_) => return Err(Invalid::BadRequestLine),
        StartLine::Response { .. } => return Err(Invalid::BadRequestLine),
    };
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(Invalid::VersionNotSupported);
    }
    let u = parse_uri(uri).map_err(Invalid::BadRequestUri)?;
    if u.is_sip() && u.headers.is_some() {
        return Err(Invalid::HeadersInRequestUri);
    }
    check_common(m, framing)?;
    let (_, cseq_method) = parse_cseq(m.header(HeaderName::CSeq).unwrap_or_default())
        .map_err(|e| Invalid::BadHeader("CSeq", e))?;
    if cseq_method != method {
        return Err(Invalid::CSeqMethodMismatch);
    }
    if let Some(mf) = m.header(HeaderName::MaxForwards) {
        parse_bounded(mf, 255).map_err(|e| Invalid::BadHeader("Max-Forwards", e))?;
    }
    Ok(())
}

/// Checks a scanned response; an invalid response is dropped.
pub fn check_response(m: &Message<'_>, framing: Framing) -> Result<(), Invalid> {
    let (version, code) = match m.start {
        StartLine::Response { version, code, .. } => (version, code),
        _ => return Err(Invalid::BadStatusCode),
    };
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(Invalid::VersionNotSupported);
    }
    match parse_u64(code) {
        Some(c) if code.len() == 3 && (100..=699).contains(&c) => {}
        _ => return Err(Invalid::BadStatusCode),
    }
    check_common(m, framing)
}

/// The status code of a response that passed [`check_response`].
pub fn status_code(m: &Message<'_>) -> Option<u16> {
    match m.start {
        StartLine::Response { code, .. } => parse_u64(code).and_then(|c| u16::try_from(c).ok()),
        _ => None,
    }
}

/// What to do with received bytes.
#[derive(Debug)]
pub enum Verdict<'a> {
    /// A valid request or response, ready for the transaction layer.
    Accept(Message<'a>),
    /// An invalid request: send `response` back to where it came from (RFC 3261 §18.2.2).
    Reject {
        /// Why it was rejected.
        why: Invalid,
        /// The encoded error response (400 or 505).
        response: Vec<u8>,
    },
    /// Nothing to send: an invalid response, a keep-alive, or bytes too broken to answer.
    Drop(DropReason),
    /// Stream transports only: wait for more bytes.
    NeedMore,
}

/// Why a message was dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// CRLF keep-alive or empty datagram.
    KeepAlive,
    /// The bytes could not be scanned at all.
    Unparseable(ParseError),
    /// A response failed validation (RFC 3261 §18.1.2: discard).
    InvalidResponse(Invalid),
    /// A request failed validation and has no usable Via to answer to.
    Unanswerable(Invalid),
}

/// Scans and judges one message. On a stream, `Accept`/`Reject` consume
/// `Message::consumed` bytes; for a `Reject` on a stream the caller should also close the
/// connection when framing itself was broken.
pub fn verdict(buf: &[u8], framing: Framing) -> Verdict<'_> {
    let m = match parse_framed(buf, framing) {
        Ok(m) => m,
        Err(ParseError::Incomplete) => return Verdict::NeedMore,
        Err(ParseError::Empty) => return Verdict::Drop(DropReason::KeepAlive),
        Err(e) => return Verdict::Drop(DropReason::Unparseable(e)),
    };
    if m.is_request() {
        match check_request(&m, framing) {
            Ok(()) => Verdict::Accept(m),
            Err(why) => {
                // Answering needs the request's own Via, From, To, Call-ID and CSeq.
                if m.header(HeaderName::Via).is_none()
                    || m.header(HeaderName::CallId).is_none()
                    || m.header(HeaderName::CSeq).is_none()
                {
                    return Verdict::Drop(DropReason::Unanswerable(why));
                }
                let warning = format!("399 acd \"{why}\"");
                let response = build_response(
                    &m,
                    why.status(),
                    why.reason(),
                    None,
                    &[("Warning", &warning)],
                    b"",
                );
                Verdict::Reject { why, response }
            }
        }
    } else {
        match check_response(&m, framing) {
            Ok(()) => Verdict::Accept(m),
            Err(why) => Verdict::Drop(DropReason::InvalidResponse(why)),
        }
    }
}
