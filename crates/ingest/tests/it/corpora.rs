//! Every file of `../shared/corpora/realfiles/` (other projects' reader test suites), when
//! that folder is present: read to a report or refused with one line, never a panic. Skips,
//! saying so, where the folder is absent (a fresh clone elsewhere).

use std::panic::{AssertUnwindSafe, catch_unwind};

use backbone_ingest::{Options, validate_file};
use backbone_schema::TableSchema;

#[test]
fn no_file_of_other_projects_suites_panics() {
    let root = backbone_testkit::crate_dir().join("../../../shared/corpora/realfiles");
    let Ok(manifest) = std::fs::read_to_string(root.join("manifest.json")) else {
        eprintln!("SKIPPED: {} is not here", root.display());
        return;
    };
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    // A schema any table fits a little: one optional text field.
    let schema = TableSchema::from_json_str(r#"{"fields": [{"name": "id"}]}"#, "any.json").unwrap();
    let mut panicked = Vec::new();
    let (mut read, mut refused, mut one_line) = (0, 0, 0);
    for entry in manifest.as_array().unwrap() {
        let file = root.join(entry["file"].as_str().unwrap());
        if !file.is_file() {
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| {
            validate_file(&file, &schema, &Options::default())
        })) {
            Ok(Ok(_)) => read += 1,
            Ok(Err(e)) => {
                refused += 1;
                if !e.to_string().contains('\n') {
                    one_line += 1;
                }
            }
            Err(_) => panicked.push(file.display().to_string()),
        }
    }
    eprintln!("{read} read, {refused} refused ({one_line} in one line)");
    assert!(read > 400, "only {read} files read");
    assert!(panicked.is_empty(), "panicked on: {panicked:#?}");
    assert_eq!(refused, one_line, "every refusal is one line");
    // An .xls from R's writer, code page 1252 declared over UTF-16 text: the library reads
    // a NUL between letters ('m\0p\0g\0'), which no header would match.
    let mtcars = TableSchema::from_json_str(
        r#"{"fields": [{"name": "mpg", "type": "number"}, {"name": "cyl", "type": "integer"}]}"#,
        "mtcars.json",
    )
    .unwrap();
    let report = validate_file(
        &root.join("readxl/mtcars.xls"),
        &mtcars,
        &Options::default(),
    )
    .unwrap();
    assert_eq!((report.stats.rows, report.stats.accepted), (6, 6));
}
