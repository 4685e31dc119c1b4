//! `backbone check`, `backbone metrics` and `backbone explain`: the indicator declarations,
//! their results (computed by the pipeline crate), and the rows behind one value, printed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use backbone_metrics::AsOf;
use backbone_pipeline::open_store;
use backbone_workspace::{Declarations, Layout};

/// `backbone check`: every declaration against the schemas; exit 1 when any is wrong.
pub(crate) fn check(workspace: &Path) -> Result<ExitCode> {
    let decl = Declarations::load(&Layout::new(workspace))?;
    let problems = decl.check();
    if problems.is_empty() {
        println!(
            "{} schema(s), {} indicator(s), {} partner(s), {} obligation(s): all consistent",
            decl.schemas.len(),
            decl.indicators.len(),
            decl.initiative.partners.len(),
            decl.initiative.obligations.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("{p}");
    }
    println!("{} problem(s)", problems.len());
    Ok(ExitCode::from(1))
}

/// `backbone metrics`: the results tables of one store version.
pub(crate) fn metrics(
    workspace: &Path,
    as_of: Option<&str>,
    out: Option<&Path>,
    full: bool,
) -> Result<ExitCode> {
    let c = backbone_pipeline::results::compute(&Layout::new(workspace), as_of, out, full)?;
    println!("{}", c.line);
    println!("{}", c.changes);
    Ok(ExitCode::SUCCESS)
}

/// `backbone explain`: the submissions behind one value.
pub(crate) fn explain(
    workspace: &Path,
    indicator: &str,
    period: &str,
    breakdown: Option<&str>,
    as_of: Option<&str>,
) -> Result<ExitCode> {
    let decl = Declarations::load(&Layout::new(workspace))?;
    let store = open_store(&Layout::new(workspace))?;
    let as_of = match as_of {
        Some(text) => AsOf::parse(text, &store.schemas()?)?,
        None => AsOf::default(),
    };
    let breakdown = breakdown.unwrap_or("");
    let sides = backbone_metrics::explain(&store, &decl, &as_of, indicator, period, breakdown)?;
    println!(
        "{indicator} {period}{}",
        if breakdown.is_empty() {
            String::new()
        } else {
            format!(" [{breakdown}]")
        }
    );
    for (side, rows) in sides {
        let total: u64 = rows.iter().map(|r| r.1).sum();
        println!("  {side}: {total} row(s) from {} submission(s)", rows.len());
        let cells: Vec<Vec<String>> = rows
            .into_iter()
            .map(|(s, n)| {
                vec![
                    s.partner,
                    s.period,
                    s.file_name,
                    format!("received {}", s.received),
                    format!("{n} row(s)"),
                    format!("({})", s.id),
                ]
            })
            .collect();
        for line in crate::table::lines(&cells, &[false, false, false, false, true]) {
            println!("    {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
