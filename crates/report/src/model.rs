//! What the documents show, worked out from the results tables and the declarations: the
//! values the templates print, already formatted, and the charts they embed.

use std::collections::{BTreeMap, BTreeSet};

use backbone_schema::{Direction, Grain, Indicator, Initiative, Kind};
use serde::Serialize;

use crate::chart::{Bar, BarChart, Chart, TrendChart, format_value};
use crate::tables::{QualityRow, ResultsTables, ValueRow};
use crate::{Lang, period};

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
    pub rows: u64,
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

fn grain_of(ind: &Indicator) -> char {
    match ind.grain {
        Grain::Month => 'M',
        Grain::Quarter => 'Q',
        Grain::HalfYear => 'H',
        Grain::Year => 'Y',
    }
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

impl Content {
    pub(crate) fn build(inputs: &Inputs<'_>, lang: Lang) -> Self {
        let t = |k: &str| lang.t(k).to_owned();
        let tables = inputs.tables;
        let initiative = inputs.initiative;
        let partner_name = |id: &str| {
            initiative
                .partner(id)
                .map_or_else(|| id.to_owned(), |p| p.name.get(lang.code()).to_owned())
        };
        let mut figures = Vec::new();
        let mut scorecard = Vec::new();
        let mut sections = Vec::new();
        let mut any_suppressed = tables.values.iter().any(|r| r.suppressed);
        for ind in inputs.indicators {
            let label = ind.label.get(lang.code()).to_owned();
            let unit = ind.unit.clone().unwrap_or_default();
            let unit = if unit == "%" { unit } else { String::new() };
            let rows = totals(tables, &ind.id);
            let g = grain_of(ind);
            let latest = rows.last().copied();
            let previous = latest.and_then(|l| {
                let o = period::ordinal(&l.period)?.1;
                rows.iter()
                    .find(|r| period::ordinal(&r.period).map(|x| x.1) == Some(o - 1))
                    .copied()
            });
            let fmt = |v: Option<f64>, suppressed: bool| match (v, suppressed) {
                (_, true) => t("suppressed"),
                (Some(v), _) => format_value(v, &unit),
                (None, _) => t("no_data"),
            };
            // The time axis: baseline, data and targets, and two periods of forecast.
            let mut ords: BTreeSet<i64> = rows
                .iter()
                .filter_map(|r| period::ordinal(&r.period).map(|o| o.1))
                .collect();
            let baseline = ind.baseline.as_ref();
            let base_ord = baseline
                .and_then(|b| period::ordinal(&b.period))
                .map(|o| o.1);
            let target_pts: Vec<(i64, f64)> = ind
                .targets
                .iter()
                .filter(|t| t.breakdown.is_none())
                .filter_map(|t| period::ordinal(&t.period).map(|o| (o.1, t.value)))
                .collect();
            let points: Vec<(i64, f64)> = rows
                .iter()
                .filter_map(|r| Some((period::ordinal(&r.period)?.1, r.value?)))
                .collect();
            let fit = trend(&points);
            let last_ord = points.last().map(|p| p.0);
            let horizon = last_ord.map(|l| {
                let to_target = target_pts.iter().map(|p| p.0).max().unwrap_or(l);
                to_target.max(l + 2).min(l + 24)
            });
            if let Some(b) = base_ord {
                ords.insert(b);
            }
            for p in &target_pts {
                if horizon.is_none_or(|h| p.0 <= h) {
                    ords.insert(p.0);
                }
            }
            if let (Some(_), Some(h)) = (fit, horizon) {
                ords.insert(h);
            }
            let (first, last) = (
                ords.first().copied().unwrap_or(0),
                ords.last().copied().unwrap_or(0),
            );
            let axis: Vec<i64> = (first..=last).collect();
            let index = |o: i64| (o - first) as usize;
            let mut actual = vec![None; axis.len()];
            let mut suppressed = vec![false; axis.len()];
            for r in &rows {
                if let Some((_, o)) = period::ordinal(&r.period) {
                    actual[index(o)] = r.value;
                    suppressed[index(o)] = r.suppressed;
                }
            }
            let mut target_path = Vec::new();
            if let (Some(b), Some(bo)) = (baseline, base_ord) {
                target_path.push((index(bo), b.value));
            }
            for p in &target_pts {
                if p.0 <= last {
                    target_path.push((index(p.0), p.1));
                }
            }
            let forecast = match (fit, last_ord, horizon, points.last()) {
                (Some((slope, icept)), Some(l), Some(h), Some(lp)) if h > l => {
                    let mut f = vec![(index(l), lp.1)];
                    f.push((index(h), slope * h as f64 + icept));
                    f
                }
                _ => Vec::new(),
            };
            let words = [
                t("actual"),
                t("baseline"),
                t("target_path"),
                t("forecast"),
                t("suppressed"),
            ];
            let periods: Vec<String> = axis.iter().map(|o| period::label(g, *o)).collect();
            let mut alt = format!("{} {}: ", t("chart_trend_alt"), label);
            alt.push_str(
                &rows
                    .iter()
                    .map(|r| format!("{} {}", ltr(lang, &r.period), fmt(r.value, r.suppressed)))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            if let Some(b) = baseline {
                alt.push_str(&format!(
                    ". {} {} ({})",
                    t("baseline"),
                    format_value(b.value, &unit),
                    ltr(lang, &b.period)
                ));
            }
            for p in ind.targets.iter().filter(|x| x.breakdown.is_none()) {
                alt.push_str(&format!(
                    ". {} {} ({})",
                    t("target"),
                    format_value(p.value, &unit),
                    ltr(lang, &p.period)
                ));
            }
            if let (Some((slope, icept)), Some(h)) = (fit, horizon) {
                alt.push_str(&format!(
                    ". {} {} ({})",
                    t("forecast"),
                    format_value(slope * h as f64 + icept, &unit),
                    ltr(lang, &period::label(g, h))
                ));
            }
            alt.push('.');
            let trend_chart = TrendChart {
                title: label.clone(),
                alt: alt.clone(),
                unit: unit.clone(),
                periods,
                actual,
                suppressed,
                baseline: baseline.map(|b| b.value),
                target_path,
                forecast,
                words,
                spark: false,
            };
            let spark = TrendChart {
                spark: true,
                forecast: Vec::new(),
                title: format!("{} — {}", label, t("trend")),
                ..trend_chart.clone()
            };
            let trend_name = format!("{}-trend", ind.id);
            let spark_name = format!("{}-spark", ind.id);
            figures.push(Figure {
                name: trend_name.clone(),
                chart: Chart::Trend(Box::new(trend_chart)),
            });
            figures.push(Figure {
                name: spark_name.clone(),
                chart: Chart::Trend(Box::new(spark)),
            });

            // Scorecard line.
            let (change, change_kind) = match (latest, previous) {
                (Some(l), Some(p)) => match (l.value, p.value) {
                    (Some(a), Some(b)) => {
                        let d = a - b;
                        let better = match ind.direction {
                            Direction::Up => d > 0.0,
                            Direction::Down => d < 0.0,
                        };
                        let kind = if d.abs() < 1e-9 {
                            "same"
                        } else if better {
                            "better"
                        } else {
                            "worse"
                        };
                        let sign = if d > 0.0 { "+" } else { "" };
                        (
                            format!(
                                "{sign}{} {} {}",
                                format_value(d, &unit),
                                t("since"),
                                ltr(lang, &p.period)
                            ),
                            kind.to_owned(),
                        )
                    }
                    _ => ("—".to_owned(), String::new()),
                },
                (Some(_), None) => (t("first_period"), String::new()),
                _ => (String::new(), String::new()),
            };
            let final_target = ind.targets.iter().rfind(|x| x.breakdown.is_none());
            let status = latest.map(|l| l.status.clone()).unwrap_or_default();
            let status_word = match status.as_str() {
                "on_track" | "at_risk" | "off_track" => t(&status),
                _ if latest.is_none_or(|l| l.value.is_none()) => t("no_data"),
                _ => t("no_target"),
            };
            scorecard.push(ScoreRow {
                id: ind.id.clone(),
                label: label.clone(),
                period: latest.map(|l| l.period.clone()).unwrap_or_default(),
                value: latest.map_or_else(|| t("no_data"), |l| fmt(l.value, l.suppressed)),
                suppressed: latest.is_some_and(|l| l.suppressed),
                change,
                change_kind,
                baseline: baseline.map_or_else(String::new, |b| {
                    format!(
                        "{} ({})",
                        format_value(b.value, &unit),
                        ltr(lang, &b.period)
                    )
                }),
                target: final_target.map_or_else(String::new, |p| {
                    format!(
                        "{} ({})",
                        format_value(p.value, &unit),
                        ltr(lang, &p.period)
                    )
                }),
                status_symbol: status_symbol(&status).to_owned(),
                status,
                status_word,
                coverage: pct(latest.and_then(|l| l.coverage)),
                spark: spark_name,
            });

            // Breakdowns of the latest period.
            let mut breakdowns = Vec::new();
            if let Some(l) = latest {
                let mut by_dim: BTreeMap<String, Vec<(String, Option<f64>, bool)>> =
                    BTreeMap::new();
                for r in tables.values.iter().filter(|r| {
                    r.indicator == ind.id && r.period == l.period && !r.breakdown.is_empty()
                }) {
                    let (d, v) = split_breakdown(&r.breakdown);
                    by_dim
                        .entry(d)
                        .or_default()
                        .push((v, r.value, r.suppressed));
                }
                let order: Vec<String> = ind
                    .dimensions
                    .iter()
                    .filter(|d| by_dim.contains_key(*d))
                    .cloned()
                    .chain(
                        by_dim
                            .keys()
                            .filter(|k| !ind.dimensions.contains(k))
                            .cloned(),
                    )
                    .collect();
                for dim in order {
                    let Some(mut cells) = by_dim.remove(&dim) else {
                        continue;
                    };
                    cells.sort_by(|a, b| bar_order(&(a.0.clone(), a.1), &(b.0.clone(), b.1)));
                    let dim_name = match dim.as_str() {
                        "partner" => t("partner"),
                        _ => inputs
                            .dimension_names
                            .get(&dim)
                            .map_or_else(|| dim.clone(), |n| n.get(lang.code()).to_owned()),
                    };
                    let shown = |v: &str| {
                        if dim == "partner" {
                            partner_name(v)
                        } else {
                            v.to_owned()
                        }
                    };
                    let title =
                        format!("{label} — {} {dim_name}, {}", t("by"), ltr(lang, &l.period));
                    let rows: Vec<BreakdownRow> = cells
                        .iter()
                        .map(|(v, value, s)| BreakdownRow {
                            label: shown(v),
                            value: fmt(*value, *s),
                            suppressed: *s,
                        })
                        .collect();
                    let alt = format!(
                        "{} {}: {}.",
                        t("chart_bars_alt"),
                        title,
                        rows.iter()
                            .map(|r| format!("{} {}", r.label, r.value))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    let name = format!("{}-by-{}", ind.id, dim.replace([' ', '×'], ""));
                    figures.push(Figure {
                        name: name.clone(),
                        chart: Chart::Bars(BarChart {
                            title: title.clone(),
                            alt,
                            unit: unit.clone(),
                            bars: cells
                                .iter()
                                .map(|(v, value, s)| Bar {
                                    label: shown(v),
                                    value: if *s { None } else { *value },
                                })
                                .collect(),
                            suppressed_word: t("suppressed"),
                        }),
                    });
                    breakdowns.push(BreakdownSection {
                        title,
                        chart: name,
                        rows,
                    });
                }
            }
            any_suppressed |= rows.iter().any(|r| r.suppressed);
            sections.push(IndicatorSection {
                id: ind.id.clone(),
                label,
                description: ind.description.get(lang.code()).to_owned(),
                chart: trend_name,
                alt,
                periods: rows
                    .iter()
                    .map(|r| PeriodRow {
                        period: r.period.clone(),
                        value: fmt(r.value, r.suppressed),
                        suppressed: r.suppressed,
                        coverage: pct(r.coverage),
                        target: r
                            .target
                            .map_or_else(String::new, |v| format_value(v, &unit)),
                    })
                    .collect(),
                breakdown_period: latest.map(|l| l.period.clone()).unwrap_or_default(),
                breakdowns,
                coverage: pct(latest.and_then(|l| l.coverage)),
            });
        }

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
                rows: read,
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
                computed_as: computed_as(ind, lang),
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
            figures,
        }
    }
}

/// One partner's data-quality page: its rejected share and timeliness per period, beside the
/// median of all partners (no other partner is named).
#[derive(Debug, Serialize)]
pub(crate) struct PartnerPage {
    pub partner: String,
    pub name: String,
    pub title: String,
    pub rows: Vec<PartnerPeriod>,
    pub chart: String,
    #[serde(skip)]
    pub figure: Figure,
}

#[derive(Debug, Serialize)]
pub(crate) struct PartnerPeriod {
    pub period: String,
    pub rejected: String,
    pub median: String,
    pub timeliness: String,
    pub timeliness_word: String,
    pub partners_on_time: String,
    /// Rows and numeric fields far outside the partner's own other periods, in words.
    pub unusual: String,
}

/// A quality row's departures from the partner's own history, in words: its row count
/// (`volume`) and each numeric field's mean (`unusual`: `field=mean [lowest, highest]`).
fn unusual_words(q: &QualityRow, lang: Lang) -> Vec<String> {
    let mut out = Vec::new();
    match q.volume.as_str() {
        "high" => out.push(lang.t("volume_high").to_owned()),
        "low" => out.push(lang.t("volume_low").to_owned()),
        _ => {}
    }
    for item in q.unusual.split("; ").filter(|i| !i.is_empty()) {
        let parsed = item.split_once('=').and_then(|(field, rest)| {
            let (mean, range) = rest.split_once(" [")?;
            let (low, high) = range.strip_suffix(']')?.split_once(", ")?;
            Some((field, mean, low, high))
        });
        // Three significant figures or so: the point is the order of magnitude.
        let round = |v: &str| match v.parse::<f64>() {
            Ok(x) if x.abs() >= 100.0 => format!("{x:.0}"),
            Ok(x) if x.abs() >= 10.0 => format!("{x:.1}"),
            Ok(x) => format!("{x:.2}"),
            Err(_) => v.to_owned(),
        };
        out.push(match parsed {
            Some((field, mean, low, high)) => format!(
                "{}: {} {} ({} {})",
                ltr(lang, field),
                lang.t("mean"),
                ltr(lang, &round(mean)),
                lang.t("usually"),
                // The range as one left-to-right unit: low, then high, in either language.
                ltr(lang, &format!("{}–{}", round(low), round(high)))
            ),
            None => item.to_owned(),
        });
    }
    out
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

pub(crate) fn partner_pages(inputs: &Inputs<'_>, lang: Lang) -> Vec<PartnerPage> {
    let t = |k: &str| lang.t(k).to_owned();
    // Partners' submissions only: reference tables (population, loaded by the data team)
    // have no timeliness and are nobody's error rate.
    let is_partner = |id: &str| inputs.initiative.partner(id).is_some();
    let filtered = ResultsTables {
        values: Vec::new(),
        expected: inputs
            .tables
            .expected
            .iter()
            .filter(|e| is_partner(&e.partner))
            .cloned()
            .collect(),
        quality: inputs
            .tables
            .quality
            .iter()
            .filter(|q| is_partner(&q.partner))
            .cloned()
            .collect(),
    };
    let tables = &filtered;
    let mut periods: Vec<String> = tables
        .expected
        .iter()
        .map(|e| e.period.clone())
        .chain(tables.quality.iter().map(|q| q.period.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    period::sort(&mut periods);
    let mut out = Vec::new();
    for p in &inputs.initiative.partners {
        let name = p.name.get(lang.code()).to_owned();
        let mut rows = Vec::new();
        let (mut mine, mut med) = (Vec::new(), Vec::new());
        for per in &periods {
            let share = tables
                .quality
                .iter()
                .find(|q| q.partner == p.id && &q.period == per)
                .map(|q| q.rejected_share);
            let all: Vec<f64> = tables
                .quality
                .iter()
                .filter(|q| &q.period == per)
                .map(|q| q.rejected_share)
                .collect();
            let m = median(all);
            let status = tables
                .expected
                .iter()
                .find(|e| e.partner == p.id && &e.period == per)
                .map(|e| e.status.clone())
                .unwrap_or_default();
            let owed: Vec<_> = tables
                .expected
                .iter()
                .filter(|e| &e.period == per && e.status != "not_due")
                .collect();
            let on_time = owed.iter().filter(|e| e.status == "on_time").count();
            let unusual: Vec<String> = tables
                .quality
                .iter()
                .filter(|q| q.partner == p.id && &q.period == per)
                .flat_map(|q| {
                    let words = unusual_words(q, lang);
                    let several = tables
                        .quality
                        .iter()
                        .any(|o| o.partner == p.id && o.schema != q.schema);
                    words.into_iter().map(move |w| {
                        if several {
                            format!("{}: {w}", q.schema)
                        } else {
                            w
                        }
                    })
                })
                .collect();
            mine.push(share.map(|s| s * 100.0));
            med.push(m.map(|s| s * 100.0));
            rows.push(PartnerPeriod {
                period: per.clone(),
                rejected: share.map_or_else(|| "—".into(), |s| format!("{:.1}%", s * 100.0)),
                median: m.map_or_else(|| "—".into(), |s| format!("{:.1}%", s * 100.0)),
                timeliness_word: if status.is_empty() {
                    String::new()
                } else {
                    t(&status)
                },
                timeliness: status,
                partners_on_time: if owed.is_empty() {
                    "—".into()
                } else {
                    format!("{on_time}/{}", owed.len())
                },
                unusual: unusual.join("; "),
            });
        }
        let title = format!("{} — {name}", t("error_rate_over_time"));
        let alt = format!(
            "{} {title}: {}.",
            t("chart_trend_alt"),
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {} ({} {})",
                        ltr(lang, &r.period),
                        r.rejected,
                        t("median"),
                        r.median
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        // The median drawn as the "baseline"-style comparison line per period.
        let chart = TrendChart {
            title: title.clone(),
            alt,
            unit: "%".into(),
            periods: periods.clone(),
            actual: mine,
            suppressed: vec![false; periods.len()],
            baseline: None,
            target_path: med
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i, v)))
                .collect(),
            forecast: Vec::new(),
            words: [
                t("this_partner"),
                t("baseline"),
                t("median"),
                t("forecast"),
                t("suppressed"),
            ],
            spark: false,
        };
        let chart_name = format!("partner-{}-rejected", p.id);
        out.push(PartnerPage {
            partner: p.id.clone(),
            name,
            title,
            rows,
            chart: chart_name.clone(),
            figure: Figure {
                name: chart_name,
                chart: Chart::Trend(Box::new(chart)),
            },
        });
    }
    out
}

/// The quality table's `type-error:6; constraint-error:2` (the results' machine-readable form)
/// in the report's words: `wrong kind of value ×6; value not allowed ×2`, in Hebrew on the
/// Hebrew report. A code this build does not know is shown as it is.
pub(crate) fn problems_in(lang: Lang, main_errors: &str) -> String {
    main_errors
        .split("; ")
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (code, n) = item.rsplit_once(':').unwrap_or((item, ""));
            match backbone_ingest::ErrorType::ALL
                .iter()
                .find(|k| k.code() == code)
            {
                Some(kind) => {
                    let title = crate::i18n::error_title(code, lang, kind.title());
                    if n.is_empty() {
                        title
                    } else {
                        format!("{title} ×{n}")
                    }
                }
                None => item.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {

    #[test]
    fn main_problems_are_words_in_the_reports_language() {
        let raw = "constraint-error:25; type-error:6; new-kind:2";
        assert_eq!(
            super::problems_in(crate::Lang::En, raw),
            "value not allowed ×25; wrong kind of value ×6; new-kind:2"
        );
        assert_eq!(
            super::problems_in(crate::Lang::He, raw),
            "ערך שאינו מותר ×25; סוג ערך שגוי ×6; new-kind:2"
        );
        assert_eq!(super::problems_in(crate::Lang::He, ""), "");
    }

    #[test]
    fn departures_from_a_partners_history_in_words() {
        let q = QualityRow {
            partner: "clinic".into(),
            schema: "service_records".into(),
            period: "2024-09".into(),
            submission: "s".into(),
            file: "f.csv".into(),
            received: String::new(),
            rows_read: 56,
            rows_accepted: 53,
            rows_rejected: 3,
            rejected_share: 0.05,
            main_errors: String::new(),
            timeliness: "on_time".into(),
            volume: "high".into(),
            unusual: "minutes=1.494 [83.956, 99.885]; age=120 [30, 41.5]".into(),
        };
        assert_eq!(
            unusual_words(&q, Lang::En),
            [
                "rows: more than twice the usual",
                "minutes: mean 1.49 (usually 84.0–99.9)",
                "age: mean 120 (usually 30.0–41.5)",
            ]
        );
        // Hebrew: the field and the range each one left-to-right unit.
        assert_eq!(
            unusual_words(&q, Lang::He)[1],
            "\u{2066}minutes\u{2069}: ממוצע \u{2066}1.49\u{2069} (בדרך כלל \u{2066}84.0–99.9\u{2069})"
        );
        // Nothing unusual: nothing said.
        let quiet = QualityRow {
            volume: String::new(),
            unusual: String::new(),
            ..q
        };
        assert!(unusual_words(&quiet, Lang::En).is_empty());
    }
    use super::*;

    #[test]
    fn trend_needs_three_points_and_fits_a_line() {
        assert_eq!(trend(&[(1, 1.0), (2, 2.0)]), None);
        let (slope, icept) = trend(&[(0, 1.0), (1, 3.0), (2, 5.0)]).unwrap_or_default();
        assert!((slope - 2.0).abs() < 1e-9 && (icept - 1.0).abs() < 1e-9);
    }

    #[test]
    fn bands_sort_numerically_and_others_by_value() {
        let mut v = [
            ("65+".to_owned(), Some(1.0)),
            ("<18".to_owned(), Some(5.0)),
            ("18-29".to_owned(), Some(2.0)),
        ];
        v.sort_by(bar_order);
        assert_eq!(
            v.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["<18", "18-29", "65+"]
        );
        let mut v = [
            ("צפון".to_owned(), None),
            ("דרום".to_owned(), Some(3.0)),
            ("מרכז".to_owned(), Some(9.0)),
        ];
        v.sort_by(bar_order);
        assert_eq!(
            v.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["מרכז", "דרום", "צפון"]
        );
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
