//! The shared files' rows, written and read back through the same types, by column name:
//! the results tables (`indicators.csv`, `completeness.csv`, `quality.csv`: UTF-8 with a BOM
//! so Excel opens them right, formula-like text neutralised with a leading apostrophe) and the
//! nightly run's summaries (`runs/*.json`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::WorkspaceError;

/// The results files under `results/` (and copied beside each report).
pub mod files {
    /// The indicator values, CSV.
    pub const INDICATORS_CSV: &str = "indicators.csv";
    /// The indicator values, Parquet (exact; the metrics crate writes it).
    pub const INDICATORS_PARQUET: &str = "indicators.parquet";
    /// Completeness.
    pub const COMPLETENESS_CSV: &str = "completeness.csv";
    /// Data quality per submission.
    pub const QUALITY_CSV: &str = "quality.csv";
    /// What changed since the previous results.
    pub const CHANGES_CSV: &str = "changes.csv";
    /// What the results were computed from.
    pub const BASIS_JSON: &str = "basis.json";
    /// Published values that changed since the last edition, written beside each report.
    pub const REVISIONS_CSV: &str = "revisions.csv";
    /// Each period's total as it stood in each edition, written beside each report.
    pub const TRIANGLE_CSV: &str = "revisions-triangle.csv";
    /// The files copied beside each report, for the committee: what disclosure control has
    /// passed. `quality.csv` (rows per submission) and `changes.csv` stay with the data manager:
    /// row counts by partner and period would give suppressed cells away.
    pub const PUBLISHED: [&str; 3] = [INDICATORS_CSV, INDICATORS_PARQUET, COMPLETENESS_CSV];
    /// Results tables that are never published (`backbone audit` says so when one is found in
    /// a report folder).
    pub const DATA_MANAGER_ONLY: [&str; 3] = [QUALITY_CSV, CHANGES_CSV, BASIS_JSON];
}

/// One indicator value: a row of `indicators.csv` (DESIGN: the contract other tools rely on).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ValueRow {
    /// Indicator id.
    pub indicator: String,
    /// Period label.
    pub period: String,
    /// Empty for the total, else `key=value` (keys sorted, `;`-joined).
    pub breakdown: String,
    /// The value; `None` when suppressed or not computable.
    pub value: Option<f64>,
    /// Ratio and rate: the numerator; counts: the count.
    pub numerator: Option<f64>,
    /// Ratio and rate: the denominator.
    pub denominator: Option<f64>,
    /// Hidden by disclosure control.
    pub suppressed: bool,
    /// Share of expected submissions behind the value.
    pub coverage: Option<f64>,
    /// The indicator's baseline.
    pub baseline: Option<f64>,
    /// The target that applies to this period.
    pub target: Option<f64>,
    /// `on_track`, `at_risk`, `off_track`, or empty when there is no target.
    pub status: String,
    /// The store version the value came from (`service_records@12;population@1`).
    pub store_version: String,
    /// The indicator's definition the value was computed under (1 is the first; see
    /// `[[indicator.version]]`). 0 is read as 1.
    pub definition: u32,
}

/// A submission behind a revision: the partner's file that arrived after the edition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// Partner id.
    pub partner: String,
    /// The file's name as the partner sent it.
    pub file_name: String,
    /// The period the file is for.
    pub period: String,
    /// When it was received (RFC 3339).
    pub received: String,
    /// It replaced a file the edition had counted (a correction), rather than adding one.
    pub corrected: bool,
    /// The submission id.
    pub submission: String,
}

/// A published value that changed since the last edition: a row of `revisions.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RevisionRow {
    /// Indicator id.
    pub indicator: String,
    /// Period label.
    pub period: String,
    /// Empty for the total, else `key=value`.
    pub breakdown: String,
    /// The edition it is compared with.
    pub edition: u32,
    /// When that edition was published (`YYYY-MM-DD`).
    pub edition_date: String,
    /// The value as published in the edition (`None` when it was suppressed or absent).
    pub before: Option<f64>,
    /// The value now (`None` when suppressed or gone).
    pub after: Option<f64>,
    /// Suppressed in the edition.
    pub suppressed_before: bool,
    /// Suppressed now.
    pub suppressed_after: bool,
    /// The submissions since the edition for the tables and periods behind the value; empty
    /// when none (a change of the declarations, or of another partner's population).
    pub causes: Vec<Cause>,
    /// The declarations changed since the edition.
    pub declarations_changed: bool,
}

const REVISION_COLUMNS: [&str; 14] = [
    "indicator",
    "period",
    "breakdown",
    "edition",
    "edition_date",
    "before",
    "after",
    "change",
    "suppressed_before",
    "suppressed_after",
    "partners",
    "files",
    "received",
    "submissions",
];

impl RevisionRow {
    /// Writes `revisions.csv` (the causes' partners, files, dates and ids `;`-joined).
    pub fn write(path: &Path, rows: &[Self]) -> Result<(), WorkspaceError> {
        let join = |r: &Self, f: fn(&Cause) -> &str| {
            neutralise(&r.causes.iter().map(f).collect::<Vec<_>>().join("; "))
        };
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    neutralise(&r.indicator),
                    neutralise(&r.period),
                    neutralise(&r.breakdown),
                    r.edition.to_string(),
                    r.edition_date.clone(),
                    number(r.before),
                    number(r.after),
                    number(r.before.zip(r.after).map(|(b, a)| a - b)),
                    r.suppressed_before.to_string(),
                    r.suppressed_after.to_string(),
                    join(r, |c| &c.partner),
                    join(r, |c| &c.file_name),
                    join(r, |c| &c.received),
                    join(r, |c| &c.submission),
                ]
            })
            .collect();
        write_csv(path, &REVISION_COLUMNS, &cells)
    }
}

/// One period's total as it stood in one edition (or now): a row of
/// `revisions-triangle.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EditionValue {
    /// Indicator id.
    pub indicator: String,
    /// Period label.
    pub period: String,
    /// Edition number; `None` for the values now (this report).
    pub edition: Option<u32>,
    /// When that edition was published (`YYYY-MM-DD`; today's date for now).
    pub published: String,
    /// The value (`None` when suppressed or not computed then).
    pub value: Option<f64>,
    /// Suppressed in that edition.
    pub suppressed: bool,
}

const TRIANGLE_COLUMNS: [&str; 6] = [
    "indicator",
    "period",
    "edition",
    "published",
    "value",
    "suppressed",
];

impl EditionValue {
    /// Writes `revisions-triangle.csv` (the edition column `now` for this report's values).
    pub fn write(path: &Path, rows: &[Self]) -> Result<(), WorkspaceError> {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    neutralise(&r.indicator),
                    neutralise(&r.period),
                    r.edition
                        .map_or_else(|| "now".to_owned(), |e| e.to_string()),
                    r.published.clone(),
                    number(r.value),
                    r.suppressed.to_string(),
                ]
            })
            .collect();
        write_csv(path, &TRIANGLE_COLUMNS, &cells)
    }
}

/// One expected submission: a row of `completeness.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExpectedRow {
    /// Partner id.
    pub partner: String,
    /// Schema.
    pub schema: String,
    /// Period label (at the obligation's grain).
    pub period: String,
    /// Due date (`YYYY-MM-DD`).
    pub due: String,
    /// `on_time`, `late`, `missing`, `not_due`.
    pub status: String,
    /// When the submission in use was received (RFC 3339); empty when none was.
    pub received: String,
    /// The submission in use; empty when none.
    pub submission: String,
}

/// The quality of one submission in use: a row of `quality.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
    /// `field=mean [lowest, highest]`, separated by `; ` (empty in results written before the
    /// column existed).
    pub unusual: String,
}

/// The columns of `indicators.csv`.
pub const VALUE_COLUMNS: [&str; 13] = [
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
    "definition",
];

/// The columns of `completeness.csv`.
pub const EXPECTED_COLUMNS: [&str; 7] = [
    "partner",
    "schema",
    "period",
    "due",
    "status",
    "received",
    "submission",
];

/// The columns of `quality.csv`. `unusual` may be absent (results written before it existed).
pub const QUALITY_COLUMNS: [&str; 14] = [
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

/// Text a spreadsheet would run as a formula gets a leading apostrophe.
pub fn neutralise(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// Takes off the apostrophe that [`neutralise`] put on.
pub fn unquote(s: &str) -> String {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_owned(),
        _ => s.to_owned(),
    }
}

/// A number as written in our CSV: no exponent, at most 6 decimals, trailing zeros dropped.
pub fn number(v: Option<f64>) -> String {
    match v {
        None => String::new(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        Some(v) => {
            let s = format!("{v:.6}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }
}

/// Writes a CSV with a BOM: the header, then the rows.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<(), WorkspaceError> {
    use std::io::Write;
    let io = |e: std::io::Error| WorkspaceError::io(path, e);
    let csv_err = |e: csv::Error| WorkspaceError::Table {
        file: path.display().to_string(),
        row: 0,
        message: e.to_string(),
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all("\u{feff}".as_bytes()).map_err(io)?;
    let mut w = csv::Writer::from_writer(f);
    w.write_record(header).map_err(csv_err)?;
    for r in rows {
        w.write_record(r).map_err(csv_err)?;
    }
    w.flush().map_err(io)
}

/// A CSV read by column name: every `required` column must be in the header (in any order);
/// `optional` ones are empty where absent. Cells come back unquoted.
pub struct Named {
    file: String,
    columns: Vec<Option<usize>>,
    rows: Vec<csv::StringRecord>,
}

impl Named {
    /// Reads `path`.
    pub fn read(path: &Path, required: &[&str], optional: &[&str]) -> Result<Self, WorkspaceError> {
        let text = std::fs::read_to_string(path).map_err(|e| WorkspaceError::io(path, e))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let file = path.display().to_string();
        let table = |row: u64, message: String| WorkspaceError::Table {
            file: file.clone(),
            row,
            message,
        };
        let header = reader
            .headers()
            .map_err(|e| table(1, e.to_string()))?
            .clone();
        let mut columns = Vec::new();
        for name in required {
            let at = header.iter().position(|h| h == *name).ok_or_else(|| {
                table(
                    1,
                    format!(
                        "no column `{name}` (the header is {})",
                        header.iter().collect::<Vec<_>>().join(",")
                    ),
                )
            })?;
            columns.push(Some(at));
        }
        columns.extend(optional.iter().map(|n| header.iter().position(|h| h == *n)));
        let mut rows = Vec::new();
        for (i, r) in reader.records().enumerate() {
            rows.push(r.map_err(|e| table(i as u64 + 2, e.to_string()))?);
        }
        Ok(Self {
            file,
            columns,
            rows,
        })
    }

    /// The rows, each as a [`Row`].
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().enumerate().map(|(i, r)| Row {
            table: self,
            record: r,
            line: i as u64 + 2,
        })
    }
}

/// One row of a [`Named`] table.
pub struct Row<'a> {
    table: &'a Named,
    record: &'a csv::StringRecord,
    line: u64,
}

impl Row<'_> {
    /// The cell of the `k`-th column asked for (required first, then optional), unquoted.
    pub fn text(&self, k: usize) -> String {
        unquote(
            self.table
                .columns
                .get(k)
                .copied()
                .flatten()
                .and_then(|at| self.record.get(at))
                .unwrap_or_default(),
        )
    }

    fn error(&self, name: &str, what: &str, s: &str) -> WorkspaceError {
        WorkspaceError::Table {
            file: self.table.file.clone(),
            row: self.line,
            message: format!("{name}: `{s}` is not {what}"),
        }
    }

    /// A number cell; empty is `None`.
    pub fn number(&self, k: usize, name: &str) -> Result<Option<f64>, WorkspaceError> {
        let s = self.text(k);
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>()
            .map(Some)
            .map_err(|_| self.error(name, "a number", &s))
    }

    /// A count cell.
    pub fn count(&self, k: usize, name: &str) -> Result<u64, WorkspaceError> {
        let s = self.text(k);
        s.parse().map_err(|_| self.error(name, "a count", &s))
    }
}

impl ValueRow {
    fn cells(&self) -> Vec<String> {
        vec![
            neutralise(&self.indicator),
            neutralise(&self.period),
            neutralise(&self.breakdown),
            number(self.value),
            number(self.numerator),
            number(self.denominator),
            self.suppressed.to_string(),
            number(self.coverage),
            number(self.baseline),
            number(self.target),
            self.status.clone(),
            neutralise(&self.store_version),
            self.definition.max(1).to_string(),
        ]
    }

    /// Writes `indicators.csv`.
    pub fn write(path: &Path, rows: &[Self]) -> Result<(), WorkspaceError> {
        let cells: Vec<Vec<String>> = rows.iter().map(Self::cells).collect();
        write_csv(path, &VALUE_COLUMNS, &cells)
    }

    /// Reads `indicators.csv`.
    pub fn read(path: &Path) -> Result<Vec<Self>, WorkspaceError> {
        // Results written before definitions were versioned have no `definition`: the first.
        let t = Named::read(path, &VALUE_COLUMNS[..12], &VALUE_COLUMNS[12..])?;
        t.rows()
            .map(|r| {
                Ok(Self {
                    indicator: r.text(0),
                    period: r.text(1),
                    breakdown: r.text(2),
                    value: r.number(3, "value")?,
                    numerator: r.number(4, "numerator")?,
                    denominator: r.number(5, "denominator")?,
                    suppressed: r.text(6) == "true",
                    coverage: r.number(7, "coverage")?,
                    baseline: r.number(8, "baseline")?,
                    target: r.number(9, "target")?,
                    status: r.text(10),
                    store_version: r.text(11),
                    definition: r.text(12).parse().unwrap_or(1),
                })
            })
            .collect()
    }
}

impl ExpectedRow {
    /// Writes `completeness.csv`.
    pub fn write(path: &Path, rows: &[Self]) -> Result<(), WorkspaceError> {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|e| {
                vec![
                    neutralise(&e.partner),
                    neutralise(&e.schema),
                    neutralise(&e.period),
                    e.due.clone(),
                    e.status.clone(),
                    e.received.clone(),
                    neutralise(&e.submission),
                ]
            })
            .collect();
        write_csv(path, &EXPECTED_COLUMNS, &cells)
    }

    /// Reads `completeness.csv`.
    pub fn read(path: &Path) -> Result<Vec<Self>, WorkspaceError> {
        let t = Named::read(path, &EXPECTED_COLUMNS, &[])?;
        Ok(t.rows()
            .map(|r| Self {
                partner: r.text(0),
                schema: r.text(1),
                period: r.text(2),
                due: r.text(3),
                status: r.text(4),
                received: r.text(5),
                submission: r.text(6),
            })
            .collect())
    }
}

impl QualityRow {
    /// Writes `quality.csv`.
    pub fn write(path: &Path, rows: &[Self]) -> Result<(), WorkspaceError> {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|q| {
                vec![
                    neutralise(&q.partner),
                    neutralise(&q.schema),
                    neutralise(&q.period),
                    neutralise(&q.submission),
                    neutralise(&q.file),
                    q.received.clone(),
                    q.rows_read.to_string(),
                    q.rows_accepted.to_string(),
                    q.rows_rejected.to_string(),
                    number(Some(q.rejected_share)),
                    neutralise(&q.main_errors),
                    q.timeliness.clone(),
                    q.volume.clone(),
                    neutralise(&q.unusual),
                ]
            })
            .collect();
        write_csv(path, &QUALITY_COLUMNS, &cells)
    }

    /// Reads `quality.csv`.
    pub fn read(path: &Path) -> Result<Vec<Self>, WorkspaceError> {
        let t = Named::read(path, &QUALITY_COLUMNS[..13], &QUALITY_COLUMNS[13..])?;
        t.rows()
            .map(|r| {
                Ok(Self {
                    partner: r.text(0),
                    schema: r.text(1),
                    period: r.text(2),
                    submission: r.text(3),
                    file: r.text(4),
                    received: r.text(5),
                    rows_read: r.count(6, "rows_read")?,
                    rows_accepted: r.count(7, "rows_accepted")?,
                    rows_rejected: r.count(8, "rows_rejected")?,
                    rejected_share: r.number(9, "rejected_share")?.unwrap_or(0.0),
                    main_errors: r.text(10),
                    timeliness: r.text(11),
                    volume: r.text(12),
                    unusual: r.text(13),
                })
            })
            .collect()
    }
}

/// The three results tables of one metrics run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResultsTables {
    /// Indicator values.
    pub values: Vec<ValueRow>,
    /// Completeness.
    pub expected: Vec<ExpectedRow>,
    /// Data quality.
    pub quality: Vec<QualityRow>,
}

impl ResultsTables {
    /// Reads the tables from a results folder (`WORKSPACE/results`).
    pub fn load(dir: &Path) -> Result<Self, WorkspaceError> {
        Ok(Self {
            values: ValueRow::read(&dir.join(files::INDICATORS_CSV))?,
            expected: ExpectedRow::read(&dir.join(files::COMPLETENESS_CSV))?,
            quality: QualityRow::read(&dir.join(files::QUALITY_CSV))?,
        })
    }

    /// The store version the values came from (`service_records@12;population@1`).
    pub fn store_version(&self) -> &str {
        self.values.first().map_or("", |v| v.store_version.as_str())
    }
}

/// What happened to one inbox file in a night.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileResult {
    /// The partner folder it was in (empty: `inbox/` itself).
    pub partner: String,
    /// The file name.
    pub file: String,
    /// The table it was taken for.
    pub schema: Option<String>,
    /// The period it was taken for.
    pub period: Option<String>,
    /// `stored`, `stored_with_problems`, `rejected`, `duplicate`, `unreadable`, `waiting`,
    /// `would_ingest` (a dry run).
    pub outcome: String,
    /// Rows read.
    pub rows: u64,
    /// Rows stored.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// The submission made (or the one with the same bytes).
    pub submission: Option<String>,
    /// The submission it replaced.
    pub replaces: Option<String>,
    /// The receipt's path.
    pub receipt: Option<String>,
    /// Why it waits, or what else there is to say.
    pub note: Option<String>,
    /// What changed in the file's header since the partner's last accepted one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
}

/// A night's summary: `runs/<time>.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// When it started (RFC 3339).
    pub started: String,
    /// How long it took.
    pub seconds: f64,
    /// Planned only.
    pub dry_run: bool,
    /// Every file found.
    pub files: Vec<FileResult>,
    /// Whether any commit was made.
    pub store_changed: bool,
    /// The store version of the results after the night.
    pub store_version: Option<String>,
    /// The metrics' one line.
    pub metrics: Option<String>,
    /// What changed in the results.
    pub changes: Option<String>,
    /// The report's path.
    pub report: Option<String>,
    /// Reminders written.
    pub reminders: usize,
    /// Tables whose small files the night compacted (`backbone optimize`), one line each.
    #[serde(default)]
    pub compacted: Vec<String>,
}

impl RunSummary {
    /// Files handled, rows rejected, rows stored.
    pub fn counts(&self) -> (usize, u64, u64) {
        (
            self.files.len(),
            self.files.iter().map(|f| f.rejected).sum(),
            self.files.iter().map(|f| f.accepted).sum(),
        )
    }

    /// Reads one `runs/*.json`.
    pub fn read(path: &Path) -> Result<Self, WorkspaceError> {
        let text = std::fs::read_to_string(path).map_err(|e| WorkspaceError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| WorkspaceError::Table {
            file: path.display().to_string(),
            row: e.line() as u64,
            message: e.to_string(),
        })
    }

    /// The summaries under `runs/`, oldest first (unreadable ones are skipped with a warning).
    pub fn all(dir: &Path) -> Vec<Self> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths
            .iter()
            .filter_map(|p| match Self::read(p) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_is_the_inverse_of_neutralising() {
        for s in ["=SUM(A1)", "-3", "'quoted", "plain", "@x", "+1"] {
            assert_eq!(unquote(&neutralise(s)), s);
        }
        assert_eq!(unquote("'quoted"), "'quoted");
    }

    #[test]
    fn rows_round_trip_by_column_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(files::QUALITY_CSV);
        let row = QualityRow {
            partner: "police".into(),
            schema: "service_records".into(),
            period: "2024-03".into(),
            submission: "s1".into(),
            file: "=HYPERLINK(x)".into(),
            received: "2024-04-02T00:00:00Z".into(),
            rows_read: 10,
            rows_accepted: 9,
            rows_rejected: 1,
            rejected_share: 0.1,
            main_errors: "type-error:1".into(),
            timeliness: "on_time".into(),
            volume: String::new(),
            unusual: String::new(),
        };
        QualityRow::write(&path, std::slice::from_ref(&row)).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("'=HYPERLINK(x)")
        );
        assert_eq!(QualityRow::read(&path).unwrap(), vec![row]);
        // Columns in another order, `unusual` absent: still read by name.
        std::fs::write(
            &path,
            "schema,partner,period,submission,file,received,rows_read,rows_accepted,rows_rejected,rejected_share,main_errors,timeliness,volume\nx,p,2024,s,f,r,1,1,0,0,,,\n",
        )
        .unwrap();
        let back = QualityRow::read(&path).unwrap();
        assert_eq!(
            (back[0].partner.as_str(), back[0].schema.as_str()),
            ("p", "x")
        );
        // A count that is not one names the file and the row.
        std::fs::write(&path, "partner,schema,period,submission,file,received,rows_read,rows_accepted,rows_rejected,rejected_share,main_errors,timeliness,volume\np,x,2024,s,f,r,many,1,0,0,,,\n").unwrap();
        let e = QualityRow::read(&path).unwrap_err().to_string();
        assert!(e.contains("row 2") && e.contains("rows_read"), "{e}");
    }
}
