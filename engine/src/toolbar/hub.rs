//! The push side of the toolbar: turns router outputs into per-agent JSON events and hands
//! them to the agent's connected WebSockets.
//!
//! Owns, per agent: the open connections' senders, the offers still ringing (so a toolbar that
//! connects late still sees them) and the interactions it answered (so `ended` reaches it). One
//! thread feeds it from a router subscription; connections are bounded channels and a
//! connection that falls behind is dropped rather than stalling everyone (the toolbar
//! reconnects and gets the ringing offers again). Does not own sockets (the front end's
//! WebSocket task reads the channel) nor routing.

use super::events;
use crate::common::{AgentId, InteractionId};
use crate::interactions::{InteractionLog, ID_BASE};
use crate::router::Output;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events a connection may have queued before it is dropped as too slow.
pub const CONNECTION_BUFFER: usize = 4096;

/// One event, already encoded as JSON text.
pub type Event = Arc<str>;

#[derive(Default)]
struct Slot {
    conns: Vec<mpsc::Sender<Event>>,
    ringing: Vec<(InteractionId, Event)>,
    answered: Vec<InteractionId>,
    masked: bool,
}

impl Slot {
    fn send(&mut self, e: &Event) {
        self.conns.retain(|c| c.try_send(e.clone()).is_ok());
    }
}

/// The per-agent event fan-out.
pub struct Hub {
    log: Arc<InteractionLog>,
    agents: DashMap<AgentId, Slot>,
    /// Who answered each live interaction, so an end finds its agent without a scan.
    holders: DashMap<InteractionId, AgentId>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("agents", &self.agents.len())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub that reads customer data from `log`.
    pub fn new(log: Arc<InteractionLog>) -> Self {
        Hub {
            log,
            agents: DashMap::new(),
            holders: DashMap::new(),
        }
    }

    /// Whether offers to `agent` must leave out the customer's name, email and phone.
    pub fn handle_mask(&self, agent: AgentId, masked: bool) {
        self.agents.entry(agent).or_default().masked = masked;
    }

    /// A new connection for `agent`: its receiver, primed with the offers ringing now.
    pub fn connect(&self, agent: AgentId, hello: Event) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(CONNECTION_BUFFER);
        let mut slot = self.agents.entry(agent).or_default();
        let _ = tx.try_send(hello);
        for (_, e) in &slot.ringing {
            let _ = tx.try_send(e.clone());
        }
        slot.conns.push(tx);
        rx
    }

    /// Closes every connection of `agent` (logout, revocation).
    pub fn disconnect(&self, agent: AgentId) {
        if let Some(mut slot) = self.agents.get_mut(&agent) {
            slot.conns.clear();
            slot.ringing.clear();
        }
    }

    /// Sends an event to every connection of `agent`.
    pub fn push(&self, agent: AgentId, e: Event) {
        if let Some(mut slot) = self.agents.get_mut(&agent) {
            slot.send(&e);
        }
    }

    /// The ids ringing at `agent` now.
    pub fn ringing(&self, agent: AgentId) -> Vec<InteractionId> {
        self.agents
            .get(&agent)
            .map(|s| s.ringing.iter().map(|r| r.0).collect())
            .unwrap_or_default()
    }

    /// The agent who answered a live interaction (per the router's `Answered` output).
    pub fn holder(&self, id: InteractionId) -> Option<AgentId> {
        self.holders.get(&id).map(|a| *a)
    }

    /// Applies one router output.
    pub fn handle_output(&self, o: &Output) {
        match *o {
            Output::Offer {
                interaction,
                agent,
                channel,
                queue,
                auto_answer_at,
            } => {
                let mut slot = self.agents.entry(agent).or_default();
                let rec = if interaction.0 >= ID_BASE {
                    self.log.get(interaction)
                } else {
                    None
                };
                let e: Event = events::offer(
                    interaction,
                    channel,
                    queue,
                    auto_answer_at,
                    rec.as_ref(),
                    slot.masked,
                )
                .into();
                slot.ringing.push((interaction, e.clone()));
                slot.send(&e);
            }
            Output::CancelOffer { interaction, agent } => {
                if let Some(mut slot) = self.agents.get_mut(&agent) {
                    slot.ringing.retain(|r| r.0 != interaction);
                    slot.send(&events::simple("offer_cancelled", interaction).into());
                }
            }
            Output::Answered { interaction, agent } => {
                self.holders.insert(interaction, agent);
                let mut slot = self.agents.entry(agent).or_default();
                slot.ringing.retain(|r| r.0 != interaction);
                slot.answered.push(interaction);
                slot.send(&events::simple("answered", interaction).into());
            }
            Output::Ended {
                interaction,
                reason,
            } => {
                let Some((_, agent)) = self.holders.remove(&interaction) else {
                    return;
                };
                if let Some(mut slot) = self.agents.get_mut(&agent) {
                    if let Some(p) = slot.answered.iter().position(|&i| i == interaction) {
                        slot.answered.swap_remove(p);
                    }
                    slot.send(&events::ended(interaction, reason).into());
                }
            }
            Output::AgentStateChanged { agent, state, .. } => {
                if let Some(mut slot) = self.agents.get_mut(&agent) {
                    slot.send(&events::state(state).into());
                }
            }
            _ => {}
        }
    }

    /// Runs the hub from a router subscription until it closes (on its own thread).
    pub fn spawn(
        hub: Arc<Hub>,
        rx: crossbeam_channel::Receiver<Output>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("acd-toolbar-hub".into())
            .spawn(move || {
                while let Ok(o) = rx.recv() {
                    hub.handle_output(&o);
                }
            })
    }
}
