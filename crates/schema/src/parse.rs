//! Reading a Table Schema JSON document, key by key, so that every mistake is reported with
//! its JSON path and in words rather than as a deserialiser's dump.

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{JsonPath, SchemaError};
use crate::table::{
    Bound, Check, CmpOp, Constraints, Field, FieldType, FieldsMatch, Operand, Pattern, Rule,
    Severity, StringFormat, TableSchema, Unmapped, ValueMap,
};

/// Keys a field may carry that we accept and ignore (documentation, or features of
/// frictionless we do not act on), so schemas written for other tools load unchanged.
const IGNORED_FIELD_KEYS: &[&str] = &[
    "example",
    "rdfType",
    "categoriesOrdered",
    "floatNumber",
    "x-example",
    "x-note",
    "x-label",
    "x-labels",
];

pub(crate) struct Parser<'a> {
    pub(crate) file: &'a str,
}

type Result<T> = std::result::Result<T, SchemaError>;

impl Parser<'_> {
    fn invalid(&self, path: &JsonPath, message: impl Into<String>) -> SchemaError {
        SchemaError::Invalid {
            file: self.file.to_owned(),
            path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn schema(&self, root: &Value, default_name: &str) -> Result<TableSchema> {
        let path = JsonPath::root();
        let obj = self.object(root, &path)?;
        let mut schema = TableSchema {
            name: default_name.to_owned(),
            title: None,
            fields: Vec::new(),
            missing_values: vec![String::new()],
            primary_key: Vec::new(),
            unique_keys: Vec::new(),
            rules: Vec::new(),
            fields_match: FieldsMatch::default(),
            unknown: Vec::new(),
            aggregate: false,
        };
        let fields_path = path.key("fields");
        let fields = match obj.get("fields") {
            Some(v) => self.array(v, &fields_path)?,
            None => return Err(self.invalid(&path, "a schema needs a \"fields\" list")),
        };
        if fields.is_empty() {
            return Err(self.invalid(&fields_path, "the schema declares no fields"));
        }
        let mut unknown = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let field = self.field(f, &fields_path.index(i), &mut unknown)?;
            if schema.field_index(&field.name).is_some() {
                return Err(self.invalid(
                    &fields_path.index(i).key("name"),
                    format!("field name {:?} is declared twice", field.name),
                ));
            }
            schema.fields.push(field);
        }
        for (key, v) in obj {
            let p = path.key(key);
            match key.as_str() {
                "fields" | "$schema" | "profile" | "description" | "x-description" => {}
                "name" => schema.name = self.string(v, &p)?,
                "title" => schema.title = Some(self.string(v, &p)?),
                "missingValues" => schema.missing_values = self.missing_values(v, &p)?,
                "primaryKey" => schema.primary_key = self.key_fields(&schema, v, &p)?,
                "uniqueKeys" => {
                    for (i, k) in self.array(v, &p)?.iter().enumerate() {
                        let key_fields = self.key_fields(&schema, k, &p.index(i))?;
                        schema.unique_keys.push(key_fields);
                    }
                }
                "foreignKeys" => {
                    return Err(self.invalid(
                        &p,
                        "foreignKeys are not supported; check references with x-rules or a value map",
                    ));
                }
                "fieldsMatch" => {
                    schema.fields_match = match self.string(v, &p)?.as_str() {
                        "exact" => FieldsMatch::Exact,
                        "equal" => FieldsMatch::Equal,
                        "subset" => FieldsMatch::Subset,
                        "superset" => FieldsMatch::Superset,
                        "partial" => FieldsMatch::Partial,
                        other => {
                            return Err(self.invalid(
                                &p,
                                format!(
                                    "fieldsMatch {other:?} is not one of exact, equal, subset, \
                                     superset, partial"
                                ),
                            ));
                        }
                    }
                }
                "x-rules" => {
                    for (i, r) in self.array(v, &p)?.iter().enumerate() {
                        let rule = self.rule(&schema, r, &p.index(i))?;
                        schema.rules.push(rule);
                    }
                }
                "x-aggregate" => schema.aggregate = self.boolean(v, &p)?,
                _ if key.starts_with("x-") => {}
                // The standard lets a descriptor carry other properties: loaded, ignored,
                // and listed.
                _ => unknown.push(p.to_string()),
            }
        }
        // The standard makes primary-key fields required.
        for &f in &schema.primary_key {
            let c = &mut schema.fields[f].constraints;
            if c.required.is_none() {
                c.required = Some(Check {
                    value: true,
                    severity: Severity::Error,
                });
            }
        }
        schema.unknown = unknown;
        self.check_aliases(&schema)?;
        Ok(schema)
    }

    /// Two fields answering to the same header would make matching ambiguous: refuse at load.
    pub(crate) fn check_aliases(&self, schema: &TableSchema) -> Result<()> {
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (i, f) in schema.fields.iter().enumerate() {
            for name in std::iter::once(&f.name).chain(&f.aliases) {
                let norm = crate::normalise_header(name);
                if let Some((_, j)) = seen.iter().find(|(n, j)| *n == norm && *j != i) {
                    return Err(self.invalid(
                        &JsonPath::root().key("fields").index(i),
                        format!(
                            "header {name:?} would match both {:?} and {:?}",
                            schema.fields[*j].name, f.name
                        ),
                    ));
                }
                seen.push((norm, i));
            }
        }
        Ok(())
    }

    fn field(&self, v: &Value, path: &JsonPath, unknown: &mut Vec<String>) -> Result<Field> {
        let obj = self.object(v, path)?;
        let name = match obj.get("name") {
            Some(n) => self.string(n, &path.key("name"))?,
            None => return Err(self.invalid(path, "a field needs a \"name\"")),
        };
        if name.trim().is_empty() {
            return Err(self.invalid(&path.key("name"), "a field name cannot be empty"));
        }
        let field_type = match obj.get("type") {
            None => FieldType::String,
            Some(t) => {
                let p = path.key("type");
                let s = self.string(t, &p)?;
                FieldType::parse(&s).ok_or_else(|| {
                    self.invalid(
                        &p,
                        format!(
                            "type {s:?} is not supported; use one of string, integer, number, \
                             boolean, date, datetime, year, yearmonth, any"
                        ),
                    )
                })?
            }
        };
        let mut field = Field::new(name, field_type);
        let mut default_severity = Severity::Error;
        let mut severity_overrides: Vec<(String, Severity, JsonPath)> = Vec::new();
        for (key, v) in obj {
            let p = path.key(key);
            match key.as_str() {
                "name" | "type" | "constraints" => {}
                "title" => field.title = Some(self.string(v, &p)?),
                "description" => field.description = Some(self.string(v, &p)?),
                "format" => {
                    let s = self.string(v, &p)?;
                    field.formats = self.formats(field_type, &s, &p)?;
                    if field_type == FieldType::String {
                        field.string_format = match s.as_str() {
                            "email" => Some(StringFormat::Email),
                            "uri" => Some(StringFormat::Uri),
                            "binary" => Some(StringFormat::Binary),
                            "uuid" => Some(StringFormat::Uuid),
                            _ => None,
                        };
                    }
                }
                "missingValues" => field.missing_values = Some(self.missing_values(v, &p)?),
                "trueValues" => field.true_values = self.strings(v, &p)?,
                "falseValues" => field.false_values = self.strings(v, &p)?,
                "decimalChar" => field.decimal_char = self.string(v, &p)?,
                "groupChar" => field.group_char = Some(self.string(v, &p)?),
                "bareNumber" => field.bare_number = self.boolean(v, &p)?,
                "categories" => {
                    let values = self.categories(v, &p)?;
                    let check = Check {
                        value: values,
                        severity: Severity::Error,
                    };
                    if field.constraints.enumeration.is_none() {
                        field.constraints.enumeration = Some(check);
                    }
                }
                "x-aliases" => field.aliases = self.strings(v, &p)?,
                "x-valueMap" => field.value_map = Some(self.value_map(v, &p)?),
                "x-pii" => field.pii = self.boolean(v, &p)?,
                "x-valueLabels" => field.value_labels = self.value_labels(v, &p)?,
                "x-severity" | "severity" => match v {
                    Value::String(_) => default_severity = self.severity(v, &p)?,
                    Value::Object(m) => {
                        for (c, s) in m {
                            severity_overrides.push((
                                c.clone(),
                                self.severity(s, &p.key(c))?,
                                p.key(c),
                            ));
                        }
                    }
                    _ => {
                        return Err(self.invalid(
                            &p,
                            "expected \"error\", \"warning\", or an object from constraint name to one of them",
                        ));
                    }
                },
                k if IGNORED_FIELD_KEYS.contains(&k) || k.starts_with("x-") => {}
                _ => unknown.push(p.to_string()),
            }
        }
        if let Some(c) = obj.get("constraints") {
            field.constraints = self.constraints(
                &field,
                c,
                &path.key("constraints"),
                default_severity,
                unknown,
            )?;
        }
        for (name, sev, p) in severity_overrides {
            let c = &mut field.constraints;
            let slot: Option<&mut Severity> = match name.as_str() {
                "required" => c.required.as_mut().map(|x| &mut x.severity),
                "unique" => c.unique.as_mut().map(|x| &mut x.severity),
                "minimum" => c.minimum.as_mut().map(|x| &mut x.severity),
                "maximum" => c.maximum.as_mut().map(|x| &mut x.severity),
                "exclusiveMinimum" => c.exclusive_minimum.as_mut().map(|x| &mut x.severity),
                "exclusiveMaximum" => c.exclusive_maximum.as_mut().map(|x| &mut x.severity),
                "minLength" => c.min_length.as_mut().map(|x| &mut x.severity),
                "maxLength" => c.max_length.as_mut().map(|x| &mut x.severity),
                "pattern" => c.pattern.as_mut().map(|x| &mut x.severity),
                "enum" | "categories" => c.enumeration.as_mut().map(|x| &mut x.severity),
                _ => None,
            };
            match slot {
                Some(s) => *s = sev,
                None => {
                    return Err(self.invalid(
                        &p,
                        format!("the field has no {name:?} constraint to set a severity on"),
                    ));
                }
            }
        }
        if field.field_type == FieldType::Boolean
            && let Some(both) = field
                .true_values
                .iter()
                .find(|t| field.false_values.contains(t))
        {
            return Err(self.invalid(
                path,
                format!("{both:?} is both a true value and a false value"),
            ));
        }
        Ok(field)
    }

    fn formats(&self, t: FieldType, s: &str, p: &JsonPath) -> Result<Vec<String>> {
        let s = s.strip_prefix("fmt:").unwrap_or(s);
        match t {
            FieldType::Date | FieldType::Datetime => match s {
                "default" | "" => Ok(crate::default_formats(t)),
                "any" if t == FieldType::Datetime => Ok(crate::ANY_DATETIME_FORMATS
                    .iter()
                    .chain(crate::ANY_DATE_FORMATS)
                    .map(|f| (*f).to_owned())
                    .collect()),
                "any" => Ok(crate::ANY_DATE_FORMATS
                    .iter()
                    .map(|f| (*f).to_owned())
                    .collect()),
                pattern => {
                    if !pattern.contains('%') {
                        return Err(self.invalid(
                            p,
                            format!("date format {pattern:?} has no % directive; write it like \"%d/%m/%Y\""),
                        ));
                    }
                    Ok(vec![pattern.to_owned()])
                }
            },
            // Other types' formats (email, uri, uuid…) are descriptive here.
            _ => Ok(Vec::new()),
        }
    }

    fn constraints(
        &self,
        field: &Field,
        v: &Value,
        path: &JsonPath,
        sev: Severity,
        unknown: &mut Vec<String>,
    ) -> Result<Constraints> {
        let obj = self.object(v, path)?;
        let mut c = Constraints::default();
        for (key, v) in obj {
            let p = path.key(key);
            // A constraint may be written {"value": 120, "severity": "warning"}.
            let (v, severity) = match v {
                Value::Object(m) if m.contains_key("value") => {
                    for k in m.keys() {
                        if k != "value" && k != "severity" {
                            return Err(self.invalid(
                                &p.key(k),
                                "a constraint object takes only \"value\" and \"severity\"",
                            ));
                        }
                    }
                    let s = match m.get("severity") {
                        Some(s) => self.severity(s, &p.key("severity"))?,
                        None => sev,
                    };
                    (&m["value"], s)
                }
                other => (other, sev),
            };
            match key.as_str() {
                "required" => {
                    c.required = Some(Check {
                        value: self.boolean(v, &p)?,
                        severity,
                    })
                }
                "unique" => {
                    c.unique = Some(Check {
                        value: self.boolean(v, &p)?,
                        severity,
                    })
                }
                "minimum" => {
                    c.minimum = Some(Check {
                        value: self.bound(field, v, &p)?,
                        severity,
                    })
                }
                "maximum" => {
                    c.maximum = Some(Check {
                        value: self.bound(field, v, &p)?,
                        severity,
                    })
                }
                "exclusiveMinimum" => {
                    c.exclusive_minimum = Some(Check {
                        value: self.bound(field, v, &p)?,
                        severity,
                    });
                }
                "exclusiveMaximum" => {
                    c.exclusive_maximum = Some(Check {
                        value: self.bound(field, v, &p)?,
                        severity,
                    });
                }
                "minLength" => {
                    c.min_length = Some(Check {
                        value: self.length(v, &p)?,
                        severity,
                    })
                }
                "maxLength" => {
                    c.max_length = Some(Check {
                        value: self.length(v, &p)?,
                        severity,
                    })
                }
                "pattern" => {
                    let source = self.string(v, &p)?;
                    let regex = Regex::new(&format!("^(?:{source})$")).map_err(|e| {
                        self.invalid(&p, format!("not a valid regular expression: {e}"))
                    })?;
                    c.pattern = Some(Check {
                        value: Pattern { source, regex },
                        severity,
                    });
                }
                "enum" => {
                    let values = self.array(v, &p)?;
                    if values.is_empty() {
                        return Err(self.invalid(&p, "an empty enum allows no value at all"));
                    }
                    let values = values
                        .iter()
                        .enumerate()
                        .map(|(i, x)| self.scalar_text(x, &p.index(i)))
                        .collect::<Result<Vec<_>>>()?;
                    c.enumeration = Some(Check {
                        value: values,
                        severity,
                    });
                }
                _ => unknown.push(p.to_string()),
            }
        }
        Ok(c)
    }

    fn bound(&self, field: &Field, v: &Value, p: &JsonPath) -> Result<Bound> {
        match (field.field_type, v) {
            (_, Value::Number(n)) => n
                .as_f64()
                .map(Bound::Number)
                .ok_or_else(|| self.invalid(p, "number out of range")),
            (
                FieldType::Date | FieldType::Datetime | FieldType::Yearmonth | FieldType::String,
                Value::String(s),
            ) => Ok(Bound::Text(s.clone())),
            (FieldType::Integer | FieldType::Number | FieldType::Year, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map(Bound::Number)
                .map_err(|_| self.invalid(p, format!("expected a number, found {s:?}"))),
            _ => Err(self.invalid(
                p,
                format!("expected a bound for a {} field", field.field_type.as_str()),
            )),
        }
    }

    fn length(&self, v: &Value, p: &JsonPath) -> Result<usize> {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.invalid(p, "expected a whole number of characters, 0 or more"))
    }

    fn categories(&self, v: &Value, p: &JsonPath) -> Result<Vec<String>> {
        let items = self.array(v, p)?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(m) => match m.get("value") {
                    Some(x) => self.scalar_text(x, &p.index(i).key("value")),
                    None => Err(self.invalid(&p.index(i), "a category object needs a \"value\"")),
                },
                other => self.scalar_text(other, &p.index(i)),
            })
            .collect()
    }

    fn value_map(&self, v: &Value, p: &JsonPath) -> Result<ValueMap> {
        let obj = self.object(v, p)?;
        // Either {"raw": "canonical", …} or {"map": {…}, "unmapped": "keep|error|null"}.
        let (map, unmapped) = match obj.get("map") {
            Some(Value::Object(m)) => {
                let unmapped = match obj.get("unmapped") {
                    None => Unmapped::Keep,
                    Some(u) => {
                        match self.string(u, &p.key("unmapped"))?.as_str() {
                            "keep" => Unmapped::Keep,
                            "error" => Unmapped::Error,
                            "null" => Unmapped::Null,
                            other => {
                                return Err(self.invalid(
                                &p.key("unmapped"),
                                format!("{other:?} is not a policy; use \"keep\", \"error\" or \"null\""),
                            ));
                            }
                        }
                    }
                };
                (m, unmapped)
            }
            _ => (obj, Unmapped::Keep),
        };
        let mut entries = Vec::with_capacity(map.len());
        for (raw, canonical) in map {
            let canonical = self.scalar_text(canonical, &p.key(raw))?;
            entries.push((raw.clone(), canonical));
        }
        Ok(ValueMap { entries, unmapped })
    }

    /// `{"value": {"he": "…", "en": "…"}, …}`: each value's label per language.
    fn value_labels(
        &self,
        v: &Value,
        p: &JsonPath,
    ) -> Result<std::collections::BTreeMap<String, crate::Text>> {
        let mut out = std::collections::BTreeMap::new();
        for (value, labels) in self.object(v, p)? {
            let at = p.key(value);
            let mut text = std::collections::BTreeMap::new();
            for (lang, label) in self.object(labels, &at)? {
                if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
                    return Err(self.invalid(
                        &at.key(lang),
                        format!("{lang:?} is not a language code (he, ar, en, …)"),
                    ));
                }
                text.insert(lang.clone(), self.string(label, &at.key(lang))?);
            }
            out.insert(value.clone(), crate::Text(text));
        }
        Ok(out)
    }

    fn rule(&self, schema: &TableSchema, v: &Value, p: &JsonPath) -> Result<Rule> {
        let (expr, severity, message) = match v {
            Value::String(s) => (s.clone(), Severity::Error, None),
            Value::Object(m) => {
                let expr = match m.get("rule").or_else(|| m.get("check")) {
                    Some(e) => self.string(e, &p.key("rule"))?,
                    None => {
                        return Err(self.invalid(
                            p,
                            "a rule object needs a \"rule\" such as \"end_date >= start_date\"",
                        ));
                    }
                };
                let severity = match m.get("severity") {
                    Some(s) => self.severity(s, &p.key("severity"))?,
                    None => Severity::Error,
                };
                let message = match m.get("message") {
                    Some(s) => Some(self.string(s, &p.key("message"))?),
                    None => None,
                };
                (expr, severity, message)
            }
            _ => {
                return Err(self.invalid(
                    p,
                    "expected a rule string or {\"rule\": …, \"severity\": …}",
                ));
            }
        };
        let (lhs, op, rhs) = split_comparison(&expr).ok_or_else(|| {
            self.invalid(p, format!("{expr:?} is not a comparison like \"end_date >= start_date\" (operators: = != < <= > >=)"))
        })?;
        let lhs = schema
            .field_index(lhs)
            .ok_or_else(|| self.invalid(p, format!("{lhs:?} is not a field of this schema")))?;
        let rhs = if let Some(lit) = unquote(rhs) {
            Operand::Literal(lit.to_owned())
        } else if rhs.parse::<f64>().is_ok() {
            Operand::Literal(rhs.to_owned())
        } else {
            Operand::Field(schema.field_index(rhs).ok_or_else(|| {
                self.invalid(
                    p,
                    format!("{rhs:?} is not a field of this schema (quote a constant: '{rhs}')"),
                )
            })?)
        };
        if let Operand::Field(r) = rhs {
            let (a, b) = (schema.fields[lhs].field_type, schema.fields[r].field_type);
            let numeric = |t: FieldType| matches!(t, FieldType::Integer | FieldType::Number);
            let dated = |t: FieldType| matches!(t, FieldType::Date | FieldType::Datetime);
            if a != b && !(numeric(a) && numeric(b)) && !(dated(a) && dated(b)) {
                return Err(self.invalid(
                    p,
                    format!(
                        "{expr:?} compares {} ({}) with {} ({}); a rule compares values of one kind",
                        schema.fields[lhs].name,
                        a.as_str(),
                        schema.fields[r].name,
                        b.as_str()
                    ),
                ));
            }
        }
        Ok(Rule {
            expr,
            lhs,
            op,
            rhs,
            severity,
            message,
        })
    }

    fn key_fields(&self, schema: &TableSchema, v: &Value, p: &JsonPath) -> Result<Vec<usize>> {
        let names = match v {
            Value::String(s) => vec![s.clone()],
            _ => self.strings(v, p)?,
        };
        names
            .iter()
            .map(|n| {
                schema
                    .field_index(n)
                    .ok_or_else(|| self.invalid(p, format!("{n:?} is not a field of this schema")))
            })
            .collect()
    }

    fn missing_values(&self, v: &Value, p: &JsonPath) -> Result<Vec<String>> {
        self.strings(v, p)
    }

    fn severity(&self, v: &Value, p: &JsonPath) -> Result<Severity> {
        match self.string(v, p)?.as_str() {
            "error" => Ok(Severity::Error),
            "warning" => Ok(Severity::Warning),
            other => Err(self.invalid(
                p,
                format!("severity {other:?} is neither \"error\" nor \"warning\""),
            )),
        }
    }

    fn object<'v>(&self, v: &'v Value, p: &JsonPath) -> Result<&'v Map<String, Value>> {
        v.as_object()
            .ok_or_else(|| self.invalid(p, format!("expected an object, found {}", kind(v))))
    }

    fn array<'v>(&self, v: &'v Value, p: &JsonPath) -> Result<&'v Vec<Value>> {
        v.as_array()
            .ok_or_else(|| self.invalid(p, format!("expected a list, found {}", kind(v))))
    }

    fn string(&self, v: &Value, p: &JsonPath) -> Result<String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.invalid(p, format!("expected text, found {}", kind(v))))
    }

    fn boolean(&self, v: &Value, p: &JsonPath) -> Result<bool> {
        v.as_bool()
            .ok_or_else(|| self.invalid(p, format!("expected true or false, found {}", kind(v))))
    }

    fn strings(&self, v: &Value, p: &JsonPath) -> Result<Vec<String>> {
        self.array(v, p)?
            .iter()
            .enumerate()
            .map(|(i, x)| self.string(x, &p.index(i)))
            .collect()
    }

    /// Strings as they are, numbers and booleans as their JSON text.
    fn scalar_text(&self, v: &Value, p: &JsonPath) -> Result<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self.invalid(
                p,
                format!("expected text or a number, found {}", kind(other)),
            )),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `a >= b` → (`a`, Ge, `b`); operators outside quotes only.
pub(crate) fn split_comparison(expr: &str) -> Option<(&str, CmpOp, &str)> {
    let bytes = expr.as_bytes();
    let mut quote: Option<u8> = None;
    for i in 0..bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        if b == b'\'' || b == b'"' {
            quote = Some(b);
            continue;
        }
        let two = bytes.get(i..i + 2);
        let (op, len) = match (b, two) {
            (_, Some(b">=")) => (CmpOp::Ge, 2),
            (_, Some(b"<=")) => (CmpOp::Le, 2),
            (_, Some(b"!=")) => (CmpOp::Ne, 2),
            (_, Some(b"<>")) => (CmpOp::Ne, 2),
            (_, Some(b"==")) => (CmpOp::Eq, 2),
            (b'=', _) => (CmpOp::Eq, 1),
            (b'>', _) => (CmpOp::Gt, 1),
            (b'<', _) => (CmpOp::Lt, 1),
            _ => continue,
        };
        let lhs = expr[..i].trim();
        let rhs = expr[i + len..].trim();
        if lhs.is_empty() || rhs.is_empty() {
            return None;
        }
        return Some((lhs, op, rhs));
    }
    None
}

fn unquote(s: &str) -> Option<&str> {
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|x| x.strip_suffix(q)) {
            return Some(inner);
        }
    }
    None
}
