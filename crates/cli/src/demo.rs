//! `backbone demo`: the bundled example initiative, a year of it. A dozen partners' messy
//! files are generated, then the nightly run goes over them night by night as they arrive,
//! with the clock set to each night, and the latest report ends at
//! `DIR/reports/latest/index.html`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use backbone_pipeline::{IngestRequest, Ingested, NightOptions, ingest_file, night, open_store};
use backbone_workspace::{Layout, clock};

use crate::generate;

/// The example initiative's declarations, built into the binary so the demo works from
/// anywhere.
const FILES: &[(&str, &str)] = &[
    (
        "data-schemas/service_records.json",
        include_str!("../../../data-schemas/service_records.json"),
    ),
    (
        "data-schemas/population.json",
        include_str!("../../../data-schemas/population.json"),
    ),
    (
        "data-schemas/backbone_activity.json",
        include_str!("../../../data-schemas/backbone_activity.json"),
    ),
    (
        "pipelines/indicators/working_together.toml",
        include_str!("../../../pipelines/indicators/working_together.toml"),
    ),
    (
        "pipelines/initiative.toml",
        include_str!("../../../pipelines/initiative.toml"),
    ),
    (
        "pipelines/indicators/service.toml",
        include_str!("../../../pipelines/indicators/service.toml"),
    ),
    (
        "pipelines/profiles/hotline.toml",
        include_str!("../../../pipelines/profiles/hotline.toml"),
    ),
    (
        "data-schemas/referrals_by_region.json",
        include_str!("../../../data-schemas/referrals_by_region.json"),
    ),
    (
        "pipelines/profiles/ministry.toml",
        include_str!("../../../pipelines/profiles/ministry.toml"),
    ),
    (
        "pipelines/indicators/service_ministry.toml",
        include_str!("../../../pipelines/indicators/service_ministry.toml"),
    ),
    (
        "pipelines/reference/population.csv",
        include_str!("../../../pipelines/reference/population.csv"),
    ),
];

/// What a demo workspace holds that the demo makes again on every run (the secret key and the
/// declarations stay).
const GENERATED: &[&str] = &[
    "store",
    "archive",
    "inbox",
    "processed",
    "outbox",
    "results",
    "reports",
    "editions",
    "runs",
    "incoming",
    "reminders.csv",
];

pub(crate) fn run(dir: &Path) -> Result<ExitCode> {
    let layout = Layout::new(dir);
    let marker = layout.private().join("demo");
    if layout.store().exists() && !marker.exists() {
        anyhow::bail!(
            "{} holds a workspace that is not a demo; give the demo an empty or new folder",
            dir.display()
        );
    }
    for g in GENERATED {
        let p = dir.join(g);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).with_context(|| format!("clearing {}", p.display()))?;
        } else if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("clearing {}", p.display()))?;
        }
    }
    crate::init::write_files(dir, FILES)?;
    // The partnership tightens a definition in August (see `pipelines/indicators/service.toml`):
    // until then the file is as it was before, without the new version.
    let service = layout.indicators().join("service.toml");
    let agreed = std::fs::read_to_string(&service)?;
    let before_change = without_version_block(&agreed);
    std::fs::write(&service, &before_change)?;
    let change_day = chrono::NaiveDate::from_ymd_opt(generate::YEAR, 8, 1).unwrap_or_default();
    let mut changed = before_change == agreed;
    std::fs::create_dir_all(layout.private())?;
    std::fs::write(&marker, "this workspace is made by `backbone demo`\n")?;
    println!(
        "backbone demo: a year of the example initiative in {}",
        dir.display()
    );

    // The reference population first, as the data team would load it.
    clock::set(Some(format!("{}-01-05T09:00:00Z", generate::YEAR)));
    let store = open_store(&layout)?;
    let population = IngestRequest {
        file: layout.pipelines().join("reference/population.csv"),
        partner: "cbs".into(),
        schema: "population".into(),
        period: generate::YEAR.to_string(),
        profile: None,
        isolation: None,
        approved: false,
    };
    if let Ingested::Unreadable { error, .. } =
        ingest_file(&layout, &store, &population, clock::now_rfc3339())?
    {
        anyhow::bail!("the example population table: {error}");
    }
    drop(store);

    let incoming = dir.join("incoming");
    let arrivals = generate::year(&incoming, 20_240_101)?;
    println!(
        "  {} files generated (12 partners, one of whom never reports; the ministry's half-yearly workbook; the backbone organisation's own quarterly record) in {}",
        arrivals.len(),
        incoming.display()
    );
    let mut nights: BTreeMap<chrono::NaiveDate, Vec<&generate::Arrival>> = BTreeMap::new();
    for a in &arrivals {
        nights.entry(a.date).or_default().push(a);
    }
    // The committee meets twelve days after each quarter ends; the data manager publishes
    // the report as an edition that morning. The year's last edition follows the last night.
    let mut meetings: Vec<(chrono::NaiveDate, String)> = (1..=3)
        .filter_map(|q| {
            let end = chrono::NaiveDate::from_ymd_opt(generate::YEAR, q * 3, 1)?;
            let end = end + chrono::Months::new(1) - chrono::Duration::days(1);
            Some((
                end + chrono::Duration::days(12),
                format!("{}-Q{q}", generate::YEAR),
            ))
        })
        .collect();
    meetings.reverse();
    let publish = |date: String, period: &str| -> Result<()> {
        clock::set(Some(date));
        let done = backbone_pipeline::editions::publish(&layout, Some(period))?;
        println!(
            "  edition {} published for {period}{}",
            done.edition.number,
            if done.edition.number > 1 {
                format!(
                    ": {} value(s) revised since edition {}",
                    done.revisions,
                    done.edition.number - 1
                )
            } else {
                String::new()
            }
        );
        Ok(())
    };
    let (mut files, mut rejected, mut stored) = (0, 0, 0u64);
    for (date, batch) in &nights {
        while let Some((day, period)) = meetings.last().filter(|(d, _)| d < date).cloned() {
            meetings.pop();
            publish(format!("{day}T09:00:00Z"), &period)?;
        }
        if !changed && *date >= change_day {
            changed = true;
            std::fs::write(&service, &agreed)?;
            println!(
                "  the partnership changes a definition: contact_within_week counts 5 days, not 7, from 2024-Q3 (the quarters before keep theirs)"
            );
        }
        for a in batch {
            let inbox = layout.inbox_of(a.partner);
            std::fs::create_dir_all(&inbox)?;
            let name = a.file.file_name().unwrap_or_default();
            std::fs::rename(&a.file, inbox.join(name))
                .with_context(|| format!("moving {} to the inbox", a.file.display()))?;
        }
        clock::set(Some(format!("{date}T22:00:00Z")));
        let summary = night(
            &layout,
            &NightOptions {
                dry_run: false,
                quiet: true,
                // The demo's own files: read in this process.
                isolation: None,
            },
        )?;
        let (n, r, s) = summary.counts();
        files += n;
        rejected += r;
        stored += s;
        println!("  night of {date}: {n:>2} file(s), {s:>5} rows stored, {r:>3} rows rejected");
    }
    if let Some(last) = nights.keys().last() {
        publish(
            format!("{}T09:00:00Z", *last + chrono::Duration::days(1)),
            &format!("{}-Q4", generate::YEAR),
        )?;
    }
    clock::set(None);
    let _ = std::fs::remove_dir_all(&incoming);
    println!("\n{files} files, {stored} rows stored, {rejected} rows rejected.");
    println!(
        "Last night's summary:      {}",
        layout.runs().join("latest.txt").display()
    );
    println!("Receipts for partners:     {}", layout.outbox().display());
    println!(
        "Reminders:                 {}",
        layout.reminders().display()
    );
    println!(
        "The report (Hebrew):       {}",
        layout.latest_report().join("index.html").display()
    );
    println!(
        "The report (English):      {}",
        layout.latest_report().join("en/index.html").display()
    );
    println!(
        "The report (Arabic):       {}",
        layout.latest_report().join("ar/index.html").display()
    );
    println!(
        "Published editions:        {}  (`backbone editions --verify`)",
        layout.editions().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The indicators' file before the partnership's change: without the commented
/// `[[indicator.version]]` block (from its comment to the blank line after it).
fn without_version_block(text: &str) -> String {
    let Some(at) = text.find("# From July the partnership's standard") else {
        return text.to_owned();
    };
    let end = text[at..].find("\n\n").map_or(text.len(), |e| at + e + 1);
    format!("{}{}", &text[..at], &text[end..])
}
