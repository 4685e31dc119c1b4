use std::fmt;

/// Why a file could not be read at all. Problems with rows and cells are not errors: they go
/// into the [`ValidationReport`](crate::ValidationReport). Every variant says which file, and
/// where a place in it is known, which sheet, row and column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The operating system could not read the file.
    #[error("cannot read {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{file}: the file is empty")]
    Empty {
        /// The file.
        file: String,
    },
    /// The bytes are not text in the file's encoding; nothing is decoded with replacement
    /// characters.
    #[error(
        "{file}: not valid {encoding} text at byte {offset} (row {row}); save the file as UTF-8, \
         or set `encoding` in the partner profile"
    )]
    Encoding {
        /// The file.
        file: String,
        /// The encoding it was read as.
        encoding: String,
        /// Byte offset of the first bad byte.
        offset: u64,
        /// The row it is in (1-based).
        row: u64,
    },
    /// The profile names an encoding nobody knows.
    #[error(
        "{file}: unknown encoding {label:?}; use a label such as utf-8, windows-1255, utf-16le"
    )]
    UnknownEncoding {
        /// The file.
        file: String,
        /// The label as given.
        label: String,
    },
    /// A spreadsheet that the reader cannot open.
    #[error("{file}{}: cannot read the spreadsheet: {message}", at(.sheet.as_deref(), None, None))]
    Spreadsheet {
        /// The file.
        file: String,
        /// The sheet, when known.
        sheet: Option<String>,
        /// What the reader said.
        message: String,
    },
    /// The requested sheet is not in the workbook.
    #[error("{file}: there is no sheet {sheet:?}; the workbook has {available}")]
    SheetNotFound {
        /// The file.
        file: String,
        /// The sheet asked for.
        sheet: String,
        /// The sheets there are.
        available: String,
    },
    /// The workbook has no sheet with data.
    #[error("{file}: no sheet has any data")]
    NoSheetWithData {
        /// The file.
        file: String,
    },
    /// The profile pins a header row the file does not have.
    #[error("{file}{}: the profile says the header is on row {row}, but the file's first rows end at row {last}; check `header_row` in the partner profile", at(.sheet.as_deref(), None, None))]
    HeaderRowMissing {
        /// The file.
        file: String,
        /// The sheet.
        sheet: Option<String>,
        /// The row the profile names.
        row: u64,
        /// The last row that was read while looking for it.
        last: u64,
    },
    /// The file needs more memory or time to read than a reading child may use
    /// ([`crate::isolate`]).
    #[error("{file}: {what}; {hint}")]
    TooCostly {
        /// The file.
        file: String,
        /// What it needs.
        what: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// A size limit that keeps memory bounded was reached.
    #[error("{file}{}: {what} is more than backbone reads ({limit}); {hint}", at(.sheet.as_deref(), *.row, *.column))]
    TooLarge {
        /// The file.
        file: String,
        /// The sheet.
        sheet: Option<String>,
        /// The row (1-based).
        row: Option<u64>,
        /// The column (1-based).
        column: Option<u32>,
        /// What is too large.
        what: String,
        /// The limit.
        limit: u64,
        /// What to do about it.
        hint: &'static str,
    },
    /// The schema cannot be applied (a bound or enum value that is not of the field's type).
    #[error("schema {schema}: field {field:?}: {message}")]
    Plan {
        /// The schema.
        schema: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Personal-data fields would reach the output without a pseudonymisation key.
    #[error(
        "schema {schema}: field {field:?} is personal data (x-pii) and no pseudonymisation key was given"
    )]
    NoKey {
        /// The schema.
        schema: String,
        /// The field.
        field: String,
    },
    /// Whoever receives the rows (the store) failed.
    #[error("{file}: {source}")]
    Sink {
        /// The file.
        file: String,
        /// The receiver's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

struct At<'a>(Option<&'a str>, Option<u64>, Option<u32>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.0 {
            write!(f, ", sheet {s:?}")?;
        }
        if let Some(r) = self.1 {
            write!(f, ", row {r}")?;
        }
        if let Some(c) = self.2 {
            write!(f, ", column {c}")?;
        }
        Ok(())
    }
}

fn at(sheet: Option<&str>, row: Option<u64>, column: Option<u32>) -> At<'_> {
    At(sheet, row, column)
}
