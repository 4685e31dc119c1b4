//! Conformance with frictionless-py: on the CSV fixtures whose schemas use no extension, both
//! tools must find the same problems, as the set of (type, rowNumber, fieldName).
//!
//! frictionless is found through `$BACKBONE_FRICTIONLESS` (the executable) or on `PATH`;
//! `.ci/run` installs it from PyPI. Without it the test fails under CI and is skipped, loudly,
//! on a developer's machine.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use backbone_ingest::{Options, validate_file};
use backbone_schema::TableSchema;

type Key = (String, u64, String);

fn frictionless() -> Option<String> {
    backbone_testkit::program("BACKBONE_FRICTIONLESS", "frictionless")
        .map(|p| p.display().to_string())
}

fn theirs(exe: &str, file: &Path, schema: &Path) -> BTreeSet<Key> {
    let out = Command::new(exe)
        .args([
            "validate",
            "--json",
            "--trusted",
            "--limit-errors",
            "100000",
            "--schema",
        ])
        .arg(schema)
        .arg(file)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "frictionless printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let task = &report["tasks"][0];
    task["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["rowNumber"].as_u64().unwrap_or(0),
                e["fieldName"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn ours(file: &Path, schema: &Path) -> BTreeSet<Key> {
    let schema = TableSchema::load(schema).unwrap();
    let report = validate_file(file, &schema, &Options::default()).unwrap();
    report
        .errors
        .iter()
        .map(|e| {
            (
                e.kind.code().to_owned(),
                e.row_number.unwrap_or(0),
                // frictionless names no field for a cell beyond the header.
                if e.kind == backbone_ingest::ErrorType::ExtraCell {
                    String::new()
                } else {
                    e.field_name.clone().unwrap_or_default()
                },
            )
        })
        .collect()
}

#[test]
fn same_problems_as_frictionless_py() {
    let Some(exe) = backbone_testkit::outside_tool(
        "frictionless-py",
        "BACKBONE_FRICTIONLESS, or `frictionless` on the PATH",
        frictionless(),
    ) else {
        return;
    };
    let dir = backbone_testkit::crate_dir().join("../../tests/fixtures");
    let cases = [
        ("files/plain.csv", "schemas/plain.json"),
        // 3 000 rows of the peers' generated partner file, with its own frictionless schema.
        (
            "conformance/service_records_3k.csv",
            "conformance/service_records_schema.json",
        ),
    ];
    for (file, schema) in cases {
        let (file, schema) = (dir.join(file), dir.join(schema));
        let theirs = theirs(&exe, &file, &schema);
        let ours = ours(&file, &schema);
        assert!(!theirs.is_empty(), "the fixture should have problems");
        assert_eq!(
            ours,
            theirs,
            "\nonly ours: {:?}\nonly theirs: {:?}",
            ours.difference(&theirs).collect::<Vec<_>>(),
            theirs.difference(&ours).collect::<Vec<_>>()
        );
    }
}
