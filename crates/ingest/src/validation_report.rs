//! The validation report: frictionless-shaped JSON for tools, grouped plain text for partners.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use backbone_schema::Severity;
use serde::Serialize;

use crate::expected::Expected;

/// Error type codes: frictionless-py's where one fits, our own otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorType {
    /// A header cell is empty where its column has a place.
    BlankLabel,
    /// Two columns match the same field.
    DuplicateLabel,
    /// A column matches no field (ignored).
    ExtraLabel,
    /// A field has no column.
    MissingLabel,
    /// Every cell of the row is empty.
    BlankRow,
    /// The row has a value beyond the last column.
    ExtraCell,
    /// The row ends before a column.
    MissingCell,
    /// The value is not of the field's type.
    TypeError,
    /// The value breaks a constraint.
    ConstraintError,
    /// A `unique` field or `uniqueKeys` value repeats.
    UniqueError,
    /// A primary key repeats or is incomplete.
    PrimaryKey,
    /// An `x-rules` comparison does not hold.
    RowConstraint,
    /// The cell's bytes are not text in the file's encoding (ours).
    EncodingError,
    /// A formula whose result was not saved (ours).
    FormulaError,
    /// A spreadsheet error value such as `#DIV/0!` (ours).
    CellError,
    /// A spelling the value map does not know, where the map forbids others (ours).
    ValueMapError,
    /// A cell longer than backbone reads (ours).
    OversizedCell,
    /// The file has no data rows (ours).
    NoData,
    /// A header label differs from the field at its position (`fieldsMatch: exact`).
    IncorrectLabel,
    /// The header matches none (or too few) of the schema's fields: another table's file.
    UnmatchedHeader,
    /// A totals row or column the partner added disagrees with the figures it totals (ours).
    TotalMismatch,
}

impl ErrorType {
    /// Every type, in declaration order.
    pub const ALL: [ErrorType; 21] = [
        Self::BlankLabel,
        Self::DuplicateLabel,
        Self::ExtraLabel,
        Self::MissingLabel,
        Self::BlankRow,
        Self::ExtraCell,
        Self::MissingCell,
        Self::TypeError,
        Self::ConstraintError,
        Self::UniqueError,
        Self::PrimaryKey,
        Self::RowConstraint,
        Self::EncodingError,
        Self::FormulaError,
        Self::CellError,
        Self::ValueMapError,
        Self::OversizedCell,
        Self::NoData,
        Self::IncorrectLabel,
        Self::UnmatchedHeader,
        Self::TotalMismatch,
    ];
    /// How many types there are.
    pub const COUNT: usize = Self::ALL.len();

    /// Position in [`Self::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The code as written in reports (`type-error`).
    pub fn code(self) -> &'static str {
        match self {
            Self::BlankLabel => "blank-label",
            Self::DuplicateLabel => "duplicate-label",
            Self::ExtraLabel => "extra-label",
            Self::MissingLabel => "missing-label",
            Self::BlankRow => "blank-row",
            Self::ExtraCell => "extra-cell",
            Self::MissingCell => "missing-cell",
            Self::TypeError => "type-error",
            Self::ConstraintError => "constraint-error",
            Self::UniqueError => "unique-error",
            Self::PrimaryKey => "primary-key",
            Self::RowConstraint => "row-constraint",
            Self::EncodingError => "encoding-error",
            Self::FormulaError => "formula-error",
            Self::CellError => "cell-error",
            Self::ValueMapError => "value-map-error",
            Self::OversizedCell => "oversized-cell",
            Self::NoData => "no-data",
            Self::IncorrectLabel => "incorrect-label",
            Self::UnmatchedHeader => "unmatched-header",
            Self::TotalMismatch => "total-mismatch",
        }
    }

    /// A short title for grouped output.
    pub fn title(self) -> &'static str {
        match self {
            Self::BlankLabel => "column without a header",
            Self::DuplicateLabel => "column appears twice",
            Self::ExtraLabel => "column not in the schema",
            Self::MissingLabel => "column missing",
            Self::BlankRow => "empty row",
            Self::ExtraCell => "value beyond the last column",
            Self::MissingCell => "row too short",
            Self::TypeError => "wrong kind of value",
            Self::ConstraintError => "value not allowed",
            Self::UniqueError => "repeated value",
            Self::PrimaryKey => "repeated or incomplete key",
            Self::RowConstraint => "values that contradict each other",
            Self::EncodingError => "unreadable characters",
            Self::FormulaError => "formula without a saved result",
            Self::CellError => "spreadsheet error value",
            Self::ValueMapError => "unknown spelling",
            Self::OversizedCell => "cell too long",
            Self::NoData => "no data",
            Self::IncorrectLabel => "column in the wrong place",
            Self::UnmatchedHeader => "not this table's file",
            Self::TotalMismatch => "total does not add up",
        }
    }

    /// Header-level types (about the file's columns, not one row).
    pub fn is_label(self) -> bool {
        matches!(
            self,
            Self::BlankLabel
                | Self::DuplicateLabel
                | Self::ExtraLabel
                | Self::MissingLabel
                | Self::IncorrectLabel
                | Self::UnmatchedHeader
        )
    }
}

/// One problem, shaped like a frictionless-py error.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// The error type code.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// `error` (the row is rejected) or `warning`.
    #[serde(serialize_with = "ser_severity")]
    pub severity: Severity,
    /// Physical row in the file, header row included, counted from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_number: Option<u64>,
    /// The schema's field name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    /// 1-based column of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_number: Option<usize>,
    /// The header as the partner wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The cell as written (never for personal-data fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    /// A sentence that says where and what.
    pub message: String,
    /// The short reason (`constraint "maximum" is "120"`).
    pub note: String,
    /// What a valid value looks like.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The same in parts, for a receipt in the partner's language (`expected` is its English).
    #[serde(skip)]
    pub expected_parts: Option<Expected>,
    /// Worksheet (spreadsheets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// Cell reference such as `C17` (spreadsheets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell_ref: Option<String>,
}

fn ser_severity<S: serde::Serializer>(s: &Severity, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

/// The file's verdict, in the words partners read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every row accepted, nothing to say.
    Accepted,
    /// Rows accepted; some rejected or flagged.
    AcceptedWithProblems,
    /// Nothing accepted.
    Rejected,
}

impl Verdict {
    /// `accepted`, `accepted with problems`, `rejected`.
    pub fn words(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::AcceptedWithProblems => "accepted with problems",
            Self::Rejected => "rejected",
        }
    }
}

/// Counts for the whole file.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Data rows read (after the header; blank rows included, as frictionless counts).
    pub rows: u64,
    /// Rows that go to the store.
    pub accepted: u64,
    /// Rows with at least one error.
    pub rejected: u64,
    /// Accepted rows with warnings.
    pub with_warnings: u64,
    /// Blank rows (not data; reported, not stored).
    pub blank_rows: u64,
    /// Error-severity problems, all of them (also those past the cap).
    pub errors: u64,
    /// Warning-severity problems.
    pub warnings: u64,
    /// Problems per type code.
    pub by_type: BTreeMap<&'static str, u64>,
    /// Problems per field name (`""` for row-level ones).
    pub by_field: BTreeMap<String, u64>,
    /// Types whose list was cut at the cap, with how many were not listed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_listed: BTreeMap<&'static str, u64>,
    /// Fields of the schema.
    pub fields: usize,
    /// Wall time of the validation, in seconds.
    pub seconds: f64,
}

/// A group of problems of one kind in one column, for the partner's summary.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Error type.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// What the problems are, in a few words.
    pub title: &'static str,
    /// Severity.
    #[serde(serialize_with = "ser_severity")]
    pub severity: Severity,
    /// Field (schema name), when the problem is in a column.
    pub field_name: Option<String>,
    /// The partner's header for that field.
    pub label: Option<String>,
    /// How many.
    pub count: u64,
    /// The first rows it happens in.
    pub rows: Vec<u64>,
    /// Whether it happens in more rows than `rows` lists.
    #[serde(skip)]
    pub more_rows: bool,
    /// 1-based column of the file, for a problem with one column.
    #[serde(skip)]
    pub column: Option<usize>,
    /// Up to three full messages.
    pub examples: Vec<String>,
    /// What a valid value looks like.
    pub expected: Option<String>,
}

/// How a file was read.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    /// `csv`, `xlsx`, `xls`, `ods`.
    pub format: String,
    /// Text encoding (CSV).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The encoding was guessed from too little text to be sure.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub encoding_guessed: bool,
    /// Field delimiter (CSV).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Worksheet (spreadsheets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// Physical row of the header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_row: Option<u64>,
    /// Rows above the header that were skipped (titles, notes), as physical row numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_rows: Vec<u64>,
    /// Headers as written.
    pub labels: Vec<String>,
    /// Schema field → the header it was matched to.
    pub field_columns: BTreeMap<String, String>,
    /// How a sheet laid out otherwise than one row per record was read (`[layout]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<crate::layout::LayoutInfo>,
    /// What changed since the partner's last accepted file (set by the pipeline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::drift::Drift>,
}

/// The report of validating one file.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// True when there is no error-severity problem (frictionless's meaning).
    pub valid: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// The file as given.
    pub file: String,
    /// The schema's name.
    pub schema: String,
    /// How it was read.
    pub source: SourceInfo,
    /// Counts.
    pub stats: Stats,
    /// Problems, at most `limit` per type.
    pub errors: Vec<Issue>,
    /// Problems grouped by column and kind, in order of first appearance.
    #[serde(skip)]
    pub groups: Vec<Group>,
}

/// Collects issues with a cap per type; counts everything.
#[derive(Debug)]
pub(crate) struct Collector {
    pub(crate) limit: usize,
    pub(crate) errors: Vec<Issue>,
    pub(crate) stats: Stats,
    listed: HashMap<ErrorType, usize>,
    groups: Vec<Group>,
    group_index: HashMap<GroupKey, usize>,
}

/// Kind, field (none for row-level problems), severity, title.
type GroupKey = (ErrorType, Option<String>, Severity, &'static str);

fn is_row_level(kind: ErrorType) -> bool {
    matches!(
        kind,
        ErrorType::MissingCell | ErrorType::ExtraCell | ErrorType::BlankRow | ErrorType::NoData
    )
}

fn group_key(issue: &Issue) -> GroupKey {
    let row_level = is_row_level(issue.kind);
    // Columns that are no field (extra, blank) are each a group of their own.
    if issue.kind.is_label() && issue.field_name.is_none() {
        let column = match (&issue.label, issue.field_number) {
            (Some(l), _) if !l.is_empty() => l.clone(),
            (_, Some(n)) => format!("#{n}"),
            _ => String::new(),
        };
        return (issue.kind, Some(column), issue.severity, issue.kind.title());
    }
    let title = if issue.kind == ErrorType::ConstraintError
        && issue.note.starts_with("constraint \"required\"")
    {
        "required value missing"
    } else {
        issue.kind.title()
    };
    (
        issue.kind,
        if row_level {
            None
        } else {
            issue.field_name.clone()
        },
        issue.severity,
        title,
    )
}

const GROUP_ROWS: usize = 12;

impl Group {
    /// Notes that the problem happens in row `r` (rows come in order).
    fn add_row(&mut self, r: u64) {
        if self.rows.last() == Some(&r) {
            return;
        }
        if self.rows.len() < GROUP_ROWS {
            self.rows.push(r);
        } else {
            self.more_rows = true;
        }
    }
}
const GROUP_EXAMPLES: usize = 3;

impl Collector {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            errors: Vec::new(),
            stats: Stats::default(),
            listed: HashMap::new(),
            groups: Vec::new(),
            group_index: HashMap::new(),
        }
    }

    /// Whether the next issue of this type will be listed or only counted: lets callers
    /// skip building messages past the cap (a bad 5M-row file has millions).
    pub(crate) fn wants(&self, kind: ErrorType, field: Option<&str>, severity: Severity) -> bool {
        let field = if is_row_level(kind) { None } else { field };
        self.listed.get(&kind).copied().unwrap_or(0) < self.limit
            || !self.group_index.iter().any(|(k, &g)| {
                k.0 == kind
                    && k.1.as_deref() == field
                    && k.2 == severity
                    && self.groups[g].examples.len() >= GROUP_EXAMPLES
            })
    }

    /// True when the list of this type is full.
    pub(crate) fn is_full(&self, kind: ErrorType) -> bool {
        self.listed.get(&kind).copied().unwrap_or(0) >= self.limit
    }

    /// Counts an issue without building it.
    pub(crate) fn count_only(
        &mut self,
        kind: ErrorType,
        severity: Severity,
        field: Option<&str>,
        row: Option<u64>,
    ) {
        self.count(kind, severity, field);
        *self.stats.not_listed.entry(kind.code()).or_default() += 1;
        let field = if is_row_level(kind) { None } else { field };
        let key = self
            .group_index
            .keys()
            .find(|k| k.0 == kind && k.1.as_deref() == field && k.2 == severity)
            .cloned();
        let g = match key.and_then(|k| self.group_index.get(&k).copied()) {
            Some(g) => g,
            None => {
                // A new kind of problem after the list was full: a group without examples.
                self.groups.push(Group {
                    kind,
                    title: kind.title(),
                    severity,
                    field_name: field.map(str::to_owned),
                    label: None,
                    count: 0,
                    rows: Vec::new(),
                    more_rows: false,
                    column: None,
                    examples: Vec::new(),
                    expected: None,
                });
                self.group_index.insert(
                    (kind, field.map(str::to_owned), severity, kind.title()),
                    self.groups.len() - 1,
                );
                self.groups.len() - 1
            }
        };
        {
            let group = &mut self.groups[g];
            group.count += 1;
            if let Some(r) = row {
                group.add_row(r);
            }
        }
    }

    fn count(&mut self, kind: ErrorType, severity: Severity, field: Option<&str>) {
        match severity {
            Severity::Error => self.stats.errors += 1,
            Severity::Warning => self.stats.warnings += 1,
        }
        *self.stats.by_type.entry(kind.code()).or_default() += 1;
        *self
            .stats
            .by_field
            .entry(field.unwrap_or("").to_owned())
            .or_default() += 1;
    }

    pub(crate) fn push(&mut self, issue: Issue) {
        self.count(issue.kind, issue.severity, issue.field_name.as_deref());
        let key = group_key(&issue);
        let g = match self.group_index.get(&key) {
            Some(&g) => g,
            None => {
                let row_level = is_row_level(issue.kind);
                self.groups.push(Group {
                    kind: issue.kind,
                    title: key.3,
                    severity: issue.severity,
                    field_name: if row_level {
                        None
                    } else {
                        issue.field_name.clone()
                    },
                    label: if row_level { None } else { issue.label.clone() },
                    count: 0,
                    rows: Vec::new(),
                    more_rows: false,
                    column: if row_level { None } else { issue.field_number },
                    examples: Vec::new(),
                    expected: if row_level {
                        None
                    } else {
                        issue.expected.clone()
                    },
                });
                self.group_index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[g];
        group.count += 1;
        // A field read from many columns (a wide sheet's figures): the group names the field.
        if group.count > 1 && !is_row_level(issue.kind) && group.column != issue.field_number {
            group.label = None;
            group.column = None;
        }
        if let Some(r) = issue.row_number {
            group.add_row(r);
        }
        if group.examples.len() < GROUP_EXAMPLES {
            group.examples.push(issue.message.clone());
        }
        let listed = self.listed.entry(issue.kind).or_default();
        if *listed < self.limit {
            *listed += 1;
            self.errors.push(issue);
        } else {
            *self.stats.not_listed.entry(issue.kind.code()).or_default() += 1;
        }
    }

    pub(crate) fn finish(
        self,
        file: String,
        schema: String,
        source: SourceInfo,
    ) -> ValidationReport {
        let mut stats = self.stats;
        stats.not_listed.retain(|_, n| *n > 0);
        let valid = stats.errors == 0;
        let verdict = if stats.accepted == 0 {
            Verdict::Rejected
        } else if stats.errors == 0 && stats.warnings == 0 {
            Verdict::Accepted
        } else {
            Verdict::AcceptedWithProblems
        };
        ValidationReport {
            valid,
            verdict,
            file,
            schema,
            source,
            stats,
            errors: self.errors,
            groups: self.groups,
        }
    }
}

impl ValidationReport {
    /// Whether the file was refused as another table's file (its header names too few of
    /// the schema's fields).
    pub fn is_wrong_file(&self) -> bool {
        self.errors
            .iter()
            .any(|e| e.kind == ErrorType::UnmatchedHeader)
    }

    /// Names, in the wrong-file message, the schema among `others` whose fields the header
    /// names best, when it names at least half of them: "it looks like a file of …".
    pub fn name_closest_schema<'a>(
        &mut self,
        others: impl IntoIterator<Item = &'a backbone_schema::TableSchema>,
    ) {
        if !self.is_wrong_file() {
            return;
        }
        let labels = &self.source.labels;
        let best = others
            .into_iter()
            .filter(|o| o.name != self.schema)
            .map(|o| (crate::header::fields_named(labels, o), o))
            .filter(|(n, o)| *n > 0 && n * 2 >= o.fields.len())
            .max_by_key(|(n, o)| (*n * 1000 / o.fields.len().max(1), *n));
        let Some((n, other)) = best else {
            return;
        };
        let hint = format!(
            "; it looks like a file of {:?} (the header names {n} of its {} fields)",
            other.name,
            other.fields.len()
        );
        for e in self
            .errors
            .iter_mut()
            .filter(|e| e.kind == ErrorType::UnmatchedHeader)
        {
            e.message.push_str(&hint);
        }
        for g in self
            .groups
            .iter_mut()
            .filter(|g| g.kind == ErrorType::UnmatchedHeader)
        {
            for x in &mut g.examples {
                x.push_str(&hint);
            }
        }
    }

    /// The frictionless-shaped JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The partner's summary: a verdict line, then the problems grouped by column and kind,
    /// with rows, examples and what a valid value looks like.
    pub fn to_text(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let _ = write!(out, "{}: {}", self.verdict.words(), self.file);
        let _ = writeln!(
            out,
            " — {} rows read, {} accepted, {} rejected{}",
            s.rows,
            s.accepted,
            s.rejected,
            if s.with_warnings > 0 {
                format!(", {} accepted with warnings", s.with_warnings)
            } else {
                String::new()
            }
        );
        let src = &self.source;
        let mut how = vec![src.format.to_uppercase()];
        if let Some(e) = &src.encoding {
            if src.encoding_guessed {
                how.push(format!(
                    "{e} (guessed from little text: if letters look wrong, save the file as \
                     UTF-8 or name its encoding in the partner's profile)"
                ));
            } else {
                how.push(e.clone());
            }
        }
        if let Some(d) = &src.delimiter {
            how.push(format!("delimiter {d:?}"));
        }
        if let Some(sh) = &src.sheet {
            how.push(format!("sheet {sh:?}"));
        }
        match (src.header_row, &src.layout) {
            (Some(h), Some(l)) if l.header_rows == 2 => {
                how.push(format!("header on rows {h}–{}", h + 1));
            }
            (Some(h), _) => how.push(format!("header on row {h}")),
            _ => {}
        }
        let _ = writeln!(out, "read as {}", how.join(", "));
        if let Some(l) = src.layout.as_ref().filter(|l| l.figure_columns > 0) {
            let span = match l.figure_span.as_slice() {
                [a, b] if a != b => format!(" ({a} … {b})"),
                [a, ..] => format!(" ({a})"),
                _ => String::new(),
            };
            let mut line = format!(
                "wide: {} columns of figures{span} read as {} rows",
                l.figure_columns, l.figures
            );
            let mut left = Vec::new();
            if !l.totals_rows.is_empty() {
                left.push(format!("totals rows {}", join_rows(&l.totals_rows, false)));
            }
            if !l.totals_columns.is_empty() {
                left.push(format!("totals columns {}", l.totals_columns.join(", ")));
            }
            if !left.is_empty() {
                line.push_str(&format!("; {} left out, checked", left.join(" and ")));
            }
            if l.rows_without_figures > 0 {
                line.push_str(&format!(
                    "; {} rows without any figure",
                    l.rows_without_figures
                ));
            }
            let _ = writeln!(out, "{line}");
        }
        if !src.skipped_rows.is_empty() {
            let _ = writeln!(
                out,
                "rows above the header, skipped: {}",
                join_rows(&src.skipped_rows, false)
            );
        }
        for g in &self.groups {
            let _ = writeln!(out);
            let column = match (&g.label, &g.field_name) {
                (Some(l), _) if l.is_empty() => match g.column {
                    Some(n) => format!(
                        "column {} (no header)",
                        crate::cell::column_letters(n.saturating_sub(1))
                    ),
                    None => "a column with no header".to_owned(),
                },
                (Some(l), Some(f)) if l != f => format!("column {l:?} (field {f})"),
                (Some(l), _) => format!("column {l:?}"),
                (None, Some(f)) => format!("field {f}"),
                (None, None) => "rows".to_owned(),
            };
            let _ = writeln!(
                out,
                "{} — {}: {} ({}×{})",
                g.severity.as_str().to_uppercase(),
                column,
                g.title,
                g.count,
                if g.rows.is_empty() {
                    String::new()
                } else {
                    let word = if g.rows.len() == 1 && !g.more_rows {
                        "row"
                    } else {
                        "rows"
                    };
                    format!(", {word} {}", join_rows(&g.rows, g.more_rows))
                }
            );
            for e in &g.examples {
                let _ = writeln!(out, "  {e}");
            }
            if let Some(x) = &g.expected {
                let _ = writeln!(out, "  a valid value: {x}");
            }
        }
        if !s.not_listed.is_empty() {
            let _ = writeln!(out);
            let parts: Vec<String> = s
                .not_listed
                .iter()
                .map(|(k, n)| format!("{n} more {k}"))
                .collect();
            let _ = writeln!(
                out,
                "(the JSON report lists the first {} of each type; not listed: {})",
                self.errors_limit(),
                parts.join(", ")
            );
        }
        out
    }

    fn errors_limit(&self) -> usize {
        let mut per: HashMap<ErrorType, usize> = HashMap::new();
        for e in &self.errors {
            *per.entry(e.kind).or_default() += 1;
        }
        per.values().copied().max().unwrap_or(0)
    }
}

fn join_rows(rows: &[u64], more: bool) -> String {
    let mut s: Vec<String> = rows.iter().map(u64::to_string).collect();
    if more {
        s.push("…".to_owned());
    }
    s.join(", ")
}
