//! The store's own tables beside the data tables: `submissions` (the ledger's mirror) and
//! `rejects` (every problem of every rejected row). Both are appended to, never rewritten,
//! and each append is made idempotent by a Delta application transaction (`txn` action): an
//! append that was committed once is never committed twice, even when an ingest killed after
//! it is run again.

use std::path::Path;
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use crate::{RETENTION, StoreError, is_conflict};

/// The most commits between two checkpoints of a store table (its `delta.checkpointInterval`,
/// the interval other writers keep to): a reader replays at most this many JSON commits after
/// the last checkpoint. backbone's own commits checkpoint sooner when the table's checkpoint is
/// small ([`checkpoint_interval`]).
pub(crate) const CHECKPOINT_INTERVAL: u64 = 25;

/// The fewest commits between two checkpoints.
pub(crate) const CHECKPOINT_INTERVAL_MIN: u64 = 10;

/// The scale of [`checkpoint_interval`]: a table whose last checkpoint is `S` bytes gets its
/// next after `√(S / CHECKPOINT_BYTES)` commits (within the bounds above).
const CHECKPOINT_BYTES: u64 = 4_000;

/// How many commits after its last checkpoint (of `bytes` bytes) a store table gets its next.
///
/// Each process that commits reads the last checkpoint and every commit after it (half an
/// interval on average, each a file to open and replay); one process in an interval also
/// writes the checkpoint, at a cost that follows its size. The mean cost of a commit is
/// therefore about `c·k/2 + W(S)/k` for an interval `k`, least at `k = √(2·W(S)/c)`: an
/// interval that grows with the square root of the checkpoint's size. Measured (BENCHMARKS.md,
/// "Commit cost against history"): a table of 240 files and up to 5 000 tombstones (checkpoints
/// of 0.1–0.6 MB) commits 12–51% faster between checkpoints at 10–12 than at 25; on the
/// national store (12 000 files, a 3.0 MB checkpoint) a checkpoint every 10th commit made the
/// mean ingest ~8% slower than every 25th.
pub(crate) fn checkpoint_interval(bytes: u64) -> u64 {
    (bytes / CHECKPOINT_BYTES)
        .isqrt()
        .clamp(CHECKPOINT_INTERVAL_MIN, CHECKPOINT_INTERVAL)
}

/// Opens the table at `url` (its latest version, or `version`), listing its log through
/// [`LogDirStore`](crate::logdir::LogDirStore) so that opening costs the same at version
/// 5 000 as at version 10.
pub(crate) async fn open_table(
    url: &url::Url,
    version: Option<u64>,
) -> Result<DeltaTable, deltalake::DeltaTableError> {
    let store: Arc<dyn deltalake::ObjectStore> = Arc::new(crate::logdir::LogDirStore::new());
    let mut builder = deltalake::DeltaTableBuilder::from_url(url.clone())?
        .with_storage_backend(store, url.clone());
    if let Some(v) = version {
        builder = builder.with_version(v);
    }
    builder.load().await
}

/// Opens a store table, creating it with `schema` the first time.
pub(crate) async fn open_or_create(
    dir: &Path,
    name: &str,
    schema: &SchemaRef,
    partitions: &[&str],
    keep_history: bool,
) -> Result<DeltaTable, StoreError> {
    let url = url::Url::from_directory_path(dir)
        .map_err(|()| StoreError::Location(dir.display().to_string()))?;
    if dir.join("_delta_log").is_dir() {
        return open_table(&url, None)
            .await
            .map_err(|e| StoreError::delta(name, e));
    }
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let kernel: StructType = schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| StoreError::delta(name, e.into()))?;
    let mut create = CreateBuilder::new()
        .with_location(url.to_string())
        .with_table_name(name)
        .with_columns(kernel.fields().cloned())
        .with_partition_columns(partitions.iter().copied())
        .with_configuration_property(
            deltalake::TableProperty::CheckpointInterval,
            Some(CHECKPOINT_INTERVAL.to_string()),
        );
    create = match stats_columns(&kernel, partitions) {
        Some(columns) => create.with_configuration_property(
            deltalake::TableProperty::DataSkippingStatsColumns,
            Some(columns),
        ),
        None => create.with_configuration_property(
            deltalake::TableProperty::DataSkippingNumIndexedCols,
            Some("0"),
        ),
    };
    if keep_history {
        // Time travel must outlive any reproducibility horizon.
        create = create
            .with_configuration_property(
                deltalake::TableProperty::LogRetentionDuration,
                Some(RETENTION),
            )
            .with_configuration_property(
                deltalake::TableProperty::DeletedFileRetentionDuration,
                Some(RETENTION),
            );
    }
    let created = create.await;
    match created {
        Ok(t) => Ok(t),
        // Another process created it between our look and our create: open theirs.
        Err(_) if dir.join("_delta_log").is_dir() => open_table(&url, None)
            .await
            .map_err(|e| StoreError::delta(name, e)),
        Err(e) => Err(StoreError::delta(name, e)),
    }
}

/// The columns whose minimum and maximum the log records for each file (Delta's statistics,
/// for readers that skip files): the date and time columns, the only ones a period's reader
/// skips by (backbone's incremental run finds a month's files by them, and so can Spark or
/// DuckDB). Every file's statistics are in every checkpoint, read by every process that
/// commits: each column more is paid by every commit (BENCHMARKS.md, "A national store").
/// A table without a date column keeps its last number column's (a data table's
/// `_row_number`, the ledger mirror's `table_version`): delta-rs scans a table whose
/// statistics have no minimum and maximum at all with a warning at every partition filter.
/// Text is never among them: the log is kept for years and cannot be rewritten, and a
/// pseudonym (or a free-text cell a partner misused) that is a file's minimum or maximum would
/// stay in it after the person's rows are erased or the key is rotated. `None` when no column
/// qualifies (files still record their row count).
pub(crate) fn stats_columns(schema: &StructType, partitions: &[&str]) -> Option<String> {
    use deltalake::kernel::DataType;
    let eligible = || {
        schema
            .fields()
            .filter(|f| !partitions.contains(&f.name().as_str()))
            // The property is a comma-separated list of (possibly dotted) names.
            .filter(|f| !f.name().contains([',', '.', '`']))
    };
    let dates: Vec<&str> = eligible()
        .filter(|f| {
            [DataType::DATE, DataType::TIMESTAMP, DataType::TIMESTAMP_NTZ].contains(f.data_type())
        })
        .map(|f| f.name().as_str())
        .collect();
    if !dates.is_empty() {
        return Some(dates.join(","));
    }
    let numbers = [
        DataType::LONG,
        DataType::INTEGER,
        DataType::SHORT,
        DataType::BYTE,
        DataType::DOUBLE,
        DataType::FLOAT,
    ];
    eligible()
        .rfind(|f| numbers.contains(f.data_type()))
        .map(|f| f.name().clone())
}

/// The last version an application transaction recorded on `table`.
pub(crate) async fn txn_version(
    table: &DeltaTable,
    name: &str,
    app_id: &str,
) -> Result<Option<i64>, StoreError> {
    table
        .snapshot()
        .map_err(|e| StoreError::delta(name, e))?
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| StoreError::delta(name, e))
}

/// Writes `batches` to Parquet files of `table` (not yet visible) and returns their adds.
pub(crate) async fn write_files(
    table: &DeltaTable,
    name: &str,
    batches: Vec<RecordBatch>,
) -> Result<Vec<Add>, StoreError> {
    let mut writer = RecordBatchWriter::for_table(table).map_err(|e| StoreError::delta(name, e))?;
    for b in batches {
        writer
            .write(b)
            .await
            .map_err(|e| StoreError::delta(name, e))?;
    }
    writer.flush().await.map_err(|e| StoreError::delta(name, e))
}

/// Commits `actions` with the application transaction `app_id = version`, if the table's
/// transaction `app_id` is still at `from` (what the caller computed the actions from).
/// Returns false, committing nothing, when another writer moved it: the caller decides again.
/// On success `table` stays at the version it was read at (see [`commit`]).
pub(crate) async fn commit_once(
    table: &mut DeltaTable,
    name: &str,
    actions: &[Action],
    app_id: &str,
    from: Option<i64>,
    version: i64,
) -> Result<bool, StoreError> {
    for attempt in 1..=crate::MAX_ATTEMPTS {
        if attempt > 1 {
            table
                .update_state()
                .await
                .map_err(|e| StoreError::delta(name, e))?;
        }
        if txn_version(table, name, app_id).await? != from {
            return Ok(false);
        }
        let properties = CommitProperties::default()
            .with_application_transaction(Transaction::new(app_id, version))
            .with_max_retries(0)
            .with_cleanup_expired_logs(Some(false));
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        match commit(table, properties, actions.to_vec(), operation).await {
            Ok(_) => return Ok(true),
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(StoreError::delta(name, e)),
        }
    }
    Err(StoreError::Busy(name.to_owned()))
}

/// Writes one commit of `actions` at the version after the one `table` was read at (a
/// conflict, [`is_conflict`], when another writer took it: these commits never retry inside
/// delta-rs) and returns that version.
///
/// delta-rs's own post-commit step is not run: it brings the table's state up to the new
/// version by materialising every live file again (at 12 000 live partitions, 25–35 ms of
/// each commit, more than the commit itself), which a process that commits once never uses.
/// `table` stays at the version it was read at; whoever uses it next brings it up to date
/// ([`Tables::latest`](crate::Tables::latest) does). Of that step's work only the checkpoint
/// matters, and it is written here when [`checkpoint_due`] (its log clean-up is off for every
/// store table). A checkpoint that cannot be written does not undo the commit: it is logged,
/// and tried again [`CHECKPOINT_INTERVAL_MIN`] commits later.
pub(crate) async fn commit(
    table: &mut DeltaTable,
    properties: CommitProperties,
    actions: Vec<Action>,
    operation: DeltaOperation,
) -> Result<u64, deltalake::DeltaTableError> {
    let snapshot = table.snapshot()?;
    let table_properties = snapshot.table_config().clone();
    let written = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .into_prepared_commit_future()
        .await?
        .await?;
    let version = written.version;
    if checkpoint_due(table.table_url(), &table_properties, version) {
        let started = std::time::Instant::now();
        let checkpoint = async {
            table.update_incremental(Some(version)).await?;
            deltalake::checkpoints::create_checkpoint(table, None).await
        };
        match checkpoint.await {
            Ok(()) => tracing::debug!(version, took = ?started.elapsed(), "checkpoint written"),
            Err(e) => tracing::warn!(version, error = %e, "the checkpoint was not written"),
        }
    }
    Ok(version)
}

/// Whether the commit that wrote `version` of the table at `url` also writes its checkpoint:
/// when as many commits as [`checkpoint_interval`] gives for its last checkpoint's size (as
/// `_last_checkpoint` records it) have been made since that checkpoint, and never later than
/// the table's own `delta.checkpointInterval`. A table without a checkpoint gets its first
/// at the [`CHECKPOINT_INTERVAL_MIN`]th version. A checkpoint that was not written (it failed,
/// or another writer's commit took the version it was due at) is tried again every
/// [`CHECKPOINT_INTERVAL_MIN`] commits after, not at every commit: one that fails each time
/// (a full disk) is not paid by every commit. Both commit paths skip delta-rs's post-commit step,
/// which would checkpoint every `delta.checkpointInterval`th version ([`commit`],
/// [`DataLog::commit`](crate::data_log::DataLog::commit)).
pub(crate) fn checkpoint_due(
    url: &url::Url,
    properties: &delta_kernel::table_properties::TableProperties,
    version: u64,
) -> bool {
    use deltalake::table::config::TablePropertiesExt;
    let most = properties.checkpoint_interval().get();
    let last = url
        .to_file_path()
        .ok()
        .and_then(|dir| last_checkpoint(&dir.join("_delta_log")));
    let (since, interval) = match last {
        Some((at, bytes)) => (version.saturating_sub(at), checkpoint_interval(bytes)),
        None => (version + 1, CHECKPOINT_INTERVAL_MIN),
    };
    let interval = interval.min(most);
    since >= interval && (since - interval).is_multiple_of(CHECKPOINT_INTERVAL_MIN.min(most))
}

/// The version and size in bytes of a log folder's last checkpoint, from `_last_checkpoint`
/// (its size from the checkpoint's file when the hint does not say it). `None` when there is
/// none or the hint cannot be read.
fn last_checkpoint(log: &Path) -> Option<(u64, u64)> {
    use crate::logdir::{LastCheckpoint, checkpoint_name};
    let hint = LastCheckpoint::read(log)?;
    let bytes = hint.size_in_bytes.unwrap_or_else(|| {
        std::fs::metadata(log.join(checkpoint_name(hint.version))).map_or(0, |m| m.len())
    });
    Some((hint.version, bytes))
}

/// Whether the table at `dir` has a checkpoint at `version`.
pub(crate) fn checkpoint_at(dir: &Path, version: u64) -> bool {
    dir.join("_delta_log")
        .join(crate::logdir::checkpoint_name(version))
        .exists()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use delta_kernel::table_properties::TableProperties;

    use super::*;

    #[test]
    fn the_checkpoint_interval_grows_with_the_root_of_the_checkpoints_size() {
        // Small checkpoints: the fewest commits between two.
        assert_eq!(checkpoint_interval(0), CHECKPOINT_INTERVAL_MIN);
        assert_eq!(checkpoint_interval(300_000), CHECKPOINT_INTERVAL_MIN);
        // Four times the size, twice the interval.
        assert_eq!(checkpoint_interval(144 * CHECKPOINT_BYTES), 12);
        assert_eq!(checkpoint_interval(4 * 144 * CHECKPOINT_BYTES), 24);
        // Never more than the table's property.
        assert_eq!(checkpoint_interval(3_200_000), CHECKPOINT_INTERVAL);
        assert_eq!(checkpoint_interval(u64::MAX), CHECKPOINT_INTERVAL);
    }

    #[test]
    fn a_checkpoint_is_due_by_the_commits_since_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("_delta_log");
        std::fs::create_dir_all(&log).unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let ours = TableProperties::from([("delta.checkpointInterval", "25")]);
        let due = |v| checkpoint_due(&url, &ours, v);
        // No checkpoint yet: the first at the 10th version.
        assert!(!due(8));
        assert!(due(9));
        // A small checkpoint at 9: the next ten commits later; while none is written (it
        // failed), again every ten commits, not at each.
        let hint = |v: u64, bytes: u64| {
            std::fs::write(
                log.join("_last_checkpoint"),
                format!("{{\"version\":{v},\"size\":3,\"sizeInBytes\":{bytes}}}"),
            )
            .unwrap();
        };
        hint(9, 30_000);
        assert!(!due(18));
        assert!(due(19));
        assert!(!due(20));
        assert!(!due(23));
        assert!(due(29));
        // A large one: 25 commits, the table's property.
        hint(19, 5_000_000);
        assert!(!due(43));
        assert!(due(44));
        // Another writer's property is kept to when it asks for checkpoints sooner.
        let often = TableProperties::from([("delta.checkpointInterval", "5")]);
        assert!(checkpoint_due(&url, &often, 24));
        assert!(!checkpoint_due(&url, &often, 23));
        assert!(!checkpoint_due(&url, &often, 25));
        assert!(checkpoint_due(&url, &often, 29));
        // Without `sizeInBytes` the checkpoint's file tells the size.
        std::fs::write(log.join("_last_checkpoint"), "{\"version\":19,\"size\":3}").unwrap();
        std::fs::write(
            log.join(format!("{:020}.checkpoint.parquet", 19)),
            vec![0u8; 400 * 4_000],
        )
        .unwrap();
        assert!(!due(38));
        assert!(due(39));
        assert!(!due(40));
        assert!(checkpoint_at(dir.path(), 19));
        assert!(!checkpoint_at(dir.path(), 9));
        // A hint that cannot be read: as if there were no checkpoint.
        std::fs::write(log.join("_last_checkpoint"), "{").unwrap();
        assert!(due(39));
        assert!(!due(40));
    }
}
