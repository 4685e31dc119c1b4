//! `backbone ingest`, `status`, `history`, `export`, `sweep`: the store, printed. What an
//! ingest does is the pipeline crate's ([`backbone_pipeline::ingest_file`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use backbone_pipeline::{IngestRequest, Ingested, ingest_file, open_store};
use backbone_store::Store;
use backbone_workspace::tables::neutralise;
use backbone_workspace::{Layout, clock};

use crate::validate::print_report;

pub(crate) struct Args {
    pub(crate) file: PathBuf,
    pub(crate) partner: String,
    pub(crate) schema: String,
    pub(crate) period: String,
    pub(crate) profile: Option<PathBuf>,
    pub(crate) workspace: PathBuf,
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let layout = Layout::new(&args.workspace);
    let store = open_store(&layout)?;
    let request = IngestRequest {
        file: args.file.clone(),
        partner: args.partner.clone(),
        schema: args.schema.clone(),
        period: args.period.clone(),
        profile: args.profile.clone(),
        isolation: crate::isolation(&args.workspace),
        approved: false,
    };
    let outcome = ingest_file(&layout, &store, &request, clock::now_rfc3339())?;
    let (submission, version, replaces, report) = match outcome {
        Ingested::Duplicate(s) => {
            println!(
                "{}: the same bytes were ingested before as submission {} (table version {}); nothing to do",
                s.file_name,
                s.id,
                s.table_version
                    .map_or_else(|| "?".to_owned(), |v| v.to_string())
            );
            return Ok(ExitCode::SUCCESS);
        }
        Ingested::Raced { file_name, id } => {
            println!(
                "{file_name}: another ingest stored the same bytes meanwhile, as submission {id}; nothing to do"
            );
            return Ok(ExitCode::SUCCESS);
        }
        Ingested::Unreadable { error, .. } => {
            eprintln!("backbone: {error}");
            return Ok(ExitCode::from(2));
        }
        Ingested::Held { held, report } => {
            println!(
                "{}: {} is closed; checked ({} rows read, {} accepted, {} rejected) and held as {} until `backbone approve {}`",
                held.file_name,
                held.closed_period,
                report.stats.rows,
                report.stats.accepted,
                report.stats.rejected,
                held.id,
                held.id
            );
            return Ok(ExitCode::SUCCESS);
        }
        Ingested::Stored {
            submission,
            version,
            replaces,
            report,
            warning,
        } => {
            if let Some(w) = warning {
                eprintln!("backbone: warning: {w}");
            }
            (submission, version, replaces, report)
        }
    };
    if args.json {
        let doc = serde_json::json!({
            "submission": submission.id,
            "tableVersion": version,
            "supersedes": replaces,
            "report": report.to_json(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_report(&report, false)?;
        println!();
        match (&replaces, report.stats.accepted) {
            (_, 0) => println!(
                "recorded as submission {} (table version {version}); no row was stored",
                submission.id
            ),
            (Some(old), _) => println!(
                "stored as submission {} (table version {version}), replacing {old}",
                submission.id
            ),
            (None, _) => println!(
                "stored as submission {} (table version {version})",
                submission.id
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An error naming the store's tables (with `also`, the other tables the command reads) unless
/// `schema` is one of them.
fn known_table(store: &Store, schema: &str, also: &[&str]) -> Result<()> {
    let tables = store.schemas()?;
    if !tables.iter().any(|s| s == schema) {
        bail!(
            "the store has no table {schema}; its tables: {}",
            tables
                .iter()
                .map(String::as_str)
                .chain(also.iter().copied())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// `backbone history`: every version of a schema's table and what made it.
pub(crate) fn history(workspace: &Path, schema: &str, as_of: Option<u64>) -> Result<ExitCode> {
    let store = open_store(&Layout::new(workspace))?;
    known_table(&store, schema, &[])?;
    println!(
        "{:>7}  {:<20}  {:<12}  what",
        "version", "committed (UTC)", "operation"
    );
    for h in store.history(schema, as_of)? {
        let what = match &h.submission {
            Some(s) if s.rows_accepted == 0 => format!(
                "{} {} {}: recorded, no row stored ({})",
                s.partner, s.period, s.file_name, s.verdict
            ),
            Some(s) => format!(
                "{} {} {}: {} rows in{}",
                s.partner,
                s.period,
                s.file_name,
                s.rows_accepted,
                s.supersedes
                    .as_ref()
                    .map_or_else(String::new, |o| format!(", {o} out"))
            ),
            None => String::new(),
        };
        println!(
            "{:>7}  {:<20}  {:<12}  {what}",
            h.version, h.committed, h.operation
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `backbone status`: the ledger of every schema's table.
pub(crate) fn status(
    workspace: &Path,
    schema: Option<&str>,
    as_of: Option<u64>,
) -> Result<ExitCode> {
    let store = open_store(&Layout::new(workspace))?;
    let schemas = match schema {
        Some(s) => {
            known_table(&store, s, &[])?;
            vec![s.to_owned()]
        }
        None => store.schemas()?,
    };
    const HEAD: [&str; 9] = [
        "schema", "partner", "period", "file", "read", "kept", "bad", "verdict", "version",
    ];
    // Right-aligned: the counts and the version.
    const NUMERIC: [bool; 9] = [false, false, false, false, true, true, true, false, true];
    let mut rows: Vec<Vec<String>> = vec![HEAD.map(str::to_owned).to_vec()];
    let mut tails = vec![String::new()];
    let mut erasures = Vec::new();
    for name in &schemas {
        for (version, e) in store.erasures(name)? {
            if as_of.is_none_or(|v| version <= v) {
                erasures.push((version, e));
            }
        }
    }
    for name in schemas {
        for s in store.submissions(&name, as_of)? {
            rows.push(vec![
                s.schema,
                s.partner,
                s.period,
                s.file_name,
                s.rows_read.to_string(),
                s.rows_accepted.to_string(),
                s.rows_rejected.to_string(),
                s.verdict,
                s.table_version.map_or_else(String::new, |v| v.to_string()),
            ]);
            tails.push(
                s.supersedes
                    .map_or_else(String::new, |o| format!("  (replaces {o})")),
            );
        }
    }
    for (line, tail) in crate::table::lines(&rows, &NUMERIC).iter().zip(&tails) {
        println!("{line}{tail}");
    }
    // Files held for closed periods: each waits for `backbone approve`.
    let held = backbone_pipeline::approval::held(&Layout::new(workspace));
    if as_of.is_none() && !held.is_empty() {
        println!(
            "\nheld for approval (their period is closed; `backbone approve SUBMISSION` applies one):"
        );
        for h in held.iter().filter(|h| schema.is_none_or(|s| s == h.schema)) {
            println!(
                "  {}  {} {} {} ({}; {} rows, {} rejected; received {})",
                h.id, h.partner, h.schema, h.period, h.file_name, h.rows.0, h.rows.2, h.received
            );
        }
    }
    // Partners whose latest file's header changed: what to look at before the next one.
    let drifted: Vec<_> = backbone_pipeline::known_headers(&Layout::new(workspace))
        .into_iter()
        .filter(|(_, s, h)| h.needs_attention() && schema.is_none_or(|want| want == s))
        .collect();
    if as_of.is_none() && !drifted.is_empty() {
        println!(
            "\npartners' files that changed since their previous one (`backbone profile draft --from-drift` proposes the profile change):"
        );
        for (partner, schema, h) in drifted {
            println!("  {partner} {schema} ({}):", h.submission);
            for line in h.drift.lines() {
                println!("    {line}");
            }
            for (field, names) in &h.aliases {
                println!(
                    "    {field} read from {} (a rename the profile does not have yet)",
                    names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    if !erasures.is_empty() {
        println!("\nerasures (a keyed hash of each person; the identifier is kept nowhere):");
        for (version, e) in &erasures {
            let pending = e
                .older_files
                .iter()
                .filter(|f| store.root().join("tables").join(&e.schema).join(f).exists())
                .count();
            println!(
                "  {} {} version {version}: {} row(s), {} raw file(s) redacted{}  [{}]",
                e.at.get(..10).unwrap_or(&e.at),
                e.schema,
                e.rows,
                e.raw_files.len(),
                if pending > 0 {
                    format!(", {pending} older file(s) wait for `backbone vacuum`")
                } else {
                    String::new()
                },
                e.tag.get(..12).unwrap_or(&e.tag)
            );
        }
    }
    if as_of.is_none() {
        crate::run::print_missing_and_runs(workspace)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `backbone export`: a store table as CSV.
pub(crate) fn export(
    workspace: &Path,
    table: &str,
    as_of: Option<u64>,
    out: Option<&Path>,
    raw: bool,
) -> Result<ExitCode> {
    let store = open_store(&Layout::new(workspace))?;
    match table {
        "submissions" if as_of.is_some() => anyhow::bail!(
            "the submissions table has no --as-of: use `backbone status --schema S --as-of V`"
        ),
        "rejects" | "submissions" => {}
        schema => known_table(&store, schema, &["rejects", "submissions"])?,
    }
    let sink: Box<dyn std::io::Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut writer = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .build(sink);
    let mut write = |b: RecordBatch| -> Result<()> {
        let b = if raw { b } else { neutralised(&b)? };
        writer.write(&b).map_err(anyhow::Error::from)
    };
    // A schema's rows and the rejects a batch at a time (a national store does not fit in
    // memory); the ledger's mirror is small.
    // A reader that stops early (`| head`) is not an error; anything else is, including the
    // last flush, which dropping the writer would have swallowed (a full disk, a truncated
    // export, exit 0).
    let written = match table {
        "submissions" => store
            .read_ledger_table()
            .map_err(anyhow::Error::from)
            .and_then(|batches| batches.into_iter().try_for_each(&mut write)),
        table => store.read_each(table, as_of, &mut write),
    }
    .and_then(|()| writer.into_inner().flush().map_err(anyhow::Error::from));
    match written {
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        r => r.context("writing CSV").map(|()| ExitCode::SUCCESS),
    }
}

/// The batch with every text cell a spreadsheet would run as a formula neutralised, as the
/// results files are (`backbone_workspace::tables::neutralise`): a partner's cell such as
/// `=HYPERLINK(…)` must not become a live formula in the data manager's Excel.
fn neutralised(batch: &RecordBatch) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .map(|c| match c.as_string_opt::<i32>() {
            Some(text) => Arc::new(
                text.iter()
                    .map(|v| v.map(neutralise))
                    .collect::<StringArray>(),
            ) as ArrayRef,
            None => Arc::clone(c),
        })
        .collect();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// `backbone sweep`: give back the space of files killed ingests left.
pub(crate) fn sweep(workspace: &Path, older_than_minutes: u64) -> Result<ExitCode> {
    let store = open_store(&Layout::new(workspace))?;
    let swept = store.sweep(std::time::Duration::from_secs(older_than_minutes * 60))?;
    println!(
        "removed {} orphan file(s), {} bytes; every version of every table is still readable",
        swept.files, swept.bytes
    );
    Ok(ExitCode::SUCCESS)
}
