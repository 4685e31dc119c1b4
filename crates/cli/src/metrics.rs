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
    let layout = Layout::new(workspace);
    let decl = Declarations::load(&layout)?;
    // Properties outside the standard load (a schema written for other tools is welcome)
    // but are named, so that a misspelt constraint is seen.
    for (name, schema) in &decl.schemas {
        let file = layout.schema(name);
        let file = file.strip_prefix(workspace).unwrap_or(&file);
        for path in &schema.unknown {
            println!(
                "note: {}: {path}: not a property backbone acts on; loaded and ignored",
                file.display()
            );
        }
    }
    // A language the declarations may hold texts in, but backbone's own words do not ship in.
    for code in &decl.initiative.languages {
        if !backbone_report::Lang::ALL.iter().any(|l| l.code() == code) {
            println!(
                "note: pipelines/initiative.toml: languages: {code:?}: its texts are kept, but backbone's own words (report, receipts, portal) ship in {}; no report is written in it, and a partner reading it gets English receipts",
                backbone_report::Lang::ALL
                    .map(backbone_report::Lang::code)
                    .join(", ")
            );
        }
    }
    let problems = decl.check();
    // Each indicator's history of definitions, in words.
    let fm = decl.initiative.first_month;
    for (_, ind) in &decl.indicators {
        for (k, v) in ind.versions.iter().enumerate() {
            let n = u32::try_from(k).map_or(u32::MAX, |k| k.saturating_add(2));
            let from = backbone_workspace::definitions::start_of(ind, n, fm)
                .map_or_else(|| v.since.clone(), |p| p.label());
            println!(
                "{}: definition {n} from {from}{}{}",
                ind.id,
                if v.backcast {
                    ", recomputed over the whole series (backcast)"
                } else {
                    "; the series breaks there"
                },
                if v.reason.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", v.reason.get("en"))
                }
            );
            for change in ind.changes(n) {
                println!("    {change}");
            }
        }
    }
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

/// `backbone audit`: the attacker's check on the published report.
pub(crate) fn audit(workspace: &Path, report: Option<&Path>) -> Result<ExitCode> {
    let layout = Layout::new(workspace);
    let decl = Declarations::load(&layout)?;
    let a = backbone_pipeline::audit::audit(&layout, &decl, report)?;
    for t in &a.read {
        println!("read {}", t.display());
    }
    for f in &a.findings {
        println!("DISCLOSED {f}");
    }
    for p in &a.not_for_publication {
        println!(
            "NOT FOR PUBLICATION {}: a data manager's table in the published folder",
            p.display()
        );
    }
    if a.clean() {
        println!(
            "nothing recoverable: no suppressed count can be pinned from the {} table(s) read together",
            a.read.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{} finding(s), {} table(s) not for publication",
            a.findings.len(),
            a.not_for_publication.len()
        );
        Ok(ExitCode::from(1))
    }
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
    // Which definition the value was computed under, when the indicator has had several.
    if let Some((_, ind)) = decl.indicators.iter().find(|(_, i)| i.id == indicator)
        && !ind.versions.is_empty()
        && let Some(p) = backbone_workspace::Period::parse(period)
    {
        let fm = decl.initiative.first_month;
        let n = backbone_workspace::definitions::definition_for(ind, p, fm);
        let reason = (n >= 2)
            .then(|| ind.versions.get(n as usize - 2))
            .flatten()
            .map(|v| v.reason.get("en").to_owned())
            .filter(|r| !r.is_empty())
            .map_or_else(String::new, |r| format!(" ({r})"));
        println!(
            "  computed under definition {n} of {}{reason}",
            ind.definitions()
        );
    }
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

/// `backbone sql`: the indicators as SQL for DuckDB or Spark over the store's Delta tables.
pub(crate) fn sql(
    workspace: &Path,
    indicator: Option<&str>,
    dialect: backbone_metrics::sql::Dialect,
    store: Option<&str>,
) -> Result<ExitCode> {
    let layout = Layout::new(workspace);
    let decl = Declarations::load(&layout)?;
    let root = match store {
        Some(s) => s.trim_end_matches('/').to_owned(),
        None => std::path::absolute(layout.store())?.display().to_string(),
    };
    let text = backbone_metrics::sql::sql(&decl, indicator, dialect, &|schema| {
        format!("{root}/tables/{schema}")
    })?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
