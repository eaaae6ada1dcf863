//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 8760 for SHA-256): challenges,
//! stateless nonces and response verification.
//!
//! Owns the nonce format (a timestamp plus an HMAC-SHA-256 tag over the timestamp and the
//! client's IP, so no per-challenge state is kept and a nonce from another process, whose
//! secret differs, is refused) and the digest arithmetic. It does not own passwords (passed
//! in by the registrar), nonce-count tracking (the registrar's) or the secret (drawn from the
//! OS by the io layer).

use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (RFC 2617), still what most phones send.
    Md5,
    /// SHA-256 (RFC 8760), offered first.
    Sha256,
}

impl Algorithm {
    fn hash_hex(self, parts: &[&[u8]]) -> String {
        let mut out = String::with_capacity(64);
        match self {
            Algorithm::Md5 => {
                let mut h = Md5::new();
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        h.update(b":");
                    }
                    h.update(p);
                }
                for b in h.finalize() {
                    let _ = write!(out, "{b:02x}");
                }
            }
            Algorithm::Sha256 => {
                let mut h = Sha256::new();
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        h.update(b":");
                    }
                    h.update(p);
                }
                for b in h.finalize() {
                    let _ = write!(out, "{b:02x}");
                }
            }
        }
        out
    }

    /// The token used in the `algorithm=` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }
}

/// Parsed `Authorization: Digest ...` credentials (borrowed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// `username`.
    pub username: &'a str,
    /// `realm`.
    pub realm: &'a str,
    /// `nonce`.
    pub nonce: &'a str,
    /// `uri` (the digest-uri).
    pub uri: &'a str,
    /// `response`.
    pub response: &'a str,
    /// `algorithm` (absent means MD5).
    pub algorithm: Option<&'a str>,
    /// `cnonce`.
    pub cnonce: Option<&'a str>,
    /// `nc`.
    pub nc: Option<&'a str>,
    /// `qop`.
    pub qop: Option<&'a str>,
}

/// Parses the value of an Authorization header; `None` if it is not Digest or lacks a field.
pub fn parse_credentials(value: &str) -> Option<Credentials<'_>> {
    let v = value.trim_start();
    let scheme_end = v.find(|c: char| c.is_whitespace())?;
    if !v[..scheme_end].eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut c = Credentials::default();
    let mut rest = &v[scheme_end..];
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        rest = rest[eq + 1..].trim_start();
        let val;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"')?;
            val = &r[..end];
            rest = &r[end + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            val = rest[..end].trim();
            rest = &rest[end..];
        }
        match key.to_ascii_lowercase().as_str() {
            "username" => c.username = val,
            "realm" => c.realm = val,
            "nonce" => c.nonce = val,
            "uri" => c.uri = val,
            "response" => c.response = val,
            "algorithm" => c.algorithm = Some(val),
            "cnonce" => c.cnonce = Some(val),
            "nc" => c.nc = Some(val),
            "qop" => c.qop = Some(val),
            _ => {}
        }
    }
    if c.username.is_empty() || c.nonce.is_empty() || c.response.is_empty() {
        return None;
    }
    Some(c)
}

impl Credentials<'_> {
    /// The algorithm named by the credentials; `None` if it is one acd does not support.
    pub fn algorithm(&self) -> Option<Algorithm> {
        match self.algorithm {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Whether the credentials use `qop=auth` with a nonce count and a client nonce: the only
    /// form acd accepts, since without them a captured response replays as is (RFC 7616).
    pub fn has_qop_auth(&self) -> bool {
        self.qop.is_some_and(|q| q.eq_ignore_ascii_case("auth"))
            && self.nc().is_some()
            && self.cnonce.is_some_and(|c| !c.is_empty())
    }

    /// The nonce count (`nc`, 8 hex digits), if present and well formed.
    pub fn nc(&self) -> Option<u32> {
        let nc = self.nc?;
        if nc.len() != 8 {
            return None;
        }
        u32::from_str_radix(nc, 16).ok()
    }

    /// Whether `response` is right for this password and request method. Only `qop=auth`
    /// responses verify (see [`Credentials::has_qop_auth`]).
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let Some(alg) = self.algorithm() else {
            return false;
        };
        if !self.has_qop_auth() {
            return false;
        }
        let ha1 = alg.hash_hex(&[
            self.username.as_bytes(),
            self.realm.as_bytes(),
            password.as_bytes(),
        ]);
        let ha2 = alg.hash_hex(&[method.as_bytes(), self.uri.as_bytes()]);
        let expected = match (self.qop, self.nc, self.cnonce) {
            (Some(qop), Some(nc), Some(cnonce)) if qop.eq_ignore_ascii_case("auth") => alg
                .hash_hex(&[
                    ha1.as_bytes(),
                    self.nonce.as_bytes(),
                    nc.as_bytes(),
                    cnonce.as_bytes(),
                    qop.as_bytes(),
                    ha2.as_bytes(),
                ]),
            _ => return false,
        };
        // Not secret-dependent in a way that leaks the password: the attacker already knows
        // `expected` is a hash; still compare without early exit.
        expected.len() == self.response.len()
            && expected
                .bytes()
                .zip(self.response.bytes().map(|b| b.to_ascii_lowercase()))
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Computes a client response (used by tests and by acd when it authenticates to carriers).
/// The parameters are exactly the inputs named by RFC 2617 §3.2.2.1, in that order.
#[allow(clippy::too_many_arguments)]
pub fn client_response(
    alg: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop_nc_cnonce: Option<(&str, &str)>,
) -> String {
    let ha1 = alg.hash_hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()]);
    let ha2 = alg.hash_hex(&[method.as_bytes(), uri.as_bytes()]);
    match qop_nc_cnonce {
        Some((nc, cnonce)) => alg.hash_hex(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => alg.hash_hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// Stateless nonces: `<seconds on the registrar clock, hex>.<sequence, hex>.<first 16 bytes
/// of HMAC-SHA-256(secret, ts || seq || ip)>`. The sequence makes every challenge's nonce
/// unique, so nonce counts tracked per nonce never mix two clients.
#[derive(Debug, Clone)]
pub struct NonceMaker {
    secret: [u8; 32],
    seq: u64,
}

/// The verdict on a received nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by us to this source and still fresh.
    Fresh,
    /// Issued by us but too old: re-challenge with `stale=true`.
    Stale,
    /// Not one of ours (or for another source).
    Forged,
}

/// HMAC-SHA-256 (RFC 2104) with a key of at most one block (64 bytes; longer keys are cut,
/// which never happens here: the secret is 32 bytes).
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner.finalize());
    outer.finalize().into()
}

impl NonceMaker {
    /// A nonce maker keyed by `secret` (drawn from the OS by the io layer).
    pub fn new(secret: [u8; 32]) -> Self {
        NonceMaker { secret, seq: 0 }
    }

    fn tag(&self, ts: u64, seq: u64, ip: IpAddr) -> String {
        let (ts, seq) = (ts.to_be_bytes(), seq.to_be_bytes());
        let d = match ip {
            IpAddr::V4(a) => hmac_sha256(&self.secret, &[&ts, &seq, &a.octets()]),
            IpAddr::V6(a) => hmac_sha256(&self.secret, &[&ts, &seq, &a.octets()]),
        };
        let mut s = String::with_capacity(32);
        for b in &d[..16] {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// A nonce for a challenge sent at `secs` (seconds on the registrar's clock) to `ip`.
    pub fn make(&mut self, secs: u64, ip: IpAddr) -> String {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        format!("{secs:x}.{seq:x}.{}", self.tag(secs, seq, ip))
    }

    /// Checks a nonce received from `ip` at `secs`, valid for `ttl_secs`.
    pub fn check(&self, nonce: &str, secs: u64, ip: IpAddr, ttl_secs: u64) -> NonceCheck {
        let mut parts = nonce.splitn(3, '.');
        let (Some(ts), Some(seq), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return NonceCheck::Forged;
        };
        let (Ok(ts), Ok(seq)) = (u64::from_str_radix(ts, 16), u64::from_str_radix(seq, 16)) else {
            return NonceCheck::Forged;
        };
        // Compared without early exit, so timing does not reveal how much of a forged tag
        // was right.
        let want = self.tag(ts, seq, ip);
        let same = want.len() == tag.len()
            && want
                .bytes()
                .zip(tag.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if ts > secs || !same {
            return NonceCheck::Forged;
        }
        if secs - ts > ttl_secs {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_style_md5_response_matches_known_value() {
        // RFC 2617 §3.5 example (HTTP GET), which uses the same arithmetic as SIP digest.
        let r = client_response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn sha256_credentials_verify() {
        let nonce = "abc";
        let resp = client_response(
            Algorithm::Sha256,
            "1001",
            "acd",
            "pw",
            "REGISTER",
            "sip:acd",
            nonce,
            Some(("00000001", "c1")),
        );
        let hdr = format!(
            "Digest username=\"1001\", realm=\"acd\", nonce=\"{nonce}\", uri=\"sip:acd\", response=\"{resp}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c1\""
        );
        let c = parse_credentials(&hdr).unwrap();
        assert!(c.verify("REGISTER", "pw"));
        assert!(!c.verify("REGISTER", "wrong"));
        assert_eq!(c.nc(), Some(1));
    }

    #[test]
    fn a_right_response_without_qop_does_not_verify() {
        let resp = client_response(
            Algorithm::Md5,
            "1001",
            "acd",
            "pw",
            "REGISTER",
            "sip:acd",
            "abc",
            None,
        );
        let hdr = format!(
            "Digest username=\"1001\", realm=\"acd\", nonce=\"abc\", uri=\"sip:acd\", response=\"{resp}\""
        );
        let c = parse_credentials(&hdr).unwrap();
        assert!(!c.has_qop_auth());
        assert!(!c.verify("REGISTER", "pw"));
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let d = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(d),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn nonces_of_another_secret_are_forged() {
        // Two makers with different secrets never accept each other's nonces.
        let mut a = NonceMaker::new([1; 32]);
        let b = NonceMaker::new([2; 32]);
        let ip = "127.0.0.1".parse().unwrap();
        let n = a.make(5, ip);
        assert_eq!(a.check(&n, 6, ip, 300), NonceCheck::Fresh);
        assert_eq!(b.check(&n, 6, ip, 300), NonceCheck::Forged);
        // Two challenges in the same second get different nonces.
        assert_ne!(a.make(5, ip), a.make(5, ip));
    }

    #[test]
    fn nonce_from_another_source_is_forged() {
        let mut m = NonceMaker::new([7; 32]);
        let n = m.make(100, "127.0.0.1".parse().unwrap());
        assert_eq!(
            m.check(&n, 110, "127.0.0.1".parse().unwrap(), 300),
            NonceCheck::Fresh
        );
        assert_eq!(
            m.check(&n, 110, "127.0.0.2".parse().unwrap(), 300),
            NonceCheck::Forged
        );
        assert_eq!(
            m.check(&n, 500, "127.0.0.1".parse().unwrap(), 300),
            NonceCheck::Stale
        );
        assert_eq!(
            m.check("zz.00", 500, "127.0.0.1".parse().unwrap(), 300),
            NonceCheck::Forged
        );
    }
}
