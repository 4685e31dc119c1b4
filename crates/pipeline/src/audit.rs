//! `backbone audit`: the attacker's check on what a committee member receives. It reads the
//! published report folder (`reports/latest/` by default) — every `indicators.csv` in it, the
//! same numbers the HTML, the workbook and `summary.md` print — and tries to recover every
//! suppressed count from all of them together ([`backbone_disclosure::audit`]). It also names
//! any table of the data manager's found in the folder.

use std::path::{Path, PathBuf};

use backbone_disclosure::Finding;
use backbone_schema::Indicator;
use backbone_workspace::tables::{ValueRow, files};
use backbone_workspace::{Declarations, Layout};

use crate::PipelineError;

/// What the audit read and found.
#[derive(Debug, Default)]
pub struct Audit {
    /// The published tables read.
    pub read: Vec<PathBuf>,
    /// Suppressed counts a reader can pin, and counts published with two values.
    pub findings: Vec<Finding>,
    /// Tables kept for the data manager that are in the published folder.
    pub not_for_publication: Vec<PathBuf>,
}

impl Audit {
    /// Whether nothing was found.
    pub fn clean(&self) -> bool {
        self.findings.is_empty() && self.not_for_publication.is_empty()
    }
}

/// Audits the published folder `folder` (the latest report when `None`).
pub fn audit(
    layout: &Layout,
    decl: &Declarations,
    folder: Option<&Path>,
) -> Result<Audit, PipelineError> {
    let folder = folder.map_or_else(|| layout.latest_report(), Path::to_path_buf);
    let mut out = Audit::default();
    let mut tables = Vec::new();
    walk(&folder, &mut tables, &mut out.not_for_publication)?;
    tables.sort();
    out.not_for_publication.sort();
    let mut rows: Vec<ValueRow> = Vec::new();
    for t in &tables {
        rows.extend(ValueRow::read(t)?);
    }
    out.read = tables;
    let indicators: Vec<&Indicator> = decl.indicators.iter().map(|(_, i)| i).collect();
    out.findings = backbone_disclosure::audit(&indicators, decl.initiative.threshold, &rows)
        .map_err(backbone_metrics::MetricsError::from)?;
    Ok(out)
}

/// Every `indicators.csv` under `dir`, and every data manager's table.
fn walk(
    dir: &Path,
    tables: &mut Vec<PathBuf>,
    misplaced: &mut Vec<PathBuf>,
) -> Result<(), PipelineError> {
    let entries = std::fs::read_dir(dir).map_err(|e| PipelineError::io("reading", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| PipelineError::io("reading", dir, e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| PipelineError::io("reading", &path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() {
            walk(&path, tables, misplaced)?;
        } else if name == files::INDICATORS_CSV {
            tables.push(path);
        } else if files::DATA_MANAGER_ONLY.contains(&name.as_str()) {
            misplaced.push(path);
        }
    }
    Ok(())
}
