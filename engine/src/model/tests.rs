//! One accepted and one rejected example for every validation rule of the model. Each rule is a
//! module with two tests, `accepted` and `rejected`, so a failure names the rule.

use super::validate::{self, Errors};
use super::*;
use crate::common::{CampaignId, Channel, QueueId, SkillId, Strategy, TeamId};

fn valid_profile() -> AgentProfile {
    AgentProfile {
        first_name: "Anna".into(),
        last_name: "Berg".into(),
        ..AgentProfile::default()
    }
}

fn profile_errors(p: &AgentProfile) -> Vec<(String, Rule)> {
    let mut e = Errors::default();
    validate::check_profile(&mut e, p);
    e.0.into_iter().map(|e| (e.field, e.rule)).collect()
}

fn errors_of(f: impl FnOnce(&mut Errors)) -> Vec<(String, Rule)> {
    let mut e = Errors::default();
    f(&mut e);
    e.0.into_iter().map(|e| (e.field, e.rule)).collect()
}

/// A profile rule: `ok` must leave a valid profile, `bad` must fail `rule` on `field`.
macro_rules! profile_rule {
    ($name:ident, $field:literal, $rule:expr, ok: |$p:ident| $ok:expr, bad: |$q:ident| $bad:expr $(,)?) => {
        mod $name {
            use super::*;
            #[test]
            fn accepted() {
                let mut $p = valid_profile();
                $ok;
                assert_eq!(profile_errors(&$p), vec![]);
            }
            #[test]
            fn rejected() {
                let mut $q = valid_profile();
                $bad;
                let errs = profile_errors(&$q);
                assert!(
                    errs.contains(&($field.to_string(), $rule)),
                    "expected {} on {}, got {:?}",
                    $rule,
                    $field,
                    errs
                );
            }
        }
    };
}

/// A rule checked by a plain function: `ok` yields no error, `bad` yields `rule` on `field`.
macro_rules! rule {
    ($name:ident, $field:literal, $rule:expr, ok: |$e1:ident| $ok:expr, bad: |$e2:ident| $bad:expr $(,)?) => {
        mod $name {
            use super::*;
            #[test]
            fn accepted() {
                assert_eq!(errors_of(|$e1| $ok), vec![]);
            }
            #[test]
            fn rejected() {
                let errs = errors_of(|$e2| $bad);
                assert!(
                    errs.contains(&($field.to_string(), $rule)),
                    "expected {} on {}, got {:?}",
                    $rule,
                    $field,
                    errs
                );
            }
        }
    };
}

// ------------------------------------------------------------------ username

rule!(username_required, "username", rules::REQUIRED,
    ok: |e| validate::check_username(e, "username", "anna"),
    bad: |e| validate::check_username(e, "username", ""));
rule!(username_length, "username", rules::LENGTH,
    ok: |e| validate::check_username(e, "username", &"a".repeat(64)),
    bad: |e| validate::check_username(e, "username", &"a".repeat(65)));
rule!(username_lowercase, "username", rules::LOWERCASE,
    ok: |e| validate::check_username(e, "username", "anna.berg"),
    bad: |e| validate::check_username(e, "username", "Anna"));
rule!(username_charset, "username", rules::CHARSET,
    ok: |e| validate::check_username(e, "username", "a.b_c!d@e#f$g%h^i&j9"),
    bad: |e| validate::check_username(e, "username", "anna berg"));
rule!(username_no_accented_letters, "username", rules::CHARSET,
    ok: |e| validate::check_username(e, "username", "asa"),
    bad: |e| validate::check_username(e, "username", "åsa"));

// --------------------------------------------------------------------- names

profile_rule!(first_name_required, "first_name", rules::REQUIRED,
    ok: |p| p.first_name = "Zoë".into(),
    bad: |p| p.first_name = "  ".into());
profile_rule!(first_name_charset, "first_name", rules::CHARSET,
    ok: |p| p.first_name = "Jean-Luc D'Arcy 2nd Ångström".into(),
    bad: |p| p.first_name = "Anna!".into());
profile_rule!(first_name_length, "first_name", rules::LENGTH,
    ok: |p| p.first_name = "a".repeat(100),
    bad: |p| p.first_name = "a".repeat(101));
profile_rule!(last_name_required, "last_name", rules::REQUIRED,
    ok: |p| p.last_name = "Østergård".into(),
    bad: |p| p.last_name = String::new());
profile_rule!(last_name_charset, "last_name", rules::CHARSET,
    ok: |p| p.last_name = "O'Neil-Smith".into(),
    bad: |p| p.last_name = "Smith_Jones".into());
profile_rule!(alias_length, "alias", rules::LENGTH,
    ok: |p| p.alias = Some("a".repeat(64)),
    bad: |p| p.alias = Some("a".repeat(65)));
profile_rule!(description_length, "description", rules::LENGTH,
    ok: |p| p.description = Some("Billing expert".into()),
    bad: |p| p.description = Some("x".repeat(501)));
profile_rule!(description_charset, "description", rules::CHARSET,
    ok: |p| p.description = Some("line one\nline two".into()),
    bad: |p| p.description = Some("bell\u{7}".into()));

// ------------------------------------------------------------ email, phones

profile_rule!(email_format, "email", rules::EMAIL,
    ok: |p| p.email = Some("anna.berg@example.com".into()),
    bad: |p| p.email = Some("anna.example.com".into()));
profile_rule!(email_domain, "email", rules::EMAIL,
    ok: |p| p.email = Some("a@b.co".into()),
    bad: |p| p.email = Some("anna@localhost".into()));
profile_rule!(call_me_requires_default_phone_number, "default_phone_number", rules::REQUIRED,
    ok: |p| {
        p.connection_mode = ConnectionMode::CallMe;
        p.default_phone_number = Some("+46701234567".into());
    },
    bad: |p| p.connection_mode = ConnectionMode::CallMe);
profile_rule!(call_in_needs_no_default_phone_number, "default_phone_number", rules::PHONE,
    ok: |p| p.connection_mode = ConnectionMode::CallIn,
    bad: |p| p.default_phone_number = Some("call me".into()));
profile_rule!(cli_phone, "cli", rules::PHONE,
    ok: |p| p.cli = Some("0812345678".into()),
    bad: |p| p.cli = Some("+12".into()));

// ------------------------------------------------------------------ timezone

profile_rule!(timezone_iana, "timezone", rules::TIMEZONE,
    ok: |p| p.timezone = "Australia/Sydney".into(),
    bad: |p| p.timezone = "Mars/Olympus_Mons".into());
profile_rule!(timezone_case_sensitive, "timezone", rules::TIMEZONE,
    ok: |p| p.timezone = "America/Argentina/Buenos_Aires".into(),
    bad: |p| p.timezone = "GMT+25".into());

// --------------------------------------------------------------------- voice

profile_rule!(voice_host, "voice.host", rules::HOST,
    ok: |p| p.voice.host = "192.0.2.10".into(),
    bad: |p| p.voice.host = "pbx.example.com".into());
profile_rule!(voice_codecs_required, "voice.allowed_codecs", rules::REQUIRED,
    ok: |p| p.voice.allowed_codecs = vec![Codec::G722],
    bad: |p| p.voice.allowed_codecs = vec![]);
profile_rule!(voice_codecs_no_duplicates, "voice.allowed_codecs", rules::DUPLICATE,
    ok: |p| p.voice.allowed_codecs = vec![Codec::Ulaw, Codec::Alaw, Codec::Gsm, Codec::Opus],
    bad: |p| p.voice.allowed_codecs = vec![Codec::Ulaw, Codec::Ulaw]);
profile_rule!(g729_refused_for_webrtc, "voice.allowed_codecs", rules::CODEC,
ok: |p| {
    p.typology = Typology::SipPhone;
    p.voice.allowed_codecs = vec![Codec::G729, Codec::Ulaw];
},
bad: |p| {
    p.typology = Typology::Webrtc;
    p.voice.allowed_codecs = vec![Codec::G729, Codec::Ulaw];
});
profile_rule!(voice_caller_id_length, "voice.caller_id", rules::LENGTH,
    ok: |p| p.voice.caller_id = Some("\"Support\" <100>".into()),
    bad: |p| p.voice.caller_id = Some("x".repeat(81)));
profile_rule!(voice_context_charset, "voice.context", rules::CHARSET,
    ok: |p| p.voice.context = "from-internal_2".into(),
    bad: |p| p.voice.context = "from sip".into());
profile_rule!(voice_call_group, "voice.call_group", rules::GROUP,
    ok: |p| p.voice.call_group = Some("1,3-5,63".into()),
    bad: |p| p.voice.call_group = Some("64".into()));
profile_rule!(voice_pickup_group, "voice.pickup_group", rules::GROUP,
    ok: |p| p.voice.pickup_group = Some("0-63".into()),
    bad: |p| p.voice.pickup_group = Some("5-3".into()));

#[test]
fn voice_context_defaults_to_from_sip() {
    assert_eq!(AgentProfile::default().voice.context, "from-sip");
    let p: AgentProfile = serde_json::from_str(r#"{"voice":{"nat":"yes"}}"#).unwrap();
    assert_eq!(p.voice.context, "from-sip");
}

/// Enum fields: every documented value parses, anything else is refused at deserialisation.
macro_rules! enum_rule {
    ($name:ident, $json_field:literal, [$($ok:literal),+], $bad:literal) => {
        mod $name {
            use super::*;
            #[test]
            fn accepted() {
                for v in [$($ok),+] {
                    let json = format!(r#"{{"voice":{{"{}":"{}"}}}}"#, $json_field, v);
                    serde_json::from_str::<AgentProfilePatch>(&json)
                        .unwrap_or_else(|e| panic!("{v}: {e}"));
                }
            }
            #[test]
            fn rejected() {
                let json = format!(r#"{{"voice":{{"{}":"{}"}}}}"#, $json_field, $bad);
                let err = serde_json::from_str::<AgentProfilePatch>(&json).unwrap_err();
                assert!(err.to_string().contains("unknown variant"), "{err}");
            }
        }
    };
}
enum_rule!(
    voice_nat_values,
    "nat",
    ["yes", "no", "force_rport", "comedia", "never", "route"],
    "maybe"
);
enum_rule!(
    voice_type_values,
    "type",
    ["friend", "user", "peer"],
    "buddy"
);
enum_rule!(
    voice_record_calls_values,
    "record_calls",
    ["inactive", "wav", "wav49", "gsm"],
    "mp3"
);

mod voice_codec_values {
    use super::*;
    #[test]
    fn accepted() {
        let p: VoiceSettingsPatch = serde_json::from_str(
            r#"{"allowed_codecs":["ulaw","alaw","gsm","g722","g729","opus"]}"#,
        )
        .unwrap();
        assert_eq!(p.allowed_codecs.unwrap().len(), 6);
    }
    #[test]
    fn rejected() {
        let err = serde_json::from_str::<VoiceSettingsPatch>(r#"{"allowed_codecs":["speex"]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }
}

mod typology_and_connection_mode_values {
    use super::*;
    #[test]
    fn accepted() {
        for t in ["webrtc", "sip_phone", "external"] {
            for m in ["call_me", "call_in", "web_connect"] {
                let json = format!(r#"{{"typology":"{t}","connection_mode":"{m}"}}"#);
                serde_json::from_str::<AgentProfilePatch>(&json).unwrap();
            }
        }
    }
    #[test]
    fn rejected() {
        assert!(serde_json::from_str::<AgentProfilePatch>(r#"{"typology":"pstn"}"#).is_err());
        assert!(serde_json::from_str::<AgentProfilePatch>(
            r#"{"connection_mode":"carrier_pigeon"}"#
        )
        .is_err());
    }
}

// ------------------------------------------------------- capacity, answering

profile_rule!(capacity_voice, "capacity.voice", rules::RANGE,
    ok: |p| p.capacity.voice = 0,
    bad: |p| p.capacity.voice = 2);
profile_rule!(capacity_chat_low, "capacity.chat", rules::RANGE,
    ok: |p| p.capacity.chat = 1,
    bad: |p| p.capacity.chat = 0);
profile_rule!(capacity_chat_high, "capacity.chat", rules::RANGE,
    ok: |p| p.capacity.chat = 5,
    bad: |p| p.capacity.chat = 6);
profile_rule!(capacity_email, "capacity.email", rules::RANGE,
    ok: |p| p.capacity.email = 10,
    bad: |p| p.capacity.email = 11);
profile_rule!(auto_answer_delay, "auto_answer.delay_seconds", rules::RANGE,
    ok: |p| p.auto_answer = AutoAnswer { enabled: true, delay_seconds: 30 },
    bad: |p| p.auto_answer.delay_seconds = 31);
profile_rule!(toolbar_auto_answer_delay, "toolbar.auto_answer_delay_seconds", rules::RANGE,
    ok: |p| p.toolbar.auto_answer_delay_seconds = 3,
    bad: |p| p.toolbar.auto_answer_delay_seconds = 120);
profile_rule!(toolbar_sip_expires_low, "toolbar.sip_expires_seconds", rules::RANGE,
    ok: |p| p.toolbar.sip_expires_seconds = 60,
    bad: |p| p.toolbar.sip_expires_seconds = 59);
profile_rule!(toolbar_sip_expires_high, "toolbar.sip_expires_seconds", rules::RANGE,
    ok: |p| p.toolbar.sip_expires_seconds = 3600,
    bad: |p| p.toolbar.sip_expires_seconds = 3601);

// ---------------------------------------------------------------- chat widget

profile_rule!(chat_display_name_length, "chat.display_name", rules::LENGTH,
    ok: |p| p.chat.display_name = Some("Anna from Support".into()),
    bad: |p| p.chat.display_name = Some("a".repeat(65)));
profile_rule!(chat_job_description_length, "chat.job_description", rules::LENGTH,
    ok: |p| p.chat.job_description = Some("Billing".into()),
    bad: |p| p.chat.job_description = Some("a".repeat(129)));

// ---------------------------------------------------------------- permissions

profile_rule!(permissions_sections_charset, "permissions.sections[1]", rules::CHARSET,
    ok: |p| p.permissions.sections = vec!["contacts".into(), "reports_2".into()],
    bad: |p| p.permissions.sections = vec!["contacts".into(), "Reports!".into()]);
profile_rule!(permissions_plugins_no_duplicates, "permissions.plugins", rules::DUPLICATE,
    ok: |p| p.permissions.plugins = vec!["crm".into(), "maps".into()],
    bad: |p| p.permissions.plugins = vec!["crm".into(), "crm".into()]);
profile_rule!(permissions_channels_no_duplicates, "permissions.channels", rules::DUPLICATE,
    ok: |p| p.permissions.channels = vec![Channel::Chat],
    bad: |p| p.permissions.channels = vec![Channel::Chat, Channel::Chat]);

// ------------------------------------------------- skills, teams, campaigns

profile_rule!(skill_level_range, "skills[0].level", rules::RANGE,
    ok: |p| p.skills = vec![AgentSkill { skill: SkillId(1), level: 100 }],
    bad: |p| p.skills = vec![AgentSkill { skill: SkillId(1), level: 101 }]);
profile_rule!(skills_no_duplicates, "skills", rules::DUPLICATE,
ok: |p| p.skills = vec![
    AgentSkill { skill: SkillId(1), level: 5 },
    AgentSkill { skill: SkillId(2), level: 5 },
],
bad: |p| p.skills = vec![
    AgentSkill { skill: SkillId(1), level: 5 },
    AgentSkill { skill: SkillId(1), level: 9 },
]);
profile_rule!(teams_no_duplicates, "teams", rules::DUPLICATE,
    ok: |p| p.teams = vec![TeamId(1), TeamId(2)],
    bad: |p| p.teams = vec![TeamId(1), TeamId(1)]);
profile_rule!(campaign_priority_range, "campaigns[0].priority", rules::RANGE,
    ok: |p| p.campaigns = vec![CampaignAssignment { campaign: CampaignId(1), priority: 10 }],
    bad: |p| p.campaigns = vec![CampaignAssignment { campaign: CampaignId(1), priority: 0 }]);
profile_rule!(campaigns_no_duplicates, "campaigns", rules::DUPLICATE,
ok: |p| p.campaigns = vec![CampaignAssignment { campaign: CampaignId(1), priority: 1 }],
bad: |p| p.campaigns = vec![
    CampaignAssignment { campaign: CampaignId(1), priority: 1 },
    CampaignAssignment { campaign: CampaignId(1), priority: 2 },
]);

// -------------------------------------------------- extension, SIP password

rule!(extension_digits, "extension", rules::DIGITS,
    ok: |e| validate::check_extension(e, "extension", "501431427"),
    bad: |e| validate::check_extension(e, "extension", "50a"));
rule!(extension_length, "extension", rules::DIGITS,
    ok: |e| validate::check_extension(e, "extension", &"1".repeat(20)),
    bad: |e| validate::check_extension(e, "extension", &"1".repeat(21)));
rule!(sip_password_length, "sip_password", rules::LENGTH,
    ok: |e| validate::check_sip_password(e, "sip_password", "50738748"),
    bad: |e| validate::check_sip_password(e, "sip_password", "1234567"));
rule!(sip_password_charset, "sip_password", rules::CHARSET,
    ok: |e| validate::check_sip_password(e, "sip_password", "Ab1!Ab1!Ab1!"),
    bad: |e| validate::check_sip_password(e, "sip_password", "has a space"));

// ------------------------------------------------------------ password policy

fn policy() -> PasswordPolicy {
    PasswordPolicy {
        min_length: 10,
        require_lowercase: true,
        require_uppercase: true,
        require_digit: true,
        require_symbol: true,
        forbid_username: true,
    }
}

rule!(password_min_length, "password", rules::LENGTH,
    ok: |e| validate::check_password(e, "password", "Abcdefg1!x", "anna", &policy()),
    bad: |e| validate::check_password(e, "password", "Abcdef1!x", "anna", &policy()));
rule!(password_max_length, "password", rules::LENGTH,
    ok: |e| validate::check_password(e, "password", &format!("Aa1!{}", "x".repeat(124)), "anna", &policy()),
    bad: |e| validate::check_password(e, "password", &format!("Aa1!{}", "x".repeat(125)), "anna", &policy()));
rule!(password_lowercase, "password", rules::PASSWORD_LOWERCASE,
    ok: |e| validate::check_password(e, "password", "ABCDEFGh1!", "anna", &policy()),
    bad: |e| validate::check_password(e, "password", "ABCDEFGH1!", "anna", &policy()));
rule!(password_uppercase, "password", rules::PASSWORD_UPPERCASE,
    ok: |e| validate::check_password(e, "password", "abcdefgH1!", "anna", &policy()),
    bad: |e| validate::check_password(e, "password", "abcdefgh1!", "anna", &policy()));
rule!(password_digit, "password", rules::PASSWORD_DIGIT,
    ok: |e| validate::check_password(e, "password", "Abcdefgh9!", "anna", &policy()),
    bad: |e| validate::check_password(e, "password", "Abcdefghi!", "anna", &policy()));
rule!(password_symbol, "password", rules::PASSWORD_SYMBOL,
    ok: |e| validate::check_password(e, "password", "Abcdefgh9#", "anna", &policy()),
    bad: |e| validate::check_password(e, "password", "Abcdefgh99", "anna", &policy()));
rule!(password_not_containing_username, "password", rules::PASSWORD_USERNAME,
    ok: |e| validate::check_password(e, "password", "Xyzxyzxy9!", "anna", &policy()),
    bad: |e| validate::check_password(e, "password", "myANNA-pw9!", "anna", &policy()));

#[test]
fn password_classes_are_optional_when_the_policy_says_so() {
    let lax = PasswordPolicy {
        min_length: 8,
        require_lowercase: false,
        require_uppercase: false,
        require_digit: false,
        require_symbol: false,
        forbid_username: false,
    };
    assert_eq!(
        errors_of(|e| validate::check_password(e, "password", "aaaaaaaa", "anna", &lax)),
        vec![]
    );
}

// ---------------------------------------------------------------------- queues

fn queue() -> QueueSettings {
    QueueSettings {
        name: "sales".into(),
        ..QueueSettings::default()
    }
}

macro_rules! queue_rule {
    ($name:ident, $field:literal, $rule:expr, ok: |$p:ident| $ok:expr, bad: |$q:ident| $bad:expr $(,)?) => {
        rule!($name, $field, $rule,
            ok: |e| { let mut $p = queue(); $ok; validate::check_queue(e, &$p, Some(QueueId(1))) },
            bad: |e| { let mut $q = queue(); $bad; validate::check_queue(e, &$q, Some(QueueId(1))) });
    };
}

queue_rule!(queue_name_required, "name", rules::REQUIRED,
    ok: |q| q.name = "Support EN".into(),
    bad: |q| q.name = " ".into());
queue_rule!(queue_ring_all_voice_only, "strategy", rules::CONSISTENCY,
    ok: |q| q.strategy = Strategy::RingAll,
    bad: |q| { q.strategy = Strategy::RingAll; q.channel = Channel::Chat; });
queue_rule!(queue_ring_timeout, "ring_timeout_seconds", rules::RANGE,
    ok: |q| q.ring_timeout_seconds = 5,
    bad: |q| q.ring_timeout_seconds = 4);
queue_rule!(queue_wrap_up, "wrap_up_seconds", rules::RANGE,
    ok: |q| q.wrap_up_seconds = 0,
    bad: |q| q.wrap_up_seconds = 3601);
queue_rule!(queue_max_wait, "max_wait_seconds", rules::RANGE,
    ok: |q| q.max_wait_seconds = Some(300),
    bad: |q| q.max_wait_seconds = Some(0));
queue_rule!(queue_overflow_not_itself, "overflow_action.queue", rules::CONSISTENCY,
    ok: |q| q.overflow_action = OverflowAction::Queue { queue: QueueId(2) },
    bad: |q| q.overflow_action = OverflowAction::Queue { queue: QueueId(1) });
queue_rule!(queue_voicemail_voice_only, "overflow_action", rules::CONSISTENCY,
    ok: |q| q.overflow_action = OverflowAction::Voicemail,
    bad: |q| { q.overflow_action = OverflowAction::Voicemail; q.channel = Channel::Email; });
queue_rule!(queue_end_reason_charset, "overflow_action.reason", rules::CHARSET,
    ok: |q| q.overflow_action = OverflowAction::End { reason: "closed-hours".into() },
    bad: |q| q.overflow_action = OverflowAction::End { reason: "closed hours".into() });
queue_rule!(queue_max_length, "max_queue_length", rules::RANGE,
    ok: |q| q.max_queue_length = Some(100_000),
    bad: |q| q.max_queue_length = Some(0));
queue_rule!(queue_auto_pause, "auto_pause_after_no_answers", rules::RANGE,
    ok: |q| q.auto_pause_after_no_answers = Some(3),
    bad: |q| q.auto_pause_after_no_answers = Some(0));
queue_rule!(queue_reject_delay, "reject_delay_seconds", rules::RANGE,
    ok: |q| q.reject_delay_seconds = 3600,
    bad: |q| q.reject_delay_seconds = 3601);
queue_rule!(queue_service_level, "service_level_seconds", rules::RANGE,
    ok: |q| q.service_level_seconds = 1,
    bad: |q| q.service_level_seconds = 0);
queue_rule!(queue_priority, "priority", rules::RANGE,
    ok: |q| q.priority = 100,
    bad: |q| q.priority = 101);
queue_rule!(queue_announce_interval_low, "announce_interval_seconds", rules::RANGE,
    ok: |q| q.announce_interval_seconds = 10,
    bad: |q| q.announce_interval_seconds = 9);
queue_rule!(queue_announce_interval_high, "announce_interval_seconds", rules::RANGE,
    ok: |q| { q.announce_interval_seconds = 600; q.announce_position = true; },
    bad: |q| q.announce_interval_seconds = 601);
queue_rule!(queue_welcome_prompt_name, "welcome_prompt", rules::CHARSET,
    ok: |q| q.welcome_prompt = Some("spring_sale_2".into()),
    bad: |q| q.welcome_prompt = Some("Spring sale".into()));
queue_rule!(queue_welcome_prompt_length, "welcome_prompt", rules::CHARSET,
    ok: |q| q.welcome_prompt = None,
    bad: |q| q.welcome_prompt = Some("a".repeat(41)));
queue_rule!(queue_welcome_prompt_not_empty, "welcome_prompt", rules::REQUIRED,
    ok: |q| q.welcome_prompt = Some("a".repeat(40)),
    bad: |q| q.welcome_prompt = Some(String::new()));
queue_rule!(queue_hold_audio_name, "hold_audio", rules::CHARSET,
    ok: |q| q.hold_audio = "ringback".into(),
    bad: |q| q.hold_audio = "../moh".into());

#[test]
fn queue_audio_defaults_are_welcome_then_music_on_hold_without_announcements() {
    let q = QueueSettings::default();
    assert_eq!(q.welcome_prompt.as_deref(), Some("welcome"));
    assert_eq!(q.hold_audio, "moh");
    assert!(!q.announce_position);
    assert_eq!(q.announce_interval_seconds, 30);
    // A patch can clear the welcome prompt with null and leaves absent fields alone.
    let patch: QueuePatch = serde_json::from_str(r#"{"welcome_prompt": null}"#).unwrap();
    let mut q2 = q.clone();
    patch.apply_to(&mut q2);
    assert_eq!(q2.welcome_prompt, None);
    assert_eq!(q2.hold_audio, "moh");
}

queue_rule!(queue_skill_min_level, "skill_requirements[0].min_level", rules::RANGE,
    ok: |q| q.skill_requirements = vec![SkillRequirement { skill: SkillId(1), min_level: 1, relax: vec![] }],
    bad: |q| q.skill_requirements = vec![SkillRequirement { skill: SkillId(1), min_level: 0, relax: vec![] }]);
queue_rule!(queue_skill_no_duplicates, "skill_requirements", rules::DUPLICATE,
ok: |q| q.skill_requirements = vec![
    SkillRequirement { skill: SkillId(1), min_level: 5, relax: vec![] },
    SkillRequirement { skill: SkillId(2), min_level: 5, relax: vec![] },
],
bad: |q| q.skill_requirements = vec![
    SkillRequirement { skill: SkillId(1), min_level: 5, relax: vec![] },
    SkillRequirement { skill: SkillId(1), min_level: 7, relax: vec![] },
]);
queue_rule!(queue_relax_steps_ordered, "skill_requirements[0].relax[1]", rules::ORDER,
ok: |q| q.skill_requirements = vec![SkillRequirement {
    skill: SkillId(1), min_level: 80,
    relax: vec![RelaxStep { after_seconds: 30, min_level: 50 }, RelaxStep { after_seconds: 60, min_level: 10 }],
}],
bad: |q| q.skill_requirements = vec![SkillRequirement {
    skill: SkillId(1), min_level: 80,
    relax: vec![RelaxStep { after_seconds: 60, min_level: 50 }, RelaxStep { after_seconds: 30, min_level: 10 }],
}]);
queue_rule!(queue_relax_lowers_level, "skill_requirements[0].relax[0]", rules::ORDER,
ok: |q| q.skill_requirements = vec![SkillRequirement {
    skill: SkillId(1), min_level: 80, relax: vec![RelaxStep { after_seconds: 30, min_level: 79 }],
}],
bad: |q| q.skill_requirements = vec![SkillRequirement {
    skill: SkillId(1), min_level: 80, relax: vec![RelaxStep { after_seconds: 30, min_level: 80 }],
}]);

mod queue_overflow_json_shape {
    use super::*;
    #[test]
    fn accepted() {
        let p: QueuePatch = serde_json::from_str(
            r#"{"overflow_action":{"type":"end","reason":"closed"},"strategy":"ring_all","channel":"voice"}"#,
        )
        .unwrap();
        assert_eq!(
            p.overflow_action,
            Some(OverflowAction::End {
                reason: "closed".into()
            })
        );
    }
    #[test]
    fn rejected() {
        assert!(
            serde_json::from_str::<QueuePatch>(r#"{"overflow_action":{"type":"teleport"}}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<QueuePatch>(r#"{"channel":"fax"}"#).is_err());
        assert!(serde_json::from_str::<QueuePatch>(r#"{"strategy":"lottery"}"#).is_err());
    }
}

rule!(member_penalty, "penalty", rules::RANGE,
    ok: |e| validate::check_member(e, &MemberSettings { penalty: 1000, order: 0 }),
    bad: |e| validate::check_member(e, &MemberSettings { penalty: 1001, order: 0 }));

// ------------------------------------------------- other records, numbers, org

rule!(team_name_required, "name", rules::REQUIRED,
    ok: |e| validate::check_team(e, &TeamSettings { name: "Blue".into(), description: None }),
    bad: |e| validate::check_team(e, &TeamSettings::default()));
rule!(skill_name_length, "name", rules::LENGTH,
    ok: |e| validate::check_skill(e, &SkillSettings { name: "French".into(), description: None }),
    bad: |e| validate::check_skill(e, &SkillSettings { name: "x".repeat(101), description: None }));
rule!(campaign_cli, "cli", rules::PHONE,
    ok: |e| validate::check_campaign(e, &CampaignSettings { name: "Spring".into(), description: None, cli: Some("+4681234".into()) }),
    bad: |e| validate::check_campaign(e, &CampaignSettings { name: "Spring".into(), description: None, cli: Some("spring".into()) }));
rule!(pause_reason_max_duration, "max_duration_seconds", rules::RANGE,
    ok: |e| validate::check_pause_reason(e, &PauseReasonSettings { name: "Lunch".into(), paid: false, max_duration_seconds: Some(3600) }),
    bad: |e| validate::check_pause_reason(e, &PauseReasonSettings { name: "Lunch".into(), paid: false, max_duration_seconds: Some(0) }));
rule!(number_format, "number", rules::PHONE,
    ok: |e| validate::check_number(e, "+61291234567", &NumberSettings { target: Some(NumberTarget::Queue { queue: QueueId(1) }), description: None }),
    bad: |e| validate::check_number(e, "61-2912", &NumberSettings { target: Some(NumberTarget::Queue { queue: QueueId(1) }), description: None }));
rule!(number_target_required, "target", rules::REQUIRED,
    ok: |e| validate::check_number(e, "1000", &NumberSettings { target: Some(NumberTarget::Agent { agent: crate::common::AgentId(1) }), description: None }),
    bad: |e| validate::check_number(e, "1000", &NumberSettings::default()));
rule!(org_extension_prefix_digits, "extension_prefix", rules::DIGITS,
    ok: |e| validate::check_org(e, &OrgSettings { extension_prefix: "50143".into(), ..OrgSettings::default() }),
    bad: |e| validate::check_org(e, &OrgSettings { extension_prefix: "5O143".into(), ..OrgSettings::default() }));
rule!(org_password_min_length, "password_policy.min_length", rules::RANGE,
    ok: |e| validate::check_org(e, &OrgSettings { password_policy: PasswordPolicy { min_length: 8, ..PasswordPolicy::default() }, ..OrgSettings::default() }),
    bad: |e| validate::check_org(e, &OrgSettings { password_policy: PasswordPolicy { min_length: 7, ..PasswordPolicy::default() }, ..OrgSettings::default() }));
rule!(org_default_cli, "default_cli", rules::PHONE,
    ok: |e| validate::check_org(e, &OrgSettings { default_cli: Some("+611300000000".into()), ..OrgSettings::default() }),
    bad: |e| validate::check_org(e, &OrgSettings { default_cli: Some("n/a".into()), ..OrgSettings::default() }));
rule!(org_lockout_threshold, "lockout_threshold", rules::RANGE,
    ok: |e| validate::check_org(e, &OrgSettings { lockout_threshold: 0, ..OrgSettings::default() }),
    bad: |e| validate::check_org(e, &OrgSettings { lockout_threshold: 101, ..OrgSettings::default() }));

// -------------------------------------------------------------- serialisation

#[test]
fn agent_json_is_flat_and_snake_case() {
    let agent = Agent {
        id: crate::common::AgentId(1427),
        username: "anna".into(),
        extension: "501431427".into(),
        profile: valid_profile(),
        locked: false,
        failed_logins: 0,
        has_password: true,
        must_change_password: true,
        password_reset_at: None,
        avatar: None,
    };
    let v = serde_json::to_value(&agent).unwrap();
    assert_eq!(v["first_name"], "Anna");
    assert_eq!(v["voice"]["type"], "friend");
    assert_eq!(v["voice"]["context"], "from-sip");
    assert_eq!(v["connection_mode"], "web_connect");
    assert_eq!(v["capacity"]["chat"], 1);
    assert_eq!(
        v["permissions"]["toolbar"]["receive_transfers_when_paused"],
        false
    );
    let back: Agent = serde_json::from_value(v).unwrap();
    assert_eq!(back, agent);
}

#[test]
fn defaults_match_the_reference_pages() {
    let p = AgentProfile::default();
    assert!(p.login_enabled, "Enable Agent Login defaults to enabled");
    assert_eq!(p.typology, Typology::Webrtc, "WebRTC is recommended");
    assert_eq!(p.voice.sip_type, SipType::Friend);
    assert_eq!(p.voice.record_calls, RecordCalls::Inactive);
    assert_eq!(p.voice.host, "dynamic");
    assert!(!p.voice.allowed_codecs.contains(&Codec::G729));
}
