//! One indicator's part of the report: its scorecard row, its trend (baseline, values,
//! target path, forecast) and its breakdowns of the latest period, with their charts.

use super::*;

/// What the indicators add to the report, one indicator at a time.
#[derive(Default)]
pub(super) struct Built {
    pub(super) figures: Vec<Figure>,
    pub(super) scorecard: Vec<ScoreRow>,
    pub(super) sections: Vec<IndicatorSection>,
    pub(super) any_suppressed: bool,
}

/// Adds one indicator's scorecard row, section and charts to `out`.
pub(super) fn add_indicator(ind: &Indicator, inputs: &Inputs<'_>, lang: Lang, out: &mut Built) {
    let t = |k: &str| lang.t(k).to_owned();
    let tables = inputs.tables;
    let partner_name = |id: &str| partner_name(inputs.initiative, lang, id);
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
    // Where the definition changed between consecutive values: the series breaks there, and
    // the trend is fitted to the values under the latest definition only.
    let mut breaks_at: Vec<(i64, String, u32)> = Vec::new();
    for w in rows.windows(2) {
        let (a, b) = (w[0].definition.max(1), w[1].definition.max(1));
        if let Some((_, o)) = period::ordinal(&w[1].period).filter(|_| a != b) {
            breaks_at.push((o, w[1].period.clone(), b));
        }
    }
    let latest_definition = latest.map_or(1, |l| l.definition.max(1));
    let points: Vec<(i64, f64)> = rows
        .iter()
        .filter(|r| r.definition.max(1) == latest_definition)
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
        breaks: breaks_at
            .iter()
            .filter(|(o, _, _)| *o >= first && *o <= last)
            .map(|(o, _, n)| (index(*o), format!("{} {n}", t("definition_n"))))
            .collect(),
    };
    let breaks_note: Vec<String> = breaks_at
        .iter()
        .map(|(_, period, n)| {
            let reason = ind
                .versions
                .get((*n as usize).saturating_sub(2))
                .map(|v| v.reason.get(lang.code()).to_owned())
                .unwrap_or_default();
            t("break_note")
                .replace("{period}", &ltr(lang, period))
                .replace("{n}", &n.to_string())
                .replace("{before}", &(n - 1).to_string())
                .replace("{reason}", &reason)
        })
        .collect();
    let spark = TrendChart {
        spark: true,
        forecast: Vec::new(),
        title: format!("{} — {}", label, t("trend")),
        ..trend_chart.clone()
    };
    let trend_name = format!("{}-trend", ind.id);
    let spark_name = format!("{}-spark", ind.id);
    out.figures.push(Figure {
        name: trend_name.clone(),
        chart: Chart::Trend(Box::new(trend_chart)),
    });
    out.figures.push(Figure {
        name: spark_name.clone(),
        chart: Chart::Trend(Box::new(spark)),
    });

    // Scorecard line.
    let (change, change_kind) = match (latest, previous) {
        // Not one series: the difference would be the definitions', not the world's.
        (Some(l), Some(p)) if l.definition.max(1) != p.definition.max(1) => (
            t("change_across_break").replace("{period}", &ltr(lang, &l.period)),
            String::new(),
        ),
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
    out.scorecard.push(ScoreRow {
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
        let mut by_dim: BTreeMap<String, Vec<(String, Option<f64>, bool)>> = BTreeMap::new();
        for r in tables
            .values
            .iter()
            .filter(|r| r.indicator == ind.id && r.period == l.period && !r.breakdown.is_empty())
        {
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
                    super::category(inputs, lang, &dim, v)
                }
            };
            let title = format!("{label} — {} {dim_name}, {}", t("by"), ltr(lang, &l.period));
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
            out.figures.push(Figure {
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
    out.any_suppressed |= rows.iter().any(|r| r.suppressed);
    out.sections.push(IndicatorSection {
        id: ind.id.clone(),
        breaks: breaks_note,
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
