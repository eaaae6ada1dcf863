//! Graceful shutdown: one broadcast "stop" signal and a completion wait, as in mini-redis.
//!
//! Owns: the [`Shutdown`] controller. Each long-lived task takes a [`Shutdown::subscribe`]
//! receiver (stop when it fires) and a [`Shutdown::guard`] (dropped when the task is done); the
//! binary calls [`Shutdown::trigger`] on Ctrl-C / SIGTERM and then [`Shutdown::wait`]. Engine
//! tasks take the plain tokio types, so the engine never depends on this crate. Does not own:
//! listening for OS signals (the binary does).

use tokio::sync::{broadcast, mpsc};

/// The controller kept by the binary.
#[derive(Debug)]
pub struct Shutdown {
    notify: broadcast::Sender<()>,
    done_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A controller with no tasks yet.
    pub fn new() -> Self {
        let (notify, _) = broadcast::channel(1);
        let (done_tx, done_rx) = mpsc::channel(1);
        Shutdown {
            notify,
            done_tx,
            done_rx,
        }
    }

    /// A receiver that yields (or closes) when shutdown starts.
    pub fn subscribe(&self) -> broadcast::Receiver<()> {
        self.notify.subscribe()
    }

    /// A completion guard: hold it for the task's life; [`Shutdown::wait`] returns once all are
    /// dropped.
    pub fn guard(&self) -> mpsc::Sender<()> {
        self.done_tx.clone()
    }

    /// Tells every subscribed task to stop.
    pub fn trigger(&self) {
        // No subscribers is fine: nothing to tell.
        let _ = self.notify.send(());
    }

    /// Waits until every guard has been dropped.
    pub async fn wait(self) {
        let Shutdown {
            notify,
            done_tx,
            mut done_rx,
        } = self;
        drop(notify);
        drop(done_tx);
        // recv() returns None once every sender (guard) is gone.
        let _ = done_rx.recv().await;
    }
}

/// Resolves when a subscription fires or its sender is gone.
pub async fn signalled(mut rx: broadcast::Receiver<()>) {
    let _ = rx.recv().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wait_returns_after_every_task_has_finished() {
        let shutdown = Shutdown::new();
        let (finished_tx, mut finished_rx) = mpsc::unbounded_channel();
        for i in 0..3 {
            let rx = shutdown.subscribe();
            let guard = shutdown.guard();
            let finished_tx = finished_tx.clone();
            tokio::spawn(async move {
                signalled(rx).await;
                tokio::time::sleep(std::time::Duration::from_millis(10 * i)).await;
                finished_tx.send(i).unwrap();
                drop(guard);
            });
        }
        drop(finished_tx);
        shutdown.trigger();
        shutdown.wait().await;
        let mut done = Vec::new();
        while let Ok(i) = finished_rx.try_recv() {
            done.push(i);
        }
        done.sort();
        assert_eq!(done, vec![0, 1, 2]);
    }
}
