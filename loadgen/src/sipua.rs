//! A minimal SIP user agent over UDP for tests and the relay benchmark: REGISTER with MD5
//! digest (qop=auth, nc counting), INVITE with an SDP offer and ACK of the answer, answering
//! an incoming INVITE as a phone does (180, then 200 with SDP, waiting for the ACK), BYE in
//! either direction, and in-dialog re-INVITE (hold/resume).
//!
//! Owns the few messages a test party needs, written by hand from RFC 3261 so tests check
//! acd against the RFC rather than against acd's own parser. Not a general SIP stack: one
//! socket, no TCP, no forking, no Record-Route, blocking calls bounded by timeouts. Requests
//! are retransmitted every 500 ms until a response arrives (T1), and a request retransmitted
//! by the peer is answered again with the response already sent.

use crate::tone::Law;
use md5::{Digest as _, Md5};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use thiserror::Error;

/// What went wrong in a SIP exchange.
#[derive(Debug, Error)]
pub enum SipError {
    /// Socket error.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// Nothing (or not the expected message) arrived in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// A final response other than the expected success.
    #[error("{what} answered {code} {reason}")]
    Rejected {
        /// The request.
        what: String,
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// A challenge this client cannot answer (no MD5 offered).
    #[error("unsupported challenge: {0}")]
    Challenge(String),
    /// A message or SDP body that could not be understood.
    #[error("malformed: {0}")]
    Malformed(String),
}

/// A parsed SIP message.
#[derive(Debug, Clone)]
pub struct Message {
    /// The start line.
    pub start: String,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

fn long_name(name: &str) -> &str {
    match name.to_ascii_lowercase().as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        _ => name,
    }
}

impl Message {
    /// Parses one datagram.
    pub fn parse(buf: &[u8]) -> Result<Message, SipError> {
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| SipError::Malformed("no end of headers".into()))?;
        let head = std::str::from_utf8(&buf[..split])
            .map_err(|_| SipError::Malformed("headers not UTF-8".into()))?;
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or_default().to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| SipError::Malformed(format!("header line {line:?}")))?;
            headers.push((long_name(n.trim()).to_owned(), v.trim().to_owned()));
        }
        let mut body = buf[split + 4..].to_vec();
        let m = Message {
            start,
            headers,
            body: Vec::new(),
        };
        if let Some(len) = m
            .header("content-length")
            .and_then(|l| l.parse::<usize>().ok())
        {
            body.truncate(len);
        }
        Ok(Message { body, ..m })
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        if self.start.starts_with("SIP/2.0") {
            None
        } else {
            self.start.split(' ').next()
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> &str {
        self.start.splitn(3, ' ').nth(2).unwrap_or("")
    }

    /// Call-ID.
    pub fn call_id(&self) -> &str {
        self.header("call-id").unwrap_or("")
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> (u32, &str) {
        let v = self.header("cseq").unwrap_or("");
        let mut it = v.split_whitespace();
        let n = it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        (n, it.next().unwrap_or(""))
    }

    /// The tag parameter of a From/To header value.
    pub fn tag(&self, header: &str) -> Option<&str> {
        param(self.header(header)?, "tag")
    }

    /// The URI inside a name-addr header value (`<sip:...>` or a bare URI).
    pub fn uri_of(&self, header: &str) -> Option<&str> {
        self.header(header).map(addr_uri)
    }
}

fn addr_uri(v: &str) -> &str {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

fn param<'a>(v: &'a str, name: &str) -> Option<&'a str> {
    let after = match v.rfind('>') {
        Some(i) => &v[i..],
        None => v,
    };
    after.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then_some(val.trim())
    })
}

/// The audio stream of an SDP body, as far as the tests care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// Connection address.
    pub addr: IpAddr,
    /// Audio port.
    pub port: u16,
    /// Payload types in the m= line, in order.
    pub pts: Vec<u8>,
    /// `a=rtpmap` entries: payload type and encoding name (upper case), for every map.
    pub rtpmap: Vec<(u8, String)>,
    /// The direction attribute, if any (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    pub direction: Option<String>,
}

impl Sdp {
    /// Parses the first audio stream of an SDP body.
    pub fn parse(body: &[u8]) -> Result<Sdp, SipError> {
        let text = std::str::from_utf8(body).map_err(|_| SipError::Malformed("SDP".into()))?;
        let mut session_addr = None;
        let mut media_addr = None;
        let mut audio: Option<(u16, Vec<u8>)> = None;
        let mut in_audio = false;
        let mut rtpmap = Vec::new();
        let mut direction = None;
        for line in text.lines().map(str::trim) {
            if let Some(m) = line.strip_prefix("m=") {
                in_audio = audio.is_none() && m.starts_with("audio ");
                if in_audio {
                    let mut it = m.split_whitespace().skip(1);
                    let port = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    let pts = it.skip(1).filter_map(|p| p.parse().ok()).collect();
                    audio = Some((port, pts));
                }
            } else if let Some(c) = line.strip_prefix("c=IN IP4 ") {
                let a = c.split('/').next().and_then(|a| a.trim().parse().ok());
                if audio.is_none() {
                    session_addr = a;
                } else if in_audio {
                    media_addr = a;
                }
            } else if let Some(map) = line.strip_prefix("a=rtpmap:") {
                if audio.is_none() || in_audio {
                    if let Some((pt, enc)) = map.split_once(' ') {
                        if let Ok(pt) = pt.parse() {
                            let name = enc.split('/').next().unwrap_or("").to_ascii_uppercase();
                            rtpmap.push((pt, name));
                        }
                    }
                }
            } else if let Some(d) = line.strip_prefix("a=") {
                if matches!(d, "sendrecv" | "sendonly" | "recvonly" | "inactive")
                    && (audio.is_none() || in_audio)
                {
                    direction = Some(d.to_owned());
                }
            }
        }
        let (port, pts) = audio.ok_or_else(|| SipError::Malformed("no m=audio".into()))?;
        let addr = media_addr
            .or(session_addr)
            .ok_or_else(|| SipError::Malformed("no c=IN IP4".into()))?;
        Ok(Sdp {
            addr,
            port,
            pts,
            rtpmap,
            direction,
        })
    }

    /// Where to send RTP.
    pub fn rtp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// The payload type of an encoding name (static 0/8 implied when unmapped).
    pub fn pt_of(&self, name: &str) -> Option<u8> {
        if let Some((pt, _)) = self
            .rtpmap
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
        {
            return self.pts.contains(pt).then_some(*pt);
        }
        let implied = match name.to_ascii_uppercase().as_str() {
            "PCMU" => 0,
            "PCMA" => 8,
            _ => return None,
        };
        self.pts.contains(&implied).then_some(implied)
    }

    /// The first G.711 law in the m= line's order.
    pub fn first_law(&self) -> Option<Law> {
        self.pts.iter().find_map(|&pt| {
            let name = self
                .rtpmap
                .iter()
                .find(|(p, _)| *p == pt)
                .map(|(_, n)| n.as_str());
            match (pt, name) {
                (0, None | Some("PCMU")) => Some(Law::Pcmu),
                (8, None | Some("PCMA")) => Some(Law::Pcma),
                _ => None,
            }
        })
    }
}

/// An SDP body offering (or answering with) `laws` in order plus telephone-event 101.
pub fn sdp_body(ip: IpAddr, port: u16, laws: &[Law], direction: &str, version: u32) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "v=0\r\no=test 1 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP"
    );
    for l in laws {
        let _ = write!(s, " {}", l.pt());
    }
    s.push_str(" 101\r\n");
    for l in laws {
        let _ = write!(s, "a=rtpmap:{} {}/8000\r\n", l.pt(), l.name());
    }
    let _ = write!(
        s,
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na={direction}\r\n"
    );
    s
}

/// A SIP dialog as one party sees it.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// Our URI (From of our requests).
    pub local_uri: String,
    /// The peer's URI (To of our requests).
    pub remote_uri: String,
    /// The peer's Contact (Request-URI of our in-dialog requests).
    pub remote_target: String,
    /// Our last CSeq number.
    pub cseq: u32,
    /// Where in-dialog requests go.
    pub peer: SocketAddr,
    /// The peer's latest SDP.
    pub remote_sdp: Option<Sdp>,
}

/// An INVITE received by [`SipUa::wait_invite`], not answered yet.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The request.
    pub invite: Message,
    /// Its source.
    pub from: SocketAddr,
    /// Its SDP offer, if any.
    pub offer: Option<Sdp>,
}

/// What an INVITE we sent produced.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The confirmed dialog (ACK sent).
    pub dialog: Dialog,
    /// Provisional status codes seen before the 200, in order.
    pub provisional: Vec<u16>,
}

/// A UDP SIP user agent bound to one local socket, talking to one server.
#[derive(Debug)]
pub struct SipUa {
    socket: UdpSocket,
    server: SocketAddr,
    local: SocketAddr,
    backlog: VecDeque<(Message, SocketAddr)>,
    /// Responses we sent, by (Call-ID, CSeq, method), to answer the peer's retransmissions.
    sent_responses: HashMap<(String, u32, String), (Vec<u8>, SocketAddr)>,
    counter: u64,
    seed: u64,
    nc: u32,
}

const T1: Duration = Duration::from_millis(500);

impl SipUa {
    /// A UA on an ephemeral port of `ip`, talking to `server`.
    pub fn bind(ip: IpAddr, server: SocketAddr) -> Result<SipUa, SipError> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        let local = socket.local_addr()?;
        Ok(SipUa {
            socket,
            server,
            local,
            backlog: VecDeque::new(),
            sent_responses: HashMap::new(),
            counter: 0,
            seed: u64::from(local.port()) << 32 ^ std::process::id() as u64,
            nc: 0,
        })
    }

    /// The local address (what Contact and Via name).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn unique(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{what}{:x}{:x}", self.seed, self.counter)
    }

    fn send(&self, data: &[u8], to: SocketAddr) -> Result<(), SipError> {
        self.socket.send_to(data, to)?;
        Ok(())
    }

    /// Receives one message (from the backlog first) matching `f`, until `deadline`; others
    /// are kept in the backlog. A retransmitted request we already answered is answered
    /// again and dropped.
    fn recv_matching(
        &mut self,
        deadline: Instant,
        mut f: impl FnMut(&Message) -> bool,
    ) -> Result<Option<(Message, SocketAddr)>, SipError> {
        if let Some(i) = self.backlog.iter().position(|(m, _)| f(m)) {
            return Ok(self.backlog.remove(i));
        }
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket.set_read_timeout(Some(left))?;
            let (n, from) = match self.socket.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            };
            let Ok(m) = Message::parse(&buf[..n]) else {
                continue;
            };
            if let Some(method) = m.method() {
                let (cseq, _) = m.cseq();
                let key = (m.call_id().to_owned(), cseq, method.to_owned());
                if method != "ACK" {
                    if let Some((resp, to)) = self.sent_responses.get(&key) {
                        let _ = self.socket.send_to(resp, *to);
                        continue;
                    }
                }
            }
            if f(&m) {
                return Ok(Some((m, from)));
            }
            self.backlog.push_back((m, from));
        }
    }

    /// Sends `request` to `to` and waits for its final response, retransmitting every T1
    /// until any response arrives; returns the provisional codes seen and the final response.
    fn transact(
        &mut self,
        request: &[u8],
        to: SocketAddr,
        call_id: &str,
        cseq: u32,
        method: &str,
        timeout: Duration,
    ) -> Result<(Vec<u16>, Message), SipError> {
        let deadline = Instant::now() + timeout;
        self.send(request, to)?;
        let mut provisional = Vec::new();
        let mut retransmit = true;
        loop {
            let wait_until = if retransmit {
                (Instant::now() + T1).min(deadline)
            } else {
                deadline
            };
            let got = self.recv_matching(wait_until, |m| {
                m.status().is_some() && m.call_id() == call_id && m.cseq() == (cseq, method)
            })?;
            match got {
                Some((m, _)) => {
                    let code = m.status().unwrap_or(0);
                    if code >= 200 {
                        return Ok((provisional, m));
                    }
                    provisional.push(code);
                    retransmit = false;
                }
                None if Instant::now() >= deadline => {
                    return Err(SipError::Timeout(format!("a response to {method}")))
                }
                None => self.send(request, to)?,
            }
        }
    }

    /// Registers `user` with `password` (MD5 digest, qop=auth) for `expires` seconds with
    /// this UA's address as Contact (plus `contact_params`, e.g. `;transport=udp`).
    pub fn register(
        &mut self,
        user: &str,
        password: &str,
        expires: u32,
        contact_params: &str,
    ) -> Result<(), SipError> {
        let call_id = self.unique("reg");
        let tag = self.unique("t");
        let host = self.server;
        let uri = format!("sip:{host}");
        let mut auth: Option<String> = None;
        for cseq in 1..=3u32 {
            let branch = self.unique("z9hG4bK");
            let mut req = format!(
                "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@{host}>;tag={tag}\r\nTo: <sip:{user}@{host}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
                 Contact: <sip:{user}@{local}{contact_params}>\r\nExpires: {expires}\r\n\
                 User-Agent: acd-loadgen\r\n",
                local = self.local
            );
            if let Some(a) = &auth {
                let _ = write!(req, "Authorization: {a}\r\n");
            }
            req.push_str("Content-Length: 0\r\n\r\n");
            let (_, resp) = self.transact(
                req.as_bytes(),
                self.server,
                &call_id,
                cseq,
                "REGISTER",
                Duration::from_secs(10),
            )?;
            match resp.status() {
                Some(200..=299) => return Ok(()),
                Some(401) if auth.is_none() || stale(&resp) => {
                    auth = Some(self.authorization(&resp, user, password, "REGISTER", &uri)?);
                }
                _ => {
                    return Err(SipError::Rejected {
                        what: "REGISTER".into(),
                        code: resp.status().unwrap_or(0),
                        reason: resp.reason().to_owned(),
                    })
                }
            }
        }
        Err(SipError::Timeout("a 200 to REGISTER".into()))
    }

    /// The Authorization value answering the MD5 challenge in `resp`.
    fn authorization(
        &mut self,
        resp: &Message,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
    ) -> Result<String, SipError> {
        let challenges: Vec<&str> = resp.headers_named("www-authenticate").collect();
        let md5 = challenges
            .iter()
            .find(|c| {
                let p = auth_params(c);
                p.get("algorithm")
                    .is_none_or(|a| a.eq_ignore_ascii_case("MD5"))
            })
            .ok_or_else(|| SipError::Challenge(challenges.join(" | ")))?;
        let p = auth_params(md5);
        let realm = p.get("realm").cloned().unwrap_or_default();
        let nonce = p.get("nonce").cloned().unwrap_or_default();
        let qop_auth = p
            .get("qop")
            .is_some_and(|q| q.split(',').any(|x| x.trim() == "auth"));
        let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let mut out = format!(
            "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5"
        );
        if qop_auth {
            self.nc += 1;
            let nc = format!("{:08x}", self.nc);
            let cnonce = self.unique("c");
            let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
            let _ = write!(
                out,
                ", response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\""
            );
        } else {
            let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
            let _ = write!(out, ", response=\"{response}\"");
        }
        if let Some(o) = p.get("opaque") {
            let _ = write!(out, ", opaque=\"{o}\"");
        }
        Ok(out)
    }

    /// Calls `number` at the server with `sdp` as offer: waits through provisional
    /// responses, ACKs the 200 and returns the dialog. A non-2xx final answer is ACKed and
    /// returned as [`SipError::Rejected`].
    pub fn invite(
        &mut self,
        number: &str,
        from_user: &str,
        sdp: &str,
        timeout: Duration,
    ) -> Result<Placed, SipError> {
        let call_id = self.unique("call");
        let tag = self.unique("t");
        let branch = self.unique("z9hG4bK");
        let host = self.server;
        let local = self.local;
        let uri = format!("sip:{number}@{host}");
        let local_uri = format!("sip:{from_user}@{local}");
        let req = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <{local_uri}>;tag={tag}\r\nTo: <{uri}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <{local_uri}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        let (provisional, resp) =
            self.transact(req.as_bytes(), self.server, &call_id, 1, "INVITE", timeout)?;
        let code = resp.status().unwrap_or(0);
        let remote_tag = resp.tag("to").unwrap_or("").to_owned();
        if !(200..300).contains(&code) {
            // ACK of a non-2xx final response: same branch, To with the response's tag.
            let to = resp.header("to").unwrap_or("");
            let ack = format!(
                "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <{local_uri}>;tag={tag}\r\nTo: {to}\r\n\
                 Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            );
            self.send(ack.as_bytes(), self.server)?;
            return Err(SipError::Rejected {
                what: "INVITE".into(),
                code,
                reason: resp.reason().to_owned(),
            });
        }
        let dialog = Dialog {
            call_id,
            local_tag: tag,
            remote_tag,
            local_uri,
            remote_uri: uri.clone(),
            remote_target: resp.uri_of("contact").unwrap_or(&uri).to_owned(),
            cseq: 1,
            peer: self.server,
            remote_sdp: Sdp::parse(&resp.body).ok(),
        };
        self.ack(&dialog, 1)?;
        Ok(Placed {
            dialog,
            provisional,
        })
    }

    fn in_dialog(
        &mut self,
        d: &Dialog,
        method: &str,
        cseq: u32,
        extra: &str,
        body: &str,
    ) -> String {
        let branch = self.unique("z9hG4bK");
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <{lu}>;tag={lt}\r\nTo: <{ru}>;tag={rt}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <{lu}>\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            body.len(),
            target = d.remote_target,
            local = self.local,
            lu = d.local_uri,
            lt = d.local_tag,
            ru = d.remote_uri,
            rt = d.remote_tag,
            cid = d.call_id,
        )
    }

    fn ack(&mut self, d: &Dialog, cseq: u32) -> Result<(), SipError> {
        let ack = self.in_dialog(d, "ACK", cseq, "", "");
        self.send(ack.as_bytes(), d.peer)
    }

    /// Sends BYE in the dialog; returns the final status code.
    pub fn bye(&mut self, d: &mut Dialog) -> Result<u16, SipError> {
        d.cseq += 1;
        let req = self.in_dialog(d, "BYE", d.cseq, "", "");
        let (_, resp) = self.transact(
            req.as_bytes(),
            d.peer,
            &d.call_id.clone(),
            d.cseq,
            "BYE",
            Duration::from_secs(10),
        )?;
        Ok(resp.status().unwrap_or(0))
    }

    /// Sends a re-INVITE with `sdp`; on 2xx ACKs it and records the new remote SDP. Returns
    /// the final response.
    pub fn reinvite(&mut self, d: &mut Dialog, sdp: &str) -> Result<Message, SipError> {
        d.cseq += 1;
        let req = self.in_dialog(
            d,
            "INVITE",
            d.cseq,
            "Content-Type: application/sdp\r\n",
            sdp,
        );
        let (_, resp) = self.transact(
            req.as_bytes(),
            d.peer,
            &d.call_id.clone(),
            d.cseq,
            "INVITE",
            Duration::from_secs(10),
        )?;
        if resp.status().is_some_and(|c| (200..300).contains(&c)) {
            if let Ok(sdp) = Sdp::parse(&resp.body) {
                d.remote_sdp = Some(sdp);
            }
            self.ack(d, d.cseq)?;
        }
        Ok(resp)
    }

    /// Waits for a new INVITE (not in an existing dialog of ours: no To tag).
    pub fn wait_invite(&mut self, timeout: Duration) -> Result<Incoming, SipError> {
        let deadline = Instant::now() + timeout;
        let got = self.recv_matching(deadline, |m| {
            m.method() == Some("INVITE") && m.tag("to").is_none()
        })?;
        let (invite, from) = got.ok_or_else(|| SipError::Timeout("an INVITE".into()))?;
        let offer = Sdp::parse(&invite.body).ok();
        Ok(Incoming {
            invite,
            from,
            offer,
        })
    }

    /// A response to `req` with `code`, our To tag, and an optional SDP body.
    fn response(
        &self,
        req: &Message,
        code: u16,
        reason: &str,
        tag: &str,
        sdp: Option<&str>,
    ) -> String {
        let mut out = format!("SIP/2.0 {code} {reason}\r\n");
        for v in req.headers_named("via") {
            let _ = write!(out, "Via: {v}\r\n");
        }
        let to = req.header("to").unwrap_or("");
        let to = if tag.is_empty() || param(to, "tag").is_some() {
            to.to_owned()
        } else {
            format!("{to};tag={tag}")
        };
        let _ = write!(
            out,
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n",
            req.header("from").unwrap_or(""),
            req.call_id(),
            req.header("cseq").unwrap_or("")
        );
        if req.method() == Some("INVITE") && code < 300 {
            let _ = write!(out, "Contact: <sip:agent@{}>\r\n", self.local);
        }
        match sdp {
            Some(s) => {
                let _ = write!(
                    out,
                    "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{s}",
                    s.len()
                );
            }
            None => out.push_str("Content-Length: 0\r\n\r\n"),
        }
        out
    }

    fn respond(&mut self, req: &Message, to: SocketAddr, text: String) -> Result<(), SipError> {
        self.send(text.as_bytes(), to)?;
        let (cseq, method) = req.cseq();
        self.sent_responses.insert(
            (req.call_id().to_owned(), cseq, method.to_owned()),
            (text.into_bytes(), to),
        );
        Ok(())
    }

    /// Answers an incoming INVITE as a phone does: 180, then 200 with `sdp`, then waits for
    /// the ACK (re-sending the 200 every T1). Returns the confirmed dialog.
    pub fn answer(&mut self, inc: &Incoming, sdp: &str) -> Result<Dialog, SipError> {
        let tag = self.unique("a");
        let req = &inc.invite;
        let ringing = self.response(req, 180, "Ringing", &tag, None);
        self.send(ringing.as_bytes(), inc.from)?;
        let ok = self.response(req, 200, "OK", &tag, Some(sdp));
        self.respond(req, inc.from, ok.clone())?;
        let call_id = req.call_id().to_owned();
        let (cseq, _) = req.cseq();
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            let until = (Instant::now() + T1).min(deadline);
            let got = self.recv_matching(until, |m| {
                m.method() == Some("ACK") && m.call_id() == call_id && m.cseq().0 == cseq
            })?;
            if got.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(SipError::Timeout("the ACK of our 200".into()));
            }
            self.send(ok.as_bytes(), inc.from)?;
        }
        Ok(Dialog {
            call_id,
            local_tag: tag,
            remote_tag: req.tag("from").unwrap_or("").to_owned(),
            local_uri: req.uri_of("to").unwrap_or("").to_owned(),
            remote_uri: req.uri_of("from").unwrap_or("").to_owned(),
            remote_target: req.uri_of("contact").unwrap_or("").to_owned(),
            cseq: 0,
            peer: inc.from,
            remote_sdp: inc.offer.clone(),
        })
    }

    /// Refuses an incoming INVITE with `code` (e.g. 486) and waits briefly for its ACK.
    pub fn reject(&mut self, inc: &Incoming, code: u16, reason: &str) -> Result<(), SipError> {
        let tag = self.unique("a");
        let text = self.response(&inc.invite, code, reason, &tag, None);
        self.respond(&inc.invite, inc.from, text)?;
        let call_id = inc.invite.call_id().to_owned();
        let _ = self.recv_matching(Instant::now() + Duration::from_secs(2), |m| {
            m.method() == Some("ACK") && m.call_id() == call_id
        })?;
        Ok(())
    }

    /// Waits for a request of `method` in dialog `d` and answers it 200 (with `sdp` for an
    /// INVITE). Returns the request.
    pub fn wait_request(
        &mut self,
        d: &Dialog,
        method: &str,
        timeout: Duration,
        sdp: Option<&str>,
    ) -> Result<Message, SipError> {
        let deadline = Instant::now() + timeout;
        let got = self.recv_matching(deadline, |m| {
            m.method() == Some(method) && m.call_id() == d.call_id
        })?;
        let (req, from) = got.ok_or_else(|| SipError::Timeout(format!("a {method}")))?;
        let text = self.response(&req, 200, "OK", &d.local_tag, sdp);
        self.respond(&req, from, text)?;
        Ok(req)
    }

    /// Waits for a BYE in dialog `d` and answers 200.
    pub fn wait_bye(&mut self, d: &Dialog, timeout: Duration) -> Result<(), SipError> {
        self.wait_request(d, "BYE", timeout, None).map(|_| ())
    }

    /// Answers every request waiting in the backlog or arriving within `for_` with 200
    /// (BYE, OPTIONS, NOTIFY...) except INVITEs, which are left for [`SipUa::wait_invite`];
    /// returns the methods answered. Lets a background party stay polite.
    pub fn answer_stray(&mut self, for_: Duration) -> Result<Vec<String>, SipError> {
        let deadline = Instant::now() + for_;
        let mut answered = Vec::new();
        while let Some((m, from)) = self.recv_matching(
            deadline,
            |m| matches!(m.method(), Some(x) if x != "INVITE" && x != "ACK"),
        )? {
            let text = self.response(&m, 200, "OK", "", None);
            self.respond(&m, from, text)?;
            answered.push(m.method().unwrap_or("").to_owned());
        }
        Ok(answered)
    }
}

fn stale(resp: &Message) -> bool {
    resp.headers_named("www-authenticate").any(|c| {
        auth_params(c)
            .get("stale")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    })
}

/// The parameters of a `Digest k=v, k="v"` challenge (keys lower-cased).
pub fn auth_params(challenge: &str) -> HashMap<String, String> {
    let rest = challenge
        .trim()
        .strip_prefix("Digest")
        .unwrap_or(challenge)
        .trim();
    let mut out = HashMap::new();
    let mut chars = rest.char_indices().peekable();
    let mut start = 0;
    let mut in_quotes = false;
    let mut parts = Vec::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                parts.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if chars.peek().is_none() {
            parts.push(&rest[start..]);
        }
    }
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            out.insert(
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            );
        }
    }
    out
}

fn md5_hex(s: &str) -> String {
    let mut out = String::with_capacity(32);
    for b in Md5::digest(s.as_bytes()) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_response_matches_rfc_2617_example() {
        // RFC 2617 §3.5 (with method GET), the reference answer for qop=auth.
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = md5_hex("GET:/dir/index.html");
        let r = md5_hex(&format!(
            "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn challenge_params_keep_commas_inside_quotes() {
        let p =
            auth_params(r#"Digest realm="acd", nonce="a,b", algorithm=MD5, qop="auth,auth-int""#);
        assert_eq!(p["realm"], "acd");
        assert_eq!(p["nonce"], "a,b");
        assert_eq!(p["algorithm"], "MD5");
        assert_eq!(p["qop"], "auth,auth-int");
    }

    #[test]
    fn sdp_round_trips_through_the_parser() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let s = Sdp::parse(sdp_body(ip, 4000, &[Law::Pcma, Law::Pcmu], "sendonly", 2).as_bytes())
            .unwrap();
        assert_eq!(s.rtp_addr(), "127.0.0.1:4000".parse().unwrap());
        assert_eq!(s.pts, vec![8, 0, 101]);
        assert_eq!(s.first_law(), Some(Law::Pcma));
        assert_eq!(s.pt_of("telephone-event"), Some(101));
        assert_eq!(s.direction.as_deref(), Some("sendonly"));
    }

    #[test]
    fn messages_parse_with_compact_headers_and_a_body() {
        let m = Message::parse(
            b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 1.2.3.4\r\ni: abc\r\nt: <sip:a@b>;tag=xyz\r\nCSeq: 7 INVITE\r\nl: 3\r\n\r\nabcdef",
        )
        .unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.call_id(), "abc");
        assert_eq!(m.tag("to"), Some("xyz"));
        assert_eq!(m.cseq(), (7, "INVITE"));
        assert_eq!(m.body, b"abc");
    }
}
