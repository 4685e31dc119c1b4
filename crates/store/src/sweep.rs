//! Sweeping what killed writers left behind: Parquet files that no commit ever referenced
//! (written, then the process died before its commit), half-copied archive files, temporary
//! commit and cache files. Readers never see any of them (they are in no log); the sweep only
//! gives the disk space back. Files younger than a cut-off are left alone: they may belong to
//! an ingest that is running now.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use deltalake::kernel::Action;

use crate::{Store, StoreError, load_dir};

/// What a sweep removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Files removed.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

impl Store {
    /// Removes files older than `older_than` that no version of any table references and that
    /// no finished operation left (see the module's documentation). Referenced files, removed
    /// or not, are kept: every version stays readable.
    pub fn sweep(&self, older_than: Duration) -> Result<Swept, StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut swept = Swept::default();
        for (dir, name) in self.all_tables()? {
            let Some(referenced) = self.rt.block_on(referenced_files(&dir, &name))? else {
                continue;
            };
            let mut files = Vec::new();
            walk(&dir, &mut files).map_err(|e| StoreError::io(&dir, e))?;
            for f in files {
                let in_log = f
                    .strip_prefix(&dir)
                    .is_ok_and(|rel| rel.starts_with("_delta_log"));
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let orphan = if in_log {
                    // delta-rs writes a commit aside as `_commit_<uuid>.json.tmp`, then renames.
                    name.starts_with("_commit_") && name.ends_with(".tmp")
                } else {
                    // Data files, and object_store's staging copies of them (`….parquet#1`).
                    (name.ends_with(".parquet") || name.contains(".parquet#"))
                        && !referenced.contains(name)
                };
                if orphan {
                    remove_if_old(&f, cutoff, &mut swept)?;
                }
            }
        }
        // Half-copied archive files, and the ledger cache's temporary files.
        for dir in [self.archive.clone(), self.root.join("cache")] {
            let mut files = Vec::new();
            if dir.is_dir() {
                walk(&dir, &mut files).map_err(|e| StoreError::io(&dir, e))?;
            }
            for f in files {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if name.starts_with('.') {
                    remove_if_old(&f, cutoff, &mut swept)?;
                }
            }
        }
        Ok(swept)
    }
}

/// The file names of every data file any version of the table added.
async fn referenced_files(dir: &Path, name: &str) -> Result<Option<HashSet<String>>, StoreError> {
    let Some(table) = load_dir(dir, name, None).await? else {
        return Ok(None);
    };
    let Some(current) = table.version() else {
        return Ok(None);
    };
    let mut out = HashSet::new();
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    for v in 0..=current {
        let Some(bytes) = table
            .log_store()
            .read_commit_entry(v)
            .await
            .map_err(|e| StoreError::delta(name, e))?
        else {
            // A log file cleaned up (never, with our retention): then sweep nothing at all.
            return Ok(None);
        };
        for action in
            deltalake::logstore::get_actions(v, &bytes).map_err(|e| StoreError::delta(name, e))?
        {
            match action {
                Action::Add(a) => {
                    out.insert(base(&a.path));
                }
                Action::Remove(r) => {
                    out.insert(base(&r.path));
                }
                _ => {}
            }
        }
    }
    Ok(Some(out))
}

pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

fn remove_if_old(path: &Path, cutoff: SystemTime, swept: &mut Swept) -> Result<(), StoreError> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    if meta.modified().map_err(|e| StoreError::io(path, e))? <= cutoff {
        std::fs::remove_file(path).map_err(|e| StoreError::io(path, e))?;
        swept.files += 1;
        swept.bytes += meta.len();
    }
    Ok(())
}
