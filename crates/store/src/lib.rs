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
//! Status: the first part of the store issue (commit, supersede, read any version, ledger,
//! archive). Not yet here: the rejects table, conflict retries under concurrent ingests,
//! sweeping orphan files after a crash, checkpoint measurements.

mod error;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, FilterOp, FilterValue, TableProperty};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use error::StoreError;

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
const RETENTION: &str = "interval 36500 days";

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
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    /// The Delta table version.
    pub version: u64,
    /// When it was committed (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub committed: String,
    /// Delta's operation name (`CREATE TABLE`, `WRITE`).
    pub operation: String,
    /// The submission it recorded, if any.
    pub submission: Option<Submission>,
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

/// A submission being written: its rows go to Parquet files, invisible until committed.
pub struct Pending<'s> {
    store: &'s Store,
    table: DeltaTable,
    writer: RecordBatchWriter,
    supersedes: Option<String>,
    schema: String,
}

impl Pending<'_> {
    /// The submission an earlier file of the same partner × schema × period made, which this
    /// one will replace.
    pub fn supersedes(&self) -> Option<&str> {
        self.supersedes.as_deref()
    }

    /// Adds a batch of accepted rows (the store's columns are added here).
    pub fn write(&mut self, submission: &Submission, batch: RecordBatch) -> Result<(), StoreError> {
        let schema = &self.schema;
        let batch = with_store_columns(&batch, submission)
            .map_err(|e| StoreError::delta(schema, e.into()))?;
        self.store
            .rt
            .block_on(self.writer.write(batch))
            .map_err(|e| StoreError::delta(schema, e))
    }

    /// One Delta commit: the new rows in, the superseded submission's rows out, the ledger
    /// entry in the commit's metadata. Returns the table version it made.
    ///
    /// A submission with no accepted row (rejected outright) changes no data: its commit
    /// carries only the ledger entry, and the submission it would have replaced stays.
    pub fn commit(mut self, mut submission: Submission) -> Result<u64, StoreError> {
        let replaces = submission.rows_accepted > 0;
        let schema = self.schema.clone();
        self.store.rt.block_on(async {
            let adds = self
                .writer
                .flush()
                .await
                .map_err(|e| StoreError::delta(&schema, e))?;
            // Another ingest may commit to the table between our read and our commit (without
            // datafusion delta-rs treats any two writes as conflicting). Then: reload, check
            // again that these bytes are not in yet, recompute what to remove, and commit the
            // same files again; no Parquet is rewritten.
            let mut attempt = 0;
            loop {
                attempt += 1;
                if attempt > 1 {
                    self.table
                        .update_state()
                        .await
                        .map_err(|e| StoreError::delta(&schema, e))?;
                    let earlier = ledger(&self.table, &schema).await?;
                    if let Some(same) = earlier.iter().find(|s| {
                        s.sha256 == submission.sha256
                            && s.partner == submission.partner
                            && s.period == submission.period
                    }) {
                        return Err(StoreError::Raced(same.id.clone()));
                    }
                    self.supersedes = earlier
                        .iter()
                        .rev()
                        .find(|s| {
                            s.partner == submission.partner
                                && s.period == submission.period
                                && s.rows_accepted > 0
                        })
                        .map(|s| s.id.clone());
                }
                submission.supersedes = if replaces {
                    self.supersedes.clone()
                } else {
                    None
                };
                let filters = [
                    (
                        PARTNER_COLUMN,
                        FilterOp::Eq,
                        FilterValue::Scalar(submission.partner.as_str()),
                    ),
                    (
                        PERIOD_COLUMN,
                        FilterOp::Eq,
                        FilterValue::Scalar(submission.period.as_str()),
                    ),
                ];
                let old: Vec<_> = self
                    .table
                    .get_active_add_actions_by_partitions(&filters)
                    .try_collect()
                    .await
                    .map_err(|e| StoreError::delta(&schema, e))?;
                let mut actions: Vec<Action> = adds.iter().cloned().map(Action::Add).collect();
                if replaces {
                    actions.extend(old.iter().map(|f| Action::Remove(f.remove_action(true))));
                }
                let entry = serde_json::to_value(&submission)
                    .map_err(|e| StoreError::Ledger(e.to_string()))?;
                let properties = CommitProperties::default()
                    .with_metadata([(LEDGER_KEY.to_owned(), entry)])
                    .with_max_retries(0);
                let operation = DeltaOperation::Write {
                    mode: SaveMode::Append,
                    partition_by: Some(vec![PARTNER_COLUMN.to_owned(), PERIOD_COLUMN.to_owned()]),
                    predicate: Some(format!(
                        "{PARTNER_COLUMN} = '{}' AND {PERIOD_COLUMN} = '{}'",
                        submission.partner, submission.period
                    )),
                };
                let snapshot = self
                    .table
                    .snapshot()
                    .map_err(|e| StoreError::delta(&schema, e))?;
                match CommitBuilder::from(properties)
                    .with_actions(actions)
                    .build(Some(snapshot), self.table.log_store(), operation)
                    .await
                {
                    Ok(finalized) => return Ok(finalized.version()),
                    Err(e) if is_conflict(&e) && attempt < MAX_ATTEMPTS => continue,
                    Err(e) => return Err(StoreError::delta(&schema, e)),
                }
            }
        })
    }
}

const MAX_ATTEMPTS: u32 = 20;

fn is_conflict(e: &deltalake::DeltaTableError) -> bool {
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
    root: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl Store {
    /// Opens (creating the folders of) the store under `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root.join("tables")).map_err(|e| StoreError::io(root, e))?;
        std::fs::create_dir_all(root.join("archive")).map_err(|e| StoreError::io(root, e))?;
        let root = root.canonicalize().map_err(|e| StoreError::io(root, e))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::io(&root, e))?;
        Ok(Self { root, rt })
    }

    fn table_dir(&self, schema: &str) -> PathBuf {
        self.root.join("tables").join(schema)
    }

    fn table_url(&self, schema: &str) -> Result<url::Url, StoreError> {
        let dir = self.table_dir(schema);
        url::Url::from_directory_path(&dir)
            .map_err(|()| StoreError::Location(dir.display().to_string()))
    }

    /// Copies a file's bytes into the archive under their sha256, before anything reads them;
    /// returns the hash. Archiving the same bytes twice is a no-op.
    pub fn archive(&self, file: &Path) -> Result<String, StoreError> {
        let bytes = std::fs::read(file).map_err(|e| StoreError::io(file, e))?;
        let sha = hex(&Sha256::digest(&bytes));
        let dir = self.root.join("archive").join(&sha[..2]);
        let dest = dir.join(&sha);
        if !dest.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
            // Write aside, then rename: a crash never leaves a half file under its hash.
            let tmp = dir.join(format!(".{sha}.partial"));
            std::fs::write(&tmp, &bytes).map_err(|e| StoreError::io(&tmp, e))?;
            std::fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
        }
        Ok(sha)
    }

    /// The archived bytes of a hash.
    pub fn archived(&self, sha256: &str) -> Option<PathBuf> {
        let p = self
            .root
            .join("archive")
            .join(sha256.get(..2)?)
            .join(sha256);
        p.is_file().then_some(p)
    }

    async fn load(
        &self,
        schema: &str,
        version: Option<u64>,
    ) -> Result<Option<DeltaTable>, StoreError> {
        let url = self.table_url(schema)?;
        if !self.table_dir(schema).join("_delta_log").is_dir() {
            return Ok(None);
        }
        let table = match version {
            Some(v) => deltalake::open_table_with_version(url, v).await,
            None => deltalake::open_table(url).await,
        }
        .map_err(|e| StoreError::delta(schema, e))?;
        Ok(Some(table))
    }

    async fn create(&self, schema: &str, rows: &SchemaRef) -> Result<DeltaTable, StoreError> {
        let dir = self.table_dir(schema);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let full = table_schema(rows);
        let kernel: StructType = full
            .as_ref()
            .try_into_kernel()
            .map_err(|e| StoreError::delta(schema, e.into()))?;
        CreateBuilder::new()
            .with_location(self.table_url(schema)?.to_string())
            .with_table_name(schema)
            .with_columns(kernel.fields().cloned())
            .with_partition_columns([PARTNER_COLUMN, PERIOD_COLUMN])
            .with_configuration_property(TableProperty::LogRetentionDuration, Some(RETENTION))
            .with_configuration_property(
                TableProperty::DeletedFileRetentionDuration,
                Some(RETENTION),
            )
            .with_configuration_property(TableProperty::CheckpointInterval, Some("25"))
            .await
            .map_err(|e| StoreError::delta(schema, e))
    }

    /// Every submission recorded in a schema's table, oldest first, with the version each made.
    pub fn submissions(&self, schema: &str) -> Result<Vec<Submission>, StoreError> {
        self.rt.block_on(async {
            let Some(table) = self.load(schema, None).await? else {
                return Ok(Vec::new());
            };
            ledger(&table, schema).await
        })
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
                w.commit(submission).map(Committed::Version)
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
        self.rt.block_on(async {
            let table = match self.load(schema, None).await? {
                Some(t) => t,
                None => self.create(schema, rows).await?,
            };
            let earlier = ledger(&table, schema).await?;
            if let Some(same) = earlier
                .iter()
                .find(|s| s.sha256 == sha256 && s.partner == partner && s.period == period)
            {
                return Ok(Begun::Duplicate(Box::new(same.clone())));
            }
            let supersedes = earlier
                .iter()
                .rev()
                .find(|s| s.partner == partner && s.period == period && s.rows_accepted > 0)
                .map(|s| s.id.clone());
            let writer =
                RecordBatchWriter::for_table(&table).map_err(|e| StoreError::delta(schema, e))?;
            Ok(Begun::Writing(Box::new(Pending {
                store: self,
                table,
                writer,
                supersedes,
                schema: schema.to_owned(),
            })))
        })
    }

    /// The rows of a schema's table at a version (the latest when `None`), with the store's
    /// columns (`_submission_id`, `_partner`, `_period`).
    pub fn read(&self, schema: &str, version: Option<u64>) -> Result<Vec<RecordBatch>, StoreError> {
        self.rt.block_on(async {
            let Some(table) = self.load(schema, version).await? else { return Ok(Vec::new()) };
            let files: Vec<_> = table
                .get_active_add_actions_by_partitions(&[])
                .try_collect()
                .await
                .map_err(|e| StoreError::delta(schema, e))?;
            let dir = self.table_dir(schema);
            let mut out = Vec::new();
            for f in files {
                let path = dir.join(f.path().as_ref());
                let partitions = f.partition_values_map();
                let file = std::fs::File::open(&path).map_err(|e| StoreError::io(&path, e))?;
                let reader = deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.build())
                    .map_err(|e| StoreError::Parquet(path.display().to_string(), e.to_string()))?;
                for batch in reader {
                    let batch = batch.map_err(|e| StoreError::Parquet(path.display().to_string(), e.to_string()))?;
                    out.push(add_partition_columns(&batch, &partitions).map_err(|e| StoreError::delta(schema, e.into()))?);
                }
            }
            Ok(out)
        })
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
    /// submission that made it.
    pub fn history(&self, schema: &str) -> Result<Vec<Version>, StoreError> {
        self.rt.block_on(async {
            match self.load(schema, None).await? {
                Some(table) => versions(&table, schema).await,
                None => Ok(Vec::new()),
            }
        })
    }

    /// The table's current version, if the table exists.
    pub fn version(&self, schema: &str) -> Result<Option<u64>, StoreError> {
        self.rt
            .block_on(async { Ok(self.load(schema, None).await?.and_then(|t| t.version())) })
    }
}

/// Every version of a table, oldest first, each with the submission its commit carries.
async fn versions(table: &DeltaTable, schema: &str) -> Result<Vec<Version>, StoreError> {
    let Some(current) = table.version() else {
        return Ok(Vec::new());
    };
    let infos: Vec<_> = table
        .history(None)
        .try_collect()
        .await
        .map_err(|e| StoreError::delta(schema, e))?;
    let mut out = Vec::with_capacity(infos.len());
    // History is newest first, one entry per version down to 0.
    for (i, info) in infos.iter().enumerate() {
        let version = current - i as u64;
        let submission = match info.info.get(LEDGER_KEY) {
            Some(v) => {
                let mut s: Submission = serde_json::from_value(v.clone())
                    .map_err(|e| StoreError::Ledger(e.to_string()))?;
                s.table_version = Some(version);
                Some(s)
            }
            None => None,
        };
        let committed = info.timestamp.and_then(chrono_like_utc).unwrap_or_default();
        out.push(Version {
            version,
            committed,
            operation: info.operation.clone().unwrap_or_default(),
            submission,
        });
    }
    out.reverse();
    Ok(out)
}

/// The ledger: the submissions the table's commits carry, oldest first.
async fn ledger(table: &DeltaTable, schema: &str) -> Result<Vec<Submission>, StoreError> {
    Ok(versions(table, schema)
        .await?
        .into_iter()
        .filter_map(|v| v.submission)
        .collect())
}

fn table_schema(rows: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = rows.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(SUBMISSION_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(PARTNER_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(PERIOD_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

fn constant(value: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![value; n]))
}

fn with_store_columns(
    batch: &RecordBatch,
    s: &Submission,
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let n = batch.num_rows();
    let mut columns = batch.columns().to_vec();
    columns.push(constant(&s.id, n));
    columns.push(constant(&s.partner, n));
    columns.push(constant(&s.period, n));
    RecordBatch::try_new(table_schema(&batch.schema()), columns)
}

fn add_partition_columns(
    batch: &RecordBatch,
    partitions: &HashMap<String, Option<String>>,
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let n = batch.num_rows();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = batch.columns().to_vec();
    for name in [PARTNER_COLUMN, PERIOD_COLUMN] {
        if batch.schema().index_of(name).is_err() {
            let v = partitions.get(name).cloned().flatten().unwrap_or_default();
            fields.push(Field::new(name, DataType::Utf8, false));
            columns.push(constant(&v, n));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

fn chrono_like_utc(millis: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
