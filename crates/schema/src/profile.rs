//! Partner profiles: what one partner's files for one schema look like, pinning what
//! detection would otherwise guess.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::SchemaError;
use crate::table::{Field, FieldType, TableSchema};

/// A partner profile (TOML). Every key is optional: an empty profile means "detect".
///
/// ```toml
/// partner = "P07"
/// schema = "service_records"
/// encoding = "windows-1255"
/// delimiter = ";"
/// decimal_char = ","
/// header_row = 3
/// date_formats = ["%d.%m.%Y"]
///
/// [fields.gender]
/// aliases = ["מין המטופל"]
/// value_map = { "ז" = "male", "נ" = "female" }
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The partner this profile belongs to.
    pub partner: Option<String>,
    /// The schema this profile is for.
    pub schema: Option<String>,
    /// Text encoding label (`utf-8`, `windows-1255`, `utf-16le`, …).
    pub encoding: Option<String>,
    /// Field delimiter: one character, or `tab`.
    pub delimiter: Option<String>,
    /// Worksheet name (spreadsheets).
    pub sheet: Option<String>,
    /// 1-based physical row of the header.
    pub header_row: Option<usize>,
    /// Date formats tried, in order, before the schema's own, for every date field.
    #[serde(default)]
    pub date_formats: Vec<String>,
    /// Decimal separator for every number field.
    pub decimal_char: Option<String>,
    /// Thousands separator for every number and integer field.
    pub group_char: Option<String>,
    /// Extra spellings of "no value" for every field.
    #[serde(default)]
    pub missing_values: Vec<String>,
    /// Per-field overrides, by the schema's field name.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldProfile>,
    /// How the reporting period is found (used by the nightly run).
    pub period: Option<toml::Table>,
    /// File-name patterns that identify this partner's files for this schema.
    #[serde(default)]
    pub files: Vec<String>,
}

/// Per-field overrides in a partner profile.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldProfile {
    /// Header names this partner uses for the field.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Date formats tried first for this field.
    #[serde(default)]
    pub date_formats: Vec<String>,
    /// The partner's own spellings → canonical values, tried before the schema's map.
    #[serde(default)]
    pub value_map: BTreeMap<String, String>,
    /// Extra true spellings.
    #[serde(default)]
    pub true_values: Vec<String>,
    /// Extra false spellings.
    #[serde(default)]
    pub false_values: Vec<String>,
    /// Decimal separator.
    pub decimal_char: Option<String>,
    /// Thousands separator.
    pub group_char: Option<String>,
}

impl Profile {
    /// Parses a profile from TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, SchemaError> {
        let profile: Profile =
            toml::from_str(text).map_err(|e| crate::error::toml_error(file, text, &e))?;
        if let Some(d) = &profile.delimiter
            && delimiter_byte(d).is_none()
        {
            return Err(SchemaError::Invalid {
                file: file.to_owned(),
                path: "delimiter".to_owned(),
                message: format!(
                    "{d:?} is not a one-byte delimiter; use \",\", \";\", \"|\" or \"tab\""
                ),
            });
        }
        if profile.header_row == Some(0) {
            return Err(SchemaError::Invalid {
                file: file.to_owned(),
                path: "header_row".to_owned(),
                message: "rows are counted from 1".to_owned(),
            });
        }
        Ok(profile)
    }

    /// Reads and parses a profile file.
    pub fn load(path: &std::path::Path) -> Result<Self, SchemaError> {
        let (file, text) = crate::error::read_declaration(path)?;
        Self::from_toml(&text, &file)
    }

    /// The delimiter as a byte, when pinned.
    pub fn delimiter_byte(&self) -> Option<u8> {
        self.delimiter.as_deref().and_then(delimiter_byte)
    }
}

fn delimiter_byte(d: &str) -> Option<u8> {
    match d {
        "tab" | "\\t" | "\t" => Some(b'\t'),
        s if s.len() == 1 => s.bytes().next(),
        _ => None,
    }
}

impl TableSchema {
    /// The schema as this partner's files are read: the profile's aliases, value maps, date
    /// formats and separators merged in. `file` names the profile in errors.
    pub fn with_profile(&self, profile: &Profile, file: &str) -> Result<TableSchema, SchemaError> {
        let mut schema = self.clone();
        for field in &mut schema.fields {
            apply_global(field, profile);
        }
        for (name, fp) in &profile.fields {
            let Some(i) = schema.field_index(name) else {
                return Err(SchemaError::Invalid {
                    file: file.to_owned(),
                    path: format!("fields.{name}"),
                    message: format!("{name:?} is not a field of schema {:?}", schema.name),
                });
            };
            let field = &mut schema.fields[i];
            field.aliases.extend(fp.aliases.iter().cloned());
            let mut formats = fp.date_formats.clone();
            formats.append(&mut field.formats);
            field.formats = formats;
            if !fp.value_map.is_empty() {
                let map = field.value_map.get_or_insert_with(Default::default);
                let mut entries: Vec<(String, String)> = fp
                    .value_map
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                entries.append(&mut map.entries);
                map.entries = entries;
            }
            field.true_values.extend(fp.true_values.iter().cloned());
            field.false_values.extend(fp.false_values.iter().cloned());
            if let Some(d) = &fp.decimal_char {
                field.decimal_char.clone_from(d);
            }
            if let Some(g) = &fp.group_char {
                field.group_char = Some(g.clone());
            }
        }
        schema
            .missing_values
            .extend(profile.missing_values.iter().cloned());
        for f in &mut schema.fields {
            if let Some(mv) = &mut f.missing_values {
                mv.extend(profile.missing_values.iter().cloned());
            }
        }
        crate::parse::Parser { file }.check_aliases(&schema)?;
        Ok(schema)
    }
}

fn apply_global(field: &mut Field, profile: &Profile) {
    match field.field_type {
        FieldType::Date | FieldType::Datetime if !profile.date_formats.is_empty() => {
            let mut formats = profile.date_formats.clone();
            formats.append(&mut field.formats);
            field.formats = formats;
        }
        FieldType::Number | FieldType::Integer => {
            if let Some(d) = &profile.decimal_char {
                field.decimal_char.clone_from(d);
            }
            if let Some(g) = &profile.group_char {
                field.group_char = Some(g.clone());
            }
        }
        _ => {}
    }
}
