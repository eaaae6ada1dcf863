//! The running engine: the admin service, the router's owner thread and the configuration feed
//! between them, started and stopped together.
//!
//! Owns their lifetimes only. Front ends (the admin sidecar, the toolbar API, SIP) get an
//! `Arc<Admin>` for configuration and a [`RouterHandle`] for routing from here. It does not open
//! the store (the binary does, so it can report a locked data dir before anything starts).

use crate::admin::Admin;
use crate::router::{CrossChannelRule, Router, RouterConfig, RouterError};
use crate::runtime::feed::ConfigFeed;
use crate::runtime::router_task::{RouterHandle, RouterTask, RouterTaskConfig};
use std::sync::Arc;

/// Engine-wide routing settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How an agent's channels limit each other.
    pub cross_channel: CrossChannelRule,
    /// Seed of the router's RNG (random strategy, tie-breaks): a run replays from it.
    pub seed: u64,
    /// Channel sizes and snapshot interval of the router task.
    pub router_task: RouterTaskConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cross_channel: CrossChannelRule::Independent,
            seed: 0x00ac_d5ee_d000_0001,
            router_task: RouterTaskConfig::default(),
        }
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The router refused its configuration.
    #[error("the router refused its configuration: {0}")]
    Router(#[from] RouterError),
    /// A thread could not be started.
    #[error("cannot start an engine thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The admin service, the router task and the feed keeping the router in step with the admin.
pub struct Engine {
    admin: Arc<Admin>,
    router: Option<RouterTask>,
    feed: Option<ConfigFeed>,
}

impl Engine {
    /// Starts the router task, loads every configured queue and agent into it, and follows
    /// admin changes from then on. Returns once the router holds the whole configuration.
    pub fn start(admin: Arc<Admin>, cfg: EngineConfig) -> Result<Engine, EngineError> {
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
        })
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

    /// Stops following admin changes, then stops the router after the commands it holds.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(feed) = self.feed.take() {
            feed.stop();
        }
        if let Some(task) = self.router.take() {
            task.shutdown();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
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
        let engine = Engine::start(admin.clone(), EngineConfig::default()).unwrap();
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
        engine.shutdown();
    }
}
