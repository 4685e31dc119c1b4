//! The arithmetic of the aggregation: for each grouping (a period column, and a breakdown or
//! the total) every row gets a group, then each side adds up the rows passing its filter,
//! its values and counts, and its distinct codes, in arrays indexed by group.

use super::codes::*;
use super::*;

/// What a prepared column holds.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Role {
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
pub(super) const NO_PERIOD: i32 = i32::MIN;

/// The prepared columns of a table as plain vectors, one entry per row, batch after batch:
/// what [`tally`] reads.
#[derive(Default)]
pub(super) struct Columns {
    pub(super) rows: usize,
    pub(super) periods: BTreeMap<String, Vec<i32>>,
    pub(super) flags: BTreeMap<String, Vec<bool>>,
    pub(super) labels: BTreeMap<String, Labels>,
    /// Empty cells are NaN.
    pub(super) numbers: BTreeMap<String, Vec<f64>>,
    pub(super) codes: BTreeMap<String, Codes>,
}

impl Columns {
    pub(super) fn extend(
        &mut self,
        df: &DataFrame,
        roles: &BTreeMap<&str, Role>,
    ) -> PolarsResult<()> {
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
pub(super) fn tally(
    plans: &[Plan],
    only: &[usize],
    columns: &Columns,
    cell: impl FnMut(usize, Option<&str>, (PeriodKey, Option<&str>), Tally),
) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    tally_on(cores, plans, only, columns, cell);
}

/// [`tally`] on at most `threads` threads (1: on this one, for a caller already running on
/// every core).
pub(super) fn tally_on(
    threads: usize,
    plans: &[Plan],
    only: &[usize],
    columns: &Columns,
    mut cell: impl FnMut(usize, Option<&str>, (PeriodKey, Option<&str>), Tally),
) {
    // (period column, breakdown column or none for the total) → (plan, breakdown name).
    let mut groupings: BTreeMap<(&str, Option<&str>), On> = BTreeMap::new();
    for &k in only {
        let Some(plan) = plans.get(k) else { continue };
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
    let threads = threads.clamp(1, groupings.len().max(1));
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
pub(super) type On<'p> = Vec<(usize, Option<&'p str>)>;

/// One cell tallied: (side, breakdown name, (period, breakdown text), cell).
pub(super) type Tallied<'p, 'c> = (usize, Option<&'p str>, (PeriodKey, Option<&'c str>), Tally);

/// What one cell adds up, before it becomes an [`Aggregate`]: kept apart so that the cells of
/// consecutive batches, or of the parts a distinct count is split into, add up exactly (a
/// mean is a sum and a count until the end).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Tally {
    /// Rows passing the side's filter.
    pub(super) rows: u64,
    /// Rows, non-empty values, or distinct values (within one part).
    pub(super) units: u64,
    /// The sum of the values (sums and means).
    pub(super) sum: f64,
}

impl Tally {
    pub(super) fn add(&mut self, other: Tally) {
        self.rows += other.rows;
        self.units += other.units;
        self.sum += other.sum;
    }

    /// The cell's value for a side of kind `kind`; `figures`: the rows are an aggregate
    /// table's figures, so a sum stands for as many people as it adds up to.
    pub(super) fn aggregate(self, kind: Kind, figures: bool) -> Aggregate {
        let value = match kind {
            Kind::Sum => Some(self.sum),
            Kind::Mean => (self.units > 0).then(|| self.sum / self.units as f64),
            _ => Some(self.units as f64),
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let units = if figures && kind == Kind::Sum {
            self.sum.max(0.0).round() as u64
        } else {
            self.units
        };
        Aggregate { value, units }
    }
}

/// The cells of the sides `on` in the grouping by `period` and the breakdown column `dim`.
pub(super) fn tally_grouping<'p, 'c>(
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
            let raw = labels.and_then(|l| l.texts.get(d as usize)).map(|t| &**t);
            out.push((
                k,
                dim_name,
                (p, raw),
                Tally {
                    rows: rows[g],
                    units: units[g],
                    sum: sums[g],
                },
            ));
        }
    }
    out
}
