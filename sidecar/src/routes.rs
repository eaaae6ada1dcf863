//! The route table of the admin API: every method and path the server answers, with what it
//! takes and returns. The server matches requests against [`ROUTES`] and the OpenAPI document is
//! generated from it, so the two cannot disagree.
//!
//! Owns: paths, methods, operation names, payload kinds, query parameters and body limits. Does
//! not own: handlers (see `api`) or schemas (see `openapi`).

use warp::http::Method;

/// The API's path prefix.
pub const PREFIX: &str = "/api/v1";

/// Largest JSON body accepted.
pub const JSON_LIMIT: usize = 1024 * 1024;

/// Largest avatar accepted (8 MiB, as the reference pages say).
pub const AVATAR_LIMIT: usize = acd_engine::admin::AVATAR_MAX_BYTES;

/// Largest prompt accepted (ten minutes of 8 kHz 16-bit audio plus headers).
pub const PROMPT_LIMIT: usize = acd_engine::admin::PROMPT_MAX_BYTES;

/// Media types a prompt upload may declare (`audio/wav` and its historical aliases).
pub const WAV_TYPES: &[&str] = &["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"];

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Verb {
    /// Upper-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    fn matches(self, method: &Method) -> bool {
        method.as_str() == self.as_str()
    }
}

/// What a request or response body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// No body.
    Empty,
    /// JSON of the named component schema.
    Json(&'static str),
    /// A JSON array of the named component schema.
    JsonList(&'static str),
    /// A PNG or JPEG image.
    Image,
    /// A WAV file (`audio/wav`).
    Audio,
}

/// A query parameter a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryParam {
    /// Its name.
    pub name: &'static str,
    /// `string` or `integer`.
    pub kind: &'static str,
    /// Allowed values, if an enumeration.
    pub values: &'static [&'static str],
    /// What it does.
    pub description: &'static str,
}

/// Every operation the API serves; `api::dispatch` matches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Op {
    OpenApi,
    ListAgents,
    CreateAgent,
    GetAgent,
    UpdateAgent,
    DeleteAgent,
    SetPassword,
    ResetPassword,
    GetPermissions,
    PutPermissions,
    DisableAgent,
    EnableAgent,
    UnlockAgent,
    PutAvatar,
    GetAvatar,
    DeleteAvatar,
    ListTeams,
    CreateTeam,
    GetTeam,
    UpdateTeam,
    DeleteTeam,
    ListQueues,
    CreateQueue,
    GetQueue,
    UpdateQueue,
    DeleteQueue,
    ListMembers,
    PutMember,
    DeleteMember,
    ListCampaigns,
    CreateCampaign,
    GetCampaign,
    UpdateCampaign,
    DeleteCampaign,
    ListSkills,
    CreateSkill,
    GetSkill,
    UpdateSkill,
    DeleteSkill,
    ListPauseReasons,
    CreatePauseReason,
    GetPauseReason,
    UpdatePauseReason,
    DeletePauseReason,
    ListNumbers,
    CreateNumber,
    GetNumber,
    UpdateNumber,
    DeleteNumber,
    GetSettings,
    UpdateSettings,
    ListQueueStats,
    GetQueueStats,
    ListAgentStates,
    GetAgentState,
    ListPrompts,
    GetPrompt,
    PutPrompt,
    DeletePrompt,
    GetMediaStats,
}

/// One served route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Method.
    pub verb: Verb,
    /// Full path with `{name}` parameters.
    pub path: &'static str,
    /// The operation.
    pub op: Op,
    /// OpenAPI tag.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Request body.
    pub request: Payload,
    /// Success status.
    pub status: u16,
    /// Success body.
    pub response: Payload,
    /// Query parameters.
    pub query: &'static [QueryParam],
}

impl Route {
    /// The names of the path's `{..}` parameters, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }

    /// The largest body this route reads.
    pub fn body_limit(&self) -> usize {
        match self.request {
            Payload::Image => AVATAR_LIMIT,
            Payload::Audio => PROMPT_LIMIT,
            Payload::Json(_) | Payload::JsonList(_) => JSON_LIMIT,
            // Bodies on routes that take none are ignored, but still bounded.
            Payload::Empty => JSON_LIMIT,
        }
    }

    /// The OpenAPI operation id (`listAgents`).
    pub fn operation_id(&self) -> String {
        let name = format!("{:?}", self.op);
        let mut chars = name.chars();
        match chars.next() {
            Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
            None => name,
        }
    }
}

/// The outcome of matching a request against [`ROUTES`].
#[derive(Debug)]
pub enum Match {
    /// A route and its path parameters (raw, percent-decoded).
    Found(&'static Route, Vec<String>),
    /// The path exists with these other methods.
    MethodNotAllowed(Vec<&'static str>),
    /// No route has this path.
    NotFound,
}

/// Finds the route for a method and a full path.
pub fn find(method: &Method, path: &str) -> Match {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.verb.matches(method) {
                return Match::Found(route, params);
            }
            allowed.push(route.verb.as_str());
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed(allowed)
    }
}

fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (pat.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(g)) if p.starts_with('{') => {
                if g.is_empty() {
                    return None;
                }
                params.push(percent_decode(g));
            }
            (Some(p), Some(g)) if p == g => {}
            _ => return None,
        }
    }
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (
                (bytes[i + 1] as char).to_digit(16),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const PAGE: &[QueryParam] = &[
    QueryParam {
        name: "offset",
        kind: "integer",
        values: &[],
        description: "Items to skip (default 0).",
    },
    QueryParam {
        name: "limit",
        kind: "integer",
        values: &[],
        description: "Items to return, 1 to 1000 (default 50).",
    },
];

/// Values of the agent list's `status` parameter.
pub const STATUS_VALUES: &[&str] = &["all", "active", "inactive"];
/// Values of the agent list's `sort` parameter.
pub const SORT_VALUES: &[&str] = &[
    "id",
    "username",
    "first_name",
    "last_name",
    "cli",
    "timezone",
];
/// Values of the agent list's `order` parameter.
pub const ORDER_VALUES: &[&str] = &["asc", "desc"];

/// Query parameters of `GET /agents`.
pub const AGENT_SEARCH: &[QueryParam] = &[
    QueryParam {
        name: "q",
        kind: "string",
        values: &[],
        description: "Quick search: part of the agent id or of the username.",
    },
    QueryParam {
        name: "first_name",
        kind: "string",
        values: &[],
        description: "Advanced search: first name starts with (case-insensitive).",
    },
    QueryParam {
        name: "last_name",
        kind: "string",
        values: &[],
        description: "Advanced search: last name starts with (case-insensitive).",
    },
    QueryParam {
        name: "username",
        kind: "string",
        values: &[],
        description: "Advanced search: username starts with.",
    },
    QueryParam {
        name: "agent_id",
        kind: "string",
        values: &[],
        description: "Advanced search: agent id starts with (decimal digits).",
    },
    QueryParam {
        name: "cli",
        kind: "string",
        values: &[],
        description: "Advanced search: exact agent CLI.",
    },
    QueryParam {
        name: "status",
        kind: "string",
        values: STATUS_VALUES,
        description: "Advanced search: all (default), active or inactive.",
    },
    QueryParam {
        name: "sort",
        kind: "string",
        values: SORT_VALUES,
        description: "Sort key (default id).",
    },
    QueryParam {
        name: "order",
        kind: "string",
        values: ORDER_VALUES,
        description: "Sort order (default asc).",
    },
    PAGE[0],
    PAGE[1],
];

macro_rules! route {
    ($verb:ident $path:literal $op:ident $tag:literal $summary:literal,
     $req:expr => $status:literal $resp:expr $(, $query:expr)?) => {
        Route {
            verb: Verb::$verb,
            path: concat!("/api/v1", $path),
            op: Op::$op,
            tag: $tag,
            summary: $summary,
            request: $req,
            status: $status,
            response: $resp,
            query: route!(@q $($query)?),
        }
    };
    (@q) => { &[] };
    (@q $q:expr) => { $q };
}

use Payload::{Audio, Empty, Image, Json, JsonList};

/// Every route the admin API serves.
pub static ROUTES: &[Route] = &[
    route!(Get "/openapi.json" OpenApi "meta" "This OpenAPI document", Empty => 200 Json("OpenApiDocument")),
    // Agents.
    route!(Get "/agents" ListAgents "agents" "List and search agents", Empty => 200 Json("AgentPage"), AGENT_SEARCH),
    route!(Post "/agents" CreateAgent "agents" "Create an agent", Json("CreateAgent") => 201 Json("CreatedAgent")),
    route!(Get "/agents/{id}" GetAgent "agents" "Get an agent", Empty => 200 Json("Agent")),
    route!(Patch "/agents/{id}" UpdateAgent "agents" "Update an agent (only given fields; username is immutable)", Json("AgentPatch") => 200 Json("Agent")),
    route!(Delete "/agents/{id}" DeleteAgent "agents" "Delete an agent", Empty => 204 Empty),
    route!(Put "/agents/{id}/password" SetPassword "agents" "Set an agent's password (checked against the password policy; must be changed at next login)", Json("SetPassword") => 200 Json("Agent")),
    route!(Post "/agents/{id}/password/reset" ResetPassword "agents" "Reset an agent's password; returns the generated password once", Empty => 200 Json("GeneratedPassword")),
    route!(Get "/agents/{id}/permissions" GetPermissions "agents" "Get an agent's permissions", Empty => 200 Json("Permissions")),
    route!(Put "/agents/{id}/permissions" PutPermissions "agents" "Replace an agent's permissions", Json("Permissions") => 200 Json("Permissions")),
    route!(Post "/agents/{id}/disable" DisableAgent "agents" "Disable an agent", Empty => 200 Json("Agent")),
    route!(Post "/agents/{id}/enable" EnableAgent "agents" "Enable an agent", Empty => 200 Json("Agent")),
    route!(Post "/agents/{id}/unlock" UnlockAgent "agents" "Unlock an agent locked by failed logins", Empty => 200 Json("Agent")),
    route!(Put "/agents/{id}/avatar" PutAvatar "agents" "Upload an avatar (PNG or JPEG by content, at most 8 MiB)", Image => 200 Json("AvatarInfo")),
    route!(Get "/agents/{id}/avatar" GetAvatar "agents" "Download the avatar", Empty => 200 Image),
    route!(Delete "/agents/{id}/avatar" DeleteAvatar "agents" "Remove the avatar", Empty => 204 Empty),
    // Teams.
    route!(Get "/teams" ListTeams "teams" "List teams", Empty => 200 JsonList("Team")),
    route!(Post "/teams" CreateTeam "teams" "Create a team", Json("TeamSettings") => 201 Json("Team")),
    route!(Get "/teams/{id}" GetTeam "teams" "Get a team", Empty => 200 Json("Team")),
    route!(Patch "/teams/{id}" UpdateTeam "teams" "Update a team", Json("TeamPatch") => 200 Json("Team")),
    route!(Delete "/teams/{id}" DeleteTeam "teams" "Delete a team", Empty => 204 Empty),
    // Queues and membership.
    route!(Get "/queues" ListQueues "queues" "List queues", Empty => 200 JsonList("Queue")),
    route!(Post "/queues" CreateQueue "queues" "Create a queue", Json("QueueSettings") => 201 Json("Queue")),
    route!(Get "/queues/{id}" GetQueue "queues" "Get a queue", Empty => 200 Json("Queue")),
    route!(Patch "/queues/{id}" UpdateQueue "queues" "Update a queue", Json("QueuePatch") => 200 Json("Queue")),
    route!(Delete "/queues/{id}" DeleteQueue "queues" "Delete a queue", Empty => 204 Empty),
    route!(Get "/queues/{id}/members" ListMembers "queues" "List a queue's members", Empty => 200 JsonList("QueueMember")),
    route!(Put "/queues/{id}/members/{agent_id}" PutMember "queues" "Add an agent to a queue or change its penalty and order", Json("MemberSettings") => 200 Json("QueueMember")),
    route!(Delete "/queues/{id}/members/{agent_id}" DeleteMember "queues" "Remove an agent from a queue", Empty => 204 Empty),
    // Campaigns.
    route!(Get "/campaigns" ListCampaigns "campaigns" "List campaigns", Empty => 200 JsonList("Campaign")),
    route!(Post "/campaigns" CreateCampaign "campaigns" "Create a campaign", Json("CampaignSettings") => 201 Json("Campaign")),
    route!(Get "/campaigns/{id}" GetCampaign "campaigns" "Get a campaign", Empty => 200 Json("Campaign")),
    route!(Patch "/campaigns/{id}" UpdateCampaign "campaigns" "Update a campaign", Json("CampaignPatch") => 200 Json("Campaign")),
    route!(Delete "/campaigns/{id}" DeleteCampaign "campaigns" "Delete a campaign", Empty => 204 Empty),
    // Skills.
    route!(Get "/skills" ListSkills "skills" "List skills", Empty => 200 JsonList("Skill")),
    route!(Post "/skills" CreateSkill "skills" "Create a skill", Json("SkillSettings") => 201 Json("Skill")),
    route!(Get "/skills/{id}" GetSkill "skills" "Get a skill", Empty => 200 Json("Skill")),
    route!(Patch "/skills/{id}" UpdateSkill "skills" "Update a skill", Json("SkillPatch") => 200 Json("Skill")),
    route!(Delete "/skills/{id}" DeleteSkill "skills" "Delete a skill", Empty => 204 Empty),
    // Pause reasons.
    route!(Get "/pause_reasons" ListPauseReasons "pause_reasons" "List pause reasons", Empty => 200 JsonList("PauseReason")),
    route!(Post "/pause_reasons" CreatePauseReason "pause_reasons" "Create a pause reason", Json("PauseReasonSettings") => 201 Json("PauseReason")),
    route!(Get "/pause_reasons/{id}" GetPauseReason "pause_reasons" "Get a pause reason", Empty => 200 Json("PauseReason")),
    route!(Patch "/pause_reasons/{id}" UpdatePauseReason "pause_reasons" "Update a pause reason", Json("PauseReasonPatch") => 200 Json("PauseReason")),
    route!(Delete "/pause_reasons/{id}" DeletePauseReason "pause_reasons" "Delete a pause reason", Empty => 204 Empty),
    // Numbers.
    route!(Get "/numbers" ListNumbers "numbers" "List numbers (DIDs)", Empty => 200 JsonList("Number")),
    route!(Post "/numbers" CreateNumber "numbers" "Create a number mapped to a queue or an agent", Json("Number") => 201 Json("Number")),
    route!(Get "/numbers/{number}" GetNumber "numbers" "Get a number", Empty => 200 Json("Number")),
    route!(Patch "/numbers/{number}" UpdateNumber "numbers" "Update a number's mapping", Json("NumberPatch") => 200 Json("Number")),
    route!(Delete "/numbers/{number}" DeleteNumber "numbers" "Delete a number", Empty => 204 Empty),
    // Organisation settings.
    route!(Get "/settings" GetSettings "settings" "Get the organisation settings", Empty => 200 Json("OrgSettings")),
    route!(Patch "/settings" UpdateSettings "settings" "Update the organisation settings", Json("OrgSettingsPatch") => 200 Json("OrgSettings")),
    // Live statistics: each answer reflects every command the router received before it.
    route!(Get "/stats/queues" ListQueueStats "stats" "Live statistics of every queue (fresh: reflects every command the router received before this request)", Empty => 200 Json("QueueStatsList")),
    route!(Get "/queues/{id}/stats" GetQueueStats "stats" "Live statistics of one queue (fresh: reflects every command the router received before this request)", Empty => 200 Json("QueueStats")),
    route!(Get "/stats/agents" ListAgentStates "stats" "Live state and counters of every agent (fresh: reflects every command the router received before this request)", Empty => 200 Json("AgentStateList")),
    // Prompts: what callers hear in voice queues.
    route!(Get "/prompts" ListPrompts "prompts" "List the prompts queues can play: the built-ins and uploads, with their durations", Empty => 200 JsonList("PromptInfo")),
    route!(Get "/prompts/{name}" GetPrompt "prompts" "Download a prompt as a WAV file (an upload as sent; a built-in as 8 kHz mono 16-bit PCM)", Empty => 200 Audio),
    route!(Put "/prompts/{name}" PutPrompt "prompts" "Upload a prompt: a WAV file, 8000 Hz mono, 16-bit PCM or G.711 µ-law/A-law, at most 10 minutes; name [a-z0-9_]{1,40}. 201 for a new name, 200 when it replaces an upload or a built-in", Audio => 201 Json("PromptInfo")),
    route!(Delete "/prompts/{name}" DeletePrompt "prompts" "Delete an uploaded prompt; a built-in name plays the built-in again", Empty => 204 Empty),
    route!(Get "/agents/{id}/state" GetAgentState "stats" "Live state and counters of one agent (fresh: reflects every command the router received before this request)", Empty => 200 Json("AgentState")),
    route!(Get "/stats/media" GetMediaStats "stats" "Media plane figures: RTP/RTCP port pairs in the pool and free, legs with open sockets, calls carried", Empty => 200 Json("MediaStats")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_under_the_prefix_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(r.path.starts_with(PREFIX), "{}", r.path);
            assert!(
                seen.insert((r.verb.as_str(), r.path)),
                "{} {}",
                r.verb.as_str(),
                r.path
            );
        }
    }

    #[test]
    fn path_parameters_are_captured() {
        match find(&Method::PUT, "/api/v1/queues/3/members/9") {
            Match::Found(r, params) => {
                assert_eq!(r.op, Op::PutMember);
                assert_eq!(params, vec!["3", "9"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn known_path_with_other_method_lists_the_allowed_ones() {
        match find(&Method::PUT, "/api/v1/agents") {
            Match::MethodNotAllowed(allowed) => assert_eq!(allowed, vec!["GET", "POST"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_paths_and_trailing_segments_do_not_match() {
        assert!(matches!(
            find(&Method::GET, "/api/v1/agent"),
            Match::NotFound
        ));
        assert!(matches!(
            find(&Method::GET, "/api/v1/agents/1/x"),
            Match::NotFound
        ));
        assert!(matches!(
            find(&Method::GET, "/api/v1/agents/"),
            Match::NotFound
        ));
    }

    #[test]
    fn agent_list_enumerations_are_the_engine_values() {
        use acd_engine::admin::{SortKey, SortOrder, StatusFilter};
        let de = |v: &str| serde_json::Value::from(v);
        for v in STATUS_VALUES {
            serde_json::from_value::<StatusFilter>(de(v)).unwrap();
        }
        for v in SORT_VALUES {
            serde_json::from_value::<SortKey>(de(v)).unwrap();
        }
        for v in ORDER_VALUES {
            serde_json::from_value::<SortOrder>(de(v)).unwrap();
        }
    }

    #[test]
    fn number_parameters_are_percent_decoded() {
        match find(&Method::GET, "/api/v1/numbers/%2B4612345") {
            Match::Found(_, params) => assert_eq!(params, vec!["+4612345"]),
            other => panic!("{other:?}"),
        }
    }
}
