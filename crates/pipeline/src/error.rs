use std::path::Path;

use backbone_workspace::{Refusal, WorkspaceError};

/// What can stop a step of the night. Each variant carries the file or the table it is about
/// through the error it wraps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The workspace's files (declarations, shared tables, the key, the run lock).
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// A declaration.
    #[error(transparent)]
    Schema(#[from] backbone_schema::SchemaError),
    /// The store.
    #[error(transparent)]
    Store(#[from] backbone_store::StoreError),
    /// The indicators.
    #[error(transparent)]
    Metrics(#[from] backbone_metrics::MetricsError),
    /// The report or a receipt.
    #[error(transparent)]
    Report(#[from] backbone_report::ReportError),
    /// The file cannot be placed (which table, which period, whose).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The declarations are not consistent (the first problem, and how many more).
    #[error("{first}{}; run `backbone check` for the list", if *more > 0 { format!(" (and {more} more problems)") } else { String::new() })]
    Inconsistent {
        /// The first problem.
        first: String,
        /// How many more.
        more: usize,
    },
    /// A period to close or a submission to approve that is not there.
    #[error("{0}")]
    Approval(String),
    /// An edition cannot be published or read as asked.
    #[error("{0}")]
    Edition(String),
    /// A file or folder the night reads or writes.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `moving`, …).
        what: &'static str,
        /// The file or folder.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The results are not there yet.
    #[error("reading the results in {dir} (run `backbone metrics` first): {source}")]
    NoResults {
        /// The results folder.
        dir: String,
        /// Why they could not be read.
        source: WorkspaceError,
    },
    /// A raw file could not be read (an erasure searching it).
    #[error(transparent)]
    Read(#[from] backbone_ingest::IngestError),
    /// An erasure cannot be done as asked.
    #[error("erase: {0}")]
    Erase(String),
    /// A secret key the pseudonymiser refuses.
    #[error(
        "{path} is shorter than 16 bytes, or .backbone/rotations.key is not whole 32-byte keys"
    )]
    ShortKey {
        /// The key file.
        path: String,
    },
    /// A JSON document could not be made.
    #[error("writing {path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// serde_json's words.
        source: serde_json::Error,
    },
}

impl PipelineError {
    /// An I/O error while doing `what` to `path`.
    pub fn io(what: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    }

    /// Whether another run holds the run lock (the portal's runner waits then).
    pub fn is_run_in_progress(&self) -> bool {
        matches!(self, Self::Workspace(WorkspaceError::RunInProgress { .. }))
    }
}
