//! The audit log: one JSON line per upload, refusal, sign-in and page a partner opens
//! (`.backbone/portal/audit.jsonl`). It names who (a partner id or `admin`), when, the route,
//! the file's sha256 and size, and the outcome; never a file name or a cell, which may hold
//! personal data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::PortalError;

/// One line of the audit log.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Event {
    /// RFC 3339.
    pub time: String,
    /// `partner:<id>`, `admin`, or `anonymous`.
    pub who: String,
    /// `upload`, `list`, `view`, `sign_in`, `sign_out`, `refused`.
    pub action: String,
    /// Method and path, without the query.
    pub route: String,
    /// The HTTP status answered.
    pub status: u16,
    /// sha256 of the uploaded bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Bytes uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// What came of it: `queued`, `duplicate`, `unreadable`, `too_large`, `bad_token`, …
    pub outcome: String,
    /// The upload's id, when one was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
}

/// The append-only audit log.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Audit {
    /// Opens (creating) the audit log of `workspace`.
    pub fn open(workspace: &Path) -> Result<Self, PortalError> {
        let path = backbone_workspace::Layout::new(workspace).audit_log();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(PortalError::io(dir))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(PortalError::io(&path))?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    /// Appends one event (one `write` of a whole line, so lines never interleave).
    pub fn record(&self, event: &Event) {
        let Ok(mut line) = serde_json::to_string(event) else {
            return;
        };
        line.push('\n');
        let result = match self.file.lock() {
            Ok(mut f) => f.write_all(line.as_bytes()).and_then(|()| f.flush()),
            Err(poisoned) => {
                let mut f = poisoned.into_inner();
                f.write_all(line.as_bytes()).and_then(|()| f.flush())
            }
        };
        if let Err(e) = result {
            tracing::error!("cannot write the audit log {}: {e}", self.path.display());
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
