//! TOTP (RFC 6238) second factor: enrolment secrets and code checks.
//!
//! Owns the `toolbar_totp` keyspace (agent id → secret, confirmed flag) and the last accepted
//! time step per agent, so a code cannot be replayed within its window. Time (Unix seconds) is
//! passed in. Uses `totp-rs` for the HMAC-SHA1, 6 digits, 30 s steps, ±1 step of clock skew.

use crate::common::AgentId;
use crate::store::{Store, StoreError};
use dashmap::DashMap;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use totp_rs::{Algorithm, TOTP};

/// Keyspace of TOTP secrets.
pub const KEYSPACE: &str = "toolbar_totp";
/// Seconds per code.
pub const STEP: u64 = 30;
const DIGITS: usize = 6;
const SKEW: u8 = 1;
const ISSUER: &str = "acd";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    secret: Vec<u8>,
    confirmed: bool,
}

/// A new, unconfirmed enrolment to show to the agent once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrolment {
    /// The secret in base32 (for typing into an authenticator).
    pub secret: String,
    /// The `otpauth://` URI (for a QR code).
    pub otpauth_uri: String,
}

fn totp(secret: Vec<u8>) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, SKEW, STEP, secret)
}

/// The code for `secret` at `now_secs` (for tests and test clients).
pub fn code_at(secret_base32: &str, now_secs: u64) -> Option<String> {
    let secret = base32_decode(secret_base32)?;
    Some(totp(secret).generate(now_secs))
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    totp_rs::Secret::Encoded(s.to_owned()).to_bytes().ok()
}

/// TOTP secrets and replay protection.
pub struct TotpStore {
    store: Arc<dyn Store>,
    last_step: DashMap<AgentId, u64>,
    /// Serialises enrolment steps, so a check that no secret is confirmed and the write of a
    /// new one cannot interleave with a confirmation.
    enrol: Mutex<()>,
}

impl std::fmt::Debug for TotpStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpStore").finish_non_exhaustive()
    }
}

impl TotpStore {
    /// Secrets in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        TotpStore {
            store,
            last_step: DashMap::new(),
            enrol: Mutex::new(()),
        }
    }

    fn load(&self, agent: AgentId) -> Result<Option<Stored>, StoreError> {
        let k = agent.0.to_be_bytes();
        match self.store.get(KEYSPACE, &k)? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    keyspace: KEYSPACE.into(),
                    key: hex::encode(k),
                    detail: e.to_string(),
                }),
            None => Ok(None),
        }
    }

    fn save(&self, agent: AgentId, s: &Stored) -> Result<(), StoreError> {
        let v = serde_json::to_vec(s).unwrap_or_default();
        self.store.put(KEYSPACE, &agent.0.to_be_bytes(), &v)?;
        self.store.flush()
    }

    /// Whether the agent has a confirmed secret.
    pub fn is_enrolled(&self, agent: AgentId) -> Result<bool, StoreError> {
        Ok(self.load(agent)?.is_some_and(|s| s.confirmed))
    }

    /// Starts (or restarts) enrolment with a fresh 160-bit secret, durably stored but not yet
    /// confirmed. `None` when the agent already has a confirmed secret: it is never replaced.
    pub fn handle_begin(
        &self,
        agent: AgentId,
        username: &str,
        rng: &mut impl RngCore,
    ) -> Result<Option<Enrolment>, StoreError> {
        let _one_at_a_time = self.enrol.lock().unwrap_or_else(|e| e.into_inner());
        if self.load(agent)?.is_some_and(|s| s.confirmed) {
            return Ok(None);
        }
        let mut secret = vec![0u8; 20];
        rng.fill_bytes(&mut secret);
        let t = totp(secret.clone());
        let b32 = t.get_secret_base32();
        self.save(
            agent,
            &Stored {
                secret,
                confirmed: false,
            },
        )?;
        let label = format!("{ISSUER}:{username}");
        Ok(Some(Enrolment {
            otpauth_uri: format!(
                "otpauth://totp/{}?secret={b32}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
                percent_encode(&label)
            ),
            secret: b32,
        }))
    }

    /// Confirms enrolment with a first valid code. False if the code is wrong or no enrolment
    /// was started.
    pub fn handle_confirm(
        &self,
        agent: AgentId,
        code: &str,
        now_secs: u64,
    ) -> Result<bool, StoreError> {
        let _one_at_a_time = self.enrol.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut s) = self.load(agent)? else {
            return Ok(false);
        };
        if s.confirmed {
            return Ok(false);
        }
        if !self.check(agent, &s, code, now_secs) {
            return Ok(false);
        }
        s.confirmed = true;
        self.save(agent, &s)?;
        Ok(true)
    }

    /// Verifies a login code against the confirmed secret; a code is accepted once.
    pub fn handle_verify(
        &self,
        agent: AgentId,
        code: &str,
        now_secs: u64,
    ) -> Result<bool, StoreError> {
        match self.load(agent)? {
            Some(s) if s.confirmed => Ok(self.check(agent, &s, code, now_secs)),
            _ => Ok(false),
        }
    }

    fn check(&self, agent: AgentId, s: &Stored, code: &str, now_secs: u64) -> bool {
        let t = totp(s.secret.clone());
        let step = now_secs / STEP;
        // Find the step the code belongs to, so it can be burnt.
        let hit = (step.saturating_sub(u64::from(SKEW))..=step + u64::from(SKEW))
            .find(|&st| t.generate(st * STEP) == code);
        let Some(st) = hit else { return false };
        let mut last = self.last_step.entry(agent).or_insert(0);
        if *last >= st && *last != 0 {
            return false;
        }
        *last = st;
        true
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use rand::SeedableRng;

    fn setup() -> (TotpStore, String) {
        let t = TotpStore::new(Arc::new(MemStore::new()));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let e = t
            .handle_begin(AgentId(1), "ann", &mut rng)
            .unwrap()
            .unwrap();
        (t, e.secret)
    }

    #[test]
    fn a_confirmed_secret_is_never_replaced_nor_confirmed_again() {
        let (t, secret) = setup();
        let now = 1_000_000;
        assert!(t
            .handle_confirm(AgentId(1), &code_at(&secret, now).unwrap(), now)
            .unwrap());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        assert_eq!(t.handle_begin(AgentId(1), "ann", &mut rng).unwrap(), None);
        assert!(t.is_enrolled(AgentId(1)).unwrap());
        let later = now + 60;
        assert!(!t
            .handle_confirm(AgentId(1), &code_at(&secret, later).unwrap(), later)
            .unwrap());
        // The original secret still logs in.
        let later = now + 120;
        assert!(t
            .handle_verify(AgentId(1), &code_at(&secret, later).unwrap(), later)
            .unwrap());
    }

    #[test]
    fn rfc6238_sha1_vector_matches() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = b"12345678901234567890".to_vec();
        assert_eq!(totp(secret).generate(59), "287082");
    }

    #[test]
    fn unconfirmed_secret_does_not_verify_logins() {
        let (t, secret) = setup();
        let code = code_at(&secret, 1_000_000).unwrap();
        assert!(!t.handle_verify(AgentId(1), &code, 1_000_000).unwrap());
        assert!(!t.is_enrolled(AgentId(1)).unwrap());
    }

    #[test]
    fn confirmed_secret_verifies_the_current_code() {
        let (t, secret) = setup();
        let now = 1_000_000;
        assert!(t
            .handle_confirm(AgentId(1), &code_at(&secret, now).unwrap(), now)
            .unwrap());
        let later = now + 90;
        assert!(t
            .handle_verify(AgentId(1), &code_at(&secret, later).unwrap(), later)
            .unwrap());
    }

    #[test]
    fn a_code_is_accepted_only_once() {
        let (t, secret) = setup();
        let now = 1_000_000;
        t.handle_confirm(AgentId(1), &code_at(&secret, now).unwrap(), now)
            .unwrap();
        let later = now + 60;
        let code = code_at(&secret, later).unwrap();
        assert!(t.handle_verify(AgentId(1), &code, later).unwrap());
        assert!(!t.handle_verify(AgentId(1), &code, later).unwrap());
    }

    #[test]
    fn wrong_code_is_refused() {
        let (t, secret) = setup();
        let now = 1_000_000;
        t.handle_confirm(AgentId(1), &code_at(&secret, now).unwrap(), now)
            .unwrap();
        assert!(
            !t.handle_verify(AgentId(1), "000000", now + 60).unwrap()
                || code_at(&secret, now + 60).unwrap() == "000000"
        );
    }

    #[test]
    fn code_from_far_outside_the_window_is_refused() {
        let (t, secret) = setup();
        let now = 1_000_000;
        t.handle_confirm(AgentId(1), &code_at(&secret, now).unwrap(), now)
            .unwrap();
        let old = code_at(&secret, now + 30).unwrap();
        assert!(!t.handle_verify(AgentId(1), &old, now + 600).unwrap());
    }
}
