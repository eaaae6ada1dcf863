//! The configuration feed: turns the admin model (agent profiles, queues, memberships) into the
//! router's own settings and keeps the running router in step with every admin change.
//!
//! Owns the conversion rules from `model` to `router` settings and the feeder thread that
//! applies [`ConfigEvent`]s. It does not own the rules themselves (the router does) nor the
//! admin data (the [`Admin`] service does). The feeder mirrors just enough of the configuration
//! (agents, queues, memberships) to rebuild one agent's router settings when any of its parts
//! changes.

use crate::admin::{Admin, ConfigEvent, ConfigSnapshot};
use crate::common::{AgentId, Capacity, QueueId};
use crate::model::{Agent, NoAgentsAction, OverflowAction, Queue, QueueMember};
use crate::router::{self, AgentSettings, Membership, OverflowTarget, QueueSettings, RelaxStep};
use crate::runtime::follower::Follower;
use crate::runtime::router_task::{Command, RouterHandle};
use crossbeam_channel::{select, Receiver};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const SECOND_MS: u64 = 1_000;

/// The router settings of a queue.
///
/// Skill requirements: the model lets each required skill relax on its own schedule; the router
/// relaxes all requirements of a queue together by `lower_by` after a wait. Each model step
/// `(after, min_level)` becomes `(after, required - min_level)`; where several skills relax at
/// the same time the largest drop wins. The requirements themselves travel with each
/// interaction ([`queue_skill_requirements`]), so the runtime adds them at arrival.
pub fn queue_settings(q: &Queue) -> QueueSettings {
    let s = &q.settings;
    let overflow = overflow_target(&s.overflow_action);
    let mut relax: BTreeMap<u64, u8> = BTreeMap::new();
    for req in &s.skill_requirements {
        for step in &req.relax {
            let drop = req.min_level.saturating_sub(step.min_level);
            let e = relax
                .entry(u64::from(step.after_seconds) * SECOND_MS)
                .or_default();
            *e = (*e).max(drop);
        }
    }
    // A later step never relaxes less than an earlier one.
    let mut floor = 0u8;
    let relax_steps = relax
        .into_iter()
        .map(|(after_ms, drop)| {
            floor = floor.max(drop);
            RelaxStep {
                after_ms,
                lower_by: floor,
            }
        })
        .collect();
    QueueSettings {
        channel: s.channel,
        strategy: s.strategy,
        priority: s.priority,
        ring_timeout_ms: u64::from(s.ring_timeout_seconds) * SECOND_MS,
        wrap_up_ms: u64::from(s.wrap_up_seconds) * SECOND_MS,
        max_wait_ms: s.max_wait_seconds.map(|w| u64::from(w) * SECOND_MS),
        on_max_wait: overflow,
        max_length: s.max_queue_length,
        on_full: overflow,
        on_no_agents: match s.no_agents_action {
            NoAgentsAction::Wait => None,
            NoAgentsAction::Overflow => Some(overflow),
        },
        max_no_answers: s.auto_pause_after_no_answers,
        reject_delay_ms: u64::from(s.reject_delay_seconds) * SECOND_MS,
        service_level_ms: u64::from(s.service_level_seconds) * SECOND_MS,
        relax_steps,
    }
}

/// The skill requirements a queue puts on every interaction entering it, at most
/// [`router::SkillReqs::MAX`] (the model validates that bound).
pub fn queue_skill_requirements(q: &Queue) -> router::SkillReqs {
    let reqs: Vec<_> = q
        .settings
        .skill_requirements
        .iter()
        .take(router::SkillReqs::MAX)
        .map(|r| (r.skill, r.min_level))
        .collect();
    router::SkillReqs::from_slice(&reqs).unwrap_or_default()
}

fn overflow_target(a: &OverflowAction) -> OverflowTarget {
    match a {
        OverflowAction::Queue { queue } => OverflowTarget::Queue(*queue),
        OverflowAction::Voicemail => OverflowTarget::Voicemail,
        OverflowAction::End { .. } => OverflowTarget::End,
    }
}

/// The router settings of an agent, given its memberships.
///
/// - Disabled agents, and agents whose login is disabled, are offered nothing.
/// - Auto-answer: the router has one delay per agent. The "other channels" auto-answer wins
///   when enabled, else the toolbar (voice) auto-answer.
/// - Tier: every membership is tier 0; queue priority orders an agent's queues. Campaign
///   priorities are kept in the profile for outbound campaigns, which the router does not run.
pub fn agent_settings<'a>(
    agent: &Agent,
    memberships: impl IntoIterator<Item = &'a QueueMember>,
) -> AgentSettings {
    let p = &agent.profile;
    let auto_answer_ms = if p.auto_answer.enabled {
        Some(u64::from(p.auto_answer.delay_seconds) * SECOND_MS)
    } else if p.toolbar.auto_answer {
        Some(u64::from(p.toolbar.auto_answer_delay_seconds) * SECOND_MS)
    } else {
        None
    };
    AgentSettings {
        enabled: !p.disabled && p.login_enabled,
        capacity: Capacity {
            voice: p.capacity.voice,
            chat: p.capacity.chat,
            email: p.capacity.email,
        },
        login_pause: p.login_pause,
        ring_in_use: p.toolbar.ring_in_use,
        auto_answer_ms,
        dnd_during_pause: p.toolbar.dnd_during_pause,
        receive_transfers_when_paused: p.permissions.toolbar.receive_transfers_when_paused,
        ignore_pause_for_preview: p.toolbar.ignore_pause_for_preview_calls,
        skills: p.skills.iter().map(|s| (s.skill, s.level)).collect(),
        wrap_up_ms: None,
        memberships: memberships
            .into_iter()
            .map(|m| Membership {
                queue: m.queue,
                penalty: m.settings.penalty,
                order: m.settings.order,
                tier: 0,
            })
            .collect(),
    }
}

/// What the feeder remembers of the configuration.
#[derive(Default)]
struct Mirror {
    agents: HashMap<AgentId, Arc<Agent>>,
    queues: HashMap<QueueId, Arc<Queue>>,
    /// Memberships by agent, then queue.
    members: HashMap<AgentId, BTreeMap<QueueId, QueueMember>>,
}

impl Mirror {
    fn agent_command(&self, id: AgentId) -> Option<Command> {
        let agent = self.agents.get(&id)?;
        let members = self.members.get(&id);
        let settings = agent_settings(agent, members.into_iter().flat_map(|m| m.values()));
        Some(Command::AgentSettings(id, settings))
    }
}

/// The commands that load a whole configuration into an empty router: queues first, since
/// agent memberships name them.
pub fn initial_commands(snapshot: &ConfigSnapshot) -> Vec<Command> {
    let mut mirror = Mirror::default();
    load(&mut mirror, snapshot)
}

fn load(mirror: &mut Mirror, snapshot: &ConfigSnapshot) -> Vec<Command> {
    let mut cmds = Vec::with_capacity(snapshot.queues.len() + snapshot.agents.len());
    for q in &snapshot.queues {
        cmds.push(Command::QueueSettings(q.id, queue_settings(q)));
        mirror.queues.insert(q.id, Arc::new(q.clone()));
    }
    for m in &snapshot.members {
        mirror
            .members
            .entry(m.agent)
            .or_default()
            .insert(m.queue, m.clone());
    }
    for a in &snapshot.agents {
        mirror.agents.insert(a.id, Arc::new(a.clone()));
        cmds.extend(mirror.agent_command(a.id));
    }
    cmds
}

/// Applies one admin change to the mirror and returns the router commands it implies.
fn apply(mirror: &mut Mirror, event: ConfigEvent) -> Vec<Command> {
    match event {
        ConfigEvent::AgentUpserted(a) => {
            let id = a.id;
            mirror.agents.insert(id, a);
            mirror.agent_command(id).into_iter().collect()
        }
        ConfigEvent::AgentDeleted(id) => {
            mirror.members.remove(&id);
            let was_known = mirror.agents.remove(&id).is_some();
            if !was_known {
                return Vec::new();
            }
            // The router keeps no deleted slots: a deleted agent is logged out and can never
            // be offered anything again (disabled, with no memberships).
            vec![
                Command::Logout(id),
                Command::AgentSettings(
                    id,
                    AgentSettings {
                        enabled: false,
                        ..AgentSettings::default()
                    },
                ),
            ]
        }
        ConfigEvent::QueueUpserted(q) => {
            let cmd = Command::QueueSettings(q.id, queue_settings(&q));
            mirror.queues.insert(q.id, q);
            vec![cmd]
        }
        ConfigEvent::QueueDeleted(id) => {
            // Memberships were removed first (each with its own event). The router keeps the
            // slot; a deleted queue takes nothing new.
            let Some(q) = mirror.queues.remove(&id) else {
                return Vec::new();
            };
            let mut s = queue_settings(&q);
            s.max_length = Some(0);
            s.on_full = OverflowTarget::End;
            vec![Command::QueueSettings(id, s)]
        }
        ConfigEvent::MemberUpserted(m) => {
            let agent = m.agent;
            mirror.members.entry(agent).or_default().insert(m.queue, m);
            mirror.agent_command(agent).into_iter().collect()
        }
        ConfigEvent::MemberRemoved { queue, agent } => {
            if let Some(ms) = mirror.members.get_mut(&agent) {
                ms.remove(&queue);
            }
            mirror.agent_command(agent).into_iter().collect()
        }
        // Numbers, teams, skills' names, campaigns, pause reasons and organisation settings
        // are read by the front ends from the Admin service directly; the router needs none.
        _ => Vec::new(),
    }
}

/// The running feeder thread: applies admin changes to the router until stopped.
pub struct ConfigFeed {
    thread: Follower,
}

impl ConfigFeed {
    /// Loads the current configuration into the router (waiting for each verdict, so the
    /// router is ready when this returns) and starts following changes.
    pub fn start(admin: &Admin, router: RouterHandle) -> std::io::Result<ConfigFeed> {
        let (snapshot, events) = admin.subscribe_with_snapshot();
        let mut mirror = Mirror::default();
        for cmd in load(&mut mirror, &snapshot) {
            send(&router, cmd, true);
        }
        let thread = Follower::spawn("acd-config-feed", move |stopped| {
            follow(mirror, events, stopped, router)
        })?;
        Ok(ConfigFeed { thread })
    }

    /// Stops following changes.
    pub fn stop(self) {
        self.thread.stop();
    }
}

fn follow(
    mut mirror: Mirror,
    events: Receiver<ConfigEvent>,
    stopped: Receiver<()>,
    router: RouterHandle,
) {
    loop {
        select! {
            recv(events) -> ev => match ev {
                Ok(ev) => {
                    for cmd in apply(&mut mirror, ev) {
                        send(&router, cmd, false);
                    }
                }
                Err(_) => return,
            },
            recv(stopped) -> _ => return,
        }
    }
}

fn send(router: &RouterHandle, cmd: Command, wait: bool) {
    // A configuration the router refuses (e.g. ring-all on a chat queue, which the admin model
    // also refuses) is logged, not fatal: the previous settings stay in force.
    let result = if wait {
        router.call(cmd)
    } else {
        router.send(cmd)
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "router refused a configuration change");
    }
}

#[cfg(test)]
mod tests;
