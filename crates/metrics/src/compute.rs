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

/// The rows one side counts: its filter (polars SQL) applied, rows without a date dropped,
/// and each row's period key in `__period`.
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

/// Aggregates one side (`measure`, or the indicator itself when `None`) over `rows`.
pub fn aggregate(
    rows: &LazyFrame,
    indicator: &Indicator,
    measure: Option<&Measure>,
    first_month: u32,
    window: Option<&Window>,
) -> Result<Cells, MetricsError> {
    let id = indicator.id.as_str();
    let kind = measure.map_or(indicator.kind, |m| m.kind);
    let field = measure.map_or(indicator.field.as_deref(), |m| m.field.as_deref());
    let lf = in_periods(rows, indicator, measure, first_month, window)?;
    let (value, units): (Expr, Expr) = match (kind, field) {
        (Kind::Count, _) => (len().cast(DataType::Float64), len().cast(DataType::UInt64)),
        (Kind::DistinctCount, Some(f)) => {
            let n = col(f).drop_nulls().n_unique().cast(DataType::UInt64);
            (n.clone().cast(DataType::Float64), n)
        }
        (Kind::Sum, Some(f)) => (
            col(f).cast(DataType::Float64).sum(),
            col(f).count().cast(DataType::UInt64),
        ),
        (Kind::Mean, Some(f)) => (
            col(f).cast(DataType::Float64).mean(),
            col(f).count().cast(DataType::UInt64),
        ),
        (k, _) => {
            return Err(MetricsError::compute(
                id,
                format!("{} cannot be aggregated from rows here", k.name()),
            ));
        }
    };
    let aggs = [value.alias("__value"), units.alias("__units")];
    let mut out = Cells::new();
    // The total, then each dimension alone: every level straight from the rows.
    let mut levels: Vec<Option<&str>> = vec![None];
    levels.extend(indicator.dimensions.iter().map(|d| Some(d.as_str())));
    for level in levels {
        let grouped = match level {
            None => lf.clone().group_by([col("__period")]).agg(aggs.clone()),
            Some(d) => lf
                .clone()
                .group_by([col("__period"), dimension_expr(indicator, d).alias("__dim")])
                .agg(aggs.clone()),
        };
        let df = grouped
            .collect()
            .map_err(|e| MetricsError::compute(id, e))?;
        let periods = df
            .column("__period")
            .and_then(|c| c.i32().cloned())
            .map_err(|e| MetricsError::compute(id, e))?;
        let values = df
            .column("__value")
            .and_then(|c| c.f64().cloned())
            .map_err(|e| MetricsError::compute(id, e))?;
        let units = df
            .column("__units")
            .and_then(|c| c.u64().cloned())
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
            let Some(period) = periods.get(i) else {
                continue;
            };
            let breakdown = match (level, &dims) {
                (Some(d), Some(dims)) => {
                    format!("{d}={}", dimension_label(indicator, d, dims.get(i)))
                }
                _ => String::new(),
            };
            let cell = Cell {
                value: values.get(i),
                units: units.get(i).unwrap_or(0),
            };
            out.insert((period, breakdown), cell);
        }
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
