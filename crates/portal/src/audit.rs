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

/// How much of the audit log is kept, and how much anonymous noise goes into it.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    /// The log is moved aside (`audit.jsonl.1`, `.2`, …) when it passes this size. Default
    /// 16 MiB.
    pub max_bytes: u64,
    /// Logs moved aside that are kept; the oldest goes. Default 8, so at most 9 × 16 MiB.
    pub keep: u32,
    /// Events of anonymous clients (unknown pages, failed sign-ins) written per minute; the
    /// rest are counted, and the count is written as one line when the minute ends. Default
    /// 120. Partners' and the data manager's events are always written.
    pub anonymous_per_minute: u32,
    /// The "minute" (60 s; shorter in tests).
    pub minute: std::time::Duration,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 16 << 20,
            keep: 8,
            anonymous_per_minute: 120,
            minute: std::time::Duration::from_secs(60),
        }
    }
}

#[derive(Debug)]
struct State {
    file: std::fs::File,
    size: u64,
    minute: std::time::Instant,
    anonymous: u32,
    dropped: u64,
}

/// The append-only audit log, rotated by size.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    rotation: Rotation,
    state: Mutex<State>,
}

impl Audit {
    /// Opens (creating) the audit log of `workspace`, rotated by the defaults.
    pub fn open(workspace: &Path) -> Result<Self, PortalError> {
        Self::open_with(workspace, Rotation::default())
    }

    /// Opens (creating) the audit log of `workspace`.
    pub fn open_with(workspace: &Path, rotation: Rotation) -> Result<Self, PortalError> {
        let path = backbone_workspace::Layout::new(workspace).audit_log();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(PortalError::io(dir))?;
        }
        let file = append(&path).map_err(PortalError::io(&path))?;
        let size = file.metadata().map_or(0, |m| m.len());
        Ok(Self {
            path,
            rotation,
            state: Mutex::new(State {
                file,
                size,
                minute: std::time::Instant::now(),
                anonymous: 0,
                dropped: 0,
            }),
        })
    }

    /// Appends one event (one `write` of a whole line, so lines never interleave); an
    /// anonymous one only within the minute's allowance.
    pub fn record(&self, event: &Event) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut lines = String::new();
        if state.minute.elapsed() >= self.rotation.minute {
            if state.dropped > 0 {
                lines.push_str(&summary(state.dropped));
            }
            state.minute = std::time::Instant::now();
            state.anonymous = 0;
            state.dropped = 0;
        }
        if event.who == "anonymous" {
            if state.anonymous >= self.rotation.anonymous_per_minute {
                state.dropped += 1;
                if lines.is_empty() {
                    return;
                }
            } else {
                state.anonymous += 1;
                push_line(&mut lines, event);
            }
        } else {
            push_line(&mut lines, event);
        }
        if let Err(e) = self.write(&mut state, lines.as_bytes()) {
            tracing::error!("cannot write the audit log {}: {e}", self.path.display());
        }
    }

    fn write(&self, state: &mut State, bytes: &[u8]) -> std::io::Result<()> {
        state.file.write_all(bytes)?;
        state.file.flush()?;
        state.size += bytes.len() as u64;
        if state.size >= self.rotation.max_bytes {
            // audit.jsonl.(keep-1) → .keep, …, audit.jsonl → .1; the oldest is replaced.
            let aside = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
            for n in (1..self.rotation.keep).rev() {
                let from = aside(n);
                if from.exists() {
                    std::fs::rename(&from, aside(n + 1))?;
                }
            }
            if self.rotation.keep == 0 {
                std::fs::remove_file(&self.path)?;
            } else {
                std::fs::rename(&self.path, aside(1))?;
            }
            state.file = append(&self.path)?;
            state.size = 0;
        }
        Ok(())
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn push_line(lines: &mut String, event: &Event) {
    if let Ok(line) = serde_json::to_string(event) {
        lines.push_str(&line);
        lines.push('\n');
    }
}

/// The line that stands for the anonymous events of a minute that were not written.
fn summary(dropped: u64) -> String {
    let event = Event {
        time: backbone_workspace::clock::now_rfc3339(),
        who: "anonymous".into(),
        action: "not_logged".into(),
        outcome: format!("{dropped} more anonymous event(s) in the minute, not logged one by one"),
        ..Event::default()
    };
    let mut line = String::new();
    push_line(&mut line, &event);
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn event(who: &str, n: usize) -> Event {
        Event {
            time: "2026-12-01T00:00:00Z".into(),
            who: who.into(),
            action: "refused".into(),
            route: format!("GET /nothing/{n}"),
            status: 404,
            outcome: "not_found".into(),
            ..Event::default()
        }
    }

    fn files(audit: &Audit) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(audit.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("audit.jsonl"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn anonymous_noise_is_capped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            anonymous_per_minute: 50,
            minute: std::time::Duration::from_millis(300),
            ..Rotation::default()
        };
        let audit = Audit::open_with(dir.path(), rotation).unwrap();
        for n in 0..100_000 {
            audit.record(&event("anonymous", n));
        }
        // A partner's events are written whatever the noise.
        audit.record(&event("partner:p01", 0));
        let text = std::fs::read_to_string(audit.path()).unwrap();
        assert_eq!(text.lines().count(), 51);
        std::thread::sleep(std::time::Duration::from_millis(400));
        audit.record(&event("anonymous", 100_000));
        let text = std::fs::read_to_string(audit.path()).unwrap();
        assert!(text.contains("99950 more anonymous event(s)"), "{text}");
        assert!(text.ends_with("/nothing/100000\",\"status\":404,\"outcome\":\"not_found\"}\n"));
    }

    #[test]
    fn the_log_is_rotated_by_size_and_the_oldest_goes() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 4096,
            keep: 3,
            ..Rotation::default()
        };
        let audit = Audit::open_with(dir.path(), rotation).unwrap();
        for n in 0..2_000 {
            audit.record(&event("partner:p01", n));
        }
        let files = files(&audit);
        assert_eq!(files.len(), 4, "{files:?}");
        let mut lines = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.len() < 4096 + 200, "{f:?}: {} bytes", text.len());
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                lines.push(v["route"].as_str().unwrap().to_owned());
            }
        }
        // The newest events are kept, the oldest rotated out.
        assert!(lines.contains(&"GET /nothing/1999".to_owned()));
        assert!(!lines.contains(&"GET /nothing/0".to_owned()));
    }
}
