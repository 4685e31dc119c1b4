//! `backbone run`: the whole night. New files in the inbox are ingested (each with its receipt
//! in the outbox), the indicators are recomputed and the report re-rendered when the store
//! changed, reminders are written for partners whose submissions are due or overdue, and a
//! summary says what happened.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use backbone_metrics::Declarations;
use backbone_schema::Initiative;
use serde::Serialize;

use crate::ingest::{self, Outcome, now_rfc3339, open_store};

/// One file found in the inbox, and what the night makes of it.
#[derive(Debug, Serialize)]
pub(crate) struct Planned {
    pub(crate) partner: String,
    pub(crate) file: PathBuf,
    /// Schema and period, or why they could not be told.
    pub(crate) target: Result<(String, String), String>,
}

/// What happened to one file.
#[derive(Debug, Serialize)]
pub(crate) struct FileResult {
    partner: String,
    file: String,
    schema: Option<String>,
    period: Option<String>,
    /// `stored`, `stored_with_problems`, `rejected`, `duplicate`, `unreadable`, `waiting`.
    outcome: String,
    rows: u64,
    accepted: u64,
    rejected: u64,
    submission: Option<String>,
    replaces: Option<String>,
    receipt: Option<String>,
    note: Option<String>,
}

/// The night's summary (written as `runs/<time>.json` and `runs/latest.txt`).
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    started: String,
    seconds: f64,
    dry_run: bool,
    files: Vec<FileResult>,
    store_changed: bool,
    store_version: Option<String>,
    metrics: Option<String>,
    changes: Option<String>,
    report: Option<String>,
    reminders: usize,
}

impl Summary {
    /// Files handled, rows rejected, rows stored.
    pub(crate) fn counts(&self) -> (usize, u64, u64) {
        (
            self.files.len(),
            self.files.iter().map(|f| f.rejected).sum(),
            self.files.iter().map(|f| f.accepted).sum(),
        )
    }
}

/// The run lock: `.backbone/run.lock` holds the running process's id and start time. A lock
/// whose process is gone (a crashed or killed run) is taken over.
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn take(workspace: &Path) -> Result<Self> {
        let dir = workspace.join(".backbone");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("run.lock");
        let me = format!("{} {}\n", std::process::id(), now_rfc3339());
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(me.as_bytes())
                        .with_context(|| format!("writing {}", path.display()))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let held = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut parts = held.split_whitespace();
                    let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
                    let since = parts.next().unwrap_or("?");
                    match pid {
                        Some(pid) if alive(pid) => anyhow::bail!(
                            "another run is going on (process {pid}, started {since}); it holds {}",
                            path.display()
                        ),
                        // Half-written by a run that is starting this instant: let it be.
                        None if held.is_empty() && young(&path) => {
                            anyhow::bail!("another run is starting; it holds {}", path.display())
                        }
                        _ => {
                            tracing::warn!(
                                "taking over the lock of a run that is gone ({})",
                                held.trim()
                            );
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        anyhow::bail!("could not take {}", path.display())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        // A zombie has finished its work: the lock is as good as released.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    } else {
        true
    }
}

fn young(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 10)
}

/// The files waiting in `inbox/<partner>/`, oldest name first, with their schema and period.
pub(crate) fn plan(workspace: &Path, initiative: &Initiative) -> Result<Vec<Planned>> {
    let inbox = workspace.join("inbox");
    let mut out = Vec::new();
    let Ok(partners) = std::fs::read_dir(&inbox) else {
        return Ok(out);
    };
    let (mut partners, mut loose): (Vec<PathBuf>, Vec<PathBuf>) = partners
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .partition(|p| p.is_dir());
    partners.sort();
    // A file dropped in `inbox/` itself: nobody's, so it waits, and the summary says where it
    // belongs (it used to be passed over without a word).
    loose.sort();
    for file in loose.into_iter().filter(|p| p.is_file()) {
        out.push(Planned {
            partner: String::new(),
            file,
            target: Err(
                "not in a partner's folder: move it to inbox/<partner>/ of the partner that sent it"
                    .to_owned(),
            ),
        });
    }
    for dir in partners {
        let partner = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut files, mut folders): (Vec<PathBuf>, Vec<PathBuf>) = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .partition(|p| p.is_file());
        files.sort();
        // A folder inside a partner's folder is not read; say so rather than pass it over.
        folders.sort();
        for folder in folders.into_iter().filter(|p| p.is_dir()) {
            out.push(Planned {
                partner: partner.clone(),
                file: folder,
                target: Err(format!(
                    "a folder: the run reads only the files directly in inbox/{partner}/; move them there"
                )),
            });
        }
        for file in files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = if initiative.partner(&partner).is_none() {
                Err(format!(
                    "`{partner}` is not a partner in pipelines/initiative.toml"
                ))
            } else {
                let owed = initiative.schemas_of(&partner);
                let schema = match owed.as_slice() {
                    [] => Err(format!("{partner} owes no data (no obligation names it)")),
                    [one] => Ok(*one),
                    many => many
                        .iter()
                        .find(|(s, _)| name.contains(s))
                        .copied()
                        .ok_or_else(|| {
                            format!(
                                "{partner} sends several tables ({}); name the file after one of them",
                                many.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
                            )
                        }),
                };
                schema.and_then(|(schema, grain)| {
                    grain
                        .period_in(&name)
                        .map(|p| (schema.to_owned(), p))
                        .ok_or_else(|| {
                            format!(
                                "cannot tell which period `{name}` covers: put it in the name, e.g. `report_{}.csv`",
                                grain.example()
                            )
                        })
                })
            };
            out.push(Planned {
                partner: partner.clone(),
                file,
                target,
            });
        }
    }
    Ok(out)
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
fn move_out(workspace: &Path, partner: &str, file: &Path) -> Result<PathBuf> {
    let dir = workspace.join("processed").join(partner);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
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
    std::fs::rename(file, &dest)
        .with_context(|| format!("moving {} to {}", file.display(), dest.display()))?;
    Ok(dest)
}

/// Options of one night.
pub(crate) struct Args {
    pub(crate) workspace: PathBuf,
    pub(crate) dry_run: bool,
    /// Print nothing but errors (the demo runs many nights).
    pub(crate) quiet: bool,
}

/// `backbone run`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let summary = night(args)?;
    if !args.quiet {
        println!("{}", summary_text(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// One night; the summary is also written under `runs/`.
pub(crate) fn night(args: &Args) -> Result<Summary> {
    let ws = &args.workspace;
    let started = now_rfc3339();
    let clock = Instant::now();
    let _lock = if args.dry_run {
        None
    } else {
        Some(Lock::take(ws)?)
    };
    let decl = Declarations::load(ws)?;
    let planned = plan(ws, &decl.initiative)?;
    let store = open_store(ws)?;
    let progress = progress_bar(planned.len() as u64, args.quiet);
    let mut files = Vec::new();
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
            schema: None,
            period: None,
            outcome: "waiting".into(),
            rows: 0,
            accepted: 0,
            rejected: 0,
            submission: None,
            replaces: None,
            receipt: None,
            note: None,
        };
        match &p.target {
            Err(why) => {
                tracing::warn!("{}: {why}; left in the inbox", shown(&p.partner, &name));
                result.note = Some(why.clone());
            }
            Ok((schema, period)) => {
                result.schema = Some(schema.clone());
                result.period = Some(period.clone());
                if args.dry_run {
                    result.outcome = "would_ingest".into();
                } else {
                    ingest_one(ws, &store, &decl, p, schema, period, &mut result)?;
                }
            }
        }
        progress.inc(1);
        files.push(result);
    }
    progress.finish_and_clear();
    let store_changed = files
        .iter()
        .any(|f| f.outcome.starts_with("stored") || f.outcome == "rejected");
    let results_dir = ws.join("results");
    let mut summary = Summary {
        started,
        seconds: 0.0,
        dry_run: args.dry_run,
        files,
        store_changed,
        store_version: None,
        metrics: None,
        changes: None,
        report: None,
        reminders: 0,
    };
    if !args.dry_run {
        let has_data = !store.schemas()?.is_empty();
        if has_data && (store_changed || !results_dir.join("indicators.csv").exists()) {
            let computed = crate::metrics::compute(ws, None, None, false)?;
            summary.metrics = Some(computed.line);
            summary.changes = Some(computed.changes);
            summary.report = Some(crate::report::render_latest(ws, &decl)?);
        }
        if has_data {
            summary.reminders = reminders(ws, &decl.initiative)?;
        }
    }
    summary.store_version = std::fs::read_to_string(results_dir.join("indicators.csv"))
        .ok()
        .and_then(|t| {
            t.lines()
                .nth(1)
                .and_then(|l| l.rsplit(',').next().map(str::to_owned))
        });
    summary.seconds = clock.elapsed().as_secs_f64();
    if !args.dry_run {
        write_summary(ws, &summary)?;
    }
    Ok(summary)
}

fn ingest_one(
    ws: &Path,
    store: &backbone_store::Store,
    decl: &Declarations,
    p: &Planned,
    schema: &str,
    period: &str,
    result: &mut FileResult,
) -> Result<()> {
    let profile = ws
        .join("pipelines/profiles")
        .join(format!("{}.toml", p.partner));
    let args = ingest::Args {
        file: p.file.clone(),
        partner: p.partner.clone(),
        schema: schema.to_owned(),
        period: period.to_owned(),
        profile: profile.is_file().then_some(profile),
        workspace: ws.to_path_buf(),
        json: false,
    };
    let language = decl
        .initiative
        .partner(&p.partner)
        .map(|x| x.language.clone())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "he".into());
    match ingest::ingest_file(store, &args, now_rfc3339())? {
        Outcome::Duplicate(s) => {
            result.outcome = "duplicate".into();
            result.note = Some(format!("same bytes as submission {}", s.id));
            result.submission = Some(s.id.clone());
        }
        Outcome::Raced { id, .. } => {
            result.outcome = "duplicate".into();
            result.note = Some(format!("same bytes as submission {id}"));
            result.submission = Some(id);
        }
        Outcome::Unreadable { file_name, error } => {
            result.outcome = "unreadable".into();
            result.note = Some(error.clone());
            let receipt = crate::report::unreadable_receipt(
                ws, decl, &p.partner, &file_name, &error, &language,
            )?;
            result.receipt = Some(receipt);
        }
        Outcome::Stored {
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
            let receipt = crate::report::receipt(ws, decl, &submission, &report, &language)?;
            result.receipt = Some(receipt);
        }
    }
    move_out(ws, &p.partner, &p.file)?;
    Ok(())
}

/// Partners whose submissions are overdue or due within a week, with their contact, as
/// `reminders.csv` (read from the completeness table just computed).
fn reminders(ws: &Path, initiative: &Initiative) -> Result<usize> {
    let path = ws.join("results/completeness.csv");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(0);
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let today = chrono::DateTime::parse_from_rfc3339(&now_rfc3339())
        .map(|d| d.date_naive())
        .unwrap_or_else(|_| chrono::Utc::now().date_naive());
    let mut rows: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for record in reader.records() {
        let r = record.with_context(|| format!("reading {}", path.display()))?;
        let (partner, schema, period, due, status) = (
            r.get(0).unwrap_or_default(),
            r.get(1).unwrap_or_default(),
            r.get(2).unwrap_or_default(),
            r.get(3).unwrap_or_default(),
            r.get(4).unwrap_or_default(),
        );
        let due_date = chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d").ok();
        let what = match status {
            "missing" => "overdue",
            "not_due" if due_date.is_some_and(|d| d <= today + chrono::Duration::days(7)) => {
                if due_date.is_some_and(|d| d < today) {
                    "overdue"
                } else {
                    "due soon"
                }
            }
            _ => continue,
        };
        let p = initiative.partner(partner);
        rows.insert(
            (partner.to_owned(), schema.to_owned(), period.to_owned()),
            vec![
                partner.to_owned(),
                p.map(|p| p.name.get("he").to_owned()).unwrap_or_default(),
                p.map(|p| p.contact.clone()).unwrap_or_default(),
                schema.to_owned(),
                period.to_owned(),
                due.to_owned(),
                what.to_owned(),
            ],
        );
    }
    let out = ws.join("reminders.csv");
    let mut w =
        csv::Writer::from_path(&out).with_context(|| format!("writing {}", out.display()))?;
    w.write_record([
        "partner", "name", "contact", "schema", "period", "due", "status",
    ])?;
    for r in rows.values() {
        w.write_record(r)?;
    }
    w.flush()?;
    Ok(rows.len())
}

fn write_summary(ws: &Path, summary: &Summary) -> Result<()> {
    let dir = ws.join("runs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp = summary.started.replace(':', "");
    let mut path = dir.join(format!("{stamp}.json"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{stamp}-{n}.json"));
    }
    std::fs::write(&path, serde_json::to_string_pretty(summary)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let latest = dir.join("latest.txt");
    std::fs::write(&latest, summary_text(summary) + "\n")
        .with_context(|| format!("writing {}", latest.display()))?;
    Ok(())
}

/// The summary in about ten lines.
pub(crate) fn summary_text(s: &Summary) -> String {
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
        "  stored {}, with problems {}, rejected {}, already in {}, unreadable {}, waiting {}",
        count("stored"),
        count("stored_with_problems"),
        count("rejected"),
        count("duplicate"),
        count("unreadable"),
        count("waiting")
    ));
    out.push(format!("  rows stored {rows}, rows rejected {rejected}"));
    for f in s
        .files
        .iter()
        .filter(|f| matches!(f.outcome.as_str(), "rejected" | "unreadable" | "waiting"))
    {
        out.push(format!(
            "  ✗ {}: {}{}",
            shown(&f.partner, &f.file),
            f.outcome,
            f.note
                .as_ref()
                .map_or_else(String::new, |n| format!(" — {n}"))
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

/// For `backbone status`: what is missing per period (from the last results), and the last
/// runs.
pub(crate) fn print_missing_and_runs(ws: &Path) -> Result<()> {
    if let Ok(text) = std::fs::read_to_string(ws.join("results/completeness.csv")) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        for r in reader.records().flatten() {
            if r.get(4) == Some("missing") {
                missing
                    .entry(format!(
                        "{} {}",
                        r.get(1).unwrap_or_default(),
                        r.get(2).unwrap_or_default()
                    ))
                    .or_default()
                    .push(r.get(0).unwrap_or_default().to_owned());
            }
        }
        println!("\nmissing (past due, not received), as of the last results:");
        if missing.is_empty() {
            println!("  nothing");
        }
        for (period, partners) in &missing {
            println!("  {period}: {}", partners.join(", "));
        }
    }
    let mut runs: Vec<PathBuf> = std::fs::read_dir(ws.join("runs"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    if !runs.is_empty() {
        println!("\nlast runs:");
    }
    for path in runs.iter().rev().take(5) {
        let Ok(v) = std::fs::read_to_string(path)
            .map_err(anyhow::Error::from)
            .and_then(|t| Ok(serde_json::from_str::<serde_json::Value>(&t)?))
        else {
            continue;
        };
        let files = v["files"].as_array().map_or(0, Vec::len);
        println!(
            "  {}  {files} file(s), {:.1} s{}",
            v["started"].as_str().unwrap_or("?"),
            v["seconds"].as_f64().unwrap_or_default(),
            if v["store_changed"].as_bool() == Some(true) {
                ", store changed"
            } else {
                ""
            }
        );
    }
    Ok(())
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
