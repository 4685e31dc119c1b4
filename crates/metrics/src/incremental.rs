//! The incremental computation: only the periods whose months changed since the previous
//! results are recomputed; every other value is kept from `indicators.parquet`.

use super::*;

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
    // Why everything is computed again is said at debug level (`RUST_LOG=backbone_metrics=debug`):
    // a night at a full computation's time and memory should be explainable.
    let full = |why: &str| {
        tracing::debug!(why, "a full computation");
        compute_full(store, decl, dir).map(|r| (r, None))
    };
    let (Some((basis_version, basis_decl)), Some(previous)) =
        (output::read_basis(dir), output::read_results(dir))
    else {
        return full("no previous results or no basis");
    };
    if basis_decl != decl.fingerprint {
        return full("the declarations changed");
    }
    let schemas = store.schemas()?;
    let Ok(before) = AsOf::parse(&basis_version, &schemas) else {
        return full("the basis version cannot be read");
    };
    // Distinct counts over quarters, halves or years are recounted from the months' kept
    // sets: without the previous computation's, the whole computation is done (and keeps them).
    let previous_sets = compute::kept::usable(dir, &basis_version, &decl.fingerprint);
    let keeps_sets = expand(decl)
        .iter()
        .any(|i| sides_of(i).iter().any(compute::kept::kept_side));
    if keeps_sets && previous_sets.is_none() {
        return full("no usable kept sets (none, or kept for other results or in another layout)");
    }
    let keep =
        compute::kept::Keep::new(dir, previous_sets, false).map_err(|e| MetricsError::Output {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
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
    // Every definition of every indicator: any of them may place a changed row.
    let definitions: Vec<backbone_schema::Indicator> = decl
        .indicators
        .iter()
        .flat_map(|(_, i)| (1..=i.definitions()).map(|n| i.definition(n)))
        .collect();
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
            return full("a population table changed");
        }
        // Date fields that place this table's rows in periods.
        let mut fields: BTreeSet<&str> = BTreeSet::new();
        for i in &definitions {
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
        // The basis version's files may be gone (vacuumed after an erasure or a key
        // rotation): then what changed cannot be told, and everything is computed again.
        let started = std::time::Instant::now();
        let Ok(old) = files_at(then) else {
            return full("the basis version's files are gone (vacuumed)");
        };
        let new = files_at(now)?;
        let listed = started.elapsed();
        for path in old.symmetric_difference(&new) {
            months_in(path, &fields, &mut window)?;
        }
        tracing::debug!(table = %t, ?listed, took = ?started.elapsed(), "what changed");
        new_files.insert(t.clone(), new.difference(&old).cloned().collect::<Vec<_>>());
    }
    // Disclosure control ties the periods of a reporting year together (a quarter's cells and
    // its months', a year's and its quarters'): the stage decides the whole year of a changed
    // month again. The changed periods are computed from rows; the year's other periods come
    // from the values the stage received last time (`basis.json`), or, without them (results
    // written before they were kept), from rows too.
    let changed = window.clone();
    let fm = decl.initiative.first_month;
    let years: BTreeSet<backbone_workspace::Period> = window
        .iter()
        .filter_map(|&(y, m)| {
            backbone_workspace::Period::of_month(backbone_schema::Grain::Year, y, m, fm)
        })
        .collect();
    window.extend(years.into_iter().flat_map(|year| year.months(fm)));
    let stored = output::read_cells(dir);
    // Per indicator: its grain, whether it is derived, the periods of the years the window
    // touches, and the periods holding a changed month.
    struct Periods {
        grain: backbone_schema::Grain,
        derived: bool,
        years: BTreeSet<compute::PeriodKey>,
        changed: BTreeSet<compute::PeriodKey>,
    }
    let periods: BTreeMap<&str, Periods> = decl
        .indicators
        .iter()
        .map(|(_, i)| {
            let p = Periods {
                grain: i.grain,
                derived: i.kind == Kind::Derived,
                years: compute::affected(i.grain, &window, fm),
                changed: compute::affected(i.grain, &changed, fm),
            };
            (i.id.as_str(), p)
        })
        .collect();
    let key_of = |c: &output::Cell| {
        // A definition's cells (`id@n`) belong to their indicator's periods.
        let id = c.indicator.split('@').next().unwrap_or(&c.indicator);
        let p = periods.get(id)?;
        Some((p, compute::parse_period(p.grain, &c.period)?))
    };
    // The year's cells not recomputed: stored, in a year the window touches, in a period
    // without a changed month. Derived values are computed again from the published ones.
    let (rows_window, prior) = match &stored {
        Some(cells) => {
            let prior: Vec<output::Cell> = cells
                .iter()
                .filter(|c| {
                    key_of(c).is_some_and(|(p, key)| {
                        !p.derived && p.years.contains(&key) && !p.changed.contains(&key)
                    })
                })
                .cloned()
                .collect();
            (changed.clone(), prior)
        }
        None => (window.clone(), Vec::new()),
    };
    let known = output::read_means(dir).map(|means| KnownMeans { means, new_files });
    let mut results = compute_window(
        store,
        decl,
        &current,
        Some(&rows_window),
        known,
        &prior,
        Some(keep),
    )?;
    // The cells kept for next time: the stored ones outside the recomputed years, and the
    // years' as the stage just received them.
    if let Some(cells) = stored {
        let mut all: Vec<output::Cell> = cells
            .into_iter()
            .filter(|c| key_of(c).is_some_and(|(p, key)| !p.years.contains(&key)))
            .collect();
        all.append(&mut results.cells);
        results.cells = all;
    }
    let mut recomputed = 0usize;
    let mut kept = 0usize;
    let mut rows = std::mem::take(&mut results.rows);
    recomputed += rows.len();
    let coverage = status::Coverage::new(&decl.initiative, &results.expected);
    for (_, ind) in &decl.indicators {
        let Some(affected) = periods.get(ind.id.as_str()).map(|p| &p.years) else {
            continue;
        };
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
            let coverage = coverage.of(&coverage_schema, ind.grain, key, &r.breakdown);
            let (baseline, target, state) = status::against_path(ind, key, &r.breakdown, r.value);
            rows.push(ValueRow {
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
    let months: Vec<String> = changed.iter().map(|(y, m)| format!("{y}-{m:02}")).collect();
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
pub(crate) fn months_in(
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
