//! The report's revisions: each published value that changed since the last edition, in a
//! sentence naming the files that changed it, and the revisions triangle per indicator
//! (each period's total as it stood in each edition, and how far first publications moved).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Inputs, ltr, partner_name, split_breakdown};
use crate::chart::format_value;
use crate::{Lang, period};
use backbone_workspace::tables::{Cause, EditionValue, RevisionRow};

/// How many revision sentences the report prints (the rest are in `revisions.csv`).
const SHOWN: usize = 25;
/// How many editions the triangle shows as columns (the CSV has all).
const EDITIONS_SHOWN: usize = 8;

#[derive(Debug, Serialize)]
pub(crate) struct RevisionsSection {
    pub heading: String,
    pub lines: Vec<String>,
    /// "… and 12 more, in revisions.csv", or empty.
    pub more: String,
    /// "No published value changed", when nothing did.
    pub none: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct TriangleRow {
    pub period: String,
    pub cells: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TriangleTable {
    pub id: String,
    pub label: String,
    /// Column headings: `1 (2024-04-05)`, …, then "now".
    pub columns: Vec<String>,
    pub rows: Vec<TriangleRow>,
    /// The mean absolute revision from first publication to now, in words.
    pub mean_revision: String,
}

fn date_of(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

fn cause_words(inputs: &Inputs<'_>, lang: Lang, c: &Cause) -> String {
    let name = partner_name(inputs.initiative, lang, &c.partner);
    let file = ltr(lang, &c.file_name);
    let per = ltr(lang, &c.period);
    let day = ltr(lang, date_of(&c.received));
    let key = if c.corrected {
        "rev_cause_corrected"
    } else {
        "rev_cause_late"
    };
    lang.t(key)
        .replace("{name}", &name)
        .replace("{per}", &per)
        .replace("{file}", &file)
        .replace("{day}", &day)
}

/// One revision in a sentence: "Referrals, 2024-Q2: revised from 2,503 to 2,541 after the
/// Welfare department's corrected file for 2024-06 (…)".
fn sentence(inputs: &Inputs<'_>, lang: Lang, r: &RevisionRow) -> String {
    let t = |k: &str| lang.t(k);
    let ind = inputs.indicators.iter().find(|i| i.id == r.indicator);
    let label = ind.map_or_else(
        || r.indicator.clone(),
        |i| i.label.get(lang.code()).to_owned(),
    );
    let unit = ind.and_then(|i| i.unit.clone()).unwrap_or_default();
    let unit = if unit == "%" { unit } else { String::new() };
    let value = |v: f64| ltr(lang, &format_value(v, &unit));
    let mut what = format!("{label}, {}", ltr(lang, &r.period));
    if !r.breakdown.is_empty() {
        let (dim, v) = split_breakdown(&r.breakdown);
        let dim = match dim.as_str() {
            "partner" => t("partner").to_owned(),
            _ => inputs
                .dimension_names
                .get(&dim)
                .map(|n| n.get(lang.code()).to_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or(dim),
        };
        let v = if r.breakdown.starts_with("partner=") {
            partner_name(inputs.initiative, lang, &v)
        } else {
            super::category(inputs, lang, &split_breakdown(&r.breakdown).0, &v)
        };
        what = format!("{what} ({dim}: {v})");
    }
    let change = match (r.before, r.after) {
        (Some(b), Some(a)) => t("rev_from_to")
            .replace("{before}", &value(b))
            .replace("{after}", &value(a)),
        (None, Some(a)) => t("rev_now_shown").replace("{after}", &value(a)),
        (Some(b), None) if r.suppressed_after => {
            t("rev_now_suppressed").replace("{before}", &value(b))
        }
        (Some(b), None) => t("rev_gone").replace("{before}", &value(b)),
        (None, None) => String::new(),
    };
    let why = if r.causes.is_empty() {
        if r.declarations_changed {
            t("rev_after_declarations").to_owned()
        } else {
            t("rev_after_recompute").to_owned()
        }
    } else {
        let mut parts: Vec<String> = r
            .causes
            .iter()
            .take(3)
            .map(|c| cause_words(inputs, lang, c))
            .collect();
        if r.causes.len() > 3 {
            parts.push(t("rev_more_files").replace("{n}", &(r.causes.len() - 3).to_string()));
        }
        format!("{} {}", t("rev_after"), parts.join("; "))
    };
    format!("{what}: {change} {why}.")
}

pub(crate) fn section(inputs: &Inputs<'_>, lang: Lang) -> Option<RevisionsSection> {
    // Before the first edition there is nothing to revise.
    let edition = inputs
        .triangle
        .iter()
        .filter_map(|p| p.edition.map(|e| (e, p.published.clone())))
        .max()?;
    let heading = lang
        .t("rev_heading")
        .replace("{n}", &edition.0.to_string())
        .replace("{date}", &ltr(lang, &edition.1));
    // The totals in sentences; the breakdowns that moved with them counted (all are in
    // revisions.csv).
    let totals: Vec<&RevisionRow> = inputs
        .revisions
        .iter()
        .filter(|r| r.breakdown.is_empty())
        .collect();
    let lines: Vec<String> = totals
        .iter()
        .take(SHOWN)
        .map(|r| sentence(inputs, lang, r))
        .collect();
    let rest = inputs.revisions.len() - lines.len();
    let more = if rest > 0 {
        lang.t("rev_more").replace("{n}", &rest.to_string())
    } else {
        String::new()
    };
    Some(RevisionsSection {
        heading,
        none: inputs.revisions.is_empty(),
        lines,
        more,
    })
}

/// Per indicator, the periods published in any edition (rows) and the editions (columns),
/// with the current values last.
pub(crate) fn triangles(inputs: &Inputs<'_>, lang: Lang) -> Vec<TriangleTable> {
    if inputs.triangle.is_empty() {
        return Vec::new();
    }
    let all: BTreeSet<(u32, String)> = inputs
        .triangle
        .iter()
        .filter_map(|p| p.edition.map(|e| (e, p.published.clone())))
        .collect();
    let shown: Vec<(u32, String)> = all
        .iter()
        .skip(all.len().saturating_sub(EDITIONS_SHOWN))
        .cloned()
        .collect();
    let mut out = Vec::new();
    for ind in inputs.indicators {
        let points: Vec<&EditionValue> = inputs
            .triangle
            .iter()
            .filter(|p| p.indicator == ind.id)
            .collect();
        let mut periods: Vec<String> = points
            .iter()
            .filter(|p| p.edition.is_some())
            .map(|p| p.period.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if periods.is_empty() {
            continue;
        }
        period::sort(&mut periods);
        let unit = ind.unit.clone().unwrap_or_default();
        let unit = if unit == "%" { unit } else { String::new() };
        let at: BTreeMap<(Option<u32>, &str), &EditionValue> = points
            .iter()
            .map(|p| ((p.edition, p.period.as_str()), *p))
            .collect();
        let cell = |e: Option<u32>, per: &str| match at.get(&(e, per)) {
            None => String::new(),
            Some(p) if p.suppressed => lang.t("suppressed").to_owned(),
            Some(p) => p
                .value
                .map_or_else(|| "—".to_owned(), |v| format_value(v, &unit)),
        };
        let rows = periods
            .iter()
            .map(|per| TriangleRow {
                period: per.clone(),
                cells: shown
                    .iter()
                    .map(|(e, _)| cell(Some(*e), per))
                    .chain(std::iter::once(cell(None, per)))
                    .collect(),
            })
            .collect();
        // First published value of each period against its value now.
        let mut diffs = Vec::new();
        for per in &periods {
            let first = all.iter().find_map(|(e, _)| {
                at.get(&(Some(*e), per.as_str()))
                    .filter(|p| !p.suppressed)
                    .and_then(|p| p.value)
            });
            let now = at
                .get(&(None, per.as_str()))
                .filter(|p| !p.suppressed)
                .and_then(|p| p.value);
            if let (Some(f), Some(n)) = (first, now) {
                diffs.push((
                    (n - f).abs(),
                    if f == 0.0 {
                        None
                    } else {
                        Some((n - f).abs() / f.abs())
                    },
                ));
            }
        }
        let mean_revision = if diffs.is_empty() {
            lang.t("rev_mar_none").to_owned()
        } else {
            let n = diffs.len() as f64;
            let mar = diffs.iter().map(|d| d.0).sum::<f64>() / n;
            let rel: Vec<f64> = diffs.iter().filter_map(|d| d.1).collect();
            let rel = if rel.is_empty() {
                String::new()
            } else {
                format!(
                    " ({:.1}%)",
                    rel.iter().sum::<f64>() / rel.len() as f64 * 100.0
                )
            };
            lang.t("rev_mar")
                .replace(
                    "{mar}",
                    &ltr(lang, &format!("{}{rel}", format_value(mar, &unit))),
                )
                .replace("{n}", &diffs.len().to_string())
        };
        out.push(TriangleTable {
            id: ind.id.clone(),
            label: ind.label.get(lang.code()).to_owned(),
            columns: shown
                .iter()
                .map(|(e, d)| format!("{} {e} ({d})", lang.t("edition")))
                .chain(std::iter::once(lang.t("now").to_owned()))
                .collect(),
            rows,
            mean_revision,
        });
    }
    out
}
