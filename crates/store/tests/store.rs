//! The store on a temporary directory: commit, supersede, read any version, the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use backbone_store::{Committed, Store, Submission};
use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};

fn rows(ids: &[&str], ages: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("record_id", DataType::Utf8, false),
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

fn submission(partner: &str, period: &str, sha: &str, accepted: u64) -> Submission {
    Submission {
        id: format!("{partner}-svc-{period}-{}", &sha[..6]),
        partner: partner.into(),
        schema: "svc".into(),
        period: period.into(),
        file_name: "f.csv".into(),
        sha256: sha.into(),
        received: "2024-04-01T00:00:00Z".into(),
        rows_read: accepted,
        rows_accepted: accepted,
        rows_rejected: 0,
        rows_with_warnings: 0,
        verdict: "accepted".into(),
        supersedes: None,
        table_version: None,
    }
}

fn ids(batches: &[RecordBatch]) -> Vec<String> {
    strings(batches, "record_id")
}

/// A text column's values across batches, sorted.
fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    let mut out: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c = b
                .column(b.schema().index_of(column).unwrap())
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..c.len())
                .map(move |i| c.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_resubmission_replaces_the_old_rows_which_stay_in_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let schema = rows(&[], &[]).schema();

    let v1 = store
        .commit(
            submission("P01", "2024-03", "aaaaaaaa", 2),
            &schema,
            vec![rows(&["a1", "a2"], &[30, 40])],
        )
        .unwrap();
    let v2 = store
        .commit(
            submission("P02", "2024-03", "bbbbbbbb", 1),
            &schema,
            vec![rows(&["b1"], &[50])],
        )
        .unwrap();
    // P01 corrects its March file.
    let v3 = store
        .commit(
            submission("P01", "2024-03", "cccccccc", 1),
            &schema,
            vec![rows(&["a1-fixed"], &[31])],
        )
        .unwrap();
    let (Committed::Version(v1), Committed::Version(v2), Committed::Version(v3)) = (v1, v2, v3)
    else {
        panic!()
    };
    assert!(v1 < v2 && v2 < v3);

    assert_eq!(ids(&store.read("svc", None).unwrap()), ["a1-fixed", "b1"]);
    assert_eq!(
        ids(&store.read("svc", Some(v2)).unwrap()),
        ["a1", "a2", "b1"]
    );
    assert_eq!(ids(&store.read("svc", Some(v1)).unwrap()), ["a1", "a2"]);

    let ledger = store.submissions("svc", None).unwrap();
    assert_eq!(ledger.len(), 3);
    assert_eq!(
        ledger[2].supersedes.as_deref(),
        Some("P01-svc-2024-03-aaaaaa")
    );
    assert_eq!(ledger[2].table_version, Some(v3));

    // The same bytes again: nothing changes, and we are told which submission they were.
    let again = store
        .commit(
            submission("P01", "2024-03", "cccccccc", 1),
            &schema,
            vec![rows(&["a1-fixed"], &[31])],
        )
        .unwrap();
    assert!(matches!(again, Committed::Duplicate(s) if s.id == "P01-svc-2024-03-cccccc"));
    assert_eq!(store.version("svc").unwrap(), Some(v3));

    // Rows carry their lineage.
    let current = store.read("svc", None).unwrap();
    let b = &current[0];
    assert!(b.schema().index_of("_submission_id").is_ok());
    assert!(b.schema().index_of("_partner").is_ok());
}

#[test]
fn files_are_archived_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let f = dir.path().join("in.csv");
    std::fs::write(&f, "a,b\n1,2\n").unwrap();
    let sha = store.archive(&f).unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        std::fs::read(store.archived(&sha).unwrap()).unwrap(),
        b"a,b\n1,2\n"
    );
    assert_eq!(store.archive(&f).unwrap(), sha);
}

/// Two stores open on the same folder (two processes: the portal and a nightly run) take
/// turns committing. Each keeps its loaded tables between commits; each must see the other's
/// commits, so that a resubmission removes the rows the other one wrote.
#[test]
fn two_stores_taking_turns_each_see_the_others_commits() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path()).unwrap();
    let b = Store::open(dir.path()).unwrap();
    let schema = rows(&[], &[]).schema();
    let mut expected = Vec::new();
    // 60 turns: past two checkpoints of every table, so the kept listings and tables are
    // brought up to date across checkpoints another store wrote.
    for turn in 0..60u32 {
        let store = if turn % 2 == 0 { &a } else { &b };
        let period = format!("2024-{:02}", 1 + turn % 3);
        let id = format!("r{turn}");
        let sha = format!("{turn:08x}");
        let done = store
            .commit(
                submission("P01", &period, &sha, 1),
                &schema,
                vec![rows(&[id.as_str()], &[i64::from(turn)])],
            )
            .unwrap();
        assert!(matches!(done, Committed::Version(_)), "turn {turn}");
        // The partner's current file for each period is its last one.
        expected = (turn.saturating_sub(2)..=turn)
            .map(|t| format!("r{t}"))
            .collect();
        expected.sort();
        for s in [&a, &b] {
            assert_eq!(ids(&s.read("svc", None).unwrap()), expected, "turn {turn}");
        }
    }
    let ledger = a.submissions("svc", None).unwrap();
    assert_eq!(ledger.len(), 60);
    assert_eq!(b.submissions("svc", None).unwrap(), ledger);
    // Each resubmission names the one before it for its period, whichever store wrote it.
    for (i, s) in ledger.iter().enumerate().skip(3) {
        assert_eq!(s.supersedes.as_ref(), Some(&ledger[i - 3].id), "{i}");
    }
    // The ledger's mirror holds every submission once, in a few files.
    let mirrored = a.read_ledger_table().unwrap();
    let mirrored_ids = strings(&mirrored, "submission_id");
    let mut ledger_ids: Vec<String> = ledger.iter().map(|s| s.id.clone()).collect();
    ledger_ids.sort();
    assert_eq!(mirrored_ids, ledger_ids);
    assert!(mirrored.len() <= 20, "{} files", mirrored.len());
    assert_eq!(ids(&a.read("svc", None).unwrap()), expected);
    // The commits write their tables' checkpoints themselves, whichever store made them:
    // tables this small every 10th version, so a reader replays at most 10 commits.
    for log in [
        a.table_dir("svc").join("_delta_log"),
        dir.path().join("submissions").join("_delta_log"),
    ] {
        let mut checkpoints: Vec<u64> = std::fs::read_dir(&log)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".checkpoint.parquet")?.parse().ok()
            })
            .collect();
        checkpoints.sort_unstable();
        let commits = std::fs::read_dir(&log)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".json")
            })
            .count() as u64;
        let every_tenth: Vec<u64> = (9..commits).step_by(10).collect();
        assert_eq!(checkpoints, every_tenth, "{}", log.display());
        let last = std::fs::read_to_string(log.join("_last_checkpoint")).unwrap();
        let newest = checkpoints.last().unwrap();
        assert!(last.contains(&format!("\"version\":{newest},")), "{last}");
    }
}

/// A table whose protocol another tool raised (Spark turning on change data feed, say) is not
/// written to: rows written without that feature would be read wrongly there. The refusal is
/// an error that says so, and the table keeps what it had.
#[test]
fn a_table_whose_protocol_another_tool_raised_is_not_written_to() {
    let dir = tempfile::tempdir().unwrap();
    let schema = rows(&[], &[]).schema();
    let store = Store::open(dir.path()).unwrap();
    let Committed::Version(v) = store
        .commit(
            submission("P01", "2024-01", "aaaaaaaa", 1),
            &schema,
            vec![rows(&["a"], &[1])],
        )
        .unwrap()
    else {
        panic!("not committed");
    };
    let log = store.table_dir("svc").join("_delta_log");
    std::fs::write(
        log.join(format!("{:020}.json", v + 1)),
        "{\"commitInfo\":{\"timestamp\":1,\"operation\":\"SET TBLPROPERTIES\"}}\n\
         {\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":4}}\n",
    )
    .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let e = store
        .commit(
            submission("P01", "2024-01", "bbbbbbbb", 1),
            &schema,
            vec![rows(&["b"], &[2])],
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("minWriterVersion") && e.contains("another tool"),
        "{e}"
    );
    assert_eq!(ids(&store.read("svc", None).unwrap()), ["a"]);
    assert!(!log.join(format!("{:020}.json", v + 2)).exists());
}
