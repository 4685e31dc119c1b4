//! The stage and the attacker on random initiatives: random service records (partners,
//! sizes near the threshold), indicators that share cells (a count and a ratio's denominator
//! over the same rows, a distinct count published by quarter and by half-year, a monthly count
//! inside the quarterly one), the true results computed here by hand, protected by the stage,
//! and attacked by [`audit`] as a committee member would from the published rows.

use std::collections::{BTreeMap, BTreeSet};

use backbone_disclosure::{Finding, audit, protect};
use backbone_schema::{Indicator, indicators_from_toml};
use backbone_workspace::Period;
use backbone_workspace::tables::ValueRow;
use proptest::prelude::*;

/// One service record.
#[derive(Clone, Debug)]
struct Record {
    month: u32,
    region: &'static str,
    service: &'static str,
    partner: &'static str,
    person: u32,
    contact: bool,
}

const INDICATORS: &str = r#"
[[indicator]]
id = "referrals"
label = { en = "Referrals" }
schema = "service_records"
kind = "count"
date_field = "referral_date"
grain = "quarter"
dimensions = ["service_type", "partner"]

[[indicator]]
id = "contact_within_week"
label = { en = "Contact within a week" }
schema = "service_records"
kind = "ratio"
factor = 100
date_field = "referral_date"
grain = "quarter"
dimensions = ["region", "service_type"]
numerator = { kind = "count", filter = "contact = true" }
denominator = { kind = "count" }

[[indicator]]
id = "referrals_by_month"
label = { en = "Referrals by month" }
schema = "service_records"
kind = "count"
date_field = "referral_date"
grain = "month"
dimensions = ["region"]

[[indicator]]
id = "people"
label = { en = "People" }
schema = "service_records"
kind = "distinct_count"
field = "person_id"
date_field = "referral_date"
grain = "quarter"
dimensions = ["region", "partner"]

[[indicator]]
id = "people_half"
label = { en = "People in the half-year" }
schema = "service_records"
kind = "distinct_count"
field = "person_id"
date_field = "referral_date"
grain = "half_year"
dimensions = ["region"]
"#;

fn indicators() -> Vec<Indicator> {
    indicators_from_toml(INDICATORS, "test.toml").unwrap()
}

fn field<'a>(r: &'a Record, dim: &str) -> &'a str {
    match dim {
        "region" => r.region,
        "service_type" => r.service,
        _ => r.partner,
    }
}

/// The value of one side over some records.
fn count(ind: &Indicator, side: &str, records: &[&Record]) -> f64 {
    match (ind.kind, side) {
        (backbone_schema::Kind::DistinctCount, _) => records
            .iter()
            .map(|r| r.person)
            .collect::<BTreeSet<_>>()
            .len() as f64,
        (_, "numerator") => records.iter().filter(|r| r.contact).count() as f64,
        _ => records.len() as f64,
    }
}

/// The true results, as the metrics crate computes them before suppression: a row per
/// period with records, for the total and each breakdown value present.
fn truth(indicators: &[Indicator], records: &[Record]) -> Vec<ValueRow> {
    let mut rows = Vec::new();
    for ind in indicators {
        let mut periods: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
        for r in records {
            let p = Period::of_month(ind.grain, 2024, r.month, 1).unwrap();
            periods.entry(p.label()).or_default().push(r);
        }
        for (period, recs) in periods {
            let mut parts: Vec<(String, Vec<&Record>)> = vec![(String::new(), recs.clone())];
            for dim in &ind.dimensions {
                let mut by: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
                for r in &recs {
                    by.entry(field(r, dim)).or_default().push(r);
                }
                parts.extend(by.into_iter().map(|(v, rs)| (format!("{dim}={v}"), rs)));
            }
            for (breakdown, rs) in parts {
                let row = match ind.kind {
                    backbone_schema::Kind::Ratio => {
                        let (n, d) = (count(ind, "numerator", &rs), count(ind, "denominator", &rs));
                        ValueRow {
                            value: (d > 0.0).then(|| n / d * 100.0),
                            numerator: Some(n),
                            denominator: Some(d),
                            ..ValueRow::default()
                        }
                    }
                    _ => {
                        let v = count(ind, "value", &rs);
                        ValueRow {
                            value: Some(v),
                            numerator: Some(v),
                            ..ValueRow::default()
                        }
                    }
                };
                rows.push(ValueRow {
                    indicator: ind.id.clone(),
                    period: period.clone(),
                    breakdown,
                    ..row
                });
            }
        }
    }
    rows
}

fn record() -> impl Strategy<Value = Record> {
    (
        1u32..=6,
        prop::sample::select(vec!["north", "south", "centre"]),
        prop::sample::select(vec!["legal", "shelter"]),
        prop::sample::select(vec!["police", "clinic", "hotline"]),
        0u32..40,
        any::<bool>(),
    )
        .prop_map(
            |(month, region, service, partner, person, contact)| Record {
                month,
                region,
                service,
                partner,
                person,
                contact,
            },
        )
}

/// Counts that a published row shows, with the threshold that applies.
fn shown_counts(rows: &[ValueRow]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| !r.suppressed) {
        for v in [r.numerator, r.denominator].into_iter().flatten() {
            out.push((format!("{} {} {}", r.indicator, r.period, r.breakdown), v));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn nothing_published_gives_a_hidden_count_away(
        records in prop::collection::vec(record(), 0..90),
        threshold in prop::sample::select(vec![3u64, 5, 10]),
        keep in prop::collection::vec(any::<bool>(), 5),
    ) {
        let all = indicators();
        // A random choice of the indicators (at least one).
        let chosen: Vec<Indicator> = all
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(i, _)| i.clone())
            .collect();
        let chosen = if chosen.is_empty() { all[..1].to_vec() } else { chosen };
        let refs: Vec<&Indicator> = chosen.iter().collect();
        let truth = truth(&chosen, &records);
        let mut published = truth.clone();
        protect(&refs, threshold, &mut published).unwrap();

        // The attacker, on the published rows, finds nothing.
        let findings = audit(&refs, threshold, &published).unwrap();
        prop_assert!(findings.is_empty(), "{}", findings.iter().map(Finding::to_string).collect::<Vec<_>>().join("\n"));
        // No published count is small.
        for (what, v) in shown_counts(&published) {
            prop_assert!(v == 0.0 || v >= threshold as f64, "{what}: {v} published");
        }
        // What is published is true: a row is either the true row or suppressed whole.
        for (t, p) in truth.iter().zip(&published) {
            if p.suppressed {
                prop_assert!(p.value.is_none() && p.numerator.is_none() && p.denominator.is_none());
            } else {
                prop_assert_eq!(t, p);
            }
        }
    }
}

/// The issue's case: the same referrals by service type in two indicators, each of which
/// alone would hide a different cell, and a monthly count inside the quarter.
#[test]
fn two_indicators_over_the_same_cells_hide_the_same_cells() {
    let all = indicators();
    let refs: Vec<&Indicator> = all.iter().take(2).collect();
    let mut records = Vec::new();
    let mut add = |n: usize, region, service, partner| {
        for i in 0..n {
            records.push(Record {
                month: 7,
                region,
                service,
                partner,
                person: i as u32,
                contact: true,
            });
        }
    };
    add(3, "north", "legal", "police");
    add(20, "south", "shelter", "clinic");
    add(9, "north", "shelter", "hotline");
    let truth = truth(&all[..2], &records);
    let mut published = truth.clone();
    protect(&refs, 5, &mut published).unwrap();
    assert!(audit(&refs, 5, &published).unwrap().is_empty());
    // service_type=legal (3) is hidden in both indicators, with the same complement.
    let hidden = |ind: &str| -> BTreeSet<String> {
        published
            .iter()
            .filter(|r| {
                r.indicator == ind && r.suppressed && r.breakdown.starts_with("service_type")
            })
            .map(|r| r.breakdown.clone())
            .collect()
    };
    assert!(hidden("referrals").contains("service_type=legal"));
    assert_eq!(hidden("referrals"), hidden("contact_within_week"));
}
