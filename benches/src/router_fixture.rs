//! A steady-state routing workload for the router bench and the latency report.
//!
//! Owns the synthetic contact centre (agents, queues, skills, mixed channels) and the loop
//! that keeps it busy; it does not measure anything itself. Every agent answers at once, so
//! occupancy stays at `target_active` interactions and each step is one completion (which frees
//! an agent and runs a match) plus one arrival (which runs a match and usually offers).

use acd_engine::common::{
    AgentId, Capacity, Channel, InteractionId, QueueId, SkillId, SkillLevel, Strategy,
};
use acd_engine::router::{
    AgentSettings, Arrival, Membership, Output, QueueSettings, RelaxStep, Router, RouterConfig,
    SkillReqs, Time,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// Skills in play across the centre.
const SKILLS: u64 = 50;
/// Queues each agent serves.
const MEMBERSHIPS: usize = 4;

/// The workload: a router plus the state needed to drive it.
pub struct RouterLoad {
    /// The router under test.
    pub router: Router,
    rng: ChaCha8Rng,
    now: Time,
    next_id: u64,
    active: VecDeque<InteractionId>,
    queues: Vec<(QueueId, Channel, SkillId)>,
    target_active: usize,
    /// Arrivals handled.
    pub arrivals: u64,
    /// Completions handled.
    pub completions: u64,
}

impl RouterLoad {
    /// `agents` agents (all logged in) over `queues` queues, about half of them busy.
    pub fn new(agents: usize, queues: usize, seed: u64) -> RouterLoad {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let strategies = [
            Strategy::LongestIdle,
            Strategy::LongestIdle,
            Strategy::FewestInteractions,
            Strategy::LeastTalkTime,
            Strategy::RoundRobin,
            Strategy::Linear,
            Strategy::Random,
        ];
        let qs: Vec<(QueueId, Channel, SkillId)> = (0..queues)
            .map(|q| {
                (
                    QueueId(q as u64 + 1),
                    Channel::ALL[q % 3],
                    SkillId(q as u64 % SKILLS),
                )
            })
            .collect();
        let queue_cfg = qs
            .iter()
            .enumerate()
            .map(|(i, &(id, ch, _))| {
                let s = QueueSettings {
                    priority: (i % 4) as u8,
                    // Unqualified work would otherwise wait forever in this synthetic centre.
                    relax_steps: vec![RelaxStep {
                        after_ms: 5_000,
                        lower_by: 60,
                    }],
                    ..QueueSettings::new(ch).with_strategy(strategies[i % strategies.len()])
                };
                (id, s)
            })
            .collect();
        let agent_cfg = (0..agents)
            .map(|a| {
                let memberships: Vec<Membership> = (0..MEMBERSHIPS)
                    .map(|k| Membership {
                        penalty: rng.gen_range(0..2),
                        order: a as u32,
                        tier: k as u8 % 2,
                        ..Membership::new(qs[rng.gen_range(0..queues)].0)
                    })
                    .collect();
                let mut skills: Vec<(SkillId, SkillLevel)> = memberships
                    .iter()
                    .map(|m| (SkillId((m.queue.0 - 1) % SKILLS), rng.gen_range(10..=100)))
                    .collect();
                skills.sort();
                skills.dedup_by_key(|s| s.0);
                (
                    AgentId(a as u64 + 1),
                    AgentSettings {
                        capacity: Capacity {
                            voice: 1,
                            chat: 2,
                            email: 2,
                        },
                        skills,
                        memberships,
                        ..AgentSettings::default()
                    },
                )
            })
            .collect();
        let cfg = RouterConfig {
            queues: queue_cfg,
            agents: agent_cfg,
            ..RouterConfig::default()
        };
        let router = Router::new(cfg, seed).expect("valid bench config");
        let mut load = RouterLoad {
            router,
            rng,
            now: 0,
            next_id: 1,
            active: VecDeque::with_capacity(agents),
            queues: qs,
            target_active: agents / 2,
            arrivals: 0,
            completions: 0,
        };
        for a in 0..agents {
            load.router
                .handle_login(0, AgentId(a as u64 + 1))
                .expect("known agent");
        }
        load.settle();
        // Warm up to steady occupancy (and warm the slabs, indexes and timer heap).
        for _ in 0..agents * 2 {
            load.step();
        }
        load
    }

    /// A fresh arrival for a random queue, with a random skill requirement and priority.
    pub fn next_arrival(&mut self) -> Arrival {
        let (queue, channel, skill) = self.queues[self.rng.gen_range(0..self.queues.len())];
        let id = InteractionId(self.next_id);
        self.next_id += 1;
        Arrival {
            priority: self.rng.gen_range(0..3),
            skills: SkillReqs::from_slice(&[(skill, self.rng.gen_range(0..60))])
                .expect("one requirement"),
            ..Arrival::queued(id, channel, queue)
        }
    }

    /// Virtual time moves 1 ms; due timers fire.
    pub fn tick(&mut self) {
        self.now += 1;
        self.router.handle_timeout(self.now);
    }

    /// Current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The oldest answered interaction, to be completed next (if occupancy is at target).
    pub fn next_completion(&mut self) -> Option<InteractionId> {
        if self.active.len() >= self.target_active {
            self.active.pop_front()
        } else {
            None
        }
    }

    /// Drains outputs; every offer is accepted at once (agents answer immediately).
    pub fn settle(&mut self) {
        while let Some(o) = self.router.poll_output() {
            if let Output::Offer {
                interaction, agent, ..
            } = o
            {
                self.router
                    .handle_offer_accepted(self.now, interaction, agent)
                    .expect("pending offer");
                self.active.push_back(interaction);
            }
        }
    }

    /// One steady-state step: tick, complete the oldest, one arrival, settle.
    pub fn step(&mut self) {
        self.tick();
        if let Some(done) = self.next_completion() {
            self.router
                .handle_completed(self.now, done)
                .expect("answered interaction");
            self.completions += 1;
        }
        let arr = self.next_arrival();
        self.router
            .handle_arrival(self.now, arr)
            .expect("valid arrival");
        self.arrivals += 1;
        self.settle();
    }
}
