//! The versioned store: one Delta Lake table per schema, partitioned by partner and period,
//! written so that Spark, DuckDB or polars read it as it is.
//!
//! One submission is one Delta commit. The commit adds the submission's accepted rows and, in
//! the same commit, removes the rows of the submission it supersedes (same partner × schema ×
//! period); the ledger entry travels in that commit's `commitInfo` (key
//! `backbone.submission`), so a reader can never see rows without their ledger entry or the
//! other way round. The ledger is read back from the table's history.
//!
//! Raw files are archived by content hash (`archive/ab/abcdef…`) before anything is read.
//!
//! Beside the data tables (`tables/<schema>`): `submissions`, the ledger mirrored as a Delta
//! table for outside readers, and `rejects`, every problem of every rejected row (see
//! [`ledger`] and [`side_tables`] for how each stays consistent with the data commit).

mod data_log;
mod erase;
mod error;
mod ledger;
mod lifecycle;
mod logdir;
mod pending;
mod rejects;
mod side_tables;
mod sweep;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::Action;
use deltalake::{DeltaTable, FilterOp, FilterValue};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use data_log::DataLog;
use writer::{FileWriter, add_partition_columns, table_schema};

pub use erase::Erased;
pub use error::StoreError;
pub use lifecycle::{Compacted, SMALL_FILE, StatisticsCut, Vacuumed};
pub use pending::Pending;
pub use rejects::Reject;
pub use sweep::Swept;

/// Columns the store adds to every row.
pub const SUBMISSION_COLUMN: &str = "_submission_id";
/// Partition column: the partner.
pub const PARTNER_COLUMN: &str = "_partner";
/// Partition column: the reporting period.
pub const PERIOD_COLUMN: &str = "_period";
/// The commitInfo key that carries the ledger entry.
pub const LEDGER_KEY: &str = "backbone.submission";

/// Time travel must outlive any reproducibility horizon: keep the log and removed files for
/// 100 years (Delta's defaults, 30 and 7 days, would break `--as-of`).
pub(crate) const RETENTION: &str = "interval 36500 days";

/// One submission: a partner's file for one schema and period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// `<partner>-<schema>-<period>-<first 12 hex of sha256>`.
    pub id: String,
    /// Partner id.
    pub partner: String,
    /// Schema name.
    pub schema: String,
    /// Reporting period (`2024-03`, `2024-Q1`).
    pub period: String,
    /// The file's name as received.
    pub file_name: String,
    /// sha256 of the bytes, hex.
    pub sha256: String,
    /// When it was received (RFC 3339).
    pub received: String,
    /// Rows read, accepted, rejected, accepted with warnings.
    pub rows_read: u64,
    /// Rows accepted.
    pub rows_accepted: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Rows accepted with warnings.
    pub rows_with_warnings: u64,
    /// `accepted`, `accepted_with_problems`, `rejected`.
    pub verdict: String,
    /// The submission this one replaces.
    pub supersedes: Option<String>,
    /// The table version this submission produced (filled when read back from history).
    #[serde(default)]
    pub table_version: Option<u64>,
}

/// One version of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// The Delta table version.
    pub version: u64,
    /// When it was committed (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub committed: String,
    /// Delta's operation name (`CREATE TABLE`, `WRITE`).
    pub operation: String,
    /// The submission it recorded, if any.
    pub submission: Option<Submission>,
    /// The erasure it recorded, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<Erasure>,
    /// The key rotation it recorded, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey: Option<Rekeyed>,
}

/// The commitInfo key that carries a key rotation's record.
pub const REKEY_KEY: &str = "backbone.rekey";

/// Every pseudonym of a table rewritten under a rotated key (`backbone rekey`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rekeyed {
    /// A fingerprint of the new key (a hash of it: it says which rotation, and nothing of
    /// the key).
    pub key: String,
    /// When (RFC 3339).
    pub at: String,
    /// Rows rewritten.
    pub rows: u64,
    /// Data files of older versions, with the old pseudonyms; `backbone vacuum` removes them.
    pub older_files: Vec<String>,
}

/// The commitInfo key that carries an erasure's record.
pub const ERASURE_KEY: &str = "backbone.erasure";

/// One person's rows erased from a table: what the erasure commit records. It never holds the
/// identifier or its pseudonym: `tag` is a keyed hash of the pseudonym, so the data manager
/// can answer "was this person erased?" with the key and the identifier, and nobody can
/// without both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    /// A keyed hash of the person's pseudonym (not the pseudonym).
    pub tag: String,
    /// When (RFC 3339).
    pub at: String,
    /// The schema whose table it is.
    pub schema: String,
    /// Rows removed from the current version.
    pub rows: u64,
    /// The submissions those rows came from.
    pub submissions: Vec<String>,
    /// Rows of the `rejects` table removed (problems of the person's rejected rows).
    pub rejects: u64,
    /// The raw files that held the person, each rewritten without their rows or removed.
    pub raw_files: Vec<Redacted>,
    /// Data files of older versions that hold the person (paths in the table's folder);
    /// `backbone vacuum` removes them, whatever the retention.
    pub older_files: Vec<String>,
}

/// A raw file an erasure changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redacted {
    /// The file's hash as received (the ledger's).
    pub sha256: String,
    /// `rewritten` (the person's rows blanked, every other row where it was) or `removed`
    /// (a spreadsheet, which backbone does not write back).
    pub how: String,
    /// The physical rows blanked.
    pub rows: Vec<u64>,
}

/// One Parquet file of a table version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its partner (a partition value: not a column of the file).
    pub partner: String,
    /// Its period (a partition value: not a column of the file).
    pub period: String,
    /// The earliest and latest value of each date column, from the statistics the log keeps
    /// for the file; a column the log has none for is missing (the file may hold any date).
    pub dates: BTreeMap<String, (chrono::NaiveDate, chrono::NaiveDate)>,
    /// Its rows, from the log's statistics (`numRecords`), when the log has them.
    pub rows: Option<u64>,
}

/// The date columns' least and greatest values in a file's statistics (Delta writes dates as
/// `YYYY-MM-DD` in `minValues` and `maxValues`).
fn date_bounds(v: &serde_json::Value) -> BTreeMap<String, (chrono::NaiveDate, chrono::NaiveDate)> {
    let mut out = BTreeMap::new();
    let (Some(min), Some(max)) = (v["minValues"].as_object(), v["maxValues"].as_object()) else {
        return out;
    };
    let date = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_str)
            .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    for (column, low) in min {
        if let (Some(low), Some(high)) = (date(Some(low)), date(max.get(column))) {
            out.insert(column.clone(), (low, high));
        }
    }
    out
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq)]
pub enum Committed {
    /// A new version of the table.
    Version(u64),
    /// The same bytes were ingested before, as this submission: nothing changed.
    Duplicate(Box<Submission>),
}

/// What [`Store::begin`] found.
pub enum Begun<'s> {
    /// The same bytes were committed before, as this submission.
    Duplicate(Box<Submission>),
    /// A submission being written.
    Writing(Box<Pending<'s>>),
}

/// The submission whose rows a partner × period has now: the last one that stored rows.
pub(crate) fn current_of<'a>(
    ledger: impl DoubleEndedIterator<Item = &'a Submission>,
    partner: &str,
    period: &str,
) -> Option<String> {
    ledger
        .rev()
        .find(|s| s.partner == partner && s.period == period && s.rows_accepted > 0)
        .map(|s| s.id.clone())
}

/// The ledger's mirror: one row per submission of every schema, for outside readers.
pub(crate) const MIRROR_TABLE: &str = "submissions";

/// How many files a schema's entries in the `submissions` table may span before they are
/// written again as one.
pub(crate) const MIRROR_FILES: usize = 20;

/// Attempts at a commit that keeps losing races to other writers.
pub(crate) const MAX_ATTEMPTS: u32 = 20;

pub(crate) fn is_conflict(e: &deltalake::DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError;
    matches!(
        e,
        deltalake::DeltaTableError::VersionAlreadyExists(_)
            | deltalake::DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::VersionAlreadyExists(_)
                    | TransactionError::MaxCommitAttempts(_)
            }
    )
}

/// A store rooted at a directory.
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) archive: PathBuf,
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) memo: ledger::Memo,
    pub(crate) tables: Tables,
    pub(crate) listed: Listed,
    /// The object store the data commits list and read logs through, kept so that a store
    /// committing many files (the nightly run, the portal) lists each `_delta_log` folder
    /// whole once and then only what was added since (`logdir::Listing`).
    pub(crate) logs: std::sync::Arc<logdir::LogDirStore>,
}

/// The files of the last few table versions listed by this process: a version's files never
/// change, and one computation lists the same version more than once (what changed since the
/// last results, then the rows to read).
#[derive(Default)]
pub(crate) struct Listed(std::sync::Mutex<Vec<(TableVersion, Vec<DataFile>)>>);

/// A table's name and one of its versions.
type TableVersion = (String, u64);

impl Listed {
    /// How many versions are kept (a long-running portal lists versions for months).
    const KEPT: usize = 4;

    fn get(&self, schema: &str, version: u64) -> Option<Vec<DataFile>> {
        let listed = self.0.lock().ok()?;
        listed
            .iter()
            .find(|((s, v), _)| s == schema && *v == version)
            .map(|(_, files)| files.clone())
    }

    fn put(&self, schema: &str, version: u64, files: &[DataFile]) {
        if let Ok(mut listed) = self.0.lock() {
            listed.retain(|((s, v), _)| !(s == schema && *v == version));
            if listed.len() >= Self::KEPT {
                listed.remove(0);
            }
            listed.push(((schema.to_owned(), version), files.to_vec()));
        }
    }
}

/// The tables this process has loaded, by folder, kept between commits. Bringing a kept table
/// up to date reads only the commits made since and applies them to the files it knows;
/// loading afresh replays the last checkpoint and every commit after it for every file of
/// the table. The nightly run and the portal commit many submissions in one process.
#[derive(Default)]
pub(crate) struct Tables(std::sync::Mutex<HashMap<PathBuf, DeltaTable>>);

impl Tables {
    /// The kept table of `dir` brought up to date, or `None` (never loaded, or it could not
    /// be brought up to date: then the caller loads it afresh).
    pub(crate) async fn latest(&self, dir: &Path) -> Option<DeltaTable> {
        let mut table = self.0.lock().ok()?.get(dir).cloned()?;
        if !dir.join("_delta_log").is_dir() || table.update_state().await.is_err() {
            self.forget(dir);
            return None;
        }
        Some(table)
    }

    /// Keeps `table` for the next use, unless a checkpoint was just written at its version.
    /// A kept table grows by a batch of file actions at each update (delta-rs applies new
    /// commits on top of what it had, removed files included, and does not switch to a newer
    /// checkpoint), so it is loaded afresh from each new checkpoint: the cost of an update
    /// stays bounded by the checkpoint interval, not by the history.
    pub(crate) fn keep(&self, dir: &Path, table: &DeltaTable) {
        let at_checkpoint = table
            .version()
            .is_some_and(|v| side_tables::checkpoint_at(dir, v));
        if let Ok(mut tables) = self.0.lock() {
            if at_checkpoint {
                tables.remove(dir);
            } else {
                tables.insert(dir.to_path_buf(), table.clone());
            }
        }
    }

    pub(crate) fn forget(&self, dir: &Path) {
        if let Ok(mut tables) = self.0.lock() {
            tables.remove(dir);
        }
    }
}

impl Store {
    /// Opens (creating the folders of) the store under `root`, with its archive of raw files
    /// in `root/archive`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Self::open_with_archive(root, &root.join("archive"))
    }

    /// Opens the store under `root`, archiving raw files in `archive`. The raw files hold
    /// personal data; keeping them outside `root` leaves the store itself free of it, so it
    /// can be shared with an outside reader as it is.
    pub fn open_with_archive(root: &Path, archive: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root.join("tables")).map_err(|e| StoreError::io(root, e))?;
        std::fs::create_dir_all(archive).map_err(|e| StoreError::io(archive, e))?;
        let root = root.canonicalize().map_err(|e| StoreError::io(root, e))?;
        let archive = archive
            .canonicalize()
            .map_err(|e| StoreError::io(archive, e))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::io(&root, e))?;
        let memo = ledger::Memo::read_ahead(&root);
        Ok(Self {
            root,
            archive,
            rt,
            memo,
            tables: Tables::default(),
            listed: Listed::default(),
            logs: std::sync::Arc::new(logdir::LogDirStore::new()),
        })
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of a table (its Delta log and partition folders).
    pub fn table_dir(&self, schema: &str) -> PathBuf {
        self.root.join("tables").join(schema)
    }

    pub(crate) fn rejects_dir(&self) -> PathBuf {
        self.root.join("rejects")
    }

    pub(crate) fn submissions_dir(&self) -> PathBuf {
        self.root.join(MIRROR_TABLE)
    }

    /// Copies a file's bytes into the archive under their sha256, before anything reads them
    /// (only a regular file, opened without following a link: see [`open_regular`]);
    /// returns the hash. Archiving the same bytes twice is a no-op. Streams: a file of any size
    /// costs a fixed buffer.
    pub fn archive(&self, file: &Path) -> Result<String, StoreError> {
        let dir = &self.archive;
        // Copied aside first (by the kernel: `copy_file_range`, no pass through this process),
        // then the copy is hashed and renamed under its hash: a crash never leaves a half file
        // under a hash, the bytes hashed are the bytes kept, and `backbone ingest` then reads
        // those same bytes back from the archive, whatever happens to the partner's file.
        let tmp = dir.join(format!(
            ".{}.{}.partial",
            std::process::id(),
            ledger::unique()
        ));
        let hashed = (|| -> Result<String, StoreError> {
            let mut source = open_regular(file)?;
            let mut target = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
            // The archive is personal data, the data manager's alone.
            backbone_workspace::owner_only(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
            std::io::copy(&mut source, &mut target).map_err(|e| StoreError::io(file, e))?;
            // The copy is made durable while it is hashed (the disk's work beside the
            // processor's: a 473 MB file's sync took 0.57 s and its hash 0.35 s one after the
            // other); it is renamed under its hash only when both are done.
            std::thread::scope(|scope| {
                let synced = scope.spawn(|| target.sync_all());
                let sha = sha256_of(&tmp);
                synced
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("the sync of the copy stopped")))
                    .and(sha)
                    .map_err(|e| StoreError::io(&tmp, e))
            })
        })();
        let sha = match hashed {
            Ok(sha) => sha,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let sub = dir.join(&sha[..2]);
        let dest = sub.join(&sha);
        if dest.exists() {
            let _ = std::fs::remove_file(&tmp);
        } else {
            std::fs::create_dir_all(&sub).map_err(|e| StoreError::io(&sub, e))?;
            std::fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
        }
        Ok(sha)
    }

    /// The archived bytes of a hash: the file as received, or its redacted copy
    /// (`<hash>.redacted`) once an erasure rewrote it.
    pub fn archived(&self, sha256: &str) -> Option<PathBuf> {
        let p = self.archive.join(sha256.get(..2)?).join(sha256);
        if p.is_file() {
            return Some(p);
        }
        let r = p.with_extension("redacted");
        r.is_file().then_some(r)
    }

    /// Replaces an archived file by its redacted bytes (`<hash>.redacted`; the name keeps the
    /// hash of the file as received, which the ledger names), or removes it (`None`).
    pub fn redact_archived(&self, sha256: &str, bytes: Option<&[u8]>) -> Result<(), StoreError> {
        let Some(original) = self.archived(sha256) else {
            return Ok(());
        };
        if let Some(bytes) = bytes {
            let dir = original.parent().unwrap_or(&self.archive);
            let tmp = dir.join(format!(
                ".{}.{}.partial",
                std::process::id(),
                ledger::unique()
            ));
            std::fs::write(&tmp, bytes).map_err(|e| StoreError::io(&tmp, e))?;
            backbone_workspace::owner_only(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
            let dest = dir.join(format!("{sha256}.redacted"));
            std::fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
            if original != dest {
                std::fs::remove_file(&original).map_err(|e| StoreError::io(&original, e))?;
            }
        } else {
            std::fs::remove_file(&original).map_err(|e| StoreError::io(&original, e))?;
        }
        Ok(())
    }

    /// A schema's table at its latest version.
    async fn load(&self, schema: &str) -> Result<Option<DeltaTable>, StoreError> {
        let dir = self.table_dir(schema);
        if let Some(table) = self.tables.latest(&dir).await {
            return Ok(Some(table));
        }
        let table = load_dir(&dir, schema, None).await?;
        if let Some(t) = &table {
            self.tables.keep(&dir, t);
        }
        Ok(table)
    }

    async fn create(&self, schema: &str, rows: &SchemaRef) -> Result<DeltaTable, StoreError> {
        self.open_or_create(
            &self.table_dir(schema),
            schema,
            &table_schema(rows),
            &[PARTNER_COLUMN, PERIOD_COLUMN],
            true,
        )
        .await
    }

    /// One of the store's tables at its latest version, created the first time; kept.
    async fn open_or_create(
        &self,
        dir: &Path,
        name: &str,
        schema: &SchemaRef,
        partitions: &[&str],
        keep_history: bool,
    ) -> Result<DeltaTable, StoreError> {
        if let Some(table) = self.tables.latest(dir).await {
            return Ok(table);
        }
        let table =
            side_tables::open_or_create(dir, name, schema, partitions, keep_history).await?;
        self.tables.keep(dir, &table);
        Ok(table)
    }

    /// Every submission recorded in a schema's table, oldest first, with the version each
    /// made; with `as_of`, only those up to that table version.
    pub fn submissions(
        &self,
        schema: &str,
        as_of: Option<u64>,
    ) -> Result<Vec<Submission>, StoreError> {
        Ok(self
            .history(schema, as_of)?
            .into_iter()
            .filter_map(|v| v.submission)
            .collect())
    }

    /// Commits a submission whose rows are all at hand (see [`Store::begin`] to stream them).
    pub fn commit(
        &self,
        submission: Submission,
        rows: &SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<Committed, StoreError> {
        match self.begin(
            &submission.schema,
            &submission.partner,
            &submission.period,
            &submission.sha256,
            rows,
        )? {
            Begun::Duplicate(s) => Ok(Committed::Duplicate(s)),
            Begun::Writing(mut w) => {
                for b in batches {
                    w.write(&submission, b)?;
                }
                Ok(Committed::Version(w.commit(submission)?))
            }
        }
    }

    /// Starts a submission: [`Begun::Duplicate`] when these bytes were committed before for this
    /// partner × schema × period, else a writer that takes the accepted rows batch by batch
    /// (they go to Parquet files as they come; nothing is visible until [`Pending::commit`]).
    pub fn begin(
        &self,
        schema: &str,
        partner: &str,
        period: &str,
        sha256: &str,
        rows: &SchemaRef,
    ) -> Result<Begun<'_>, StoreError> {
        let started = std::time::Instant::now();
        let table = self.rt.block_on(async {
            // The ledger's mirror is opened meanwhile, on the other core, and kept for the
            // commit's mirroring (a one-file ingest otherwise opens it after its commit, ~20 ms
            // at 12 000 submissions). Its errors are left to the mirroring, which opens again.
            let (data, _) = tokio::join!(self.data_log(schema, rows), self.open_mirror());
            data
        })?;
        tracing::debug!(table = schema, took = ?started.elapsed(), "loaded");
        let started = std::time::Instant::now();
        let earlier = self.rt.block_on(ledger::versions_to(
            &self.root,
            &self.memo,
            &table.log(),
            schema,
            table.version(),
        ))?;
        tracing::debug!(table = schema, took = ?started.elapsed(), "ledger read");
        if let Some(same) = earlier
            .submissions()
            .find(|s| s.sha256 == sha256 && s.partner == partner && s.period == period)
        {
            // A crash after the data commit may have left the mirror behind: catch it up.
            self.sync_ledger_table(schema)?;
            return Ok(Begun::Duplicate(Box::new(same.clone())));
        }
        let supersedes = current_of(earlier.submissions(), partner, period);
        let files = FileWriter::start(table.table().clone(), schema, partner, period)?;
        Ok(Begun::Writing(Box::new(Pending {
            store: self,
            table,
            rows: rows.clone(),
            files,
            rejects: Vec::new(),
            rejects_table: None,
            reject_files: Vec::new(),
            supersedes,
            versions: earlier,
            schema: schema.to_owned(),
        })))
    }

    /// A schema's data table as a commit needs it ([`DataLog`]), created the first time.
    pub(crate) async fn data_log(
        &self,
        schema: &str,
        rows: &SchemaRef,
    ) -> Result<DataLog, StoreError> {
        let dir = self.table_dir(schema);
        if !dir.join("_delta_log").is_dir() {
            self.create(schema, rows).await?;
        }
        let url = url::Url::from_directory_path(&dir)
            .map_err(|()| StoreError::Location(dir.display().to_string()))?;
        DataLog::open(&url, self.logs.clone())
            .await
            .map_err(|e| StoreError::delta(schema, e))
    }

    /// Brings the `submissions` table up to date with a schema's ledger (the entries its data
    /// commits carry): the entries since the last mirroring are appended in one file (and
    /// every [`MIRROR_FILES`] files the schema's partition is written again whole). Returns
    /// whether it changed anything. Safe to run at any time, by any number of processes.
    pub fn sync_ledger_table(&self, schema: &str) -> Result<bool, StoreError> {
        self.rt.block_on(async {
            match self.load(schema).await? {
                Some(table) => match table.version() {
                    Some(v) => {
                        self.mirror(&ledger::Log::of(&table, schema)?, schema, v)
                            .await
                    }
                    None => Ok(false),
                },
                None => Ok(false),
            }
        })
    }

    /// The `submissions` table (the ledger's mirror), created the first time; kept.
    async fn open_mirror(&self) -> Result<DeltaTable, StoreError> {
        self.open_or_create(
            &self.submissions_dir(),
            MIRROR_TABLE,
            &ledger::mirror_schema(),
            &["schema"],
            false,
        )
        .await
    }

    /// Mirrors the ledger of a data table, read from its `log`, up to version `current`.
    pub(crate) async fn mirror(
        &self,
        log: &ledger::Log,
        schema: &str,
        current: u64,
    ) -> Result<bool, StoreError> {
        const NAME: &str = MIRROR_TABLE;
        let started = std::time::Instant::now();
        let mut mirror = self.open_mirror().await?;
        tracing::debug!(table = NAME, took = ?started.elapsed(), "opened");
        let app = format!("backbone-ledger-{schema}");
        for _ in 0..MAX_ATTEMPTS {
            let started = std::time::Instant::now();
            let from = side_tables::txn_version(&mirror, NAME, &app).await?;
            if from.is_some_and(|f| f >= current as i64) {
                return Ok(false);
            }
            let old: Vec<_> = mirror
                .get_active_add_actions_by_partitions(&[(
                    "schema",
                    FilterOp::Eq,
                    FilterValue::Scalar(schema),
                )])
                .try_collect()
                .await
                .map_err(|e| StoreError::delta(NAME, e))?;
            // The entries since the last mirroring go in a file of their own; every
            // MIRROR_FILES files the schema's entries are written again whole, in one file
            // that replaces the others. Rewriting them all at every commit cost a time that
            // grew with the history.
            let first = match from {
                Some(f) if old.len() < MIRROR_FILES => usize::try_from(f + 1).unwrap_or(0),
                _ => 0,
            };
            let versions =
                ledger::versions_to(&self.root, &self.memo, log, schema, current).await?;
            let entries: Vec<&Submission> = versions
                .get(first..)
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.submission.as_ref())
                .collect();
            let mut actions: Vec<Action> = Vec::new();
            if !entries.is_empty() {
                let rows = ledger::mirror_rows(&entries)?;
                actions.extend(
                    side_tables::write_files(&mirror, NAME, vec![rows])
                        .await?
                        .into_iter()
                        .map(Action::Add),
                );
            }
            if first == 0 {
                actions.extend(old.iter().map(|f| Action::Remove(f.remove_action(true))));
            }
            tracing::debug!(table = NAME, entries = entries.len(), took = ?started.elapsed(), "written");
            let committed =
                side_tables::commit_once(&mut mirror, NAME, &actions, &app, from, current as i64)
                    .await?;
            self.tables.keep(&self.submissions_dir(), &mirror);
            if committed {
                return Ok(true);
            }
            // Another process mirrored meanwhile: look again (our file is an orphan now).
        }
        Err(StoreError::Busy(NAME.to_owned()))
    }

    /// The rows of a schema's table at a version (the latest when `None`), with the store's
    /// columns (`_submission_id`, `_partner`, `_period`).
    pub fn read(&self, schema: &str, version: Option<u64>) -> Result<Vec<RecordBatch>, StoreError> {
        self.rt
            .block_on(read_dir(&self.table_dir(schema), schema, version))
            .map_err(|e| self.kept_or(schema, version, e))
    }

    /// [`Store::read`] a batch at a time: `each` gets every batch of the schema's table (or of
    /// `rejects`) at the version, in turn, and memory holds one.
    pub fn read_each<E: From<StoreError>>(
        &self,
        table: &str,
        version: Option<u64>,
        each: impl FnMut(RecordBatch) -> Result<(), E>,
    ) -> Result<(), E> {
        let dir = match table {
            "rejects" => self.rejects_dir(),
            schema => self.table_dir(schema),
        };
        /// The store's failure, or the caller's.
        enum Failed<E> {
            Store(StoreError),
            Caller(E),
        }
        impl<E> From<StoreError> for Failed<E> {
            fn from(e: StoreError) -> Self {
                Self::Store(e)
            }
        }
        let mut each = each;
        let read = self
            .rt
            .block_on(each_batch(&dir, table, version, None, |b| {
                each(b).map_err(Failed::Caller)
            }));
        match read {
            Ok(()) => Ok(()),
            Err(Failed::Store(e)) => Err(self.kept_or(table, version, e).into()),
            Err(Failed::Caller(e)) => Err(e),
        }
    }

    /// A version's file not found is a version no longer kept.
    fn kept_or(&self, table: &str, version: Option<u64>, e: StoreError) -> StoreError {
        match (version, &e) {
            (Some(v), StoreError::Io { path, source })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                self.not_kept(table, v, Path::new(path))
            }
            _ => e,
        }
    }

    /// The Parquet files of a schema's table at a version (the latest when `None`), each with
    /// its partner and period, and the version read; for engines that read the files
    /// themselves (the metrics crate's polars). `None` when the table does not exist.
    pub fn files(
        &self,
        schema: &str,
        version: Option<u64>,
    ) -> Result<Option<(u64, Vec<DataFile>)>, StoreError> {
        let dir = self.table_dir(schema);
        if let Some(v) = version
            && let Some(files) = self.listed.get(schema, v)
        {
            // Unless vacuumed meanwhile.
            self.check_kept(schema, v, files.iter().map(|f| f.path.clone()))?;
            return Ok(Some((v, files)));
        }
        self.rt.block_on(async {
            // The table this process keeps serves its latest version (loading a table of
            // thousands of files is most of what listing them costs).
            let kept = match version {
                None => self.load(schema).await?,
                Some(_) => self.tables.latest(&dir).await,
            };
            let table = match kept {
                Some(t) if version.is_none() || t.version() == version => t,
                _ => match load_dir(&dir, schema, version).await? {
                    Some(t) => t,
                    None => return Ok(None),
                },
            };
            let Some(v) = table.version() else {
                return Ok(None);
            };
            let files: Vec<_> = table
                .get_active_add_actions_by_partitions(&[])
                .try_collect()
                .await
                .map_err(|e| StoreError::delta(schema, e))?;
            let out = files
                .iter()
                .map(|f| {
                    let parts = f.partition_values_map();
                    let get = |k: &str| parts.get(k).cloned().flatten().unwrap_or_default();
                    let stats: serde_json::Value = f
                        .stats()
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default();
                    DataFile {
                        path: dir.join(f.path().as_ref()),
                        partner: get(PARTNER_COLUMN),
                        period: get(PERIOD_COLUMN),
                        dates: date_bounds(&stats),
                        rows: stats["numRecords"].as_u64(),
                    }
                })
                .collect::<Vec<DataFile>>();
            if version.is_some() {
                self.check_kept(schema, v, out.iter().map(|f| f.path.clone()))?;
            }
            self.listed.put(schema, v, &out);
            Ok(Some((v, out)))
        })
    }

    /// The `rejects` table (every problem of every rejected row), at a version or the latest.
    pub fn read_rejects(&self, version: Option<u64>) -> Result<Vec<RecordBatch>, StoreError> {
        self.rt
            .block_on(read_dir(&self.rejects_dir(), "rejects", version))
            .map_err(|e| self.kept_or("rejects", version, e))
    }

    /// How many problems of each error type each submission's rejected rows had, at a version
    /// (`None`: the latest): what a submission's quality needs. Two columns of the `rejects`
    /// table are read, a batch at a time, so memory follows the number of submissions and
    /// error types, not the rejected rows, which grow with every night for years.
    pub fn reject_counts(
        &self,
        version: Option<u64>,
    ) -> Result<BTreeMap<String, BTreeMap<String, u64>>, StoreError> {
        let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let columns = ["submission_id", "error_type"];
        self.rt
            .block_on(each_batch(
                &self.rejects_dir(),
                "rejects",
                version,
                Some(&columns),
                |b| {
                    let (Some(ids), Some(types)) = (
                        erase::string_column(&b, "submission_id"),
                        erase::string_column(&b, "error_type"),
                    ) else {
                        return Ok::<(), StoreError>(());
                    };
                    for (id, t) in ids.iter().zip(types.iter()) {
                        if let (Some(id), Some(t)) = (id, t) {
                            let of_id = match counts.get_mut(id) {
                                Some(m) => m,
                                None => counts.entry(id.to_owned()).or_default(),
                            };
                            match of_id.get_mut(t) {
                                Some(n) => *n += 1,
                                None => {
                                    of_id.insert(t.to_owned(), 1);
                                }
                            }
                        }
                    }
                    Ok(())
                },
            ))
            .map_err(|e| self.kept_or("rejects", version, e))?;
        Ok(counts)
    }

    /// The `submissions` table (the ledger's mirror for outside readers).
    pub fn read_ledger_table(&self) -> Result<Vec<RecordBatch>, StoreError> {
        self.rt
            .block_on(read_dir(&self.submissions_dir(), MIRROR_TABLE, None))
    }

    /// The schemas that have a table.
    pub fn schemas(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("tables");
        let mut out: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| StoreError::io(&dir, e))?
            .filter_map(Result::ok)
            .filter(|e| e.path().join("_delta_log").is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every version of a schema's table, oldest first: when, which operation, and the
    /// submission that made it; with `as_of`, only the versions up to that one.
    pub fn history(&self, schema: &str, as_of: Option<u64>) -> Result<Vec<Version>, StoreError> {
        self.rt.block_on(async {
            let Some(table) = self.load(schema).await? else {
                return match as_of {
                    Some(v) => Err(StoreError::NoVersion(schema.to_owned(), v)),
                    None => Ok(Vec::new()),
                };
            };
            let versions = ledger::versions(&self.root, &self.memo, &table, schema).await?;
            let upto = match as_of {
                Some(v) if versions.len() as u64 <= v => {
                    return Err(StoreError::NoVersion(schema.to_owned(), v));
                }
                Some(v) => v as usize + 1,
                None => versions.len(),
            };
            Ok(versions.iter().take(upto).cloned().collect())
        })
    }

    /// The table's current version, if the table exists.
    pub fn version(&self, schema: &str) -> Result<Option<u64>, StoreError> {
        self.rt
            .block_on(async { Ok(self.load(schema).await?.and_then(|t| t.version())) })
    }
}

async fn load_dir(
    dir: &Path,
    name: &str,
    version: Option<u64>,
) -> Result<Option<DeltaTable>, StoreError> {
    if !dir.join("_delta_log").is_dir() {
        return match version {
            Some(v) => Err(StoreError::NoVersion(name.to_owned(), v)),
            None => Ok(None),
        };
    }
    let url = url::Url::from_directory_path(dir)
        .map_err(|()| StoreError::Location(dir.display().to_string()))?;
    let table = match version {
        Some(v) => side_tables::open_table(&url, Some(v))
            .await
            .map_err(|_| StoreError::NoVersion(name.to_owned(), v))?,
        None => side_tables::open_table(&url, None)
            .await
            .map_err(|e| StoreError::delta(name, e))?,
    };
    Ok(Some(table))
}

/// The rows of a store table at a version, partition columns included.
async fn read_dir(
    dir: &Path,
    name: &str,
    version: Option<u64>,
) -> Result<Vec<RecordBatch>, StoreError> {
    let mut out = Vec::new();
    each_batch(dir, name, version, None, |b| {
        out.push(b);
        Ok::<(), StoreError>(())
    })
    .await?;
    Ok(out)
}

/// Hands every batch of a table's files at a version to `each`, file by file, so that a reader
/// of the whole table (an export) holds one batch at a time; with `columns`, only those
/// columns of the files are read (partition columns are added whatever it says).
async fn each_batch<E: From<StoreError>>(
    dir: &Path,
    name: &str,
    version: Option<u64>,
    columns: Option<&[&str]>,
    mut each: impl FnMut(RecordBatch) -> Result<(), E>,
) -> Result<(), E> {
    let Some(table) = load_dir(dir, name, version).await? else {
        return Ok(());
    };
    let files: Vec<_> = table
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await
        .map_err(|e| StoreError::delta(name, e))?;
    for f in files {
        let path = dir.join(f.path().as_ref());
        let partitions = f.partition_values_map();
        let file = std::fs::File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let parquet = |e: &dyn std::fmt::Display| {
            StoreError::Parquet(path.display().to_string(), e.to_string())
        };
        let reader =
            deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .map(|b| match columns {
                    Some(names) => {
                        let mask = deltalake::parquet::arrow::ProjectionMask::columns(
                            b.parquet_schema(),
                            names.iter().copied(),
                        );
                        b.with_projection(mask)
                    }
                    None => b,
                })
                .and_then(|b| b.build())
                .map_err(|e| parquet(&e))?;
        for batch in reader {
            let batch = batch.map_err(|e| parquet(&e))?;
            each(
                add_partition_columns(&batch, &partitions)
                    .map_err(|e| StoreError::delta(name, e.into()))?,
            )?;
        }
    }
    Ok(())
}

/// The sha256 of a file's bytes, hex (how the archive names a file and the ledger knows it),
/// read in fixed blocks whatever its size.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens a file to read only if it is a regular file: a link is not followed (`O_NOFOLLOW`:
/// it could name any file on the machine, or another partner's), and a FIFO or a device is
/// opened without blocking (`O_NONBLOCK`) and then refused. Between the night's listing of the
/// inbox and this open, a file can be swapped for a link; this is the check that holds.
pub fn open_regular(path: &Path) -> Result<std::fs::File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let refused = || {
        StoreError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a link, a device or a pipe); only files are read",
            ),
        )
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                refused()
            } else {
                StoreError::io(path, e)
            }
        })?;
    let meta = file.metadata().map_err(|e| StoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(refused());
    }
    Ok(file)
}
