//! `backbone run`: the whole night (the pipeline crate's [`backbone_pipeline::night`]),
//! printed; and what `backbone status` adds about missing files and the last runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use backbone_pipeline::{NightOptions, night, summary_text};
use backbone_workspace::Layout;
use backbone_workspace::tables::{ExpectedRow, RunSummary, files};

/// Options of one night.
pub(crate) struct Args {
    pub(crate) workspace: PathBuf,
    pub(crate) dry_run: bool,
    /// Print nothing but errors (the demo runs many nights).
    pub(crate) quiet: bool,
}

/// `backbone run`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let summary = night(
        &Layout::new(&args.workspace),
        &NightOptions {
            dry_run: args.dry_run,
            quiet: args.quiet,
            isolation: crate::isolation(&args.workspace),
        },
    )?;
    if !args.quiet {
        println!("{}", summary_text(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// For `backbone status`: what is missing per period (from the last results), and the last
/// runs.
pub(crate) fn print_missing_and_runs(ws: &Path) -> Result<()> {
    let layout = Layout::new(ws);
    let completeness = layout.results().join(files::COMPLETENESS_CSV);
    if completeness.is_file() {
        let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in ExpectedRow::read(&completeness)? {
            if e.status == "missing" {
                missing
                    .entry(format!("{} {}", e.schema, e.period))
                    .or_default()
                    .push(e.partner);
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
    let runs = RunSummary::all(&layout.runs());
    if !runs.is_empty() {
        println!("\nlast runs:");
    }
    for run in runs.iter().rev().take(5) {
        println!(
            "  {}  {} file(s), {:.1} s{}",
            run.started,
            run.files.len(),
            run.seconds,
            if run.store_changed {
                ", store changed"
            } else {
                ""
            }
        );
    }
    Ok(())
}
