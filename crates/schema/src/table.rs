//! The Table Schema model: what a valid row of one kind of submission looks like.

use regex::Regex;

/// Error or warning: whether a failed check rejects the row or only flags it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The row is rejected.
    #[default]
    Error,
    /// The row is accepted and the problem is reported.
    Warning,
}

impl Severity {
    /// `error` or `warning`, as written in schemas and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// The Table Schema field types backbone reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text.
    String,
    /// Whole number (64-bit).
    Integer,
    /// Decimal number (64-bit float).
    Number,
    /// `trueValues` / `falseValues`.
    Boolean,
    /// Calendar date.
    Date,
    /// Date and time (naive, or with an offset converted to UTC).
    Datetime,
    /// A year such as `2024`.
    Year,
    /// A month such as `2024-03`.
    Yearmonth,
    /// Anything, kept as text.
    Any,
}

impl FieldType {
    /// The Table Schema name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Year => "year",
            Self::Yearmonth => "yearmonth",
            Self::Any => "any",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "datetime" => Self::Datetime,
            "year" => Self::Year,
            "yearmonth" => Self::Yearmonth,
            "any" => Self::Any,
            _ => return None,
        })
    }
}

/// One constraint's value with the severity of breaking it.
#[derive(Clone, Debug)]
pub struct Check<T> {
    /// The constraint's value (`120` for `maximum: 120`).
    pub value: T,
    /// Error (reject the row) or warning.
    pub severity: Severity,
}

/// A bound for `minimum`/`maximum`: a number, or text in the field's own type (a date).
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    /// A JSON number.
    Number(f64),
    /// A JSON string, cast with the field's type by the ingest engine.
    Text(String),
}

/// An anchored regular expression, as Table Schema's `pattern` means it.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The pattern as written.
    pub source: String,
    /// Compiled, anchored at both ends.
    pub regex: Regex,
}

/// The constraints of one field.
#[derive(Clone, Debug, Default)]
pub struct Constraints {
    /// A value must be present.
    pub required: Option<Check<bool>>,
    /// No two rows may have the same value.
    pub unique: Option<Check<bool>>,
    /// Lowest allowed value.
    pub minimum: Option<Check<Bound>>,
    /// Highest allowed value.
    pub maximum: Option<Check<Bound>>,
    /// Values must be greater than this.
    pub exclusive_minimum: Option<Check<Bound>>,
    /// Values must be less than this.
    pub exclusive_maximum: Option<Check<Bound>>,
    /// Shortest allowed text, in characters.
    pub min_length: Option<Check<usize>>,
    /// Longest allowed text, in characters.
    pub max_length: Option<Check<usize>>,
    /// Text must match.
    pub pattern: Option<Check<Pattern>>,
    /// Allowed values, written as text (numbers as their JSON text).
    pub enumeration: Option<Check<Vec<String>>>,
}

impl Constraints {
    /// True when `required` is set to true (with any severity).
    pub fn is_required(&self) -> bool {
        self.required.as_ref().is_some_and(|c| c.value)
    }
}

/// What happens to a value the value map does not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unmapped {
    /// Keep it as it is; the constraints then judge it (the default).
    #[default]
    Keep,
    /// Report it as an error of its own.
    Error,
    /// Treat it as missing.
    Null,
}

/// `x-valueMap`: raw spellings to canonical values, applied before constraints.
#[derive(Clone, Debug, Default)]
pub struct ValueMap {
    /// Raw → canonical, in declaration order. Matching ignores case and surrounding spaces.
    pub entries: Vec<(String, String)>,
    /// Policy for values not in `entries`.
    pub unmapped: Unmapped,
}

/// One field (column) of a table schema.
#[derive(Clone, Debug)]
pub struct Field {
    /// Canonical name, as the store's column.
    pub name: String,
    /// Human title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Type.
    pub field_type: FieldType,
    /// Formats to try in order for date/datetime/number parsing (`%d/%m/%Y`); empty means
    /// the type's default (ISO).
    pub formats: Vec<String>,
    /// Constraints.
    pub constraints: Constraints,
    /// Field-level `missingValues`, overriding the schema's.
    pub missing_values: Option<Vec<String>>,
    /// `x-aliases`: other header names partners use.
    pub aliases: Vec<String>,
    /// `x-valueMap`.
    pub value_map: Option<ValueMap>,
    /// `x-pii`: personal data; pseudonymised at ingest, never echoed.
    pub pii: bool,
    /// `x-valueLabels`: how a stored category value is shown to readers, per language
    /// (`{"female": {"he": "נשים", "ar": "نساء", "en": "Women"}}`). The store keeps the code.
    pub value_labels: std::collections::BTreeMap<String, crate::Text>,
    /// Spellings of true (boolean fields).
    pub true_values: Vec<String>,
    /// Spellings of false (boolean fields).
    pub false_values: Vec<String>,
    /// Decimal separator (number fields).
    pub decimal_char: String,
    /// Thousands separator (number and integer fields).
    pub group_char: Option<String>,
    /// When false, leading and trailing non-numeric text (`€`, `%`) is stripped.
    pub bare_number: bool,
    /// A `string` field's checked format (`email`, `uri`, `binary`, `uuid`).
    pub string_format: Option<StringFormat>,
}

impl Field {
    /// A field of the given name and type with Table Schema's defaults.
    pub fn new(name: impl Into<String>, field_type: FieldType) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: None,
            field_type,
            formats: crate::default_formats(field_type),
            constraints: Constraints::default(),
            missing_values: None,
            aliases: Vec::new(),
            value_map: None,
            pii: false,
            value_labels: std::collections::BTreeMap::new(),
            true_values: ["true", "True", "TRUE", "1"].map(String::from).to_vec(),
            false_values: ["false", "False", "FALSE", "0"].map(String::from).to_vec(),
            decimal_char: ".".to_owned(),
            group_char: None,
            bare_number: true,
            string_format: None,
        }
    }
}

/// Comparison operators of `x-rules`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` or `==`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
    /// Whether an ordering satisfies the operator.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Eq => ord == Equal,
            Self::Ne => ord != Equal,
            Self::Lt => ord == Less,
            Self::Le => ord != Greater,
            Self::Gt => ord == Greater,
            Self::Ge => ord != Less,
        }
    }
}

/// One side of a rule: another field of the row, or a constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// Index into [`TableSchema::fields`].
    Field(usize),
    /// A constant, cast with the type of the field on the other side.
    Literal(String),
}

/// `x-rules`: a cross-column check, `first_contact_date >= referral_date`.
///
/// Deliberately a single comparison, not an expression language: rules run on every row at
/// ingest, must be explainable to a partner in one sentence, and anything richer belongs in
/// the metrics' SQL filters. A rule is skipped on a row where either side is missing
/// (`required` says whether missing is allowed).
#[derive(Clone, Debug)]
pub struct Rule {
    /// The rule as written.
    pub expr: String,
    /// Left operand; always a field.
    pub lhs: usize,
    /// Operator.
    pub op: CmpOp,
    /// Right operand.
    pub rhs: Operand,
    /// Error or warning.
    pub severity: Severity,
    /// A message for partners, in place of the generated one.
    pub message: Option<String>,
}

/// How a file's header must match the schema's fields (Table Schema v2 `fieldsMatch`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldsMatch {
    /// backbone's own default (an extension of the standard): each column is matched to a
    /// field by its name or an alias after normalisation, in any order; a missing required
    /// field is an error, an extra column or a missing optional field a warning.
    #[default]
    ByName,
    /// The same fields, by name, in the same order.
    Exact,
    /// The same fields, by name, in any order.
    Equal,
    /// Every field has a column; other columns may be present.
    Subset,
    /// Every column is a field; fields may be missing.
    Superset,
    /// At least one column is a field.
    Partial,
}

impl FieldsMatch {
    /// The standard's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ByName => "backbone (by name or alias, any order)",
            Self::Exact => "exact",
            Self::Equal => "equal",
            Self::Subset => "subset",
            Self::Superset => "superset",
            Self::Partial => "partial",
        }
    }
}

/// A `string` field's `format` (Table Schema), each checked on every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringFormat {
    /// An email address (`name@domain`).
    Email,
    /// An absolute URI (`scheme:rest`).
    Uri,
    /// Base64-encoded bytes.
    Binary,
    /// A UUID (`8-4-4-4-12` hexadecimal digits).
    Uuid,
}

impl StringFormat {
    /// The standard's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Uri => "uri",
            Self::Binary => "binary",
            Self::Uuid => "uuid",
        }
    }
}

/// A Table Schema with backbone's extensions.
#[derive(Clone, Debug)]
pub struct TableSchema {
    /// The schema's name (`service_records`), from `name` or the file name.
    pub name: String,
    /// Human title.
    pub title: Option<String>,
    /// Fields, in declaration order.
    pub fields: Vec<Field>,
    /// Spellings of "no value" (default `[""]`).
    pub missing_values: Vec<String>,
    /// Field indices of the primary key (empty: none).
    pub primary_key: Vec<usize>,
    /// Each a set of field indices that must be unique together.
    pub unique_keys: Vec<Vec<usize>>,
    /// Cross-column rules.
    pub rules: Vec<Rule>,
    /// How the header must match the fields.
    pub fields_match: FieldsMatch,
    /// Properties the document carries that backbone does not act on (the standard lets a
    /// descriptor carry others), as JSON paths: loaded and ignored, listed by `backbone
    /// check` so that a misspelt constraint does not pass unseen.
    pub unknown: Vec<String>,
    /// `x-aggregate`: each row is a figure that already counts many (referrals per region
    /// and month), not one record: indicators `sum` its figures; `count` and
    /// `distinct_count` are refused.
    pub aggregate: bool,
}

impl TableSchema {
    /// The names of the personal-data fields (`x-pii`), which the store holds as pseudonyms.
    pub fn personal_fields(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.pii)
            .map(|f| f.name.clone())
            .collect()
    }

    /// The index of a field by its canonical name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The missing values in force for a field.
    pub fn missing_values_for(&self, field: usize) -> &[String] {
        self.fields
            .get(field)
            .and_then(|f| f.missing_values.as_deref())
            .unwrap_or(&self.missing_values)
    }
}
