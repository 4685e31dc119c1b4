//! End to end: `backbone ingest` into a temporary workspace, read back by backbone and by an
//! outside Delta reader.

use crate::common::{root, stored_ids};

use std::path::Path;
use std::process::{Command, Output};

use backbone_store::Store;

fn backbone(ws: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(args)
        .arg("--workspace")
        .arg(ws)
        .output()
        .unwrap()
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data-schemas")).unwrap();
    std::fs::copy(
        root().join("data-schemas/service_records.json"),
        dir.path().join("data-schemas/service_records.json"),
    )
    .unwrap();
    dir
}

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/files")
        .join(name)
        .display()
        .to_string()
}

fn ingest(ws: &Path, file: &str, partner: &str, period: &str) -> Output {
    let o = backbone(
        ws,
        &[
            "ingest",
            file,
            "--partner",
            partner,
            "--schema",
            "service_records",
            "--period",
            period,
        ],
    );
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn ingest_resubmit_and_rerun() {
    let ws = workspace();
    let ws = ws.path();
    let first = ingest(ws, &fixture("clinic_windows1255.csv"), "clinic", "2024-01");
    assert!(
        String::from_utf8_lossy(&first.stdout)
            .contains("stored as submission clinic-service_records-2024-01-")
    );
    assert_eq!(stored_ids(ws, None), ["C01-0001"]);

    // Same bytes again: nothing changes.
    let again = ingest(ws, &fixture("clinic_windows1255.csv"), "clinic", "2024-01");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("the same bytes were ingested before"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // Another partner, then the clinic's corrected file for the same period replaces its rows.
    ingest(
        ws,
        &fixture("hotline_bom_semicolon.csv"),
        "hotline",
        "2024-01",
    );
    let before = Store::open(&ws.join("store"))
        .unwrap()
        .version("service_records")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("clinic_fixed.csv");
    std::fs::write(&fixed, "מספר רשומה,תעודת זהות,תאריך הפניה,אזור,סוג שירות\nC01-0001,012345678,03/01/2024,חיפה,ייעוץ\nC01-0002,223456789,02/02/2024,צפון,counseling\n").unwrap();
    let third = ingest(ws, fixed.to_str().unwrap(), "clinic", "2024-01");
    assert!(
        String::from_utf8_lossy(&third.stdout)
            .contains(", replacing clinic-service_records-2024-01-")
    );
    let mut now = stored_ids(ws, None);
    now.retain(|i| i.starts_with("C01"));
    assert_eq!(now, ["C01-0001", "C01-0002"]);
    // The old version still reads as it was.
    let mut old = stored_ids(ws, before);
    old.retain(|i| i.starts_with("C01"));
    assert_eq!(old, ["C01-0001"]);

    let status = String::from_utf8_lossy(&backbone(ws, &["status"]).stdout).into_owned();
    let table: Vec<&str> = status.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(table.len(), 4, "{status}");
    // The fixed file sends fewer columns than the first: status says which.
    assert!(
        status.contains("partners' files that changed since their previous one")
            && status.contains("column \"דקות\" no longer sent"),
        "{status}"
    );
    assert!(
        status.contains("(replaces clinic-service_records-2024-01-"),
        "{status}"
    );
    let history =
        String::from_utf8_lossy(&backbone(ws, &["history", "--schema", "service_records"]).stdout)
            .into_owned();
    assert!(history.contains("CREATE TABLE"), "{history}");
    assert!(
        history.contains(
            "clinic 2024-01 clinic_fixed.csv: 2 rows in, clinic-service_records-2024-01-"
        ),
        "{history}"
    );
}

#[test]
fn personal_data_never_reaches_the_store() {
    let ws = workspace();
    let ws = ws.path();
    ingest(
        ws,
        &fixture("welfare_title_rows.xlsx"),
        "welfare",
        "2024-Q1",
    );
    ingest(ws, &fixture("clinic_windows1255.csv"), "clinic", "2024-01");
    // The whole store: data tables, rejects, the ledger's mirror, caches. (The raw files are
    // archived outside it, in `archive/`.)
    assert!(ws.join("archive").is_dir());
    let mut files = vec![ws.join("store")];
    let mut seen = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        seen += 1;
        let bytes = std::fs::read(&p).unwrap();
        for raw in ["23456789", "012345678", "12345678"] {
            assert!(
                !bytes.windows(raw.len()).any(|w| w == raw.as_bytes()),
                "{} holds {raw}",
                p.display()
            );
        }
    }
    assert!(seen > 3);
    // The secret key is the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ws.join(".backbone/secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_file_rejected_outright_is_recorded_and_changes_no_data() {
    let ws = workspace();
    let ws = ws.path();
    ingest(ws, &fixture("clinic_windows1255.csv"), "clinic", "2024-01");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("wrong.csv");
    std::fs::write(&bad, "x,y\n1,2\n").unwrap();
    let o = ingest(ws, bad.to_str().unwrap(), "clinic", "2024-01");
    assert!(String::from_utf8_lossy(&o.stdout).contains("no row was stored"));
    assert_eq!(stored_ids(ws, None), ["C01-0001"]);
    let status = String::from_utf8_lossy(&backbone(ws, &["status"]).stdout).into_owned();
    assert!(status.contains("wrong.csv"), "{status}");
}

/// An engine that is not backbone reads the same rows, now and at an older version.
#[test]
fn an_outside_reader_sees_the_same_store() {
    let Some(python) = backbone_testkit::outside_tool(
        "a Python with the deltalake package",
        "BACKBONE_PY_DELTALAKE",
        std::env::var("BACKBONE_PY_DELTALAKE")
            .ok()
            .filter(|p| Path::new(p).exists()),
    ) else {
        return;
    };
    let ws = workspace();
    let ws = ws.path();
    ingest(ws, &fixture("clinic_windows1255.csv"), "clinic", "2024-01");
    ingest(
        ws,
        &fixture("hotline_bom_semicolon.csv"),
        "hotline",
        "2024-01",
    );
    let table = ws.join("store/tables/service_records");
    let script = r#"
import os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1], version=int(sys.argv[2]) if len(sys.argv) > 2 else None)
ids = sorted(t.to_pyarrow_table(columns=["record_id"]).column("record_id").to_pylist())
print(",".join(ids), flush=True)
# deltalake 1.6.6 aborts in its runtime's teardown at interpreter exit ("terminate called
# without an active exception") after doing its work: leave without that teardown.
os._exit(0)
"#;
    let run = |version: Option<u64>| -> String {
        let mut c = Command::new(&python);
        c.arg("-c").arg(script).arg(&table);
        if let Some(v) = version {
            c.arg(v.to_string());
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(run(None), stored_ids(ws, None).join(","));
    assert_eq!(run(Some(1)), stored_ids(ws, Some(1)).join(","));
    assert_eq!(run(Some(1)), "C01-0001");
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn rejected_rows_are_kept_with_their_problems_and_any_version_can_be_exported() {
    let ws = workspace();
    let ws = ws.path();
    ingest(ws, &fixture("clinic_windows1255.csv"), "clinic", "2024-01");
    // Without its profile the hotline's file matches no column: rejected outright.
    ingest(
        ws,
        &fixture("hotline_bom_semicolon.csv"),
        "hotline",
        "2024-01",
    );
    ingest(
        ws,
        &fixture("welfare_title_rows.xlsx"),
        "welfare",
        "2024-Q1",
    );

    // Every problem of every rejected row, with its submission and physical row number.
    let rejects = backbone(ws, &["export", "rejects"]);
    assert!(
        rejects.status.success(),
        "{}",
        String::from_utf8_lossy(&rejects.stderr)
    );
    let rejects = text(&rejects);
    let header = rejects.lines().next().unwrap();
    assert_eq!(
        header,
        "submission_id,schema,partner,period,row_number,error_type,field,cell,message"
    );
    // Row 3 of the clinic's file has 31/02/2024 as its referral date.
    let feb31 = rejects
        .lines()
        .find(|l| l.contains(",3,") && l.contains("referral_date"))
        .unwrap_or_else(|| panic!("no reject for row 3's date:\n{rejects}"));
    assert!(
        feb31.starts_with("clinic-service_records-2024-01-"),
        "{feb31}"
    );
    assert!(feb31.contains("31/02/2024"), "{feb31}");
    // A personal-data cell is never kept, even when it is what is wrong (row 11: "123").
    let id_problem = rejects
        .lines()
        .find(|l| l.contains(",11,") && l.contains("person_id"))
        .unwrap_or_else(|| panic!("no reject for row 11's person id:\n{rejects}"));
    assert!(!id_problem.contains(",123,"), "{id_problem}");
    // Every rejected row of the clinic's file is there (the report counts them).
    let store = Store::open(&ws.join("store")).unwrap();
    let clinic = &store.submissions("service_records", None).unwrap()[0];
    let mut rows: Vec<&str> = rejects
        .lines()
        .skip(1)
        .filter(|l| l.starts_with(&clinic.id))
        .map(|l| l.split(',').nth(4).unwrap())
        .collect();
    rows.dedup();
    assert_eq!(rows.len() as u64, clinic.rows_rejected, "{rejects}");

    // The ledger, mirrored as a table for outside readers.
    let ledger = text(&backbone(ws, &["export", "submissions"]));
    assert_eq!(ledger.lines().count(), 4, "{ledger}");
    assert!(
        ledger.contains("clinic_windows1255.csv") && ledger.contains("hotline_bom_semicolon.csv")
    );

    // --as-of: the table and the ledger as they were after the first submission.
    let v1 = text(&backbone(
        ws,
        &["export", "service_records", "--as-of", "1"],
    ));
    assert_eq!(v1.lines().count(), 2, "{v1}");
    assert!(v1.contains("C01-0001"));
    let now = text(&backbone(ws, &["export", "service_records"]));
    assert!(now.lines().count() > 2);
    let status = text(&backbone(
        ws,
        &["status", "--schema", "service_records", "--as-of", "1"],
    ));
    assert!(
        status.contains("clinic") && !status.contains("hotline"),
        "{status}"
    );
    let history = text(&backbone(
        ws,
        &["history", "--schema", "service_records", "--as-of", "1"],
    ));
    assert_eq!(history.lines().count(), 3, "{history}");

    // A version that does not exist is a clear error, not an empty answer.
    let missing = backbone(ws, &["export", "service_records", "--as-of", "99"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("table service_records has no version 99"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// Two ingests at the same moment: both land (different partners), or one finds the other's
/// identical commit (same file); nothing half-written either way.
#[test]
fn concurrent_ingests_both_land_or_say_why() {
    let ws = workspace();
    let ws = ws.path();
    // The table exists before the race (creating it is a race of its own, tested below).
    ingest(ws, &fixture("clinic_windows1255.csv"), "clinic", "2023-12");
    let spawn = |file: String, partner: &str| {
        Command::new(env!("CARGO_BIN_EXE_backbone"))
            .args([
                "ingest",
                &file,
                "--partner",
                partner,
                "--schema",
                "service_records",
                "--period",
                "2024-01",
                "--workspace",
            ])
            .arg(ws)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    for round in 0..3 {
        let partners: Vec<String> = (0..4).map(|i| format!("p{round}{i}")).collect();
        let children: Vec<_> = partners
            .iter()
            .map(|p| spawn(fixture("welfare_title_rows.xlsx"), p))
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let store = Store::open(&ws.join("store")).unwrap();
    let ledger = store.submissions("service_records", None).unwrap();
    assert_eq!(ledger.len(), 1 + 12);
    // Versions are consecutive and each submission has its own.
    let versions: Vec<u64> = ledger.iter().map(|s| s.table_version.unwrap()).collect();
    assert_eq!(versions, (1..=13).collect::<Vec<_>>());
    let stored = stored_ids(ws, None).len();
    let single = {
        let w = workspace();
        ingest(
            w.path(),
            &fixture("welfare_title_rows.xlsx"),
            "x",
            "2024-01",
        );
        stored_ids(w.path(), None).len()
    };
    assert!(single >= 1);
    assert_eq!(stored, 1 + 12 * single);

    // The same file, the same partner and period, three times at once: one submission.
    let children: Vec<_> = (0..3)
        .map(|_| spawn(fixture("police_1904.xlsx"), "police"))
        .collect();
    let mut said = String::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        said.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    let ledger = store.submissions("service_records", None).unwrap();
    assert_eq!(
        ledger.iter().filter(|s| s.partner == "police").count(),
        1,
        "{said}"
    );

    // And the ledger's mirror caught up with all of it, each entry once.
    let mirrored: usize = store
        .read_ledger_table()
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(mirrored, ledger.len());
}

/// Two ingests into a store that has no table yet: one creates it, both land.
#[test]
fn concurrent_first_ingests_create_the_table_once() {
    let ws = workspace();
    let ws = ws.path();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|p| {
            Command::new(env!("CARGO_BIN_EXE_backbone"))
                .args([
                    "ingest",
                    &fixture("clinic_windows1255.csv"),
                    "--partner",
                    p,
                    "--schema",
                    "service_records",
                    "--period",
                    "2024-01",
                    "--workspace",
                ])
                .arg(ws)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let store = Store::open(&ws.join("store")).unwrap();
    assert_eq!(store.submissions("service_records", None).unwrap().len(), 2);
}

#[test]
fn a_partner_or_period_nobody_owes_is_refused_before_anything_is_kept() {
    let ws = workspace();
    let ws = ws.path();
    let file = fixture("clinic_windows1255.csv");
    let refused = |args: &[&str], says: &str| {
        let mut all = vec!["ingest", file.as_str(), "--schema", "service_records"];
        all.extend_from_slice(args);
        let o = backbone(ws, &all);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    // A workspace that declares no partners: ids and periods must still be well formed.
    refused(
        &["--partner", "clinic", "--period", "2024/03"],
        "`2024/03` is not a period: write it like 2024-03, 2024-Q1, 2024-H1 or 2024",
    );
    refused(
        &["--partner", "../clinic", "--period", "2024-03"],
        "a partner id is letters, digits",
    );
    // One that does: the partner must be declared, the period at the grain it owes.
    std::fs::create_dir_all(ws.join("pipelines")).unwrap();
    std::fs::write(
        ws.join("pipelines/initiative.toml"),
        r#"name = { en = "Test" }
[[partner]]
id = "clinic"
name = { en = "Clinic" }
[[obligation]]
schema = "service_records"
partners = ["clinic"]
grain = "month"
from = "2024-01"
"#,
    )
    .unwrap();
    refused(
        &["--partner", "clinc", "--period", "2024-03"],
        "`clinc` is not a partner in",
    );
    refused(
        &["--partner", "clinic", "--period", "2024-Q1"],
        "`2024-Q1` is not a period of `service_records`, which is reported by month: write it like 2024-03",
    );
    // Nothing was archived or stored for any of them.
    let archive = ws.join("archive");
    assert!(
        !archive.exists() || std::fs::read_dir(&archive).unwrap().next().is_none(),
        "a refused ingest archived its file"
    );
    assert!(!ws.join("store/tables/service_records").exists());
    // A file that is not there is said once, plainly.
    let o = backbone(
        ws,
        &[
            "ingest",
            "no_such.csv",
            "--partner",
            "clinic",
            "--schema",
            "service_records",
            "--period",
            "2024-03",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    // A period written loosely is stored under its label.
    let ok = ingest(ws, &file, "clinic", " 2024-03 ");
    assert!(
        String::from_utf8_lossy(&ok.stdout)
            .contains("stored as submission clinic-service_records-2024-03-"),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // Asking about a table the store does not have names the ones it has.
    for cmd in ["history", "status"] {
        let o = backbone(ws, &[cmd, "--schema", "service_record"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains("the store has no table service_record; its tables: service_records"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // An export that cannot be written whole fails (the last flush was once dropped unseen).
    if Path::new("/dev/full").exists() {
        let o = backbone(ws, &["export", "service_records", "--out", "/dev/full"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("No space left"));
    }
    // The ledger's columns line up whatever the names' lengths.
    let status = String::from_utf8_lossy(&backbone(ws, &["status"]).stdout).into_owned();
    let lines: Vec<&str> = status.lines().take(3).collect();
    let at = lines[0].find("verdict").unwrap();
    for l in &lines[1..] {
        assert_eq!(l.find("accepted"), Some(at), "{status}");
    }
}

#[cfg(unix)]
#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let ws = workspace();
    let ws = ws.path();
    ingest(ws, &fixture("clinic_windows1255.csv"), "clinic", "2024-01");
    // `backbone status | head -0`: the reading end is closed before anything is printed.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["status", "--workspace"])
        .arg(ws)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        o.status.signal(),
        Some(libc_sigpipe()),
        "{:?}: {err}",
        o.status
    );
}

/// SIGPIPE's number on the platforms CI runs (Linux, and the BSDs and macOS alike).
#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}

/// A partner's cell that a spreadsheet would run as a formula reaches the rejects table as
/// written; `export` neutralises it as the results files do (`--raw` keeps it for machines).
#[test]
fn export_neutralises_formula_like_cells() {
    let ws = workspace();
    let ws = ws.path();
    let file = ws.join("clinic_2024-01.csv");
    std::fs::write(
        &file,
        "record_id,person_id,referral_date,gender,region,service_type\n\
         C01-0001,123456789,2024-01-05,\"=HYPERLINK(\"\"http://x.example\"\",\"\"open\"\")\",north,shelter\n\
         C01-0002,123456780,2024-01-06,@SUM(1),north,shelter\n",
    )
    .unwrap();
    let o = ingest(ws, file.to_str().unwrap(), "clinic", "2024-01");
    assert!(o.status.success(), "{}", text(&o));
    let cooked = text(&backbone(ws, &["export", "rejects"]));
    assert!(cooked.contains("'=HYPERLINK("), "{cooked}");
    assert!(cooked.contains("'@SUM(1)"), "{cooked}");
    assert!(
        !cooked.contains(",=HYPERLINK(") && !cooked.contains(",@SUM"),
        "{cooked}"
    );
    let raw = text(&backbone(ws, &["export", "rejects", "--raw"]));
    assert!(
        raw.contains("=HYPERLINK(") && !raw.contains("'=HYPERLINK("),
        "{raw}"
    );
}
