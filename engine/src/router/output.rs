//! What the router tells the outside world: outputs, end reasons, agent states, records to
//! persist, statistics snapshots and errors.
//!
//! Pure data; the router fills it, the runtime delivers it. Nothing here does I/O.

use super::settings::{OverflowTarget, PauseReason, Time};
use crate::common::{AgentId, Channel, InteractionId, QueueId};

/// Why a queue let an interaction go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverflowCause {
    /// It waited longer than the queue's max wait.
    MaxWait,
    /// The queue was at its max length at entry.
    QueueFull,
    /// No member was logged in at entry.
    NoAgents,
    /// It overflowed through more queues than `max_overflow_hops`.
    TooManyHops,
}

/// Why an interaction left the router. Every interaction gets exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Answered, then completed (or hung up after the answer).
    Completed,
    /// The customer left before an answer.
    Abandoned,
    /// A queue sent it to voicemail.
    Voicemail(OverflowCause),
    /// A queue ended it.
    Overflow(OverflowCause),
    /// A direct interaction was refused by its target agent (busy, paused, logged out, do not
    /// disturb); `voicemail` says which fallback the caller asked for.
    Refused {
        /// Voicemail (true) or busy (false).
        voicemail: bool,
    },
    /// A direct interaction rang out or was rejected.
    NotAnswered {
        /// Voicemail (true) or busy (false).
        voicemail: bool,
    },
}

/// An agent's state as shown to supervisors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentState {
    /// Not logged in.
    LoggedOut,
    /// Logged in but disabled by an administrator.
    Disabled,
    /// Paused (may still hold interactions).
    Paused(PauseReason),
    /// Handling at least one answered interaction.
    Busy,
    /// At least one offer is ringing.
    Ringing,
    /// In wrap-up after an interaction.
    WrapUp,
    /// Free for new interactions.
    Available,
}

/// What must be written to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A finished interaction (a call detail record).
    Interaction {
        /// The interaction.
        id: InteractionId,
        /// Its channel.
        channel: Channel,
        /// The last queue it was in, if any.
        queue: Option<QueueId>,
        /// The agent who answered it, if any.
        agent: Option<AgentId>,
        /// When it arrived.
        arrived_at: Time,
        /// When it was answered.
        answered_at: Option<Time>,
        /// When it ended.
        ended_at: Time,
        /// How it ended.
        reason: EndReason,
    },
    /// An agent state change.
    AgentState {
        /// The agent.
        agent: AgentId,
        /// The new state.
        state: AgentState,
        /// Since when.
        at: Time,
    },
}

/// One output of the router, polled with `Router::poll_output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Ring / present `interaction` to `agent`. The agent is already reserved.
    Offer {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// Its channel.
        channel: Channel,
        /// The queue it came from (`None` for direct interactions).
        queue: Option<QueueId>,
        /// The router will accept on the agent's behalf at this time (auto-answer).
        auto_answer_at: Option<Time>,
    },
    /// Stop ringing `interaction` at `agent` (ring timeout, another agent won, abandon...).
    CancelOffer {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
    },
    /// `agent` now handles `interaction` (accepted, or auto-answered by the router).
    Answered {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
    },
    /// A queue let the interaction go (followed by `Ended` unless `to` is another queue).
    Overflowed {
        /// The interaction.
        interaction: InteractionId,
        /// The queue it left.
        from: QueueId,
        /// Where it goes.
        to: OverflowTarget,
        /// Why.
        cause: OverflowCause,
    },
    /// The interaction left the router; its id may be reused.
    Ended {
        /// The interaction.
        interaction: InteractionId,
        /// Why.
        reason: EndReason,
    },
    /// An agent's state changed.
    AgentStateChanged {
        /// The agent.
        agent: AgentId,
        /// The new state.
        state: AgentState,
        /// Since when.
        at: Time,
    },
    /// Persist this.
    Store(Record),
}

/// Errors from router inputs. None of them changes router state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// No agent with this id was configured.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// No queue with this id was configured.
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    /// No live interaction has this id.
    #[error("unknown interaction {0}")]
    UnknownInteraction(InteractionId),
    /// An interaction with this id is already live.
    #[error("interaction {0} is already in the router")]
    DuplicateInteraction(InteractionId),
    /// The interaction's channel differs from its queue's channel.
    #[error("interaction channel {channel} does not match queue {queue} ({queue_channel})")]
    ChannelMismatch {
        /// The queue.
        queue: QueueId,
        /// The arrival's channel.
        channel: Channel,
        /// The queue's channel.
        queue_channel: Channel,
    },
    /// The agent has no ringing offer for this interaction.
    #[error("agent {agent} has no pending offer for interaction {interaction}")]
    NoPendingOffer {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
    },
    /// Only an answered interaction can be completed; use abandon before the answer.
    #[error("interaction {0} was not answered; abandon it instead")]
    NotAnswered(InteractionId),
    /// The agent is not logged in.
    #[error("agent {0} is not logged in")]
    NotLoggedIn(AgentId),
    /// Ring-all is only for voice queues.
    #[error("queue {0}: strategy ring_all needs a voice queue")]
    RingAllNotVoice(QueueId),
}

/// Statistics of one queue, from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueStats {
    /// The queue.
    pub queue: QueueId,
    /// Interactions waiting now (not ringing).
    pub waiting: u32,
    /// Interactions ringing an agent now.
    pub ringing: u32,
    /// The longest current wait in ms (waiting or ringing), 0 if none.
    pub longest_wait_ms: u64,
    /// Interactions that entered the queue.
    pub offered: u64,
    /// Interactions answered from the queue.
    pub answered: u64,
    /// Answered within the service-level threshold.
    pub answered_within_sl: u64,
    /// Interactions abandoned in the queue.
    pub abandoned: u64,
    /// Interactions that overflowed out of the queue.
    pub overflowed: u64,
    /// Answered interactions that were completed.
    pub completed: u64,
    /// Service level: answered within threshold / (answered + abandoned), in %; 100 if none.
    pub service_level_pct: f64,
    /// Average speed of answer in ms.
    pub asa_ms: u64,
    /// Average handle time (answer to completion) in ms.
    pub aht_ms: u64,
    /// Members logged in and enabled.
    pub agents_logged_in: u32,
    /// Members able to take the queue's next interaction now.
    pub agents_ready: u32,
}

/// Statistics of one agent, from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentStats {
    /// The agent.
    pub agent: AgentId,
    /// Current state.
    pub state: AgentState,
    /// Since when.
    pub since: Time,
    /// Interactions completed.
    pub handled: u64,
    /// Total answered time in ms.
    pub talk_time_ms: u64,
    /// Offers that rang out (total).
    pub no_answers: u64,
    /// Interactions held now (ringing or answered), per channel index.
    pub held: [u8; 3],
}

/// A point-in-time copy of every statistic, published by the router task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Time,
    /// Per queue.
    pub queues: Vec<QueueStats>,
    /// Per agent.
    pub agents: Vec<AgentStats>,
}

impl Snapshot {
    /// The stats of one queue.
    pub fn queue(&self, id: QueueId) -> Option<&QueueStats> {
        self.queues.iter().find(|q| q.queue == id)
    }

    /// The stats of one agent.
    pub fn agent(&self, id: AgentId) -> Option<&AgentStats> {
        self.agents.iter().find(|a| a.agent == id)
    }
}
