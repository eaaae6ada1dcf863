//! Toolbar sessions: bearer tokens that expire and can be revoked.
//!
//! Owns the token table. Sans-IO: every method takes `now` (ms since the Unix epoch) and the
//! RNG is passed in, so expiry is tested by moving a number, not by sleeping. Tokens are kept
//! only as their SHA-256, so the table never holds a usable secret. Sessions live in memory:
//! a restart ends them (agents log in again; what they held is given back to them).

use crate::common::AgentId;
use dashmap::DashMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How far a session got through the login rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Fully logged in.
    Active,
    /// The TOTP second factor must be enrolled before anything else.
    TotpEnrolment,
    /// The password must be changed before anything else.
    MustChangePassword,
}

impl Stage {
    /// The stable name shown to clients.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Active => "active",
            Stage::TotpEnrolment => "totp_enrolment_required",
            Stage::MustChangePassword => "password_change_required",
        }
    }
}

/// One session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The agent.
    pub agent: AgentId,
    /// Login progress.
    pub stage: Stage,
    /// When it stops being valid (ms since the Unix epoch).
    pub expires_at_ms: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No session has this token (never issued, revoked or logged out).
    #[error("the session token is not valid; log in again")]
    Unknown,
    /// The session expired.
    #[error("the session expired; log in again")]
    Expired,
}

type Key = [u8; 32];

fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

/// The token table. Share it; every method takes `&self`.
#[derive(Debug)]
pub struct Sessions {
    ttl_ms: u64,
    map: DashMap<Key, Session>,
}

impl Sessions {
    /// Sessions lasting `ttl_ms` from login.
    pub fn new(ttl_ms: u64) -> Self {
        Sessions {
            ttl_ms,
            map: DashMap::new(),
        }
    }

    /// Opens a session and returns its token (64 hex characters, 256 random bits).
    pub fn handle_open(
        &self,
        now: u64,
        agent: AgentId,
        stage: Stage,
        rng: &mut impl RngCore,
    ) -> (String, Session) {
        let mut raw = [0u8; 32];
        rng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let s = Session {
            agent,
            stage,
            expires_at_ms: now.saturating_add(self.ttl_ms),
        };
        self.map.insert(key(&token), s);
        (token, s)
    }

    /// The session of `token` at `now`. An expired one is removed.
    pub fn check(&self, now: u64, token: &str) -> Result<Session, SessionError> {
        let k = key(token);
        let s = *self.map.get(&k).ok_or(SessionError::Unknown)?;
        if now >= s.expires_at_ms {
            self.map.remove(&k);
            return Err(SessionError::Expired);
        }
        Ok(s)
    }

    /// Moves the session to `stage`.
    pub fn handle_stage(&self, token: &str, stage: Stage) {
        if let Some(mut s) = self.map.get_mut(&key(token)) {
            s.stage = stage;
        }
    }

    /// Ends one session; returns it if it existed.
    pub fn handle_revoke(&self, token: &str) -> Option<Session> {
        self.map.remove(&key(token)).map(|(_, s)| s)
    }

    /// Ends every session of `agent`; returns how many there were.
    pub fn handle_revoke_agent(&self, agent: AgentId) -> usize {
        let before = self.map.len();
        self.map.retain(|_, s| s.agent != agent);
        before - self.map.len()
    }

    /// Removes expired sessions; returns the agents left with no session at all (to log out).
    pub fn handle_sweep(&self, now: u64) -> Vec<AgentId> {
        let mut expired = Vec::new();
        self.map.retain(|_, s| {
            let keep = now < s.expires_at_ms;
            if !keep {
                expired.push(s.agent);
            }
            keep
        });
        expired.sort_unstable();
        expired.dedup();
        expired.retain(|&a| !self.has_session(a));
        expired
    }

    /// Whether `agent` has any session.
    pub fn has_session(&self, agent: AgentId) -> bool {
        self.map.iter().any(|e| e.agent == agent)
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No sessions at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(1)
    }

    #[test]
    fn token_is_valid_until_expiry() {
        let s = Sessions::new(1_000);
        let (t, _) = s.handle_open(10, AgentId(1), Stage::Active, &mut rng());
        assert_eq!(s.check(1_009, &t).unwrap().agent, AgentId(1));
        assert_eq!(s.check(1_010, &t), Err(SessionError::Expired));
        assert_eq!(s.check(1_011, &t), Err(SessionError::Unknown));
    }

    #[test]
    fn revoked_token_is_unknown() {
        let s = Sessions::new(1_000);
        let (t, _) = s.handle_open(0, AgentId(1), Stage::Active, &mut rng());
        s.handle_revoke(&t);
        assert_eq!(s.check(1, &t), Err(SessionError::Unknown));
    }

    #[test]
    fn revoking_an_agent_ends_all_its_sessions_only() {
        let s = Sessions::new(1_000);
        let mut r = rng();
        let (a, _) = s.handle_open(0, AgentId(1), Stage::Active, &mut r);
        let (b, _) = s.handle_open(0, AgentId(1), Stage::Active, &mut r);
        let (c, _) = s.handle_open(0, AgentId(2), Stage::Active, &mut r);
        assert_eq!(s.handle_revoke_agent(AgentId(1)), 2);
        assert!(s.check(1, &a).is_err() && s.check(1, &b).is_err());
        assert!(s.check(1, &c).is_ok());
    }

    #[test]
    fn sweep_reports_agents_left_without_a_session() {
        let s = Sessions::new(100);
        let mut r = rng();
        s.handle_open(0, AgentId(1), Stage::Active, &mut r);
        s.handle_open(0, AgentId(2), Stage::Active, &mut r);
        s.handle_open(50, AgentId(2), Stage::Active, &mut r);
        assert_eq!(s.handle_sweep(120), vec![AgentId(1)]);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn wrong_token_is_unknown() {
        let s = Sessions::new(100);
        s.handle_open(0, AgentId(1), Stage::Active, &mut rng());
        assert_eq!(s.check(1, "nope"), Err(SessionError::Unknown));
    }
}
