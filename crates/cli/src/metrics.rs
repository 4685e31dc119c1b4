//! `backbone check` and `backbone metrics`: the indicator declarations, and their results.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use backbone_metrics::{AsOf, Declarations};

use crate::ingest::open_store;

/// `backbone check`: every declaration against the schemas; exit 1 when any is wrong.
pub(crate) fn check(workspace: &Path) -> Result<ExitCode> {
    let decl = Declarations::load(workspace)?;
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

/// What one computation of the results tables said.
pub(crate) struct Computed {
    /// One line: how many values, from which store version, where.
    pub(crate) line: String,
    /// What changed since the previous results, for people.
    pub(crate) changes: String,
}

/// `backbone metrics`: the results tables of one store version.
pub(crate) fn metrics(
    workspace: &Path,
    as_of: Option<&str>,
    out: Option<&Path>,
    full: bool,
) -> Result<ExitCode> {
    let c = compute(workspace, as_of, out, full)?;
    println!("{}", c.line);
    println!("{}", c.changes);
    Ok(ExitCode::SUCCESS)
}

/// Computes the results tables of one store version into `out` (default
/// `WORKSPACE/results`), with `changes.csv` against the previous ones there.
pub(crate) fn compute(
    workspace: &Path,
    as_of: Option<&str>,
    out: Option<&Path>,
    full: bool,
) -> Result<Computed> {
    let decl = Declarations::load(workspace)?;
    let problems = decl.check();
    if let Some(p) = problems.first() {
        anyhow::bail!(
            "{p}{}; run `backbone check` for the list",
            if problems.len() > 1 {
                format!(" (and {} more problems)", problems.len() - 1)
            } else {
                String::new()
            }
        );
    }
    let store = open_store(workspace)?;
    let as_of = match as_of {
        Some(text) => AsOf::parse(text, &store.schemas()?)?,
        None => AsOf::default(),
    };
    let dir = out.map_or_else(|| workspace.join("results"), Path::to_path_buf);
    // The latest version reuses the values of unchanged periods; an old version, or
    // `--full`, is computed whole.
    let (results, incremental) = if as_of.0.is_empty() && !full {
        backbone_metrics::compute_since(&store, &decl, &dir)?
    } else {
        (backbone_metrics::compute(&store, &decl, &as_of)?, None)
    };
    // The previous results, to say what changed and why.
    let previous = backbone_metrics::read_previous(&dir);
    let before = previous
        .as_ref()
        .and_then(|p| p.values().next().map(|v| v.store_version.clone()))
        .map(|v| AsOf::parse(&v, &store.schemas().unwrap_or_default()))
        .transpose()
        .unwrap_or_default()
        .unwrap_or_default();
    let mut since = Vec::new();
    for schema in store.schemas()? {
        let from = before.0.get(&schema).copied();
        for s in store.submissions(&schema, None)? {
            if s.table_version.is_some_and(|v| from.is_none_or(|f| v > f)) {
                since.push(s);
            }
        }
    }
    backbone_metrics::write_all(&results, &dir)
        .with_context(|| format!("writing results to {}", dir.display()))?;
    let summary = backbone_metrics::write_changes(&results, previous.as_ref(), &since, &dir)?;
    let suppressed = results.rows.iter().filter(|r| r.suppressed).count();
    let line = format!(
        "{} value(s) of {} indicator(s) from store version {} ({} suppressed); {} expected submission(s); results in {}",
        results.rows.len(),
        decl.indicators.len(),
        results.store_version,
        suppressed,
        results.expected.len(),
        dir.display()
    );
    let line = match incremental {
        Some(how) => format!("{line}\n{how}"),
        None => line,
    };
    Ok(Computed {
        line,
        changes: summary,
    })
}

/// `backbone explain`: the submissions behind one value.
pub(crate) fn explain(
    workspace: &Path,
    indicator: &str,
    period: &str,
    breakdown: Option<&str>,
    as_of: Option<&str>,
) -> Result<ExitCode> {
    let decl = Declarations::load(workspace)?;
    let store = open_store(workspace)?;
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
