//! The committee report rendered from a small, hand-made results folder: snapshots of the
//! Markdown and of the HTML's text and structure, and what must hold in every language.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use backbone_report::{Inputs, Lang, Report, ResultsTables, render};
use backbone_schema::{Indicator, Initiative, Text, indicators_from_toml};

fn fixtures() -> PathBuf {
    backbone_testkit::crate_dir().join("tests/fixtures")
}

struct Decl {
    initiative: Initiative,
    indicators: Vec<Indicator>,
    tables: ResultsTables,
    names: BTreeMap<String, Text>,
    labels: BTreeMap<String, BTreeMap<String, Text>>,
}

fn decl() -> Decl {
    let f = fixtures();
    let initiative = Initiative::from_toml(
        &std::fs::read_to_string(f.join("initiative.toml")).unwrap(),
        "initiative.toml",
    )
    .unwrap();
    let indicators = indicators_from_toml(
        &std::fs::read_to_string(f.join("indicators.toml")).unwrap(),
        "indicators.toml",
    )
    .unwrap();
    let tables = ResultsTables::load(&f.join("results")).unwrap();
    let mut names = BTreeMap::new();
    // The regions are stored as the partners wrote them (Hebrew); readers of the other
    // languages see the field's `x-valueLabels`.
    let mut regions = BTreeMap::new();
    for (code, en, ar) in [
        ("צפון", "North", "الشمال"),
        ("דרום", "South", "الجنوب"),
        ("חיפה", "Haifa", "حيفا"),
    ] {
        regions.insert(
            code.to_owned(),
            Text::of(&[("he", code), ("en", en), ("ar", ar)]),
        );
    }
    let labels = BTreeMap::from([("region".to_owned(), regions)]);
    names.insert(
        "region".to_owned(),
        Text::of(&[("he", "אזור"), ("en", "Region"), ("ar", "المنطقة")]),
    );
    Decl {
        initiative,
        indicators,
        tables,
        names,
        labels,
    }
}

fn render_to(d: &Decl, lang: Lang, out: &Path) -> backbone_report::Rendered {
    let report = Report {
        inputs: Inputs {
            initiative: &d.initiative,
            indicators: &d.indicators,
            tables: &d.tables,
            headers: &std::collections::BTreeMap::new(),
            revisions: &[],
            triangle: &[],
            dimension_names: &d.names,
            value_labels: &d.labels,
        },
        lang,
        generated: "2025-01-08T22:00:00Z".into(),
    };
    render(&report, out).unwrap()
}

/// The HTML without its stylesheet and its SVG drawings (their geometry is plotters'
/// business; their titles and descriptions are kept).
fn structure(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after.find("</svg>").map_or(after.len(), |e| e + 6);
        let svg = &after[..end];
        let grab = |tag: &str| {
            let open = format!("<{tag}>");
            let close = format!("</{tag}>");
            svg.find(&open)
                .and_then(|s| {
                    svg[s + open.len()..]
                        .find(&close)
                        .map(|e| &svg[s + open.len()..s + open.len() + e])
                })
                .unwrap_or("")
                .to_owned()
        };
        out.push_str(&format!(
            "<svg title=\"{}\" desc=\"{}\"/>",
            grab("title"),
            grab("desc")
        ));
        rest = &after[end..];
    }
    out.push_str(rest);
    let (a, b) = out.split_once("<style>").unwrap();
    let (_, c) = b.split_once("</style>").unwrap();
    format!("{a}<style/>{c}")
}

#[test]
fn hebrew_report_snapshots() {
    let d = decl();
    let dir = tempfile::tempdir().unwrap();
    let r = render_to(&d, Lang::He, dir.path());
    let html = std::fs::read_to_string(&r.html).unwrap();
    insta::assert_snapshot!("report_he_html", structure(&html));
    insta::assert_snapshot!(
        "report_he_md",
        std::fs::read_to_string(&r.markdown).unwrap()
    );
}

#[test]
fn english_report_snapshots() {
    let d = decl();
    let dir = tempfile::tempdir().unwrap();
    let r = render_to(&d, Lang::En, dir.path());
    let html = std::fs::read_to_string(&r.html).unwrap();
    insta::assert_snapshot!("report_en_html", structure(&html));
    insta::assert_snapshot!(
        "report_en_md",
        std::fs::read_to_string(&r.markdown).unwrap()
    );
}

#[test]
fn the_report_says_what_a_committee_needs() {
    let d = decl();
    let dir = tempfile::tempdir().unwrap();
    let r = render_to(&d, Lang::En, dir.path());
    let html = std::fs::read_to_string(&r.html).unwrap();
    // Cover line: initiative, period, data as of, store version.
    assert!(html.contains("<h1>Test partnership</h1>"));
    assert!(html.contains("population@1;service_records@14"));
    assert!(
        html.contains("Data as of <b class=\"ltr\">2024-12-08</b>"),
        "{html}"
    );
    // Latest value and its change against the period before, in words and not colour alone.
    assert!(html.contains(">58<"), "latest people reached");
    assert!(html.contains("-3 since 2024-Q3 (worse)"), "negative change");
    assert!(html.contains("<span aria-hidden=\"true\">!</span> At risk"));
    // Suppressed values are shown as suppressed with a footnote, never as a number or zero.
    assert!(html.contains("suppressed<sup>†</sup>"));
    assert!(html.contains("counts below the threshold of 10"));
    // Neutralised text came back as written, and is escaped in the HTML.
    assert!(
        html.contains("=HYPERLINK(&quot;http:&#x2f;&#x2f;x&quot;)"),
        "{html}"
    );
    assert!(!html.contains("<script"));
    // The completeness grid has every partner, including the one who never reports.
    assert!(html.contains("Silent partner"));
    assert_eq!(html.matches("title=\"missing\"").count(), 11);
    // Each partner's quality page exists and names no other partner.
    let page = std::fs::read_to_string(dir.path().join("partners/clinic.html")).unwrap();
    assert!(page.contains("Clinic"));
    assert!(
        !page.contains("Shelter"),
        "a partner's page names another partner"
    );
    assert!(page.contains("Median of all partners"));
    // Charts: a PNG per chart (no sparklines), each a real PNG.
    assert!(r.pngs.len() >= 6, "{:?}", r.pngs);
    for p in &r.pngs {
        let bytes = std::fs::read(p).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", p.display());
        assert!(bytes.len() > 2_000, "{} looks empty", p.display());
    }
    // No network: no external URL in any src or href.
    for attr in ["src=\"http", "href=\"http", "url(http", "src=\"//"] {
        assert!(!html.contains(attr), "{attr}");
    }
}

#[test]
fn every_chart_has_a_title_and_a_text_alternative() {
    let d = decl();
    let dir = tempfile::tempdir().unwrap();
    for lang in [Lang::He, Lang::En] {
        let r = render_to(&d, lang, dir.path());
        let html = std::fs::read_to_string(&r.html).unwrap();
        let svgs = html.matches("<svg").count();
        assert!(svgs >= 6, "{svgs}");
        assert_eq!(html.matches("role=\"img\"").count(), svgs);
        for piece in html.split("<svg").skip(1) {
            let title = piece
                .split("<title>")
                .nth(1)
                .and_then(|t| t.split("</title>").next());
            let desc = piece
                .split("<desc>")
                .nth(1)
                .and_then(|t| t.split("</desc>").next());
            assert!(
                title.is_some_and(|t| !t.trim().is_empty()),
                "untitled chart"
            );
            assert!(
                desc.is_some_and(|t| t.len() > 20),
                "chart without a text alternative"
            );
        }
    }
}

#[test]
fn hebrew_is_right_to_left() {
    let d = decl();
    let dir = tempfile::tempdir().unwrap();
    let r = render_to(&d, Lang::He, dir.path());
    let html = std::fs::read_to_string(&r.html).unwrap();
    assert!(html.contains("<html lang=\"he\" dir=\"rtl\">"));
    assert!(html.contains("כרטיס ניקוד"));
    // The SVG keeps its own left-to-right anchoring, and Hebrew labels in it are isolated.
    assert!(html.contains("direction:ltr"));
    assert!(html.contains('\u{2067}'));
}

#[test]
fn arabic_is_right_to_left_in_arabic_words_with_the_regions_labelled() {
    let d = decl();
    let dir = tempfile::tempdir().unwrap();
    let r = render_to(&d, Lang::Ar, dir.path());
    let html = std::fs::read_to_string(&r.html).unwrap();
    assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"));
    assert!(html.contains("بطاقة الأداء"), "the scorecard's Arabic title");
    // The breakdown shows the label, not the stored Hebrew code; the Hebrew report the code.
    assert!(html.contains("الشمال") && !html.contains(">צפון<"));
    let he =
        std::fs::read_to_string(&render_to(&d, Lang::He, &dir.path().join("he")).html).unwrap();
    assert!(he.contains("צפון"));
    let en =
        std::fs::read_to_string(&render_to(&d, Lang::En, &dir.path().join("en")).html).unwrap();
    assert!(en.contains("North") && !en.contains("צפון"));
    // Arabic labels in the SVG charts are isolated as right-to-left, like Hebrew ones.
    assert!(html.contains("\u{2067}الشمال"));
    // No word of the English catalog leaks into the Arabic page.
    for key in ["scorecard", "methods", "breakdowns", "completeness"] {
        assert!(!html.contains(Lang::En.t(key)), "{key}");
    }
}

#[test]
fn workbook_has_a_sheet_per_table_with_numbers_as_numbers() {
    let d = decl();
    let dir = tempfile::tempdir().unwrap();
    let r = render_to(&d, Lang::He, dir.path());
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let mut book: Xlsx<_> = open_workbook(&r.workbook).unwrap();
    assert_eq!(book.sheet_names(), ["מדדים", "שלמות", "איכות"]);
    let sheet = book.worksheet_range("מדדים").unwrap();
    assert_eq!(sheet.get((0, 0)), Some(&Data::String("indicator".into())));
    assert_eq!(sheet.get((1, 3)), Some(&Data::Float(40.0)));
    // A suppressed value is an empty cell, never zero.
    let suppressed_row = (1..sheet.height())
        .find(|r| sheet.get((*r, 6)) == Some(&Data::Bool(true)))
        .unwrap();
    assert_eq!(sheet.get((suppressed_row, 3)), Some(&Data::Empty));
    // Formula-like text stays text: a string cell, not a formula.
    let quality = book.worksheet_range("איכות").unwrap();
    assert!((1..quality.height()).any(|r| {
        quality.get((r, 7)) == Some(&Data::String("=HYPERLINK(\"http://x\")".into()))
    }));
    // The committee's copy of quality counts no rows (issue 18, finding 2).
    let headers: Vec<String> = (0..quality.width())
        .filter_map(|c| quality.get((0, c)).map(ToString::to_string))
        .collect();
    assert!(
        headers.contains(&"rejected_share".to_owned()),
        "{headers:?}"
    );
    assert!(
        !headers.iter().any(|h| h.starts_with("rows_")),
        "{headers:?}"
    );
    let formulas = book.worksheet_formula("איכות").unwrap();
    assert!(formulas.cells().all(|(_, _, f)| f.is_empty()));
}
