//! Which sources keep an agent logged in to routing: a live SIP registration, an active
//! toolbar session, or both.
//!
//! The rule (README "SIP"): an agent is logged in while it has a live SIP registration *or* an
//! active toolbar session, and is logged out when the last of them ends. Pause and
//! availability come from the toolbar (and from the profile's log-in pause at login); SIP
//! registrations and their refreshes never change them. An administrator disabling, locking
//! or deleting the agent logs it out at once, whatever its sources.
//!
//! Owns only that bookkeeping; the SIP bridge and the toolbar ask it before they send the
//! router a login or a logout. A mutex is fine here: logins and logouts are rare next to
//! routing decisions, and no routing path takes it.

use crate::common::AgentId;
use std::collections::HashMap;
use std::sync::Mutex;

/// A source of presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A live SIP registration.
    Sip,
    /// An active toolbar session.
    Toolbar,
}

impl Source {
    fn bit(self) -> u8 {
        match self {
            Source::Sip => 1,
            Source::Toolbar => 2,
        }
    }
}

/// The presence table shared by the SIP bridge and the toolbar.
#[derive(Debug, Default)]
pub struct Presence {
    agents: Mutex<HashMap<AgentId, u8>>,
}

impl Presence {
    /// An empty table.
    pub fn new() -> Self {
        Presence::default()
    }

    /// `source` is up for `agent`. Returns true when it is the agent's first source: the
    /// caller logs the agent in.
    pub fn handle_up(&self, agent: AgentId, source: Source) -> bool {
        let mut m = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let bits = m.entry(agent).or_insert(0);
        let first = *bits == 0;
        *bits |= source.bit();
        first
    }

    /// `source` ended for `agent`. Returns true when no source is left: the caller logs the
    /// agent out.
    pub fn handle_down(&self, agent: AgentId, source: Source) -> bool {
        let mut m = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bits) = m.get_mut(&agent) else {
            return true;
        };
        *bits &= !source.bit();
        if *bits == 0 {
            m.remove(&agent);
            true
        } else {
            false
        }
    }

    /// Whether `source` is up for `agent`.
    pub fn is_up(&self, agent: AgentId, source: Source) -> bool {
        let m = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&agent).is_some_and(|b| b & source.bit() != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: AgentId = AgentId(1);

    #[test]
    fn first_source_logs_in_and_a_second_does_not() {
        let p = Presence::new();
        assert!(p.handle_up(A, Source::Sip));
        assert!(!p.handle_up(A, Source::Toolbar));
        assert!(!p.handle_up(A, Source::Sip), "a refresh is not a new login");
    }

    #[test]
    fn registration_ending_keeps_a_toolbar_agent_logged_in() {
        let p = Presence::new();
        p.handle_up(A, Source::Toolbar);
        p.handle_up(A, Source::Sip);
        assert!(!p.handle_down(A, Source::Sip));
        assert!(p.is_up(A, Source::Toolbar));
    }

    #[test]
    fn last_source_ending_logs_out() {
        let p = Presence::new();
        p.handle_up(A, Source::Toolbar);
        p.handle_up(A, Source::Sip);
        p.handle_down(A, Source::Toolbar);
        assert!(p.handle_down(A, Source::Sip));
        assert!(!p.is_up(A, Source::Sip));
    }

    #[test]
    fn ending_a_source_never_up_logs_out() {
        assert!(Presence::new().handle_down(A, Source::Sip));
    }
}
