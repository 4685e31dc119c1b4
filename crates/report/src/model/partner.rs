//! Each partner's data-quality page: per table it owes, its rejected share and timeliness
//! per period beside the median of the partners who send the same table (no other partner is
//! named).

use super::*;

/// One partner's data-quality page: its rejected share and timeliness per period, beside the
/// median of all partners (no other partner is named).
#[derive(Debug, Serialize)]
pub(crate) struct PartnerPage {
    pub partner: String,
    pub name: String,
    /// One section per table the partner owes, each over that table's own periods.
    pub sections: Vec<PartnerSection>,
}

/// A partner's record for one table: its periods in time order, and the chart of its
/// rejected share against the median of the partners who send the same table.
#[derive(Debug, Serialize)]
pub(crate) struct PartnerSection {
    /// The table (schema name).
    pub schema: String,
    pub title: String,
    pub rows: Vec<PartnerPeriod>,
    /// What changed in the partner's latest file for this table, and the renamed columns
    /// read under their new names until the profile has them, in the page's language.
    pub changes: Vec<String>,
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
pub(super) fn unusual_words(q: &QualityRow, lang: Lang) -> Vec<String> {
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

pub(super) fn median(mut v: Vec<f64>) -> Option<f64> {
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
    let mut out = Vec::new();
    for p in &inputs.initiative.partners {
        let name = p.name.get(lang.code()).to_owned();
        let owed = inputs.initiative.schemas_of(&p.id);
        let several = owed.len() > 1;
        let sections = owed
            .iter()
            .map(|(schema, _)| {
                let mut section = partner_section(tables, &p.id, &name, schema, several, lang);
                if let Some(h) = inputs.headers.get(&p.id).and_then(|m| m.get(*schema)) {
                    section.changes = header_changes(h, lang);
                }
                section
            })
            .collect();
        out.push(PartnerPage {
            partner: p.id.clone(),
            name,
            sections,
        });
    }
    out
}

/// A partner's header changes in words: the latest file's drift, and the names read since
/// a rename that the profile does not carry yet.
fn header_changes(h: &backbone_ingest::KnownHeader, lang: Lang) -> Vec<String> {
    let mut out = crate::receipt::drift_sentences(&h.drift, &h.field_columns, lang);
    for (field, names) in &h.aliases {
        for n in names {
            out.push(
                lang.t("renamed_pending")
                    .replace("{x}", n)
                    .replace("{field}", field),
            );
        }
    }
    out
}

/// One partner's section for one table: every period the partner owes it or sent it for, in
/// time order, compared with the partners who send the same table for the same period.
pub(super) fn partner_section(
    tables: &ResultsTables,
    partner: &str,
    name: &str,
    schema: &str,
    several: bool,
    lang: Lang,
) -> PartnerSection {
    let t = |k: &str| lang.t(k).to_owned();
    let expected: Vec<_> = tables
        .expected
        .iter()
        .filter(|e| e.schema == schema)
        .collect();
    let quality: Vec<_> = tables
        .quality
        .iter()
        .filter(|q| q.schema == schema)
        .collect();
    let mut periods: Vec<String> = expected
        .iter()
        .filter(|e| e.partner == partner)
        .map(|e| e.period.clone())
        .chain(
            quality
                .iter()
                .filter(|q| q.partner == partner)
                .map(|q| q.period.clone()),
        )
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    period::sort(&mut periods);
    let mut rows = Vec::new();
    let (mut mine, mut med) = (Vec::new(), Vec::new());
    for per in &periods {
        let share = quality
            .iter()
            .find(|q| q.partner == partner && &q.period == per)
            .map(|q| q.rejected_share);
        let m = median(
            quality
                .iter()
                .filter(|q| &q.period == per)
                .map(|q| q.rejected_share)
                .collect(),
        );
        let status = expected
            .iter()
            .find(|e| e.partner == partner && &e.period == per)
            .map(|e| e.status.clone())
            .unwrap_or_default();
        let owed: Vec<_> = expected
            .iter()
            .filter(|e| &e.period == per && e.status != "not_due")
            .collect();
        let on_time = owed.iter().filter(|e| e.status == "on_time").count();
        let unusual: Vec<String> = quality
            .iter()
            .filter(|q| q.partner == partner && &q.period == per)
            .flat_map(|q| unusual_words(q, lang))
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
    let title = if several {
        format!(
            "{} — {name} — {}",
            t("error_rate_over_time"),
            ltr(lang, schema)
        )
    } else {
        format!("{} — {name}", t("error_rate_over_time"))
    };
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
        breaks: Vec::new(),
    };
    let chart_name = if several {
        format!("partner-{partner}-{schema}-rejected")
    } else {
        format!("partner-{partner}-rejected")
    };
    PartnerSection {
        schema: schema.to_owned(),
        title,
        rows,
        changes: Vec::new(),
        chart: chart_name.clone(),
        figure: Figure {
            name: chart_name,
            chart: Chart::Trend(Box::new(chart)),
        },
    }
}
