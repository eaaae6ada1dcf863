//! The agent toolbar service: login rules, sessions, TOTP, agent state, offers and their
//! answers, transfers, toolbar permissions and queue counts; and chat/email ingest hand-off.
//!
//! Owns the rules a toolbar request goes through before the router sees it (who may log in,
//! which session stage allows what, which pause reasons exist, which permission an endpoint
//! needs, what a masked agent may see). Does not own HTTP or WebSocket (the sidecar's
//! `toolbar` module maps requests and [`ToolbarError`] to status codes), routing (the router
//! task) or interaction storage ([`crate::interactions`]). Methods block (admin, store,
//! router round trips): front ends call them off their reactor. Time is passed in as ms since
//! the Unix epoch.

pub mod events;
pub mod hub;
pub mod sessions;
pub mod totp;

pub use hub::Hub;
pub use sessions::{Session, SessionError, Sessions, Stage};
pub use totp::{Enrolment, TotpStore};

use crate::admin::{Admin, AdminError, ConfigEvent, LoginError};
use crate::common::{AgentId, Channel, InteractionId, PauseReasonId, QueueId};
use crate::interactions::{
    Ingested, Interaction, InteractionError, InteractionLog, NewInteraction,
};
use crate::model::{Agent, ToolbarPermissions};
use crate::router::{PauseReason, Route};
use crate::runtime::presence::{Presence, Source};
use crate::runtime::router_task::{Command, RouterHandle, TaskError};
use crate::store::{Store, StoreError};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::sync::{Arc, Mutex};

/// Settings of the toolbar service.
#[derive(Debug, Clone)]
pub struct ToolbarOptions {
    /// How long a session lasts from login, in ms.
    pub session_ttl_ms: u64,
    /// Presence shared with SIP: a toolbar logout keeps an agent whose phone is registered
    /// logged in (see `runtime::presence`).
    pub presence: Arc<Presence>,
}

impl Default for ToolbarOptions {
    fn default() -> Self {
        ToolbarOptions {
            session_ttl_ms: 8 * 3600 * 1000,
            presence: Arc::new(Presence::new()),
        }
    }
}

/// A toolbar permission an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Manual outbound calls.
    ManualCall,
    /// Agent-to-agent calls.
    AgentCall,
    /// Email search.
    EmailSearch,
    /// Today's callback list.
    CallbackList,
    /// The lead manager.
    LeadManager,
}

impl Permission {
    /// The field name in the agent's toolbar permissions.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::ManualCall => "manual_call",
            Permission::AgentCall => "agent_call",
            Permission::EmailSearch => "email_search",
            Permission::CallbackList => "callback_list",
            Permission::LeadManager => "lead_manager",
        }
    }

    fn granted(self, p: &ToolbarPermissions) -> bool {
        match self {
            Permission::ManualCall => p.manual_call,
            Permission::AgentCall => p.agent_call,
            Permission::EmailSearch => p.email_search,
            Permission::CallbackList => p.callback_list,
            Permission::LeadManager => p.lead_manager,
        }
    }
}

/// Errors of the toolbar service, each mapping to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ToolbarError {
    /// Wrong username or password (401).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The TOTP code is missing (401, field `totp`).
    #[error("this account needs a TOTP code from its authenticator app in field `totp`")]
    TotpRequired,
    /// The TOTP code is wrong, expired or already used (401, field `totp`).
    #[error("the TOTP code is wrong, expired or already used")]
    TotpInvalid,
    /// The account is locked after too many failed logins (423).
    #[error(
        "the account is locked after too many failed logins; ask an administrator to unlock it"
    )]
    Locked,
    /// The account is disabled or may not log in (403).
    #[error("the account is disabled or not allowed to log in")]
    Disabled,
    /// The token is missing, unknown, revoked or expired (401).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The session must first change the password or enrol TOTP (403).
    #[error("finish logging in first: {}", .0.as_str())]
    Stage(Stage),
    /// The agent lacks a toolbar permission (403).
    #[error("permission `{}` is required", .0.as_str())]
    Forbidden(Permission),
    /// A field broke a rule (422).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule.
        rule: &'static str,
        /// What to do.
        message: String,
    },
    /// The interaction is not offered to / held by this agent (404).
    #[error("interaction {0} is not offered to or held by you")]
    NotYours(InteractionId),
    /// The request conflicts with the agent's or the interaction's state (409).
    #[error("{0}")]
    Conflict(String),
    /// Admin service error (validation, not found).
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Ingest error.
    #[error(transparent)]
    Interaction(#[from] InteractionError),
    /// The router is overloaded or stopped (503).
    #[error("the routing engine is unavailable: {0}")]
    Router(TaskError),
    /// The store failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A successful password check.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The bearer token (shown once).
    pub token: String,
    /// The session.
    pub session: Session,
    /// The agent.
    pub agent: Agent,
}

/// What the agent asks its state to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WantedState {
    /// Ready for offers.
    Available,
    /// Paused, with a configured reason or none.
    Paused(Option<PauseReasonId>),
}

/// Where a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTarget {
    /// Another agent.
    Agent(AgentId),
    /// A queue.
    Queue(QueueId),
}

/// Waiting counts of one queue the agent serves; a count is `None` when the agent's
/// permissions hide that channel's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCount {
    /// The queue.
    pub queue: QueueId,
    /// Its channel.
    pub channel: Channel,
    /// Interactions waiting (not ringing), if shown.
    pub waiting: Option<u32>,
}

/// The toolbar service. Share as `Arc<Toolbar>`.
pub struct Toolbar {
    admin: Arc<Admin>,
    sessions: Sessions,
    totp: TotpStore,
    log: Arc<InteractionLog>,
    router: RouterHandle,
    hub: Arc<Hub>,
    rng: Mutex<ChaCha20Rng>,
    presence: Arc<Presence>,
}

impl std::fmt::Debug for Toolbar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toolbar").finish_non_exhaustive()
    }
}

fn router_err(e: TaskError) -> ToolbarError {
    ToolbarError::Router(e)
}

impl Toolbar {
    /// The service over the engine's parts. Starts the hub thread (subscribed to the router)
    /// and a thread following admin changes (masking, disabling).
    pub fn start(
        admin: Arc<Admin>,
        store: Arc<dyn Store>,
        log: Arc<InteractionLog>,
        router: RouterHandle,
        options: ToolbarOptions,
    ) -> std::io::Result<Arc<Toolbar>> {
        let hub = Arc::new(Hub::new(log.clone()));
        let rx = router
            .subscribe()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Hub::spawn(hub.clone(), rx)?;
        let tb = Arc::new(Toolbar {
            sessions: Sessions::new(options.session_ttl_ms),
            totp: TotpStore::new(store),
            log,
            router,
            hub,
            rng: Mutex::new(ChaCha20Rng::from_entropy()),
            presence: options.presence.clone(),
            admin: admin.clone(),
        });
        let feed = admin.subscribe();
        let weak = Arc::downgrade(&tb);
        std::thread::Builder::new()
            .name("acd-toolbar-admin".into())
            .spawn(move || {
                while let Ok(ev) = feed.recv() {
                    let Some(tb) = weak.upgrade() else { break };
                    tb.handle_config(&ev);
                }
            })?;
        Ok(tb)
    }

    /// The hub (for WebSocket connections).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The interaction log.
    pub fn log(&self) -> &Arc<InteractionLog> {
        &self.log
    }

    /// Follows admin changes: masking, and the end of every session of an agent who is
    /// disabled, locked, deleted or no longer allowed to log in.
    pub fn handle_config(&self, ev: &ConfigEvent) {
        let (id, refused, masked) = match ev {
            ConfigEvent::AgentUpserted(a) => (
                a.id,
                !a.is_active() || a.locked,
                a.profile.mask_sensitive_data,
            ),
            ConfigEvent::AgentDeleted(id) => (*id, true, true),
            _ => return,
        };
        self.hub.handle_mask(id, masked);
        if refused && self.sessions.handle_revoke_agent(id) > 0 {
            self.hub.disconnect(id);
            // Revoked by an administrator: out, whatever else keeps the agent present.
            self.presence.handle_down(id, Source::Toolbar);
            let _ = self.router.try_send(Command::Logout(id));
        }
    }

    /// Ends expired sessions; logs out agents left without one. Call about once a second.
    pub fn handle_sweep(&self, now: u64) {
        for agent in self.sessions.handle_sweep(now) {
            self.hub.disconnect(agent);
            if self.presence.handle_down(agent, Source::Toolbar) {
                let _ = self.router.try_send(Command::Logout(agent));
            }
        }
    }

    // ----- login ----------------------------------------------------------------------------

    /// Checks username, password and (when the agent has TOTP on) the code, and opens a
    /// session. The session is [`Stage::Active`] only when nothing else is pending: TOTP on
    /// but not enrolled gives [`Stage::TotpEnrolment`], a password to change gives
    /// [`Stage::MustChangePassword`]. An active session logs the agent in to routing.
    pub fn handle_login(
        &self,
        now: u64,
        username: &str,
        password: &str,
        totp_code: Option<&str>,
    ) -> Result<LoggedIn, ToolbarError> {
        let login_err = |e| match e {
            LoginError::InvalidCredentials => ToolbarError::InvalidCredentials,
            LoginError::Locked => ToolbarError::Locked,
            LoginError::Disabled => ToolbarError::Disabled,
            LoginError::Store(e) => ToolbarError::Store(e),
        };
        // The failure count is cleared only once every factor passed: a wrong TOTP code counts
        // toward lockout like a wrong password (issue 13 H3).
        let agent = self
            .admin
            .verify_password(username, password)
            .map_err(login_err)?;
        let mut stage = Stage::Active;
        if agent.profile.mfa.totp {
            if self.totp.is_enrolled(agent.id)? {
                let code = totp_code
                    .filter(|c| !c.is_empty())
                    .ok_or(ToolbarError::TotpRequired)?;
                if !self.totp.handle_verify(agent.id, code, now / 1000)? {
                    self.admin
                        .record_second_factor(agent.id, false)
                        .map_err(login_err)?;
                    return Err(ToolbarError::TotpInvalid);
                }
            } else {
                stage = Stage::TotpEnrolment;
            }
        }
        self.admin
            .record_second_factor(agent.id, true)
            .map_err(login_err)?;
        if stage == Stage::Active && agent.must_change_password {
            stage = Stage::MustChangePassword;
        }
        let (token, session) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            self.sessions.handle_open(now, agent.id, stage, &mut *rng)
        };
        self.hub
            .handle_mask(agent.id, agent.profile.mask_sensitive_data);
        if stage == Stage::Active {
            self.router_login(agent.id)?;
        }
        Ok(LoggedIn {
            token,
            session,
            agent,
        })
    }

    /// The session of a token; any stage.
    pub fn authenticate(&self, now: u64, token: &str) -> Result<Session, ToolbarError> {
        Ok(self.sessions.check(now, token)?)
    }

    /// The session of a token, which must be fully logged in.
    pub fn authenticate_active(&self, now: u64, token: &str) -> Result<Session, ToolbarError> {
        let s = self.authenticate(now, token)?;
        if s.stage != Stage::Active {
            return Err(ToolbarError::Stage(s.stage));
        }
        Ok(s)
    }

    /// The agent changes its password (policy enforced by the admin service). A session that
    /// was waiting for this becomes active and the agent is logged in to routing.
    pub fn handle_change_password(
        &self,
        token: &str,
        s: Session,
        current: &str,
        new: &str,
    ) -> Result<Stage, ToolbarError> {
        if s.stage == Stage::TotpEnrolment {
            return Err(ToolbarError::Stage(s.stage));
        }
        self.admin.change_own_password(s.agent, current, new)?;
        if s.stage == Stage::MustChangePassword {
            self.activate(token, s.agent)?;
        }
        Ok(Stage::Active)
    }

    fn activate(&self, token: &str, agent: AgentId) -> Result<(), ToolbarError> {
        self.sessions.handle_stage(token, Stage::Active);
        self.router_login(agent)
    }

    /// Logs the agent in to routing. An agent created a moment ago may not have reached the
    /// router yet (the configuration feed runs on its own thread): wait for it, briefly.
    fn router_login(&self, agent: AgentId) -> Result<(), ToolbarError> {
        self.presence.handle_up(agent, Source::Toolbar);
        let mut tries = 0;
        loop {
            match self.router.call(Command::Login(agent)) {
                Err(TaskError::Router(crate::router::RouterError::UnknownAgent(_)))
                    if tries < 200 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other.map_err(router_err),
            }
        }
    }

    /// Starts TOTP enrolment: a new secret, shown once. Only a session in the enrolment stage
    /// may, and only while the account has no confirmed secret: a confirmed secret is never
    /// replaced from a session (that let one call from a stolen session turn the account back
    /// into "not enrolled", issue 13 H3).
    pub fn handle_totp_begin(&self, s: Session) -> Result<Enrolment, ToolbarError> {
        match s.stage {
            Stage::TotpEnrolment => {}
            Stage::MustChangePassword => return Err(ToolbarError::Stage(s.stage)),
            Stage::Active => return Err(Self::enrol_conflict()),
        }
        let username = self.admin.agent(s.agent)?.username;
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        self.totp
            .handle_begin(s.agent, &username, &mut *rng)?
            .ok_or_else(Self::enrol_conflict)
    }

    fn enrol_conflict() -> ToolbarError {
        ToolbarError::Conflict(
            "TOTP can only be enrolled while logging in to an account that has none; \
             this session is past that step or the account is already enrolled"
                .into(),
        )
    }

    /// Confirms enrolment with a first code; the session moves on to the next pending step.
    pub fn handle_totp_confirm(
        &self,
        now: u64,
        token: &str,
        s: Session,
        code: &str,
    ) -> Result<Stage, ToolbarError> {
        if s.stage != Stage::TotpEnrolment {
            return Err(match s.stage {
                Stage::MustChangePassword => ToolbarError::Stage(s.stage),
                _ => Self::enrol_conflict(),
            });
        }
        if !self.totp.handle_confirm(s.agent, code, now / 1000)? {
            return Err(ToolbarError::TotpInvalid);
        }
        if s.stage == Stage::TotpEnrolment {
            if self.admin.agent(s.agent)?.must_change_password {
                self.sessions.handle_stage(token, Stage::MustChangePassword);
                return Ok(Stage::MustChangePassword);
            }
            self.activate(token, s.agent)?;
        }
        Ok(Stage::Active)
    }

    /// Ends this session; the agent logs out of routing when it has no other session.
    pub fn handle_logout(&self, token: &str) -> Result<(), ToolbarError> {
        if let Some(s) = self.sessions.handle_revoke(token) {
            if !self.sessions.has_session(s.agent) {
                self.hub.disconnect(s.agent);
                // A registered SIP phone keeps the agent logged in (runtime::presence).
                if self.presence.handle_down(s.agent, Source::Toolbar) {
                    self.router
                        .call(Command::Logout(s.agent))
                        .map_err(router_err)?;
                }
            }
        }
        Ok(())
    }

    // ----- state ----------------------------------------------------------------------------

    /// Available, or paused with a reason from the admin list (required when the organisation
    /// says so).
    pub fn handle_state(&self, s: Session, want: WantedState) -> Result<(), ToolbarError> {
        let cmd = match want {
            WantedState::Available => Command::Available(s.agent),
            WantedState::Paused(reason) => {
                match reason {
                    Some(id) if self.admin.pause_reason(id).is_err() => {
                        return Err(ToolbarError::Invalid {
                            field: "reason_id",
                            rule: "exists",
                            message: format!(
                                "pause reason {id} does not exist; see GET /api/v1/toolbar/pause-reasons"
                            ),
                        });
                    }
                    Some(_) => {}
                    None if self.admin.org_settings().pause_reason_required => {
                        return Err(ToolbarError::Invalid {
                            field: "reason_id",
                            rule: "required",
                            message: "the organisation requires a pause reason".into(),
                        })
                    }
                    None => {}
                }
                Command::Pause(s.agent, PauseReason::Manual(reason))
            }
        };
        self.router.call(cmd).map_err(router_err)
    }

    /// Ends wrap-up early.
    pub fn handle_wrap_up_end(&self, s: Session) -> Result<(), ToolbarError> {
        self.router
            .call(Command::WrapUpEnd(s.agent))
            .map_err(router_err)
    }

    // ----- offers ---------------------------------------------------------------------------

    fn not_yours(id: InteractionId) -> impl Fn(TaskError) -> ToolbarError {
        move |e| match e {
            TaskError::Router(_) => ToolbarError::NotYours(id),
            e => ToolbarError::Router(e),
        }
    }

    /// Accepts a ringing offer; returns once the answer is durable.
    ///
    /// A phone call ringing on the agent's SIP phone is answered on the phone (acd cannot
    /// pick up a phone): accepting it here is refused with a conflict, before the router
    /// hears of it, so routing never counts a call as answered that nobody picked up.
    /// Rejecting it here works (the phone stops ringing and the call moves on).
    pub fn handle_accept(&self, s: Session, id: InteractionId) -> Result<(), ToolbarError> {
        if id.0 < crate::interactions::ID_BASE {
            if !self.hub.ringing(s.agent).contains(&id) {
                return Err(ToolbarError::NotYours(id));
            }
            return Err(ToolbarError::Conflict(format!(
                "interaction {id} is a phone call: answer it on your phone \
                 (reject and complete work from here)"
            )));
        }
        self.router
            .call(Command::Accepted(id, s.agent))
            .map_err(Self::not_yours(id))?;
        self.log.handle_answered(id, s.agent)?;
        self.log.flush()?;
        Ok(())
    }

    /// Rejects a ringing offer; it goes back to its place in the queue.
    pub fn handle_reject(&self, s: Session, id: InteractionId) -> Result<(), ToolbarError> {
        self.router
            .call(Command::Rejected(id, s.agent))
            .map_err(Self::not_yours(id))
    }

    fn held(&self, s: Session, id: InteractionId) -> Result<Interaction, ToolbarError> {
        self.log
            .get(id)
            .filter(|r| r.state == crate::interactions::LiveState::Active { agent: s.agent })
            .ok_or(ToolbarError::NotYours(id))
    }

    /// Checks that the session's agent holds phone call `id`. The hub learns of an answer
    /// from the router's output stream, a moment after the router: when it knows of no
    /// holder yet, one router round trip and a short wait let it catch up.
    fn held_call(&self, s: Session, id: InteractionId) -> Result<(), ToolbarError> {
        match self.hub.holder(id) {
            Some(a) if a == s.agent => return Ok(()),
            Some(_) => return Err(ToolbarError::NotYours(id)),
            None => {}
        }
        let _ = self.router.fresh_snapshot();
        for _ in 0..50 {
            match self.hub.holder(id) {
                Some(a) if a == s.agent => return Ok(()),
                Some(_) => return Err(ToolbarError::NotYours(id)),
                None => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        Err(ToolbarError::NotYours(id))
    }

    /// Completes an answered interaction; returns once its end is durable. The agent goes to
    /// wrap-up if configured.
    ///
    /// Only the agent holding the interaction may: for a chat or email the log says who; for a
    /// phone call (which the log does not hold) the router's `Answered` output as the hub saw
    /// it. Anyone else gets [`ToolbarError::NotYours`] and the call is untouched (any logged-in
    /// agent could hang up anyone's call, issue 13 H4).
    pub fn handle_complete(&self, s: Session, id: InteractionId) -> Result<(), ToolbarError> {
        if id.0 >= crate::interactions::ID_BASE {
            self.held(s, id)?;
        } else {
            self.held_call(s, id)?;
        }
        self.router
            .call(Command::Completed(id))
            .map_err(Self::not_yours(id))?;
        self.log.handle_ended(id)?;
        self.log.flush()?;
        Ok(())
    }

    /// Transfers an answered interaction to an agent or a queue. The transferred interaction
    /// gets a new id (returned); it is durable before the router sees it.
    pub fn handle_transfer(
        &self,
        s: Session,
        id: InteractionId,
        to: TransferTarget,
    ) -> Result<Interaction, ToolbarError> {
        let rec = self.held(s, id)?;
        let route = match to {
            TransferTarget::Queue(q) => {
                let queue = self.admin.queue(q)?;
                if queue.settings.channel != rec.channel {
                    return Err(ToolbarError::Invalid {
                        field: "queue",
                        rule: "channel",
                        message: format!(
                            "queue {q} takes {}, this interaction is {}",
                            queue.settings.channel, rec.channel
                        ),
                    });
                }
                Route::Queue(q)
            }
            TransferTarget::Agent(a) => {
                self.admin.agent(a)?;
                if a == s.agent {
                    return Err(ToolbarError::Conflict(
                        "you cannot transfer to yourself".into(),
                    ));
                }
                Route::Agent {
                    agent: a,
                    voicemail: false,
                }
            }
        };
        let new = self.log.transfer(id, s.agent, route)?;
        // The old one is already gone from the log, so its `Ended` is a no-op there.
        self.router
            .call(Command::Completed(id))
            .map_err(router_err)?;
        self.router
            .call(Command::Arrival(new.arrival()))
            .map_err(router_err)?;
        Ok(new)
    }

    /// The interactions the agent holds (answered) and the ids ringing at it.
    pub fn my_interactions(&self, s: Session) -> (Vec<Interaction>, Vec<InteractionId>) {
        (self.log.held_by(s.agent), self.hub.ringing(s.agent))
    }

    // ----- permissions ----------------------------------------------------------------------

    /// The agent, if it holds `p`; [`ToolbarError::Forbidden`] otherwise.
    pub fn require(&self, s: Session, p: Permission) -> Result<Agent, ToolbarError> {
        let agent = self.admin.agent(s.agent)?;
        if !p.granted(&agent.profile.permissions.toolbar) {
            return Err(ToolbarError::Forbidden(p));
        }
        Ok(agent)
    }

    /// Live emails matching `q` (needs `email_search`); customer data masked if the agent's
    /// profile says so.
    pub fn handle_email_search(
        &self,
        s: Session,
        q: &str,
        limit: usize,
    ) -> Result<Vec<Interaction>, ToolbarError> {
        let agent = self.require(s, Permission::EmailSearch)?;
        let mut found = self.log.search_emails(q, limit);
        if agent.profile.mask_sensitive_data {
            for r in &mut found {
                r.customer = r.customer.masked();
            }
        }
        Ok(found)
    }

    /// Waiting counts of the agent's queues, only for channels its permissions show.
    pub fn queue_counts(&self, s: Session) -> Result<Vec<QueueCount>, ToolbarError> {
        let agent = self.admin.agent(s.agent)?;
        let p = agent.profile.permissions.toolbar;
        let snap = self.router.snapshot();
        let mut out = Vec::new();
        for m in self.admin.agent_memberships(s.agent)? {
            let Ok(q) = self.admin.queue(m.queue) else {
                continue;
            };
            let ch = q.settings.channel;
            let shown = match ch {
                Channel::Voice => p.show_queued_calls,
                Channel::Chat => p.show_queued_chats,
                Channel::Email => p.show_queued_emails,
            };
            out.push(QueueCount {
                queue: m.queue,
                channel: ch,
                waiting: if shown {
                    Some(snap.queue(m.queue).map_or(0, |st| st.waiting))
                } else {
                    None
                },
            });
        }
        Ok(out)
    }

    /// The agent's routing state now (a fresh snapshot: one round trip to the router, so a
    /// toolbar reads its own writes).
    pub fn state(&self, s: Session) -> Option<crate::router::AgentState> {
        let snap = self
            .router
            .fresh_snapshot()
            .unwrap_or_else(|_| self.router.snapshot());
        snap.agent(s.agent).map(|a| a.state)
    }

    /// The admin service.
    pub fn admin(&self) -> &Arc<Admin> {
        &self.admin
    }

    // ----- ingest ---------------------------------------------------------------------------

    /// Stores a new chat or email durably, then hands it to the router. Returns the record and
    /// whether it was created now (false: an earlier request with the same key created it).
    pub fn handle_ingest(
        &self,
        now: u64,
        req: NewInteraction,
    ) -> Result<(InteractionId, bool), ToolbarError> {
        let queue = self
            .admin
            .queue(req.queue)
            .map_err(|_| ToolbarError::Invalid {
                field: "queue",
                rule: "exists",
                message: format!("queue {} does not exist", req.queue),
            })?;
        if queue.settings.channel != req.channel {
            return Err(ToolbarError::Invalid {
                field: "channel",
                rule: "queue_channel",
                message: format!(
                    "queue {} takes {}, not {}",
                    req.queue, queue.settings.channel, req.channel
                ),
            });
        }
        match self.log.ingest(req, now)? {
            Ingested::Created(rec) => {
                // Durable already: if the router is full we wait rather than fail, because
                // the client must not retry into a duplicate-free but unrouted interaction.
                self.router
                    .send(Command::Arrival(rec.arrival()))
                    .map_err(router_err)?;
                Ok((rec.id, true))
            }
            Ingested::Replayed(id) => Ok((id, false)),
        }
    }

    /// The customer left (closed the chat); an answered interaction counts as completed.
    pub fn handle_close(&self, id: InteractionId) -> Result<(), ToolbarError> {
        if self.log.get(id).is_none() {
            return Err(ToolbarError::NotYours(id));
        }
        self.router
            .call(Command::Abandon(id))
            .map_err(Self::not_yours(id))?;
        self.log.handle_ended(id)?;
        self.log.flush()?;
        Ok(())
    }
}
