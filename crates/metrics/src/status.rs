//! Completeness (who owed what, and whether it came on time), coverage behind each value,
//! data quality per submission, and each value against the path from baseline to target.

use std::collections::{BTreeMap, HashMap};

use backbone_schema::{Direction, Grain, Indicator, Initiative};
use backbone_store::{Store, Submission};
use chrono::NaiveDate;

use crate::compute::{self, Breakdown, PeriodKey};
use crate::{ExpectedSubmission, MetricsError, Quality};

/// The last day of a period.
fn period_end(grain: Grain, key: PeriodKey, first_month: u32) -> Option<NaiveDate> {
    let (y, m) = *compute::months_of(grain, key, first_month).last()?;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()
}

fn date_of(rfc3339: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(rfc3339.get(..10)?, "%Y-%m-%d").ok()
}

/// The date the store version stands for: the last submission it holds (so that recomputing
/// an old version gives the same "missing" and "late" as it gave then).
fn version_date(ledgers: &BTreeMap<String, Vec<Submission>>) -> NaiveDate {
    ledgers
        .values()
        .flatten()
        .filter_map(|s| date_of(&s.received))
        .max()
        .unwrap_or_else(|| chrono::Utc::now().date_naive())
}

/// Every partner × schema × period owed, with its status.
pub fn completeness(
    initiative: &Initiative,
    ledgers: &BTreeMap<String, Vec<Submission>>,
) -> Vec<ExpectedSubmission> {
    let today = version_date(ledgers);
    let fm = initiative.first_month;
    let mut out = Vec::new();
    for o in &initiative.obligations {
        let Some(mut key) = compute::parse_period(o.grain, &o.from) else {
            continue;
        };
        let last =
            o.to.as_deref()
                .and_then(|t| compute::parse_period(o.grain, t));
        let partners: Vec<&str> = if o.partners.is_empty() {
            initiative.partners.iter().map(|p| p.id.as_str()).collect()
        } else {
            o.partners.iter().map(String::as_str).collect()
        };
        let ledger = ledgers.get(&o.schema).map(Vec::as_slice).unwrap_or(&[]);
        // The submissions that stored rows, by partner × period, in the ledger's order.
        let mut by_key: HashMap<(&str, &str), Vec<&Submission>> = HashMap::new();
        for s in ledger.iter().filter(|s| s.rows_accepted > 0) {
            by_key
                .entry((s.partner.as_str(), s.period.as_str()))
                .or_default()
                .push(s);
        }
        loop {
            if last.is_some_and(|l| key > l) {
                break;
            }
            let Some(end) = period_end(o.grain, key, fm) else {
                break;
            };
            // Periods that have not begun yet are not owed.
            let start = compute::months_of(o.grain, key, fm)
                .first()
                .and_then(|&(y, m)| NaiveDate::from_ymd_opt(y, m, 1));
            if start.is_none_or(|s| s > today) {
                break;
            }
            let due = end + chrono::Duration::days(i64::from(o.due_days));
            let label = compute::period_label(o.grain, key);
            for p in &partners {
                let usable: Vec<&Submission> = by_key
                    .get(&(*p, label.as_str()))
                    .into_iter()
                    .flatten()
                    .copied()
                    .collect();
                let first = usable.iter().filter_map(|s| date_of(&s.received)).min();
                let status = match first {
                    Some(d) if d <= due => "on_time",
                    Some(_) => "late",
                    None if today > due => "missing",
                    None => "not_due",
                };
                out.push(ExpectedSubmission {
                    partner: (*p).to_owned(),
                    schema: o.schema.clone(),
                    period: label.clone(),
                    grain: o.grain,
                    due: due.format("%Y-%m-%d").to_string(),
                    status: status.to_owned(),
                    received: usable.first().map(|s| s.received.clone()),
                    submission: usable.last().map(|s| s.id.clone()),
                });
            }
            key = compute::next(o.grain, key);
        }
    }
    out
}

/// The share of expected submissions received behind a value: for the partner's own cell
/// when the breakdown is the partner, for the partners of a region when the breakdown is a
/// `region` that partners are declared in, else for everyone owing the schema in that period.
///
/// Built once per run: the expected submissions indexed by schema and month, so that each
/// value looks only at those of its own months (a national store owes tens of thousands).
pub struct Coverage<'a> {
    initiative: &'a Initiative,
    expected: &'a [ExpectedSubmission],
    /// (schema, month) → the expected submissions whose period holds that month.
    by_month: HashMap<(&'a str, (i32, u32)), Vec<usize>>,
    /// Each partner's region, and the regions partners are in: looked up for every value
    /// broken down by region (a national initiative has hundreds of partners).
    regions: HashMap<&'a str, &'a str>,
}

impl<'a> Coverage<'a> {
    /// Indexes `expected` (from [`completeness`]).
    pub fn new(initiative: &'a Initiative, expected: &'a [ExpectedSubmission]) -> Self {
        let fm = initiative.first_month;
        let mut by_month: HashMap<(&str, (i32, u32)), Vec<usize>> = HashMap::new();
        for (i, e) in expected.iter().enumerate() {
            let Some(k) = compute::parse_period(e.grain, &e.period) else {
                continue;
            };
            for m in compute::months_of(e.grain, k, fm) {
                by_month.entry((e.schema.as_str(), m)).or_default().push(i);
            }
        }
        let regions = initiative
            .partners
            .iter()
            .map(|p| (p.id.as_str(), p.region.as_str()))
            .collect();
        Self {
            initiative,
            expected,
            by_month,
            regions,
        }
    }

    /// The share for one value of `schema` in `period` of `grain`, under `breakdown`.
    pub fn of(
        &self,
        schema: &str,
        grain: Grain,
        period: PeriodKey,
        breakdown: &Breakdown,
    ) -> Option<f64> {
        let initiative = self.initiative;
        let partner = breakdown.strip_prefix("partner=");
        let region = breakdown
            .strip_prefix("region=")
            .filter(|r| self.regions.values().any(|region| region == r));
        let in_scope = |e: &ExpectedSubmission| match (partner, region) {
            (Some(p), _) => e.partner == p,
            (None, Some(r)) => self.regions.get(e.partner.as_str()) == Some(&r),
            (None, None) => true,
        };
        let mut relevant: Vec<usize> = compute::months_of(grain, period, initiative.first_month)
            .into_iter()
            .filter_map(|m| self.by_month.get(&(schema, m)))
            .flatten()
            .copied()
            .collect();
        relevant.sort_unstable();
        relevant.dedup();
        let relevant: Vec<&ExpectedSubmission> = relevant
            .into_iter()
            .filter_map(|i| self.expected.get(i))
            .filter(|e| in_scope(e))
            .collect();
        if relevant.is_empty() {
            return None;
        }
        let received = relevant
            .iter()
            .filter(|e| matches!(e.status.as_str(), "on_time" | "late"))
            .count();
        Some(received as f64 / relevant.len() as f64)
    }
}

/// Quality of each submission in use (the latest that stored rows, per partner × schema ×
/// period), with its main error types from the `rejects` table.
pub fn quality(
    store: &Store,
    ledgers: &BTreeMap<String, Vec<Submission>>,
    expected: &[ExpectedSubmission],
    means: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<Vec<Quality>, MetricsError> {
    // Error types per submission.
    let errors = store.reject_counts(None)?;
    let mut out = Vec::new();
    let timeliness_of: HashMap<(&str, &str, &str), &str> = expected
        .iter()
        .rev()
        .map(|e| {
            (
                (e.partner.as_str(), e.schema.as_str(), e.period.as_str()),
                e.status.as_str(),
            )
        })
        .collect();
    for ledger in ledgers.values() {
        // The submission in use per partner × period: the last one, if it stored rows.
        let mut current: BTreeMap<(&str, &str), &Submission> = BTreeMap::new();
        for s in ledger {
            if s.rows_accepted > 0
                || !current.contains_key(&(s.partner.as_str(), s.period.as_str()))
            {
                current.insert((s.partner.as_str(), s.period.as_str()), s);
            }
        }
        // Each partner's submissions in use (the history each is compared with), with their
        // means looked up once: per pair of submissions it was 3M lookups by id at a national
        // initiative's 12 000 submissions, 0.2 s of every metrics run.
        type WithMeans<'a> = (&'a Submission, Option<&'a BTreeMap<String, f64>>);
        let mut of_partner: HashMap<&str, Vec<WithMeans<'_>>> = HashMap::new();
        for s in current.values() {
            of_partner
                .entry(s.partner.as_str())
                .or_default()
                .push((s, means.get(&s.id)));
        }
        for s in current.values() {
            let theirs = of_partner
                .get(s.partner.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut kinds: Vec<(&String, &u64)> = errors
                .get(&s.id)
                .map(|m| m.iter().collect())
                .unwrap_or_default();
            kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let main_errors = kinds
                .iter()
                .take(3)
                .map(|(k, n)| format!("{k}:{n}"))
                .collect::<Vec<_>>()
                .join("; ");
            let timeliness = timeliness_of
                .get(&(s.partner.as_str(), s.schema.as_str(), s.period.as_str()))
                .filter(|st| matches!(**st, "on_time" | "late"))
                .map(|st| (*st).to_owned())
                .unwrap_or_default();
            // Rows against the partner's own other periods.
            let mut others: Vec<u64> = theirs
                .iter()
                .filter(|(o, _)| o.partner == s.partner && o.id != s.id && o.rows_accepted > 0)
                .map(|(o, _)| o.rows_accepted)
                .collect();
            others.sort_unstable();
            let volume = match others.get(others.len() / 2) {
                Some(&m) if others.len() >= 3 && m > 0 => {
                    let r = s.rows_accepted as f64 / m as f64;
                    if r > 2.0 {
                        "high"
                    } else if r < 0.5 {
                        "low"
                    } else {
                        ""
                    }
                }
                _ => "",
            };
            // Each numeric field's mean against the partner's own other periods.
            let mut unusual = Vec::new();
            for (field, &v) in means.get(&s.id).into_iter().flatten() {
                let history: Vec<f64> = theirs
                    .iter()
                    .filter(|(o, _)| o.partner == s.partner && o.id != s.id)
                    .filter_map(|(_, m)| (*m)?.get(field).copied())
                    .collect();
                if let Some((low, high)) = far_outside(v, &history) {
                    unusual.push(format!(
                        "{field}={} [{}, {}]",
                        short(v),
                        short(low),
                        short(high)
                    ));
                }
            }
            out.push(Quality {
                unusual: unusual.join("; "),
                submission: (*s).clone(),
                rejected_share: if s.rows_read > 0 {
                    s.rows_rejected as f64 / s.rows_read as f64
                } else {
                    0.0
                },
                main_errors,
                timeliness,
                volume: volume.to_owned(),
            });
        }
    }
    Ok(out)
}

/// Whether `value` (a submission's mean of a field) is far outside `history` (the same mean
/// in the partner's other periods): more than three robust standard deviations (1.4826 × the
/// median absolute deviation) from their median, and more than a quarter of the median away,
/// so that a history of near-identical values does not flag ordinary wobble. Needs three
/// periods of history. Returns the usual range: the lowest and highest of the history, leaving
/// out history values that are themselves far from its median.
pub fn far_outside(value: f64, history: &[f64]) -> Option<(f64, f64)> {
    let mut h: Vec<f64> = history.iter().copied().filter(|x| x.is_finite()).collect();
    if h.len() < 3 || !value.is_finite() {
        return None;
    }
    h.sort_by(f64::total_cmp);
    let median = |v: &[f64]| {
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let m = median(&h);
    let mut dev: Vec<f64> = h.iter().map(|x| (x - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = median(&dev);
    let tolerance = (3.0 * 1.4826 * mad).max(0.25 * m.abs());
    if (value - m).abs() <= tolerance {
        return None;
    }
    // The usual range: the history without its own strays.
    let usual: Vec<f64> = h
        .into_iter()
        .filter(|x| (x - m).abs() <= tolerance)
        .collect();
    Some((*usual.first()?, *usual.last()?))
}

/// A mean as written in `quality.csv`: at most three decimals, no trailing zeros.
fn short(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// The column of a row's Parquet file (its path) in the frame [`means`] reads.
pub const FILE: &str = "__file";

/// The mean of every numeric field of a table per submission (integer and number fields
/// that are neither personal nor unique: identifiers have no usual value), from the table's
/// rows with the path of each row's Parquet file in column [`FILE`], in batches of whole
/// files read one after the other (so that memory follows a batch, not the table).
///
/// A file holds the rows of one submission (one commit writes it, for one partner and
/// period), so the rows are summed per file and each file's submission read from its rows.
/// A submission's files are added up in the order of their paths, so that its means do not
/// depend on which other files were read with it (an incremental run reads only new ones).
pub fn means(
    batches: &[polars::prelude::LazyFrame],
    schema: &backbone_schema::TableSchema,
) -> Result<BTreeMap<String, BTreeMap<String, f64>>, MetricsError> {
    use backbone_schema::FieldType;
    use polars::prelude::*;
    let err = |e: PolarsError| MetricsError::compute(&schema.name, e);
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let Some(first) = batches.first() else {
        return Ok(out);
    };
    let present = first.clone().collect_schema().map_err(err)?;
    let fields: Vec<&str> = schema
        .fields
        .iter()
        .filter(|f| matches!(f.field_type, FieldType::Integer | FieldType::Number))
        .filter(|f| !f.pii && f.constraints.unique.as_ref().is_none_or(|u| !u.value))
        .map(|f| f.name.as_str())
        .filter(|f| present.contains(f))
        .collect();
    if fields.is_empty() {
        return Ok(out);
    }
    // Each file's submission, and its sums and counts, in one pass over every file.
    let mut aggs = vec![col(SUBMISSION).first().alias(SUBMISSION)];
    for (j, f) in fields.iter().enumerate() {
        let x = col(*f).cast(DataType::Float64);
        aggs.push(x.clone().sum().alias(format!("s{j}")));
        aggs.push(x.count().cast(DataType::UInt64).alias(format!("n{j}")));
    }
    let mut sums = DataFrame::empty();
    for rows in batches {
        let batch = rows
            .clone()
            .group_by([col(FILE).cast(DataType::String)])
            .agg(aggs.clone())
            .collect()
            .map_err(err)?;
        if sums.width() == 0 {
            sums = batch;
        } else {
            sums.vstack_mut(&batch).map_err(err)?;
        }
    }
    if sums.width() == 0 {
        return Ok(out);
    }
    let texts = |name: &str| sums.column(name).and_then(|c| c.str().cloned());
    let paths = texts(FILE).map_err(err)?;
    let ids = texts(SUBMISSION).map_err(err)?;
    // (submission, field) → (path, sum, count) of each of its files.
    type Part<'a> = (&'a str, f64, u64);
    let mut parts: BTreeMap<(&str, &str), Vec<Part>> = BTreeMap::new();
    for (j, f) in fields.iter().enumerate() {
        let s = sums
            .column(&format!("s{j}"))
            .and_then(|c| c.f64().cloned())
            .map_err(err)?;
        let n = sums
            .column(&format!("n{j}"))
            .and_then(|c| c.u64().cloned())
            .map_err(err)?;
        for (((path, id), s), n) in paths.iter().zip(ids.iter()).zip(s.iter()).zip(n.iter()) {
            let (Some(path), Some(id), Some(s), Some(n)) = (path, id, s, n) else {
                continue;
            };
            parts.entry((id, f)).or_default().push((path, s, n));
        }
    }
    for ((id, f), mut p) in parts {
        p.sort_by(|a, b| a.0.cmp(b.0));
        let (sum, count) = p
            .iter()
            .fold((0.0, 0u64), |(s, n), &(_, fs, fn_)| (s + fs, n + fn_));
        if count > 0 {
            out.entry(id.to_owned())
                .or_default()
                .insert(f.to_owned(), sum / count as f64);
        }
    }
    Ok(out)
}

/// The column that names a row's submission.
const SUBMISSION: &str = "_submission_id";

/// The baseline, the target that applies, and the status of a value against the straight
/// path from baseline to target: `on_track` at or beyond the path, `at_risk` better than the
/// baseline but behind the path, `off_track` no better than the baseline.
pub fn against_path(
    ind: &Indicator,
    period: PeriodKey,
    breakdown: &str,
    value: Option<f64>,
) -> (Option<f64>, Option<f64>, String) {
    let g = ind.grain;
    let total = breakdown.is_empty();
    let baseline = ind.baseline.as_ref().filter(|_| total);
    let targets: Vec<(PeriodKey, f64)> = ind
        .targets
        .iter()
        .filter(|t| t.breakdown.as_deref().unwrap_or("") == breakdown)
        .filter_map(|t| Some((compute::parse_period(g, &t.period)?, t.value)))
        .collect();
    let target = targets
        .iter()
        .filter(|(k, _)| *k >= period)
        .min_by_key(|(k, _)| *k)
        .or_else(|| targets.iter().max_by_key(|(k, _)| *k))
        .copied();
    let better = |a: f64, b: f64| match ind.direction {
        Direction::Up => a >= b,
        Direction::Down => a <= b,
    };
    let status = match (value, target) {
        (None, _) | (_, None) => String::new(),
        (Some(v), Some((tk, tv))) => {
            let path = baseline
                .and_then(|b| Some((compute::parse_period(g, &b.period)?, b.value)))
                .map(|(bk, bv)| {
                    let (ob, ot, o) = (
                        compute::ordinal(g, bk),
                        compute::ordinal(g, tk),
                        compute::ordinal(g, period),
                    );
                    if ot <= ob {
                        tv
                    } else {
                        let f = f64::from(o.clamp(ob, ot) - ob) / f64::from(ot - ob);
                        bv + (tv - bv) * f
                    }
                });
            match path {
                Some(p) if better(v, p) => "on_track",
                Some(_) if baseline.is_some_and(|b| better(v, b.value) && v != b.value) => {
                    "at_risk"
                }
                Some(_) => "off_track",
                None if better(v, tv) => "on_track",
                None => "at_risk",
            }
            .to_owned()
        }
    };
    (baseline.map(|b| b.value), target.map(|t| t.1), status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_ends_respect_the_reporting_year() {
        assert_eq!(
            period_end(Grain::Quarter, 202401, 1),
            NaiveDate::from_ymd_opt(2024, 3, 31)
        );
        assert_eq!(
            period_end(Grain::Month, 202402, 1),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        // Reporting year from September: 2024-Q2 ends on the last day of February 2025.
        assert_eq!(
            period_end(Grain::Quarter, 202402, 9),
            NaiveDate::from_ymd_opt(2025, 2, 28)
        );
    }

    #[test]
    fn a_submissions_mean_weighs_each_of_its_files_by_its_values() {
        use polars::prelude::*;
        let schema = backbone_schema::TableSchema::from_json_str(
            r#"{"name": "t", "fields": [
                {"name": "minutes", "type": "integer"},
                {"name": "score", "type": "number"},
                {"name": "age", "type": "integer", "x-pii": true}]}"#,
            "t.json",
        )
        .unwrap();
        let file = |id: &str, minutes: &[Option<i64>], score: &[Option<f64>]| {
            let n = minutes.len();
            df!(
                SUBMISSION => vec![id; n],
                "minutes" => minutes,
                "score" => score,
                "age" => vec![40i64; n],
            )
            .unwrap()
            .lazy()
        };
        let files = [
            // Submission a in two files: its mean is over its four values, not the files'.
            ("b/1.parquet", file("a", &[Some(10)], &[None])),
            (
                "a/1.parquet",
                file("a", &[Some(1), Some(2), None, Some(3)], &[None; 4]),
            ),
            ("c/1.parquet", file("b", &[Some(7)], &[Some(0.5)])),
            ("d/1.parquet", file("c", &[], &[])),
        ];
        let rows = concat(
            files
                .into_iter()
                .map(|(path, rows)| rows.with_column(lit(path).alias(FILE)))
                .collect::<Vec<_>>(),
            UnionArgs::default(),
        )
        .unwrap();
        let means = means(&[rows], &schema).unwrap();
        // Neither a field with no value (a's score) nor a personal field (age) has a mean;
        // a file with no rows gives no submission.
        assert_eq!(
            means,
            BTreeMap::from([
                (
                    "a".to_owned(),
                    BTreeMap::from([("minutes".to_owned(), 4.0)])
                ),
                (
                    "b".to_owned(),
                    BTreeMap::from([("minutes".to_owned(), 7.0), ("score".to_owned(), 0.5)])
                ),
            ])
        );
    }

    #[test]
    fn far_outside_needs_history_and_a_real_departure() {
        // Too little history: nothing is unusual yet.
        assert_eq!(far_outside(100.0, &[1.0, 2.0]), None);
        // Far from a steady history: flagged, with the usual range.
        assert_eq!(
            far_outside(88.0, &[35.0, 36.0, 34.0, 37.0]),
            Some((34.0, 37.0))
        );
        assert_eq!(
            far_outside(3.0, &[35.0, 36.0, 34.0, 37.0]),
            Some((34.0, 37.0))
        );
        // Within the history's own spread: not flagged.
        assert_eq!(far_outside(38.0, &[35.0, 36.0, 34.0, 37.0]), None);
        // A history of identical values does not turn a small wobble into an alarm (the
        // quarter-of-the-median floor), but a large move still counts.
        assert_eq!(far_outside(31.0, &[30.0, 30.0, 30.0]), None);
        assert_eq!(far_outside(45.0, &[30.0, 30.0, 30.0]), Some((30.0, 30.0)));
        // One wild month in the history does not hide the next one (median, not mean).
        assert_eq!(
            far_outside(90.0, &[35.0, 36.0, 34.0, 500.0]),
            Some((34.0, 36.0))
        );
        assert_eq!(far_outside(f64::NAN, &[1.0, 1.0, 1.0]), None);
    }
}
