//! `backbone serve` (the partners' upload portal) and `backbone partner token`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use backbone_portal::{Config, Server, Tokens, Who};
use backbone_schema::Initiative;
use backbone_workspace::{Layout, clock::now_rfc3339};

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
    let layout = Layout::new(ws);
    let initiative = Initiative::load(&layout.initiative())?;
    let mut config = Config::new(ws.clone());
    config.addr.clone_from(&args.addr);
    config.max_upload_bytes = args.max_upload_mb.map(|mb| mb.saturating_mul(1 << 20));
    config.uploads_per_hour = args.uploads_per_hour;
    config.secure_cookies = args.secure_cookies;
    config.clock = Some(Arc::new(now_rfc3339));
    if initiative.portal.ingest_at_once {
        config.on_queued = Some(backbone_pipeline::runner(
            layout.clone(),
            crate::isolation(ws),
        ));
    }
    config.isolation = crate::isolation(ws);
    // The data manager's approval of a held file, as `backbone approve` does it.
    let (approve_layout, approve_isolation) = (layout.clone(), crate::isolation(ws));
    config.on_approve = Some(std::sync::Arc::new(move |id: &str| {
        backbone_pipeline::approval::approve(&approve_layout, id, approve_isolation.clone())
            .map(|done| match done.metrics {
                Some(m) => format!("{id} applied; {m}"),
                None => format!("{id} applied"),
            })
            .map_err(|e| e.to_string())
    }));
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

/// `backbone partner token PARTNER` / `--admin`: makes (or replaces) a token and prints it
/// once.
pub(crate) fn token(ws: &Path, partner: Option<&str>, admin: bool) -> Result<ExitCode> {
    let who = match (partner, admin) {
        (_, true) => Who::Admin,
        (Some(p), false) => {
            let path = Layout::new(ws).initiative();
            let initiative = Initiative::load(&path)?;
            if initiative.partner(p).is_none() {
                anyhow::bail!(
                    "`{p}` is not a partner in {}; the partners: {}",
                    path.display(),
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
