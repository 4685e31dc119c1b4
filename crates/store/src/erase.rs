//! Erasing one person: their rows leave the current version of a table in one commit (the
//! files that held them rewritten without them), the problems of their rejected rows leave
//! `rejects`, and the data files of older versions that hold them are named in the erasure's
//! record for `backbone vacuum` to remove. The record travels in the commit (key
//! [`ERASURE_KEY`]) and never holds the pseudonym.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use deltalake::arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;

use crate::lifecycle::{active, commit, partition_of, rewrite};
use crate::{ERASURE_KEY, Erasure, MAX_ATTEMPTS, SUBMISSION_COLUMN, Store, StoreError, load_dir};

/// What an erasure did to the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Erased {
    /// The data table's version that recorded it.
    pub version: u64,
    /// The record, as committed.
    pub erasure: Erasure,
}

impl Store {
    /// Erases the rows whose `columns` (the schema's personal-data fields) hold `pseudonym`
    /// from `schema`'s table, and the `rejects` rows of `rejected` (submission, physical row),
    /// in one commit of each table. `record` is completed (rows, submissions, older files,
    /// rejects) and committed with the data table's commit.
    pub fn erase(
        &self,
        schema: &str,
        columns: &[String],
        pseudonym: &str,
        mut record: Erasure,
        rejected: &[(String, u64)],
    ) -> Result<Erased, StoreError> {
        let dir = self.table_dir(schema);
        self.rt.block_on(async {
            if !rejected.is_empty() {
                record.rejects = self.erase_rejects(rejected).await?;
            }
            let is_person = |b: &RecordBatch| person_rows(b, columns, pseudonym);
            for _ in 0..MAX_ATTEMPTS {
                let Some(mut table) = load_dir(&dir, schema, None).await? else {
                    return Err(StoreError::Ledger(format!("there is no table {schema}")));
                };
                let mut submissions = BTreeSet::new();
                let dropped =
                    drop_marked(&table, schema, &dir, &is_person, Some(&mut submissions)).await?;
                // The files this commit retires hold them too, for the versions before it.
                let mut older: Vec<String> =
                    dropped.retired.iter().map(|p| relative(&dir, p)).collect();
                // Files of older versions (and any no version names) that still hold them.
                for p in not_current(&dir, &dropped.current, &dropped.adds)? {
                    if matches_in(&p, &is_person, None)? > 0 {
                        older.push(relative(&dir, &p));
                    }
                }
                older.sort();
                record.rows = dropped.rows;
                record.submissions = submissions.into_iter().collect();
                record.older_files = older;
                let entry =
                    serde_json::to_value(&record).map_err(|e| StoreError::Ledger(e.to_string()))?;
                let operation = DeltaOperation::Delete {
                    predicate: Some(format!("erasure {}", record.tag)),
                };
                match commit(
                    &mut table,
                    schema,
                    dropped.actions,
                    operation,
                    Some((ERASURE_KEY.to_owned(), entry)),
                )
                .await?
                {
                    Some(version) => {
                        self.tables.forget(&dir);
                        return Ok(Erased {
                            version,
                            erasure: record,
                        });
                    }
                    None => discard(&dir, &dropped.adds),
                }
            }
            Err(StoreError::Busy(schema.to_owned()))
        })
    }

    /// Removes the `rejects` rows of these (submission, physical row) pairs, in one commit;
    /// returns how many.
    async fn erase_rejects(&self, rejected: &[(String, u64)]) -> Result<u64, StoreError> {
        const NAME: &str = "rejects";
        let dir = self.rejects_dir();
        let wanted: HashSet<(&str, u64)> = rejected.iter().map(|(s, r)| (s.as_str(), *r)).collect();
        let is_theirs = |b: &RecordBatch| -> Result<Vec<bool>, StoreError> {
            let (Some(sub), Some(row)) = (
                string_column(b, "submission_id"),
                b.column_by_name("row_number")
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>()),
            ) else {
                return Err(StoreError::Ledger(
                    "rejects table without its columns".into(),
                ));
            };
            Ok((0..b.num_rows())
                .map(|i| {
                    let r = u64::try_from(row.value(i)).unwrap_or(0);
                    wanted.contains(&(sub.value(i), r))
                })
                .collect())
        };
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut table) = load_dir(&dir, NAME, None).await? else {
                return Ok(0);
            };
            let dropped = drop_marked(&table, NAME, &dir, &is_theirs, None).await?;
            let removed = dropped.rows;
            if removed == 0 {
                return Ok(0);
            }
            let operation = DeltaOperation::Delete {
                predicate: Some("erasure".into()),
            };
            match commit(&mut table, NAME, dropped.actions, operation, None).await? {
                Some(_) => {
                    self.tables.forget(&dir);
                    return Ok(removed);
                }
                None => discard(&dir, &dropped.adds),
            }
        }
        Err(StoreError::Busy(NAME.to_owned()))
    }

    /// Every erasure recorded in a schema's table, oldest first, with the version of each.
    pub fn erasures(&self, schema: &str) -> Result<Vec<(u64, Erasure)>, StoreError> {
        Ok(self
            .history(schema, None)?
            .into_iter()
            .filter_map(|v| v.erasure.map(|e| (v.version, e)))
            .collect())
    }

    /// Rewrites every pseudonym of `schema`'s table (its personal-data `columns`) through
    /// `rotate`, in one commit that records `record` (completed with rows and the older files
    /// that keep the old pseudonyms). Nothing is done, and `None` returned, when this table was
    /// already rewritten under the same key (a rotation resumed after a crash).
    pub fn rekey(
        &self,
        schema: &str,
        columns: &[String],
        rotate: &dyn Fn(&str) -> String,
        mut record: crate::Rekeyed,
    ) -> Result<Option<u64>, StoreError> {
        let done = self
            .history(schema, None)?
            .iter()
            .any(|v| v.rekey.as_ref().is_some_and(|r| r.key == record.key));
        if done {
            return Ok(None);
        }
        let dir = self.table_dir(schema);
        self.rt.block_on(async {
            for _ in 0..MAX_ATTEMPTS {
                let Some(mut table) = load_dir(&dir, schema, None).await? else {
                    return Ok(None);
                };
                let mut adds = Vec::new();
                let mut actions = Vec::new();
                let mut older = Vec::new();
                let mut current = HashSet::new();
                let mut rows = 0u64;
                for f in active(&table, schema).await? {
                    let path = dir.join(f.path().as_ref());
                    current.insert(path.clone());
                    older.push(relative(&dir, &path));
                    let partition = partition_of(&table, schema, &f)?;
                    let written = rewrite(&table, schema, &partition, &[path], |b| {
                        rows += b.num_rows() as u64;
                        rotated(&b, columns, rotate).map(Some)
                    })
                    .await?;
                    actions.extend(written.iter().cloned().map(Action::Add));
                    adds.extend(written);
                    actions.push(Action::Remove(f.remove_action(true)));
                }
                for p in not_current(&dir, &current, &adds)? {
                    older.push(relative(&dir, &p));
                }
                older.sort();
                record.rows = rows;
                record.older_files = older;
                let entry =
                    serde_json::to_value(&record).map_err(|e| StoreError::Ledger(e.to_string()))?;
                let operation = DeltaOperation::Update {
                    predicate: Some(format!("rekey {}", record.key)),
                };
                match commit(
                    &mut table,
                    schema,
                    actions,
                    operation,
                    Some((crate::REKEY_KEY.to_owned(), entry)),
                )
                .await?
                {
                    Some(version) => {
                        self.tables.forget(&dir);
                        return Ok(Some(version));
                    }
                    None => discard(&dir, &adds),
                }
            }
            Err(StoreError::Busy(schema.to_owned()))
        })
    }

    /// Removes the data files of older versions that erasures and key rotations named and
    /// that are still there, whatever the retention; records it in `store/retention.jsonl`
    /// (so reading such a version says why it is gone). Returns what each table lost.
    pub fn vacuum_erasures(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
    ) -> Result<Vec<crate::Vacuumed>, StoreError> {
        let mut out = Vec::new();
        for schema in self.schemas()? {
            let dir = self.table_dir(&schema);
            let mut n = 0;
            let mut last = None;
            for v in self.history(&schema, None)? {
                let (files, why) = match (&v.erasure, &v.rekey) {
                    (Some(e), _) => (&e.older_files, "a person's rows were erased"),
                    (None, Some(r)) => (&r.older_files, "the pseudonym key was rotated"),
                    (None, None) => continue,
                };
                for f in files {
                    let p = dir.join(f);
                    if p.exists() {
                        if !dry_run {
                            std::fs::remove_file(&p).map_err(|e| StoreError::io(&p, e))?;
                        }
                        n += 1;
                        last = Some((v.version, why));
                    }
                }
            }
            if let Some((version, why)) = last {
                self.tables.forget(&dir);
                out.push(crate::Vacuumed {
                    table: schema,
                    at: now.to_rfc3339(),
                    horizon: String::new(),
                    reason: format!("{why} at version {version}"),
                    files: n,
                    oldest_kept: version,
                });
            }
        }
        if !dry_run {
            self.record_vacuums(&out)?;
        }
        Ok(out)
    }
}

/// A batch with its personal-data columns' values rotated.
fn rotated(
    b: &RecordBatch,
    columns: &[String],
    rotate: &dyn Fn(&str) -> String,
) -> Result<RecordBatch, StoreError> {
    let schema = b.schema();
    let mut arrays = b.columns().to_vec();
    for c in columns {
        let Ok(i) = schema.index_of(c) else { continue };
        let Some(col) = arrays[i].as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        let new: StringArray = col.iter().map(|v| v.map(rotate)).collect();
        arrays[i] = std::sync::Arc::new(new);
    }
    RecordBatch::try_new(schema, arrays).map_err(|e| StoreError::Ledger(format!("rekeying: {e}")))
}

/// What [`drop_marked`] wrote and would retire.
struct Dropped {
    /// Rows left out.
    rows: u64,
    /// Every current file of the table.
    current: HashSet<PathBuf>,
    /// The current files that held marked rows (retired by the commit).
    retired: Vec<PathBuf>,
    /// The files written in their place.
    adds: Vec<deltalake::kernel::Add>,
    /// The commit's actions: those adds and the retired files' removes.
    actions: Vec<Action>,
}

/// Rewrites each current file of `table` that holds a row `marked` picks without those rows
/// (not yet committed); with `submissions`, the marked rows' submission ids are added to it.
async fn drop_marked(
    table: &deltalake::DeltaTable,
    name: &str,
    dir: &Path,
    marked: &dyn Fn(&RecordBatch) -> Result<Vec<bool>, StoreError>,
    mut submissions: Option<&mut BTreeSet<String>>,
) -> Result<Dropped, StoreError> {
    let mut out = Dropped {
        rows: 0,
        current: HashSet::new(),
        retired: Vec::new(),
        adds: Vec::new(),
        actions: Vec::new(),
    };
    for f in active(table, name).await? {
        let path = dir.join(f.path().as_ref());
        out.current.insert(path.clone());
        let hits = matches_in(&path, marked, submissions.as_deref_mut())?;
        if hits == 0 {
            continue;
        }
        out.rows += hits;
        let partition = partition_of(table, name, &f)?;
        let written = rewrite(table, name, &partition, std::slice::from_ref(&path), |b| {
            let keep: BooleanArray = marked(&b)?.iter().map(|m| Some(!m)).collect();
            filter_record_batch(&b, &keep)
                .map(Some)
                .map_err(|e| StoreError::Ledger(format!("erasing: {e}")))
        })
        .await?;
        out.retired.push(path);
        out.actions.extend(written.iter().cloned().map(Action::Add));
        out.adds.extend(written);
        out.actions.push(Action::Remove(f.remove_action(true)));
    }
    Ok(out)
}

/// Removes the files a commit that lost a race had written (in no log).
pub(crate) fn discard(dir: &Path, adds: &[deltalake::kernel::Add]) {
    for a in adds {
        let _ = std::fs::remove_file(dir.join(&a.path));
    }
}

/// The table's data files that are neither current nor just written (`adds`): older
/// versions', and any that no version names.
fn not_current(
    dir: &Path,
    current: &HashSet<PathBuf>,
    adds: &[deltalake::kernel::Add],
) -> Result<Vec<PathBuf>, StoreError> {
    let mut all = Vec::new();
    crate::sweep::walk(dir, &mut all).map_err(|e| StoreError::io(dir, e))?;
    Ok(all
        .into_iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let in_log = p
                .strip_prefix(dir)
                .is_ok_and(|rel| rel.starts_with("_delta_log"));
            !in_log
                && name.ends_with(".parquet")
                && !current.contains(p)
                && !adds.iter().any(|a| dir.join(&a.path) == *p)
        })
        .collect())
}

fn relative(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

pub(crate) fn string_column<'b>(b: &'b RecordBatch, name: &str) -> Option<&'b StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
}

/// Which rows of a batch hold the pseudonym in one of `columns`.
fn person_rows(
    b: &RecordBatch,
    columns: &[String],
    pseudonym: &str,
) -> Result<Vec<bool>, StoreError> {
    let mut hit = vec![false; b.num_rows()];
    for c in columns {
        let Some(col) = string_column(b, c) else {
            continue;
        };
        for (i, h) in hit.iter_mut().enumerate() {
            if col.is_valid(i) && col.value(i) == pseudonym {
                *h = true;
            }
        }
    }
    Ok(hit)
}

/// How many rows of a Parquet file `test` marks; with `submissions`, their submission ids are
/// added to it.
fn matches_in(
    path: &Path,
    test: &dyn Fn(&RecordBatch) -> Result<Vec<bool>, StoreError>,
    mut submissions: Option<&mut BTreeSet<String>>,
) -> Result<u64, StoreError> {
    let parquet =
        |e: &dyn std::fmt::Display| StoreError::Parquet(path.display().to_string(), e.to_string());
    let file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let reader =
        deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(64 * 1024).build())
            .map_err(|e| parquet(&e))?;
    let mut n = 0;
    for batch in reader {
        let batch = batch.map_err(|e| parquet(&e))?;
        let hits = test(&batch)?;
        for (i, _) in hits.iter().enumerate().filter(|(_, h)| **h) {
            n += 1;
            if let (Some(subs), Some(col)) = (
                submissions.as_deref_mut(),
                string_column(&batch, SUBMISSION_COLUMN),
            ) {
                subs.insert(col.value(i).to_owned());
            }
        }
    }
    Ok(n)
}
