//! `backbone national DIR`: a national initiative's store for the scale benchmark
//! (`bench/national.sh`): many partners' monthly submissions over years, written straight into
//! the store (one commit per submission, as ingest makes them) without raw files, so that a
//! store of 10⁸ rows takes minutes rather than the hours of parsing text it stands for.
//!
//! People recur, and across partners: each person lives in one region, and a partner serves
//! mostly its own region's people (some come from elsewhere), a few often and most rarely, so
//! distinct counts across partners and years are real work. Deterministic for a seed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use backbone_store::{Begun, Submission};
use backbone_workspace::Layout;
use chrono::{Datelike, NaiveDate};

use crate::generate::Rng;

/// The regions people live in (the peers' fifteen).
const REGIONS: [&str; 15] = [
    "ירושלים",
    "תל אביב",
    "חיפה",
    "באר שבע",
    "נתניה",
    "אשדוד",
    "ראשון לציון",
    "פתח תקווה",
    "חולון",
    "בני ברק",
    "רמת גן",
    "אשקלון",
    "רחובות",
    "בית שמש",
    "נצרת",
];

const SERVICES: [&str; 8] = [
    "counseling",
    "employment",
    "housing",
    "health",
    "education",
    "legal_aid",
    "case_management",
    "financial_support",
];

/// The first month of the store.
const START: (i32, u32) = (2021, 1);

/// The size of the national store.
pub(crate) struct Size {
    pub(crate) partners: usize,
    pub(crate) months: usize,
    pub(crate) rows: u64,
    pub(crate) seed: u64,
}

pub(crate) fn run(dir: &Path, size: &Size) -> Result<ExitCode> {
    anyhow::ensure!(
        size.partners > 0 && size.partners <= 9999 && size.months > 0,
        "--partners must be 1 to 9999 and --months at least 1"
    );
    anyhow::ensure!(
        !dir.join("store").exists(),
        "{} already has a store; `backbone national` makes a new one",
        dir.display()
    );
    let partners: Vec<String> = (1..=size.partners).map(|i| format!("M{i:04}")).collect();
    write_declarations(dir, &partners)?;
    let layout = Layout::new(dir);
    let pseudonymiser = backbone_pipeline::pseudonymiser(&layout)?;
    let store = backbone_pipeline::open_store(&layout)?;
    let schema =
        backbone_schema::TableSchema::load(&layout.schemas().join("service_records.json"))?;
    let arrow = backbone_ingest::arrow_schema(&schema);

    // About 1 person for 25 records over the years, each in one region (regions of unequal
    // size); people are numbered region by region.
    let people = (size.rows / 25).max(1000);
    let mut rng = Rng(size.seed);
    let weights: Vec<f64> = (1..=REGIONS.len())
        .map(|r| 1.0 / (r as f64).powf(0.7))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut bounds = Vec::with_capacity(REGIONS.len() + 1);
    bounds.push(0u64);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        bounds.push(((people as f64) * acc) as u64);
    }
    if let Some(last) = bounds.last_mut() {
        *last = people;
    }
    let started = std::time::Instant::now();
    let pseudonyms: Vec<String> = (0..people)
        .map(|i| pseudonymiser.pseudonym(&format!("{:09}", 100_000_000 + i)))
        .collect();
    eprintln!(
        "{people} people pseudonymised in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Each partner's region, and its size (a few large health funds, many small welfare
    // departments).
    let home: Vec<usize> = (0..partners.len()).map(|i| i % REGIONS.len()).collect();
    let scale: Vec<f64> = (1..=partners.len())
        .map(|r| 1.0 / (r as f64).powf(0.5))
        .collect();
    let scale_total: f64 = scale.iter().sum();
    let per_month = size.rows as f64 / size.months as f64;

    let started = std::time::Instant::now();
    let mut written = 0u64;
    let mut submissions = 0u64;
    for m in 0..size.months {
        let (year, month) = month_at(m);
        let first = NaiveDate::from_ymd_opt(year, month, 1).context("a month out of range")?;
        let days = days_in(year, month);
        let period = format!("{year}-{month:02}");
        for (p, partner) in partners.iter().enumerate() {
            let n = (per_month * scale[p] / scale_total).round() as usize;
            let region = home[p];
            let mut person = Vec::with_capacity(n);
            let mut region_of = Vec::with_capacity(n);
            let mut date = Vec::with_capacity(n);
            let mut gender = Vec::with_capacity(n);
            let mut age = Vec::with_capacity(n);
            let mut service = Vec::with_capacity(n);
            let mut minutes = Vec::with_capacity(n);
            let mut improved = Vec::with_capacity(n);
            for _ in 0..n {
                // Mostly the partner's own region; skewed towards a region's first people
                // (the few who come often).
                let r = if rng.chance(0.9) {
                    region
                } else {
                    rng.below(REGIONS.len() as u64) as usize
                };
                let (lo, hi) = (bounds[r], bounds[r + 1].max(bounds[r] + 1));
                let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
                let i = lo + ((hi - lo) as f64 * u * u) as u64;
                person.push(pseudonyms[i.min(people - 1) as usize].as_str());
                region_of.push(REGIONS[r]);
                let day = first + chrono::Duration::days(rng.below(days) as i64);
                date.push(day.num_days_from_ce() - 719_163);
                gender.push(match rng.below(100) {
                    0 => None,
                    k if k < 52 => Some("female"),
                    _ => Some("male"),
                });
                age.push(rng.below(95) as i64);
                service.push(*rng.pick(&SERVICES));
                minutes.push(5.0 + rng.below(600) as f64);
                improved.push(match rng.below(10) {
                    0 => None,
                    k => Some(k < 6),
                });
            }
            let batch = RecordBatch::try_new(
                arrow.clone(),
                vec![
                    Arc::new(StringArray::from(person)) as ArrayRef,
                    Arc::new(Date32Array::from(date)),
                    Arc::new(StringArray::from(region_of)),
                    Arc::new(StringArray::from(gender)),
                    Arc::new(Int64Array::from(age)),
                    Arc::new(StringArray::from(service)),
                    Arc::new(Float64Array::from(minutes)),
                    Arc::new(BooleanArray::from(improved)),
                    Arc::new(Int64Array::from_iter_values(2..n as i64 + 2)),
                ],
            )
            .context("building a generated batch")?;
            // Stands for the hash of a file that was never written: unique per seed, partner
            // and month, and as varied as a real one in its first digits (submission ids).
            let mut h = Rng(size.seed ^ ((p as u64) << 32) ^ m as u64);
            let sha256 = format!(
                "{:016x}{:016x}{:016x}{:016x}",
                h.next(),
                h.next(),
                h.next(),
                h.next()
            );
            let mut pending =
                match store.begin("service_records", partner, &period, &sha256, &arrow)? {
                    Begun::Duplicate(_) => continue,
                    Begun::Writing(w) => *w,
                };
            let received = NaiveDate::from_ymd_opt(year, month, 1)
                .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
                .and_then(|d| d.and_hms_opt(2, 0, 0))
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            let submission = Submission {
                id: format!("{partner}-service_records-{period}-{}", &sha256[..12]),
                partner: partner.clone(),
                schema: "service_records".into(),
                period: period.clone(),
                file_name: format!("{partner}-{period}.csv"),
                sha256,
                received,
                rows_read: n as u64,
                rows_accepted: n as u64,
                rows_rejected: 0,
                rows_with_warnings: 0,
                verdict: "accepted".into(),
                supersedes: None,
                table_version: None,
            };
            pending.write(&submission, batch)?;
            pending.commit(submission)?;
            written += n as u64;
            submissions += 1;
        }
        eprintln!(
            "{period}: {submissions} submissions, {written} rows, {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "{submissions} submissions, {written} rows from {} partners over {} months in {}",
        partners.len(),
        size.months,
        dir.join("store").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The calendar month `m` months after [`START`].
fn month_at(m: usize) -> (i32, u32) {
    let k = START.0 * 12 + START.1 as i32 - 1 + m as i32;
    (k.div_euclid(12), k.rem_euclid(12) as u32 + 1)
}

fn days_in(year: i32, month: u32) -> u64 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(year, month, 1),
        NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => (b - a).num_days() as u64,
        _ => 28,
    }
}

/// The workspace's declarations: the schema, the partners and what they owe, and the
/// indicators the benchmark computes (what the peers' DuckDB query computes, and people reached
/// in a year across partners).
fn write_declarations(dir: &Path, partners: &[String]) -> Result<()> {
    let regions: Vec<String> = REGIONS.iter().map(|r| format!("{r:?}")).collect();
    let services: Vec<String> = SERVICES.iter().map(|s| format!("{s:?}")).collect();
    let schema = format!(
        r#"{{
  "name": "service_records",
  "fields": [
    {{"name": "person_id", "type": "string", "constraints": {{"required": true}}, "x-pii": true}},
    {{"name": "service_date", "type": "date", "format": "%d/%m/%Y", "constraints": {{"required": true}}}},
    {{"name": "region", "type": "string", "constraints": {{"required": true, "enum": [{}]}}}},
    {{"name": "gender", "type": "string", "constraints": {{"enum": ["female", "male"]}}}},
    {{"name": "age", "type": "integer", "constraints": {{"required": true, "minimum": 0, "maximum": 120}}}},
    {{"name": "service_type", "type": "string", "constraints": {{"required": true, "enum": [{}]}}}},
    {{"name": "minutes", "type": "number", "constraints": {{"required": true, "minimum": 0}}}},
    {{"name": "outcome_improved", "type": "boolean"}}
  ]
}}
"#,
        regions.join(", "),
        services.join(", ")
    );
    let mut initiative = String::from(
        "name = { en = \"A national initiative (generated)\" }\nfirst_month = 1\nthreshold = 10\n\n",
    );
    for (i, p) in partners.iter().enumerate() {
        initiative.push_str(&format!(
            "[[partner]]\nid = \"{p}\"\nname = {{ en = \"Partner {p}\" }}\nregion = \"{}\"\n\n",
            REGIONS[i % REGIONS.len()]
        ));
    }
    initiative.push_str(&format!(
        "[[obligation]]\nschema = \"service_records\"\ngrain = \"month\"\nfrom = \"{}-{:02}\"\ndue_days = 15\n",
        START.0, START.1
    ));
    let indicators = r#"# What the peers' DuckDB query computes (records, distinct persons and the share
# improved, by month, with region and gender breakdowns), and people reached in a year.
[[indicator]]
id = "records"
label = { en = "Records" }
schema = "service_records"
kind = "count"
date_field = "service_date"
grain = "month"
dimensions = ["region", "gender"]

[[indicator]]
id = "persons"
label = { en = "Distinct persons" }
schema = "service_records"
kind = "distinct_count"
field = "person_id"
date_field = "service_date"
grain = "month"
dimensions = ["region", "gender"]

[[indicator]]
id = "share_improved"
label = { en = "Share improved" }
schema = "service_records"
kind = "ratio"
factor = 100
date_field = "service_date"
grain = "month"
dimensions = ["region", "gender"]
numerator = { kind = "count", filter = "outcome_improved = true" }
denominator = { kind = "count", filter = "outcome_improved IS NOT NULL" }

[[indicator]]
id = "people_year"
label = { en = "People reached in the year" }
schema = "service_records"
kind = "distinct_count"
field = "person_id"
date_field = "service_date"
grain = "year"
dimensions = ["region"]
"#;
    crate::init::write_files(
        dir,
        &[
            ("data-schemas/service_records.json", schema.as_str()),
            ("pipelines/initiative.toml", initiative.as_str()),
            ("pipelines/indicators/national.toml", indicators),
        ],
    )
}
