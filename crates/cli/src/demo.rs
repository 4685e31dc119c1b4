//! `backbone demo`: the bundled example initiative, validated end to end.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use backbone_ingest::{Options, Verdict, validate_file};
use backbone_schema::{Profile, TableSchema};

/// The example initiative's files, built into the binary so the demo works from anywhere.
const SCHEMA: (&str, &str) = (
    "service_records.json",
    include_str!("../../../data-schemas/service_records.json"),
);
const PROFILES: &[(&str, &str)] = &[(
    "hotline",
    include_str!("../../../pipelines/profiles/hotline.toml"),
)];
const INBOX: &[(&str, &str, &[u8])] = &[
    (
        "clinic",
        "clinic_windows1255.csv",
        include_bytes!("../../../pipelines/example-inbox/clinic/clinic_windows1255.csv"),
    ),
    (
        "hotline",
        "hotline_bom_semicolon.csv",
        include_bytes!("../../../pipelines/example-inbox/hotline/hotline_bom_semicolon.csv"),
    ),
    (
        "shelter",
        "shelter_utf16_tab.tsv",
        include_bytes!("../../../pipelines/example-inbox/shelter/shelter_utf16_tab.tsv"),
    ),
    (
        "welfare",
        "welfare_title_rows.xlsx",
        include_bytes!("../../../pipelines/example-inbox/welfare/welfare_title_rows.xlsx"),
    ),
    (
        "police",
        "police_1904.xlsx",
        include_bytes!("../../../pipelines/example-inbox/police/police_1904.xlsx"),
    ),
    (
        "health_fund",
        "health_fund.ods",
        include_bytes!("../../../pipelines/example-inbox/health_fund/health_fund.ods"),
    ),
    (
        "municipality",
        "municipality.xls",
        include_bytes!("../../../pipelines/example-inbox/municipality/municipality.xls"),
    ),
];

pub(crate) fn run(dir: &Path) -> Result<ExitCode> {
    let write = |rel: &str, bytes: &[u8]| -> Result<()> {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    write(&format!("data-schemas/{}", SCHEMA.0), SCHEMA.1.as_bytes())?;
    for (partner, text) in PROFILES {
        write(
            &format!("pipelines/profiles/{partner}.toml"),
            text.as_bytes(),
        )?;
    }
    for (partner, name, bytes) in INBOX {
        write(&format!("inbox/{partner}/{name}"), bytes)?;
    }
    let schema = TableSchema::load(&dir.join("data-schemas").join(SCHEMA.0))?;
    println!(
        "backbone demo: validating the example initiative's inbox in {}\n",
        dir.display()
    );
    let (mut rows, mut accepted, mut rejected) = (0, 0, 0);
    for (partner, name, _) in INBOX {
        let profile_path = dir
            .join("pipelines/profiles")
            .join(format!("{partner}.toml"));
        let mut options = Options {
            display_name: Some(format!("{partner}/{name}")),
            ..Options::default()
        };
        let schema = if profile_path.is_file() {
            let profile = Profile::load(&profile_path)?;
            let merged = schema.with_profile(&profile, &profile_path.display().to_string())?;
            options.profile = Some(profile);
            merged
        } else {
            schema.clone()
        };
        let file = dir.join("inbox").join(partner).join(name);
        let report = validate_file(&file, &schema, &options)?;
        let receipt_dir = format!("receipts/{partner}");
        write(
            &format!("{receipt_dir}/{name}.txt"),
            report.to_text().as_bytes(),
        )?;
        write(
            &format!("{receipt_dir}/{name}.json"),
            serde_json::to_string_pretty(&report.to_json())?.as_bytes(),
        )?;
        let s = &report.stats;
        rows += s.rows;
        accepted += s.accepted;
        rejected += s.rejected;
        let mark = match report.verdict {
            Verdict::Accepted => "✓",
            Verdict::AcceptedWithProblems => "!",
            Verdict::Rejected => "✗",
        };
        println!(
            "  {mark} {:<13} {:<28} {:>3} rows, {:>3} accepted, {:>3} rejected  ({})",
            partner,
            name,
            s.rows,
            s.accepted,
            s.rejected,
            report.verdict.words()
        );
    }
    println!("\n{rows} rows read, {accepted} accepted, {rejected} rejected.");
    println!("Receipts for partners: {}", dir.join("receipts").display());
    println!(
        "For example: {}",
        dir.join("receipts/clinic/clinic_windows1255.csv.txt")
            .display()
    );
    Ok(ExitCode::SUCCESS)
}
