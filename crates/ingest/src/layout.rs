//! Sheets that are not one row per record: a header of two rows (merged cells above), a
//! cross-tab turned into rows (`[layout] wide`), and the totals rows and columns a partner
//! adds, left out of the data and checked against the figures they total.
//!
//! A wide sheet is turned into long blocks before any cell is checked: each figure becomes
//! one row of the kept fields, the names taken from its column's header, and the figure. The
//! rows keep the sheet's row number, and each remembers the column its figure came from
//! ([`Block::origin`]), so that an issue points at the cell the partner sees.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use backbone_schema::{FieldType, Layout, NamesTo, Severity, TableSchema, normalise_header};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::Serialize;

use crate::block::{Block, CellView, Slot};
use crate::cast::{Caster, Value};
use crate::cell::{Cell, column_letters, format_float};
use crate::validation_report::{ErrorType, Issue};

/// Labels of totals rows and columns, as [`normalise_header`] writes them.
const TOTALS: &[&str] = &[
    "סה\"כ",
    "סה״כ",
    "סהכ",
    "סה'כ",
    "סך הכל",
    "סך הכול",
    "total",
    "totals",
    "grand total",
    "sum",
    "סכום",
];

/// Whether a header or a row's first words say "total" (`סה"כ`, `Total`, `סה"כ 2024`).
pub(crate) fn is_total(label: &str, extra: &[String]) -> bool {
    let n = normalise_header(label);
    let n = n.trim_end_matches(':').trim();
    if n.is_empty() {
        return false;
    }
    let starts = |t: &str| n == t || n.strip_prefix(t).is_some_and(|r| r.starts_with(' '));
    TOTALS.iter().any(|t| starts(t)) || extra.iter().any(|t| starts(&normalise_header(t)))
}

const HEBREW_MONTHS: [&str; 12] = [
    "ינואר",
    "פברואר",
    "מרץ",
    "אפריל",
    "מאי",
    "יוני",
    "יולי",
    "אוגוסט",
    "ספטמבר",
    "אוקטובר",
    "נובמבר",
    "דצמבר",
];
const ENGLISH_MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_name(t: &str) -> Option<u32> {
    if t == "מרס" {
        return Some(3);
    }
    if let Some(i) = HEBREW_MONTHS.iter().position(|m| *m == t) {
        return Some(i as u32 + 1);
    }
    if t == "sept" {
        return Some(9);
    }
    ENGLISH_MONTHS
        .iter()
        .position(|m| *m == t || (t.len() == 3 && m.starts_with(t)))
        .map(|i| i as u32 + 1)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Token {
    Year(i32),
    Num(u32),
    Month(u32),
    Quarter(u32),
}

/// A column header read as the month it stands for (its first day): `ינואר 2024`,
/// `2024 ינואר`, `01/2024`, `2024-01`, `Jan-24`, `January 2024`, `Q1 2024`, `רבעון 1 2024`,
/// a date (`01/01/2024`, a date cell), or a year alone (`2024`, its January).
pub(crate) fn period_of(label: &str) -> Option<NaiveDate> {
    let lower = label.trim().to_lowercase();
    let mut tokens = Vec::new();
    let mut quarter_word = false;
    for raw in lower.split(|c: char| c.is_whitespace() || "-/._,()".contains(c)) {
        let t = raw.trim_matches(|c: char| "'\"׳״`’".contains(c));
        if t.is_empty() || t.contains(':') {
            continue;
        }
        if t == "רבעון" || t == "quarter" {
            quarter_word = true;
            continue;
        }
        if t == "חודש" || t == "month" || t == "שנת" || t == "year" {
            continue;
        }
        if let Some(q) = t.strip_prefix('q').and_then(|q| q.parse::<u32>().ok()) {
            tokens.push(Token::Quarter(q));
            continue;
        }
        if t.chars().all(|c| c.is_ascii_digit()) {
            let n: u32 = t.parse().ok()?;
            if t.len() == 4 {
                tokens.push(Token::Year(i32::try_from(n).ok()?));
            } else if t.len() <= 2 {
                if quarter_word && !tokens.iter().any(|t| matches!(t, Token::Quarter(_))) {
                    tokens.push(Token::Quarter(n));
                } else {
                    tokens.push(Token::Num(n));
                }
            } else {
                return None;
            }
            continue;
        }
        tokens.push(Token::Month(month_name(t)?));
    }
    let ym =
        |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).filter(|_| (1900..2200).contains(&y));
    let two = |yy: u32| 2000 + i32::try_from(yy).unwrap_or(0);
    use Token::*;
    match tokens.as_slice() {
        [Month(m), Year(y)] | [Year(y), Month(m)] => ym(*y, *m),
        [Month(m), Num(yy)] => ym(two(*yy), *m),
        [Num(m), Year(y)] | [Year(y), Num(m)] => ym(*y, *m),
        [Quarter(q), Year(y)] | [Year(y), Quarter(q)] if (1..=4).contains(q) => ym(*y, q * 3 - 2),
        [Quarter(q), Num(yy)] if (1..=4).contains(q) => ym(two(*yy), q * 3 - 2),
        [Year(y), Num(m), Num(d)] => NaiveDate::from_ymd_opt(*y, *m, *d).and_then(|_| ym(*y, *m)),
        [Num(d), Num(m), Year(y)] => NaiveDate::from_ymd_opt(*y, *m, *d).and_then(|_| ym(*y, *m)),
        [Year(y)] => ym(*y, 1),
        _ => None,
    }
}

/// The upper header row with each merged cell's text spread over the columns it spans: a
/// cell spreads right over blank upper cells whose lower cell is labelled, when its own lower
/// cell is labelled too (a year over its months). A label merged down over both rows (its
/// lower cell blank) spreads nowhere.
pub(crate) fn spread(upper: &[String], lower: &[String]) -> Vec<String> {
    let width = upper.len().max(lower.len());
    let at = |v: &[String], c: usize| v.get(c).map_or("", |s| s.trim()).to_owned();
    let mut out = Vec::with_capacity(width);
    let mut current: Option<String> = None;
    for c in 0..width {
        let (u, l) = (at(upper, c), at(lower, c));
        if !u.is_empty() {
            current = (!l.is_empty()).then(|| u.clone());
            out.push(u);
        } else if !l.is_empty() {
            out.push(current.clone().unwrap_or_default());
        } else {
            current = None;
            out.push(String::new());
        }
    }
    out
}

/// The label of each column of a two-row header: both rows' words, or the one there is.
pub(crate) fn combine(upper: &[String], lower: &[String]) -> Vec<String> {
    let spread = spread(upper, lower);
    spread
        .iter()
        .enumerate()
        .map(|(c, u)| {
            let l = lower.get(c).map_or("", |s| s.trim());
            match (u.is_empty(), l.is_empty()) {
                (_, true) => u.clone(),
                (true, false) => l.to_owned(),
                (false, false) => format!("{u} {l}"),
            }
        })
        .collect()
}

/// What a name cell holds: a period as a date, or text.
#[derive(Clone, Debug)]
pub(crate) enum Name {
    Date(NaiveDateTime),
    Text(String),
}

impl Name {
    /// A sheet's or a column's name as field type `t` takes it: a period for a date field
    /// (`ינואר 2024` → 2024-01-01), `2024-01` for a year-month, as written otherwise.
    pub(crate) fn for_field(text: &str, t: FieldType) -> Self {
        if is_period(t)
            && let Some(d) = period_of(text)
        {
            return match t {
                FieldType::Yearmonth => Name::Text(d.format("%Y-%m").to_string()),
                FieldType::Year => Name::Text(d.format("%Y").to_string()),
                _ => Name::Date(d.and_time(NaiveTime::MIN)),
            };
        }
        Name::Text(text.trim().to_owned())
    }

    pub(crate) fn cell(&self) -> Cell<'_> {
        match self {
            Name::Date(d) => Cell::DateTime(*d),
            Name::Text(t) => Cell::Str(t),
        }
    }
}

/// The sheets whose names match `pattern` (`*` any text, `?` one character; `רבעון *`), in
/// the workbook's order; names compared as written and as headers are (spacing, case).
pub(crate) fn matching_sheets(names: &[String], pattern: &str) -> Vec<String> {
    let options = glob::MatchOptions {
        case_sensitive: false,
        require_literal_separator: false,
        require_literal_leading_dot: false,
    };
    let Ok(p) = glob::Pattern::new(pattern.trim()) else {
        return names
            .iter()
            .filter(|n| n.trim() == pattern.trim())
            .cloned()
            .collect();
    };
    names
        .iter()
        .filter(|n| p.matches_with(n.trim(), options))
        .cloned()
        .collect()
}

/// One column of figures.
#[derive(Clone, Debug)]
struct Figure {
    col: usize,
    label: String,
    names: Vec<Name>,
}

/// A part of a block, for checking totals rows: the sums of the data rows between two totals
/// rows, or a totals row's cells.
enum Piece {
    Rows { sums: Vec<f64>, rows: u64 },
    Total { row: u64, cells: Vec<Option<f64>> },
}

/// What the receipt says of the layout.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutInfo {
    /// Header rows (1 or 2).
    pub header_rows: usize,
    /// Columns of figures turned into rows (0 when the sheet is not wide).
    pub figure_columns: usize,
    /// The first and the last figure column's header, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub figure_span: Vec<String>,
    /// Figures read (rows made from the sheet's cells).
    pub figures: u64,
    /// Totals rows left out, as row numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub totals_rows: Vec<u64>,
    /// Totals columns left out, as column letters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub totals_columns: Vec<String>,
    /// Rows with kept fields but no figure at all.
    pub rows_without_figures: u64,
}

impl LayoutInfo {
    /// The layout of a file read sheet by sheet, as one.
    pub(crate) fn merge(infos: Vec<LayoutInfo>) -> Option<LayoutInfo> {
        let mut it = infos.into_iter();
        let mut all = it.next()?;
        for i in it {
            all.header_rows = all.header_rows.max(i.header_rows);
            all.figure_columns += i.figure_columns;
            if let Some(last) = i.figure_span.last() {
                match all.figure_span.len() {
                    0 => all.figure_span.clone_from(&i.figure_span),
                    1 => all.figure_span.push(last.clone()),
                    _ => all.figure_span[1].clone_from(last),
                }
            }
            all.figures += i.figures;
            all.totals_rows.extend(i.totals_rows);
            for c in i.totals_columns {
                if !all.totals_columns.contains(&c) {
                    all.totals_columns.push(c);
                }
            }
            all.rows_without_figures += i.rows_without_figures;
        }
        all.totals_rows.sort_unstable();
        all.totals_rows.dedup();
        Some(all)
    }
}

/// Where each of the long rows' columns is in the sheet.
#[derive(Clone, Debug, Default)]
pub(crate) struct ColMap {
    /// Per long column: the sheet's column, or `None` for the name and figure columns, whose
    /// column is the row's figure column.
    fixed: Vec<Option<usize>>,
    /// Headers by sheet column, for the figure columns.
    labels: BTreeMap<usize, String>,
}

impl ColMap {
    /// The sheet's column of long column `c` in a row whose figure came from `origin`.
    pub(crate) fn real(&self, c: usize, origin: Option<u32>) -> Option<usize> {
        match self.fixed.get(c) {
            Some(Some(real)) => Some(*real),
            _ => origin.map(|o| o as usize),
        }
    }

    /// The header the partner sees over long column `c` of a row from `origin`, when it is a
    /// figure's (the figure's own column header).
    pub(crate) fn label(&self, c: usize, origin: Option<u32>) -> Option<&str> {
        match self.fixed.get(c) {
            Some(Some(_)) => None,
            _ => origin.and_then(|o| self.labels.get(&(o as usize)).map(String::as_str)),
        }
    }
}

/// A wide sheet's plan: which columns stay, which hold figures, which are totals.
pub(crate) struct Wide {
    keep: Vec<usize>,
    figures: Vec<Figure>,
    /// Totals columns: the column, its header, and the figures (indexes into `figures`) it
    /// totals.
    total_cols: Vec<(usize, String, Vec<usize>)>,
    /// Columns with a header that is neither kept, nor a figure, nor a total: (col, label).
    ignored: Vec<(usize, String)>,
    /// Per sheet column: it has a role (kept, a figure, a total) or a header the partner is
    /// told is not read; a value anywhere else is reported, not passed over.
    accounted: Vec<bool>,
    /// The long rows' header: the kept columns' labels, then the field names of the rest.
    pub(crate) labels: Vec<String>,
    pub(crate) map: ColMap,
    value_caster: Caster,
    value_field: String,
    totals: Vec<String>,
    header_row: u64,
    sheet: Option<String>,
    pieces: Mutex<BTreeMap<u64, Vec<Piece>>>,
    issues: Mutex<Vec<Issue>>,
    totals_rows: Mutex<Vec<u64>>,
    figures_read: AtomicU64,
    without_figures: AtomicU64,
}

fn is_period(t: FieldType) -> bool {
    matches!(
        t,
        FieldType::Date | FieldType::Datetime | FieldType::Yearmonth | FieldType::Year
    )
}

impl Wide {
    /// Plans a wide sheet from its header (`upper` when it has two rows), or says why the
    /// profile's `[layout] wide` cannot be read from it.
    pub(crate) fn plan(
        upper: Option<&[String]>,
        lower: &[String],
        schema: &TableSchema,
        layout: &Layout,
        header_row: u64,
        sheet: Option<String>,
    ) -> Option<Self> {
        let spec = layout.wide.as_ref()?;
        let width = lower.len().max(upper.map_or(0, <[String]>::len));
        let spread = upper.map(|u| spread(u, lower));
        let labels: Vec<String> = match upper {
            Some(u) => combine(u, lower),
            None => lower.iter().map(|s| s.trim().to_owned()).collect(),
        };
        let label = |c: usize| labels.get(c).cloned().unwrap_or_default();
        let field = |name: &str| schema.field_index(name).map(|i| &schema.fields[i]);
        // Kept fields: the column whose label (either row's, or both) names the field.
        let mut keep = Vec::new();
        let mut long_labels = Vec::new();
        let mut fixed = Vec::new();
        let mut taken = vec![false; width];
        for name in &spec.keep {
            let Some(f) = field(name) else { continue };
            let names: Vec<String> = std::iter::once(&f.name)
                .chain(&f.aliases)
                .map(|n| normalise_header(n))
                .collect();
            let hit = (0..width).find(|&c| {
                !taken[c]
                    && [
                        label(c),
                        lower.get(c).cloned().unwrap_or_default(),
                        upper.and_then(|u| u.get(c)).cloned().unwrap_or_default(),
                    ]
                    .iter()
                    .any(|l| names.contains(&normalise_header(l)))
            });
            if let Some(c) = hit {
                taken[c] = true;
                keep.push(c);
                long_labels.push(label(c));
                fixed.push(Some(c));
            }
        }
        let name_fields = spec.names_to.fields();
        let name_types: Vec<FieldType> = name_fields
            .iter()
            .map(|n| field(n).map_or(FieldType::String, |f| f.field_type))
            .collect();
        let mut figures = Vec::new();
        let mut totals_at = Vec::new();
        let mut ignored = Vec::new();
        for c in 0..width {
            if taken[c] {
                continue;
            }
            let l = label(c);
            if l.is_empty() {
                continue;
            }
            let low = lower.get(c).map_or("", |s| s.trim());
            let up = spread.as_ref().map_or("", |s| s[c].as_str());
            if is_total(&l, &layout.totals)
                || is_total(low, &layout.totals)
                || (low.is_empty() && is_total(up, &layout.totals))
            {
                totals_at.push((c, l, up.to_owned(), low.is_empty()));
                continue;
            }
            let texts: Vec<&str> = match &spec.names_to {
                NamesTo::One(_) => vec![l.as_str()],
                NamesTo::Each(_) => vec![up, low],
            };
            let mut names = Vec::new();
            for (text, t) in texts.iter().zip(&name_types) {
                let name = if is_period(*t) && period_of(text).is_none() {
                    None
                } else {
                    Some(Name::for_field(text, *t))
                };
                match name {
                    Some(n) => names.push(n),
                    None => break,
                }
            }
            if names.len() == texts.len() {
                figures.push(Figure {
                    col: c,
                    label: l,
                    names,
                });
            } else {
                ignored.push((c, l));
            }
        }
        // A totals column totals the figures under the same upper header, or all of them.
        let total_cols: Vec<(usize, String, Vec<usize>)> = totals_at
            .into_iter()
            .map(|(c, l, up, whole)| {
                let group: Vec<usize> = figures
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        whole || up.is_empty() || spread.as_ref().is_some_and(|s| s[f.col] == up)
                    })
                    .map(|(i, _)| i)
                    .collect();
                (c, l, group)
            })
            .collect();
        for n in &name_fields {
            long_labels.push((*n).to_owned());
            fixed.push(None);
        }
        long_labels.push(spec.values_to.clone());
        fixed.push(None);
        let value = schema.field_index(&spec.values_to)?;
        let value_caster = Caster::new(&schema.fields[value], schema.missing_values_for(value));
        let map = ColMap {
            fixed,
            labels: figures.iter().map(|f| (f.col, f.label.clone())).collect(),
        };
        let mut accounted = vec![false; width];
        for c in keep
            .iter()
            .chain(figures.iter().map(|f| &f.col))
            .chain(total_cols.iter().map(|t| &t.0))
            .chain(ignored.iter().map(|i| &i.0))
        {
            accounted[*c] = true;
        }
        Some(Self {
            keep,
            figures,
            total_cols,
            ignored,
            accounted,
            labels: long_labels,
            map,
            value_caster,
            value_field: spec.values_to.clone(),
            totals: layout.totals.clone(),
            header_row,
            sheet,
            pieces: Mutex::new(BTreeMap::new()),
            issues: Mutex::new(Vec::new()),
            totals_rows: Mutex::new(Vec::new()),
            figures_read: AtomicU64::new(0),
            without_figures: AtomicU64::new(0),
        })
    }

    /// The header's issues of the layout itself: no figure column, columns left unread.
    pub(crate) fn header_issues(&self) -> Vec<Issue> {
        let mut out = Vec::new();
        if self.figures.is_empty() {
            out.push(self.issue(
                ErrorType::MissingLabel,
                Severity::Error,
                self.header_row,
                None,
                None,
                "no column of figures",
                format!(
                    "Header (row {}): no column's header is a name of {:?}'s figures (a month such as \"ינואר 2024\" or \"01/2024\"); check the profile's [layout] wide",
                    self.header_row, self.value_field
                ),
            ));
        }
        for (c, l) in &self.ignored {
            out.push(self.issue(
                ErrorType::ExtraLabel,
                Severity::Warning,
                self.header_row,
                Some(*c),
                Some(l.clone()),
                "column not read",
                format!(
                    "Header (row {}): column {l:?} ({}) is neither a kept field nor a column of figures; its cells are not read",
                    self.header_row,
                    column_letters(*c)
                ),
            ));
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        kind: ErrorType,
        severity: Severity,
        row: u64,
        col: Option<usize>,
        label: Option<String>,
        note: &str,
        message: String,
    ) -> Issue {
        Issue {
            kind,
            severity,
            row_number: Some(row),
            field_name: None,
            field_number: col.map(|c| c + 1),
            cell: label.clone(),
            label,
            message,
            note: note.to_owned(),
            expected: None,
            expected_parts: None,
            sheet: self.sheet.clone(),
            cell_ref: match (&self.sheet, col) {
                (Some(_), Some(c)) => Some(format!("{}{row}", column_letters(c))),
                _ => None,
            },
        }
    }

    fn number(&self, cell: &CellView<'_>) -> Option<f64> {
        let CellView::Cell(cell) = cell else {
            return None;
        };
        #[allow(clippy::cast_precision_loss)]
        match self.value_caster.cast(cell) {
            Ok(Value::Int(i)) => Some(i as f64),
            Ok(Value::Num(f)) => Some(f),
            _ => None,
        }
    }

    fn is_totals_row(&self, block: &Block, slots: &[Slot]) -> bool {
        let figure_or_total = |c: usize| {
            self.figures.iter().any(|f| f.col == c) || self.total_cols.iter().any(|t| t.0 == c)
        };
        slots.iter().enumerate().any(|(c, s)| {
            !figure_or_total(c)
                && matches!(block.view(*s), CellView::Cell(cell) if is_total(&cell.display(), &self.totals))
        })
    }

    /// The long rows of a block of the sheet's rows: one per figure that is not blank; a
    /// blank sheet row stays one blank row; totals rows are left out and kept for checking.
    pub(crate) fn reshape(&self, block: Block) -> Block {
        let width = self.labels.len();
        let mut out = Block::with_capacity(block.text_len(), block.slots.len());
        out.seq = block.seq;
        let mut pieces = Vec::new();
        let mut sums = vec![0.0; self.figures.len()];
        let mut rows = 0u64;
        let mut issues = Vec::new();
        let mut totals_rows = Vec::new();
        let (mut figures_read, mut without) = (0u64, 0u64);
        let mut values: Vec<Option<f64>> = Vec::with_capacity(self.figures.len());
        for i in 0..block.len() {
            let (number, slots) = block.row_slots(i);
            if number <= self.header_row {
                continue;
            }
            let slot = |c: usize| slots.get(c).copied().unwrap_or(Slot::Empty);
            let blank = |s: Slot| match block.view(s) {
                CellView::Cell(c) => c.is_blank(),
                CellView::Oversized(_) => false,
            };
            if slots.iter().all(|s| blank(*s)) {
                for _ in 0..width {
                    out.slots.push(Slot::Empty);
                }
                out.end_row(number);
                out.origin.push(u32::MAX);
                continue;
            }
            for (c, s) in slots.iter().enumerate() {
                if self.accounted.get(c).copied().unwrap_or(false) || blank(*s) {
                    continue;
                }
                let text = match block.view(*s) {
                    CellView::Cell(cell) => cell.display(),
                    CellView::Oversized(n) => format!("<{n} bytes>"),
                };
                let mut issue = self.issue(
                    ErrorType::ExtraCell,
                    Severity::Warning,
                    number,
                    Some(c),
                    None,
                    "value in a column without a header",
                    format!(
                        "Row {number}, column {}: {text:?} is in a column without a header; it is not read",
                        column_letters(c)
                    ),
                );
                issue.cell = Some(text);
                issues.push(issue);
            }
            values.clear();
            values.extend(
                self.figures
                    .iter()
                    .map(|f| self.number(&block.view(slot(f.col)))),
            );
            if self.is_totals_row(&block, slots) {
                pieces.push(Piece::Rows {
                    sums: std::mem::replace(&mut sums, vec![0.0; self.figures.len()]),
                    rows: std::mem::take(&mut rows),
                });
                pieces.push(Piece::Total {
                    row: number,
                    cells: values.clone(),
                });
                totals_rows.push(number);
                continue;
            }
            rows += 1;
            for (s, v) in sums.iter_mut().zip(&values) {
                *s += v.unwrap_or(0.0);
            }
            for (tc, tl, group) in &self.total_cols {
                let shown = block.view(slot(*tc));
                let Some(total) = self.number(&shown) else {
                    continue;
                };
                let sum: f64 = group.iter().filter_map(|g| values[*g]).sum();
                if !close(total, sum) {
                    let text = match &shown {
                        CellView::Cell(c) => c.display(),
                        CellView::Oversized(_) => String::new(),
                    };
                    let mut issue = self.issue(
                        ErrorType::TotalMismatch,
                        Severity::Warning,
                        number,
                        Some(*tc),
                        None,
                        "total does not add up",
                        format!(
                            "Row {number}, column {tl:?}{}: the total {text} is not the sum of the row's figures ({})",
                            self.sheet.as_ref().map_or(String::new(), |_| format!(" ({}{number})", column_letters(*tc))),
                            format_float(sum)
                        ),
                    );
                    issue.cell = Some(text);
                    issue.label = Some(tl.clone());
                    issue.set_expected_total(sum);
                    issues.push(issue);
                }
            }
            let mut any = false;
            for f in &self.figures {
                let v = slot(f.col);
                if blank(v) {
                    continue;
                }
                any = true;
                for k in &self.keep {
                    out.copy_slot(&block, slot(*k));
                }
                for n in &f.names {
                    let s = match n {
                        Name::Date(d) => Slot::DateTime(*d),
                        Name::Text(t) => out.text(t.as_bytes()),
                    };
                    out.slots.push(s);
                }
                out.copy_slot(&block, v);
                out.end_row(number);
                out.origin.push(u32::try_from(f.col).unwrap_or(u32::MAX));
                figures_read += 1;
            }
            if !any {
                without += 1;
            }
        }
        pieces.push(Piece::Rows { sums, rows });
        out.seal();
        if let Ok(mut p) = self.pieces.lock() {
            p.insert(block.seq, pieces);
        }
        if !issues.is_empty()
            && let Ok(mut all) = self.issues.lock()
        {
            all.append(&mut issues);
        }
        if !totals_rows.is_empty()
            && let Ok(mut all) = self.totals_rows.lock()
        {
            all.append(&mut totals_rows);
        }
        self.figures_read.fetch_add(figures_read, Ordering::Relaxed);
        self.without_figures.fetch_add(without, Ordering::Relaxed);
        out
    }

    /// The totals' warnings, once every block is read: a totals row must equal the rows since
    /// the previous totals row (a subtotal) or all the rows above it (a grand total).
    pub(crate) fn finish(&self) -> (Vec<Issue>, LayoutInfo, usize) {
        let mut issues = self
            .issues
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        let pieces = self
            .pieces
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        let n = self.figures.len();
        let (mut since, mut all) = (vec![0.0; n], vec![0.0; n]);
        let mut since_rows = 0u64;
        for piece in pieces.into_values().flatten() {
            match piece {
                Piece::Rows { sums, rows } => {
                    for k in 0..n {
                        since[k] += sums[k];
                        all[k] += sums[k];
                    }
                    since_rows += rows;
                }
                Piece::Total { row, cells } => {
                    for (k, cell) in cells.iter().enumerate() {
                        let Some(t) = cell else { continue };
                        if close(*t, since[k]) || close(*t, all[k]) {
                            continue;
                        }
                        let expected = if since_rows > 0 { since[k] } else { all[k] };
                        let f = &self.figures[k];
                        let mut issue = self.issue(
                            ErrorType::TotalMismatch,
                            Severity::Warning,
                            row,
                            Some(f.col),
                            None,
                            "total does not add up",
                            format!(
                                "Row {row}, column {:?}{}: the total {} is not the sum of the rows above it ({})",
                                f.label,
                                self.sheet.as_ref().map_or(String::new(), |_| format!(" ({}{row})", column_letters(f.col))),
                                format_float(*t),
                                format_float(expected)
                            ),
                        );
                        issue.cell = Some(format_float(*t));
                        issue.label = Some(f.label.clone());
                        issue.set_expected_total(expected);
                        issue.field_name = Some(self.value_field.clone());
                        issues.push(issue);
                    }
                    since = vec![0.0; n];
                    since_rows = 0;
                }
            }
        }
        issues.sort_by_key(|i| (i.row_number, i.field_number));
        let mut totals_rows = self
            .totals_rows
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        totals_rows.sort_unstable();
        let info = LayoutInfo {
            header_rows: 1,
            figure_columns: n,
            figure_span: match (self.figures.first(), self.figures.last()) {
                (Some(a), Some(b)) => vec![a.label.clone(), b.label.clone()],
                _ => Vec::new(),
            },
            figures: self.figures_read.load(Ordering::Relaxed),
            totals_rows,
            totals_columns: self
                .total_cols
                .iter()
                .map(|(c, _, _)| column_letters(*c))
                .collect(),
            rows_without_figures: self.without_figures.load(Ordering::Relaxed),
        };
        (issues, info, n)
    }
}

impl Issue {
    fn set_expected_total(&mut self, sum: f64) {
        let x = crate::expected::Expected::of(crate::expected::ExpectedKind::Total {
            sum: format_float(sum),
        });
        self.expected = Some(x.to_string());
        self.expected_parts = Some(x);
    }
}

/// Equal as a person checking a total would say: to a millionth.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, 1)
    }

    #[test]
    fn month_headers_become_periods() {
        for (label, want) in [
            ("ינואר 2024", d(2024, 1)),
            ("2024 ינואר", d(2024, 1)),
            ("מרס 2023", d(2023, 3)),
            ("01/2024", d(2024, 1)),
            ("1.2024", d(2024, 1)),
            ("2024-01", d(2024, 1)),
            ("Jan-24", d(2024, 1)),
            ("Sept 2024", d(2024, 9)),
            ("December 2025", d(2025, 12)),
            ("15/03/2024", d(2024, 3)),
            ("Q2 2024", d(2024, 4)),
            ("רבעון 3 2024", d(2024, 7)),
            ("2024", d(2024, 1)),
            ("חודש פברואר 2024", d(2024, 2)),
            ("13/2024", None),
            ("אזור", None),
            ("0-5", None),
            ("Total", None),
        ] {
            assert_eq!(period_of(label), want, "{label}");
        }
    }

    #[test]
    fn totals_labels() {
        assert!(is_total("סה\"כ", &[]));
        assert!(is_total(" Total ", &[]));
        assert!(is_total("סה\"כ 2024", &[]));
        assert!(is_total("סך הכל:", &[]));
        assert!(!is_total("totally", &[]));
        assert!(!is_total("צפון", &[]));
        assert!(is_total("Summe", &["summe".to_owned()]));
    }

    #[test]
    fn merged_cells_spread_over_their_group_only() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let upper = s(&["אזור", "2024", "", "", "2025", ""]);
        let lower = s(&["", "ינואר", "פברואר", "סה\"כ", "ינואר", "פברואר"]);
        assert_eq!(
            combine(&upper, &lower),
            s(&[
                "אזור",
                "2024 ינואר",
                "2024 פברואר",
                "2024 סה\"כ",
                "2025 ינואר",
                "2025 פברואר"
            ])
        );
    }
}
