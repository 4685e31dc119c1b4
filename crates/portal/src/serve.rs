//! The accept loop: what `axum::serve` does, plus the limits it leaves unset. The portal
//! faces partners' networks, so a client that opens connections and then sends nothing, or
//! sends its headers a byte at a time, must not hold them for ever:
//! - a request's headers must arrive within [`Limits::header_timeout`] (hyper's own timer;
//!   `axum::serve` sets no timer, so hyper's default of 30 s never applied); an idle
//!   keep-alive connection is closed after the same time;
//! - at most [`Limits::max_connections`] connections are served at once; more wait in the
//!   kernel's backlog, so silent connections cannot use up the file descriptors that
//!   ingesting and the store need.
//!
//! Uploads that stall mid-body, or come slower than [`Limits::min_upload_rate`], are cut off by
//! the upload handler ([`Limits::idle_timeout`]), where the partially received file can be
//! removed and the refusal logged.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

/// How long clients may take, and how many may be served at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time for a request's headers to arrive (and for an idle connection to send its next
    /// request). Default 30 s.
    pub header_timeout: Duration,
    /// Time an upload may go without sending a byte before it is refused and its partial file
    /// removed. Default 60 s: a slow line still sends something every second; a stalled one
    /// sends nothing.
    pub idle_timeout: Duration,
    /// Connections served at once. Default 256.
    pub max_connections: usize,
    /// The slowest an upload may come, in bytes a second on average, once `idle_timeout` has
    /// passed since its file began: a client sending a byte now and then would otherwise hold
    /// its connection for as long as it liked. Default 1 KiB/s (a slow mobile line sends
    /// tens of KiB a second; at 1 KiB/s a 50 MB file still gets 14 hours).
    pub min_upload_rate: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
            min_upload_rate: 1024,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the connections under
/// way finish (each is told to close once its current request is answered).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing_tx, closing_rx) = watch::channel(false);
    // Every connection's task holds a sender; when all are gone, every connection is closed.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin (as
                    // `axum::serve` does); the connection stays in the backlog.
                    tracing::warn!("portal: accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let mut closing = closing_rx.clone();
        let open = open_tx.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let _open = open;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!("portal: connection ended: {e}");
                    }
                    return;
                }
                _ = closing.wait_for(|closing| *closing) => conn.as_mut().graceful_shutdown(),
            }
            if let Err(e) = conn.await {
                tracing::debug!("portal: connection ended: {e}");
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    drop(open_tx);
    let _ = open_rx.recv().await;
}
