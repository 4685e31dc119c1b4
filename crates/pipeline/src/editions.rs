//! Published editions: the report as the committee received it, frozen under
//! `editions/<n>/` (`backbone publish`); the revisions of its values that later files made;
//! and the revisions triangle (each period's total as it stood in each edition).
//!
//! An edition is a copy of `reports/latest/` (Hebrew, `en/`, charts, the published results
//! and the revisions as they stood) and `edition.json`: its number, the period it reports,
//! when, the store version and the declarations' fingerprint it was computed from, and the
//! sha256 of every file, so `backbone editions --verify` can say that it still reads exactly
//! as published. The files are made read-only; nothing of the product writes there again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use backbone_schema::Kind;
use backbone_workspace::tables::{
    Cause, EditionValue, ResultsTables, RevisionRow, ValueRow, files,
};
use backbone_workspace::{Declarations, Layout, Period, clock};
use serde::{Deserialize, Serialize};

use crate::PipelineError;

/// The description of one edition (`editions/<n>/edition.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edition {
    /// 1, 2, … in the order published.
    pub number: u32,
    /// The reporting period it was published for (`2024-Q2`).
    pub period: String,
    /// When it was published (RFC 3339, the workspace clock).
    pub published: String,
    /// The store version its values came from (`service_records@12;population@1`).
    pub store_version: String,
    /// The declarations' fingerprint when it was published.
    pub declarations: String,
    /// Every file of the edition (path under `editions/<n>/`, `/`-separated) and its sha256.
    pub files: BTreeMap<String, String>,
}

impl Edition {
    /// The day it was published (`YYYY-MM-DD`).
    pub fn day(&self) -> &str {
        self.published.get(..10).unwrap_or(&self.published)
    }
}

const EDITION_JSON: &str = "edition.json";

/// Every edition, in the order published. A folder without a readable `edition.json` (an
/// interrupted publication's `.tmp`, anything else) is not an edition.
pub fn editions(layout: &Layout) -> Result<Vec<Edition>, PipelineError> {
    let dir = layout.editions();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let path = entry.path().join(EDITION_JSON);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let e: Edition = serde_json::from_str(&text).map_err(|source| PipelineError::Json {
            path: path.display().to_string(),
            source,
        })?;
        if e.number == n {
            out.push(e);
        }
    }
    out.sort_by_key(|e| e.number);
    Ok(out)
}

fn sha256_of(path: &Path) -> Result<String, PipelineError> {
    backbone_store::sha256_of(path).map_err(|e| PipelineError::io("reading", path, e))
}

/// Every file under `dir` (relative, `/`-separated) and its sha256.
fn hashes(dir: &Path) -> Result<BTreeMap<String, String>, PipelineError> {
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut BTreeMap<String, String>,
    ) -> Result<(), PipelineError> {
        let entries = std::fs::read_dir(dir).map_err(|e| PipelineError::io("reading", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| PipelineError::io("reading", dir, e))?;
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel: Vec<String> = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let rel = rel.join("/");
                if rel != EDITION_JSON {
                    out.insert(rel, sha256_of(&path)?);
                }
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

fn read_only(dir: &Path) -> Result<(), PipelineError> {
    let entries = std::fs::read_dir(dir).map_err(|e| PipelineError::io("reading", dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_only(&path)?;
        } else {
            let mut perms = std::fs::metadata(&path)
                .map_err(|e| PipelineError::io("reading", &path, e))?
                .permissions();
            perms.set_readonly(true);
            std::fs::set_permissions(&path, perms)
                .map_err(|e| PipelineError::io("making read-only", &path, e))?;
        }
    }
    Ok(())
}

/// What `backbone publish` did.
#[derive(Debug)]
pub struct Published {
    /// The new edition.
    pub edition: Edition,
    /// Its folder.
    pub dir: PathBuf,
    /// How many published values it revises against the edition before it.
    pub revisions: usize,
}

/// Publishes an edition: renders the report of the current results (with its revisions
/// against the last edition), and freezes it under `editions/<n>/`. `period` is the reporting
/// period it is for (default: the latest period with a value). Holds the run lock, so a night
/// cannot swap the report while it is copied.
pub fn publish(layout: &Layout, period: Option<&str>) -> Result<Published, PipelineError> {
    let _lock = crate::hold_run_lock(layout, "publishing an edition")?;
    let decl = crate::results::consistent_declarations(layout)?;
    let tables = crate::publish::load_tables(layout)?;
    if tables.values.is_empty() {
        return Err(PipelineError::Edition(
            "there are no results to publish yet: run `backbone run` (or `backbone metrics`) first"
                .into(),
        ));
    }
    let period = match period {
        Some(p) => Period::parse(p).map(Period::label).ok_or_else(|| {
            PipelineError::Edition(format!(
                "{p:?} is not a period (2024-03, 2024-Q2, 2024-H1, 2024)"
            ))
        })?,
        None => tables
            .values
            .iter()
            .filter_map(|r| Period::parse(&r.period))
            .max()
            .map(Period::label)
            .unwrap_or_default(),
    };
    crate::publish::render_latest(layout, &decl)?;
    let number = editions(layout)?.last().map_or(1, |e| e.number + 1);
    let root = layout.editions();
    let tmp = root.join(format!(".{number}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    crate::publish::copy_dir(&layout.latest_report(), &tmp)?;
    let revisions = backbone_workspace::tables::Named::read(
        &tmp.join(files::REVISIONS_CSV),
        &["indicator"],
        &[],
    )
    .map(|t| t.rows().count())
    .unwrap_or(0);
    let edition = Edition {
        number,
        period,
        published: clock::now_rfc3339(),
        store_version: tables.store_version().to_owned(),
        declarations: decl.fingerprint.clone(),
        files: hashes(&tmp)?,
    };
    let json = serde_json::to_string_pretty(&edition).map_err(|source| PipelineError::Json {
        path: tmp.join(EDITION_JSON).display().to_string(),
        source,
    })?;
    let path = tmp.join(EDITION_JSON);
    std::fs::write(&path, json).map_err(|e| PipelineError::io("writing", &path, e))?;
    read_only(&tmp)?;
    let dir = layout.edition(number);
    std::fs::rename(&tmp, &dir).map_err(|e| PipelineError::io("moving", &tmp, e))?;
    Ok(Published {
        edition,
        dir,
        revisions,
    })
}

/// The files of an edition that no longer read as published: changed, missing, or added.
pub fn verify(layout: &Layout, edition: &Edition) -> Result<Vec<String>, PipelineError> {
    let dir = layout.edition(edition.number);
    let now = hashes(&dir)?;
    let mut out = Vec::new();
    for (file, sha) in &edition.files {
        match now.get(file) {
            None => out.push(format!("{file}: missing")),
            Some(s) if s != sha => out.push(format!("{file}: changed")),
            Some(_) => {}
        }
    }
    for file in now.keys().filter(|f| !edition.files.contains_key(*f)) {
        out.push(format!("{file}: not in the edition"));
    }
    Ok(out)
}

/// The store version's parts (`service_records@12;population@1`).
fn versions(text: &str) -> BTreeMap<String, u64> {
    text.split(';')
        .filter_map(|p| {
            let (s, v) = p.split_once('@')?;
            Some((s.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    }
}

fn overlaps(a: &str, b: &str) -> bool {
    match (Period::parse(a), Period::parse(b)) {
        (Some(p), Some(q)) => !(p.before(q) || p.after(q)),
        _ => true,
    }
}

/// The published values of `tables` that differ from the last edition's, each with the
/// submissions since that edition behind it (the indicator's tables, a period overlapping
/// the value's). New values (a period the edition did not have) are not revisions. Empty
/// before the first edition.
pub fn revisions(
    layout: &Layout,
    decl: &Declarations,
    tables: &ResultsTables,
) -> Result<Vec<RevisionRow>, PipelineError> {
    let Some(last) = editions(layout)?.pop() else {
        return Ok(Vec::new());
    };
    let old_path = layout.edition(last.number).join(files::INDICATORS_CSV);
    let old = ValueRow::read(&old_path)?;
    let old: BTreeMap<(&str, &str, &str), &ValueRow> = old
        .iter()
        .map(|r| ((&*r.indicator, &*r.period, &*r.breakdown), r))
        .collect();
    // The submissions committed after the edition's store version, per table.
    let then = versions(&last.store_version);
    let store = crate::open_store(layout)?;
    let mut since: Vec<backbone_store::Submission> = Vec::new();
    for schema in store.schemas()? {
        let from = then.get(&schema).copied();
        for s in store.submissions(&schema, None)? {
            let after = s.table_version.is_some_and(|v| from.is_none_or(|f| v > f));
            if after && s.rows_accepted > 0 {
                since.push(s);
            }
        }
    }
    since.sort_by(|a, b| (&a.received, &a.id).cmp(&(&b.received, &b.id)));
    let changed_decl = last.declarations != decl.fingerprint;
    let causes = |indicator: &str, period: &str, breakdown: &str| -> Vec<Cause> {
        // A value by partner moves only with that partner's files.
        let partner = breakdown
            .split(';')
            .find_map(|p| p.strip_prefix("partner="));
        let ind = decl.indicators.iter().find(|(_, i)| i.id == indicator);
        let schemas: Option<BTreeSet<&str>> = ind.and_then(|(_, i)| {
            (i.kind != Kind::Derived).then(|| {
                std::iter::once(i.schema.as_str())
                    .chain(i.population.as_ref().map(|p| p.schema.as_str()))
                    .collect()
            })
        });
        since
            .iter()
            .filter(|s| {
                schemas
                    .as_ref()
                    .is_none_or(|set| set.contains(s.schema.as_str()))
            })
            .filter(|s| overlaps(&s.period, period))
            .filter(|s| partner.is_none_or(|p| s.partner == p))
            .map(|s| Cause {
                partner: s.partner.clone(),
                file_name: s.file_name.clone(),
                period: s.period.clone(),
                received: s.received.clone(),
                corrected: s.supersedes.is_some(),
                submission: s.id.clone(),
            })
            .collect()
    };
    let row =
        |ind: &str, period: &str, breakdown: &str, before: &ValueRow, now: Option<&ValueRow>| {
            RevisionRow {
                indicator: ind.to_owned(),
                period: period.to_owned(),
                breakdown: breakdown.to_owned(),
                edition: last.number,
                edition_date: last.day().to_owned(),
                before: if before.suppressed {
                    None
                } else {
                    before.value
                },
                after: now.and_then(|n| if n.suppressed { None } else { n.value }),
                suppressed_before: before.suppressed,
                suppressed_after: now.is_some_and(|n| n.suppressed),
                causes: causes(ind, period, breakdown),
                declarations_changed: changed_decl,
            }
        };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &tables.values {
        let key = (&*r.indicator, &*r.period, &*r.breakdown);
        seen.insert(key);
        let Some(b) = old.get(&key) else { continue };
        let shown_then = !b.suppressed && b.value.is_some();
        let shown_now = !r.suppressed && r.value.is_some();
        let changed = match (shown_then, shown_now) {
            (true, true) => !same(b.value, r.value),
            (false, false) => false,
            _ => true,
        };
        if changed {
            out.push(row(&r.indicator, &r.period, &r.breakdown, b, Some(r)));
        }
    }
    for (key, b) in &old {
        if !seen.contains(key) && !b.suppressed && b.value.is_some() {
            out.push(row(key.0, key.1, key.2, b, None));
        }
    }
    // In the declarations' order, then time, totals first.
    let order: BTreeMap<&str, usize> = decl
        .indicators
        .iter()
        .enumerate()
        .map(|(k, (_, i))| (i.id.as_str(), k))
        .collect();
    out.sort_by(|a, b| {
        let at = |r: &RevisionRow| {
            (
                order
                    .get(r.indicator.as_str())
                    .copied()
                    .unwrap_or(usize::MAX),
                Period::parse(&r.period),
                !r.breakdown.is_empty(),
                r.breakdown.clone(),
            )
        };
        at(a).cmp(&at(b))
    });
    Ok(out)
}

/// Every edition's totals, and this report's (edition `None`), for the revisions triangle.
pub fn triangle(
    layout: &Layout,
    tables: &ResultsTables,
) -> Result<Vec<EditionValue>, PipelineError> {
    let list = editions(layout)?;
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let point = |r: &ValueRow, edition: Option<u32>, published: &str| EditionValue {
        indicator: r.indicator.clone(),
        period: r.period.clone(),
        edition,
        published: published.to_owned(),
        value: if r.suppressed { None } else { r.value },
        suppressed: r.suppressed,
    };
    for e in &list {
        let rows = ValueRow::read(&layout.edition(e.number).join(files::INDICATORS_CSV))?;
        out.extend(
            rows.iter()
                .filter(|r| r.breakdown.is_empty())
                .map(|r| point(r, Some(e.number), e.day())),
        );
    }
    let now = clock::now_rfc3339();
    let today = now.get(..10).unwrap_or(&now);
    out.extend(
        tables
            .values
            .iter()
            .filter(|r| r.breakdown.is_empty())
            .map(|r| point(r, None, today)),
    );
    Ok(out)
}
