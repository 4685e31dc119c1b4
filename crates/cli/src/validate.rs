//! `backbone validate`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use backbone_ingest::{IngestError, Options, ValidationReport, validate_file};
use backbone_workspace::{Layout, resolve_schema, with_profile};

pub(crate) struct Args {
    pub(crate) file: PathBuf,
    pub(crate) schema: String,
    pub(crate) profile: Option<PathBuf>,
    pub(crate) json: bool,
    pub(crate) limit_errors: usize,
    pub(crate) workspace: PathBuf,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let schema = resolve_schema(&Layout::new(&args.workspace), &args.schema)?;
    let (schema, profile) = with_profile(&schema, args.profile.as_deref())?;
    let options = Options {
        profile,
        error_limit: args.limit_errors,
        ..Options::default()
    };
    // A spreadsheet is read first by a child within its own memory and time.
    if let Some(isolation) = crate::isolation(&args.workspace)
        && let Err(e) = isolation.check(
            &args.file,
            &args.file.display().to_string(),
            &args.schema,
            args.profile.as_deref(),
        )
    {
        return unreadable(&e, args.json);
    }
    let mut report = match validate_file(&args.file, &schema, &options) {
        Ok(r) => r,
        Err(e) => return unreadable(&e, args.json),
    };
    if report.is_wrong_file() {
        let layout = Layout::new(&args.workspace);
        report.name_closest_schema(&backbone_pipeline::workspace_schemas(&layout));
    }
    print_report(&report, args.json)?;
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn print_report(report: &ValidationReport, json: bool) -> Result<()> {
    let text = if json {
        let mut s =
            serde_json::to_string_pretty(&report.to_json()).context("writing the report")?;
        s.push('\n');
        s
    } else {
        report.to_text()
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // `backbone validate … | head` closes the pipe early: not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

/// A file that cannot be read at all: one line on stderr (and a JSON document on stdout for
/// tools), exit 2.
fn unreadable(e: &IngestError, json: bool) -> Result<ExitCode> {
    if json {
        let kind = match e {
            IngestError::Encoding { .. } | IngestError::UnknownEncoding { .. } => "encoding-error",
            IngestError::TooLarge { .. } | IngestError::TooCostly { .. } => "source-too-large",
            _ => "source-error",
        };
        let doc = serde_json::json!({
            "valid": false,
            "verdict": "rejected",
            "stats": {"rows": 0, "errors": 1},
            "errors": [{"type": kind, "message": e.to_string(), "severity": "error"}],
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    eprintln!("backbone: {e}");
    Ok(ExitCode::from(2))
}
