use std::path::Path;

/// Why the store could not do what was asked. Delta Lake's own errors are carried as text so
/// that its types stay inside this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or folder of the store could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The store's location is not usable as a table location.
    #[error("{0}: not a usable store location")]
    Location(String),
    /// Delta Lake refused an operation on a table.
    #[error("table {table}: {message}")]
    Delta {
        /// The table (schema name).
        table: String,
        /// Delta Lake's message.
        message: String,
    },
    /// A Parquet file of the table could not be read.
    #[error("{0}: {1}")]
    Parquet(String, String),
    /// Another ingest committed the same bytes for the same partner and period first.
    #[error("the same file was stored meanwhile by another ingest, as submission {0}")]
    Raced(String),
    /// Other writers kept committing to the table; nothing of this submission is visible.
    #[error("table {0}: other writers kept committing first; nothing was stored, try again")]
    Busy(String),
    /// The submission was committed, but the `submissions` table is behind the ledger (the
    /// next write catches it up).
    #[error("committed as version {version}, but the submissions table is behind: {message}")]
    MirrorBehind {
        /// The data table version committed.
        version: u64,
        /// Why the mirror could not be written.
        message: String,
    },
    /// The version asked for does not exist.
    #[error("table {0} has no version {1}")]
    NoVersion(String, u64),
    /// The version asked for is no longer kept whole: the initiative's retention removed its
    /// files.
    #[error("table {table}: version {version} is no longer kept: {why}")]
    NotKept {
        /// The table.
        table: String,
        /// The version asked for.
        version: u64,
        /// Why, and what can be read instead.
        why: String,
    },
    /// A ledger entry in the log could not be read or written.
    #[error("ledger entry: {0}")]
    Ledger(String),
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn delta(table: &str, e: deltalake::DeltaTableError) -> Self {
        Self::Delta {
            table: table.to_owned(),
            message: e.to_string(),
        }
    }
}
