//! Runs the admin HTTP server: binds (port 0 allowed), reports the bound address, serves until
//! the shutdown signal, then lets in-flight requests finish within a grace period.
//!
//! Owns: the listener and the warp server task. Does not own: the shutdown controller (the
//! binary's) nor what is served (see `http`).

use crate::api::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

/// A bound, not yet serving, admin server.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
}

impl AdminServer {
    /// Binds `addr`; fails with the OS error (address in use, permission) so the binary can
    /// say which address could not be bound.
    pub async fn bind(addr: SocketAddr, state: Arc<AppState>) -> std::io::Result<AdminServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(AdminServer {
            listener,
            addr,
            state,
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` fires, then waits up to `grace` for open requests to finish.
    /// `done` is dropped on return, telling the shutdown controller this task is finished.
    pub async fn run(self, stop: broadcast::Receiver<()>, grace: Duration, done: mpsc::Sender<()>) {
        let (stopping_tx, mut stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            crate::shutdown::signalled(stop).await;
            let _ = stopping_tx.send(());
        };
        let server = warp::serve(crate::http::filter(self.state))
            .incoming(self.listener)
            .graceful(signal)
            .run();
        let mut server = std::pin::pin!(server);
        tokio::select! {
            () = &mut server => {}
            _ = &mut stopping_rx => {
                if tokio::time::timeout(grace, &mut server).await.is_err() {
                    tracing::warn!(?grace, "admin requests still open after the grace period; closing them");
                }
            }
        }
        drop(done);
    }
}
