//! A local object store that lists a table's `_delta_log` folder by file name.
//!
//! delta-rs loads a table by listing `_delta_log` from the last checkpoint on
//! (`list_with_offset`). object_store's `LocalFileSystem` turns every file of the folder into
//! an object path (a URL conversion and percent decoding each) before it compares it with the
//! offset, so loading a table costs time in proportion to its whole history: with 5 000
//! versions that listing was the top of the commit's profile. Here a listing of a
//! `_delta_log` folder compares plain file names first (log files are zero-padded, so name
//! order is version order) and builds object metadata only for the few files after the
//! offset. Everything else, and any `_delta_log` holding a subfolder, goes to
//! `LocalFileSystem` unchanged.
//!
//! A table kept open between commits is listed several times per commit; each store keeps
//! the names it read and adds to them only what can have appeared since (see [`Listing`]),
//! so a listing does not read the whole folder again.
//!
//! The first listing of a process, from the version `_last_checkpoint` names (what loading a
//! table asks for), does not read the folder at all: the checkpoint's file and the commits
//! after it are looked up by name ([`seed`]). Reading a folder of 5 000 versions took ~4 ms of
//! each open, twice per one-file ingest (the data table and the ledger's mirror): the part of
//! opening a table that grew with its history, beside its checkpoint's tombstones.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deltalake::logstore::object_store::local::LocalFileSystem;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::stream::{self, BoxStream, StreamExt};

/// `LocalFileSystem` rooted at `/`, with a fast listing of `_delta_log` folders.
#[derive(Debug)]
pub(crate) struct LogDirStore {
    inner: Arc<LocalFileSystem>,
    /// The last full read of each `_delta_log` folder listed, by folder.
    listings: Mutex<HashMap<PathBuf, Listing>>,
}

impl LogDirStore {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(LocalFileSystem::new()),
            listings: Mutex::new(HashMap::new()),
        }
    }
}

impl fmt::Display for LogDirStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogDirStore({})", self.inner)
    }
}

/// The names of a `_delta_log` folder, kept between listings. Reading a folder of 5 000
/// versions costs the kernel's directory hashing of every entry; a table kept open is listed
/// several times per commit. Log files are only ever added, and commits are numbered without
/// gaps, so what a listing must add to a kept one is: the commits after the last one known
/// (looked up by name, `{v:020}.json`, until one is missing), and any checkpoint another
/// writer made, which `_last_checkpoint` changing shows (it is written after the
/// checkpoint, by replacing the file). Then the folder is read again whole.
#[derive(Debug)]
struct Listing {
    /// Every file name, sorted (from `from` on only, when set).
    names: Vec<String>,
    /// The version after the last commit file known.
    next: u64,
    /// `_last_checkpoint` when the folder was read.
    hint: Option<Stamp>,
    /// Set when the listing was [`seed`]ed rather than read: it holds only the files of
    /// versions from this name on, and answers only listings that start there or later.
    from: Option<String>,
}

impl Listing {
    /// Whether the listing holds every name a listing after `after` must give.
    fn covers(&self, after: Option<&str>) -> bool {
        match (&self.from, after) {
            (None, _) => true,
            (Some(from), Some(after)) => after >= from.as_str(),
            (Some(_), None) => false,
        }
    }
}

/// What `_last_checkpoint` says, as far as [`seed`] and the committers' checkpoint rule
/// ([`checkpoint_due`](crate::side_tables::checkpoint_due)) need it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LastCheckpoint {
    pub(crate) version: u64,
    parts: Option<u64>,
    pub(crate) size_in_bytes: Option<u64>,
    v2_checkpoint: Option<serde_json::Value>,
}

impl LastCheckpoint {
    /// The `_last_checkpoint` of the log folder `log`; `None` when there is none or it cannot
    /// be read.
    pub(crate) fn read(log: &std::path::Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).ok()?).ok()
    }
}

/// The file name of a classic single-file checkpoint at `version`.
pub(crate) fn checkpoint_name(version: u64) -> String {
    format!("{version:020}.checkpoint.parquet")
}

/// The listing of `dir` after `after`, without reading the folder, when `after` is the version
/// `_last_checkpoint` names (`00000000000000004999`: where loading a table starts) and the
/// checkpoint is one classic Parquet file: that file, the version's commit file, and the
/// commits after it, looked up by name until one is missing (commits are numbered without
/// gaps). `None` when any of that does not hold (a multi-part or V2 checkpoint, a hint out of
/// date, a `_commits`, `_staged_commits` or `_sidecars` folder): then the folder is read.
///
/// Only version-named Parquet and commit files are in it: not a `.crc` file or a compacted log
/// another tool may have written (both optional to a reader; the kernel replays the commits
/// instead), nor `_last_checkpoint` and temporary files (which no reader lists from a version
/// for). A listing from an earlier name, or of the whole folder, reads the folder.
fn seed(
    dir: &std::path::Path,
    hint: Option<Stamp>,
    after: Option<&str>,
) -> Option<std::io::Result<Listing>> {
    let after = after?;
    let version = (after.len() == 20 && after.bytes().all(|b| b.is_ascii_digit()))
        .then(|| after.parse::<u64>().ok())
        .flatten()?;
    hint?;
    let last = LastCheckpoint::read(dir)?;
    if last.version != version || last.parts.is_some_and(|p| p != 1) || last.v2_checkpoint.is_some()
    {
        return None;
    }
    let exists = |name: &str| match std::fs::symlink_metadata(dir.join(name)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    };
    let mut names = Vec::new();
    for folder in ["_commits", "_staged_commits", "_sidecars"] {
        match exists(folder) {
            Ok(false) => {}
            Ok(true) => return None,
            Err(e) => return Some(Err(e)),
        }
    }
    for name in [checkpoint_name(version), format!("{version:020}.json")] {
        match exists(&name) {
            Ok(true) => names.push(name),
            // Without its checkpoint the hint is out of date: read the folder.
            Ok(false) if names.is_empty() => return None,
            Ok(false) => {}
            Err(e) => return Some(Err(e)),
        }
    }
    let mut next = version + 1;
    loop {
        let name = format!("{next:020}.json");
        match exists(&name) {
            Ok(true) => names.push(name),
            Ok(false) => break,
            Err(e) => return Some(Err(e)),
        }
        next += 1;
    }
    Some(Ok(Listing {
        names,
        next,
        hint,
        from: Some(after.to_owned()),
    }))
}

/// What tells one `_last_checkpoint` from another: each is a new file (written aside, then
/// renamed over the last), so its inode changes; size and time for file systems without one.
type Stamp = (u64, u64, Option<std::time::SystemTime>);

fn stamp(path: &std::path::Path) -> std::io::Result<Option<Stamp>> {
    match std::fs::metadata(path) {
        Ok(m) => {
            #[cfg(unix)]
            let ino = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let ino = 0;
            Ok(Some((ino, m.len(), m.modified().ok())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The version a commit file's name stands for (`00000000000000000042.json`).
fn commit_version(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Reads a `_delta_log` folder whole; `None` when it holds a subfolder or a name that is not
/// plain (those go the exact, recursive way).
fn read_log_dir(dir: &std::path::Path, hint: Option<Stamp>) -> Option<std::io::Result<Listing>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return Some(Err(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        // Names that need escaping in an object path, or that LocalFileSystem treats
        // specially (`#` parts of uploads), go the slow, exact way.
        let name = entry.file_name().into_string().ok().filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })?;
        match entry.file_type() {
            Ok(t) if t.is_dir() => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(e)),
        }
        names.push(name);
    }
    names.sort_unstable();
    let next = names
        .iter()
        .filter_map(|n| commit_version(n))
        .max()
        .map_or(0, |v| v + 1);
    Some(Ok(Listing {
        names,
        next,
        hint,
        from: None,
    }))
}

impl LogDirStore {
    /// The names in `prefix` (a `_delta_log` folder) after `after`, sorted; `None` when the
    /// folder is not one this store lists itself.
    fn log_names_after(
        &self,
        prefix: &Path,
        after: Option<&str>,
    ) -> Option<std::io::Result<Vec<String>>> {
        if prefix.filename() != Some("_delta_log") {
            return None;
        }
        let dir = PathBuf::from(format!("/{}", prefix.as_ref()));
        let hint = match stamp(&dir.join("_last_checkpoint")) {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        let mut listings = self.listings.lock().ok()?;
        let listing = match listings.remove(&dir) {
            Some(mut kept) if kept.hint == hint && kept.covers(after) => {
                loop {
                    let name = format!("{:020}.json", kept.next);
                    match std::fs::symlink_metadata(dir.join(&name)) {
                        Ok(_) => {
                            let at = kept.names.partition_point(|n| *n < name);
                            kept.names.insert(at, name);
                            kept.next += 1;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                        Err(e) => return Some(Err(e)),
                    }
                }
                kept
            }
            _ => match seed(&dir, hint, after).or_else(|| read_log_dir(&dir, hint))? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            },
        };
        let from = after.map_or(0, |a| listing.names.partition_point(|n| n.as_str() <= a));
        let names = listing.names[from..].to_vec();
        listings.insert(dir, listing);
        Some(Ok(names))
    }

    fn fast_list(
        &self,
        prefix: &Path,
        after: Option<&str>,
    ) -> Option<BoxStream<'static, Result<ObjectMeta>>> {
        let names = match self.log_names_after(prefix, after)? {
            Ok(n) => n,
            // Let LocalFileSystem report the error in its own terms.
            Err(_) => return None,
        };
        let inner = Arc::clone(&self.inner);
        let prefix = prefix.clone();
        Some(
            stream::iter(names)
                .then(move |name| {
                    let inner = Arc::clone(&inner);
                    let path = prefix.clone().join(name.as_str());
                    async move { inner.head(&path).await }
                })
                // A file removed since the listing (a temporary commit file) is not there.
                .filter(|r| {
                    std::future::ready(!matches!(
                        r,
                        Err(deltalake::logstore::object_store::Error::NotFound { .. })
                    ))
                })
                .boxed(),
        )
    }
}

#[async_trait]
impl ObjectStore for LogDirStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        prefix
            .and_then(|p| self.fast_list(p, None))
            .unwrap_or_else(|| self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let after = match (prefix, offset.prefix_match(prefix.unwrap_or(offset))) {
            (Some(p), Some(mut rest)) if *p != *offset => {
                let first = rest.next();
                // Only an offset that names a file of the folder itself.
                first
                    .filter(|_| rest.next().is_none())
                    .map(|part| part.as_ref().to_owned())
            }
            _ => None,
        };
        prefix
            .zip(after)
            .and_then(|(p, after)| self.fast_list(p, Some(&after)))
            .unwrap_or_else(|| self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    async fn names(s: BoxStream<'static, Result<ObjectMeta>>) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = s
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect()
            .await
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A table folder `name` under the temporary folder whose `_delta_log` holds commits 0 to
    /// 59 and `extras`: (the folder to remove after, the log folder, its object path).
    fn log_folder(name: &str, extras: &[&str]) -> (PathBuf, PathBuf, Path) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let log = dir.join("t/_delta_log");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&log);
        for v in 0..60u64 {
            let _ = std::fs::write(log.join(format!("{v:020}.json")), vec![b'x'; v as usize]);
        }
        for extra in extras {
            let _ = std::fs::write(log.join(extra), b"y");
        }
        let prefix = Path::from_absolute_path(&log).unwrap_or_else(|e| panic!("{e}"));
        (dir, log, prefix)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn lists_a_log_folder_exactly_as_local_file_system_does() {
        let (dir, log, prefix) = log_folder(
            "bb-logdir",
            &[
                "00000000000000000050.checkpoint.parquet",
                "_last_checkpoint",
                "_commit_3f2a.json.tmp",
            ],
        );
        let rt = runtime();
        let ours = LogDirStore::new();
        let theirs = LocalFileSystem::new();
        rt.block_on(async {
            for offset in [
                "00000000000000000050",
                "00000000000000000000.json",
                "0",
                "zzz",
            ] {
                let offset = prefix.clone().join(offset);
                let a = names(ours.list_with_offset(Some(&prefix), &offset)).await;
                let b = names(theirs.list_with_offset(Some(&prefix), &offset)).await;
                assert!(!b.is_empty() || offset.as_ref().ends_with("zzz"));
                assert_eq!(a, b, "after {offset}");
            }
            assert_eq!(
                names(ours.list(Some(&prefix))).await,
                names(theirs.list(Some(&prefix))).await
            );
            assert!(
                ours.log_names_after(&prefix, Some("0"))
                    .is_some_and(|r| r.is_ok()),
                "the fast path was the one compared"
            );
            // Listed again after other writers added commits, then a checkpoint: the kept
            // listing must show exactly what the folder holds.
            let offset = prefix.clone().join("00000000000000000050");
            for v in 60..63u64 {
                let _ = std::fs::write(log.join(format!("{v:020}.json")), b"new");
            }
            let a = names(ours.list_with_offset(Some(&prefix), &offset)).await;
            assert!(a.iter().any(|(n, _)| n.ends_with("62.json")), "{a:?}");
            assert_eq!(
                a,
                names(theirs.list_with_offset(Some(&prefix), &offset)).await
            );
            let _ = std::fs::write(log.join("00000000000000000062.checkpoint.parquet"), b"c");
            let _ = std::fs::write(log.join("00000000000000000063.json"), b"new");
            let tmp = log.join("_last_checkpoint.tmp");
            let _ = std::fs::write(&tmp, b"{\"version\":62,\"size\":1}");
            let _ = std::fs::rename(&tmp, log.join("_last_checkpoint"));
            let a = names(ours.list_with_offset(Some(&prefix), &offset)).await;
            assert!(
                a.iter().any(|(n, _)| n.ends_with("62.checkpoint.parquet")),
                "{a:?}"
            );
            assert_eq!(
                a,
                names(theirs.list_with_offset(Some(&prefix), &offset)).await
            );
            // A temporary commit file gone since: not listed.
            let _ = std::fs::remove_file(log.join("_commit_3f2a.json.tmp"));
            assert_eq!(
                names(ours.list_with_offset(Some(&prefix), &offset)).await,
                names(theirs.list_with_offset(Some(&prefix), &offset)).await
            );
            // A subfolder in the log: the exact, recursive listing.
            let _ = std::fs::create_dir_all(log.join("_commits"));
            let _ = std::fs::write(log.join("_commits/00000000000000000061.json"), b"z");
            let offset = prefix.clone().join("00000000000000000058");
            let _ = std::fs::write(log.join("_last_checkpoint"), b"{}");
            let a = names(ours.list_with_offset(Some(&prefix), &offset)).await;
            assert!(a.iter().any(|(n, _)| n.contains("_commits/")), "{a:?}");
            assert_eq!(
                a,
                names(theirs.list_with_offset(Some(&prefix), &offset)).await
            );
        });
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_first_listing_from_the_last_checkpoint_looks_up_its_files_by_name() {
        let (dir, log, prefix) = log_folder(
            "bb-logdir-seed",
            &[
                "00000000000000000025.checkpoint.parquet",
                "00000000000000000050.checkpoint.parquet",
                "_commit_3f2a.json.tmp",
                // Another tool's checksum file: optional to a reader, not looked up.
                "00000000000000000055.crc",
            ],
        );
        let _ = std::fs::write(
            log.join("_last_checkpoint"),
            br#"{"version":50,"size":61,"sizeInBytes":9000,"numOfAddFiles":9}"#,
        );
        let rt = runtime();
        let theirs = LocalFileSystem::new();
        let at = |name: &str| prefix.clone().join(name);
        // What a reader of versions sees: version-named files other than `.crc`.
        let versioned = |all: Vec<(String, u64)>| -> Vec<(String, u64)> {
            all.into_iter()
                .filter(|(n, _)| {
                    let name = n.rsplit('/').next().unwrap_or_default();
                    name.starts_with(|c: char| c.is_ascii_digit()) && !name.ends_with(".crc")
                })
                .collect()
        };
        rt.block_on(async {
            let ours = LogDirStore::new();
            let from = at("00000000000000000050");
            let a = names(ours.list_with_offset(Some(&prefix), &from)).await;
            let b = names(theirs.list_with_offset(Some(&prefix), &from)).await;
            assert!(b.iter().any(|(n, _)| n.ends_with("55.crc")));
            assert!(
                !a.iter().any(|(n, _)| n.ends_with("55.crc")),
                "looked up by name, not read: {a:?}"
            );
            assert_eq!(a, versioned(b));
            assert_eq!(a.len(), 11, "the checkpoint, commits 50 to 59: {a:?}");
            // Commits added since are found by name, as for a folder that was read.
            let _ = std::fs::write(log.join("00000000000000000060.json"), b"new");
            let a = names(ours.list_with_offset(Some(&prefix), &from)).await;
            assert!(a.iter().any(|(n, _)| n.ends_with("60.json")), "{a:?}");
            // A listing from earlier, or of the whole folder: the folder is read, exactly.
            for offset in ["00000000000000000020", "0"] {
                assert_eq!(
                    names(ours.list_with_offset(Some(&prefix), &at(offset))).await,
                    names(theirs.list_with_offset(Some(&prefix), &at(offset))).await,
                    "after {offset}"
                );
            }
            assert_eq!(
                names(ours.list(Some(&prefix))).await,
                names(theirs.list(Some(&prefix))).await
            );

            // Where the hint cannot be trusted to name everything, the folder is read.
            let hints: [&[u8]; 3] = [
                // a multi-part checkpoint
                br#"{"version":50,"size":61,"parts":2}"#,
                // a V2 checkpoint, with sidecars
                br#"{"version":50,"size":61,"v2Checkpoint":{"path":"x"}}"#,
                // a hint older than the listing asked for
                br#"{"version":25,"size":61}"#,
            ];
            for hint in hints {
                let _ = std::fs::write(log.join("_last_checkpoint"), hint);
                let fresh = LogDirStore::new();
                assert_eq!(
                    names(fresh.list_with_offset(Some(&prefix), &from)).await,
                    names(theirs.list_with_offset(Some(&prefix), &from)).await,
                    "{}",
                    String::from_utf8_lossy(hint)
                );
            }
            // A hint whose checkpoint file is gone.
            let _ = std::fs::write(log.join("_last_checkpoint"), br#"{"version":40,"size":1}"#);
            let fresh = LogDirStore::new();
            let from40 = at("00000000000000000040");
            assert_eq!(
                names(fresh.list_with_offset(Some(&prefix), &from40)).await,
                names(theirs.list_with_offset(Some(&prefix), &from40)).await
            );
            // Coordinated commits in a `_commits` folder.
            let _ = std::fs::write(log.join("_last_checkpoint"), br#"{"version":50,"size":1}"#);
            let _ = std::fs::create_dir_all(log.join("_commits"));
            let _ = std::fs::write(log.join("_commits/00000000000000000061.json"), b"z");
            let fresh = LogDirStore::new();
            let a = names(fresh.list_with_offset(Some(&prefix), &from)).await;
            assert!(a.iter().any(|(n, _)| n.contains("_commits/")), "{a:?}");
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
