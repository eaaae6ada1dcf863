//! The sans-IO routing core: decides which agent gets which voice call, chat or email.
//!
//! Owns agent availability (login, pause, capacity, wrap-up, reject delay), the per-queue
//! waiting lines, offers and their timers, routing strategies, skills, overflow and statistics.
//! It does not own sockets, clocks, threads, OS randomness or the store: every input carries
//! `now` ([`Time`], ms since the caller's epoch), outputs are polled with
//! [`Router::poll_output`], the next deadline with [`Router::poll_timeout`], and random choices
//! come from a ChaCha RNG seeded by [`Router::new`]. The runtime task
//! (`crate::runtime::router_task`) drives it from a real clock.
//!
//! Matching runs on events only (arrival, an agent freed, a timer) and keeps one invariant
//! after every input: no waiting interaction has an eligible agent in the ready index of its
//! queue. So an arrival only looks for an agent, and a freed agent only looks for an
//! interaction; nothing is polled.

mod output;
mod settings;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_prop;

pub use output::{
    AgentState, AgentStats, EndReason, Output, OverflowCause, QueueStats, Record, RouterError,
    Snapshot,
};
pub use settings::{
    AgentSettings, Arrival, CrossChannelRule, Membership, OverflowTarget, PauseReason,
    QueueSettings, RelaxStep, Route, RouterConfig, SkillReqs, Time,
};

use crate::common::{AgentId, Channel, InteractionId, QueueId, SkillId, SkillLevel, Strategy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// "No slot" marker for u32 slot fields.
const NONE: u32 = u32::MAX;

/// How many agents with an equal strategy key are compared on skill score before giving up:
/// bounds the cost of "best qualified wins ties" when many agents tie (e.g. all just logged in).
const TIE_WINDOW: usize = 8;

/// A multiply-rotate hasher for the small integer ids: SipHash's DoS resistance buys nothing
/// for ids the engine allocates itself, and costs on every decision.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Ready-index key: (penalty, strategy value, seeded tie-break, agent slot). Smallest first.
type AgentKey = (u32, u64, u32, u32);
/// Waiting-line key: (255 - priority, arrival sequence, interaction slot). Smallest first.
type WaitKey = (u8, u64, u32);
/// A scheduled timer: (deadline, sequence for stable order, what).
type TimerEntry = (Time, u64, Timer);

#[derive(Debug, Clone, Copy)]
struct AgentMship {
    queue: u32,
    /// Copies of the queue's channel and strategy, so re-keying an agent does not touch the
    /// queue (a cache miss per membership) unless an index entry really changes.
    channel: Channel,
    strategy: Strategy,
    penalty: u32,
    order: u32,
    tier: u8,
    /// The key under which the agent sits in the queue's ready index, if it does.
    ready: Option<AgentKey>,
    /// The key in the queue's paused-but-takes-transfers index, if it does.
    xfer: Option<AgentKey>,
}

#[derive(Debug)]
struct Agent {
    id: AgentId,
    s: AgentSettings,
    logged_in: bool,
    paused: Option<PauseReason>,
    wrap_until: Option<Time>,
    reject_until: Option<Time>,
    /// Ringing plus answered interactions, per channel.
    held: [u8; 3],
    ringing: u16,
    active: u16,
    /// Interaction slots held (ringing or answered).
    items: Vec<u32>,
    last_end: Time,
    handled: u64,
    talk_ms: u64,
    no_answer_run: u32,
    no_answer_total: u64,
    tie: u32,
    state: AgentState,
    since: Time,
    /// Sorted by (tier, queue priority descending): the order a freed agent serves its queues.
    mships: Vec<AgentMship>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IxState {
    Free,
    Waiting,
    Offered,
    Active,
}

#[derive(Debug)]
struct Ix {
    id: InteractionId,
    /// Bumped whenever the slot is reused or the interaction changes queue, to void timers.
    gen: u32,
    state: IxState,
    channel: Channel,
    queue: u32,
    direct: u32,
    voicemail: bool,
    priority: u8,
    reqs: SkillReqs,
    thread: Option<u64>,
    is_transfer: bool,
    is_preview: bool,
    is_internal: bool,
    arrived: Time,
    queued_at: Time,
    seq: u64,
    hops: u8,
    offers: Vec<u32>,
    agent: u32,
    answered_at: Option<Time>,
    round: u64,
    ring_all: bool,
    ring_deadline: Option<Time>,
    max_wait_at: Option<Time>,
    max_wait_passed: bool,
    relax_at: Option<Time>,
    relax_stage: u8,
}

#[derive(Debug, Default, Clone, Copy)]
struct QueueCounters {
    offered: u64,
    answered: u64,
    answered_sl: u64,
    abandoned: u64,
    overflowed: u64,
    completed: u64,
    wait_sum: u64,
    handle_sum: u64,
}

#[derive(Debug)]
struct Queue {
    id: QueueId,
    s: QueueSettings,
    waiting: BTreeSet<WaitKey>,
    ready: BTreeSet<AgentKey>,
    xfer: BTreeSet<AgentKey>,
    members: Vec<u32>,
    logged_in: u32,
    rr_cursor: u64,
    st: QueueCounters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Ring { ix: u32, round: u64 },
    AutoAnswer { ix: u32, round: u64, agent: u32 },
    MaxWait { ix: u32, gen: u32 },
    Relax { ix: u32, gen: u32 },
    WrapUp { agent: u32 },
    RejectDelay { agent: u32 },
}

/// The routing core. See the module documentation.
#[derive(Debug)]
pub struct Router {
    cross: CrossChannelRule,
    direct_ring_timeout_ms: u64,
    max_hops: u8,
    rng: ChaCha8Rng,
    agents: Vec<Agent>,
    /// Per agent slot, parallel to `agents`.
    skill_rows: Vec<SkillRow>,
    agent_slots: IdMap<AgentId, u32>,
    queues: Vec<Queue>,
    queue_slots: IdMap<QueueId, u32>,
    ixs: Vec<Ix>,
    free_ixs: Vec<u32>,
    ix_slots: IdMap<InteractionId, u32>,
    /// Thread id -> (agent slot, answered interactions of that thread the agent holds).
    threads: IdMap<u64, (u32, u32)>,
    timers: BinaryHeap<Reverse<TimerEntry>>,
    /// Timers of the form `now + fixed duration` (ring timeout, max wait, first relax step),
    /// one FIFO per (kind, duration) class: deadlines of one class arrive in order (time never
    /// goes back), so a FIFO replaces a heap push and pop per timer.
    ring_fifos: Vec<(u64, VecDeque<TimerEntry>)>,
    timer_seq: u64,
    out: VecDeque<Output>,
    next_seq: u64,
    next_round: u64,
    scratch: Vec<u32>,
    offers_made: u64,
}

/// The agent facts the eligibility checks read, copied out so queue indexes can be borrowed
/// mutably at the same time.
#[derive(Clone, Copy)]
struct AgentView {
    slot: u32,
    base: bool,
    paused: bool,
    takes_transfers: bool,
    held: [u8; 3],
    capacity: crate::common::Capacity,
    last_end: Time,
    handled: u64,
    talk_ms: u64,
    tie: u32,
}

fn cap_left(v: &AgentView, ch: Channel, queue_routed: bool, cross: CrossChannelRule) -> bool {
    let mut cap = v.capacity.get(ch);
    if queue_routed && ch == Channel::Voice {
        // Queue routing never gives a second voice call, whatever the profile says.
        cap = cap.min(1);
    }
    if v.held[ch.index()] >= cap {
        return false;
    }
    !(cross == CrossChannelRule::VoiceBlocksOthers
        && ch != Channel::Voice
        && v.held[Channel::Voice.index()] > 0)
}

/// An agent's first skills, kept in a dense table apart from the (large) agent records so a
/// candidate check during a scan touches one small row instead of two scattered allocations.
#[derive(Debug, Clone, Copy, Default)]
struct SkillRow {
    ids: [u64; SkillRow::INLINE],
    levels: [SkillLevel; SkillRow::INLINE],
    len: u8,
    /// The agent has more skills than fit; look them up in its settings.
    spill: bool,
}

impl SkillRow {
    const INLINE: usize = 6;

    fn new(skills: &[(SkillId, SkillLevel)]) -> SkillRow {
        let mut row = SkillRow::default();
        for (j, &(id, level)) in skills.iter().take(Self::INLINE).enumerate() {
            row.ids[j] = id.0;
            row.levels[j] = level;
        }
        row.len = skills.len().min(Self::INLINE) as u8;
        row.spill = skills.len() > Self::INLINE;
        row
    }

    fn level(&self, skill: SkillId, spilled: &[(SkillId, SkillLevel)]) -> Option<SkillLevel> {
        let n = usize::from(self.len);
        match self.ids[..n].iter().position(|&id| id == skill.0) {
            Some(j) => Some(self.levels[j]),
            None if self.spill => spilled.iter().find(|s| s.0 == skill).map(|s| s.1),
            None => None,
        }
    }
}

/// The agent's skill score for `reqs` (sum of levels), or `None` if a requirement fails.
fn qualifies(row: &SkillRow, agent: &Agent, reqs: &SkillReqs, lower: SkillLevel) -> Option<u32> {
    let mut score = 0u32;
    for &(skill, min) in reqs.as_slice() {
        let need = min.saturating_sub(lower);
        match row.level(skill, &agent.s.skills) {
            Some(level) if level >= need => score += u32::from(level),
            None if need == 0 => {}
            _ => return None,
        }
    }
    Some(score)
}

fn relax_lower(q: &QueueSettings, stage: u8) -> SkillLevel {
    if stage == 0 {
        0
    } else {
        q.relax_steps
            .get(usize::from(stage) - 1)
            .map_or(0, |s| s.lower_by)
    }
}

impl Router {
    /// A router with the given queues and agents (all logged out) and RNG seed.
    pub fn new(config: RouterConfig, seed: u64) -> Result<Router, RouterError> {
        let mut r = Router {
            cross: config.cross_channel,
            direct_ring_timeout_ms: config.direct_ring_timeout_ms,
            max_hops: config.max_overflow_hops,
            rng: ChaCha8Rng::seed_from_u64(seed),
            agents: Vec::with_capacity(config.agents.len()),
            skill_rows: Vec::with_capacity(config.agents.len()),
            agent_slots: IdMap::default(),
            queues: Vec::with_capacity(config.queues.len()),
            queue_slots: IdMap::default(),
            ixs: Vec::new(),
            free_ixs: Vec::new(),
            ix_slots: IdMap::default(),
            threads: IdMap::default(),
            timers: BinaryHeap::new(),
            ring_fifos: Vec::new(),
            timer_seq: 0,
            out: VecDeque::with_capacity(1024),
            next_seq: 0,
            next_round: 0,
            scratch: Vec::new(),
            offers_made: 0,
        };
        for (id, s) in config.queues {
            r.handle_queue_settings(0, id, s)?;
        }
        for (id, s) in config.agents {
            r.handle_agent_settings(0, id, s)?;
        }
        r.out.clear();
        Ok(r)
    }

    // ----- outputs and getters -------------------------------------------------------------

    /// The next output, if any. Drain after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The earliest timer deadline; call [`Router::handle_timeout`] at (or after) it.
    ///
    /// May name a timer that has since been voided; handling it is then a no-op.
    pub fn poll_timeout(&self) -> Option<Time> {
        let heap = self.timers.peek().map(|Reverse((at, _, _))| *at);
        self.ring_fifos
            .iter()
            .filter_map(|(_, q)| q.front().map(|e| e.0))
            .chain(heap)
            .min()
    }

    /// How many offers the router has made (one per agent rung): the routing decisions count.
    pub fn offers_made(&self) -> u64 {
        self.offers_made
    }

    /// An agent's state and since when.
    pub fn agent_state(&self, id: AgentId) -> Option<(AgentState, Time)> {
        let a = &self.agents[*self.agent_slots.get(&id)? as usize];
        Some((a.state, a.since))
    }

    /// Statistics of one agent.
    pub fn agent_stats(&self, id: AgentId) -> Option<AgentStats> {
        Some(self.agent_stats_of(*self.agent_slots.get(&id)? as usize))
    }

    /// Statistics of one queue at `now`.
    pub fn queue_stats(&self, now: Time, id: QueueId) -> Option<QueueStats> {
        let qs = *self.queue_slots.get(&id)? as usize;
        let mut s = self.queue_stats_of(qs);
        for ix in &self.ixs {
            if ix.queue as usize == qs && matches!(ix.state, IxState::Waiting | IxState::Offered) {
                s.longest_wait_ms = s.longest_wait_ms.max(now.saturating_sub(ix.queued_at));
                if ix.state == IxState::Offered {
                    s.ringing += 1;
                }
            }
        }
        Some(s)
    }

    /// Every statistic at `now`. Costs O(agents + queues + live interactions).
    pub fn snapshot(&self, now: Time) -> Snapshot {
        let mut queues: Vec<QueueStats> = (0..self.queues.len())
            .map(|q| self.queue_stats_of(q))
            .collect();
        for ix in &self.ixs {
            if ix.queue != NONE && matches!(ix.state, IxState::Waiting | IxState::Offered) {
                let s = &mut queues[ix.queue as usize];
                s.longest_wait_ms = s.longest_wait_ms.max(now.saturating_sub(ix.queued_at));
                if ix.state == IxState::Offered {
                    s.ringing += 1;
                }
            }
        }
        Snapshot {
            at: now,
            queues,
            agents: (0..self.agents.len())
                .map(|a| self.agent_stats_of(a))
                .collect(),
        }
    }

    fn agent_stats_of(&self, a: usize) -> AgentStats {
        let a = &self.agents[a];
        AgentStats {
            agent: a.id,
            state: a.state,
            since: a.since,
            handled: a.handled,
            talk_time_ms: a.talk_ms,
            no_answers: a.no_answer_total,
            held: a.held,
        }
    }

    fn queue_stats_of(&self, q: usize) -> QueueStats {
        let q = &self.queues[q];
        let st = &q.st;
        let judged = st.answered + st.abandoned;
        QueueStats {
            queue: q.id,
            waiting: q.waiting.len() as u32,
            ringing: 0,
            longest_wait_ms: 0,
            offered: st.offered,
            answered: st.answered,
            answered_within_sl: st.answered_sl,
            abandoned: st.abandoned,
            overflowed: st.overflowed,
            completed: st.completed,
            service_level_pct: if judged == 0 {
                100.0
            } else {
                st.answered_sl as f64 * 100.0 / judged as f64
            },
            asa_ms: st.wait_sum.checked_div(st.answered).unwrap_or(0),
            aht_ms: st.handle_sum.checked_div(st.completed).unwrap_or(0),
            agents_logged_in: q.logged_in,
            agents_ready: q.ready.len() as u32,
        }
    }

    // ----- configuration inputs -----------------------------------------------------------

    /// Adds or replaces a queue's settings. Waiting interactions are re-matched.
    pub fn handle_queue_settings(
        &mut self,
        now: Time,
        id: QueueId,
        s: QueueSettings,
    ) -> Result<(), RouterError> {
        if s.strategy == Strategy::RingAll && s.channel != Channel::Voice {
            return Err(RouterError::RingAllNotVoice(id));
        }
        let qs = match self.queue_slots.get(&id) {
            Some(&qs) => qs,
            None => {
                let qs = self.queues.len() as u32;
                self.queues.push(Queue {
                    id,
                    s,
                    waiting: BTreeSet::new(),
                    ready: BTreeSet::new(),
                    xfer: BTreeSet::new(),
                    members: Vec::new(),
                    logged_in: 0,
                    rr_cursor: 0,
                    st: QueueCounters::default(),
                });
                self.queue_slots.insert(id, qs);
                return Ok(());
            }
        };
        self.queues[qs as usize].s = s;
        // Strategy, channel or priority may have changed: rebuild this queue's index entries.
        let members = std::mem::take(&mut self.queues[qs as usize].members);
        let (channel, strategy) = {
            let s = &self.queues[qs as usize].s;
            (s.channel, s.strategy)
        };
        for &a in &members {
            for m in self.agents[a as usize].mships.iter_mut() {
                if m.queue == qs {
                    m.channel = channel;
                    m.strategy = strategy;
                }
            }
            self.unindex_queue(a, qs);
            self.sort_mships(a);
            self.reindex(a);
        }
        self.queues[qs as usize].members = members;
        let waiting: Vec<u32> = self.queues[qs as usize]
            .waiting
            .iter()
            .map(|k| k.2)
            .collect();
        for i in waiting {
            if self.ixs[i as usize].state == IxState::Waiting {
                self.try_match_ix(now, i, true);
            }
        }
        Ok(())
    }

    /// Adds an agent or replaces its settings while running. A disabled agent's ringing offers
    /// are withdrawn and it is offered nothing more.
    pub fn handle_agent_settings(
        &mut self,
        now: Time,
        id: AgentId,
        s: AgentSettings,
    ) -> Result<(), RouterError> {
        for m in &s.memberships {
            if !self.queue_slots.contains_key(&m.queue) {
                return Err(RouterError::UnknownQueue(m.queue));
            }
        }
        let a = match self.agent_slots.get(&id) {
            Some(&a) => {
                self.drop_memberships(a);
                a
            }
            None => {
                let a = self.agents.len() as u32;
                self.agents.push(Agent {
                    id,
                    s: AgentSettings::default(),
                    logged_in: false,
                    paused: None,
                    wrap_until: None,
                    reject_until: None,
                    held: [0; 3],
                    ringing: 0,
                    active: 0,
                    items: Vec::new(),
                    last_end: 0,
                    handled: 0,
                    talk_ms: 0,
                    no_answer_run: 0,
                    no_answer_total: 0,
                    tie: 0,
                    state: AgentState::LoggedOut,
                    since: now,
                    mships: Vec::new(),
                });
                self.agent_slots.insert(id, a);
                self.skill_rows.push(SkillRow::default());
                a
            }
        };
        let mut skills = s.skills.clone();
        skills.sort_unstable();
        let agent = &mut self.agents[a as usize];
        agent.s = s;
        self.skill_rows[a as usize] = SkillRow::new(&skills);
        agent.s.skills = skills;
        let mships: Vec<AgentMship> = agent
            .s
            .memberships
            .iter()
            .map(|m| AgentMship {
                queue: self.queue_slots[&m.queue],
                channel: self.queues[self.queue_slots[&m.queue] as usize].s.channel,
                strategy: self.queues[self.queue_slots[&m.queue] as usize].s.strategy,
                penalty: m.penalty,
                order: m.order,
                tier: m.tier,
                ready: None,
                xfer: None,
            })
            .collect();
        agent.mships = mships;
        let counted = agent.logged_in && agent.s.enabled;
        for i in 0..self.agents[a as usize].mships.len() {
            let qs = self.agents[a as usize].mships[i].queue as usize;
            self.queues[qs].members.push(a);
            if counted {
                self.queues[qs].logged_in += 1;
            }
        }
        self.sort_mships(a);
        if !self.agents[a as usize].s.enabled {
            self.withdraw_offers(now, a);
        }
        self.reindex(a);
        self.refresh_state(now, a);
        self.match_agent(now, a);
        Ok(())
    }

    fn drop_memberships(&mut self, a: u32) {
        let agent = &self.agents[a as usize];
        let counted = agent.logged_in && agent.s.enabled;
        let qss: Vec<u32> = agent.mships.iter().map(|m| m.queue).collect();
        for qs in qss {
            self.unindex_queue(a, qs);
            let q = &mut self.queues[qs as usize];
            if let Some(p) = q.members.iter().position(|&m| m == a) {
                q.members.swap_remove(p);
            }
            if counted {
                q.logged_in -= 1;
            }
        }
        self.agents[a as usize].mships.clear();
    }

    fn unindex_queue(&mut self, a: u32, qs: u32) {
        let agent = &mut self.agents[a as usize];
        for m in agent.mships.iter_mut().filter(|m| m.queue == qs) {
            let q = &mut self.queues[qs as usize];
            if let Some(k) = m.ready.take() {
                q.ready.remove(&k);
            }
            if let Some(k) = m.xfer.take() {
                q.xfer.remove(&k);
            }
        }
    }

    fn sort_mships(&mut self, a: u32) {
        let queues = &self.queues;
        self.agents[a as usize].mships.sort_by_key(|m| {
            (
                m.tier,
                Reverse(queues[m.queue as usize].s.priority),
                m.queue,
            )
        });
    }

    // ----- agent inputs -------------------------------------------------------------------

    fn agent_slot(&self, id: AgentId) -> Result<u32, RouterError> {
        self.agent_slots
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownAgent(id))
    }

    fn set_counted(&mut self, a: u32, before: bool) {
        let agent = &self.agents[a as usize];
        let after = agent.logged_in && agent.s.enabled;
        if before != after {
            for m in &agent.mships {
                let q = &mut self.queues[m.queue as usize];
                if after {
                    q.logged_in += 1;
                } else {
                    q.logged_in -= 1;
                }
            }
        }
    }

    /// The agent logs in (paused with [`PauseReason::LogIn`] if the profile says so).
    pub fn handle_login(&mut self, now: Time, id: AgentId) -> Result<(), RouterError> {
        let a = self.agent_slot(id)?;
        let tie = self.rng.gen::<u32>();
        let agent = &mut self.agents[a as usize];
        if agent.logged_in {
            return Ok(());
        }
        let before = agent.s.enabled && agent.logged_in;
        agent.logged_in = true;
        agent.tie = tie;
        agent.paused = agent.s.login_pause.then_some(PauseReason::LogIn);
        agent.no_answer_run = 0;
        self.set_counted(a, before);
        self.reindex(a);
        self.refresh_state(now, a);
        self.match_agent(now, a);
        Ok(())
    }

    /// The agent logs out; ringing offers go back to their queues. Answered interactions stay
    /// with the agent until completed.
    pub fn handle_logout(&mut self, now: Time, id: AgentId) -> Result<(), RouterError> {
        let a = self.agent_slot(id)?;
        if !self.agents[a as usize].logged_in {
            return Ok(());
        }
        let before = self.agents[a as usize].s.enabled;
        let agent = &mut self.agents[a as usize];
        agent.logged_in = false;
        agent.paused = None;
        agent.wrap_until = None;
        agent.reject_until = None;
        self.set_counted(a, before);
        self.reindex(a);
        // After the agent is out of every index, so the withdrawn offers cannot come back.
        self.withdraw_offers(now, a);
        self.refresh_state(now, a);
        Ok(())
    }

    /// The agent pauses with a reason. Ringing offers keep ringing.
    pub fn handle_pause(
        &mut self,
        now: Time,
        id: AgentId,
        reason: PauseReason,
    ) -> Result<(), RouterError> {
        let a = self.agent_slot(id)?;
        if !self.agents[a as usize].logged_in {
            return Err(RouterError::NotLoggedIn(id));
        }
        self.agents[a as usize].paused = Some(reason);
        self.reindex(a);
        self.refresh_state(now, a);
        // A paused agent who takes transfers may now be the only taker of a waiting transfer.
        self.match_agent(now, a);
        Ok(())
    }

    /// The agent ends a pause and is available again.
    pub fn handle_available(&mut self, now: Time, id: AgentId) -> Result<(), RouterError> {
        let a = self.agent_slot(id)?;
        if !self.agents[a as usize].logged_in {
            return Err(RouterError::NotLoggedIn(id));
        }
        let agent = &mut self.agents[a as usize];
        agent.paused = None;
        agent.no_answer_run = 0;
        self.reindex(a);
        self.refresh_state(now, a);
        self.match_agent(now, a);
        Ok(())
    }

    /// The agent ends wrap-up early.
    pub fn handle_wrap_up_end(&mut self, now: Time, id: AgentId) -> Result<(), RouterError> {
        let a = self.agent_slot(id)?;
        self.agents[a as usize].wrap_until = None;
        self.reindex(a);
        self.refresh_state(now, a);
        self.match_agent(now, a);
        Ok(())
    }

    // ----- interaction inputs -------------------------------------------------------------

    fn ix_slot(&self, id: InteractionId) -> Result<u32, RouterError> {
        self.ix_slots
            .get(&id)
            .copied()
            .ok_or(RouterError::UnknownInteraction(id))
    }

    /// An interaction arrives. Routing happens at once; watch the outputs.
    pub fn handle_arrival(&mut self, now: Time, arr: Arrival) -> Result<(), RouterError> {
        if self.ix_slots.contains_key(&arr.id) {
            return Err(RouterError::DuplicateInteraction(arr.id));
        }
        let (qs, direct, voicemail) = match arr.route {
            Route::Queue(qid) => {
                let qs = *self
                    .queue_slots
                    .get(&qid)
                    .ok_or(RouterError::UnknownQueue(qid))?;
                let qch = self.queues[qs as usize].s.channel;
                if qch != arr.channel {
                    return Err(RouterError::ChannelMismatch {
                        queue: qid,
                        channel: arr.channel,
                        queue_channel: qch,
                    });
                }
                (qs, NONE, false)
            }
            Route::Agent { agent, voicemail } => (NONE, self.agent_slot(agent)?, voicemail),
        };
        let i = self.alloc_ix(now, &arr, direct, voicemail);

        // A follow-up of a thread the agent already handles goes to that agent, even at
        // capacity, if the agent can take anything at all.
        if let Some(&(a, _)) = arr.thread.and_then(|t| self.threads.get(&t)) {
            let agent = &self.agents[a as usize];
            if agent.logged_in
                && agent.s.enabled
                && agent.paused.is_none()
                && agent.held[arr.channel.index()] < u8::MAX
            {
                let timeout = if qs != NONE {
                    self.admit(now, i, qs);
                    self.queues[qs as usize].s.ring_timeout_ms
                } else {
                    self.direct_ring_timeout_ms
                };
                self.start_round(now, i, timeout, false);
                self.offer(now, i, a);
                return Ok(());
            }
        }
        if qs != NONE {
            self.enqueue(now, i, qs);
        } else {
            self.route_direct(now, i, direct);
        }
        Ok(())
    }

    /// An interaction `agent` had answered before a restart comes back as answered with that
    /// agent: it counts against the agent's capacity whatever the agent's state (as answered
    /// interactions stay with an agent who logs out) and only its completion or abandon is
    /// expected next. `arr.route` names its queue for statistics (or an agent for none).
    pub fn handle_resume(
        &mut self,
        now: Time,
        arr: Arrival,
        agent: AgentId,
    ) -> Result<(), RouterError> {
        if self.ix_slots.contains_key(&arr.id) {
            return Err(RouterError::DuplicateInteraction(arr.id));
        }
        let a = self.agent_slot(agent)?;
        let qs = match arr.route {
            Route::Queue(qid) => *self
                .queue_slots
                .get(&qid)
                .ok_or(RouterError::UnknownQueue(qid))?,
            Route::Agent { .. } => NONE,
        };
        let i = self.alloc_ix(now, &arr, NONE, false);
        let x = &mut self.ixs[i as usize];
        x.queue = qs;
        x.state = IxState::Active;
        x.agent = a;
        x.answered_at = Some(now);
        let (ch, thread) = (x.channel, x.thread);
        if let Some(t) = thread {
            let e = self.threads.entry(t).or_insert((a, 0));
            if e.0 != a {
                *e = (a, 0);
            }
            e.1 += 1;
        }
        let ag = &mut self.agents[a as usize];
        ag.held[ch.index()] += 1;
        ag.active += 1;
        ag.items.push(i);
        self.reindex(a);
        self.refresh_state(now, a);
        // Announced like a live answer, so every subscriber (toolbar push, persistence) knows
        // who holds it and reports its end to that agent.
        self.out.push_back(Output::Answered {
            interaction: arr.id,
            agent,
        });
        Ok(())
    }

    /// The customer left (hung up, closed the chat). After an answer this is a completion.
    pub fn handle_abandon(&mut self, now: Time, id: InteractionId) -> Result<(), RouterError> {
        let i = self.ix_slot(id)?;
        match self.ixs[i as usize].state {
            IxState::Active => return self.handle_completed(now, id),
            IxState::Waiting => {
                let key = self.wait_key(i);
                let qs = self.ixs[i as usize].queue as usize;
                self.queues[qs].waiting.remove(&key);
            }
            IxState::Offered => {
                let released = self.cancel_all_offers(now, i);
                self.end_abandoned(now, i);
                for a in released {
                    self.match_agent(now, a);
                }
                return Ok(());
            }
            IxState::Free => unreachable!("free slots are not in ix_slots"),
        }
        self.end_abandoned(now, i);
        Ok(())
    }

    fn end_abandoned(&mut self, now: Time, i: u32) {
        let qs = self.ixs[i as usize].queue;
        if qs != NONE {
            self.queues[qs as usize].st.abandoned += 1;
        }
        self.end(now, i, EndReason::Abandoned);
    }

    /// The agent accepted a ringing offer.
    pub fn handle_offer_accepted(
        &mut self,
        now: Time,
        id: InteractionId,
        agent: AgentId,
    ) -> Result<(), RouterError> {
        let (i, a) = self.pending_offer(id, agent)?;
        self.accept(now, i, a);
        Ok(())
    }

    /// The agent rejected a ringing offer: it goes back to its place in the queue.
    pub fn handle_offer_rejected(
        &mut self,
        now: Time,
        id: InteractionId,
        agent: AgentId,
    ) -> Result<(), RouterError> {
        let (i, a) = self.pending_offer(id, agent)?;
        self.remove_offer(i, a);
        self.release(now, a, i, false);
        let qs = self.ixs[i as usize].queue;
        if qs != NONE && self.ixs[i as usize].direct == NONE {
            let delay = self.queues[qs as usize].s.reject_delay_ms;
            if delay > 0 {
                let until = now + delay;
                self.agents[a as usize].reject_until = Some(until);
                self.push_timer(until, Timer::RejectDelay { agent: a });
                self.reindex(a);
            }
        }
        if self.ixs[i as usize].offers.is_empty() {
            self.round_over(now, i);
        }
        self.match_agent(now, a);
        Ok(())
    }

    /// The answered interaction is finished; the agent goes to wrap-up if configured.
    pub fn handle_completed(&mut self, now: Time, id: InteractionId) -> Result<(), RouterError> {
        let i = self.ix_slot(id)?;
        let ix = &self.ixs[i as usize];
        if ix.state != IxState::Active {
            return Err(RouterError::NotAnswered(id));
        }
        let a = ix.agent;
        let qs = ix.queue;
        let talk = now.saturating_sub(ix.answered_at.unwrap_or(now));
        if let Some(t) = ix.thread {
            if let Some(e) = self.threads.get_mut(&t) {
                if e.0 == a {
                    e.1 -= 1;
                    if e.1 == 0 {
                        self.threads.remove(&t);
                    }
                }
            }
        }
        let wrap = self.agents[a as usize]
            .s
            .wrap_up_ms
            .unwrap_or(if qs != NONE {
                self.queues[qs as usize].s.wrap_up_ms
            } else {
                0
            });
        if qs != NONE {
            let st = &mut self.queues[qs as usize].st;
            st.completed += 1;
            st.handle_sum += talk;
        }
        // Counters and wrap-up first, so the release below re-keys the agent's index entries
        // once, with the new idle time / handled count / talk time.
        let agent = &mut self.agents[a as usize];
        agent.handled += 1;
        agent.talk_ms += talk;
        agent.last_end = now;
        if wrap > 0 {
            let until = now + wrap;
            if agent.wrap_until.is_none_or(|w| w < until) {
                agent.wrap_until = Some(until);
                self.push_timer(until, Timer::WrapUp { agent: a });
            }
        }
        self.release(now, a, i, true);
        self.end(now, i, EndReason::Completed);
        self.match_agent(now, a);
        Ok(())
    }

    /// Fires every timer due at `now`.
    ///
    /// `now` must never go back between calls.
    pub fn handle_timeout(&mut self, now: Time) {
        loop {
            // The earliest (deadline, sequence) among the heap and the ring FIFOs.
            let mut best = self
                .timers
                .peek()
                .map(|&Reverse((at, seq, _))| (at, seq, usize::MAX));
            for (j, (_, q)) in self.ring_fifos.iter().enumerate() {
                if let Some(&(at, seq, _)) = q.front() {
                    if best.is_none_or(|b| (at, seq) < (b.0, b.1)) {
                        best = Some((at, seq, j));
                    }
                }
            }
            let Some((at, _, src)) = best else { break };
            if at > now {
                break;
            }
            let timer = if src == usize::MAX {
                self.timers.pop().map(|Reverse(e)| e.2)
            } else {
                self.ring_fifos[src].1.pop_front().map(|e| e.2)
            };
            if let Some(timer) = timer {
                self.fire(now, at, timer);
            }
        }
    }

    // ----- internals ----------------------------------------------------------------------

    fn push_timer(&mut self, at: Time, t: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, t)));
    }

    /// Most timer classes kept as FIFOs; more distinct classes use the heap, so the
    /// per-timer cost of scanning FIFO heads stays bounded.
    const MAX_FIFOS: usize = 16;

    /// Schedules a timer whose deadline is `now + d` for a `d` fixed by `class`: such
    /// deadlines arrive in order, so a FIFO per class replaces a heap push and pop.
    fn push_fifo_timer(&mut self, class: u64, at: Time, t: Timer) {
        let j = match self.ring_fifos.iter().position(|(d, _)| *d == class) {
            Some(j) => j,
            None if self.ring_fifos.len() < Self::MAX_FIFOS => {
                self.ring_fifos.push((class, VecDeque::new()));
                self.ring_fifos.len() - 1
            }
            None => return self.push_timer(at, t),
        };
        self.timer_seq += 1;
        self.ring_fifos[j].1.push_back((at, self.timer_seq, t));
    }

    fn fire(&mut self, now: Time, at: Time, t: Timer) {
        match t {
            Timer::Ring { ix, round } => {
                let x = &self.ixs[ix as usize];
                if x.state == IxState::Offered && x.round == round && x.ring_deadline == Some(at) {
                    self.ring_out(now, ix);
                }
            }
            Timer::AutoAnswer { ix, round, agent } => {
                let x = &self.ixs[ix as usize];
                if x.state == IxState::Offered && x.round == round && x.offers.contains(&agent) {
                    self.accept(now, ix, agent);
                }
            }
            Timer::MaxWait { ix, gen } => {
                let x = &mut self.ixs[ix as usize];
                if x.state != IxState::Free && x.gen == gen && x.max_wait_at == Some(at) {
                    x.max_wait_at = None;
                    match x.state {
                        IxState::Waiting => {
                            let qs = x.queue;
                            let target = self.queues[qs as usize].s.on_max_wait;
                            self.overflow(now, ix, qs, OverflowCause::MaxWait, target);
                        }
                        // Let the ringing agent answer; overflow if it comes back.
                        IxState::Offered => x.max_wait_passed = true,
                        _ => {}
                    }
                }
            }
            Timer::Relax { ix, gen } => {
                let x = &mut self.ixs[ix as usize];
                if x.state != IxState::Free && x.gen == gen && x.relax_at == Some(at) {
                    x.relax_stage += 1;
                    x.relax_at = None;
                    let stage = usize::from(x.relax_stage);
                    let queued_at = x.queued_at;
                    let waiting = x.state == IxState::Waiting;
                    if let Some(step) = self.queues[x.queue as usize].s.relax_steps.get(stage) {
                        let next = queued_at + step.after_ms;
                        x.relax_at = Some(next);
                        self.push_timer(next, Timer::Relax { ix, gen });
                    }
                    if waiting {
                        self.try_match_ix(now, ix, true);
                    }
                }
            }
            Timer::WrapUp { agent } => {
                if self.agents[agent as usize].wrap_until == Some(at) {
                    self.agents[agent as usize].wrap_until = None;
                    self.reindex(agent);
                    self.refresh_state(now, agent);
                    self.match_agent(now, agent);
                }
            }
            Timer::RejectDelay { agent } => {
                if self.agents[agent as usize].reject_until == Some(at) {
                    self.agents[agent as usize].reject_until = None;
                    self.reindex(agent);
                    self.match_agent(now, agent);
                }
            }
        }
    }

    fn alloc_ix(&mut self, now: Time, arr: &Arrival, direct: u32, voicemail: bool) -> u32 {
        let i = match self.free_ixs.pop() {
            Some(i) => i,
            None => {
                self.ixs.push(Ix {
                    id: arr.id,
                    gen: 0,
                    state: IxState::Free,
                    channel: arr.channel,
                    queue: NONE,
                    direct: NONE,
                    voicemail: false,
                    priority: 0,
                    reqs: SkillReqs::none(),
                    thread: None,
                    is_transfer: false,
                    is_preview: false,
                    is_internal: false,
                    arrived: now,
                    queued_at: now,
                    seq: 0,
                    hops: 0,
                    offers: Vec::with_capacity(1),
                    agent: NONE,
                    answered_at: None,
                    round: 0,
                    ring_all: false,
                    ring_deadline: None,
                    max_wait_at: None,
                    max_wait_passed: false,
                    relax_at: None,
                    relax_stage: 0,
                });
                (self.ixs.len() - 1) as u32
            }
        };
        let x = &mut self.ixs[i as usize];
        x.id = arr.id;
        x.gen = x.gen.wrapping_add(1);
        x.state = IxState::Waiting;
        x.channel = arr.channel;
        x.queue = NONE;
        x.direct = direct;
        x.voicemail = voicemail;
        x.priority = arr.priority;
        x.reqs = arr.skills;
        x.thread = arr.thread;
        x.is_transfer = arr.is_transfer;
        x.arrived = now;
        x.queued_at = now;
        x.hops = 0;
        x.offers.clear();
        x.agent = NONE;
        x.answered_at = None;
        x.ring_all = false;
        x.ring_deadline = None;
        x.max_wait_at = None;
        x.max_wait_passed = false;
        x.relax_at = None;
        x.relax_stage = 0;
        x.is_preview = arr.is_preview;
        x.is_internal = arr.is_internal;
        self.ix_slots.insert(arr.id, i);
        i
    }

    fn wait_key(&self, i: u32) -> WaitKey {
        let x = &self.ixs[i as usize];
        (u8::MAX - x.priority, x.seq, i)
    }

    fn pending_offer(&self, id: InteractionId, agent: AgentId) -> Result<(u32, u32), RouterError> {
        let i = self.ix_slot(id)?;
        let a = self.agent_slot(agent)?;
        let x = &self.ixs[i as usize];
        if x.state == IxState::Offered && x.offers.contains(&a) {
            Ok((i, a))
        } else {
            Err(RouterError::NoPendingOffer {
                interaction: id,
                agent,
            })
        }
    }

    fn view(&self, a: u32) -> AgentView {
        let ag = &self.agents[a as usize];
        AgentView {
            slot: a,
            base: ag.logged_in
                && ag.s.enabled
                && ag.wrap_until.is_none()
                && ag.reject_until.is_none(),
            paused: ag.paused.is_some(),
            takes_transfers: ag.s.receive_transfers_when_paused,
            held: ag.held,
            capacity: ag.s.capacity,
            last_end: ag.last_end,
            handled: ag.handled,
            talk_ms: ag.talk_ms,
            tie: ag.tie,
        }
    }

    /// Puts the interaction under queue `qs` (counters, timers) without making it wait.
    fn admit(&mut self, now: Time, i: u32, qs: u32) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let q = &mut self.queues[qs as usize];
        q.st.offered += 1;
        let x = &mut self.ixs[i as usize];
        x.gen = x.gen.wrapping_add(1);
        x.queue = qs;
        x.queued_at = now;
        x.seq = seq;
        x.relax_stage = 0;
        x.max_wait_passed = false;
        x.max_wait_at = q.s.max_wait_ms.map(|w| now + w);
        x.relax_at = q.s.relax_steps.first().map(|s| now + s.after_ms);
        let (gen, max_wait_at, relax_at) = (x.gen, x.max_wait_at, x.relax_at);
        // Both are `now + a per-queue constant`: FIFO classes, like ring timers.
        if let Some(at) = max_wait_at {
            self.push_fifo_timer((1 << 62) | (at - now), at, Timer::MaxWait { ix: i, gen });
        }
        if let Some(at) = relax_at {
            self.push_fifo_timer((2 << 62) | (at - now), at, Timer::Relax { ix: i, gen });
        }
    }

    /// Entry to a queue: entry rules, then wait and try to match at once.
    fn enqueue(&mut self, now: Time, i: u32, qs: u32) {
        let q = &self.queues[qs as usize];
        let refused = match q.s.max_length {
            Some(max) if q.waiting.len() >= max as usize => {
                Some((OverflowCause::QueueFull, q.s.on_full))
            }
            _ if q.logged_in == 0 => q.s.on_no_agents.map(|t| (OverflowCause::NoAgents, t)),
            _ => None,
        };
        if let Some((cause, target)) = refused {
            self.queues[qs as usize].st.offered += 1;
            self.overflow(now, i, qs, cause, target);
            return;
        }
        self.admit(now, i, qs);
        self.wait_or_match(now, i);
    }

    /// Matches `i` at once if an agent is ready, else puts it in its queue's line. Matching
    /// first spares the line an insert and a remove for the common case.
    fn wait_or_match(&mut self, now: Time, i: u32) {
        self.ixs[i as usize].state = IxState::Waiting;
        if !self.try_match_ix(now, i, false) {
            let key = self.wait_key(i);
            let qs = self.ixs[i as usize].queue;
            self.queues[qs as usize].waiting.insert(key);
        }
    }

    fn overflow(&mut self, now: Time, i: u32, from: u32, cause: OverflowCause, to: OverflowTarget) {
        if self.ixs[i as usize].state == IxState::Waiting && self.ixs[i as usize].queue == from {
            let key = self.wait_key(i);
            self.queues[from as usize].waiting.remove(&key);
        }
        let q = &mut self.queues[from as usize];
        q.st.overflowed += 1;
        let from_id = q.id;
        let x = &mut self.ixs[i as usize];
        x.queue = from;
        x.ring_deadline = None;
        x.max_wait_at = None;
        x.relax_at = None;
        self.out.push_back(Output::Overflowed {
            interaction: x.id,
            from: from_id,
            to,
            cause,
        });
        match to {
            OverflowTarget::Queue(qid) => match self.queue_slots.get(&qid) {
                Some(&q2) if self.queues[q2 as usize].s.channel == x.channel => {
                    if x.hops >= self.max_hops {
                        self.end(now, i, EndReason::Overflow(OverflowCause::TooManyHops));
                    } else {
                        x.hops += 1;
                        self.enqueue(now, i, q2);
                    }
                }
                // A target that does not exist (or carries another channel) cannot take it.
                _ => self.end(now, i, EndReason::Overflow(cause)),
            },
            OverflowTarget::Voicemail => self.end(now, i, EndReason::Voicemail(cause)),
            OverflowTarget::End => self.end(now, i, EndReason::Overflow(cause)),
        }
    }

    fn route_direct(&mut self, now: Time, i: u32, a: u32) {
        let x = &self.ixs[i as usize];
        let ag = &self.agents[a as usize];
        let allowed = ag.logged_in
            && ag.s.enabled
            && match ag.paused {
                None => true,
                Some(_) => {
                    (x.is_transfer && ag.s.receive_transfers_when_paused)
                        || (x.is_preview && ag.s.ignore_pause_for_preview)
                        || (x.is_internal && !ag.s.dnd_during_pause)
                }
            };
        // The u8 bound keeps a flood of ring-in-use calls from overflowing the held count.
        let fits = cap_left(&self.view(a), x.channel, false, self.cross)
            || (x.channel == Channel::Voice
                && ag.s.ring_in_use
                && ag.held[Channel::Voice.index()] < u8::MAX);
        if !(allowed && fits) {
            let voicemail = x.voicemail;
            self.end(now, i, EndReason::Refused { voicemail });
            return;
        }
        self.start_round(now, i, self.direct_ring_timeout_ms, false);
        self.offer(now, i, a);
    }

    fn start_round(&mut self, now: Time, i: u32, timeout: u64, ring_all: bool) {
        self.next_round += 1;
        let round = self.next_round;
        let x = &mut self.ixs[i as usize];
        x.round = round;
        x.ring_all = ring_all;
        x.state = IxState::Offered;
        let at = now + timeout;
        x.ring_deadline = Some(at);
        self.push_fifo_timer(timeout, at, Timer::Ring { ix: i, round });
    }

    /// Reserves `a` for `i` and emits the offer. The reservation (held count, index removal)
    /// happens before the offer leaves, so no second decision can pick the same capacity.
    fn offer(&mut self, now: Time, i: u32, a: u32) {
        let x = &mut self.ixs[i as usize];
        x.offers.push(a);
        let (ch, round, id) = (x.channel, x.round, x.id);
        let queue = (x.direct == NONE && x.queue != NONE).then(|| self.queues[x.queue as usize].id);
        let ag = &mut self.agents[a as usize];
        ag.held[ch.index()] += 1;
        ag.ringing += 1;
        ag.items.push(i);
        let auto_answer_at = ag.s.auto_answer_ms.map(|d| now + d);
        let agent = ag.id;
        if let Some(at) = auto_answer_at {
            self.push_timer(
                at,
                Timer::AutoAnswer {
                    ix: i,
                    round,
                    agent: a,
                },
            );
        }
        self.offers_made += 1;
        self.out.push_back(Output::Offer {
            interaction: id,
            agent,
            channel: ch,
            queue,
            auto_answer_at,
        });
        self.reindex(a);
        self.refresh_state(now, a);
    }

    fn remove_offer(&mut self, i: u32, a: u32) {
        let offers = &mut self.ixs[i as usize].offers;
        if let Some(p) = offers.iter().position(|&o| o == a) {
            offers.swap_remove(p);
        }
    }

    /// Gives back the capacity `i` held at `a` (ringing or answered).
    fn release(&mut self, now: Time, a: u32, i: u32, answered: bool) {
        let ch = self.ixs[i as usize].channel;
        let ag = &mut self.agents[a as usize];
        ag.held[ch.index()] -= 1;
        if answered {
            ag.active -= 1;
        } else {
            ag.ringing -= 1;
        }
        if let Some(p) = ag.items.iter().position(|&x| x == i) {
            ag.items.swap_remove(p);
        }
        self.reindex(a);
        self.refresh_state(now, a);
    }

    fn accept(&mut self, now: Time, i: u32, a: u32) {
        self.remove_offer(i, a);
        let mut others = std::mem::take(&mut self.ixs[i as usize].offers);
        let id = self.ixs[i as usize].id;
        for &o in &others {
            self.out.push_back(Output::CancelOffer {
                interaction: id,
                agent: self.agents[o as usize].id,
            });
            self.release(now, o, i, false);
        }
        let x = &mut self.ixs[i as usize];
        x.state = IxState::Active;
        x.agent = a;
        x.answered_at = Some(now);
        x.ring_deadline = None;
        x.max_wait_at = None;
        x.relax_at = None;
        let (qs, direct, queued_at, thread) = (x.queue, x.direct, x.queued_at, x.thread);
        if qs != NONE && direct == NONE {
            let q = &mut self.queues[qs as usize];
            let wait = now.saturating_sub(queued_at);
            q.st.answered += 1;
            q.st.wait_sum += wait;
            if wait <= q.s.service_level_ms {
                q.st.answered_sl += 1;
            }
        }
        if let Some(t) = thread {
            let e = self.threads.entry(t).or_insert((a, 0));
            if e.0 != a {
                *e = (a, 0);
            }
            e.1 += 1;
        }
        let ag = &mut self.agents[a as usize];
        ag.ringing -= 1;
        ag.active += 1;
        ag.no_answer_run = 0;
        let agent = ag.id;
        self.out.push_back(Output::Answered {
            interaction: id,
            agent,
        });
        self.refresh_state(now, a);
        for &o in &others {
            self.match_agent(now, o);
        }
        others.clear();
        self.ixs[i as usize].offers = others;
    }

    /// Every offer of the round is gone: back to the queue at its place (or overflow / end).
    fn round_over(&mut self, now: Time, i: u32) {
        let x = &mut self.ixs[i as usize];
        x.ring_deadline = None;
        if x.queue == NONE {
            let voicemail = x.voicemail;
            self.end(now, i, EndReason::NotAnswered { voicemail });
        } else if x.max_wait_passed {
            let qs = x.queue;
            let target = self.queues[qs as usize].s.on_max_wait;
            self.overflow(now, i, qs, OverflowCause::MaxWait, target);
        } else {
            self.wait_or_match(now, i);
        }
    }

    fn ring_out(&mut self, now: Time, i: u32) {
        let mut offered = std::mem::take(&mut self.scratch);
        offered.extend_from_slice(&self.ixs[i as usize].offers);
        self.ixs[i as usize].offers.clear();
        let (id, ring_all, qs) = {
            let x = &self.ixs[i as usize];
            (x.id, x.ring_all, x.queue)
        };
        let max_no_answers = if qs != NONE && !ring_all {
            self.queues[qs as usize].s.max_no_answers
        } else {
            None
        };
        // A missed offer holds the agent back like a rejection does, so the call moves on to
        // the next agent instead of ringing the same phone again.
        let retry_delay = if qs != NONE && self.ixs[i as usize].direct == NONE {
            self.queues[qs as usize].s.reject_delay_ms
        } else {
            0
        };
        for &a in &offered {
            self.out.push_back(Output::CancelOffer {
                interaction: id,
                agent: self.agents[a as usize].id,
            });
            self.release(now, a, i, false);
            if retry_delay > 0 {
                let until = now + retry_delay;
                self.agents[a as usize].reject_until = Some(until);
                self.push_timer(until, Timer::RejectDelay { agent: a });
                self.reindex(a);
            }
            let ag = &mut self.agents[a as usize];
            ag.no_answer_run += 1;
            ag.no_answer_total += 1;
            if let Some(max) = max_no_answers {
                if ag.no_answer_run >= max && ag.logged_in && ag.paused.is_none() {
                    ag.paused = Some(PauseReason::NoAnswer);
                    self.reindex(a);
                    self.refresh_state(now, a);
                }
            }
        }
        self.round_over(now, i);
        for &a in &offered {
            self.match_agent(now, a);
        }
        offered.clear();
        self.scratch = offered;
    }

    /// Withdraws every ringing offer of `i`; returns the agents freed (to be re-matched
    /// once `i` is settled).
    fn cancel_all_offers(&mut self, now: Time, i: u32) -> Vec<u32> {
        let offered: Vec<u32> = self.ixs[i as usize].offers.drain(..).collect();
        let id = self.ixs[i as usize].id;
        for &a in &offered {
            self.out.push_back(Output::CancelOffer {
                interaction: id,
                agent: self.agents[a as usize].id,
            });
            self.release(now, a, i, false);
        }
        offered
    }

    /// Withdraws the agent's ringing offers (logout, disabled); those interactions go back.
    fn withdraw_offers(&mut self, now: Time, a: u32) {
        let pending: Vec<u32> = self.agents[a as usize]
            .items
            .iter()
            .copied()
            .filter(|&i| {
                let x = &self.ixs[i as usize];
                x.state == IxState::Offered && x.offers.contains(&a)
            })
            .collect();
        for i in pending {
            self.remove_offer(i, a);
            self.out.push_back(Output::CancelOffer {
                interaction: self.ixs[i as usize].id,
                agent: self.agents[a as usize].id,
            });
            self.release(now, a, i, false);
            if self.ixs[i as usize].offers.is_empty() {
                self.round_over(now, i);
            }
        }
    }

    fn end(&mut self, now: Time, i: u32, reason: EndReason) {
        let x = &mut self.ixs[i as usize];
        let record = Record::Interaction {
            id: x.id,
            channel: x.channel,
            queue: (x.queue != NONE).then(|| self.queues[x.queue as usize].id),
            agent: (x.agent != NONE).then(|| self.agents[x.agent as usize].id),
            arrived_at: x.arrived,
            answered_at: x.answered_at,
            ended_at: now,
            reason,
        };
        x.state = IxState::Free;
        x.gen = x.gen.wrapping_add(1);
        x.ring_deadline = None;
        x.max_wait_at = None;
        x.relax_at = None;
        let id = x.id;
        self.ix_slots.remove(&id);
        self.free_ixs.push(i);
        self.out.push_back(Output::Ended {
            interaction: id,
            reason,
        });
        self.out.push_back(Output::Store(record));
    }

    /// Looks for agents for the waiting interaction `i` (in its queue's line if `in_line`);
    /// offers if found.
    fn try_match_ix(&mut self, now: Time, i: u32, in_line: bool) -> bool {
        let x = &self.ixs[i as usize];
        let qs = x.queue;
        let q = &self.queues[qs as usize];
        let lower = relax_lower(&q.s, x.relax_stage);
        if q.s.strategy == Strategy::RingAll {
            let mut picked = std::mem::take(&mut self.scratch);
            let agents = &self.agents;
            let xfer = if x.is_transfer { Some(&q.xfer) } else { None };
            for k in q.ready.iter().chain(xfer.into_iter().flatten()) {
                let a = k.3 as usize;
                if qualifies(&self.skill_rows[a], &agents[a], &x.reqs, lower).is_some() {
                    picked.push(k.3);
                }
            }
            let found = !picked.is_empty();
            if found {
                let key = self.wait_key(i);
                let q = &mut self.queues[qs as usize];
                if in_line {
                    q.waiting.remove(&key);
                }
                let timeout = q.s.ring_timeout_ms;
                self.start_round(now, i, timeout, true);
                for &a in &picked {
                    self.offer(now, i, a);
                }
            }
            picked.clear();
            self.scratch = picked;
            return found;
        }
        let agents = &self.agents;
        let rows = &self.skill_rows;
        let best = if q.s.strategy == Strategy::RoundRobin {
            let from = (0u32, q.rr_cursor + 1, 0u32, 0u32);
            let after = scan(q.ready.range(from..), rows, agents, x, lower)
                .or_else(|| scan(q.ready.range(..from), rows, agents, x, lower));
            if x.is_transfer && after.is_none() {
                scan(q.xfer.range(from..), rows, agents, x, lower)
                    .or_else(|| scan(q.xfer.range(..from), rows, agents, x, lower))
            } else {
                after
            }
        } else {
            let ready = scan(q.ready.iter(), rows, agents, x, lower);
            if x.is_transfer {
                match (ready, scan(q.xfer.iter(), rows, agents, x, lower)) {
                    (Some(r), Some(p)) => Some(if p.0 < r.0 { p } else { r }),
                    (r, p) => r.or(p),
                }
            } else {
                ready
            }
        };
        let Some((key, _)) = best else {
            return false;
        };
        self.take_waiting(now, i, key.3, in_line);
        true
    }

    /// Offers the waiting `i` to `a` alone (non ring-all queues).
    fn take_waiting(&mut self, now: Time, i: u32, a: u32, in_line: bool) {
        let key = self.wait_key(i);
        let qs = self.ixs[i as usize].queue;
        let q = &mut self.queues[qs as usize];
        if in_line {
            q.waiting.remove(&key);
        }
        if q.s.strategy == Strategy::RoundRobin {
            if let Some(m) = self.agents[a as usize]
                .mships
                .iter()
                .find(|m| m.queue == qs)
            {
                q.rr_cursor = u64::from(m.order);
            }
        }
        let timeout = q.s.ring_timeout_ms;
        self.start_round(now, i, timeout, false);
        self.offer(now, i, a);
    }

    /// The agent may take more: serve its queues in tier/priority order, each queue's line in
    /// priority/arrival order, until it has no room or nothing fits.
    fn match_agent(&mut self, now: Time, a: u32) {
        loop {
            let ag = &self.agents[a as usize];
            let mut found = None;
            for m in &ag.mships {
                let xfer_only = match (m.ready, m.xfer) {
                    (Some(_), _) => false,
                    (None, Some(_)) => true,
                    (None, None) => continue,
                };
                let q = &self.queues[m.queue as usize];
                for k in q.waiting.iter() {
                    let x = &self.ixs[k.2 as usize];
                    if xfer_only && !x.is_transfer {
                        continue;
                    }
                    let lower = relax_lower(&q.s, x.relax_stage);
                    if qualifies(&self.skill_rows[a as usize], ag, &x.reqs, lower).is_some() {
                        found = Some((k.2, q.s.strategy == Strategy::RingAll));
                        break;
                    }
                }
                if found.is_some() {
                    break;
                }
            }
            match found {
                None => break,
                Some((i, true)) => {
                    if !self.try_match_ix(now, i, true) {
                        break;
                    }
                }
                Some((i, false)) => self.take_waiting(now, i, a, true),
            }
        }
    }

    /// Brings the agent's entries in its queues' ready indexes up to date.
    fn reindex(&mut self, a: u32) {
        let v = self.view(a);
        let Router {
            agents,
            queues,
            rng,
            cross,
            ..
        } = self;
        for m in agents[a as usize].mships.iter_mut() {
            let ok = v.base && cap_left(&v, m.channel, true, *cross);
            let want_ready = ok && !v.paused;
            let want_xfer = ok && v.paused && v.takes_transfers;
            let (penalty, primary) = match m.strategy {
                Strategy::LongestIdle | Strategy::RingAll => (m.penalty, v.last_end),
                Strategy::FewestInteractions => (m.penalty, v.handled),
                Strategy::LeastTalkTime => (m.penalty, v.talk_ms),
                Strategy::Linear => (m.penalty, u64::from(m.order)),
                Strategy::RoundRobin => (0, u64::from(m.order)),
                // Drawn once per entry into the index, below.
                Strategy::Random => (m.penalty, 0),
            };
            let random = m.strategy == Strategy::Random;
            let key = (penalty, primary, v.tie, v.slot);
            let unchanged = |slot: Option<AgentKey>, want: bool| match slot {
                Some(old) => want && (old == key || random),
                None => !want,
            };
            if unchanged(m.ready, want_ready) && unchanged(m.xfer, want_xfer) {
                continue;
            }
            let q = &mut queues[m.queue as usize];
            update_entry(&mut m.ready, &mut q.ready, want_ready, key, random, rng);
            update_entry(&mut m.xfer, &mut q.xfer, want_xfer, key, random, rng);
        }
    }

    fn refresh_state(&mut self, now: Time, a: u32) {
        let ag = &mut self.agents[a as usize];
        let state = if !ag.logged_in {
            AgentState::LoggedOut
        } else if !ag.s.enabled {
            AgentState::Disabled
        } else if let Some(r) = ag.paused {
            AgentState::Paused(r)
        } else if ag.active > 0 {
            AgentState::Busy
        } else if ag.ringing > 0 {
            AgentState::Ringing
        } else if ag.wrap_until.is_some() {
            AgentState::WrapUp
        } else {
            AgentState::Available
        };
        if state != ag.state {
            ag.state = state;
            ag.since = now;
            let agent = ag.id;
            self.out.push_back(Output::AgentStateChanged {
                agent,
                state,
                at: now,
            });
            self.out.push_back(Output::Store(Record::AgentState {
                agent,
                state,
                at: now,
            }));
        }
    }
}

fn update_entry(
    slot: &mut Option<AgentKey>,
    set: &mut BTreeSet<AgentKey>,
    want: bool,
    mut key: AgentKey,
    random: bool,
    rng: &mut ChaCha8Rng,
) {
    if let Some(old) = *slot {
        if want && (old == key || random) {
            return;
        }
        set.remove(&old);
        *slot = None;
    }
    if want {
        if random {
            key.1 = rng.gen();
        }
        set.insert(key);
        *slot = Some(key);
    }
}

/// The first qualified agent in strategy order; among agents tied on (penalty, strategy value)
/// the one with the best skill score wins (bounded by [`TIE_WINDOW`]).
fn scan<'a>(
    it: impl Iterator<Item = &'a AgentKey>,
    rows: &[SkillRow],
    agents: &[Agent],
    x: &Ix,
    lower: SkillLevel,
) -> Option<(AgentKey, u32)> {
    let has_reqs = !x.reqs.as_slice().is_empty();
    let mut best: Option<(AgentKey, u32)> = None;
    let mut window = 0;
    for k in it {
        if let Some((bk, _)) = best {
            if !has_reqs || (k.0, k.1) != (bk.0, bk.1) || window >= TIE_WINDOW {
                break;
            }
            window += 1;
        }
        let a = k.3 as usize;
        if let Some(score) = qualifies(&rows[a], &agents[a], &x.reqs, lower) {
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((*k, score));
            }
        }
    }
    best
}
