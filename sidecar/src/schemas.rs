//! Component schemas of the OpenAPI document, derived from the engine's model types.
//!
//! Owns: the schema of every request and response body. Schemas are not written by hand: each
//! comes from a real value of the model type (its default, or an example filled in here),
//! serialized, then probed through the type's own `Deserialize`: a `null` leaf is retried as a
//! string, an integer, a boolean and a date-time to learn its type, and a string leaf is
//! retried with a nonsense value so serde's "unknown variant, expected one of ..." reveals the
//! enumeration's values. So field names, JSON types and enum values are those of the code; a
//! unit test checks every example still deserializes. Does not own: validation rules (ranges,
//! patterns), which the engine reports as problems at run time.

use acd_engine::admin::{
    AgentPage, AgentQuery, AgentSummary, CreatedAgent, PromptInfo, PromptSource,
};
use acd_engine::common::{AgentId, CampaignId, QueueId, SkillId, TeamId};
use acd_engine::model::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// How a schema is used: responses list every non-null field as required; requests list only
/// the fields the service insists on.
enum Use {
    Response,
    Request(&'static [&'static str]),
}

/// The body of `PUT /agents/{id}/password`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetPassword {
    /// The new password, checked against the organisation's policy.
    pub(crate) password: String,
}

/// The body of `POST /agents/{id}/password/reset`'s response.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub(crate) struct GeneratedPassword {
    /// The generated password, shown this once.
    pub(crate) password: String,
}

fn example_agent() -> Agent {
    let mut profile = AgentProfile::default();
    profile.skills.push(AgentSkill {
        skill: SkillId(1),
        level: 50,
    });
    profile.teams.push(TeamId(1));
    profile.campaigns.push(CampaignAssignment {
        campaign: CampaignId(1),
        priority: 1,
    });
    profile.permissions.sections.push("contacts".into());
    profile.permissions.plugins.push("crm".into());
    Agent {
        id: AgentId(1427),
        username: "jdoe".into(),
        extension: "501431427".into(),
        profile,
        locked: false,
        failed_logins: 0,
        has_password: true,
        must_change_password: true,
        password_reset_at: None,
        avatar: Some(AvatarInfo {
            media_type: ImageType::Png,
            size: 1024,
        }),
    }
}

fn example_queue() -> Queue {
    let mut settings = QueueSettings {
        name: "support".into(),
        ..QueueSettings::default()
    };
    settings.skill_requirements.push(SkillRequirement {
        skill: SkillId(1),
        min_level: 50,
        relax: vec![RelaxStep {
            after_seconds: 30,
            min_level: 20,
        }],
    });
    Queue {
        id: QueueId(1),
        settings,
    }
}

fn example_number() -> Number {
    Number {
        number: "+4612345678".into(),
        settings: NumberSettings {
            target: Some(NumberTarget::Queue { queue: QueueId(1) }),
            description: None,
        },
    }
}

/// `components.schemas`.
pub(crate) fn components() -> Value {
    let agent = example_agent();
    let queue = example_queue();
    let mut s = Map::new();
    let mut add = |name: &str, schema: Value| {
        s.insert(name.to_owned(), schema);
    };
    add("Agent", schema(&agent, Use::Response));
    // CreatedAgent = the agent, flattened, plus the generated SIP password (shown once).
    let created = CreatedAgent {
        agent: agent.clone(),
        sip_password: Some("generated-once".into()),
    };
    let mut created_schema = schema(&created.agent, Use::Response);
    if let Some(Value::Object(props)) = created_schema.get_mut("properties") {
        props.insert(
            "sip_password".into(),
            json!({"type": "string", "description": "Generated SIP password, shown this once; absent if one was given."}),
        );
    }
    debug_assert!(serde_json::to_value(&created).is_ok_and(|v| v.get("sip_password").is_some()));
    add("CreatedAgent", created_schema);
    let create = CreateAgent {
        username: "jdoe".into(),
        password: Some("Secret-123".into()),
        password_confirmation: Some("Secret-123".into()),
        extension: Some("5011".into()),
        sip_password: Some("sip-secret".into()),
        profile: agent.profile.clone(),
    };
    add("CreateAgent", schema(&create, Use::Request(&["username"])));
    add(
        "AgentPatch",
        schema(
            &AgentPatch {
                username: None,
                extension: Some(Some("5011".into())),
                sip_password: Some("sip-secret".into()),
                profile: AgentProfilePatch::default(),
            },
            Use::Request(&[]),
        )
        .pipe(|mut p| {
            // Every profile field may be given in a patch; take them from the profile schema.
            let profile = schema(&agent.profile, Use::Request(&[]));
            if let (Some(Value::Object(props)), Some(Value::Object(more))) =
                (p.get_mut("properties"), profile.get("properties"))
            {
                props.insert(
                    "username".into(),
                    json!({"type": "string",
                    "description": "Must equal the current username (it cannot change)."}),
                );
                for (k, v) in more {
                    props.insert(k.clone(), v.clone());
                }
            }
            p
        }),
    );
    add(
        "AgentSummary",
        schema(&AgentSummary::of(&agent), Use::Response),
    );
    add(
        "AgentPage",
        schema(
            &AgentPage {
                total: 1,
                offset: 0,
                limit: AgentQuery::default().limit,
                items: vec![AgentSummary::of(&agent)],
            },
            Use::Response,
        ),
    );
    add(
        "Permissions",
        schema(&agent.profile.permissions, Use::Response),
    );
    add(
        "AvatarInfo",
        schema(
            &AvatarInfo {
                media_type: ImageType::Png,
                size: 1,
            },
            Use::Response,
        ),
    );
    add(
        "PromptInfo",
        schema(
            &PromptInfo {
                name: "welcome".into(),
                source: PromptSource::Builtin,
                duration_ms: 5_648,
            },
            Use::Response,
        ),
    );
    add(
        "SetPassword",
        schema(&SetPassword::default(), Use::Request(&["password"])),
    );
    add(
        "GeneratedPassword",
        schema(&GeneratedPassword::default(), Use::Response),
    );
    let team = Team {
        id: TeamId(1),
        settings: TeamSettings {
            name: "blue".into(),
            description: Some("x".into()),
        },
    };
    add("Team", schema(&team, Use::Response));
    add(
        "TeamSettings",
        schema(&team.settings, Use::Request(&["name"])),
    );
    add("TeamPatch", schema(&team.settings, Use::Request(&[])));
    let skill = Skill {
        id: SkillId(1),
        settings: SkillSettings {
            name: "french".into(),
            description: None,
        },
    };
    add("Skill", schema(&skill, Use::Response));
    add(
        "SkillSettings",
        schema(&skill.settings, Use::Request(&["name"])),
    );
    add("SkillPatch", schema(&skill.settings, Use::Request(&[])));
    let campaign = Campaign {
        id: CampaignId(1),
        settings: CampaignSettings {
            name: "spring".into(),
            ..CampaignSettings::default()
        },
    };
    add("Campaign", schema(&campaign, Use::Response));
    add(
        "CampaignSettings",
        schema(&campaign.settings, Use::Request(&["name"])),
    );
    add(
        "CampaignPatch",
        schema(&campaign.settings, Use::Request(&[])),
    );
    let pause = PauseReason {
        id: acd_engine::common::PauseReasonId(1),
        settings: PauseReasonSettings {
            name: "lunch".into(),
            ..PauseReasonSettings::default()
        },
    };
    add("PauseReason", schema(&pause, Use::Response));
    add(
        "PauseReasonSettings",
        schema(&pause.settings, Use::Request(&["name"])),
    );
    add(
        "PauseReasonPatch",
        schema(&pause.settings, Use::Request(&[])),
    );
    add("Queue", schema(&queue, Use::Response));
    add(
        "QueueSettings",
        schema(&queue.settings, Use::Request(&["name"])),
    );
    add("QueuePatch", schema(&queue.settings, Use::Request(&[])));
    let member = QueueMember {
        queue: QueueId(1),
        agent: AgentId(1),
        settings: MemberSettings::default(),
    };
    add("QueueMember", schema(&member, Use::Response));
    add(
        "MemberSettings",
        schema(&member.settings, Use::Request(&[])),
    );
    let number = example_number();
    add(
        "Number",
        schema(&number, Use::Request(&["number", "target"])),
    );
    add("NumberPatch", schema(&number.settings, Use::Request(&[])));
    let org = OrgSettings::default();
    add("OrgSettings", schema(&org, Use::Response));
    add("OrgSettingsPatch", schema(&org, Use::Request(&[])));
    add(
        "Problem",
        json!({
            "type": "object",
            "required": ["type", "status", "title", "detail", "errors"],
            "properties": {
                "type": {"type": "string"},
                "status": {"type": "integer"},
                "title": {"type": "string"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {
                    "type": "object",
                    "required": ["field", "rule", "message"],
                    "properties": {
                        "field": {"type": "string"},
                        "rule": {"type": "string"},
                        "message": {"type": "string"}
                    }
                }}
            }
        }),
    );
    // Live statistics. Both lists wrap the item schemas built from the same examples.
    let queue_stats = crate::stats::example_queue_stats();
    add("QueueStats", schema(&queue_stats, Use::Response));
    add(
        "QueueStatsList",
        schema(
            &crate::stats::QueueStatsList {
                at_ms: 6_000,
                items: vec![queue_stats],
            },
            Use::Response,
        ),
    );
    add(
        "MediaStats",
        schema(&crate::stats::example_media_stats(), Use::Response),
    );
    let agent_state = crate::stats::example_agent_state();
    let agent_state_schema = schema(&agent_state, Use::Response).pipe(optional_pause_reason);
    add("AgentState", agent_state_schema.clone());
    let mut agent_list = schema(
        &crate::stats::AgentStateList {
            at_ms: 6_000,
            items: vec![agent_state],
        },
        Use::Response,
    );
    agent_list["properties"]["items"]["items"] = agent_state_schema;
    add("AgentStateList", agent_list);
    add(
        "OpenApiDocument",
        json!({"type": "object", "description": "An OpenAPI 3.0 document."}),
    );
    Value::Object(s)
}

/// The example agent is paused so the pause object gets probed; but `pause_reason` is only
/// present when the state is `paused`, so it must not be listed as required.
fn optional_pause_reason(mut schema: Value) -> Value {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|f| f != "pause_reason");
    }
    if let Some(p) = schema.pointer_mut("/properties/pause_reason") {
        p["description"] = json!("Present only when `state` is `paused`.");
    }
    schema
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl Pipe for Value {}

fn schema<T: Serialize + DeserializeOwned>(example: &T, usage: Use) -> Value {
    let root = serde_json::to_value(example).unwrap_or(Value::Null);
    let accepts = |candidate: &Value| serde_json::from_value::<T>(candidate.clone());
    let mut path = Vec::new();
    let mut out = build(&root, &root, &mut path, &accepts);
    if let Use::Request(required) = usage {
        strip_required(&mut out);
        if !required.is_empty() {
            out["required"] = json!(required);
        }
    }
    out
}

fn strip_required(schema: &mut Value) {
    if let Value::Object(map) = schema {
        map.remove("required");
        for key in ["properties"] {
            if let Some(Value::Object(props)) = map.get_mut(key) {
                props.values_mut().for_each(strip_required);
            }
        }
        if let Some(items) = map.get_mut("items") {
            strip_required(items);
        }
    }
}

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn replaced(root: &Value, path: &[Seg], with: Value) -> Value {
    let mut copy = root.clone();
    let mut at = &mut copy;
    for seg in path {
        at = match seg {
            Seg::Key(k) => &mut at[k.as_str()],
            Seg::Index(i) => &mut at[*i],
        };
    }
    *at = with;
    copy
}

/// Values serde names in "unknown variant `x`, expected one of `a`, `b`" (or "expected `a`").
fn enum_values(error: &str) -> Option<Vec<String>> {
    let rest = error.split("unknown variant").nth(1)?;
    let expected = rest.split("expected").nth(1)?;
    let values: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    (!values.is_empty()).then_some(values)
}

fn build<T>(
    root: &Value,
    value: &Value,
    path: &mut Vec<Seg>,
    accepts: &dyn Fn(&Value) -> Result<T, serde_json::Error>,
) -> Value {
    const PROBE: &str = "\u{1}probe";
    match value {
        Value::Null => {
            // An absent option: learn its type by offering values of each type.
            match accepts(&replaced(root, path, json!(PROBE))) {
                Ok(_) => return json!({"type": "string", "nullable": true}),
                Err(e) => {
                    if let Some(values) = enum_values(&e.to_string()) {
                        return json!({"type": "string", "enum": values, "nullable": true});
                    }
                }
            }
            for (candidate, schema) in [
                (json!(1), json!({"type": "integer", "nullable": true})),
                (json!(true), json!({"type": "boolean", "nullable": true})),
                (
                    json!("2024-01-01T00:00:00Z"),
                    json!({"type": "string", "format": "date-time", "nullable": true}),
                ),
            ] {
                if accepts(&replaced(root, path, candidate)).is_ok() {
                    return schema;
                }
            }
            json!({"nullable": true})
        }
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_f64() => json!({"type": "number"}),
        Value::Number(_) => json!({"type": "integer"}),
        Value::String(_) => match accepts(&replaced(root, path, json!(PROBE))) {
            Err(e) => match enum_values(&e.to_string()) {
                Some(values) => json!({"type": "string", "enum": values}),
                None => json!({"type": "string"}),
            },
            Ok(_) => json!({"type": "string"}),
        },
        Value::Array(items) => {
            let item = match items.first() {
                Some(first) => {
                    path.push(Seg::Index(0));
                    let s = build(root, first, path, accepts);
                    path.pop();
                    s
                }
                None => {
                    // An empty list: find an item type it accepts.
                    let mut found = json!({});
                    for candidate in [json!(1), json!(PROBE)] {
                        let with = replaced(root, path, json!([candidate.clone()]));
                        if accepts(&with).is_ok() {
                            path.push(Seg::Index(0));
                            found = build(&with, &candidate, path, accepts);
                            path.pop();
                            break;
                        }
                        if let Err(e) = accepts(&with) {
                            if let Some(values) = enum_values(&e.to_string()) {
                                found = json!({"type": "string", "enum": values});
                                break;
                            }
                        }
                    }
                    found
                }
            };
            json!({"type": "array", "items": item})
        }
        Value::Object(fields) => {
            let mut properties = Map::new();
            for (k, v) in fields {
                path.push(Seg::Key(k.clone()));
                properties.insert(k.clone(), build(root, v, path, accepts));
                path.pop();
            }
            let required: Vec<&String> = fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            json!({"type": "object", "properties": properties, "required": required})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_fields_list_the_values_serde_accepts() {
        let c = components();
        let agent = &c["Agent"]["properties"];
        assert_eq!(
            agent["typology"]["enum"],
            json!(["webrtc", "sip_phone", "external"])
        );
        assert_eq!(
            agent["voice"]["properties"]["allowed_codecs"]["items"]["enum"]
                .as_array()
                .map(Vec::len),
            Some(6)
        );
    }

    #[test]
    fn absent_options_get_their_type_by_probing() {
        let c = components();
        let agent = &c["Agent"]["properties"];
        assert_eq!(agent["email"]["type"], "string");
        assert_eq!(agent["email"]["nullable"], true);
        assert_eq!(agent["password_reset_at"]["format"], "date-time");
    }

    #[test]
    fn empty_lists_get_their_item_type_by_probing() {
        let c = components();
        assert_eq!(
            c["Team"]["properties"]["id"]["type"], "integer",
            "{}",
            c["Team"]
        );
        assert_eq!(
            c["Agent"]["properties"]["teams"]["items"]["type"],
            "integer"
        );
    }

    #[test]
    fn responses_require_present_fields_and_requests_only_named_ones() {
        let c = components();
        assert!(c["Agent"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("username")));
        assert_eq!(c["CreateAgent"]["required"], json!(["username"]));
        assert!(c["AgentPatch"].get("required").is_none());
        assert!(c["AgentPatch"]["properties"]["first_name"].is_object());
    }

    #[test]
    fn agent_state_lists_its_states_and_pause_reason_is_optional() {
        let c = components();
        let a = &c["AgentState"];
        assert_eq!(
            a["properties"]["state"]["enum"],
            json!([
                "available",
                "ringing",
                "busy",
                "wrap_up",
                "paused",
                "logged_out",
                "disabled"
            ])
        );
        assert!(!a["required"]
            .as_array()
            .unwrap()
            .contains(&json!("pause_reason")));
        assert!(a["required"].as_array().unwrap().contains(&json!("held")));
        assert_eq!(
            c["AgentStateList"]["properties"]["items"]["items"],
            c["AgentState"]
        );
        assert_eq!(
            c["QueueStats"]["properties"]["service_level_pct"]["type"],
            "number"
        );
    }

    #[test]
    fn the_examples_deserialize_as_their_types() {
        let agent = serde_json::to_value(example_agent()).unwrap();
        serde_json::from_value::<Agent>(agent).unwrap();
        let queue = serde_json::to_value(example_queue()).unwrap();
        serde_json::from_value::<Queue>(queue).unwrap();
        let number = serde_json::to_value(example_number()).unwrap();
        serde_json::from_value::<Number>(number).unwrap();
        let state = serde_json::to_value(crate::stats::example_agent_state()).unwrap();
        serde_json::from_value::<crate::stats::AgentStateView>(state).unwrap();
        let queue = serde_json::to_value(crate::stats::example_queue_stats()).unwrap();
        serde_json::from_value::<crate::stats::QueueStatsView>(queue).unwrap();
    }
}
