//! End to end: files ingested with `backbone ingest`, then `backbone check`, `metrics` and
//! `explain` on the same workspace.

use crate::common::root;

use std::path::Path;
use std::process::{Command, Output};

fn backbone(ws: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(args)
        .arg("--workspace")
        .arg(ws)
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    let p = ws.path();
    for d in ["data-schemas", "pipelines/indicators"] {
        std::fs::create_dir_all(p.join(d)).unwrap();
    }
    for f in [
        "data-schemas/service_records.json",
        "data-schemas/population.json",
        "data-schemas/backbone_activity.json",
        "data-schemas/referrals_by_region.json",
        "pipelines/initiative.toml",
        "pipelines/indicators/service.toml",
    ] {
        std::fs::copy(root().join(f), p.join(f)).unwrap();
    }
    ws
}

#[test]
fn ingest_then_metrics_then_explain() {
    let ws = workspace();
    let ws = ws.path();
    assert!(ok(backbone(ws, &["check"])).contains("all consistent"));
    // A schema written for other tools, with properties outside the standard: it loads,
    // and check names each property it ignores.
    let schema_file = ws.join("data-schemas/service_records.json");
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_file).unwrap()).unwrap();
    schema["tablename"] = "services".into();
    schema["fields"][0]["constraints"]["requird"] = true.into();
    std::fs::write(&schema_file, schema.to_string()).unwrap();
    let out = ok(backbone(ws, &["check"]));
    assert!(out.contains("all consistent"), "{out}");
    assert!(
        out.contains(
            "note: data-schemas/service_records.json: $.tablename: not a property backbone acts on"
        ),
        "{out}"
    );
    assert!(out.contains("$.fields[0].constraints.requird"), "{out}");
    // A language backbone's words do not ship in: its texts load, and check says what it
    // will not get.
    let init = ws.join("pipelines/initiative.toml");
    let before = std::fs::read_to_string(&init).unwrap();
    let with_ru = before.replace(
        "languages = [\"he\", \"en\", \"ar\"]",
        "languages = [\"he\", \"en\", \"ar\", \"ru\"]",
    );
    assert_ne!(with_ru, before);
    std::fs::write(&init, with_ru).unwrap();
    let out = ok(backbone(ws, &["check"]));
    assert!(out.contains("all consistent"), "{out}");
    assert!(
        out.contains("languages: \"ru\": its texts are kept, but backbone's own words (report, receipts, portal) ship in he, en, ar"),
        "{out}"
    );
    std::fs::write(&init, before).unwrap();
    let clinic = root().join("tests/fixtures/files/clinic_windows1255.csv");
    let welfare = root().join("tests/fixtures/files/welfare_title_rows.xlsx");
    let population = root().join("pipelines/reference/population.csv");
    for (file, partner, schema, period) in [
        (&clinic, "clinic", "service_records", "2024-01"),
        (&welfare, "welfare", "service_records", "2024-01"),
        (&population, "cbs", "population", "2024"),
    ] {
        ok(backbone(
            ws,
            &[
                "ingest",
                file.to_str().unwrap(),
                "--partner",
                partner,
                "--schema",
                schema,
                "--period",
                period,
            ],
        ));
    }
    let said = ok(backbone(ws, &["metrics"]));
    assert!(
        said.contains("from store version population@1;service_records@2"),
        "{said}"
    );
    let csv = std::fs::read(ws.join("results/indicators.csv")).unwrap();
    assert!(csv.starts_with("\u{feff}indicator,period,breakdown,value,numerator,denominator,suppressed,coverage,baseline,target,status,store_version,definition\n".as_bytes()));
    let csv = String::from_utf8(csv).unwrap();
    // Few rows in the fixtures: with the threshold of 10 every count is suppressed, and
    // suppressed cells keep their row, with no value.
    let total = csv
        .lines()
        .find(|l| l.starts_with("referrals,2024-Q1,,"))
        .unwrap_or_else(|| panic!("{csv}"));
    assert!(total.contains(",true,"), "{total}");
    assert!(ws.join("results/indicators.parquet").is_file());
    let completeness = std::fs::read_to_string(ws.join("results/completeness.csv")).unwrap();
    assert!(
        completeness.contains("clinic,service_records,2024-01,2024-02-15,"),
        "{completeness}"
    );
    let quality = std::fs::read_to_string(ws.join("results/quality.csv")).unwrap();
    assert!(quality.contains("clinic_windows1255.csv"), "{quality}");
    assert!(quality.contains("type-error"), "{quality}");

    // A rerun changes nothing; a resubmission changes values, and changes.csv says which
    // and after which submission.
    assert!(ok(backbone(ws, &["metrics"])).contains("no value changed"));
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("clinic_fixed.csv");
    let mut text = String::from("מספר רשומה,תעודת זהות,תאריך הפניה,אזור,סוג שירות\n");
    for i in 0..12 {
        text.push_str(&format!(
            "C01-{i:04},{},0{}/01/2024,חיפה,ייעוץ\n",
            300_000_000 + i,
            1 + i % 9
        ));
    }
    std::fs::write(&fixed, text).unwrap();
    ok(backbone(
        ws,
        &[
            "ingest",
            fixed.to_str().unwrap(),
            "--partner",
            "clinic",
            "--schema",
            "service_records",
            "--period",
            "2024-01",
        ],
    ));
    let said = ok(backbone(ws, &["metrics"]));
    assert!(
        said.contains("value(s) changed since the previous results, after 1 new submission(s)"),
        "{said}"
    );
    // That was incremental: only the periods holding the changed rows (January's) were
    // recomputed, and the result is the same, byte for byte, as a full computation.
    assert!(
        said.contains("incremental:") && said.contains("(changed months: 2024-01)"),
        "{said}"
    );
    let full = tempfile::tempdir().unwrap();
    ok(backbone(
        ws,
        &["metrics", "--full", "--out", full.path().to_str().unwrap()],
    ));
    // basis.json: the same version and declarations, and the same means per submission
    // (the incremental run read only the new submission's rows for them).
    for f in [
        "indicators.csv",
        "completeness.csv",
        "quality.csv",
        "basis.json",
    ] {
        assert_eq!(
            std::fs::read_to_string(ws.join("results").join(f)).unwrap(),
            std::fs::read_to_string(full.path().join(f)).unwrap(),
            "{f}: incremental and full differ"
        );
    }
    let changes = std::fs::read_to_string(ws.join("results/changes.csv")).unwrap();
    assert!(changes.contains("referrals,2024-Q1,,"), "{changes}");
    assert!(
        changes.contains("(replaces clinic-service_records-2024-01-"),
        "{changes}"
    );

    // Lineage: the rows behind a value, by submission.
    let explained = ok(backbone(ws, &["explain", "referrals", "2024-Q1"]));
    assert!(
        explained.contains("clinic") && explained.contains("clinic_fixed.csv"),
        "{explained}"
    );
    assert!(explained.contains("12 row(s)"), "{explained}");
    assert!(explained.contains("welfare_title_rows.xlsx"), "{explained}");
}

#[test]
fn check_names_the_file_and_key_of_each_problem() {
    let ws = workspace();
    let ws = ws.path();
    std::fs::write(
        ws.join("pipelines/indicators/broken.toml"),
        r#"
[[indicator]]
id = "broken"
label = { en = "Broken" }
schema = "service_records"
kind = "distinct_count"
date_field = "region"
grain = "quarter"
dimensions = ["hair_colour"]
"#,
    )
    .unwrap();
    let o = backbone(ws, &["check"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("broken.toml: indicator[0] (broken).field: a distinct_count needs the field"),
        "{out}"
    );
    assert!(
        out.contains(
            "broken.toml: indicator[0] (broken).date_field: \"region\" is not a date field"
        ),
        "{out}"
    );
    assert!(
        out.contains("(broken).dimensions: \"hair_colour\" is neither a field of service_records"),
        "{out}"
    );
    // metrics refuses to run on broken declarations, and says why.
    let o = backbone(ws, &["metrics"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("backbone check"));
}
