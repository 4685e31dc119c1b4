use std::fmt;

/// A declaration that cannot be used, with where it is: the file, and the JSON path or TOML
/// key inside it (`$.fields[3].constraints.minimum`), so the data manager can go straight to
/// it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The file could not be read at all.
    #[error("cannot read {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not well-formed JSON or TOML.
    #[error("{file}: not valid {format} at line {line}, column {column}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// `JSON` or `TOML`.
        format: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Well-formed, but a key is wrong.
    #[error("{file}: {path}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// JSON path (`$.fields[2].type`) or TOML key (`fields.age.aliases`).
        path: String,
        /// What is wrong and what would be right.
        message: String,
    },
}

impl SchemaError {
    /// The JSON path or TOML key the error is about, when it is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// Where we are in a JSON document, for error messages.
#[derive(Clone, Debug)]
pub(crate) struct JsonPath(String);

impl JsonPath {
    pub(crate) fn root() -> Self {
        Self("$".to_owned())
    }
    pub(crate) fn key(&self, key: &str) -> Self {
        let simple = key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if simple {
            Self(format!("{}.{key}", self.0))
        } else {
            Self(format!("{}[{key:?}]", self.0))
        }
    }
    pub(crate) fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a declaration file; returns its name for messages and its text.
pub(crate) fn read_declaration(path: &std::path::Path) -> Result<(String, String), SchemaError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Io {
        file: file.clone(),
        source,
    })?;
    Ok((file, text))
}

/// A TOML parse error, with the 1-based line and column of where it is.
pub(crate) fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> SchemaError {
    let (line, column) = e.span().map_or((0, 0), |s| {
        let before = &text[..s.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    });
    SchemaError::Syntax {
        file: file.to_owned(),
        format: "TOML",
        line,
        column,
        message: e.message().to_owned(),
    }
}
