//! The one owner of the routing core: a dedicated thread that runs the sans-IO [`Router`],
//! feeds it commands from a bounded channel, drives its timers from the real clock, fans its
//! outputs out to subscribers and publishes statistics snapshots.
//!
//! Owns the clock (the router sees milliseconds since the task started) and the thread. It
//! does not own routing rules (the router does), sockets (SIP/HTTP front ends) or persistence
//! (a subscriber writes [`Output::Store`] records to the store).
//!
//! Front ends talk to it through [`RouterHandle`]: `send`/`try_send` for fire-and-forget
//! commands, `call`/`call_async` to wait for the router's verdict, `subscribe` for outputs and
//! `snapshot` for the latest published statistics (an `ArcSwap` load: no lock, no message).

use crate::common::{AgentId, InteractionId, QueueId};
use crate::router::{
    AgentSettings, Arrival, Output, PauseReason, QueueSettings, Router, RouterError, Snapshot, Time,
};
use arc_swap::ArcSwap;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One input for the router, as sent by a front end.
#[derive(Debug, Clone)]
pub enum Command {
    /// Add or replace an agent's settings.
    AgentSettings(AgentId, AgentSettings),
    /// Add or replace a queue's settings.
    QueueSettings(QueueId, QueueSettings),
    /// The agent logs in.
    Login(AgentId),
    /// The agent logs out.
    Logout(AgentId),
    /// The agent pauses.
    Pause(AgentId, PauseReason),
    /// The agent ends a pause.
    Available(AgentId),
    /// The agent ends wrap-up early.
    WrapUpEnd(AgentId),
    /// An interaction arrives.
    Arrival(Arrival),
    /// The customer left.
    Abandon(InteractionId),
    /// The agent accepted an offer.
    Accepted(InteractionId, AgentId),
    /// The agent rejected an offer.
    Rejected(InteractionId, AgentId),
    /// The answered interaction is finished.
    Completed(InteractionId),
    /// An interaction answered before a restart is back with its agent.
    Resume(Arrival, AgentId),
}

/// Errors seen by front ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The command channel is full: the router is behind; retry later or shed load.
    #[error("router command queue is full")]
    Full,
    /// The router task has stopped.
    #[error("router task has stopped")]
    Stopped,
    /// The router refused the command.
    #[error(transparent)]
    Router(#[from] RouterError),
}

/// Sizes and periods of the task.
#[derive(Debug, Clone, Copy)]
pub struct RouterTaskConfig {
    /// Commands that may wait for the router before senders see `Full` (or block).
    pub command_capacity: usize,
    /// Outputs a subscriber may fall behind before it is disconnected.
    pub subscriber_capacity: usize,
    /// How often statistics are republished when something changed.
    pub snapshot_interval: Duration,
}

impl Default for RouterTaskConfig {
    fn default() -> Self {
        RouterTaskConfig {
            command_capacity: 65_536,
            subscriber_capacity: 65_536,
            snapshot_interval: Duration::from_millis(250),
        }
    }
}

enum Reply {
    Sync(Sender<Result<(), RouterError>>),
    Async(tokio::sync::oneshot::Sender<Result<(), RouterError>>),
}

/// Which outputs a subscriber wants; evaluated on the router thread, so keep it cheap (no
/// locks, no allocation).
pub type OutputFilter = Box<dyn Fn(&Output) -> bool + Send>;

enum Sink {
    /// A blocking reader (a thread of its own).
    Blocking(Sender<Output>),
    /// A task on an async runtime: no thread in between.
    Async(tokio::sync::mpsc::Sender<Output>),
}

struct Subscriber {
    sink: Sink,
    filter: Option<OutputFilter>,
}

impl Subscriber {
    /// Delivers `o` if wanted; false when the subscriber is gone or too far behind.
    fn deliver(&self, o: Output) -> bool {
        if self.filter.as_ref().is_some_and(|f| !f(&o)) {
            return true;
        }
        match &self.sink {
            Sink::Blocking(tx) => tx.try_send(o).is_ok(),
            Sink::Async(tx) => tx.try_send(o).is_ok(),
        }
    }
}

enum Msg {
    Cmd(Command, Option<Reply>),
    Subscribe(Subscriber),
    PublishSnapshot(Sender<()>),
    Shutdown,
}

/// A cheap, cloneable handle to the router task.
#[derive(Clone)]
pub struct RouterHandle {
    tx: Sender<Msg>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    subscriber_capacity: usize,
}

impl RouterHandle {
    /// Sends a command, blocking while the command queue is full. Do not use on an async
    /// executor thread; use [`RouterHandle::try_send`] or [`RouterHandle::call_async`].
    pub fn send(&self, cmd: Command) -> Result<(), TaskError> {
        self.tx
            .send(Msg::Cmd(cmd, None))
            .map_err(|_| TaskError::Stopped)
    }

    /// Sends a command without blocking.
    pub fn try_send(&self, cmd: Command) -> Result<(), TaskError> {
        self.tx.try_send(Msg::Cmd(cmd, None)).map_err(|e| match e {
            TrySendError::Full(_) => TaskError::Full,
            TrySendError::Disconnected(_) => TaskError::Stopped,
        })
    }

    /// Sends a command and waits (blocking) for the router's verdict.
    pub fn call(&self, cmd: Command) -> Result<(), TaskError> {
        let (tx, rx) = bounded(1);
        self.tx
            .send(Msg::Cmd(cmd, Some(Reply::Sync(tx))))
            .map_err(|_| TaskError::Stopped)?;
        Ok(rx.recv().map_err(|_| TaskError::Stopped)??)
    }

    /// Sends a command without blocking and awaits the router's verdict.
    pub async fn call_async(&self, cmd: Command) -> Result<(), TaskError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .try_send(Msg::Cmd(cmd, Some(Reply::Async(tx))))
            .map_err(|e| match e {
                TrySendError::Full(_) => TaskError::Full,
                TrySendError::Disconnected(_) => TaskError::Stopped,
            })?;
        Ok(rx.await.map_err(|_| TaskError::Stopped)??)
    }

    /// A new stream of every output from now on. A subscriber that falls more than
    /// `subscriber_capacity` outputs behind is disconnected (its receiver reports it) so a
    /// slow reader never stalls routing; it resubscribes and resyncs from a snapshot.
    pub fn subscribe(&self) -> Result<Receiver<Output>, TaskError> {
        self.subscribe_blocking(None)
    }

    /// Like [`RouterHandle::subscribe`], for only the outputs `filter` passes: a reader that
    /// needs few of them is not woken for the rest.
    pub fn subscribe_filtered(
        &self,
        filter: impl Fn(&Output) -> bool + Send + 'static,
    ) -> Result<Receiver<Output>, TaskError> {
        self.subscribe_blocking(Some(Box::new(filter)))
    }

    fn subscribe_blocking(
        &self,
        filter: Option<OutputFilter>,
    ) -> Result<Receiver<Output>, TaskError> {
        let (tx, rx) = bounded(self.subscriber_capacity);
        self.tx
            .send(Msg::Subscribe(Subscriber {
                sink: Sink::Blocking(tx),
                filter,
            }))
            .map_err(|_| TaskError::Stopped)?;
        Ok(rx)
    }

    /// The outputs `filter` passes, delivered straight to an async task (no forwarding
    /// thread). Same lag rule as [`RouterHandle::subscribe`]: a reader more than
    /// `subscriber_capacity` behind is disconnected.
    pub fn subscribe_async(
        &self,
        filter: impl Fn(&Output) -> bool + Send + 'static,
    ) -> Result<tokio::sync::mpsc::Receiver<Output>, TaskError> {
        let (tx, rx) = tokio::sync::mpsc::channel(self.subscriber_capacity);
        self.tx
            .send(Msg::Subscribe(Subscriber {
                sink: Sink::Async(tx),
                filter: Some(Box::new(filter)),
            }))
            .map_err(|_| TaskError::Stopped)?;
        Ok(rx)
    }

    /// The latest published statistics (at most `snapshot_interval` old).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Publishes a fresh snapshot now and returns it (costs one round trip to the task).
    pub fn fresh_snapshot(&self) -> Result<Arc<Snapshot>, TaskError> {
        let (tx, rx) = bounded(1);
        self.tx
            .send(Msg::PublishSnapshot(tx))
            .map_err(|_| TaskError::Stopped)?;
        rx.recv().map_err(|_| TaskError::Stopped)?;
        Ok(self.snapshot())
    }
}

/// The running task: a handle plus the thread to join.
pub struct RouterTask {
    handle: RouterHandle,
    join: JoinHandle<Router>,
}

impl RouterTask {
    /// Starts the owner thread. `router` times are ms since this call.
    pub fn spawn(router: Router, cfg: RouterTaskConfig) -> std::io::Result<RouterTask> {
        let (tx, rx) = bounded(cfg.command_capacity);
        let snapshot = Arc::new(ArcSwap::from_pointee(router.snapshot(0)));
        let published = snapshot.clone();
        let join = std::thread::Builder::new()
            .name("acd-router".into())
            .spawn(move || run(router, rx, published, cfg))?;
        Ok(RouterTask {
            handle: RouterHandle {
                tx,
                snapshot,
                subscriber_capacity: cfg.subscriber_capacity,
            },
            join,
        })
    }

    /// A handle for front ends.
    pub fn handle(&self) -> RouterHandle {
        self.handle.clone()
    }

    /// Stops the task after the commands already queued, and returns the router.
    pub fn shutdown(self) -> Router {
        // If the task already stopped, join below still returns its router.
        let _ = self.handle.tx.send(Msg::Shutdown);
        match self.join.join() {
            Ok(router) => router,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

pub(crate) fn apply(router: &mut Router, now: Time, cmd: Command) -> Result<(), RouterError> {
    match cmd {
        Command::AgentSettings(a, s) => router.handle_agent_settings(now, a, s),
        Command::QueueSettings(q, s) => router.handle_queue_settings(now, q, s),
        Command::Login(a) => router.handle_login(now, a),
        Command::Logout(a) => router.handle_logout(now, a),
        Command::Pause(a, r) => router.handle_pause(now, a, r),
        Command::Available(a) => router.handle_available(now, a),
        Command::WrapUpEnd(a) => router.handle_wrap_up_end(now, a),
        Command::Arrival(arr) => router.handle_arrival(now, arr),
        Command::Abandon(i) => router.handle_abandon(now, i),
        Command::Accepted(i, a) => router.handle_offer_accepted(now, i, a),
        Command::Rejected(i, a) => router.handle_offer_rejected(now, i, a),
        Command::Completed(i) => router.handle_completed(now, i),
        Command::Resume(arr, a) => router.handle_resume(now, arr, a),
    }
}

fn run(
    mut router: Router,
    rx: Receiver<Msg>,
    published: Arc<ArcSwap<Snapshot>>,
    cfg: RouterTaskConfig,
) -> Router {
    let epoch = Instant::now();
    let now_ms = || epoch.elapsed().as_millis() as Time;
    let mut subscribers: Vec<Subscriber> = Vec::new();
    let mut next_publish = epoch + cfg.snapshot_interval;
    let mut dirty = false;
    loop {
        let timer = router
            .poll_timeout()
            .map(|t| epoch + Duration::from_millis(t));
        let wake = match timer {
            Some(t) if t < next_publish => t,
            _ => next_publish,
        };
        let mut msg = match rx.recv_deadline(wake) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let now = now_ms();
        // Timers first, so an input at the same instant sees their effect (a wrap-up that
        // just ended frees the agent for the call arriving now).
        router.handle_timeout(now);
        let mut stop = false;
        // Batch what is already queued: one clock read and one fan-out per batch.
        let mut budget = 1024;
        while let Some(m) = msg.take() {
            dirty = true;
            match m {
                Msg::Cmd(cmd, reply) => {
                    let res = apply(&mut router, now, cmd);
                    match reply {
                        Some(Reply::Sync(tx)) => {
                            let _ = tx.try_send(res);
                        }
                        Some(Reply::Async(tx)) => {
                            let _ = tx.send(res);
                        }
                        None => {
                            if let Err(e) = res {
                                tracing::debug!(error = %e, "router refused a command");
                            }
                        }
                    }
                }
                Msg::Subscribe(tx) => subscribers.push(tx),
                Msg::PublishSnapshot(tx) => {
                    fan_out(&mut router, &mut subscribers);
                    published.store(Arc::new(router.snapshot(now)));
                    let _ = tx.try_send(());
                }
                Msg::Shutdown => stop = true,
            }
            budget -= 1;
            if budget > 0 && !stop {
                msg = rx.try_recv().ok();
            }
        }
        fan_out(&mut router, &mut subscribers);
        if stop {
            break;
        }
        let instant = Instant::now();
        if instant >= next_publish {
            if dirty {
                published.store(Arc::new(router.snapshot(now_ms())));
                dirty = false;
            }
            next_publish = instant + cfg.snapshot_interval;
        }
    }
    published.store(Arc::new(router.snapshot(now_ms())));
    router
}

fn fan_out(router: &mut Router, subscribers: &mut Vec<Subscriber>) {
    while let Some(o) = router.poll_output() {
        subscribers.retain(|s| s.deliver(o));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Channel;
    use crate::router::{Membership, RouterConfig};

    const WAIT: Duration = Duration::from_secs(10);

    fn task() -> RouterTask {
        let cfg = RouterConfig {
            queues: vec![(QueueId(1), QueueSettings::new(Channel::Voice))],
            agents: vec![(
                AgentId(1),
                AgentSettings {
                    memberships: vec![Membership::new(QueueId(1))],
                    ..AgentSettings::default()
                },
            )],
            ..RouterConfig::default()
        };
        RouterTask::spawn(Router::new(cfg, 1).unwrap(), RouterTaskConfig::default()).unwrap()
    }

    fn next_offer(rx: &Receiver<Output>) -> Output {
        loop {
            let o = rx.recv_timeout(WAIT).expect("an output");
            if matches!(o, Output::Offer { .. }) {
                return o;
            }
        }
    }

    #[test]
    fn arrival_sent_to_the_task_reaches_subscribers_as_an_offer() {
        let t = task();
        let h = t.handle();
        let rx = h.subscribe().unwrap();
        h.call(Command::Login(AgentId(1))).unwrap();
        h.send(Command::Arrival(Arrival::queued(
            InteractionId(5),
            Channel::Voice,
            QueueId(1),
        )))
        .unwrap();
        assert!(matches!(
            next_offer(&rx),
            Output::Offer {
                interaction: InteractionId(5),
                agent: AgentId(1),
                ..
            }
        ));
        t.shutdown();
    }

    #[test]
    fn a_filtered_subscriber_gets_only_what_it_asked_for() {
        let t = task();
        let h = t.handle();
        let offers = h
            .subscribe_filtered(|o| matches!(o, Output::Offer { .. }))
            .unwrap();
        let all = h.subscribe().unwrap();
        h.call(Command::Login(AgentId(1))).unwrap();
        h.send(Command::Arrival(Arrival::queued(
            InteractionId(5),
            Channel::Voice,
            QueueId(1),
        )))
        .unwrap();
        // The unfiltered one saw the login's state change before the offer.
        let mut before_offer = 0;
        while !matches!(all.recv_timeout(WAIT).unwrap(), Output::Offer { .. }) {
            before_offer += 1;
        }
        assert!(before_offer > 0);
        assert!(matches!(
            offers.recv_timeout(WAIT).unwrap(),
            Output::Offer {
                interaction: InteractionId(5),
                ..
            }
        ));
        assert!(offers.try_recv().is_err());
        t.shutdown();
    }

    #[tokio::test]
    async fn an_async_subscriber_is_fed_without_a_thread() {
        let t = task();
        let h = t.handle();
        let mut rx = h
            .subscribe_async(|o| matches!(o, Output::Offer { .. }))
            .unwrap();
        h.call_async(Command::Login(AgentId(1))).await.unwrap();
        h.try_send(Command::Arrival(Arrival::queued(
            InteractionId(6),
            Channel::Voice,
            QueueId(1),
        )))
        .unwrap();
        let o = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(
            o,
            Output::Offer {
                interaction: InteractionId(6),
                agent: AgentId(1),
                ..
            }
        ));
        t.shutdown();
    }

    #[test]
    fn call_returns_the_routers_refusal() {
        let t = task();
        assert_eq!(
            t.handle().call(Command::Login(AgentId(99))),
            Err(TaskError::Router(RouterError::UnknownAgent(AgentId(99))))
        );
        t.shutdown();
    }

    #[test]
    fn fresh_snapshot_shows_the_waiting_call() {
        let t = task();
        let h = t.handle();
        h.call(Command::Arrival(Arrival::queued(
            InteractionId(1),
            Channel::Voice,
            QueueId(1),
        )))
        .unwrap();
        let snap = h.fresh_snapshot().unwrap();
        assert_eq!(snap.queue(QueueId(1)).unwrap().waiting, 1);
        t.shutdown();
    }

    #[tokio::test]
    async fn call_async_works_from_an_async_front_end() {
        let t = task();
        let h = t.handle();
        h.call_async(Command::Login(AgentId(1))).await.unwrap();
        assert_eq!(
            h.call_async(Command::Completed(InteractionId(3))).await,
            Err(TaskError::Router(RouterError::UnknownInteraction(
                InteractionId(3)
            )))
        );
        t.shutdown();
    }

    #[test]
    fn real_clock_fires_ring_timeout_and_requeues() {
        let cfg = RouterConfig {
            queues: vec![(
                QueueId(1),
                QueueSettings {
                    ring_timeout_ms: 20,
                    ..QueueSettings::new(Channel::Voice)
                },
            )],
            agents: vec![(
                AgentId(1),
                AgentSettings {
                    memberships: vec![Membership::new(QueueId(1))],
                    ..AgentSettings::default()
                },
            )],
            ..RouterConfig::default()
        };
        let t =
            RouterTask::spawn(Router::new(cfg, 1).unwrap(), RouterTaskConfig::default()).unwrap();
        let h = t.handle();
        let rx = h.subscribe().unwrap();
        h.call(Command::Login(AgentId(1))).unwrap();
        h.call(Command::Arrival(Arrival::queued(
            InteractionId(1),
            Channel::Voice,
            QueueId(1),
        )))
        .unwrap();
        next_offer(&rx);
        // The task's clock fires the ring timeout; the call rings again.
        loop {
            match rx.recv_timeout(WAIT).expect("an output") {
                Output::CancelOffer { .. } => break,
                _ => continue,
            }
        }
        next_offer(&rx);
        t.shutdown();
    }
}
