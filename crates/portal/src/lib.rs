//! The partners' upload service, started by `backbone serve`.
//!
//! Each partner uploads its files with its own token (a page in Hebrew or English that works
//! without JavaScript, or `POST /api/submissions`), gets the receipt at once (the same
//! validation engine as `backbone validate`), and sees its own uploads, submissions, receipts
//! and data-quality page, never another partner's. The file waits in `inbox/<partner>/`
//! under a name the portal makes, for the nightly run (or a run starts at once, when
//! `[portal] ingest_at_once = true`). The data manager's token sees every partner, the
//! completeness grid and the last runs.
//!
//! Layout under the workspace: `.backbone/portal/tokens.json` (hashes only),
//! `.backbone/portal/audit.jsonl`, `.backbone/portal/uploads/<partner>/<id>.{json,html}`
//! (each upload's record and receipt), `.backbone/portal/unreadable/<partner>/` (files that
//! could not be read at all: kept, not queued), `.backbone/portal/tmp/` (bytes arriving).

mod audit;
mod error;
mod guard;
mod serve;
mod tokens;
mod upload;
mod web;
mod words;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use backbone_schema::Initiative;

pub use audit::{Audit, Event};
pub use error::PortalError;
pub use serve::Limits;
pub use tokens::{Holder, Tokens, Who};
pub use upload::Upload;

/// Called after a file is queued when the workspace ingests at once (the CLI starts a run).
pub type Hook = Arc<dyn Fn() + Send + Sync>;

/// Applies a submission held for a closed period (the CLI's `backbone approve`): what it did
/// in words, or why not.
pub type Approver = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// The time now, as RFC 3339 (the CLI's clock, which tests and the demo can set).
pub type Clock = Arc<dyn Fn() -> String + Send + Sync>;

/// How to run the service.
#[derive(Clone)]
pub struct Config {
    /// The workspace.
    pub workspace: PathBuf,
    /// Where to listen (`127.0.0.1:8080`; port 0 for any free port).
    pub addr: String,
    /// The largest upload in bytes; `None` for the workspace's `[portal] max_upload_mb`.
    pub max_upload_bytes: Option<u64>,
    /// Uploads per partner per hour; `None` for the workspace's `[portal] uploads_per_hour`.
    pub uploads_per_hour: Option<u32>,
    /// Mark the session cookie `Secure` (behind an HTTPS proxy).
    pub secure_cookies: bool,
    /// Files checked at once (at most one per partner).
    pub checkers: usize,
    /// Called after a file is queued, when the workspace ingests at once.
    pub on_queued: Option<Hook>,
    /// Applies a held submission (the data manager's `POST /api/held/{id}/approve`).
    pub on_approve: Option<Approver>,
    /// The clock; the system's when `None`.
    pub clock: Option<Clock>,
    /// Time limits for slow or silent clients, and connections served at once.
    pub limits: Limits,
    /// Spreadsheets are read first by a child process within its memory and time (`backbone
    /// serve` sets it; `None` reads in this process only).
    pub isolation: Option<backbone_ingest::isolate::Isolation>,
}

impl Config {
    /// Defaults for `workspace` on `127.0.0.1:8080`.
    pub fn new(workspace: PathBuf) -> Self {
        Self {
            workspace,
            addr: "127.0.0.1:8080".to_owned(),
            max_upload_bytes: None,
            uploads_per_hour: None,
            secure_cookies: false,
            checkers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            on_queued: None,
            on_approve: None,
            clock: None,
            limits: Limits::default(),
            isolation: None,
        }
    }
}

/// What every request handler shares.
pub(crate) struct App {
    pub(crate) dirs: upload::Dirs,
    pub(crate) initiative: Initiative,
    pub(crate) tokens: Tokens,
    pub(crate) audit: Audit,
    pub(crate) sessions: guard::Sessions,
    pub(crate) rate: guard::RateLimit,
    pub(crate) checkers: guard::Checkers,
    pub(crate) max_bytes: u64,
    /// An upload that sends nothing for this long is refused.
    pub(crate) idle_timeout: std::time::Duration,
    /// An upload slower than this on average (bytes a second), after `idle_timeout`, is refused.
    pub(crate) min_upload_rate: u64,
    pub(crate) secure_cookies: bool,
    pub(crate) clock: Clock,
    pub(crate) on_queued: Option<Hook>,
    pub(crate) on_approve: Option<Approver>,
    pub(crate) env: minijinja::Environment<'static>,
}

fn templates() -> Result<minijinja::Environment<'static>, PortalError> {
    let mut env = minijinja::Environment::new();
    for (name, text) in [
        ("layout.html", include_str!("../templates/layout.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("home.html", include_str!("../templates/home.html")),
        ("admin.html", include_str!("../templates/admin.html")),
        ("message.html", include_str!("../templates/message.html")),
    ] {
        env.add_template(name, text)
            .map_err(|e| PortalError::Template {
                template: name.to_owned(),
                message: e.to_string(),
            })?;
    }
    Ok(env)
}

/// A bound, not yet serving, portal.
pub struct Server {
    listener: std::net::TcpListener,
    app: Arc<App>,
    limits: Limits,
}

impl Server {
    /// Reads the workspace's declarations and binds the address.
    pub fn bind(config: Config) -> Result<Self, PortalError> {
        let ws = config.workspace.clone();
        let initiative = Initiative::load(&backbone_workspace::Layout::new(&ws).initiative())?;
        let mut dirs = upload::Dirs::new(ws.clone());
        dirs.isolation.clone_from(&config.isolation);
        // Bytes of uploads a crash interrupted: never queued, never acknowledged.
        let _ = std::fs::remove_dir_all(dirs.tmp());
        let app = App {
            tokens: Tokens::of(&ws),
            audit: Audit::open(&ws)?,
            sessions: guard::Sessions::default(),
            rate: guard::RateLimit::new(
                config
                    .uploads_per_hour
                    .unwrap_or(initiative.portal.uploads_per_hour),
            ),
            checkers: guard::Checkers::new(config.checkers),
            max_bytes: config
                .max_upload_bytes
                .unwrap_or(initiative.portal.max_upload_mb.saturating_mul(1 << 20)),
            idle_timeout: config.limits.idle_timeout,
            min_upload_rate: config.limits.min_upload_rate,
            secure_cookies: config.secure_cookies,
            clock: config.clock.clone().unwrap_or_else(|| {
                Arc::new(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }),
            on_queued: config.on_queued.clone(),
            on_approve: config.on_approve.clone(),
            env: templates()?,
            dirs,
            initiative,
        };
        let listener =
            std::net::TcpListener::bind(&config.addr).map_err(|source| PortalError::Bind {
                addr: config.addr.clone(),
                source,
            })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| PortalError::Bind {
                addr: config.addr.clone(),
                source,
            })?;
        Ok(Self {
            listener,
            app: Arc::new(app),
            limits: config.limits,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, PortalError> {
        self.listener
            .local_addr()
            .map_err(|source| PortalError::Bind {
                addr: "?".to_owned(),
                source,
            })
    }

    /// Serves until `shutdown` completes (requests under way are finished first).
    pub fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PortalError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(PortalError::Runtime)?;
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(self.listener).map_err(PortalError::Runtime)?;
            serve::serve(listener, web::router(self.app), self.limits, shutdown).await;
            Ok(())
        })
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub fn run_until_signal(self) -> Result<(), PortalError> {
        self.run(async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let term = async {
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(mut s) => {
                            s.recv().await;
                        }
                        Err(_) => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = ctrl_c => {},
                    () = term => {},
                }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
        })
    }

    /// Serves on a thread of its own until the handle is dropped (for tests and embedding).
    pub fn spawn(self) -> Result<Running, PortalError> {
        let addr = self.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            if let Err(e) = self.run(async {
                let _ = rx.await;
            }) {
                tracing::error!("portal: {e}");
            }
        });
        Ok(Running {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

/// A portal serving on its own thread.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
