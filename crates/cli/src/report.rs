//! `backbone report` and the receipts of the nightly run: the report crate fed from the
//! workspace (declarations, `results/`) and its documents put in place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use backbone_ingest::ValidationReport;
use backbone_metrics::Declarations;
use backbone_report::{Inputs, Lang, ReceiptInfo, Report, ResultsTables};
use backbone_schema::Text;
use backbone_store::Submission;

use crate::ingest::now_rfc3339;

/// Names of the breakdown dimensions: a field's title in English and its first Hebrew alias
/// in Hebrew; bands get theirs from the field they cut.
fn dimension_names(decl: &Declarations) -> BTreeMap<String, Text> {
    let mut out = BTreeMap::new();
    let hebrew = |s: &&String| s.chars().any(|c| ('\u{0590}'..='\u{05FF}').contains(&c));
    for schema in decl.schemas.values() {
        for f in &schema.fields {
            out.entry(f.name.clone()).or_insert_with(|| Text {
                en: f.title.clone().unwrap_or_else(|| f.name.replace('_', " ")),
                he: f.aliases.iter().find(hebrew).cloned().unwrap_or_default(),
            });
        }
    }
    for (_, ind) in &decl.indicators {
        for (band, b) in &ind.bands {
            let base = out.get(&b.field).cloned().unwrap_or_default();
            out.entry(band.clone()).or_insert_with(|| Text {
                en: format!(
                    "{} band",
                    if base.en.is_empty() {
                        &b.field
                    } else {
                        &base.en
                    }
                ),
                he: if base.he.is_empty() {
                    String::new()
                } else {
                    format!("קבוצת {}", base.he)
                },
            });
        }
    }
    out
}

/// Options of `backbone report`.
pub(crate) struct Args {
    pub(crate) workspace: PathBuf,
    pub(crate) lang: Option<String>,
    pub(crate) out: Option<PathBuf>,
    pub(crate) pdf: bool,
}

/// `backbone report`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let ws = &args.workspace;
    let decl = Declarations::load(ws)?;
    let lang = Lang::parse(args.lang.as_deref().unwrap_or("he"));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| ws.join("reports").join("latest"));
    let html = render(ws, &decl, &load_tables(ws)?, lang, &out)?;
    println!("report: {}", html.display());
    if args.pdf {
        let Some(chromium) = backbone_report::find_chromium() else {
            anyhow::bail!(
                "--pdf needs a Chromium (install the `chromium` package, or set BACKBONE_CHROMIUM)"
            );
        };
        let pdf = out.join("report.pdf");
        backbone_report::print_pdf(&chromium, &html, &pdf)?;
        println!("PDF: {}", pdf.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The results tables of `WORKSPACE/results`.
fn load_tables(ws: &Path) -> Result<ResultsTables> {
    let results = ws.join("results");
    ResultsTables::load(&results).with_context(|| {
        format!(
            "reading the results in {} (run `backbone metrics` first)",
            results.display()
        )
    })
}

/// Renders the report of `WORKSPACE/results` into `out`, with the results exports beside it.
pub(crate) fn render(
    ws: &Path,
    decl: &Declarations,
    tables: &ResultsTables,
    lang: Lang,
    out: &Path,
) -> Result<PathBuf> {
    let results = ws.join("results");
    let indicators: Vec<_> = decl.indicators.iter().map(|(_, i)| i.clone()).collect();
    let names = dimension_names(decl);
    let report = Report {
        inputs: Inputs {
            initiative: &decl.initiative,
            indicators: &indicators,
            tables,
            dimension_names: &names,
        },
        lang,
        generated: now_rfc3339(),
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let rendered = backbone_report::render(&report, out)?;
    for f in [
        "indicators.csv",
        "indicators.parquet",
        "completeness.csv",
        "quality.csv",
    ] {
        let from = results.join(f);
        if from.exists() {
            std::fs::copy(&from, out.join(f))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    Ok(rendered.html)
}

/// The nightly report: `reports/latest/` (Hebrew, `index.html`, with `en/` beside it), and
/// a copy kept under `reports/<date>-<store versions>/` (see [`dated_to_remove`] for how long).
/// Returns the latest's path.
pub(crate) fn render_latest(ws: &Path, decl: &Declarations) -> Result<String> {
    let tables = load_tables(ws)?;
    let reports = ws.join("reports");
    let next = reports.join(".next");
    let _ = std::fs::remove_dir_all(&next);
    render(ws, decl, &tables, Lang::He, &next)?;
    render(ws, decl, &tables, Lang::En, &next.join("en"))?;
    // Swap into place: a reader sees the old report or the new, never half of one.
    let latest = reports.join("latest");
    let old = reports.join(".old");
    let _ = std::fs::remove_dir_all(&old);
    if latest.exists() {
        std::fs::rename(&latest, &old).with_context(|| format!("moving {}", latest.display()))?;
    }
    std::fs::rename(&next, &latest).with_context(|| format!("moving {}", next.display()))?;
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
    let now = now_rfc3339();
    let keep = reports.join(format!("{}-{stamp}", &now[..10]));
    copy_dir(&latest, &keep)?;
    if let Ok(today) = chrono::NaiveDate::parse_from_str(&now[..10], "%Y-%m-%d") {
        let names: Vec<String> = std::fs::read_dir(&reports)
            .with_context(|| format!("reading {}", reports.display()))?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        for name in dated_to_remove(&names, today) {
            let dir = reports.join(&name);
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the old report copy {}", dir.display()))?;
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

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying to {}", target.display()))?;
        }
    }
    Ok(())
}

fn receipt_info(decl: &Declarations, partner: &str, lang: Lang) -> ReceiptInfo {
    ReceiptInfo {
        initiative: decl.initiative.name.get(lang.code()).to_owned(),
        partner: decl.initiative.partner(partner).map_or_else(
            || partner.to_owned(),
            |p| p.name.get(lang.code()).to_owned(),
        ),
        ..ReceiptInfo::default()
    }
}

fn write_receipt(
    ws: &Path,
    partner: &str,
    file_name: &str,
    receipt: &backbone_report::Receipt,
    json: Option<&serde_json::Value>,
) -> Result<String> {
    let dir = ws.join("outbox").join(partner);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("{file_name}.receipt");
    let html = dir.join(format!("{stem}.html"));
    std::fs::write(&html, &receipt.html).with_context(|| format!("writing {}", html.display()))?;
    let text = dir.join(format!("{stem}.txt"));
    std::fs::write(&text, &receipt.text).with_context(|| format!("writing {}", text.display()))?;
    if let Some(json) = json {
        let path = dir.join(format!("{stem}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(html.display().to_string())
}

/// Writes a submission's receipt to `outbox/<partner>/`; returns the HTML's path.
pub(crate) fn receipt(
    ws: &Path,
    decl: &Declarations,
    submission: &Submission,
    report: &ValidationReport,
    language: &str,
) -> Result<String> {
    let lang = Lang::parse(language);
    let info = ReceiptInfo {
        file: submission.file_name.clone(),
        schema: submission.schema.clone(),
        period: submission.period.clone(),
        received: submission.received.clone(),
        submission: submission.id.clone(),
        replaces: submission.supersedes.clone(),
        ..receipt_info(decl, &submission.partner, lang)
    };
    let r = backbone_report::receipt(report, &info, lang)?;
    let json = serde_json::json!({
        "submission": submission.id,
        "supersedes": submission.supersedes,
        "report": report.to_json(),
    });
    write_receipt(
        ws,
        &submission.partner,
        &submission.file_name,
        &r,
        Some(&json),
    )
}

/// The receipt of a file that could not be read.
pub(crate) fn unreadable_receipt(
    ws: &Path,
    decl: &Declarations,
    partner: &str,
    file_name: &str,
    error: &str,
    language: &str,
) -> Result<String> {
    let lang = Lang::parse(language);
    let info = ReceiptInfo {
        file: file_name.to_owned(),
        received: now_rfc3339(),
        ..receipt_info(decl, partner, lang)
    };
    let r = backbone_report::unreadable_receipt(&info, error, lang)?;
    write_receipt(ws, partner, file_name, &r, None)
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
