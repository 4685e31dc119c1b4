//! End to end: the `backbone` binary on partner files, as a data manager or a script runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    backbone_testkit::crate_dir().join("../..")
}

fn backbone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

const SCHEMA: &str = "tests/fixtures/schemas/service_records.json";

#[test]
fn valid_file_exits_0_invalid_1_unreadable_2() {
    let ok = backbone(&[
        "validate",
        "tests/fixtures/files/shelter_utf16_tab.tsv",
        "--schema",
        SCHEMA,
    ]);
    assert_eq!(code(&ok), 0, "{}", String::from_utf8_lossy(&ok.stdout));
    let bad = backbone(&[
        "validate",
        "tests/fixtures/files/clinic_windows1255.csv",
        "--schema",
        SCHEMA,
    ]);
    assert_eq!(code(&bad), 1);
    let missing = backbone(&[
        "validate",
        "tests/fixtures/files/nope.csv",
        "--schema",
        SCHEMA,
    ]);
    assert_eq!(code(&missing), 2);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with("backbone: cannot read tests/fixtures/files/nope.csv"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let usage = backbone(&["validate", "tests/fixtures/files/plain.csv"]);
    assert_eq!(code(&usage), 2);
}

#[test]
fn json_report_has_the_frictionless_shape() {
    let o = backbone(&[
        "validate",
        "tests/fixtures/files/welfare_title_rows.xlsx",
        "--schema",
        SCHEMA,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["valid"], false);
    assert_eq!(r["stats"]["rows"], 6);
    let e = &r["errors"][0];
    for key in [
        "type",
        "rowNumber",
        "fieldName",
        "fieldNumber",
        "cell",
        "message",
        "severity",
        "sheet",
        "cellRef",
    ] {
        assert!(e.get(key).is_some(), "error without {key}: {e}");
    }
    assert_eq!(e["cellRef"], "C7");
    assert_eq!(e["sheet"], "נתונים");
}

#[test]
fn personal_data_never_reaches_the_report() {
    for format in ["text", "json"] {
        let o = backbone(&[
            "validate",
            "tests/fixtures/files/clinic_windows1255.csv",
            "--schema",
            SCHEMA,
            "--format",
            format,
        ]);
        let out = String::from_utf8_lossy(&o.stdout);
        // Row 11's id is too short; the report says so without echoing it.
        assert!(out.contains("Row 11"), "{out}");
        for id in ["012345678", "323456789", "\"123\""] {
            assert!(
                !out.contains(id),
                "{format} report shows personal data {id}"
            );
        }
    }
}

#[test]
fn profile_and_schema_by_name() {
    let o = backbone(&[
        "validate",
        "tests/fixtures/files/hotline_bom_semicolon.csv",
        "--schema",
        "service_records",
        "--profile",
        "tests/fixtures/profiles/hotline.toml",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("delimiter \";\""), "{out}");
    assert!(
        out.contains("\"7.5\" is not a number such as 1.234,5"),
        "{out}"
    );
}

#[test]
fn broken_schema_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("s.json");
    std::fs::write(&schema, r#"{"fields": [{"name": "a", "type": "integr"}]}"#).unwrap();
    let o = backbone(&[
        "validate",
        "tests/fixtures/files/plain.csv",
        "--schema",
        schema.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("$.fields[0].type: type \"integr\" is not supported"),
        "{err}"
    );
}

#[test]
fn unreadable_file_in_json_mode_still_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("empty.csv");
    std::fs::write(&f, "").unwrap();
    let o = backbone(&[
        "validate",
        f.to_str().unwrap(),
        "--schema",
        SCHEMA,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 2);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["valid"], false);
    assert_eq!(r["errors"][0]["type"], "source-error");
}
