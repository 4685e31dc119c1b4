//! `backbone profile draft`: a partner profile proposed from a sample file, then the file
//! validated with it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use backbone_ingest::{Limits, Options, draft_profile, profile_change, read_cells, validate_file};
use backbone_schema::Profile;
use backbone_workspace::{Layout, resolve_schema};

pub(crate) struct DraftArgs {
    pub(crate) file: PathBuf,
    pub(crate) schema: String,
    pub(crate) partner: Option<String>,
    pub(crate) out: Option<PathBuf>,
    pub(crate) workspace: PathBuf,
}

pub(crate) fn draft(args: &DraftArgs) -> Result<ExitCode> {
    let schema = resolve_schema(&Layout::new(&args.workspace), &args.schema)?;
    let name = args.file.display().to_string();
    let draft = draft_profile(
        &args.file,
        &name,
        &schema,
        args.partner.as_deref(),
        &Limits::default(),
    )
    .with_context(|| format!("drafting a profile from {name}"))?;
    match &args.out {
        Some(path) => std::fs::write(path, &draft.toml)
            .with_context(|| format!("writing {}", path.display()))?,
        None => match std::io::stdout().lock().write_all(draft.toml.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("writing the profile")?,
        },
    }
    // What the file would look like under the draft: the data manager's next read.
    let profile = Profile::from_toml(&draft.toml, "the draft")
        .context("the draft does not read back as a profile (a bug in backbone)")?;
    let merged = schema
        .with_profile(&profile, "the draft")
        .context("the draft does not fit the schema")?;
    let options = Options {
        profile: Some(profile),
        display_name: Some(name.clone()),
        ..Options::default()
    };
    let report = validate_file(&args.file, &merged, &options)
        .with_context(|| format!("validating {name} with the draft"))?;
    let mut err = std::io::stderr().lock();
    if !draft.doubts.is_empty() {
        writeln!(err, "\nCheck these first:")?;
        for d in &draft.doubts {
            writeln!(err, "  - {d}")?;
        }
    }
    let s = &report.stats;
    writeln!(
        err,
        "\nWith this profile, {name}: {} rows read, {} accepted, {} rejected.",
        s.rows, s.accepted, s.rejected
    )?;
    if s.rejected > 0 || !report.valid {
        writeln!(err, "What would still be rejected:\n")?;
        err.write_all(report.to_text().as_bytes())?;
    }
    if let Some(path) = &args.out {
        writeln!(err, "\nThe profile is in {}.", path.display())?;
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The profile change a partner's latest drift asks for, to add to its profile.
pub(crate) fn from_drift(
    workspace: &std::path::Path,
    partner: &str,
    schema: &str,
) -> Result<ExitCode> {
    let layout = Layout::new(workspace);
    let table = resolve_schema(&layout, schema)?;
    let Some(known) = backbone_pipeline::known_header(&layout, partner, &table.name) else {
        anyhow::bail!(
            "no accepted file of {partner} for {} yet: nothing to compare with",
            table.name
        );
    };
    let change = profile_change(&known, &table);
    if change.trim().is_empty() {
        println!(
            "# {partner}'s latest file ({}) is read by its profile as it is: nothing to change.",
            known.submission
        );
        return Ok(ExitCode::SUCCESS);
    }
    let profile = layout.profile(partner);
    println!(
        "# What {partner}'s latest file ({}) changed, as lines for {}:",
        known.submission,
        profile.map_or_else(
            || format!("pipelines/profiles/{partner}.toml (new)"),
            |p| p.display().to_string()
        )
    );
    for line in known.drift.lines() {
        println!("#   {line}");
    }
    print!("{change}");
    Ok(ExitCode::SUCCESS)
}

/// `backbone cells`: the cells as backbone reads them, for comparing with other readers.
pub(crate) fn cells(
    file: &std::path::Path,
    sheet: Option<&str>,
    max_rows: usize,
) -> Result<ExitCode> {
    let name = file.display().to_string();
    let cells = read_cells(file, &name, sheet, &Limits::default(), max_rows)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "sheet": cells.sheet,
            "encoding": cells.encoding,
            "delimiter": cells.delimiter.map(String::from),
        })
    )?;
    for (n, row) in cells.rows {
        writeln!(out, "{}", serde_json::json!({ "row": n, "cells": row }))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
