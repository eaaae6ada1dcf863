//! Typed, zero-copy parsers for the header values acd acts on: Via, name-addr (From, To,
//! Contact, Route), CSeq, URIs and generic parameters.
//!
//! Owns the value grammar of RFC 3261 §25 for these headers, with LWS (folding included)
//! accepted wherever the grammar allows it. It does not decide what a bad value means for the
//! message (that is [`super::check`]).

use super::parse::{is_token, parse_u64};
use std::net::Ipv6Addr;
use thiserror::Error;

/// Why a header value does not follow its grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The value is empty where a value is required.
    #[error("empty value")]
    Empty,
    /// A list has an empty element (e.g. `,,`).
    #[error("empty list element")]
    EmptyElement,
    /// A parameter is empty (e.g. `;;`) or has a bad name or value.
    #[error("malformed parameter")]
    BadParam,
    /// A quoted string is not terminated.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// The display name has characters that are neither token nor quoted.
    #[error("display name must be tokens or a quoted string")]
    BadDisplayName,
    /// `<...>` is not closed, or has whitespace inside the brackets.
    #[error("malformed <addr-spec>")]
    BadAngleAddr,
    /// A URI that is not enclosed in `<>` contains `?` or `,`.
    #[error("a URI with headers or commas must be enclosed in <>")]
    UnbracketedUri,
    /// The URI is malformed (scheme, host or port).
    #[error("malformed URI")]
    BadUri,
    /// The Via sent-protocol is not `name/version/transport`.
    #[error("malformed Via sent-protocol")]
    BadSentProtocol,
    /// A host or port is malformed.
    #[error("malformed host or port")]
    BadHostPort,
    /// A number is missing, malformed or out of range.
    #[error("number missing, malformed or out of range")]
    BadNumber,
    /// The method is not a token.
    #[error("malformed method")]
    BadMethod,
}

#[inline]
fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// Splits `s` at top-level occurrences of `sep`, ignoring separators inside quoted strings and
/// `<...>`.
pub(crate) fn split_top(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut in_q = false;
        let mut in_a = false;
        while i < b.len() {
            let c = b[i];
            if in_q {
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' {
                    in_q = false;
                }
            } else if c == b'"' {
                in_q = true;
            } else if c == b'<' {
                in_a = true;
            } else if c == b'>' {
                in_a = false;
            } else if c == sep && !in_a {
                let part = &s[start..i];
                i += 1;
                start = i;
                return Some(part);
            }
            i += 1;
        }
        done = true;
        Some(&s[start.min(s.len())..])
    })
}

/// Checks a `;`-separated parameter list (the text after the first `;`, or empty).
fn check_params(s: &str) -> Result<(), HeaderError> {
    if trim_lws(s).is_empty() && s.is_empty() {
        return Ok(());
    }
    for p in split_top(s, b';') {
        let p = trim_lws(p);
        if p.is_empty() {
            return Err(HeaderError::BadParam);
        }
        let (name, value) = match p.find('=') {
            Some(eq) => (trim_lws(&p[..eq]), Some(trim_lws(&p[eq + 1..]))),
            None => (p, None),
        };
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(HeaderError::BadParam);
        }
        if let Some(v) = value {
            if v.is_empty() {
                return Err(HeaderError::BadParam);
            }
            if v.starts_with('"') {
                let end = quoted_end(v)?;
                if end != v.len() {
                    return Err(HeaderError::BadParam);
                }
            } else if !v
                .bytes()
                .all(|c| is_token(c) || matches!(c, b'[' | b']' | b':'))
            {
                return Err(HeaderError::BadParam);
            }
        }
    }
    Ok(())
}

/// Finds a parameter in an already-checked parameter list: `Some(None)` for a valueless one.
pub fn find_param<'a>(params: &'a str, name: &str) -> Option<Option<&'a str>> {
    if params.is_empty() {
        return None;
    }
    for p in split_top(params, b';') {
        let p = trim_lws(p);
        let (n, v) = match p.find('=') {
            Some(eq) => (trim_lws(&p[..eq]), Some(trim_lws(&p[eq + 1..]))),
            None => (p, None),
        };
        if n.eq_ignore_ascii_case(name) {
            return Some(v.map(|v| v.trim_matches('"')));
        }
    }
    None
}

/// Index just past the closing quote of a quoted string starting at `s[0] == '"'`.
fn quoted_end(s: &str) -> Result<usize, HeaderError> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(HeaderError::UnterminatedQuote)
}

/// A parsed URI (sip, sips or any other scheme), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The scheme, as sent.
    pub scheme: &'a str,
    /// The user part (escapes kept), if any.
    pub user: Option<&'a str>,
    /// The host: a name, an IPv4 address or a bracketed IPv6 reference (brackets kept).
    pub host: &'a str,
    /// The port, if given.
    pub port: Option<u16>,
    /// URI parameters after the first `;` (without it), possibly empty.
    pub params: &'a str,
    /// The `?headers` part (without `?`), if any.
    pub headers: Option<&'a str>,
    /// For non-SIP schemes: everything after the colon.
    pub opaque: &'a str,
}

impl<'a> Uri<'a> {
    /// True for `sip:` and `sips:` URIs.
    pub fn is_sip(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("sip") || self.scheme.eq_ignore_ascii_case("sips")
    }

    /// A URI parameter (`Some(None)` when valueless).
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        find_param(self.params, name)
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']') {
            Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
            None => false,
        };
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        && !host.starts_with('.')
}

/// Splits `host[:port]` (IPv6 references in brackets).
pub fn parse_hostport(s: &str) -> Result<(&str, Option<u16>), HeaderError> {
    let (host, rest) = if s.starts_with('[') {
        let close = s.find(']').ok_or(HeaderError::BadHostPort)?;
        (&s[..=close], &s[close + 1..])
    } else {
        match s.find(':') {
            Some(c) => (&s[..c], &s[c..]),
            None => (s, ""),
        }
    };
    if !valid_host(host) {
        return Err(HeaderError::BadHostPort);
    }
    let port = if rest.is_empty() {
        None
    } else {
        let p = rest.strip_prefix(':').ok_or(HeaderError::BadHostPort)?;
        let n = parse_u64(p).ok_or(HeaderError::BadHostPort)?;
        Some(u16::try_from(n).map_err(|_| HeaderError::BadHostPort)?)
    };
    Ok((host, port))
}

/// Parses a URI; rejects whitespace anywhere in it.
pub fn parse_uri(s: &str) -> Result<Uri<'_>, HeaderError> {
    if s.is_empty() || s.bytes().any(|c| is_lws(c) || c == b'<' || c == b'>') {
        return Err(HeaderError::BadUri);
    }
    let colon = s.find(':').ok_or(HeaderError::BadUri)?;
    let scheme = &s[..colon];
    let first_ok = scheme
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok
        || !scheme
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return Err(HeaderError::BadUri);
    }
    let rest = &s[colon + 1..];
    if rest.is_empty() {
        return Err(HeaderError::BadUri);
    }
    let mut uri = Uri {
        scheme,
        user: None,
        host: "",
        port: None,
        params: "",
        headers: None,
        opaque: rest,
    };
    if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
        return Ok(uri);
    }
    let (userinfo, hostpart) = match rest.find('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    if let Some(u) = userinfo {
        // The password (after ':') is kept in `user`; acd never uses it.
        if u.is_empty() {
            return Err(HeaderError::BadUri);
        }
        uri.user = Some(u.split(':').next().unwrap_or(u));
    }
    let (before_headers, headers) = match hostpart.find('?') {
        Some(q) => (&hostpart[..q], Some(&hostpart[q + 1..])),
        None => (hostpart, None),
    };
    let (hostport, params) = match before_headers.find(';') {
        Some(sc) => (&before_headers[..sc], &before_headers[sc + 1..]),
        None => (before_headers, ""),
    };
    let (host, port) = parse_hostport(hostport)?;
    check_params(params).map_err(|_| HeaderError::BadUri)?;
    uri.host = host;
    uri.port = port;
    uri.params = params;
    uri.headers = headers;
    Ok(uri)
}

/// One Via element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol version (normally `2.0`).
    pub version: &'a str,
    /// Transport token (`UDP`, `TCP`, any extension).
    pub transport: &'a str,
    /// sent-by host.
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters after the first `;` (checked).
    pub params: &'a str,
}

impl<'a> Via<'a> {
    /// The branch parameter.
    pub fn branch(&self) -> Option<&'a str> {
        find_param(self.params, "branch").flatten()
    }

    /// A parameter (`Some(None)` when valueless, e.g. `rport`).
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        find_param(self.params, name)
    }
}

/// Parses one Via header value (which may hold several comma-separated elements).
pub fn parse_vias(value: &str) -> impl Iterator<Item = Result<Via<'_>, HeaderError>> {
    split_top(value, b',').map(parse_via_elem)
}

fn parse_via_elem(s: &str) -> Result<Via<'_>, HeaderError> {
    let s = trim_lws(s);
    if s.is_empty() {
        return Err(HeaderError::EmptyElement);
    }
    let mut parts = s.splitn(3, '/');
    let name = trim_lws(parts.next().ok_or(HeaderError::BadSentProtocol)?);
    let version = trim_lws(parts.next().ok_or(HeaderError::BadSentProtocol)?);
    let rest = trim_lws(parts.next().ok_or(HeaderError::BadSentProtocol)?);
    if name.is_empty()
        || !name.bytes().all(is_token)
        || version.is_empty()
        || !version.bytes().all(is_token)
    {
        return Err(HeaderError::BadSentProtocol);
    }
    let tend = rest
        .bytes()
        .position(is_lws)
        .ok_or(HeaderError::BadSentProtocol)?;
    let transport = &rest[..tend];
    if transport.is_empty() || !transport.bytes().all(is_token) {
        return Err(HeaderError::BadSentProtocol);
    }
    let after = trim_lws(&rest[tend..]);
    let (sent_by, params) = match after.find(';') {
        Some(sc) => (trim_lws(&after[..sc]), &after[sc + 1..]),
        None => (after, ""),
    };
    // sent-by is host [ COLON port ] with optional LWS around the colon.
    let compact: &str = sent_by;
    if compact.bytes().any(is_lws) {
        return Err(HeaderError::BadHostPort);
    }
    let (host, port) = parse_hostport(compact)?;
    if !params.is_empty() || after.contains(';') {
        check_params(params)?;
    }
    Ok(Via {
        version,
        transport,
        host,
        port,
        params,
    })
}

/// A parsed name-addr or addr-spec with its header parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as sent (quotes kept), possibly empty.
    pub display: &'a str,
    /// The URI.
    pub uri: Uri<'a>,
    /// Header parameters after the address (checked), possibly empty.
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        find_param(self.params, "tag").flatten()
    }

    /// A header parameter (`Some(None)` when valueless).
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        find_param(self.params, name)
    }
}

/// Parses one name-addr / addr-spec with parameters (From, To, one Contact, one Route).
pub fn parse_name_addr(s: &str) -> Result<NameAddr<'_>, HeaderError> {
    let s = trim_lws(s);
    if s.is_empty() {
        return Err(HeaderError::Empty);
    }
    let b = s.as_bytes();
    let (display, lt) = if b[0] == b'"' {
        let end = quoted_end(s)?;
        let rest = &s[end..];
        let off = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii() && is_lws(c as u8))
                .len();
        let lt = end + off;
        if b.get(lt) != Some(&b'<') {
            return Err(HeaderError::BadAngleAddr);
        }
        (&s[..end], Some(lt))
    } else {
        let mut i = 0;
        while i < b.len() && (is_token(b[i]) || is_lws(b[i])) {
            i += 1;
        }
        if i < b.len() && b[i] == b'<' {
            (trim_lws(&s[..i]), Some(i))
        } else if s[i..].contains('<') && !s[..i].contains(':') {
            return Err(HeaderError::BadDisplayName);
        } else {
            ("", None)
        }
    };
    match lt {
        Some(lt) => {
            let gt_rel = s[lt..].find('>').ok_or(HeaderError::BadAngleAddr)?;
            let gt = lt + gt_rel;
            let inner = &s[lt + 1..gt];
            if inner.is_empty()
                || is_lws(inner.as_bytes()[0])
                || is_lws(inner.as_bytes()[inner.len() - 1])
            {
                return Err(HeaderError::BadAngleAddr);
            }
            let uri = parse_uri(inner)?;
            let rest = trim_lws(&s[gt + 1..]);
            let params = if rest.is_empty() {
                ""
            } else {
                rest.strip_prefix(';').ok_or(HeaderError::BadParam)?
            };
            check_params(params)?;
            Ok(NameAddr {
                display,
                uri,
                params,
            })
        }
        None => {
            let (u, params) = match s.find(';') {
                Some(sc) => (trim_lws(&s[..sc]), &s[sc + 1..]),
                None => (s, ""),
            };
            if u.contains('?') || u.contains(',') {
                return Err(HeaderError::UnbracketedUri);
            }
            let uri = parse_uri(u)?;
            check_params(params)?;
            Ok(NameAddr {
                display: "",
                uri,
                params,
            })
        }
    }
}

/// One Contact header value: `*` or a list of name-addrs.
pub fn parse_contacts(value: &str) -> impl Iterator<Item = Result<Contact<'_>, HeaderError>> {
    split_top(value, b',').map(|c| {
        let c = trim_lws(c);
        if c == "*" {
            Ok(Contact::Star)
        } else if c.is_empty() {
            Err(HeaderError::EmptyElement)
        } else {
            parse_name_addr(c).map(Contact::Addr)
        }
    })
}

/// A Contact element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (un-REGISTER all bindings).
    Star,
    /// An address.
    Addr(NameAddr<'a>),
}

/// Parses a CSeq value: sequence number (< 2^31) and method.
pub fn parse_cseq(value: &str) -> Result<(u32, &str), HeaderError> {
    let v = trim_lws(value);
    let end = v.bytes().position(is_lws).ok_or(HeaderError::BadNumber)?;
    let n = parse_u64(&v[..end]).ok_or(HeaderError::BadNumber)?;
    if n >= 1 << 31 {
        return Err(HeaderError::BadNumber);
    }
    let method = trim_lws(&v[end..]);
    if method.is_empty() || !method.bytes().all(is_token) {
        return Err(HeaderError::BadMethod);
    }
    Ok((n as u32, method))
}

/// Parses a delta-seconds / integer value with an upper bound.
pub fn parse_bounded(value: &str, max: u64) -> Result<u64, HeaderError> {
    match parse_u64(trim_lws(value)) {
        Some(n) if n <= max => Ok(n),
        _ => Err(HeaderError::BadNumber),
    }
}

/// Extracts the first `Expires`-style delta-seconds of a value that may carry parameters
/// (`Retry-After: 5;duration=3`).
pub fn leading_number(value: &str) -> Option<u64> {
    let v = trim_lws(value);
    let end = v
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(v.len());
    parse_u64(&v[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_folding_and_spaces_parses() {
        let v: Vec<_> = parse_vias("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(v[0].transport, "UDP");
        assert_eq!(v[0].host, "192.0.2.2");
        assert_eq!(v[0].branch(), Some("390skdjuw"));
    }

    #[test]
    fn via_list_with_empty_params_is_rejected() {
        assert!(parse_vias("SIP/2.0/UDP 192.0.2.15;;,;,,").any(|r| r.is_err()));
    }

    #[test]
    fn via_ipv6_with_port_and_rport() {
        let v = parse_vias("SIP/2.0/UDP [2001:db8::9:1]:6050;rport;branch=z9hG4bKx")
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(v.host, "[2001:db8::9:1]");
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.param("rport"), Some(None));
    }

    #[test]
    fn name_addr_quoted_display_with_escapes() {
        let n = parse_name_addr(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(n.uri.host, "example.com");
        assert_eq!(n.tag(), Some("98asjd8"));
    }

    #[test]
    fn name_addr_unquoted_comma_display_is_rejected() {
        assert_eq!(
            parse_name_addr("Bell, Alexander <sip:a.g.bell@example.com>;tag=43"),
            Err(HeaderError::BadDisplayName)
        );
    }

    #[test]
    fn name_addr_spaces_inside_brackets_are_rejected() {
        assert_eq!(
            parse_name_addr("\"Watson, Thomas\" < sip:t.watson@example.org >"),
            Err(HeaderError::BadAngleAddr)
        );
    }

    #[test]
    fn uri_ipv6_without_brackets_is_rejected() {
        assert!(parse_uri("sip:2001:db8::10").is_err());
        assert!(parse_uri("sip:[2001:db8::10]:5070").is_ok());
        assert!(parse_uri("sip:user@[2001:db8:::192.0.2.1]").is_err());
    }

    #[test]
    fn cseq_overflow_is_rejected() {
        assert_eq!(
            parse_cseq("36893488147419103232 REGISTER"),
            Err(HeaderError::BadNumber)
        );
        assert_eq!(parse_cseq("0009\r\n  INVITE"), Ok((9, "INVITE")));
    }
}
