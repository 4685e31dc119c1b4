//! A submission being written: its rows stream to Parquet files, its rejects are buffered,
//! and [`Pending::commit`] makes the rejects' commit, then the one data commit that adds the
//! new files, removes the superseded submission's and carries the ledger entry.

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::{Action, Add};
use deltalake::protocol::{DeltaOperation, SaveMode};

use crate::data_log::DataLog;
use crate::writer::{FileWriter, with_submission_column};
use crate::{
    LEDGER_KEY, MAX_ATTEMPTS, PARTNER_COLUMN, PERIOD_COLUMN, current_of, is_conflict, ledger,
    rejects, side_tables,
};
use crate::{Reject, Store, StoreError, Submission};

/// A submission being written: its rows go to Parquet files, invisible until committed.
pub struct Pending<'s> {
    pub(crate) store: &'s Store,
    pub(crate) table: DataLog,
    /// The accepted rows' columns (what the table is created with, should it be dropped
    /// meanwhile).
    pub(crate) rows: SchemaRef,
    pub(crate) files: FileWriter,
    pub(crate) rejects: Vec<Reject>,
    pub(crate) rejects_table: Option<DeltaTable>,
    pub(crate) reject_files: Vec<Add>,
    pub(crate) supersedes: Option<String>,
    /// The table's versions up to the one `table` was read at (the ledger), which tell the
    /// superseded submission's files without listing the table.
    pub(crate) versions: ledger::Versions,
    pub(crate) schema: String,
}

impl Pending<'_> {
    /// The submission an earlier file of the same partner × schema × period made, which this
    /// one will replace.
    pub fn supersedes(&self) -> Option<&str> {
        self.supersedes.as_deref()
    }

    /// Adds a batch of accepted rows (the submission's id is added here; partner and period
    /// are the files' partition values).
    pub fn write(&mut self, submission: &Submission, batch: RecordBatch) -> Result<(), StoreError> {
        let batch = with_submission_column(&batch, submission)
            .map_err(|e| StoreError::delta(&self.schema, e.into()))?;
        self.files.send(batch)
    }

    /// Records one problem of a rejected row, for the `rejects` table.
    pub fn reject(&mut self, submission: &Submission, reject: Reject) -> Result<(), StoreError> {
        self.rejects.push(reject);
        if self.rejects.len() >= rejects::BATCH {
            self.flush_rejects(submission)?;
        }
        Ok(())
    }

    fn flush_rejects(&mut self, submission: &Submission) -> Result<(), StoreError> {
        if self.rejects.is_empty() {
            return Ok(());
        }
        let batch = rejects::rows(submission, &self.rejects)?;
        self.rejects.clear();
        let store = self.store;
        let adds = store.rt.block_on(async {
            if self.rejects_table.is_none() {
                self.rejects_table = Some(
                    store
                        .open_or_create(
                            &store.rejects_dir(),
                            "rejects",
                            &rejects::schema(),
                            &[],
                            true,
                        )
                        .await?,
                );
            }
            match &self.rejects_table {
                Some(t) => side_tables::write_files(t, "rejects", vec![batch]).await,
                None => Ok(Vec::new()),
            }
        })?;
        self.reject_files.extend(adds);
        Ok(())
    }

    /// Commits the submission. An error [`StoreError::MirrorBehind`] means the submission is
    /// committed but the `submissions` table could not be brought up to date (the next write
    /// does it).
    ///
    /// First its rejects, in one commit of the `rejects` table that an application
    /// transaction named after the submission makes happen once only. Then one commit of the
    /// data table: the new rows in, the superseded submission's rows out, the ledger entry in
    /// the commit's metadata. Returns the data table version it made.
    ///
    /// A submission with no accepted row (rejected outright) changes no data: its commit
    /// carries only the ledger entry, and the submission it would have replaced stays.
    pub fn commit(mut self, mut submission: Submission) -> Result<u64, StoreError> {
        let started = std::time::Instant::now();
        self.flush_rejects(&submission)?;
        let adds = self.files.finish()?;
        tracing::debug!(table = self.schema, took = ?started.elapsed(), "files written");
        let replaces = submission.rows_accepted > 0;
        let schema = self.schema.clone();
        let root = self.store.root.clone();
        self.store.rt.block_on(async {
            if let Some(table) = self.rejects_table.as_mut() {
                let app = format!("backbone-rejects-{}", submission.id);
                // False when an earlier run of this same submission committed them already.
                let adds: Vec<Action> =
                    self.reject_files.iter().cloned().map(Action::Add).collect();
                side_tables::commit_once(table, "rejects", &adds, &app, None, 1).await?;
                self.store.tables.keep(&self.store.rejects_dir(), table);
            }
            // Another ingest may commit to the table between our read and our commit (without
            // datafusion delta-rs treats any two writes as conflicting). Then: reload, check
            // again that these bytes are not in yet, recompute what to remove, and commit the
            // same files again; no Parquet is rewritten.
            let mut attempt = 0;
            let started = std::time::Instant::now();
            loop {
                attempt += 1;
                if attempt > 1 {
                    self.table = self.store.data_log(&schema, &self.rows).await?;
                    let earlier = ledger::versions_to(
                        &root,
                        &self.store.memo,
                        &self.table.log(),
                        &schema,
                        self.table.version(),
                    )
                    .await?;
                    if let Some(same) = earlier.submissions().find(|s| {
                        s.sha256 == submission.sha256
                            && s.partner == submission.partner
                            && s.period == submission.period
                    }) {
                        return Err(StoreError::Raced(same.id.clone()));
                    }
                    self.supersedes = current_of(
                        earlier.submissions(),
                        &submission.partner,
                        &submission.period,
                    );
                    self.versions = earlier;
                }
                submission.supersedes = if replaces {
                    self.supersedes.clone()
                } else {
                    None
                };
                let mut actions: Vec<Action> = adds.iter().cloned().map(Action::Add).collect();
                // Taken, and dropped before the mirroring: the ledger's memo must be the only
                // holder of the versions when the mirror appends this commit's, or it copies
                // every version first (16 ms at 12 000 submissions).
                let versions = std::mem::take(&mut self.versions);
                if replaces {
                    let old = self
                        .table
                        .removes_for(
                            &versions,
                            self.supersedes.as_deref(),
                            &submission.partner,
                            &submission.period,
                        )
                        .await
                        .map_err(|e| StoreError::delta(&schema, e))?;
                    actions.extend(old.into_iter().map(Action::Remove));
                }
                drop(versions);
                tracing::debug!(table = schema, took = ?started.elapsed(), "replaced files found");
                let entry = serde_json::to_value(&submission)
                    .map_err(|e| StoreError::Ledger(e.to_string()))?;
                let operation = DeltaOperation::Write {
                    mode: SaveMode::Append,
                    partition_by: Some(vec![PARTNER_COLUMN.to_owned(), PERIOD_COLUMN.to_owned()]),
                    predicate: Some(format!(
                        "{PARTNER_COLUMN} = '{}' AND {PERIOD_COLUMN} = '{}'",
                        submission.partner.replace('\'', "''"),
                        submission.period.replace('\'', "''")
                    )),
                };
                let metadata = std::collections::HashMap::from([(LEDGER_KEY.to_owned(), entry)]);
                match self.table.commit(&schema, actions, operation, metadata).await {
                    Ok(version) => {
                        tracing::debug!(table = schema, version, took = ?started.elapsed(), "committed");
                        let started = std::time::Instant::now();
                        let mirrored = self.store.mirror(&self.table.log(), &schema, version).await;
                        tracing::debug!(table = schema, version, took = ?started.elapsed(), "mirrored");
                        // The mirror for outside readers. The log is read at the version just
                        // made; reloading the table would list the whole log folder again.
                        return match mirrored {
                            Ok(_) => Ok(version),
                            Err(e) => Err(StoreError::MirrorBehind {
                                version,
                                message: e.to_string(),
                            }),
                        };
                    }
                    Err(e) if is_conflict(&e) && attempt < MAX_ATTEMPTS => continue,
                    Err(e) if is_conflict(&e) => return Err(StoreError::Busy(schema.clone())),
                    Err(e) => return Err(StoreError::delta(&schema, e)),
                }
            }
        })
    }
}
