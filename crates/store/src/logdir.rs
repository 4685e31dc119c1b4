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

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

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
}

impl LogDirStore {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(LocalFileSystem::new()),
        }
    }
}

impl fmt::Display for LogDirStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogDirStore({})", self.inner)
    }
}

/// The names in `prefix` (a `_delta_log` folder) after `after`, sorted; `None` when the
/// folder holds a subfolder past the offset (then the recursive listing is needed).
fn log_names_after(prefix: &Path, after: Option<&str>) -> Option<std::io::Result<Vec<String>>> {
    if prefix.filename() != Some("_delta_log") {
        return None;
    }
    let dir = std::path::PathBuf::from(format!("/{}", prefix.as_ref()));
    let entries = match std::fs::read_dir(&dir) {
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
        if after.is_some_and(|a| name.as_str() <= a) {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(e)),
        }
        names.push(name);
    }
    names.sort_unstable();
    Some(Ok(names))
}

impl LogDirStore {
    fn fast_list(
        &self,
        prefix: &Path,
        after: Option<&str>,
    ) -> Option<BoxStream<'static, Result<ObjectMeta>>> {
        let names = match log_names_after(prefix, after)? {
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
                // A file removed between the listing and its metadata is not there.
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

    #[test]
    fn lists_a_log_folder_exactly_as_local_file_system_does() {
        let dir = std::env::temp_dir().join(format!("bb-logdir-{}", std::process::id()));
        let log = dir.join("t/_delta_log");
        let _ = std::fs::create_dir_all(&log);
        for v in 0..60u64 {
            let _ = std::fs::write(log.join(format!("{v:020}.json")), vec![b'x'; v as usize]);
        }
        for extra in [
            "00000000000000000050.checkpoint.parquet",
            "_last_checkpoint",
            "_commit_3f2a.json.tmp",
        ] {
            let _ = std::fs::write(log.join(extra), b"y");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let ours = LogDirStore::new();
        let theirs = LocalFileSystem::new();
        let prefix = Path::from_absolute_path(&log).unwrap_or_else(|e| panic!("{e}"));
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
                log_names_after(&prefix, Some("0")).is_some_and(|r| r.is_ok()),
                "the fast path was the one compared"
            );
            // A subfolder in the log: the exact, recursive listing.
            let _ = std::fs::create_dir_all(log.join("_commits"));
            let _ = std::fs::write(log.join("_commits/00000000000000000061.json"), b"z");
            let offset = prefix.clone().join("00000000000000000058");
            let a = names(ours.list_with_offset(Some(&prefix), &offset)).await;
            assert!(a.iter().any(|(n, _)| n.contains("_commits/")), "{a:?}");
            assert_eq!(
                a,
                names(theirs.list_with_offset(Some(&prefix), &offset)).await
            );
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
