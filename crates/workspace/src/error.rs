use std::path::Path;

/// What can go wrong with a workspace's files, each naming the file (and row, for tables).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkspaceError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A declaration is wrong (its file and key are in the message).
    #[error(transparent)]
    Declaration(#[from] backbone_schema::SchemaError),
    /// No schema of that name or path.
    #[error("no schema {name:?}: not a file, and not in {dir}")]
    NoSchema {
        /// As given.
        name: String,
        /// The schemas' folder.
        dir: String,
    },
    /// A shared table (`results/*.csv`, `runs/*.json`) is not as written.
    #[error("{file}, row {row}: {message}")]
    Table {
        /// The file.
        file: String,
        /// 1-based row in the file (1 is the header).
        row: u64,
        /// What is wrong.
        message: String,
    },
    /// The secret key cannot be made or used.
    #[error("{path}: {message}")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Another run holds the run lock.
    #[error("another run is going on{}; it holds {path}", holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    RunInProgress {
        /// The lock file.
        path: String,
        /// What the holder wrote in it (process id and start time), when it could be read.
        holder: Option<String>,
    },
}

impl WorkspaceError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
