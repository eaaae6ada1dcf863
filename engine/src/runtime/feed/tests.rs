//! The admin model reaches the router: conversions, and a mirror that follows admin changes,
//! checked by driving a sans-IO router with the commands the feed produces (virtual time).

use super::*;
use crate::admin::Admin;
use crate::common::{Channel, InteractionId, SkillId, Strategy};
use crate::model::{
    AgentPatch, AgentProfilePatch, CreateAgent, MemberSettings, QueuePatch,
    QueueSettings as ModelQueue, RelaxStep as ModelRelax, SkillRequirement,
};
use crate::router::{Arrival, Output, Router, RouterConfig};
use crate::runtime::router_task::apply as apply_cmd;

fn agent(admin: &Admin, username: &str) -> AgentId {
    admin
        .create_agent(CreateAgent {
            username: username.to_owned(),
            password: None,
            password_confirmation: None,
            extension: None,
            sip_password: None,
            profile: crate::model::AgentProfile {
                first_name: "Test".into(),
                last_name: "Agent".into(),
                ..Default::default()
            },
        })
        .expect("valid agent")
        .agent
        .id
}

fn chat_queue(admin: &Admin) -> QueueId {
    admin
        .create_queue(ModelQueue {
            name: "sales chat".into(),
            channel: Channel::Chat,
            ..Default::default()
        })
        .expect("valid queue")
        .id
}

/// A router loaded from the admin's snapshot, plus the mirror and change feed that follow it.
struct Fed {
    router: Router,
    mirror: Mirror,
    events: Receiver<ConfigEvent>,
    now: u64,
}

impl Fed {
    fn new(admin: &Admin) -> Fed {
        let (snapshot, events) = admin.subscribe_with_snapshot();
        let mut router = Router::new(RouterConfig::default(), 1).unwrap();
        let mut mirror = Mirror::default();
        for cmd in load(&mut mirror, &snapshot) {
            apply_cmd(&mut router, 0, cmd).unwrap();
        }
        Fed {
            router,
            mirror,
            events,
            now: 0,
        }
    }

    /// Applies every admin change made so far.
    fn sync(&mut self) {
        while let Ok(ev) = self.events.try_recv() {
            for cmd in apply(&mut self.mirror, ev) {
                apply_cmd(&mut self.router, self.now, cmd).unwrap();
            }
        }
    }

    fn offers(&mut self) -> Vec<(InteractionId, AgentId)> {
        let mut out = Vec::new();
        while let Some(o) = self.router.poll_output() {
            if let Output::Offer {
                interaction, agent, ..
            } = o
            {
                out.push((interaction, agent));
            }
        }
        out
    }
}

#[test]
fn queue_settings_convert_seconds_and_overflow() {
    let q = Queue {
        id: QueueId(3),
        settings: ModelQueue {
            channel: Channel::Voice,
            strategy: Strategy::RingAll,
            ring_timeout_seconds: 12,
            wrap_up_seconds: 30,
            max_wait_seconds: Some(90),
            overflow_action: OverflowAction::Queue { queue: QueueId(4) },
            max_queue_length: Some(10),
            no_agents_action: NoAgentsAction::Overflow,
            auto_pause_after_no_answers: Some(3),
            reject_delay_seconds: 2,
            service_level_seconds: 20,
            priority: 7,
            ..Default::default()
        },
    };
    let s = queue_settings(&q);
    assert_eq!(s.strategy, Strategy::RingAll);
    assert_eq!(s.ring_timeout_ms, 12_000);
    assert_eq!(s.wrap_up_ms, 30_000);
    assert_eq!(s.max_wait_ms, Some(90_000));
    assert_eq!(s.on_max_wait, OverflowTarget::Queue(QueueId(4)));
    assert_eq!(s.on_full, OverflowTarget::Queue(QueueId(4)));
    assert_eq!(s.on_no_agents, Some(OverflowTarget::Queue(QueueId(4))));
    assert_eq!(s.max_length, Some(10));
    assert_eq!(s.max_no_answers, Some(3));
    assert_eq!(s.reject_delay_ms, 2_000);
    assert_eq!(s.priority, 7);
}

#[test]
fn per_skill_relax_steps_become_monotonic_queue_steps() {
    let q = Queue {
        id: QueueId(1),
        settings: ModelQueue {
            skill_requirements: vec![
                SkillRequirement {
                    skill: SkillId(1),
                    min_level: 80,
                    relax: vec![
                        ModelRelax {
                            after_seconds: 30,
                            min_level: 60,
                        },
                        ModelRelax {
                            after_seconds: 90,
                            min_level: 70,
                        },
                    ],
                },
                SkillRequirement {
                    skill: SkillId(2),
                    min_level: 50,
                    relax: vec![ModelRelax {
                        after_seconds: 60,
                        min_level: 40,
                    }],
                },
            ],
            ..Default::default()
        },
    };
    let steps: Vec<_> = queue_settings(&q)
        .relax_steps
        .iter()
        .map(|s| (s.after_ms, s.lower_by))
        .collect();
    // 30 s: skill 1 drops 20. 60 s: skill 2 drops 10, but never less than before. 90 s: same.
    assert_eq!(steps, vec![(30_000, 20), (60_000, 20), (90_000, 20)]);
    assert_eq!(
        queue_skill_requirements(&q).as_slice(),
        &[(SkillId(1), 80), (SkillId(2), 50)]
    );
}

#[test]
fn member_added_in_admin_makes_agent_receive_queue_offers() {
    let admin = Admin::in_memory_for_tests();
    let q = chat_queue(&admin);
    let a = agent(&admin, "ana");
    let mut fed = Fed::new(&admin);
    fed.router.handle_login(0, a).unwrap();
    fed.router
        .handle_arrival(0, Arrival::queued(InteractionId(1), Channel::Chat, q))
        .unwrap();
    assert!(fed.offers().is_empty(), "not a member yet");

    admin.set_member(q, a, MemberSettings::default()).unwrap();
    fed.sync();
    assert_eq!(fed.offers(), vec![(InteractionId(1), a)]);
}

#[test]
fn agent_disabled_in_admin_mid_shift_gets_nothing_more() {
    let admin = Admin::in_memory_for_tests();
    let q = chat_queue(&admin);
    let a = agent(&admin, "bo");
    admin.set_member(q, a, MemberSettings::default()).unwrap();
    let mut fed = Fed::new(&admin);
    fed.router.handle_login(0, a).unwrap();

    admin.set_disabled(a, true).unwrap();
    fed.sync();
    fed.router
        .handle_arrival(0, Arrival::queued(InteractionId(2), Channel::Chat, q))
        .unwrap();
    assert!(fed.offers().is_empty());

    admin.set_disabled(a, false).unwrap();
    fed.sync();
    assert_eq!(fed.offers(), vec![(InteractionId(2), a)]);
}

#[test]
fn capacity_change_in_admin_applies_while_running() {
    let admin = Admin::in_memory_for_tests();
    let q = chat_queue(&admin);
    let a = agent(&admin, "cy");
    admin.set_member(q, a, MemberSettings::default()).unwrap();
    let mut fed = Fed::new(&admin);
    fed.router.handle_login(0, a).unwrap();
    for i in 1..=2 {
        fed.router
            .handle_arrival(0, Arrival::queued(InteractionId(i), Channel::Chat, q))
            .unwrap();
    }
    assert_eq!(fed.offers().len(), 1, "default chat capacity is 1");

    let patch: AgentPatch = AgentPatch {
        profile: AgentProfilePatch {
            capacity: Some(serde_json::from_value(serde_json::json!({"chat": 2})).unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    admin.update_agent(a, patch).unwrap();
    fed.sync();
    assert_eq!(fed.offers(), vec![(InteractionId(2), a)]);
}

#[test]
fn member_removed_in_admin_stops_offers_from_that_queue() {
    let admin = Admin::in_memory_for_tests();
    let q = chat_queue(&admin);
    let a = agent(&admin, "di");
    admin.set_member(q, a, MemberSettings::default()).unwrap();
    let mut fed = Fed::new(&admin);
    fed.router.handle_login(0, a).unwrap();
    admin.remove_member(q, a).unwrap();
    fed.sync();
    fed.router
        .handle_arrival(0, Arrival::queued(InteractionId(3), Channel::Chat, q))
        .unwrap();
    assert!(fed.offers().is_empty());
}

#[test]
fn deleted_agent_is_logged_out_and_never_offered() {
    let admin = Admin::in_memory_for_tests();
    let q = chat_queue(&admin);
    let a = agent(&admin, "ed");
    admin.set_member(q, a, MemberSettings::default()).unwrap();
    let mut fed = Fed::new(&admin);
    fed.router.handle_login(0, a).unwrap();
    admin.delete_agent(a).unwrap();
    fed.sync();
    fed.router
        .handle_arrival(0, Arrival::queued(InteractionId(4), Channel::Chat, q))
        .unwrap();
    assert!(fed.offers().is_empty());
}

#[test]
fn queue_length_change_in_admin_reaches_router() {
    let admin = Admin::in_memory_for_tests();
    let q = chat_queue(&admin);
    let mut fed = Fed::new(&admin);
    admin
        .update_queue(
            q,
            QueuePatch {
                max_queue_length: Some(Some(1)),
                ..Default::default()
            },
        )
        .unwrap();
    fed.sync();
    for i in 5..=6 {
        fed.router
            .handle_arrival(0, Arrival::queued(InteractionId(i), Channel::Chat, q))
            .unwrap();
    }
    let overflowed = std::iter::from_fn(|| fed.router.poll_output()).any(
        |o| matches!(o, Output::Overflowed { interaction, .. } if interaction == InteractionId(6)),
    );
    assert!(overflowed, "the second arrival finds the queue full");
}
