//! The agent profile: the union of both reference pages (Connectel "Create Agents", ipSCAPE
//! "Agents") and issue 2 point 3.
//!
//! Typology and connection mode are two fields, not one: the Connectel page's *typology* says
//! what kind of endpoint the agent's audio runs on (a WebRTC browser phone, a SIP phone, or an
//! external number), which decides codec rules (g729 is refused for WebRTC); the ipSCAPE page's
//! *connection mode* says who dials whom at login (the system calls the agent, the agent calls
//! in, or a web connection), which decides whether a default phone number is required. They vary
//! independently (a SIP-phone agent may be "call me" or "call in"), so one merged enum would
//! either lose combinations or multiply variants.
//!
//! Secrets (the argon2id password hash, the SIP password) are not in [`Agent`], so no API output
//! built from an `Agent` can ever contain them; [`crate::admin`] keeps them beside it.

use super::settings;
use crate::common::{CampaignId, Capacity, Channel, SkillId, SkillLevel, TeamId};
use serde::{Deserialize, Serialize};

/// What kind of endpoint carries the agent's voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Typology {
    /// A WebRTC phone in the agent's browser (recommended; g729 is not available).
    #[default]
    Webrtc,
    /// A SIP softphone or desk phone registering to acd with the agent's extension.
    SipPhone,
    /// An external phone number (mobile, PSTN) reached by calling it.
    External,
}

/// How the agent's voice leg is set up at login (the default offered on the toolbar login).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMode {
    /// The system calls the agent's default phone number ("call me to connect").
    CallMe,
    /// The agent calls the system ("call in to connect").
    CallIn,
    /// The browser connects directly ("web connect").
    #[default]
    WebConnect,
}

/// Asterisk-style NAT handling for the agent's SIP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nat {
    /// Assume NAT: force rport and comedia.
    Yes,
    /// No NAT handling.
    #[default]
    No,
    /// Send responses to the source port (RFC 3581 rport).
    ForceRport,
    /// Send media to where media comes from.
    Comedia,
    /// Never apply NAT handling, even if requested.
    Never,
    /// Assume NAT but do not send rport.
    Route,
}

/// The SIP peer role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SipType {
    /// Both user and peer (the usual choice).
    #[default]
    Friend,
    /// Identifies incoming calls only.
    User,
    /// Used for outgoing calls only.
    Peer,
}

/// An audio codec the agent's endpoint may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// G.711 µ-law.
    Ulaw,
    /// G.711 A-law.
    Alaw,
    /// GSM 06.10.
    Gsm,
    /// G.722 wideband.
    G722,
    /// G.729 (not available to WebRTC agents).
    G729,
    /// Opus.
    Opus,
}

/// Recording of calls to the agent's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordCalls {
    /// No automatic recording.
    #[default]
    Inactive,
    /// WAV (PCM).
    Wav,
    /// WAV49 (GSM in WAV).
    Wav49,
    /// Raw GSM.
    Gsm,
}

settings! {
    /// The agent's SIP endpoint settings (Connectel "Voice" section).
    pub struct VoiceSettings / VoiceSettingsPatch {
        /// `dynamic` (registers from anywhere) or a fixed IP address.
        pub host: String = "dynamic".to_owned(),
        /// NAT handling.
        pub nat: Nat = Nat::No,
        /// SIP peer role.
        #[serde(rename = "type")]
        pub sip_type: SipType = SipType::Friend,
        /// Allowed audio codecs in preference order; non-empty, no duplicates.
        pub allowed_codecs: Vec<Codec> = vec![Codec::Opus, Codec::Ulaw, Codec::Alaw],
        /// Caller id shown to call recipients; `None` uses the agent CLI.
        pub caller_id: Option<String> = None,
        /// Dialplan context (letters, digits, `-`, `_`).
        pub context: String = "from-sip".to_owned(),
        /// Call groups, e.g. `1,3-5` (numbers 0–63).
        pub call_group: Option<String> = None,
        /// Pickup groups, e.g. `1,3-5` (numbers 0–63).
        pub pickup_group: Option<String> = None,
        /// Other agents may listen in (chanspy).
        pub chanspy: bool = false,
        /// The agent's trunk supports video.
        pub video: bool = false,
        /// Automatic recording of calls to the agent's extension.
        pub record_calls: RecordCalls = RecordCalls::Inactive,
    }
}

settings! {
    /// Auto answer for non-voice channels: the interaction is assigned without an accept step.
    pub struct AutoAnswer / AutoAnswerPatch {
        /// Auto answer is on.
        pub enabled: bool = false,
        /// Delay before answering, 0–30 seconds.
        pub delay_seconds: u16 = 0,
    }
}

settings! {
    /// Agent toolbar (phone bar) settings, SIP registration and general toolbar options.
    pub struct ToolbarSettings / ToolbarSettingsPatch {
        /// The agent may see and change their own toolbar settings.
        pub enable_settings: bool = true,
        /// Calls to the agent are answered automatically.
        pub auto_answer: bool = false,
        /// Delay before a call is auto-answered, 0–30 seconds.
        pub auto_answer_delay_seconds: u16 = 0,
        /// The agent may record calls by hand.
        pub enable_recording: bool = false,
        /// The agent hears DTMF tones when dialling.
        pub dtmf_tones: bool = true,
        /// No internal calls reach the agent while paused.
        pub dnd_during_pause: bool = true,
        /// The agent may place preview calls while paused.
        pub ignore_pause_for_preview_calls: bool = false,
        /// Calls may be offered while the agent is already on a call.
        pub ring_in_use: bool = false,
        /// SIP registration interval, 60–3600 seconds.
        pub sip_expires_seconds: u32 = 600,
        /// Internal messenger on the agent desktop.
        pub internal_messenger: bool = true,
        /// Sound on a new internal message.
        pub messenger_sound: bool = true,
        /// A dial prefix must be chosen for manual outbound calls.
        pub prefix_required: bool = false,
        /// The agent may choose the campaign used for "recall me".
        pub select_recall_me_campaign: bool = false,
        /// The "recall me" campaign, if one is fixed.
        pub recall_me_campaign: Option<CampaignId> = None,
    }
}

settings! {
    /// The agent as presented on the customer-facing chat widget.
    pub struct ChatProfile / ChatProfilePatch {
        /// Display name on the chat widget (at most 64 characters).
        pub display_name: Option<String> = None,
        /// Role shown under the display name (at most 128 characters).
        pub job_description: Option<String> = None,
    }
}

settings! {
    /// Per-channel capacity of an agent: voice 0–1, chat 1–5, email 0–10.
    pub struct CapacitySettings / CapacityPatch {
        /// Concurrent calls.
        pub voice: u8 = 1,
        /// Concurrent chats ("maximum active chats").
        pub chat: u8 = 1,
        /// Concurrent emails.
        pub email: u8 = 1,
    }
}

impl From<CapacitySettings> for Capacity {
    fn from(c: CapacitySettings) -> Self {
        Capacity {
            voice: c.voice,
            chat: c.chat,
            email: c.email,
        }
    }
}

settings! {
    /// What the agent may download for their own interactions.
    pub struct DownloadPermissions / DownloadPermissionsPatch {
        /// Chat, email and open-channel attachments.
        pub attachments: bool = false,
        /// Interaction transcripts.
        pub interactions: bool = false,
        /// Voice recordings.
        pub voice_recordings: bool = false,
    }
}

settings! {
    /// Agent toolbar permissions (ipSCAPE "Agent Permissions", "Show number of interactions in
    /// queue" and "Campaign Access").
    pub struct ToolbarPermissions / ToolbarPermissionsPatch {
        /// A list of pause reasons is offered on pause.
        pub pause_reasons: bool = true,
        /// The lead management dialog.
        pub lead_manager: bool = false,
        /// Today's callback list (view only).
        pub callback_list: bool = false,
        /// Transfers from other agents reach the agent while paused.
        pub receive_transfers_when_paused: bool = false,
        /// Email search from the toolbar.
        pub email_search: bool = false,
        /// The agent-call (internal call) button.
        pub agent_call: bool = true,
        /// Manual outbound calls.
        pub manual_call: bool = false,
        /// Show the number of calls waiting.
        pub show_queued_calls: bool = true,
        /// Show the number of emails waiting.
        pub show_queued_emails: bool = true,
        /// Show the number of chats waiting.
        pub show_queued_chats: bool = true,
        /// Only running outbound campaigns are listed for manual calls.
        pub running_outbound_campaigns_only: bool = false,
    }
}

settings! {
    /// Everything an agent may see and do: sections, channels, plugins, downloads, toolbar.
    pub struct Permissions / PermissionsPatch {
        /// Admin/workspace sections (lowercase identifiers, e.g. `contacts`, `reports`).
        pub sections: Vec<String> = Vec::new(),
        /// Channels the agent may handle.
        pub channels: Vec<Channel> = vec![Channel::Voice, Channel::Chat, Channel::Email],
        /// Plugins (lowercase identifiers).
        pub plugins: Vec<String> = Vec::new(),
        /// Download permissions.
        pub download: DownloadPermissions [DownloadPermissionsPatch] = DownloadPermissions::default(),
        /// Toolbar permissions.
        pub toolbar: ToolbarPermissions [ToolbarPermissionsPatch] = ToolbarPermissions::default(),
    }
}

settings! {
    /// Multi-factor authentication enrolment flags (the secrets live with the login service).
    pub struct MfaSettings / MfaSettingsPatch {
        /// TOTP required at login.
        pub totp: bool = false,
        /// WebAuthn required at login.
        pub webauthn: bool = false,
    }
}

/// An agent's level in a skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AgentSkill {
    /// The skill.
    pub skill: SkillId,
    /// 0 (none) to 100 (expert).
    pub level: SkillLevel,
}

/// An agent's assignment to a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CampaignAssignment {
    /// The campaign.
    pub campaign: CampaignId,
    /// 1 (highest) to 10 (lowest).
    pub priority: u8,
}

settings! {
    /// Every editable field of an agent profile (everything but the id, the username, the
    /// extension and credentials, and state the system sets such as `locked`).
    pub struct AgentProfile / AgentProfilePatch {
        /// First name: letters (accented too), digits, spaces, apostrophe, hyphen.
        pub first_name: String = String::new(),
        /// Last name: same characters as the first name.
        pub last_name: String = String::new(),
        /// Shown in dashboards and reports instead of the username.
        pub alias: Option<String> = None,
        /// Email address (also where voicemail is sent).
        pub email: Option<String> = None,
        /// Working title or areas of expertise.
        pub description: Option<String> = None,
        /// The kind of voice endpoint.
        pub typology: Typology = Typology::Webrtc,
        /// Default connection mode at toolbar login.
        pub connection_mode: ConnectionMode = ConnectionMode::WebConnect,
        /// Keep the agent's voice leg up between interactions.
        pub connection_persistence: bool = false,
        /// Number called for `call_me`; required when the connection mode is `call_me`.
        pub default_phone_number: Option<String> = None,
        /// The agent may log in (ipSCAPE "Enable Agent Login").
        pub login_enabled: bool = true,
        /// The agent starts paused at login.
        pub login_pause: bool = false,
        /// The account is disabled (reversible).
        pub disabled: bool = false,
        /// Contact personal data is masked for this agent.
        pub mask_sensitive_data: bool = false,
        /// The agent's CLI; `None` uses the organisation's default CLI.
        pub cli: Option<String> = None,
        /// IANA time zone name, e.g. `Europe/Stockholm`.
        pub timezone: String = "UTC".to_owned(),
        /// A voicemail box exists for the agent.
        pub voicemail: bool = false,
        /// SIP endpoint settings.
        pub voice: VoiceSettings [VoiceSettingsPatch] = VoiceSettings::default(),
        /// Per-channel capacity.
        pub capacity: CapacitySettings [CapacityPatch] = CapacitySettings::default(),
        /// Auto answer for chat and email.
        pub auto_answer: AutoAnswer [AutoAnswerPatch] = AutoAnswer::default(),
        /// Toolbar settings.
        pub toolbar: ToolbarSettings [ToolbarSettingsPatch] = ToolbarSettings::default(),
        /// Chat widget presentation.
        pub chat: ChatProfile [ChatProfilePatch] = ChatProfile::default(),
        /// Multi-factor authentication.
        pub mfa: MfaSettings [MfaSettingsPatch] = MfaSettings::default(),
        /// Permissions (also replaceable on their own).
        pub permissions: Permissions [PermissionsPatch] = Permissions::default(),
        /// Skills with levels.
        pub skills: Vec<AgentSkill> = Vec::new(),
        /// Teams the agent belongs to.
        pub teams: Vec<TeamId> = Vec::new(),
        /// Campaigns with the agent's priority in each.
        pub campaigns: Vec<CampaignAssignment> = Vec::new(),
    }
}

/// The media type of an avatar, detected from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageType {
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
    /// JPEG (`FF D8 FF`).
    Jpeg,
}

impl ImageType {
    /// The MIME type.
    pub const fn mime(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
        }
    }
}

/// What is known about an agent's avatar (the bytes are fetched separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarInfo {
    /// Detected media type.
    pub media_type: ImageType,
    /// Size in bytes.
    pub size: u32,
}

/// An agent as the API shows it. Holds no secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Unique, allocated on create, never reused.
    pub id: crate::common::AgentId,
    /// Unique login name; cannot change after creation.
    pub username: String,
    /// SIP extension: the organisation prefix followed by the id, unless set by hand.
    pub extension: String,
    /// The editable profile.
    #[serde(flatten)]
    pub profile: AgentProfile,
    /// Locked after too many failed logins; cleared by an admin unlock.
    pub locked: bool,
    /// Consecutive failed logins since the last success or unlock.
    pub failed_logins: u32,
    /// A password is set.
    pub has_password: bool,
    /// The password must be changed at the next login.
    pub must_change_password: bool,
    /// When an admin last set or reset the password (RFC 3339).
    pub password_reset_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The avatar, if one was uploaded.
    pub avatar: Option<AvatarInfo>,
}

impl Agent {
    /// Active = login enabled and not disabled (the "status" filter of the agent list).
    pub fn is_active(&self) -> bool {
        self.profile.login_enabled && !self.profile.disabled
    }
}

/// Input for creating an agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateAgent {
    /// Unique, lowercase, `a-z 0-9 ! @ # $ % ^ & _ .`, 2–64 characters.
    pub username: String,
    /// Initial password, checked against the organisation policy; the agent must change it at
    /// first login. Without one the agent cannot log in until an admin sets or resets it.
    pub password: Option<String>,
    /// If given, must equal `password`.
    pub password_confirmation: Option<String>,
    /// Extension set by hand (digits); by default the organisation prefix followed by the id.
    pub extension: Option<String>,
    /// SIP password set by hand; by default one is generated and returned once.
    pub sip_password: Option<String>,
    /// The profile.
    #[serde(flatten)]
    pub profile: AgentProfile,
}

/// Input for a PATCH of an agent: only given fields change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentPatch {
    /// Must be absent or equal to the current username (rule `immutable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `"digits"` sets the extension by hand; `null` returns to prefix + id.
    #[serde(
        deserialize_with = "crate::model::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub extension: Option<Option<String>>,
    /// A new SIP password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_password: Option<String>,
    /// Profile fields.
    #[serde(flatten)]
    pub profile: AgentProfilePatch,
}
