//! End to end: `backbone run`, the nightly batch, on temporary workspaces; and `backbone
//! demo`, a year of the example initiative through it.

use crate::common::{backbone_at as backbone, example_workspace as workspace, root, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Puts a fixture into `inbox/<partner>/` under a new name.
fn drop_in(ws: &Path, partner: &str, fixture: &str, name: &str) -> PathBuf {
    let dir = ws.join("inbox").join(partner);
    std::fs::create_dir_all(&dir).unwrap();
    let to = dir.join(name);
    std::fs::copy(root().join("tests/fixtures/files").join(fixture), &to).unwrap();
    to
}

fn run(ws: &Path, clock: &str) -> Output {
    backbone(ws, &["run"], clock)
}

fn ledger(ws: &Path) -> String {
    let o = backbone(ws, &["export", "submissions"], "2030-01-01T00:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let mut lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            // Without the received time and table version, which differ between two runs.
            l.split(',')
                .enumerate()
                .filter(|(i, _)| ![6, 14].contains(i))
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// The results' values, without the store-version column.
fn values(ws: &Path) -> String {
    std::fs::read_to_string(ws.join("results/indicators.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').map_or(l, |x| x.0).to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_garbage_file_among_good_ones_is_rejected_alone() {
    let ws = workspace();
    let ws = ws.path();
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    drop_in(
        ws,
        "welfare",
        "welfare_title_rows.xlsx",
        "welfare_2024-01.xlsx",
    );
    let garbage = ws.join("inbox/shelter/shelter_2024-01.xlsx");
    std::fs::create_dir_all(garbage.parent().unwrap()).unwrap();
    std::fs::write(
        &garbage,
        b"PK\x03\x04 this is not a workbook at all \x00\xff\xfe",
    )
    .unwrap();
    // A file whose period cannot be told stays in the inbox, and the run says why.
    let undated = drop_in(
        ws,
        "hotline",
        "hotline_bom_semicolon.csv",
        "hotline_export.csv",
    );

    // So does a folder inside a partner's folder, and a file dropped in the inbox itself.
    let nested = ws.join("inbox/clinic/january/clinic_2024-01.csv");
    std::fs::create_dir_all(nested.parent().unwrap()).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/files/clinic_windows1255.csv"),
        &nested,
    )
    .unwrap();
    let loose = ws.join("inbox/march_2024-03.csv");
    std::fs::copy(
        root().join("tests/fixtures/files/clinic_windows1255.csv"),
        &loose,
    )
    .unwrap();

    let o = run(ws, "2024-02-08T22:00:00Z");
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains(
            "stored 0, with problems 2, rejected 0, already in 0, unreadable 1, waiting 3"
        ),
        "{said}"
    );
    assert!(
        said.contains("inbox/march_2024-03.csv: waiting — not in a partner's folder"),
        "{said}"
    );
    assert!(
        said.contains("clinic/january: waiting — a folder: the run reads only the files"),
        "{said}"
    );
    assert!(loose.exists() && nested.exists());
    assert!(
        said.contains("shelter/shelter_2024-01.xlsx: unreadable"),
        "{said}"
    );
    assert!(
        said.contains("cannot tell which period `hotline_export.csv` covers"),
        "{said}"
    );
    // Nothing is lost: processed files moved out, the undated one waits.
    assert!(undated.exists());
    for f in [
        "clinic/clinic_2024-01.csv",
        "welfare/welfare_2024-01.xlsx",
        "shelter/shelter_2024-01.xlsx",
    ] {
        assert!(ws.join("processed").join(f).exists(), "{f}");
        assert!(!ws.join("inbox").join(f).exists(), "{f}");
    }
    // Receipts in the partner's language; the garbage file's too.
    let clinic =
        std::fs::read_to_string(ws.join("outbox/clinic/clinic_2024-01.csv.receipt.txt")).unwrap();
    assert!(clinic.contains("התקבל עם בעיות"), "{clinic}");
    assert!(clinic.contains("31/02/2024"), "{clinic}");
    assert!(clinic.contains("שורה"), "{clinic}");
    let html =
        std::fs::read_to_string(ws.join("outbox/clinic/clinic_2024-01.csv.receipt.html")).unwrap();
    assert!(html.contains("dir=\"rtl\""));
    let bad = std::fs::read_to_string(ws.join("outbox/shelter/shelter_2024-01.xlsx.receipt.txt"))
        .unwrap();
    assert!(bad.contains("לא ניתן היה לקרוא את הקובץ"), "{bad}");
    // The indicators and the report were made, and the summary was written.
    assert!(ws.join("results/indicators.csv").exists());
    assert!(ws.join("reports/latest/index.html").exists());
    assert!(ws.join("reports/latest/en/index.html").exists());
    assert!(ws.join("runs/latest.txt").exists());
    let json: Vec<_> = std::fs::read_dir(ws.join("runs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(json.len(), 1);
    // Reminders: partners who owe January and are past due (the 15th) by the clock.
    let reminders = |clock: &str| {
        let o = run(ws, clock);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read_to_string(ws.join("reminders.csv")).unwrap()
    };
    let r = reminders("2024-02-10T22:00:00Z");
    assert!(r.contains("police,") && r.contains("due soon"), "{r}");
    let r = reminders("2024-02-20T22:00:00Z");
    assert!(
        r.contains("liaison@police.example.gov.il") && r.contains("overdue"),
        "{r}"
    );
    assert!(!r.contains("clinic,"), "clinic sent January: {r}");
}

#[test]
fn a_rerun_changes_nothing_and_a_resubmission_replaces() {
    let ws = workspace();
    let ws = ws.path();
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    drop_in(
        ws,
        "welfare",
        "welfare_title_rows.xlsx",
        "welfare_2024-01.xlsx",
    );
    assert!(run(ws, "2024-02-08T22:00:00Z").status.success());
    let before = (ledger(ws), values(ws));
    let report = std::fs::read_to_string(ws.join("reports/latest/en/index.html")).unwrap();

    // Nothing new: nothing changes, the report is left alone.
    let o = run(ws, "2024-02-09T22:00:00Z");
    assert!(text(&o).contains("store unchanged"), "{}", text(&o));
    assert_eq!((ledger(ws), values(ws)), before);
    assert_eq!(
        std::fs::read_to_string(ws.join("reports/latest/en/index.html")).unwrap(),
        report
    );

    // The same bytes sent again are skipped, and moved out.
    drop_in(
        ws,
        "clinic",
        "clinic_windows1255.csv",
        "clinic_2024-01_again.csv",
    );
    let o = run(ws, "2024-02-10T22:00:00Z");
    assert!(text(&o).contains("already in 1"), "{}", text(&o));
    assert_eq!(ledger(ws), before.0);
    assert!(
        ws.join("processed/clinic/clinic_2024-01_again.csv")
            .exists()
    );

    // A corrected file for the same period replaces the earlier one.
    drop_in(
        ws,
        "welfare",
        "police_1904.xlsx",
        "welfare_2024-01_corrected.xlsx",
    );
    let o = run(ws, "2024-02-11T22:00:00Z");
    let said = text(&o);
    assert!(
        said.contains(
            "↺ welfare/welfare_2024-01_corrected.xlsx replaces welfare-service_records-2024-01-"
        ),
        "{said}"
    );
    assert_ne!(values(ws), before.1, "the resubmission changed no value");
    let receipt = std::fs::read_to_string(
        ws.join("outbox/welfare/welfare_2024-01_corrected.xlsx.receipt.txt"),
    )
    .unwrap();
    assert!(
        receipt.contains("קובץ זה מחליף את ההגשה הקודמת שלך"),
        "{receipt}"
    );
    let changes = std::fs::read_to_string(ws.join("results/changes.csv")).unwrap();
    assert!(
        changes.contains("replaces welfare-service_records-2024-01-"),
        "{changes}"
    );
}

#[test]
fn only_one_run_at_a_time_and_a_dead_runs_lock_is_no_lock() {
    let ws = workspace();
    let ws = ws.path();
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    // Another process holds the OS lock on the run lock (util-linux's flock, the same
    // flock(2) the run takes): the run stops at once and says who holds it.
    std::fs::create_dir_all(ws.join(".backbone")).unwrap();
    let lock = ws.join(".backbone/run.lock");
    std::fs::write(&lock, "process 4242, started 2024-02-08T21:00:00Z\n").unwrap();
    // `-o`: the lock is flock's own (the command does not inherit it), so killing flock
    // releases it.
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .args(["sh", "-c", "echo held; exec sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Once it says `held`, flock has the lock.
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut said,
    )
    .unwrap();
    assert_eq!(said.trim(), "held");
    let o = run(ws, "2024-02-08T22:00:00Z");
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("another run is going on (process 4242, started 2024-02-08T21:00:00Z)"),
        "{}",
        text(&o)
    );
    assert!(
        ws.join("inbox/clinic/clinic_2024-01.csv").exists(),
        "the refused run touched the inbox"
    );
    // Its holder is gone: the lock file is still there, with its words, but it is no lock.
    assert!(lock.exists());
    let o = run(ws, "2024-02-08T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert!(ws.join("processed/clinic/clinic_2024-01.csv").exists());
}

#[test]
fn two_runs_racing_for_a_stale_lock_exactly_one_proceeds() {
    let ws = workspace();
    let ws = ws.path();
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    drop_in(
        ws,
        "welfare",
        "welfare_title_rows.xlsx",
        "welfare_2024-01.xlsx",
    );
    drop_in(ws, "police", "police_1904.xlsx", "police_2024-01.xlsx");
    // What a killed run leaves behind: its lock file, naming a process that is gone.
    std::fs::create_dir_all(ws.join(".backbone")).unwrap();
    std::fs::write(
        ws.join(".backbone/run.lock"),
        "process 999999, started 2024-02-07T22:00:00Z\n",
    )
    .unwrap();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_backbone"))
            .args(["run", "--workspace"])
            .arg(ws)
            .env("BACKBONE_CLOCK", "2024-02-08T22:00:00Z")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let proceeded = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert_eq!(proceeded, 1, "{}\n{}", text(&a), text(&b));
    let refused = if a.status.success() { &b } else { &a };
    assert!(
        text(refused).contains("another run is going on (process "),
        "{}",
        text(refused)
    );
    let ledger = ledger(ws);
    assert_eq!(
        ledger
            .lines()
            .filter(|l| l.contains("service_records"))
            .count(),
        3,
        "{ledger}"
    );
}

#[test]
fn a_run_killed_midway_then_rerun_ends_like_an_uninterrupted_one() {
    let files = [
        ("clinic", "clinic_windows1255.csv", "clinic_2024-01.csv"),
        ("welfare", "welfare_title_rows.xlsx", "welfare_2024-01.xlsx"),
        ("police", "police_1904.xlsx", "police_2024-01.xlsx"),
        ("health_fund", "health_fund.ods", "health_fund_2024-01.ods"),
    ];
    let clean = workspace();
    for (p, f, n) in files {
        drop_in(clean.path(), p, f, n);
    }
    assert!(run(clean.path(), "2024-02-08T22:00:00Z").status.success());
    let want = (ledger(clean.path()), values(clean.path()));
    for delay_ms in [150u64, 600, 1500] {
        let ws = workspace();
        let ws = ws.path();
        for (p, f, n) in files {
            drop_in(ws, p, f, n);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_backbone"))
            .args(["run", "--workspace"])
            .arg(ws)
            .env("BACKBONE_CLOCK", "2024-02-08T22:00:00Z")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let o = run(ws, "2024-02-08T22:00:00Z");
        assert!(
            o.status.success(),
            "after a kill at {delay_ms} ms: {}",
            text(&o)
        );
        assert_eq!(ledger(ws), want.0, "after a kill at {delay_ms} ms");
        assert_eq!(values(ws), want.1, "after a kill at {delay_ms} ms");
        assert!(std::fs::read_dir(ws.join("inbox")).unwrap().all(|d| {
            std::fs::read_dir(d.unwrap().path())
                .unwrap()
                .next()
                .is_none()
        }));
    }
}

#[test]
fn under_cron_there_are_no_progress_bar_control_characters() {
    let ws = workspace();
    let ws = ws.path();
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    drop_in(
        ws,
        "welfare",
        "welfare_title_rows.xlsx",
        "welfare_2024-01.xlsx",
    );
    let o = run(ws, "2024-02-08T22:00:00Z");
    assert!(o.status.success());
    let all = [o.stdout.as_slice(), o.stderr.as_slice()].concat();
    assert!(!all.contains(&0x1b), "an escape sequence: {}", text(&o));
    assert!(!all.contains(&b'\r'), "a carriage return: {}", text(&o));
}

#[test]
fn dry_run_says_what_it_would_do_and_changes_nothing() {
    let ws = workspace();
    let ws = ws.path();
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    let o = backbone(ws, &["run", "--dry-run"], "2024-02-08T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("clinic/clinic_2024-01.csv: would ingest as service_records 2024-01"),
        "{}",
        text(&o)
    );
    assert!(ws.join("inbox/clinic/clinic_2024-01.csv").exists());
    assert!(!ws.join("results").exists());
}

#[test]
fn init_makes_a_workspace_that_checks_and_keeps_its_key_private() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("new");
    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .arg("init")
        .arg(&ws)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let key = ws.join(".backbone/secret.key");
    let bytes = std::fs::read(&key).unwrap();
    assert_eq!(bytes.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Never printed: no run of the key's bytes appears in what init said.
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text(&o).contains(&hex[..16]));
    let o = backbone(&ws, &["check"], "2025-01-01T00:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    // A second init refuses to overwrite.
    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .arg("init")
        .arg(&ws)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("never overwrites"), "{}", text(&o));
}

/// A link in a partner's inbox folder is never read through: it could name any file on the
/// machine (`/etc/passwd`) or another partner's processed file.
#[test]
fn links_in_the_inbox_wait_and_are_never_read() {
    let ws = workspace();
    let ws = ws.path();
    // Clinic's real file is stored first, so there is a processed file to point at.
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    assert!(run(ws, "2024-02-08T22:00:00Z").status.success());
    let clinics = ws.join("processed/clinic/clinic_2024-01.csv");
    assert!(clinics.exists());
    let shelter = ws.join("inbox/shelter");
    std::fs::create_dir_all(&shelter).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", shelter.join("passwd_2024-01.csv")).unwrap();
    std::os::unix::fs::symlink(&clinics, shelter.join("shelter_2024-01.csv")).unwrap();
    let o = run(ws, "2024-02-09T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let summary = std::fs::read_to_string(ws.join("runs/latest.txt")).unwrap();
    for name in ["passwd_2024-01.csv", "shelter_2024-01.csv"] {
        assert!(
            summary.contains(&format!("✗ shelter/{name}: waiting — a link, not a file")),
            "{summary}"
        );
        assert!(shelter.join(name).is_symlink(), "{name} was moved");
    }
    // A FIFO too: opening it would block the night; it is never opened.
    let fifo = shelter.join("pipe_2024-01.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let o = run(ws, "2024-02-10T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let summary = std::fs::read_to_string(ws.join("runs/latest.txt")).unwrap();
    assert!(
        summary.contains("✗ shelter/pipe_2024-01.csv: waiting — not a regular file"),
        "{summary}"
    );
    // Shelter is told why each waits, and nothing of what they point at is in its receipts.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let first_line = passwd.lines().next().unwrap_or("root:x:0:0");
    for (name, why) in [
        ("passwd_2024-01.csv", "a link, not a file"),
        ("shelter_2024-01.csv", "a link, not a file"),
        ("pipe_2024-01.csv", "not a regular file"),
    ] {
        let receipt =
            std::fs::read_to_string(ws.join(format!("outbox/shelter/{name}.receipt.txt"))).unwrap();
        assert!(receipt.contains(why), "{receipt}");
        assert!(!receipt.contains(first_line), "{receipt}");
    }
    assert!(!ledger(ws).contains("shelter"), "{}", ledger(ws));
}

/// Everything a night writes is the owner's alone, whatever mode the partner's file arrived
/// with: archive, processed, outbox, store, results, reports, runs (issue 18, finding 8).
#[cfg(unix)]
#[test]
fn what_a_night_writes_is_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let ws = workspace();
    let ws = ws.path();
    let file = drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(ws, "2024-02-08T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let mut seen = 0;
    let mut open = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = [
        "archive",
        "processed",
        "outbox",
        "store",
        "results",
        "reports",
        "runs",
    ]
    .iter()
    .map(|d| ws.join(d))
    .collect();
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let mode = m.permissions().mode() & 0o777;
        seen += 1;
        if mode & 0o077 != 0 {
            open.push(format!("{} {mode:o}", p.display()));
        }
        if m.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(seen > 20, "only {seen} paths");
    assert!(open.is_empty(), "readable by others: {open:#?}");
}

/// The ministry's workbook, one sheet per quarter with the months across, goes through the
/// night to the indicators: each figure a row, the quarters summed per region, the receipt
/// saying how the sheets were read; a figure typed as words is the one cell to fix.
#[test]
fn a_wide_workbook_of_quarter_sheets_reaches_the_indicators() {
    let ws = workspace();
    let ws = ws.path();
    drop_in(
        ws,
        "ministry",
        "ministrysheets.xlsx",
        "ministry_2024-H1.xlsx",
    );
    let o = run(ws, "2024-07-20T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let indicators = std::fs::read_to_string(ws.join("results/indicators.csv")).unwrap();
    let mut lines = indicators.lines();
    let head: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .split(',')
        .collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (ind, per, brk, val) = (
        col("indicator"),
        col("period"),
        col("breakdown"),
        col("value"),
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let value = |period: &str, region: &str| -> String {
        rows.iter()
            .find(|r| {
                r[ind] == "ministry_referrals"
                    && r[per] == period
                    && r[brk] == format!("region={region}")
            })
            .map(|r| r[val].to_owned())
            .unwrap_or_else(|| panic!("no ministry_referrals {period} {region} in\n{indicators}"))
    };
    // Q1: region i's months are 100 + 10·i + 0, 1, 2; Q2 200 + 10·i + ….
    for (region, q1, q2) in [("צפון", 303, 603), ("חיפה", 333, 633), ("מרכז", 363, 663)]
    {
        assert_eq!(
            value("2024-Q1", region).parse::<f64>().unwrap(),
            f64::from(q1)
        );
        assert_eq!(
            value("2024-Q2", region).parse::<f64>().unwrap(),
            f64::from(q2)
        );
    }
    let receipt =
        std::fs::read_to_string(ws.join("outbox/ministry/ministry_2024-H1.xlsx.receipt.txt"))
            .unwrap();
    assert!(receipt.contains("6 עמודות של נתונים"), "{receipt}");
    assert!(receipt.contains("הפכו ל-18 נתונים"), "{receipt}");
}

/// A period closed after its report went out: a later file for it is checked and receipted
/// as usual, held (not stored, the results unchanged), listed by `status`, and applied on
/// approval, results and receipt following.
#[test]
fn a_late_file_for_a_closed_period_is_held_until_approved() {
    let ws = workspace();
    let ws = ws.path();
    drop_in(
        ws,
        "welfare",
        "welfare_title_rows.xlsx",
        "welfare_2024-01.xlsx",
    );
    let o = run(ws, "2024-02-08T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let before_ledger = ledger(ws);
    let before_values = values(ws);

    let o = backbone(ws, &["close", "2024-Q1"], "2024-04-20T09:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2024-Q1 is closed"), "{}", text(&o));

    // The clinic's January file arrives in May: January is in the closed quarter.
    drop_in(ws, "clinic", "clinic_windows1255.csv", "clinic_2024-01.csv");
    let o = run(ws, "2024-05-02T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("held for approval 1"), "{said}");
    assert_eq!(ledger(ws), before_ledger, "nothing stored");
    assert_eq!(values(ws), before_values, "the published values unchanged");
    let receipt =
        std::fs::read_to_string(ws.join("outbox/clinic/clinic_2024-01.csv.receipt.txt")).unwrap();
    assert!(receipt.contains("התקופה 2024-Q1 נסגרה"), "{receipt}");
    assert!(receipt.contains("מה לתקן"), "checked as usual:\n{receipt}");
    let status = text(&backbone(ws, &["status"], "2024-05-03T09:00:00Z"));
    let id = status
        .lines()
        .skip_while(|l| !l.starts_with("held for approval"))
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no held line in\n{status}"))
        .to_owned();
    assert!(
        id.starts_with("clinic-service_records-2024-01-"),
        "{status}"
    );

    let o = backbone(ws, &["approve", &id], "2024-05-03T10:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("{id} applied")), "{}", text(&o));
    assert!(
        ledger(ws).contains("clinic_2024-01.csv"),
        "stored on approval"
    );
    assert_ne!(values(ws), before_values, "the results follow");
    let receipt =
        std::fs::read_to_string(ws.join("outbox/clinic/clinic_2024-01.csv.receipt.txt")).unwrap();
    assert!(
        !receipt.contains("נסגרה"),
        "the receipt now says it was applied:\n{receipt}"
    );
    // Nothing is held any more; approving again says so.
    let again = backbone(ws, &["approve", &id], "2024-05-03T11:00:00Z");
    assert!(!again.status.success());
    assert!(
        text(&again).contains("is held (none is)"),
        "{}",
        text(&again)
    );
}

/// The other layouts through the night to the indicators: a two-row header (a year merged
/// over its months) with a totals row and column, and one sheet per month named for it.
#[test]
fn two_row_headers_and_sheets_per_month_reach_the_indicators() {
    for (fixture, profile, q1_north) in [
        // צפון's January–March in ministry_wide.xlsx: 10 + 11 + 12.
        ("ministry_wide.xlsx", "ministry", 33.0),
        // monthly_sheets.ods: צפון is 7 in January and 8 in February.
        ("monthly_sheets.ods", "monthly", 15.0),
    ] {
        let ws = workspace();
        let ws = ws.path();
        let mut toml =
            std::fs::read_to_string(root().join(format!("tests/fixtures/profiles/{profile}.toml")))
                .unwrap();
        toml = toml.replace("partner = \"youth_centre\"", "partner = \"ministry\"");
        std::fs::write(ws.join("pipelines/profiles/ministry.toml"), toml).unwrap();
        let ext = fixture.rsplit('.').next().unwrap();
        drop_in(ws, "ministry", fixture, &format!("ministry_2024-H1.{ext}"));
        let o = run(ws, "2024-07-20T22:00:00Z");
        assert!(o.status.success(), "{fixture}: {}", text(&o));
        let indicators = std::fs::read_to_string(ws.join("results/indicators.csv")).unwrap();
        let row = indicators
            .lines()
            .find(|l| l.starts_with("ministry_referrals,2024-Q1,region=צפון,"))
            .unwrap_or_else(|| panic!("{fixture}: no Q1 North in\n{indicators}"));
        let value: f64 = row.split(',').nth(3).unwrap().parse().unwrap();
        assert_eq!(value, q1_north, "{fixture}: {row}");
    }
}

/// The clinic's January as a CSV of `n` referrals (UTF-8, the clinic's own headers).
fn clinic_january(ws: &Path, n: usize) {
    let dir = ws.join("inbox/clinic");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("מספר רשומה,תעודת זהות,תאריך הפניה,אזור,סוג שירות\n");
    for i in 0..n {
        text.push_str(&format!(
            "C01-{i:04},{},{:02}/01/2024,חיפה,ייעוץ\n",
            300_000_000 + i,
            1 + i % 28
        ));
    }
    std::fs::write(dir.join("clinic_2024-01.csv"), text).unwrap();
}

/// Every file under `dir` and its bytes.
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// An edition freezes the report the committee received: a corrected file after it changes
/// the latest report, which names the revision and the file behind it, and the revisions
/// triangle; a year of nights and a second edition later, the first edition's files are
/// byte for byte what was published, and `editions --verify` notices a changed one.
#[test]
fn an_edition_reads_as_published_a_year_of_nights_later() {
    let ws = workspace();
    let ws = ws.path();
    let o = backbone(ws, &["publish"], "2024-02-01T09:00:00Z");
    assert!(!o.status.success(), "nothing to publish before any results");
    assert!(
        text(&o).contains("run `backbone metrics` first"),
        "{}",
        text(&o)
    );

    clinic_january(ws, 30);
    let o = run(ws, "2024-02-08T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let o = backbone(
        ws,
        &["publish", "--period", "2024-Q1"],
        "2024-02-10T09:00:00Z",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("edition 1 published for 2024-Q1"),
        "{}",
        text(&o)
    );
    let edition = ws.join("editions/1");
    let published = tree(&edition);
    assert!(published.contains_key(Path::new("index.html")));
    assert!(published.contains_key(Path::new("en/index.html")));
    assert!(published.contains_key(Path::new("indicators.csv")));
    assert!(
        std::fs::metadata(edition.join("indicators.csv"))
            .unwrap()
            .permissions()
            .readonly(),
        "an edition's files are read-only"
    );
    let first = std::fs::read_to_string(edition.join("indicators.csv")).unwrap();
    let referrals = |csv: &str| -> String {
        csv.lines()
            .find(|l| l.starts_with("referrals,2024-Q1,,"))
            .unwrap_or_else(|| panic!("{csv}"))
            .split(',')
            .nth(3)
            .unwrap()
            .to_owned()
    };
    assert_eq!(referrals(&first), "30");

    // The clinic corrects January: 42 referrals, not 30.
    clinic_january(ws, 42);
    let o = run(ws, "2024-02-20T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let report = std::fs::read_to_string(ws.join("reports/latest/en/index.html")).unwrap();
    assert!(
        report.contains("Values published in edition 1 (2024-02-10) that have changed since"),
        "{report}"
    );
    assert!(
        report.contains("Referrals, 2024-Q1: revised from 30 to 42 after Violence treatment clinic&#x27;s corrected file for 2024-01 (clinic_2024-01.csv, received 2024-02-20)"),
        "{}",
        &report[report.find("id=\"revisions\"").unwrap_or(0)..][..3000.min(report.len())]
    );
    let he = std::fs::read_to_string(ws.join("reports/latest/index.html")).unwrap();
    assert!(he.contains("עודכן מ-"), "the Hebrew report says it too");
    let revisions = std::fs::read_to_string(ws.join("reports/latest/revisions.csv")).unwrap();
    let line = revisions
        .lines()
        .find(|l| l.starts_with("referrals,2024-Q1,,1,2024-02-10,30,42,12,"))
        .unwrap_or_else(|| panic!("{revisions}"));
    assert!(
        line.contains("clinic_2024-01.csv") && line.contains("clinic-service_records-2024-01-"),
        "{line}"
    );
    let triangle =
        std::fs::read_to_string(ws.join("reports/latest/revisions-triangle.csv")).unwrap();
    assert!(
        triangle.contains("referrals,2024-Q1,1,2024-02-10,30,false"),
        "{triangle}"
    );
    assert!(triangle.contains("referrals,2024-Q1,now,"), "{triangle}");
    assert!(
        report.contains(
            "Mean absolute revision from first publication to now: 12 (40.0%), over 1 periods."
        ),
        "the triangle's summary"
    );

    // A year of nights, and the next edition.
    for month in 3..=12 {
        let o = run(ws, &format!("2024-{month:02}-08T22:00:00Z"));
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = backbone(ws, &["publish"], "2025-01-12T09:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("edition 2 published"), "{}", text(&o));
    assert!(
        text(&o).contains("published value(s) revised since edition 1"),
        "{}",
        text(&o)
    );
    for month in 1..=2 {
        let o = run(ws, &format!("2025-{month:02}-08T22:00:00Z"));
        assert!(o.status.success(), "{}", text(&o));
    }
    let later = tree(&edition);
    assert_eq!(
        later.keys().collect::<Vec<_>>(),
        published.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (file, bytes) in &published {
        assert!(later[file] == *bytes, "{} changed", file.display());
    }
    let o = backbone(ws, &["editions", "--verify"], "2025-03-01T09:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).matches("reads as published").count(),
        2,
        "{}",
        text(&o)
    );

    // Someone edits a published file: verify says which, and fails.
    let csv = edition.join("indicators.csv");
    let mut perms = std::fs::metadata(&csv).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&csv, perms).unwrap();
    std::fs::write(&csv, first.replace(",30,", ",31,")).unwrap();
    let o = backbone(ws, &["editions", "--verify"], "2025-03-01T09:00:00Z");
    assert!(!o.status.success());
    assert!(text(&o).contains("indicators.csv: changed"), "{}", text(&o));
}

/// The clinic's file for one month: `n` referrals, every third counselling (the rest case
/// management).
fn clinic_month(ws: &Path, month: u32, n: usize) {
    let dir = ws.join("inbox/clinic");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("מספר רשומה,תעודת זהות,תאריך הפניה,אזור,סוג שירות\n");
    for i in 0..n {
        text.push_str(&format!(
            "C{month:02}-{i:04},{},{:02}/{month:02}/2024,חיפה,{}\n",
            300_000_000 + month as usize * 1000 + i,
            1 + i % 28,
            if i % 3 == 0 {
                "ייעוץ"
            } else {
                "ניהול מקרה"
            }
        ));
    }
    std::fs::write(dir.join(format!("clinic_2024-{month:02}.csv")), text).unwrap();
}

/// The totals of one indicator in `results/indicators.csv`: period → (value, definition).
fn totals_of(ws: &Path, id: &str) -> std::collections::BTreeMap<String, (String, String)> {
    let csv = std::fs::read_to_string(ws.join("results/indicators.csv")).unwrap();
    csv.lines()
        .filter(|l| l.starts_with(&format!("{id},")))
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[2].is_empty())
        .map(|c| (c[1].to_owned(), (c[3].to_owned(), c[12].to_owned())))
        .collect()
}

/// A changed filter from 2024-Q2: with `backcast = false` the first quarter keeps its value
/// under the first definition and the second follows the new one (the same value an
/// indicator declared with that filter gets), the report's chart breaks at a marked rule and
/// a footnote gives the reason, and the scorecard does not compare across the break; with
/// `backcast = true` both quarters follow the new definition and nothing breaks.
#[test]
fn a_changed_definition_breaks_the_series_or_is_backcast() {
    let ws = workspace();
    let ws = ws.path();
    let indicators = ws.join("pipelines/indicators/service.toml");
    let declared = std::fs::read_to_string(&indicators).unwrap();
    // The same filter as an indicator of its own, to compare with.
    let counselling = "\n[[indicator]]\nid = \"counselling_referrals\"\nlabel = { en = \"Counselling referrals\" }\nschema = \"service_records\"\nkind = \"count\"\nfilter = \"service_type = 'counseling'\"\ndate_field = \"referral_date\"\ngrain = \"quarter\"\n";
    std::fs::write(&indicators, format!("{declared}{counselling}")).unwrap();
    clinic_month(ws, 1, 60);
    clinic_month(ws, 4, 75);
    let o = run(ws, "2024-05-08T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let before = totals_of(ws, "referrals");
    assert_eq!(before["2024-Q1"], ("60".into(), "1".into()), "{before:?}");
    assert_eq!(before["2024-Q2"], ("75".into(), "1".into()), "{before:?}");
    let counselling_values = totals_of(ws, "counselling_referrals");
    assert_eq!(counselling_values["2024-Q1"].0, "20");
    assert_eq!(counselling_values["2024-Q2"].0, "25");

    // The partnership counts counselling referrals only, from April.
    let version = |backcast: bool| {
        let block = format!(
            "[[indicator.version]]\nsince = \"2024-04\"\nreason = {{ he = \"רק ייעוץ\", en = \"only counselling referrals count from April\" }}\nbackcast = {backcast}\nfilter = \"service_type = 'counseling'\"\n\n"
        );
        let with = declared.replacen(
            "direction = \"up\"\n\n[[indicator]]\nid = \"contact_within_week\"",
            &format!("direction = \"up\"\n{block}[[indicator]]\nid = \"contact_within_week\""),
            1,
        );
        assert_ne!(
            with, declared,
            "the referrals indicator is where the test expects it"
        );
        std::fs::write(&indicators, format!("{with}{counselling}")).unwrap();
    };
    version(false);
    let o = backbone(ws, &["check"], "2024-05-09T09:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("referrals: definition 2 from 2024-Q2; the series breaks there — only counselling referrals count from April")
            && text(&o).contains("filter: none → `service_type = 'counseling'`"),
        "{}",
        text(&o)
    );
    let o = backbone(ws, &["metrics"], "2024-05-09T23:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let after = totals_of(ws, "referrals");
    assert_eq!(
        after["2024-Q1"], before["2024-Q1"],
        "the first quarter stands"
    );
    assert_eq!(after["2024-Q2"], ("25".into(), "2".into()), "{after:?}");
    let o = backbone(
        ws,
        &["explain", "referrals", "2024-Q2"],
        "2024-05-09T23:00:00Z",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(
            "computed under definition 2 of 2 (only counselling referrals count from April)"
        ) && text(&o).contains("value: 25 row(s)"),
        "explain counts the rows of definition 2: {}",
        text(&o)
    );
    let out = tempfile::tempdir().unwrap();
    let en = |clock: &str| {
        let o = backbone(
            ws,
            &[
                "report",
                "--lang",
                "en",
                "--out",
                out.path().to_str().unwrap(),
            ],
            clock,
        );
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read_to_string(out.path().join("index.html")).unwrap()
    };
    let report = en("2024-05-09T23:30:00Z");
    let section = &report[report.find("<section id=\"referrals\">").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(
        section.contains(">\ndefinition 2\n</text>"),
        "the rule's mark in the SVG"
    );
    assert!(
        section.contains("From 2024-Q2 the indicator is computed under definition 2: only counselling referrals count from April."),
        "{section}"
    );
    assert!(
        report.contains("not compared: the definition changed in 2024-Q2"),
        "the scorecard does not compare across the break"
    );
    assert!(
        report.contains("2024-Q1: definition 1, COUNT(*)")
            && report.contains(
                "2024-Q2: definition 2, COUNT(*) WHERE service_type = &#x27;counseling&#x27;"
            ),
        "the methods name the definition in force per period"
    );

    // Backcast: the whole series under the new definition, and no break.
    version(true);
    let o = backbone(ws, &["metrics"], "2024-05-10T09:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let backcast = totals_of(ws, "referrals");
    assert_eq!(
        backcast["2024-Q1"],
        ("20".into(), "2".into()),
        "{backcast:?}"
    );
    assert_eq!(
        backcast["2024-Q2"],
        ("25".into(), "2".into()),
        "{backcast:?}"
    );
    let report = en("2024-05-10T09:30:00Z");
    assert!(
        !report.contains(">\ndefinition 2\n</text>"),
        "no break drawn"
    );
    assert!(!report.contains("not compared: the definition changed"));
}
