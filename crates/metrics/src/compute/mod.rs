//! Aggregating every side of every indicator in one pass per table: polars reads the Parquet
//! files and evaluates the expressions the sides need (a period key per date field and grain,
//! a flag per filter in polars SQL, a text per breakdown), then `tally` adds up the total and
//! every breakdown in arrays indexed by group, each straight from the rows (never by adding up
//! breakdowns: distinct counts are not additive).

use std::collections::{BTreeMap, BTreeSet};

use backbone_schema::{Grain, Indicator, Kind, Measure};
use backbone_workspace::Period;
use polars::prelude::*;

use crate::MetricsError;

mod codes;
pub mod kept;
mod parts;
mod tally;

use tally::*;

/// A period as an orderable key: `year * 100 + index` (index 1-based: month, quarter, half,
/// or 1 for a year).
pub type PeriodKey = i32;

/// One aggregated cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// The value (count, distinct count, sum or mean); `None` when there is nothing to average.
    pub value: Option<f64>,
    /// The units behind the value: rows, distinct units, or non-empty values summed or
    /// averaged. What small-cell suppression looks at.
    pub units: u64,
}

/// `breakdown` key: empty for the total, else `dimension=value`.
pub type Breakdown = String;

/// Cells by period and breakdown.
pub type Cells = BTreeMap<(PeriodKey, Breakdown), Aggregate>;

/// The label of a period key (the workspace's [`Period`] is the one definition).
pub fn period_label(grain: Grain, key: PeriodKey) -> String {
    Period::from_key(grain, key).map_or_else(|| key.to_string(), Period::label)
}

/// The key of a period label written at `grain` (`2024-03`, `2024-Q1`, `2024-H2`, `2024`).
pub fn parse_period(grain: Grain, label: &str) -> Option<PeriodKey> {
    Period::parse_at(grain, label).map(Period::key)
}

/// Consecutive numbering of periods, so that paths and trends can be drawn across years.
pub fn ordinal(grain: Grain, key: PeriodKey) -> i32 {
    Period::from_key(grain, key).map_or(0, |p| i32::try_from(p.ordinal()).unwrap_or(i32::MAX))
}

/// The period key that follows `key`.
pub fn next(grain: Grain, key: PeriodKey) -> PeriodKey {
    Period::from_key(grain, key).map_or(key, |p| p.next().key())
}

/// The calendar months (year, month) a period covers, for a reporting year starting in
/// `first_month`.
pub fn months_of(grain: Grain, key: PeriodKey, first_month: u32) -> Vec<(i32, u32)> {
    Period::from_key(grain, key).map_or_else(Vec::new, |p| p.months(first_month))
}

/// The polars expression of a row's period key.
fn period_expr(date_field: &str, grain: Grain, first_month: u32) -> Expr {
    let y = col(date_field).dt().year().cast(DataType::Int32);
    let m = col(date_field).dt().month().cast(DataType::Int32);
    if grain == Grain::Month {
        return y * lit(100) + m;
    }
    // Months since year 0, shifted so that the reporting year starts at 0.
    let k = y * lit(12) + m - lit(1) - lit(first_month as i32 - 1);
    let year = k.clone().floor_div(lit(12));
    let within = k - year.clone() * lit(12);
    year * lit(100) + within.floor_div(lit(grain.months() as i32)) + lit(1)
}

/// The expression of one breakdown dimension, as text.
fn dimension_expr(indicator: &Indicator, name: &str) -> Expr {
    if name == "partner" {
        return col(crate::PARTNER).cast(DataType::String);
    }
    if let Some(band) = indicator.bands.get(name) {
        // The band's index (0 below the first edge), labelled afterwards.
        let mut idx = lit(0i32);
        for e in &band.edges {
            idx = idx
                + col(band.field.as_str())
                    .cast(DataType::Float64)
                    .gt_eq(lit(*e))
                    .cast(DataType::Int32);
        }
        return when(col(band.field.as_str()).is_null())
            .then(lit(NULL).cast(DataType::String))
            .otherwise(idx.cast(DataType::String));
    }
    col(name).cast(DataType::String)
}

/// The text of a breakdown value (`(missing)` for an empty cell; band labels for bands).
fn dimension_label(indicator: &Indicator, name: &str, raw: Option<&str>) -> String {
    let Some(raw) = raw else {
        return "(missing)".into();
    };
    match indicator.bands.get(name) {
        Some(band) => {
            let idx: usize = raw.parse().unwrap_or(0);
            // Index 0 is below the first edge; i is [edges[i-1], edges[i]).
            let probe = if idx == 0 {
                band.edges.first().map_or(0.0, |e| e - 1.0)
            } else {
                band.edges.get(idx - 1).copied().unwrap_or(0.0)
            };
            band.label(probe)
        }
        None => raw.to_owned(),
    }
}

/// The months whose rows changed since the previous results: an incremental computation
/// recomputes only the periods that hold one of them.
pub type Window = BTreeSet<(i32, u32)>;

/// The key of the period holding `(year, month)` at `grain`.
pub fn key_of_month(
    grain: Grain,
    (year, month): (i32, u32),
    first_month: u32,
) -> Option<PeriodKey> {
    Period::of_month(grain, year, month, first_month).map(Period::key)
}

/// The periods at `grain` that hold a month of the window.
pub fn affected(grain: Grain, window: &Window, first_month: u32) -> BTreeSet<PeriodKey> {
    window
        .iter()
        .filter_map(|m| key_of_month(grain, *m, first_month))
        .collect()
}

/// Rows whose date falls in one of `keys`' periods: a range on the raw date column, which
/// the Parquet reader can check against each file's statistics and skip what is outside.
fn window_filter(
    date_field: &str,
    grain: Grain,
    keys: &BTreeSet<PeriodKey>,
    first_month: u32,
) -> Expr {
    let mut ranges = BTreeMap::new();
    window_ranges(date_field, grain, keys, first_month, &mut ranges);
    ranges_filter(ranges)
}

/// The date ranges of `keys`' periods, added to `into` (per date field).
fn window_ranges(
    date_field: &str,
    grain: Grain,
    keys: &BTreeSet<PeriodKey>,
    first_month: u32,
    into: &mut Ranges,
) {
    for k in keys {
        let months = months_of(grain, *k, first_month);
        let (Some(&(y0, m0)), Some(&(y1, m1))) = (months.first(), months.last()) else {
            continue;
        };
        let start = chrono::NaiveDate::from_ymd_opt(y0, m0, 1);
        let end = if m1 == 12 {
            chrono::NaiveDate::from_ymd_opt(y1 + 1, 1, 1)
        } else {
            chrono::NaiveDate::from_ymd_opt(y1, m1 + 1, 1)
        };
        if let (Some(start), Some(end)) = (start, end) {
            into.entry(date_field.to_owned())
                .or_default()
                .push((start, end));
        }
    }
}

/// The date ranges one side reads with a window: the periods the window touches at its grain,
/// or, for a side whose months' distinct sets are kept, the changed months alone (the rest of
/// its periods comes from the kept sets).
fn side_ranges(side: &Side<'_>, first_month: u32, window: &Window, kept: bool, into: &mut Ranges) {
    let ind = side.indicator;
    if let Some(date_field) = ind.date_field_of(side.measure) {
        let grain = if kept { Grain::Month } else { ind.grain };
        let keys = affected(grain, window, first_month);
        window_ranges(date_field, grain, &keys, first_month, into);
    }
}

/// Date ranges by date field: `[start, end)`.
pub type Ranges = BTreeMap<String, Vec<(chrono::NaiveDate, chrono::NaiveDate)>>;

/// The date ranges the sides reading table `schema` read with a window (`keeping`: the
/// computation keeps distinct sets): what [`needed`] skips files by.
pub fn ranges_read(
    sides: &[Side<'_>],
    schema: &str,
    first_month: u32,
    window: &Window,
    keeping: bool,
) -> Ranges {
    let mut ranges = Ranges::new();
    for side in sides.iter().filter(|s| s.schema() == schema) {
        side_ranges(
            side,
            first_month,
            window,
            keeping && kept::kept_side(side),
            &mut ranges,
        );
    }
    ranges
}

/// The date range of one period of a side (what `explain` reads).
pub fn period_ranges(
    indicator: &Indicator,
    measure: Option<&Measure>,
    period: PeriodKey,
    first_month: u32,
) -> Ranges {
    let mut ranges = Ranges::new();
    if let Some(date_field) = indicator.date_field_of(measure) {
        let keys = BTreeSet::from([period]);
        window_ranges(date_field, indicator.grain, &keys, first_month, &mut ranges);
    }
    ranges
}

/// Whether a file whose date columns lie within `dates` (from the store's statistics) can
/// hold a row in `ranges`: some date field's span meets one of its ranges, or the file has no
/// statistics for it.
pub fn needed(
    ranges: &Ranges,
    dates: &BTreeMap<String, (chrono::NaiveDate, chrono::NaiveDate)>,
) -> bool {
    ranges.iter().any(|(field, spans)| match dates.get(field) {
        None => true,
        Some(&(low, high)) => spans.iter().any(|&(start, end)| low < end && high >= start),
    })
}

/// One filter of the ranges, adjacent and overlapping ones merged: a year recomputed is one
/// range, not twelve months times every side (an `OR` of dozens of ranges was evaluated row
/// by row, and read the whole table).
fn ranges_filter(ranges: Ranges) -> Expr {
    let mut any = lit(false);
    for (field, mut spans) in ranges {
        spans.sort();
        let mut merged: Vec<(chrono::NaiveDate, chrono::NaiveDate)> = Vec::new();
        for (start, end) in spans {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        for (start, end) in merged {
            any = any.or(col(field.as_str())
                .gt_eq(lit(start))
                .and(col(field.as_str()).lt(lit(end))));
        }
    }
    any
}

/// The rows one side counts: its filter (polars SQL) applied, rows without a date dropped,
/// and each row's period key in `__period` (for `backbone explain`).
fn in_periods(
    rows: &LazyFrame,
    indicator: &Indicator,
    measure: Option<&Measure>,
    first_month: u32,
    window: Option<&Window>,
) -> Result<LazyFrame, MetricsError> {
    let id = indicator.id.as_str();
    let filter = measure.map_or(indicator.filter.as_deref(), |m| m.filter.as_deref());
    let date_field = indicator
        .date_field_of(measure)
        .ok_or_else(|| MetricsError::compute(id, "no date field"))?;
    let mut lf = rows.clone();
    if let Some(w) = window {
        let keys = affected(indicator.grain, w, first_month);
        lf = lf.filter(window_filter(
            date_field,
            indicator.grain,
            &keys,
            first_month,
        ));
    }
    if let Some(f) = filter.filter(|f| !f.trim().is_empty()) {
        let expr = polars::sql::sql_expr(f).map_err(|e| MetricsError::Filter {
            indicator: id.to_owned(),
            filter: f.to_owned(),
            message: e.to_string(),
        })?;
        lf = lf.filter(expr);
    }
    Ok(lf
        .filter(col(date_field).is_not_null())
        .with_column(period_expr(date_field, indicator.grain, first_month).alias("__period")))
}

/// A table's rows at one version: all of them as one frame, and the same rows in batches of
/// files that [`aggregate_all`] reads one after the other, so that its memory follows the
/// batch rather than the table.
pub struct Rows {
    /// Every file.
    pub all: LazyFrame,
    /// Consecutive files, about [`BATCH_ROWS`] rows each.
    pub batches: Vec<LazyFrame>,
    /// The same batches with each row's path in column `__file` (what the means of the
    /// submissions are read from).
    pub with_paths: Vec<LazyFrame>,
    /// How many parts distinct counts are dealt into (by the counted value), each tallied on
    /// its own so that their memory follows a part rather than the table: one up to
    /// [`MEMORY_ROWS`] rows, else one per [`PART_ROWS`] ([`WINDOW_MEMORY_ROWS`] and
    /// [`WINDOW_PART_ROWS`] for the rows of a window, [`Rows::batches_of`]).
    pub parts: usize,
    /// The table is an aggregate (`x-aggregate`): each row's figure counts people, so a
    /// sum's cell stands for as many people as it adds up to (what disclosure control
    /// weighs), not for its rows.
    pub aggregate: bool,
}

/// The rows of a table whose distinct counts are tallied in one part, in memory. The working
/// set of a distinct count is about 35 bytes a row (period key, breakdown codes, filters'
/// verdicts, the value's code, the grouping arrays) and a dictionary entry per value, so a
/// part stays under about 300 MiB. A larger table is dealt into parts on disk, which costs
/// writing and reading every row's record once (0.3–0.9 s on the peers' 5M rows, kept in
/// memory below this bound).
///
/// Counted in rows, not Parquet bytes: the bytes a row takes vary sevenfold between stores
/// (small files carry their metadata: 400 bytes a row in a store of 400-row files, 60 in one
/// of 8 000-row files), and memory follows the rows.
pub const MEMORY_ROWS: u64 = 6_000_000;

/// The rows of each part of a table dealt into parts on disk: a part's columns and
/// dictionary then stay in the processor's caches far better than [`MEMORY_ROWS`]' would
/// (a full computation of 10⁸ rows: 104–113 s in parts of 10⁶ rows, 128–143 s in parts of
/// 6·10⁶).
pub const PART_ROWS: u64 = 1_000_000;

/// [`MEMORY_ROWS`] for the rows an incremental computation reads (the changed months'): its
/// memory is to stay what it is on a small store, whatever a month holds. A month of a 5M-row
/// store (80 000 rows) stays in memory; a month of a 10⁸-row store (1.7M rows) is dealt into
/// parts on disk, which costs writing and reading its records once (its parts read and
/// tallied in 0.21–0.27 s; the whole run took 2.9 s against 3.2 s before) and keeps about
/// 100 MiB of columns and dictionary out of memory.
pub const WINDOW_MEMORY_ROWS: u64 = 1_000_000;

/// [`PART_ROWS`] for the rows of a window dealt into parts.
pub const WINDOW_PART_ROWS: u64 = 250_000;

/// The rows read at once by [`aggregate_all`]: large enough that a store of many small files
/// is read in few steps, small enough that the columns read stay well under 100 MiB.
pub const BATCH_ROWS: u64 = 250_000;

/// [`BATCH_ROWS`] for the rows an incremental computation reads: a month of a 10⁸-row store
/// read in batches of 100 000 rows peaked 14–18 MiB lower than in batches of 250 000, in the
/// same time (the month's 200 files are read either way).
pub const WINDOW_BATCH_ROWS: u64 = 100_000;

/// What a file's rows are taken to be when the Delta log does not count them (a table written
/// by a tool that keeps no statistics): its Parquet bytes over this. Fewer bytes than most
/// files hold a row, so a guess errs towards smaller batches.
pub const BYTES_PER_ROW: u64 = 40;

/// A file's rows: the log's count, or a guess from its bytes.
pub fn rows_of(counted: Option<u64>, bytes: impl FnOnce() -> u64) -> u64 {
    counted.unwrap_or_else(|| bytes() / BYTES_PER_ROW)
}

impl Rows {
    /// The rows of the Parquet files at `paths`, holding `rows` rows each; `scan` reads some
    /// of them as one frame (with each row's path in a column when asked).
    pub fn new(
        paths: Vec<String>,
        rows: &[u64],
        scan: impl Fn(&[String], bool) -> PolarsResult<LazyFrame>,
    ) -> PolarsResult<Self> {
        let all = scan(&paths, false)?;
        let (batches, with_paths) = Self::cut(&paths, rows, BATCH_ROWS, &scan)?;
        Ok(Self {
            all,
            batches,
            with_paths,
            parts: parts_for(rows, MEMORY_ROWS, PART_ROWS),
            aggregate: false,
        })
    }

    /// Tallies only `paths` (of `rows` rows each), batch by batch: the files a window needs,
    /// in batches of [`WINDOW_BATCH_ROWS`], with distinct counts in parts sized for them
    /// ([`WINDOW_MEMORY_ROWS`], [`WINDOW_PART_ROWS`]). The whole table stays in [`Rows::all`]
    /// and [`Rows::with_paths`] (the means of every submission are read from it when they
    /// were not kept).
    pub fn batches_of(
        &mut self,
        paths: &[String],
        rows: &[u64],
        scan: impl Fn(&[String], bool) -> PolarsResult<LazyFrame>,
    ) -> PolarsResult<()> {
        (self.batches, _) = Self::cut(paths, rows, WINDOW_BATCH_ROWS, &scan)?;
        self.parts = parts_for(rows, WINDOW_MEMORY_ROWS, WINDOW_PART_ROWS);
        Ok(())
    }

    /// Consecutive files of about [`BATCH_ROWS`] rows, each scanned as one frame, without and
    /// with the rows' paths.
    #[allow(clippy::type_complexity)]
    fn cut(
        paths: &[String],
        rows: &[u64],
        batch_rows: u64,
        scan: &impl Fn(&[String], bool) -> PolarsResult<LazyFrame>,
    ) -> PolarsResult<(Vec<LazyFrame>, Vec<LazyFrame>)> {
        let mut cuts = Vec::new();
        let mut start = 0;
        let mut taken = 0u64;
        for (i, n) in rows.iter().enumerate().take(paths.len()) {
            taken += n;
            if taken >= batch_rows {
                cuts.push(start..i + 1);
                start = i + 1;
                taken = 0;
            }
        }
        if start < paths.len() {
            cuts.push(start..paths.len());
        }
        let mut batches = Vec::with_capacity(cuts.len());
        let mut with_paths = Vec::with_capacity(cuts.len());
        for cut in cuts {
            batches.push(scan(&paths[cut.clone()], false)?);
            with_paths.push(scan(&paths[cut], true)?);
        }
        Ok((batches, with_paths))
    }
}

/// The parts the distinct counts of files of `rows` rows are dealt into: one, in memory, up
/// to `memory_rows`; else parts of `part_rows` on disk.
fn parts_for(rows: &[u64], memory_rows: u64, part_rows: u64) -> usize {
    let total: u64 = rows.iter().sum();
    if total <= memory_rows {
        return 1;
    }
    usize::try_from(total.div_ceil(part_rows.max(1)))
        .unwrap_or(usize::MAX)
        .max(2)
}

/// One side of an indicator: the indicator itself (`measure` is `None`), or its numerator or
/// denominator.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    /// The indicator.
    pub indicator: &'a Indicator,
    /// The measure, for a ratio's or a rate's side.
    pub measure: Option<&'a Measure>,
}

impl Side<'_> {
    /// The table the side reads.
    pub fn schema(&self) -> &str {
        self.measure
            .and_then(|m| m.schema.as_deref())
            .unwrap_or(&self.indicator.schema)
    }
}

/// What one side needs from the prepared columns.
struct Plan {
    /// The column of the row's period key.
    period: String,
    /// The column of the side's filter, when it has one.
    filter: Option<String>,
    /// The column summed, averaged or counted distinct.
    field: Option<String>,
    kind: Kind,
    /// (dimension name, column) for each breakdown.
    dims: Vec<(String, String)>,
    /// With a window: the periods recomputed (cells of other periods are partial and dropped).
    keys: Option<BTreeSet<PeriodKey>>,
}

/// The columns one pass over a table prepares for every side that reads it, each computed
/// once however many sides use it (a period key per date field and grain, a flag per filter,
/// a text per breakdown, a field as numbers or as integer codes).
struct Prep<'a> {
    rows: &'a LazyFrame,
    exprs: Vec<Expr>,
    names: std::collections::HashMap<String, String>,
}

impl<'a> Prep<'a> {
    fn new(rows: &'a LazyFrame) -> Self {
        Self {
            rows,
            exprs: Vec::new(),
            names: std::collections::HashMap::new(),
        }
    }

    /// The column computing `expr` (registered under `key`); its type is checked against the
    /// table at once so that an error names the indicator that brought the expression.
    fn column(&mut self, key: String, expr: Expr, indicator: &str) -> Result<String, MetricsError> {
        if let Some(name) = self.names.get(&key) {
            return Ok(name.clone());
        }
        let name = format!("__c{}", self.exprs.len());
        let expr = expr.alias(name.as_str());
        let schema = self
            .rows
            .clone()
            .select([expr.clone()])
            .collect_schema()
            .map_err(|e| MetricsError::compute(indicator, e))?;
        if key.starts_with("filter\u{1f}")
            && schema.get(&name).is_some_and(|t| *t != DataType::Boolean)
        {
            return Err(MetricsError::compute(
                indicator,
                format!(
                    "the filter {:?} is not a condition (true or false for each row)",
                    key.trim_start_matches("filter\u{1f}")
                ),
            ));
        }
        self.exprs.push(expr);
        self.names.insert(key, name.clone());
        Ok(name)
    }

    fn plan(
        &mut self,
        side: &Side<'_>,
        first_month: u32,
        window: Option<&Window>,
    ) -> Result<Plan, MetricsError> {
        let ind = side.indicator;
        let id = ind.id.as_str();
        let kind = side.measure.map_or(ind.kind, |m| m.kind);
        let field = side
            .measure
            .map_or(ind.field.as_deref(), |m| m.field.as_deref());
        let filter = side
            .measure
            .map_or(ind.filter.as_deref(), |m| m.filter.as_deref())
            .filter(|f| !f.trim().is_empty());
        let date_field = ind
            .date_field_of(side.measure)
            .ok_or_else(|| MetricsError::compute(id, "no date field"))?;
        let period = self.column(
            format!("period\u{1f}{date_field}\u{1f}{:?}", ind.grain),
            period_expr(date_field, ind.grain, first_month),
            id,
        )?;
        let filter = match filter {
            Some(f) => {
                let expr = polars::sql::sql_expr(f).map_err(|e| MetricsError::Filter {
                    indicator: id.to_owned(),
                    filter: f.to_owned(),
                    message: e.to_string(),
                })?;
                // A row the filter cannot decide (a comparison with an empty cell) is out,
                // as in SQL's WHERE.
                Some(self.column(format!("filter\u{1f}{f}"), expr.fill_null(lit(false)), id)?)
            }
            None => None,
        };
        let field = match (kind, field) {
            (Kind::Count, _) => None,
            (Kind::DistinctCount, Some(f)) => {
                Some(self.column(format!("text\u{1f}{f}"), col(f).cast(DataType::String), id)?)
            }
            (Kind::Sum | Kind::Mean, Some(f)) => Some(self.column(
                format!("number\u{1f}{f}"),
                col(f).cast(DataType::Float64),
                id,
            )?),
            (k, _) => {
                return Err(MetricsError::compute(
                    id,
                    format!("{} cannot be aggregated from rows here", k.name()),
                ));
            }
        };
        let mut dims = Vec::new();
        for d in &ind.dimensions {
            let key = match ind.bands.get(d) {
                Some(b) => format!("band\u{1f}{}\u{1f}{:?}", b.field, b.edges),
                None => format!("dimension\u{1f}{d}"),
            };
            dims.push((d.clone(), self.column(key, dimension_expr(ind, d), id)?));
        }
        Ok(Plan {
            period,
            filter,
            field,
            kind,
            dims,
            keys: window.map(|w| affected(ind.grain, w, first_month)),
        })
    }
}

/// Aggregates every side at once, for the total and for every breakdown, each from the rows.
/// One pass over each table prepares the columns all its sides need; then one `group_by` per
/// period column and level computes every side that shares it (a side's filter applied within
/// each group). Returns the cells of each side, in the order of `sides`.
///
/// With a window, only the rows of the periods it touches are read (the Parquet reader skips
/// files outside by their statistics), and only those periods' cells are returned.
///
/// With `keep`, the sides counting distinct over quarters, halves or years keep their months'
/// distinct sets (`kept.rs`): a full computation writes every month's; with a window, those
/// sides read only the changed months' rows, and the other months of their periods from the
/// previous computation's sets.
pub fn aggregate_all(
    frames: &BTreeMap<String, Rows>,
    sides: &[Side<'_>],
    first_month: u32,
    window: Option<&Window>,
    mut keep: Option<&mut kept::Keep>,
) -> Result<Vec<Cells>, MetricsError> {
    // The changed months as period keys (`yyyymm`).
    let changed: Option<BTreeSet<PeriodKey>> =
        window.map(|w| w.iter().map(|&(y, m)| y * 100 + m as i32).collect());
    let mut out: Vec<Cells> = vec![Cells::new(); sides.len()];
    let schemas: BTreeSet<&str> = sides.iter().map(Side::schema).collect();
    for schema in schemas {
        let Some(rows) = frames.get(schema) else {
            // No rows at this version: every side's cells are empty, and so are the changed
            // months' kept sets (the rows they held are gone).
            if let (Some(keep), Some(changed)) = (keep.as_deref_mut(), changed.as_ref()) {
                for side in sides.iter().filter(|s| s.schema() == schema) {
                    if kept::kept_side(side) {
                        keep.close(
                            &kept::side_key(side),
                            changed,
                            side.indicator.dimensions.len(),
                        )
                        .map_err(|e| MetricsError::compute(schema, e))?;
                    }
                }
            }
            continue;
        };
        let members: Vec<usize> = (0..sides.len())
            .filter(|&i| sides[i].schema() == schema)
            .collect();
        let mut prep = Prep::new(&rows.all);
        let mut plans = Vec::with_capacity(members.len());
        let mut ranges = BTreeMap::new();
        // Sides whose months' distinct sets are kept: (plan, folder, month column).
        let mut keeps: Vec<(usize, String, String)> = Vec::new();
        for &i in &members {
            let side = &sides[i];
            plans.push(prep.plan(side, first_month, window)?);
            let ind = side.indicator;
            let kept_here = keep.is_some() && kept::kept_side(side);
            if kept_here && let Some(date_field) = ind.date_field_of(side.measure) {
                let month = prep.column(
                    format!("period\u{1f}{date_field}\u{1f}{:?}", Grain::Month),
                    period_expr(date_field, Grain::Month, first_month),
                    &ind.id,
                )?;
                keeps.push((plans.len() - 1, kept::side_key(side), month));
            }
            if let Some(w) = window {
                side_ranges(side, first_month, w, kept_here, &mut ranges);
            }
        }
        // With a window, kept sides are tallied from the kept sets, not from the rows.
        let from_sets: BTreeSet<usize> = if window.is_some() {
            keeps.iter().map(|(k, _, _)| *k).collect()
        } else {
            BTreeSet::new()
        };
        let wanted = ranges_filter(ranges);
        let exprs = std::mem::take(&mut prep.exprs);
        // Counts, sums and means add up batch by batch; distinct counts are dealt into parts
        // by the counted value (one set of parts per field counted) and tallied part by part.
        let (distinct, additive): (Vec<usize>, Vec<usize>) = (0..plans.len())
            .filter(|k| !from_sets.contains(k))
            .partition(|&k| plans[k].kind == Kind::DistinctCount && plans[k].field.is_some());
        let additive_roles = roles_of(&plans, &additive);
        let mut by_field: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &k in &distinct {
            if let Some(f) = plans[k].field.as_deref() {
                by_field.entry(f).or_default().push(k);
            }
        }
        let mut parts = Vec::with_capacity(by_field.len());
        for (field, ks) in &by_field {
            let spill = |e: std::io::Error| {
                MetricsError::compute(schema, format!("parts of a distinct count: {e}"))
            };
            parts.push((
                ks,
                parts::Parts::new(&roles_of(&plans, ks), field, rows.parts).map_err(spill)?,
            ));
        }
        let mut totals: BTreeMap<(usize, Option<String>, PeriodKey, Option<String>), Tally> =
            BTreeMap::new();
        let mut add = |k: usize, dim_name: Option<&str>, (p, raw): (PeriodKey, Option<&str>), t| {
            totals
                .entry((k, dim_name.map(str::to_owned), p, raw.map(str::to_owned)))
                .or_default()
                .add(t);
        };
        for batch in &rows.batches {
            let started = std::time::Instant::now();
            let mut lf = batch.clone();
            if window.is_some() {
                lf = lf.filter(wanted.clone());
            }
            let df = lf
                .select(exprs.clone())
                .collect()
                .map_err(|e| MetricsError::compute(schema, e))?;
            let read = started.elapsed();
            if !additive.is_empty() {
                let mut columns = Columns::default();
                columns
                    .extend(&df, &additive_roles)
                    .map_err(|e| MetricsError::compute(schema, e))?;
                tally(&plans, &additive, &columns, &mut add);
            }
            for (_, part) in &mut parts {
                part.push(&df)
                    .map_err(|e| MetricsError::compute(schema, e))?;
            }
            if let Some(keep) = keep.as_deref_mut() {
                for (k, key, month) in &keeps {
                    let mut dims = Vec::new();
                    let names = kept_columns(&plans[*k], month, &mut dims);
                    keep.push(key, &df, &names, changed.as_ref())
                        .map_err(|e| MetricsError::compute(schema, e))?;
                }
            }
            tracing::debug!(
                table = schema,
                rows = df.height(),
                ?read,
                tallied = ?started.elapsed().saturating_sub(read),
                "batch read"
            );
        }
        let started = std::time::Instant::now();
        for (ks, part) in parts {
            part.finish(|columns| tally(&plans, ks, columns, &mut add))
                .map_err(|e| MetricsError::compute(schema, e))?;
        }
        tracing::debug!(table = schema, parts = rows.parts, took = ?started.elapsed(), "distinct counts of the rows tallied");
        if let Some(keep) = keep.as_deref_mut() {
            let none = BTreeSet::new();
            for (k, key, month) in &keeps {
                let plan = &plans[*k];
                let mut dims = Vec::new();
                let names = kept_columns(plan, month, &mut dims);
                keep.close(key, changed.as_ref().unwrap_or(&none), names.dims.len())
                    .map_err(|e| MetricsError::compute(schema, e))?;
                tracing::debug!(table = schema, side = key, took = ?started.elapsed(), "kept sets written");
                if !from_sets.contains(k) {
                    continue;
                }
                // Every month of the periods recomputed: the changed ones as just written,
                // the others as the previous computation kept them.
                let grain = sides[members[*k]].indicator.grain;
                let months: BTreeSet<PeriodKey> = plan
                    .keys
                    .iter()
                    .flatten()
                    .flat_map(|&p| months_of(grain, p, first_month))
                    .map(|(y, m)| y * 100 + m as i32)
                    .collect();
                // Part by part on all cores, each part's cells tallied on its own thread.
                let parts = keep
                    .tally_parts(
                        key,
                        &months,
                        grain,
                        first_month,
                        &names,
                        &plan.period,
                        |columns| {
                            let mut cells = Vec::new();
                            tally_on(1, &plans, &[*k], columns, |k, d, (p, raw), t| {
                                cells.push((k, d.map(str::to_owned), p, raw.map(str::to_owned), t));
                            });
                            cells
                        },
                    )
                    .map_err(|e| MetricsError::compute(schema, e))?;
                tracing::debug!(table = schema, side = key, took = ?started.elapsed(), "kept sets tallied");
                for (k, d, p, raw, t) in parts.into_iter().flatten() {
                    add(k, d.as_deref(), (p, raw.as_deref()), t);
                }
            }
        }
        for ((k, dim_name, p, raw), t) in totals {
            if plans[k]
                .keys
                .as_ref()
                .is_some_and(|keys| !keys.contains(&p))
            {
                continue;
            }
            let ind = sides[members[k]].indicator;
            let breakdown = match dim_name.as_deref() {
                Some(d) => format!("{d}={}", dimension_label(ind, d, raw.as_deref())),
                None => String::new(),
            };
            out[members[k]].insert((p, breakdown), t.aggregate(plans[k].kind, rows.aggregate));
        }
        tracing::debug!(table = schema, took = ?started.elapsed(), "tallied");
    }
    Ok(out)
}

/// The prepared columns a kept side reads (`dims` holds its breakdowns' column names).
fn kept_columns<'a>(
    plan: &'a Plan,
    month: &'a str,
    dims: &'a mut Vec<String>,
) -> kept::KeptColumns<'a> {
    dims.clear();
    dims.extend(plan.dims.iter().map(|(_, c)| c.clone()));
    kept::KeptColumns {
        month,
        filter: plan.filter.as_deref(),
        dims,
        field: plan.field.as_deref().unwrap_or_default(),
    }
}

/// What each prepared column is for, for the sides `ks` of `plans`.
fn roles_of<'p>(plans: &'p [Plan], ks: &[usize]) -> BTreeMap<&'p str, Role> {
    let mut roles: BTreeMap<&str, Role> = BTreeMap::new();
    for plan in ks.iter().filter_map(|&k| plans.get(k)) {
        roles.insert(&plan.period, Role::Period);
        if let Some(f) = &plan.filter {
            roles.insert(f, Role::Flag);
        }
        for (_, c) in &plan.dims {
            roles.insert(c, Role::Label);
        }
        match (plan.kind, &plan.field) {
            (Kind::DistinctCount, Some(f)) => roles.insert(f, Role::Code),
            (_, Some(f)) => roles.insert(f, Role::Number),
            _ => None,
        };
    }
    roles
}

/// The rows behind one value, by submission: which submissions, and how many of their rows
/// passed the filter into that period and breakdown (lineage, `backbone explain`). Reads the
/// batches one after the other, each only where its files' dates can fall in the period (the
/// Parquet reader skips the other files by their statistics), so memory follows a batch.
pub fn contributions(
    batches: &[LazyFrame],
    indicator: &Indicator,
    measure: Option<&Measure>,
    first_month: u32,
    period: PeriodKey,
    breakdown: &str,
) -> Result<BTreeMap<String, u64>, MetricsError> {
    let id = indicator.id.as_str();
    let date_field = indicator
        .date_field_of(measure)
        .ok_or_else(|| MetricsError::compute(id, "no date field"))?;
    let within = window_filter(
        date_field,
        indicator.grain,
        &BTreeSet::from([period]),
        first_month,
    );
    let mut out = BTreeMap::new();
    for batch in batches {
        let rows = batch.clone().filter(within.clone());
        let mut lf = in_periods(&rows, indicator, measure, first_month, None)?
            .filter(col("__period").eq(lit(period)));
        let mut keep_dim: Option<(String, String)> = None;
        if let Some((d, v)) = breakdown.split_once('=') {
            lf = lf.with_column(dimension_expr(indicator, d).alias("__dim"));
            keep_dim = Some((d.to_owned(), v.to_owned()));
        }
        let df = match &keep_dim {
            Some(_) => lf
                .group_by([col(SUBMISSION), col("__dim")])
                .agg([len().cast(DataType::UInt64).alias("__n")]),
            None => lf
                .group_by([col(SUBMISSION)])
                .agg([len().cast(DataType::UInt64).alias("__n")]),
        }
        .collect()
        .map_err(|e| MetricsError::compute(id, e))?;
        let subs = df
            .column(SUBMISSION)
            .and_then(|c| c.str().cloned())
            .map_err(|e| MetricsError::compute(id, e))?;
        let ns = df
            .column("__n")
            .and_then(|c| c.u64().cloned())
            .map_err(|e| MetricsError::compute(id, e))?;
        let dims = match keep_dim {
            Some(_) => Some(
                df.column("__dim")
                    .and_then(|c| c.str().cloned())
                    .map_err(|e| MetricsError::compute(id, e))?,
            ),
            None => None,
        };
        for i in 0..df.height() {
            if let (Some((d, want)), Some(dims)) = (&keep_dim, &dims)
                && dimension_label(indicator, d, dims.get(i)) != *want
            {
                continue;
            }
            if let (Some(s), Some(n)) = (subs.get(i), ns.get(i)) {
                *out.entry(s.to_owned()).or_insert(0) += n;
            }
        }
    }
    Ok(out)
}

/// The column that names a row's submission.
const SUBMISSION: &str = "_submission_id";

/// The reference population for a rate, by (calendar year, breakdown).
pub fn population(
    rows: &LazyFrame,
    indicator: &Indicator,
) -> Result<BTreeMap<(i32, Breakdown), f64>, MetricsError> {
    let id = indicator.id.as_str();
    let Some(p) = &indicator.population else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    let year = col(p.year_field.as_str())
        .cast(DataType::Int32)
        .alias("__year");
    let value = col(p.field.as_str())
        .cast(DataType::Float64)
        .sum()
        .alias("__value");
    let mut levels: Vec<Option<&str>> = vec![None];
    levels.extend(indicator.dimensions.iter().map(|d| Some(d.as_str())));
    for level in levels {
        let grouped = match level {
            None => rows.clone().group_by([year.clone()]).agg([value.clone()]),
            Some(d) => rows
                .clone()
                .group_by([year.clone(), col(d).cast(DataType::String).alias("__dim")])
                .agg([value.clone()]),
        };
        let df = grouped
            .collect()
            .map_err(|e| MetricsError::compute(id, e))?;
        let years = df
            .column("__year")
            .and_then(|c| c.i32().cloned())
            .map_err(|e| MetricsError::compute(id, e))?;
        let values = df
            .column("__value")
            .and_then(|c| c.f64().cloned())
            .map_err(|e| MetricsError::compute(id, e))?;
        let dims = match level {
            Some(_) => Some(
                df.column("__dim")
                    .and_then(|c| c.str().cloned())
                    .map_err(|e| MetricsError::compute(id, e))?,
            ),
            None => None,
        };
        for i in 0..df.height() {
            let (Some(y), Some(v)) = (years.get(i), values.get(i)) else {
                continue;
            };
            let breakdown = match (level, &dims) {
                (Some(d), Some(dims)) => format!("{d}={}", dims.get(i).unwrap_or("(missing)")),
                _ => String::new(),
            };
            out.insert((y, breakdown), v);
        }
    }
    Ok(out)
}

/// Evaluates a derived indicator's formula over the values of other indicators, per period
/// and breakdown, with polars SQL. `inputs[id]` maps (period, breakdown) to a value.
pub fn derive(
    indicator: &Indicator,
    inputs: &BTreeMap<String, BTreeMap<(PeriodKey, Breakdown), Option<f64>>>,
) -> Result<BTreeMap<(PeriodKey, Breakdown), Option<f64>>, MetricsError> {
    let id = indicator.id.as_str();
    let formula = indicator
        .formula
        .as_deref()
        .ok_or_else(|| MetricsError::compute(id, "no formula"))?;
    let names = backbone_schema::formula_ids(formula);
    // The cells every input has.
    let mut keys: Vec<(PeriodKey, Breakdown)> = Vec::new();
    if let Some(first) = names.first().and_then(|n| inputs.get(n)) {
        keys = first
            .keys()
            .filter(|k| {
                names
                    .iter()
                    .all(|n| inputs.get(n).is_some_and(|m| m.contains_key(*k)))
            })
            .cloned()
            .collect();
    }
    let mut columns: Vec<Column> = vec![
        Column::new(
            "__period".into(),
            keys.iter().map(|k| k.0).collect::<Vec<_>>(),
        ),
        Column::new(
            "__breakdown".into(),
            keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>(),
        ),
    ];
    for n in &names {
        let values: Vec<Option<f64>> = keys
            .iter()
            .map(|k| inputs.get(n).and_then(|m| m.get(k)).copied().flatten())
            .collect();
        columns.push(Column::new(n.as_str().into(), values));
    }
    let df = DataFrame::new_infer_height(columns).map_err(|e| MetricsError::compute(id, e))?;
    let expr = polars::sql::sql_expr(formula).map_err(|e| MetricsError::Filter {
        indicator: id.to_owned(),
        filter: formula.to_owned(),
        message: e.to_string(),
    })?;
    let out = df
        .lazy()
        .select([
            col("__period"),
            col("__breakdown"),
            expr.cast(DataType::Float64).alias("__value"),
        ])
        .collect()
        .map_err(|e| MetricsError::compute(id, e))?;
    let values = out
        .column("__value")
        .and_then(|c| c.f64().cloned())
        .map_err(|e| MetricsError::compute(id, e))?;
    Ok(keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| (k, values.get(i).filter(|v| v.is_finite())))
        .collect())
}

#[cfg(test)]
mod tests;
