//! `backbone ingest`, `backbone status`, `backbone history`: files into the store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use backbone_ingest::{
    Pseudonymiser, RejectedRow, Sink, SinkError, ValidationReport, arrow_schema, read_file,
};
use backbone_schema::{Grain, Initiative};
use backbone_store::{Begun, Pending, Reject, Store, StoreError, Submission};

use crate::validate::{prepare, print_report, resolve_schema};

pub(crate) struct Args {
    pub(crate) file: PathBuf,
    pub(crate) partner: String,
    pub(crate) schema: String,
    pub(crate) period: String,
    pub(crate) profile: Option<PathBuf>,
    pub(crate) workspace: PathBuf,
    pub(crate) json: bool,
}

/// The workspace's pseudonymisation key: 32 random bytes in `.backbone/secret.key`, created
/// on first use with owner-only permissions and never printed.
pub(crate) fn secret(workspace: &Path) -> Result<Pseudonymiser> {
    let path = workspace.join(".backbone").join("secret.key");
    if !path.exists() {
        let dir = workspace.join(".backbone");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| anyhow::anyhow!("no randomness for the secret key: {e}"))?;
        // Written whole aside, then linked into place: two first ingests at once agree on one
        // key (the link fails for the second, which then reads the first's), and nobody
        // ever reads half a key.
        let tmp = dir.join(format!(".secret.key.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &key).with_context(|| format!("writing {}", tmp.display()))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("writing {}", path.display()));
            }
        }
    }
    let key = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Pseudonymiser::new(&key).with_context(|| format!("{} is shorter than 16 bytes", path.display()))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Streams accepted batches into the store as the file is read, and rejected rows into the
/// `rejects` table.
struct StoreSink<'a, 's> {
    pending: &'a mut Pending<'s>,
    submission: &'a Submission,
    /// The schema's field names, in the order of a rejected row's cells.
    fields: Vec<String>,
}

impl Sink for StoreSink<'_, '_> {
    fn wants_rows(&self) -> bool {
        true
    }
    fn accepted(&mut self, batch: arrow_array::RecordBatch) -> Result<(), SinkError> {
        self.pending
            .write(self.submission, batch)
            .map_err(|e| Box::new(e) as SinkError)
    }
    fn rejected(&mut self, row: RejectedRow) -> Result<(), SinkError> {
        for p in row.problems {
            // The cell as written; personal-data cells are already `None` in a RejectedRow.
            let cell = p
                .field
                .as_ref()
                .and_then(|f| self.fields.iter().position(|n| n == f))
                .and_then(|i| row.cells.get(i).cloned().flatten());
            let reject = Reject {
                row_number: row.row_number,
                error_type: p.kind.code().to_owned(),
                field: p.field,
                cell,
                message: p.note,
            };
            self.pending
                .reject(self.submission, reject)
                .map_err(|e| Box::new(e) as SinkError)?;
        }
        Ok(())
    }
}

/// What one ingest did.
pub(crate) enum Outcome {
    /// The same bytes were stored before, as this submission.
    Duplicate(Box<Submission>),
    /// Another ingest stored the same bytes while this one read them.
    Raced { file_name: String, id: String },
    /// Recorded (with or without rows) at this table version.
    Stored {
        submission: Box<Submission>,
        version: u64,
        replaces: Option<String>,
        report: Box<ValidationReport>,
        /// A warning to pass on (the mirror table is behind).
        warning: Option<String>,
    },
    /// The file could not be read at all (the report's one-line error).
    Unreadable { file_name: String, error: String },
}

/// Ingests one file: archive, validate, pseudonymise, one Delta commit. `received` is the
/// submission's time (RFC 3339).
pub(crate) fn ingest_file(store: &Store, args: &Args, received: String) -> Result<Outcome> {
    let (workspace, file, partner) = (&args.workspace, &args.file, &args.partner);
    let schema = resolve_schema(workspace, &args.schema)?;
    let period = &checked_target(workspace, partner, &schema.name, &args.period)?;
    let (schema, mut options) = prepare(&schema, args.profile.as_deref())?;
    options.pseudonymiser = Some(secret(workspace)?);
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    options.display_name = Some(file_name.clone());
    // Before anything reads the file: its bytes, under their hash. Validation then reads the
    // archived copy, so the rows stored are exactly the bytes kept and hashed, even if the
    // partner's file changes meanwhile.
    let sha256 = store.archive(file)?;
    let source = store.archived(&sha256).unwrap_or_else(|| file.clone());
    let rows = arrow_schema(&schema);
    let mut pending = match store.begin(&schema.name, partner, period, &sha256, &rows)? {
        Begun::Duplicate(s) => return Ok(Outcome::Duplicate(s)),
        Begun::Writing(p) => *p,
    };
    let mut submission = Submission {
        id: format!("{partner}-{}-{period}-{}", schema.name, &sha256[..12]),
        partner: partner.to_owned(),
        schema: schema.name.clone(),
        period: period.to_owned(),
        file_name: file_name.clone(),
        sha256,
        received,
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        rows_with_warnings: 0,
        verdict: String::new(),
        supersedes: None,
        table_version: None,
    };
    let report: ValidationReport = {
        let mut sink = StoreSink {
            pending: &mut pending,
            submission: &submission,
            fields: schema.fields.iter().map(|f| f.name.clone()).collect(),
        };
        match read_file(&source, &schema, &options, &mut sink) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Outcome::Unreadable {
                    file_name,
                    error: e.to_string(),
                });
            }
        }
    };
    let s = &report.stats;
    submission.rows_read = s.rows;
    submission.rows_accepted = s.accepted;
    submission.rows_rejected = s.rejected;
    submission.rows_with_warnings = s.with_warnings;
    submission.verdict = serde_json::to_value(report.verdict)?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let replaces = if s.accepted > 0 {
        pending.supersedes().map(str::to_owned)
    } else {
        None
    };
    let (version, warning) = match pending.commit(submission.clone()) {
        Ok(v) => (v, None),
        Err(StoreError::MirrorBehind { version, message }) => (
            version,
            Some(format!(
                "the submissions table is behind the ledger ({message}); the next ingest catches it up"
            )),
        ),
        Err(StoreError::Raced(id)) => return Ok(Outcome::Raced { file_name, id }),
        Err(e) => return Err(e.into()),
    };
    submission.supersedes.clone_from(&replaces);
    submission.table_version = Some(version);
    Ok(Outcome::Stored {
        submission: Box::new(submission),
        version,
        replaces,
        report: Box::new(report),
        warning,
    })
}

/// The partner and period of an ingest, checked as the nightly run and the portal check theirs,
/// so that a typo cannot make a partner or a period nobody owes: a table that partners owe
/// (an obligation in `pipelines/initiative.toml` names it) is taken only from a declared
/// partner, at the grain it owes the table in; a reference table no obligation names (a
/// population from the statistics office) from any well-formed source id. The period must be
/// a whole period (`2024-03`, `2024-Q1`, `2024-H1`, `2024`). Returns it as its label
/// (` 2024-q1` → `2024-Q1`).
fn checked_target(workspace: &Path, partner: &str, schema: &str, period: &str) -> Result<String> {
    let period = period.trim();
    let whole = |g: Grain| g.period_in(period).filter(|p| p.len() == period.len());
    if partner.is_empty()
        || !partner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("a partner id is letters, digits, `_` and `-`, not `{partner}`");
    }
    let path = workspace.join("pipelines/initiative.toml");
    if path.is_file() {
        let initiative = Initiative::load(&path)?;
        let owed = initiative.obligations.iter().any(|o| o.schema == schema);
        if owed && initiative.partner(partner).is_none() {
            let ids: Vec<&str> = initiative.partners.iter().map(|p| p.id.as_str()).collect();
            bail!(
                "`{partner}` is not a partner in {} (its partners: {}), and partners owe `{schema}`",
                path.display(),
                ids.join(", ")
            );
        }
        if let Some((_, grain)) = initiative
            .schemas_of(partner)
            .into_iter()
            .find(|(s, _)| *s == schema)
        {
            return whole(grain).ok_or_else(|| {
                anyhow!(
                    "`{period}` is not a period of `{schema}`, which {partner} reports {}: write it like {}",
                    match grain {
                        Grain::Month => "monthly",
                        Grain::Quarter => "quarterly",
                        Grain::HalfYear => "half-yearly",
                        Grain::Year => "yearly",
                    },
                    grain.example()
                )
            });
        }
    }
    [Grain::Month, Grain::Quarter, Grain::HalfYear, Grain::Year]
        .into_iter()
        .find_map(whole)
        .ok_or_else(|| {
            anyhow!("`{period}` is not a period: write it like 2024-03, 2024-Q1, 2024-H1 or 2024")
        })
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let store = open_store(&args.workspace)?;
    let outcome = ingest_file(&store, args, now_rfc3339())?;
    let (submission, version, replaces, report) = match outcome {
        Outcome::Duplicate(s) => {
            println!(
                "{}: the same bytes were ingested before as submission {} (table version {}); nothing to do",
                s.file_name,
                s.id,
                s.table_version
                    .map_or_else(|| "?".to_owned(), |v| v.to_string())
            );
            return Ok(ExitCode::SUCCESS);
        }
        Outcome::Raced { file_name, id } => {
            println!(
                "{file_name}: another ingest stored the same bytes meanwhile, as submission {id}; nothing to do"
            );
            return Ok(ExitCode::SUCCESS);
        }
        Outcome::Unreadable { error, .. } => {
            eprintln!("backbone: {error}");
            return Ok(ExitCode::from(2));
        }
        Outcome::Stored {
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
    let store = open_store(workspace)?;
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
    let store = open_store(workspace)?;
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
) -> Result<ExitCode> {
    let store = open_store(workspace)?;
    let batches = match table {
        "rejects" => store.read_rejects(as_of)?,
        "submissions" if as_of.is_none() => store.read_ledger_table()?,
        "submissions" => anyhow::bail!(
            "the submissions table has no --as-of: use `backbone status --schema S --as-of V`"
        ),
        schema => {
            known_table(&store, schema, &["rejects", "submissions"])?;
            store.read(schema, as_of)?
        }
    };
    let sink: Box<dyn std::io::Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut writer = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .build(sink);
    // A reader that stops early (`| head`) is not an error; anything else is, including the
    // last flush, which dropping the writer would have swallowed (a full disk, a truncated
    // export, exit 0).
    let written = batches
        .iter()
        .try_for_each(|b| writer.write(b).map_err(anyhow::Error::from))
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

/// `backbone sweep`: give back the space of files killed ingests left.
pub(crate) fn sweep(workspace: &Path, older_than_minutes: u64) -> Result<ExitCode> {
    let store = open_store(workspace)?;
    let swept = store.sweep(std::time::Duration::from_secs(older_than_minutes * 60))?;
    println!(
        "removed {} orphan file(s), {} bytes; every version of every table is still readable",
        swept.files, swept.bytes
    );
    Ok(ExitCode::SUCCESS)
}

/// The workspace's store (`store/`, shareable: no personal data) and its archive of the raw
/// files as received (`archive/`, which holds personal data and stays with the data manager).
pub(crate) fn open_store(workspace: &Path) -> Result<Store> {
    Ok(Store::open_with_archive(
        &workspace.join("store"),
        &workspace.join("archive"),
    )?)
}

static CLOCK: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Sets the clock of this process (the demo's simulated nights); `None` for the real one.
pub(crate) fn set_clock(clock: Option<String>) {
    if let Ok(mut c) = CLOCK.lock() {
        *c = clock;
    }
}

/// Now, as RFC 3339. `BACKBONE_CLOCK` (RFC 3339) replaces the system clock, for simulations
/// such as the demo's year and for tests of lateness.
pub(crate) fn now_rfc3339() -> String {
    if let Some(clock) = CLOCK.lock().ok().and_then(|c| c.clone()) {
        return clock;
    }
    if let Ok(clock) = std::env::var("BACKBONE_CLOCK")
        && chrono::DateTime::parse_from_rfc3339(&clock).is_ok()
    {
        return clock;
    }
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
