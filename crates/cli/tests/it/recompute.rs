//! An independent recomputation: generated partner files go through `backbone ingest` and
//! `backbone metrics`; DuckDB computes the same indicators straight from the generated
//! records with plain SQL; every value must agree.

use crate::common::root;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A small deterministic generator (no dependency, same numbers everywhere).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const REGIONS: [&str; 6] = ["צפון", "חיפה", "מרכז", "תל אביב", "ירושלים", "דרום"];
const SERVICES: [&str; 5] = [
    "counseling",
    "shelter",
    "legal_aid",
    "hotline",
    "case_management",
];
const GENDERS: [&str; 3] = ["female", "male", "other"];

#[test]
fn duckdb_from_the_raw_records_agrees_with_backbone() {
    let Some(python) = backbone_testkit::outside_tool(
        "a Python with the duckdb package",
        "BACKBONE_PY_DUCKDB",
        std::env::var("BACKBONE_PY_DUCKDB")
            .ok()
            .filter(|p| Path::new(p).exists()),
    ) else {
        return;
    };
    let ws = tempfile::tempdir().unwrap();
    let ws = ws.path();
    for d in ["data-schemas", "pipelines/indicators"] {
        std::fs::create_dir_all(ws.join(d)).unwrap();
    }
    for f in [
        "data-schemas/service_records.json",
        "data-schemas/population.json",
        "data-schemas/backbone_activity.json",
        "data-schemas/referrals_by_region.json",
        "pipelines/indicators/service.toml",
    ] {
        std::fs::copy(root().join(f), ws.join(f)).unwrap();
    }
    // Threshold 1: nothing suppressed, every value comparable.
    let initiative = std::fs::read_to_string(root().join("pipelines/initiative.toml"))
        .unwrap()
        .replace("threshold = 10", "threshold = 1");
    std::fs::write(ws.join("pipelines/initiative.toml"), initiative).unwrap();

    // 4 partners × 6 months of files; people recur within and across partners.
    let mut rng = Lcg(42);
    let mut raw = String::from(
        "partner,record_id,person_id,referral_date,first_contact_date,gender,age,region,service_type,outcome_improved\n",
    );
    let files = tempfile::tempdir().unwrap();
    let mut n = 0;
    for partner in ["shelter", "hotline", "welfare", "clinic"] {
        for month in 1..=6u32 {
            let mut text = String::from(
                "record_id,person_id,referral_date,first_contact_date,gender,age,region,service_type,outcome_improved\n",
            );
            for _ in 0..(80 + rng.next(60)) {
                n += 1;
                let record = format!("R{:02}-{n:06}", month);
                let person = 100_000 + rng.next(900);
                let day = 1 + rng.next(28) as u32;
                let referral = chrono::NaiveDate::from_ymd_opt(2024, month, day).unwrap();
                let contact = match rng.next(4) {
                    0 => None,
                    1 => Some(referral + chrono::Duration::days(3 + rng.next(20) as i64)),
                    _ => Some(referral + chrono::Duration::days(rng.next(8) as i64)),
                };
                let gender = GENDERS[rng.next(3) as usize];
                let age = 10 + rng.next(80);
                let region = REGIONS[rng.next(6) as usize];
                let service = SERVICES[rng.next(5) as usize];
                // The schema's own spellings of yes and no in the partner's file.
                let pick = rng.next(3) as usize;
                let improved = ["true", "false", ""][pick];
                let written = ["כן", "לא", ""][pick];
                let dmy = |d: chrono::NaiveDate| d.format("%d/%m/%Y").to_string();
                let iso = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
                text.push_str(&format!(
                    "{record},{person},{},{},{gender},{age},{region},{service},{written}\n",
                    dmy(referral),
                    contact.map(dmy).unwrap_or_default()
                ));
                raw.push_str(&format!(
                    "{partner},{record},{person},{},{},{gender},{age},{region},{service},{improved}\n",
                    iso(referral),
                    contact.map(iso).unwrap_or_default()
                ));
            }
            let file = files.path().join(format!("{partner}-2024-{month:02}.csv"));
            std::fs::write(&file, text).unwrap();
            let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
                .arg("ingest")
                .arg(&file)
                .args([
                    "--partner",
                    partner,
                    "--schema",
                    "service_records",
                    "--period",
                ])
                .arg(format!("2024-{month:02}"))
                .arg("--workspace")
                .arg(ws)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            // Every generated row is valid: all of them are in the store.
            assert!(
                String::from_utf8_lossy(&o.stdout).contains(" 0 rejected"),
                "{}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
    let raw_path = files.path().join("raw.csv");
    std::fs::write(&raw_path, raw).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["metrics", "--workspace"])
        .arg(ws)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // backbone's values.
    let mut ours: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    let text = std::fs::read_to_string(ws.join("results/indicators.csv")).unwrap();
    for line in text.trim_start_matches('\u{feff}').lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        if let Ok(v) = c[3].parse::<f64>() {
            ours.insert((c[0].into(), c[1].into(), c[2].into()), v);
        }
    }

    // DuckDB's, from the raw records, written independently of backbone's code.
    let script = r#"
import sys, duckdb
con = duckdb.connect()
con.execute("CREATE TABLE r AS SELECT * FROM read_csv(?, header=true, all_varchar=true)", [sys.argv[1]])
con.execute("""CREATE TABLE t AS SELECT partner, person_id, CAST(referral_date AS DATE) AS referral,
    TRY_CAST(NULLIF(first_contact_date, '') AS DATE) AS contact, gender, CAST(age AS INT) AS age,
    region, service_type, NULLIF(outcome_improved, '') AS improved FROM r""")
q = "strftime(referral, '%Y') || '-Q' || CAST((month(referral) + 2) // 3 AS VARCHAR)"
h = "strftime(referral, '%Y') || '-H' || CAST((month(referral) + 5) // 6 AS VARCHAR)"
band = "CASE WHEN age < 18 THEN '<18' WHEN age < 30 THEN '18-29' WHEN age < 45 THEN '30-44' WHEN age < 65 THEN '45-64' ELSE '65+' END"
out = []
def emit(ind, period_expr, value_expr, dims, where="TRUE"):
    levels = [None] + dims
    for d in levels:
        if d is None:
            sql = f"SELECT {period_expr}, '', {value_expr} FROM t WHERE {where} GROUP BY 1"
        else:
            expr = band if d == "age_band" else d
            sql = f"SELECT {period_expr}, '{d}=' || {expr}, {value_expr} FROM t WHERE {where} GROUP BY 1, 2"
        for p, b, v in con.execute(sql).fetchall():
            out.append(f"{ind}\t{p}\t{b}\t{v!r}")
emit("referrals", q, "COUNT(*)", ["service_type", "partner"])
emit("people_reached", q, "COUNT(DISTINCT person_id)", ["region", "gender", "age_band", "partner"])
emit("contact_within_week", q,
     "100.0 * COUNT(*) FILTER (WHERE contact IS NOT NULL AND contact <= referral + INTERVAL 7 DAY) / COUNT(*)",
     ["region", "service_type"])
emit("improved", h,
     "100.0 * COUNT(*) FILTER (WHERE improved = 'true') / NULLIF(COUNT(*) FILTER (WHERE improved IS NOT NULL), 0)",
     ["service_type"])
print("\n".join(out))
"#;
    let o = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&raw_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs = String::from_utf8_lossy(&o.stdout);
    let status = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["status", "--workspace"])
        .arg(ws)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    let mut compared = 0;
    for line in theirs.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let Ok(v) = c[3].parse::<f64>() else { continue };
        let key = (c[0].to_owned(), c[1].to_owned(), c[2].to_owned());
        let ours = ours
            .get(&key)
            .unwrap_or_else(|| panic!("backbone has no value for {key:?} (DuckDB: {v})"));
        assert!(
            (ours - v).abs() <= 1e-6 * v.abs().max(1.0),
            "{key:?}: backbone {ours}, DuckDB {v}\n{status}"
        );
        compared += 1;
    }
    // Every cell of every compared indicator, totals and breakdowns: referrals 2 quarters ×
    // (1 + 5 services + 4 partners), people reached 2 × (1 + 6 regions + 3 genders + 5 age
    // bands + 4 partners), contact within a week 2 × (1 + 6 + 5), improved 1 half × (1 + 5).
    assert_eq!(compared, 20 + 38 + 24 + 6);
}
