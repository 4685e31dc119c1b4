//! The accept loop: what `axum::serve` does, plus the limits it leaves unset. The portal
//! faces partners' networks, so a client that opens connections and then sends nothing, or
//! sends its headers a byte at a time, must not hold them for ever:
//! - a request's headers must arrive within [`Limits::header_timeout`] (hyper's own timer;
//!   `axum::serve` sets no timer, so hyper's default of 30 s never applied); an idle
//!   keep-alive connection is closed after the same time;
//! - at most [`Limits::max_connections`] connections are served at once; more wait in the
//!   kernel's backlog, so silent connections cannot use up the file descriptors that
//!   ingesting and the store need;
//! - one client address holds at most [`Limits::max_per_address`] of them, of which at most
//!   [`Limits::max_incomplete_per_address`] have not yet sent a whole request's headers; a
//!   connection beyond either waits its turn, reading nothing, among at most
//!   [`Limits::max_waiting_per_address`] others of its address, and beyond those is closed at
//!   once: one client opening hundreds of half-open sockets holds a bounded share of the
//!   places, and an office of many people behind one address is served in turn;
//! - a connection must send its first byte within [`Limits::first_byte_timeout`].
//!
//! Uploads that stall mid-body, or come slower than [`Limits::min_upload_rate`], are cut off by
//! the upload handler ([`Limits::idle_timeout`]), where the partially received file can be
//! removed and the refusal logged.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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
    /// Connections one client address may hold at once. Default 32 (a partner's office behind
    /// one address, several people uploading, each browser opening a few).
    pub max_per_address: usize,
    /// Connections of one address that have not yet sent a whole request's headers. Default 8.
    pub max_incomplete_per_address: usize,
    /// Connections of one address waiting for a place in its share (they hold a connection
    /// slot, read nothing, and are closed at the header deadline). Beyond these, a new
    /// connection is closed at once. Default 32.
    pub max_waiting_per_address: usize,
    /// Time for a new connection's first byte. Default 10 s.
    pub first_byte_timeout: Duration,
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
            max_per_address: 32,
            max_incomplete_per_address: 8,
            max_waiting_per_address: 32,
            first_byte_timeout: Duration::from_secs(10),
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
    let clients: Clients = Arc::default();
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
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
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
        let ip = peer.ip();
        let Some(waiting) = Waiting::enter(&clients, ip, &limits) else {
            // Closed at once: the address holds its share and its queue is full.
            tracing::debug!("portal: {ip} holds its share of connections");
            drop(stream);
            continue;
        };
        let router = router.clone();
        let mut closing = closing_rx.clone();
        let open = open_tx.clone();
        let header_timeout = limits.header_timeout;
        let first_byte = limits.first_byte_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let _open = open;
            // Over its address's share, a connection waits its turn (until the header
            // deadline), reading nothing.
            let Some(place) = waiting.turn(header_timeout).await else {
                return;
            };
            let inner = TowerToHyperService::new(router);
            let place = Arc::new(place);
            let asked = place.clone();
            let service = hyper::service::service_fn(move |request| {
                asked.requested();
                hyper::service::Service::call(&inner, request)
            });
            // A connection that sends nothing is closed before hyper is given it.
            let mut byte = [0u8; 1];
            match tokio::time::timeout(first_byte, stream.peek(&mut byte)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
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

/// Per client address: connections served, of which not yet past their first request's
/// headers, and connections waiting for a place.
#[derive(Debug, Default)]
struct Share {
    open: usize,
    incomplete: usize,
    waiting: usize,
}

type Clients = Arc<Mutex<HashMap<IpAddr, Share>>>;

/// A connection waiting for a place in its address's share.
struct Waiting {
    clients: Clients,
    ip: IpAddr,
    limits: Limits,
    queued: bool,
}

impl Waiting {
    /// A place now, or a turn in the address's queue; `None` when the queue is full too.
    fn enter(clients: &Clients, ip: IpAddr, limits: &Limits) -> Option<Self> {
        let mut map = clients.lock().unwrap_or_else(PoisonError::into_inner);
        let share = map.entry(ip).or_default();
        if share.waiting >= limits.max_waiting_per_address {
            return None;
        }
        share.waiting += 1;
        Some(Self {
            clients: clients.clone(),
            ip,
            limits: *limits,
            queued: true,
        })
    }

    /// The connection's place, once the address has one free; `None` after `deadline`.
    async fn turn(mut self, deadline: Duration) -> Option<Place> {
        let started = tokio::time::Instant::now();
        loop {
            if let Some(place) = self.take() {
                return Some(place);
            }
            if started.elapsed() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn take(&mut self) -> Option<Place> {
        let mut map = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let share = map.entry(self.ip).or_default();
        if share.open >= self.limits.max_per_address.max(1)
            || share.incomplete >= self.limits.max_incomplete_per_address.max(1)
        {
            return None;
        }
        share.open += 1;
        share.incomplete += 1;
        share.waiting = share.waiting.saturating_sub(1);
        self.queued = false;
        Some(Place {
            clients: self.clients.clone(),
            ip: self.ip,
            incomplete: AtomicBool::new(true),
        })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.queued {
            let mut map = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(share) = map.get_mut(&self.ip) {
                share.waiting = share.waiting.saturating_sub(1);
                if share.open == 0 && share.waiting == 0 {
                    map.remove(&self.ip);
                }
            }
        }
    }
}

/// One connection's place in its address's share; given back when dropped.
struct Place {
    clients: Clients,
    ip: IpAddr,
    /// Still waiting for its first request's headers.
    incomplete: AtomicBool,
}

impl Place {
    /// The connection's first request's headers have arrived.
    fn requested(&self) {
        if self.incomplete.swap(false, Ordering::Relaxed) {
            let mut map = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(share) = map.get_mut(&self.ip) {
                share.incomplete = share.incomplete.saturating_sub(1);
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut map = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(share) = map.get_mut(&self.ip) {
            share.open = share.open.saturating_sub(1);
            if *self.incomplete.get_mut() {
                share.incomplete = share.incomplete.saturating_sub(1);
            }
            if share.open == 0 && share.waiting == 0 {
                map.remove(&self.ip);
            }
        }
    }
}
