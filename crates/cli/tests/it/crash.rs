//! Crash safety: `backbone ingest` killed with SIGKILL at random moments leaves the store at
//! the old or the new version, readable, with no row lost or doubled; rerunning completes it.

use crate::common::{root, stored_ids};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use backbone_store::Store;

const TRIALS: u64 = 50;
const ROWS: usize = 3000;

fn ingest_cmd(ws: &Path, file: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_backbone"));
    c.arg("ingest")
        .arg(file)
        .args([
            "--partner",
            "clinic",
            "--schema",
            "service_records",
            "--period",
            "2024-01",
            "--workspace",
        ])
        .arg(ws)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// The rows of trial `t`: each trial's file has its own record ids.
fn file_for(dir: &Path, t: u64) -> (PathBuf, Vec<String>) {
    let mut text = String::from("record_id,person_id,referral_date,region,service_type\n");
    let mut ids = Vec::with_capacity(ROWS);
    for i in 0..ROWS {
        let id = format!("R{:02}-{:05}", t % 100, i);
        text.push_str(&format!(
            "{id},{},{:02}/01/2024,חיפה,counseling\n",
            100_000 + i,
            1 + i % 28
        ));
        ids.push(id);
    }
    let p = dir.join(format!("trial{t}.csv"));
    std::fs::write(&p, text).unwrap();
    ids.sort();
    (p, ids)
}

#[test]
fn an_ingest_killed_at_any_moment_leaves_the_old_or_the_new_version() {
    let ws = tempfile::tempdir().unwrap();
    let ws = ws.path();
    std::fs::create_dir_all(ws.join("data-schemas")).unwrap();
    std::fs::copy(
        root().join("data-schemas/service_records.json"),
        ws.join("data-schemas/service_records.json"),
    )
    .unwrap();
    let files = tempfile::tempdir().unwrap();

    // A first, complete ingest: the state every trial starts from, and how long one takes.
    let (first, mut committed) = file_for(files.path(), 0);
    let started = Instant::now();
    assert!(ingest_cmd(ws, &first).status().unwrap().success());
    let full = started.elapsed();
    assert_eq!(stored_ids(ws, None), committed);

    let mut seed: u64 = 0x5eed;
    let (mut old_seen, mut new_seen) = (0, 0);
    for t in 1..=TRIALS {
        let (file, expected) = file_for(files.path(), t);
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // Anywhere from the start to a little past a normal ingest's end.
        let at = Duration::from_micros((seed >> 33) % (full.as_micros() as u64 * 12 / 10 + 1));
        let mut child = ingest_cmd(ws, &file).spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        let now = stored_ids(ws, None);
        if now == committed {
            old_seen += 1;
        } else {
            assert_eq!(
                now, expected,
                "trial {t}: the store is neither the old nor the new version"
            );
            new_seen += 1;
        }
        // Rerunning completes it (or finds it already done).
        let rerun = ingest_cmd(ws, &file)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert!(
            rerun.status.success(),
            "trial {t}: rerun failed: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        assert_eq!(
            stored_ids(ws, None),
            expected,
            "trial {t}: rerun did not complete the ingest"
        );
        committed = expected;
    }
    // The kills landed on both sides of the commit.
    assert!(
        old_seen > 0 && new_seen > 0,
        "old {old_seen}, new {new_seen}"
    );

    // The sweep gives back what the killed ingests wrote and never committed...
    let table = ws.join("store/tables/service_records");
    let before = parquet_files(&table);
    let sweep = |ws: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
            .args(["sweep", "--older-than-minutes", "0", "--workspace"])
            .arg(ws)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    sweep(ws);
    let after = parquet_files(&table);
    let referenced = referenced_in_log(&table);
    assert_eq!(
        after, referenced,
        "after the sweep, exactly the files the log names remain"
    );
    assert!(before.len() >= after.len());
    // ...and every version still reads, each with its whole submission.
    let store = Store::open(&ws.join("store")).unwrap();
    let current = store.version("service_records").unwrap().unwrap();
    for v in 0..=current {
        let rows: usize = store
            .read("service_records", Some(v))
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert!(
            rows == ROWS || (v == 0 && rows == 0),
            "version {v}: {rows} rows"
        );
    }
    assert!(sweep(ws).starts_with("removed 0 orphan file(s)"));
}

fn parquet_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() && name != "_delta_log" {
                todo.push(p);
            } else if name.ends_with(".parquet") && !p.starts_with(dir.join("_delta_log")) {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

/// Every data file any commit of the table added, read straight from the JSON log.
fn referenced_in_log(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("_delta_log")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                let action: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(path) = action["add"]["path"].as_str() {
                    out.push(path.rsplit('/').next().unwrap().to_owned());
                }
            }
        }
    }
    out.sort();
    out
}
