//! Every partner file in `tests/fixtures/files/` is a test: its report is a snapshot.
//!
//! Which schema and profile go with a file: `plain*` files use `schemas/plain.json`,
//! `strict*` files `schemas/strict.json`, `ministry*` and `monthly*` files
//! `schemas/referrals_by_region.json` (aggregate sheets), all others `schemas/service_records.json`; a profile `profiles/<first word of the file name>.toml`
//! is used when it exists.

use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use backbone_ingest::{Collect, Options, Pseudonymiser, ValidationReport, read_file};
use backbone_schema::{Profile, TableSchema};

fn fixtures() -> PathBuf {
    backbone_testkit::crate_dir().join("../../tests/fixtures")
}

fn read(name: &str) -> (ValidationReport, Collect) {
    let dir = fixtures();
    let schema_file = if name.starts_with("plain") {
        "plain.json"
    } else if name.starts_with("strict") {
        "strict.json"
    } else if name.starts_with("ministryages") {
        "referrals_by_sex_age.json"
    } else if name.starts_with("ministry") || name.starts_with("monthly") {
        "referrals_by_region.json"
    } else {
        "service_records.json"
    };
    let schema = TableSchema::load(&dir.join("schemas").join(schema_file)).unwrap();
    let stem = name.split(['_', '.']).next().unwrap();
    let profile_path = dir.join("profiles").join(format!("{stem}.toml"));
    let mut options = Options {
        pseudonymiser: Pseudonymiser::new(b"fixture secret key, not a real one"),
        display_name: Some(name.to_owned()),
        ..Options::default()
    };
    let schema = if profile_path.is_file() {
        let profile = Profile::load(&profile_path).unwrap();
        let merged = schema.with_profile(&profile, "profile").unwrap();
        options.profile = Some(profile);
        merged
    } else {
        schema
    };
    let mut sink = Collect::default();
    let report = read_file(&dir.join("files").join(name), &schema, &options, &mut sink).unwrap();
    (report, sink)
}

fn snapshot(name: &str) -> (ValidationReport, Collect) {
    let (report, sink) = read(name);
    let mut json = report.to_json();
    json["stats"]["seconds"] = serde_json::Value::Null;
    insta::with_settings!({snapshot_suffix => name.replace('.', "_"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("text", report.to_text());
        insta::assert_json_snapshot!("json", json);
    });
    // Nothing is lost: every data row is accepted, rejected, or blank.
    let s = &report.stats;
    assert_eq!(
        s.rows,
        s.accepted + s.rejected + s.blank_rows,
        "{name}: rows unaccounted for"
    );
    let batched: usize = sink.batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(
        batched as u64, s.accepted,
        "{name}: accepted rows not all in batches"
    );
    assert_eq!(
        sink.rejected.len() as u64,
        s.rejected,
        "{name}: rejected rows not all handed over"
    );
    (report, sink)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch
        .column(batch.schema().index_of(name).unwrap())
        .as_ref()
}

fn dates(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    column(batch, name)
        .as_primitive::<Date32Type>()
        .iter()
        .map(|d| d.map(chrono_date))
        .collect()
}

fn chrono_date(days: i32) -> String {
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(i64::from(days)))
        .to_string()
}

#[test]
fn clinic_windows_1255() {
    let (report, sink) = snapshot("clinic_windows1255.csv");
    assert_eq!(report.source.encoding.as_deref(), Some("windows-1255"));
    let b = &sink.batches[0];
    assert_eq!(column(b, "region").as_string::<i32>().value(0), "חיפה");
    assert_eq!(column(b, "gender").as_string::<i32>().value(0), "female");
    // The rejected duplicate keeps its reasons and never shows the person's id.
    let dup = sink.rejected.iter().find(|r| r.row_number == 5).unwrap();
    assert!(
        dup.problems
            .iter()
            .any(|p| p.kind == backbone_ingest::ErrorType::UniqueError)
    );
    assert_eq!(dup.cells[1], None);
    assert!(
        !serde_json::to_string(&report.to_json())
            .unwrap()
            .contains("323456789")
    );
}

#[test]
fn hotline_bom_semicolon_decimal_comma() {
    let (report, sink) = snapshot("hotline_bom_semicolon.csv");
    assert_eq!(report.source.header_row, Some(3));
    let b = &sink.batches[0];
    let minutes: Vec<f64> = column(b, "minutes")
        .as_primitive::<Float64Type>()
        .values()
        .to_vec();
    assert_eq!(minutes, vec![12.5, 1234.5, 20.0]);
    // The multi-line note makes record 4 span two lines; row numbers count records.
    let rows: Vec<i64> = column(b, "_row_number")
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(rows, vec![4, 5, 7]);
}

#[test]
fn shelter_utf16_tab() {
    let (report, _) = snapshot("shelter_utf16_tab.tsv");
    assert_eq!(report.source.encoding.as_deref(), Some("UTF-16LE"));
    assert_eq!(report.source.delimiter.as_deref(), Some("tab"));
}

#[test]
fn welfare_title_rows_xlsx() {
    let (report, sink) = snapshot("welfare_title_rows.xlsx");
    assert_eq!(report.source.sheet.as_deref(), Some("נתונים"));
    assert_eq!(report.source.header_row, Some(4));
    let b = &sink.batches[0];
    // A real date cell and a date typed as text read the same.
    assert_eq!(dates(b, "referral_date")[0].as_deref(), Some("2024-01-03"));
    assert_eq!(
        dates(b, "first_contact_date")[0].as_deref(),
        Some("2024-01-05")
    );
    // A formula's saved result is its value.
    assert_eq!(
        column(b, "minutes").as_primitive::<Float64Type>().value(0),
        60.0
    );
    // Ages typed as 45.0 are whole numbers.
    assert_eq!(column(b, "age").as_primitive::<Int64Type>().value(1), 45);
    // Personal data is pseudonymised, and 012345678 typed as text equals 12345678 as a number.
    let ids = column(b, "person_id").as_string::<i32>();
    let p = Pseudonymiser::new(b"fixture secret key, not a real one").unwrap();
    assert_eq!(ids.value(0), p.pseudonym("23456789"));
    assert_eq!(ids.value(1), p.pseudonym("12345678"));
    assert_eq!(
        report
            .errors
            .iter()
            .filter(|e| e.cell_ref.is_some())
            .count(),
        report.errors.len()
    );
}

#[test]
fn police_1904_date_system() {
    let (_, sink) = snapshot("police_1904.xlsx");
    let d = dates(&sink.batches[0], "referral_date");
    assert_eq!(d, vec![Some("2024-03-15".to_owned())]);
}

#[test]
fn health_fund_ods() {
    let (_, sink) = snapshot("health_fund.ods");
    assert_eq!(
        dates(&sink.batches[0], "referral_date"),
        vec![Some("2024-04-02".to_owned())]
    );
}

#[test]
fn municipality_xls() {
    let (report, sink) = snapshot("municipality.xls");
    assert_eq!(report.source.header_row, Some(3));
    assert_eq!(
        dates(&sink.batches[0], "referral_date"),
        vec![Some("2024-05-06".to_owned())]
    );
}

#[test]
fn plain_frictionless_schema() {
    snapshot("plain.csv");
}

/// The same rows saved by Excel for Mac as "CSV (Macintosh)": every row ends with a carriage
/// return alone. Read row for row as the file with line feeds.
#[test]
fn plain_mac_carriage_returns_end_rows() {
    let (mac, mac_rows) = read("plain_mac_cr.csv");
    let (unix, unix_rows) = read("plain.csv");
    assert!(mac.stats.rows > 5);
    assert_eq!(mac.stats.rows, unix.stats.rows);
    assert_eq!(mac.stats.accepted, unix.stats.accepted);
    let problems = |r: &ValidationReport| {
        r.errors
            .iter()
            .map(|e| (e.kind, e.row_number, e.field_name.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(problems(&mac), problems(&unix));
    assert_eq!(mac_rows.batches, unix_rows.batches);
}

#[test]
fn strict_keys_value_map_and_blank_label() {
    let (report, _) = snapshot("strict_keys.csv");
    let kinds: std::collections::BTreeSet<&str> =
        report.errors.iter().map(|e| e.kind.code()).collect();
    for k in [
        "primary-key",
        "value-map-error",
        "blank-label",
        "constraint-error",
    ] {
        assert!(kinds.contains(k), "no {k} in {kinds:?}");
    }
}

#[test]
fn strict_header_only_has_no_data() {
    let (report, _) = snapshot("strict_header_only.csv");
    assert_eq!(report.verdict, backbone_ingest::Verdict::Rejected);
    assert_eq!(report.errors[0].kind, backbone_ingest::ErrorType::NoData);
}

#[test]
fn strict_labels_duplicate_and_missing_reject_the_file() {
    let (report, sink) = snapshot("strict_labels.csv");
    let kinds: Vec<&str> = report.errors.iter().map(|e| e.kind.code()).collect();
    assert!(kinds.contains(&"duplicate-label"), "{kinds:?}");
    assert!(kinds.contains(&"missing-label"), "{kinds:?}");
    // Nothing is accepted from a file whose columns cannot be trusted, and the row says why.
    assert_eq!(report.stats.accepted, 0);
    assert_eq!(
        sink.rejected[0].problems[0].kind,
        backbone_ingest::ErrorType::MissingLabel
    );
}

#[test]
fn every_fixture_file_has_a_test() {
    let tested = [
        "clinic_windows1255.csv",
        "hotline_bom_semicolon.csv",
        "shelter_utf16_tab.tsv",
        "welfare_title_rows.xlsx",
        "police_1904.xlsx",
        "health_fund.ods",
        "municipality.xls",
        "plain.csv",
        "plain_mac_cr.csv",
        "strict_keys.csv",
        "strict_header_only.csv",
        "strict_labels.csv",
        "ministry_wide.xlsx",
        "ministryquarter.ods",
        "ministrysheets.xlsx",
        "monthly_sheets.ods",
        "ministryages.xlsx",
        "ministrylo_wide.ods",
        "ministrylo_wide.xlsx",
    ];
    for entry in std::fs::read_dir(fixtures().join("files")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            tested.contains(&name.as_str()),
            "fixture {name} has no test"
        );
    }
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    column(batch, name)
        .as_primitive::<Int64Type>()
        .iter()
        .collect()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    column(batch, name)
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

#[test]
fn ministry_wide_two_row_header_with_totals() {
    let (report, sink) = snapshot("ministry_wide.xlsx");
    let s = &report.stats;
    // 5 regions × 6 months, F8 blank (no figure): 29 figures; D7 "12א" rejected.
    assert_eq!((s.rows, s.accepted, s.rejected), (29, 28, 1));
    let layout = report.source.layout.as_ref().expect("layout described");
    assert_eq!(layout.header_rows, 2);
    assert_eq!(layout.figure_columns, 6);
    assert_eq!(layout.figures, 29);
    assert_eq!(layout.totals_rows, vec![10]);
    assert_eq!(layout.totals_columns, vec!["H".to_owned()]);
    // The rejected figure points at the cell the partner sees.
    let bad = report
        .errors
        .iter()
        .find(|e| e.kind == backbone_ingest::ErrorType::TypeError)
        .unwrap();
    assert_eq!(bad.cell_ref.as_deref(), Some("D7"));
    assert_eq!(bad.label.as_deref(), Some("2024 מרץ"));
    assert_eq!(bad.row_number, Some(7));
    // The totals that disagree: H6 (its row) and E10 (its column).
    let mut totals: Vec<&str> = report
        .errors
        .iter()
        .filter(|e| e.kind == backbone_ingest::ErrorType::TotalMismatch)
        .filter_map(|e| e.cell_ref.as_deref())
        .collect();
    totals.sort_unstable();
    assert_eq!(totals, vec!["E10", "H6"]);
    let batch =
        arrow_select::concat::concat_batches(&sink.batches[0].schema(), &sink.batches).unwrap();
    let regions = strings(&batch, "region");
    let months = dates(&batch, "month");
    let figures = ints(&batch, "referrals");
    // The first row: צפון's six months, January first.
    assert_eq!(regions[0].as_deref(), Some("צפון"));
    assert_eq!(
        months[..6]
            .iter()
            .map(|m| m.clone().unwrap())
            .collect::<Vec<_>>(),
        [
            "2024-01-01",
            "2024-02-01",
            "2024-03-01",
            "2024-04-01",
            "2024-05-01",
            "2024-06-01"
        ]
    );
    assert_eq!(
        figures[..6],
        [Some(10), Some(11), Some(12), Some(13), Some(14), Some(15)]
    );
    // No totals row was stored, and every (region, month) is there once.
    assert!(regions.iter().all(|r| r.as_deref() != Some("סה\"כ")));
    let sum: i64 = figures.iter().flatten().sum();
    assert_eq!(
        sum,
        (0..5)
            .flat_map(|r| (0..6).map(move |c| 10 * (r + 1) + c))
            .sum::<i64>()
            - 32
            - 44
    );
}

#[test]
fn ministry_quarter_ods_one_row_header() {
    let (report, sink) = snapshot("ministryquarter.ods");
    let s = &report.stats;
    assert_eq!((s.rows, s.accepted, s.rejected, s.warnings), (9, 9, 0, 0));
    let layout = report.source.layout.as_ref().unwrap();
    assert_eq!(layout.totals_columns, vec!["E".to_owned()]);
    let batch =
        arrow_select::concat::concat_batches(&sink.batches[0].schema(), &sink.batches).unwrap();
    assert_eq!(dates(&batch, "month")[2].as_deref(), Some("2024-03-01"));
    assert_eq!(ints(&batch, "referrals")[3], Some(10));
}

#[test]
fn ministry_one_sheet_per_quarter() {
    let (report, sink) = snapshot("ministrysheets.xlsx");
    let s = &report.stats;
    // Two quarters × 3 regions × 3 months; the notes sheet is not read.
    assert_eq!((s.rows, s.accepted, s.rejected, s.warnings), (18, 18, 0, 0));
    assert_eq!(
        report.source.sheet.as_deref(),
        Some("רבעון 1 2024, רבעון 2 2024")
    );
    let layout = report.source.layout.as_ref().unwrap();
    assert_eq!(layout.figure_columns, 6);
    assert_eq!(layout.totals_rows, vec![5]);
    let batch =
        arrow_select::concat::concat_batches(&sink.batches[0].schema(), &sink.batches).unwrap();
    let months = dates(&batch, "month");
    assert_eq!(months[0].as_deref(), Some("2024-01-01"));
    assert_eq!(months[17].as_deref(), Some("2024-06-01"));
    // Q2's first row is מרכז (regions in another order there): 200 + 10·2 + 0.
    assert_eq!(strings(&batch, "region")[9].as_deref(), Some("מרכז"));
    assert_eq!(ints(&batch, "referrals")[9], Some(220));
}

#[test]
fn one_sheet_per_month_gives_each_row_its_month() {
    let (report, sink) = snapshot("monthly_sheets.ods");
    let s = &report.stats;
    assert_eq!((s.rows, s.accepted, s.rejected), (4, 4, 0));
    let batch =
        arrow_select::concat::concat_batches(&sink.batches[0].schema(), &sink.batches).unwrap();
    assert_eq!(
        dates(&batch, "month"),
        ["2024-01-01", "2024-01-01", "2024-02-01", "2024-02-01"].map(|d| Some(d.to_owned()))
    );
    assert_eq!(
        ints(&batch, "referrals"),
        [Some(7), Some(8), Some(8), Some(9)]
    );
}

#[test]
fn a_sex_over_its_age_bands_gives_two_names_per_figure() {
    let (report, sink) = snapshot("ministryages.xlsx");
    let s = &report.stats;
    // 2 regions × 2 sexes × 3 bands; each sex's totals column left out and checked.
    assert_eq!((s.rows, s.accepted, s.rejected, s.warnings), (12, 12, 0, 0));
    assert_eq!(
        report.source.layout.as_ref().unwrap().totals_columns,
        vec!["E".to_owned(), "I".to_owned()]
    );
    let batch =
        arrow_select::concat::concat_batches(&sink.batches[0].schema(), &sink.batches).unwrap();
    let sexes = strings(&batch, "sex");
    let bands = strings(&batch, "age_band");
    assert_eq!(
        (sexes[3].as_deref(), bands[3].as_deref()),
        (Some("female"), Some("0-17"))
    );
    // צפון, female, 0-17: 3 + 0 + 1 + 0.
    assert_eq!(ints(&batch, "people")[3], Some(4));
}

/// The ministry's workbook as LibreOffice Calc saves it (.ods with covered cells, and its own
/// .xlsx): read figure for figure as Excel's, the same cells pointed at.
#[test]
fn the_ministrys_workbook_saved_by_libreoffice_reads_the_same() {
    let (excel, excel_rows) = read("ministry_wide.xlsx");
    for name in ["ministrylo_wide.ods", "ministrylo_wide.xlsx"] {
        let (report, sink) = snapshot(name);
        let s = &report.stats;
        assert_eq!(
            (s.rows, s.accepted, s.rejected, s.warnings),
            (
                excel.stats.rows,
                excel.stats.accepted,
                excel.stats.rejected,
                excel.stats.warnings
            ),
            "{name}\n{}",
            report.to_text()
        );
        let refs = |r: &ValidationReport| -> Vec<Option<String>> {
            r.errors.iter().map(|e| e.cell_ref.clone()).collect()
        };
        assert_eq!(refs(&report), refs(&excel), "{name}");
        let all = |c: &Collect| {
            let b =
                arrow_select::concat::concat_batches(&c.batches[0].schema(), &c.batches).unwrap();
            (
                strings(&b, "region"),
                dates(&b, "month"),
                ints(&b, "referrals"),
            )
        };
        assert_eq!(all(&sink), all(&excel_rows), "{name}");
    }
}
