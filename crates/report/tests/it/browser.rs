//! The report in a real browser: headless Chromium opens the HTML in Hebrew and in English,
//! with no console error (the page's content-security policy turns any outside request into
//! one) and no failed request, every chart titled and described in the rendered DOM, a
//! screenshot to look at, and a PDF.
//!
//! Chromium comes from Debian's `chromium` package, which `.ci/run` installs; without one the
//! test says so and passes, unless `CI` is set (backbone-testkit's `outside_tool`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use backbone_report::{Inputs, Lang, Report, ResultsTables, find_chromium, print_pdf, render};
use backbone_schema::{Initiative, indicators_from_toml};

fn chromium() -> Option<PathBuf> {
    backbone_testkit::outside_tool("Chromium", "the Debian package chromium", find_chromium())
}

fn render_fixture(lang: Lang, out: &Path) -> PathBuf {
    let f = backbone_testkit::crate_dir().join("tests/fixtures");
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
    let names = BTreeMap::new();
    let report = Report {
        inputs: Inputs {
            initiative: &initiative,
            indicators: &indicators,
            tables: &tables,
            headers: &std::collections::BTreeMap::new(),
            revisions: &[],
            triangle: &[],
            dimension_names: &names,
            value_labels: &BTreeMap::new(),
        },
        lang,
        generated: "2025-01-08T22:00:00Z".into(),
    };
    render(&report, out).unwrap().html
}

fn run_chromium(chromium: &Path, profile: &Path, args: &[String]) -> (String, String) {
    let out = Command::new(chromium)
        .args(backbone_testkit::CHROMIUM_FLAGS)
        .args(["--disable-extensions", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_report_renders_in_chromium_without_errors() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for lang in Lang::ALL {
        let out = dir.path().join(lang.code());
        let html = render_fixture(lang, &out);
        let url = format!("file://{}", html.canonicalize().unwrap().display());
        let profile = dir.path().join(format!("profile-{}", lang.code()));
        let (dom, log) = run_chromium(
            &chromium,
            &profile,
            &[
                "--dump-dom".into(),
                "--virtual-time-budget=3000".into(),
                url.clone(),
            ],
        );
        // Console messages are logged as `CONSOLE(…)` / `Console`; failed loads as net::ERR_.
        for line in log.lines() {
            let l = line.to_ascii_lowercase();
            assert!(
                !(l.contains("console") && (l.contains("error") || l.contains("refused"))),
                "{}: console error: {line}",
                lang.code()
            );
            assert!(
                !l.contains("net::err_file_not_found"),
                "missing resource: {line}"
            );
            assert!(
                !l.contains("content security policy"),
                "CSP violation: {line}"
            );
        }
        // The DOM the browser built: the page is there, right to left in Hebrew, and every
        // chart is an image with a title and a description.
        assert!(
            dom.contains("id=\"scorecard\""),
            "{}",
            &dom[..dom.len().min(500)]
        );
        let expected_dir = format!("dir=\"{}\"", lang.dir());
        assert!(dom.contains(&expected_dir));
        assert!(dom.contains(lang.t("scorecard")), "{}", lang.code());
        let charts = dom.matches("<svg").count();
        assert!(charts >= 6, "{charts} charts");
        assert_eq!(dom.matches("role=\"img\"").count(), charts);
        assert_eq!(
            dom.matches("<title>").count(),
            charts + 1,
            "a chart without a <title>"
        );
        assert_eq!(dom.matches("<desc>").count(), charts);

        // A screenshot, kept beside the report for people to look at.
        let shot = out.join("screenshot.png");
        run_chromium(
            &chromium,
            &profile,
            &[
                format!("--screenshot={}", shot.display()),
                "--window-size=1200,2400".into(),
                "--hide-scrollbars".into(),
                url,
            ],
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "screenshot"
        );
        if let Some(keep) = std::env::var_os("BACKBONE_KEEP_SCREENSHOTS") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(
                &shot,
                Path::new(&keep).join(format!("report-{}.png", lang.code())),
            )
            .unwrap();
        }

        // And the PDF for members who print it.
        let pdf = out.join("report.pdf");
        print_pdf(&chromium, &html, &pdf).unwrap();
        let bytes = std::fs::read(&pdf).unwrap();
        assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    }
}
