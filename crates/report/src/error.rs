//! What can go wrong while rendering.

/// A rendering error, naming the file or the chart.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A results table could not be read.
    #[error("{file}: row {row}: {message}")]
    Table {
        /// The table's path.
        file: String,
        /// The CSV record (1 = header).
        row: u64,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The system's message.
        message: String,
    },
    /// A chart could not be drawn.
    #[error("chart `{chart}`: {message}")]
    Chart {
        /// The chart's name.
        chart: String,
        /// What plotters said.
        message: String,
    },
    /// A template failed (a bug in the templates, or a value they did not expect).
    #[error("template `{template}`: {message}")]
    Template {
        /// The template's name.
        template: String,
        /// What minijinja said.
        message: String,
    },
    /// The workbook could not be written.
    #[error("workbook {path}: {message}")]
    Workbook {
        /// The path.
        path: String,
        /// What rust_xlsxwriter said.
        message: String,
    },
    /// Chromium failed to print the PDF.
    #[error("PDF: {0}")]
    Pdf(String),
}

impl ReportError {
    pub(crate) fn io(path: &std::path::Path, e: &dyn std::fmt::Display) -> Self {
        Self::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}
