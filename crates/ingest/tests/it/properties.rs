//! Property tests: any bytes, any CSV, any workbook gets an answer without a panic, no row is
//! lost, and what validation accepts comes out of Arrow exactly as it went in.

use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type};
use backbone_ingest::{Collect, Options, Pseudonymiser, read_file, validate_file};
use backbone_schema::TableSchema;
use backbone_testkit::TempFile;
use proptest::prelude::*;

static N: AtomicUsize = AtomicUsize::new(0);

fn temp(ext: &str, bytes: &[u8]) -> TempFile {
    backbone_testkit::temp_file(
        &format!("{}.{ext}", N.fetch_add(1, Ordering::Relaxed)),
        bytes,
    )
}

fn schema() -> TableSchema {
    TableSchema::from_json_str(
        r#"{"fields": [
            {"name": "name", "x-aliases": ["שם"]},
            {"name": "count", "type": "integer"},
            {"name": "day", "type": "date", "format": "%d/%m/%Y"},
            {"name": "ok", "type": "boolean", "trueValues": ["כן"], "falseValues": ["לא"]}
        ]}"#,
        "p.json",
    )
    .unwrap()
}

/// Quotes a CSV field when it needs it.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn days_to_dmy(days: i32) -> (u32, u32, i32) {
    use chrono::Datelike;
    let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        + chrono::Duration::days(i64::from(days));
    (d.day(), d.month(), d.year())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_get_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = validate_file(&temp("csv", &bytes), &schema(), &Options::default());
        // The same bytes behind a zip or OLE signature go down the spreadsheet paths.
        let mut zipped = b"PK\x03\x04".to_vec();
        zipped.extend(&bytes);
        let _ = validate_file(&temp("xlsx", &zipped), &schema(), &Options::default());
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.extend(&bytes);
        let _ = validate_file(&temp("xls", &ole), &schema(), &Options::default());
    }

    #[test]
    fn any_csv_gets_a_report_and_loses_no_row(
        rows in proptest::collection::vec(proptest::collection::vec("[a-zא-ת0-9,;\"\n\r /-]{0,12}", 0..7), 1..40)
    ) {
        let mut text = String::from("name,count,day,ok\n");
        for r in &rows {
            text.push_str(&r.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
            text.push('\n');
        }
        if let Ok(report) = validate_file(&temp("csv", text.as_bytes()), &schema(), &Options::default()) {
            let s = &report.stats;
            prop_assert_eq!(s.rows, s.accepted + s.rejected + s.blank_rows);
            // Every rejected row has at least one error that names its row.
            prop_assert!(s.rejected == 0 || report.errors.iter().any(|e| e.row_number.is_some()));
        }
    }

    #[test]
    fn accepted_values_round_trip_through_arrow(
        records in proptest::collection::vec(
            // Names with quotes, delimiters and line breaks: quoted records over several lines.
            ("[a-zA-Zא-ת][a-zA-Zא-ת ,\"'\n-]{0,20}[a-zA-Zא-ת]", -1_000_000i64..1_000_000, 0i32..40_000, any::<bool>()),
            1..60)
    ) {
        let mut text = String::from("שם,count,day,ok\n");
        for (name, count, day, ok) in &records {
            let (d, m, y) = days_to_dmy(*day);
            text.push_str(&format!("{},{count},{d:02}/{m:02}/{y:04},{}\n", field(name), if *ok { "כן" } else { "לא" }));
        }
        let mut sink = Collect::default();
        let opts = Options { pseudonymiser: Pseudonymiser::new(b"0123456789abcdef"), ..Options::default() };
        let report = read_file(&temp("csv", text.as_bytes()), &schema(), &opts, &mut sink).unwrap();
        prop_assert_eq!(report.stats.accepted as usize, records.len(), "{}", report.to_text());
        let b = &sink.batches[0];
        for (i, (name, count, day, ok)) in records.iter().enumerate() {
            prop_assert_eq!(b.column(0).as_string::<i32>().value(i), name.as_str());
            prop_assert_eq!(b.column(1).as_primitive::<Int64Type>().value(i), *count);
            prop_assert_eq!(b.column(2).as_primitive::<Date32Type>().value(i), *day);
            prop_assert_eq!(b.column(3).as_boolean().value(i), *ok);
            // A record is one row however many lines it spans; the header is row 1.
            prop_assert_eq!(b.column(4).as_primitive::<Int64Type>().value(i), i as i64 + 2);
        }
    }

    #[test]
    fn any_workbook_gets_a_report(
        cells in proptest::collection::vec((0u32..60, 0u16..12, prop_oneof![
            "[a-zא-ת0-9 /]{0,10}".prop_map(|s| (Some(s), None)),
            any::<f64>().prop_map(|f| (None, Some(f))),
        ]), 0..80)
    ) {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for (h, name) in ["name", "count", "day", "ok"].iter().enumerate() {
            ws.write_string(0, h as u16, *name).unwrap();
        }
        for (r, c, v) in &cells {
            match v {
                (Some(s), _) => { ws.write_string(r + 1, *c, s).unwrap(); }
                (_, Some(f)) if f.is_finite() => { ws.write_number(r + 1, *c, *f).unwrap(); }
                _ => {}
            }
        }
        let bytes = wb.save_to_buffer().unwrap();
        let report = validate_file(&temp("xlsx", &bytes), &schema(), &Options::default()).unwrap();
        let s = &report.stats;
        prop_assert_eq!(s.rows, s.accepted + s.rejected + s.blank_rows);
    }
}

/// A wide sheet of any shape (any regions, any months, blank and bad cells, a totals column
/// that may be wrong): every figure is accounted for — stored under its region and month
/// with its value, or rejected at its own cell — and nothing else is stored.
#[test]
fn a_wide_sheet_keeps_every_figure_and_only_them() {
    const MONTHS: [&str; 6] = ["ינואר", "פברואר", "מרץ", "אפריל", "מאי", "יוני"];
    let schema = TableSchema::from_json_str(
        r#"{"name": "w", "fields": [{"name": "region", "x-aliases": ["אזור"]},
            {"name": "month", "type": "date"},
            {"name": "n", "type": "integer", "constraints": {"minimum": 0}}]}"#,
        "w.json",
    )
    .unwrap();
    let profile = backbone_schema::Profile::from_toml(
        "[layout]\nwide = { keep = [\"region\"], names_to = \"month\", values_to = \"n\" }\n",
        "w.toml",
    )
    .unwrap();
    let cell = prop_oneof![
        6 => (0i64..1000).prop_map(|n| n.to_string()),
        1 => Just(String::new()),
        1 => Just("x1".to_owned()),
        1 => Just("-4".to_owned()),
    ];
    let row = (
        "r[a-z]{0,5}",
        proptest::collection::vec(cell, 1..=6),
        proptest::option::of(0i64..5000),
    );
    let grid = (1usize..=6, proptest::collection::vec(row, 1..40));
    proptest!(ProptestConfig::with_cases(64), |((months, rows) in grid)| {
        let mut csv = String::from("אזור");
        for m in &MONTHS[..months] {
            csv.push_str(&format!(",{m} 2024"));
        }
        csv.push_str(",סה\"כ\n");
        let mut expected = Vec::new();
        let mut bad = 0u64;
        for (region, cells, total) in &rows {
            csv.push_str(region);
            for m in 0..months {
                let c = cells.get(m).cloned().unwrap_or_default();
                csv.push(',');
                csv.push_str(&c);
                match c.parse::<i64>() {
                    Ok(n) if n >= 0 => expected.push((region.clone(), m, n)),
                    Ok(_) => bad += 1,
                    Err(_) if c.is_empty() => {}
                    Err(_) => bad += 1,
                }
            }
            csv.push(',');
            if let Some(t) = total {
                csv.push_str(&t.to_string());
            }
            csv.push('\n');
        }
        let file = temp("csv", csv.as_bytes());
        let options = Options { profile: Some(profile.clone()), ..Options::default() };
        let mut sink = Collect::default();
        let report = read_file(&file, &schema, &options, &mut sink).unwrap();
        prop_assert_eq!(report.stats.rejected, bad, "{}", report.to_text());
        prop_assert_eq!(report.stats.accepted, expected.len() as u64);
        let mut stored = Vec::new();
        for b in &sink.batches {
            let regions = b.column(0).as_string::<i32>();
            let months = b.column(1).as_primitive::<Date32Type>();
            let values = b.column(2).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                let days = months.value(i);
                let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                    + chrono::Duration::days(i64::from(days));
                stored.push((regions.value(i).to_owned(), chrono::Datelike::month0(&date) as usize, values.value(i)));
            }
        }
        prop_assert_eq!(stored, expected);
    });
}
