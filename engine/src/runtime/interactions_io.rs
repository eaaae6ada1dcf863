//! Keeps the durable interaction log in step with the router, and gives a restarted router
//! back what the log holds.
//!
//! Owns one thread subscribed to the router's outputs: it applies answers and ends to the
//! [`InteractionLog`] in output order, flushes once per batch (group commit), and re-queues
//! direct transfers the target agent refused. Does not own the rules (the log and the router
//! do) nor sockets.

use super::router_task::{Command, RouterHandle, TaskError};
use crate::interactions::{InteractionLog, LiveState, Recovery, ID_BASE};
use crate::router::{Output, Route};
use std::sync::Arc;

/// Outputs applied between two flushes at most.
const BATCH: usize = 4096;

/// What recovery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Interactions re-queued, in their original order.
    pub waiting: usize,
    /// Interactions given back to the agents who had answered them.
    pub active: usize,
    /// Interactions the router refused (their queue or agent no longer exists); they stay in
    /// the log and are retried at the next start.
    pub refused: usize,
}

/// Gives the router back every live interaction: answered ones first (so they hold their
/// agents' capacity), then waiting ones in arrival order. Call after the router knows the
/// agents and queues, and after [`spawn_persister`] subscribed.
pub fn recover(router: &RouterHandle, rec: &Recovery) -> Result<Recovered, TaskError> {
    let mut done = Recovered::default();
    for r in &rec.active {
        let LiveState::Active { agent } = r.state else {
            continue;
        };
        let mut arr = r.arrival();
        arr.route = Route::Queue(r.queue);
        match router.call(Command::Resume(arr, agent)) {
            Ok(()) => done.active += 1,
            Err(TaskError::Router(e)) => {
                tracing::warn!(interaction = %r.id, error = %e, "cannot resume interaction");
                done.refused += 1;
            }
            Err(e) => return Err(e),
        }
    }
    for r in &rec.waiting {
        let mut arr = r.arrival();
        // A direct transfer in flight at the crash goes back through its queue.
        arr.route = Route::Queue(r.queue);
        match router.call(Command::Arrival(arr)) {
            Ok(()) => done.waiting += 1,
            Err(TaskError::Router(e)) => {
                tracing::warn!(interaction = %r.id, error = %e, "cannot re-queue interaction");
                done.refused += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Starts the thread that persists router outputs into `log`. Subscribes before returning, so
/// nothing the router does after this call is missed.
pub fn spawn_persister(
    log: Arc<InteractionLog>,
    router: RouterHandle,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // Only chat and email are logged: voice outputs never wake this thread.
    let rx = router
        .subscribe_filtered(|o| match *o {
            Output::Answered { interaction, .. } | Output::Ended { interaction, .. } => {
                interaction.0 >= ID_BASE
            }
            _ => false,
        })
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    std::thread::Builder::new()
        .name("acd-interactions".into())
        .spawn(move || {
            let mut requeue = Vec::new();
            while let Ok(first) = rx.recv() {
                let mut next = Some(first);
                let mut n = 0;
                while let Some(o) = next.take() {
                    match log.handle_output(&o) {
                        Ok(Some(back)) => requeue.push(back),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "cannot persist an interaction change")
                        }
                    }
                    n += 1;
                    if n < BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if let Err(e) = log.flush() {
                    tracing::error!(error = %e, "cannot flush interaction changes");
                }
                for r in requeue.drain(..) {
                    let _ = router.send(Command::Arrival(r.arrival()));
                }
            }
            // The stream ends when the router stops (shutdown: nothing more to persist) or
            // when this thread fell too far behind and was disconnected (an error).
            if router.fresh_snapshot().is_ok() {
                tracing::error!(
                    "router output stream closed; interaction changes are no longer persisted"
                );
            } else {
                tracing::debug!("router stopped; interaction persister done");
            }
        })
}
