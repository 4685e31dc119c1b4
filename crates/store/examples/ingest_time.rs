//! Where an ingest's time goes, without the CLI: the calls `backbone ingest` makes (archive,
//! begin, validate with the rows streamed into the store, commit), each step timed.
//!
//!     cargo run --release --example ingest_time -- FILE SCHEMA.json [DIR]
//!
//! Then `validate`: the same file read with no rows kept, as `backbone validate` reads it.
//! The store's example builds in ~5 minutes where the `backbone` binary (which links polars)
//! took 17–27 here, so the ingest path is tuned with this and the figures in BENCHMARKS.md
//! are then taken with the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use backbone_ingest::{
    Discard, Options, Pseudonymiser, RejectedRow, Sink, SinkError, arrow_schema, read_file,
};
use backbone_store::{Begun, Pending, Reject, Store, Submission};

struct ToStore<'a, 's> {
    pending: &'a mut Pending<'s>,
    submission: &'a Submission,
}

impl Sink for ToStore<'_, '_> {
    fn wants_rows(&self) -> bool {
        true
    }
    fn accepted(&mut self, batch: deltalake::arrow::array::RecordBatch) -> Result<(), SinkError> {
        self.pending
            .write(self.submission, batch)
            .map_err(|e| Box::new(e) as SinkError)
    }
    fn rejected(&mut self, row: RejectedRow) -> Result<(), SinkError> {
        for p in row.problems {
            let reject = Reject {
                row_number: row.row_number,
                error_type: p.kind.code().to_owned(),
                field: p.field,
                cell: None,
                message: p.note,
            };
            self.pending
                .reject(self.submission, reject)
                .map_err(|e| Box::new(e) as SinkError)?;
        }
        Ok(())
    }
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat` (0 elsewhere).
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name's closing parenthesis: fields 3…; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(args.next().expect("FILE"));
    let schema_path = PathBuf::from(args.next().expect("SCHEMA.json"));
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("backbone-ingest-time-{}", std::process::id())),
        PathBuf::from,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let schema = backbone_schema::TableSchema::load(&schema_path).expect("schema");

    let (t, c) = (Instant::now(), cpu());
    let store = Store::open(&dir).expect("store");
    let sha256 = store.archive(&file).expect("archive");
    let archived = t.elapsed();
    let source = store.archived(&sha256).expect("archived");
    let mut pending = match store
        .begin(&schema.name, "P01", "2024", &sha256, &arrow_schema(&schema))
        .expect("begin")
    {
        Begun::Writing(p) => *p,
        Begun::Duplicate(_) => panic!("a fresh store has no duplicates"),
    };
    let submission = Submission {
        id: format!("P01-{}-2024-{}", schema.name, &sha256[..12]),
        partner: "P01".into(),
        schema: schema.name.clone(),
        period: "2024".into(),
        file_name: file.display().to_string(),
        sha256,
        received: "2026-01-01T00:00:00Z".into(),
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        rows_with_warnings: 0,
        verdict: "accepted".into(),
        supersedes: None,
        table_version: None,
    };
    let options = Options {
        pseudonymiser: Pseudonymiser::new(&[7u8; 32]),
        ..Options::default()
    };
    let report = {
        let mut sink = ToStore {
            pending: &mut pending,
            submission: &submission,
        };
        read_file(&source, &schema, &options, &mut sink).expect("read")
    };
    let read = t.elapsed();
    let version = pending.commit(submission).expect("commit");
    let total = t.elapsed();
    let ingest_cpu = cpu() - c;
    println!(
        "ingest: {:.2} s, {ingest_cpu:.2} s CPU (archive {:.2} s, read+write {:.2} s, commit {:.2} s): {} rows accepted, version {version}",
        total.as_secs_f64(),
        archived.as_secs_f64(),
        (read - archived).as_secs_f64(),
        (total - read).as_secs_f64(),
        report.stats.accepted,
    );
    let (t, c) = (Instant::now(), cpu());
    let plain = read_file(&file, &schema, &Options::default(), &mut Discard).expect("validate");
    let validate = t.elapsed();
    let validate_cpu = cpu() - c;
    println!(
        "validate: {:.2} s, {validate_cpu:.2} s CPU ({} rows accepted); ratio {:.2} (CPU {:.2})",
        validate.as_secs_f64(),
        plain.stats.accepted,
        total.as_secs_f64() / validate.as_secs_f64(),
        ingest_cpu / validate_cpu
    );
    let _ = std::fs::remove_dir_all(&dir);
}
