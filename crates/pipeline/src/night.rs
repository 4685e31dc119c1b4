//! The whole night: new files in the inbox are ingested (each with its receipt in the
//! outbox), the indicators are recomputed and the report re-rendered when the store changed,
//! reminders are written for partners whose submissions are due or overdue, and a summary
//! says what happened. One night at a time: the run lock is held throughout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use backbone_store::Store;
use backbone_workspace::tables::{FileResult, RunSummary, files};
use backbone_workspace::{Declarations, Layout, RunLock, clock};

use crate::ingest::{IngestRequest, Ingested, ingest_file, open_store};
use crate::plan::{Planned, plan};
use crate::{PipelineError, publish, receipts, reminders};

/// Options of one night.
#[derive(Clone, Debug)]
pub struct NightOptions {
    /// Plan only: say what would be ingested, change nothing.
    pub dry_run: bool,
    /// No progress bar (the demo runs many nights; cron has no terminal anyway).
    pub quiet: bool,
    /// Spreadsheets are read first by a child process within its memory and time (the CLI
    /// sets it; `None` reads in this process only).
    pub isolation: Option<backbone_ingest::isolate::Isolation>,
}

/// One night; the summary is also written under `runs/`.
pub fn night(layout: &Layout, options: &NightOptions) -> Result<RunSummary, PipelineError> {
    let started = clock::now_rfc3339();
    let timer = Instant::now();
    let _lock = if options.dry_run {
        None
    } else {
        Some(RunLock::take(
            layout,
            &format!("process {}, started {started}", std::process::id()),
        )?)
    };
    let decl = Declarations::load(layout)?;
    let planned = plan(layout, &decl.initiative)?;
    let store = open_store(layout)?;
    let progress = progress_bar(planned.len() as u64, options.quiet);
    let mut results = Vec::new();
    for p in &planned {
        let name = p
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        progress.set_message(format!("{}/{name}", p.partner));
        let mut result = FileResult {
            partner: p.partner.clone(),
            file: name.clone(),
            outcome: "waiting".into(),
            ..FileResult::default()
        };
        match &p.target {
            Err(why) => {
                tracing::warn!("{}: {why}; left in the inbox", shown(&p.partner, &name));
                result.note = Some(why.clone());
                // A link, a device or a pipe in a partner's folder: never opened, and the
                // partner is told why (a file put there over SFTP or a shared folder).
                if p.not_a_file
                    && !options.dry_run
                    && let Some(partner) = decl.initiative.partner(&p.partner)
                {
                    result.receipt = Some(receipts::unreadable_receipt(
                        layout,
                        &decl,
                        &partner.id,
                        &name,
                        why,
                        &partner.language,
                    )?);
                }
            }
            Ok(placed) => {
                result.schema = Some(placed.schema.clone());
                result.period = Some(placed.period.label());
                if options.dry_run {
                    result.outcome = "would_ingest".into();
                } else {
                    ingest_one(layout, &store, &decl, p, options, &mut result)?;
                }
            }
        }
        progress.inc(1);
        results.push(result);
    }
    progress.finish_and_clear();
    let store_changed = results
        .iter()
        .any(|f| f.outcome.starts_with("stored") || f.outcome == "rejected");
    let mut summary = RunSummary {
        started,
        dry_run: options.dry_run,
        files: results,
        store_changed,
        ..RunSummary::default()
    };
    if store_changed {
        // Years of nightly appends leave the side tables in thousands of small files; past a
        // threshold they are merged (one commit per table that changes no row).
        let done = crate::retention::optimize(&store, crate::retention::NIGHT_COMPACTION)?;
        if !done.is_empty() {
            summary.compacted = crate::retention::compacted_text(&done)
                .lines()
                .map(str::to_owned)
                .collect();
        }
    }
    let results_dir = layout.results();
    if !options.dry_run {
        let has_data = !store.schemas()?.is_empty();
        if has_data && (store_changed || !results_dir.join(files::INDICATORS_CSV).exists()) {
            drop(store);
            let computed = crate::results::compute(layout, None, None, false)?;
            summary.metrics = Some(computed.line);
            summary.changes = Some(computed.changes);
            summary.store_version = Some(computed.store_version);
            summary.report = Some(publish::render_latest(layout, &decl)?);
        }
        if has_data {
            summary.reminders = reminders::write(layout, &decl.initiative)?;
        }
    }
    if summary.store_version.is_none() {
        // Nothing was computed tonight: the version of the results already there, if any.
        summary.store_version =
            backbone_workspace::tables::ValueRow::read(&results_dir.join(files::INDICATORS_CSV))
                .ok()
                .and_then(|rows| rows.first().map(|r| r.store_version.clone()));
    }
    summary.seconds = timer.elapsed().as_secs_f64();
    if !options.dry_run {
        write_summary(layout, &summary)?;
    }
    Ok(summary)
}

fn ingest_one(
    layout: &Layout,
    store: &Store,
    decl: &Declarations,
    p: &Planned,
    options: &NightOptions,
    result: &mut FileResult,
) -> Result<(), PipelineError> {
    let request = IngestRequest {
        file: p.file.clone(),
        partner: p.partner.clone(),
        schema: result.schema.clone().unwrap_or_default(),
        period: result.period.clone().unwrap_or_default(),
        profile: layout.profile(&p.partner),
        isolation: options.isolation.clone(),
        approved: false,
    };
    let language = decl
        .initiative
        .partner(&p.partner)
        .map(|x| x.language.clone())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "he".into());
    match ingest_file(layout, store, &request, clock::now_rfc3339())? {
        Ingested::Duplicate(s) => {
            result.outcome = "duplicate".into();
            result.note = Some(format!("same bytes as submission {}", s.id));
            result.submission = Some(s.id.clone());
        }
        Ingested::Raced { id, .. } => {
            result.outcome = "duplicate".into();
            result.note = Some(format!("same bytes as submission {id}"));
            result.submission = Some(id);
        }
        Ingested::Held { held, report } => {
            let s = &report.stats;
            result.outcome = "held".into();
            result.rows = s.rows;
            result.rejected = s.rejected;
            result.submission = Some(held.id.clone());
            result.note = Some(format!(
                "{} is closed: held until `backbone approve {}`",
                held.closed_period, held.id
            ));
            let receipt = receipts::held_receipt(layout, decl, &held, &report, &language)?;
            result.receipt = Some(receipt);
        }
        Ingested::Unreadable { file_name, error } => {
            result.outcome = "unreadable".into();
            result.note = Some(error.clone());
            let receipt = receipts::unreadable_receipt(
                layout, decl, &p.partner, &file_name, &error, &language,
            )?;
            result.receipt = Some(receipt);
        }
        Ingested::Stored {
            submission,
            replaces,
            report,
            warning,
            ..
        } => {
            if let Some(w) = warning {
                tracing::warn!("{w}");
            }
            let s = &report.stats;
            result.outcome = match (s.accepted, s.rejected + s.with_warnings) {
                (0, _) => "rejected",
                (_, 0) => "stored",
                _ => "stored_with_problems",
            }
            .into();
            result.rows = s.rows;
            result.accepted = s.accepted;
            result.rejected = s.rejected;
            result.submission = Some(submission.id.clone());
            result.replaces.clone_from(&replaces);
            result.drift = report
                .source
                .drift
                .as_ref()
                .map(backbone_ingest::Drift::lines)
                .unwrap_or_default();
            let receipt = receipts::receipt(layout, decl, &submission, &report, &language)?;
            result.receipt = Some(receipt);
        }
    }
    move_out(layout, &p.partner, &p.file)?;
    Ok(())
}

/// Where an inbox file is, for the summary: `partner/file`, or `inbox/file` for one that is in
/// no partner's folder.
fn shown(partner: &str, file: &str) -> String {
    if partner.is_empty() {
        format!("inbox/{file}")
    } else {
        format!("{partner}/{file}")
    }
}

/// Moves a processed file to `processed/<partner>/`, never over another.
fn move_out(layout: &Layout, partner: &str, file: &Path) -> Result<PathBuf, PipelineError> {
    let dir = layout.processed_of(partner);
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io("creating", &dir, e))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut dest = dir.join(&name);
    let mut n = 1;
    while dest.exists() {
        n += 1;
        dest = dir.join(format!("{n}-{name}"));
    }
    std::fs::rename(file, &dest).map_err(|e| PipelineError::io("moving", file, e))?;
    // A rename keeps the mode the file arrived with (0644 from most uploads and shares); a
    // partner's raw file is readable by the data manager alone.
    backbone_workspace::owner_only(&dest).map_err(|e| PipelineError::io("protecting", &dest, e))?;
    // Its time is when the night took it (the workspace's clock), not when the partner last
    // saved it: `[retention] raw_files` counts from here.
    if let Ok(taken) = chrono::DateTime::parse_from_rfc3339(&clock::now_rfc3339())
        && let Ok(f) = std::fs::File::options().write(true).open(&dest)
    {
        let _ = f.set_modified(std::time::SystemTime::from(taken));
    }
    Ok(dest)
}

fn write_summary(layout: &Layout, summary: &RunSummary) -> Result<(), PipelineError> {
    let dir = layout.runs();
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io("creating", &dir, e))?;
    let stamp = summary.started.replace(':', "");
    let mut path = dir.join(format!("{stamp}.json"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{stamp}-{n}.json"));
    }
    let text = serde_json::to_string_pretty(summary).map_err(|e| PipelineError::Json {
        path: path.display().to_string(),
        source: e,
    })?;
    std::fs::write(&path, text).map_err(|e| PipelineError::io("writing", &path, e))?;
    let latest = dir.join("latest.txt");
    std::fs::write(&latest, summary_text(summary) + "\n")
        .map_err(|e| PipelineError::io("writing", &latest, e))?;
    Ok(())
}

/// The summary in about ten lines.
pub fn summary_text(s: &RunSummary) -> String {
    let count = |o: &str| s.files.iter().filter(|f| f.outcome == o).count();
    let rows: u64 = s.files.iter().map(|f| f.accepted).sum();
    let rejected: u64 = s.files.iter().map(|f| f.rejected).sum();
    let mut out = vec![format!(
        "backbone run {}{}: {} file(s) in {:.1} s",
        s.started,
        if s.dry_run { " (dry run)" } else { "" },
        s.files.len(),
        s.seconds
    )];
    if s.dry_run {
        for f in &s.files {
            out.push(format!(
                "  {}: {}",
                shown(&f.partner, &f.file),
                match (&f.schema, &f.period, &f.note) {
                    (Some(sc), Some(p), _) => format!("would ingest as {sc} {p}"),
                    (_, _, Some(n)) => n.clone(),
                    _ => String::new(),
                }
            ));
        }
        return out.join("\n");
    }
    out.push(format!(
        "  stored {}, with problems {}, rejected {}, already in {}, unreadable {}, waiting {}{}",
        count("stored"),
        count("stored_with_problems"),
        count("rejected"),
        count("duplicate"),
        count("unreadable"),
        count("waiting"),
        match count("held") {
            0 => String::new(),
            n => format!(", held for approval {n}"),
        }
    ));
    out.push(format!("  rows stored {rows}, rows rejected {rejected}"));
    for c in &s.compacted {
        out.push(format!("  compacted {c}"));
    }
    for f in s.files.iter().filter(|f| {
        matches!(
            f.outcome.as_str(),
            "rejected" | "unreadable" | "waiting" | "held"
        )
    }) {
        out.push(format!(
            "  ✗ {}: {}{}",
            shown(&f.partner, &f.file),
            f.outcome,
            f.note
                .as_ref()
                .map_or_else(String::new, |n| format!(" — {n}"))
        ));
    }
    for f in s.files.iter().filter(|f| !f.drift.is_empty()) {
        out.push(format!(
            "  ~ {}: header changed since the last file: {}",
            shown(&f.partner, &f.file),
            f.drift.join("; ")
        ));
    }
    for f in s.files.iter().filter(|f| f.replaces.is_some()) {
        out.push(format!(
            "  ↺ {} replaces {}",
            shown(&f.partner, &f.file),
            f.replaces.as_deref().unwrap_or_default()
        ));
    }
    match (&s.metrics, &s.changes) {
        (Some(m), Some(c)) => {
            out.push(format!("  {m}"));
            out.push(format!("  {c}"));
        }
        _ => out.push("  store unchanged: indicators and report left as they were".into()),
    }
    if let Some(r) = &s.report {
        out.push(format!("  report: {r}"));
    }
    out.push(format!("  {} reminder(s) in reminders.csv", s.reminders));
    out.join("\n")
}

/// A progress bar on a terminal; nothing (log lines only) under cron.
fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}
