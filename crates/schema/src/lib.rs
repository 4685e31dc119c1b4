//! The declarations of a backbone initiative: what partners' files must contain.
//!
//! A schema is a [Frictionless Table Schema](https://datapackage.org/standard/table-schema/)
//! (v2, with v1's `fmt:` date formats still read) plus extension keys that start with `x-`:
//! `x-aliases`, `x-valueMap`, `x-pii`, `x-rules`, and `severity` on constraints. A schema
//! written for frictionless tools loads unchanged. A [`Profile`] adapts a schema to one
//! partner's files (their header names, spellings, encoding, separators).
//!
//! ```
//! let schema = backbone_schema::TableSchema::from_json_str(
//!     r#"{"fields": [{"name": "age", "type": "integer", "x-aliases": ["גיל"],
//!                     "constraints": {"maximum": 120}}]}"#,
//!     "people.json",
//! ).unwrap();
//! assert_eq!(schema.fields[0].aliases, ["גיל"]);
//!
//! let broken = backbone_schema::TableSchema::from_json_str(
//!     r#"{"fields": [{"name": "age", "type": "integr"}]}"#, "people.json").unwrap_err();
//! assert_eq!(broken.path(), Some("$.fields[0].type"));
//! ```

mod error;
mod indicator;
mod parse;
mod profile;
mod table;

use std::path::Path;

use unicode_normalization::UnicodeNormalization;

pub use error::SchemaError;
pub use indicator::{
    Band, Direction, Grain, Indicator, Initiative, Kind, Measure, Obligation, Partner, PeriodValue,
    Population, Portal, Retention, Span, Text, formula_ids, indicators_from_toml, load_indicators,
};
pub use profile::{FieldProfile, Layout, NamesTo, Profile, Wide};
pub use table::{
    Bound, Check, CmpOp, Constraints, Field, FieldType, FieldsMatch, Operand, Pattern, Rule,
    Severity, StringFormat, TableSchema, Unmapped, ValueMap,
};

/// Date formats tried, in order, for `format: "any"`: the spellings partners actually send.
pub const ANY_DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%Y/%m/%d",
];

/// The date-and-time patterns a `datetime` field with format `any` tries before the date
/// patterns (a date alone is midnight): ISO 8601 with `T` or a space, with or without
/// seconds and an offset (`Z` or `+02:00`), and the day-first spellings with a time.
pub const ANY_DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
];

/// The formats a date or datetime field uses when its schema says `default` or nothing.
pub fn default_formats(t: FieldType) -> Vec<String> {
    match t {
        FieldType::Date => vec!["%Y-%m-%d".to_owned()],
        FieldType::Datetime => [
            "%Y-%m-%dT%H:%M:%S%z",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
        ]
        .map(String::from)
        .to_vec(),
        _ => Vec::new(),
    }
}

impl TableSchema {
    /// Parses a schema from JSON text. `file` names the document in errors, and its stem is
    /// the schema's name unless the document has a `name`.
    pub fn from_json_str(text: &str, file: &str) -> Result<Self, SchemaError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SchemaError::Syntax {
                file: file.to_owned(),
                format: "JSON",
                line: e.line(),
                column: e.column(),
                message: strip_position(&e.to_string()),
            })?;
        let stem = Path::new(file)
            .file_name()
            .and_then(|n| n.to_str())
            .map_or("schema", |n| n.split('.').next().unwrap_or(n));
        parse::Parser { file }.schema(&value, stem)
    }

    /// Reads and parses a schema file.
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let (file, text) = error::read_declaration(path)?;
        Self::from_json_str(&text, &file)
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// A header as compared with field names and aliases: Unicode NFKC, case folded, invisible
/// marks (BOM, LRM/RLM and other bidi controls, zero-width characters, soft hyphen)
/// removed, every kind of space (NBSP included) and `_`/`-` read as one space, trimmed.
///
/// ```
/// use backbone_schema::normalise_header;
/// assert_eq!(normalise_header("\u{feff}Service_Date "), "service date");
/// assert_eq!(normalise_header("\u{200f}תאריך\u{a0}שירות"), "תאריך שירות");
/// ```
pub fn normalise_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfkc() {
        if is_invisible(c) {
            continue;
        }
        if c.is_whitespace() || c == '_' || c == '-' {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Characters that are in a header but not visible: they must not make two headers differ.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{feff}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{00ad}' | '\u{061c}' | '\u{2060}')
}

#[cfg(test)]
mod tests;
