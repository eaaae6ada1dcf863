//! Durable chat and email interactions: ingest with idempotency keys, the live-interaction log,
//! and what a restart must give back to the router.
//!
//! Owns the `interactions` and `interaction_keys` keyspaces of the [`Store`]: one record per
//! live (waiting or answered) interaction, and one idempotency key per interaction ever
//! ingested. Does not own routing (the router decides who gets what), sockets (the engine API
//! front end) or clocks (times are passed in).
//!
//! Write rules, which together make "acknowledged means durable" and "restart loses nothing":
//! - [`InteractionLog::ingest`] writes the record and its key, flushes, and only then returns;
//!   the caller hands the interaction to the router after that and answers `201` last.
//! - Every change of a live record (answered, ended, transferred) happens while holding that
//!   record's entry in the in-memory map and is written to the store under the same entry, so
//!   a late "answered" can never resurrect a record an "ended" already removed.
//! - Ids grow monotonically, so id order is arrival order: recovery replays waiting
//!   interactions in id order and they are back in their queues in their original order.

use crate::common::{AgentId, Channel, InteractionId, QueueId, SkillId, SkillLevel};
use crate::router::{Arrival, Output, Route, SkillReqs};
use crate::store::{Store, StoreError};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[cfg(test)]
mod tests;

/// Keyspace of live interaction records (key: id, big-endian).
pub const RECORDS: &str = "interactions";
/// Keyspace of idempotency keys (key: the client's key; value: the id, big-endian).
pub const KEYS: &str = "interaction_keys";

/// Ids of ingested interactions start here, so they never collide with voice call ids, which
/// the SIP side allocates from small numbers; 2^48 stays below 2^53, so browser toolbars can
/// hold every id as a JSON number without losing precision.
pub const ID_BASE: u64 = 1 << 48;

/// The longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 200;
/// The longest thread id accepted.
pub const MAX_THREAD_LEN: usize = 200;
/// The longest customer text field accepted.
pub const MAX_TEXT_LEN: usize = 10_000;

/// What is known about the customer. Names, emails and phone numbers are sensitive: agents with
/// "mask sensitive data" never receive them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// The customer's name (sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The customer's email address (sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The customer's phone number (sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The email subject or the chat's opening line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl Customer {
    /// The same data without name, email and phone number.
    pub fn masked(&self) -> Customer {
        Customer {
            name: None,
            email: None,
            phone: None,
            subject: self.subject.clone(),
        }
    }
}

/// A required skill with a minimum level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredSkill {
    /// The skill.
    pub skill: SkillId,
    /// Minimum level, 0 to 100.
    pub min_level: SkillLevel,
}

/// The body of an ingest request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInteraction {
    /// `chat` or `email` (voice arrives over SIP).
    pub channel: Channel,
    /// The queue it enters; must carry the same channel.
    pub queue: QueueId,
    /// 0 (default) to 255; higher is served first.
    #[serde(default)]
    pub priority: u8,
    /// At most four skills with minimum levels.
    #[serde(default)]
    pub required_skills: Vec<RequiredSkill>,
    /// Customer data.
    #[serde(default)]
    pub customer: Customer,
    /// The client's key: the same key never creates a second interaction.
    pub idempotency_key: String,
    /// The conversation: a follow-up goes to the agent who has the thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

/// Where a live interaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LiveState {
    /// Waiting in its queue (or ringing an agent: an offer is not durable).
    Waiting,
    /// Answered and held by an agent.
    Active {
        /// The agent who has it.
        agent: AgentId,
    },
}

/// A live interaction as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    /// Its id (at least [`ID_BASE`]).
    pub id: InteractionId,
    /// Chat or email.
    pub channel: Channel,
    /// The queue it belongs to (for a transfer to an agent: the queue it came from).
    pub queue: QueueId,
    /// Set while it is being transferred straight to this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_to: Option<AgentId>,
    /// Priority in the queue.
    pub priority: u8,
    /// Required skills.
    pub required_skills: Vec<RequiredSkill>,
    /// Customer data.
    pub customer: Customer,
    /// The idempotency key it was created with.
    pub idempotency_key: String,
    /// The conversation thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// It was transferred by an agent.
    #[serde(default)]
    pub transferred: bool,
    /// When it was ingested (ms since the Unix epoch).
    pub created_at_ms: u64,
    /// Waiting or with an agent.
    #[serde(flatten)]
    pub state: LiveState,
}

impl Interaction {
    /// The router input that (re)creates it.
    pub fn arrival(&self) -> Arrival {
        let skills: Vec<(SkillId, SkillLevel)> = self
            .required_skills
            .iter()
            .map(|s| (s.skill, s.min_level))
            .collect();
        Arrival {
            id: self.id,
            channel: self.channel,
            route: match self.direct_to {
                Some(agent) => Route::Agent {
                    agent,
                    voicemail: false,
                },
                None => Route::Queue(self.queue),
            },
            priority: self.priority,
            // Checked at ingest: at most SkillReqs::MAX.
            skills: SkillReqs::from_slice(&skills).unwrap_or_default(),
            thread: self.thread_id.as_deref().map(thread_hash),
            is_transfer: self.transferred,
            is_preview: false,
            is_internal: false,
        }
    }
}

/// The router's thread key for a client's thread id (FNV-1a, stable across restarts).
pub fn thread_hash(thread: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in thread.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The outcome of an ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// A new interaction, durably stored; hand it to the router.
    Created(Box<Interaction>),
    /// The key was used before for the same request: this is that interaction's id (it may
    /// have ended since). Nothing new was created.
    Replayed(InteractionId),
}

/// One rule a request broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, dotted for nested ones.
    pub field: &'static str,
    /// The rule's stable name.
    pub rule: &'static str,
    /// What was wrong and what to do.
    pub message: String,
}

/// Errors of the interaction log.
#[derive(Debug, thiserror::Error)]
pub enum InteractionError {
    /// The request broke one or more rules.
    #[error("invalid interaction: {}", .0.iter().map(|i| format!("{}: {}", i.field, i.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Invalid>),
    /// The idempotency key was used before with a different request.
    #[error("idempotency key `{key}` was already used for interaction {existing} with a different request")]
    KeyReused {
        /// The key.
        key: String,
        /// The interaction created with it.
        existing: InteractionId,
    },
    /// No live interaction has this id.
    #[error("no live interaction {0}")]
    NotFound(InteractionId),
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a restart gives back to the router.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Waiting interactions in arrival order: re-arrive them in this order.
    pub waiting: Vec<Interaction>,
    /// Answered interactions: resume each with its agent.
    pub active: Vec<Interaction>,
}

/// The idempotency entry: the id and a fingerprint of the request it came with.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct KeyEntry {
    id: InteractionId,
    fingerprint: u64,
}

/// The live-interaction log. Share it as `Arc<InteractionLog>`; every method takes `&self`.
pub struct InteractionLog {
    store: Arc<dyn Store>,
    live: DashMap<InteractionId, Interaction>,
    keys: DashMap<String, KeyEntry>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for InteractionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionLog")
            .field("live", &self.live.len())
            .finish_non_exhaustive()
    }
}

fn encode<T: Serialize>(ks: &str, key: &[u8], v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt {
        keyspace: ks.to_owned(),
        key: hex::encode(key),
        detail: format!("cannot encode: {e}"),
    })
}

fn decode<'a, T: Deserialize<'a>>(ks: &str, key: &[u8], v: &'a [u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        keyspace: ks.to_owned(),
        key: hex::encode(key),
        detail: e.to_string(),
    })
}

/// A fingerprint of everything in the request but the key, to tell a retry from a clash.
fn fingerprint(req: &NewInteraction) -> u64 {
    let mut probe = req.clone();
    probe.idempotency_key.clear();
    thread_hash(&serde_json::to_string(&probe).unwrap_or_default())
}

fn validate(req: &NewInteraction) -> Result<(), InteractionError> {
    let mut e = Vec::new();
    let mut bad = |field, rule, message: String| {
        e.push(Invalid {
            field,
            rule,
            message,
        })
    };
    if req.channel == Channel::Voice {
        bad(
            "channel",
            "enum",
            "must be `chat` or `email`; voice calls arrive over SIP".into(),
        );
    }
    let key = req.idempotency_key.trim();
    if key.is_empty() {
        bad(
            "idempotency_key",
            "required",
            "must be a non-empty string unique per interaction".into(),
        );
    } else if req.idempotency_key.len() > MAX_KEY_LEN {
        bad(
            "idempotency_key",
            "max_length",
            format!("must be at most {MAX_KEY_LEN} bytes"),
        );
    }
    if req.required_skills.len() > SkillReqs::MAX {
        bad(
            "required_skills",
            "max_items",
            format!("at most {} skills", SkillReqs::MAX),
        );
    }
    if req.required_skills.iter().any(|s| s.min_level > 100) {
        bad(
            "required_skills.min_level",
            "range",
            "levels go from 0 to 100".into(),
        );
    }
    match &req.thread_id {
        Some(t) if t.trim().is_empty() => bad(
            "thread_id",
            "min_length",
            "must not be empty; omit it for a new conversation".into(),
        ),
        Some(t) if t.len() > MAX_THREAD_LEN => bad(
            "thread_id",
            "max_length",
            format!("must be at most {MAX_THREAD_LEN} bytes"),
        ),
        _ => {}
    }
    let c = &req.customer;
    for (field, v) in [
        ("customer.name", &c.name),
        ("customer.email", &c.email),
        ("customer.phone", &c.phone),
        ("customer.subject", &c.subject),
    ] {
        if v.as_ref().is_some_and(|v| v.len() > MAX_TEXT_LEN) {
            bad(
                field,
                "max_length",
                format!("must be at most {MAX_TEXT_LEN} bytes"),
            );
        }
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(InteractionError::Invalid(e))
    }
}

impl InteractionLog {
    /// Loads the log from `store` and returns what the router must be given back.
    pub fn open(store: Arc<dyn Store>) -> Result<(InteractionLog, Recovery), StoreError> {
        let keys = DashMap::new();
        let mut max_id = ID_BASE;
        for (k, v) in store.scan_prefix(KEYS, b"")? {
            let entry: KeyEntry = decode(KEYS, &k, &v)?;
            max_id = max_id.max(entry.id.0);
            keys.insert(String::from_utf8_lossy(&k).into_owned(), entry);
        }
        let live = DashMap::new();
        let mut recovery = Recovery::default();
        // Keys are big-endian ids: the scan is in id order, which is arrival order.
        for (k, v) in store.scan_prefix(RECORDS, b"")? {
            let rec: Interaction = decode(RECORDS, &k, &v)?;
            max_id = max_id.max(rec.id.0);
            match rec.state {
                LiveState::Waiting => recovery.waiting.push(rec.clone()),
                LiveState::Active { .. } => recovery.active.push(rec.clone()),
            }
            live.insert(rec.id, rec);
        }
        let log = InteractionLog {
            store,
            live,
            keys,
            next_id: AtomicU64::new(max_id + 1),
        };
        Ok((log, recovery))
    }

    /// Checks and stores a new interaction, durably, before returning. A retry with the same
    /// key and the same request returns [`Ingested::Replayed`]; the same key with another
    /// request is [`InteractionError::KeyReused`].
    pub fn ingest(&self, req: NewInteraction, now_ms: u64) -> Result<Ingested, InteractionError> {
        validate(&req)?;
        let fp = fingerprint(&req);
        let created = match self.keys.entry(req.idempotency_key.clone()) {
            Entry::Occupied(e) => {
                let existing = *e.get();
                drop(e);
                if existing.fingerprint != fp {
                    return Err(InteractionError::KeyReused {
                        key: req.idempotency_key,
                        existing: existing.id,
                    });
                }
                // The first request wrote before its entry became visible; this flush makes
                // sure the replayed answer also speaks of a durable interaction.
                self.store.flush()?;
                return Ok(Ingested::Replayed(existing.id));
            }
            Entry::Vacant(slot) => {
                let id = InteractionId(self.next_id.fetch_add(1, Ordering::Relaxed));
                let rec = Interaction {
                    id,
                    channel: req.channel,
                    queue: req.queue,
                    direct_to: None,
                    priority: req.priority,
                    required_skills: req.required_skills,
                    customer: req.customer,
                    idempotency_key: req.idempotency_key,
                    thread_id: req.thread_id,
                    transferred: false,
                    created_at_ms: now_ms,
                    state: LiveState::Waiting,
                };
                let entry = KeyEntry {
                    id,
                    fingerprint: fp,
                };
                let idk = id.0.to_be_bytes();
                self.store
                    .put(RECORDS, &idk, &encode(RECORDS, &idk, &rec)?)?;
                let kb = rec.idempotency_key.as_bytes();
                self.store.put(KEYS, kb, &encode(KEYS, kb, &entry)?)?;
                self.live.insert(id, rec.clone());
                slot.insert(entry);
                rec
            }
        };
        // Outside the key's lock: concurrent ingests share one fsync (group commit).
        self.store.flush()?;
        Ok(Ingested::Created(Box::new(created)))
    }

    /// A live interaction.
    pub fn get(&self, id: InteractionId) -> Option<Interaction> {
        self.live.get(&id).map(|r| r.clone())
    }

    /// The id an idempotency key created, if any.
    pub fn id_for_key(&self, key: &str) -> Option<InteractionId> {
        self.keys.get(key).map(|e| e.id)
    }

    /// How many interactions are live.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// Live interactions held by `agent`, in id order.
    pub fn held_by(&self, agent: AgentId) -> Vec<Interaction> {
        let mut v: Vec<Interaction> = self
            .live
            .iter()
            .filter(|r| r.state == LiveState::Active { agent })
            .map(|r| r.clone())
            .collect();
        v.sort_by_key(|r| r.id);
        v
    }

    /// Live email interactions whose subject or customer data contains `needle`
    /// (case-insensitive), in id order, at most `limit`.
    pub fn search_emails(&self, needle: &str, limit: usize) -> Vec<Interaction> {
        let needle = needle.to_lowercase();
        let hit = |s: &Option<String>| {
            s.as_ref()
                .is_some_and(|s| s.to_lowercase().contains(&needle))
        };
        let mut v: Vec<Interaction> = self
            .live
            .iter()
            .filter(|r| r.channel == Channel::Email)
            .filter(|r| {
                let c = &r.customer;
                hit(&c.subject) || hit(&c.name) || hit(&c.email) || hit(&c.phone)
            })
            .map(|r| r.clone())
            .collect();
        v.sort_by_key(|r| r.id);
        v.truncate(limit);
        v
    }

    fn write(&self, rec: &Interaction) -> Result<(), StoreError> {
        let idk = rec.id.0.to_be_bytes();
        self.store.put(RECORDS, &idk, &encode(RECORDS, &idk, rec)?)
    }

    /// Records that `agent` answered `id` (not yet flushed). No-op if it already ended.
    pub fn handle_answered(&self, id: InteractionId, agent: AgentId) -> Result<(), StoreError> {
        if let Some(mut rec) = self.live.get_mut(&id) {
            let state = LiveState::Active { agent };
            if rec.state != state || rec.direct_to.is_some() {
                rec.state = state;
                rec.direct_to = None;
                self.write(&rec)?;
            }
        }
        Ok(())
    }

    /// Removes an ended interaction (not yet flushed). Returns it if it was live.
    pub fn handle_ended(&self, id: InteractionId) -> Result<Option<Interaction>, StoreError> {
        match self.live.entry(id) {
            Entry::Occupied(e) => {
                self.store.delete(RECORDS, &id.0.to_be_bytes())?;
                Ok(Some(e.remove()))
            }
            Entry::Vacant(_) => Ok(None),
        }
    }

    /// A direct transfer was refused or not answered: the interaction goes back to its queue
    /// (not yet flushed). Returns the record to re-arrive, if it was live.
    pub fn handle_direct_failed(
        &self,
        id: InteractionId,
    ) -> Result<Option<Interaction>, StoreError> {
        if let Some(mut rec) = self.live.get_mut(&id) {
            rec.direct_to = None;
            rec.transferred = false;
            rec.state = LiveState::Waiting;
            self.write(&rec)?;
            return Ok(Some(rec.clone()));
        }
        Ok(None)
    }

    /// Applies one router output to the log (not yet flushed). Returns a record to re-arrive
    /// when a direct transfer failed and the interaction must go back to its queue.
    pub fn handle_output(&self, output: &Output) -> Result<Option<Interaction>, StoreError> {
        use crate::router::EndReason;
        match *output {
            Output::Answered { interaction, agent } if interaction.0 >= ID_BASE => {
                self.handle_answered(interaction, agent)?;
            }
            Output::Ended {
                interaction,
                reason,
            } if interaction.0 >= ID_BASE => {
                let direct = self
                    .live
                    .get(&interaction)
                    .is_some_and(|r| r.direct_to.is_some());
                if direct
                    && matches!(
                        reason,
                        EndReason::Refused { .. } | EndReason::NotAnswered { .. }
                    )
                {
                    return self.handle_direct_failed(interaction);
                }
                self.handle_ended(interaction)?;
            }
            _ => {}
        }
        Ok(None)
    }

    /// Replaces the interaction `id` held by `agent` with a new one (new id, same customer and
    /// thread) routed to `to`, in one durable step: after a crash either the old one is still
    /// with the agent or the new one is waiting, never both and never neither.
    pub fn transfer(
        &self,
        id: InteractionId,
        agent: AgentId,
        to: Route,
    ) -> Result<Interaction, InteractionError> {
        let new = match self.live.entry(id) {
            Entry::Occupied(e) if e.get().state == LiveState::Active { agent } => {
                let old = e.get();
                let new_id = InteractionId(self.next_id.fetch_add(1, Ordering::Relaxed));
                let (queue, direct_to) = match to {
                    Route::Queue(q) => (q, None),
                    Route::Agent { agent, .. } => (old.queue, Some(agent)),
                };
                let new = Interaction {
                    id: new_id,
                    queue,
                    direct_to,
                    transferred: true,
                    state: LiveState::Waiting,
                    idempotency_key: format!("transfer:{}:{}", id.0, new_id.0),
                    ..old.clone()
                };
                let entry = KeyEntry {
                    id: new_id,
                    fingerprint: 0,
                };
                // The synthetic key records the id as issued, so it is never reused after the
                // new interaction ends.
                let kb = new.idempotency_key.clone().into_bytes();
                self.store.put(KEYS, &kb, &encode(KEYS, &kb, &entry)?)?;
                self.write(&new)?;
                self.store.delete(RECORDS, &id.0.to_be_bytes())?;
                e.remove();
                self.keys.insert(new.idempotency_key.clone(), entry);
                self.live.insert(new_id, new.clone());
                new
            }
            _ => return Err(InteractionError::NotFound(id)),
        };
        self.store.flush()?;
        Ok(new)
    }

    /// Makes every change so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }
}
