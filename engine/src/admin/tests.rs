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
