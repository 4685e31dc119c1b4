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
/// a copy kept under `reports/<data date>-v<store version>/`. Returns the latest's path.
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
    let keep = reports.join(format!("{}-{stamp}", &now_rfc3339()[..10]));
    copy_dir(&latest, &keep)?;
    Ok(latest.join("index.html").display().to_string())
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
