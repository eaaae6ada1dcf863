//! Live routing statistics as the admin API shows them: per-queue figures and per-agent states
//! from the router's [`Snapshot`], joined with names from the admin configuration; and the
//! media plane's figures (ports, legs, calls) from the engine's `MediaStats`.
//!
//! Owns: the JSON shape of the stats routes and the join between a snapshot and the admin's
//! queues, agents and pause reasons. Does not own: the figures (the router computes them),
//! their freshness (the handler in `api` asks the router task for a fresh snapshot) or HTTP.
//!
//! The admin configuration decides what is listed: a queue or agent the router has not been
//! fed yet shows zeros (and `logged_out`), which is what it has; one deleted from the admin is
//! not listed even if the router still holds it for a moment.

use acd_engine::admin::{Admin, AdminError, AgentQuery, MAX_LIMIT};
use acd_engine::common::{AgentId, Channel, PauseReasonId, QueueId};
use acd_engine::router::{AgentState, AgentStats, PauseReason, QueueStats, Snapshot, Time};
use acd_engine::runtime::media_io::MediaStats;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One queue's live figures (`GET /queues/{id}/stats`, an item of `GET /stats/queues`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueueStatsView {
    /// The queue.
    pub(crate) id: QueueId,
    /// Its name in the admin configuration.
    pub(crate) name: String,
    /// Interactions waiting now (not ringing).
    pub(crate) waiting: u32,
    /// Interactions ringing an agent now.
    pub(crate) ringing: u32,
    /// The longest current wait in ms, 0 if none.
    pub(crate) longest_wait_ms: u64,
    /// Interactions that entered the queue.
    pub(crate) offered: u64,
    /// Interactions answered from the queue.
    pub(crate) answered: u64,
    /// Answered within the service-level threshold.
    pub(crate) answered_within_sl: u64,
    /// Abandoned in the queue.
    pub(crate) abandoned: u64,
    /// Overflowed out of the queue.
    pub(crate) overflowed: u64,
    /// Answered and then completed.
    pub(crate) completed: u64,
    /// Answered within threshold / (answered + abandoned), in %; 100 when there were none.
    pub(crate) service_level_pct: f64,
    /// Average speed of answer in ms.
    pub(crate) asa_ms: u64,
    /// Average handle time (answer to completion) in ms.
    pub(crate) aht_ms: u64,
    /// Members logged in and enabled.
    pub(crate) agents_logged_in: u32,
    /// Members able to take the queue's next interaction now.
    pub(crate) agents_ready: u32,
}

impl QueueStatsView {
    /// The view of `stats`, or zeros for a queue the router does not hold yet.
    pub(crate) fn of(id: QueueId, name: String, stats: Option<&QueueStats>) -> Self {
        let Some(s) = stats else {
            return QueueStatsView {
                id,
                name,
                waiting: 0,
                ringing: 0,
                longest_wait_ms: 0,
                offered: 0,
                answered: 0,
                answered_within_sl: 0,
                abandoned: 0,
                overflowed: 0,
                completed: 0,
                // As the router reports a queue with nothing answered or abandoned.
                service_level_pct: 100.0,
                asa_ms: 0,
                aht_ms: 0,
                agents_logged_in: 0,
                agents_ready: 0,
            };
        };
        QueueStatsView {
            id,
            name,
            waiting: s.waiting,
            ringing: s.ringing,
            longest_wait_ms: s.longest_wait_ms,
            offered: s.offered,
            answered: s.answered,
            answered_within_sl: s.answered_within_sl,
            abandoned: s.abandoned,
            overflowed: s.overflowed,
            completed: s.completed,
            service_level_pct: s.service_level_pct,
            asa_ms: s.asa_ms,
            aht_ms: s.aht_ms,
            agents_logged_in: s.agents_logged_in,
            agents_ready: s.agents_ready,
        }
    }
}

/// `GET /stats/media`: port pairs are counted as one (RTP and its RTCP port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MediaStatsView {
    /// RTP/RTCP port pairs in `media.ports`.
    pub(crate) ports_total: u64,
    /// Port pairs not held by a call leg.
    pub(crate) ports_free: u64,
    /// Legs whose sockets are open.
    pub(crate) legs_open: u64,
    /// Calls acd carries now.
    pub(crate) calls: u64,
}

/// The media figures now.
pub(crate) fn media(stats: &MediaStats) -> MediaStatsView {
    let s = stats.snapshot();
    MediaStatsView {
        ports_total: s.ports_total,
        ports_free: s.ports_free,
        legs_open: s.legs_open,
        calls: s.calls,
    }
}

/// The example the OpenAPI schema is built from.
pub(crate) fn example_media_stats() -> MediaStatsView {
    MediaStatsView {
        ports_total: 5_000,
        ports_free: 4_996,
        legs_open: 4,
        calls: 2,
    }
}

/// `GET /stats/queues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueueStatsList {
    /// When the snapshot was taken, in ms on the router clock (since the engine started).
    pub(crate) at_ms: Time,
    /// Every configured queue, by id.
    pub(crate) items: Vec<QueueStatsView>,
}

/// An agent's state name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StateName {
    Available,
    Ringing,
    Busy,
    WrapUp,
    Paused,
    LoggedOut,
    Disabled,
}

/// Who or what paused the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PauseKind {
    /// The agent or a supervisor, with an optional configured reason.
    Manual,
    /// The profile's log-in pause.
    LogIn,
    /// Too many consecutive unanswered offers.
    NoAnswer,
}

/// Why a paused agent is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PauseView {
    /// Who or what paused the agent.
    pub(crate) kind: PauseKind,
    /// The configured pause reason given, if any.
    pub(crate) reason_id: Option<PauseReasonId>,
    /// That reason's name (absent if none was given or it was deleted since).
    pub(crate) name: Option<String>,
}

/// Interactions held now (ringing or answered), per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct Held {
    pub(crate) voice: u8,
    pub(crate) chat: u8,
    pub(crate) email: u8,
}

/// One agent's live state (`GET /agents/{id}/state`, an item of `GET /stats/agents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AgentStateView {
    /// The agent.
    pub(crate) id: AgentId,
    /// Its username.
    pub(crate) username: String,
    /// Its state now.
    pub(crate) state: StateName,
    /// Present only when `state` is `paused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pause_reason: Option<PauseView>,
    /// When it entered the state, in ms on the router clock (0: since the engine started).
    pub(crate) since_ms: Time,
    /// How long it has been in the state at the snapshot, in ms.
    pub(crate) in_state_ms: u64,
    /// Interactions completed.
    pub(crate) handled: u64,
    /// Total answered time in ms.
    pub(crate) talk_time_ms: u64,
    /// Offers that rang out.
    pub(crate) no_answers: u64,
    /// Interactions held now, per channel.
    pub(crate) held: Held,
}

impl AgentStateView {
    /// The view of `stats` at `at`, or `logged_out` with zeros for an agent the router does
    /// not hold yet. `reason_name` names a configured pause reason.
    pub(crate) fn of(
        id: AgentId,
        username: String,
        at: Time,
        stats: Option<&AgentStats>,
        reason_name: impl Fn(PauseReasonId) -> Option<String>,
    ) -> Self {
        let Some(s) = stats else {
            return AgentStateView {
                id,
                username,
                state: StateName::LoggedOut,
                pause_reason: None,
                since_ms: 0,
                in_state_ms: at,
                handled: 0,
                talk_time_ms: 0,
                no_answers: 0,
                held: Held::default(),
            };
        };
        let (state, pause_reason) = match s.state {
            AgentState::LoggedOut => (StateName::LoggedOut, None),
            AgentState::Disabled => (StateName::Disabled, None),
            AgentState::Busy => (StateName::Busy, None),
            AgentState::Ringing => (StateName::Ringing, None),
            AgentState::WrapUp => (StateName::WrapUp, None),
            AgentState::Available => (StateName::Available, None),
            AgentState::Paused(reason) => {
                let (kind, reason_id) = match reason {
                    PauseReason::Manual(r) => (PauseKind::Manual, r),
                    PauseReason::LogIn => (PauseKind::LogIn, None),
                    PauseReason::NoAnswer => (PauseKind::NoAnswer, None),
                };
                let name = reason_id.and_then(&reason_name);
                (
                    StateName::Paused,
                    Some(PauseView {
                        kind,
                        reason_id,
                        name,
                    }),
                )
            }
        };
        let held = |c: Channel| s.held[c.index()];
        AgentStateView {
            id,
            username,
            state,
            pause_reason,
            since_ms: s.since,
            in_state_ms: at.saturating_sub(s.since),
            handled: s.handled,
            talk_time_ms: s.talk_time_ms,
            no_answers: s.no_answers,
            held: Held {
                voice: held(Channel::Voice),
                chat: held(Channel::Chat),
                email: held(Channel::Email),
            },
        }
    }
}

/// `GET /stats/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AgentStateList {
    /// When the snapshot was taken, in ms on the router clock (since the engine started).
    pub(crate) at_ms: Time,
    /// Every configured agent, by id.
    pub(crate) items: Vec<AgentStateView>,
}

/// Every configured queue with its figures in `snap`.
pub(crate) fn queue_list(admin: &Admin, snap: &Snapshot) -> QueueStatsList {
    let by_id: HashMap<QueueId, &QueueStats> = snap.queues.iter().map(|q| (q.queue, q)).collect();
    let items = admin
        .queues()
        .into_iter()
        .map(|q| QueueStatsView::of(q.id, q.settings.name, by_id.get(&q.id).copied()))
        .collect();
    QueueStatsList {
        at_ms: snap.at,
        items,
    }
}

/// One queue's figures in `snap`; not found if the admin has no such queue.
pub(crate) fn queue_one(
    admin: &Admin,
    snap: &Snapshot,
    id: QueueId,
) -> Result<QueueStatsView, AdminError> {
    let queue = admin.queue(id)?;
    Ok(QueueStatsView::of(id, queue.settings.name, snap.queue(id)))
}

/// Every configured agent with its state in `snap`.
pub(crate) fn agent_list(admin: &Admin, snap: &Snapshot) -> Result<AgentStateList, AdminError> {
    let by_id: HashMap<AgentId, &AgentStats> = snap.agents.iter().map(|a| (a.agent, a)).collect();
    let reasons: HashMap<PauseReasonId, String> = admin
        .pause_reasons()
        .into_iter()
        .map(|r| (r.id, r.settings.name))
        .collect();
    let mut items = Vec::with_capacity(admin.agent_count());
    // The agent list's own paging (id order, the largest page) rather than a whole
    // configuration copy: summaries carry the username without the full profile.
    let mut query = AgentQuery {
        limit: MAX_LIMIT,
        ..AgentQuery::default()
    };
    loop {
        let page = admin.search_agents(&query)?;
        let got = page.items.len();
        items.extend(page.items.into_iter().map(|a| {
            AgentStateView::of(a.id, a.username, snap.at, by_id.get(&a.id).copied(), |r| {
                reasons.get(&r).cloned()
            })
        }));
        query.offset += got;
        if got < MAX_LIMIT || query.offset >= page.total {
            break;
        }
    }
    Ok(AgentStateList {
        at_ms: snap.at,
        items,
    })
}

/// One agent's state in `snap`; not found if the admin has no such agent.
pub(crate) fn agent_one(
    admin: &Admin,
    snap: &Snapshot,
    id: AgentId,
) -> Result<AgentStateView, AdminError> {
    let agent = admin.agent(id)?;
    Ok(AgentStateView::of(
        id,
        agent.username,
        snap.at,
        snap.agent(id),
        |r| admin.pause_reason(r).ok().map(|p| p.settings.name),
    ))
}

/// The example the OpenAPI schemas are derived from: a paused agent, so the pause object's
/// fields are probed too.
pub(crate) fn example_agent_state() -> AgentStateView {
    AgentStateView {
        id: AgentId(1427),
        username: "jdoe".into(),
        state: StateName::Paused,
        pause_reason: Some(PauseView {
            kind: PauseKind::Manual,
            reason_id: None,
            name: None,
        }),
        since_ms: 1_000,
        in_state_ms: 5_000,
        handled: 3,
        talk_time_ms: 240_000,
        no_answers: 1,
        held: Held::default(),
    }
}

/// The example the OpenAPI schemas are derived from.
pub(crate) fn example_queue_stats() -> QueueStatsView {
    QueueStatsView::of(QueueId(1), "support".into(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent_stats(state: AgentState) -> AgentStats {
        AgentStats {
            agent: AgentId(7),
            state,
            since: 1_500,
            handled: 4,
            talk_time_ms: 9_000,
            no_answers: 2,
            held: [1, 2, 3],
        }
    }

    #[test]
    fn paused_agent_names_its_configured_reason() {
        let s = agent_stats(AgentState::Paused(PauseReason::Manual(Some(
            PauseReasonId(3),
        ))));
        let v = AgentStateView::of(AgentId(7), "ann".into(), 2_000, Some(&s), |id| {
            (id == PauseReasonId(3)).then(|| "lunch".to_owned())
        });
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["state"], "paused");
        assert_eq!(json["pause_reason"]["kind"], "manual");
        assert_eq!(json["pause_reason"]["reason_id"], 3);
        assert_eq!(json["pause_reason"]["name"], "lunch");
    }

    #[test]
    fn pause_reason_is_absent_unless_paused() {
        let s = agent_stats(AgentState::WrapUp);
        let v = AgentStateView::of(AgentId(7), "ann".into(), 2_000, Some(&s), |_| None);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["state"], "wrap_up");
        assert!(json.get("pause_reason").is_none(), "{json}");
    }

    #[test]
    fn held_counts_are_named_by_channel() {
        let s = agent_stats(AgentState::Busy);
        let v = AgentStateView::of(AgentId(7), "ann".into(), 2_000, Some(&s), |_| None);
        assert_eq!(
            v.held,
            Held {
                voice: 1,
                chat: 2,
                email: 3
            }
        );
        assert_eq!(v.in_state_ms, 500);
    }

    #[test]
    fn agent_unknown_to_the_router_is_logged_out_with_zeros() {
        let v = AgentStateView::of(AgentId(9), "bob".into(), 2_000, None, |_| None);
        assert_eq!(v.state, StateName::LoggedOut);
        assert_eq!((v.handled, v.talk_time_ms, v.no_answers), (0, 0, 0));
    }

    #[test]
    fn queue_unknown_to_the_router_shows_zeros_and_full_service_level() {
        let v = QueueStatsView::of(QueueId(2), "sales".into(), None);
        assert_eq!((v.waiting, v.offered, v.answered), (0, 0, 0));
        assert_eq!(v.service_level_pct, 100.0);
    }
}
