//! The agreed indicators, computed from one version of the store with polars (the only crate
//! that uses it), with completeness, data quality and small-cell suppression.
//!
//! Flow: [`Declarations`] (the workspace crate's: schemas, indicators, the initiative) →
//! [`compute`] reads each schema's table at one version as polars frames over its Parquet
//! files (partition values added as columns) → [`compute::aggregate_all`] evaluates what every
//! side of every indicator needs in one pass per table, and its tally adds up the total and
//! every breakdown straight from the rows → ratios, rates and derived indicators are
//! assembled → [`suppress`] hides small cells and whatever would give them away →
//! [`Results`] are written as the DESIGN's tidy table (`indicators.csv`,
//! `indicators.parquet`), with `completeness.csv` and `quality.csv`, through the workspace
//! crate's row types.

mod assemble;
pub mod compute;
mod error;
mod explain;
mod incremental;
mod output;
pub mod sql;
pub mod status;
pub use backbone_disclosure::suppress;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use backbone_schema::{Indicator, Kind};
use backbone_store::{Store, Submission};
use polars::prelude::*;

pub use backbone_workspace::Declarations;
pub use backbone_workspace::tables::ValueRow;
pub use error::MetricsError;
pub use explain::{Lineage, explain};
pub use incremental::compute_since;

use assemble::*;
pub use output::{
    Cell, Published, read_basis, read_cells, read_previous, read_results, write_all, write_changes,
};

use compute::{Breakdown, Cells, PeriodKey};

/// The partition column that holds the partner (a dimension named `partner`).
pub const PARTNER: &str = "_partner";
/// The partition column that holds the submission's period.
pub const PERIOD: &str = "_period";

/// Which version of each table to read: the latest, or the versions of a results table's
/// `store_version` (`service_records@12;population@1`), or one number when the store has one
/// table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AsOf(pub BTreeMap<String, u64>);

impl AsOf {
    /// Parses `--as-of`.
    pub fn parse(text: &str, tables: &[String]) -> Result<Self, MetricsError> {
        let mut out = BTreeMap::new();
        if let Ok(v) = text.trim().parse::<u64>() {
            return match tables {
                [only] => {
                    out.insert(only.clone(), v);
                    Ok(Self(out))
                }
                _ => Err(MetricsError::AsOf(
                    text.to_owned(),
                    format!(
                        "the store has {} tables; name each: {}",
                        tables.len(),
                        tables
                            .iter()
                            .map(|t| format!("{t}@N"))
                            .collect::<Vec<_>>()
                            .join(";")
                    ),
                )),
            };
        }
        for part in text
            .split([';', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (t, v) = part
                .split_once('@')
                .and_then(|(t, v)| Some((t, v.parse::<u64>().ok()?)))
                .ok_or_else(|| {
                    MetricsError::AsOf(text.to_owned(), format!("{part:?} is not table@version"))
                })?;
            out.insert(t.to_owned(), v);
        }
        Ok(Self(out))
    }

    /// As written in results tables.
    pub fn label(&self) -> String {
        self.0
            .iter()
            .map(|(t, v)| format!("{t}@{v}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Completeness of one partner × schema × period.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedSubmission {
    /// Partner id.
    pub partner: String,
    /// Schema.
    pub schema: String,
    /// Period label (at the obligation's grain).
    pub period: String,
    /// The obligation's grain.
    pub grain: backbone_schema::Grain,
    /// Due date (`YYYY-MM-DD`).
    pub due: String,
    /// `on_time`, `late`, `missing`, `not_due`.
    pub status: String,
    /// When the submission in use was received.
    pub received: Option<String>,
    /// Its id.
    pub submission: Option<String>,
}

/// Data quality of one submission in use.
#[derive(Clone, Debug, PartialEq)]
pub struct Quality {
    /// The submission.
    pub submission: Submission,
    /// Share of rows rejected.
    pub rejected_share: f64,
    /// The main error types and their counts (`type-error:12; constraint-error:3`).
    pub main_errors: String,
    /// `on_time`, `late`, or empty when the period is not owed.
    pub timeliness: String,
    /// Rows accepted against the partner's own history: `high`, `low`, or empty.
    pub volume: String,
    /// Numeric fields whose mean is far outside the partner's own other periods, each as
    /// `field=mean [lowest, highest]` (the usual range), separated by `; `.
    pub unusual: String,
}

/// Everything one run computes.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// The store version read.
    pub store_version: String,
    /// The indicator rows.
    pub rows: Vec<ValueRow>,
    /// Completeness rows.
    pub expected: Vec<ExpectedSubmission>,
    /// Data quality rows.
    pub quality: Vec<Quality>,
    /// The declarations' fingerprint.
    pub declarations: String,
    /// Each submission's mean of each numeric field (what `unusual` compares): kept with the
    /// results, so that an incremental computation reads only new submissions' rows for them.
    pub means: BTreeMap<String, BTreeMap<String, f64>>,
    /// Every value as the disclosure stage received it (true counts): kept with the results
    /// (`basis.json`), so that an incremental computation recomputes only the changed periods
    /// from rows and gives the stage the rest of their years from here.
    pub cells: Vec<output::Cell>,
    /// The distinct sets of the months this computation kept (`compute::kept`), put in place
    /// with the results by [`write_all`]; `None` for results that keep none.
    pub kept: Option<std::sync::Arc<compute::kept::Staged>>,
}

/// Means of submissions already known, and the files whose submissions are not: what an
/// incremental computation passes instead of reading every table for the means.
struct KnownMeans {
    means: BTreeMap<String, BTreeMap<String, f64>>,
    /// New Parquet files by table.
    new_files: BTreeMap<String, Vec<std::path::PathBuf>>,
}

/// The means of the submissions in `files` (Parquet files of table `t`).
fn means_of_files(
    decl: &Declarations,
    t: &str,
    files: &[std::path::PathBuf],
) -> Result<BTreeMap<String, BTreeMap<String, f64>>, MetricsError> {
    let Some(schema) = decl.schemas.get(t) else {
        return Ok(BTreeMap::new());
    };
    if files.is_empty() {
        return Ok(BTreeMap::new());
    }
    let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let rows = scan_paths(&paths, None, true).map_err(|e| MetricsError::compute(t, e))?;
    status::means(&[rows], schema)
}

/// The means of every submission of the tables read: from every file, or, in an incremental
/// run, those already known and the new files'.
fn submission_means(
    decl: &Declarations,
    frames: &BTreeMap<String, compute::Rows>,
    known: Option<KnownMeans>,
) -> Result<BTreeMap<String, BTreeMap<String, f64>>, MetricsError> {
    let mut means = BTreeMap::new();
    match known {
        // Submissions never change: known means stand, new files give the new ones'.
        Some(known) => {
            means = known.means;
            for (t, files) in &known.new_files {
                means.extend(means_of_files(decl, t, files)?);
            }
        }
        None => {
            for (t, rows) in frames {
                if let Some(schema) = decl.schemas.get(t) {
                    means.extend(status::means(&rows.with_paths, schema)?);
                }
            }
        }
    }
    Ok(means)
}

/// A schema's rows at a version (partner and period added as columns); `None` when the
/// version has no rows (every submission rejected).
#[allow(clippy::type_complexity)]
fn scan(
    store: &Store,
    schema: &str,
    version: Option<u64>,
    ranges: Option<&compute::Ranges>,
) -> Result<Option<(u64, Option<compute::Rows>)>, MetricsError> {
    let Some((v, files)) = store.files(schema, version)? else {
        return Ok(None);
    };
    if files.is_empty() {
        return Ok(Some((v, None)));
    }
    let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    let counts: Vec<u64> = files
        .iter()
        .map(|f| compute::rows_of(f.rows, || std::fs::metadata(&f.path).map_or(0, |m| m.len())))
        .collect();
    let root = store.table_dir(schema).display().to_string().len();
    let scan = |paths: &[String], with_path: bool| scan_paths(paths, Some(root), with_path);
    let mut rows = compute::Rows::new(paths.clone(), &counts, scan)
        .map_err(|e| MetricsError::compute(schema, e))?;
    // With a window, the batches read only the files whose dates (the log's statistics) can
    // fall in it: a month of a national store is a few hundred files of twelve thousand, and
    // the Parquet reader would otherwise open every one to look at its own statistics.
    if let Some(ranges) = ranges {
        let keep: Vec<usize> = (0..files.len())
            .filter(|&i| compute::needed(ranges, &files[i].dates))
            .collect();
        let paths: Vec<String> = keep.iter().map(|&i| paths[i].clone()).collect();
        let counts: Vec<u64> = keep.iter().map(|&i| counts[i]).collect();
        tracing::debug!(
            table = schema,
            files = files.len(),
            read = paths.len(),
            "files a window reads"
        );
        rows.batches_of(&paths, &counts, scan)
            .map_err(|e| MetricsError::compute(schema, e))?;
    }
    Ok(Some((v, Some(rows))))
}

/// One scan of Parquet files: polars plans one scan of many files, where a union of a frame
/// per file planned and opened each on its own (12 000 small files took 3.7 times DuckDB's
/// time). With `hive_root`, the partner and period are read from the partition folders of
/// the paths (`_partner=…/_period=…/`, after the first `hive_root` bytes of each path: the
/// table's folder); with `with_path`, each row's file is in column [`status::FILE`].
fn scan_paths(
    paths: &[String],
    hive_root: Option<usize>,
    with_path: bool,
) -> PolarsResult<LazyFrame> {
    let hive_options = match hive_root {
        Some(root) => HiveOptions {
            enabled: Some(true),
            hive_start_idx: root,
            schema: Some(Arc::new(Schema::from_iter([
                Field::new(PARTNER.into(), DataType::String),
                Field::new(PERIOD.into(), DataType::String),
            ]))),
            try_parse_dates: false,
        },
        None => HiveOptions::new_disabled(),
    };
    let args = ScanArgsParquet {
        hive_options,
        include_file_paths: with_path.then(|| status::FILE.into()),
        allow_missing_columns: true,
        ..ScanArgsParquet::default()
    };
    LazyFrame::scan_parquet_files(
        paths.iter().map(|p| PlRefPath::new(p.as_str())).collect(),
        args,
    )
}

/// The tables the declarations read.
fn needed(decl: &Declarations) -> BTreeSet<String> {
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let definitions = decl
        .indicators
        .iter()
        .flat_map(|(_, i)| (1..=i.definitions()).map(|n| i.definition(n)));
    for i in definitions {
        needed.insert(i.schema.clone());
        for m in [&i.numerator, &i.denominator].into_iter().flatten() {
            if let Some(s) = &m.schema {
                needed.insert(s.clone());
            }
        }
        if let Some(p) = &i.population {
            needed.insert(p.schema.clone());
        }
    }
    for o in &decl.initiative.obligations {
        needed.insert(o.schema.clone());
    }
    needed
}

/// Computes every indicator, completeness and quality from one store version.
pub fn compute(store: &Store, decl: &Declarations, as_of: &AsOf) -> Result<Results, MetricsError> {
    compute_window(store, decl, as_of, None, None, &[], None)
}

/// As [`compute`] at the latest version, keeping the months' distinct sets the next
/// incremental computation reads (`compute::kept`) for results to be written into `dir`.
pub fn compute_full(
    store: &Store,
    decl: &Declarations,
    dir: &Path,
) -> Result<Results, MetricsError> {
    let keep = compute::kept::Keep::new(dir, None, true).map_err(|e| MetricsError::Output {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    compute_window(store, decl, &AsOf::default(), None, None, &[], Some(keep))
}

/// As [`compute`]; with a window, only the indicator periods holding one of its months are
/// computed (completeness and quality are always whole). `prior`: values of other periods,
/// as the disclosure stage received them before, given to it again with the new ones (the
/// rest of the years the window touches).
fn compute_window(
    store: &Store,
    decl: &Declarations,
    as_of: &AsOf,
    window: Option<&compute::Window>,
    known: Option<KnownMeans>,
    prior: &[output::Cell],
    mut keep: Option<compute::kept::Keep>,
) -> Result<Results, MetricsError> {
    let first_month = decl.initiative.first_month;
    // Which tables are read, and at which version.
    let needed = needed(decl);
    for t in as_of.0.keys() {
        if !needed.contains(t) && store.version(t)?.is_none() {
            return Err(MetricsError::AsOf(
                as_of.label(),
                format!("the store has no table {t}"),
            ));
        }
    }
    // An indicator with later definitions is computed once per definition, each under an id
    // of its own (`contact_within_week@2`), and each period keeps the values of the
    // definition in force for it — before disclosure control, which sees only what is
    // published, each definition's cells as a measure of their own.
    let expanded = expand(decl);
    let mut order: Vec<&Indicator> = expanded.iter().collect();
    order.sort_by_key(|i| i.kind == Kind::Derived);
    let sides: Vec<compute::Side> = order.iter().flat_map(|i| sides_of(i)).collect();
    let mut frames: BTreeMap<String, compute::Rows> = BTreeMap::new();
    let mut versions = AsOf::default();
    let mut ledgers: BTreeMap<String, Vec<Submission>> = BTreeMap::new();
    let started = std::time::Instant::now();
    for t in &needed {
        let v = as_of.0.get(t).copied();
        let ranges =
            window.map(|w| compute::ranges_read(&sides, t, first_month, w, keep.is_some()));
        if let Some((read, lf)) = scan(store, t, v, ranges.as_ref())? {
            versions.0.insert(t.clone(), read);
            if let Some(mut lf) = lf {
                lf.aggregate = decl.schemas.get(t).is_some_and(|s| s.aggregate);
                frames.insert(t.clone(), lf);
            }
            ledgers.insert(t.clone(), store.submissions(t, Some(read))?);
        }
    }
    let store_version = versions.label();
    tracing::debug!(took = ?started.elapsed(), "tables and ledgers loaded");
    let expected = status::completeness(&decl.initiative, &ledgers);
    // Every side counted from rows, aggregated together: one pass over each table. The means
    // of the submissions (for quality) are read at the same time, on another thread: the
    // tallies keep one core busy for long stretches.
    let (cells, means) = std::thread::scope(|scope| {
        let means = scope.spawn(|| {
            let started = std::time::Instant::now();
            let means = submission_means(decl, &frames, known);
            tracing::debug!(took = ?started.elapsed(), "means of the submissions");
            means
        });
        let cells = compute::aggregate_all(&frames, &sides, first_month, window, keep.as_mut());
        let means = match means.join() {
            Ok(means) => means,
            // A bug, not a file's doing: the same panic as on this thread.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (cells, means)
    });
    let mut cells = cells?.into_iter();
    let mut means = means?;
    let started = std::time::Instant::now();
    let quality = status::quality(store, &ledgers, &expected, &means)?;
    tracing::debug!(took = ?started.elapsed(), "quality");
    // Only the submissions in use are kept.
    let in_use: BTreeSet<&str> = quality.iter().map(|q| q.submission.id.as_str()).collect();
    means.retain(|id, _| in_use.contains(id.as_str()));

    // Every indicator but the derived ones, then disclosure control over all of them at once
    // (the counts of one indicator can give away another's), then the derived ones.
    let mut rows: Vec<ValueRow> = Vec::new();
    let mut derived: Vec<&Indicator> = Vec::new();
    for ind in order {
        // Counts and what is made of counts are the disclosure stage's; a sum or a mean hides
        // its own small cells (how many rows are behind it).
        let threshold = if backbone_disclosure::modeled(ind) {
            0
        } else {
            ind.threshold.unwrap_or(decl.initiative.threshold)
        };
        let mine: Vec<Cells> = cells.by_ref().take(sides_of(ind).len()).collect();
        let computed = match (ind.kind, mine.as_slice()) {
            (Kind::Count | Kind::DistinctCount | Kind::Sum | Kind::Mean, [value]) => {
                single(ind, value, threshold)
            }
            (Kind::Ratio, [numerator, denominator]) => {
                ratio(ind, numerator, denominator, threshold)
            }
            (Kind::Rate, [numerator]) => {
                let pop = match ind.population.as_ref().and_then(|p| frames.get(&p.schema)) {
                    Some(rows) => compute::population(&rows.all, ind)?,
                    None => BTreeMap::new(),
                };
                rate(ind, numerator, &pop, threshold)
            }
            (Kind::Rate, _) => continue,
            (Kind::Derived, _) => {
                derived.push(ind);
                continue;
            }
            // A declaration missing a side (`backbone check` names it): no values.
            _ => Vec::new(),
        };
        rows.extend(
            computed
                .into_iter()
                .filter(|c| in_force(decl, &ind.id, ind.grain, c.key.0))
                .map(|c| ValueRow {
                    indicator: ind.id.clone(),
                    period: compute::period_label(ind.grain, c.key.0),
                    breakdown: c.key.1,
                    value: c.value,
                    numerator: c.numerator,
                    denominator: c.denominator,
                    suppressed: c.suppressed,
                    ..ValueRow::default()
                }),
        );
    }
    let modeled: Vec<&Indicator> = expanded
        .iter()
        .filter(|i| backbone_disclosure::modeled(i))
        .collect();
    rows.extend(prior.iter().map(output::Cell::row));
    let cells: Vec<output::Cell> = rows.iter().map(output::Cell::of).collect();
    let started = std::time::Instant::now();
    let protection = backbone_disclosure::protect(&modeled, decl.initiative.threshold, &mut rows)?;
    tracing::debug!(took = ?started.elapsed(), ?protection, "disclosure control");
    // Each value under its indicator's own id, with the definition it was computed under.
    for r in &mut rows {
        let (id, definition) = split_definition(&r.indicator);
        r.definition = definition;
        r.indicator = id.to_owned();
    }
    // Values by indicator, as published, for derived indicators.
    let mut values: BTreeMap<String, BTreeMap<(PeriodKey, Breakdown), Option<f64>>> =
        BTreeMap::new();
    let mut suppressed_of: BTreeMap<String, BTreeSet<(PeriodKey, Breakdown)>> = BTreeMap::new();
    let by_id: BTreeMap<&str, &Indicator> = decl
        .indicators
        .iter()
        .map(|(_, i)| (i.id.as_str(), i))
        .collect();
    for r in &rows {
        let Some(ind) = by_id.get(r.indicator.as_str()) else {
            continue;
        };
        let Some(p) = compute::parse_period(ind.grain, &r.period) else {
            continue;
        };
        let key = (p, r.breakdown.clone());
        values
            .entry(ind.id.clone())
            .or_default()
            .insert(key.clone(), r.value);
        if r.suppressed {
            suppressed_of.entry(ind.id.clone()).or_default().insert(key);
        }
    }
    for ind in derived {
        let computed = compute::derive(ind, &values)?;
        let computed: Vec<_> = computed
            .into_iter()
            .filter(|(k, _)| in_force(decl, &ind.id, ind.grain, k.0))
            .collect();
        let (base_id, definition) = split_definition(&ind.id);
        let inputs = backbone_schema::formula_ids(ind.formula.as_deref().unwrap_or(""));
        let mut vals = BTreeMap::new();
        for (k, v) in computed {
            // A derived value is hidden wherever one of its inputs is.
            let hidden = inputs
                .iter()
                .any(|i| suppressed_of.get(i).is_some_and(|s| s.contains(&k)));
            let value = if hidden { None } else { v };
            vals.insert(k.clone(), value);
            if hidden {
                suppressed_of
                    .entry(base_id.to_owned())
                    .or_default()
                    .insert(k.clone());
            }
            rows.push(ValueRow {
                indicator: base_id.to_owned(),
                period: compute::period_label(ind.grain, k.0),
                breakdown: k.1,
                value,
                suppressed: hidden,
                definition,
                ..ValueRow::default()
            });
        }
        values.entry(base_id.to_owned()).or_default().extend(vals);
    }
    // Coverage and the path, for every row as published.
    let coverage = status::Coverage::new(&decl.initiative, &expected);
    for r in &mut rows {
        let Some(ind) = by_id.get(r.indicator.as_str()) else {
            continue;
        };
        let Some(period) = compute::parse_period(ind.grain, &r.period) else {
            continue;
        };
        let coverage_schema = ind
            .numerator
            .as_ref()
            .and_then(|n| n.schema.clone())
            .unwrap_or_else(|| ind.schema.clone());
        r.coverage = coverage.of(&coverage_schema, ind.grain, period, &r.breakdown);
        let (baseline, target, state) = status::against_path(ind, period, &r.breakdown, r.value);
        r.baseline = baseline;
        r.target = target;
        r.status = state;
        r.store_version = store_version.clone();
    }
    sort_rows(decl, &mut rows);
    Ok(Results {
        store_version,
        rows,
        expected,
        quality,
        declarations: decl.fingerprint.clone(),
        means,
        cells,
        kept: keep.map(|k| std::sync::Arc::new(k.into_staged())),
    })
}

/// Every indicator as computed: one with later definitions once per definition in force
/// for some period, under `id@n`; the others as declared.
fn expand(decl: &Declarations) -> Vec<Indicator> {
    let mut out = Vec::new();
    for (_, ind) in &decl.indicators {
        if ind.versions.is_empty() {
            out.push(ind.clone());
            continue;
        }
        let backcast = ind
            .versions
            .iter()
            .rposition(|v| v.backcast)
            .map_or(1, |i| i + 2);
        for n in backcast as u32..=ind.definitions() {
            let mut d = ind.definition(n);
            d.id = format!("{}@{n}", ind.id);
            out.push(d);
        }
    }
    out
}

/// `contact_within_week@2` → (`contact_within_week`, 2); an id without `@` is definition 1.
fn split_definition(id: &str) -> (&str, u32) {
    match id.split_once('@') {
        Some((base, n)) => (base, n.parse().unwrap_or(1)),
        None => (id, 1),
    }
}

/// Whether the value of `id` (possibly `id@n`) for a period is the one published: always
/// for an indicator with one definition, else when definition `n` is in force then.
fn in_force(decl: &Declarations, id: &str, grain: backbone_schema::Grain, key: PeriodKey) -> bool {
    let (base, n) = split_definition(id);
    if !id.contains('@') {
        return true;
    }
    let Some((_, ind)) = decl.indicators.iter().find(|(_, i)| i.id == base) else {
        return true;
    };
    let fm = decl.initiative.first_month;
    let Some(period) = backbone_workspace::Period::from_key(grain, key) else {
        return true;
    };
    backbone_workspace::definitions::definition_for(ind, period, fm) == n
}

/// The sides of an indicator counted from rows, in the order its values are put together: the
/// value itself, a ratio's numerator and denominator, a rate's numerator; none for a derived
/// indicator or a declaration missing a side.
fn sides_of(ind: &Indicator) -> Vec<compute::Side<'_>> {
    let side = |measure| compute::Side {
        indicator: ind,
        measure,
    };
    match (ind.kind, &ind.numerator, &ind.denominator, &ind.population) {
        (Kind::Count | Kind::DistinctCount | Kind::Sum | Kind::Mean, ..) => vec![side(None)],
        (Kind::Ratio, Some(n), Some(d), _) => vec![side(Some(n)), side(Some(d))],
        (Kind::Rate, Some(n), _, Some(_)) => vec![side(Some(n))],
        _ => Vec::new(),
    }
}

/// The results' order: indicators as declared (derived ones last), then period, then
/// breakdown. Full and incremental computations write the same bytes.
fn sort_rows(decl: &Declarations, rows: &mut [ValueRow]) {
    let mut order: Vec<&Indicator> = decl.indicators.iter().map(|(_, i)| i).collect();
    order.sort_by_key(|i| i.kind == Kind::Derived);
    let rank: BTreeMap<&str, (usize, backbone_schema::Grain)> = order
        .iter()
        .enumerate()
        .map(|(n, i)| (i.id.as_str(), (n, i.grain)))
        .collect();
    rows.sort_by_cached_key(|r| {
        let (n, grain) = rank
            .get(r.indicator.as_str())
            .copied()
            .unwrap_or((usize::MAX, backbone_schema::Grain::Year));
        (
            n,
            compute::parse_period(grain, &r.period).unwrap_or(i32::MAX),
            r.breakdown.clone(),
        )
    });
}
