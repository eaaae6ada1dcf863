//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 8760 for SHA-256): challenges,
//! stateless nonces and response verification.
//!
//! Owns the nonce format (a timestamp plus a keyed SHA-256 tag, so no per-challenge state is
//! kept) and the digest arithmetic. It does not own passwords (passed in by the registrar) or
//! the secret (passed in by the io layer from its seeded RNG).

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

    /// Whether `response` is right for this password and request method.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let Some(alg) = self.algorithm() else {
            return false;
        };
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
            (None, _, _) => alg.hash_hex(&[ha1.as_bytes(), self.nonce.as_bytes(), ha2.as_bytes()]),
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

/// Stateless nonces: `<seconds since epoch, hex>.<first 16 bytes of SHA-256(secret, ts, ip)>`.
#[derive(Debug, Clone)]
pub struct NonceMaker {
    secret: [u8; 32],
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

impl NonceMaker {
    /// A nonce maker keyed by `secret` (from the io layer's seeded RNG).
    pub fn new(secret: [u8; 32]) -> Self {
        NonceMaker { secret }
    }

    fn tag(&self, ts: u64, ip: IpAddr) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(ts.to_be_bytes());
        match ip {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        let d = h.finalize();
        let mut s = String::with_capacity(32);
        for b in &d[..16] {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// A nonce for a challenge sent at `secs` (seconds on the registrar's clock) to `ip`.
    pub fn make(&self, secs: u64, ip: IpAddr) -> String {
        format!("{secs:x}.{}", self.tag(secs, ip))
    }

    /// Checks a nonce received from `ip` at `secs`, valid for `ttl_secs`.
    pub fn check(&self, nonce: &str, secs: u64, ip: IpAddr, ttl_secs: u64) -> NonceCheck {
        let Some((ts, tag)) = nonce.split_once('.') else {
            return NonceCheck::Forged;
        };
        let Ok(ts) = u64::from_str_radix(ts, 16) else {
            return NonceCheck::Forged;
        };
        if ts > secs || self.tag(ts, ip) != tag {
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
            None,
        );
        let hdr = format!(
            "Digest username=\"1001\", realm=\"acd\", nonce=\"{nonce}\", uri=\"sip:acd\", response=\"{resp}\", algorithm=SHA-256"
        );
        let c = parse_credentials(&hdr).unwrap();
        assert!(c.verify("REGISTER", "pw"));
        assert!(!c.verify("REGISTER", "wrong"));
    }

    #[test]
    fn nonce_from_another_source_is_forged() {
        let m = NonceMaker::new([7; 32]);
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
