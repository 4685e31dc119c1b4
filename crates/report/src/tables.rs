//! The metrics crate's results tables, read back from disk: `indicators.csv`,
//! `completeness.csv` and `quality.csv` (UTF-8 with a BOM, formula-like text neutralised with
//! a leading apostrophe, which is taken off again here).

use std::path::Path;

use crate::ReportError;

/// One indicator value (a row of `indicators.csv`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ValueRow {
    /// Indicator id.
    pub indicator: String,
    /// Period label.
    pub period: String,
    /// Empty for the total, else `dimension=value`.
    pub breakdown: String,
    /// The value; `None` when suppressed or not computable.
    pub value: Option<f64>,
    /// Numerator (ratios, rates) or count.
    pub numerator: Option<f64>,
    /// Denominator.
    pub denominator: Option<f64>,
    /// Hidden by disclosure control.
    pub suppressed: bool,
    /// Share of expected submissions behind the value.
    pub coverage: Option<f64>,
    /// Baseline.
    pub baseline: Option<f64>,
    /// The target that applies to the period.
    pub target: Option<f64>,
    /// `on_track`, `at_risk`, `off_track` or empty.
    pub status: String,
    /// Store version the value came from.
    pub store_version: String,
}

/// One expected submission (a row of `completeness.csv`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ExpectedRow {
    /// Partner id.
    pub partner: String,
    /// Schema.
    pub schema: String,
    /// Period label.
    pub period: String,
    /// Due date.
    pub due: String,
    /// `on_time`, `late`, `missing`, `not_due`.
    pub status: String,
    /// When it was received (RFC 3339), if it was.
    pub received: String,
    /// The submission in use.
    pub submission: String,
}

/// The quality of one submission in use (a row of `quality.csv`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QualityRow {
    /// Partner id.
    pub partner: String,
    /// Schema.
    pub schema: String,
    /// Period label.
    pub period: String,
    /// Submission id.
    pub submission: String,
    /// File name as received.
    pub file: String,
    /// Received (RFC 3339).
    pub received: String,
    /// Rows read.
    pub rows_read: u64,
    /// Rows accepted.
    pub rows_accepted: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Share of rows rejected.
    pub rejected_share: f64,
    /// Main error types (`type-error:12; constraint-error:3`).
    pub main_errors: String,
    /// `on_time`, `late` or empty.
    pub timeliness: String,
    /// `high`, `low` or empty.
    pub volume: String,
    /// Numeric fields whose mean is far outside the partner's own history:
    /// `field=mean [lowest, highest]`, separated by `; ` (empty in results written before
    /// the column existed).
    pub unusual: String,
}

/// The three results tables of one metrics run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ResultsTables {
    /// Indicator values.
    pub values: Vec<ValueRow>,
    /// Completeness.
    pub expected: Vec<ExpectedRow>,
    /// Data quality.
    pub quality: Vec<QualityRow>,
}

/// The columns of `indicators.csv`, as the metrics crate writes them.
pub(crate) const VALUE_COLUMNS: [&str; 12] = [
    "indicator",
    "period",
    "breakdown",
    "value",
    "numerator",
    "denominator",
    "suppressed",
    "coverage",
    "baseline",
    "target",
    "status",
    "store_version",
];
/// The columns of `completeness.csv`.
pub(crate) const EXPECTED_COLUMNS: [&str; 7] = [
    "partner",
    "schema",
    "period",
    "due",
    "status",
    "received",
    "submission",
];
/// The columns of `quality.csv` (`unusual` is read where present: results written before it
/// existed lack it).
pub(crate) const QUALITY_COLUMNS: [&str; 14] = [
    "partner",
    "schema",
    "period",
    "submission",
    "file",
    "received",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "rejected_share",
    "main_errors",
    "timeliness",
    "volume",
    "unusual",
];

/// Takes off the apostrophe that neutralised formula-like text.
fn unquote(s: &str) -> String {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_owned(),
        _ => s.to_owned(),
    }
}

/// The rows of a results table whose header starts with `header`; a column of `optional`
/// (read after those) is empty where the file does not have it.
fn read(path: &Path, header: &[&str], optional: &[&str]) -> Result<Vec<Vec<String>>, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, &e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let file = path.display().to_string();
    let found = reader.headers().map_err(|e| ReportError::Table {
        file: file.clone(),
        row: 1,
        message: e.to_string(),
    })?;
    for (i, h) in header.iter().enumerate() {
        if found.get(i) != Some(*h) {
            return Err(ReportError::Table {
                file,
                row: 1,
                message: format!(
                    "column {} should be `{h}`, found `{}`",
                    i + 1,
                    found.get(i).unwrap_or_default()
                ),
            });
        }
    }
    let extra: Vec<Option<usize>> = optional
        .iter()
        .map(|name| found.iter().position(|h| h == *name))
        .collect();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.map_err(|e| ReportError::Table {
            file: file.clone(),
            row: i as u64 + 2,
            message: e.to_string(),
        })?;
        out.push(
            (0..header.len())
                .map(Some)
                .chain(extra.iter().copied())
                .map(|k| unquote(k.and_then(|k| r.get(k)).unwrap_or_default()))
                .collect(),
        );
    }
    Ok(out)
}

fn number(file: &Path, row: usize, column: &str, s: &str) -> Result<Option<f64>, ReportError> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<f64>().map(Some).map_err(|_| ReportError::Table {
        file: file.display().to_string(),
        row: row as u64 + 2,
        message: format!("{column}: `{s}` is not a number"),
    })
}

impl ResultsTables {
    /// Reads the tables from a results folder (`WORKSPACE/results`).
    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        let path = dir.join("indicators.csv");
        let rows = read(&path, &VALUE_COLUMNS, &[])?;
        let mut values = Vec::with_capacity(rows.len());
        for (i, r) in rows.into_iter().enumerate() {
            let n = |k: usize, name: &str| number(&path, i, name, &r[k]);
            values.push(ValueRow {
                value: n(3, "value")?,
                numerator: n(4, "numerator")?,
                denominator: n(5, "denominator")?,
                suppressed: r[6] == "true",
                coverage: n(7, "coverage")?,
                baseline: n(8, "baseline")?,
                target: n(9, "target")?,
                indicator: r[0].clone(),
                period: r[1].clone(),
                breakdown: r[2].clone(),
                status: r[10].clone(),
                store_version: r[11].clone(),
            });
        }
        let path = dir.join("completeness.csv");
        let expected = read(&path, &EXPECTED_COLUMNS, &[])?
            .into_iter()
            .map(|r| ExpectedRow {
                partner: r[0].clone(),
                schema: r[1].clone(),
                period: r[2].clone(),
                due: r[3].clone(),
                status: r[4].clone(),
                received: r[5].clone(),
                submission: r[6].clone(),
            })
            .collect();
        let path = dir.join("quality.csv");
        let rows = read(&path, &QUALITY_COLUMNS[..13], &QUALITY_COLUMNS[13..])?;
        let mut quality = Vec::with_capacity(rows.len());
        for (i, r) in rows.into_iter().enumerate() {
            let count = |k: usize, name: &str| -> Result<u64, ReportError> {
                r[k].parse().map_err(|_| ReportError::Table {
                    file: path.display().to_string(),
                    row: i as u64 + 2,
                    message: format!("{name}: `{}` is not a count", r[k]),
                })
            };
            quality.push(QualityRow {
                rows_read: count(6, "rows_read")?,
                rows_accepted: count(7, "rows_accepted")?,
                rows_rejected: count(8, "rows_rejected")?,
                rejected_share: number(&path, i, "rejected_share", &r[9])?.unwrap_or(0.0),
                partner: r[0].clone(),
                schema: r[1].clone(),
                period: r[2].clone(),
                submission: r[3].clone(),
                file: r[4].clone(),
                received: r[5].clone(),
                main_errors: r[10].clone(),
                timeliness: r[11].clone(),
                volume: r[12].clone(),
                unusual: r[13].clone(),
            });
        }
        Ok(Self {
            values,
            expected,
            quality,
        })
    }

    /// The store version the values came from (`service_records@12;population@1`).
    pub fn store_version(&self) -> &str {
        self.values.first().map_or("", |v| v.store_version.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn unquote_is_the_inverse_of_neutralising() {
        assert_eq!(unquote("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unquote("'-3"), "-3");
        assert_eq!(unquote("'quoted"), "'quoted");
        assert_eq!(unquote("plain"), "plain");
    }
}
