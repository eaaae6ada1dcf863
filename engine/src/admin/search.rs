//! Agent list search: quick search, advanced search, status filter, sort and pagination over a
//! compact in-memory index.
//!
//! A linear scan over rows kept in id order, with lowercase keys precomputed, answers any
//! filter combination without a secondary index per column; only the page asked for is fully
//! sorted (a partial selection puts the first `offset + limit` matches in front first). See
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

struct Row {
    id_str: Box<str>,
    first_lc: Box<str>,
    last_lc: Box<str>,
    summary: AgentSummary,
}

impl Row {
    fn of(agent: &Agent) -> Self {
        Row {
            id_str: agent.id.0.to_string().into(),
            first_lc: agent.profile.first_name.to_lowercase().into(),
            last_lc: agent.profile.last_name.to_lowercase().into(),
            summary: AgentSummary::of(agent),
        }
    }
}

/// The agent list index: one row per agent, in id order.
#[derive(Default)]
pub(crate) struct SearchIndex {
    rows: Vec<Row>,
}

struct Filter {
    q: Option<String>,
    first: Option<String>,
    last: Option<String>,
    username: Option<String>,
    id: Option<String>,
    cli: Option<String>,
    status: StatusFilter,
}

fn lc(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}

impl Filter {
    fn matches(&self, r: &Row) -> bool {
        let s = &r.summary;
        (match self.status {
            StatusFilter::All => true,
            StatusFilter::Active => s.active,
            StatusFilter::Inactive => !s.active,
        }) && self
            .q
            .as_deref()
            .is_none_or(|q| r.id_str.contains(q) || s.username.contains(q))
            && self.id.as_deref().is_none_or(|p| r.id_str.starts_with(p))
            && self
                .username
                .as_deref()
                .is_none_or(|p| s.username.starts_with(p))
            && self
                .first
                .as_deref()
                .is_none_or(|p| r.first_lc.starts_with(p))
            && self
                .last
                .as_deref()
                .is_none_or(|p| r.last_lc.starts_with(p))
            && self
                .cli
                .as_deref()
                .is_none_or(|c| s.cli.as_deref() == Some(c))
    }
}

fn compare(key: SortKey, a: &Row, b: &Row) -> Ordering {
    let by = match key {
        SortKey::Id => Ordering::Equal,
        SortKey::Username => a.summary.username.cmp(&b.summary.username),
        SortKey::FirstName => a.first_lc.cmp(&b.first_lc),
        SortKey::LastName => a.last_lc.cmp(&b.last_lc),
        SortKey::Cli => a.summary.cli.cmp(&b.summary.cli),
        SortKey::Timezone => a.summary.timezone.cmp(&b.summary.timezone),
    };
    by.then(a.summary.id.cmp(&b.summary.id))
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
    fn position(&self, id: AgentId) -> Result<usize, usize> {
        self.rows.binary_search_by(|r| r.summary.id.cmp(&id))
    }

    /// Inserts or replaces the row of `agent`.
    pub(crate) fn upsert(&mut self, agent: &Agent) {
        let row = Row::of(agent);
        match self.position(agent.id) {
            Ok(i) => self.rows[i] = row,
            // Ids only grow, so this is a push in practice.
            Err(i) => self.rows.insert(i, row),
        }
    }

    /// Removes the row of `id`.
    pub(crate) fn remove(&mut self, id: AgentId) {
        if let Ok(i) = self.position(id) {
            self.rows.remove(i);
        }
    }

    /// Runs a query (already checked with [`check_query`]).
    pub(crate) fn search(&self, q: &AgentQuery) -> AgentPage {
        let f = Filter {
            q: lc(&q.q),
            first: lc(&q.first_name),
            last: lc(&q.last_name),
            username: lc(&q.username),
            id: q.agent_id.clone().filter(|s| !s.is_empty()),
            cli: q.cli.clone().filter(|s| !s.is_empty()),
            status: q.status,
        };
        let mut hits: Vec<u32> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| f.matches(r))
            .map(|(i, _)| i as u32)
            .collect();
        let total = hits.len();
        let start = q.offset.min(total);
        let end = q.offset.saturating_add(q.limit).min(total);
        let rows = &self.rows;
        let cmp = |a: &u32, b: &u32| {
            let o = compare(q.sort, &rows[*a as usize], &rows[*b as usize]);
            match q.order {
                SortOrder::Asc => o,
                SortOrder::Desc => o.reverse(),
            }
        };
        if start == end {
            return AgentPage {
                total,
                offset: q.offset,
                limit: q.limit,
                items: Vec::new(),
            };
        }
        let page: &[u32] = match (q.sort, q.order) {
            // Rows are in id order already.
            (SortKey::Id, SortOrder::Asc) => &hits[start..end],
            (SortKey::Id, SortOrder::Desc) => {
                hits.reverse();
                &hits[start..end]
            }
            _ => {
                if end < hits.len() {
                    hits.select_nth_unstable_by(end - 1, cmp);
                    hits.truncate(end);
                }
                hits.sort_unstable_by(cmp);
                &hits[start..end]
            }
        };
        AgentPage {
            total,
            offset: q.offset,
            limit: q.limit,
            items: page
                .iter()
                .map(|i| rows[*i as usize].summary.clone())
                .collect(),
        }
    }
}
