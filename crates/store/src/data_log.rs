//! A data table as one submission's commit needs it, without delta-rs's materialised state.
//!
//! Loading a [`DeltaTable`] materialises an entry for every live file of the table, read from
//! the last checkpoint: at the national store's 12 000 live partitions (one per partner ×
//! month) that was 60–80 ms of every `backbone ingest`, the largest part of a one-file commit,
//! and the part that grows with the number of partitions. A submission's commit needs much
//! less: the table's metadata (schema, partition columns, configuration) and version, the live
//! files of its own partition (the submission it replaces), and the log to write the next
//! version to. [`DataLog`] is that: delta-rs's lazy snapshot (protocol and metadata only), a
//! partition-filtered listing of live files (the kernel prunes the checkpoint's entries by
//! partition values), and a commit written as delta-rs writes one (`CommitData`, put only if
//! the version is still free), none of which materialises the table.
//!
//! What is left out is delta-rs's conflict checker and its post-commit step. The store's data
//! commits never used the checker (`max_retries(0)`: any commit between read and write is a
//! conflict, and [`Pending::commit`](crate::Pending::commit) reads again and decides again), and
//! of the post-commit step only the checkpoint matters; it is written here every
//! [`CHECKPOINT_INTERVAL`](crate::side_tables::CHECKPOINT_INTERVAL)th version from a table
//! loaded at that version.

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
#[derive(Clone)]
pub(crate) struct DataLog {
    url: url::Url,
    table: BlindDeltaTable,
}

impl DataLog {
    /// The table at `url` at its latest version (listing its log through
    /// [`LogDirStore`](crate::logdir::LogDirStore)).
    pub(crate) async fn open(url: &url::Url) -> Result<Self, DeltaTableError> {
        let store: Arc<dyn deltalake::ObjectStore> = Arc::new(crate::logdir::LogDirStore::new());
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
        let wanted = HashMap::from([
            (PARTNER_COLUMN.to_owned(), Some(partner.to_owned())),
            (PERIOD_COLUMN.to_owned(), Some(period.to_owned())),
        ]);
        Ok(files
            .iter()
            .filter(|f| f.partition_values_map() == wanted)
            .map(|f| f.remove_action(true))
            .collect())
    }

    /// Writes `actions` as the version after the one read, with `metadata` in its
    /// `commitInfo`, and returns that version; a conflict ([`crate::is_conflict`]) when another
    /// writer took it. Every [`CHECKPOINT_INTERVAL`](crate::side_tables::CHECKPOINT_INTERVAL)th
    /// version also gets its checkpoint (a failed checkpoint is logged: the commit stands).
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
        let interval = {
            use deltalake::table::config::TablePropertiesExt;
            self.table.table_properties().checkpoint_interval().get()
        };
        if (version + 1).is_multiple_of(interval) {
            let checkpoint = async {
                let table = crate::side_tables::open_table(&self.url, Some(version)).await?;
                deltalake::checkpoints::create_checkpoint(&table, None).await
            };
            if let Err(e) = checkpoint.await {
                tracing::warn!(table = schema, version, error = %e, "the checkpoint was not written");
            }
        }
        Ok(version)
    }
}
