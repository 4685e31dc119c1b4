//! The store over years: compaction of small files (`optimize`), retention of what the
//! current version no longer needs (`vacuum`, raw files past their time), and the plain answer
//! a reader gets when asking for a version whose files are gone.
//!
//! Compaction rewrites a partition's small files into few, in one commit per table whose
//! actions all say `dataChange = false`: the rows, their `_submission_id` and `_row_number`,
//! are the same before and after, so a reader of the changes (Spark's streaming, our
//! incremental metrics) can skip the commit. A data table holds one submission per partner ×
//! period partition, so its partitions have several files only when a submission was larger
//! than a file; the side tables (`rejects`: a file per submission with rejected rows,
//! `submissions`) are where years of nightly appends pile up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use delta_kernel::expressions::Scalar;
use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, LogicalFileView};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use futures::TryStreamExt;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::writer::{TARGET_FILE_SIZE, writer_properties};
use crate::{MAX_ATTEMPTS, Store, StoreError, is_conflict, load_dir};

/// A file smaller than this is a candidate for compaction.
pub const SMALL_FILE: u64 = TARGET_FILE_SIZE / 4;

/// What compacting one table did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compacted {
    /// The table (a schema, `rejects` or `submissions`).
    pub table: String,
    /// The version the compaction made.
    pub version: u64,
    /// Partitions rewritten.
    pub partitions: usize,
    /// Files replaced.
    pub files_before: usize,
    /// Files written in their place.
    pub files_after: usize,
    /// When the table's statistics were cut to the columns backbone records now.
    pub statistics_cut: Option<StatisticsCut>,
}

/// A table's statistics cut to the columns backbone records now (see [`Store::optimize`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatisticsCut {
    /// The columns whose minimum and maximum the log keeps (none: row counts only).
    pub columns: Vec<String>,
    /// Files (other than those compacted) added again with the shorter statistics.
    pub files: usize,
}

/// What vacuuming one table removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vacuumed {
    /// The table.
    pub table: String,
    /// When (RFC 3339).
    pub at: String,
    /// Files that left the current version before this moment were removed (RFC 3339).
    pub horizon: String,
    /// Why, in words (`the initiative keeps superseded data for 2 years`).
    pub reason: String,
    /// Data files removed.
    pub files: usize,
    /// The oldest version still readable whole.
    pub oldest_kept: u64,
}

/// A table's statistics cut to the columns [`stats_columns`](crate::side_tables::stats_columns)
/// names: the table's new metadata, and the statistics each file keeps.
struct Trim {
    metadata: deltalake::kernel::Metadata,
    properties: std::collections::HashMap<String, String>,
    keep: std::collections::BTreeSet<String>,
}

impl Trim {
    /// `None` when the table's declared statistics columns are already those.
    fn of(table: &DeltaTable, name: &str) -> Result<Option<Self>, StoreError> {
        use deltalake::kernel::MetadataExt as _;
        let delta = |e: deltalake::DeltaTableError| StoreError::delta(name, e);
        let snapshot = table.snapshot().map_err(delta)?;
        let metadata = snapshot.metadata().clone();
        let partitions = metadata.partition_columns().to_vec();
        let partitions: Vec<&str> = partitions.iter().map(String::as_str).collect();
        let want = crate::side_tables::stats_columns(snapshot.schema().as_ref(), &partitions);
        let config = metadata.configuration();
        let columns = config.get(STATS_COLUMNS).cloned();
        let indexed = config.get(NUM_INDEXED).cloned();
        let (properties, metadata): (std::collections::HashMap<String, String>, _) = match want {
            Some(w) if columns.as_deref() == Some(w.as_str()) => return Ok(None),
            None if columns.is_none() && indexed.as_deref() == Some("0") => return Ok(None),
            Some(w) => (
                [(STATS_COLUMNS.to_owned(), w.clone())].into(),
                // A table made with no column to index said so with the other property.
                metadata
                    .remove_config_key(NUM_INDEXED)
                    .and_then(|m| m.add_config_key(STATS_COLUMNS.into(), w))
                    .map_err(|e| delta(e.into()))?,
            ),
            None => (
                [(NUM_INDEXED.to_owned(), "0".to_owned())].into(),
                metadata
                    .remove_config_key(STATS_COLUMNS)
                    .and_then(|m| m.add_config_key(NUM_INDEXED.into(), "0".into()))
                    .map_err(|e| delta(e.into()))?,
            ),
        };
        let keep = properties
            .get(STATS_COLUMNS)
            .map(|c: &String| c.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Some(Self {
            metadata,
            properties,
            keep,
        }))
    }

    /// `stats` without the columns not kept; `None` when it names none of those (or is not
    /// JSON: then it is left as it is).
    fn stats(&self, stats: &str) -> Option<String> {
        let mut v: serde_json::Value = serde_json::from_str(stats).ok()?;
        let mut cut = false;
        for key in ["minValues", "maxValues", "nullCount"] {
            if let Some(m) = v.get_mut(key).and_then(serde_json::Value::as_object_mut) {
                let n = m.len();
                m.retain(|c, _| self.keep.contains(c));
                cut |= m.len() < n;
            }
        }
        cut.then(|| v.to_string())
    }

    /// `f` added again (no data change) with its statistics trimmed; `None` when they need no
    /// trimming, or when the file cannot be named again exactly: a deletion vector, or a path
    /// whose log spelling may differ from the decoded one delta-rs gives (anything beyond
    /// letters, digits and `/_=.-`), which would add a second file instead of replacing one.
    fn again(&self, f: &LogicalFileView) -> Option<Add> {
        let path = f.path();
        let plain = path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_=.-".contains(c));
        if !plain || f.deletion_vector_descriptor().is_some() {
            return None;
        }
        let stats = self.stats(&f.stats()?)?;
        Some(Add {
            path: path.into_owned(),
            partition_values: f.partition_values_map(),
            size: f.size(),
            modification_time: f.modification_time(),
            data_change: false,
            stats: Some(stats),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        })
    }
}

const STATS_COLUMNS: &str = "delta.dataSkippingStatsColumns";
const NUM_INDEXED: &str = "delta.dataSkippingNumIndexedCols";

/// The file where vacuums are recorded, one JSON line each (`store/retention.jsonl`).
const VACUUM_LOG: &str = "retention.jsonl";

/// A clock for delta-rs's vacuum: the workspace's "now".
#[derive(Debug)]
struct At(i64);

impl deltalake::operations::vacuum::Clock for At {
    fn current_timestamp_millis(&self) -> i64 {
        self.0
    }
}

type Partition = Vec<(String, String)>;

impl Store {
    /// Every table of the store, with its name: the schemas' tables, `rejects`,
    /// `submissions`.
    pub(crate) fn all_tables(&self) -> Result<Vec<(PathBuf, String)>, StoreError> {
        let mut tables: Vec<(PathBuf, String)> = self
            .schemas()?
            .into_iter()
            .map(|s| (self.table_dir(&s), s))
            .collect();
        tables.push((self.rejects_dir(), "rejects".into()));
        tables.push((self.submissions_dir(), "submissions".into()));
        Ok(tables)
    }

    /// Small files that compaction would merge, per table (those in partitions holding two or
    /// more of them).
    pub fn compactable(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut out = Vec::new();
        for (dir, name) in self.all_tables()? {
            let n = self.rt.block_on(async {
                let Some(table) = load_dir(&dir, &name, None).await? else {
                    return Ok::<_, StoreError>(0);
                };
                let files = active(&table, &name).await?;
                Ok(small_groups(&table, &name, &files)?
                    .values()
                    .map(Vec::len)
                    .sum())
            })?;
            out.push((name, n));
        }
        Ok(out)
    }

    /// Compacts every table with at least `at_least` small files to merge: each partition's
    /// small files become files of up to 128 MiB, in one commit per table that changes no row
    /// (`dataChange = false`), followed by a checkpoint. A table whose log still records
    /// statistics for more columns than [`stats_columns`](crate::side_tables::stats_columns)
    /// names (a store written before they were cut to dates) has them trimmed in that same
    /// commit, compacted or not: its files are added again, same path and rows, with the
    /// shorter statistics (as Delta's own statistics recomputation does), and the table's
    /// `delta.dataSkippingStatsColumns` says the new list. Returns what was done.
    pub fn optimize(&self, at_least: usize) -> Result<Vec<Compacted>, StoreError> {
        let mut out = Vec::new();
        for (dir, name) in self.all_tables()? {
            if let Some(c) = self
                .rt
                .block_on(self.compact(&dir, &name, at_least.max(2)))?
            {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn compact(
        &self,
        dir: &Path,
        name: &str,
        at_least: usize,
    ) -> Result<Option<Compacted>, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut table) = load_dir(dir, name, None).await? else {
                return Ok(None);
            };
            let files = active(&table, name).await?;
            let mut groups = small_groups(&table, name, &files)?;
            let mut before: usize = groups.values().map(Vec::len).sum();
            if before < at_least {
                groups.clear();
                before = 0;
            }
            let trim = Trim::of(&table, name)?;
            if groups.is_empty() && trim.is_none() {
                return Ok(None);
            }
            let mut actions: Vec<Action> = Vec::new();
            let mut adds = Vec::new();
            let mut removes = Vec::new();
            for (partition, group) in &groups {
                let paths: Vec<PathBuf> =
                    group.iter().map(|f| dir.join(f.path().as_ref())).collect();
                adds.extend(rewrite(&table, name, partition, &paths, |b| Ok(Some(b))).await?);
                removes.extend(group.iter().map(|f| Action::Remove(f.remove_action(false))));
            }
            let after = adds.len();
            let mut trimmed = 0;
            if let Some(trim) = &trim {
                actions.push(Action::Metadata(trim.metadata.clone()));
                let compacted: std::collections::HashSet<String> = groups
                    .values()
                    .flatten()
                    .map(|f| f.path().into_owned())
                    .collect();
                for f in &files {
                    if compacted.contains(f.path().as_ref()) {
                        continue;
                    }
                    if let Some(add) = trim.again(f) {
                        trimmed += 1;
                        actions.push(Action::Add(add));
                    }
                }
            }
            actions.extend(adds.iter().cloned().map(|mut a| {
                a.data_change = false;
                if let Some(trim) = &trim {
                    a.stats = a
                        .stats
                        .as_deref()
                        .map(|s| trim.stats(s).unwrap_or(s.into()));
                }
                Action::Add(a)
            }));
            actions.extend(removes);
            let operation = if groups.is_empty() {
                DeltaOperation::SetTableProperties {
                    properties: trim
                        .as_ref()
                        .map(|t| t.properties.clone())
                        .unwrap_or_default(),
                }
            } else {
                DeltaOperation::Optimize {
                    predicate: None,
                    target_size: i64::try_from(TARGET_FILE_SIZE).unwrap_or(i64::MAX),
                }
            };
            match commit(&mut table, name, actions, operation, None).await? {
                Some(version) => {
                    self.tables.forget(dir);
                    deltalake::checkpoints::create_checkpoint(&table, None)
                        .await
                        .map_err(|e| StoreError::delta(name, e))?;
                    return Ok(Some(Compacted {
                        table: name.to_owned(),
                        version,
                        partitions: groups.len(),
                        files_before: before,
                        files_after: after,
                        statistics_cut: trim.map(|t| StatisticsCut {
                            columns: t.keep.into_iter().collect(),
                            files: trimmed,
                        }),
                    }));
                }
                // Another writer committed first: our files are in no log; plan again.
                None => crate::erase::discard(dir, &adds),
            }
        }
        Err(StoreError::Busy(name.to_owned()))
    }

    /// Removes the data files that left the current version of every table before `horizon`
    /// (superseded submissions, compacted files), records the vacuum in
    /// `store/retention.jsonl`, and returns what each table lost. Versions committed from the
    /// horizon on stay readable; reading an older one says that it is no longer kept. With
    /// `dry_run`, removes nothing and records nothing.
    pub fn vacuum(
        &self,
        horizon: DateTime<Utc>,
        now: DateTime<Utc>,
        retention: &str,
        dry_run: bool,
    ) -> Result<Vec<Vacuumed>, StoreError> {
        let mut out = Vec::new();
        for (dir, name) in self.all_tables()? {
            let removed = self.rt.block_on(async {
                let Some(table) = load_dir(&dir, &name, None).await? else {
                    return Ok::<_, StoreError>(None);
                };
                let period = now - horizon;
                let (_, metrics) = table
                    .vacuum()
                    .with_retention_period(period.max(chrono::Duration::zero()))
                    .with_enforce_retention_duration(false)
                    .with_clock(std::sync::Arc::new(At(now.timestamp_millis())))
                    .with_dry_run(dry_run)
                    .await
                    .map_err(|e| StoreError::delta(&name, e))?;
                Ok(Some(metrics.files_deleted.len()))
            })?;
            let Some(files) = removed else { continue };
            self.tables.forget(&dir);
            let oldest_kept = self.oldest_after(&name, horizon)?;
            out.push(Vacuumed {
                table: name,
                at: now.to_rfc3339(),
                horizon: horizon.to_rfc3339(),
                reason: format!("the initiative keeps superseded data for {retention}"),
                files,
                oldest_kept,
            });
        }
        if !dry_run {
            self.record_vacuums(&out)?;
        }
        Ok(out)
    }

    /// Appends the vacuums that removed files to `store/retention.jsonl`.
    pub(crate) fn record_vacuums(&self, done: &[Vacuumed]) -> Result<(), StoreError> {
        use std::io::Write;
        if done.iter().all(|v| v.files == 0) {
            return Ok(());
        }
        let log = self.root.join(VACUUM_LOG);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| StoreError::io(&log, e))?;
        for v in done.iter().filter(|v| v.files > 0) {
            let line = serde_json::to_string(v).map_err(|e| StoreError::Ledger(e.to_string()))?;
            writeln!(f, "{line}").map_err(|e| StoreError::io(&log, e))?;
        }
        Ok(())
    }

    /// The first version of a table committed at or after `horizon` (the latest when none is).
    fn oldest_after(&self, name: &str, horizon: DateTime<Utc>) -> Result<u64, StoreError> {
        if !self.table_dir(name).is_dir() {
            // A side table: no --as-of reads it by version number that matters here.
            return Ok(0);
        }
        let history = self.history(name, None)?;
        let cut = horizon.format("%Y-%m-%d %H:%M:%S").to_string();
        Ok(history
            .iter()
            .find(|v| v.committed >= cut)
            .or(history.last())
            .map_or(0, |v| v.version))
    }

    /// The last vacuum that removed files of `table`, if any.
    pub fn last_vacuum(&self, table: &str) -> Option<Vacuumed> {
        let text = std::fs::read_to_string(self.root.join(VACUUM_LOG)).ok()?;
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Vacuumed>(l).ok())
            .find(|v| v.table == table)
    }

    /// The error for reading `version` of `table` when one of its files is gone.
    pub(crate) fn not_kept(&self, table: &str, version: u64, missing: &Path) -> StoreError {
        match self.last_vacuum(table) {
            Some(v) => StoreError::NotKept {
                table: table.to_owned(),
                version,
                why: format!(
                    "its files were removed by `backbone vacuum` on {} ({}); versions from {} \
                     on can be read",
                    v.at.get(..10).unwrap_or(&v.at),
                    v.reason,
                    v.oldest_kept
                ),
            },
            None => StoreError::NotKept {
                table: table.to_owned(),
                version,
                why: format!(
                    "its file {} is missing, and no vacuum is recorded: the store was changed \
                     by hand",
                    missing.display()
                ),
            },
        }
    }

    /// Removes archived raw files whose last receipt is older than `horizon` (a raw file the
    /// ledger does not name counts from when it was archived). Returns the files and bytes
    /// removed; with `dry_run`, what would be.
    pub fn expire_raw(
        &self,
        horizon: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<crate::Swept, StoreError> {
        let mut last: std::collections::HashMap<String, DateTime<Utc>> =
            std::collections::HashMap::new();
        for schema in self.schemas()? {
            for s in self.submissions(&schema, None)? {
                let Ok(at) = DateTime::parse_from_rfc3339(&s.received) else {
                    continue;
                };
                let at = at.with_timezone(&Utc);
                let e = last.entry(s.sha256).or_insert(at);
                *e = (*e).max(at);
            }
        }
        let mut swept = crate::Swept::default();
        let Ok(subs) = std::fs::read_dir(&self.archive) else {
            return Ok(swept);
        };
        for sub in subs.filter_map(Result::ok) {
            let Ok(files) = std::fs::read_dir(sub.path()) else {
                continue;
            };
            for f in files.filter_map(Result::ok) {
                let name = f.file_name().to_string_lossy().into_owned();
                let Ok(meta) = f.metadata() else { continue };
                if !meta.is_file() || name.starts_with('.') {
                    continue;
                }
                let when = match last.get(name.trim_end_matches(".redacted")) {
                    Some(at) => *at,
                    None => meta
                        .modified()
                        .map(DateTime::<Utc>::from)
                        .unwrap_or(horizon),
                };
                if when < horizon {
                    if !dry_run {
                        std::fs::remove_file(f.path()).map_err(|e| StoreError::io(&f.path(), e))?;
                    }
                    swept.files += 1;
                    swept.bytes += meta.len();
                }
            }
        }
        Ok(swept)
    }

    /// Checks that every file of a table version is still there.
    pub(crate) fn check_kept(
        &self,
        name: &str,
        version: u64,
        paths: impl IntoIterator<Item = PathBuf>,
    ) -> Result<(), StoreError> {
        for p in paths {
            if !p.exists() {
                return Err(self.not_kept(name, version, &p));
            }
        }
        Ok(())
    }
}

/// The active files of a table.
pub(crate) async fn active(
    table: &DeltaTable,
    name: &str,
) -> Result<Vec<LogicalFileView>, StoreError> {
    table
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await
        .map_err(|e| StoreError::delta(name, e))
}

/// A file's partition, in the table's partition order.
pub(crate) fn partition_of(
    table: &DeltaTable,
    name: &str,
    f: &LogicalFileView,
) -> Result<Partition, StoreError> {
    let columns = table
        .snapshot()
        .map_err(|e| StoreError::delta(name, e))?
        .metadata()
        .partition_columns()
        .to_vec();
    let values = f.partition_values_map();
    Ok(columns
        .into_iter()
        .map(|c| {
            let v = values
                .get(c.as_str())
                .cloned()
                .flatten()
                .unwrap_or_default();
            (c.clone(), v)
        })
        .collect())
}

/// The small files of each partition that holds two or more of them.
fn small_groups<'f>(
    table: &DeltaTable,
    name: &str,
    files: &'f [LogicalFileView],
) -> Result<BTreeMap<Partition, Vec<&'f LogicalFileView>>, StoreError> {
    let mut groups: BTreeMap<Partition, Vec<&LogicalFileView>> = BTreeMap::new();
    for f in files {
        if u64::try_from(f.size()).unwrap_or(0) < SMALL_FILE {
            groups
                .entry(partition_of(table, name, f)?)
                .or_default()
                .push(f);
        }
    }
    groups.retain(|_, g| g.len() >= 2);
    Ok(groups)
}

/// Writes the rows of `paths` (files of one partition), each batch passed through `keep`
/// (which may drop rows, or the whole batch), to new files of the same partition; returns
/// their adds (not yet committed). Streams: a batch at a time.
pub(crate) async fn rewrite(
    table: &DeltaTable,
    name: &str,
    partition: &Partition,
    paths: &[PathBuf],
    mut keep: impl FnMut(RecordBatch) -> Result<Option<RecordBatch>, StoreError>,
) -> Result<Vec<Add>, StoreError> {
    let values: IndexMap<String, Scalar> = partition
        .iter()
        .map(|(k, v)| (k.clone(), Scalar::String(v.clone())))
        .collect();
    let mut writer: Option<RecordBatchWriter> = None;
    for path in paths {
        let parquet = |e: &dyn std::fmt::Display| {
            StoreError::Parquet(path.display().to_string(), e.to_string())
        };
        let file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
        let reader =
            deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.with_batch_size(64 * 1024).build())
                .map_err(|e| parquet(&e))?;
        for batch in reader {
            let Some(batch) = keep(batch.map_err(|e| parquet(&e))?)? else {
                continue;
            };
            if batch.num_rows() == 0 {
                continue;
            }
            let w = match writer.as_mut() {
                Some(w) => w,
                None => writer.insert(
                    RecordBatchWriter::for_table(table)
                        .map_err(|e| StoreError::delta(name, e))?
                        .with_target_file_size(TARGET_FILE_SIZE)
                        .with_writer_properties(writer_properties(&batch)),
                ),
            };
            if values.is_empty() {
                w.write(batch).await
            } else {
                w.write_partition(batch, &values, WriteMode::Default)
                    .await
                    .map(|_| ())
            }
            .map_err(|e| StoreError::delta(name, e))?;
        }
    }
    match writer {
        Some(mut w) => w.flush().await.map_err(|e| StoreError::delta(name, e)),
        None => Ok(Vec::new()),
    }
}

/// Commits `actions` (no retries: a lost race, `None`, is the caller's to plan again), with
/// `metadata` in the commit's `commitInfo`. On success `table` is at the version made.
pub(crate) async fn commit(
    table: &mut DeltaTable,
    name: &str,
    actions: Vec<Action>,
    operation: DeltaOperation,
    metadata: Option<(String, serde_json::Value)>,
) -> Result<Option<u64>, StoreError> {
    let mut properties = CommitProperties::default()
        .with_max_retries(0)
        .with_cleanup_expired_logs(Some(false));
    if let Some(m) = metadata {
        properties = properties.with_metadata([m]);
    }
    let snapshot = table.snapshot().map_err(|e| StoreError::delta(name, e))?;
    match CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await
    {
        Ok(finalized) => {
            let version = finalized.version();
            table.state = Some(finalized.snapshot());
            Ok(Some(version))
        }
        Err(e) if is_conflict(&e) => Ok(None),
        Err(e) => Err(StoreError::delta(name, e)),
    }
}
