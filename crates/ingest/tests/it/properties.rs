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
