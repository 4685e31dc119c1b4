//! The store over years: compaction, vacuum under a retention, raw files past their time,
//! and no personal value in the log's statistics.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use backbone_store::{Begun, Reject, Store, StoreError, Submission};
use chrono::{DateTime, Utc};
use deltalake::arrow::array::{Array, Date32Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};

fn rows(ids: &[&str], ages: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("person", DataType::Utf8, false),
        Field::new("age", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids.to_vec())),
            Arc::new(Int64Array::from(ages.to_vec())),
        ],
    )
    .unwrap()
}

fn submission(partner: &str, period: &str, sha: &str, accepted: u64, received: &str) -> Submission {
    Submission {
        id: format!("{partner}-svc-{period}-{}", &sha[..6]),
        partner: partner.into(),
        schema: "svc".into(),
        period: period.into(),
        file_name: "f.csv".into(),
        sha256: sha.into(),
        received: received.into(),
        rows_read: accepted + 1,
        rows_accepted: accepted,
        rows_rejected: 1,
        rows_with_warnings: 0,
        verdict: "accepted_with_problems".into(),
        supersedes: None,
        table_version: None,
    }
}

/// Commits a submission with one rejected row.
fn commit(store: &Store, s: Submission, batch: RecordBatch) -> u64 {
    let forty = Reject {
        row_number: 9,
        error_type: "type-error".into(),
        field: Some("age".into()),
        cell: Some("forty".into()),
        message: "not a whole number".into(),
    };
    commit_rejecting(store, s, batch, vec![forty])
}

/// Commits a submission with these rejected rows.
fn commit_rejecting(store: &Store, s: Submission, batch: RecordBatch, rejects: Vec<Reject>) -> u64 {
    let Begun::Writing(mut w) = store
        .begin(&s.schema, &s.partner, &s.period, &s.sha256, &batch.schema())
        .unwrap()
    else {
        panic!("duplicate")
    };
    w.write(&s, batch).unwrap();
    for r in rejects {
        w.reject(&s, r).unwrap();
    }
    w.commit(s).unwrap()
}

fn reject_rows(store: &Store) -> Vec<String> {
    let mut out: Vec<String> = store
        .read_rejects(None)
        .unwrap()
        .iter()
        .flat_map(|b| {
            let id = b
                .column(b.schema().index_of("submission_id").unwrap())
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..id.len())
                .map(move |i| id.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

fn log_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(dir.join("_delta_log")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            text.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    text
}

const APRIL: &str = "2024-04-01T00:00:00Z";

#[test]
fn compaction_merges_small_files_in_one_commit_that_changes_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (i, p) in ["P01", "P02", "P03", "P04", "P05", "P06"]
        .iter()
        .enumerate()
    {
        let sha = format!("{i}aaaaaaa");
        commit(
            &store,
            submission(p, "2024-03", &sha, 1, APRIL),
            rows(&["x"], &[30]),
        );
    }
    let before = reject_rows(&store);
    assert_eq!(before.len(), 6);
    let compactable = store.compactable().unwrap();
    assert!(
        compactable.contains(&("rejects".to_owned(), 6)),
        "{compactable:?}"
    );
    // A data partition holds one submission's single file: nothing to merge there.
    assert!(
        compactable.contains(&("svc".to_owned(), 0)),
        "{compactable:?}"
    );
    // Below the threshold, nothing happens.
    assert!(store.optimize(7).unwrap().is_empty());
    let data_before = store.version("svc").unwrap();

    let ledger_rows = |store: &Store| -> usize {
        store
            .read_ledger_table()
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum()
    };
    assert_eq!(ledger_rows(&store), 6);
    let done = store.optimize(2).unwrap();
    // The rejects (a file per submission) and the ledger's mirror (a file per commit, until
    // it is written again whole every 20).
    let tables: Vec<&str> = done.iter().map(|c| c.table.as_str()).collect();
    assert_eq!(tables, ["rejects", "submissions"], "{done:?}");
    assert_eq!((done[0].files_before, done[0].files_after), (6, 1));
    assert_eq!(ledger_rows(&store), 6);
    assert_eq!(reject_rows(&store), before, "compaction changed rows");
    assert_eq!(
        store
            .compactable()
            .unwrap()
            .iter()
            .map(|c| c.1)
            .sum::<usize>(),
        0
    );
    assert_eq!(store.version("svc").unwrap(), data_before);
    // Every action of the compaction's commit says that no data changed.
    let made = std::fs::read_to_string(
        dir.path()
            .join("rejects/_delta_log")
            .join(format!("{:020}.json", done[0].version)),
    )
    .unwrap();
    assert!(made.contains("\"OPTIMIZE\""), "{made}");
    assert_eq!(made.matches("\"dataChange\":true").count(), 0, "{made}");
    assert_eq!(made.matches("\"dataChange\":false").count(), 7, "{made}");
    // And a checkpoint was written at it.
    assert!(
        dir.path()
            .join("rejects/_delta_log")
            .join(format!("{:020}.checkpoint.parquet", done[0].version))
            .exists()
    );
    // The rejects of a later submission still land once.
    commit(
        &store,
        submission("P07", "2024-03", "7aaaaaaa", 1, APRIL),
        rows(&["y"], &[3]),
    );
    assert_eq!(reject_rows(&store).len(), 7);
    assert_eq!(ledger_rows(&store), 7);
}

#[test]
fn reject_counts_are_per_submission_and_error_type_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // P01: one type error (the helper's); P02: a type error and two constraint errors.
    commit(
        &store,
        submission("P01", "2024-03", "1aaaaaaa", 1, APRIL),
        rows(&["x"], &[30]),
    );
    let rejects = [
        (4, "type-error"),
        (5, "constraint-error"),
        (6, "constraint-error"),
    ]
    .map(|(row, kind)| Reject {
        row_number: row,
        error_type: kind.into(),
        field: Some("age".into()),
        cell: None,
        message: "wrong".into(),
    });
    commit_rejecting(
        &store,
        submission("P02", "2024-03", "2aaaaaaa", 1, APRIL),
        rows(&["y"], &[31]),
        rejects.to_vec(),
    );
    let counts = store.reject_counts(None).unwrap();
    let of = |id: &str| -> Vec<(String, u64)> {
        counts[id].iter().map(|(k, n)| (k.clone(), *n)).collect()
    };
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert_eq!(of("P01-svc-2024-03-1aaaaa"), [("type-error".to_owned(), 1)]);
    assert_eq!(
        of("P02-svc-2024-03-2aaaaa"),
        [
            ("constraint-error".to_owned(), 2),
            ("type-error".to_owned(), 1)
        ]
    );
    // The same after the rejects' files are merged into one.
    store.optimize(2).unwrap();
    assert_eq!(store.reject_counts(None).unwrap(), counts);
}

#[test]
fn vacuum_removes_superseded_files_and_an_old_version_says_it_is_no_longer_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let v1 = commit(
        &store,
        submission("P01", "2024-03", "aaaaaaaa", 2, APRIL),
        rows(&["a", "b"], &[1, 2]),
    );
    let v2 = commit(
        &store,
        submission("P01", "2024-03", "bbbbbbbb", 1, APRIL),
        rows(&["c"], &[3]),
    );
    assert!(store.read("svc", Some(v1)).is_ok());

    let now: DateTime<Utc> = Utc::now() + chrono::Duration::days(40);
    // A horizon before the supersession: nothing goes.
    let kept = store
        .vacuum(
            Utc::now() - chrono::Duration::days(1),
            now,
            "41 days",
            false,
        )
        .unwrap();
    assert!(kept.iter().all(|v| v.files == 0), "{kept:?}");
    assert!(store.read("svc", Some(v1)).is_ok());

    let gone = store
        .vacuum(now - chrono::Duration::days(30), now, "30 days", false)
        .unwrap();
    let svc = gone.iter().find(|v| v.table == "svc").unwrap();
    assert_eq!(svc.files, 1, "{gone:?}");
    // The current version and the one that superseded are whole.
    assert_eq!(store.read("svc", None).unwrap()[0].num_rows(), 1);
    assert!(store.read("svc", Some(v2)).is_ok());
    // The old one says why it cannot be read, in words.
    let err = store.read("svc", Some(v1)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotKept { version, .. } if version == v1),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("no longer kept"), "{msg}");
    assert!(msg.contains("backbone vacuum"), "{msg}");
    assert!(msg.contains("30 days"), "{msg}");
    assert!(matches!(
        store.files("svc", Some(v1)),
        Err(StoreError::NotKept { .. })
    ));
    assert_eq!(store.last_vacuum("svc").unwrap().files, 1);
}

#[test]
fn raw_files_past_their_time_leave_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let old = dir.path().join("old.csv");
    std::fs::write(&old, "person,age\nx,1\n").unwrap();
    let sha_old = store.archive(&old).unwrap();
    commit(
        &store,
        submission("P01", "2024-03", &sha_old, 1, APRIL),
        rows(&["x"], &[1]),
    );
    let new = dir.path().join("new.csv");
    std::fs::write(&new, "person,age\ny,2\n").unwrap();
    let sha_new = store.archive(&new).unwrap();
    let horizon: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let dry = store.expire_raw(horizon, true).unwrap();
    assert_eq!(dry.files, 1);
    assert!(store.archived(&sha_old).is_some());
    let done = store.expire_raw(horizon, false).unwrap();
    assert_eq!(done.files, 1);
    // Received in April 2024: past the horizon. Archived now, in no ledger yet: kept.
    assert!(store.archived(&sha_old).is_none());
    assert!(store.archived(&sha_new).is_some());
}

/// Rows with a service date (days since 1970-01-01).
fn dated(ids: &[&str], ages: &[i64], days: &[i32]) -> RecordBatch {
    let plain = rows(ids, ages);
    let mut fields: Vec<Field> = plain
        .schema()
        .fields()
        .iter()
        .map(|f| (**f).clone())
        .collect();
    fields.push(Field::new("service_date", DataType::Date32, true));
    let mut columns = plain.columns().to_vec();
    columns.push(Arc::new(Date32Array::from(days.to_vec())));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// The `svc` table opened by delta-rs itself (as any other reader would), with a runtime to
/// drive it.
fn svc_table(dir: &std::path::Path) -> (tokio::runtime::Runtime, deltalake::DeltaTable) {
    let url = url::Url::from_directory_path(dir.join("tables/svc")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let table = rt.block_on(deltalake::open_table(url)).unwrap();
    (rt, table)
}

/// Each live file's path and statistics, as any reader of the table replays them from the
/// log.
fn stats_of(dir: &std::path::Path) -> Vec<(String, serde_json::Value)> {
    use futures::TryStreamExt;
    let (rt, table) = svc_table(dir);
    let files: Vec<_> = rt
        .block_on(
            table
                .get_active_add_actions_by_partitions(&[])
                .try_collect(),
        )
        .unwrap();
    let mut out: Vec<(String, serde_json::Value)> = files
        .iter()
        .map(|f| {
            let stats = serde_json::from_str(&f.stats().unwrap()).unwrap();
            (f.path().into_owned(), stats)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A table property set as an earlier build of backbone set it.
fn set_property(dir: &std::path::Path, key: &str, value: &str) {
    let (rt, table) = svc_table(dir);
    rt.block_on(
        table
            .set_tbl_properties()
            .with_properties([(key.to_owned(), value.to_owned())].into())
            .into_future(),
    )
    .unwrap();
}

/// Every row of the table, as text, sorted.
fn table_rows(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for b in store.read("svc", None).unwrap() {
        for i in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| deltalake::arrow::util::display::array_value_to_string(c, i).unwrap())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

const MARCH_3: i32 = 19_785; // 2024-03-03

#[test]
fn the_log_records_statistics_of_dates_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit(
        &store,
        submission("P01", "2024-03", "aaaaaaaa", 2, APRIL),
        dated(
            &["pseudonym-0f3a9c", "pseudonym-ffe021"],
            &[17, 93],
            &[MARCH_3, MARCH_3 + 20],
        ),
    );
    let log = log_text(&dir.path().join("tables/svc"));
    // No text value of a row, which erasure or a new key could not take back out of the log.
    assert!(!log.contains("pseudonym-"), "{log}");
    // Every process that commits reads every file's statistics: only the dates' are kept
    // (how a period's reader skips files), with the row count.
    let files = stats_of(dir.path());
    assert_eq!(files.len(), 1);
    let stats = &files[0].1;
    assert_eq!(stats["numRecords"], 2, "{stats}");
    assert_eq!(
        stats["minValues"],
        serde_json::json!({"service_date": "2024-03-03"})
    );
    assert_eq!(
        stats["maxValues"],
        serde_json::json!({"service_date": "2024-03-23"})
    );
    assert_eq!(stats["nullCount"], serde_json::json!({"service_date": 0}));
    // The side tables have no date: each keeps one number column's minimum and maximum
    // (delta-rs warns at every partition-filtered scan of a table whose statistics have
    // none), never a text column's.
    for (table, column) in [("submissions", "table_version"), ("rejects", "row_number")] {
        let log = log_text(&dir.path().join(table));
        assert!(
            log.contains(&format!("\"delta.dataSkippingStatsColumns\":\"{column}\"")),
            "{table}: {log}"
        );
    }
}

#[test]
fn optimize_cuts_the_statistics_of_a_store_written_with_more_columns() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit(
        &store,
        submission("P01", "2024-03", "aaaaaaaa", 2, APRIL),
        dated(&["a", "b"], &[17, 93], &[MARCH_3, MARCH_3 + 1]),
    );
    // A store written by a build that recorded every number's statistics (and said once that
    // it indexed none, which the statistics columns override).
    let table = dir.path().join("tables/svc");
    set_property(dir.path(), "delta.dataSkippingNumIndexedCols", "0");
    set_property(
        dir.path(),
        "delta.dataSkippingStatsColumns",
        "age,service_date",
    );
    for (p, sha) in [("P02", "bbbbbbbb"), ("P03", "cccccccc")] {
        commit(
            &store,
            submission(p, "2024-03", sha, 2, APRIL),
            dated(&["c", "d"], &[40, 41], &[MARCH_3 + 2, MARCH_3 + 3]),
        );
    }
    let before = stats_of(dir.path());
    assert_eq!(before.len(), 3);
    let wide = before
        .iter()
        .filter(|(_, s)| s["minValues"].get("age").is_some())
        .count();
    assert_eq!(wide, 2, "{before:?}");
    let rows_before = table_rows(&store);
    let version = store.version("svc").unwrap().unwrap();

    let done = store.optimize(2).unwrap();
    let svc = done.iter().find(|c| c.table == "svc").expect("svc trimmed");
    let cut = svc.statistics_cut.as_ref().expect("statistics cut");
    assert_eq!(
        (cut.columns.as_slice(), cut.files),
        (&["service_date".to_owned()][..], 2)
    );
    assert_eq!((svc.files_before, svc.files_after), (0, 0));
    assert_eq!(store.version("svc").unwrap(), Some(version + 1));
    // The same files, the same rows, the dates' statistics and the row counts kept.
    let after = stats_of(dir.path());
    assert_eq!(
        after.iter().map(|f| &f.0).collect::<Vec<_>>(),
        before.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((_, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(a["numRecords"], b["numRecords"]);
        assert_eq!(
            a["minValues"],
            serde_json::json!({"service_date": b["minValues"]["service_date"]})
        );
        assert_eq!(
            a["maxValues"],
            serde_json::json!({"service_date": b["maxValues"]["service_date"]})
        );
    }
    assert_eq!(table_rows(&store), rows_before);
    // A commit that changes no row, and the table says the columns it keeps now.
    let made = std::fs::read_to_string(
        table
            .join("_delta_log")
            .join(format!("{:020}.json", svc.version)),
    )
    .unwrap();
    assert_eq!(made.matches("\"dataChange\":true").count(), 0, "{made}");
    assert!(
        made.contains("\"delta.dataSkippingStatsColumns\":\"service_date\""),
        "{made}"
    );
    assert!(!made.contains("dataSkippingNumIndexedCols"), "{made}");
    // Once is enough: a second optimize has nothing to do for the data table.
    assert!(store.optimize(2).unwrap().iter().all(|c| c.table != "svc"));
    // New files record the dates only.
    commit(
        &store,
        submission("P04", "2024-03", "dddddddd", 2, APRIL),
        dated(&["e", "f"], &[50, 51], &[MARCH_3, MARCH_3]),
    );
    assert!(
        stats_of(dir.path())
            .iter()
            .all(|(_, s)| s["minValues"].get("age").is_none())
    );
}
