//! Everything configured around agents: teams, queues with their routing settings, queue
//! membership, campaigns, skills, pause reasons, numbers (DIDs) and organisation settings.

use super::settings;
use crate::common::{
    AgentId, CampaignId, Channel, PauseReasonId, QueueId, SkillId, SkillLevel, Strategy, TeamId,
};
use serde::{Deserialize, Serialize};

settings! {
    /// A team (used for permissions, reporting and agent-to-agent calls).
    pub struct TeamSettings / TeamPatch {
        /// Unique name (case-insensitive), 1–100 characters.
        pub name: String = String::new(),
        /// Free text.
        pub description: Option<String> = None,
    }
}

/// A team with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    /// The id.
    pub id: TeamId,
    /// Its settings.
    #[serde(flatten)]
    pub settings: TeamSettings,
}

settings! {
    /// A skill that agents have at a level and queues may require.
    pub struct SkillSettings / SkillPatch {
        /// Unique name (case-insensitive), 1–100 characters.
        pub name: String = String::new(),
        /// Free text.
        pub description: Option<String> = None,
    }
}

/// A skill with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skill {
    /// The id.
    pub id: SkillId,
    /// Its settings.
    #[serde(flatten)]
    pub settings: SkillSettings,
}

settings! {
    /// A campaign (agents are assigned with a priority in their profile).
    pub struct CampaignSettings / CampaignPatch {
        /// Unique name (case-insensitive), 1–100 characters.
        pub name: String = String::new(),
        /// Free text.
        pub description: Option<String> = None,
        /// Campaign CLI; overridden by an agent CLI.
        pub cli: Option<String> = None,
    }
}

/// A campaign with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// The id.
    pub id: CampaignId,
    /// Its settings.
    #[serde(flatten)]
    pub settings: CampaignSettings,
}

settings! {
    /// A reason an agent can give when pausing.
    pub struct PauseReasonSettings / PauseReasonPatch {
        /// Unique name (case-insensitive), 1–100 characters.
        pub name: String = String::new(),
        /// Paused time counts as paid time in reports.
        pub paid: bool = false,
        /// The pause ends by itself after this many seconds (1–86400), if set.
        pub max_duration_seconds: Option<u32> = None,
    }
}

/// A pause reason with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PauseReason {
    /// The id.
    pub id: PauseReasonId,
    /// Its settings.
    #[serde(flatten)]
    pub settings: PauseReasonSettings,
}

/// Where an interaction goes when a queue gives up on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OverflowAction {
    /// Move it to another queue (of the same channel; not the queue itself).
    Queue {
        /// The target queue.
        queue: QueueId,
    },
    /// Send the caller to voicemail (voice queues only).
    Voicemail,
    /// End it with a reason recorded in reports.
    End {
        /// Short reason code, 1–64 characters.
        reason: String,
    },
}

/// What a queue does with a new interaction while no member is logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoAgentsAction {
    /// Queue it anyway and wait (up to the maximum wait).
    #[default]
    Wait,
    /// Apply the overflow action at once.
    Overflow,
}

/// One step of skill relaxation: after waiting this long, a lower level is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelaxStep {
    /// Seconds the interaction has waited.
    pub after_seconds: u32,
    /// The minimum level accepted from then on (lower than the previous step's).
    pub min_level: SkillLevel,
}

/// A skill a queue requires of the agents it offers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SkillRequirement {
    /// The skill.
    pub skill: SkillId,
    /// Minimum level at first (1–100).
    pub min_level: SkillLevel,
    /// Relaxation steps, strictly increasing in time and decreasing in level.
    #[serde(default)]
    pub relax: Vec<RelaxStep>,
}

settings! {
    /// A queue and its routing settings.
    pub struct QueueSettings / QueuePatch {
        /// Unique name (case-insensitive), 1–100 characters.
        pub name: String = String::new(),
        /// The channel of the interactions it holds.
        pub channel: Channel = Channel::Voice,
        /// How an agent is picked.
        pub strategy: Strategy = Strategy::LongestIdle,
        /// Seconds an offer rings before it counts as a no-answer (5–600).
        pub ring_timeout_seconds: u32 = 20,
        /// Seconds of wrap-up after each interaction (0–3600).
        pub wrap_up_seconds: u32 = 10,
        /// Maximum wait before the overflow action (1–86400); `None` waits forever.
        pub max_wait_seconds: Option<u32> = None,
        /// What happens on maximum wait, a full queue, or (if so set) no agents.
        pub overflow_action: OverflowAction = OverflowAction::End { reason: "overflow".to_owned() },
        /// Maximum interactions waiting (1–100000); `None` is unbounded.
        pub max_queue_length: Option<u32> = None,
        /// What happens while no member is logged in.
        pub no_agents_action: NoAgentsAction = NoAgentsAction::Wait,
        /// Consecutive no-answers after which the agent is paused (1–100); `None` never.
        pub auto_pause_after_no_answers: Option<u32> = None,
        /// Seconds before an agent who rejected or missed an offer is offered again (0–3600).
        pub reject_delay_seconds: u32 = 5,
        /// Service-level threshold: answered within this many seconds counts (1–3600).
        pub service_level_seconds: u32 = 20,
        /// Priority (tier) among queues sharing agents: higher is served first (0–100).
        pub priority: u8 = 0,
        /// Skills agents need, with relaxation over waiting time.
        pub skill_requirements: Vec<SkillRequirement> = Vec::new(),
        /// Voice: callers wait unanswered, hearing the queue as early media (`183 Session
        /// Progress`), and are answered (`200`) only when an agent answers: carriers bill
        /// only answered calls and a caller can still CANCEL. Off: callers are answered at once.
        pub early_media: bool = false,
        /// Voice: the prompt a caller hears on entering the queue (a built-in or uploaded
        /// prompt name, `[a-z0-9_]{1,40}`); `None` plays none.
        pub welcome_prompt: Option<String> = Some("welcome".to_owned()),
        /// Voice: what a waiting caller hears after the welcome, looped: `moh` (built-in music
        /// on hold), `ringback` (built-in ringing tone) or an uploaded prompt's name.
        pub hold_audio: String = "moh".to_owned(),
        /// Voice: tell waiting callers their position and expected wait, every
        /// `announce_interval_seconds`.
        pub announce_position: bool = false,
        /// Seconds between position announcements (10–600).
        pub announce_interval_seconds: u32 = 30,
    }
}

/// A queue with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// The id.
    pub id: QueueId,
    /// Its settings.
    #[serde(flatten)]
    pub settings: QueueSettings,
}

settings! {
    /// An agent's place in a queue.
    pub struct MemberSettings / MemberPatch {
        /// Penalty (level): lower is offered first (0–1000).
        pub penalty: u32 = 0,
        /// Order within the same penalty, for linear and round-robin strategies.
        pub order: u32 = 0,
    }
}

/// An agent's membership of a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueMember {
    /// The queue.
    pub queue: QueueId,
    /// The agent.
    pub agent: AgentId,
    /// Penalty and order.
    #[serde(flatten)]
    pub settings: MemberSettings,
}

/// What a number (DID) is mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NumberTarget {
    /// Calls to the number enter this voice queue.
    Queue {
        /// The queue.
        queue: QueueId,
    },
    /// Calls to the number go to this agent (agent DID).
    Agent {
        /// The agent.
        agent: AgentId,
    },
}

settings! {
    /// A number's mapping.
    pub struct NumberSettings / NumberPatch {
        /// Required: the queue or agent the number reaches.
        pub target: Option<NumberTarget> = None,
        /// Free text.
        pub description: Option<String> = None,
    }
}

/// A number (DID) with its mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Number {
    /// The number: optional `+` then 3–20 digits. Unique; the key.
    pub number: String,
    /// Its settings.
    #[serde(flatten)]
    pub settings: NumberSettings,
}

settings! {
    /// The organisation's password policy.
    pub struct PasswordPolicy / PasswordPolicyPatch {
        /// Minimum length (8–128).
        pub min_length: u32 = 10,
        /// At least one lowercase letter.
        pub require_lowercase: bool = true,
        /// At least one uppercase letter.
        pub require_uppercase: bool = true,
        /// At least one digit.
        pub require_digit: bool = true,
        /// At least one character that is neither letter nor digit.
        pub require_symbol: bool = false,
        /// The password may not contain the username.
        pub forbid_username: bool = true,
    }
}

settings! {
    /// Organisation-wide settings.
    pub struct OrgSettings / OrgSettingsPatch {
        /// Digits put before the agent id to form the default extension (0–10 digits).
        pub extension_prefix: String = String::new(),
        /// Password policy.
        pub password_policy: PasswordPolicy [PasswordPolicyPatch] = PasswordPolicy::default(),
        /// CLI used when neither the agent nor the campaign has one.
        pub default_cli: Option<String> = None,
        /// Failed logins in a row that lock an account (1–100); 0 disables locking.
        pub lockout_threshold: u32 = 5,
        /// Agents must give a pause reason to pause.
        pub pause_reason_required: bool = false,
    }
}
