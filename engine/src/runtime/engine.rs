//! The composition root: everything `acd serve` runs, started in order and stopped in reverse.
//!
//! Owns the lifetimes of: the router's owner thread and the configuration feed that keeps it in
//! step with the admin; the SIP stack on its own thread (sockets, endpoint task, the bridge
//! running the call flow); the media shard threads; the prompt library; agent presence; the chat/email
//! interaction log with its persister and the recovery of what it holds; the toolbar service.
//! Front ends get what they serve from here: an `Arc<Admin>` for configuration, a
//! [`RouterHandle`] for routing, the [`Toolbar`] for the engine API, [`MediaStats`] for the
//! media stats route. Does not open the store nor bind the HTTP front ends (the binary does,
//! so it can report a locked data dir before anything starts and owns its HTTP stack).
//!
//! Shutdown is one `async fn`: SIP stops taking calls and its thread ends (the bridge with
//! it), then the media shards close their sockets, then the feed and the router stop after
//! the commands they hold.

use crate::admin::Admin;
use crate::config::{Config, CrossChannel, MediaSettings};
use crate::interactions::InteractionLog;
use crate::media::pool::PoolError;
use crate::media::shard::ShardConfig;
use crate::media::PortPool;
use crate::router::{CrossChannelRule, Router, RouterConfig, RouterError};
use crate::runtime::feed::ConfigFeed;
use crate::runtime::interactions_io;
use crate::runtime::media_io::{MediaConfig, MediaIoError, MediaPlane, MediaStats};
use crate::runtime::presence::Presence;
use crate::runtime::prompts_io::PromptLibrary;
use crate::runtime::router_task::{RouterHandle, RouterTask, RouterTaskConfig, TaskError};
use crate::runtime::sip_bridge::{self, MediaLink};
use crate::runtime::sip_io::{run_sip, SipConfig, SipIoError};
use crate::sip::b2bua::CallFlowConfig;
use crate::store::{Store, StoreError};
use crate::toolbar::{Toolbar, ToolbarOptions};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Everything the engine needs to start.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How an agent's channels limit each other.
    pub cross_channel: CrossChannelRule,
    /// Seed of the router's RNG (random strategy, tie-breaks): a run replays from it.
    pub seed: u64,
    /// Channel sizes and snapshot interval of the router task.
    pub router_task: RouterTaskConfig,
    /// The SIP listeners and endpoint.
    pub sip: SipConfig,
    /// Voicemail server `host[:port]` for unanswered direct calls (empty: none).
    pub voicemail: String,
    /// The media plane.
    pub media: MediaSettings,
    /// How long a toolbar session lasts from login, in ms.
    pub toolbar_session_ttl_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::from_config(&Config::default())
    }
}

impl EngineConfig {
    /// The engine settings of an `acd serve` configuration.
    pub fn from_config(config: &Config) -> EngineConfig {
        EngineConfig {
            cross_channel: match config.routing.cross_channel {
                CrossChannel::Independent => CrossChannelRule::Independent,
                CrossChannel::VoiceBlocksOthers => CrossChannelRule::VoiceBlocksOthers,
            },
            seed: config.routing.seed,
            router_task: RouterTaskConfig::default(),
            sip: SipConfig {
                bind: config.sip.listen,
                tcp: config.sip.tcp,
                advertise: config.sip.advertise,
                digest_algorithms: config.sip.digest_algorithms.0.clone(),
                ..SipConfig::default()
            },
            voicemail: config.sip.voicemail.clone(),
            media: config.media.clone(),
            toolbar_session_ttl_ms: config.toolbar.session_ttl_secs.saturating_mul(1000),
        }
    }
}

/// Why the engine could not start. Each variant's message says which step failed; the
/// cause is its `source()` (printed after it by `{:#}` in the binary).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The router refused its configuration.
    #[error("the router refused its configuration")]
    Router(#[from] RouterError),
    /// A thread could not be started.
    #[error("cannot start an engine thread")]
    Thread(#[from] std::io::Error),
    /// The SIP listeners could not be bound.
    #[error(transparent)]
    Sip(#[from] SipIoError),
    /// `media.ports` cannot be split over the media threads.
    #[error("the media port range does not fit the media threads (widen media.ports or lower media.threads)")]
    MediaPorts(#[from] PoolError),
    /// The media threads could not start.
    #[error(transparent)]
    Media(#[from] MediaIoError),
    /// The interaction log could not be read.
    #[error("cannot read the interaction log")]
    Store(#[from] StoreError),
    /// The interactions the log holds could not be given back to the router.
    #[error("cannot recover the logged interactions")]
    Recovery(#[from] TaskError),
    /// A start-up step running on the blocking pool panicked or was cancelled.
    #[error("an engine start-up step failed")]
    Join(#[from] tokio::task::JoinError),
}

/// The SIP stack's thread and how to stop it.
struct SipParts {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
    /// Dropping it ends the `acd-sip` thread (tasks still on it are dropped).
    thread_stop: oneshot::Sender<()>,
}

/// Everything `acd serve` runs except the HTTP front ends.
pub struct Engine {
    admin: Arc<Admin>,
    router: Option<RouterTask>,
    feed: Option<ConfigFeed>,
    sip: Option<SipParts>,
    media: Option<MediaPlane>,
    toolbar: Option<Arc<Toolbar>>,
    prompts: Option<PromptLibrary>,
    media_stats: Arc<MediaStats>,
    sip_addr: Option<SocketAddr>,
    media_ip: IpAddr,
    media_bind: IpAddr,
    media_ports: (u16, u16),
}

impl Engine {
    /// Starts the router task and loads every configured queue and agent into it (following
    /// admin changes from then on), without SIP, media or toolbar: what routing tests need.
    pub fn start_routing(admin: Arc<Admin>, cfg: &EngineConfig) -> Result<Engine, EngineError> {
        let router = Router::new(
            RouterConfig {
                cross_channel: cfg.cross_channel,
                ..RouterConfig::default()
            },
            cfg.seed,
        )?;
        let task = RouterTask::spawn(router, cfg.router_task)?;
        let feed = ConfigFeed::start(&admin, task.handle())?;
        Ok(Engine {
            admin,
            router: Some(task),
            feed: Some(feed),
            sip: None,
            media: None,
            toolbar: None,
            prompts: None,
            media_stats: Arc::new(MediaStats::new(0, Vec::new())),
            sip_addr: None,
            media_ip: IpAddr::from([127, 0, 0, 1]),
            media_bind: cfg.sip.bind.ip(),
            media_ports: (cfg.media.ports.first, cfg.media.ports.last),
        })
    }

    /// Starts everything: routing (returns once the router holds the whole configuration),
    /// the media shards, SIP and its call flow, the interaction log (recovered into the router
    /// before this returns) and the toolbar. On error, what was started is stopped again.
    pub async fn start(
        admin: Arc<Admin>,
        store: Arc<dyn Store>,
        cfg: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let mut engine = {
            let admin = admin.clone();
            let cfg = cfg.clone();
            tokio::task::spawn_blocking(move || Engine::start_routing(admin, &cfg)).await??
        };

        // Media: the pool decides which shard owns a port; the shard threads use the same map,
        // and the call flow owns the pool.
        let threads = cfg.media.thread_count();
        let pool = PortPool::new(cfg.media.ports.first, cfg.media.ports.last, threads)?;
        let mut plane = MediaPlane::start(MediaConfig {
            bind_ip: cfg.sip.bind.ip(),
            shards: pool.shard_map(),
            shard: ShardConfig {
                timeout: Duration::from_secs(cfg.media.timeout_secs),
                rtcp_interval: Duration::from_secs(5),
                seed: cfg.seed ^ 0x6d65_6469_6100_0000,
            },
            command_depth: 4096,
            event_depth: 4096,
        })?;
        // Every leg holds two descriptors; say so at start if the pool cannot all be open.
        if let Ok((limit, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
            let needed = pool.capacity() as u64 * 2;
            if limit < needed + 256 {
                tracing::warn!(
                    limit,
                    needed,
                    "the open files limit is below what a full media port pool needs (2 per \
                     leg): calls beyond it get no audio; raise the hard limit (ulimit -Hn, \
                     LimitNOFILE=) or narrow media.ports"
                );
            }
        }
        let media_handle = plane.handle();
        let media_events = plane
            .take_events()
            .expect("a new media plane still has its events");
        engine.media_stats = Arc::new(MediaStats::new(
            pool.capacity() as u64,
            media_handle.shard_counter_cells(),
        ));
        engine.media = Some(plane);

        // The SIP stack (sockets, endpoint, call flow) runs on a thread of its own with a
        // single-threaded runtime: its tasks hand messages to each other on one thread, without
        // waking other workers or migrating between cores on every datagram.
        let (sip_rt, thread_stop) = sip_runtime()?;
        let (stop, stopped) = watch::channel(false);
        let sip = sip_rt
            .spawn(run_sip(cfg.sip.clone(), admin.clone(), stopped))
            .await??;
        engine.sip_addr = Some(sip.local_addr);
        if sip.local_addr.ip().is_unspecified() && cfg.sip.advertise.0.is_none() {
            tracing::warn!(
                contact = %sip.contact,
                "SIP listens on a wildcard address and names loopback in Via, Contact and SDP: \
                 only local peers can follow it; set sip.advertise to the address carriers and \
                 phones reach acd at"
            );
        }
        engine.media_ip = cfg.media.advertise.0.unwrap_or(sip.contact.ip());
        tracing::info!(bind = %engine.media_bind, sdp = %engine.media_ip, "media addresses");
        // Who keeps an agent logged in: its SIP registration, its toolbar session, or both.
        let presence = Arc::new(Presence::new());
        // What queue callers hear: the built-ins overlaid with uploads, swapped whole on change.
        let prompts = {
            let admin = admin.clone();
            tokio::task::spawn_blocking(move || PromptLibrary::start(admin)).await??
        };
        let flow = CallFlowConfig {
            media_addr: engine.media_ip,
            voicemail: cfg.voicemail.clone(),
            // The flow owns the pool: it splits ports over the shards as the shard threads do.
            pool,
            prompts: prompts.prompts(),
            ..CallFlowConfig::default()
        };
        engine.prompts = Some(prompts);
        sip_rt.spawn(sip_bridge::run(
            sip.events,
            sip.commands,
            engine.admin.clone(),
            engine.router(),
            presence.clone(),
            flow,
            MediaLink::new(media_handle, media_events, engine.media_stats.clone()),
        ));
        engine.sip = Some(SipParts {
            stop,
            join: sip.join,
            thread_stop,
        });

        // The durable chat/email log: the persister subscribes before anything is routed, and
        // recovery gives the router back what the log holds before the engine API accepts a
        // request.
        let toolbar = {
            let admin = admin.clone();
            let router = engine.router();
            let ttl_ms = cfg.toolbar_session_ttl_ms;
            tokio::task::spawn_blocking(move || -> Result<Arc<Toolbar>, EngineError> {
                let (log, recovery) = InteractionLog::open(store.clone())?;
                let log = Arc::new(log);
                interactions_io::spawn_persister(log.clone(), router.clone())?;
                let toolbar = Toolbar::start(
                    admin,
                    store,
                    log,
                    router.clone(),
                    ToolbarOptions {
                        session_ttl_ms: ttl_ms,
                        presence,
                    },
                )?;
                let done = interactions_io::recover(&router, &recovery)?;
                tracing::info!(
                    waiting = done.waiting,
                    active = done.active,
                    refused = done.refused,
                    "chat/email interactions recovered"
                );
                Ok(toolbar)
            })
            .await??
        };
        engine.toolbar = Some(toolbar);
        Ok(engine)
    }

    /// The admin service.
    pub fn admin(&self) -> &Arc<Admin> {
        &self.admin
    }

    /// A handle to the router task.
    pub fn router(&self) -> RouterHandle {
        self.router
            .as_ref()
            .expect("the router task lives until shutdown")
            .handle()
    }

    /// The toolbar service (agent toolbars, chat/email ingest); `None` for a routing-only
    /// engine.
    pub fn toolbar(&self) -> Option<Arc<Toolbar>> {
        self.toolbar.clone()
    }

    /// The media plane's figures (`GET /api/v1/stats/media`).
    pub fn media_stats(&self) -> Arc<MediaStats> {
        self.media_stats.clone()
    }

    /// The bound SIP address (UDP, and TCP on the same port); `None` for a routing-only engine.
    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.sip_addr
    }

    /// The IP named in SDP for audio.
    pub fn media_ip(&self) -> IpAddr {
        self.media_ip
    }

    /// The IP the legs' sockets bind (the SIP listen IP).
    pub fn media_bind_ip(&self) -> IpAddr {
        self.media_bind
    }

    /// The RTP port range (first, last).
    pub fn media_ports(&self) -> (u16, u16) {
        self.media_ports
    }

    /// Stops SIP (no new calls; its thread ends with the bridge), then the media shards, then
    /// the feed and the router after the commands they hold.
    pub async fn shutdown(mut self) {
        if let Some(sip) = self.sip.take() {
            let _ = sip.stop.send(true);
            let _ = sip.join.await;
            drop(sip.thread_stop);
        }
        let media = self.media.take();
        let prompts = self.prompts.take();
        let feed = self.feed.take();
        let router = self.router.take();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(m) = media {
                m.shutdown();
            }
            if let Some(p) = prompts {
                p.stop();
            }
            if let Some(f) = feed {
                f.stop();
            }
            if let Some(r) = router {
                r.shutdown();
            }
        })
        .await;
    }

    fn stop_now(&mut self) {
        if let Some(sip) = self.sip.take() {
            let _ = sip.stop.send(true);
            drop(sip.thread_stop);
        }
        if let Some(m) = self.media.take() {
            m.shutdown();
        }
        if let Some(p) = self.prompts.take() {
            p.stop();
        }
        if let Some(feed) = self.feed.take() {
            feed.stop();
        }
        if let Some(task) = self.router.take() {
            task.shutdown();
        }
    }
}

impl Drop for Engine {
    /// Best effort for an engine dropped without `shutdown` (a failed start): stops what
    /// runs without waiting for SIP to drain.
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// A single-threaded runtime driven by a thread named `acd-sip`, and the sender whose drop
/// stops that thread (tasks still on it are dropped with the runtime).
fn sip_runtime() -> std::io::Result<(tokio::runtime::Handle, oneshot::Sender<()>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("acd-sip".into())
        .spawn(move || {
            rt.block_on(async {
                let _ = stopped.await;
            })
        })?;
    Ok((handle, stop))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::{Channel, InteractionId};
    use crate::model::{AgentProfile, CreateAgent, MemberSettings, QueueSettings};
    use crate::router::{Arrival, Output};
    use crate::runtime::router_task::Command;
    use std::time::Duration;

    /// Real threads: an admin change made while the engine runs reaches the router.
    #[test]
    fn engine_routes_to_an_agent_added_after_start() {
        let admin = Arc::new(Admin::in_memory_for_tests());
        let engine = Engine::start_routing(admin.clone(), &EngineConfig::default()).unwrap();
        let router = engine.router();
        let outputs = router.subscribe().unwrap();

        let q = admin
            .create_queue(QueueSettings {
                name: "mail".into(),
                channel: Channel::Email,
                ..Default::default()
            })
            .unwrap()
            .id;
        let a = admin
            .create_agent(CreateAgent {
                username: "fay".into(),
                password: None,
                password_confirmation: None,
                extension: None,
                sip_password: None,
                profile: AgentProfile {
                    first_name: "Fay".into(),
                    last_name: "Lee".into(),
                    ..Default::default()
                },
            })
            .unwrap()
            .agent
            .id;
        admin.set_member(q, a, MemberSettings::default()).unwrap();
        // The feed applies changes in order on its own thread; a membership naming the queue
        // is accepted only once the queue exists, so retry the login until the agent is known.
        let mut logged_in = false;
        for _ in 0..200 {
            if router.call(Command::Login(a)).is_ok() {
                logged_in = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(logged_in, "the agent reached the router");
        router
            .call(Command::Arrival(Arrival::queued(
                InteractionId(9),
                Channel::Email,
                q,
            )))
            .unwrap();
        let offer = std::iter::from_fn(|| outputs.recv_timeout(Duration::from_secs(5)).ok())
            .find(|o| matches!(o, Output::Offer { .. }));
        assert!(
            matches!(offer, Some(Output::Offer { agent, interaction, .. }) if agent == a && interaction == InteractionId(9)),
            "got {offer:?}"
        );
        drop(engine);
    }

    /// Everything starts on loopback ports and stops again through the one `shutdown`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_whole_engine_starts_and_shuts_down() {
        let admin = Arc::new(Admin::in_memory_for_tests());
        let store: Arc<dyn Store> = Arc::new(crate::store::MemStore::new());
        let mut config = Config::default();
        config.sip.listen = "127.0.0.1:0".parse().unwrap();
        config.media.ports = crate::config::PortRange {
            first: 41_000,
            last: 41_099,
        };
        config.media.threads = 2;
        let engine = Engine::start(admin, store, EngineConfig::from_config(&config))
            .await
            .unwrap();
        let sip = engine.sip_addr().expect("SIP is bound");
        assert_ne!(sip.port(), 0);
        assert!(engine.toolbar().is_some());
        assert_eq!(engine.media_ports(), (41_000, 41_099));
        let stats = engine.media_stats().snapshot();
        assert_eq!((stats.ports_total, stats.ports_free), (50, 50));
        assert_eq!((stats.legs_open, stats.calls), (0, 0));
        engine.shutdown().await;
        // The SIP port is free again once the engine has stopped.
        std::net::UdpSocket::bind(sip).unwrap();
    }
}
