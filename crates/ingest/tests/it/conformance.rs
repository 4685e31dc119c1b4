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
                // A header problem: ours names the header's row, frictionless no row.
                if e.kind.is_label() {
                    0
                } else {
                    e.row_number.unwrap_or(0)
                },
                // frictionless names no field for a cell beyond the header, nor for a
                // repeated primary key (a row's, not a column's).
                if matches!(
                    e.kind,
                    backbone_ingest::ErrorType::ExtraCell | backbone_ingest::ErrorType::PrimaryKey
                ) {
                    String::new()
                } else {
                    e.field_name.clone().unwrap_or_default()
                },
            )
        })
        .collect()
}

/// Where backbone deliberately finds more than frictionless-py 5.21 does: (type, row, field)
/// found by ours only, each with why.
type Differs = &'static [(&'static str, u64, &'static str)];

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
    let v2 = |name: &'static str| {
        (
            format!("conformance/v2/{name}.csv"),
            format!("conformance/v2/{name}.json"),
        )
    };
    let mut cases: Vec<((String, String), Differs)> = vec![
        (("files/plain.csv".into(), "schemas/plain.json".into()), &[]),
        // 3 000 rows of the peers' generated partner file, with its own frictionless schema.
        (
            (
                "conformance/service_records_3k.csv".into(),
                "conformance/service_records_schema.json".into(),
            ),
            &[],
        ),
        // Table Schema v2, feature by feature: every type and its formats (NaN, nan, INF in
        // any case; datetime `any` with `T`, `Z` and offsets; string formats email, uri,
        // uuid, binary).
        (v2("types"), &[]),
        // Constraints, each broken once (NaN breaks a range), with schema missingValues.
        (v2("constraints"), &[]),
        // primaryKey and uniqueKeys. frictionless-py 5.21 neither makes a primary-key field
        // required (the standard does) nor checks uniqueKeys (v2 does): ours reports both.
        (
            v2("keys"),
            &[
                ("constraint-error", 5, "region"),
                ("unique-error", 7, "person"),
                ("unique-error", 8, "person"),
            ],
        ),
    ];
    // fieldsMatch, each mode against a header in order with one column too many, a header
    // by name in another order, and another table's header.
    for mode in ["exact", "equal", "subset", "superset", "partial"] {
        for file in ["match_exact", "match_names", "match_none"] {
            cases.push((
                (
                    format!("conformance/v2/{file}.csv"),
                    format!("conformance/v2/match_{mode}.json"),
                ),
                &[],
            ));
        }
    }
    for ((file, schema), differs) in cases {
        let (file, schema) = (dir.join(&file), dir.join(&schema));
        let theirs = theirs(&exe, &file, &schema);
        let mut ours = ours(&file, &schema);
        for d in differs {
            let d = (d.0.to_owned(), d.1, d.2.to_owned());
            assert!(
                ours.remove(&d),
                "{}: the deliberate difference {d:?} is gone",
                file.display()
            );
        }
        assert_eq!(
            ours,
            theirs,
            "\n{} against {}\nonly ours: {:?}\nonly theirs: {:?}",
            file.display(),
            schema.display(),
            ours.difference(&theirs).collect::<Vec<_>>(),
            theirs.difference(&ours).collect::<Vec<_>>()
        );
    }
}
