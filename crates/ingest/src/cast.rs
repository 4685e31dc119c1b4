//! From a cell to a typed value: the field's type, its value map and its constraints,
//! compiled once per file.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;
use std::cmp::Ordering;

use backbone_schema::{Bound, Field, FieldType, Severity, StringFormat, Unmapped};
use chrono::{Datelike, NaiveDate, NaiveDateTime};

use crate::cell::{Cell, format_float, trim_bytes};
use crate::datefmt::DateFormat;
use crate::expected::ExpectedKind;

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

fn trim_str(s: &str) -> &str {
    let t = trim_bytes(s.as_bytes());
    if t.len() == s.len() {
        return s;
    }
    // trim_bytes only removes whole characters, so the offsets are char boundaries.
    let start = t.as_ptr() as usize - s.as_ptr() as usize;
    s.get(start..start + t.len()).unwrap_or(s)
}

/// A cast value. Strings borrow from the file or from the plan where they can.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00 (UTC where the value had an offset).
    DateTime(i64),
    Year(i32),
    /// `year * 12 + (month - 1)`.
    YearMonth(i32),
}

impl Value<'_> {
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub(crate) fn compare(&self, other: &Value<'_>) -> Option<Ordering> {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => Some(a.as_ref().cmp(b.as_ref())),
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Num(a), Value::Num(b)) => a.partial_cmp(b),
            #[allow(clippy::cast_precision_loss)]
            (Value::Int(a), Value::Num(b)) => (*a as f64).partial_cmp(b),
            #[allow(clippy::cast_precision_loss)]
            (Value::Num(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Date(a), Value::Date(b))
            | (Value::Year(a), Value::Year(b))
            | (Value::YearMonth(a), Value::YearMonth(b)) => Some(a.cmp(b)),
            (Value::DateTime(a), Value::DateTime(b)) => Some(a.cmp(b)),
            (Value::Date(a), Value::DateTime(b)) => Some((i64::from(*a) * 86_400_000_000).cmp(b)),
            (Value::DateTime(a), Value::Date(b)) => Some(a.cmp(&(i64::from(*b) * 86_400_000_000))),
            _ => None,
        }
    }

    /// The canonical text of the value (what a report shows and a unique key hashes).
    pub(crate) fn canonical(&self) -> Cow<'_, str> {
        match self {
            Value::Null => Cow::Borrowed(""),
            Value::Str(s) => Cow::Borrowed(s.as_ref()),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Num(n) => Cow::Owned(format_float(*n)),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Date(d) => Cow::Owned(
                date_from_days(*d)
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            ),
            Value::DateTime(us) => Cow::Owned(
                chrono::DateTime::from_timestamp_micros(*us)
                    .map(|d| d.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string())
                    .unwrap_or_default(),
            ),
            Value::Year(y) => Cow::Owned(y.to_string()),
            Value::YearMonth(ym) => Cow::Owned(format!(
                "{:04}-{:02}",
                ym.div_euclid(12),
                ym.rem_euclid(12) + 1
            )),
        }
    }
}

pub(crate) fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_CE_DAYS)?)
}

fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - UNIX_EPOCH_CE_DAYS
}

fn micros(dt: NaiveDateTime) -> i64 {
    dt.and_utc().timestamp_micros()
}

/// Why a cell could not become a value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CastFail {
    /// Not a value of the field's type.
    Type,
    /// Bytes that are not text in the file's encoding.
    Encoding,
    /// A formula without a saved result.
    Formula,
    /// A spreadsheet error value such as `#DIV/0!`.
    SheetError,
    /// Not in the value map, and the map's policy says that is an error.
    Unmapped,
}

/// The casting part of a field's plan.
#[derive(Debug)]
pub(crate) struct Caster {
    pub(crate) ty: FieldType,
    formats: Vec<DateFormat>,
    true_values: Vec<String>,
    false_values: Vec<String>,
    decimal: String,
    group: Option<String>,
    bare: bool,
    missing: Vec<String>,
    /// Lower-cased raw spelling → canonical value.
    map: HashMap<String, String>,
    canonical: HashSet<String>,
    /// The map's raw spellings as declared, for messages.
    raw_keys: Vec<String>,
    unmapped: Unmapped,
    /// A `string` field's format, checked on every value.
    string_format: Option<StringFormat>,
}

impl Caster {
    pub(crate) fn new(field: &Field, missing: &[String]) -> Self {
        let (map, canonical, unmapped) = match &field.value_map {
            Some(vm) => (
                // Exact spellings first, then lower-cased ones, so lookups rarely allocate.
                vm.entries
                    .iter()
                    .map(|(k, v)| (k.trim().to_lowercase(), v.clone()))
                    .chain(
                        vm.entries
                            .iter()
                            .map(|(k, v)| (k.trim().to_owned(), v.clone())),
                    )
                    .collect(),
                vm.entries.iter().map(|(_, v)| v.clone()).collect(),
                vm.unmapped,
            ),
            None => (HashMap::default(), HashSet::default(), Unmapped::Keep),
        };
        Self {
            ty: field.field_type,
            formats: field.formats.iter().map(|f| DateFormat::new(f)).collect(),
            true_values: field.true_values.clone(),
            false_values: field.false_values.clone(),
            decimal: field.decimal_char.clone(),
            group: field.group_char.clone(),
            bare: field.bare_number,
            missing: missing.iter().map(|m| m.trim().to_owned()).collect(),
            map,
            canonical,
            raw_keys: field
                .value_map
                .as_ref()
                .map(|vm| vm.entries.iter().map(|(k, _)| k.clone()).collect())
                .unwrap_or_default(),
            unmapped,
            string_format: field.string_format,
        }
    }

    /// The type as frictionless names it in a note: `integer`, or `string/email` for a
    /// string with a checked format.
    pub(crate) fn type_label(&self) -> String {
        match self.string_format {
            Some(f) if self.ty == FieldType::String => format!("string/{}", f.as_str()),
            _ => self.ty.as_str().to_owned(),
        }
    }

    /// Cell → value: missing values, value map, then the type.
    pub(crate) fn cast<'a>(&'a self, cell: &Cell<'a>) -> Result<Value<'a>, CastFail> {
        let text: &'a str = match cell {
            Cell::Str(s) => trim_str(s),
            Cell::Text(b) => std::str::from_utf8(trim_bytes(b)).map_err(|_| CastFail::Encoding)?,
            Cell::Empty => return Ok(Value::Null),
            Cell::FormulaNoValue => return Err(CastFail::Formula),
            Cell::Error(_) => return Err(CastFail::SheetError),
            typed => {
                if !self.map.is_empty() {
                    let shown = typed.display();
                    if let Some(c) = self.map.get(&shown.to_lowercase()) {
                        return self.cast_text(c);
                    }
                }
                return self.cast_typed(typed);
            }
        };
        if self.missing.iter().any(|m| m == text) {
            return Ok(Value::Null);
        }
        if !self.map.is_empty() {
            if let Some(c) = self.map.get(text) {
                return self.cast_text(c);
            }
            if text.chars().any(char::is_uppercase)
                && let Some(c) = self.map.get(&text.to_lowercase())
            {
                return self.cast_text(c);
            }
            if !self.canonical.contains(text) {
                match self.unmapped {
                    Unmapped::Keep => {}
                    Unmapped::Null => return Ok(Value::Null),
                    Unmapped::Error => return Err(CastFail::Unmapped),
                }
            }
        }
        self.cast_text(text)
    }

    fn cast_text<'a>(&'a self, t: &'a str) -> Result<Value<'a>, CastFail> {
        let v = match self.ty {
            FieldType::String => {
                if self
                    .string_format
                    .is_some_and(|f| !string_format_holds(f, t))
                {
                    return Err(CastFail::Type);
                }
                Value::Str(Cow::Borrowed(t))
            }
            FieldType::Any => Value::Str(Cow::Borrowed(t)),
            FieldType::Integer => Value::Int(self.integer(t).ok_or(CastFail::Type)?),
            FieldType::Number => Value::Num(self.number(t).ok_or(CastFail::Type)?),
            FieldType::Boolean => {
                if self.true_values.iter().any(|v| v == t) {
                    Value::Bool(true)
                } else if self.false_values.iter().any(|v| v == t) {
                    Value::Bool(false)
                } else {
                    return Err(CastFail::Type);
                }
            }
            FieldType::Date => {
                let p = self
                    .formats
                    .iter()
                    .find_map(|f| f.parse(t))
                    .ok_or(CastFail::Type)?;
                Value::Date(days(p.datetime.date()))
            }
            FieldType::Datetime => {
                let p = self
                    .formats
                    .iter()
                    .find_map(|f| f.parse(t))
                    .ok_or(CastFail::Type)?;
                Value::DateTime(micros(p.datetime))
            }
            FieldType::Year => {
                if t.len() != 4 || !t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CastFail::Type);
                }
                Value::Year(t.parse().map_err(|_| CastFail::Type)?)
            }
            FieldType::Yearmonth => {
                let (y, m) = t.split_once('-').ok_or(CastFail::Type)?;
                let y: i32 = if y.len() == 4 {
                    y.parse().map_err(|_| CastFail::Type)?
                } else {
                    return Err(CastFail::Type);
                };
                let m: i32 = if (1..=2).contains(&m.len()) {
                    m.parse().map_err(|_| CastFail::Type)?
                } else {
                    return Err(CastFail::Type);
                };
                if !(1..=12).contains(&m) {
                    return Err(CastFail::Type);
                }
                Value::YearMonth(y * 12 + m - 1)
            }
        };
        Ok(v)
    }

    /// Spreadsheet cells that are not text.
    fn cast_typed<'a>(&self, cell: &Cell<'_>) -> Result<Value<'a>, CastFail> {
        let v = match (self.ty, cell) {
            (FieldType::String | FieldType::Any, c) => {
                let shown = match c {
                    Cell::DateTime(dt) if dt.time() == chrono::NaiveTime::MIN => {
                        dt.date().to_string()
                    }
                    Cell::DateTime(dt) => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    other => other.display(),
                };
                Value::Str(Cow::Owned(shown))
            }
            (FieldType::Integer, Cell::Int(i)) => Value::Int(*i),
            (FieldType::Integer, Cell::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Value::Int(*f as i64)
            }
            #[allow(clippy::cast_precision_loss)]
            (FieldType::Number, Cell::Int(i)) => Value::Num(*i as f64),
            (FieldType::Number, Cell::Float(f)) => Value::Num(*f),
            (FieldType::Boolean, Cell::Bool(b)) => Value::Bool(*b),
            (FieldType::Boolean, c @ (Cell::Int(_) | Cell::Float(_))) => {
                let shown = c.display();
                return self.cast_text(&shown).map(|v| match v {
                    Value::Bool(b) => Value::Bool(b),
                    _ => Value::Null,
                });
            }
            (FieldType::Date, Cell::DateTime(dt)) => Value::Date(days(dt.date())),
            (FieldType::Datetime, Cell::DateTime(dt)) => Value::DateTime(micros(*dt)),
            (FieldType::Year, Cell::Int(i)) if (0..=9999).contains(i) => {
                Value::Year(i32::try_from(*i).map_err(|_| CastFail::Type)?)
            }
            (FieldType::Year, Cell::Float(f)) if f.fract() == 0.0 && (0.0..=9999.0).contains(f) =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Value::Year(*f as i32)
            }
            (FieldType::Year, Cell::DateTime(dt)) => Value::Year(dt.year()),
            (FieldType::Yearmonth, Cell::DateTime(dt)) => {
                Value::YearMonth(dt.year() * 12 + i32::try_from(dt.month0()).unwrap_or(0))
            }
            _ => return Err(CastFail::Type),
        };
        Ok(v)
    }

    fn strip_non_bare<'t>(&self, t: &'t str) -> &'t str {
        if self.bare {
            return t;
        }
        let keep = |c: char| c.is_ascii_digit() || c == '-' || c == '+' || self.decimal.contains(c);
        let start = t.find(keep).unwrap_or(t.len());
        let end = t
            .rfind(|c: char| c.is_ascii_digit())
            .map_or(start, |i| i + 1);
        if start >= end { "" } else { &t[start..end] }
    }

    fn integer(&self, t: &str) -> Option<i64> {
        let t = self.strip_non_bare(t);
        if let Ok(i) = t.parse::<i64>() {
            return Some(i);
        }
        let g = self.group.as_deref().filter(|g| !g.is_empty())?;
        if !t.contains(g) || !well_grouped(t, g, ".") {
            return None;
        }
        let cleaned: String = t.replace(g, "");
        cleaned.parse().ok()
    }

    fn number(&self, t: &str) -> Option<f64> {
        // The standard spells them NaN, INF and -INF; their case need not be respected.
        if t.len() <= 4 {
            match t.to_ascii_lowercase().as_str() {
                "nan" => return Some(f64::NAN),
                "inf" | "+inf" => return Some(f64::INFINITY),
                "-inf" => return Some(f64::NEG_INFINITY),
                _ => {}
            }
        }
        let t = self.strip_non_bare(t);
        let group = self.group.as_deref().filter(|g| !g.is_empty());
        let has_group = group.is_some_and(|g| t.contains(g));
        if self.decimal == "." && !has_group {
            return parse_plain_number(t);
        }
        let mut s = match group {
            Some(g) if has_group => {
                if !well_grouped(t, g, &self.decimal) {
                    return None;
                }
                t.replace(g, "")
            }
            _ => t.to_owned(),
        };
        if self.decimal != "." {
            if s.contains('.') {
                return None;
            }
            s = s.replace(self.decimal.as_str(), ".");
        }
        parse_plain_number(&s)
    }

    /// The accepted spellings, when the value map refuses any other.
    pub(crate) fn spellings(&self) -> Option<ExpectedKind> {
        if self.unmapped != Unmapped::Error {
            return None;
        }
        let mut raw: Vec<&str> = self.raw_keys.iter().map(String::as_str).collect();
        let mut canonical: Vec<&str> = self.canonical.iter().map(String::as_str).collect();
        raw.sort_unstable();
        canonical.sort_unstable();
        Some(ExpectedKind::OneOf {
            values: raw.join(", "),
            or: Some(canonical.join(", ")),
        })
    }

    /// What a valid value looks like, for a partner (`Display` says it in English).
    pub(crate) fn expected(&self) -> ExpectedKind {
        match self.ty {
            FieldType::String => match self.string_format {
                Some(StringFormat::Email) => ExpectedKind::Email,
                Some(StringFormat::Uri) => ExpectedKind::Uri,
                Some(StringFormat::Binary) => ExpectedKind::Base64,
                Some(StringFormat::Uuid) => ExpectedKind::Uuid,
                None => ExpectedKind::Text,
            },
            FieldType::Any => ExpectedKind::Text,
            FieldType::Integer => ExpectedKind::WholeNumber,
            FieldType::Number => {
                let sep = &self.decimal;
                ExpectedKind::Number {
                    example: match &self.group {
                        Some(g) => format!("1{g}234{sep}5"),
                        None => format!("12{sep}5"),
                    },
                }
            }
            FieldType::Boolean => ExpectedKind::Boolean {
                yes: self.true_values.join(", "),
                no: self.false_values.join(", "),
            },
            FieldType::Date | FieldType::Datetime => ExpectedKind::Date {
                examples: self
                    .formats
                    .iter()
                    .take(3)
                    .map(|f| format!("{} ({})", f.example(), f.source()))
                    .collect(),
            },
            FieldType::Year => ExpectedKind::Year,
            FieldType::Yearmonth => ExpectedKind::Month,
        }
    }

    /// Casts a constant from the schema (a bound, an enum value) with this field's type.
    pub(crate) fn constant(&self, text: &str) -> Option<Value<'static>> {
        let v = match self.ty {
            FieldType::String | FieldType::Any => Value::Str(Cow::Owned(text.to_owned())),
            FieldType::Date | FieldType::Datetime => {
                // Schema constants are ISO whatever the partner's format is.
                let iso = match self.ty {
                    FieldType::Date => DateFormat::new("%Y-%m-%d"),
                    _ => DateFormat::new("%Y-%m-%dT%H:%M:%S"),
                };
                let p = iso
                    .parse(text)
                    .or_else(|| self.formats.iter().find_map(|f| f.parse(text)))?;
                if self.ty == FieldType::Date {
                    Value::Date(days(p.datetime.date()))
                } else {
                    Value::DateTime(micros(p.datetime))
                }
            }
            _ => match self.cast_text(text).ok()? {
                Value::Int(i) => Value::Int(i),
                Value::Num(n) => Value::Num(n),
                Value::Bool(b) => Value::Bool(b),
                Value::Year(y) => Value::Year(y),
                Value::YearMonth(y) => Value::YearMonth(y),
                _ => return None,
            },
        };
        Some(v)
    }

    pub(crate) fn bound(&self, b: &Bound) -> Option<Value<'static>> {
        match (b, self.ty) {
            (Bound::Number(n), FieldType::Integer) if n.fract() == 0.0 =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Some(Value::Int(*n as i64))
            }
            (Bound::Number(n), FieldType::Year) =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Some(Value::Year(*n as i32))
            }
            (Bound::Number(n), _) => Some(Value::Num(*n)),
            (Bound::Text(t), _) => self.constant(t),
        }
    }
}

/// Thousands separators where they belong: `1,234,567.5`, not `7,5` or `12,34`.
fn well_grouped(t: &str, group: &str, decimal: &str) -> bool {
    let int_part = t.split(decimal).next().unwrap_or(t);
    let mut parts = int_part.split(group);
    let first = parts.next().unwrap_or("").trim_start_matches(['-', '+']);
    if first.is_empty() || first.len() > 3 {
        return false;
    }
    parts.all(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `str::parse::<f64>` accepts `inf`, `nan` and `1e5`; Table Schema numbers are digits with
/// an optional sign, point and exponent, so words are refused here.
/// Whether `t` is a value of a `string` field's `format`, as frictionless-py judges it.
fn string_format_holds(format: StringFormat, t: &str) -> bool {
    match format {
        // A local part and a dotted domain, no spaces.
        StringFormat::Email => t.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && !t.chars().any(char::is_whitespace)
                && domain
                    .split_once('.')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        }),
        // A scheme (a letter, then letters, digits, `+`, `-`, `.`), a colon, and the rest.
        StringFormat::Uri => t.split_once(':').is_some_and(|(scheme, rest)| {
            let mut c = scheme.chars();
            c.next().is_some_and(|f| f.is_ascii_alphabetic())
                && c.all(|x| x.is_ascii_alphanumeric() || "+-.".contains(x))
                && !rest.is_empty()
                && !t.chars().any(char::is_whitespace)
        }),
        // Standard base64: groups of four, `=` padding only at the end.
        StringFormat::Binary => {
            let b = t.as_bytes();
            let body = t.trim_end_matches('=');
            b.len().is_multiple_of(4)
                && b.len() - body.len() <= 2
                && body
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
        }
        // What Python's uuid.UUID reads: optional `urn:uuid:` and braces, hyphens anywhere,
        // 32 hexadecimal digits.
        StringFormat::Uuid => {
            let s = t.strip_prefix("urn:").unwrap_or(t);
            let s = s.strip_prefix("uuid:").unwrap_or(s);
            let s = s.trim_matches(|c| c == '{' || c == '}');
            let hex: Vec<char> = s.chars().filter(|c| *c != '-').collect();
            hex.len() == 32 && hex.iter().all(char::is_ascii_hexdigit)
        }
    }
}

fn parse_plain_number(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let first = *b.first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    if b.iter().any(u8::is_ascii_alphabetic)
        && !b.iter().all(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
    {
        return None;
    }
    t.parse().ok()
}

/// A compiled constraint with its severity.
#[derive(Debug)]
pub(crate) struct Limit<T> {
    pub(crate) value: T,
    pub(crate) severity: Severity,
    /// The constraint's value as written in the schema, for messages.
    pub(crate) shown: String,
}

/// The constraints of one field, compiled with the field's type.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    pub(crate) required: Option<Severity>,
    pub(crate) minimum: Option<Limit<Value<'static>>>,
    pub(crate) maximum: Option<Limit<Value<'static>>>,
    pub(crate) exclusive_minimum: Option<Limit<Value<'static>>>,
    pub(crate) exclusive_maximum: Option<Limit<Value<'static>>>,
    pub(crate) min_length: Option<Limit<usize>>,
    pub(crate) max_length: Option<Limit<usize>>,
    pub(crate) pattern: Option<Limit<regex::Regex>>,
    pub(crate) enumeration: Option<Limit<EnumSet>>,
}

/// Allowed values: text compared as text, other types compared as values.
#[derive(Debug)]
pub(crate) enum EnumSet {
    /// A handful of values: comparing lengths then bytes beats hashing.
    Few(Vec<String>),
    Text(HashSet<String>),
    Values(Vec<Value<'static>>),
}

impl EnumSet {
    pub(crate) fn contains(&self, v: &Value<'_>) -> bool {
        match (self, v) {
            (EnumSet::Few(list), Value::Str(s)) => {
                list.iter().any(|x| x.len() == s.len() && x == s.as_ref())
            }
            (EnumSet::Text(set), Value::Str(s)) => set.contains(s.as_ref()),
            (EnumSet::Values(vals), v) => {
                vals.iter().any(|x| x.compare(v) == Some(Ordering::Equal))
            }
            _ => false,
        }
    }
}

/// A constraint that a value broke.
#[derive(Debug)]
pub(crate) struct Broken {
    pub(crate) constraint: &'static str,
    pub(crate) severity: Severity,
    pub(crate) shown: String,
}

impl Checks {
    pub(crate) fn new(field: &Field, caster: &Caster) -> Result<Self, String> {
        let c = &field.constraints;
        let bound = |b: &Option<backbone_schema::Check<Bound>>,
                     name: &str|
         -> Result<Option<Limit<Value<'static>>>, String> {
            let Some(chk) = b else { return Ok(None) };
            let shown = match &chk.value {
                Bound::Number(n) => format_float(*n),
                Bound::Text(t) => t.clone(),
            };
            let value = caster.bound(&chk.value).ok_or_else(|| {
                format!(
                    "{name} {shown:?} is not a {} value",
                    field.field_type.as_str()
                )
            })?;
            Ok(Some(Limit {
                value,
                severity: chk.severity,
                shown,
            }))
        };
        let enumeration = match &c.enumeration {
            None => None,
            Some(chk) => {
                let set = if matches!(field.field_type, FieldType::String | FieldType::Any) {
                    if chk.value.len() <= 16 {
                        EnumSet::Few(chk.value.clone())
                    } else {
                        EnumSet::Text(chk.value.iter().cloned().collect())
                    }
                } else {
                    EnumSet::Values(
                        chk.value
                            .iter()
                            .map(|v| {
                                caster.constant(v).ok_or_else(|| {
                                    format!(
                                        "enum value {v:?} is not a {} value",
                                        field.field_type.as_str()
                                    )
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    )
                };
                Some(Limit {
                    value: set,
                    severity: chk.severity,
                    shown: chk.value.join(", "),
                })
            }
        };
        Ok(Self {
            required: c.required.as_ref().filter(|r| r.value).map(|r| r.severity),
            minimum: bound(&c.minimum, "minimum")?,
            maximum: bound(&c.maximum, "maximum")?,
            exclusive_minimum: bound(&c.exclusive_minimum, "exclusiveMinimum")?,
            exclusive_maximum: bound(&c.exclusive_maximum, "exclusiveMaximum")?,
            min_length: c.min_length.as_ref().map(|l| Limit {
                value: l.value,
                severity: l.severity,
                shown: l.value.to_string(),
            }),
            max_length: c.max_length.as_ref().map(|l| Limit {
                value: l.value,
                severity: l.severity,
                shown: l.value.to_string(),
            }),
            pattern: c.pattern.as_ref().map(|p| Limit {
                value: p.value.regex.clone(),
                severity: p.severity,
                shown: p.value.source.clone(),
            }),
            enumeration,
        })
    }

    /// Every constraint a present value breaks (missing values are checked by `required`).
    pub(crate) fn check(&self, v: &Value<'_>, out: &mut Vec<Broken>) {
        let mut fail = |name: &'static str, l_sev: Severity, shown: &str| {
            out.push(Broken {
                constraint: name,
                severity: l_sev,
                shown: shown.to_owned(),
            });
        };
        if let Some(e) = &self.enumeration
            && !e.value.contains(v)
        {
            fail("enum", e.severity, &e.shown);
        }
        // NaN lies in no range: a bound on a number field refuses it.
        let nan = matches!(v, Value::Num(x) if x.is_nan());
        if let Some(l) = &self.minimum
            && (nan || v.compare(&l.value) == Some(Ordering::Less))
        {
            fail("minimum", l.severity, &l.shown);
        }
        if let Some(l) = &self.maximum
            && (nan || v.compare(&l.value) == Some(Ordering::Greater))
        {
            fail("maximum", l.severity, &l.shown);
        }
        if let Some(l) = &self.exclusive_minimum
            && (nan || v.compare(&l.value).is_some_and(|o| o != Ordering::Greater))
        {
            fail("exclusiveMinimum", l.severity, &l.shown);
        }
        if let Some(l) = &self.exclusive_maximum
            && (nan || v.compare(&l.value).is_some_and(|o| o != Ordering::Less))
        {
            fail("exclusiveMaximum", l.severity, &l.shown);
        }
        if self.min_length.is_some() || self.max_length.is_some() || self.pattern.is_some() {
            let text = v.canonical();
            let len = text.chars().count();
            if let Some(l) = &self.min_length
                && len < l.value
            {
                fail("minLength", l.severity, &l.shown);
            }
            if let Some(l) = &self.max_length
                && len > l.value
            {
                fail("maxLength", l.severity, &l.shown);
            }
            if let Some(l) = &self.pattern
                && !l.value.is_match(&text)
            {
                fail("pattern", l.severity, &l.shown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backbone_schema::TableSchema;

    fn caster(field_json: &str) -> Caster {
        let s = TableSchema::from_json_str(&format!(r#"{{"fields": [{field_json}]}}"#), "t.json")
            .unwrap();
        Caster::new(&s.fields[0], &s.missing_values)
    }

    fn cast(c: &Caster, s: &str) -> Result<String, CastFail> {
        c.cast(&Cell::Text(s.as_bytes())).map(|v| format!("{v:?}"))
    }

    #[test]
    fn numbers_with_separators() {
        let c = caster(r#"{"name": "n", "type": "number", "decimalChar": ",", "groupChar": "."}"#);
        assert_eq!(cast(&c, "1.234,5").unwrap(), "Num(1234.5)");
        assert_eq!(cast(&c, "12,5").unwrap(), "Num(12.5)");
        assert_eq!(cast(&c, "abc"), Err(CastFail::Type));
        let c = caster(r#"{"name": "n", "type": "number", "groupChar": ","}"#);
        assert_eq!(cast(&c, "1,234.5").unwrap(), "Num(1234.5)");
        // The standard's NaN, INF and -INF, in any case.
        assert_eq!(cast(&c, "inf").unwrap(), "Num(inf)");
        assert_eq!(cast(&c, "nan").unwrap(), "Num(NaN)");
        assert_eq!(cast(&c, "-Inf").unwrap(), "Num(-inf)");
        assert_eq!(cast(&c, "infinite"), Err(CastFail::Type));
        assert_eq!(cast(&c, "12,34"), Err(CastFail::Type));
        assert_eq!(cast(&c, "1,234,567").unwrap(), "Num(1234567.0)");
        let c = caster(r#"{"name": "n", "type": "number", "decimalChar": ",", "groupChar": "."}"#);
        assert_eq!(cast(&c, "7.5"), Err(CastFail::Type));
        let c = caster(r#"{"name": "n", "type": "integer", "bareNumber": false}"#);
        assert_eq!(cast(&c, "€95").unwrap(), "Int(95)");
        assert_eq!(cast(&c, "95%").unwrap(), "Int(95)");
        let c = caster(r#"{"name": "n", "type": "integer"}"#);
        assert_eq!(cast(&c, "12.0"), Err(CastFail::Type));
        assert_eq!(c.cast(&Cell::Float(12.0)).unwrap(), Value::Int(12));
        assert_eq!(c.cast(&Cell::Float(12.5)), Err(CastFail::Type));
        assert_eq!(cast(&c, " 7 ").unwrap(), "Int(7)");
    }

    #[test]
    fn value_map_then_type() {
        let c = caster(
            r#"{"name": "ok", "type": "boolean", "trueValues": ["yes", "כן"], "falseValues": ["no", "לא"],
                          "x-valueMap": {"Y": "yes"}}"#,
        );
        assert_eq!(cast(&c, "כן").unwrap(), "Bool(true)");
        assert_eq!(cast(&c, "y").unwrap(), "Bool(true)");
        assert_eq!(cast(&c, "").unwrap(), "Null");
        assert_eq!(cast(&c, "maybe"), Err(CastFail::Type));
        let c =
            caster(r#"{"name": "g", "x-valueMap": {"map": {"נ": "female"}, "unmapped": "error"}}"#);
        assert_eq!(cast(&c, "נ").unwrap(), "Str(\"female\")");
        assert_eq!(cast(&c, "female").unwrap(), "Str(\"female\")");
        assert_eq!(cast(&c, "x"), Err(CastFail::Unmapped));
    }

    #[test]
    fn spreadsheet_cells() {
        let c = caster(r#"{"name": "id"}"#);
        assert_eq!(
            c.cast(&Cell::Float(123_456_789.0)).unwrap(),
            Value::Str(Cow::Borrowed("123456789"))
        );
        let c = caster(r#"{"name": "d", "type": "date", "format": "%d/%m/%Y"}"#);
        let dt = NaiveDate::from_ymd_opt(2024, 3, 15)
            .unwrap()
            .and_time(chrono::NaiveTime::MIN);
        assert_eq!(
            c.cast(&Cell::DateTime(dt)).unwrap().canonical(),
            "2024-03-15"
        );
        assert_eq!(
            cast(&c, "15/03/2024").unwrap(),
            format!("{:?}", c.cast(&Cell::DateTime(dt)).unwrap())
        );
        assert_eq!(c.cast(&Cell::FormulaNoValue), Err(CastFail::Formula));
        assert_eq!(c.cast(&Cell::Text(b"\xff\xfe")), Err(CastFail::Encoding));
    }

    #[test]
    fn bounds_in_the_field_type() {
        let s = TableSchema::from_json_str(
            r#"{"fields": [{"name": "d", "type": "date", "format": "%d/%m/%Y", "constraints": {"minimum": "2020-01-01"}}]}"#,
            "t.json",
        )
        .unwrap();
        let c = Caster::new(&s.fields[0], &s.missing_values);
        let checks = Checks::new(&s.fields[0], &c).unwrap();
        let mut out = Vec::new();
        checks.check(&c.cast(&Cell::Text(b"31/12/2019")).unwrap(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].constraint, "minimum");
        out.clear();
        checks.check(&c.cast(&Cell::Text(b"01/01/2020")).unwrap(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn nan_lies_in_no_range() {
        let s = TableSchema::from_json_str(
            r#"{"fields": [{"name": "n", "type": "number", "constraints": {"minimum": 0, "maximum": 10}}]}"#,
            "t.json",
        )
        .unwrap();
        let c = Caster::new(&s.fields[0], &s.missing_values);
        let checks = Checks::new(&s.fields[0], &c).unwrap();
        let mut out = Vec::new();
        checks.check(&c.cast(&Cell::Text(b"NaN")).unwrap(), &mut out);
        let broken: Vec<&str> = out.iter().map(|b| b.constraint).collect();
        assert_eq!(broken, ["minimum", "maximum"]);
        out.clear();
        checks.check(&c.cast(&Cell::Text(b"5")).unwrap(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn string_formats_are_checked() {
        let ok = |format: &str, good: &[&str], bad: &[&str]| {
            let c = caster(&format!(
                r#"{{"name": "s", "type": "string", "format": "{format}"}}"#
            ));
            for g in good {
                assert!(cast(&c, g).is_ok(), "{format}: {g} should pass");
            }
            for b in bad {
                assert_eq!(
                    cast(&c, b),
                    Err(CastFail::Type),
                    "{format}: {b} should fail"
                );
            }
        };
        ok(
            "email",
            &["name@example.org", "a.b+c@mail.co.il"],
            &[
                "name",
                "name@",
                "@example.org",
                "a b@example.org",
                "a@b@c.org",
                "a@localhost",
            ],
        );
        ok(
            "uri",
            &[
                "https://example.org/a?b=1",
                "mailto:a@b.org",
                "urn:isbn:0451450523",
            ],
            &["example.org", "://x", "1http://x", "http://a b"],
        );
        ok(
            "binary",
            &["aGVsbG8=", "aGVsbA==", "YWJj", ""],
            &["aGVsbG8", "a=bc", "ab!c"],
        );
        ok(
            "uuid",
            &[
                "123e4567-e89b-12d3-a456-426614174000",
                "123E4567E89B12D3A456426614174000",
                "{123e4567-e89b-12d3-a456-426614174000}",
                "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
            ],
            &["123e4567-e89b-12d3-a456-42661417400", "not-a-uuid"],
        );
        // A format the standard names only for documentation leaves the text alone.
        ok("default", &["anything at all"], &[]);
    }
}
