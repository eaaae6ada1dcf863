//! Validation rules of the admin model, as pure functions collecting [`FieldError`]s.
//!
//! Rules that need the rest of the configuration (uniqueness, references to teams or queues)
//! are checked by [`crate::admin`], with the same error type and rule names.

use super::*;
use crate::common::Channel;
use serde::Serialize;
use std::collections::HashSet;

/// A rule name, stable and machine-readable (`required`, `range`, ...).
pub type Rule = &'static str;

/// The rule names used in [`FieldError::rule`].
pub mod rules {
    use super::Rule;
    /// A value is required.
    pub const REQUIRED: Rule = "required";
    /// Too short or too long.
    pub const LENGTH: Rule = "length";
    /// A number out of its range.
    pub const RANGE: Rule = "range";
    /// Characters outside the allowed set.
    pub const CHARSET: Rule = "charset";
    /// Letters must be lowercase.
    pub const LOWERCASE: Rule = "lowercase";
    /// Digits only.
    pub const DIGITS: Rule = "digits";
    /// Not a valid email address.
    pub const EMAIL: Rule = "email";
    /// Not a valid phone number.
    pub const PHONE: Rule = "phone";
    /// Not an IANA time zone.
    pub const TIMEZONE: Rule = "timezone";
    /// Neither `dynamic` nor an IP address.
    pub const HOST: Rule = "host";
    /// A call or pickup group list like `1,3-5` with numbers 0–63.
    pub const GROUP: Rule = "group";
    /// A codec not allowed with this typology.
    pub const CODEC: Rule = "codec";
    /// A duplicate in a list.
    pub const DUPLICATE: Rule = "duplicate";
    /// Already used by another record.
    pub const UNIQUE: Rule = "unique";
    /// A referenced record does not exist.
    pub const EXISTS: Rule = "exists";
    /// The field cannot change after creation.
    pub const IMMUTABLE: Rule = "immutable";
    /// Does not equal the field it must confirm.
    pub const CONFIRMATION: Rule = "confirmation";
    /// Password policy: lowercase letter missing.
    pub const PASSWORD_LOWERCASE: Rule = "password_lowercase";
    /// Password policy: uppercase letter missing.
    pub const PASSWORD_UPPERCASE: Rule = "password_uppercase";
    /// Password policy: digit missing.
    pub const PASSWORD_DIGIT: Rule = "password_digit";
    /// Password policy: symbol missing.
    pub const PASSWORD_SYMBOL: Rule = "password_symbol";
    /// Password policy: contains the username.
    pub const PASSWORD_USERNAME: Rule = "password_username";
    /// Relaxation steps out of order.
    pub const ORDER: Rule = "order";
    /// A value that does not fit with another field (e.g. voicemail overflow on a chat queue).
    pub const CONSISTENCY: Rule = "consistency";
    /// Wrong current password.
    pub const WRONG_PASSWORD: Rule = "wrong_password";
    /// A search parameter is invalid.
    pub const QUERY: Rule = "query";
    /// An uploaded audio file is not a WAV in a format acd plays.
    pub const AUDIO_FORMAT: Rule = "audio_format";
}

/// One failed rule on one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field, e.g. `voice.allowed_codecs` or `capacity.chat`.
    pub field: String,
    /// The rule that failed (see [`rules`]).
    pub rule: Rule,
    /// What was wrong and what is accepted, for a person.
    pub message: String,
}

impl FieldError {
    /// Builds an error.
    pub fn new(field: impl Into<String>, rule: Rule, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.rule)
    }
}

/// Collects errors.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    /// Records `rule` on `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: &str, rule: Rule, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(FieldError::new(field, rule, message()));
        }
    }

    /// Records an error.
    pub fn push(&mut self, field: impl Into<String>, rule: Rule, message: impl Into<String>) {
        self.0.push(FieldError::new(field, rule, message));
    }

    /// No error so far.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` if empty, else the errors.
    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Characters allowed in a username besides `a-z` and `0-9`.
pub const USERNAME_SYMBOLS: &str = "!@#$%^&_.";

/// Username: 2–64 characters, lowercase `a-z`, digits and `! @ # $ % ^ & _ .`.
pub fn check_username(e: &mut Errors, field: &str, username: &str) {
    let len = username.chars().count();
    if len == 0 {
        e.push(field, rules::REQUIRED, "a username is required");
        return;
    }
    e.check((2..=64).contains(&len), field, rules::LENGTH, || {
        "must be 2 to 64 characters".into()
    });
    if username.chars().any(|c| c.is_uppercase()) {
        e.push(field, rules::LOWERCASE, "use lowercase letters only");
    } else {
        e.check(
            username.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || USERNAME_SYMBOLS.contains(c)
            }),
            field,
            rules::CHARSET,
            || "only a-z, 0-9 and ! @ # $ % ^ & _ . are allowed".into(),
        );
    }
}

/// A person's name: 1–100 characters; letters (accented too), digits, spaces, `'` and `-`.
pub fn check_name(e: &mut Errors, field: &str, name: &str) {
    if name.trim().is_empty() {
        e.push(field, rules::REQUIRED, "a name is required");
        return;
    }
    e.check(name.chars().count() <= 100, field, rules::LENGTH, || {
        "must be at most 100 characters".into()
    });
    e.check(
        name.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '\'' || c == '-'),
        field,
        rules::CHARSET,
        || "only letters, digits, spaces, apostrophes and hyphens are allowed".into(),
    );
}

/// An email address: `local@domain.tld`, no spaces, at most 254 characters.
pub fn check_email(e: &mut Errors, field: &str, email: &str) {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    e.check(ok, field, rules::EMAIL, || {
        "must be an email address like name@example.com".into()
    });
}

/// A phone number: an optional leading `+` then 3–20 digits.
pub fn is_phone(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Records a `phone` error unless `s` is a phone number.
pub fn check_phone(e: &mut Errors, field: &str, s: &str) {
    e.check(is_phone(s), field, rules::PHONE, || {
        "must be an optional + followed by 3 to 20 digits".into()
    });
}

/// Free text: at most `max` characters, no control characters.
pub fn check_text(e: &mut Errors, field: &str, s: &str, max: usize) {
    e.check(s.chars().count() <= max, field, rules::LENGTH, || {
        format!("must be at most {max} characters")
    });
    e.check(
        !s.chars().any(|c| c.is_control() && c != '\n'),
        field,
        rules::CHARSET,
        || "control characters are not allowed".into(),
    );
}

/// A required display name for a record: 1–100 characters, no control characters.
pub fn check_record_name(e: &mut Errors, field: &str, s: &str) {
    if s.trim().is_empty() {
        e.push(field, rules::REQUIRED, "a name is required");
    } else {
        check_text(e, field, s, 100);
    }
}

/// A number within an inclusive range.
pub fn check_range<T: PartialOrd + std::fmt::Display + Copy>(
    e: &mut Errors,
    field: &str,
    v: T,
    lo: T,
    hi: T,
) {
    e.check(v >= lo && v <= hi, field, rules::RANGE, || {
        format!("must be between {lo} and {hi}")
    });
}

/// An IANA time zone known to the tz database (`Europe/Stockholm`, `UTC`, ...).
pub fn check_timezone(e: &mut Errors, field: &str, tz: &str) {
    e.check(
        tz.parse::<chrono_tz::Tz>().is_ok(),
        field,
        rules::TIMEZONE,
        || format!("`{tz}` is not an IANA time zone (region/zone, e.g. Europe/Stockholm)"),
    );
}

/// Extension: 1–20 digits.
pub fn check_extension(e: &mut Errors, field: &str, ext: &str) {
    e.check(
        !ext.is_empty() && ext.len() <= 20 && ext.bytes().all(|b| b.is_ascii_digit()),
        field,
        rules::DIGITS,
        || "must be 1 to 20 digits".into(),
    );
}

/// SIP password: 8–64 printable ASCII characters without spaces.
pub fn check_sip_password(e: &mut Errors, field: &str, pw: &str) {
    e.check((8..=64).contains(&pw.len()), field, rules::LENGTH, || {
        "must be 8 to 64 characters".into()
    });
    e.check(
        pw.bytes().all(|b| b.is_ascii_graphic()),
        field,
        rules::CHARSET,
        || "only printable ASCII characters without spaces".into(),
    );
}

/// A call/pickup group list: `n` or `n-m` items separated by commas, numbers 0–63.
pub fn is_group_list(s: &str) -> bool {
    let num = |p: &str| {
        !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()) && {
            p.parse::<u8>().map(|n| n <= 63).unwrap_or(false)
        }
    };
    !s.is_empty()
        && s.split(',').all(|item| match item.split_once('-') {
            Some((a, b)) => num(a) && num(b) && a.parse::<u8>().ok() <= b.parse::<u8>().ok(),
            None => num(item),
        })
}

/// Checks a password against the policy (and the 128-character maximum).
pub fn check_password(
    e: &mut Errors,
    field: &str,
    password: &str,
    username: &str,
    policy: &PasswordPolicy,
) {
    let len = password.chars().count();
    e.check(
        len >= policy.min_length as usize && len <= 128,
        field,
        rules::LENGTH,
        || format!("must be {} to 128 characters", policy.min_length),
    );
    if policy.require_lowercase && !password.chars().any(char::is_lowercase) {
        e.push(field, rules::PASSWORD_LOWERCASE, "needs a lowercase letter");
    }
    if policy.require_uppercase && !password.chars().any(char::is_uppercase) {
        e.push(
            field,
            rules::PASSWORD_UPPERCASE,
            "needs an uppercase letter",
        );
    }
    if policy.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
        e.push(field, rules::PASSWORD_DIGIT, "needs a digit");
    }
    if policy.require_symbol && !password.chars().any(|c| !c.is_alphanumeric()) {
        e.push(
            field,
            rules::PASSWORD_SYMBOL,
            "needs a character that is not a letter or digit",
        );
    }
    if policy.forbid_username
        && !username.is_empty()
        && password.to_lowercase().contains(&username.to_lowercase())
    {
        e.push(
            field,
            rules::PASSWORD_USERNAME,
            "must not contain the username",
        );
    }
}

fn check_unique<T: Eq + std::hash::Hash>(
    e: &mut Errors,
    field: &str,
    items: impl Iterator<Item = T>,
) {
    let mut seen = HashSet::new();
    for item in items {
        if !seen.insert(item) {
            e.push(field, rules::DUPLICATE, "each entry may appear only once");
            return;
        }
    }
}

fn check_identifier_list(e: &mut Errors, field: &str, list: &[String]) {
    for (i, s) in list.iter().enumerate() {
        e.check(
            !s.is_empty()
                && s.len() <= 64
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                }),
            &format!("{field}[{i}]"),
            rules::CHARSET,
            || "must be 1 to 64 of a-z, 0-9, _ and -".into(),
        );
    }
    check_unique(e, field, list.iter());
}

/// Permissions, field paths prefixed with `prefix` (e.g. `permissions.`).
pub fn check_permissions(e: &mut Errors, prefix: &str, p: &Permissions) {
    check_identifier_list(e, &format!("{prefix}sections"), &p.sections);
    check_identifier_list(e, &format!("{prefix}plugins"), &p.plugins);
    check_unique(e, &format!("{prefix}channels"), p.channels.iter());
}

/// Every rule of an agent profile that needs nothing but the profile.
pub fn check_profile(e: &mut Errors, p: &AgentProfile) {
    check_name(e, "first_name", &p.first_name);
    check_name(e, "last_name", &p.last_name);
    if let Some(alias) = &p.alias {
        check_text(e, "alias", alias, 64);
    }
    if let Some(email) = &p.email {
        check_email(e, "email", email);
    }
    if let Some(d) = &p.description {
        check_text(e, "description", d, 500);
    }
    match &p.default_phone_number {
        Some(n) => check_phone(e, "default_phone_number", n),
        None => e.check(
            p.connection_mode != ConnectionMode::CallMe,
            "default_phone_number",
            rules::REQUIRED,
            || "a default phone number is required when the connection mode is call_me".into(),
        ),
    }
    if let Some(cli) = &p.cli {
        check_phone(e, "cli", cli);
    }
    check_timezone(e, "timezone", &p.timezone);

    let v = &p.voice;
    e.check(
        v.host == "dynamic" || v.host.parse::<std::net::IpAddr>().is_ok(),
        "voice.host",
        rules::HOST,
        || "must be `dynamic` or an IP address".into(),
    );
    if v.allowed_codecs.is_empty() {
        e.push(
            "voice.allowed_codecs",
            rules::REQUIRED,
            "at least one codec is required",
        );
    }
    check_unique(e, "voice.allowed_codecs", v.allowed_codecs.iter());
    e.check(
        !(p.typology == Typology::Webrtc && v.allowed_codecs.contains(&Codec::G729)),
        "voice.allowed_codecs",
        rules::CODEC,
        || "g729 is not available to WebRTC agents".into(),
    );
    if let Some(cid) = &v.caller_id {
        check_text(e, "voice.caller_id", cid, 80);
    }
    e.check(
        !v.context.is_empty()
            && v.context.len() <= 79
            && v.context
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "voice.context",
        rules::CHARSET,
        || "must be 1 to 79 of letters, digits, - and _ (default from-sip)".into(),
    );
    for (field, g) in [
        ("voice.call_group", &v.call_group),
        ("voice.pickup_group", &v.pickup_group),
    ] {
        if let Some(g) = g {
            e.check(is_group_list(g), field, rules::GROUP, || {
                "must be numbers 0-63 or ranges like 1,3-5".into()
            });
        }
    }

    check_range(e, "capacity.voice", p.capacity.voice, 0, 1);
    check_range(e, "capacity.chat", p.capacity.chat, 1, 5);
    check_range(e, "capacity.email", p.capacity.email, 0, 10);
    check_range(
        e,
        "auto_answer.delay_seconds",
        p.auto_answer.delay_seconds,
        0,
        30,
    );

    let t = &p.toolbar;
    check_range(
        e,
        "toolbar.auto_answer_delay_seconds",
        t.auto_answer_delay_seconds,
        0,
        30,
    );
    check_range(
        e,
        "toolbar.sip_expires_seconds",
        t.sip_expires_seconds,
        60,
        3600,
    );

    if let Some(n) = &p.chat.display_name {
        check_text(e, "chat.display_name", n, 64);
    }
    if let Some(j) = &p.chat.job_description {
        check_text(e, "chat.job_description", j, 128);
    }
    check_permissions(e, "permissions.", &p.permissions);

    for (i, s) in p.skills.iter().enumerate() {
        check_range(e, &format!("skills[{i}].level"), s.level, 0, 100);
    }
    check_unique(e, "skills", p.skills.iter().map(|s| s.skill));
    check_unique(e, "teams", p.teams.iter());
    for (i, c) in p.campaigns.iter().enumerate() {
        check_range(e, &format!("campaigns[{i}].priority"), c.priority, 1, 10);
    }
    check_unique(e, "campaigns", p.campaigns.iter().map(|c| c.campaign));
}

/// Queue settings that need nothing but the queue (`self_id` is the queue's own id on update).
pub fn check_queue(e: &mut Errors, q: &QueueSettings, self_id: Option<crate::common::QueueId>) {
    check_record_name(e, "name", &q.name);
    e.check(
        q.strategy != crate::common::Strategy::RingAll || q.channel == Channel::Voice,
        "strategy",
        rules::CONSISTENCY,
        || "ring_all is for voice queues only".into(),
    );
    check_range(e, "ring_timeout_seconds", q.ring_timeout_seconds, 5, 600);
    check_range(e, "wrap_up_seconds", q.wrap_up_seconds, 0, 3600);
    if let Some(w) = q.max_wait_seconds {
        check_range(e, "max_wait_seconds", w, 1, 86_400);
    }
    match &q.overflow_action {
        OverflowAction::Queue { queue } => e.check(
            Some(*queue) != self_id,
            "overflow_action.queue",
            rules::CONSISTENCY,
            || "a queue cannot overflow into itself".into(),
        ),
        OverflowAction::Voicemail => e.check(
            q.channel == Channel::Voice,
            "overflow_action",
            rules::CONSISTENCY,
            || "voicemail is for voice queues only".into(),
        ),
        OverflowAction::End { reason } => e.check(
            !reason.is_empty()
                && reason.len() <= 64
                && reason
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "overflow_action.reason",
            rules::CHARSET,
            || "must be 1 to 64 of letters, digits, _ and -".into(),
        ),
    }
    if let Some(n) = q.max_queue_length {
        check_range(e, "max_queue_length", n, 1, 100_000);
    }
    if let Some(n) = q.auto_pause_after_no_answers {
        check_range(e, "auto_pause_after_no_answers", n, 1, 100);
    }
    check_range(e, "reject_delay_seconds", q.reject_delay_seconds, 0, 3600);
    check_range(e, "service_level_seconds", q.service_level_seconds, 1, 3600);
    check_range(e, "priority", q.priority, 0, 100);
    if let Some(p) = &q.welcome_prompt {
        check_prompt_name(e, "welcome_prompt", p);
    }
    check_prompt_name(e, "hold_audio", &q.hold_audio);
    check_range(
        e,
        "announce_interval_seconds",
        q.announce_interval_seconds,
        10,
        600,
    );
    check_unique(
        e,
        "skill_requirements",
        q.skill_requirements.iter().map(|r| r.skill),
    );
    for (i, r) in q.skill_requirements.iter().enumerate() {
        let f = format!("skill_requirements[{i}]");
        check_range(e, &format!("{f}.min_level"), r.min_level, 1, 100);
        let mut last = (0u32, r.min_level);
        for (j, step) in r.relax.iter().enumerate() {
            e.check(
                step.after_seconds > last.0 && step.min_level < last.1,
                &format!("{f}.relax[{j}]"),
                rules::ORDER,
                || "each step must come later and accept a lower level than the one before".into(),
            );
            last = (step.after_seconds, step.min_level);
        }
    }
}

/// The longest prompt name.
pub const PROMPT_NAME_MAX: usize = 40;

/// A prompt name: 1–40 of `a-z`, `0-9` and `_` (it is also a path segment and a store key).
pub fn is_prompt_name(name: &str) -> bool {
    (1..=PROMPT_NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A prompt name (see [`is_prompt_name`]).
pub fn check_prompt_name(e: &mut Errors, field: &str, name: &str) {
    if name.is_empty() {
        e.push(field, rules::REQUIRED, "a prompt name is required");
        return;
    }
    e.check(is_prompt_name(name), field, rules::CHARSET, || {
        format!("a prompt name is 1 to {PROMPT_NAME_MAX} of a-z, 0-9 and _")
    });
}

/// Membership settings.
pub fn check_member(e: &mut Errors, m: &MemberSettings) {
    check_range(e, "penalty", m.penalty, 0, 1000);
}

/// Team settings.
pub fn check_team(e: &mut Errors, t: &TeamSettings) {
    check_record_name(e, "name", &t.name);
    if let Some(d) = &t.description {
        check_text(e, "description", d, 500);
    }
}

/// Skill settings.
pub fn check_skill(e: &mut Errors, s: &SkillSettings) {
    check_record_name(e, "name", &s.name);
    if let Some(d) = &s.description {
        check_text(e, "description", d, 500);
    }
}

/// Campaign settings.
pub fn check_campaign(e: &mut Errors, c: &CampaignSettings) {
    check_record_name(e, "name", &c.name);
    if let Some(d) = &c.description {
        check_text(e, "description", d, 500);
    }
    if let Some(cli) = &c.cli {
        check_phone(e, "cli", cli);
    }
}

/// Pause reason settings.
pub fn check_pause_reason(e: &mut Errors, p: &PauseReasonSettings) {
    check_record_name(e, "name", &p.name);
    if let Some(m) = p.max_duration_seconds {
        check_range(e, "max_duration_seconds", m, 1, 86_400);
    }
}

/// A number and its settings.
pub fn check_number(e: &mut Errors, number: &str, n: &NumberSettings) {
    check_phone(e, "number", number);
    e.check(n.target.is_some(), "target", rules::REQUIRED, || {
        "a target (queue or agent) is required".into()
    });
    if let Some(d) = &n.description {
        check_text(e, "description", d, 500);
    }
}

/// Organisation settings.
pub fn check_org(e: &mut Errors, o: &OrgSettings) {
    e.check(
        o.extension_prefix.len() <= 10 && o.extension_prefix.bytes().all(|b| b.is_ascii_digit()),
        "extension_prefix",
        rules::DIGITS,
        || "must be 0 to 10 digits".into(),
    );
    check_range(
        e,
        "password_policy.min_length",
        o.password_policy.min_length,
        8,
        128,
    );
    if let Some(cli) = &o.default_cli {
        check_phone(e, "default_cli", cli);
    }
    check_range(e, "lockout_threshold", o.lockout_threshold, 0, 100);
}
