//! The results tables of one store version (`results/`), and what changed since the last.

use std::path::Path;

use backbone_metrics::AsOf;
use backbone_workspace::{Declarations, Layout};

use crate::PipelineError;
use crate::ingest::open_store;

/// What one computation of the results tables said.
#[derive(Clone, Debug)]
pub struct Computed {
    /// One line: how many values, from which store version, where.
    pub line: String,
    /// What changed since the previous results, for people.
    pub changes: String,
    /// The store version the results came from (`service_records@12;population@1`).
    pub store_version: String,
}

/// The declarations, refused when `backbone check` would find a problem.
pub fn consistent_declarations(layout: &Layout) -> Result<Declarations, PipelineError> {
    let decl = Declarations::load(layout)?;
    let problems = decl.check();
    if let Some(p) = problems.first() {
        return Err(PipelineError::Inconsistent {
            first: p.to_string(),
            more: problems.len() - 1,
        });
    }
    Ok(decl)
}

/// Computes the results tables of one store version (`as_of`, default the latest) into `out`
/// (default `WORKSPACE/results`), with `changes.csv` against the previous ones there. The
/// latest version reuses the values of unchanged periods unless `full`.
pub fn compute(
    layout: &Layout,
    as_of: Option<&str>,
    out: Option<&Path>,
    full: bool,
) -> Result<Computed, PipelineError> {
    let decl = consistent_declarations(layout)?;
    let store = open_store(layout)?;
    let as_of = match as_of {
        Some(text) => AsOf::parse(text, &store.schemas()?)?,
        None => AsOf::default(),
    };
    let dir = out.map_or_else(|| layout.results(), Path::to_path_buf);
    let (results, incremental) = if as_of.0.is_empty() && !full {
        backbone_metrics::compute_since(&store, &decl, &dir)?
    } else if as_of.0.is_empty() {
        (backbone_metrics::compute_full(&store, &decl, &dir)?, None)
    } else {
        (backbone_metrics::compute(&store, &decl, &as_of)?, None)
    };
    // The previous results, to say what changed and why.
    let started = std::time::Instant::now();
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
    tracing::debug!(took = ?started.elapsed(), "previous results and the submissions since");
    let started = std::time::Instant::now();
    backbone_metrics::write_all(&results, &dir)?;
    let summary = backbone_metrics::write_changes(&results, previous.as_ref(), &since, &dir)?;
    tracing::debug!(took = ?started.elapsed(), "results written");
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
        store_version: results.store_version,
    })
}
