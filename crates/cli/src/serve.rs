//! `backbone serve` (the partners' upload portal) and `backbone partner token`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc;

use anyhow::{Context, Result};
use backbone_portal::{Config, Server, Tokens, Who};
use backbone_schema::Initiative;

use crate::ingest::now_rfc3339;

/// Options of `backbone serve`.
pub(crate) struct Args {
    pub(crate) workspace: PathBuf,
    pub(crate) addr: String,
    pub(crate) max_upload_mb: Option<u64>,
    pub(crate) uploads_per_hour: Option<u32>,
    pub(crate) secure_cookies: bool,
}

/// `backbone serve`.
pub(crate) fn serve(args: &Args) -> Result<ExitCode> {
    let ws = &args.workspace;
    let initiative = Initiative::load(&ws.join("pipelines/initiative.toml"))?;
    let mut config = Config::new(ws.clone());
    config.addr.clone_from(&args.addr);
    config.max_upload_bytes = args.max_upload_mb.map(|mb| mb.saturating_mul(1 << 20));
    config.uploads_per_hour = args.uploads_per_hour;
    config.secure_cookies = args.secure_cookies;
    config.clock = Some(Arc::new(now_rfc3339));
    if initiative.portal.ingest_at_once {
        config.on_queued = Some(runner(ws.clone()));
    }
    let server = Server::bind(config)?;
    let addr = server.local_addr()?;
    let holders = Tokens::of(ws).holders()?;
    let mut lines = vec![
        format!(
            "backbone serve: http://{addr} for {} (workspace {})",
            initiative.name.get("en"),
            ws.display()
        ),
        format!(
            "  uploads go to inbox/<partner>/ {}",
            if initiative.portal.ingest_at_once {
                "and a run starts at once ([portal] ingest_at_once)"
            } else {
                "for the nightly `backbone run`"
            }
        ),
    ];
    lines.push(if holders.is_empty() {
        "  nobody can sign in yet: make tokens with `backbone partner token PARTNER` (and --admin)"
            .to_owned()
    } else {
        format!("  {} token(s) issued", holders.len())
    });
    lines.push("  Ctrl-C stops it".to_owned());
    // A closed standard output (a supervisor that stopped reading) must not stop the service.
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    drop(out);
    server.run_until_signal()?;
    Ok(ExitCode::SUCCESS)
}

/// A run after uploads, one at a time on a thread of its own: uploads that arrive during a
/// run make one more run after it.
fn runner(ws: PathBuf) -> backbone_portal::Hook {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        while rx.recv().is_ok() {
            while rx.try_recv().is_ok() {}
            let args = crate::run::Args {
                workspace: ws.clone(),
                dry_run: false,
                quiet: true,
            };
            // Another run holds the lock (cron's, say): wait for it rather than leave the
            // file to tomorrow night.
            for attempt in 0..60 {
                match crate::run::night(&args) {
                    Ok(summary) => {
                        let (files, rejected, stored) = summary.counts();
                        tracing::info!(
                            "run after upload: {files} file(s), {stored} rows stored, {rejected} rejected"
                        );
                        break;
                    }
                    Err(e) if attempt < 59 && format!("{e:#}").contains("another run") => {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                    }
                    Err(e) => {
                        tracing::error!("run after upload: {e:#}");
                        break;
                    }
                }
            }
        }
    });
    let tx = std::sync::Mutex::new(tx);
    Arc::new(move || {
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(());
        }
    })
}

/// `backbone partner token PARTNER` / `--admin`: makes (or replaces) a token and prints it
/// once.
pub(crate) fn token(ws: &Path, partner: Option<&str>, admin: bool) -> Result<ExitCode> {
    let who = match (partner, admin) {
        (_, true) => Who::Admin,
        (Some(p), false) => {
            let initiative = Initiative::load(&ws.join("pipelines/initiative.toml"))?;
            if initiative.partner(p).is_none() {
                anyhow::bail!(
                    "`{p}` is not a partner in {}; the partners: {}",
                    ws.join("pipelines/initiative.toml").display(),
                    initiative
                        .partners
                        .iter()
                        .map(|x| x.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Who::Partner(p.to_owned())
        }
        (None, false) => anyhow::bail!("name a partner, or --admin for the data manager's token"),
    };
    let tokens = Tokens::of(ws);
    let had = tokens.holders()?.iter().any(|h| h.who == who.label());
    let token = tokens
        .issue(&who, &now_rfc3339())
        .context("making the token")?;
    println!("{token}");
    eprintln!(
        "backbone: the token of {} (shown once; only its hash is kept{})",
        who.label(),
        if had {
            "; the previous one no longer works"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
