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
    /// How the partner lays its figures out, when not one row per record.
    #[serde(default)]
    pub layout: Layout,
}

/// The shape of a partner's sheet when it is not one row per record (`[layout]`).
///
/// ```toml
/// [layout]
/// header_rows = 2            # a year merged over its months
/// wide = { keep = ["region"], names_to = "month", values_to = "referrals" }
/// totals = ["סה\"כ"]         # more labels of totals rows and columns
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Rows the header spans (1 or 2): a second row under merged cells (a year over its
    /// months, a sex over its age bands).
    pub header_rows: Option<usize>,
    /// Figures across the columns, turned into rows.
    pub wide: Option<Wide>,
    /// Labels of totals rows and columns, besides the built-in ones (`סה"כ`, `Total`, …).
    #[serde(default)]
    pub totals: Vec<String>,
    /// Every sheet whose name matches (`"*"`, `"רבעון *"`) is read with the same header, as
    /// one table; without it one sheet is read (the profile's `sheet`, or the first with data).
    pub sheets: Option<String>,
    /// The field that receives each sheet's name (a period when the field is a date:
    /// `ינואר 2024`, `Q1 2024`).
    pub sheet_to: Option<String>,
}

/// A cross-tab: one column per month (or age band, or region), turned into one row per cell.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wide {
    /// The fields whose columns stay as they are (by field name; their aliases apply).
    #[serde(default)]
    pub keep: Vec<String>,
    /// The field that receives each figure's column header: one field, or two when the header
    /// has two rows (the upper row's cell, then the lower's).
    pub names_to: NamesTo,
    /// The field that receives the figure.
    pub values_to: String,
}

/// One field, or one per header row.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum NamesTo {
    /// The whole header of the column (both rows' words, when two).
    One(String),
    /// The upper header row's cell, then the lower's.
    Each(Vec<String>),
}

impl NamesTo {
    /// The fields, in header-row order.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Self::One(f) => vec![f.as_str()],
            Self::Each(v) => v.iter().map(String::as_str).collect(),
        }
    }
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
        profile.layout.check(file)?;
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

impl Layout {
    /// True when the sheet is read as it is (one row per record, a one-row header).
    pub fn is_plain(&self) -> bool {
        self.wide.is_none() && self.header_rows.unwrap_or(1) == 1 && self.sheets.is_none()
    }

    fn check(&self, file: &str) -> Result<(), SchemaError> {
        let invalid = |path: &str, message: String| SchemaError::Invalid {
            file: file.to_owned(),
            path: format!("layout.{path}"),
            message,
        };
        let rows = self.header_rows.unwrap_or(1);
        if !(1..=2).contains(&rows) {
            return Err(invalid(
                "header_rows",
                format!("{rows}: a header of 1 or 2 rows is read"),
            ));
        }
        if self.sheet_to.is_some() && self.sheets.is_none() {
            return Err(invalid(
                "sheet_to",
                "the sheet's name goes to a field when several sheets are read: set sheets = \"*\" (or a pattern)".to_owned(),
            ));
        }
        if let Some(w) = &self.wide {
            let names = w.names_to.fields();
            if names.is_empty() || names.len() > 2 {
                return Err(invalid(
                    "wide.names_to",
                    "one field, or two (the upper header row's, then the lower's)".to_owned(),
                ));
            }
            if names.len() == 2 && rows != 2 {
                return Err(invalid(
                    "wide.names_to",
                    "two fields take their names from two header rows: set header_rows = 2"
                        .to_owned(),
                ));
            }
            let mut all: Vec<&str> = w.keep.iter().map(String::as_str).collect();
            all.extend(names);
            all.push(&w.values_to);
            for (i, a) in all.iter().enumerate() {
                if all[..i].contains(a) {
                    return Err(invalid(
                        "wide",
                        format!("{a:?} is named twice among keep, names_to and values_to"),
                    ));
                }
            }
        }
        Ok(())
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
        let mut named: Vec<(&str, &str)> = profile
            .layout
            .sheet_to
            .iter()
            .map(|f| ("layout.sheet_to", f.as_str()))
            .collect();
        if let Some(w) = &profile.layout.wide {
            named.extend(w.keep.iter().map(|f| ("layout.wide", f.as_str())));
            named.extend(w.names_to.fields().into_iter().map(|f| ("layout.wide", f)));
            named.push(("layout.wide", &w.values_to));
        }
        for (path, name) in named {
            if schema.field_index(name).is_none() {
                return Err(SchemaError::Invalid {
                    file: file.to_owned(),
                    path: path.to_owned(),
                    message: format!("{name:?} is not a field of schema {:?}", schema.name),
                });
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
