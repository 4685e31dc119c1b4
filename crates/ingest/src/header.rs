//! Finding the header row and matching its labels to the schema's fields.

use std::collections::HashMap;

use backbone_schema::{FieldsMatch, Severity, TableSchema, normalise_header};

use crate::validation_report::ErrorType;

/// A problem with the header, before any row is read.
#[derive(Debug)]
pub(crate) struct LabelIssue {
    pub(crate) kind: ErrorType,
    pub(crate) severity: Severity,
    /// 0-based column.
    pub(crate) col: Option<usize>,
    pub(crate) field: Option<usize>,
    pub(crate) message: String,
}

/// How the header's columns map onto the schema.
#[derive(Debug)]
pub(crate) struct HeaderMatch {
    /// The header as written, trimmed.
    pub(crate) labels: Vec<String>,
    /// Per schema field, its 0-based column.
    pub(crate) field_col: Vec<Option<usize>>,
    /// Columns up to the last labelled one: a value further right is an extra cell.
    pub(crate) width: usize,
    pub(crate) issues: Vec<LabelIssue>,
}

impl HeaderMatch {
    /// True when the file cannot be accepted as it is: a required column is missing, or a
    /// field has two columns.
    pub(crate) fn is_fatal(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }
}

fn lookup(schema: &TableSchema) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (i, f) in schema.fields.iter().enumerate() {
        for name in std::iter::once(&f.name).chain(&f.aliases) {
            m.entry(normalise_header(name)).or_insert(i);
        }
    }
    m
}

/// The index (into `rows`) of the header: the row that names the most distinct fields, the
/// first such on a tie; when no row names any field, the first row that is not blank.
pub(crate) fn find_header(rows: &[Vec<String>], schema: &TableSchema) -> Option<usize> {
    let names = lookup(schema);
    let mut best: Option<(usize, usize)> = None;
    for (i, row) in rows.iter().enumerate() {
        let mut seen = vec![false; schema.fields.len()];
        for cell in row {
            if let Some(&f) = names.get(&normalise_header(cell)) {
                seen[f] = true;
            }
        }
        let score = seen.iter().filter(|s| **s).count();
        if score > 0 && best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i).or_else(|| {
        rows.iter()
            .position(|r| r.iter().any(|c| !c.trim().is_empty()))
    })
}

/// Matches labels to fields as the schema's `fieldsMatch` says: by position (`exact`), by
/// name with the standard's tolerances (`equal`, `subset`, `superset`, `partial`), or, when
/// the schema declares none, backbone's own way ([`match_by_name`]).
pub(crate) fn match_header(labels: Vec<String>, schema: &TableSchema) -> HeaderMatch {
    match schema.fields_match {
        FieldsMatch::Exact => match_exact(labels, schema),
        FieldsMatch::ByName => {
            let mut m = match_by_name(labels, schema);
            wrong_file(&mut m, schema);
            m
        }
        mode => {
            let mut m = match_by_name(labels, schema);
            let extra_ok = matches!(mode, FieldsMatch::Subset | FieldsMatch::Partial);
            let missing_ok = matches!(mode, FieldsMatch::Superset | FieldsMatch::Partial);
            let matched = m.field_col.iter().any(Option::is_some);
            m.issues.retain_mut(|i| match i.kind {
                ErrorType::ExtraLabel if extra_ok => false,
                ErrorType::ExtraLabel => {
                    i.severity = Severity::Error;
                    true
                }
                ErrorType::MissingLabel => {
                    let required = i.field.is_some_and(|f| is_required(schema, f));
                    if missing_ok && !required {
                        false
                    } else {
                        i.severity = Severity::Error;
                        true
                    }
                }
                _ => true,
            });
            if mode == FieldsMatch::Partial && !matched {
                m.issues.push(LabelIssue {
                    kind: ErrorType::UnmatchedHeader,
                    severity: Severity::Error,
                    col: None,
                    field: None,
                    message: format!(
                        "the header names none of the fields of {:?} (fieldsMatch is \"partial\"): \
                         this is not a file of that table",
                        schema.name
                    ),
                });
            }
            m
        }
    }
}

fn is_required(schema: &TableSchema, f: usize) -> bool {
    schema.fields[f].constraints.is_required() || schema.primary_key.contains(&f)
}

/// How many of `schema`'s fields the header `labels` names (by name or alias).
pub(crate) fn fields_named(labels: &[String], schema: &TableSchema) -> usize {
    let names = lookup(schema);
    let mut seen = vec![false; schema.fields.len()];
    for l in labels {
        if let Some(&f) = names.get(&normalise_header(l)) {
            seen[f] = true;
        }
    }
    seen.iter().filter(|s| **s).count()
}

/// backbone's default refuses a file whose header is plainly another table's: it names no
/// field of the schema, or fewer than a third of them while most of its columns are not
/// fields. One clear error then replaces a list of missing and extra columns, and no row is
/// stored with every field empty.
fn wrong_file(m: &mut HeaderMatch, schema: &TableSchema) {
    let matched = m.field_col.iter().filter(|c| c.is_some()).count();
    let labelled = m.labels.iter().filter(|l| !l.trim().is_empty()).count();
    let extra = labelled.saturating_sub(matched);
    let too_few = matched * 3 < schema.fields.len() && extra > matched;
    if matched > 0 && !too_few {
        return;
    }
    m.issues
        .retain(|i| !matches!(i.kind, ErrorType::MissingLabel | ErrorType::ExtraLabel));
    let shown: Vec<String> = m
        .labels
        .iter()
        .filter(|l| !l.trim().is_empty())
        .take(5)
        .map(|l| format!("{:?}", l.trim()))
        .collect();
    m.issues.push(LabelIssue {
        kind: ErrorType::UnmatchedHeader,
        severity: Severity::Error,
        col: None,
        field: None,
        message: format!(
            "the header ({}{}) names {matched} of the {} fields of {:?}: this looks like another \
             table's file",
            shown.join(", "),
            if labelled > 5 { ", …" } else { "" },
            schema.fields.len(),
            schema.name
        ),
    });
}

/// `fieldsMatch: exact`: the header's labels are the fields' names, in the schema's order;
/// each column is read as the field at its position.
fn match_exact(labels: Vec<String>, schema: &TableSchema) -> HeaderMatch {
    let width = labels
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let mut field_col: Vec<Option<usize>> = vec![None; schema.fields.len()];
    let mut issues = Vec::new();
    for (col, label) in labels.iter().enumerate().take(width) {
        let letters = crate::cell::column_letters(col);
        let Some(field) = schema.fields.get(col) else {
            issues.push(LabelIssue {
                kind: ErrorType::ExtraLabel,
                severity: Severity::Error,
                col: Some(col),
                field: None,
                message: format!(
                    "column {letters} ({label:?}) is beyond the schema's {} fields \
                     (fieldsMatch is \"exact\")",
                    schema.fields.len()
                ),
            });
            continue;
        };
        field_col[col] = Some(col);
        if label.trim().is_empty() {
            issues.push(LabelIssue {
                kind: ErrorType::BlankLabel,
                severity: Severity::Error,
                col: Some(col),
                field: Some(col),
                message: format!(
                    "column {letters} has no header; it should say {:?}",
                    field.name
                ),
            });
        } else if label.trim() != field.name {
            issues.push(LabelIssue {
                kind: ErrorType::IncorrectLabel,
                severity: Severity::Error,
                col: Some(col),
                field: Some(col),
                message: format!(
                    "column {letters} says {label:?} where the schema has {:?} \
                     (fieldsMatch is \"exact\": the same names in the same order)",
                    field.name
                ),
            });
        }
    }
    for f in width..schema.fields.len() {
        issues.push(LabelIssue {
            kind: ErrorType::MissingLabel,
            severity: Severity::Error,
            col: None,
            field: Some(f),
            message: format!(
                "there is no column for field {:?} (fieldsMatch is \"exact\")",
                schema.fields[f].name
            ),
        });
    }
    HeaderMatch {
        labels,
        field_col,
        width,
        issues,
    }
}

/// Matches labels to fields by name or alias, after normalisation, in any order.
fn match_by_name(labels: Vec<String>, schema: &TableSchema) -> HeaderMatch {
    let names = lookup(schema);
    let mut field_col: Vec<Option<usize>> = vec![None; schema.fields.len()];
    let mut issues = Vec::new();
    let width = labels
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    for (col, label) in labels.iter().enumerate().take(width) {
        if label.trim().is_empty() {
            issues.push(LabelIssue {
                kind: ErrorType::BlankLabel,
                severity: Severity::Warning,
                col: Some(col),
                field: None,
                message: format!(
                    "column {} has no header; its values are not read",
                    crate::cell::column_letters(col)
                ),
            });
            continue;
        }
        match names.get(&normalise_header(label)) {
            Some(&f) => match field_col[f] {
                None => field_col[f] = Some(col),
                Some(first) => issues.push(LabelIssue {
                    kind: ErrorType::DuplicateLabel,
                    severity: Severity::Error,
                    col: Some(col),
                    field: Some(f),
                    message: format!(
                        "columns {:?} ({}) and {:?} ({}) both mean field {:?}; keep one of them",
                        labels[first],
                        crate::cell::column_letters(first),
                        label,
                        crate::cell::column_letters(col),
                        schema.fields[f].name
                    ),
                }),
            },
            None => issues.push(LabelIssue {
                kind: ErrorType::ExtraLabel,
                severity: Severity::Warning,
                col: Some(col),
                field: None,
                message: format!(
                    "column {label:?} is not part of the schema; its values are not read"
                ),
            }),
        }
    }
    for (f, col) in field_col.iter().enumerate() {
        if col.is_some() {
            continue;
        }
        let field = &schema.fields[f];
        let required = is_required(schema, f);
        let known = if field.aliases.is_empty() {
            String::new()
        } else {
            format!(
                " (also accepted: {})",
                field
                    .aliases
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        issues.push(LabelIssue {
            kind: ErrorType::MissingLabel,
            severity: if required {
                Severity::Error
            } else {
                Severity::Warning
            },
            col: None,
            field: Some(f),
            message: if required {
                format!(
                    "there is no column for the required field {:?}{known}",
                    field.name
                )
            } else {
                format!(
                    "there is no column for field {:?}{known}; it is left empty",
                    field.name
                )
            },
        });
    }
    HeaderMatch {
        labels,
        field_col,
        width,
        issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> TableSchema {
        TableSchema::from_json_str(
            r#"{"fields": [
                {"name": "record_id", "constraints": {"required": true}},
                {"name": "age", "type": "integer", "x-aliases": ["גיל"]},
                {"name": "gender", "x-aliases": ["מין"]}]}"#,
            "s.json",
        )
        .unwrap()
    }

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn skips_title_rows_and_banners() {
        let rows = vec![
            row(&["דו\"ח שירותים רבעון 1", "", ""]),
            row(&[]),
            row(&["פרטי מטופל", "", ""]),
            row(&["\u{feff}Record ID", "\u{200f}גיל", "מין\u{a0}"]),
            row(&["A1", "34", "נ"]),
        ];
        assert_eq!(find_header(&rows, &schema()), Some(3));
        let m = match_header(rows[3].clone(), &schema());
        assert_eq!(m.field_col, vec![Some(0), Some(1), Some(2)]);
        assert!(m.issues.is_empty());
    }

    #[test]
    fn reports_missing_extra_duplicate_and_blank_labels() {
        let m = match_header(row(&["age", "", "notes", "גיל"]), &schema());
        let kinds: Vec<_> = m.issues.iter().map(|i| (i.kind, i.severity)).collect();
        assert_eq!(
            kinds,
            vec![
                (ErrorType::BlankLabel, Severity::Warning),
                (ErrorType::ExtraLabel, Severity::Warning),
                (ErrorType::DuplicateLabel, Severity::Error),
                (ErrorType::MissingLabel, Severity::Error),
                (ErrorType::MissingLabel, Severity::Warning),
            ]
        );
        assert!(m.is_fatal());
        assert_eq!(m.width, 4);
    }
}
