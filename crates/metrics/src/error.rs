/// Why indicators could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A declaration is wrong (the schema crate says where).
    #[error(transparent)]
    Declaration(#[from] backbone_schema::SchemaError),
    /// A shared file of the workspace (the results tables) could not be written or read.
    #[error(transparent)]
    Workspace(#[from] backbone_workspace::WorkspaceError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] backbone_store::StoreError),
    /// Disclosure control could not decide (the cells named).
    #[error("disclosure control: {0}")]
    Disclosure(#[from] backbone_disclosure::AttackError),
    /// An indicator could not be computed (polars' message, with the indicator).
    #[error("indicator {indicator}: {message}")]
    Compute {
        /// The indicator id.
        indicator: String,
        /// What went wrong.
        message: String,
    },
    /// A filter is not a valid SQL expression.
    #[error("indicator {indicator}: filter {filter:?} is not a valid SQL expression: {message}")]
    Filter {
        /// The indicator id.
        indicator: String,
        /// The filter as written.
        filter: String,
        /// The SQL parser's message.
        message: String,
    },
    /// `--as-of` names no version of the store.
    #[error("--as-of {0:?}: {1}")]
    AsOf(String, String),
    /// An output file could not be written.
    #[error("{path}: {message}")]
    Output {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl MetricsError {
    pub(crate) fn compute(indicator: &str, e: impl std::fmt::Display) -> Self {
        Self::Compute {
            indicator: indicator.to_owned(),
            message: e.to_string(),
        }
    }
}
