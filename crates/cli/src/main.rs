//! `backbone`: the command a data manager runs.

mod demo;
mod generate;
mod ingest;
mod init;
mod lifecycle;
mod metrics;
mod national;
mod profile;
mod report;
mod run;
mod serve;
mod table;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// A shared-measurement data pipeline for collective-impact initiatives.
#[derive(Parser, Debug)]
#[command(name = "backbone", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    /// For a person: the verdict, then the problems grouped by column.
    Text,
    /// For tools: shaped like frictionless-py's report.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check one partner file against a schema. Exit 0 valid, 1 invalid, 2 unreadable.
    Validate {
        /// The partner's file (CSV, TSV, .xlsx, .xls, .ods).
        file: PathBuf,
        /// Schema: a path to a Table Schema JSON file, or a name in the workspace's
        /// data-schemas/ folder.
        #[arg(long, short)]
        schema: String,
        /// Partner profile (TOML): encoding, delimiter, sheet, header row, aliases, value maps.
        #[arg(long, short)]
        profile: Option<PathBuf>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Problems listed per error type (all are counted).
        #[arg(long, default_value_t = 1000)]
        limit_errors: usize,
        /// The initiative's workspace (where data-schemas/ is).
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Validate a partner's file and store its accepted rows as one submission: one Delta
    /// commit that also retires the partner's earlier file for the same period.
    Ingest {
        /// The partner's file.
        file: PathBuf,
        /// The partner's id.
        #[arg(long)]
        partner: String,
        /// Schema: a path, or a name in the workspace's data-schemas/.
        #[arg(long, short)]
        schema: String,
        /// The reporting period the file covers (2024-03, 2024-Q1, …).
        #[arg(long)]
        period: String,
        /// Partner profile (TOML).
        #[arg(long, short)]
        profile: Option<PathBuf>,
        /// The initiative's workspace (data-schemas/, store/, .backbone/secret.key).
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List the submissions in the store.
    Status {
        /// Only this schema's table.
        #[arg(long, short)]
        schema: Option<String>,
        /// The ledger as it was at this table version.
        #[arg(long, requires = "schema")]
        as_of: Option<u64>,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// List the versions of a schema's table and what each commit did.
    History {
        /// The schema's table.
        #[arg(long, short)]
        schema: String,
        /// Only the versions up to this one.
        #[arg(long)]
        as_of: Option<u64>,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Write a table of the store as CSV: a schema's rows, or `rejects`, or `submissions`.
    Export {
        /// A schema name, `rejects` (every problem of every rejected row) or `submissions`
        /// (the ledger).
        table: String,
        /// Read the table as it was at this version.
        #[arg(long)]
        as_of: Option<u64>,
        /// Write here instead of to standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Text cells as stored, for a machine reader. By default text a spreadsheet would run
        /// as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading apostrophe, as in
        /// the results files.
        #[arg(long)]
        raw: bool,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Remove what killed ingests left behind (Parquet files no commit references, half
    /// copies); every version of every table stays readable.
    Sweep {
        /// Leave files younger than this many minutes (an ingest may be writing them).
        #[arg(long, default_value_t = 60)]
        older_than_minutes: u64,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Merge each table's small files into few (one commit per table that changes no row;
    /// the nightly run does it when 32 or more have piled up).
    Optimize {
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Apply the initiative's [retention]: remove data files that left the current version
    /// longer ago than `superseded_files` (reading the store as it was before then is given
    /// up), and raw partner files last received longer ago than `raw_files`.
    Vacuum {
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Erase one person: their rows leave the current version (one commit), the raw files
    /// that hold them are rewritten without them, older versions' files are left for
    /// `backbone vacuum`, and the results are computed again. Recorded without the identifier.
    Erase {
        /// The schema whose table holds them.
        #[arg(long)]
        schema: String,
        /// Their identifier as partners write it (pseudonymised with the workspace key; never
        /// kept).
        #[arg(long)]
        id: String,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Rotate the pseudonym key (when it may have leaked): every pseudonym in the store is
    /// rewritten under a new key, one commit per table; a person keeps one pseudonym across
    /// the years, and the old key alone finds nobody.
    Rekey {
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Check the indicator and initiative declarations against the schemas.
    Check {
        /// The initiative's workspace (data-schemas/, pipelines/).
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Try to recover every suppressed count from what a committee member receives (every
    /// indicators.csv of the published report, together), as an attacker would. Exit 0 when
    /// nothing can be recovered, 1 when something can, 2 when the report cannot be read.
    Audit {
        /// The published folder (default: the workspace's reports/latest).
        #[arg(long)]
        report: Option<PathBuf>,
        /// The initiative's workspace (pipelines/ for the indicators' definitions).
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Compute every indicator from one store version: indicators.csv/.parquet,
    /// completeness.csv, quality.csv.
    Metrics {
        /// Read the store as it was: `service_records@12;population@1` (a results table's
        /// store_version), or one number when the store has one table.
        #[arg(long)]
        as_of: Option<String>,
        /// Compute every period again, even those whose rows did not change.
        #[arg(long)]
        full: bool,
        /// Where to write the results (default: WORKSPACE/results).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Print SQL that computes every indicator's cells (or one's) from the store's Delta
    /// tables, for DuckDB or Spark: the same numbers before disclosure control, with the
    /// cells below the threshold marked.
    Sql {
        /// Only this indicator (and the inputs a derived one needs).
        indicator: Option<String>,
        /// The engine.
        #[arg(long, value_enum, default_value = "duckdb")]
        dialect: SqlDialect,
        /// Where the store is for that engine (`abfss://…/store`, `s3://…/store`, `/dbfs/…`);
        /// default: this workspace's store/ folder.
        #[arg(long)]
        store: Option<String>,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// List the submissions (partner, file, received, rows used) behind one indicator value.
    Explain {
        /// The indicator id.
        indicator: String,
        /// The period (`2024-Q1`).
        period: String,
        /// The breakdown (`region=צפון`); the total when absent.
        breakdown: Option<String>,
        /// Read the store as it was (a results table's store_version).
        #[arg(long)]
        as_of: Option<String>,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// The whole night: ingest new files from inbox/<partner>/ (receipts to outbox/),
    /// recompute the indicators and the report when the store changed, write reminders and
    /// a summary. Exit 0 when the run did its job, even if partners' files were rejected.
    Run {
        /// List what would be ingested, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Render the committee report from WORKSPACE/results: HTML, Markdown, PNG charts, a
    /// workbook, and each partner's data-quality page.
    Report {
        /// Language: he (right to left) or en.
        #[arg(long, default_value = "he")]
        lang: String,
        /// Where to write it (default: WORKSPACE/reports/latest).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also print it to report.pdf (needs Chromium).
        #[arg(long)]
        pdf: bool,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Create an empty initiative workspace: commented declarations to fill in, inbox/ and
    /// outbox/, and the pseudonymisation key (owner-only, never printed).
    Init {
        /// The new workspace's folder.
        dir: PathBuf,
    },
    /// The partners' upload portal: each partner uploads with its own token, gets the
    /// receipt at once, and sees its own history; files wait in inbox/ for the nightly run.
    Serve {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// The largest upload in MB (default: [portal] max_upload_mb, 50).
        #[arg(long)]
        max_upload_mb: Option<u64>,
        /// Uploads per partner per hour (default: [portal] uploads_per_hour, 30).
        #[arg(long)]
        uploads_per_hour: Option<u32>,
        /// Mark the session cookie Secure (when an HTTPS proxy is in front).
        #[arg(long)]
        secure_cookies: bool,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Close a period after its figures went to the committee: files that arrive later for
    /// it are checked and receipted as usual, then held until `backbone approve`.
    Close {
        /// The period (2024-03, 2024-Q2, 2024-H1, 2024).
        period: String,
        /// Open it again instead (what is held stays held until approved).
        #[arg(long)]
        reopen: bool,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Apply a submission held for a closed period (see `backbone status`), and compute the
    /// published results again.
    Approve {
        /// The held submission's id.
        submission: String,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Publish the current report as an edition: rendered again with its revisions since
    /// the last edition, then frozen under `editions/<n>/` (read-only, every file's sha256
    /// in `edition.json`).
    Publish {
        /// The reporting period the edition is for (default: the latest with a value).
        #[arg(long)]
        period: Option<String>,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// List the published editions; with `--verify`, check that every file of each still
    /// reads exactly as published (exit 1 if one does not).
    Editions {
        /// Compare each file with the sha256 recorded when it was published.
        #[arg(long)]
        verify: bool,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Partner profiles: how one partner's files are read.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Partners' access to the upload portal.
    Partner {
        #[command(subcommand)]
        command: PartnerCommand,
    },
    /// A year of the bundled example initiative: a dozen partners' generated files, run night
    /// by night; the report ends in DIR/reports/latest/index.html.
    Demo {
        /// Where to put the example workspace.
        #[arg(default_value = "backbone-demo")]
        dir: PathBuf,
    },
    /// The cells of a file as backbone reads them, one JSON line a row (`{"row": n, "cells":
    /// [...]}`, after a first line naming the sheet): for comparing with other readers
    /// (`bench/corpus_compare.py`).
    #[command(hide = true)]
    Cells {
        file: PathBuf,
        #[arg(long)]
        sheet: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        max_rows: usize,
    },
    /// A national initiative's store for the scale benchmark (`bench/national.sh`): generated
    /// monthly submissions of many partners, committed straight into a new workspace's store.
    #[command(hide = true)]
    National {
        /// The new workspace.
        dir: PathBuf,
        #[arg(long, default_value_t = 200)]
        partners: usize,
        #[arg(long, default_value_t = 60)]
        months: usize,
        #[arg(long, default_value_t = 100_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// The engines `backbone sql` writes for.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum SqlDialect {
    /// DuckDB with its delta extension.
    Duckdb,
    /// Spark SQL with Delta Lake (Databricks, spark-sql).
    Spark,
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// Propose a profile from a sample file: the header row, each column matched to a field
    /// with its confidence, value maps for unknown spellings, the date order by evidence,
    /// separators, a wide layout or a workbook's sheets. Then validate the file with it and
    /// say what would still be rejected. Exit 0 when the file validates, 1 when not.
    Draft {
        /// The partner's sample file (not with --from-drift).
        #[arg(required_unless_present = "from_drift")]
        file: Option<PathBuf>,
        /// Instead of a file: the profile change that the partner's latest drift asks for
        /// (aliases for renamed columns, value-map entries for new spellings); needs --partner.
        #[arg(long, requires = "partner")]
        from_drift: bool,
        /// Schema: a path, or a name in the workspace's data-schemas/.
        #[arg(long)]
        schema: String,
        /// The partner's id (written into the profile).
        #[arg(long)]
        partner: Option<String>,
        /// Write the profile here instead of to standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum PartnerCommand {
    /// Make (or replace) a partner's access token and print it once; only its hash is kept.
    Token {
        /// The partner's id.
        partner: Option<String>,
        /// The data manager's token instead: every partner, completeness, runs.
        #[arg(long, conflicts_with = "partner")]
        admin: bool,
        /// The initiative's workspace.
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
}

/// jemalloc rather than glibc's malloc. Reading a file hands multi-MiB blocks from the reading
/// thread to the checking ones, and Parquet row groups from the writer to its upload task:
/// glibc either kept such blocks in per-thread arenas (ingest of the peers' 5M-row file at
/// 370–395 MiB of RSS for 268 MB of heap) or, with its mmap threshold fixed at 1 MiB, mapped
/// and unmapped every one of them (380 000 page faults and 1.2 s of system time in a 3.7 s
/// validate). jemalloc reuses freed blocks across threads and returns them to the system
/// after a few seconds: validate 3.7 → 3.1 s and ingest 8.2 → 7.0 s (the same binary under
/// each allocator), peaks within 10%; `metrics`' peaks are 10–30% higher on the peers'
/// store, unchanged at 10⁸ rows (BENCHMARKS.md, "Indicators").
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `backbone status | head`: once the reader has gone, Rust (which ignores SIGPIPE) makes
/// every later `println!` panic. A command-line tool should end quietly instead, as Unix tools
/// do, so SIGPIPE gets its default action back: for every command but `serve`, whose sockets
/// must not end the process when a client goes away.
#[cfg(unix)]
#[allow(unsafe_code)]
fn quiet_on_closed_pipe() {
    // SAFETY: sets one signal's disposition back to the default, first thing in `main`, before
    // any other thread exists; nothing in these commands writes to a socket.
    let _ = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

#[cfg(not(unix))]
fn quiet_on_closed_pipe() {}

/// A `backbone` started as a reading child ([`backbone_ingest::isolate`]) limits its own data
/// segment to what [`backbone_ingest::isolate::MEMORY_LIMIT_ENV`] says, before reading
/// anything: an allocation past it fails, and the process ends instead of the machine
/// swapping.
#[cfg(unix)]
#[allow(unsafe_code)]
fn limit_memory() {
    let Some(bytes) = std::env::var(backbone_ingest::isolate::MEMORY_LIMIT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: `setrlimit` only sets this process's own limit from a plain struct; called
    // first thing in `main`, before any other thread exists.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) };
}

#[cfg(not(unix))]
fn limit_memory() {}

/// How this process reads spreadsheets first: in a child `backbone` (this binary), unless it
/// is such a child itself.
pub(crate) fn isolation(
    workspace: &std::path::Path,
) -> Option<backbone_ingest::isolate::Isolation> {
    if std::env::var_os(backbone_ingest::isolate::MEMORY_LIMIT_ENV).is_some() {
        return None;
    }
    let program = std::env::current_exe().ok()?;
    let mut isolation = backbone_ingest::isolate::Isolation::new(program, workspace.to_path_buf());
    // The bounds can be set for the machine: `BACKBONE_READ_MEMORY_MB`, `BACKBONE_READ_SECONDS`.
    let number = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(mb) = number("BACKBONE_READ_MEMORY_MB") {
        isolation.memory = mb.saturating_mul(1 << 20);
    }
    if let Some(s) = number("BACKBONE_READ_SECONDS") {
        isolation.time = std::time::Duration::from_secs(s);
    }
    Some(isolation)
}

/// Everything backbone writes is the data manager's alone: raw partner files (`archive/`,
/// `inbox/`, `processed/`, the portal's uploads) hold personal data, and the rest is theirs to
/// share on purpose. So every file is created 0600 and every folder 0700, whatever the
/// login's umask (a typical 022 made them readable by every account on the machine).
#[cfg(unix)]
#[allow(unsafe_code)]
fn private_files() {
    // SAFETY: `umask` only sets this process's file-creation mask; called first thing in
    // `main`, before any other thread exists or any file is created.
    let _ = unsafe { libc::umask(0o077) };
}

#[cfg(not(unix))]
fn private_files() {}

fn main() -> ExitCode {
    private_files();
    limit_memory();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        quiet_on_closed_pipe();
    }
    // Log lines (warnings and up unless RUST_LOG says otherwise) go to standard error, with
    // colours only on a terminal.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let result = match cli.command {
        Command::Validate {
            file,
            schema,
            profile,
            format,
            limit_errors,
            workspace,
        } => validate::run(&validate::Args {
            file,
            schema,
            profile,
            json: format == Format::Json,
            limit_errors,
            workspace,
        }),
        Command::Ingest {
            file,
            partner,
            schema,
            period,
            profile,
            workspace,
            format,
        } => ingest::run(&ingest::Args {
            file,
            partner,
            schema,
            period,
            profile,
            workspace,
            json: format == Format::Json,
        }),
        Command::Status {
            schema,
            as_of,
            workspace,
        } => ingest::status(&workspace, schema.as_deref(), as_of),
        Command::History {
            schema,
            as_of,
            workspace,
        } => ingest::history(&workspace, &schema, as_of),
        Command::Export {
            table,
            as_of,
            out,
            raw,
            workspace,
        } => ingest::export(&workspace, &table, as_of, out.as_deref(), raw),
        Command::Sweep {
            older_than_minutes,
            workspace,
        } => ingest::sweep(&workspace, older_than_minutes),
        Command::Optimize { workspace } => lifecycle::optimize(&workspace),
        Command::Vacuum { dry_run, workspace } => lifecycle::vacuum(&workspace, dry_run),
        Command::Erase {
            schema,
            id,
            workspace,
        } => lifecycle::erase(&workspace, &schema, &id),
        Command::Rekey { workspace } => lifecycle::rekey(&workspace),
        Command::Check { workspace } => metrics::check(&workspace),
        Command::Audit { report, workspace } => metrics::audit(&workspace, report.as_deref()),
        Command::Metrics {
            as_of,
            full,
            out,
            workspace,
        } => metrics::metrics(&workspace, as_of.as_deref(), out.as_deref(), full),
        Command::Sql {
            indicator,
            dialect,
            store,
            workspace,
        } => metrics::sql(
            &workspace,
            indicator.as_deref(),
            match dialect {
                SqlDialect::Duckdb => backbone_metrics::sql::Dialect::DuckDb,
                SqlDialect::Spark => backbone_metrics::sql::Dialect::Spark,
            },
            store.as_deref(),
        ),
        Command::Explain {
            indicator,
            period,
            breakdown,
            as_of,
            workspace,
        } => metrics::explain(
            &workspace,
            &indicator,
            &period,
            breakdown.as_deref(),
            as_of.as_deref(),
        ),
        Command::Run { dry_run, workspace } => run::run(&run::Args {
            workspace,
            dry_run,
            quiet: false,
        }),
        Command::Report {
            lang,
            out,
            pdf,
            workspace,
        } => report::run(&report::Args {
            workspace,
            lang: Some(lang),
            out,
            pdf,
        }),
        Command::Serve {
            addr,
            max_upload_mb,
            uploads_per_hour,
            secure_cookies,
            workspace,
        } => serve::serve(&serve::Args {
            workspace,
            addr,
            max_upload_mb,
            uploads_per_hour,
            secure_cookies,
        }),
        Command::Partner {
            command:
                PartnerCommand::Token {
                    partner,
                    admin,
                    workspace,
                },
        } => serve::token(&workspace, partner.as_deref(), admin),
        Command::Profile {
            command:
                ProfileCommand::Draft {
                    file,
                    from_drift,
                    schema,
                    partner,
                    out,
                    workspace,
                },
        } => match (file, from_drift, partner) {
            (_, true, Some(partner)) => profile::from_drift(&workspace, &partner, &schema),
            (Some(file), _, partner) => profile::draft(&profile::DraftArgs {
                file,
                schema,
                partner,
                out,
                workspace,
            }),
            _ => Err(anyhow::anyhow!(
                "give the sample file, or --from-drift with --partner"
            )),
        },
        Command::Close {
            period,
            reopen,
            workspace,
        } => lifecycle::close(&workspace, &period, reopen),
        Command::Approve {
            submission,
            workspace,
        } => lifecycle::approve(&workspace, &submission),
        Command::Publish { period, workspace } => lifecycle::publish(&workspace, period.as_deref()),
        Command::Editions { verify, workspace } => lifecycle::editions(&workspace, verify),
        Command::Cells {
            file,
            sheet,
            max_rows,
        } => profile::cells(&file, sheet.as_deref(), max_rows),
        Command::Init { dir } => init::run(&dir),
        Command::Demo { dir } => demo::run(&dir),
        Command::National {
            dir,
            partners,
            months,
            rows,
            seed,
        } => national::run(
            &dir,
            &national::Size {
                partners,
                months,
                rows,
                seed,
            },
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("backbone: {}", message(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, each cause once: the library errors name their cause
/// in their own message (`nofile.csv: No such file or directory`), so anyhow's `{:#}` would
/// say it twice.
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
