//! The results tables on disk: the CSV rows are the workspace crate's (`ValueRow`,
//! `ExpectedRow`, `QualityRow`: UTF-8 with a BOM, formula-like text neutralised, read back by
//! column name), the Parquet file is polars'.

use std::path::Path;

use backbone_workspace::tables::{
    ExpectedRow, QualityRow, ValueRow, files, neutralise, number, write_csv,
};
use polars::prelude::*;

use crate::{MetricsError, Results};

fn write_rows(path: &Path, header: &[&str], rows: Vec<Vec<String>>) -> Result<(), MetricsError> {
    Ok(write_csv(path, header, &rows)?)
}

/// The results table as a polars frame (the Parquet file's content).
pub fn results_frame(results: &Results) -> Result<DataFrame, MetricsError> {
    let r = &results.rows;
    let text = |f: &dyn Fn(&crate::ValueRow) -> String| r.iter().map(f).collect::<Vec<_>>();
    let num = |f: &dyn Fn(&crate::ValueRow) -> Option<f64>| r.iter().map(f).collect::<Vec<_>>();
    let columns = vec![
        Column::new("indicator".into(), text(&|x| x.indicator.clone())),
        Column::new("period".into(), text(&|x| x.period.clone())),
        Column::new("breakdown".into(), text(&|x| x.breakdown.clone())),
        Column::new("value".into(), num(&|x| x.value)),
        Column::new("numerator".into(), num(&|x| x.numerator)),
        Column::new("denominator".into(), num(&|x| x.denominator)),
        Column::new(
            "suppressed".into(),
            r.iter().map(|x| x.suppressed).collect::<Vec<_>>(),
        ),
        Column::new("coverage".into(), num(&|x| x.coverage)),
        Column::new("baseline".into(), num(&|x| x.baseline)),
        Column::new("target".into(), num(&|x| x.target)),
        Column::new("status".into(), text(&|x| x.status.clone())),
        Column::new("store_version".into(), text(&|x| x.store_version.clone())),
        Column::new(
            "definition".into(),
            r.iter().map(|x| x.definition.max(1)).collect::<Vec<u32>>(),
        ),
    ];
    DataFrame::new_infer_height(columns).map_err(|e| MetricsError::Output {
        path: "indicators.parquet".into(),
        message: e.to_string(),
    })
}

/// Writes `indicators.csv`, `indicators.parquet`, `completeness.csv` and `quality.csv` into
/// `dir`.
pub fn write_all(results: &Results, dir: &Path) -> Result<(), MetricsError> {
    std::fs::create_dir_all(dir).map_err(|e| MetricsError::Output {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    ValueRow::write(&dir.join(files::INDICATORS_CSV), &results.rows)?;

    let path = dir.join(files::INDICATORS_PARQUET);
    let err = |e: &dyn std::fmt::Display| MetricsError::Output {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut df = results_frame(results)?;
    let file = std::fs::File::create(&path).map_err(|e| err(&e))?;
    ParquetWriter::new(file)
        .finish(&mut df)
        .map_err(|e| err(&e))?;
    // What these results were computed from, for the next incremental computation.
    let basis = dir.join(files::BASIS_JSON);
    // In one order whichever way they were computed (full, incremental).
    let mut cells: Vec<&Cell> = results.cells.iter().collect();
    cells.sort_by(|a, b| {
        (&a.indicator, &a.period, &a.breakdown).cmp(&(&b.indicator, &b.period, &b.breakdown))
    });
    let doc = serde_json::json!({
        "store_version": results.store_version,
        "declarations": results.declarations,
        "means": results.means,
        "cells": cells,
    });
    std::fs::write(&basis, doc.to_string()).map_err(|e| MetricsError::Output {
        path: basis.display().to_string(),
        message: e.to_string(),
    })?;
    // The months' distinct sets of these results, or none (sets of other results would be
    // taken for these, and hold pseudonyms for nothing).
    let kept = match &results.kept {
        Some(staged) => staged.commit(dir, &results.store_version, &results.declarations),
        None => crate::compute::kept::forget(dir),
    };
    kept.map_err(|e| MetricsError::Output {
        path: dir.join(crate::compute::kept::DIR).display().to_string(),
        message: e.to_string(),
    })?;

    let expected: Vec<ExpectedRow> = results
        .expected
        .iter()
        .map(|e| ExpectedRow {
            partner: e.partner.clone(),
            schema: e.schema.clone(),
            period: e.period.clone(),
            due: e.due.clone(),
            status: e.status.clone(),
            received: e.received.clone().unwrap_or_default(),
            submission: e.submission.clone().unwrap_or_default(),
        })
        .collect();
    ExpectedRow::write(&dir.join(files::COMPLETENESS_CSV), &expected)?;

    let quality: Vec<QualityRow> = results
        .quality
        .iter()
        .map(|q| {
            let s = &q.submission;
            QualityRow {
                partner: s.partner.clone(),
                schema: s.schema.clone(),
                period: s.period.clone(),
                submission: s.id.clone(),
                file: s.file_name.clone(),
                received: s.received.clone(),
                rows_read: s.rows_read,
                rows_accepted: s.rows_accepted,
                rows_rejected: s.rows_rejected,
                rejected_share: q.rejected_share,
                main_errors: q.main_errors.clone(),
                timeliness: q.timeliness.clone(),
                volume: q.volume.clone(),
                unusual: q.unusual.clone(),
            }
        })
        .collect();
    Ok(QualityRow::write(&dir.join(files::QUALITY_CSV), &quality)?)
}

/// The store version and declarations fingerprint of the results in `dir`.
pub fn read_basis(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(dir.join(files::BASIS_JSON)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((
        v["store_version"].as_str()?.to_owned(),
        v["declarations"].as_str()?.to_owned(),
    ))
}

/// One value before disclosure control, as the stage received it: what an incremental
/// computation gives the stage again for the periods of a year it does not recompute. Kept in
/// `basis.json` (the data manager's alone: these are the true small counts).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    /// The indicator.
    pub indicator: String,
    /// The period label.
    pub period: String,
    /// The breakdown (`region=צפון`; empty for the total).
    pub breakdown: String,
    /// The value.
    pub value: Option<f64>,
    /// A ratio's or a rate's numerator, a count's count.
    pub numerator: Option<f64>,
    /// A ratio's or a rate's denominator.
    pub denominator: Option<f64>,
    /// Hidden already (a sum's or a mean's own small cells).
    pub suppressed: bool,
}

impl Cell {
    pub(crate) fn of(r: &crate::ValueRow) -> Self {
        Self {
            indicator: r.indicator.clone(),
            period: r.period.clone(),
            breakdown: r.breakdown.clone(),
            value: r.value,
            numerator: r.numerator,
            denominator: r.denominator,
            suppressed: r.suppressed,
        }
    }

    pub(crate) fn row(&self) -> crate::ValueRow {
        crate::ValueRow {
            indicator: self.indicator.clone(),
            period: self.period.clone(),
            breakdown: self.breakdown.clone(),
            value: self.value,
            numerator: self.numerator,
            denominator: self.denominator,
            suppressed: self.suppressed,
            ..crate::ValueRow::default()
        }
    }
}

/// The values before disclosure control kept with the results in `dir` (`basis.json`).
pub fn read_cells(dir: &Path) -> Option<Vec<Cell>> {
    let text = std::fs::read_to_string(dir.join(files::BASIS_JSON)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(v.get("cells")?.clone()).ok()
}

/// The means per submission kept with the results in `dir` (`basis.json`).
pub fn read_means(
    dir: &Path,
) -> Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>> {
    let text = std::fs::read_to_string(dir.join(files::BASIS_JSON)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(v.get("means")?.clone()).ok()
}

/// The rows of `dir/indicators.parquet`, exactly as computed (the CSV rounds).
pub fn read_results(dir: &Path) -> Option<Vec<crate::ValueRow>> {
    let file = std::fs::File::open(dir.join(files::INDICATORS_PARQUET)).ok()?;
    let df = ParquetReader::new(file).finish().ok()?;
    let text = |name: &str| -> Option<Vec<String>> {
        let c = df.column(name).ok()?.str().ok()?.clone();
        Some(
            (0..c.len())
                .map(|i| c.get(i).unwrap_or_default().to_owned())
                .collect(),
        )
    };
    let num = |name: &str| -> Option<Vec<Option<f64>>> {
        let c = df.column(name).ok()?.f64().ok()?.clone();
        Some((0..c.len()).map(|i| c.get(i)).collect())
    };
    let (indicator, period, breakdown, status, store_version) = (
        text("indicator")?,
        text("period")?,
        text("breakdown")?,
        text("status")?,
        text("store_version")?,
    );
    let (value, numerator, denominator, coverage, baseline, target) = (
        num("value")?,
        num("numerator")?,
        num("denominator")?,
        num("coverage")?,
        num("baseline")?,
        num("target")?,
    );
    // Results written before definitions were versioned: the first definition.
    let definition: Vec<u32> = match df.column("definition").ok().and_then(|c| c.u32().ok()) {
        Some(c) => (0..c.len()).map(|i| c.get(i).unwrap_or(1)).collect(),
        None => vec![1; df.height()],
    };
    let flags = df.column("suppressed").ok()?.bool().ok()?.clone();
    let suppressed: Vec<bool> = (0..flags.len())
        .map(|i| flags.get(i).unwrap_or(false))
        .collect();
    Some(
        (0..df.height())
            .map(|i| crate::ValueRow {
                indicator: indicator[i].clone(),
                period: period[i].clone(),
                breakdown: breakdown[i].clone(),
                value: value[i],
                numerator: numerator[i],
                denominator: denominator[i],
                suppressed: suppressed[i],
                coverage: coverage[i],
                baseline: baseline[i],
                target: target[i],
                status: status[i].clone(),
                store_version: store_version[i].clone(),
                definition: definition[i],
            })
            .collect(),
    )
}

/// One value as a previous run published it.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    /// The value (`None`: suppressed or not computable).
    pub value: Option<f64>,
    /// Whether it was suppressed.
    pub suppressed: bool,
    /// The store version it came from.
    pub store_version: String,
}

/// The values of a previous `indicators.csv`, by (indicator, period, breakdown); `None` when
/// there is none (the first run).
pub fn read_previous(
    dir: &Path,
) -> Option<std::collections::BTreeMap<(String, String, String), Published>> {
    let rows = ValueRow::read(&dir.join(files::INDICATORS_CSV)).ok()?;
    let mut out = std::collections::BTreeMap::new();
    for r in rows {
        out.insert(
            (r.indicator, r.period, r.breakdown),
            Published {
                value: r.value,
                suppressed: r.suppressed,
                store_version: r.store_version,
            },
        );
    }
    Some(out)
}

/// Writes `changes.csv`: every value that differs from the previous run's, with the
/// submissions that arrived or were superseded since; returns a short summary for people.
pub fn write_changes(
    results: &Results,
    previous: Option<&std::collections::BTreeMap<(String, String, String), Published>>,
    since: &[backbone_store::Submission],
    dir: &Path,
) -> Result<String, MetricsError> {
    let Some(previous) = previous else {
        write_rows(&dir.join(files::CHANGES_CSV), &CHANGE_COLUMNS, Vec::new())?;
        return Ok("first results: nothing to compare with".into());
    };
    let causes = since
        .iter()
        .map(|s| match &s.supersedes {
            Some(old) => format!("{} (replaces {old})", s.id),
            None => s.id.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in &results.rows {
        let key = (r.indicator.clone(), r.period.clone(), r.breakdown.clone());
        let before = previous.get(&key);
        seen.insert(key);
        let changed = match before {
            None => true,
            Some(b) => b.suppressed != r.suppressed || !same(b.value, r.value),
        };
        if changed {
            rows.push(change_row(
                &r.indicator,
                &r.period,
                &r.breakdown,
                before.and_then(|b| b.value),
                r.value,
                before.is_some_and(|b| b.suppressed),
                r.suppressed,
                &causes,
            ));
        }
    }
    for (k, b) in previous {
        if !seen.contains(k) {
            rows.push(change_row(
                &k.0,
                &k.1,
                &k.2,
                b.value,
                None,
                b.suppressed,
                false,
                &causes,
            ));
        }
    }
    let n = rows.len();
    write_rows(&dir.join(files::CHANGES_CSV), &CHANGE_COLUMNS, rows)?;
    Ok(if n == 0 {
        "no value changed".to_owned()
    } else {
        format!(
            "{n} value(s) changed since the previous results, after {} new submission(s)",
            since.len()
        )
    })
}

const CHANGE_COLUMNS: [&str; 9] = [
    "indicator",
    "period",
    "breakdown",
    "before",
    "after",
    "change",
    "suppressed_before",
    "suppressed_after",
    "submissions",
];

/// Whether two values are the same as published: the previous one is read back from
/// `indicators.csv`, which keeps six decimals, so a value is compared as it is written there.
fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
                || backbone_workspace::tables::number(Some(a))
                    == backbone_workspace::tables::number(Some(b))
        }
        (None, None) => true,
        _ => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn change_row(
    indicator: &str,
    period: &str,
    breakdown: &str,
    before: Option<f64>,
    after: Option<f64>,
    suppressed_before: bool,
    suppressed_after: bool,
    causes: &str,
) -> Vec<String> {
    let change = match (before, after) {
        (Some(b), Some(a)) => number(Some(a - b)),
        _ => String::new(),
    };
    vec![
        neutralise(indicator),
        neutralise(period),
        neutralise(breakdown),
        number(before),
        number(after),
        change,
        suppressed_before.to_string(),
        suppressed_after.to_string(),
        neutralise(causes),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_are_plain() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("region=צפון"), "region=צפון");
        assert_eq!(number(Some(12.0)), "12");
        assert_eq!(number(Some(0.125)), "0.125");
        assert_eq!(number(Some(2.0 / 3.0)), "0.666667");
        assert_eq!(number(None), "");
    }

    #[test]
    fn a_value_read_back_from_the_csv_is_not_a_change() {
        // The previous run's 2/3 comes back from indicators.csv as 0.666667.
        assert!(same(Some(2.0 / 3.0), Some(0.666667)));
        assert!(same(Some(55.677_193_1), Some(55.677193)));
        assert!(!same(Some(55.677_194), Some(55.677193)));
        assert!(!same(Some(1.0), None));
        assert!(same(None, None));
    }
}
