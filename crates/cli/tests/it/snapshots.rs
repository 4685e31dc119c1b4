//! What the data manager reads, held as snapshots (insta): the night's summary, `status`, and
//! the refusals of a file that cannot be placed. Times and the temporary folder are written
//! as `<s>` and `WS` so the snapshot is the same on every machine.

use std::path::Path;

use crate::common::{backbone_at, example_workspace, root, text};

const CLOCK: &str = "2024-02-20T22:00:00Z";

/// The text with the workspace's folder and the measured seconds replaced.
fn steady(text: &str, ws: &Path) -> String {
    let ws = ws.display().to_string();
    text.replace(&ws, "WS")
        .split('\n')
        .map(|line| {
            // "… 3 file(s) in 1.2 s" (the summary) and "… 3 file(s), 1.2 s" (the last runs):
            // only the seconds vary.
            for mark in [" file(s) in ", " file(s), "] {
                if let Some(at) = line.find(mark) {
                    let rest = &line[at + mark.len()..];
                    let end = rest.find(" s").unwrap_or(rest.len());
                    return format!("{}{mark}<seconds>{}", &line[..at], &rest[end..]);
                }
            }
            line.to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn drop_in(ws: &Path, partner: &str, fixture: &str, name: &str) {
    let dir = ws.join("inbox").join(partner);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/files").join(fixture),
        dir.join(name),
    )
    .unwrap();
}

#[test]
fn the_nights_summary_and_status() {
    let ws = example_workspace();
    let ws = ws.path();
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    drop_in(
        ws,
        "legal_aid",
        "clinic_windows1255.csv",
        "legal_aid_2023-12.csv",
    );
    drop_in(ws, "police", "police_1904.xlsx", "police_export.xlsx");
    std::fs::write(ws.join("inbox/stray.csv"), "a,b\n1,2\n").unwrap();
    let o = backbone_at(ws, &["run"], CLOCK);
    assert!(o.status.success(), "{}", text(&o));
    insta::assert_snapshot!(
        "run_summary",
        steady(&String::from_utf8_lossy(&o.stdout), ws)
    );
    let o = backbone_at(ws, &["status"], CLOCK);
    assert!(o.status.success(), "{}", text(&o));
    insta::assert_snapshot!("status", steady(&String::from_utf8_lossy(&o.stdout), ws));
}

#[test]
fn ingest_refusals() {
    let ws = example_workspace();
    let ws = ws.path();
    let file = root().join("tests/fixtures/files/clinic_windows1255.csv");
    let file = file.to_str().unwrap();
    let mut said = Vec::new();
    for (partner, schema, period) in [
        ("clinc", "service_records", "2024-01"),
        ("clinic", "service_records", "2024-Q1"),
        ("clinic", "service_records", "2023-12"),
        ("clinic", "backbone_activity", "2024-Q1"),
        ("cbs", "population", "2024/01"),
        ("../x", "service_records", "2024-01"),
    ] {
        let o = backbone_at(
            ws,
            &[
                "ingest",
                file,
                "--partner",
                partner,
                "--schema",
                schema,
                "--period",
                period,
            ],
            CLOCK,
        );
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        said.push(format!(
            "{partner} {schema} {period}: {}",
            steady(String::from_utf8_lossy(&o.stderr).trim(), ws)
        ));
    }
    insta::assert_snapshot!("ingest_refusals", said.join("\n"));
}
