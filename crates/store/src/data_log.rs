//! A data table as one submission's commit needs it, without delta-rs's materialised state.
//!
//! Loading a [`DeltaTable`](deltalake::DeltaTable) materialises an entry for every live file
//! of the table, read from the last checkpoint: at the national store's 12 000 live
//! partitions (one per partner × month) that was 60–80 ms of every `backbone ingest`, the
//! largest part of a one-file commit, and the part that grows with the number of partitions.
//! A submission's commit needs much less: the table's metadata (schema, partition columns,
//! configuration) and version, the live files of its own partition (the submission it
//! replaces), and the log to write the next version to. [`DataLog`] is that: delta-rs's lazy
//! snapshot (protocol and metadata only); the partition's files from the ledger when it can
//! tell them ([`DataLog::partition_removes_from_ledger`]), else a partition-filtered listing
//! (the kernel prunes the checkpoint's entries by partition values); and a commit written as
//! delta-rs writes one (`CommitData`, put only if the version is still free). None of it
//! materialises the table.
//!
//! Left out of delta-rs's commit: its conflict checker (the store's data commits never used
//! it, `max_retries(0)`: any commit between read and write is a conflict, and
//! [`Pending::commit`](crate::Pending::commit) reads again and decides again); its protocol
//! check, replaced by refusing a table whose protocol is not the store's own; and its
//! post-commit step, of which only the checkpoint matters: it is written here when
//! [`checkpoint_due`](crate::side_tables::checkpoint_due), from a table loaded at that
//! version.

use std::collections::HashMap;
use std::sync::Arc;

use delta_kernel::expressions::{Expression, Predicate, column_expr};
use deltalake::kernel::transaction::CommitData;
use deltalake::kernel::{Action, Remove};
use deltalake::logstore::{CommitOrBytes, LogStoreRef};
use deltalake::protocol::DeltaOperation;
use deltalake::{BlindDeltaTable, DeltaTableError};
use futures::TryStreamExt;

use crate::ledger::Log;
use crate::{PARTNER_COLUMN, PERIOD_COLUMN};

/// A data table's log at one version: its metadata, one partition's live files on demand,
/// and the next version to write.
pub(crate) struct DataLog {
    url: url::Url,
    table: BlindDeltaTable,
}

impl DataLog {
    /// The table at `url` at its latest version, its log listed through `store` (the
    /// store's [`LogDirStore`](crate::logdir::LogDirStore)).
    pub(crate) async fn open(
        url: &url::Url,
        store: Arc<crate::logdir::LogDirStore>,
    ) -> Result<Self, DeltaTableError> {
        let store: Arc<dyn deltalake::ObjectStore> = store;
        let log_store = deltalake::DeltaTableBuilder::from_url(url.clone())?
            .with_storage_backend(store, url.clone())
            .build()?
            .log_store();
        Ok(Self {
            url: url.clone(),
            table: BlindDeltaTable::try_new_with_log_store(log_store).await?,
        })
    }

    /// The version read.
    pub(crate) fn version(&self) -> u64 {
        self.table.version()
    }

    /// What the ledger is read from.
    pub(crate) fn log(&self) -> Log {
        Log {
            id: self.table.metadata().id().to_owned(),
            store: self.table.log_store(),
        }
    }

    /// The table as the Parquet writer needs it (schema, partition columns, configuration).
    pub(crate) fn table(&self) -> &BlindDeltaTable {
        &self.table
    }

    fn log_store(&self) -> LogStoreRef {
        self.table.log_store()
    }

    /// Remove actions for every live file of one partner × period partition.
    pub(crate) async fn partition_removes(
        &self,
        partner: &str,
        period: &str,
    ) -> Result<Vec<Remove>, DeltaTableError> {
        let predicate = Arc::new(Predicate::and(
            Predicate::eq(column_expr!("_partner"), Expression::literal(partner)),
            Predicate::eq(column_expr!("_period"), Expression::literal(period)),
        ));
        let log_store = self.log_store();
        let files: Vec<_> = self
            .table
            .snapshot()
            .file_views(log_store.as_ref(), Some(predicate))
            .try_collect()
            .await?;
        // The kernel prunes by partition values; each file's are checked again here, so that a
        // file of another partition is never removed whatever the pruning keeps.
        let wanted = partition_values(partner, period);
        Ok(files
            .iter()
            .filter(|f| f.partition_values_map() == wanted)
            .map(|f| f.remove_action(true))
            .collect())
    }

    /// Remove actions for every live file of one partner × period partition, read from the
    /// log's last commit that touched it when the ledger can tell which (see
    /// [`Self::partition_removes_from_ledger`]), else listed ([`Self::partition_removes`]).
    pub(crate) async fn removes_for(
        &self,
        versions: &[crate::Version],
        supersedes: Option<&str>,
        partner: &str,
        period: &str,
    ) -> Result<Vec<Remove>, DeltaTableError> {
        match self
            .partition_removes_from_ledger(versions, supersedes, partner, period)
            .await?
        {
            Some(removes) => Ok(removes),
            None => self.partition_removes(partner, period).await,
        }
    }

    /// The live files of a partition without listing the table's, when the ledger shows what
    /// they are. A submission's commit removes every live file of its partition and adds its
    /// own; so when every version since the current submission of the partition (`supersedes`;
    /// or since the table was made, when there is none) is another submission's own commit
    /// (operation `WRITE` carrying a ledger entry, no erasure or rotation), the partition's
    /// live files are exactly what that submission's commit added (or none). Anything else
    /// since — compaction, an erasure, a rotation, a vacuum's entries, a write by another
    /// tool — and `None`: the caller lists the partition. Listing is 15–20 ms of a commit at
    /// 12 000 live partitions; this reads one commit file.
    pub(crate) async fn partition_removes_from_ledger(
        &self,
        versions: &[crate::Version],
        supersedes: Option<&str>,
        partner: &str,
        period: &str,
    ) -> Result<Option<Vec<Remove>>, DeltaTableError> {
        // Only the versions up to the one read (the ledger may have been read further).
        let read = self.version();
        let versions: Vec<&crate::Version> =
            versions.iter().filter(|v| v.version <= read).collect();
        if versions.last().map(|v| v.version) != Some(read) {
            return Ok(None);
        }
        let (since, from) = match supersedes {
            Some(id) => match versions.iter().position(|v| {
                v.submission
                    .as_ref()
                    .is_some_and(|s| s.id == id && s.partner == partner && s.period == period)
            }) {
                Some(at) => (versions.get(at).map(|v| v.version), at + 1),
                None => return Ok(None),
            },
            // No submission of the partition: from the table's first commit on.
            None => match versions.first() {
                Some(first) if first.version == 0 && first.submission.is_none() => (None, 1),
                _ => return Ok(None),
            },
        };
        let plain = versions.get(from..).unwrap_or_default().iter().all(|v| {
            v.operation == "WRITE"
                && v.erasure.is_none()
                && v.rekey.is_none()
                && v.submission.as_ref().is_some_and(|s| {
                    // Another accepted submission of the same partition would be the current one.
                    !(s.partner == partner && s.period == period && s.rows_accepted > 0)
                })
        });
        if !plain {
            return Ok(None);
        }
        let Some(since) = since else {
            return Ok(Some(Vec::new()));
        };
        let Some(bytes) = self.log_store().read_commit_entry(since).await? else {
            return Ok(None);
        };
        let now = chrono::Utc::now().timestamp_millis();
        let wanted = partition_values(partner, period);
        Ok(Some(
            deltalake::logstore::get_actions(since, &bytes)?
                .into_iter()
                .filter_map(|a| match a {
                    Action::Add(add) if add.partition_values == wanted => Some(Remove {
                        path: add.path,
                        data_change: true,
                        deletion_timestamp: Some(now),
                        extended_file_metadata: Some(true),
                        size: Some(add.size),
                        partition_values: Some(add.partition_values),
                        deletion_vector: add.deletion_vector,
                        tags: None,
                        base_row_id: None,
                        default_row_commit_version: None,
                    }),
                    _ => None,
                })
                .collect(),
        ))
    }

    /// Writes `actions` as the version after the one read, with `metadata` in its
    /// `commitInfo`, and returns that version; a conflict ([`crate::is_conflict`]) when another
    /// writer took it. The version also gets its checkpoint when
    /// [`checkpoint_due`](crate::side_tables::checkpoint_due) (a failed checkpoint is logged:
    /// the commit stands).
    pub(crate) async fn commit(
        &self,
        schema: &str,
        actions: Vec<Action>,
        operation: DeltaOperation,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<u64, DeltaTableError> {
        // delta-rs's checker refused writes its writer does not support; this path writes what
        // the store's own tables are (created at reader 1, writer 2, no table features) and
        // refuses a table whose protocol another tool raised (column mapping, deletion vectors:
        // rows written here would be read wrongly there), or made append-only.
        let protocol = serde_json::to_value(self.table.protocol()).unwrap_or_default();
        let ours = protocol.get("minReaderVersion") == Some(&1.into())
            && protocol.get("minWriterVersion") == Some(&2.into());
        let removes = actions.iter().any(|a| matches!(a, Action::Remove(_)));
        if !ours || (removes && self.table.is_append_only()) {
            return Err(DeltaTableError::Generic(format!(
                "table {schema}: its protocol ({protocol}) or its appendOnly property was set by \
                 another tool; backbone writes only the tables it made (reader 1, writer 2)"
            )));
        }
        let bytes = CommitData::new(actions, operation, metadata, Vec::new())
            .get_bytes()
            .map_err(DeltaTableError::from)?;
        let version = self.version() + 1;
        self.log_store()
            .write_commit_entry(
                version,
                CommitOrBytes::LogBytes(bytes),
                uuid::Uuid::new_v4(),
            )
            .await
            .map_err(DeltaTableError::from)?;
        if crate::side_tables::checkpoint_due(&self.url, self.table.table_properties(), version) {
            let started = std::time::Instant::now();
            let checkpoint = async {
                let table = crate::side_tables::open_table(&self.url, Some(version)).await?;
                deltalake::checkpoints::create_checkpoint(&table, None).await
            };
            match checkpoint.await {
                Ok(()) => {
                    tracing::debug!(table = schema, version, took = ?started.elapsed(), "checkpoint written");
                }
                Err(e) => {
                    tracing::warn!(table = schema, version, error = %e, "the checkpoint was not written");
                }
            }
        }
        Ok(version)
    }
}

/// A data file's partition values as the log records them.
fn partition_values(partner: &str, period: &str) -> HashMap<String, Option<String>> {
    HashMap::from([
        (PARTNER_COLUMN.to_owned(), Some(partner.to_owned())),
        (PERIOD_COLUMN.to_owned(), Some(period.to_owned())),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeSet;

    use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::{Committed, Store, Submission, current_of, ledger};

    fn rows(ids: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("record_id", DataType::Utf8, false),
            Field::new("age", DataType::Int64, true),
        ]));
        let ages: Vec<i64> = (0..ids.len() as i64).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(Int64Array::from(ages)),
            ],
        )
        .unwrap()
    }

    fn submit(store: &Store, partner: &str, period: &str, sha: &str, accepted: u64) {
        let s = Submission {
            id: format!("{partner}-svc-{period}-{sha}"),
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
        };
        let batch = if accepted > 0 {
            vec![rows(&[sha])]
        } else {
            Vec::new()
        };
        let done = store.commit(s, &rows(&[]).schema(), batch).unwrap();
        assert!(matches!(done, Committed::Version(_)));
    }

    const PARTITIONS: [(&str, &str); 4] = [
        ("P01", "2024-01"),
        ("P02", "2024-01"),
        ("P01", "2024-02"),
        ("P03", "2024-01"),
    ];

    /// For every partition: what the ledger says its live files are (`None`: it cannot say),
    /// after checking it against the listing.
    fn from_ledger(store: &Store) -> Vec<Option<usize>> {
        store.rt.block_on(async {
            let url = url::Url::from_directory_path(store.table_dir("svc")).unwrap();
            let log = DataLog::open(&url, store.logs.clone()).await.unwrap();
            let versions =
                ledger::versions_to(&store.root, &store.memo, &log.log(), "svc", log.version())
                    .await
                    .unwrap();
            let mut out = Vec::new();
            for (partner, period) in PARTITIONS {
                let supersedes = current_of(versions.submissions(), partner, period);
                let listed: BTreeSet<String> = log
                    .partition_removes(partner, period)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.path)
                    .collect();
                let fast = log
                    .partition_removes_from_ledger(
                        &versions,
                        supersedes.as_deref(),
                        partner,
                        period,
                    )
                    .await
                    .unwrap();
                if let Some(fast) = &fast {
                    let fast: BTreeSet<String> = fast.iter().map(|r| r.path.clone()).collect();
                    assert_eq!(fast, listed, "{partner} {period}");
                }
                out.push(fast.map(|f| f.len()));
            }
            out
        })
    }

    /// The ledger's shortcut agrees with the listing through new submissions, resubmissions
    /// and a rejected-outright file, and stands aside after a commit it cannot account for.
    #[test]
    fn the_ledger_tells_a_partitions_files_as_the_listing_does_or_stands_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        submit(&store, "P01", "2024-01", "a1", 1);
        assert_eq!(from_ledger(&store), [Some(1), Some(0), Some(0), Some(0)]);
        submit(&store, "P02", "2024-01", "b1", 1);
        submit(&store, "P01", "2024-02", "c1", 1);
        submit(&store, "P01", "2024-01", "a2", 1);
        // Rejected outright: its partition keeps the file before it.
        submit(&store, "P02", "2024-01", "b2", 0);
        assert_eq!(from_ledger(&store), [Some(1), Some(1), Some(1), Some(0)]);

        // A commit no submission made (compaction: a partition's file replaced by another):
        // the partitions whose current submission is older cannot be told from the ledger any
        // more (it would name the replaced file).
        let (version, add) = store.rt.block_on(async {
            let url = url::Url::from_directory_path(store.table_dir("svc")).unwrap();
            let log = DataLog::open(&url, store.logs.clone()).await.unwrap();
            let file = log.partition_removes("P01", "2024-02").await.unwrap();
            (log.version(), file[0].path.clone())
        });
        let foreign = format!(
            "{{\"commitInfo\":{{\"timestamp\":1,\"operation\":\"OPTIMIZE\"}}}}\n\
             {{\"remove\":{{\"path\":\"{add}\",\"dataChange\":false,\"deletionTimestamp\":1}}}}\n\
             {{\"add\":{{\"path\":\"{add}.compacted.parquet\",\"partitionValues\":{{\"_partner\":\"P01\",\"_period\":\"2024-02\"}},\
             \"size\":1,\"modificationTime\":1,\"dataChange\":false}}}}\n"
        );
        std::fs::write(
            store
                .table_dir("svc")
                .join("_delta_log")
                .join(format!("{:020}.json", version + 1)),
            foreign,
        )
        .unwrap();
        assert_eq!(from_ledger(&store), [None, None, None, None]);
        // A submission after it is told from the ledger again.
        submit(&store, "P01", "2024-02", "c2", 1);
        assert_eq!(from_ledger(&store), [None, None, Some(1), None]);
    }
}
