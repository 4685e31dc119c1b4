//! What the documents show, worked out from the results tables and the declarations: the
//! values the templates print, already formatted, and the charts they embed.

use std::collections::{BTreeMap, BTreeSet};

use backbone_schema::{Direction, Grain, Indicator, Initiative, Kind};
use serde::Serialize;

use crate::chart::{Bar, BarChart, Chart, TrendChart, format_value};
use crate::{Lang, period};
use backbone_workspace::tables::{QualityRow, ResultsTables, ValueRow};

mod indicator;
mod partner;
mod revisions;

pub(crate) use partner::partner_pages;
#[cfg(test)]
use partner::{median, unusual_words};

/// Everything the report needs besides the results tables.
pub struct Inputs<'a> {
    /// The initiative (name, partners, threshold).
    pub initiative: &'a Initiative,
    /// The indicators, in the order they are declared.
    pub indicators: &'a [Indicator],
    /// The results tables.
    pub tables: &'a ResultsTables,
    /// Names of breakdown dimensions (`region` → "Region" / "אזור").
    pub dimension_names: &'a BTreeMap<String, backbone_schema::Text>,
    /// How a breakdown's stored values are shown (dimension → value → label per language:
    /// the fields' `x-valueLabels`).
    pub value_labels: &'a BTreeMap<String, BTreeMap<String, backbone_schema::Text>>,
    /// Each partner's last accepted header per table (partner → schema → header), with
    /// what changed in it: shown on the partner's page.
    pub headers: &'a BTreeMap<String, BTreeMap<String, backbone_ingest::KnownHeader>>,
    /// Published values changed since the last edition (empty before the first).
    pub revisions: &'a [backbone_workspace::tables::RevisionRow],
    /// Every edition's totals and this report's (empty before the first edition).
    pub triangle: &'a [backbone_workspace::tables::EditionValue],
}

/// A chart with the names it is embedded and saved under.
#[derive(Clone, Debug)]
pub(crate) struct Figure {
    /// File stem of its PNG (`people_reached-trend`).
    pub name: String,
    pub chart: Chart,
}

#[derive(Debug, Serialize)]
pub(crate) struct ScoreRow {
    pub id: String,
    pub label: String,
    pub period: String,
    pub value: String,
    pub suppressed: bool,
    pub change: String,
    /// `better`, `worse`, `same` or empty.
    pub change_kind: String,
    pub baseline: String,
    pub target: String,
    pub status: String,
    pub status_word: String,
    pub status_symbol: String,
    pub coverage: String,
    /// Index into the figures: the sparkline.
    pub spark: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct PeriodRow {
    pub period: String,
    pub value: String,
    pub suppressed: bool,
    pub coverage: String,
    pub target: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct BreakdownRow {
    pub label: String,
    pub value: String,
    pub suppressed: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct BreakdownSection {
    pub title: String,
    pub chart: String,
    pub rows: Vec<BreakdownRow>,
}

#[derive(Debug, Serialize)]
pub(crate) struct IndicatorSection {
    pub id: String,
    pub label: String,
    pub description: String,
    pub chart: String,
    pub alt: String,
    pub periods: Vec<PeriodRow>,
    pub breakdown_period: String,
    pub breakdowns: Vec<BreakdownSection>,
    pub coverage: String,
    /// A footnote per change of definition inside the series shown.
    pub breaks: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct GridCell {
    pub status: String,
    pub symbol: String,
    pub word: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct GridRow {
    pub partner: String,
    pub name: String,
    pub cells: Vec<GridCell>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Grid {
    pub schema: String,
    pub periods: Vec<String>,
    pub rows: Vec<GridRow>,
    pub counts: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub(crate) struct QualityLine {
    pub partner: String,
    pub name: String,
    pub submissions: usize,
    pub rejected: String,
    pub rejected_share: f64,
    pub main_errors: String,
    pub on_time: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Method {
    pub id: String,
    pub label: String,
    pub description: String,
    pub computed_as: String,
    pub grain: String,
    pub dimensions: String,
    pub direction: String,
    pub source: String,
    /// The definition in force for each stretch of periods shown, when it changed.
    pub definitions: Vec<String>,
}

/// The report's content.
#[derive(Debug, Serialize)]
pub(crate) struct Content {
    pub title: String,
    pub period: String,
    pub as_of: String,
    pub store_version: String,
    pub threshold: u64,
    pub any_suppressed: bool,
    pub scorecard: Vec<ScoreRow>,
    pub indicators: Vec<IndicatorSection>,
    pub grids: Vec<Grid>,
    pub quality: Vec<QualityLine>,
    pub methods: Vec<Method>,
    /// Revisions since the last edition (none before the first edition).
    pub revisions: Option<revisions::RevisionsSection>,
    /// The revisions triangle per indicator.
    pub triangles: Vec<revisions::TriangleTable>,
    #[serde(skip)]
    pub figures: Vec<Figure>,
}

fn totals<'a>(tables: &'a ResultsTables, id: &str) -> Vec<&'a ValueRow> {
    let mut rows: Vec<&ValueRow> = tables
        .values
        .iter()
        .filter(|r| r.indicator == id && r.breakdown.is_empty())
        .collect();
    rows.sort_by_key(|r| period::ordinal(&r.period).map_or(i64::MIN, |o| o.1));
    rows
}

/// A period label or other left-to-right token inside a sentence: isolated, so that a
/// right-to-left sentence does not turn `2024-Q3` into `Q3-2024`.
fn ltr(lang: Lang, s: &str) -> String {
    if lang.rtl() {
        format!("\u{2066}{s}\u{2069}")
    } else {
        s.to_owned()
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{}%", (v * 100.0).round() as i64))
}

pub(crate) fn status_symbol(status: &str) -> &'static str {
    match status {
        "on_track" => "✓",
        "at_risk" => "!",
        "off_track" => "✗",
        _ => "–",
    }
}

fn grain_of(ind: &Indicator) -> Grain {
    ind.grain
}

/// Least squares over the last (up to six) values; `None` with fewer than three.
fn trend(points: &[(i64, f64)]) -> Option<(f64, f64)> {
    let pts = &points[points.len().saturating_sub(6)..];
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0 as f64).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 as f64 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 as f64 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// The dimension and the value of a breakdown key (`region=צפון`).
fn split_breakdown(b: &str) -> (String, String) {
    if b.contains(';') {
        let dims: Vec<&str> = b
            .split(';')
            .filter_map(|p| p.split_once('=').map(|x| x.0))
            .collect();
        let vals: Vec<&str> = b
            .split(';')
            .filter_map(|p| p.split_once('=').map(|x| x.1))
            .collect();
        return (dims.join(" × "), vals.join(" × "));
    }
    match b.split_once('=') {
        Some((d, v)) => (d.to_owned(), v.to_owned()),
        None => (String::new(), b.to_owned()),
    }
}

/// Order of bars: bands in numeric order (`<18`, `18-29`, …, `65+`), anything else largest
/// first, suppressed last.
fn bar_order(a: &(String, Option<f64>), b: &(String, Option<f64>)) -> std::cmp::Ordering {
    let band = |s: &str| {
        if let Some(rest) = s.strip_prefix('<') {
            return rest.parse::<f64>().ok().map(|v| v - 0.5);
        }
        let digits: String = s
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        digits.parse::<f64>().ok()
    };
    match (band(&a.0), band(&b.0)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => match (a.1, b.1) {
            (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.0.cmp(&b.0)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.0.cmp(&b.0),
        },
    }
}

fn computed_as(ind: &Indicator, lang: Lang) -> String {
    let field = ind.field.as_deref().unwrap_or("");
    let filter = ind
        .filter
        .as_deref()
        .map_or_else(String::new, |f| format!(" WHERE {f}"));
    let measure = |m: &backbone_schema::Measure| {
        let f = m.field.as_deref().unwrap_or("*");
        let what = match m.kind {
            Kind::DistinctCount => format!("COUNT(DISTINCT {f})"),
            Kind::Sum => format!("SUM({f})"),
            Kind::Mean => format!("AVG({f})"),
            _ => "COUNT(*)".to_owned(),
        };
        match &m.filter {
            Some(flt) => format!("{what} WHERE {flt}"),
            None => what,
        }
    };
    let text = match ind.kind {
        Kind::Count => format!("COUNT(*){filter}"),
        Kind::DistinctCount => format!("COUNT(DISTINCT {field}){filter}"),
        Kind::Sum => format!("SUM({field}){filter}"),
        Kind::Mean => format!("AVG({field}){filter}"),
        Kind::Ratio => format!(
            "[{}] / [{}] × {}",
            ind.numerator.as_ref().map(measure).unwrap_or_default(),
            ind.denominator.as_ref().map(measure).unwrap_or_default(),
            ind.factor.unwrap_or(1.0)
        ),
        Kind::Rate => format!(
            "[{}] / {} × {}",
            ind.numerator.as_ref().map(measure).unwrap_or_default(),
            ind.population
                .as_ref()
                .map_or_else(String::new, |p| format!("{}.{}", p.schema, p.field)),
            ind.factor.unwrap_or(1.0)
        ),
        Kind::Derived => ind.formula.clone().unwrap_or_default(),
    };
    // Code reads left to right in either language.
    if lang.rtl() {
        format!("\u{2066}{text}\u{2069}")
    } else {
        text
    }
}

/// For an indicator whose definition changed: each stretch of periods shown with the
/// definition in force (`2024-Q1 – 2024-Q2: definition 1, COUNT(*) WHERE …`), and why it
/// changed. Empty when one definition covers everything shown.
fn definitions_shown(ind: &Indicator, tables: &ResultsTables, lang: Lang) -> Vec<String> {
    if ind.versions.is_empty() {
        return Vec::new();
    }
    let rows = totals(tables, &ind.id);
    let mut stretches: Vec<(String, String, u32)> = Vec::new();
    for r in rows {
        let n = r.definition.max(1);
        match stretches.last_mut() {
            Some(last) if last.2 == n => last.1 = r.period.clone(),
            _ => stretches.push((r.period.clone(), r.period.clone(), n)),
        }
    }
    stretches
        .into_iter()
        .map(|(from, to, n)| {
            let span = if from == to {
                ltr(lang, &from)
            } else {
                format!("{} – {}", ltr(lang, &from), ltr(lang, &to))
            };
            let reason = (n >= 2)
                .then(|| ind.versions.get(n as usize - 2))
                .flatten()
                .map(|v| v.reason.get(lang.code()).to_owned())
                .filter(|r| !r.is_empty())
                .map_or_else(String::new, |r| format!(" ({r})"));
            format!(
                "{span}: {} {n}, {}{reason}",
                lang.t("definition_n"),
                computed_as(&ind.definition(n), lang)
            )
        })
        .collect()
}

/// A breakdown value as readers see it: its `x-valueLabels` label in `lang`, else the stored
/// value.
pub(crate) fn category(inputs: &Inputs<'_>, lang: Lang, dim: &str, value: &str) -> String {
    inputs
        .value_labels
        .get(dim)
        .and_then(|m| m.get(value))
        .map(|t| t.get(lang.code()))
        .filter(|t| !t.is_empty())
        .map_or_else(|| value.to_owned(), str::to_owned)
}

/// A partner's name in the report's language (its id when the initiative does not know it).
fn partner_name(initiative: &Initiative, lang: Lang, id: &str) -> String {
    initiative
        .partner(id)
        .map_or_else(|| id.to_owned(), |p| p.name.get(lang.code()).to_owned())
}

impl Content {
    pub(crate) fn build(inputs: &Inputs<'_>, lang: Lang) -> Self {
        let t = |k: &str| lang.t(k).to_owned();
        let tables = inputs.tables;
        let initiative = inputs.initiative;
        let partner_name = |id: &str| partner_name(initiative, lang, id);
        let mut built = indicator::Built {
            any_suppressed: tables.values.iter().any(|r| r.suppressed),
            ..indicator::Built::default()
        };
        for ind in inputs.indicators {
            indicator::add_indicator(ind, inputs, lang, &mut built);
        }
        let indicator::Built {
            figures,
            scorecard,
            sections,
            any_suppressed,
        } = built;

        // Completeness grids, one per schema.
        let mut grids = Vec::new();
        let schemas: BTreeSet<&str> = tables.expected.iter().map(|e| e.schema.as_str()).collect();
        for schema in schemas {
            let rows: Vec<_> = tables
                .expected
                .iter()
                .filter(|e| e.schema == schema)
                .collect();
            let mut periods: Vec<String> = rows
                .iter()
                .map(|e| e.period.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            period::sort(&mut periods);
            let mut partners: Vec<String> = initiative
                .partners
                .iter()
                .map(|p| p.id.clone())
                .filter(|p| rows.iter().any(|e| &e.partner == p))
                .collect();
            for e in &rows {
                if !partners.contains(&e.partner) {
                    partners.push(e.partner.clone());
                }
            }
            let mut counts = BTreeMap::new();
            let grid_rows = partners
                .iter()
                .map(|p| GridRow {
                    partner: p.clone(),
                    name: partner_name(p),
                    cells: periods
                        .iter()
                        .map(|per| {
                            let status = rows
                                .iter()
                                .find(|e| &e.partner == p && &e.period == per)
                                .map_or("", |e| e.status.as_str());
                            *counts.entry(status.to_owned()).or_insert(0) += 1;
                            GridCell {
                                status: status.to_owned(),
                                symbol: match status {
                                    "on_time" => "✓",
                                    "late" => "◷",
                                    "missing" => "✗",
                                    _ => "·",
                                }
                                .to_owned(),
                                word: t(if status.is_empty() { "not_due" } else { status }),
                            }
                        })
                        .collect(),
                })
                .collect();
            grids.push(Grid {
                schema: schema.to_owned(),
                periods,
                rows: grid_rows,
                counts,
            });
        }

        // Quality by partner.
        let mut quality = Vec::new();
        for p in &initiative.partners {
            let subs: Vec<_> = tables
                .quality
                .iter()
                .filter(|q| q.partner == p.id)
                .collect();
            let owed: Vec<_> = tables
                .expected
                .iter()
                .filter(|e| e.partner == p.id && e.status != "not_due")
                .collect();
            let read: u64 = subs.iter().map(|q| q.rows_read).sum();
            let rejected: u64 = subs.iter().map(|q| q.rows_rejected).sum();
            let share = if read == 0 {
                0.0
            } else {
                rejected as f64 / read as f64
            };
            let on_time = owed.iter().filter(|e| e.status == "on_time").count();
            quality.push(QualityLine {
                partner: p.id.clone(),
                name: p.name.get(lang.code()).to_owned(),
                submissions: subs.len(),
                rejected: if read == 0 {
                    "—".into()
                } else {
                    format!("{:.1}%", share * 100.0)
                },
                rejected_share: share,
                main_errors: subs
                    .iter()
                    .rfind(|q| !q.main_errors.is_empty())
                    .map(|q| problems_in(lang, &q.main_errors))
                    .unwrap_or_default(),
                on_time: if owed.is_empty() {
                    "—".into()
                } else {
                    format!("{on_time}/{}", owed.len())
                },
            });
        }

        let methods = inputs
            .indicators
            .iter()
            .map(|ind| Method {
                id: ind.id.clone(),
                label: ind.label.get(lang.code()).to_owned(),
                description: ind.description.get(lang.code()).to_owned(),
                computed_as: computed_as(&ind.definition(ind.definitions()), lang),
                grain: t(match ind.grain {
                    Grain::Month => "month",
                    Grain::Quarter => "quarter",
                    Grain::HalfYear => "half_year",
                    Grain::Year => "year",
                }),
                dimensions: ind
                    .dimensions
                    .iter()
                    .map(|d| match d.as_str() {
                        "partner" => t("partner"),
                        _ => inputs
                            .dimension_names
                            .get(d)
                            .map_or_else(|| d.clone(), |n| n.get(lang.code()).to_owned()),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                direction: t(match ind.direction {
                    Direction::Up => "direction_up",
                    Direction::Down => "direction_down",
                }),
                source: ind.schema.clone(),
                definitions: definitions_shown(ind, tables, lang),
            })
            .collect();

        let received: Vec<&str> = tables
            .expected
            .iter()
            .filter(|e| !e.received.is_empty())
            .map(|e| e.received.get(..10).unwrap_or(&e.received))
            .collect();
        let as_of = received
            .iter()
            .max()
            .map(|s| (*s).to_owned())
            .unwrap_or_default();
        let mut reported: Vec<String> = tables
            .expected
            .iter()
            .filter(|e| matches!(e.status.as_str(), "on_time" | "late"))
            .map(|e| e.period.clone())
            .collect();
        period::sort(&mut reported);
        Self {
            title: initiative.name.get(lang.code()).to_owned(),
            period: reported.last().cloned().unwrap_or_default(),
            as_of,
            store_version: tables.store_version().to_owned(),
            threshold: initiative.threshold,
            any_suppressed,
            scorecard,
            indicators: sections,
            grids,
            quality,
            methods,
            revisions: revisions::section(inputs, lang),
            triangles: revisions::triangles(inputs, lang),
            figures,
        }
    }
}

/// The quality table's `type-error:6; constraint-error:2` (the results' machine-readable form)
/// in the report's words, most frequent first: `wrong kind of value; value not allowed`, in
/// Hebrew on the Hebrew report. The counts stay in `quality.csv`, with the data manager: with
/// the rejected share beside them they give a submission's rows, and rows by partner and month
/// would give suppressed cells away. A code this build does not know is shown as it is.
pub(crate) fn problems_in(lang: Lang, main_errors: &str) -> String {
    main_errors
        .split("; ")
        .filter(|item| !item.is_empty())
        .map(|item| {
            let code = without_count(item);
            match backbone_ingest::ErrorType::ALL
                .iter()
                .find(|k| k.code() == code)
            {
                Some(kind) => crate::i18n::error_title(code, lang, kind.title()),
                None => code.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The quality table's `type-error:6; constraint-error:2` without its counts, for the
/// committee's workbook (see [`problems_in`]).
pub(crate) fn problem_codes(main_errors: &str) -> String {
    main_errors
        .split("; ")
        .filter(|item| !item.is_empty())
        .map(without_count)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `constraint-error:25` → `constraint-error`; anything not ending in `:<digits>` as it is.
fn without_count(item: &str) -> &str {
    match item.rsplit_once(':') {
        Some((code, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => code,
        _ => item,
    }
}

#[cfg(test)]
mod tests;
