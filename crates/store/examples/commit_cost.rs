//! How the cost of one submission's commit grows with the store's history.
//!
//!     cargo run --release -p backbone-store --example commit_cost -- [COMMITS] [MODE] [DIR] [--fresh]
//!
//! Makes COMMITS (default 5000) small submissions into a fresh store, one after another,
//! through the same calls `backbone ingest` makes (begin, write, commit, mirror the ledger).
//! MODE `resubmit` (default): 20 partners × 12 months, then every commit replaces one of
//! those 240 submissions, so the table stays the same size while its history grows; this
//! is what checkpoints are for. MODE `grow`: a new period every 20 commits (every 7th a
//! resubmission), so the table itself grows to thousands of files. Prints the median time of
//! commits #6–#15 and of the last 20 (in milliseconds), and their ratio (and the ratio to
//! #91–#100, once the table has its size and its first checkpoints); and the means of the
//! first and last 100, which include the commits that write a checkpoint. `--fresh` opens the
//! store again for every commit (one `backbone ingest` process per file); without it the
//! store is kept open, as the nightly run and the portal keep it.
//!
//! `RUST_LOG=backbone_store=debug` prints each step of each commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use backbone_store::{Store, Submission};
use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};

fn main() {
    // RUST_LOG=backbone_store=debug prints each step of each commit.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `--fresh`: open the store again for every commit, as one `backbone ingest` process per
    // file does, so nothing loaded is kept between commits.
    let fresh = all.iter().any(|a| a == "--fresh");
    let mut args = all.into_iter().filter(|a| a != "--fresh");
    let commits: usize = args
        .next()
        .map_or(5000, |a| a.parse().expect("COMMITS: a number"));
    let grow = match args.next().as_deref() {
        None | Some("resubmit") => false,
        Some("grow") => true,
        Some(other) => panic!("MODE is resubmit or grow, not {other}"),
    };
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("backbone-commit-cost-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = Store::open(&dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("record_id", DataType::Utf8, false),
        Field::new("age", DataType::Int64, true),
    ]));
    let mut times = Vec::with_capacity(commits);
    for i in 0..commits {
        let partner = format!("partner{:02}", i % 20);
        let round = if grow {
            // A resubmission every 7th commit: same partner and period as 20 commits ago.
            if i % 7 == 6 && i >= 20 {
                i / 20 - 1
            } else {
                i / 20
            }
        } else {
            // 20 partners × 12 months, then the same 240 submissions replaced again and again.
            (i / 20) % 12
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
        if fresh {
            store = Store::open(&dir).unwrap();
        }
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
    let first = median(&times[5.min(commits)..15.min(commits)]);
    let last = median(&times[commits.saturating_sub(20)..]);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    println!(
        "mode: {}{}",
        if grow { "grow" } else { "resubmit" },
        if fresh {
            ", store opened afresh for every commit"
        } else {
            ""
        }
    );
    println!("commits: {commits}");
    println!("median of commits #6-#15: {first:.1} ms");
    println!("median of the last 20 commits: {last:.1} ms");
    println!("ratio: {:.2}", last / first);
    // The 10th commit reads a table of ten files and no checkpoint yet; from the 100th on the
    // table has its size and its checkpoints, and what is left to grow is the history.
    if commits >= 100 {
        let hundredth = median(&times[90..100]);
        println!("ratio of the last 20 to #91-#100: {:.2}", last / hundredth);
    }
    // Means include the commits that write a checkpoint (every 25th), which medians hide.
    let (early, late) = (
        mean(&times[..100.min(commits)]),
        mean(&times[commits.saturating_sub(100)..]),
    );
    println!("mean of the first 100 commits: {early:.1} ms");
    println!("mean of the last 100 commits: {late:.1} ms");
    println!("ratio of means: {:.2}", late / early);
    println!(
        "slowest of the last 100: {:.1} ms",
        times[commits.saturating_sub(100)..]
            .iter()
            .copied()
            .fold(0.0, f64::max)
    );
    for k in [
        20, 25, 30, 40, 50, 100, 250, 500, 1000, 2000, 3000, 4000, 5000,
    ] {
        if k <= commits {
            println!(
                "median of commits #{}-#{k}: {:.1} ms",
                k.saturating_sub(9),
                median(&times[k.saturating_sub(10)..k])
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
