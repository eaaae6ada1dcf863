//! Agent list search: quick search, advanced search, status filter, sort and pagination over a
//! compact in-memory index.
//!
//! A linear scan over rows kept in id order, with lowercase keys precomputed, answers any
//! filter combination without a secondary index per column; only the page asked for is fully
//! sorted (two partial selections isolate the page's rows first). See
//! docs/performance.md "Admin search" for what this costs at 100,000 agents.

use crate::common::AgentId;
use crate::model::{rules, Agent, FieldError};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Which agents the status filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Every agent.
    #[default]
    All,
    /// Login enabled and not disabled.
    Active,
    /// Login disabled, or the account disabled.
    Inactive,
}

/// A sortable column of the agent list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Agent id.
    #[default]
    Id,
    /// Username.
    Username,
    /// First name (case-insensitive).
    FirstName,
    /// Last name (case-insensitive).
    LastName,
    /// Agent CLI (agents without one first).
    Cli,
    /// Time zone.
    Timezone,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Ascending (ties broken by ascending id).
    #[default]
    Asc,
    /// Exactly the reverse of ascending.
    Desc,
}

/// The default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page size.
pub const MAX_LIMIT: usize = 1000;

/// An agent list query. Every filter given must match; absent or empty filters match all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentQuery {
    /// Quick search: part of the agent id or the username (case-insensitive).
    pub q: Option<String>,
    /// Prefix of the first name (case-insensitive).
    pub first_name: Option<String>,
    /// Prefix of the last name (case-insensitive).
    pub last_name: Option<String>,
    /// Prefix of the username (case-insensitive).
    pub username: Option<String>,
    /// Prefix of the agent id's digits.
    pub agent_id: Option<String>,
    /// The agent CLI, exactly.
    pub cli: Option<String>,
    /// Status filter.
    pub status: StatusFilter,
    /// Sort column.
    pub sort: SortKey,
    /// Sort direction.
    pub order: SortOrder,
    /// Matches to skip.
    pub offset: usize,
    /// Page size, 1–1000.
    pub limit: usize,
}

impl Default for AgentQuery {
    fn default() -> Self {
        AgentQuery {
            q: None,
            first_name: None,
            last_name: None,
            username: None,
            agent_id: None,
            cli: None,
            status: StatusFilter::All,
            sort: SortKey::Id,
            order: SortOrder::Asc,
            offset: 0,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// One row of the agent list (the list columns plus status flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSummary {
    /// Agent id.
    pub id: AgentId,
    /// Username.
    pub username: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Agent CLI, if set.
    pub cli: Option<String>,
    /// Time zone.
    pub timezone: String,
    /// Extension.
    pub extension: String,
    /// Login enabled and not disabled.
    pub active: bool,
    /// Login enabled.
    pub login_enabled: bool,
    /// Account disabled.
    pub disabled: bool,
    /// Locked after failed logins.
    pub locked: bool,
}

impl AgentSummary {
    /// The list row of `agent`.
    pub fn of(agent: &Agent) -> Self {
        AgentSummary {
            id: agent.id,
            username: agent.username.clone(),
            first_name: agent.profile.first_name.clone(),
            last_name: agent.profile.last_name.clone(),
            cli: agent.profile.cli.clone(),
            timezone: agent.profile.timezone.clone(),
            extension: agent.extension.clone(),
            active: agent.is_active(),
            login_enabled: agent.profile.login_enabled,
            disabled: agent.profile.disabled,
            locked: agent.locked,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPage {
    /// Matches in all pages.
    pub total: usize,
    /// Offset of this page.
    pub offset: usize,
    /// Page size asked for.
    pub limit: usize,
    /// This page's rows.
    pub items: Vec<AgentSummary>,
}

/// A string in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    off: u32,
    len: u32,
}

/// The searchable keys of one agent: 64 bytes, no pointers, so a scan walks one `Vec`
/// sequentially and reads the strings from an arena laid out in the same order.
#[derive(Debug, Clone, Copy)]
struct Keys {
    id: AgentId,
    id_str: Span,
    username: Span,
    first_lc: Span,
    last_lc: Span,
    cli: Option<Span>,
    timezone: Span,
    active: bool,
}

/// The agent list index: keys and list rows per agent, in id order, and a string arena.
#[derive(Default)]
pub(crate) struct SearchIndex {
    keys: Vec<Keys>,
    rows: Vec<AgentSummary>,
    arena: Vec<u8>,
    /// Bytes of the arena still referenced; the rest is garbage left by updates and deletes.
    live: usize,
}

struct Filter {
    q: Option<Vec<u8>>,
    first: Option<Vec<u8>>,
    last: Option<Vec<u8>>,
    username: Option<Vec<u8>>,
    id: Option<Vec<u8>>,
    cli: Option<Vec<u8>>,
    status: StatusFilter,
}

fn lc(s: &Option<String>) -> Option<Vec<u8>> {
    s.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.to_lowercase().into_bytes())
}

fn raw(s: &Option<String>) -> Option<Vec<u8>> {
    s.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec())
}

/// Substring test for short haystacks; `str::contains` builds a searcher per call, which
/// costs more than the whole comparison here.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    needle.len() <= hay.len()
        && hay[..=hay.len() - needle.len()]
            .iter()
            .enumerate()
            .any(|(i, &b)| b == first && &hay[i + 1..i + needle.len()] == rest)
}

/// The first 16 bytes of a key, big-endian, zero-padded: comparing these orders strings like
/// comparing the strings, except among strings sharing their first 16 bytes. No key contains
/// NUL, so for keys of at most 16 bytes equal prefixes mean equal strings.
fn prefix16(s: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s[..n]);
    u128::from_be_bytes(b)
}

impl SearchIndex {
    fn s(&self, sp: Span) -> &[u8] {
        &self.arena[sp.off as usize..(sp.off + sp.len) as usize]
    }

    fn push(&mut self, s: &str) -> Span {
        let sp = Span {
            off: self.arena.len() as u32,
            len: s.len() as u32,
        };
        self.arena.extend_from_slice(s.as_bytes());
        self.live += s.len();
        sp
    }

    fn keys_of(&mut self, agent: &Agent) -> Keys {
        let p = &agent.profile;
        Keys {
            id: agent.id,
            id_str: self.push(&agent.id.0.to_string()),
            username: self.push(&agent.username),
            first_lc: self.push(&p.first_name.to_lowercase()),
            last_lc: self.push(&p.last_name.to_lowercase()),
            cli: p.cli.as_deref().map(|c| self.push(c)),
            timezone: self.push(&p.timezone),
            active: agent.is_active(),
        }
    }

    fn bytes_of(k: &Keys) -> usize {
        [k.id_str, k.username, k.first_lc, k.last_lc, k.timezone]
            .iter()
            .chain(k.cli.iter())
            .map(|s| s.len as usize)
            .sum()
    }

    /// Rewrites the arena in row order once garbage outweighs live data (amortised O(1) per
    /// write), which also restores sequential access for scans.
    fn maybe_compact(&mut self) {
        // Tests compact as soon as possible so the property tests exercise it.
        const SLACK: usize = if cfg!(test) { 0 } else { 1 << 16 };
        if self.arena.len() < 2 * self.live + SLACK {
            return;
        }
        let old = std::mem::take(&mut self.arena);
        self.live = 0;
        let mut keys = std::mem::take(&mut self.keys);
        for k in &mut keys {
            let mut copy = |sp: Span| {
                let s = &old[sp.off as usize..(sp.off + sp.len) as usize];
                let n = Span {
                    off: self.arena.len() as u32,
                    len: sp.len,
                };
                self.arena.extend_from_slice(s);
                self.live += s.len();
                n
            };
            k.id_str = copy(k.id_str);
            k.username = copy(k.username);
            k.first_lc = copy(k.first_lc);
            k.last_lc = copy(k.last_lc);
            k.cli = k.cli.map(&mut copy);
            k.timezone = copy(k.timezone);
        }
        self.keys = keys;
    }

    fn position(&self, id: AgentId) -> Result<usize, usize> {
        self.keys.binary_search_by(|k| k.id.cmp(&id))
    }

    /// Inserts or replaces the row of `agent`.
    pub(crate) fn upsert(&mut self, agent: &Agent) {
        let keys = self.keys_of(agent);
        let row = AgentSummary::of(agent);
        match self.position(agent.id) {
            Ok(i) => {
                self.live -= Self::bytes_of(&self.keys[i]);
                self.keys[i] = keys;
                self.rows[i] = row;
            }
            // Ids only grow, so this is a push in practice.
            Err(i) => {
                self.keys.insert(i, keys);
                self.rows.insert(i, row);
            }
        }
        self.maybe_compact();
    }

    /// Removes the row of `id`.
    pub(crate) fn remove(&mut self, id: AgentId) {
        if let Ok(i) = self.position(id) {
            self.live -= Self::bytes_of(&self.keys[i]);
            self.keys.remove(i);
            self.rows.remove(i);
            self.maybe_compact();
        }
    }

    fn matches(&self, f: &Filter, k: &Keys) -> bool {
        (match f.status {
            StatusFilter::All => true,
            StatusFilter::Active => k.active,
            StatusFilter::Inactive => !k.active,
        }) && f
            .q
            .as_deref()
            .is_none_or(|q| contains(self.s(k.id_str), q) || contains(self.s(k.username), q))
            && f.id
                .as_deref()
                .is_none_or(|p| self.s(k.id_str).starts_with(p))
            && f.username
                .as_deref()
                .is_none_or(|p| self.s(k.username).starts_with(p))
            && f.first
                .as_deref()
                .is_none_or(|p| self.s(k.first_lc).starts_with(p))
            && f.last
                .as_deref()
                .is_none_or(|p| self.s(k.last_lc).starts_with(p))
            && f.cli
                .as_deref()
                .is_none_or(|c| k.cli.map(|s| self.s(s)) == Some(c))
    }

    fn compare(&self, key: SortKey, a: &Keys, b: &Keys) -> Ordering {
        let by = match key {
            SortKey::Id => Ordering::Equal,
            SortKey::Username => self.s(a.username).cmp(self.s(b.username)),
            SortKey::FirstName => self.s(a.first_lc).cmp(self.s(b.first_lc)),
            SortKey::LastName => self.s(a.last_lc).cmp(self.s(b.last_lc)),
            SortKey::Cli => a.cli.map(|s| self.s(s)).cmp(&b.cli.map(|s| self.s(s))),
            SortKey::Timezone => self.s(a.timezone).cmp(self.s(b.timezone)),
        };
        by.then(a.id.cmp(&b.id))
    }
}

/// Checks a query; returns its errors.
pub(crate) fn check_query(q: &AgentQuery) -> Result<(), Vec<FieldError>> {
    let mut e = Vec::new();
    if !(1..=MAX_LIMIT).contains(&q.limit) {
        e.push(FieldError::new(
            "limit",
            rules::RANGE,
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if let Some(id) = q.agent_id.as_deref() {
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            e.push(FieldError::new(
                "agent_id",
                rules::DIGITS,
                "an agent id prefix is digits only",
            ));
        }
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(e)
    }
}

impl SearchIndex {
    /// Runs a query (already checked with [`check_query`]).
    pub(crate) fn search(&self, q: &AgentQuery) -> AgentPage {
        let f = Filter {
            q: lc(&q.q),
            first: lc(&q.first_name),
            last: lc(&q.last_name),
            username: lc(&q.username),
            id: raw(&q.agent_id),
            cli: raw(&q.cli),
            status: q.status,
        };
        let mut hits: Vec<u32> = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| self.matches(&f, k))
            .map(|(i, _)| i as u32)
            .collect();
        let total = hits.len();
        let start = q.offset.min(total);
        let end = q.offset.saturating_add(q.limit).min(total);
        if start == end {
            return AgentPage {
                total,
                offset: q.offset,
                limit: q.limit,
                items: Vec::new(),
            };
        }
        let page: Vec<u32> = match (q.sort, q.order) {
            // Rows are in id order already.
            (SortKey::Id, SortOrder::Asc) => hits[start..end].to_vec(),
            (SortKey::Id, SortOrder::Desc) => {
                hits.reverse();
                hits[start..end].to_vec()
            }
            (key, order) => {
                // Gather a 16-byte prefix of the sort key next to each hit, so that most
                // comparisons are integer compares on contiguous memory; only ties between
                // long keys read the strings. Hits are in id order, so the index breaks ties.
                let keys = &self.keys;
                let span = |k: &Keys| match key {
                    SortKey::Username => Some(k.username),
                    SortKey::FirstName => Some(k.first_lc),
                    SortKey::LastName => Some(k.last_lc),
                    SortKey::Cli => k.cli,
                    SortKey::Timezone => Some(k.timezone),
                    SortKey::Id => None,
                };
                // (has a value, prefix, longer than 16 bytes, index); no CLI sorts first.
                type Tag = (bool, u128, bool, u32);
                let mut tagged: Vec<Tag> = hits
                    .iter()
                    .map(|&i| match span(&keys[i as usize]) {
                        Some(sp) => (true, prefix16(self.s(sp)), sp.len > 16, i),
                        None => (false, 0, false, i),
                    })
                    .collect();
                let cmp = |a: &Tag, b: &Tag| {
                    let o = (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| {
                        if a.2 || b.2 {
                            self.compare(key, &keys[a.3 as usize], &keys[b.3 as usize])
                        } else {
                            a.3.cmp(&b.3)
                        }
                    });
                    match order {
                        SortOrder::Asc => o,
                        SortOrder::Desc => o.reverse(),
                    }
                };
                // Two linear selections leave exactly the page's rows in [start, end); only
                // those are sorted, so a deep page costs no more than the first.
                if end < tagged.len() {
                    tagged.select_nth_unstable_by(end - 1, cmp);
                }
                let prefix = &mut tagged[..end];
                if start > 0 {
                    prefix.select_nth_unstable_by(start, cmp);
                }
                let page = &mut prefix[start..];
                page.sort_unstable_by(cmp);
                page.iter().map(|t| t.3).collect()
            }
        };
        AgentPage {
            total,
            offset: q.offset,
            limit: q.limit,
            items: page
                .iter()
                .map(|i| self.rows[*i as usize].clone())
                .collect(),
        }
    }
}
