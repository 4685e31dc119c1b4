//! The ledger: which submission each table version recorded.
//!
//! The truth is in the data table's own log: every commit's `commitInfo` carries its ledger
//! entry (key [`LEDGER_KEY`]). Reading it back means reading one log file per version, so a
//! derived cache (`store/cache/<schema>.ledger.bin`, appended to) remembers what was read up to which
//! version, and each write reads only the log files written since: commit #5 000 does not
//! re-read 4 999 log files. The cache may be deleted at any time; it is rebuilt from the log.
//!
//! For readers outside backbone the ledger is also mirrored into the `submissions` Delta
//! table, one row per submission. The mirror is written after the data commit: the entries
//! since the last mirroring in a file of their own, and every 20 files the schema's entries
//! again whole in one file that replaces them (so the table stays a few files however long
//! the history, and a commit does not rewrite the whole history), and caught up by the next
//! write (an application transaction per schema remembers how far it got), so it
//! can lag a crashed ingest but never holds an entry the data table does not.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use deltalake::DeltaTable;
use deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::kernel::Action;
use deltalake::logstore::LogStoreRef;
use serde::{Deserialize, Serialize};

use crate::{ERASURE_KEY, LEDGER_KEY, REKEY_KEY, StoreError, Submission, Version};

/// The cache file: a first frame naming the table, then one frame per version. Frames are
/// only ever appended (two writers may append the same versions; readers keep the first of
/// each).
///
/// A frame is a little-endian `u32` length and that many bytes of postcard (serde's compact
/// binary form; a version's fields in declaration order, strings length-prefixed). Not JSON
/// lines: parsing 5 000 versions of those took 8–11 ms of a one-file ingest, the largest part
/// of its commit that grew with the history; postcard reads them in 3.5 ms.
#[derive(Serialize, Deserialize)]
struct Header {
    /// What the file is, and in which layout ([`MAGIC`]).
    magic: String,
    /// The Delta table's id: a table deleted and created again is not the cached one.
    table_id: String,
}

/// The layout's name, first in the header: a file in another layout is not read (and is
/// written again whole).
const MAGIC: &str = "backbone ledger cache 1";

/// A version as the cache keeps it. postcard writes every field, in order, and cannot skip
/// one (`Version` leaves out an absent erasure or rotation in its JSON), so the cache has its
/// own form; a unit test round-trips a version with every field filled.
#[derive(Serialize)]
struct CachedRef<'a> {
    version: u64,
    committed: &'a str,
    operation: &'a str,
    submission: &'a Option<Submission>,
    erasure: &'a Option<crate::Erasure>,
    rekey: &'a Option<crate::Rekeyed>,
}

#[derive(Deserialize)]
struct Cached {
    version: u64,
    committed: String,
    operation: String,
    submission: Option<Submission>,
    erasure: Option<crate::Erasure>,
    rekey: Option<crate::Rekeyed>,
}

fn cache_path(root: &Path, schema: &str) -> PathBuf {
    root.join("cache").join(format!("{schema}.ledger.bin"))
}

/// The versions the cache holds, from 0 without gaps, and whether the file is sound (a file
/// that is not is written again whole).
fn read_cache(path: &Path, table_id: &str) -> (Vec<Version>, bool) {
    match read_cache_file(path) {
        Some((id, versions, sound)) if id == table_id => (versions, sound),
        _ => (Vec::new(), false),
    }
}

/// The frames of a cache file's bytes, and whether they ended on a frame's end (a writer
/// killed mid-append leaves a torn last frame, which is not returned).
fn frames(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((len, body)) = rest.split_first_chunk::<4>() else {
            return (out, false);
        };
        let len = u32::from_le_bytes(*len) as usize;
        let Some((frame, after)) = body.split_at_checked(len) else {
            return (out, false);
        };
        out.push(frame);
        rest = after;
    }
    (out, true)
}

/// A cache file's table id, its versions from 0 without gaps, and whether it is sound.
fn read_cache_file(path: &Path) -> Option<(String, Vec<Version>, bool)> {
    let bytes = std::fs::read(path).ok()?;
    let (frames, whole) = frames(&bytes);
    let mut frames = frames.into_iter();
    let header: Header = frames
        .next()
        .and_then(|f| postcard::from_bytes(f).ok())
        .filter(|h: &Header| h.magic == MAGIC)?;
    let mut out: Vec<Version> = Vec::with_capacity(frames.len());
    for frame in frames {
        let Ok(c) = postcard::from_bytes::<Cached>(frame) else {
            return Some((header.table_id, out, false));
        };
        match c.version.cmp(&(out.len() as u64)) {
            std::cmp::Ordering::Equal => out.push(Version {
                version: c.version,
                committed: c.committed,
                operation: c.operation,
                submission: c.submission,
                erasure: c.erasure,
                rekey: c.rekey,
            }),
            std::cmp::Ordering::Less => {} // appended twice by two writers
            std::cmp::Ordering::Greater => return Some((header.table_id, out, false)),
        }
    }
    Some((header.table_id, out, whole))
}

/// One frame: the length, then the value in postcard.
fn frame(value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    let body = postcard::to_stdvec(value).map_err(|e| StoreError::Ledger(e.to_string()))?;
    let len = u32::try_from(body.len())
        .map_err(|_| StoreError::Ledger(format!("a ledger entry of {} bytes", body.len())))?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend(body);
    Ok(out)
}

fn version_frame(v: &Version) -> Result<Vec<u8>, StoreError> {
    frame(&CachedRef {
        version: v.version,
        committed: &v.committed,
        operation: &v.operation,
        submission: &v.submission,
        erasure: &v.erasure,
        rekey: &v.rekey,
    })
}

fn append_cache(
    path: &Path,
    table_id: &str,
    all: &[Version],
    new_from: usize,
    sound: bool,
) -> Result<(), StoreError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    if !sound {
        // Written again whole, aside then renamed: readers see the old file or the new one.
        let mut bytes = frame(&Header {
            magic: MAGIC.to_owned(),
            table_id: table_id.to_owned(),
        })?;
        for v in all {
            bytes.extend(version_frame(v)?);
        }
        let tmp = dir.join(format!(".{}.{}", std::process::id(), unique()));
        std::fs::write(&tmp, bytes).map_err(|e| StoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
        // The JSON-lines cache of earlier builds, now never read.
        let _ = std::fs::remove_file(path.with_extension("jsonl"));
        return Ok(());
    }
    let mut bytes = Vec::new();
    for v in &all[new_from..] {
        bytes.extend(version_frame(v)?);
    }
    // One write of whole frames, in append mode.
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(|e| StoreError::io(path, e))
}

pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Every version of `table` (as loaded) oldest first, each with the submission it recorded.
/// Reads from the log only the versions the cache does not have.
pub(crate) async fn versions(
    root: &Path,
    memo: &Memo,
    table: &DeltaTable,
    schema: &str,
) -> Result<Versions, StoreError> {
    match table.version() {
        Some(current) => versions_to(root, memo, &Log::of(table, schema)?, schema, current).await,
        None => Ok(Versions {
            all: Arc::default(),
            len: 0,
        }),
    }
}

/// What the ledger is read from: a table's log and its id (the cache file belongs to one id:
/// a table dropped and made again starts a new ledger).
pub(crate) struct Log {
    pub(crate) id: String,
    pub(crate) store: LogStoreRef,
}

impl Log {
    /// The log of a loaded table.
    pub(crate) fn of(table: &DeltaTable, schema: &str) -> Result<Self, StoreError> {
        Ok(Self {
            id: table
                .snapshot()
                .map_err(|e| StoreError::delta(schema, e))?
                .metadata()
                .id()
                .to_owned(),
            store: table.log_store(),
        })
    }
}

/// What this process has read of each table's ledger: (table id, versions) by schema. A
/// process that commits many submissions (the nightly run) parses each cache file once.
///
/// The cache files are also read ahead, on a thread started when the store opens: a process
/// that commits once (one `backbone ingest` per file) then parses them while it archives the
/// file and loads the table, instead of after. With 5 000 versions that parse was ~15 ms of
/// such a process's commit, and the one part of it that grew with the history.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    kept: Mutex<Kept>,
    ahead: Mutex<Option<ReadAhead>>,
}

/// By schema: the table id and its versions.
type Kept = HashMap<String, (String, Arc<Vec<Version>>)>;

/// The sound cache files of a store: (schema, table id, versions).
type ReadAhead = std::thread::JoinHandle<Vec<(String, String, Vec<Version>)>>;

impl Memo {
    /// A memo whose first use takes in the cache files of `root`, read meanwhile.
    pub(crate) fn read_ahead(root: &Path) -> Self {
        let dir = root.join("cache");
        let reading = std::thread::Builder::new()
            .name("ledger-read-ahead".into())
            .spawn(move || {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    return Vec::new();
                };
                entries
                    .flatten()
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let schema = name.strip_suffix(".ledger.bin")?.to_owned();
                        // Only sound files: a torn one is read again, and rewritten, on use.
                        match read_cache_file(&e.path())? {
                            (id, versions, true) => Some((schema, id, versions)),
                            _ => None,
                        }
                    })
                    .collect()
            })
            .ok();
        Self {
            kept: Mutex::default(),
            ahead: Mutex::new(reading),
        }
    }

    /// The kept versions, after taking in what was read ahead (waiting for it if need be).
    /// What was read ahead is older than anything read since, so it never replaces it; and a
    /// file another process appended to since is only longer, which the callers allow for.
    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Kept>> {
        let reading = self.ahead.lock().ok().and_then(|mut a| a.take());
        let mut kept = self.kept.lock().ok()?;
        if let Some(read) = reading.and_then(|h| h.join().ok()) {
            for (schema, id, versions) in read {
                kept.entry(schema).or_insert((id, Arc::new(versions)));
            }
        }
        Some(kept)
    }
}

/// Versions `0..=current` of a table, shared with the process's memo rather than copied:
/// with thousands of versions, copying every entry (a dozen strings each) at each lookup was
/// a growing share of every commit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Versions {
    all: Arc<Vec<Version>>,
    len: usize,
}

impl std::ops::Deref for Versions {
    type Target = [Version];
    fn deref(&self) -> &[Version] {
        self.all.get(..self.len).unwrap_or(&self.all)
    }
}

impl Versions {
    /// The submissions the versions recorded, oldest first.
    pub(crate) fn submissions(&self) -> impl DoubleEndedIterator<Item = &Submission> {
        self.iter().filter_map(|v| v.submission.as_ref())
    }
}

/// Every version of the table up to `current` (which may be newer than the version `table`
/// was loaded at: the log files are read directly).
pub(crate) async fn versions_to(
    root: &Path,
    memo: &Memo,
    log: &Log,
    schema: &str,
    current: u64,
) -> Result<Versions, StoreError> {
    let table_id = log.id.clone();
    let path = cache_path(root, schema);
    let wanted = usize::try_from(current)
        .ok()
        .and_then(|c| c.checked_add(1))
        .ok_or_else(|| StoreError::Ledger(format!("table {schema}: version {current}")))?;
    // Taken out of the memo while it grows, so that it is not copied (`make_mut` copies only
    // when a caller still holds an older view).
    let remembered = memo
        .lock()
        .and_then(|mut m| m.remove(schema))
        .filter(|(id, _)| *id == table_id)
        .map(|(_, v)| v);
    let (mut versions, sound) = match remembered {
        Some(v) if v.len() >= wanted => {
            remember(memo, schema, &table_id, &v);
            return Ok(Versions {
                all: v,
                len: wanted,
            });
        }
        // Only the versions this process has not seen yet are read, from the log; the file
        // gets them appended (a line another process appended too is skipped on reading).
        Some(v) => (v, path.is_file()),
        None => {
            let (v, sound) = read_cache(&path, &table_id);
            (Arc::new(v), sound)
        }
    };
    let known = versions.len();
    if known < wanted {
        let grown = Arc::make_mut(&mut versions);
        for v in known as u64..=current {
            grown.push(read_version(log, schema, v).await?);
        }
        append_cache(&path, &table_id, grown, known, sound)?;
    } else if !sound {
        append_cache(&path, &table_id, &versions, known, sound)?;
    }
    remember(memo, schema, &table_id, &versions);
    Ok(Versions {
        all: versions,
        len: wanted,
    })
}

fn remember(memo: &Memo, schema: &str, table_id: &str, versions: &Arc<Vec<Version>>) {
    if let Some(mut m) = memo.lock() {
        m.insert(
            schema.to_owned(),
            (table_id.to_owned(), Arc::clone(versions)),
        );
    }
}

/// One version's commit, read from its log file.
async fn read_version(log: &Log, schema: &str, v: u64) -> Result<Version, StoreError> {
    let bytes = log
        .store
        .read_commit_entry(v)
        .await
        .map_err(|e| StoreError::delta(schema, e))?
        .ok_or_else(|| {
            StoreError::Ledger(format!("table {schema}: version {v} has no log file"))
        })?;
    let actions =
        deltalake::logstore::get_actions(v, &bytes).map_err(|e| StoreError::delta(schema, e))?;
    let mut out = Version {
        version: v,
        committed: String::new(),
        operation: String::new(),
        submission: None,
        erasure: None,
        rekey: None,
    };
    for action in actions {
        if let Action::CommitInfo(info) = action {
            out.operation = info.operation.clone().unwrap_or_default();
            out.committed = info
                .timestamp
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            if let Some(entry) = info.info.get(LEDGER_KEY) {
                let mut s: Submission = serde_json::from_value(entry.clone())
                    .map_err(|e| StoreError::Ledger(format!("table {schema} version {v}: {e}")))?;
                s.table_version = Some(v);
                out.submission = Some(s);
            }
            if let Some(entry) = info.info.get(REKEY_KEY) {
                out.rekey =
                    Some(serde_json::from_value(entry.clone()).map_err(|e| {
                        StoreError::Ledger(format!("table {schema} version {v}: {e}"))
                    })?);
            }
            if let Some(entry) = info.info.get(ERASURE_KEY) {
                out.erasure =
                    Some(serde_json::from_value(entry.clone()).map_err(|e| {
                        StoreError::Ledger(format!("table {schema} version {v}: {e}"))
                    })?);
            }
        }
    }
    Ok(out)
}

/// The columns of the `submissions` mirror table.
pub(crate) fn mirror_schema() -> SchemaRef {
    let text = |n: &str, null| Field::new(n, DataType::Utf8, null);
    let count = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        text("submission_id", false),
        text("schema", false),
        text("partner", false),
        text("period", false),
        text("file_name", false),
        text("sha256", false),
        text("received", false),
        count("rows_read"),
        count("rows_accepted"),
        count("rows_rejected"),
        count("rows_with_warnings"),
        text("verdict", false),
        text("supersedes", true),
        count("table_version"),
    ]))
}

/// Rows of the mirror table for these submissions.
pub(crate) fn mirror_rows(entries: &[&Submission]) -> Result<RecordBatch, StoreError> {
    fn text<'a>(entries: &[&'a Submission], f: impl Fn(&'a Submission) -> &'a str) -> ArrayRef {
        Arc::new(StringArray::from_iter_values(entries.iter().map(|s| f(s))))
    }
    fn count(entries: &[&Submission], f: impl Fn(&Submission) -> u64) -> ArrayRef {
        // Delta has no unsigned integers; a count never reaches 2^63.
        Arc::new(Int64Array::from_iter_values(
            entries
                .iter()
                .map(|s| i64::try_from(f(s)).unwrap_or(i64::MAX)),
        ))
    }
    let columns = vec![
        text(entries, |s| &s.id),
        text(entries, |s| &s.schema),
        text(entries, |s| &s.partner),
        text(entries, |s| &s.period),
        text(entries, |s| &s.file_name),
        text(entries, |s| &s.sha256),
        text(entries, |s| &s.received),
        count(entries, |s| s.rows_read),
        count(entries, |s| s.rows_accepted),
        count(entries, |s| s.rows_rejected),
        count(entries, |s| s.rows_with_warnings),
        text(entries, |s| &s.verdict),
        Arc::new(StringArray::from_iter(
            entries.iter().map(|s| s.supersedes.as_deref()),
        )) as ArrayRef,
        count(entries, |s| s.table_version.unwrap_or_default()),
    ];
    RecordBatch::try_new(mirror_schema(), columns)
        .map_err(|e| StoreError::Ledger(format!("submissions table: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{Erasure, Redacted, Rekeyed};

    fn version(v: u64) -> Version {
        Version {
            version: v,
            committed: format!("2026-12-0{} 10:00:00", v % 9),
            operation: "WRITE".into(),
            submission: Some(Submission {
                id: format!("p1-svc-2025-0{v}"),
                partner: "p1".into(),
                schema: "svc".into(),
                period: "2025-01".into(),
                file_name: "שירותים ינואר.csv".into(),
                sha256: format!("{v:064x}"),
                received: "2026-01-01T00:00:00Z".into(),
                rows_read: 10 + v,
                rows_accepted: 9,
                rows_rejected: 1,
                rows_with_warnings: 2,
                verdict: "accepted".into(),
                supersedes: (v > 1).then(|| format!("p1-svc-2025-0{}", v - 1)),
                table_version: Some(v),
            }),
            erasure: None,
            rekey: None,
        }
    }

    /// Every field filled: postcard writes fields in order, so a field it dropped or an
    /// attribute that skips one would shift the rest and fail here.
    fn everything(v: u64) -> Version {
        Version {
            erasure: Some(Erasure {
                tag: "ab12".into(),
                at: "2026-12-01T00:00:00Z".into(),
                schema: "svc".into(),
                rows: 3,
                submissions: vec!["a".into(), "b".into()],
                rejects: 1,
                raw_files: vec![Redacted {
                    sha256: "ff".into(),
                    how: "rewritten".into(),
                    rows: vec![2, 7],
                }],
                older_files: vec!["partner=p1/x.parquet".into()],
            }),
            rekey: Some(Rekeyed {
                key: "k2".into(),
                at: "2026-12-02T00:00:00Z".into(),
                rows: 40,
                older_files: vec!["y.parquet".into()],
            }),
            ..version(v)
        }
    }

    #[test]
    fn the_cache_gives_back_what_was_written_and_only_whole_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path(dir.path(), "svc");
        let all: Vec<Version> = vec![version(0), everything(1), version(2)];
        append_cache(&path, "table-1", &all[..2], 0, false).unwrap();
        append_cache(&path, "table-1", &all, 2, true).unwrap();
        // A second writer appended the same version again: the first is kept.
        append_cache(&path, "table-1", &all, 2, true).unwrap();
        assert_eq!(
            read_cache_file(&path),
            Some(("table-1".to_owned(), all.clone(), true))
        );
        assert_eq!(read_cache(&path, "another table"), (Vec::new(), false));

        // A writer killed mid-append: the versions before the torn frame, not sound.
        let whole = std::fs::read(&path).unwrap();
        let mut torn = whole.clone();
        torn.extend(&version_frame(&version(3)).unwrap()[..9]);
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(read_cache(&path, "table-1"), (all.clone(), false));
        // Written again whole, it is sound again.
        append_cache(&path, "table-1", &all, 3, false).unwrap();
        assert_eq!(read_cache(&path, "table-1"), (all.clone(), true));

        // A gap (a version missing) ends what is read.
        let mut gap = all.clone();
        gap.remove(1);
        append_cache(&path, "table-1", &gap, 0, false).unwrap();
        assert_eq!(read_cache(&path, "table-1"), (vec![version(0)], false));

        // A file in another layout (the JSON lines of earlier builds) is not read.
        std::fs::write(&path, "{\"table_id\":\"table-1\"}\n").unwrap();
        assert_eq!(read_cache(&path, "table-1"), (Vec::new(), false));
    }
}
