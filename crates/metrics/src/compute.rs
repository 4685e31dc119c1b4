//! Aggregating one side of an indicator with polars: filter (polars SQL), place each row in a
//! period, and aggregate for the total and for every breakdown, each from the rows (never by
//! adding up breakdowns: distinct counts are not additive).

use std::collections::{BTreeMap, BTreeSet};

use backbone_schema::{Grain, Indicator, Kind, Measure};
use polars::prelude::*;

use crate::MetricsError;

/// A period as an orderable key: `year * 100 + index` (index 1-based: month, quarter, half,
/// or 1 for a year).
pub type PeriodKey = i32;

/// One aggregated cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The value (count, distinct count, sum or mean); `None` when there is nothing to average.
    pub value: Option<f64>,
    /// The units behind the value: rows, distinct units, or non-empty values summed or
    /// averaged. What small-cell suppression looks at.
    pub units: u64,
}

/// `breakdown` key: empty for the total, else `dimension=value`.
pub type Breakdown = String;

/// Cells by period and breakdown.
pub type Cells = BTreeMap<(PeriodKey, Breakdown), Cell>;

/// The label of a period key.
pub fn period_label(grain: Grain, key: PeriodKey) -> String {
    let (year, index) = (key / 100, key % 100);
    match grain {
        Grain::Month => format!("{year:04}-{index:02}"),
        Grain::Quarter => format!("{year:04}-Q{index}"),
        Grain::HalfYear => format!("{year:04}-H{index}"),
        Grain::Year => format!("{year:04}"),
    }
}

/// The key of a period label written at `grain` (`2024-03`, `2024-Q1`, `2024-H2`, `2024`).
pub fn parse_period(grain: Grain, label: &str) -> Option<PeriodKey> {
    let (year, rest) = match label.split_once('-') {
        Some((y, r)) => (y.parse::<i32>().ok()?, Some(r)),
        None => (label.parse::<i32>().ok()?, None),
    };
    let index: i32 = match (grain, rest) {
        (Grain::Year, None) => 1,
        (Grain::Month, Some(m)) => m.parse().ok().filter(|m| (1..=12).contains(m))?,
        (Grain::Quarter, Some(q)) => q
            .strip_prefix('Q')?
            .parse()
            .ok()
            .filter(|q| (1..=4).contains(q))?,
        (Grain::HalfYear, Some(h)) => h
            .strip_prefix('H')?
            .parse()
            .ok()
            .filter(|h| (1..=2).contains(h))?,
        _ => return None,
    };
    Some(year * 100 + index)
}

/// Consecutive numbering of periods, so that paths and trends can be drawn across years.
pub fn ordinal(grain: Grain, key: PeriodKey) -> i32 {
    let per_year = 12 / grain.months() as i32;
    (key / 100) * per_year + (key % 100 - 1)
}

/// The period key that follows `key`.
pub fn next(grain: Grain, key: PeriodKey) -> PeriodKey {
    let per_year = 12 / grain.months() as i32;
    let o = ordinal(grain, key) + 1;
    (o.div_euclid(per_year)) * 100 + o.rem_euclid(per_year) + 1
}

/// The calendar months (year, month) a period covers, for a reporting year starting in
/// `first_month`.
pub fn months_of(grain: Grain, key: PeriodKey, first_month: u32) -> Vec<(i32, u32)> {
    if grain == Grain::Month {
        return vec![(key / 100, (key % 100) as u32)];
    }
    let (year, index) = (key / 100, key % 100);
    let start = (index - 1) as u32 * grain.months(); // months into the reporting year
    (0..grain.months())
        .map(|i| {
            let m0 = first_month - 1 + start + i; // months after January of `year`
            (year + (m0 / 12) as i32, m0 % 12 + 1)
        })
        .collect()
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
    parse_period(grain, &grain.label(year, month, first_month))
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
    let mut any = lit(false);
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
            any = any.or(col(date_field)
                .gt_eq(lit(start))
                .and(col(date_field).lt(lit(end))));
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
    /// Consecutive files, about [`BATCH_BYTES`] of Parquet each.
    pub batches: Vec<LazyFrame>,
    /// Each file, with its path.
    pub files: Vec<(String, LazyFrame)>,
}

/// The Parquet bytes read at once by [`aggregate_all`]: large enough that a store of many
/// small files is read in few steps, small enough that the columns read stay a few hundred
/// MiB.
pub const BATCH_BYTES: u64 = 96 << 20;

impl Rows {
    /// The rows of `files` (path and lazy frame of each file) whose sizes on disk are `sizes`.
    pub fn new(files: Vec<(String, LazyFrame)>, sizes: &[u64]) -> PolarsResult<Self> {
        let all = concat(
            files.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(),
            UnionArgs::default(),
        )?;
        let mut batches = Vec::new();
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        for ((_, f), size) in files.iter().zip(sizes) {
            batch.push(f.clone());
            bytes += size;
            if bytes >= BATCH_BYTES {
                batches.push(concat(std::mem::take(&mut batch), UnionArgs::default())?);
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            batches.push(concat(batch, UnionArgs::default())?);
        }
        Ok(Self {
            all,
            batches,
            files,
        })
    }
}

/// Dense integer codes of the values of a distinct-counted field, the same for a value in
/// every batch, so that counting distinct codes is counting distinct values, exactly. Each
/// value's text is hashed once, here; the counting itself ([`tally`]) then needs no hashing
/// at all.
///
/// Written here rather than with polars: casting 5M pseudonyms to polars' categorical type
/// took a third of the whole computation (its dictionary is built for concurrent use), and
/// polars' per-group `n_unique` sorts each group; this map and one pass per breakdown level
/// do the same in a fraction of the time (`BENCHMARKS.md`).
///
/// The values are split into [`SHARDS`] by their first byte, each shard with its own
/// dictionary coded by its own thread: looking a pseudonym up is a random read in a table of
/// millions, the longest step of the whole computation, and two cores wait for memory
/// twice as fast as one.
#[derive(Default)]
struct Codes {
    shards: [Shard; SHARDS],
    /// The code of every row read so far, in row order; [`NO_CODE`] for an empty cell.
    rows: Vec<u32>,
}

/// How many dictionaries, and threads, code a field's values.
const SHARDS: usize = 2;

/// The shard of a (non-empty) value.
fn shard_of(v: &str) -> usize {
    v.as_bytes().first().map_or(0, |&b| usize::from(b) % SHARDS)
}

/// The dictionary of one shard: shard `s` gives codes `s`, `s + SHARDS`, `s + 2·SHARDS`, …
#[derive(Default)]
struct Shard {
    /// Pseudonyms (32 hex digits, as the store writes them) by their 128-bit value: kept in
    /// the map itself, a lookup reads no other memory.
    pseudonyms: std::collections::HashMap<u128, u32, rustc_hash::FxBuildHasher>,
    /// Any other text.
    map: TextCodes,
}

impl Shard {
    fn len(&self) -> usize {
        self.pseudonyms.len() + self.map.len()
    }

    /// Codes the values of `values` that belong to shard `s` into `out` (one slot per value);
    /// the other slots are left as they are.
    fn code(&mut self, s: usize, values: &StringChunked, out: &mut [u32]) -> Result<(), String> {
        for (v, slot) in values.iter().zip(out.iter_mut()) {
            let Some(v) = v.filter(|v| shard_of(v) == s) else {
                continue;
            };
            let next = next_code(self.len().saturating_mul(SHARDS).saturating_add(s))?;
            *slot = match pseudonym_bits(v) {
                Some(bits) => *self.pseudonyms.entry(bits).or_insert(next),
                None => intern(&mut self.map, v, next).0,
            };
        }
        Ok(())
    }
}

/// The code of an empty cell.
const NO_CODE: u32 = u32::MAX;

/// Texts by their code.
type TextCodes = std::collections::HashMap<Box<str>, u32, rustc_hash::FxBuildHasher>;

/// The code of `v` in `map`, which gives it `next` when it has none yet; `true` when new.
fn intern(map: &mut TextCodes, v: &str, next: u32) -> (u32, bool) {
    match map.get(v) {
        Some(&c) => (c, false),
        None => {
            map.insert(v.into(), next);
            (next, true)
        }
    }
}

/// The code after `len` codes, unless the codes have run out.
fn next_code(len: usize) -> Result<u32, String> {
    u32::try_from(len)
        .ok()
        .filter(|&c| c != NO_CODE)
        .ok_or_else(|| "more than 4 billion distinct values".to_owned())
}

impl Codes {
    fn extend(&mut self, values: &StringChunked) -> Result<(), String> {
        let start = self.rows.len();
        self.rows.resize(start + values.len(), NO_CODE);
        let out = &mut self.rows[start..];
        let [first, rest @ ..] = &mut self.shards;
        std::thread::scope(|scope| {
            // Every other shard on a thread of its own, into a vector of its own; the first
            // on this thread, straight into the rows' codes.
            let others: Vec<_> = rest
                .iter_mut()
                .enumerate()
                .map(|(i, shard)| {
                    scope.spawn(move || {
                        let mut mine = vec![NO_CODE; values.len()];
                        shard.code(i + 1, values, &mut mine).map(|()| mine)
                    })
                })
                .collect();
            first.code(0, values, out)?;
            for other in others {
                let mine = other
                    .join()
                    .map_err(|_| "a thread coding values stopped".to_owned())??;
                for (slot, code) in out.iter_mut().zip(mine) {
                    if code != NO_CODE {
                        *slot = code;
                    }
                }
            }
            Ok(())
        })
    }

    /// One more than the highest code given: the size of an array indexed by code.
    fn len(&self) -> usize {
        self.shards
            .iter()
            .enumerate()
            .map(|(s, shard)| match shard.len() {
                0 => 0,
                n => (n - 1) * SHARDS + s + 1,
            })
            .max()
            .unwrap_or(0)
    }
}

/// The 128 bits of a pseudonym written as 32 lowercase hex digits; `None` for any other text
/// (two texts that differ never get the same bits: uppercase or shorter text is not taken).
fn pseudonym_bits(v: &str) -> Option<u128> {
    if v.len() != 32 {
        return None;
    }
    // One pass, digit by digit: this runs for every row of a distinct count.
    v.bytes().try_fold(0u128, |bits, b| {
        let nibble = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(bits << 4 | u128::from(nibble))
    })
}

/// A breakdown's values coded by first appearance, with the text of each code.
#[derive(Default)]
struct Labels {
    map: TextCodes,
    texts: Vec<Box<str>>,
    /// Every row's code; [`NO_CODE`] for an empty cell.
    rows: Vec<u32>,
}

impl Labels {
    fn extend(&mut self, values: &StringChunked) -> Result<(), String> {
        self.rows.reserve(values.len());
        for v in values.iter() {
            let code = match v {
                None => NO_CODE,
                Some(v) => {
                    let (c, new) = intern(&mut self.map, v, next_code(self.texts.len())?);
                    if new {
                        self.texts.push(v.into());
                    }
                    c
                }
            };
            self.rows.push(code);
        }
        Ok(())
    }
}

/// What a prepared column holds.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// A period key (`Int32`).
    Period,
    /// A filter's verdict (`Boolean`, empty = false).
    Flag,
    /// A breakdown's text.
    Label,
    /// A value summed or averaged (`Float64`).
    Number,
    /// A distinct-counted value's text, coded.
    Code,
}

/// A row's period key when it has no date.
const NO_PERIOD: i32 = i32::MIN;

/// The prepared columns of a table as plain vectors, one entry per row, batch after batch:
/// what [`tally`] reads.
#[derive(Default)]
struct Columns {
    rows: usize,
    periods: BTreeMap<String, Vec<i32>>,
    flags: BTreeMap<String, Vec<bool>>,
    labels: BTreeMap<String, Labels>,
    /// Empty cells are NaN.
    numbers: BTreeMap<String, Vec<f64>>,
    codes: BTreeMap<String, Codes>,
}

impl Columns {
    fn extend(&mut self, df: &DataFrame, roles: &BTreeMap<&str, Role>) -> PolarsResult<()> {
        for (&name, &role) in roles {
            let c = df.column(name)?;
            match role {
                Role::Period => self
                    .periods
                    .entry(name.to_owned())
                    .or_default()
                    .extend(c.i32()?.iter().map(|v| v.unwrap_or(NO_PERIOD))),
                Role::Flag => self
                    .flags
                    .entry(name.to_owned())
                    .or_default()
                    .extend(c.bool()?.iter().map(|v| v.unwrap_or(false))),
                Role::Number => self
                    .numbers
                    .entry(name.to_owned())
                    .or_default()
                    .extend(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN))),
                Role::Code => self
                    .codes
                    .entry(name.to_owned())
                    .or_default()
                    .extend(c.str()?)
                    .map_err(|e| polars_err!(ComputeError: "{e}"))?,
                Role::Label => self
                    .labels
                    .entry(name.to_owned())
                    .or_default()
                    .extend(c.str()?)
                    .map_err(|e| polars_err!(ComputeError: "{e}"))?,
            }
        }
        self.rows += df.height();
        Ok(())
    }
}

/// Aggregates every plan from the prepared columns: for each grouping (a period column, and a
/// breakdown or none for the total) every row gets a group, then each side adds its rows up:
/// rows passing its filter, sums and counts of values, and distinct codes (rows sorted by
/// group once, then one pass with `seen[code]` = the last group the code was counted in).
/// Calls `cell(side, breakdown name, (period, breakdown text), cell)` for every group where
/// some rows pass the side's filter. The groupings are independent: each core takes the next
/// one until none is left.
///
/// Written by hand rather than as polars group-bys: the groups are few (periods × a
/// breakdown's values), so plain arrays indexed by group beat hashing every row once per side
/// and level, and distinct counts need no hashing at all once values are coded (polars' took
/// four times as long on the peers' 5M rows; `BENCHMARKS.md`).
fn tally(
    plans: &[Plan],
    columns: &Columns,
    mut cell: impl FnMut(usize, Option<&str>, (PeriodKey, Option<&str>), Cell),
) {
    // (period column, breakdown column or none for the total) → (plan, breakdown name).
    let mut groupings: BTreeMap<(&str, Option<&str>), On> = BTreeMap::new();
    for (k, plan) in plans.iter().enumerate() {
        groupings
            .entry((plan.period.as_str(), None))
            .or_default()
            .push((k, None));
        for (d, c) in &plan.dims {
            groupings
                .entry((plan.period.as_str(), Some(c.as_str())))
                .or_default()
                .push((k, Some(d.as_str())));
        }
    }
    let groupings: Vec<_> = groupings.into_iter().collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let g = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(((period, dim), on)) = groupings.get(g) else {
                return done;
            };
            done.push((g, tally_grouping(plans, columns, period, *dim, on)));
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(groupings.len());
    let mut done = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut done = work();
        for h in helpers {
            match h.join() {
                Ok(theirs) => done.extend(theirs),
                // A bug, not a file's doing: the same panic as on this thread.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    // In the groupings' order, whichever thread tallied them.
    done.sort_by_key(|(g, _)| *g);
    for (_, cells) in done {
        for (k, dim_name, key, c) in cells {
            cell(k, dim_name, key, c);
        }
    }
}

/// The sides tallied in one grouping: (side, breakdown name) for each.
type On<'p> = Vec<(usize, Option<&'p str>)>;

/// One cell tallied: (side, breakdown name, (period, breakdown text), cell).
type Tallied<'p, 'c> = (usize, Option<&'p str>, (PeriodKey, Option<&'c str>), Cell);

/// The cells of the sides `on` in the grouping by `period` and the breakdown column `dim`.
fn tally_grouping<'p, 'c>(
    plans: &[Plan],
    columns: &'c Columns,
    period: &str,
    dim: Option<&str>,
    on: &On<'p>,
) -> Vec<Tallied<'p, 'c>> {
    let n = columns.rows;
    let mut out = Vec::new();
    let Some(periods) = columns.periods.get(period) else {
        return out;
    };
    // A breakdown column never read (no batch) leaves every row's breakdown empty.
    let labels = dim.and_then(|d| columns.labels.get(d));
    // Each row's group (u32::MAX: no date), and each group's (period, label code). The
    // groups are looked up in a plain array indexed by (period, label) when the periods'
    // span is small (it is: months of a few years), else in a hash map.
    let mut keys: Vec<(i32, u32)> = Vec::new();
    let mut group = vec![u32::MAX; n];
    let (low, high) = periods
        .iter()
        .filter(|&&p| p != NO_PERIOD)
        .fold((i32::MAX, i32::MIN), |(l, h), &p| (l.min(p), h.max(p)));
    // Label codes, and one more slot for an empty cell.
    let width = labels.map_or(1, |l| l.texts.len() + 1);
    let span = (i64::from(high) - i64::from(low) + 1).max(0) as usize;
    let mut slots = if span.saturating_mul(width) <= 1 << 22 {
        Some(vec![u32::MAX; span * width])
    } else {
        None
    };
    let mut ids: std::collections::HashMap<(i32, u32), u32, rustc_hash::FxBuildHasher> =
        Default::default();
    for (i, g) in group.iter_mut().enumerate() {
        let p = periods.get(i).copied().unwrap_or(NO_PERIOD);
        if p == NO_PERIOD {
            continue;
        }
        let d = match dim {
            Some(_) => labels
                .and_then(|l| l.rows.get(i).copied())
                .unwrap_or(NO_CODE),
            None => 0,
        };
        let mut new = || {
            keys.push((p, d));
            (keys.len() - 1) as u32
        };
        *g = match &mut slots {
            Some(slots) => {
                let column = if d == NO_CODE { width - 1 } else { d as usize };
                let at = (p - low) as usize * width + column;
                match slots.get_mut(at) {
                    Some(s) if *s == u32::MAX => {
                        *s = new();
                        *s
                    }
                    Some(s) => *s,
                    None => continue,
                }
            }
            None => *ids.entry((p, d)).or_insert_with(new),
        };
    }
    let groups = keys.len();
    // Rows by group, for distinct counts (a counting sort), built only when needed.
    let mut by_group: Option<(Vec<usize>, Vec<u32>)> = None;
    for &(k, dim_name) in on {
        let plan = &plans[k];
        let keep = plan.filter.as_deref().and_then(|f| columns.flags.get(f));
        let passes = |i: usize| keep.is_none_or(|k| k.get(i).copied().unwrap_or(false));
        let mut rows = vec![0u64; groups];
        let mut units = vec![0u64; groups];
        let mut sums = vec![0f64; groups];
        match (plan.kind, plan.field.as_deref()) {
            (Kind::DistinctCount, Some(f)) => {
                let Some(codes) = columns.codes.get(f) else {
                    continue;
                };
                let (start, order) = by_group.get_or_insert_with(|| {
                    let mut start = vec![0usize; groups + 1];
                    for &g in &group {
                        if g != u32::MAX {
                            start[g as usize + 1] += 1;
                        }
                    }
                    for g in 0..groups {
                        start[g + 1] += start[g];
                    }
                    let mut next = start.clone();
                    let mut order = vec![0u32; start[groups]];
                    for (i, &g) in group.iter().enumerate() {
                        if g != u32::MAX {
                            order[next[g as usize]] = i as u32;
                            next[g as usize] += 1;
                        }
                    }
                    (start, order)
                });
                let mut seen = vec![u32::MAX; codes.len()];
                for g in 0..groups {
                    for &i in &order[start[g]..start[g + 1]] {
                        let i = i as usize;
                        if !passes(i) {
                            continue;
                        }
                        rows[g] += 1;
                        let c = codes.rows.get(i).copied().unwrap_or(NO_CODE);
                        if let Some(s) = seen.get_mut(c as usize)
                            && *s != g as u32
                        {
                            *s = g as u32;
                            units[g] += 1;
                        }
                    }
                }
            }
            (Kind::Sum | Kind::Mean, Some(f)) => {
                let values = columns.numbers.get(f);
                for (i, &g) in group.iter().enumerate() {
                    if g == u32::MAX || !passes(i) {
                        continue;
                    }
                    rows[g as usize] += 1;
                    if let Some(v) = values.and_then(|v| v.get(i)).filter(|v| !v.is_nan()) {
                        units[g as usize] += 1;
                        sums[g as usize] += v;
                    }
                }
            }
            _ => {
                for (i, &g) in group.iter().enumerate() {
                    if g != u32::MAX && passes(i) {
                        rows[g as usize] += 1;
                    }
                }
                units.clone_from(&rows);
            }
        }
        for (g, &(p, d)) in keys.iter().enumerate() {
            if rows[g] == 0 {
                continue;
            }
            let value = match plan.kind {
                Kind::Sum => Some(sums[g]),
                Kind::Mean => (units[g] > 0).then(|| sums[g] / units[g] as f64),
                _ => Some(units[g] as f64),
            };
            let raw = labels.and_then(|l| l.texts.get(d as usize)).map(|t| &**t);
            out.push((
                k,
                dim_name,
                (p, raw),
                Cell {
                    value,
                    units: units[g],
                },
            ));
        }
    }
    out
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
pub fn aggregate_all(
    frames: &BTreeMap<String, Rows>,
    sides: &[Side<'_>],
    first_month: u32,
    window: Option<&Window>,
) -> Result<Vec<Cells>, MetricsError> {
    let mut out: Vec<Cells> = vec![Cells::new(); sides.len()];
    let schemas: BTreeSet<&str> = sides.iter().map(Side::schema).collect();
    for schema in schemas {
        let Some(rows) = frames.get(schema) else {
            continue; // no rows at this version: every side's cells are empty
        };
        let members: Vec<usize> = (0..sides.len())
            .filter(|&i| sides[i].schema() == schema)
            .collect();
        let mut prep = Prep::new(&rows.all);
        let mut plans = Vec::with_capacity(members.len());
        let mut wanted = lit(false);
        for &i in &members {
            let side = &sides[i];
            plans.push(prep.plan(side, first_month, window)?);
            if let Some(w) = window {
                let ind = side.indicator;
                if let Some(date_field) = ind.date_field_of(side.measure) {
                    let keys = affected(ind.grain, w, first_month);
                    wanted = wanted.or(window_filter(date_field, ind.grain, &keys, first_month));
                }
            }
        }
        let exprs = std::mem::take(&mut prep.exprs);
        // What each prepared column is for.
        let mut roles: BTreeMap<&str, Role> = BTreeMap::new();
        for plan in &plans {
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
        let mut columns = Columns::default();
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
            columns
                .extend(&df, &roles)
                .map_err(|e| MetricsError::compute(schema, e))?;
            tracing::debug!(
                table = schema,
                rows = df.height(),
                ?read,
                coded = ?started.elapsed().saturating_sub(read),
                "batch read"
            );
        }
        let started = std::time::Instant::now();
        tally(&plans, &columns, |k, dim_name, (p, raw), cell| {
            if plans[k]
                .keys
                .as_ref()
                .is_some_and(|keys| !keys.contains(&p))
            {
                return;
            }
            let ind = sides[members[k]].indicator;
            let breakdown = match dim_name {
                Some(d) => format!("{d}={}", dimension_label(ind, d, raw)),
                None => String::new(),
            };
            out[members[k]].insert((p, breakdown), cell);
        });
        tracing::debug!(table = schema, took = ?started.elapsed(), "tallied");
    }
    Ok(out)
}

/// The rows behind one value, by submission: which submissions, and how many of their rows
/// passed the filter into that period and breakdown (lineage, `backbone explain`).
pub fn contributions(
    rows: &LazyFrame,
    indicator: &Indicator,
    measure: Option<&Measure>,
    first_month: u32,
    period: PeriodKey,
    breakdown: &str,
) -> Result<BTreeMap<String, u64>, MetricsError> {
    let id = indicator.id.as_str();
    let mut lf = in_periods(rows, indicator, measure, first_month, None)?
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
    let mut out = BTreeMap::new();
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (days since 1970 or none, region or none, person, value or none, flag or none)
    type Row = (
        Option<i32>,
        Option<&'static str>,
        String,
        Option<f64>,
        Option<bool>,
    );

    fn rows() -> impl Strategy<Value = Vec<Row>> {
        let person = prop_oneof![
            // Pseudonyms from a small pool, so people recur; and other text.
            (0u8..12).prop_map(|i| format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15)),
            "[A-Z]{1,3}",
        ];
        proptest::collection::vec(
            (
                proptest::option::weighted(0.9, 19_700i32..20_500),
                proptest::option::weighted(
                    0.8,
                    prop_oneof![Just("north"), Just("south"), Just("מרכז")],
                ),
                person,
                proptest::option::weighted(0.8, (0i32..6).prop_map(f64::from)),
                proptest::option::weighted(0.8, any::<bool>()),
            ),
            0..120,
        )
    }

    const DECLARED: &str = r#"
[[indicator]]
id = "flagged"
label = { en = "Flagged" }
schema = "t"
kind = "count"
filter = "flag = true"
date_field = "d"
grain = "month"
dimensions = ["region"]

[[indicator]]
id = "people"
label = { en = "People" }
schema = "t"
kind = "distinct_count"
field = "person"
date_field = "d"
grain = "quarter"
dimensions = ["region"]

[[indicator]]
id = "total"
label = { en = "Total" }
schema = "t"
kind = "sum"
field = "value"
date_field = "d"
grain = "month"

[[indicator]]
id = "average"
label = { en = "Average" }
schema = "t"
kind = "mean"
field = "value"
filter = "value > 2"
date_field = "d"
grain = "year"
dimensions = ["region"]
"#;

    /// The same cells, the slow and obvious way.
    fn by_hand(ind: &Indicator, rows: &[Row]) -> Cells {
        // Per cell: rows, values, people.
        type Acc = (u64, Vec<f64>, BTreeSet<String>);
        let mut acc: BTreeMap<(PeriodKey, Breakdown), Acc> = BTreeMap::new();
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for (d, region, person, value, flag) in rows {
            let passes = match ind.id.as_str() {
                "flagged" => *flag == Some(true),
                "average" => value.is_some_and(|v| v > 2.0),
                _ => true,
            };
            let Some(d) = d.filter(|_| passes) else {
                continue;
            };
            let date = epoch + chrono::Duration::days(i64::from(d));
            use chrono::Datelike;
            let key = key_of_month(ind.grain, (date.year(), date.month()), 1).unwrap();
            let mut breakdowns = vec![String::new()];
            if !ind.dimensions.is_empty() {
                breakdowns.push(format!("region={}", region.unwrap_or("(missing)")));
            }
            for b in breakdowns {
                let e = acc.entry((key, b)).or_default();
                e.0 += 1;
                e.1.extend(*value);
                e.2.insert(person.clone());
            }
        }
        acc.into_iter()
            .map(|(k, (n, values, people))| {
                let cell = match ind.kind {
                    Kind::Count => Cell {
                        value: Some(n as f64),
                        units: n,
                    },
                    Kind::DistinctCount => Cell {
                        value: Some(people.len() as f64),
                        units: people.len() as u64,
                    },
                    Kind::Sum => Cell {
                        value: Some(values.iter().sum()),
                        units: values.len() as u64,
                    },
                    _ => Cell {
                        value: (!values.is_empty())
                            .then(|| values.iter().sum::<f64>() / values.len() as f64),
                        units: values.len() as u64,
                    },
                };
                (k, cell)
            })
            .collect()
    }

    fn frame(rows: &[Row]) -> LazyFrame {
        let d: Vec<Option<i32>> = rows.iter().map(|r| r.0).collect();
        let columns = vec![
            Column::new("d".into(), d).cast(&DataType::Date).unwrap(),
            Column::new(
                "region".into(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            ),
            Column::new(
                "person".into(),
                rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
            ),
            Column::new("value".into(), rows.iter().map(|r| r.3).collect::<Vec<_>>()),
            Column::new("flag".into(), rows.iter().map(|r| r.4).collect::<Vec<_>>()),
        ];
        DataFrame::new_infer_height(columns).unwrap().lazy()
    }

    #[test]
    fn a_filter_that_is_not_a_condition_names_its_indicator() {
        let text = DECLARED.replace("filter = \"flag = true\"", "filter = \"value + 1\"");
        let indicators = backbone_schema::indicators_from_toml(&text, "t.toml").unwrap();
        let rows = vec![(Some(19_800), None, "A".to_owned(), Some(1.0), None)];
        let tables = BTreeMap::from([(
            "t".to_owned(),
            Rows {
                all: frame(&rows),
                batches: vec![frame(&rows)],
                files: Vec::new(),
            },
        )]);
        let sides = [Side {
            indicator: &indicators[0],
            measure: None,
        }];
        let err = aggregate_all(&tables, &sides, 1, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "indicator flagged: the filter \"value + 1\" is not a condition (true or false for each row)"
        );
    }

    proptest! {
        /// Every kind, grain, filter and breakdown, tallied from batches (the rows cut at
        /// random places, so codes must agree across batches), equals the count by hand.
        #[test]
        fn tallies_match_counting_by_hand(rows in rows(), cuts in proptest::collection::vec(0usize..120, 0..3)) {
            let indicators = backbone_schema::indicators_from_toml(DECLARED, "t.toml").unwrap();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
            cuts.extend([0, rows.len()]);
            cuts.sort_unstable();
            cuts.dedup();
            let batches: Vec<LazyFrame> = cuts.windows(2).map(|w| frame(&rows[w[0]..w[1]])).collect();
            let batches = if batches.is_empty() { vec![frame(&rows)] } else { batches };
            let tables = BTreeMap::from([(
                "t".to_owned(),
                Rows { all: frame(&rows), batches, files: Vec::new() },
            )]);
            let sides: Vec<Side> = indicators
                .iter()
                .map(|i| Side { indicator: i, measure: None })
                .collect();
            let cells = aggregate_all(&tables, &sides, 1, None).unwrap();
            for (ind, got) in indicators.iter().zip(cells) {
                prop_assert_eq!(&got, &by_hand(ind, &rows), "{}", ind.id);
            }
        }
    }

    #[test]
    fn period_keys_and_labels() {
        assert_eq!(parse_period(Grain::Quarter, "2024-Q3"), Some(202403));
        assert_eq!(period_label(Grain::HalfYear, 202402), "2024-H2");
        assert_eq!(next(Grain::Quarter, 202404), 202501);
        assert_eq!(next(Grain::Month, 202412), 202501);
        assert_eq!(
            ordinal(Grain::Month, 202501) - ordinal(Grain::Month, 202412),
            1
        );
        // A reporting year starting in September: its Q2 is December to February.
        assert_eq!(
            months_of(Grain::Quarter, 202402, 9),
            [(2024, 12), (2025, 1), (2025, 2)]
        );
        assert_eq!(parse_period(Grain::Month, "2024-13"), None);
    }
}
