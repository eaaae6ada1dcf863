//! The registrar (RFC 3261 §10): agents register their extension with digest authentication;
//! bindings expire; repeated failed authentication from one source is throttled.
//!
//! Owns the bindings table, per-source failure counters and the nonce counts seen per nonce
//! (so a replayed Authorization, from any socket, is refused), sans-IO (`now` passed in, the
//! nonce secret passed in). Credentials are accepted only with `qop=auth`, an increasing
//! `nc` and a digest `uri` equal to the Request-URI. It does not own agent profiles: it asks a [`Directory`], which the
//! lead wires to the admin model. It reports registrations and expiries as
//! [`RegistrarEvent`]s so that the routing core can log agents in and out.

use super::build::build_response;
use super::digest::{parse_credentials, Algorithm, NonceCheck, NonceMaker};
use super::endpoint::Transport;
use super::header::{leading_number, parse_contacts, parse_name_addr, parse_uri, Contact};
use super::parse::{HeaderName, Message};
use crate::common::AgentId;
use crate::model::{Codec, Nat};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// What the SIP layer needs to know about an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAgent {
    /// The agent.
    pub id: AgentId,
    /// The extension the agent registers as (the To user part of the REGISTER).
    pub extension: String,
    /// The SIP digest password.
    pub sip_password: String,
    /// The agent's SIP expires: the longest registration accepted, in seconds.
    pub expires_max: u32,
    /// NAT handling.
    pub nat: Nat,
    /// Allowed codecs in preference order.
    pub allowed_codecs: Vec<Codec>,
    /// A WebRTC endpoint (never offered g729).
    pub webrtc: bool,
    /// False for disabled agents (refused with 403).
    pub enabled: bool,
}

/// Agent lookup, implemented over the admin model by the lead.
pub trait Directory {
    /// The agent whose extension is `ext`, if any.
    fn agent_by_extension(&self, ext: &str) -> Option<SipAgent>;
}

impl Directory for HashMap<String, SipAgent> {
    fn agent_by_extension(&self, ext: &str) -> Option<SipAgent> {
        self.get(ext).cloned()
    }
}

/// Registrar settings.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Digest realm.
    pub realm: String,
    /// Expires used when the request names none (capped by the agent's SIP expires).
    pub default_expires: u32,
    /// Shortest registration accepted (423 below it).
    pub min_expires: u32,
    /// Seconds a nonce stays fresh.
    pub nonce_ttl_secs: u64,
    /// Failed authentications from one IP before it is throttled.
    pub max_failures: u32,
    /// How long a throttled IP is refused.
    pub block_for: Duration,
    /// Challenges sent in a 401, one WWW-Authenticate each, in this order (`sip.digest_algorithms`).
    /// MD5 alone by default: Debian 12's baresip (libre 1.x) and many deployed phones abort
    /// on any challenge whose algorithm they do not know, and SIPp reads only the first one.
    /// Add `Sha256` (first, for RFC 8760's "most preferred first") when every client
    /// supports it.
    pub challenge_algorithms: Vec<Algorithm>,
    /// The nonce secret. `None`: the one the endpoint derives from its seed (tests, replays);
    /// the io layer always sets one drawn from the OS, so no two processes share it.
    pub nonce_secret: Option<[u8; 32]>,
}

/// Nonces whose counts are remembered at most (each entry is made only by a request that
/// authenticated; entries leave when their nonce goes stale). When full, a new nonce is
/// answered with a fresh challenge instead of being remembered.
pub const MAX_TRACKED_NONCES: usize = 65_536;

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            realm: "acd".to_owned(),
            default_expires: 3600,
            min_expires: 60,
            nonce_ttl_secs: 300,
            max_failures: 5,
            block_for: Duration::from_secs(60),
            challenge_algorithms: vec![Algorithm::Md5],
            nonce_secret: None,
        }
    }
}

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as registered.
    pub uri: String,
    /// Where requests to this contact are sent: the source address when NAT handling applies
    /// (agent NAT setting or `rport` in the Via), else the contact's own host:port.
    pub target: SocketAddr,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// The transport it registered over (requests to it use the same).
    pub transport: Transport,
    /// CSeq of that REGISTER.
    pub cseq: u32,
}

/// Changes the routing core must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// The agent has at least one live binding (first registration, refresh, or some of its
    /// bindings lapsed).
    Registered {
        /// The agent.
        agent: AgentId,
        /// Its live bindings now, oldest first (calls go to the last).
        contacts: Vec<Binding>,
    },
    /// The agent's last binding was removed or expired.
    Unregistered {
        /// The agent.
        agent: AgentId,
    },
}

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
}

/// The registrar state machine.
pub struct Registrar {
    cfg: RegistrarConfig,
    epoch: Instant,
    nonces: NonceMaker,
    bindings: HashMap<AgentId, Vec<Binding>>,
    /// When an agent's earliest binding lapses, earliest first. Entries go stale when a
    /// binding is refreshed or removed; a stale one only costs a wake-up that finds nothing
    /// due (it is never consulted for the truth, the bindings are).
    expiries: BinaryHeap<Reverse<(Instant, AgentId)>>,
    failures: HashMap<IpAddr, Failures>,
    /// Highest `nc` accepted per nonce, with the nonce's issue time (registrar seconds).
    nonce_counts: HashMap<String, (u32, u64)>,
    events: Vec<RegistrarEvent>,
}

fn secs(epoch: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(epoch).as_secs()
}

impl Registrar {
    /// A registrar whose nonces are keyed by `secret`; `now` starts its clock.
    pub fn new(cfg: RegistrarConfig, secret: [u8; 32], now: Instant) -> Self {
        Registrar {
            epoch: now,
            nonces: NonceMaker::new(cfg.nonce_secret.unwrap_or(secret)),
            cfg,
            bindings: HashMap::new(),
            expiries: BinaryHeap::new(),
            failures: HashMap::new(),
            nonce_counts: HashMap::new(),
            events: Vec::new(),
        }
    }

    /// The live bindings of an agent.
    pub fn contacts(&self, agent: AgentId) -> &[Binding] {
        self.bindings.get(&agent).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the agent has a live registration.
    pub fn is_registered(&self, agent: AgentId) -> bool {
        !self.contacts(agent).is_empty()
    }

    /// Events since the last poll.
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    /// The next binding expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes expired bindings.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, agent))) = self.expiries.peek() {
            if at > now {
                break;
            }
            self.expiries.pop();
            let Some(list) = self.bindings.get_mut(&agent) else {
                continue;
            };
            let before = list.len();
            list.retain(|b| b.expires_at > now);
            if list.is_empty() {
                self.bindings.remove(&agent);
                self.events.push(RegistrarEvent::Unregistered { agent });
                continue;
            }
            // Nothing lapsed: the entry was stale, and the change that made it stale pushed
            // the agent's real next expiry.
            if list.len() < before {
                self.events.push(RegistrarEvent::Registered {
                    agent,
                    contacts: list.clone(),
                });
                if let Some(next) = list.iter().map(|b| b.expires_at).min() {
                    self.expiries.push(Reverse((next, agent)));
                }
            }
        }
        self.failures
            .retain(|_, f| f.blocked_until.is_none_or(|t| t > now) || f.count > 0);
        self.prune_nonce_counts(secs(self.epoch, now));
    }

    fn challenge(
        &mut self,
        req: &Message<'_>,
        now: Instant,
        src: IpAddr,
        stale: bool,
        tag: &str,
    ) -> Vec<u8> {
        let nonce = self.nonces.make(secs(self.epoch, now), src);
        let stale = if stale { ", stale=true" } else { "" };
        let realm = &self.cfg.realm;
        let algorithms: &[Algorithm] = if self.cfg.challenge_algorithms.is_empty() {
            &[Algorithm::Md5]
        } else {
            &self.cfg.challenge_algorithms
        };
        let challenges: Vec<String> = algorithms
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
                    a.as_str()
                )
            })
            .collect();
        let extra: Vec<(&str, &str)> = challenges
            .iter()
            .map(|c| ("WWW-Authenticate", c.as_str()))
            .collect();
        build_response(req, 401, "Unauthorized", Some(tag), &extra, b"")
    }

    /// Records `nc` for a fresh, verified `nonce`; false when it does not increase (replay),
    /// or when the table is full of live nonces.
    fn handle_nonce_count(&mut self, now: Instant, nonce: &str, nc: u32) -> bool {
        let secs_now = secs(self.epoch, now);
        if let Some((last, _)) = self.nonce_counts.get_mut(nonce) {
            if nc <= *last {
                return false;
            }
            *last = nc;
            return true;
        }
        if self.nonce_counts.len() >= MAX_TRACKED_NONCES {
            self.prune_nonce_counts(secs_now);
            if self.nonce_counts.len() >= MAX_TRACKED_NONCES {
                return false;
            }
        }
        let issued = nonce
            .split('.')
            .next()
            .and_then(|ts| u64::from_str_radix(ts, 16).ok())
            .unwrap_or(secs_now);
        self.nonce_counts.insert(nonce.to_owned(), (nc, issued));
        true
    }

    /// Forgets the counts of nonces that have gone stale (they are refused before their
    /// count is looked at).
    fn prune_nonce_counts(&mut self, secs_now: u64) {
        let ttl = self.cfg.nonce_ttl_secs;
        self.nonce_counts
            .retain(|_, (_, issued)| secs_now.saturating_sub(*issued) <= ttl);
    }

    fn fail(&mut self, now: Instant, ip: IpAddr) {
        let f = self.failures.entry(ip).or_default();
        f.count += 1;
        if f.count >= self.cfg.max_failures {
            f.blocked_until = Some(now + self.cfg.block_for);
            f.count = 0;
        }
    }

    /// Handles a validated REGISTER from `src` over UDP; returns the response to send.
    /// `to_tag` is the tag to put on the To header (from the endpoint's seeded RNG).
    pub fn handle_register(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        src: SocketAddr,
        dir: &dyn Directory,
        to_tag: &str,
    ) -> Vec<u8> {
        self.handle_register_over(now, req, src, Transport::Udp, dir, to_tag)
    }

    /// Handles a validated REGISTER from `src` over `transport`. Over TCP the binding targets
    /// the connection the REGISTER came on (calls reuse it, as phones behind NAT need).
    pub fn handle_register_over(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        src: SocketAddr,
        transport: Transport,
        dir: &dyn Directory,
        to_tag: &str,
    ) -> Vec<u8> {
        let ip = src.ip();
        if let Some(until) = self.failures.get(&ip).and_then(|f| f.blocked_until) {
            if until > now {
                let secs_left = (until - now).as_secs().max(1).to_string();
                return build_response(
                    req,
                    403,
                    "Forbidden (too many failed authentications)",
                    Some(to_tag),
                    &[("Retry-After", &secs_left)],
                    b"",
                );
            }
        }
        let to = req
            .header(HeaderName::To)
            .and_then(|v| parse_name_addr(v).ok());
        let Some(ext) = to.and_then(|t| t.uri.user) else {
            return build_response(req, 404, "Not Found", Some(to_tag), &[], b"");
        };
        let Some(agent) = dir.agent_by_extension(ext) else {
            return build_response(req, 404, "Not Found", Some(to_tag), &[], b"");
        };
        if !agent.enabled {
            return build_response(
                req,
                403,
                "Forbidden (agent disabled)",
                Some(to_tag),
                &[],
                b"",
            );
        }
        let Some(creds) = req
            .header(HeaderName::Authorization)
            .and_then(parse_credentials)
        else {
            return self.challenge(req, now, ip, false, to_tag);
        };
        match self.nonces.check(
            creds.nonce,
            secs(self.epoch, now),
            ip,
            self.cfg.nonce_ttl_secs,
        ) {
            NonceCheck::Fresh => {}
            NonceCheck::Stale => return self.challenge(req, now, ip, true, to_tag),
            NonceCheck::Forged => {
                self.fail(now, ip);
                return self.challenge(req, now, ip, false, to_tag);
            }
        }
        // Without qop=auth (nc, cnonce) a captured response replays as is: ask again.
        if !creds.has_qop_auth() {
            return self.challenge(req, now, ip, false, to_tag);
        }
        // The digest covers its own `uri`: one that is not this request's could be a response
        // captured from another request (RFC 2617 §3.2.2.5).
        if req.start_uri() != Some(creds.uri) {
            return build_response(
                req,
                400,
                "Bad Request (digest uri does not match the Request-URI)",
                Some(to_tag),
                &[],
                b"",
            );
        }
        if creds.username != agent.extension
            || creds.realm != self.cfg.realm
            || !creds.verify("REGISTER", &agent.sip_password)
        {
            self.fail(now, ip);
            return build_response(
                req,
                403,
                "Forbidden (bad credentials)",
                Some(to_tag),
                &[],
                b"",
            );
        }
        // Checked after the response verifies, so forged requests cannot use up a client's
        // counts. An equal or lower nc is a replay (the same header from another socket too).
        let nc = creds.nc().unwrap_or(0);
        if !self.handle_nonce_count(now, creds.nonce, nc) {
            return self.challenge(req, now, ip, false, to_tag);
        }
        self.failures.remove(&ip);
        self.apply_bindings(now, req, (src, transport), &agent, to_tag)
    }

    fn apply_bindings(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        (src, transport): (SocketAddr, Transport),
        agent: &SipAgent,
        to_tag: &str,
    ) -> Vec<u8> {
        let header_expires = match req.header(HeaderName::Expires) {
            Some(e) => match leading_number(e) {
                Some(n) => Some(n),
                None => {
                    return build_response(
                        req,
                        400,
                        "Bad Request (Expires)",
                        Some(to_tag),
                        &[],
                        b"",
                    )
                }
            },
            None => None,
        };
        let call_id = req.header(HeaderName::CallId).unwrap_or_default();
        let cseq = req
            .header(HeaderName::CSeq)
            .and_then(|c| super::header::parse_cseq(c).ok())
            .map(|c| c.0)
            .unwrap_or(0);
        let rport = req
            .header(HeaderName::Via)
            .and_then(|v| super::header::parse_vias(v).next())
            .and_then(|v| v.ok())
            .is_some_and(|v| v.param("rport").is_some());
        let nat = rport
            || matches!(
                agent.nat,
                Nat::Yes | Nat::ForceRport | Nat::Comedia | Nat::Route
            );
        let cap = u64::from(agent.expires_max);

        // Per Contact URI: None = remove, else (seconds, where to reach it, over what).
        type Change = Option<(u64, SocketAddr, Transport)>;
        let mut changes: Vec<(String, Change)> = Vec::new();
        let mut star = false;
        for v in req.headers_named(HeaderName::Contact) {
            for c in parse_contacts(v) {
                match c {
                    Ok(Contact::Star) => star = true,
                    Ok(Contact::Addr(a)) => {
                        let requested = a
                            .param("expires")
                            .flatten()
                            .and_then(leading_number)
                            .or(header_expires)
                            .unwrap_or(u64::from(self.cfg.default_expires));
                        if requested != 0 && requested < u64::from(self.cfg.min_expires) {
                            let min = self.cfg.min_expires.to_string();
                            return build_response(
                                req,
                                423,
                                "Interval Too Brief",
                                Some(to_tag),
                                &[("Min-Expires", &min)],
                                b"",
                            );
                        }
                        let uri = format!("{}:{}", a.uri.scheme, a.uri.opaque);
                        // Over TCP, or behind NAT, the phone is reached where the REGISTER
                        // came from. Otherwise at its Contact, over the transport the Contact
                        // names (RFC 3263: `;transport=tcp` on a UDP registration).
                        let (target, via) = if nat || transport == Transport::Tcp {
                            (src, transport)
                        } else {
                            (contact_target(&uri).unwrap_or(src), contact_transport(&uri))
                        };
                        let e = requested.min(cap);
                        changes.push((uri, if e == 0 { None } else { Some((e, target, via)) }));
                    }
                    Err(_) => {
                        return build_response(
                            req,
                            400,
                            "Bad Request (Contact)",
                            Some(to_tag),
                            &[],
                            b"",
                        )
                    }
                }
            }
        }
        if star {
            if header_expires != Some(0) || !changes.is_empty() {
                return build_response(
                    req,
                    400,
                    "Bad Request (Contact: * needs Expires: 0 alone)",
                    Some(to_tag),
                    &[],
                    b"",
                );
            }
            if self.bindings.remove(&agent.id).is_some() {
                self.events
                    .push(RegistrarEvent::Unregistered { agent: agent.id });
            }
            return build_response(req, 200, "OK", Some(to_tag), &[], b"");
        }
        let was = self.is_registered(agent.id);
        let list = self.bindings.entry(agent.id).or_default();
        list.retain(|b| b.expires_at > now);
        for (uri, change) in changes {
            let pos = list.iter().position(|b| b.uri == uri);
            match (change, pos) {
                (None, Some(p)) => {
                    list.remove(p);
                }
                (None, None) => {}
                (Some((e, target, transport)), p) => {
                    let b = Binding {
                        uri,
                        target,
                        expires_at: now + Duration::from_secs(e),
                        call_id: call_id.to_owned(),
                        transport,
                        cseq,
                    };
                    match p {
                        Some(p) => list[p] = b,
                        None => list.push(b),
                    }
                }
            }
        }
        let n = list.len();
        let contacts: Vec<String> = list
            .iter()
            .map(|b| {
                format!(
                    "<{}>;expires={}",
                    b.uri,
                    b.expires_at.saturating_duration_since(now).as_secs()
                )
            })
            .collect();
        if n == 0 {
            self.bindings.remove(&agent.id);
            if was {
                self.events
                    .push(RegistrarEvent::Unregistered { agent: agent.id });
            }
        } else {
            if let Some(next) = list.iter().map(|b| b.expires_at).min() {
                self.expiries.push(Reverse((next, agent.id)));
            }
            self.events.push(RegistrarEvent::Registered {
                agent: agent.id,
                contacts: list.clone(),
            });
        }
        let extra: Vec<(&str, &str)> = contacts.iter().map(|c| ("Contact", c.as_str())).collect();
        build_response(req, 200, "OK", Some(to_tag), &extra, b"")
    }
}

/// The transport a Contact URI asks for: TCP for `;transport=tcp`, else UDP.
fn contact_transport(uri: &str) -> Transport {
    let tcp = parse_uri(uri)
        .ok()
        .and_then(|u| u.param("transport").flatten())
        .is_some_and(|t| t.eq_ignore_ascii_case("tcp"));
    if tcp {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

fn contact_target(uri: &str) -> Option<SocketAddr> {
    let u = parse_uri(uri).ok()?;
    let host = u.host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, u.port.unwrap_or(5060)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::digest::client_response;
    use crate::sip::parse::parse;

    fn agent(enabled: bool) -> SipAgent {
        SipAgent {
            id: AgentId(7),
            extension: "1001".into(),
            sip_password: "s3cret".into(),
            expires_max: 600,
            nat: Nat::No,
            allowed_codecs: vec![Codec::Ulaw],
            webrtc: false,
            enabled,
        }
    }

    fn dir(enabled: bool) -> HashMap<String, SipAgent> {
        HashMap::from([("1001".to_owned(), agent(enabled))])
    }

    fn register(
        contact: &str,
        expires: Option<&str>,
        auth: Option<&str>,
        via_extra: &str,
    ) -> Vec<u8> {
        let mut s = format!(
            "REGISTER sip:acd SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK1{via_extra}\r\n\
             From: <sip:1001@acd>;tag=a\r\nTo: <sip:1001@acd>\r\nCall-ID: reg1\r\nCSeq: 1 REGISTER\r\n\
             Contact: {contact}\r\n"
        );
        if let Some(e) = expires {
            s += &format!("Expires: {e}\r\n");
        }
        if let Some(a) = auth {
            s += &format!("Authorization: {a}\r\n");
        }
        s += "Content-Length: 0\r\n\r\n";
        s.into_bytes()
    }

    fn status(resp: &[u8]) -> u16 {
        std::str::from_utf8(&resp[8..11]).unwrap().parse().unwrap()
    }

    fn nonce_of(resp: &[u8], alg: &str) -> String {
        let m = parse(resp).unwrap();
        let h = m
            .headers_named(HeaderName::WwwAuthenticate)
            .find(|h| h.contains(&format!("algorithm={alg}")))
            .unwrap();
        let i = h.find("nonce=\"").unwrap() + 7;
        h[i..i + h[i..].find('"').unwrap()].to_owned()
    }

    fn auth(alg: Algorithm, nonce: &str, password: &str) -> String {
        let r = client_response(
            alg,
            "1001",
            "acd",
            password,
            "REGISTER",
            "sip:acd",
            nonce,
            Some(("00000001", "c1")),
        );
        format!(
            "Digest username=\"1001\", realm=\"acd\", nonce=\"{nonce}\", uri=\"sip:acd\", response=\"{r}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"c1\"",
            alg.as_str()
        )
    }

    fn src() -> SocketAddr {
        "192.0.2.9:40000".parse().unwrap()
    }

    fn authed(
        reg: &mut Registrar,
        now: Instant,
        alg: Algorithm,
        contact: &str,
        expires: Option<&str>,
        pw: &str,
    ) -> Vec<u8> {
        let d = dir(true);
        let first = register(contact, expires, None, "");
        let ch = reg.handle_register(now, &parse(&first).unwrap(), src(), &d, "t");
        assert_eq!(status(&ch), 401);
        let nonce = nonce_of(&ch, alg.as_str());
        let second = register(contact, expires, Some(&auth(alg, &nonce, pw)), "");
        reg.handle_register(now, &parse(&second).unwrap(), src(), &d, "t")
    }

    fn challenges(reg: &mut Registrar, now: Instant) -> Vec<String> {
        let r = reg.handle_register(
            now,
            &parse(&register("<sip:1001@10.0.0.5:5062>", None, None, "")).unwrap(),
            src(),
            &dir(true),
            "t",
        );
        assert_eq!(status(&r), 401);
        let m = parse(&r).unwrap();
        m.headers_named(HeaderName::WwwAuthenticate)
            .map(str::to_owned)
            .collect()
    }

    fn both() -> RegistrarConfig {
        RegistrarConfig {
            challenge_algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            ..RegistrarConfig::default()
        }
    }

    #[test]
    fn register_without_credentials_is_challenged_with_md5_only_by_default() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let algs = challenges(&mut reg, now);
        assert_eq!(algs.len(), 1, "{algs:?}");
        assert!(algs[0].contains("algorithm=MD5"), "{algs:?}");
        assert!(algs[0].contains("qop=\"auth\""), "{algs:?}");
    }

    #[test]
    fn configured_algorithms_are_challenged_in_their_order() {
        let now = Instant::now();
        let mut reg = Registrar::new(both(), [1; 32], now);
        let algs = challenges(&mut reg, now);
        assert_eq!(algs.len(), 2, "{algs:?}");
        assert!(algs[0].contains("algorithm=SHA-256"), "{algs:?}");
        assert!(algs[1].contains("algorithm=MD5"), "{algs:?}");
    }

    #[test]
    fn a_replayed_authorization_is_rechallenged_and_binds_nothing_new() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let d = dir(true);
        let ch = challenges(&mut reg, now);
        let i = ch[0].find("nonce=\"").unwrap() + 7;
        let nonce = &ch[0][i..i + ch[0][i..].find('"').unwrap()];
        let a = auth(Algorithm::Md5, nonce, "s3cret");
        let first = register("<sip:1001@10.0.0.5:5062>", None, Some(&a), "");
        let r = reg.handle_register(now, &parse(&first).unwrap(), src(), &d, "t");
        assert_eq!(status(&r), 200);
        // The same header, another socket and another Contact.
        let replay = register("<sip:1001@10.0.0.66:5099>", None, Some(&a), "");
        let other: SocketAddr = "192.0.2.9:40001".parse().unwrap();
        let r = reg.handle_register(now, &parse(&replay).unwrap(), other, &d, "t");
        assert_eq!(status(&r), 401);
        assert_eq!(reg.contacts(AgentId(7)).len(), 1);
    }

    #[test]
    fn a_right_response_without_qop_is_rechallenged() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let ch = challenges(&mut reg, now);
        let i = ch[0].find("nonce=\"").unwrap() + 7;
        let nonce = &ch[0][i..i + ch[0][i..].find('"').unwrap()];
        let r = client_response(
            Algorithm::Md5,
            "1001",
            "acd",
            "s3cret",
            "REGISTER",
            "sip:acd",
            nonce,
            None,
        );
        let a = format!(
            "Digest username=\"1001\", realm=\"acd\", nonce=\"{nonce}\", uri=\"sip:acd\", response=\"{r}\""
        );
        let req = register("<sip:1001@10.0.0.5:5062>", None, Some(&a), "");
        let r = reg.handle_register(now, &parse(&req).unwrap(), src(), &dir(true), "t");
        assert_eq!(status(&r), 401);
        assert!(!reg.is_registered(AgentId(7)));
    }

    #[test]
    fn a_digest_uri_other_than_the_request_uri_is_bad_request() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let ch = challenges(&mut reg, now);
        let i = ch[0].find("nonce=\"").unwrap() + 7;
        let nonce = &ch[0][i..i + ch[0][i..].find('"').unwrap()];
        let a = auth(Algorithm::Md5, nonce, "s3cret");
        let req = String::from_utf8(register("<sip:1001@10.0.0.5:5062>", None, Some(&a), ""))
            .unwrap()
            .replacen("REGISTER sip:acd ", "REGISTER sip:other.example ", 1);
        let r = reg.handle_register(now, &parse(req.as_bytes()).unwrap(), src(), &dir(true), "t");
        assert_eq!(status(&r), 400);
        assert!(!reg.is_registered(AgentId(7)));
    }

    #[test]
    fn an_increasing_nonce_count_reuses_a_nonce() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let ch = challenges(&mut reg, now);
        let i = ch[0].find("nonce=\"").unwrap() + 7;
        let nonce = ch[0][i..i + ch[0][i..].find('"').unwrap()].to_owned();
        for nc in ["00000001", "00000002", "0000000a"] {
            let r = client_response(
                Algorithm::Md5,
                "1001",
                "acd",
                "s3cret",
                "REGISTER",
                "sip:acd",
                &nonce,
                Some((nc, "c9")),
            );
            let a = format!(
                "Digest username=\"1001\", realm=\"acd\", nonce=\"{nonce}\", uri=\"sip:acd\", response=\"{r}\", qop=auth, nc={nc}, cnonce=\"c9\""
            );
            let req = register("<sip:1001@10.0.0.5:5062>", None, Some(&a), "");
            let r = reg.handle_register(now, &parse(&req).unwrap(), src(), &dir(true), "t");
            assert_eq!(status(&r), 200, "nc {nc}");
        }
    }

    #[test]
    fn md5_digest_registers() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let r = authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062>",
            None,
            "s3cret",
        );
        assert_eq!(status(&r), 200);
        assert!(reg.is_registered(AgentId(7)));
        let Some(RegistrarEvent::Registered { agent, contacts }) = reg.poll_event() else {
            panic!("registered event")
        };
        assert_eq!(agent, AgentId(7));
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].uri, "sip:1001@10.0.0.5:5062");
    }

    #[test]
    fn sha256_digest_registers() {
        let now = Instant::now();
        let mut reg = Registrar::new(both(), [1; 32], now);
        let r = authed(
            &mut reg,
            now,
            Algorithm::Sha256,
            "<sip:1001@10.0.0.5:5062>",
            None,
            "s3cret",
        );
        assert_eq!(status(&r), 200);
    }

    #[test]
    fn wrong_password_is_forbidden() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let r = authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062>",
            None,
            "nope",
        );
        assert_eq!(status(&r), 403);
        assert!(!reg.is_registered(AgentId(7)));
    }

    #[test]
    fn repeated_failures_throttle_the_source() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        for _ in 0..5 {
            assert_eq!(
                status(&authed(
                    &mut reg,
                    now,
                    Algorithm::Md5,
                    "<sip:1001@h>",
                    None,
                    "nope"
                )),
                403
            );
        }
        // Even the right password is refused while throttled, without a challenge.
        let r = reg.handle_register(
            now,
            &parse(&register("<sip:1001@h>", None, None, "")).unwrap(),
            src(),
            &dir(true),
            "t",
        );
        assert_eq!(status(&r), 403);
        assert!(std::str::from_utf8(&r).unwrap().contains("Retry-After: 60"));
        let later = now + Duration::from_secs(61);
        assert_eq!(
            status(&authed(
                &mut reg,
                later,
                Algorithm::Md5,
                "<sip:1001@h>",
                None,
                "s3cret"
            )),
            200
        );
    }

    #[test]
    fn disabled_agent_is_refused() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let r = reg.handle_register(
            now,
            &parse(&register("<sip:1001@h>", None, None, "")).unwrap(),
            src(),
            &dir(false),
            "t",
        );
        assert_eq!(status(&r), 403);
    }

    #[test]
    fn unknown_extension_is_not_found() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let r = reg.handle_register(
            now,
            &parse(&register("<sip:1001@h>", None, None, "")).unwrap(),
            src(),
            &HashMap::new(),
            "t",
        );
        assert_eq!(status(&r), 404);
    }

    #[test]
    fn expires_is_capped_by_the_agent_sip_expires() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let r = authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062>",
            Some("7200"),
            "s3cret",
        );
        assert!(std::str::from_utf8(&r).unwrap().contains(";expires=600"));
        assert_eq!(
            reg.contacts(AgentId(7))[0].expires_at,
            now + Duration::from_secs(600)
        );
    }

    #[test]
    fn shorter_expires_is_honoured() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062>;expires=120",
            None,
            "s3cret",
        );
        assert_eq!(
            reg.contacts(AgentId(7))[0].expires_at,
            now + Duration::from_secs(120)
        );
    }

    #[test]
    fn too_brief_expires_gets_423() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let r = authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@h>",
            Some("10"),
            "s3cret",
        );
        assert_eq!(status(&r), 423);
    }

    #[test]
    fn several_contacts_are_kept() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062>, <sip:1001@10.0.0.6:5060>",
            None,
            "s3cret",
        );
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.7>",
            None,
            "s3cret",
        );
        assert_eq!(reg.contacts(AgentId(7)).len(), 3);
    }

    #[test]
    fn expiry_unregisters_in_virtual_time() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@h>;expires=120",
            None,
            "s3cret",
        );
        reg.poll_event();
        let at = reg.poll_timeout().unwrap();
        assert_eq!(at, now + Duration::from_secs(120));
        reg.handle_timeout(at);
        assert!(!reg.is_registered(AgentId(7)));
        assert_eq!(
            reg.poll_event(),
            Some(RegistrarEvent::Unregistered { agent: AgentId(7) })
        );
    }

    #[test]
    fn a_refresh_outlives_the_first_expiry_and_each_contact_lapses_on_its_own() {
        let t0 = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], t0);
        let reg_at = |reg: &mut Registrar, at, contact| {
            authed(reg, at, Algorithm::Md5, contact, None, "s3cret");
            while reg.poll_event().is_some() {}
        };
        reg_at(&mut reg, t0, "<sip:1001@10.0.0.5:5062>;expires=120");
        // Refreshed at +60 s for 120 s: the first expiry (+120 s) must not end it.
        reg_at(
            &mut reg,
            t0 + Duration::from_secs(60),
            "<sip:1001@10.0.0.5:5062>;expires=120",
        );
        // A second contact for 300 s.
        reg_at(&mut reg, t0, "<sip:1001@10.0.0.6:5062>;expires=300");
        let first = reg.poll_timeout().unwrap();
        assert_eq!(first, t0 + Duration::from_secs(120));
        reg.handle_timeout(first);
        assert_eq!(reg.contacts(AgentId(7)).len(), 2);
        assert_eq!(reg.poll_event(), None);
        // At +180 s the refreshed contact lapses, the other stays.
        let mut now = first;
        while reg.contacts(AgentId(7)).len() == 2 {
            now = reg.poll_timeout().expect("a timer while bindings live");
            reg.handle_timeout(now);
        }
        assert_eq!(now, t0 + Duration::from_secs(180));
        match reg.poll_event() {
            Some(RegistrarEvent::Registered { contacts, .. }) => {
                assert_eq!(contacts.len(), 1);
                assert_eq!(contacts[0].uri, "sip:1001@10.0.0.6:5062");
            }
            other => panic!("expected the remaining contact, got {other:?}"),
        }
        while reg.is_registered(AgentId(7)) {
            now = reg.poll_timeout().expect("a timer while bindings live");
            reg.handle_timeout(now);
        }
        assert_eq!(now, t0 + Duration::from_secs(300));
        assert_eq!(
            reg.poll_event(),
            Some(RegistrarEvent::Unregistered { agent: AgentId(7) })
        );
        // Nothing left to wake for but stale entries, which find nothing.
        while let Some(at) = reg.poll_timeout() {
            reg.handle_timeout(at);
            assert_eq!(reg.poll_event(), None);
        }
    }

    #[test]
    fn expires_zero_removes_one_binding() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062>",
            None,
            "s3cret",
        );
        reg.poll_event();
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062>",
            Some("0"),
            "s3cret",
        );
        assert!(!reg.is_registered(AgentId(7)));
        assert_eq!(
            reg.poll_event(),
            Some(RegistrarEvent::Unregistered { agent: AgentId(7) })
        );
    }

    #[test]
    fn star_with_expires_zero_removes_all_bindings() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@a>, <sip:1001@b>",
            None,
            "s3cret",
        );
        let r = authed(&mut reg, now, Algorithm::Md5, "*", Some("0"), "s3cret");
        assert_eq!(status(&r), 200);
        assert!(!reg.is_registered(AgentId(7)));
    }

    #[test]
    fn star_without_expires_zero_is_bad_request() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        assert_eq!(
            status(&authed(&mut reg, now, Algorithm::Md5, "*", None, "s3cret")),
            400
        );
    }

    #[test]
    fn nat_agent_is_reached_at_the_source_address() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let mut d = dir(true);
        d.get_mut("1001").unwrap().nat = Nat::Yes;
        let first = register("<sip:1001@10.0.0.5:5062>", None, None, "");
        let ch = reg.handle_register(now, &parse(&first).unwrap(), src(), &d, "t");
        let nonce = nonce_of(&ch, "MD5");
        let second = register(
            "<sip:1001@10.0.0.5:5062>",
            None,
            Some(&auth(Algorithm::Md5, &nonce, "s3cret")),
            "",
        );
        reg.handle_register(now, &parse(&second).unwrap(), src(), &d, "t");
        assert_eq!(reg.contacts(AgentId(7))[0].target, src());
    }

    #[test]
    fn non_nat_agent_is_reached_at_the_contact_address() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062>",
            None,
            "s3cret",
        );
        assert_eq!(
            reg.contacts(AgentId(7))[0].target,
            "10.0.0.5:5062".parse().unwrap()
        );
    }

    #[test]
    fn a_contact_asking_for_tcp_is_reached_over_tcp_at_its_address() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        authed(
            &mut reg,
            now,
            Algorithm::Md5,
            "<sip:1001@10.0.0.5:5062;transport=TCP>",
            None,
            "s3cret",
        );
        let b = &reg.contacts(AgentId(7))[0];
        assert_eq!(
            (b.target, b.transport),
            ("10.0.0.5:5062".parse().unwrap(), Transport::Tcp)
        );
    }

    #[test]
    fn tcp_registration_is_reached_over_its_own_connection() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let d = dir(true);
        let first = register("<sip:1001@10.0.0.5:5062;transport=tcp>", None, None, "");
        let ch =
            reg.handle_register_over(now, &parse(&first).unwrap(), src(), Transport::Tcp, &d, "t");
        let nonce = nonce_of(&ch, "MD5");
        let second = register(
            "<sip:1001@10.0.0.5:5062;transport=tcp>",
            None,
            Some(&auth(Algorithm::Md5, &nonce, "s3cret")),
            "",
        );
        let ok = reg.handle_register_over(
            now,
            &parse(&second).unwrap(),
            src(),
            Transport::Tcp,
            &d,
            "t",
        );
        assert_eq!(status(&ok), 200);
        let b = &reg.contacts(AgentId(7))[0];
        assert_eq!((b.target, b.transport), (src(), Transport::Tcp));
    }

    #[test]
    fn rport_in_via_means_the_source_address() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let d = dir(true);
        let first = register("<sip:1001@10.0.0.5:5062>", None, None, ";rport");
        let ch = reg.handle_register(now, &parse(&first).unwrap(), src(), &d, "t");
        let nonce = nonce_of(&ch, "MD5");
        let second = register(
            "<sip:1001@10.0.0.5:5062>",
            None,
            Some(&auth(Algorithm::Md5, &nonce, "s3cret")),
            ";rport",
        );
        assert_eq!(
            status(&reg.handle_register(now, &parse(&second).unwrap(), src(), &d, "t")),
            200
        );
        assert_eq!(reg.contacts(AgentId(7))[0].target, src());
    }

    #[test]
    fn stale_nonce_is_rechallenged_with_stale_true() {
        let now = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default(), [1; 32], now);
        let d = dir(true);
        let ch = reg.handle_register(
            now,
            &parse(&register("<sip:1001@h>", None, None, "")).unwrap(),
            src(),
            &d,
            "t",
        );
        let nonce = nonce_of(&ch, "MD5");
        let later = now + Duration::from_secs(400);
        let r = reg.handle_register(
            later,
            &parse(&register(
                "<sip:1001@h>",
                None,
                Some(&auth(Algorithm::Md5, &nonce, "s3cret")),
                "",
            ))
            .unwrap(),
            src(),
            &d,
            "t",
        );
        assert_eq!(status(&r), 401);
        assert!(std::str::from_utf8(&r).unwrap().contains("stale=true"));
    }
}
