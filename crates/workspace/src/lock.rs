//! The run lock: one night at a time per workspace, held as an OS file lock on
//! `.backbone/run.lock` (`File::try_lock`). The operating system releases it when the holder
//! ends however it ends, so there is no stale lock to judge and no race between two runs that
//! both find one: exactly one `try_lock` succeeds.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};

use crate::{Layout, WorkspaceError};

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Takes the lock, or fails at once with [`WorkspaceError::RunInProgress`] naming the
    /// holder. `holder` is written into the file for people (`process 123, started …`).
    pub fn take(layout: &Layout, holder: &str) -> Result<Self, WorkspaceError> {
        let dir = layout.private();
        std::fs::create_dir_all(&dir).map_err(|e| WorkspaceError::io(&dir, e))?;
        let path = layout.run_lock();
        let io = |e| WorkspaceError::io(&path, e);
        // Never truncated before the lock is ours: the holder's words stay readable.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut held = String::new();
                let _ = file.read_to_string(&mut held);
                // The first line: a holder's words shorter than the last one's are written
                // over them before the file is cut to length.
                let held = held.lines().next().unwrap_or_default().trim();
                return Err(WorkspaceError::RunInProgress {
                    path: path.display().to_string(),
                    holder: (!held.is_empty()).then(|| held.to_owned()),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Written over the old words, then cut to length: a run refused meanwhile reads a
        // holder (the old one or this one), never an empty file.
        let words = format!("{holder}\n");
        file.rewind().map_err(io)?;
        file.write_all(words.as_bytes()).map_err(io)?;
        file.set_len(words.len() as u64).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self { file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let first = RunLock::take(&layout, "process 1, started now").unwrap();
        let second = RunLock::take(&layout, "process 2").unwrap_err();
        assert!(matches!(second, WorkspaceError::RunInProgress { .. }));
        assert!(
            second.to_string().contains("process 1, started now"),
            "{second}"
        );
        drop(first);
        assert!(RunLock::take(&layout, "process 3").is_ok());
    }

    #[test]
    fn a_lock_file_left_behind_is_not_a_lock() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.private()).unwrap();
        // What a killed run leaves: the file, with its words, but no OS lock.
        std::fs::write(layout.run_lock(), "12345 2024-01-01T00:00:00Z\n").unwrap();
        assert!(RunLock::take(&layout, "me").is_ok());
    }

    #[test]
    fn the_holder_is_written_over_the_old_words_and_read_to_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.private()).unwrap();
        std::fs::write(
            layout.run_lock(),
            "process 999999, started 2024-02-07T22:00:00Z\n",
        )
        .unwrap();
        let held = RunLock::take(&layout, "process 7").unwrap();
        assert_eq!(
            std::fs::read_to_string(layout.run_lock()).unwrap(),
            "process 7\n"
        );
        // The moment between writing and cutting, as a refused run may read it.
        std::fs::write(
            layout.run_lock(),
            "process 7\n999, started 2024-02-07T22:00:00Z\n",
        )
        .unwrap();
        let refused = RunLock::take(&layout, "process 8").unwrap_err().to_string();
        assert!(
            refused.contains("another run is going on (process 7);"),
            "{refused}"
        );
        drop(held);
    }

    #[test]
    fn of_many_racing_threads_exactly_one_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.private()).unwrap();
        std::fs::write(layout.run_lock(), "stale\n").unwrap();
        let barrier = std::sync::Barrier::new(8);
        let taken: Vec<Option<RunLock>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (layout, barrier) = (&layout, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        RunLock::take(layout, &format!("thread {i}")).ok()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(taken.iter().filter(|t| t.is_some()).count(), 1);
    }
}
