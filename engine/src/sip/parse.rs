//! The zero-copy SIP message scanner: start line, header lines and body located in the
//! received bytes, nothing copied.
//!
//! Owns framing (datagram and stream by Content-Length), header-name recognition (compact
//! forms, any case) and line folding. It does not judge header *values*: that is
//! [`super::check`], so that a request whose values are wrong can still be answered `400`
//! with its own Via, From, To, Call-ID and CSeq.

use thiserror::Error;

/// Largest message accepted on any transport (a UDP datagram cannot be larger anyway). On a
/// stream transport this is also the most a connection ever buffers: a message announcing
/// more (headers plus `Content-Length`) is refused before its body is read.
pub const MAX_MESSAGE: usize = 65_535;

/// Why bytes could not be scanned into a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// More bytes are needed (stream transports only): the header block or body is not complete.
    #[error("incomplete message: more bytes needed")]
    Incomplete,
    /// The buffer holds only CRLF keep-alives or nothing at all.
    #[error("empty message (keep-alive)")]
    Empty,
    /// No blank line ends the header block in a datagram.
    #[error("the header block is not terminated by an empty line")]
    Unterminated,
    /// The start line is neither a request line nor a status line.
    #[error("the start line is neither a request line nor a status line")]
    BadStartLine,
    /// The header block is not UTF-8 (RFC 3261 §7.3.1 text is UTF-8).
    #[error("the header block is not valid UTF-8")]
    NotUtf8,
    /// The Content-Length on a stream transport is not a number (the stream cannot be framed).
    #[error("Content-Length is not a valid number, the stream cannot be framed")]
    BadFraming,
    /// The header block alone is larger than [`MAX_MESSAGE`] (nothing to answer: close).
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    /// The header block is complete but its `Content-Length` makes the message larger than
    /// [`MAX_MESSAGE`] (stream transports: answer `413` from the headers, then close).
    #[error("Content-Length makes the message larger than {MAX_MESSAGE} bytes")]
    BodyTooLarge,
}

/// Well-known header names, recognised in long and compact form and in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    ContentLength,
    ContentType,
    ContentEncoding,
    MaxForwards,
    Expires,
    Subject,
    Supported,
    Route,
    RecordRoute,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Allow,
    Accept,
    Date,
    RetryAfter,
    Require,
    UserAgent,
    Event,
    ReferTo,
    /// Any other (extension) header; its name is in [`Header::raw_name`].
    Other,
}

impl HeaderName {
    /// Recognises a header name (RFC 3261 §7.3.3 compact forms included), ASCII case-insensitive.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'v' => HeaderName::Via,
                b'f' => HeaderName::From,
                b't' => HeaderName::To,
                b'i' => HeaderName::CallId,
                b'm' => HeaderName::Contact,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'e' => HeaderName::ContentEncoding,
                b's' => HeaderName::Subject,
                b'k' => HeaderName::Supported,
                b'o' => HeaderName::Event,
                b'r' => HeaderName::ReferTo,
                _ => HeaderName::Other,
            };
        }
        // Dispatch on length first so that most names are decided by one comparison.
        let eq = |n: &str| n.as_bytes().eq_ignore_ascii_case(name);
        match name.len() {
            2 if eq("to") => HeaderName::To,
            3 if eq("via") => HeaderName::Via,
            4 if eq("from") => HeaderName::From,
            4 if eq("cseq") => HeaderName::CSeq,
            4 if eq("date") => HeaderName::Date,
            5 if eq("route") => HeaderName::Route,
            5 if eq("allow") => HeaderName::Allow,
            5 if eq("event") => HeaderName::Event,
            6 if eq("accept") => HeaderName::Accept,
            7 if eq("call-id") => HeaderName::CallId,
            7 if eq("contact") => HeaderName::Contact,
            7 if eq("expires") => HeaderName::Expires,
            7 if eq("subject") => HeaderName::Subject,
            7 if eq("require") => HeaderName::Require,
            8 if eq("refer-to") => HeaderName::ReferTo,
            9 if eq("supported") => HeaderName::Supported,
            10 if eq("user-agent") => HeaderName::UserAgent,
            11 if eq("retry-after") => HeaderName::RetryAfter,
            12 if eq("content-type") => HeaderName::ContentType,
            12 if eq("max-forwards") => HeaderName::MaxForwards,
            12 if eq("record-route") => HeaderName::RecordRoute,
            13 if eq("authorization") => HeaderName::Authorization,
            14 if eq("content-length") => HeaderName::ContentLength,
            16 if eq("content-encoding") => HeaderName::ContentEncoding,
            16 if eq("www-authenticate") => HeaderName::WwwAuthenticate,
            18 if eq("proxy-authenticate") => HeaderName::ProxyAuthenticate,
            19 if eq("proxy-authorization") => HeaderName::ProxyAuthorization,
            _ => HeaderName::Other,
        }
    }
}

/// One header line (folded continuation lines included), borrowed from the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The recognised name.
    pub name: HeaderName,
    /// The name as sent.
    pub raw_name: &'a str,
    /// The value with leading and trailing whitespace trimmed; folded lines keep their CRLF
    /// and leading whitespace, which every value parser treats as LWS.
    pub value: &'a str,
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version`, exactly one SP between the three parts.
    Request {
        /// The method token as sent (extension methods included).
        method: &'a str,
        /// The Request-URI as sent.
        uri: &'a str,
        /// The version as sent.
        version: &'a str,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The version as sent.
        version: &'a str,
        /// The status code digits as sent (checked by [`super::check`]).
        code: &'a str,
        /// The reason phrase (may be empty).
        reason: &'a str,
    },
    /// A request line that does not split into exactly three SP-separated parts: still a
    /// request (it does not start with `SIP/`), so it can be answered 400.
    MalformedRequest(&'a str),
}

/// A scanned SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The start line.
    pub start: StartLine<'a>,
    /// Header lines in order.
    pub headers: Vec<Header<'a>>,
    /// The body: `Content-Length` octets when that fits, else everything after the blank line
    /// (datagrams; [`super::check`] then rejects the message).
    pub body: &'a [u8],
    /// The Content-Length value as sent, if any.
    pub content_length: Option<&'a str>,
    /// Octets consumed from the buffer (stream transports continue after them).
    pub consumed: usize,
    /// A header line without a colon or with a non-token name was skipped; [`super::check`]
    /// answers such a request 400 (the scan goes on so that its Via etc. can be echoed).
    pub malformed_header: bool,
}

impl<'a> Message<'a> {
    /// True for requests (well formed or not).
    pub fn is_request(&self) -> bool {
        !matches!(self.start, StartLine::Response { .. })
    }

    /// The first header with this name.
    pub fn header(&self, name: HeaderName) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value)
    }

    /// Every header with this name, in order.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .map(|h| h.value)
    }

    /// An extension header by name, ASCII case-insensitive.
    pub fn other_header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.raw_name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The Request-URI, if this is a well-formed request line.
    pub fn start_uri(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            _ => None,
        }
    }

    /// The request method, if this is a well-formed request line.
    pub fn method(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            _ => None,
        }
    }
}

/// How the transport delimits messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One message per datagram; octets past Content-Length are discarded (RFC 3261 §18.3).
    Datagram,
    /// A byte stream; Content-Length is mandatory and frames the message.
    Stream,
}

/// Scans one message from a UDP datagram.
pub fn parse(buf: &[u8]) -> Result<Message<'_>, ParseError> {
    parse_framed(buf, Framing::Datagram)
}

/// Scans one message from the front of a stream buffer; `Err(Incomplete)` asks for more bytes.
/// Leading CRLFs (RFC 5626 keep-alives) are skipped and counted in `consumed`.
pub fn parse_stream(buf: &[u8]) -> Result<Message<'_>, ParseError> {
    parse_framed(buf, Framing::Stream)
}

fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    // Returns (end of headers, start of body). Only CRLFCRLF is SIP; a bare LFLF is accepted
    // because some devices send it and accepting costs nothing.
    let mut i = 0;
    while i + 1 < buf.len() {
        match memchr_lf(&buf[i..]) {
            None => return None,
            Some(p) => {
                let lf = i + p;
                if lf + 1 < buf.len() && buf[lf + 1] == b'\n' {
                    let end = if lf > 0 && buf[lf - 1] == b'\r' {
                        lf - 1
                    } else {
                        lf
                    };
                    return Some((end, lf + 2));
                }
                if lf + 2 < buf.len() && buf[lf + 1] == b'\r' && buf[lf + 2] == b'\n' {
                    let end = if lf > 0 && buf[lf - 1] == b'\r' {
                        lf - 1
                    } else {
                        lf
                    };
                    return Some((end, lf + 3));
                }
                i = lf + 1;
            }
        }
    }
    None
}

#[inline]
fn memchr_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Scans a message with the given framing.
pub fn parse_framed(buf: &[u8], framing: Framing) -> Result<Message<'_>, ParseError> {
    let mut skip = 0;
    while skip < buf.len() && (buf[skip] == b'\r' || buf[skip] == b'\n') {
        skip += 1;
    }
    if skip == buf.len() {
        return if framing == Framing::Stream && buf.is_empty() {
            Err(ParseError::Incomplete)
        } else {
            Err(ParseError::Empty)
        };
    }
    let rest = &buf[skip..];
    let (head_end, body_start) = match find_blank_line(rest) {
        Some(x) => x,
        None => {
            return Err(match framing {
                Framing::Stream if rest.len() < MAX_MESSAGE => ParseError::Incomplete,
                Framing::Stream => ParseError::TooLarge,
                Framing::Datagram => ParseError::Unterminated,
            })
        }
    };
    let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| ParseError::NotUtf8)?;
    let (start_raw, header_block) = match head.find('\n') {
        Some(p) => (
            head[..p].strip_suffix('\r').unwrap_or(&head[..p]),
            &head[p + 1..],
        ),
        None => (head, ""),
    };
    let start = parse_start_line(start_raw)?;
    let mut headers = Vec::with_capacity(16);
    let malformed_header = scan_headers(header_block, &mut headers);

    let content_length = headers
        .iter()
        .find(|h| h.name == HeaderName::ContentLength)
        .map(|h| h.value);
    let avail = &rest[body_start..];
    let body_len = match (content_length, framing) {
        (Some(cl), _) => match parse_u64(cl).map(|n| usize::try_from(n).unwrap_or(usize::MAX)) {
            // Checked: a length near 2^64 must not wrap into a small total (issue 13, H1).
            Some(n)
                if framing == Framing::Stream
                    && n.checked_add(skip + body_start)
                        .is_none_or(|t| t > MAX_MESSAGE) =>
            {
                return Err(ParseError::BodyTooLarge);
            }
            Some(n) if n <= avail.len() => n,
            Some(_) if framing == Framing::Stream => return Err(ParseError::Incomplete),
            // Datagram with a short body: keep what is there; check() answers 400.
            Some(_) => avail.len(),
            None if framing == Framing::Stream => return Err(ParseError::BadFraming),
            None => avail.len(),
        },
        (None, Framing::Datagram) => avail.len(),
        // RFC 3261 §18.3: mandatory on streams; without it the body is taken as empty and
        // check() answers 400.
        (None, Framing::Stream) => 0,
    };
    Ok(Message {
        start,
        headers,
        body: &avail[..body_len],
        content_length,
        consumed: skip + body_start + body_len,
        malformed_header,
    })
}

/// Scans only the header block at the front of a stream buffer, with an empty body: what a
/// stream transport answers from (`400`, `413`) when the message itself cannot be framed.
pub fn parse_head(buf: &[u8]) -> Result<Message<'_>, ParseError> {
    let mut skip = 0;
    while skip < buf.len() && (buf[skip] == b'\r' || buf[skip] == b'\n') {
        skip += 1;
    }
    let (_, body_start) = find_blank_line(&buf[skip..]).ok_or(ParseError::Incomplete)?;
    // The header block with its blank line, as a datagram: the body is then empty.
    let mut m = parse_framed(&buf[..skip + body_start], Framing::Datagram)?;
    m.body = &[];
    m.consumed = skip + body_start;
    Ok(m)
}

fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    if line.len() >= 4 && line.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        let mut it = line.splitn(3, ' ');
        let version = it.next().ok_or(ParseError::BadStartLine)?;
        let code = it.next().ok_or(ParseError::BadStartLine)?;
        let reason = it.next().unwrap_or("");
        return Ok(StartLine::Response {
            version,
            code,
            reason,
        });
    }
    let first = line.split(' ').next().unwrap_or("");
    if first.is_empty() || !first.bytes().all(is_token) {
        return Err(ParseError::BadStartLine);
    }
    let mut it = line.split(' ');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(method), Some(uri), Some(version), None)
            if !uri.is_empty() && !version.is_empty() =>
        {
            Ok(StartLine::Request {
                method,
                uri,
                version,
            })
        }
        _ => Ok(StartLine::MalformedRequest(line)),
    }
}

/// Returns true if a malformed line was skipped.
fn scan_headers<'a>(block: &'a str, out: &mut Vec<Header<'a>>) -> bool {
    let mut malformed = false;
    let b = block.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let line_start = i;
        // A header runs to the first LF not followed by SP/HT (folding, RFC 3261 §7.3.1).
        let mut end;
        loop {
            match memchr_lf(&b[i..]) {
                None => {
                    end = b.len();
                    i = b.len();
                    break;
                }
                Some(p) => {
                    let lf = i + p;
                    if lf + 1 < b.len() && (b[lf + 1] == b' ' || b[lf + 1] == b'\t') {
                        i = lf + 1;
                        continue;
                    }
                    end = lf;
                    i = lf + 1;
                    break;
                }
            }
        }
        if end > line_start && b[end - 1] == b'\r' {
            end -= 1;
        }
        let line = &block[line_start..end];
        let Some(colon) = line.find(':') else {
            malformed = true;
            continue;
        };
        let raw_name = line[..colon].trim_end_matches([' ', '\t']);
        if raw_name.is_empty() || !raw_name.bytes().all(is_token) {
            malformed = true;
            continue;
        }
        let value = line[colon + 1..].trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        out.push(Header {
            name: HeaderName::from_bytes(raw_name.as_bytes()),
            raw_name,
            value,
        });
    }
    malformed
}

/// RFC 3261 `token` characters.
#[inline]
pub fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Parses a run of ASCII digits (leading zeros allowed) into a u64; `None` on anything else or
/// overflow.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut n: u64 = 0;
    for c in s.bytes() {
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

/// Cheap framing check for stream transports: the total length of the first message in `buf`
/// (including skipped keep-alive CRLFs), or `Incomplete`.
pub fn frame_len(buf: &[u8]) -> Result<usize, ParseError> {
    parse_stream(buf).map(|m| m.consumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        f: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: c1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";

    #[test]
    fn compact_names_map_to_long_names() {
        let m = parse(OPTIONS).unwrap();
        assert_eq!(m.header(HeaderName::From), Some("<sip:x@y>;tag=1"));
        assert_eq!(m.header(HeaderName::CallId), Some("c1"));
        assert_eq!(m.header(HeaderName::ContentLength), Some("0"));
    }

    #[test]
    fn stream_framing_asks_for_more_until_body_complete() {
        let msg = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..msg.len() {
            assert_eq!(
                parse_stream(&msg[..cut]).unwrap_err(),
                ParseError::Incomplete,
                "cut {cut}"
            );
        }
        let m = parse_stream(msg).unwrap();
        assert_eq!(m.body, b"hello");
        assert_eq!(m.consumed, msg.len());
    }

    #[test]
    fn stream_framing_splits_back_to_back_messages() {
        let mut two = OPTIONS.to_vec();
        two.extend_from_slice(OPTIONS);
        let first = parse_stream(&two).unwrap();
        assert_eq!(first.consumed, OPTIONS.len());
        let second = parse_stream(&two[first.consumed..]).unwrap();
        assert_eq!(second.consumed, OPTIONS.len());
    }

    #[test]
    fn keepalive_crlf_is_empty() {
        assert_eq!(parse(b"\r\n\r\n").unwrap_err(), ParseError::Empty);
    }

    #[test]
    fn folded_value_keeps_continuation() {
        let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n two\r\n\r\n").unwrap();
        assert_eq!(m.header(HeaderName::Subject), Some("one\r\n two"));
    }

    const HEAD: &str = "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
        From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 MESSAGE\r\n";

    fn with_length(cl: &str) -> Vec<u8> {
        format!("{HEAD}Content-Length: {cl}\r\n\r\n").into_bytes()
    }

    #[test]
    fn content_length_near_2_pow_64_is_too_large_not_incomplete() {
        // Issue 13 H1: `n as usize + body_start` wrapped, so these asked for more bytes
        // forever and the connection buffered without limit.
        let head_len = with_length("0").len() as u64;
        for n in [
            u64::MAX,
            u64::MAX - 1,
            u64::MAX - head_len,
            u64::MAX - head_len + 1,
            u64::MAX - 200,
            1 << 63,
            (MAX_MESSAGE as u64) * 2,
        ] {
            let msg = with_length(&n.to_string());
            assert_eq!(
                parse_stream(&msg).unwrap_err(),
                ParseError::BodyTooLarge,
                "Content-Length {n}"
            );
        }
    }

    #[test]
    fn content_length_at_the_cap_waits_and_one_more_is_refused() {
        let probe = with_length("00000");
        let room = MAX_MESSAGE - probe.len();
        let fits = with_length(&format!("{room:05}"));
        assert_eq!(fits.len(), probe.len());
        assert_eq!(parse_stream(&fits).unwrap_err(), ParseError::Incomplete);
        let over = with_length(&format!("{:05}", room + 1));
        assert_eq!(parse_stream(&over).unwrap_err(), ParseError::BodyTooLarge);
    }

    #[test]
    fn digits_beyond_u64_are_bad_framing() {
        let msg = with_length("99999999999999999999999");
        assert_eq!(parse_stream(&msg).unwrap_err(), ParseError::BadFraming);
    }

    #[test]
    fn parse_head_reads_the_headers_of_an_oversized_message() {
        let mut msg = with_length(&u64::MAX.to_string());
        msg.extend_from_slice(b"body bytes that are never framed");
        let m = parse_head(&msg).unwrap();
        assert_eq!(m.header(HeaderName::CallId), Some("c1"));
        assert!(m.body.is_empty());
        assert_eq!(m.consumed, with_length(&u64::MAX.to_string()).len());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// No input panics (overflow checks are on in tests) and `consumed` stays in the
            /// buffer; a stream never asks for more once it holds `MAX_MESSAGE` bytes.
            #[test]
            fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..2048)) {
                if let Ok(m) = parse(&buf) {
                    prop_assert!(m.consumed <= buf.len());
                }
                match parse_stream(&buf) {
                    Ok(m) => prop_assert!(m.consumed <= buf.len()),
                    Err(ParseError::Incomplete) => prop_assert!(buf.len() < MAX_MESSAGE),
                    Err(_) => {}
                }
                let _ = parse_head(&buf);
            }

            /// Any Content-Length: a stream either frames it, waits within the cap, or refuses.
            #[test]
            fn any_content_length_is_framed_waited_for_within_the_cap_or_refused(
                n in any::<u64>(),
                zeros in 0usize..4,
                body in proptest::collection::vec(any::<u8>(), 0..64),
            ) {
                let mut msg = with_length(&format!("{}{n}", "0".repeat(zeros)));
                let head = msg.len();
                msg.extend_from_slice(&body);
                match parse_stream(&msg) {
                    Ok(m) => {
                        prop_assert_eq!(m.body.len() as u64, n);
                        prop_assert_eq!(m.consumed, head + m.body.len());
                    }
                    Err(ParseError::Incomplete) => {
                        prop_assert!(n > body.len() as u64);
                        prop_assert!(n <= (MAX_MESSAGE - head) as u64);
                    }
                    Err(ParseError::BodyTooLarge) => {
                        prop_assert!(n > (MAX_MESSAGE - head) as u64);
                    }
                    Err(e) => prop_assert!(false, "unexpected {:?}", e),
                }
                if let Ok(m) = parse(&msg) {
                    prop_assert!(m.body.len() <= body.len());
                }
            }
        }
    }
}
