//! The small shared vocabulary of acd: ids, channels and queue strategies.
//!
//! Owned here so that the admin model, the routing core, SIP and the front ends name the same
//! things the same way. Nothing here does I/O or holds state.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An agent's unique id, allocated by the admin model (never reused).
    AgentId
);
id_type!(
    /// A queue's id.
    QueueId
);
id_type!(
    /// A team's id.
    TeamId
);
id_type!(
    /// A campaign's id.
    CampaignId
);
id_type!(
    /// A skill's id.
    SkillId
);
id_type!(
    /// A pause reason's id.
    PauseReasonId
);
id_type!(
    /// An interaction's id (a call, a chat or an email).
    InteractionId
);

/// A skill level: 0 (none) to 100 (expert).
pub type SkillLevel = u8;

/// The media channel of an interaction, a queue or a capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A voice call.
    Voice,
    /// A web chat.
    Chat,
    /// An email.
    Email,
}

impl Channel {
    /// Every channel, in index order.
    pub const ALL: [Channel; 3] = [Channel::Voice, Channel::Chat, Channel::Email];

    /// A dense index (0..3) for per-channel arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The lowercase name used in JSON and configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a queue picks among the agents who could take its next interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle the longest since their last interaction ended (the default).
    #[default]
    LongestIdle,
    /// The agent who has handled the fewest interactions.
    FewestInteractions,
    /// The agent with the least talk time.
    LeastTalkTime,
    /// Round robin, remembering where the last offer went.
    RoundRobin,
    /// Top-down by member order (level/penalty, then order added).
    Linear,
    /// A random qualified agent (seeded RNG).
    Random,
    /// Voice only: ring every qualified agent; the first to accept wins.
    RingAll,
}

/// Per-channel capacity: how many interactions of each channel an agent may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capacity {
    /// Concurrent voice calls (0 or 1 in practice).
    pub voice: u8,
    /// Concurrent chats (1 to 5).
    pub chat: u8,
    /// Concurrent emails.
    pub email: u8,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            voice: 1,
            chat: 1,
            email: 1,
        }
    }
}

impl Capacity {
    /// The capacity for one channel.
    pub const fn get(&self, channel: Channel) -> u8 {
        match channel {
            Channel::Voice => self.voice,
            Channel::Chat => self.chat,
            Channel::Email => self.email,
        }
    }
}
