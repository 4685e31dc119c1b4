#[test]
fn main_problems_are_words_in_the_reports_language() {
    let raw = "constraint-error:25; type-error:6; new-kind:2";
    // Without their counts: beside the rejected share they would give a submission's rows.
    assert_eq!(
        super::problems_in(crate::Lang::En, raw),
        "value not allowed; wrong kind of value; new-kind"
    );
    assert_eq!(
        super::problems_in(crate::Lang::He, raw),
        "ערך שאינו מותר; סוג ערך שגוי; new-kind"
    );
    assert_eq!(
        super::problem_codes(raw),
        "constraint-error; type-error; new-kind"
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
use backbone_workspace::tables::ExpectedRow;

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

/// A partner's data-quality page has a section per table it owes, each over that table's
/// own periods in time order, and nothing of a table it does not owe.
#[test]
fn a_partner_page_has_a_section_per_table_it_owes_in_time_order() {
    let initiative = Initiative::from_toml(
        r#"
name = { he = "י", en = "I" }
[[partner]]
id = "police"
name = { he = "משטרה", en = "Police" }
[[partner]]
id = "backbone"
name = { he = "שדרה", en = "Backbone" }
[[obligation]]
partners = ["police"]
schema = "service_records"
grain = "month"
from = "2024-01"
[[obligation]]
partners = ["police", "backbone"]
schema = "backbone_activity"
grain = "quarter"
from = "2024-Q1"
"#,
        "initiative.toml",
    )
    .unwrap();
    let expected = |partner: &str, schema: &str, period: &str| ExpectedRow {
        partner: partner.into(),
        schema: schema.into(),
        period: period.into(),
        status: "on_time".into(),
        ..ExpectedRow::default()
    };
    let tables = ResultsTables {
        values: Vec::new(),
        expected: vec![
            expected("police", "service_records", "2024-10"),
            expected("police", "service_records", "2024-02"),
            expected("police", "backbone_activity", "2025-Q1"),
            expected("police", "backbone_activity", "2024-Q3"),
            expected("backbone", "backbone_activity", "2024-Q3"),
        ],
        quality: Vec::new(),
    };
    let names = BTreeMap::new();
    let inputs = Inputs {
        initiative: &initiative,
        indicators: &[],
        tables: &tables,
        headers: &BTreeMap::new(),
        revisions: &[],
        triangle: &[],
        dimension_names: &names,
        value_labels: &BTreeMap::new(),
    };
    let pages = partner_pages(&inputs, crate::Lang::En);
    let police = pages.iter().find(|p| p.partner == "police").unwrap();
    let sections: Vec<(&str, Vec<&str>)> = police
        .sections
        .iter()
        .map(|s| {
            (
                s.schema.as_str(),
                s.rows.iter().map(|r| r.period.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        sections,
        [
            ("service_records", vec!["2024-02", "2024-10"]),
            ("backbone_activity", vec!["2024-Q3", "2025-Q1"]),
        ]
    );
    let backbone = pages.iter().find(|p| p.partner == "backbone").unwrap();
    assert_eq!(backbone.sections.len(), 1);
    assert_eq!(backbone.sections[0].rows.len(), 1);
}
