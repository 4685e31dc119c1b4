//! The committee's report put in place: rendered from `results/` into `reports/latest/`
//! (Hebrew, with `en/` beside it) with the results exports beside it, swapped in whole, and a
//! dated copy kept (thinned to one a month after a month).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use backbone_report::{Inputs, Lang, Report};
use backbone_schema::Text;
use backbone_workspace::tables::{ResultsTables, files};
use backbone_workspace::{Declarations, Layout, clock};

use crate::PipelineError;

/// Names of the breakdown dimensions: a field's title in English and its first Hebrew alias
/// in Hebrew; bands get theirs from the field they cut.
pub fn dimension_names(decl: &Declarations) -> BTreeMap<String, Text> {
    let mut out = BTreeMap::new();
    let hebrew = |s: &&String| s.chars().any(|c| ('\u{0590}'..='\u{05FF}').contains(&c));
    let arabic = |s: &&String| s.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c));
    for schema in decl.schemas.values() {
        for f in &schema.fields {
            let en = f.title.clone().unwrap_or_else(|| f.name.replace('_', " "));
            let he = f.aliases.iter().find(hebrew).cloned().unwrap_or_default();
            let ar = f.aliases.iter().find(arabic).cloned().unwrap_or_default();
            let found = Text::of(&[("en", &en), ("he", &he), ("ar", &ar)]);
            // A field in several schemas: each language from the first schema that has it.
            let name = out.entry(f.name.clone()).or_insert_with(Text::default);
            for (lang, text) in found.0 {
                name.0.entry(lang).or_insert(text);
            }
        }
    }
    for (_, ind) in &decl.indicators {
        for (band, b) in &ind.bands {
            let base = out.get(&b.field).cloned().unwrap_or_default();
            out.entry(band.clone()).or_insert_with(|| {
                let en = format!("{} band", base.exactly("en").unwrap_or(b.field.as_str()));
                let he = base
                    .exactly("he")
                    .map_or_else(String::new, |h| format!("קבוצת {h}"));
                let ar = base
                    .exactly("ar")
                    .map_or_else(String::new, |a| format!("فئة {a}"));
                Text::of(&[("en", &en), ("he", &he), ("ar", &ar)])
            });
        }
    }
    out
}

/// How each breakdown's values are shown: the fields' `x-valueLabels`, completed in the
/// initiative's languages (a band's values are the names the indicator gives them).
pub fn value_labels(decl: &Declarations) -> BTreeMap<String, BTreeMap<String, Text>> {
    let mut out: BTreeMap<String, BTreeMap<String, Text>> = BTreeMap::new();
    for schema in decl.schemas.values() {
        for f in &schema.fields {
            for (value, label) in &f.value_labels {
                let mut label = label.clone();
                label.complete(&decl.initiative.languages);
                out.entry(f.name.clone())
                    .or_default()
                    .entry(value.clone())
                    .or_insert(label);
            }
        }
    }
    out
}

/// The results tables of `WORKSPACE/results`.
pub fn load_tables(layout: &Layout) -> Result<ResultsTables, PipelineError> {
    let results = layout.results();
    ResultsTables::load(&results).map_err(|source| PipelineError::NoResults {
        dir: results.display().to_string(),
        source,
    })
}

/// Renders the report of `WORKSPACE/results` into `out`, with the results exports beside it.
pub fn render(
    layout: &Layout,
    decl: &Declarations,
    tables: &ResultsTables,
    lang: Lang,
    out: &Path,
) -> Result<PathBuf, PipelineError> {
    let results = layout.results();
    let indicators: Vec<_> = decl.indicators.iter().map(|(_, i)| i.clone()).collect();
    let names = dimension_names(decl);
    let labels = value_labels(decl);
    let mut headers: BTreeMap<String, BTreeMap<String, backbone_ingest::KnownHeader>> =
        BTreeMap::new();
    for (partner, schema, h) in crate::known_headers(layout) {
        headers.entry(partner).or_default().insert(schema, h);
    }
    // What changed since the last edition, and every edition's totals.
    let revisions = crate::editions::revisions(layout, decl, tables)?;
    let triangle = crate::editions::triangle(layout, tables)?;
    let report = Report {
        inputs: Inputs {
            initiative: &decl.initiative,
            indicators: &indicators,
            tables,
            dimension_names: &names,
            value_labels: &labels,
            headers: &headers,
            revisions: &revisions,
            triangle: &triangle,
        },
        lang,
        generated: clock::now_rfc3339(),
    };
    std::fs::create_dir_all(out).map_err(|e| PipelineError::io("creating", out, e))?;
    let rendered = backbone_report::render(&report, out)?;
    if !triangle.is_empty() {
        backbone_workspace::tables::RevisionRow::write(
            &out.join(files::REVISIONS_CSV),
            &revisions,
        )?;
        backbone_workspace::tables::EditionValue::write(&out.join(files::TRIANGLE_CSV), &triangle)?;
    }
    for f in files::PUBLISHED {
        let from = results.join(f);
        if from.exists() {
            std::fs::copy(&from, out.join(f))
                .map_err(|e| PipelineError::io("copying", &from, e))?;
        }
    }
    Ok(rendered.html)
}

/// The nightly report: `reports/latest/` (the initiative's first language, `index.html`,
/// with a folder for each other language beside it: `en/`, `ar/`), and
/// a copy kept under `reports/<date>-<store versions>/` (see [`dated_to_remove`] for how long).
/// Returns the latest's path.
pub fn render_latest(layout: &Layout, decl: &Declarations) -> Result<String, PipelineError> {
    let tables = load_tables(layout)?;
    let reports = layout.reports();
    let next = reports.join(".next");
    let _ = std::fs::remove_dir_all(&next);
    // The initiative's first language at the top, each other one in its folder (`en/`,
    // `ar/`); a language backbone's own words do not ship in is left out (`check` says so).
    let mut first = true;
    for code in &decl.initiative.languages {
        let Some(lang) = Lang::ALL.into_iter().find(|l| l.code() == code) else {
            continue;
        };
        let dir = if first { next.clone() } else { next.join(code) };
        render(layout, decl, &tables, lang, &dir)?;
        first = false;
    }
    // Swap into place: a reader sees the old report or the new, never half of one.
    let latest = layout.latest_report();
    let old = reports.join(".old");
    let _ = std::fs::remove_dir_all(&old);
    if latest.exists() {
        std::fs::rename(&latest, &old).map_err(|e| PipelineError::io("moving", &latest, e))?;
    }
    std::fs::rename(&next, &latest).map_err(|e| PipelineError::io("moving", &next, e))?;
    let _ = std::fs::remove_dir_all(&old);
    let stamp: String = tables
        .store_version()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '@' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let now = clock::now_rfc3339();
    let day = now.get(..10).unwrap_or("0000-00-00");
    let keep = reports.join(format!("{day}-{stamp}"));
    copy_dir(&latest, &keep)?;
    if let Ok(today) = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        let names: Vec<String> = std::fs::read_dir(&reports)
            .map_err(|e| PipelineError::io("reading", &reports, e))?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        for name in dated_to_remove(&names, today) {
            let dir = reports.join(&name);
            std::fs::remove_dir_all(&dir)
                .map_err(|e| PipelineError::io("removing the old report copy", &dir, e))?;
            tracing::info!("removed the old report copy {name}");
        }
    }
    Ok(latest.join("index.html").display().to_string())
}

/// Days for which every nightly copy of the report is kept.
const KEEP_EVERY_COPY_DAYS: i64 = 31;

/// The dated report copies to remove on `today`: every copy of the last
/// [`KEEP_EVERY_COPY_DAYS`] days is kept, and before that the last copy of each month (the
/// report as the month ended, which is what a committee looks back at). A year of nightly
/// runs keeps ~43 copies instead of 365 (each is a few MB of charts). Names that do not start
/// with a date are not copies and are never touched.
fn dated_to_remove(names: &[String], today: chrono::NaiveDate) -> Vec<String> {
    let dated = |n: &String| {
        let date = chrono::NaiveDate::parse_from_str(n.get(..10)?, "%Y-%m-%d").ok()?;
        (n.as_bytes().get(10) == Some(&b'-')).then_some(date)
    };
    let mut copies: Vec<(chrono::NaiveDate, &String)> =
        names.iter().filter_map(|n| Some((dated(n)?, n))).collect();
    copies.sort();
    let month = |d: chrono::NaiveDate| d.format("%Y-%m").to_string();
    copies
        .iter()
        .enumerate()
        .filter(|(i, (date, _))| {
            let recent = (today - *date).num_days() < KEEP_EVERY_COPY_DAYS;
            // Every copy of the month's last day with copies (two runs on one day are both
            // kept: their names do not say which came last).
            let last_of_month = copies[*i..]
                .iter()
                .find(|(d, _)| d != date)
                .is_none_or(|(next, _)| month(*next) != month(*date));
            !recent && !last_of_month
        })
        .map(|(_, (_, name))| (*name).clone())
        .collect()
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<(), PipelineError> {
    std::fs::create_dir_all(to).map_err(|e| PipelineError::io("creating", to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| PipelineError::io("reading", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| PipelineError::io("reading", from, e))?;
        let target = to.join(entry.file_name());
        let is_dir = entry
            .file_type()
            .map_err(|e| PipelineError::io("reading", &entry.path(), e))?
            .is_dir();
        if is_dir {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| PipelineError::io("copying to", &target, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn old_copies_thin_to_one_per_month_and_the_last_month_stays_whole() {
        // A copy every night of 2024, plus things that are not copies.
        let mut names: Vec<String> = (0..366)
            .map(|i| {
                format!(
                    "{}-service_records@{i}",
                    day("2024-01-01") + chrono::Duration::days(i)
                )
            })
            .collect();
        names.extend([
            "latest".to_owned(),
            "2024-13-40-x".to_owned(),
            "notes".to_owned(),
        ]);
        let removed = dated_to_remove(&names, day("2025-01-01"));
        let kept: Vec<&String> = names.iter().filter(|n| !removed.contains(n)).collect();
        // The copies of the 31 days up to today (2024-12-02 … 2024-12-31; none today yet),
        // the last copy of January…November, and the three names that are not copies.
        assert_eq!(kept.len(), 30 + 11 + 3, "{kept:?}");
        for n in [
            "2024-01-31-service_records@30",
            "2024-02-29-service_records@59",
        ] {
            assert!(kept.contains(&&n.to_owned()), "{n}");
        }
        assert!(removed.contains(&"2024-12-01-service_records@335".to_owned()));
        assert!(removed.contains(&"2024-01-30-service_records@29".to_owned()));
        assert!(
            !removed
                .iter()
                .any(|n| n == "latest" || n == "notes" || n.starts_with("2024-13"))
        );
    }

    #[test]
    fn a_month_with_one_copy_keeps_it_and_nothing_recent_goes() {
        let names: Vec<String> = ["2023-05-10-a@1", "2024-12-30-a@2", "2024-12-31-a@3"]
            .map(str::to_owned)
            .to_vec();
        assert!(dated_to_remove(&names, day("2025-01-01")).is_empty());
        // Two runs on a month's last day with copies: both kept; the day before goes.
        let names: Vec<String> = ["2023-05-09-a@9", "2023-05-10-a@9", "2023-05-10-a@10"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            dated_to_remove(&names, day("2025-01-01")),
            vec!["2023-05-09-a@9".to_owned()]
        );
    }
}
