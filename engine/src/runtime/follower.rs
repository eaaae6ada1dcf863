//! A named thread that follows something (the admin change feed) until it is told to stop:
//! the stop signal, the join and the stop-on-drop that the config feed and the prompt library
//! share. Owns no rule; the thread's body is the caller's.

use crossbeam_channel::Receiver;
use std::thread::JoinHandle;

/// A running follower thread; stopped (and joined) by [`Follower::stop`] or on drop.
#[derive(Debug)]
pub(crate) struct Follower {
    stop: crossbeam_channel::Sender<()>,
    join: Option<JoinHandle<()>>,
}

impl Follower {
    /// Starts `body` on a thread called `name`; `body` gets the receiver that yields once the
    /// follower is stopped (select on it beside what the thread follows).
    pub(crate) fn spawn(
        name: &str,
        body: impl FnOnce(Receiver<()>) + Send + 'static,
    ) -> std::io::Result<Follower> {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let join = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(stopped))?;
        Ok(Follower {
            stop,
            join: Some(join),
        })
    }

    /// Signals the thread and waits for it to end.
    pub(crate) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.try_send(());
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.shutdown();
    }
}
