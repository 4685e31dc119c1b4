//! `backbone validate`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use backbone_ingest::{IngestError, Options, ValidationReport, validate_file};
use backbone_schema::{Profile, TableSchema};

pub(crate) struct Args {
    pub(crate) file: PathBuf,
    pub(crate) schema: String,
    pub(crate) profile: Option<PathBuf>,
    pub(crate) json: bool,
    pub(crate) limit_errors: usize,
    pub(crate) workspace: PathBuf,
}

/// A schema given as a path, or as a name under `data-schemas/`.
pub(crate) fn resolve_schema(workspace: &Path, schema: &str) -> Result<TableSchema> {
    let direct = PathBuf::from(schema);
    let path = if direct.is_file() {
        direct
    } else {
        let named = workspace
            .join("data-schemas")
            .join(format!("{schema}.json"));
        if named.is_file() {
            named
        } else {
            anyhow::bail!(
                "no schema {schema:?}: not a file, and not in {}",
                workspace.join("data-schemas").display()
            );
        }
    };
    Ok(TableSchema::load(&path)?)
}

/// The schema adapted to a partner's profile, and the reading options it implies.
pub(crate) fn prepare(
    schema: &TableSchema,
    profile: Option<&Path>,
) -> Result<(TableSchema, Options)> {
    let mut options = Options::default();
    let schema = match profile {
        Some(p) => {
            let prof = Profile::load(p)?;
            let merged = schema.with_profile(&prof, &p.display().to_string())?;
            options.profile = Some(prof);
            merged
        }
        None => schema.clone(),
    };
    Ok((schema, options))
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let schema = resolve_schema(&args.workspace, &args.schema)?;
    let (schema, mut options) = prepare(&schema, args.profile.as_deref())?;
    options.error_limit = args.limit_errors;
    let report = match validate_file(&args.file, &schema, &options) {
        Ok(r) => r,
        Err(e) => return unreadable(&e, args.json),
    };
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
            IngestError::TooLarge { .. } => "source-too-large",
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
