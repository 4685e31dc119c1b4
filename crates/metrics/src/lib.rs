//! The agreed indicators, computed from one version of the store with polars (the only crate
//! that uses it), with completeness, data quality and small-cell suppression.
//!
//! Flow: [`Declarations`] (schemas, indicators, the initiative) → [`compute`] reads each
//! schema's table at one version as a polars `LazyFrame` over its Parquet files (partition
//! values added as columns) → per indicator, [`compute::aggregate`] makes the total and every
//! breakdown straight from the rows → ratios, rates and derived indicators are assembled →
//! [`suppress`] hides small cells and whatever would give them away → [`Results`] are written
//! as the DESIGN's tidy table (`indicators.csv`, `indicators.parquet`), with
//! `completeness.csv` and `quality.csv`.

pub mod compute;
mod error;
mod output;
pub mod status;
pub mod suppress;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use backbone_schema::{Indicator, Initiative, Kind, TableSchema};
use backbone_store::{Store, Submission};
use polars::prelude::*;
use sha2::Digest;

pub use error::MetricsError;
pub use output::{Published, read_basis, read_previous, read_results, write_all, write_changes};

use compute::{Breakdown, Cells, PeriodKey};

/// The partition column that holds the partner (a dimension named `partner`).
pub const PARTNER: &str = "_partner";
/// The partition column that holds the submission's period.
pub const PERIOD: &str = "_period";

/// What the data manager declared: schemas, indicators, the initiative.
#[derive(Clone, Debug)]
pub struct Declarations {
    /// Schemas by name.
    pub schemas: BTreeMap<String, TableSchema>,
    /// Indicators, each with the file it was declared in.
    pub indicators: Vec<(String, Indicator)>,
    /// The initiative: partners, obligations, threshold.
    pub initiative: Initiative,
    /// sha256 of every declaration file read: results computed under other declarations are
    /// never reused by an incremental computation.
    pub fingerprint: String,
}

impl Declarations {
    /// Reads `data-schemas/*.json`, `pipelines/indicators/*.toml` and
    /// `pipelines/initiative.toml` under a workspace.
    pub fn load(workspace: &Path) -> Result<Self, MetricsError> {
        let mut schemas = BTreeMap::new();
        let dir = workspace.join("data-schemas");
        let io = |e: std::io::Error| backbone_schema::SchemaError::Io {
            file: dir.display().to_string(),
            source: e,
        };
        let mut hasher = sha2::Sha256::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let s = TableSchema::load(&f)?;
            hasher.update(std::fs::read(&f).unwrap_or_default());
            schemas.insert(s.name.clone(), s);
        }
        let indicator_dir = workspace.join("pipelines/indicators");
        let indicators = backbone_schema::load_indicators(&indicator_dir)?;
        let mut declared: Vec<_> = std::fs::read_dir(&indicator_dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        declared.sort();
        let initiative_path = workspace.join("pipelines/initiative.toml");
        let initiative = Initiative::load(&initiative_path)?;
        declared.push(initiative_path);
        for f in declared {
            hasher.update(f.display().to_string().as_bytes());
            hasher.update(std::fs::read(&f).unwrap_or_default());
        }
        let fingerprint = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            schemas,
            indicators,
            initiative,
            fingerprint,
        })
    }

    /// Every problem of every indicator, each naming its file and key.
    pub fn check(&self) -> Vec<backbone_schema::SchemaError> {
        let ids: Vec<&str> = self.indicators.iter().map(|(_, i)| i.id.as_str()).collect();
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (n, (file, i)) in self.indicators.iter().enumerate() {
            if !seen.insert(i.id.as_str()) {
                out.push(backbone_schema::SchemaError::Invalid {
                    file: file.clone(),
                    path: format!("indicator ({}).id", i.id),
                    message: "another indicator has this id".into(),
                });
            }
            let index = self.indicators[..n]
                .iter()
                .filter(|(f, _)| f == file)
                .count();
            out.extend(i.check(file, index, &self.schemas, &ids));
        }
        for o in &self.initiative.obligations {
            if !self.schemas.contains_key(&o.schema) {
                out.push(backbone_schema::SchemaError::Invalid {
                    file: "pipelines/initiative.toml".into(),
                    path: "obligation.schema".into(),
                    message: format!("no schema {:?} in data-schemas/", o.schema),
                });
            }
        }
        out
    }
}

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

/// One row of the results table (DESIGN: the contract other tools rely on).
#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
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
    /// The store version the value came from.
    pub store_version: String,
}

/// Completeness of one partner × schema × period.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
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
    pub rows: Vec<ResultRow>,
    /// Completeness rows.
    pub expected: Vec<Expected>,
    /// Data quality rows.
    pub quality: Vec<Quality>,
    /// The declarations' fingerprint.
    pub declarations: String,
    /// Each submission's mean of each numeric field (what `unusual` compares): kept with the
    /// results, so that an incremental computation reads only new submissions' rows for them.
    pub means: BTreeMap<String, BTreeMap<String, f64>>,
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
    let mut frames = Vec::new();
    for f in files {
        let path = f.display().to_string();
        let rows =
            LazyFrame::scan_parquet(PlRefPath::new(path.as_str()), ScanArgsParquet::default())
                .map_err(|e| MetricsError::compute(t, e))?;
        frames.push((path, rows));
    }
    status::means(&frames, schema)
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
                    means.extend(status::means(&rows.files, schema)?);
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
) -> Result<Option<(u64, Option<compute::Rows>)>, MetricsError> {
    let Some((v, files)) = store.files(schema, version)? else {
        return Ok(None);
    };
    let mut frames = Vec::with_capacity(files.len());
    let mut sizes = Vec::with_capacity(files.len());
    for f in &files {
        let path = f.path.display().to_string();
        let lf = LazyFrame::scan_parquet(PlRefPath::new(path.as_str()), ScanArgsParquet::default())
            .map_err(|e| MetricsError::compute(schema, e))?
            .with_columns([
                lit(f.partner.as_str()).alias(PARTNER),
                lit(f.period.as_str()).alias(PERIOD),
            ]);
        frames.push((path, lf));
        sizes.push(std::fs::metadata(&f.path).map_or(0, |m| m.len()));
    }
    if frames.is_empty() {
        return Ok(Some((v, None)));
    }
    let rows = compute::Rows::new(frames, &sizes).map_err(|e| MetricsError::compute(schema, e))?;
    Ok(Some((v, Some(rows))))
}

/// The tables the declarations read.
fn needed(decl: &Declarations) -> BTreeSet<String> {
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for (_, i) in &decl.indicators {
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
    compute_window(store, decl, as_of, None, None)
}

/// As [`compute`]; with a window, only the indicator periods holding one of its months are
/// computed (completeness and quality are always whole).
fn compute_window(
    store: &Store,
    decl: &Declarations,
    as_of: &AsOf,
    window: Option<&compute::Window>,
    known: Option<KnownMeans>,
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
    let mut frames: BTreeMap<String, compute::Rows> = BTreeMap::new();
    let mut versions = AsOf::default();
    let mut ledgers: BTreeMap<String, Vec<Submission>> = BTreeMap::new();
    for t in &needed {
        let v = as_of.0.get(t).copied();
        if let Some((read, lf)) = scan(store, t, v)? {
            versions.0.insert(t.clone(), read);
            if let Some(lf) = lf {
                frames.insert(t.clone(), lf);
            }
            ledgers.insert(t.clone(), store.submissions(t, Some(read))?);
        }
    }
    let store_version = versions.label();
    let expected = status::completeness(&decl.initiative, &ledgers);
    let mut order: Vec<&Indicator> = decl.indicators.iter().map(|(_, i)| i).collect();
    order.sort_by_key(|i| i.kind == Kind::Derived);
    // Every side counted from rows, aggregated together: one pass over each table. The means
    // of the submissions (for quality) are read at the same time, on another thread: the
    // tallies keep one core busy for long stretches.
    let sides: Vec<compute::Side> = order.iter().flat_map(|i| sides_of(i)).collect();
    let (cells, means) = std::thread::scope(|scope| {
        let means = scope.spawn(|| {
            let started = std::time::Instant::now();
            let means = submission_means(decl, &frames, known);
            tracing::debug!(took = ?started.elapsed(), "means of the submissions");
            means
        });
        let cells = compute::aggregate_all(&frames, &sides, first_month, window);
        let means = match means.join() {
            Ok(means) => means,
            // A bug, not a file's doing: the same panic as on this thread.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (cells, means)
    });
    let mut cells = cells?.into_iter();
    let mut means = means?;
    let quality = status::quality(store, &ledgers, &expected, &means)?;
    // Only the submissions in use are kept.
    let in_use: BTreeSet<&str> = quality.iter().map(|q| q.submission.id.as_str()).collect();
    means.retain(|id, _| in_use.contains(id.as_str()));

    let mut rows = Vec::new();
    // Values by indicator, for derived indicators (computed after their inputs).
    let mut values: BTreeMap<String, BTreeMap<(PeriodKey, Breakdown), Option<f64>>> =
        BTreeMap::new();
    let mut suppressed_of: BTreeMap<String, BTreeSet<(PeriodKey, Breakdown)>> = BTreeMap::new();
    for ind in order {
        let threshold = ind.threshold.unwrap_or(decl.initiative.threshold);
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
                let derived = compute::derive(ind, &values)?;
                let inputs = backbone_schema::formula_ids(ind.formula.as_deref().unwrap_or(""));
                derived
                    .into_iter()
                    .map(|(k, v)| {
                        // A derived value is hidden wherever one of its inputs is.
                        let hidden = inputs
                            .iter()
                            .any(|i| suppressed_of.get(i).is_some_and(|s| s.contains(&k)));
                        Computed {
                            key: k,
                            value: if hidden { None } else { v },
                            numerator: None,
                            denominator: None,
                            suppressed: hidden,
                        }
                    })
                    .collect()
            }
            // A declaration missing a side (`backbone check` names it): no values.
            _ => Vec::new(),
        };
        let mut vals = BTreeMap::new();
        let mut hidden = BTreeSet::new();
        for c in &computed {
            vals.insert(c.key.clone(), c.value);
            if c.suppressed {
                hidden.insert(c.key.clone());
            }
        }
        values.insert(ind.id.clone(), vals);
        suppressed_of.insert(ind.id.clone(), hidden);
        let coverage_schema = ind
            .numerator
            .as_ref()
            .and_then(|n| n.schema.clone())
            .unwrap_or_else(|| ind.schema.clone());
        for c in computed {
            let (period, breakdown) = c.key;
            let coverage = status::coverage(
                &decl.initiative,
                &expected,
                &coverage_schema,
                ind.grain,
                period,
                &breakdown,
            );
            let (baseline, target, state) = status::against_path(ind, period, &breakdown, c.value);
            rows.push(ResultRow {
                indicator: ind.id.clone(),
                period: compute::period_label(ind.grain, period),
                breakdown,
                value: c.value,
                numerator: c.numerator,
                denominator: c.denominator,
                suppressed: c.suppressed,
                coverage,
                baseline,
                target,
                status: state,
                store_version: store_version.clone(),
            });
        }
    }
    sort_rows(decl, &mut rows);
    Ok(Results {
        store_version,
        rows,
        expected,
        quality,
        declarations: decl.fingerprint.clone(),
        means,
    })
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
fn sort_rows(decl: &Declarations, rows: &mut [ResultRow]) {
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

/// Recomputes from the latest store version, reusing the results in `dir` for every
/// indicator period whose rows did not change: the months of the rows added or retired
/// since those results (read from the changed Parquet files only) decide which periods are
/// recomputed. Falls back to a full computation when there are no usable results in `dir`
/// (none, other declarations, a reference table changed). Returns the results and, when
/// incremental, what was recomputed.
pub fn compute_since(
    store: &Store,
    decl: &Declarations,
    dir: &Path,
) -> Result<(Results, Option<String>), MetricsError> {
    let full = || compute(store, decl, &AsOf::default()).map(|r| (r, None));
    let (Some((basis_version, basis_decl)), Some(previous)) =
        (output::read_basis(dir), output::read_results(dir))
    else {
        return full();
    };
    if basis_decl != decl.fingerprint {
        return full();
    }
    let schemas = store.schemas()?;
    let Ok(before) = AsOf::parse(&basis_version, &schemas) else {
        return full();
    };
    let populations: BTreeSet<&str> = decl
        .indicators
        .iter()
        .filter_map(|(_, i)| i.population.as_ref().map(|p| p.schema.as_str()))
        .collect();
    let mut window = compute::Window::new();
    let mut new_files: BTreeMap<String, Vec<std::path::PathBuf>> = BTreeMap::new();
    // The versions the difference is taken at are the versions computed from: an ingest
    // landing meanwhile waits for the next computation.
    let mut current = AsOf::default();
    for t in needed(decl) {
        let now = store.version(&t)?;
        if let Some(v) = now {
            current.0.insert(t.clone(), v);
        }
        let then = before.0.get(&t).copied();
        if now == then {
            continue;
        }
        if populations.contains(t.as_str()) {
            return full();
        }
        // Date fields that place this table's rows in periods.
        let mut fields: BTreeSet<&str> = BTreeSet::new();
        for (_, i) in &decl.indicators {
            if i.schema == t {
                fields.extend(i.date_field_of(None));
            }
            for m in [&i.numerator, &i.denominator].into_iter().flatten() {
                if m.schema.as_deref().unwrap_or(&i.schema) == t {
                    fields.extend(i.date_field_of(Some(m)));
                }
            }
        }
        let files_at = |v: Option<u64>| -> Result<BTreeSet<std::path::PathBuf>, MetricsError> {
            Ok(match v {
                None => BTreeSet::new(),
                Some(v) => store
                    .files(&t, Some(v))?
                    .map(|(_, f)| f.into_iter().map(|d| d.path).collect())
                    .unwrap_or_default(),
            })
        };
        let (old, new) = (files_at(then)?, files_at(now)?);
        for path in old.symmetric_difference(&new) {
            months_in(path, &fields, &mut window)?;
        }
        new_files.insert(t.clone(), new.difference(&old).cloned().collect::<Vec<_>>());
    }
    let known = output::read_means(dir).map(|means| KnownMeans { means, new_files });
    let mut results = compute_window(store, decl, &current, Some(&window), known)?;
    let fm = decl.initiative.first_month;
    let mut recomputed = 0usize;
    let mut kept = 0usize;
    let mut rows = std::mem::take(&mut results.rows);
    recomputed += rows.len();
    for (_, ind) in &decl.indicators {
        let affected = compute::affected(ind.grain, &window, fm);
        let coverage_schema = ind
            .numerator
            .as_ref()
            .and_then(|n| n.schema.clone())
            .unwrap_or_else(|| ind.schema.clone());
        for r in previous.iter().filter(|r| r.indicator == ind.id) {
            let Some(key) = compute::parse_period(ind.grain, &r.period) else {
                continue;
            };
            if affected.contains(&key) {
                continue;
            }
            // The value stands; how complete the data behind it is, and how it compares
            // with the path, are worked out again (a period can turn "missing" with time).
            let coverage = status::coverage(
                &decl.initiative,
                &results.expected,
                &coverage_schema,
                ind.grain,
                key,
                &r.breakdown,
            );
            let (baseline, target, state) = status::against_path(ind, key, &r.breakdown, r.value);
            rows.push(ResultRow {
                coverage,
                baseline,
                target,
                status: state,
                store_version: results.store_version.clone(),
                ..r.clone()
            });
            kept += 1;
        }
    }
    sort_rows(decl, &mut rows);
    results.rows = rows;
    let months: Vec<String> = window.iter().map(|(y, m)| format!("{y}-{m:02}")).collect();
    Ok((
        results,
        Some(format!(
            "incremental: {recomputed} value(s) recomputed, {kept} kept (changed months: {})",
            if months.is_empty() {
                "none".to_owned()
            } else {
                months.join(", ")
            }
        )),
    ))
}

/// Adds the months of the `fields` dates found in one Parquet file to `window`.
fn months_in(
    path: &Path,
    fields: &BTreeSet<&str>,
    window: &mut compute::Window,
) -> Result<(), MetricsError> {
    let where_ = path.display().to_string();
    let mut lf =
        LazyFrame::scan_parquet(PlRefPath::new(where_.as_str()), ScanArgsParquet::default())
            .map_err(|e| MetricsError::compute(&where_, e))?;
    let present = lf
        .collect_schema()
        .map_err(|e| MetricsError::compute(&where_, e))?;
    let cols: Vec<Expr> = fields
        .iter()
        .filter(|f| present.contains(f))
        .map(|f| {
            col(*f)
                .dt()
                .year()
                .alias(format!("{f}__y"))
                .cast(DataType::Int32)
        })
        .chain(fields.iter().filter(|f| present.contains(f)).map(|f| {
            col(*f)
                .dt()
                .month()
                .cast(DataType::Int32)
                .alias(format!("{f}__m"))
        }))
        .collect();
    if cols.is_empty() {
        return Ok(());
    }
    let df = lf
        .select(cols)
        .collect()
        .map_err(|e| MetricsError::compute(&where_, e))?;
    for f in fields.iter().filter(|f| present.contains(f)) {
        let (Ok(y), Ok(m)) = (df.column(&format!("{f}__y")), df.column(&format!("{f}__m"))) else {
            continue;
        };
        let (Ok(y), Ok(m)) = (y.i32(), m.i32()) else {
            continue;
        };
        for i in 0..y.len() {
            if let (Some(y), Some(m)) = (y.get(i), m.get(i)) {
                window.insert((y, m as u32));
            }
        }
    }
    Ok(())
}

/// One side of an indicator (`value`, `numerator`, `denominator`) and the submissions behind
/// it, each with the number of its rows used.
pub type Lineage = (String, Vec<(Submission, u64)>);

/// The submissions behind one value: (submission, rows of it used), per side of the indicator
/// (`value`, or `numerator` and `denominator`).
pub fn explain(
    store: &Store,
    decl: &Declarations,
    as_of: &AsOf,
    indicator: &str,
    period: &str,
    breakdown: &str,
) -> Result<Vec<Lineage>, MetricsError> {
    let ind = decl
        .indicators
        .iter()
        .map(|(_, i)| i)
        .find(|i| i.id == indicator)
        .ok_or_else(|| {
            MetricsError::compute(
                indicator,
                format!(
                    "no such indicator; there are: {}",
                    decl.indicators
                        .iter()
                        .map(|(_, i)| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let key = compute::parse_period(ind.grain, period).ok_or_else(|| {
        MetricsError::compute(
            indicator,
            format!(
                "{period:?} is not a {:?} period (e.g. {})",
                ind.grain,
                compute::period_label(ind.grain, 202401)
            ),
        )
    })?;
    let sides: Vec<(&str, Option<&backbone_schema::Measure>)> = match ind.kind {
        Kind::Ratio => vec![
            ("numerator", ind.numerator.as_ref()),
            ("denominator", ind.denominator.as_ref()),
        ],
        Kind::Rate => vec![("numerator", ind.numerator.as_ref())],
        Kind::Derived => {
            return Err(MetricsError::compute(
                indicator,
                "a derived indicator is computed from other indicators: explain those",
            ));
        }
        _ => vec![("value", None)],
    };
    let mut out = Vec::new();
    for (name, m) in sides {
        let schema = m.and_then(|m| m.schema.as_deref()).unwrap_or(&ind.schema);
        let Some((v, Some(rows))) = scan(store, schema, as_of.0.get(schema).copied())? else {
            out.push((name.to_owned(), Vec::new()));
            continue;
        };
        let ledger = store.submissions(schema, Some(v))?;
        let used = compute::contributions(
            &rows.all,
            ind,
            m,
            decl.initiative.first_month,
            key,
            breakdown,
        )?;
        let mut rows: Vec<(Submission, u64)> = used
            .into_iter()
            .filter_map(|(id, n)| Some((ledger.iter().find(|s| s.id == id)?.clone(), n)))
            .collect();
        rows.sort_by(|a, b| {
            a.0.partner
                .cmp(&b.0.partner)
                .then(a.0.period.cmp(&b.0.period))
        });
        out.push((name.to_owned(), rows));
    }
    Ok(out)
}

/// One computed cell before it becomes a row.
struct Computed {
    key: (PeriodKey, Breakdown),
    value: Option<f64>,
    numerator: Option<f64>,
    denominator: Option<f64>,
    suppressed: bool,
}

/// The cells of one period as a suppression problem: index 0 the total, then each breakdown
/// cell, with one group per dimension.
fn groups_of(keys: &[Breakdown]) -> Vec<suppress::Group> {
    let mut by_dim: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some((d, _)) = k.split_once('=') {
            by_dim.entry(d).or_default().push(i);
        }
    }
    let Some(total) = keys.iter().position(String::is_empty) else {
        return Vec::new();
    };
    by_dim
        .into_values()
        .map(|members| suppress::Group {
            margin: total,
            members,
        })
        .collect()
}

/// Suppresses the cells of every period: `counts` are the measures a reader could subtract
/// (a count and, for ratios, the numerator and the denominator). Returns the hidden keys.
fn hide(
    keys: &[(PeriodKey, Breakdown)],
    counts: &[Vec<u64>],
    threshold: u64,
) -> BTreeSet<(PeriodKey, Breakdown)> {
    let mut hidden = BTreeSet::new();
    let periods: BTreeSet<PeriodKey> = keys.iter().map(|k| k.0).collect();
    for p in periods {
        let idx: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].0 == p).collect();
        let labels: Vec<Breakdown> = idx.iter().map(|&i| keys[i].1.clone()).collect();
        let groups = groups_of(&labels);
        let mut forced = vec![false; idx.len()];
        // Each measure protects itself; a cell hidden for one is hidden for all, so run again
        // until the union is stable.
        for _ in 0..=idx.len() {
            let before = forced.clone();
            for measure in counts {
                let values: Vec<u64> = idx.iter().map(|&i| measure[i]).collect();
                let s = suppress::suppress(&values, &groups, threshold, &forced);
                for (f, x) in forced.iter_mut().zip(s) {
                    *f |= x;
                }
            }
            if forced == before {
                break;
            }
        }
        for (j, &i) in idx.iter().enumerate() {
            if forced[j] {
                hidden.insert(keys[i].clone());
            }
        }
    }
    hidden
}

fn single(ind: &Indicator, cells: &Cells, threshold: u64) -> Vec<Computed> {
    let keys: Vec<(PeriodKey, Breakdown)> = cells.keys().cloned().collect();
    let units: Vec<u64> = cells.values().map(|c| c.units).collect();
    let hidden = hide(&keys, &[units], threshold);
    cells
        .iter()
        .map(|(k, c)| {
            let s = hidden.contains(k);
            Computed {
                key: k.clone(),
                value: if s { None } else { c.value },
                numerator: if s || !ind.kind.is_count() {
                    None
                } else {
                    c.value
                },
                denominator: None,
                suppressed: s,
            }
        })
        .collect()
}

fn ratio(ind: &Indicator, num: &Cells, den: &Cells, threshold: u64) -> Vec<Computed> {
    let factor = ind.factor.unwrap_or(1.0);
    let keys: Vec<(PeriodKey, Breakdown)> = den
        .keys()
        .chain(num.keys())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let zero = compute::Cell {
        value: Some(0.0),
        units: 0,
    };
    let n_units: Vec<u64> = keys
        .iter()
        .map(|k| num.get(k).unwrap_or(&zero).units)
        .collect();
    let d_units: Vec<u64> = keys
        .iter()
        .map(|k| den.get(k).unwrap_or(&zero).units)
        .collect();
    let hidden = hide(&keys, &[n_units, d_units], threshold);
    keys.into_iter()
        .map(|k| {
            let n = num.get(&k).and_then(|c| c.value).or(Some(0.0));
            let d = den.get(&k).and_then(|c| c.value);
            let s = hidden.contains(&k);
            let value = match (n, d) {
                (Some(n), Some(d)) if d != 0.0 => Some(n / d * factor),
                _ => None,
            };
            Computed {
                key: k,
                value: if s { None } else { value },
                numerator: if s { None } else { n },
                denominator: if s { None } else { d },
                suppressed: s,
            }
        })
        .collect()
}

fn rate(
    ind: &Indicator,
    num: &Cells,
    pop: &BTreeMap<(i32, Breakdown), f64>,
    threshold: u64,
) -> Vec<Computed> {
    let factor = ind.factor.unwrap_or(1.0);
    let keys: Vec<(PeriodKey, Breakdown)> = num.keys().cloned().collect();
    let units: Vec<u64> = num.values().map(|c| c.units).collect();
    let hidden = hide(&keys, &[units], threshold);
    keys.into_iter()
        .map(|k| {
            // The population of the period's (first) calendar year.
            let year = k.0 / 100;
            let n = num.get(&k).and_then(|c| c.value);
            let d = pop.get(&(year, k.1.clone())).copied();
            let s = hidden.contains(&k);
            let value = match (n, d) {
                (Some(n), Some(d)) if d > 0.0 => Some(n / d * factor),
                _ => None,
            };
            Computed {
                key: k,
                value: if s { None } else { value },
                numerator: if s { None } else { n },
                denominator: d,
                suppressed: s,
            }
        })
        .collect()
}
