//! The router's own narrow input configuration: what it needs to know about agents, queues and
//! the global cross-channel rule.
//!
//! Owned here so the routing core does not depend on the admin model; the runtime converts the
//! admin model (agent profiles, queues, memberships) into these types. Nothing here does I/O.

use crate::common::{AgentId, Capacity, Channel, QueueId, SkillId, SkillLevel, Strategy};

/// Router time: milliseconds since an epoch chosen by the caller (the runtime uses its start).
///
/// The router never reads a clock; every input carries `now` of this type.
pub type Time = u64;

/// How concurrent interactions of different channels interact for one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrossChannelRule {
    /// Each channel only counts against its own capacity.
    #[default]
    Independent,
    /// A live voice call (ringing or answered) blocks new chats and emails for that agent.
    VoiceBlocksOthers,
}

/// Router-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// The cross-channel rule applied to every agent.
    pub cross_channel: CrossChannelRule,
    /// How long a direct-to-agent offer rings before the caller's fallback applies, in ms.
    pub direct_ring_timeout_ms: u64,
    /// How many queue-to-queue overflows one interaction may take before it is ended, so a
    /// configuration cycle (A overflows to B, B to A) cannot loop forever.
    pub max_overflow_hops: u8,
    /// The queues known at start.
    pub queues: Vec<(QueueId, QueueSettings)>,
    /// The agents known at start (their memberships name queues above).
    pub agents: Vec<(AgentId, AgentSettings)>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            cross_channel: CrossChannelRule::Independent,
            direct_ring_timeout_ms: 20_000,
            max_overflow_hops: 8,
            queues: Vec::new(),
            agents: Vec::new(),
        }
    }
}

/// One agent's membership of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// The queue.
    pub queue: QueueId,
    /// Lower penalties are tried first under every strategy except round-robin.
    pub penalty: u32,
    /// Position for the linear and round-robin strategies (lower first).
    pub order: u32,
    /// The agent's own priority tier for this queue (campaign tier): lower tiers are served
    /// first when the agent becomes free; ties go to the queue with the higher priority.
    pub tier: u8,
}

impl Membership {
    /// A membership with penalty 0, order 0 and tier 0.
    pub fn new(queue: QueueId) -> Self {
        Membership {
            queue,
            penalty: 0,
            order: 0,
            tier: 0,
        }
    }
}

/// What the router needs from an agent profile. May change while the router runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    /// A disabled agent is offered nothing, even when logged in.
    pub enabled: bool,
    /// Concurrent interactions per channel.
    pub capacity: Capacity,
    /// Logging in starts the agent paused (reason [`PauseReason::LogIn`]).
    pub login_pause: bool,
    /// Direct voice calls still ring when the agent is already on a call.
    pub ring_in_use: bool,
    /// Offers are accepted automatically after this many ms.
    pub auto_answer_ms: Option<u64>,
    /// While paused, internal calls to the agent are refused.
    pub dnd_during_pause: bool,
    /// Transfers are still offered while paused.
    pub receive_transfers_when_paused: bool,
    /// Preview calls are still offered while paused.
    pub ignore_pause_for_preview: bool,
    /// Skill levels held by the agent.
    pub skills: Vec<(SkillId, SkillLevel)>,
    /// Overrides the queue's wrap-up time after every interaction, in ms.
    pub wrap_up_ms: Option<u64>,
    /// The queues the agent serves.
    pub memberships: Vec<Membership>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            enabled: true,
            capacity: Capacity::default(),
            login_pause: false,
            ring_in_use: false,
            auto_answer_ms: None,
            dnd_during_pause: false,
            receive_transfers_when_paused: false,
            ignore_pause_for_preview: false,
            skills: Vec::new(),
            wrap_up_ms: None,
            memberships: Vec::new(),
        }
    }
}

/// Where an interaction goes when a queue cannot keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowTarget {
    /// Into another queue (its wait restarts there; its first arrival time is kept for stats).
    Queue(QueueId),
    /// To voicemail: the interaction leaves the router.
    Voicemail,
    /// End it; the cause travels in [`crate::router::EndReason::Overflow`].
    End,
}

/// One step of skill-requirement relaxation (bullseye escalation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelaxStep {
    /// After waiting this long in the queue, in ms.
    pub after_ms: u64,
    /// Every required minimum level is lowered by this much (total, not cumulative).
    pub lower_by: SkillLevel,
}

/// What the router needs from a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// The channel of every interaction in this queue.
    pub channel: Channel,
    /// How an agent is picked.
    pub strategy: Strategy,
    /// Among an agent's queues of equal tier, higher priority queues are served first.
    pub priority: u8,
    /// How long an offer rings before the interaction goes back to its place, in ms.
    pub ring_timeout_ms: u64,
    /// Wrap-up after each interaction (unless the agent overrides it), in ms.
    pub wrap_up_ms: u64,
    /// Overflow after this long waiting, in ms.
    pub max_wait_ms: Option<u64>,
    /// Where max-wait overflow goes.
    pub on_max_wait: OverflowTarget,
    /// Arrivals beyond this many waiting interactions overflow at entry.
    pub max_length: Option<u32>,
    /// Where a full queue sends arrivals.
    pub on_full: OverflowTarget,
    /// Where arrivals go when no member is logged in; `None` waits anyway.
    pub on_no_agents: Option<OverflowTarget>,
    /// After this many consecutive unanswered offers the agent is paused ("no answer").
    pub max_no_answers: Option<u32>,
    /// After a reject or a missed (rung-out) queue offer, the agent gets no queue offer for
    /// this long, in ms.
    pub reject_delay_ms: u64,
    /// Answers within this wait count towards the service level, in ms.
    pub service_level_ms: u64,
    /// Relaxation of skill requirements with waiting time, ordered by `after_ms`.
    pub relax_steps: Vec<RelaxStep>,
}

impl QueueSettings {
    /// A queue of `channel` with default settings.
    pub fn new(channel: Channel) -> Self {
        QueueSettings {
            channel,
            strategy: Strategy::LongestIdle,
            priority: 0,
            ring_timeout_ms: 15_000,
            wrap_up_ms: 0,
            max_wait_ms: None,
            on_max_wait: OverflowTarget::End,
            max_length: None,
            on_full: OverflowTarget::End,
            on_no_agents: None,
            max_no_answers: None,
            reject_delay_ms: 0,
            service_level_ms: 20_000,
            relax_steps: Vec::new(),
        }
    }

    /// The same settings with another strategy.
    pub fn with_strategy(self, strategy: Strategy) -> Self {
        QueueSettings { strategy, ..self }
    }

    /// The same settings with another priority.
    pub fn with_priority(self, priority: u8) -> Self {
        QueueSettings { priority, ..self }
    }
}

/// Why an agent is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseReason {
    /// Paused by the agent or a supervisor, with an optional configured reason.
    Manual(Option<crate::common::PauseReasonId>),
    /// The profile's log-in pause.
    LogIn,
    /// Too many consecutive unanswered offers.
    NoAnswer,
}

/// The skill requirements of one interaction: at most [`SkillReqs::MAX`] skills, kept inline so
/// an arrival carries no heap allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkillReqs {
    len: u8,
    items: [(SkillId, SkillLevel); SkillReqs::MAX],
}

impl Default for SkillReqs {
    fn default() -> Self {
        SkillReqs::none()
    }
}

impl SkillReqs {
    /// The most required skills one interaction may carry.
    pub const MAX: usize = 4;

    /// No requirement.
    pub const fn none() -> Self {
        SkillReqs {
            len: 0,
            items: [(SkillId(0), 0); SkillReqs::MAX],
        }
    }

    /// Builds requirements from a slice; `None` if it holds more than [`SkillReqs::MAX`].
    pub fn from_slice(reqs: &[(SkillId, SkillLevel)]) -> Option<Self> {
        if reqs.len() > Self::MAX {
            return None;
        }
        let mut out = Self::none();
        out.items[..reqs.len()].copy_from_slice(reqs);
        out.len = reqs.len() as u8;
        Some(out)
    }

    /// The requirements as a slice.
    pub fn as_slice(&self) -> &[(SkillId, SkillLevel)] {
        &self.items[..self.len as usize]
    }
}

/// Where an arriving interaction is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Through a queue.
    Queue(QueueId),
    /// Straight to one agent (a DID, an internal call, a transfer or a preview call).
    Agent {
        /// The target agent.
        agent: AgentId,
        /// When the agent refuses or does not answer: voicemail (true) or busy (false).
        voicemail: bool,
    },
}

/// An interaction entering the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Its id, unique among live interactions.
    pub id: crate::common::InteractionId,
    /// Voice, chat or email. For queue routes it must match the queue's channel.
    pub channel: Channel,
    /// Queue or direct.
    pub route: Route,
    /// Higher is served first within a queue.
    pub priority: u8,
    /// Required skills with minimum levels.
    pub skills: SkillReqs,
    /// A conversation thread: a follow-up goes to the agent already handling that thread.
    pub thread: Option<u64>,
    /// A transfer from another agent.
    pub is_transfer: bool,
    /// An outbound preview call.
    pub is_preview: bool,
    /// An internal (agent-to-agent) call.
    pub is_internal: bool,
}

impl Arrival {
    /// A plain queued interaction with priority 0 and no skills.
    pub fn queued(id: crate::common::InteractionId, channel: Channel, queue: QueueId) -> Self {
        Arrival {
            id,
            channel,
            route: Route::Queue(queue),
            priority: 0,
            skills: SkillReqs::none(),
            thread: None,
            is_transfer: false,
            is_preview: false,
            is_internal: false,
        }
    }

    /// A direct call to `agent`, falling back to busy (or voicemail).
    pub fn direct(
        id: crate::common::InteractionId,
        channel: Channel,
        agent: AgentId,
        voicemail: bool,
    ) -> Self {
        Arrival {
            route: Route::Agent { agent, voicemail },
            ..Arrival::queued(id, channel, QueueId(0))
        }
    }
}
