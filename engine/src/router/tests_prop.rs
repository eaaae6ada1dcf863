//! Property test: random operation sequences against a naive reference model.
//!
//! The model recomputes everything by brute force from what it was told and what the router
//! emitted, and checks after every output and every step:
//! - never above capacity (except the stated exceptions: ring-in-use on direct voice calls,
//!   follow-ups of a thread the agent holds);
//! - never an offer to a logged-out, disabled or paused agent (except transfers when
//!   receive-transfers-when-paused, preview when ignore-pause-for-preview, internal calls
//!   without DND);
//! - never one interaction offered twice at once (ring-all: never twice to one agent);
//! - every interaction ends exactly once;
//! - no work waits while a qualified, free agent of its queue is idle (event-driven routing).

use super::tests::Sim;
use super::{
    AgentSettings, AgentState, Arrival, CrossChannelRule, EndReason, Membership, Output,
    OverflowTarget, PauseReason, QueueSettings, RouterConfig, SkillReqs, Time,
};
use crate::common::{
    AgentId, Capacity, Channel, InteractionId, QueueId, SkillId, Strategy as Dist,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const NA: usize = 4;
const QUEUES: [QueueId; 3] = [QueueId(1), QueueId(2), QueueId(3)];
const SKILL: SkillId = SkillId(9);
const Q1_WRAP: u64 = 500;

#[derive(Debug, Clone)]
enum Op {
    Login(usize),
    Logout(usize),
    Pause(usize),
    Unpause(usize),
    Enable(usize, bool),
    Arrive {
        queue: usize,
        priority: u8,
        skill: u8,
        thread: Option<u8>,
        transfer: bool,
    },
    Direct {
        agent: usize,
        kind: u8,
        chat: bool,
    },
    Accept(usize),
    Reject(usize),
    Complete(usize),
    Abandon(usize),
    WrapEnd(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..NA).prop_map(Op::Login),
        1 => (0..NA).prop_map(Op::Logout),
        1 => (0..NA).prop_map(Op::Pause),
        2 => (0..NA).prop_map(Op::Unpause),
        1 => ((0..NA), any::<bool>()).prop_map(|(a, e)| Op::Enable(a, e)),
        6 => ((0..3usize), (0..3u8), (0..80u8), proptest::option::of(0..3u8), proptest::bool::weighted(0.2))
            .prop_map(|(queue, priority, skill, thread, transfer)| Op::Arrive { queue, priority, skill, thread, transfer }),
        2 => ((0..NA), (0..4u8), any::<bool>()).prop_map(|(agent, kind, chat)| Op::Direct { agent, kind, chat }),
        5 => (0..8usize).prop_map(Op::Accept),
        2 => (0..8usize).prop_map(Op::Reject),
        4 => (0..8usize).prop_map(Op::Complete),
        1 => (0..8usize).prop_map(Op::Abandon),
        1 => (0..NA).prop_map(Op::WrapEnd),
        3 => (1..4_000u64).prop_map(Op::Advance),
    ]
}

fn agent_settings(a: usize) -> AgentSettings {
    let queues: &[usize] = match a {
        0 => &[0, 1],
        1 => &[0, 1, 2],
        2 => &[1, 2],
        _ => &[0, 2],
    };
    AgentSettings {
        capacity: Capacity {
            voice: 1,
            chat: 1 + a as u8 % 3,
            email: 1,
        },
        ring_in_use: a == 1,
        auto_answer_ms: (a == 3).then_some(1_000),
        dnd_during_pause: a == 2,
        receive_transfers_when_paused: a == 0,
        ignore_pause_for_preview: a == 1,
        skills: vec![(SKILL, 20 * (a as u8 + 1))],
        memberships: queues
            .iter()
            .map(|&q| Membership {
                tier: (a + q) as u8 % 2,
                order: a as u32,
                ..Membership::new(QUEUES[q])
            })
            .collect(),
        ..AgentSettings::default()
    }
}

fn router_config() -> RouterConfig {
    let mut q1 = QueueSettings::new(Channel::Voice);
    q1.ring_timeout_ms = 3_000;
    q1.wrap_up_ms = Q1_WRAP;
    q1.max_no_answers = Some(2);
    q1.max_length = Some(3);
    let mut q2 = QueueSettings::new(Channel::Chat).with_strategy(Dist::FewestInteractions);
    q2.ring_timeout_ms = 2_000;
    q2.max_wait_ms = Some(9_000);
    q2.on_max_wait = OverflowTarget::Voicemail;
    let mut q3 = QueueSettings::new(Channel::Voice).with_strategy(Dist::RingAll);
    q3.ring_timeout_ms = 2_500;
    RouterConfig {
        cross_channel: CrossChannelRule::VoiceBlocksOthers,
        direct_ring_timeout_ms: 4_000,
        queues: vec![(QUEUES[0], q1), (QUEUES[1], q2), (QUEUES[2], q3)],
        agents: (0..NA)
            .map(|a| (AgentId(a as u64 + 1), agent_settings(a)))
            .collect(),
        ..RouterConfig::default()
    }
}

#[derive(Debug, Clone)]
struct MIx {
    channel: Channel,
    queue: Option<usize>,
    min_skill: u8,
    thread: Option<u8>,
    transfer: bool,
    preview: bool,
    internal: bool,
    offers: BTreeSet<usize>,
    active: Option<usize>,
    ended: u32,
}

#[derive(Debug, Default, Clone)]
struct MAgent {
    logged_in: bool,
    enabled: bool,
    paused: bool,
    wrap_until: Option<Time>,
}

struct Model {
    settings: Vec<AgentSettings>,
    agents: Vec<MAgent>,
    ixs: BTreeMap<u64, MIx>,
}

impl Model {
    fn held(&self, a: usize, ch: Channel) -> u8 {
        self.ixs
            .values()
            .filter(|x| x.ended == 0 && x.channel == ch)
            .filter(|x| x.offers.contains(&a) || x.active == Some(a))
            .count() as u8
    }

    fn has_room(&self, a: usize, ch: Channel, queue_routed: bool) -> bool {
        let mut cap = self.settings[a].capacity.get(ch);
        if queue_routed && ch == Channel::Voice {
            cap = cap.min(1);
        }
        self.held(a, ch) < cap && (ch == Channel::Voice || self.held(a, Channel::Voice) == 0)
    }

    fn qualifies(&self, a: usize, x: &MIx) -> bool {
        self.settings[a].skills[0].1 >= x.min_skill
    }

    fn check_offer(&self, id: u64, a: usize) -> Result<(), String> {
        let x = self.ixs.get(&id).ok_or(format!("offer of unknown {id}"))?;
        let s = &self.settings[a];
        let m = &self.agents[a];
        if x.ended > 0 || x.active.is_some() {
            return Err(format!("offer of {id} which is ended or answered"));
        }
        if x.offers.contains(&a) {
            return Err(format!("{id} offered twice to agent {a}"));
        }
        let ring_all = x.queue == Some(2);
        if !ring_all && !x.offers.is_empty() {
            return Err(format!("{id} offered to {a} while ringing {:?}", x.offers));
        }
        if !m.logged_in || !m.enabled {
            return Err(format!("offer of {id} to logged-out/disabled agent {a}"));
        }
        if m.paused {
            let excepted = (x.transfer && s.receive_transfers_when_paused)
                || (x.preview && s.ignore_pause_for_preview)
                || (x.internal && !s.dnd_during_pause);
            if !excepted {
                return Err(format!("offer of {id} to paused agent {a}"));
            }
        }
        let follow_up = x.thread.is_some()
            && self.ixs.values().any(|y| {
                y.ended == 0 && y.active == Some(a) && y.thread == x.thread && y.queue.is_some()
            });
        let ring_in_use = x.queue.is_none() && x.channel == Channel::Voice && s.ring_in_use;
        if !self.has_room(a, x.channel, x.queue.is_some()) && !follow_up && !ring_in_use {
            return Err(format!("offer of {id} to agent {a} at capacity"));
        }
        if x.queue.is_some() && !follow_up && !self.qualifies(a, x) {
            return Err(format!("offer of {id} to unqualified agent {a}"));
        }
        Ok(())
    }

    fn apply(&mut self, now: Time, o: &Output) -> Result<(), String> {
        let slot = |a: AgentId| a.0 as usize - 1;
        match *o {
            Output::Offer {
                interaction, agent, ..
            } => {
                self.check_offer(interaction.0, slot(agent))?;
                self.ixs
                    .get_mut(&interaction.0)
                    .unwrap()
                    .offers
                    .insert(slot(agent));
            }
            Output::CancelOffer { interaction, agent } => {
                let x = self
                    .ixs
                    .get_mut(&interaction.0)
                    .ok_or("cancel of unknown")?;
                if !x.offers.remove(&slot(agent)) {
                    return Err(format!("cancel of {interaction} not offered to {agent}"));
                }
            }
            Output::Answered { interaction, agent } => {
                let x = self
                    .ixs
                    .get_mut(&interaction.0)
                    .ok_or("answer of unknown")?;
                if x.offers.len() != 1 || !x.offers.contains(&slot(agent)) {
                    return Err(format!(
                        "answer of {interaction} with offers {:?}",
                        x.offers
                    ));
                }
                x.offers.clear();
                x.active = Some(slot(agent));
            }
            Output::Ended {
                interaction,
                reason,
            } => {
                let x = self.ixs.get_mut(&interaction.0).ok_or("end of unknown")?;
                x.ended += 1;
                if x.ended > 1 {
                    return Err(format!("{interaction} ended twice"));
                }
                if !x.offers.is_empty() {
                    return Err(format!("{interaction} ended while ringing {:?}", x.offers));
                }
                if let (Some(a), EndReason::Completed) = (x.active, reason) {
                    if x.queue == Some(0) {
                        let w = &mut self.agents[a].wrap_until;
                        *w = Some(w.unwrap_or(0).max(now + Q1_WRAP));
                    }
                }
            }
            Output::AgentStateChanged {
                agent,
                state: AgentState::Paused(PauseReason::NoAnswer),
                ..
            } => self.agents[slot(agent)].paused = true,
            _ => {}
        }
        Ok(())
    }

    fn check_idle_while_waiting(&self, now: Time) -> Result<(), String> {
        for (id, x) in &self.ixs {
            let Some(q) = x.queue else { continue };
            if x.ended > 0 || x.active.is_some() || !x.offers.is_empty() {
                continue;
            }
            for a in 0..NA {
                let m = &self.agents[a];
                let s = &self.settings[a];
                let member = s.memberships.iter().any(|mm| mm.queue == QUEUES[q]);
                let free = m.logged_in
                    && m.enabled
                    && (!m.paused || (x.transfer && s.receive_transfers_when_paused))
                    && m.wrap_until.is_none_or(|w| w <= now);
                if member && free && self.has_room(a, x.channel, true) && self.qualifies(a, x) {
                    return Err(format!("{id} waits in queue {q} while agent {a} is free"));
                }
            }
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>, seed: u64) -> Result<(), String> {
    let mut sim = Sim::with_seed(router_config(), seed);
    let mut model = Model {
        settings: (0..NA).map(agent_settings).collect(),
        agents: vec![
            MAgent {
                enabled: true,
                ..MAgent::default()
            };
            NA
        ],
        ixs: BTreeMap::new(),
    };
    let mut next_id = 1u64;
    let aid = |a: usize| AgentId(a as u64 + 1);
    for op in ops {
        let now = sim.now;
        let r = &mut sim.r;
        let res = match op.clone() {
            Op::Login(a) => {
                model.agents[a].logged_in = true;
                r.handle_login(now, aid(a))
            }
            Op::Logout(a) => {
                let m = &mut model.agents[a];
                if m.logged_in {
                    m.paused = false;
                    m.wrap_until = None;
                }
                m.logged_in = false;
                r.handle_logout(now, aid(a))
            }
            Op::Pause(a) => {
                if !model.agents[a].logged_in {
                    continue;
                }
                model.agents[a].paused = true;
                r.handle_pause(now, aid(a), PauseReason::Manual(None))
            }
            Op::Unpause(a) => {
                if !model.agents[a].logged_in {
                    continue;
                }
                model.agents[a].paused = false;
                r.handle_available(now, aid(a))
            }
            Op::Enable(a, e) => {
                model.agents[a].enabled = e;
                model.settings[a].enabled = e;
                r.handle_agent_settings(now, aid(a), model.settings[a].clone())
            }
            Op::WrapEnd(a) => {
                model.agents[a].wrap_until = None;
                r.handle_wrap_up_end(now, aid(a))
            }
            Op::Arrive {
                queue,
                priority,
                skill,
                thread,
                transfer,
            } => {
                let channel = if queue == 1 {
                    Channel::Chat
                } else {
                    Channel::Voice
                };
                let id = next_id;
                next_id += 1;
                model.ixs.insert(
                    id,
                    MIx {
                        channel,
                        queue: Some(queue),
                        min_skill: skill,
                        thread,
                        transfer,
                        preview: false,
                        internal: false,
                        offers: BTreeSet::new(),
                        active: None,
                        ended: 0,
                    },
                );
                r.handle_arrival(
                    now,
                    Arrival {
                        priority,
                        skills: SkillReqs::from_slice(&[(SKILL, skill)]).unwrap(),
                        thread: thread.map(u64::from),
                        is_transfer: transfer,
                        ..Arrival::queued(InteractionId(id), channel, QUEUES[queue])
                    },
                )
            }
            Op::Direct { agent, kind, chat } => {
                let channel = if chat { Channel::Chat } else { Channel::Voice };
                let id = next_id;
                next_id += 1;
                let x = MIx {
                    channel,
                    queue: None,
                    min_skill: 0,
                    thread: None,
                    transfer: kind == 1,
                    preview: kind == 2,
                    internal: kind == 3,
                    offers: BTreeSet::new(),
                    active: None,
                    ended: 0,
                };
                let arr = Arrival {
                    is_transfer: x.transfer,
                    is_preview: x.preview,
                    is_internal: x.internal,
                    ..Arrival::direct(InteractionId(id), channel, aid(agent), kind == 0)
                };
                model.ixs.insert(id, x);
                r.handle_arrival(now, arr)
            }
            Op::Accept(k) | Op::Reject(k) => {
                let offers: Vec<(u64, usize)> = model
                    .ixs
                    .iter()
                    .flat_map(|(id, x)| x.offers.iter().map(move |&a| (*id, a)))
                    .collect();
                if offers.is_empty() {
                    continue;
                }
                let (id, a) = offers[k % offers.len()];
                if matches!(op, Op::Accept(_)) {
                    r.handle_offer_accepted(now, InteractionId(id), aid(a))
                } else {
                    // A reject is the agent's own act: no CancelOffer comes back for it.
                    model.ixs.get_mut(&id).unwrap().offers.remove(&a);
                    r.handle_offer_rejected(now, InteractionId(id), aid(a))
                }
            }
            Op::Complete(k) => {
                let active: Vec<u64> = model
                    .ixs
                    .iter()
                    .filter(|(_, x)| x.ended == 0 && x.active.is_some())
                    .map(|(id, _)| *id)
                    .collect();
                if active.is_empty() {
                    continue;
                }
                r.handle_completed(now, InteractionId(active[k % active.len()]))
            }
            Op::Abandon(k) => {
                let live: Vec<u64> = model
                    .ixs
                    .iter()
                    .filter(|(_, x)| x.ended == 0)
                    .map(|(id, _)| *id)
                    .collect();
                if live.is_empty() {
                    continue;
                }
                r.handle_abandon(now, InteractionId(live[k % live.len()]))
            }
            Op::Advance(ms) => {
                // Step timer by timer so the model sees outputs at their own time.
                let target = sim.now + ms;
                while let Some(t) = sim.r.poll_timeout() {
                    if t > target {
                        break;
                    }
                    sim.now = sim.now.max(t);
                    sim.r.handle_timeout(sim.now);
                    for o in sim.take() {
                        model.apply(sim.now, &o)?;
                    }
                    for m in &mut model.agents {
                        if m.wrap_until.is_some_and(|w| w <= sim.now) {
                            m.wrap_until = None;
                        }
                    }
                }
                sim.now = target;
                Ok(())
            }
        };
        res.map_err(|e| format!("{op:?} refused: {e}"))?;
        for o in sim.take() {
            model.apply(sim.now, &o)?;
        }
        model.check_idle_while_waiting(sim.now)?;
    }
    // Drain: every live interaction must end exactly once.
    let live: Vec<u64> = model
        .ixs
        .iter()
        .filter(|(_, x)| x.ended == 0)
        .map(|(id, _)| *id)
        .collect();
    for id in live {
        if model.ixs[&id].ended == 0 {
            sim.r
                .handle_abandon(sim.now, InteractionId(id))
                .map_err(|e| format!("drain abandon {id}: {e}"))?;
            for o in sim.take() {
                model.apply(sim.now, &o)?;
            }
        }
    }
    for (id, x) in &model.ixs {
        if x.ended != 1 {
            return Err(format!("{id} ended {} times", x.ended));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_operations_keep_router_invariants(ops in proptest::collection::vec(op(), 1..80), seed in any::<u64>()) {
        if let Err(e) = run(ops, seed) {
            return Err(TestCaseError::fail(e));
        }
    }
}
