//! The admin service: the single writer of agent and routing configuration.
//!
//! Owns the in-memory copy of every agent, team, queue, membership, campaign, skill, pause
//! reason, number and the organisation settings; checks every write against the model's rules
//! and against the rest of the configuration (uniqueness, references); writes through to the
//! [`Store`] and returns only after the store has flushed; publishes every change as a
//! [`ConfigEvent`] so the router and SIP follow configuration while running.
//!
//! Does not own HTTP (the sidecar maps [`AdminError`] to status codes), routing state, or login
//! sessions. Reads take a `RwLock` read guard: this is the admin path, not the routing hot path,
//! and one lock keeps uniqueness checks and the change feed trivially ordered. Password hashing
//! (slow on purpose) runs outside the lock.

mod prompts;
mod records;
mod search;
mod secrets;
#[cfg(test)]
mod tests;

pub use prompts::{PromptInfo, PromptSource, PROMPT_MAX_BYTES};
pub use search::{
    AgentPage, AgentQuery, AgentSummary, SortKey, SortOrder, StatusFilter, DEFAULT_LIMIT, MAX_LIMIT,
};
pub use secrets::{sniff_image, HashCost, AVATAR_MAX_BYTES};

use crate::common::{AgentId, CampaignId, PauseReasonId, QueueId, SkillId, TeamId};
use crate::model::validate::{self, Errors};
use crate::model::*;
use crate::store::{MemStore, Store, StoreError};
use crossbeam_channel::{Receiver, Sender};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use search::SearchIndex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Errors of the admin service.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// One or more fields broke a rule.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Validation(Vec<FieldError>),
    /// The record does not exist.
    #[error("{kind} {id} not found")]
    NotFound {
        /// What was looked for (`agent`, `queue`, ...).
        kind: &'static str,
        /// Its id or key.
        id: String,
    },
    /// The write clashes with existing data (a taken username, a record still referenced).
    #[error("{field}: {message}")]
    Conflict {
        /// The field concerned.
        field: String,
        /// The rule (`unique`, `in_use`).
        rule: Rule,
        /// What clashed and what to do.
        message: String,
    },
    /// The avatar is neither PNG nor JPEG (checked by content).
    #[error("unsupported media type: an avatar must be a PNG or JPEG image")]
    UnsupportedMedia,
    /// The upload is larger than allowed.
    #[error("too large: {size} bytes, the limit is {limit} bytes")]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The store failed; the write may not be durable.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    fn field(field: &str, rule: Rule, message: impl Into<String>) -> Self {
        AdminError::Validation(vec![FieldError::new(field, rule, message)])
    }

    fn not_found(kind: &'static str, id: impl ToString) -> Self {
        AdminError::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    fn conflict(field: &str, rule: Rule, message: impl Into<String>) -> Self {
        AdminError::Conflict {
            field: field.to_owned(),
            rule,
            message: message.into(),
        }
    }
}

impl From<Vec<FieldError>> for AdminError {
    fn from(e: Vec<FieldError>) -> Self {
        AdminError::Validation(e)
    }
}

/// The conflict rule for deleting a record that others still reference.
pub const RULE_IN_USE: Rule = "in_use";

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown username, no password set, or wrong password (deliberately not told apart).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Locked after too many failed logins; an admin must unlock it.
    #[error(
        "the account is locked after too many failed logins; ask an administrator to unlock it"
    )]
    Locked,
    /// Disabled, or login not enabled, by an administrator.
    #[error("the account is disabled")]
    Disabled,
    /// The store failed while recording the attempt.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A configuration change, published to every subscriber in the order it was made.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigEvent {
    /// An agent was created or changed (profile, extension, lock, password state, avatar).
    AgentUpserted(Arc<Agent>),
    /// An agent was deleted (its memberships were removed first, each with an event).
    AgentDeleted(AgentId),
    /// A queue was created or changed.
    QueueUpserted(Arc<Queue>),
    /// A queue was deleted (its memberships were removed first, each with an event).
    QueueDeleted(QueueId),
    /// A membership was added or its penalty/order changed.
    MemberUpserted(QueueMember),
    /// A membership was removed.
    MemberRemoved {
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
    },
    /// A number was created or re-mapped.
    NumberUpserted(Number),
    /// A number was deleted.
    NumberDeleted(String),
    /// A team was created or changed.
    TeamUpserted(Team),
    /// A team was deleted.
    TeamDeleted(TeamId),
    /// A skill was created or changed.
    SkillUpserted(Skill),
    /// A skill was deleted.
    SkillDeleted(SkillId),
    /// A campaign was created or changed.
    CampaignUpserted(Campaign),
    /// A campaign was deleted.
    CampaignDeleted(CampaignId),
    /// A pause reason was created or changed.
    PauseReasonUpserted(PauseReason),
    /// A pause reason was deleted.
    PauseReasonDeleted(PauseReasonId),
    /// Organisation settings changed.
    OrgSettingsChanged(Arc<OrgSettings>),
    /// The prompt of this name was uploaded, replaced or deleted (a deleted built-in name
    /// plays the built-in again): rebuild it from [`Admin::prompt_samples`].
    PromptChanged(String),
}

/// Everything configured, at one instant (the starting point for a [`ConfigEvent`] stream).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSnapshot {
    /// Every agent, by id.
    pub agents: Vec<Agent>,
    /// Every queue, by id.
    pub queues: Vec<Queue>,
    /// Every membership, by queue then agent.
    pub members: Vec<QueueMember>,
    /// Every number, by number.
    pub numbers: Vec<Number>,
    /// Every team.
    pub teams: Vec<Team>,
    /// Every skill.
    pub skills: Vec<Skill>,
    /// Every campaign.
    pub campaigns: Vec<Campaign>,
    /// Every pause reason.
    pub pause_reasons: Vec<PauseReason>,
    /// Organisation settings.
    pub org: OrgSettings,
}

/// The result of creating an agent: the agent, and secrets shown this once only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatedAgent {
    /// The agent.
    #[serde(flatten)]
    pub agent: Agent,
    /// The generated SIP password (`None` if one was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_password: Option<String>,
}

/// What SIP digest authentication needs for an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipCredentials {
    /// The agent.
    pub agent: AgentId,
    /// The extension (the SIP username).
    pub extension: String,
    /// The SIP password.
    pub password: String,
}

/// Options of the admin service.
#[derive(Debug, Clone, Default)]
pub struct AdminOptions {
    /// argon2id cost.
    pub hash_cost: HashCost,
    /// Seed for generated passwords and salts; `None` seeds from the OS (use `Some` only in
    /// tests, where replayable secrets are wanted).
    pub rng_seed: Option<u64>,
}

pub(crate) mod keyspace {
    pub(crate) const AGENTS: &str = "agents";
    pub(crate) const AVATARS: &str = "avatars";
    pub(crate) const TEAMS: &str = "teams";
    pub(crate) const SKILLS: &str = "skills";
    pub(crate) const CAMPAIGNS: &str = "campaigns";
    pub(crate) const PAUSE_REASONS: &str = "pause_reasons";
    pub(crate) const QUEUES: &str = "queues";
    pub(crate) const MEMBERS: &str = "members";
    pub(crate) const NUMBERS: &str = "numbers";
    pub(crate) const META: &str = "meta";
    pub(crate) const PROMPTS: &str = "prompts";
}
const META_ORG: &[u8] = b"org";
const META_NEXT: &[u8] = b"next_ids";

/// An agent with its secrets, as stored. Never leaves this module except as [`Agent`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAgent {
    agent: Agent,
    password_hash: Option<String>,
    sip_password: String,
}

/// The next id of each kind; ids are never reused.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct NextIds {
    agent: u64,
    team: u64,
    skill: u64,
    campaign: u64,
    pause_reason: u64,
    queue: u64,
}

#[derive(Default)]
struct State {
    agents: BTreeMap<AgentId, StoredAgent>,
    by_username: HashMap<String, AgentId>,
    by_extension: HashMap<String, AgentId>,
    index: SearchIndex,
    teams: BTreeMap<u64, Team>,
    skills: BTreeMap<u64, Skill>,
    campaigns: BTreeMap<u64, Campaign>,
    pause_reasons: BTreeMap<u64, PauseReason>,
    queues: BTreeMap<u64, Queue>,
    members: BTreeMap<(QueueId, AgentId), QueueMember>,
    numbers: BTreeMap<String, Number>,
    org: OrgSettings,
    /// Uploaded prompts: name → duration in ms (the WAV bytes stay in the store).
    prompts: BTreeMap<String, u64>,
    next: NextIds,
    subscribers: Vec<Sender<ConfigEvent>>,
}

impl State {
    fn emit(&mut self, event: ConfigEvent) {
        self.subscribers.retain(|tx| tx.send(event.clone()).is_ok());
    }

    fn default_extension(&self, id: AgentId) -> String {
        format!("{}{}", self.org.extension_prefix, id.0)
    }

    /// Rules of a profile that need the rest of the configuration.
    fn check_references(&self, e: &mut Errors, p: &AgentProfile) {
        for (i, t) in p.teams.iter().enumerate() {
            e.check(
                self.teams.contains_key(&t.0),
                &format!("teams[{i}]"),
                rules::EXISTS,
                || format!("team {t} does not exist"),
            );
        }
        for (i, s) in p.skills.iter().enumerate() {
            e.check(
                self.skills.contains_key(&s.skill.0),
                &format!("skills[{i}].skill"),
                rules::EXISTS,
                || format!("skill {} does not exist", s.skill),
            );
        }
        for (i, c) in p.campaigns.iter().enumerate() {
            e.check(
                self.campaigns.contains_key(&c.campaign.0),
                &format!("campaigns[{i}].campaign"),
                rules::EXISTS,
                || format!("campaign {} does not exist", c.campaign),
            );
        }
        if let Some(c) = p.toolbar.recall_me_campaign {
            e.check(
                self.campaigns.contains_key(&c.0),
                "toolbar.recall_me_campaign",
                rules::EXISTS,
                || format!("campaign {c} does not exist"),
            );
        }
    }

    fn check_extension_free(&self, ext: &str, owner: Option<AgentId>) -> Result<(), AdminError> {
        match self.by_extension.get(ext) {
            Some(other) if Some(*other) != owner => Err(AdminError::conflict(
                "extension",
                rules::UNIQUE,
                format!("extension {ext} is already used by agent {other}; choose another"),
            )),
            _ => Ok(()),
        }
    }
}

/// The admin service. Share it as `Arc<Admin>`; every method takes `&self`.
pub struct Admin {
    store: Arc<dyn Store>,
    state: RwLock<State>,
    rng: Mutex<ChaCha20Rng>,
    hash_cost: HashCost,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

pub(crate) fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn member_key(queue: QueueId, agent: AgentId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&queue.0.to_be_bytes());
    k[8..].copy_from_slice(&agent.0.to_be_bytes());
    k
}

fn decode<T: DeserializeOwned>(keyspace: &str, key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
        keyspace: keyspace.to_owned(),
        key: hex::encode(key),
        detail: e.to_string(),
    })
}

impl Admin {
    /// Loads every record from `store` into memory.
    pub fn open(store: Arc<dyn Store>, options: AdminOptions) -> Result<Self, AdminError> {
        let mut st = State::default();
        let load = |ks: &str| store.scan_prefix(ks, b"");
        for (k, v) in load(keyspace::AGENTS)? {
            let a: StoredAgent = decode(keyspace::AGENTS, &k, &v)?;
            st.by_username.insert(a.agent.username.clone(), a.agent.id);
            st.by_extension
                .insert(a.agent.extension.clone(), a.agent.id);
            st.index.upsert(&a.agent);
            st.agents.insert(a.agent.id, a);
        }
        for (k, v) in load(keyspace::TEAMS)? {
            let t: Team = decode(keyspace::TEAMS, &k, &v)?;
            st.teams.insert(t.id.0, t);
        }
        for (k, v) in load(keyspace::SKILLS)? {
            let t: Skill = decode(keyspace::SKILLS, &k, &v)?;
            st.skills.insert(t.id.0, t);
        }
        for (k, v) in load(keyspace::CAMPAIGNS)? {
            let t: Campaign = decode(keyspace::CAMPAIGNS, &k, &v)?;
            st.campaigns.insert(t.id.0, t);
        }
        for (k, v) in load(keyspace::PAUSE_REASONS)? {
            let t: PauseReason = decode(keyspace::PAUSE_REASONS, &k, &v)?;
            st.pause_reasons.insert(t.id.0, t);
        }
        for (k, v) in load(keyspace::QUEUES)? {
            let t: Queue = decode(keyspace::QUEUES, &k, &v)?;
            st.queues.insert(t.id.0, t);
        }
        for (k, v) in load(keyspace::MEMBERS)? {
            let m: QueueMember = decode(keyspace::MEMBERS, &k, &v)?;
            st.members.insert((m.queue, m.agent), m);
        }
        for (k, v) in load(keyspace::NUMBERS)? {
            let n: Number = decode(keyspace::NUMBERS, &k, &v)?;
            st.numbers.insert(n.number.clone(), n);
        }
        prompts::load(&*store, &mut st)?;
        if let Some(v) = store.get(keyspace::META, META_ORG)? {
            st.org = decode(keyspace::META, META_ORG, &v)?;
        }
        let saved: NextIds = match store.get(keyspace::META, META_NEXT)? {
            Some(v) => decode(keyspace::META, META_NEXT, &v)?,
            None => NextIds::default(),
        };
        // The counter and the record are separate writes; take the larger of the saved counter
        // and the highest id on disk so a crash between them can never lead to a reused id.
        let after = |max: Option<u64>, saved: u64| saved.max(max.map_or(1, |m| m + 1));
        st.next = NextIds {
            agent: after(st.agents.keys().next_back().map(|a| a.0), saved.agent),
            team: after(st.teams.keys().next_back().copied(), saved.team),
            skill: after(st.skills.keys().next_back().copied(), saved.skill),
            campaign: after(st.campaigns.keys().next_back().copied(), saved.campaign),
            pause_reason: after(
                st.pause_reasons.keys().next_back().copied(),
                saved.pause_reason,
            ),
            queue: after(st.queues.keys().next_back().copied(), saved.queue),
        };
        let rng = match options.rng_seed {
            Some(seed) => ChaCha20Rng::seed_from_u64(seed),
            None => ChaCha20Rng::from_entropy(),
        };
        Ok(Admin {
            store,
            state: RwLock::new(st),
            rng: Mutex::new(rng),
            hash_cost: options.hash_cost,
        })
    }

    /// An admin over a fresh [`MemStore`] with cheap hashing and a fixed seed: for tests.
    pub fn in_memory_for_tests() -> Self {
        Admin::open(
            Arc::new(MemStore::new()),
            AdminOptions {
                hash_cost: HashCost::insecure_for_tests(),
                rng_seed: Some(7),
            },
        )
        .expect("an empty MemStore always loads")
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, ChaCha20Rng> {
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hashes a password; the RNG lock is held only to draw the salt, so hashes run in parallel.
    fn hash(&self, password: &str) -> String {
        let salt = secrets::salt(&mut *self.rng());
        secrets::hash_password(self.hash_cost, password, salt)
    }

    fn put<T: Serialize>(&self, ks: &str, key: &[u8], value: &T) -> Result<(), AdminError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
            keyspace: ks.to_owned(),
            key: hex::encode(key),
            detail: format!("cannot encode: {e}"),
        })?;
        Ok(self.store.put(ks, key, &bytes)?)
    }

    fn put_next(&self, next: &NextIds) -> Result<(), AdminError> {
        self.put(keyspace::META, META_NEXT, next)
    }

    fn flush(&self) -> Result<(), AdminError> {
        Ok(self.store.flush()?)
    }

    /// A receiver of every configuration change made from now on.
    pub fn subscribe(&self) -> Receiver<ConfigEvent> {
        self.subscribe_with_snapshot().1
    }

    /// The configuration now and every change after it, with nothing missed in between.
    pub fn subscribe_with_snapshot(&self) -> (ConfigSnapshot, Receiver<ConfigEvent>) {
        let mut st = self.write();
        let (tx, rx) = crossbeam_channel::unbounded();
        st.subscribers.push(tx);
        (Self::snapshot_of(&st), rx)
    }

    /// The configuration now.
    pub fn snapshot(&self) -> ConfigSnapshot {
        Self::snapshot_of(&self.read())
    }

    fn snapshot_of(st: &State) -> ConfigSnapshot {
        ConfigSnapshot {
            agents: st.agents.values().map(|a| a.agent.clone()).collect(),
            queues: st.queues.values().cloned().collect(),
            members: st.members.values().cloned().collect(),
            numbers: st.numbers.values().cloned().collect(),
            teams: st.teams.values().cloned().collect(),
            skills: st.skills.values().cloned().collect(),
            campaigns: st.campaigns.values().cloned().collect(),
            pause_reasons: st.pause_reasons.values().cloned().collect(),
            org: st.org.clone(),
        }
    }

    // ---------------------------------------------------------------- agents

    /// Creates an agent. The extension defaults to the organisation prefix + the id; the SIP
    /// password, if not given, is generated and returned once in [`CreatedAgent::sip_password`].
    pub fn create_agent(&self, input: CreateAgent) -> Result<CreatedAgent, AdminError> {
        let mut e = Errors::default();
        validate::check_username(&mut e, "username", &input.username);
        validate::check_profile(&mut e, &input.profile);
        if let Some(ext) = &input.extension {
            validate::check_extension(&mut e, "extension", ext);
        }
        if let Some(pw) = &input.sip_password {
            validate::check_sip_password(&mut e, "sip_password", pw);
        }
        let policy = {
            let st = self.read();
            st.check_references(&mut e, &input.profile);
            st.org.password_policy.clone()
        };
        if let Some(pw) = &input.password {
            validate::check_password(&mut e, "password", pw, &input.username, &policy);
            if let Some(c) = &input.password_confirmation {
                e.check(
                    c == pw,
                    "password_confirmation",
                    rules::CONFIRMATION,
                    || "does not match the password".into(),
                );
            }
        }
        e.into_result()?;

        let password_hash = input.password.as_deref().map(|pw| self.hash(pw));
        let (sip_password, generated) = match input.sip_password {
            Some(pw) => (pw, None),
            None => {
                let pw = secrets::generate_sip_password(&mut *self.rng());
                (pw.clone(), Some(pw))
            }
        };

        let mut st = self.write();
        let mut e = Errors::default();
        st.check_references(&mut e, &input.profile);
        e.into_result()?;
        if let Some(other) = st.by_username.get(&input.username) {
            return Err(AdminError::conflict(
                "username",
                rules::UNIQUE,
                format!(
                    "username {} is already used by agent {other}; choose another",
                    input.username
                ),
            ));
        }
        let id = AgentId(st.next.agent);
        let extension = input.extension.unwrap_or_else(|| st.default_extension(id));
        st.check_extension_free(&extension, None)?;
        let has_password = password_hash.is_some();
        let agent = Agent {
            id,
            username: input.username,
            extension,
            profile: input.profile,
            locked: false,
            failed_logins: 0,
            has_password,
            // Both reference pages: a password set by an administrator is changed by the
            // agent at first login.
            must_change_password: has_password,
            password_reset_at: has_password.then(chrono::Utc::now),
            avatar: None,
        };
        let stored = StoredAgent {
            agent,
            password_hash,
            sip_password,
        };
        let mut next = st.next;
        next.agent += 1;
        self.put(keyspace::AGENTS, &id_key(id.0), &stored)?;
        self.put_next(&next)?;
        st.next = next;
        let agent = stored.agent.clone();
        self.install_agent(&mut st, stored, None);
        drop(st);
        self.flush()?;
        Ok(CreatedAgent {
            agent,
            sip_password: generated,
        })
    }

    /// Puts `stored` in memory and the indexes, replacing `old` (the previous version), and
    /// publishes it.
    fn install_agent(&self, st: &mut State, stored: StoredAgent, old: Option<&Agent>) {
        if let Some(old) = old {
            if old.extension != stored.agent.extension {
                st.by_extension.remove(&old.extension);
            }
        }
        let a = &stored.agent;
        st.by_username.insert(a.username.clone(), a.id);
        st.by_extension.insert(a.extension.clone(), a.id);
        st.index.upsert(a);
        let event = ConfigEvent::AgentUpserted(Arc::new(a.clone()));
        st.agents.insert(a.id, stored);
        st.emit(event);
    }

    /// Applies `f` to a copy of the stored agent, persists it, publishes it, and flushes.
    fn modify_agent(
        &self,
        id: AgentId,
        f: impl FnOnce(&State, &mut StoredAgent) -> Result<(), AdminError>,
    ) -> Result<Agent, AdminError> {
        let mut st = self.write();
        let old = st
            .agents
            .get(&id)
            .ok_or_else(|| AdminError::not_found("agent", id))?;
        let mut new = old.clone();
        let old = old.agent.clone();
        f(&st, &mut new)?;
        self.put(keyspace::AGENTS, &id_key(id.0), &new)?;
        let agent = new.agent.clone();
        self.install_agent(&mut st, new, Some(&old));
        drop(st);
        self.flush()?;
        Ok(agent)
    }

    /// The agent with this id.
    pub fn agent(&self, id: AgentId) -> Result<Agent, AdminError> {
        self.read()
            .agents
            .get(&id)
            .map(|a| a.agent.clone())
            .ok_or_else(|| AdminError::not_found("agent", id))
    }

    /// The agent with this username.
    pub fn agent_by_username(&self, username: &str) -> Option<Agent> {
        let st = self.read();
        let id = st.by_username.get(username)?;
        st.agents.get(id).map(|a| a.agent.clone())
    }

    /// The agent with this extension.
    pub fn agent_by_extension(&self, extension: &str) -> Option<Agent> {
        let st = self.read();
        let id = st.by_extension.get(extension)?;
        st.agents.get(id).map(|a| a.agent.clone())
    }

    /// The SIP digest credentials of an extension.
    pub fn sip_credentials(&self, extension: &str) -> Option<SipCredentials> {
        let st = self.read();
        let id = st.by_extension.get(extension)?;
        st.agents.get(id).map(|a| SipCredentials {
            agent: a.agent.id,
            extension: a.agent.extension.clone(),
            password: a.sip_password.clone(),
        })
    }

    /// Number of agents.
    pub fn agent_count(&self) -> usize {
        self.read().agents.len()
    }

    /// Quick and advanced search, sorted and paginated.
    pub fn search_agents(&self, query: &AgentQuery) -> Result<AgentPage, AdminError> {
        search::check_query(query)?;
        Ok(self.read().index.search(query))
    }

    /// Changes the given fields. The username cannot change (rule `immutable`); `extension:
    /// null` returns to the default extension.
    pub fn update_agent(&self, id: AgentId, patch: AgentPatch) -> Result<Agent, AdminError> {
        self.modify_agent(id, |st, s| {
            let mut e = Errors::default();
            if let Some(u) = &patch.username {
                e.check(*u == s.agent.username, "username", rules::IMMUTABLE, || {
                    "the username cannot change after creation".into()
                });
            }
            patch.profile.apply_to(&mut s.agent.profile);
            validate::check_profile(&mut e, &s.agent.profile);
            st.check_references(&mut e, &s.agent.profile);
            let extension = match patch.extension {
                Some(Some(ext)) => {
                    validate::check_extension(&mut e, "extension", &ext);
                    ext
                }
                Some(None) => st.default_extension(id),
                None => s.agent.extension.clone(),
            };
            if let Some(pw) = &patch.sip_password {
                validate::check_sip_password(&mut e, "sip_password", pw);
            }
            e.into_result()?;
            st.check_extension_free(&extension, Some(id))?;
            s.agent.extension = extension;
            if let Some(pw) = patch.sip_password {
                s.sip_password = pw;
            }
            Ok(())
        })
    }

    /// Deletes an agent and its queue memberships. Refused while a number routes to it.
    pub fn delete_agent(&self, id: AgentId) -> Result<(), AdminError> {
        let mut st = self.write();
        let stored = st
            .agents
            .get(&id)
            .ok_or_else(|| AdminError::not_found("agent", id))?;
        let username = stored.agent.username.clone();
        let extension = stored.agent.extension.clone();
        if let Some(n) = st
            .numbers
            .values()
            .find(|n| n.settings.target == Some(NumberTarget::Agent { agent: id }))
        {
            return Err(AdminError::conflict(
                "id",
                RULE_IN_USE,
                format!(
                    "number {} routes to agent {id}; re-map or delete it first",
                    n.number
                ),
            ));
        }
        let members: Vec<QueueId> = st
            .members
            .keys()
            .filter(|(_, a)| *a == id)
            .map(|(q, _)| *q)
            .collect();
        for q in &members {
            self.store.delete(keyspace::MEMBERS, &member_key(*q, id))?;
        }
        self.store.delete(keyspace::AVATARS, &id_key(id.0))?;
        self.store.delete(keyspace::AGENTS, &id_key(id.0))?;
        for q in members {
            st.members.remove(&(q, id));
            st.emit(ConfigEvent::MemberRemoved {
                queue: q,
                agent: id,
            });
        }
        st.agents.remove(&id);
        st.by_username.remove(&username);
        st.by_extension.remove(&extension);
        st.index.remove(id);
        st.emit(ConfigEvent::AgentDeleted(id));
        drop(st);
        self.flush()
    }

    /// The agent's permissions.
    pub fn permissions(&self, id: AgentId) -> Result<Permissions, AdminError> {
        Ok(self.agent(id)?.profile.permissions)
    }

    /// Replaces the agent's permissions as a whole.
    pub fn replace_permissions(
        &self,
        id: AgentId,
        permissions: Permissions,
    ) -> Result<Permissions, AdminError> {
        let mut e = Errors::default();
        validate::check_permissions(&mut e, "", &permissions);
        e.into_result()?;
        Ok(self
            .modify_agent(id, |_, s| {
                s.agent.profile.permissions = permissions;
                Ok(())
            })?
            .profile
            .permissions)
    }

    /// Disables (`true`) or re-enables (`false`) the account.
    pub fn set_disabled(&self, id: AgentId, disabled: bool) -> Result<Agent, AdminError> {
        self.modify_agent(id, |_, s| {
            s.agent.profile.disabled = disabled;
            Ok(())
        })
    }

    /// Unlocks an account locked by failed logins and clears the failure count.
    pub fn unlock(&self, id: AgentId) -> Result<Agent, AdminError> {
        self.modify_agent(id, |_, s| {
            s.agent.locked = false;
            s.agent.failed_logins = 0;
            Ok(())
        })
    }

    /// Checks a password against the organisation policy for this username.
    pub fn check_password_policy(&self, username: &str, password: &str) -> Result<(), AdminError> {
        let policy = self.read().org.password_policy.clone();
        let mut e = Errors::default();
        validate::check_password(&mut e, "password", password, username, &policy);
        Ok(e.into_result()?)
    }

    /// An administrator sets the password; the agent must change it at next login.
    pub fn set_password(&self, id: AgentId, password: &str) -> Result<Agent, AdminError> {
        let username = self.agent(id)?.username;
        self.check_password_policy(&username, password)?;
        let hash = self.hash(password);
        self.modify_agent(id, |_, s| {
            s.password_hash = Some(hash);
            s.agent.has_password = true;
            s.agent.must_change_password = true;
            s.agent.password_reset_at = Some(chrono::Utc::now());
            Ok(())
        })
    }

    /// An administrator resets the password: returns a generated compliant password, this once;
    /// the agent must change it at next login.
    pub fn reset_password(&self, id: AgentId) -> Result<String, AdminError> {
        let username = self.agent(id)?.username;
        let policy = self.read().org.password_policy.clone();
        let password = loop {
            let pw = secrets::generate_password(&policy, &mut *self.rng());
            let mut e = Errors::default();
            validate::check_password(&mut e, "password", &pw, &username, &policy);
            if e.is_empty() {
                break pw;
            }
        };
        self.set_password(id, &password)?;
        Ok(password)
    }

    /// The agent changes their own password (knowing the current one); clears the
    /// must-change flag.
    pub fn change_own_password(
        &self,
        id: AgentId,
        current: &str,
        new: &str,
    ) -> Result<Agent, AdminError> {
        let (username, hash) = {
            let st = self.read();
            let s = st
                .agents
                .get(&id)
                .ok_or_else(|| AdminError::not_found("agent", id))?;
            (s.agent.username.clone(), s.password_hash.clone())
        };
        if !hash.is_some_and(|h| secrets::verify_password(&h, current)) {
            return Err(AdminError::field(
                "current_password",
                rules::WRONG_PASSWORD,
                "the current password is wrong",
            ));
        }
        self.check_password_policy(&username, new)?;
        let hash = self.hash(new);
        self.modify_agent(id, |_, s| {
            s.password_hash = Some(hash);
            s.agent.has_password = true;
            s.agent.must_change_password = false;
            Ok(())
        })
    }

    /// Checks a login. Counts failures and locks the account at the organisation's threshold;
    /// a success clears the count. The returned agent says if the password must be changed.
    pub fn verify_login(&self, username: &str, password: &str) -> Result<Agent, LoginError> {
        let agent = self.verify_password(username, password)?;
        self.record_second_factor(agent.id, true)?;
        Ok(agent)
    }

    /// The first step of a login with a second factor: checks the password like
    /// [`Admin::verify_login`] (a failure counts toward lockout) but a success leaves the
    /// count as it is, so that guesses of the second factor, counted by
    /// [`Admin::record_second_factor`], add up to the lockout threshold too.
    pub fn verify_password(&self, username: &str, password: &str) -> Result<Agent, LoginError> {
        self.check_login(username, password)
    }

    /// The outcome of a login's second factor (or of a login without one): success clears the
    /// failure count, a failure counts toward lockout like a wrong password and answers
    /// [`LoginError::Locked`] when it reaches the threshold.
    pub fn record_second_factor(&self, id: AgentId, ok: bool) -> Result<(), LoginError> {
        if ok
            && self
                .read()
                .agents
                .get(&id)
                .is_some_and(|s| s.agent.failed_logins == 0)
        {
            return Ok(());
        }
        let mut locked_now = false;
        let result = self.modify_agent(id, |st, s| {
            if ok {
                s.agent.failed_logins = 0;
            } else {
                s.agent.failed_logins += 1;
                let threshold = st.org.lockout_threshold;
                if threshold > 0 && s.agent.failed_logins >= threshold {
                    s.agent.locked = true;
                    locked_now = true;
                }
            }
            Ok(())
        });
        match result {
            Ok(_) if locked_now => Err(LoginError::Locked),
            Ok(_) => Ok(()),
            Err(AdminError::Store(e)) => Err(LoginError::Store(e)),
            Err(_) => Err(LoginError::InvalidCredentials),
        }
    }

    fn check_login(&self, username: &str, password: &str) -> Result<Agent, LoginError> {
        let (id, hash) = {
            let st = self.read();
            let id = *st
                .by_username
                .get(username)
                .ok_or(LoginError::InvalidCredentials)?;
            let s = &st.agents[&id];
            if s.agent.locked {
                return Err(LoginError::Locked);
            }
            if !s.agent.is_active() {
                return Err(LoginError::Disabled);
            }
            (id, s.password_hash.clone())
        };
        let ok = hash.is_some_and(|h| secrets::verify_password(&h, password));
        if ok {
            // The agent was deleted between the two steps: as if unknown.
            return self.agent(id).map_err(|_| LoginError::InvalidCredentials);
        }
        self.record_second_factor(id, false)?;
        Err(LoginError::InvalidCredentials)
    }

    /// Sets the avatar from the uploaded bytes: PNG or JPEG by content, at most 8 MiB.
    pub fn set_avatar(&self, id: AgentId, bytes: &[u8]) -> Result<AvatarInfo, AdminError> {
        if bytes.len() > AVATAR_MAX_BYTES {
            return Err(AdminError::TooLarge {
                size: bytes.len(),
                limit: AVATAR_MAX_BYTES,
            });
        }
        let media_type = sniff_image(bytes).ok_or(AdminError::UnsupportedMedia)?;
        let info = AvatarInfo {
            media_type,
            size: bytes.len() as u32,
        };
        self.modify_agent(id, |_, s| {
            self.store.put(keyspace::AVATARS, &id_key(id.0), bytes)?;
            s.agent.avatar = Some(info);
            Ok(())
        })?;
        Ok(info)
    }

    /// The avatar's media type and bytes.
    pub fn avatar(&self, id: AgentId) -> Result<(ImageType, Vec<u8>), AdminError> {
        let info = self
            .agent(id)?
            .avatar
            .ok_or_else(|| AdminError::not_found("avatar", id))?;
        let bytes = self
            .store
            .get(keyspace::AVATARS, &id_key(id.0))?
            .ok_or_else(|| AdminError::not_found("avatar", id))?;
        Ok((info.media_type, bytes))
    }

    /// Removes the avatar.
    pub fn delete_avatar(&self, id: AgentId) -> Result<Agent, AdminError> {
        self.modify_agent(id, |_, s| {
            self.store.delete(keyspace::AVATARS, &id_key(id.0))?;
            s.agent.avatar = None;
            Ok(())
        })
    }
}
