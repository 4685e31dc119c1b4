//! The portal's errors.

use std::path::PathBuf;

/// What can stop the portal from starting or from handling a request.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// A file of the workspace could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A declaration (initiative, schema, profile) is wrong.
    #[error(transparent)]
    Schema(#[from] backbone_schema::SchemaError),
    /// The workspace's shared files.
    #[error(transparent)]
    Workspace(#[from] backbone_workspace::WorkspaceError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] backbone_store::StoreError),
    /// A page could not be drawn.
    #[error("page {template}: {message}")]
    Template {
        /// Which template.
        template: String,
        /// What went wrong.
        message: String,
    },
    /// A receipt could not be drawn.
    #[error(transparent)]
    Report(#[from] backbone_report::ReportError),
    /// The token file is damaged.
    #[error("{path}: {message}")]
    Tokens {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No such partner in `initiative.toml`.
    #[error("`{0}` is not a partner in pipelines/initiative.toml")]
    UnknownPartner(String),
    /// The operating system's random source failed.
    #[error("no random bytes: {0}")]
    Random(String),
    /// The runtime could not start.
    #[error("cannot start the service: {0}")]
    Runtime(std::io::Error),
}

impl PortalError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
