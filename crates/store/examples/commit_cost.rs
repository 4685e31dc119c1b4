//! How the cost of one submission's commit grows with the store's history.
//!
//!     cargo run --release -p backbone-store --example commit_cost -- [COMMITS] [DIR]
//!
//! Makes COMMITS (default 5000) small submissions into a fresh store, one after another,
//! through the same calls `backbone ingest` makes (begin, write, commit, mirror the ledger):
//! 20 partners, a new period every 20 commits, every 7th a resubmission of its partner's
//! period. Prints the median time of commits #1–#20 and of the last 20 (in milliseconds),
//! and their ratio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use backbone_store::{Store, Submission};
use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};

fn main() {
    let mut args = std::env::args().skip(1);
    let commits: usize = args
        .next()
        .map_or(5000, |a| a.parse().expect("COMMITS: a number"));
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("backbone-commit-cost-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("record_id", DataType::Utf8, false),
        Field::new("age", DataType::Int64, true),
    ]));
    let mut times = Vec::with_capacity(commits);
    for i in 0..commits {
        let partner = format!("partner{:02}", i % 20);
        // A resubmission every 7th commit: same partner and period as 20 commits ago.
        let round = if i % 7 == 6 && i >= 20 {
            i / 20 - 1
        } else {
            i / 20
        };
        let period = format!("{}-{:02}", 2000 + round / 12, 1 + round % 12);
        let rows = 100;
        let ids: Vec<String> = (0..rows).map(|r| format!("{i}-{r}")).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(Int64Array::from_iter_values((0..rows).map(|r| r as i64))),
            ],
        )
        .unwrap();
        let sha = format!("{i:064x}");
        let submission = Submission {
            id: format!("{partner}-svc-{period}-{}", &sha[52..]),
            partner,
            schema: "svc".into(),
            period,
            file_name: format!("file{i}.csv"),
            sha256: sha,
            received: "2026-01-01T00:00:00Z".into(),
            rows_read: rows as u64,
            rows_accepted: rows as u64,
            rows_rejected: 0,
            rows_with_warnings: 0,
            verdict: "accepted".into(),
            supersedes: None,
            table_version: None,
        };
        let started = Instant::now();
        store.commit(submission, &schema, vec![batch]).unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if (i + 1) % 500 == 0 {
            eprintln!("{} commits, last one {:.1} ms", i + 1, times[i]);
        }
    }
    let median = |xs: &[f64]| {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let first = median(&times[..20.min(commits)]);
    let last = median(&times[commits.saturating_sub(20)..]);
    println!("commits: {commits}");
    println!("median of commits #1-#20: {first:.1} ms");
    println!("median of the last 20 commits: {last:.1} ms");
    println!("ratio: {:.2}", last / first);
    let around10 = median(&times[5.min(commits)..15.min(commits)]);
    println!("median of commits #6-#15: {around10:.1} ms");
    let _ = std::fs::remove_dir_all(&dir);
}
