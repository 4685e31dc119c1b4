//! Drift: what changed in a partner's file since its last accepted one. A renamed, added,
//! removed or reordered column, a new spelling of a value. A column renamed so plainly that
//! the draft's matching would take it with high confidence (same place, or a spelling of the
//! field's names) is read as before and said in the receipt, not rejected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use backbone_schema::{TableSchema, normalise_header};
use serde::{Deserialize, Serialize};

use crate::validation_report::{ErrorType, ValidationReport};
use crate::{IngestError, Options, draft, header};

/// A partner's header as last accepted, and what changed in it then.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KnownHeader {
    /// The submission it was read from.
    pub submission: String,
    /// The header as written.
    pub labels: Vec<String>,
    /// Schema field → the header it was read from.
    pub field_columns: BTreeMap<String, String>,
    /// What changed in that submission's header against the one before it.
    #[serde(default)]
    pub drift: Drift,
    /// Renamed columns taken since, by field: read under these names on every file until
    /// the profile has them (`profile draft --from-drift` proposes them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, Vec<String>>,
    /// The spellings no map knew in that submission: (field, value); a spelling is new when
    /// it is not among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spellings: Vec<(String, String)>,
}

impl KnownHeader {
    /// The header to keep after a file: its labels, and the renames taken so far.
    pub fn after(
        previous: Option<&KnownHeader>,
        submission: String,
        report: &ValidationReport,
        drift: Drift,
    ) -> KnownHeader {
        let mut aliases = previous.map(|p| p.aliases.clone()).unwrap_or_default();
        for r in drift.renamed.iter().filter(|r| r.taken) {
            let names = aliases.entry(r.field.clone()).or_default();
            if !names.contains(&r.to) {
                names.push(r.to.clone());
            }
        }
        KnownHeader {
            submission,
            labels: report.source.labels.clone(),
            field_columns: report.source.field_columns.clone(),
            drift,
            aliases,
            spellings: unknown_spellings(report),
        }
    }

    /// Whether there is anything for the data manager to look at: a change in the latest
    /// file, or names read that the profile does not have.
    pub fn needs_attention(&self) -> bool {
        !self.drift.is_empty() || !self.aliases.is_empty()
    }
}

/// The spellings of a report that no map knew (value-map errors, values outside a set).
fn unknown_spellings(report: &ValidationReport) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    for e in &report.errors {
        let unknown = e.kind == ErrorType::ValueMapError
            || (e.kind == ErrorType::ConstraintError && e.note.starts_with("constraint \"enum\""));
        if let (true, Some(f), Some(v)) = (unknown, &e.field_name, &e.cell) {
            seen.insert((f.clone(), v.clone()));
        }
    }
    seen.into_iter().collect()
}

/// A column read as before under its new name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Renamed {
    /// The schema field.
    pub field: String,
    /// The header it had.
    pub from: String,
    /// The header it has now.
    pub to: String,
    /// How sure the match is (0–1).
    pub confidence: f64,
    /// Read as the field (confident enough), or only noticed.
    pub taken: bool,
}

/// What changed in a file's header against the partner's last accepted one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Columns under a new name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<Renamed>,
    /// New headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    /// Headers no longer there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// The columns that stayed are in another order.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reordered: bool,
    /// Spellings of a field's values that no map knows: (field, value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_spellings: Vec<(String, String)>,
}

impl Drift {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.renamed.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && !self.reordered
            && self.new_spellings.is_empty()
    }

    /// The changes in English, one a line (the run summary, `backbone status`).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.renamed {
            out.push(if r.taken {
                format!(
                    "column {:?} is now {:?}: read as {} ({:.2})",
                    r.from, r.to, r.field, r.confidence
                )
            } else {
                format!(
                    "column {:?} is gone; {:?} may be it ({}, {:.2}): not taken",
                    r.from, r.to, r.field, r.confidence
                )
            });
        }
        for a in &self.added {
            out.push(format!("new column {a:?}"));
        }
        for r in &self.removed {
            out.push(format!("column {r:?} no longer sent"));
        }
        if self.reordered {
            out.push("columns in another order".to_owned());
        }
        for (f, v) in &self.new_spellings {
            out.push(format!("new spelling {v:?} in {f}"));
        }
        out
    }
}

/// A renamed column is taken at this confidence or above.
pub const TAKE_RENAME: f64 = 0.8;

/// The header of `path` as `read_file` would find it (plain layouts), compared with `known`.
/// Renamed columns taken with confidence become aliases of their field in `schema`, so that
/// the file is read as before. Sheets of other layouts are not compared (empty drift).
pub fn header_drift(
    path: &Path,
    file: &str,
    schema: &mut TableSchema,
    options: &Options,
    known: &KnownHeader,
) -> Result<Drift, IngestError> {
    let profile = options.profile.clone().unwrap_or_default();
    if !profile.layout.is_plain() || known.labels.is_empty() {
        return Ok(Drift::default());
    }
    // Renames taken before are the partner's names now: read as such, said no more.
    for (field, names) in &known.aliases {
        if let Some(f) = schema.field_index(field) {
            for n in names {
                if !schema.fields[f].aliases.contains(n) {
                    schema.fields[f].aliases.push(n.clone());
                }
            }
        }
    }
    let rows = draft::sample_texts(path, file, &profile, &options.limits)?;
    if rows.is_empty() {
        return Ok(Drift::default());
    }
    let idx = match profile.header_row {
        Some(h) => rows.iter().position(|(n, _)| *n == h as u64).unwrap_or(0),
        None => {
            let texts: Vec<Vec<String>> = rows.iter().map(|(_, t)| t.clone()).collect();
            header::find_header(&texts, schema).unwrap_or(0)
        }
    };
    let mut labels = rows[idx].1.clone();
    while labels.last().is_some_and(String::is_empty) {
        labels.pop();
    }
    let norm = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|l| !l.is_empty())
            .map(|l| normalise_header(l))
            .collect()
    };
    let (old, new) = (norm(&known.labels), norm(&labels));
    let (old_set, new_set): (BTreeSet<&String>, BTreeSet<&String>) =
        (old.iter().collect(), new.iter().collect());
    let mut drift = Drift {
        added: labels
            .iter()
            .filter(|l| !l.is_empty() && !old_set.contains(&normalise_header(l)))
            .cloned()
            .collect(),
        removed: known
            .labels
            .iter()
            .filter(|l| !l.is_empty() && !new_set.contains(&normalise_header(l)))
            .cloned()
            .collect(),
        ..Drift::default()
    };
    let kept_old: Vec<&String> = old.iter().filter(|l| new_set.contains(l)).collect();
    let kept_new: Vec<&String> = new.iter().filter(|l| old_set.contains(l)).collect();
    drift.reordered = kept_old != kept_new;

    // A field read last time from a header that is gone, and with no column now.
    let matched = header::match_header(labels.clone(), schema);
    // Where a column stands: its neighbours' headers (columns shift when one is added or
    // removed elsewhere; a renamed column keeps a neighbour).
    let neighbours = |v: &[String], l: &str| -> Option<(Option<String>, Option<String>)> {
        let i = v
            .iter()
            .position(|x| normalise_header(x) == normalise_header(l))?;
        let at = |j: Option<usize>| j.and_then(|j| v.get(j)).map(|x| normalise_header(x));
        Some((at(i.checked_sub(1)), at(Some(i + 1))))
    };
    let same_place =
        |old: &str, new: &str| match (neighbours(&known.labels, old), neighbours(&labels, new)) {
            (Some((ol, or)), Some((nl, nr))) => {
                (ol.is_some() && ol == nl) || (or.is_some() && or == nr)
            }
            _ => false,
        };
    for (field, old_label) in &known.field_columns {
        let Some(f) = schema.field_index(field) else {
            continue;
        };
        if matched.field_col[f].is_some() || !drift.removed.contains(old_label) {
            continue;
        }
        let mut best: Option<(f64, String)> = None;
        for candidate in &drift.added {
            let by_name = draft::label_confidence(candidate, &schema.fields[f]);
            let confidence = match (same_place(old_label, candidate), by_name) {
                (true, s) if s >= 0.5 => 0.95,
                (true, _) => TAKE_RENAME,
                (false, s) => s,
            };
            if confidence > 0.0 && best.as_ref().is_none_or(|(b, _)| confidence > *b) {
                best = Some((confidence, candidate.clone()));
            }
        }
        if let Some((confidence, to)) = best {
            let taken = confidence >= TAKE_RENAME;
            if taken {
                schema.fields[f].aliases.push(to.clone());
            }
            drift.renamed.push(Renamed {
                field: field.clone(),
                from: old_label.clone(),
                to,
                confidence,
                taken,
            });
        }
    }
    for r in drift.renamed.iter().filter(|r| r.taken) {
        drift.added.retain(|a| a != &r.to);
        drift.removed.retain(|a| a != &r.from);
    }
    Ok(drift)
}

/// Adds the report's unknown spellings (value-map errors, values outside a set) that the
/// partner's previous file did not have to `drift`.
pub fn add_spellings(drift: &mut Drift, report: &ValidationReport, known: &KnownHeader) {
    for s in unknown_spellings(report) {
        if !known.spellings.contains(&s) && !drift.new_spellings.contains(&s) {
            drift.new_spellings.push(s);
        }
    }
}

/// The profile lines that would make a drifted file read without help: aliases for renamed
/// columns, value-map entries for new spellings (their meaning guessed where a spelling is
/// close to a known one, asked for otherwise).
pub fn profile_change(known: &KnownHeader, schema: &TableSchema) -> String {
    let drift = &known.drift;
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (field, names) in &known.aliases {
        let Some(f) = schema.field_index(field) else {
            continue;
        };
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !schema.fields[f].aliases.contains(n))
            .map(|n| draft::quote(n))
            .collect();
        if !missing.is_empty() {
            fields.entry(field.clone()).or_default().push(format!(
                "aliases = [{}]   # the partner's name for it since a rename",
                missing.join(", ")
            ));
        }
    }
    for r in drift.renamed.iter().filter(|r| !r.taken) {
        fields.entry(r.field.clone()).or_default().push(format!(
            "# aliases = [{}]   # was {:?}; not taken ({:.2}): check it is the same column",
            draft::quote(&r.to),
            r.from,
            r.confidence
        ));
    }
    for (f, v) in &drift.new_spellings {
        let Some(i) = schema.field_index(f) else {
            continue;
        };
        let line = match draft::nearest_value(v, &schema.fields[i]) {
            Some(t) => format!(
                "value_map = {{ {} = {} }}   # a new spelling",
                draft::quote(v),
                draft::quote(&t)
            ),
            None => format!(
                "# value_map = {{ {} = \"?\" }}   # a new spelling: give the value it means",
                draft::quote(v)
            ),
        };
        fields.entry(f.clone()).or_default().push(line);
    }
    let mut out = String::new();
    for (f, lines) in fields {
        out.push_str(&format!("\n[fields.{f}]\n"));
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    if !drift.added.is_empty() {
        out.push_str(&format!(
            "\n# New columns, not read (add them to the schema if they matter): {}\n",
            drift
                .added
                .iter()
                .map(|a| draft::quote(a))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
