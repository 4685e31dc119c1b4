//! A spreadsheet read first in a child process with its own memory limit and a deadline, so
//! that no single file can take down the server or the night, whatever the reader does with
//! it. The child is the `backbone` binary itself (`backbone validate`), started with
//! [`MEMORY_LIMIT_ENV`] set: it limits its own data segment (`RLIMIT_DATA`) before reading
//! anything. The parent reads the file itself only once the child has read it within both
//! bounds; a child that runs out of memory or time is the file's answer.
//!
//! Only the spreadsheets the library reads whole go to a child (`.ods`, `.xls`, `.xlsb`): CSV
//! is read as a stream in blocks of fixed size, and `.xlsx` as a stream of cells with its
//! shared strings within the budgets, so their memory does not depend on the file, and a
//! child would only double their reading time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::IngestError;

/// The environment variable that tells a `backbone` process to limit its own memory (bytes).
pub const MEMORY_LIMIT_ENV: &str = "BACKBONE_MEMORY_LIMIT";

/// How a spreadsheet is read first: by which program, within what.
#[derive(Clone, Debug)]
pub struct Isolation {
    /// The `backbone` binary.
    pub program: PathBuf,
    /// The workspace whose schemas and profiles the child reads.
    pub workspace: PathBuf,
    /// The child's data segment limit, in bytes. Default 448 MiB.
    pub memory: u64,
    /// The child's time. Default 60 s.
    pub time: Duration,
}

impl Isolation {
    /// The defaults, for the running binary.
    pub fn new(program: PathBuf, workspace: PathBuf) -> Self {
        Self {
            program,
            workspace,
            memory: 448 << 20,
            time: Duration::from_secs(60),
        }
    }

    /// Reads `file` (shown as `display`) against the workspace's `schema` (a name or a path)
    /// and `profile` in a child. `Ok` when the file is not a spreadsheet, or when the child
    /// answered (valid, invalid, or unreadable: the parent's own read says which); an error
    /// when it ran out of memory or time, or could not be started.
    pub fn check(
        &self,
        file: &Path,
        display: &str,
        schema: &str,
        profile: Option<&Path>,
    ) -> Result<(), IngestError> {
        if !is_spreadsheet(file) {
            return Ok(());
        }
        let mut cmd = Command::new(&self.program);
        cmd.arg("validate")
            .arg(file)
            .arg("--schema")
            .arg(schema)
            .arg("--workspace")
            .arg(&self.workspace)
            .args(["--format", "json", "--limit-errors", "1"])
            .env(MEMORY_LIMIT_ENV, self.memory.to_string())
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(p) = profile {
            cmd.arg("--profile").arg(p);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| IngestError::Io {
            file: format!("{} (starting {})", display, self.program.display()),
            source,
        })?;
        // What the child says on stderr, read on a thread so a full pipe never blocks it.
        let mut stderr = child.stderr.take();
        let (said_tx, said_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(e) = stderr.as_mut() {
                let _ = e.take(64 << 10).read_to_string(&mut text);
            }
            let _ = said_tx.send(text);
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() >= self.time => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break None,
            }
        };
        // Whatever it said before it ended (not waiting on a pipe a stray grandchild holds).
        let said = said_rx
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        let too_much = |what: String| IngestError::TooCostly {
            file: display.to_owned(),
            what,
            hint: "save the data sheet alone as CSV or .xlsx, which are read as a stream",
        };
        match status {
            None => Err(too_much(format!(
                "reading it took more than {} s",
                self.time.as_secs()
            ))),
            // 0 valid, 1 invalid, 2 unreadable or refused: the parent's own read says why.
            Some(s) if matches!(s.code(), Some(0..=2)) => Ok(()),
            // Ended by a signal: the allocator's abort at the limit (or the kernel's kill).
            Some(s) if s.code().is_none() => {
                let last = said.lines().last().unwrap_or("").trim();
                Err(too_much(format!(
                    "reading it needs more than {} MiB of memory (the reading process ended with {s}{}{last})",
                    self.memory >> 20,
                    if last.is_empty() { "" } else { ": " }
                )))
            }
            Some(s) => Err(IngestError::Spreadsheet {
                file: display.to_owned(),
                sheet: None,
                message: format!(
                    "the reading process failed ({s}: {})",
                    said.lines().last().unwrap_or("").trim()
                ),
            }),
        }
    }
}

/// Whether the file is a spreadsheet the library reads whole: `.ods` and `.xlsb` (zip
/// containers), `.xls` (OLE). An `.xlsx` is read as a stream of cells, its shared strings
/// within the budgets (`budget.rs`), so it is read in this process like CSV.
fn is_spreadsheet(file: &Path) -> bool {
    let mut head = [0u8; 8];
    let n = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    if crate::sheet::is_ole(&head[..n]) {
        return true;
    }
    if !crate::sheet::is_zip(&head[..n]) {
        return false;
    }
    !matches!(
        crate::sheet::inspect_zip(file, "", &crate::Limits::default()),
        Ok(Some(crate::sheet::SheetKind::Xlsx))
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A stand-in for the reading child: a shell script doing `body`.
    fn child(dir: &Path, body: &str) -> Isolation {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join("child.sh");
        std::fs::write(&program, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o700)).unwrap();
        Isolation {
            time: Duration::from_secs(2),
            ..Isolation::new(program, dir.to_path_buf())
        }
    }

    #[test]
    fn the_childs_end_is_the_files_answer() {
        let dir = tempfile::tempdir().unwrap();
        let sheet = dir.path().join("s.xlsx");
        std::fs::write(&sheet, b"PK\x03\x04 a zip, as far as the first bytes go").unwrap();
        let csv = dir.path().join("s.csv");
        std::fs::write(&csv, b"id\n1\n").unwrap();
        // Valid, invalid, unreadable: the parent reads the file itself.
        for code in [0, 1, 2] {
            let i = child(dir.path(), &format!("exit {code}"));
            assert!(i.check(&sheet, "s.xlsx", "s", None).is_ok());
        }
        // Killed (the allocator's abort), or a failure at the limit.
        let i = child(
            dir.path(),
            "echo 'memory allocation of 1048576 bytes failed' >&2; kill -ABRT $$",
        );
        let e = i
            .check(&sheet, "s.xlsx", "s", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs more than 448 MiB of memory"), "{e}");
        assert!(
            e.contains("memory allocation of 1048576 bytes failed"),
            "{e}"
        );
        // Too slow: killed at the deadline.
        let i = child(dir.path(), "sleep 30");
        let started = Instant::now();
        let e = i
            .check(&sheet, "s.xlsx", "s", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("took more than 2 s"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // CSV and .xlsx (read as streams) are not sent to a child at all.
        let xlsx = dir.path().join("real.xlsx");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&xlsx).unwrap());
        zip.start_file("xl/workbook.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"<workbook/>").unwrap();
        zip.finish().unwrap();
        let i = child(dir.path(), "exit 9");
        assert!(i.check(&csv, "s.csv", "s", None).is_ok());
        assert!(i.check(&xlsx, "s.xlsx", "s", None).is_ok());
        let r = i.check(&sheet, "s.ods", "s", None);
        assert!(r.is_err(), "{r:?}");
    }
}
