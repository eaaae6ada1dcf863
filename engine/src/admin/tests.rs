use super::*;
use crate::store::SledStore;

pub(super) fn admin() -> Admin {
    Admin::in_memory_for_tests()
}

pub(super) fn agent_input(username: &str) -> CreateAgent {
    CreateAgent {
        username: username.to_owned(),
        profile: AgentProfile {
            first_name: "Åsa".into(),
            last_name: "O'Neil-Berg".into(),
            ..AgentProfile::default()
        },
        ..CreateAgent::default()
    }
}

fn rules_of(err: &AdminError) -> Vec<(String, Rule)> {
    match err {
        AdminError::Validation(v) => v.iter().map(|e| (e.field.clone(), e.rule)).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn sled_admin(dir: &std::path::Path) -> Admin {
    Admin::open(
        Arc::new(SledStore::open(dir).unwrap()),
        AdminOptions {
            hash_cost: HashCost::insecure_for_tests(),
            rng_seed: Some(1),
        },
    )
    .unwrap()
}

#[test]
fn create_agent_allocates_ids_and_default_extensions() {
    let a = admin();
    a.update_org_settings(OrgSettingsPatch {
        extension_prefix: Some("50143".into()),
        ..Default::default()
    })
    .unwrap();
    let first = a.create_agent(agent_input("anna")).unwrap();
    let second = a.create_agent(agent_input("bert")).unwrap();
    assert_eq!(first.agent.id, AgentId(1));
    assert_eq!(second.agent.id, AgentId(2));
    assert_eq!(first.agent.extension, "501431");
    assert_eq!(second.agent.extension, "501432");
}

#[test]
fn default_extension_is_prefix_followed_by_agent_id() {
    let a = admin();
    a.update_org_settings(OrgSettingsPatch {
        extension_prefix: Some("50143".into()),
        ..Default::default()
    })
    .unwrap();
    // Burn ids up to 1426 cheaply by moving the counter, as a restored data dir would.
    a.write().next.agent = 1427;
    let c = a.create_agent(agent_input("anna")).unwrap();
    assert_eq!(c.agent.id, AgentId(1427));
    assert_eq!(c.agent.extension, "501431427");
}

#[test]
fn generated_sip_password_is_returned_once_and_used_for_sip() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap();
    let pw = c.sip_password.clone().expect("generated");
    assert_eq!(pw.len(), 16);
    let creds = a.sip_credentials(&c.agent.extension).unwrap();
    assert_eq!(creds.password, pw);
    assert_eq!(creds.agent, c.agent.id);
    let json = serde_json::to_string(&a.agent(c.agent.id).unwrap()).unwrap();
    assert!(!json.contains(&pw), "sip password leaked: {json}");
}

#[test]
fn sip_password_set_by_hand_is_not_echoed() {
    let a = admin();
    let mut input = agent_input("anna");
    input.sip_password = Some("Secret-123".into());
    let c = a.create_agent(input).unwrap();
    assert_eq!(c.sip_password, None);
    assert_eq!(
        a.sip_credentials(&c.agent.extension).unwrap().password,
        "Secret-123"
    );
}

#[test]
fn password_hash_is_never_serialised() {
    let a = admin();
    let mut input = agent_input("anna");
    input.password = Some("Correct-Horse-7".into());
    let c = a.create_agent(input).unwrap();
    let json = serde_json::to_string(&c).unwrap();
    assert!(!json.contains("argon2"), "{json}");
    assert!(!json.contains("Correct-Horse-7"), "{json}");
    assert!(c.agent.has_password);
    assert!(c.agent.must_change_password);
}

#[test]
fn agent_is_found_by_username_and_extension() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    assert_eq!(a.agent_by_username("anna").unwrap().id, c.id);
    assert_eq!(a.agent_by_extension(&c.extension).unwrap().id, c.id);
    assert!(a.agent_by_username("nobody").is_none());
}

#[test]
fn duplicate_username_is_a_conflict() {
    let a = admin();
    a.create_agent(agent_input("anna")).unwrap();
    match a.create_agent(agent_input("anna")).unwrap_err() {
        AdminError::Conflict { field, rule, .. } => {
            assert_eq!(field, "username");
            assert_eq!(rule, rules::UNIQUE);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_extension_is_a_conflict() {
    let a = admin();
    let mut input = agent_input("anna");
    input.extension = Some("2".into());
    a.create_agent(input).unwrap();
    // Agent 2's default extension would be "2".
    match a.create_agent(agent_input("bert")).unwrap_err() {
        AdminError::Conflict { field, rule, .. } => {
            assert_eq!(field, "extension");
            assert_eq!(rule, rules::UNIQUE);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn patch_changes_only_given_fields() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let patch: AgentPatch =
        serde_json::from_str(r#"{"last_name":"Berg","voice":{"nat":"force_rport"}}"#).unwrap();
    let u = a.update_agent(c.id, patch).unwrap();
    assert_eq!(u.profile.last_name, "Berg");
    assert_eq!(u.profile.first_name, "Åsa");
    assert_eq!(u.profile.voice.nat, Nat::ForceRport);
    assert_eq!(u.profile.voice.context, "from-sip");
    assert_eq!(
        u.profile.voice.allowed_codecs,
        c.profile.voice.allowed_codecs
    );
}

#[test]
fn patch_null_clears_an_optional_field() {
    let a = admin();
    let mut input = agent_input("anna");
    input.profile.alias = Some("A".into());
    let c = a.create_agent(input).unwrap().agent;
    let patch: AgentPatch = serde_json::from_str(r#"{"alias":null}"#).unwrap();
    assert_eq!(a.update_agent(c.id, patch).unwrap().profile.alias, None);
}

#[test]
fn patch_extension_null_returns_to_default() {
    let a = admin();
    let mut input = agent_input("anna");
    input.extension = Some("777".into());
    let c = a.create_agent(input).unwrap().agent;
    assert_eq!(c.extension, "777");
    let patch: AgentPatch = serde_json::from_str(r#"{"extension":null}"#).unwrap();
    let u = a.update_agent(c.id, patch).unwrap();
    assert_eq!(u.extension, "1");
    assert!(a.agent_by_extension("777").is_none());
    assert_eq!(a.agent_by_extension("1").unwrap().id, c.id);
}

#[test]
fn patch_username_is_immutable() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let patch: AgentPatch = serde_json::from_str(r#"{"username":"other"}"#).unwrap();
    let err = a.update_agent(c.id, patch).unwrap_err();
    assert_eq!(rules_of(&err), vec![("username".into(), rules::IMMUTABLE)]);
    assert_eq!(a.agent(c.id).unwrap().username, "anna");
}

#[test]
fn patch_with_the_same_username_is_accepted() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let patch: AgentPatch = serde_json::from_str(r#"{"username":"anna"}"#).unwrap();
    a.update_agent(c.id, patch).unwrap();
}

#[test]
fn rejected_patch_changes_nothing() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let patch: AgentPatch =
        serde_json::from_str(r#"{"first_name":"Bo","capacity":{"chat":9}}"#).unwrap();
    let err = a.update_agent(c.id, patch).unwrap_err();
    assert_eq!(rules_of(&err), vec![("capacity.chat".into(), rules::RANGE)]);
    assert_eq!(a.agent(c.id).unwrap(), c);
}

#[test]
fn delete_agent_removes_it_and_its_memberships() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let q = a
        .create_queue(QueueSettings {
            name: "sales".into(),
            ..Default::default()
        })
        .unwrap();
    a.set_member(q.id, c.id, MemberSettings::default()).unwrap();
    a.delete_agent(c.id).unwrap();
    assert!(matches!(a.agent(c.id), Err(AdminError::NotFound { .. })));
    assert!(a.agent_by_username("anna").is_none());
    assert!(a.queue_members(q.id).unwrap().is_empty());
    assert_eq!(a.search_agents(&AgentQuery::default()).unwrap().total, 0);
}

#[test]
fn unknown_agent_is_not_found() {
    let a = admin();
    assert!(matches!(
        a.agent(AgentId(9)),
        Err(AdminError::NotFound { kind: "agent", .. })
    ));
    assert!(matches!(
        a.update_agent(AgentId(9), AgentPatch::default()),
        Err(AdminError::NotFound { .. })
    ));
    assert!(matches!(
        a.delete_agent(AgentId(9)),
        Err(AdminError::NotFound { .. })
    ));
}

#[test]
fn ids_are_never_reused_after_delete() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    a.delete_agent(c.id).unwrap();
    let d = a.create_agent(agent_input("anna")).unwrap().agent;
    assert_eq!(d.id, AgentId(2));
}

#[test]
fn everything_survives_reopen_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, queue, team) = {
        let a = sled_admin(dir.path());
        a.update_org_settings(OrgSettingsPatch {
            extension_prefix: Some("77".into()),
            ..Default::default()
        })
        .unwrap();
        let team = a
            .create_team(TeamSettings {
                name: "blue".into(),
                description: None,
            })
            .unwrap();
        let mut input = agent_input("anna");
        input.password = Some("Correct-Horse-7".into());
        input.profile.teams = vec![team.id];
        let agent = a.create_agent(input).unwrap().agent;
        let queue = a
            .create_queue(QueueSettings {
                name: "sales".into(),
                ..Default::default()
            })
            .unwrap();
        a.set_member(
            queue.id,
            agent.id,
            MemberSettings {
                penalty: 3,
                order: 1,
            },
        )
        .unwrap();
        a.create_number(
            "+4681234567",
            NumberSettings {
                target: Some(NumberTarget::Queue { queue: queue.id }),
                description: None,
            },
        )
        .unwrap();
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3];
        a.set_avatar(agent.id, &png).unwrap();
        (a.agent(agent.id).unwrap(), queue, team)
    };
    let a = sled_admin(dir.path());
    assert_eq!(a.agent(agent.id).unwrap(), agent);
    assert_eq!(a.queue(queue.id).unwrap(), queue);
    assert_eq!(a.team(team.id).unwrap(), team);
    assert_eq!(a.org_settings().extension_prefix, "77");
    assert_eq!(a.queue_members(queue.id).unwrap()[0].settings.penalty, 3);
    assert_eq!(
        a.route_number("+4681234567"),
        Some(NumberTarget::Queue { queue: queue.id })
    );
    assert_eq!(a.avatar(agent.id).unwrap().0, ImageType::Png);
    assert!(a.verify_login("anna", "Correct-Horse-7").is_ok());
    // Counters survive too: the next agent does not reuse id 1.
    assert_eq!(
        a.create_agent(agent_input("bert")).unwrap().agent.id,
        AgentId(2)
    );
}

#[test]
fn subscribers_see_changes_in_order() {
    let a = admin();
    let rx = a.subscribe();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let q = a
        .create_queue(QueueSettings {
            name: "sales".into(),
            ..Default::default()
        })
        .unwrap();
    a.set_member(q.id, c.id, MemberSettings::default()).unwrap();
    a.delete_agent(c.id).unwrap();
    let events: Vec<ConfigEvent> = rx.try_iter().collect();
    assert!(matches!(&events[0], ConfigEvent::AgentUpserted(x) if x.id == c.id));
    assert!(matches!(&events[1], ConfigEvent::QueueUpserted(x) if x.id == q.id));
    assert!(matches!(&events[2], ConfigEvent::MemberUpserted(m) if m.agent == c.id));
    assert_eq!(
        events[3],
        ConfigEvent::MemberRemoved {
            queue: q.id,
            agent: c.id
        }
    );
    assert_eq!(events[4], ConfigEvent::AgentDeleted(c.id));
    assert_eq!(events.len(), 5);
}

#[test]
fn snapshot_and_subscription_miss_nothing() {
    let a = admin();
    a.create_agent(agent_input("anna")).unwrap();
    let (snap, rx) = a.subscribe_with_snapshot();
    a.create_agent(agent_input("bert")).unwrap();
    assert_eq!(snap.agents.len(), 1);
    assert_eq!(rx.try_iter().count(), 1);
}

#[test]
fn rejected_writes_publish_nothing() {
    let a = admin();
    let rx = a.subscribe();
    let _ = a.create_agent(agent_input("UPPER"));
    assert_eq!(rx.try_iter().count(), 0);
}

// ------------------------------------------------ rules needing configuration

fn conflict_of(err: AdminError) -> (String, Rule) {
    match err {
        AdminError::Conflict { field, rule, .. } => (field, rule),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

mod team_reference_exists {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let t = a
            .create_team(TeamSettings {
                name: "blue".into(),
                description: None,
            })
            .unwrap();
        let mut input = agent_input("anna");
        input.profile.teams = vec![t.id];
        assert_eq!(
            a.create_agent(input).unwrap().agent.profile.teams,
            vec![t.id]
        );
    }
    #[test]
    fn rejected() {
        let a = admin();
        let mut input = agent_input("anna");
        input.profile.teams = vec![TeamId(9)];
        let err = a.create_agent(input).unwrap_err();
        assert_eq!(rules_of(&err), vec![("teams[0]".into(), rules::EXISTS)]);
    }
}

mod skill_reference_exists {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let s = a
            .create_skill(SkillSettings {
                name: "french".into(),
                description: None,
            })
            .unwrap();
        let mut input = agent_input("anna");
        input.profile.skills = vec![AgentSkill {
            skill: s.id,
            level: 80,
        }];
        a.create_agent(input).unwrap();
    }
    #[test]
    fn rejected() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        let patch: AgentPatch =
            serde_json::from_str(r#"{"skills":[{"skill":4,"level":10}]}"#).unwrap();
        let err = a.update_agent(c.id, patch).unwrap_err();
        assert_eq!(
            rules_of(&err),
            vec![("skills[0].skill".into(), rules::EXISTS)]
        );
    }
}

mod campaign_reference_exists {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let c = a
            .create_campaign(CampaignSettings {
                name: "spring".into(),
                ..Default::default()
            })
            .unwrap();
        let mut input = agent_input("anna");
        input.profile.campaigns = vec![CampaignAssignment {
            campaign: c.id,
            priority: 1,
        }];
        input.profile.toolbar.recall_me_campaign = Some(c.id);
        a.create_agent(input).unwrap();
    }
    #[test]
    fn rejected() {
        let a = admin();
        let mut input = agent_input("anna");
        input.profile.toolbar.recall_me_campaign = Some(CampaignId(3));
        let err = a.create_agent(input).unwrap_err();
        assert_eq!(
            rules_of(&err),
            vec![("toolbar.recall_me_campaign".into(), rules::EXISTS)]
        );
    }
}

mod record_name_unique {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        a.create_team(TeamSettings {
            name: "Blue".into(),
            description: None,
        })
        .unwrap();
        a.create_team(TeamSettings {
            name: "Green".into(),
            description: None,
        })
        .unwrap();
    }
    #[test]
    fn rejected() {
        let a = admin();
        a.create_team(TeamSettings {
            name: "Blue".into(),
            description: None,
        })
        .unwrap();
        let err = a
            .create_team(TeamSettings {
                name: "blue".into(),
                description: None,
            })
            .unwrap_err();
        assert_eq!(conflict_of(err), ("name".into(), rules::UNIQUE));
    }
}

mod delete_in_use_team {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let t = a
            .create_team(TeamSettings {
                name: "blue".into(),
                description: None,
            })
            .unwrap();
        a.delete_team(t.id).unwrap();
        assert!(a.teams().is_empty());
    }
    #[test]
    fn rejected() {
        let a = admin();
        let t = a
            .create_team(TeamSettings {
                name: "blue".into(),
                description: None,
            })
            .unwrap();
        let mut input = agent_input("anna");
        input.profile.teams = vec![t.id];
        a.create_agent(input).unwrap();
        assert_eq!(
            conflict_of(a.delete_team(t.id).unwrap_err()),
            ("id".into(), RULE_IN_USE)
        );
    }
}

fn voice_queue(a: &Admin, name: &str) -> Queue {
    a.create_queue(QueueSettings {
        name: name.into(),
        ..Default::default()
    })
    .unwrap()
}

mod queue_overflow_target_exists {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let q1 = voice_queue(&a, "one");
        let q2 = a
            .create_queue(QueueSettings {
                name: "two".into(),
                overflow_action: OverflowAction::Queue { queue: q1.id },
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            a.queue(q2.id).unwrap().settings.overflow_action,
            OverflowAction::Queue { queue: q1.id }
        );
    }
    #[test]
    fn rejected() {
        let a = admin();
        let err = a
            .create_queue(QueueSettings {
                name: "two".into(),
                overflow_action: OverflowAction::Queue { queue: QueueId(7) },
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(
            rules_of(&err),
            vec![("overflow_action.queue".into(), rules::EXISTS)]
        );
    }
}

mod queue_overflow_same_channel {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let q1 = voice_queue(&a, "one");
        let q2 = voice_queue(&a, "two");
        let patch: QueuePatch = serde_json::from_str(&format!(
            r#"{{"overflow_action":{{"type":"queue","queue":{}}}}}"#,
            q1.id
        ))
        .unwrap();
        a.update_queue(q2.id, patch).unwrap();
    }
    #[test]
    fn rejected() {
        let a = admin();
        let chat = a
            .create_queue(QueueSettings {
                name: "chat".into(),
                channel: crate::common::Channel::Chat,
                ..Default::default()
            })
            .unwrap();
        let err = a
            .create_queue(QueueSettings {
                name: "voice".into(),
                overflow_action: OverflowAction::Queue { queue: chat.id },
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(
            rules_of(&err),
            vec![("overflow_action.queue".into(), rules::CONSISTENCY)]
        );
    }
}

#[test]
fn queue_update_cannot_overflow_into_itself() {
    let a = admin();
    let q = voice_queue(&a, "one");
    let patch = QueuePatch {
        overflow_action: Some(OverflowAction::Queue { queue: q.id }),
        ..Default::default()
    };
    let err = a.update_queue(q.id, patch).unwrap_err();
    assert_eq!(
        rules_of(&err),
        vec![("overflow_action.queue".into(), rules::CONSISTENCY)]
    );
}

#[test]
fn queue_delete_is_refused_while_a_number_routes_to_it() {
    let a = admin();
    let q = voice_queue(&a, "one");
    a.create_number(
        "1000",
        NumberSettings {
            target: Some(NumberTarget::Queue { queue: q.id }),
            description: None,
        },
    )
    .unwrap();
    assert_eq!(
        conflict_of(a.delete_queue(q.id).unwrap_err()),
        ("id".into(), RULE_IN_USE)
    );
    a.delete_number("1000").unwrap();
    a.delete_queue(q.id).unwrap();
}

mod number_target_exists {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        let n = a
            .create_number(
                "+61291234567",
                NumberSettings {
                    target: Some(NumberTarget::Agent { agent: c.id }),
                    description: Some("Anna's DID".into()),
                },
            )
            .unwrap();
        assert_eq!(
            a.route_number(&n.number),
            Some(NumberTarget::Agent { agent: c.id })
        );
    }
    #[test]
    fn rejected() {
        let a = admin();
        let err = a
            .create_number(
                "+61291234567",
                NumberSettings {
                    target: Some(NumberTarget::Agent { agent: AgentId(5) }),
                    description: None,
                },
            )
            .unwrap_err();
        assert_eq!(rules_of(&err), vec![("target.agent".into(), rules::EXISTS)]);
    }
}

mod number_target_queue_is_voice {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let q = voice_queue(&a, "one");
        a.create_number(
            "1000",
            NumberSettings {
                target: Some(NumberTarget::Queue { queue: q.id }),
                description: None,
            },
        )
        .unwrap();
    }
    #[test]
    fn rejected() {
        let a = admin();
        let q = a
            .create_queue(QueueSettings {
                name: "mail".into(),
                channel: crate::common::Channel::Email,
                ..Default::default()
            })
            .unwrap();
        let err = a
            .create_number(
                "1000",
                NumberSettings {
                    target: Some(NumberTarget::Queue { queue: q.id }),
                    description: None,
                },
            )
            .unwrap_err();
        assert_eq!(
            rules_of(&err),
            vec![("target.queue".into(), rules::CONSISTENCY)]
        );
    }
}

#[test]
fn duplicate_number_is_a_conflict() {
    let a = admin();
    let q = voice_queue(&a, "one");
    let s = NumberSettings {
        target: Some(NumberTarget::Queue { queue: q.id }),
        description: None,
    };
    a.create_number("1000", s.clone()).unwrap();
    assert_eq!(
        conflict_of(a.create_number("1000", s).unwrap_err()),
        ("number".into(), rules::UNIQUE)
    );
}

#[test]
fn agent_delete_is_refused_while_a_number_routes_to_it() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    a.create_number(
        "1000",
        NumberSettings {
            target: Some(NumberTarget::Agent { agent: c.id }),
            description: None,
        },
    )
    .unwrap();
    assert_eq!(
        conflict_of(a.delete_agent(c.id).unwrap_err()),
        ("id".into(), RULE_IN_USE)
    );
}

#[test]
fn membership_needs_an_existing_queue_and_agent() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    assert!(matches!(
        a.set_member(QueueId(1), c.id, MemberSettings::default()),
        Err(AdminError::NotFound { kind: "queue", .. })
    ));
    let q = voice_queue(&a, "one");
    assert!(matches!(
        a.set_member(q.id, AgentId(99), MemberSettings::default()),
        Err(AdminError::NotFound { kind: "agent", .. })
    ));
}

#[test]
fn membership_update_changes_only_given_fields() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let q = voice_queue(&a, "one");
    a.set_member(
        q.id,
        c.id,
        MemberSettings {
            penalty: 2,
            order: 7,
        },
    )
    .unwrap();
    let m = a
        .update_member(
            q.id,
            c.id,
            MemberPatch {
                penalty: Some(5),
                order: None,
            },
        )
        .unwrap();
    assert_eq!(
        m.settings,
        MemberSettings {
            penalty: 5,
            order: 7
        }
    );
    assert_eq!(a.agent_memberships(c.id).unwrap(), vec![m]);
}

#[test]
fn deleting_a_queue_removes_its_memberships() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let q = voice_queue(&a, "one");
    a.set_member(q.id, c.id, MemberSettings::default()).unwrap();
    a.delete_queue(q.id).unwrap();
    assert!(a.agent_memberships(c.id).unwrap().is_empty());
}

mod password_confirmation {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let mut input = agent_input("anna");
        input.password = Some("Correct-Horse-7".into());
        input.password_confirmation = Some("Correct-Horse-7".into());
        a.create_agent(input).unwrap();
    }
    #[test]
    fn rejected() {
        let a = admin();
        let mut input = agent_input("anna");
        input.password = Some("Correct-Horse-7".into());
        input.password_confirmation = Some("Correct-Horse-8".into());
        let err = a.create_agent(input).unwrap_err();
        assert_eq!(
            rules_of(&err),
            vec![("password_confirmation".into(), rules::CONFIRMATION)]
        );
    }
}

mod password_checked_against_org_policy {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        a.set_password(c.id, "Tr0ub4dor&3x").unwrap();
    }
    #[test]
    fn rejected() {
        let a = admin();
        a.update_org_settings(OrgSettingsPatch {
            password_policy: Some(PasswordPolicyPatch {
                min_length: Some(20),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        let err = a.set_password(c.id, "Tr0ub4dor&3x").unwrap_err();
        assert_eq!(rules_of(&err), vec![("password".into(), rules::LENGTH)]);
    }
}

#[test]
fn admin_reset_returns_a_compliant_password_and_forces_a_change() {
    let a = admin();
    a.update_org_settings(OrgSettingsPatch {
        password_policy: Some(PasswordPolicyPatch {
            min_length: Some(24),
            require_symbol: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    assert!(!c.has_password);
    let pw = a.reset_password(c.id).unwrap();
    a.check_password_policy("anna", &pw).unwrap();
    assert!(pw.len() >= 24);
    let agent = a.verify_login("anna", &pw).unwrap();
    assert!(agent.must_change_password);
    assert!(agent.password_reset_at.is_some());
}

#[test]
fn changing_own_password_clears_must_change() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let pw = a.reset_password(c.id).unwrap();
    let err = a
        .change_own_password(c.id, "wrong", "New-Passw0rd!")
        .unwrap_err();
    assert_eq!(
        rules_of(&err),
        vec![("current_password".into(), rules::WRONG_PASSWORD)]
    );
    let agent = a.change_own_password(c.id, &pw, "New-Passw0rd!").unwrap();
    assert!(!agent.must_change_password);
    assert!(a.verify_login("anna", "New-Passw0rd!").is_ok());
    assert!(matches!(
        a.verify_login("anna", &pw),
        Err(LoginError::InvalidCredentials)
    ));
}

#[test]
fn failed_logins_lock_the_account_at_the_threshold() {
    let a = admin();
    a.update_org_settings(OrgSettingsPatch {
        lockout_threshold: Some(3),
        ..Default::default()
    })
    .unwrap();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let pw = a.reset_password(c.id).unwrap();
    for _ in 0..2 {
        assert!(matches!(
            a.verify_login("anna", "nope"),
            Err(LoginError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        a.verify_login("anna", "nope"),
        Err(LoginError::Locked)
    ));
    assert!(matches!(
        a.verify_login("anna", &pw),
        Err(LoginError::Locked)
    ));
    let unlocked = a.unlock(c.id).unwrap();
    assert!(!unlocked.locked);
    assert_eq!(unlocked.failed_logins, 0);
    assert!(a.verify_login("anna", &pw).is_ok());
}

#[test]
fn a_successful_login_resets_the_failure_count() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let pw = a.reset_password(c.id).unwrap();
    let _ = a.verify_login("anna", "nope");
    assert_eq!(a.agent(c.id).unwrap().failed_logins, 1);
    a.verify_login("anna", &pw).unwrap();
    assert_eq!(a.agent(c.id).unwrap().failed_logins, 0);
}

#[test]
fn disabled_agents_cannot_log_in_until_enabled() {
    let a = admin();
    let c = a.create_agent(agent_input("anna")).unwrap().agent;
    let pw = a.reset_password(c.id).unwrap();
    assert!(a.set_disabled(c.id, true).unwrap().profile.disabled);
    assert!(matches!(
        a.verify_login("anna", &pw),
        Err(LoginError::Disabled)
    ));
    a.set_disabled(c.id, false).unwrap();
    assert!(a.verify_login("anna", &pw).is_ok());
}

#[test]
fn unknown_user_and_missing_password_are_invalid_credentials() {
    let a = admin();
    a.create_agent(agent_input("anna")).unwrap();
    assert!(matches!(
        a.verify_login("nobody", "x"),
        Err(LoginError::InvalidCredentials)
    ));
    assert!(matches!(
        a.verify_login("anna", ""),
        Err(LoginError::InvalidCredentials)
    ));
}

mod permissions_replace {
    use super::*;
    #[test]
    fn accepted() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        let mut p = Permissions {
            sections: vec!["reports".into()],
            ..Permissions::default()
        };
        p.toolbar.manual_call = true;
        assert_eq!(a.replace_permissions(c.id, p.clone()).unwrap(), p);
        assert_eq!(a.permissions(c.id).unwrap(), p);
    }
    #[test]
    fn rejected() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        let p = Permissions {
            plugins: vec!["Bad Plugin".into()],
            ..Permissions::default()
        };
        let err = a.replace_permissions(c.id, p).unwrap_err();
        assert_eq!(rules_of(&err), vec![("plugins[0]".into(), rules::CHARSET)]);
    }
}

mod avatar_content {
    use super::*;
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0];
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10];

    #[test]
    fn accepted_png() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        let info = a.set_avatar(c.id, PNG).unwrap();
        assert_eq!(info.media_type, ImageType::Png);
        assert_eq!(a.avatar(c.id).unwrap(), (ImageType::Png, PNG.to_vec()));
    }

    #[test]
    fn accepted_jpeg() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        assert_eq!(
            a.set_avatar(c.id, JPEG).unwrap().media_type,
            ImageType::Jpeg
        );
        assert_eq!(
            a.agent(c.id).unwrap().avatar.unwrap().size,
            JPEG.len() as u32
        );
    }

    #[test]
    fn rejected_gif_even_if_named_png() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        assert!(matches!(
            a.set_avatar(c.id, b"GIF89a\x01\x00"),
            Err(AdminError::UnsupportedMedia)
        ));
        assert!(a.agent(c.id).unwrap().avatar.is_none());
    }

    #[test]
    fn accepted_at_exactly_8_mib() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        let mut big = PNG.to_vec();
        big.resize(AVATAR_MAX_BYTES, 0);
        a.set_avatar(c.id, &big).unwrap();
    }

    #[test]
    fn rejected_above_8_mib() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        let mut big = PNG.to_vec();
        big.resize(AVATAR_MAX_BYTES + 1, 0);
        assert!(matches!(
            a.set_avatar(c.id, &big),
            Err(AdminError::TooLarge { .. })
        ));
    }

    #[test]
    fn deleted_avatar_is_gone() {
        let a = admin();
        let c = a.create_agent(agent_input("anna")).unwrap().agent;
        a.set_avatar(c.id, PNG).unwrap();
        a.delete_avatar(c.id).unwrap();
        assert!(matches!(a.avatar(c.id), Err(AdminError::NotFound { .. })));
    }
}

mod search_query_limit {
    use super::*;
    #[test]
    fn accepted() {
        let q = AgentQuery {
            limit: MAX_LIMIT,
            ..Default::default()
        };
        admin().search_agents(&q).unwrap();
    }
    #[test]
    fn rejected() {
        let q = AgentQuery {
            limit: 0,
            ..Default::default()
        };
        let err = admin().search_agents(&q).unwrap_err();
        assert_eq!(rules_of(&err), vec![("limit".into(), rules::RANGE)]);
    }
}

mod search_query_agent_id_digits {
    use super::*;
    #[test]
    fn accepted() {
        let q = AgentQuery {
            agent_id: Some("14".into()),
            ..Default::default()
        };
        admin().search_agents(&q).unwrap();
    }
    #[test]
    fn rejected() {
        let q = AgentQuery {
            agent_id: Some("1a".into()),
            ..Default::default()
        };
        let err = admin().search_agents(&q).unwrap_err();
        assert_eq!(rules_of(&err), vec![("agent_id".into(), rules::DIGITS)]);
    }
}

#[test]
fn org_settings_update_is_validated_and_published() {
    let a = admin();
    let rx = a.subscribe();
    let err = a
        .update_org_settings(OrgSettingsPatch {
            extension_prefix: Some("abc".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        rules_of(&err),
        vec![("extension_prefix".into(), rules::DIGITS)]
    );
    let org = a
        .update_org_settings(OrgSettingsPatch {
            pause_reason_required: Some(true),
            ..Default::default()
        })
        .unwrap();
    assert!(org.pause_reason_required);
    assert_eq!(
        rx.try_iter().collect::<Vec<_>>(),
        vec![ConfigEvent::OrgSettingsChanged(Arc::new(org))]
    );
}

#[test]
fn pause_reasons_and_campaigns_crud() {
    let a = admin();
    let p = a
        .create_pause_reason(PauseReasonSettings {
            name: "Lunch".into(),
            paid: false,
            max_duration_seconds: Some(1800),
        })
        .unwrap();
    let p = a
        .update_pause_reason(
            p.id,
            PauseReasonPatch {
                paid: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(p.settings.paid);
    assert_eq!(p.settings.name, "Lunch");
    assert_eq!(a.pause_reasons(), vec![p.clone()]);
    a.delete_pause_reason(p.id).unwrap();
    assert!(matches!(
        a.pause_reason(p.id),
        Err(AdminError::NotFound { .. })
    ));
    let c = a
        .create_campaign(CampaignSettings {
            name: "spring".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(a.campaign(c.id).unwrap(), c);
}

// ------------------------------------------- search vs a naive filter (proptest)

mod search_model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Spec {
        username: String,
        first: &'static str,
        last: &'static str,
        cli: Option<&'static str>,
        tz: &'static str,
        login_enabled: bool,
        disabled: bool,
        delete: bool,
        rename: Option<&'static str>,
    }

    const FIRSTS: &[&str] = &["Anna", "anders", "Åsa", "åke", "Bo", "bob", "Zoë"];
    const LASTS: &[&str] = &["Berg", "berglund", "Öst", "O'Neil", "Ng"];
    const CLIS: &[Option<&str>] = &[None, Some("0811"), Some("0822"), Some("+4611")];
    const TZS: &[&str] = &["UTC", "Europe/Stockholm", "Australia/Sydney"];

    fn spec() -> impl Strategy<Value = Spec> {
        (
            "[ab1._]{2,5}",
            prop::sample::select(FIRSTS),
            prop::sample::select(LASTS),
            prop::sample::select(CLIS),
            prop::sample::select(TZS),
            any::<bool>(),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.15),
            prop::option::weighted(0.3, prop::sample::select(LASTS)),
        )
            .prop_map(
                |(username, first, last, cli, tz, login_enabled, disabled, delete, rename)| Spec {
                    username,
                    first,
                    last,
                    cli,
                    tz,
                    login_enabled,
                    disabled,
                    delete,
                    rename,
                },
            )
    }

    fn opt(s: &'static str) -> impl Strategy<Value = Option<String>> {
        prop::option::weighted(0.3, s).prop_map(|o| o.map(|s: String| s))
    }

    fn query() -> impl Strategy<Value = AgentQuery> {
        (
            (
                opt("[ab1._]{0,2}"),
                opt("[aAåÅbBz]{0,2}"),
                opt("[bBöÖo]{0,2}"),
            ),
            (
                opt("[ab]{0,2}"),
                opt("[1-3]{0,2}"),
                prop::option::weighted(0.2, prop::sample::select(&CLIS[1..])),
            ),
            prop::sample::select(
                &[
                    StatusFilter::All,
                    StatusFilter::Active,
                    StatusFilter::Inactive,
                ][..],
            ),
            prop::sample::select(
                &[
                    SortKey::Id,
                    SortKey::Username,
                    SortKey::FirstName,
                    SortKey::LastName,
                    SortKey::Cli,
                    SortKey::Timezone,
                ][..],
            ),
            prop::sample::select(&[SortOrder::Asc, SortOrder::Desc][..]),
            0usize..40,
            1usize..40,
        )
            .prop_map(
                |(
                    (q, first_name, last_name),
                    (username, agent_id, cli),
                    status,
                    sort,
                    order,
                    offset,
                    limit,
                )| {
                    AgentQuery {
                        q,
                        first_name,
                        last_name,
                        username,
                        agent_id,
                        cli: cli.flatten().map(str::to_owned),
                        status,
                        sort,
                        order,
                        offset,
                        limit,
                    }
                },
            )
    }

    /// The naive reference: filter every agent, sort the lot, slice the page.
    fn naive(agents: &[Agent], q: &AgentQuery) -> AgentPage {
        let lower = |s: &Option<String>| {
            s.clone()
                .filter(|s| !s.is_empty())
                .map(|s| s.to_lowercase())
        };
        let (qq, first, last, user) = (
            lower(&q.q),
            lower(&q.first_name),
            lower(&q.last_name),
            lower(&q.username),
        );
        let mut hits: Vec<&Agent> = agents
            .iter()
            .filter(|a| {
                let id = a.id.0.to_string();
                let active = a.profile.login_enabled && !a.profile.disabled;
                (match q.status {
                    StatusFilter::All => true,
                    StatusFilter::Active => active,
                    StatusFilter::Inactive => !active,
                }) && qq
                    .as_ref()
                    .is_none_or(|s| id.contains(s.as_str()) || a.username.contains(s.as_str()))
                    && first
                        .as_ref()
                        .is_none_or(|p| a.profile.first_name.to_lowercase().starts_with(p.as_str()))
                    && last
                        .as_ref()
                        .is_none_or(|p| a.profile.last_name.to_lowercase().starts_with(p.as_str()))
                    && user
                        .as_ref()
                        .is_none_or(|p| a.username.starts_with(p.as_str()))
                    && q.agent_id
                        .as_ref()
                        .filter(|s| !s.is_empty())
                        .is_none_or(|p| id.starts_with(p.as_str()))
                    && q.cli
                        .as_ref()
                        .filter(|s| !s.is_empty())
                        .is_none_or(|c| a.profile.cli.as_ref() == Some(c))
            })
            .collect();
        hits.sort_by(|a, b| {
            let o = match q.sort {
                SortKey::Id => std::cmp::Ordering::Equal,
                SortKey::Username => a.username.cmp(&b.username),
                SortKey::FirstName => a
                    .profile
                    .first_name
                    .to_lowercase()
                    .cmp(&b.profile.first_name.to_lowercase()),
                SortKey::LastName => a
                    .profile
                    .last_name
                    .to_lowercase()
                    .cmp(&b.profile.last_name.to_lowercase()),
                SortKey::Cli => a.profile.cli.cmp(&b.profile.cli),
                SortKey::Timezone => a.profile.timezone.cmp(&b.profile.timezone),
            }
            .then(a.id.cmp(&b.id));
            if q.order == SortOrder::Desc {
                o.reverse()
            } else {
                o
            }
        });
        AgentPage {
            total: hits.len(),
            offset: q.offset,
            limit: q.limit,
            items: hits
                .iter()
                .skip(q.offset)
                .take(q.limit)
                .map(|a| AgentSummary::of(a))
                .collect(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn search_equals_a_naive_filter(
            specs in prop::collection::vec(spec(), 0..30),
            queries in prop::collection::vec(query(), 1..8),
        ) {
            let a = admin();
            for s in &specs {
                let mut input = agent_input(&s.username);
                input.profile.first_name = s.first.into();
                input.profile.last_name = s.last.into();
                input.profile.cli = s.cli.map(str::to_owned);
                input.profile.timezone = s.tz.into();
                input.profile.login_enabled = s.login_enabled;
                input.profile.disabled = s.disabled;
                // Duplicate usernames are refused; the model only holds what was accepted.
                if let Ok(c) = a.create_agent(input) {
                    if let Some(last) = s.rename {
                        let patch = AgentPatch {
                            profile: AgentProfilePatch {
                                last_name: Some(last.into()),
                                cli: Some(None),
                                ..Default::default()
                            },
                            ..Default::default()
                        };
                        a.update_agent(c.agent.id, patch).unwrap();
                    }
                    if s.delete {
                        a.delete_agent(c.agent.id).unwrap();
                    }
                }
            }
            let all = a.snapshot().agents;
            for q in &queries {
                prop_assert_eq!(a.search_agents(q).unwrap(), naive(&all, q));
            }
        }
    }
}
