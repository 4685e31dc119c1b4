//! Chart functions on the edge cases a real initiative reaches: one period, everything
//! suppressed, values falling below zero, no target, very long Hebrew labels, nothing at all.

use backbone_report::{Bar, BarChart, Chart, Lang, TrendChart, png, svg};
use proptest::prelude::*;

fn words() -> [String; 5] {
    [
        "actual",
        "baseline",
        "target path",
        "forecast",
        "suppressed",
    ]
    .map(String::from)
}

fn trend(periods: &[&str], actual: Vec<Option<f64>>) -> TrendChart {
    TrendChart {
        title: "אנשים שקיבלו שירות".into(),
        alt: "Line chart of people reached by quarter.".into(),
        unit: String::new(),
        suppressed: actual.iter().map(Option::is_none).collect(),
        periods: periods.iter().map(|s| (*s).to_owned()).collect(),
        actual,
        baseline: None,
        target_path: Vec::new(),
        forecast: Vec::new(),
        words: words(),
        spark: false,
        breaks: Vec::new(),
    }
}

/// Draws both ways and checks what every chart must have.
fn both(chart: &Chart, lang: Lang) -> String {
    let s = svg(chart, lang).unwrap();
    assert!(s.starts_with("<svg"), "{s}");
    assert!(s.contains("role=\"img\""));
    assert!(s.contains("<title>") && s.contains("<desc>"));
    assert!(s.trim_end().ends_with("</svg>"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.png");
    png(chart, lang, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));
    s
}

#[test]
fn one_period() {
    let c = trend(&["2024-Q1"], vec![Some(12.0)]);
    let s = both(&Chart::Trend(Box::new(c)), Lang::He);
    assert!(s.contains("2024-Q1"));
    assert!(s.contains("#1F4E9A"), "the one value is drawn");
}

#[test]
fn everything_suppressed_draws_no_line_and_says_so() {
    let c = trend(&["2024-Q1", "2024-Q2", "2024-Q3"], vec![None, None, None]);
    let s = both(&Chart::Trend(Box::new(c)), Lang::En);
    assert_eq!(s.matches("(suppressed)").count(), 3, "{s}");
    // The actual series' colour appears nowhere: no line, no point, not even a legend entry.
    assert!(
        !s.contains("#1F4E9A"),
        "a line was drawn through suppressed values"
    );
    let bars = BarChart {
        title: "By region".into(),
        alt: "all suppressed".into(),
        unit: String::new(),
        bars: vec![
            Bar {
                label: "צפון".into(),
                value: None,
            },
            Bar {
                label: "דרום".into(),
                value: None,
            },
        ],
        suppressed_word: "suppressed".into(),
    };
    let s = both(&Chart::Bars(bars), Lang::He);
    assert_eq!(s.matches("(suppressed)").count(), 2);
    assert!(
        !s.contains("#1F4E9A"),
        "a bar was drawn for a suppressed value"
    );
}

#[test]
fn negative_values_and_a_falling_forecast() {
    let mut c = trend(
        &["2024-01", "2024-02", "2024-03", "2024-04"],
        vec![Some(5.0), Some(-3.0), Some(-8.5), None],
    );
    c.suppressed = vec![false; 4];
    c.forecast = vec![(2, -8.5), (3, -14.0)];
    let s = both(&Chart::Trend(Box::new(c)), Lang::En);
    assert!(
        s.contains("-14") || s.contains("-15") || s.contains("-10"),
        "the axis reaches below zero"
    );
}

#[test]
fn no_target_no_baseline() {
    let c = trend(&["2024-H1", "2024-H2"], vec![Some(1.0), Some(2.0)]);
    let s = both(&Chart::Trend(Box::new(c)), Lang::En);
    assert!(!s.contains("target path"));
    assert!(!s.contains(">baseline"));
}

#[test]
fn target_and_baseline_are_in_the_legend() {
    let mut c = trend(
        &["2024-Q1", "2024-Q2", "2025-Q4"],
        vec![Some(40.0), Some(50.0), None],
    );
    c.baseline = Some(40.0);
    c.target_path = vec![(0, 40.0), (2, 80.0)];
    let s = both(&Chart::Trend(Box::new(c)), Lang::En);
    assert!(s.contains("target path") && s.contains("baseline"));
}

#[test]
fn very_long_hebrew_labels_are_cut_in_the_chart() {
    let long =
        "מחלקת הרווחה והשירותים החברתיים של עיריית תל אביב–יפו, אגף נפגעות ונפגעי אלימות במשפחה";
    let bars = BarChart {
        title: "לפי שותף".into(),
        alt: "bars".into(),
        unit: "%".into(),
        bars: vec![
            Bar {
                label: long.into(),
                value: Some(61.5),
            },
            Bar {
                label: "קצר".into(),
                value: Some(12.0),
            },
        ],
        suppressed_word: "מוסתר".into(),
    };
    let s = both(&Chart::Bars(bars), Lang::He);
    assert!(s.contains('…'), "the long label was not shortened");
    assert!(s.contains("61.5%"));
}

#[test]
fn nothing_at_all() {
    let c = trend(&[], Vec::new());
    both(&Chart::Trend(Box::new(c)), Lang::He);
    let bars = BarChart::default();
    both(&Chart::Bars(bars), Lang::En);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any values, any gaps: a chart comes out, never a panic.
    #[test]
    fn any_series_draws(values in proptest::collection::vec(proptest::option::of(-1e6f64..1e6), 0..16)) {
        let periods: Vec<String> = (0..values.len()).map(|i| format!("2024-{:02}", i % 12 + 1)).collect();
        let refs: Vec<&str> = periods.iter().map(String::as_str).collect();
        let c = trend(&refs, values);
        let s = svg(&Chart::Trend(Box::new(c)), Lang::He).unwrap();
        prop_assert!(s.contains("<title>"));
    }
}
