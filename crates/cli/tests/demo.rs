//! The README's first command: `backbone demo` on a fresh directory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

#[test]
fn demo_validates_the_example_inbox_and_writes_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("demo");
    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .arg("demo")
        .arg(&ws)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("31 rows read, 13 accepted, 17 rejected."),
        "{out}"
    );
    let receipt =
        std::fs::read_to_string(ws.join("receipts/clinic/clinic_windows1255.csv.txt")).unwrap();
    assert!(
        receipt.starts_with("accepted with problems: clinic/clinic_windows1255.csv"),
        "{receipt}"
    );
    assert!(
        receipt.contains("\"31/02/2024\" is not a real date"),
        "{receipt}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.join("receipts/hotline/hotline_bom_semicolon.csv.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["source"]["delimiter"], ";");
    // Running it again over the same directory gives the same receipts.
    let again = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .arg("demo")
        .arg(&ws)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), out);
}
