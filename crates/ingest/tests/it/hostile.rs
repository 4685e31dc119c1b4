//! Files built to hurt: each gets a report or a one-line error, never a panic, and memory
//! stays bounded.

use std::io::Write;
use std::path::Path;

use backbone_ingest::{ErrorType, IngestError, Limits, Options, validate_file};
use backbone_schema::TableSchema;
use backbone_testkit::TempFile;

fn schema() -> TableSchema {
    TableSchema::from_json_str(
        r#"{"fields": [{"name": "id", "constraints": {"required": true}}, {"name": "note"}]}"#,
        "s.json",
    )
    .unwrap()
}

fn temp(name: &str, bytes: &[u8]) -> TempFile {
    backbone_testkit::temp_file(name, bytes)
}

fn validate(p: &Path) -> Result<backbone_ingest::ValidationReport, IngestError> {
    validate_file(p, &schema(), &Options::default())
}

#[test]
fn a_million_columns_is_refused_with_a_message() {
    let mut csv = b"id,note\n".to_vec();
    csv.extend(std::iter::repeat_n(b',', 1_000_000));
    csv.push(b'\n');
    let err = validate(&temp("wide.csv", &csv)).unwrap_err();
    assert!(matches!(err, IngestError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("more than 16384 columns"), "{err}");
}

#[test]
fn a_ten_million_character_cell_is_a_cell_error() {
    let mut csv = b"id,note\n1,".to_vec();
    csv.extend(std::iter::repeat_n(b'x', 10_000_000));
    csv.extend(b"\n2,short\n");
    let report = validate(&temp("long.csv", &csv)).unwrap();
    assert_eq!(report.stats.rows, 2);
    assert_eq!(report.stats.accepted, 1);
    assert_eq!(report.errors[0].kind, ErrorType::OversizedCell);
    assert_eq!(report.errors[0].row_number, Some(2));
}

#[test]
fn an_unclosed_quote_does_not_swallow_memory() {
    let mut csv = b"id,note\n1,\"".to_vec();
    csv.extend(std::iter::repeat_n(b'y', 70 << 20));
    let err = validate(&temp("unclosed.csv", &csv)).unwrap_err();
    assert!(err.to_string().contains("quote"), "{err}");
}

#[test]
fn a_zip_bomb_is_refused_before_it_is_unpacked() {
    // 64 MiB of zeros packs into ~64 KiB: over a 1000:1 ratio at a size worth refusing.
    let path = temp("bomb.xlsx", b"");
    let f = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/workbook.xml", opts).unwrap();
    zip.write_all(b"<workbook/>").unwrap();
    zip.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..64 {
        zip.write_all(&zeros).unwrap();
    }
    zip.finish().unwrap();
    let err = validate(&path).unwrap_err();
    assert!(matches!(err, IngestError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("zip bomb"), "{err}");
}

#[test]
fn a_sheet_claiming_a_million_rows_by_16384_columns_is_read_as_it_really_is() {
    let path = temp("claims.xlsx", b"");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "id").unwrap();
    ws.write_string(0, 1, "note").unwrap();
    ws.write_string(1, 0, "a").unwrap();
    // One stray cell in the very last cell of the sheet.
    ws.write_string(1_048_575, 16_383, "far away").unwrap();
    wb.save(&path).unwrap();
    let report = validate(&path).unwrap();
    assert_eq!(report.stats.accepted, 1);
    // The stray cell is a value beyond the header, on the last row of the sheet.
    let extra = report
        .errors
        .iter()
        .find(|e| e.kind == ErrorType::ExtraCell)
        .unwrap();
    assert_eq!(extra.cell_ref.as_deref(), Some("XFD1048576"));
    // The rows between are blank rows, counted, not stored.
    assert_eq!(report.stats.blank_rows, 1_048_576 - 3);
}

#[test]
fn a_cell_past_the_column_limit_is_refused() {
    let path = temp("toowide.xlsx", b"");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "id").unwrap();
    ws.write_string(0, 200, "far").unwrap();
    wb.save(&path).unwrap();
    let opts = Options {
        limits: Limits {
            max_columns: 100,
            ..Limits::default()
        },
        ..Options::default()
    };
    let err = validate_file(&path, &schema(), &opts).unwrap_err();
    assert!(err.to_string().contains("column GS"), "{err}");
}

#[test]
fn garbage_gets_an_answer() {
    let mut bytes = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..100_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((x >> 16) as u8);
    }
    match validate(&temp("garbage.bin", &bytes)) {
        Ok(r) => assert!(!r.valid),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // A zip that is not a workbook, an empty file, a truncated xlsx.
    let empty = temp("empty.csv", b"");
    let err = validate(&empty).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: the file is empty", empty.display())
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("readme.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"hello").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let err = validate(&temp("notabook.xlsx", &bytes)).unwrap_err();
    assert!(err.to_string().contains("neither an Excel"), "{err}");
    let err = validate(&temp("truncated.xlsx", &bytes[..bytes.len() / 2])).unwrap_err();
    assert!(matches!(err, IngestError::Spreadsheet { .. }), "{err}");
}

#[test]
fn bad_bytes_in_a_declared_encoding_are_an_error_not_replacement_characters() {
    // Declared UTF-8 (no detection), but a Windows-1255 byte in a cell: that cell is an
    // encoding error, the other rows are fine.
    let path = temp("mixed.csv", b"id,note\n1,ok\n2,\xf9\xec\xe5\xed\n");
    let report = validate(&path).unwrap();
    assert_eq!(
        report.stats.accepted, 2,
        "detection read it as windows-1255: {:?}",
        report.source
    );
    let opts = Options {
        profile: Some(backbone_schema::Profile {
            encoding: Some("utf-8".into()),
            ..Default::default()
        }),
        ..Options::default()
    };
    let s = TableSchema::from_json_str(
        r#"{"fields": [{"name": "id"}, {"name": "note", "constraints": {"required": true}}]}"#,
        "s.json",
    )
    .unwrap();
    let report = validate_file(&path, &s, &opts).unwrap();
    assert_eq!(report.stats.rejected, 1);
    assert_eq!(report.errors[0].kind, ErrorType::EncodingError);
    // UTF-16 with an unpaired surrogate cannot be decoded: the file is refused, with where.
    let mut bad16 = vec![0xFF, 0xFE];
    for c in "id,note\n1,".encode_utf16() {
        bad16.extend(c.to_le_bytes());
    }
    bad16.extend([0x00, 0xD8, b'x', 0x00, b'\n', 0x00]);
    let err = validate(&temp("bad16.csv", &bad16)).unwrap_err();
    assert!(matches!(err, IngestError::Encoding { row: 2, .. }), "{err}");
}

#[test]
fn a_header_row_the_file_does_not_have_is_one_clear_error() {
    let opts = Options {
        profile: Some(backbone_schema::Profile {
            header_row: Some(99),
            ..Default::default()
        }),
        ..Options::default()
    };
    let err = validate_file(&temp("short.csv", b"id,note\n1,a\n"), &schema(), &opts).unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::HeaderRowMissing {
                row: 99,
                last: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("check `header_row` in the partner profile"),
        "{err}"
    );
}

/// Finding 3 of issue 18: an identity number planted in every position of rows of every
/// shape (a cell missing, one too many, in the right column, in another column) is never
/// echoed: not in the validation report (JSON or text, what the receipt is made from), not in
/// the rejected rows the store keeps.
#[test]
fn personal_data_is_never_echoed_wherever_it_lands() {
    use backbone_ingest::{Collect, Pseudonymiser, read_file};
    let schema = TableSchema::from_json_str(
        r#"{"fields": [
            {"name": "record_id", "type": "integer", "constraints": {"required": true, "maximum": 1000}},
            {"name": "person_id", "x-pii": true, "constraints": {"required": true}},
            {"name": "referral_date", "type": "date", "format": "%d/%m/%Y"},
            {"name": "service_type", "constraints": {"enum": ["legal", "shelter"]}},
            {"name": "age", "type": "integer", "constraints": {"minimum": 0, "maximum": 120}}
        ]}"#,
        "s.json",
    )
    .unwrap();
    let ids = [
        "987654321",
        "123456782",
        "555000111",
        "200300400",
        "314159265",
        "271828182",
    ];
    let mut csv = String::from("record_id,person_id,referral_date,service_type,age\n");
    let mut n = 0;
    for (k, id) in ids.iter().enumerate() {
        let good = [
            "7".to_owned(),
            (*id).to_owned(),
            "06/03/2024".into(),
            "legal".into(),
            "30".into(),
        ];
        // The ID in each position of a row of the right length, of a row one cell short (the
        // record_id left out shifts it left) and of a row one cell long.
        for pos in 0..=5 {
            let mut row = good.to_vec();
            if pos < 5 {
                row[pos] = (*id).to_owned();
            }
            csv.push_str(&row.join(","));
            csv.push('\n');
            let short: Vec<String> = row.iter().skip(1).cloned().collect();
            csv.push_str(&short.join(","));
            csv.push('\n');
            let mut long = row.clone();
            long.insert(k % 5, (*id).to_owned());
            csv.push_str(&long.join(","));
            csv.push('\n');
            n += 3;
        }
    }
    let path = temp("planted.csv", csv.as_bytes());
    let options = Options {
        pseudonymiser: Pseudonymiser::new(b"0123456789abcdef"),
        ..Options::default()
    };
    let mut sink = Collect::default();
    let report = read_file(&path, &schema, &options, &mut sink).unwrap();
    assert_eq!(report.stats.rows, n);
    assert!(report.stats.rejected > 0 && !sink.rejected.is_empty());
    let json = report.to_json().to_string();
    let text = report.to_text();
    let cells: String = sink
        .rejected
        .iter()
        .flat_map(|r| r.cells.iter().flatten().cloned())
        .collect::<Vec<_>>()
        .join("|");
    for id in ids {
        assert!(!json.contains(id), "{id} in the JSON report");
        assert!(!text.contains(id), "{id} in the text report");
        assert!(!cells.contains(id), "{id} in the rejected rows: {cells}");
    }
    // What is not personal is still quoted, so the partner can find the cell.
    assert!(json.contains("06/03/2024") || json.contains("legal") || json.contains("30"));
}

/// A zip container with the given parts, deflated.
fn zipped(name: &str, parts: &[(&str, &[u8])]) -> TempFile {
    let path = temp(name, b"");
    let f = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (part, bytes) in parts {
        zip.start_file(*part, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

const ODS_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="S">"#;
const ODS_TAIL: &str =
    "</table:table></office:spreadsheet></office:body></office:document-content>";

fn ods(name: &str, table: &str) -> TempFile {
    let content = format!("{ODS_HEAD}{table}{ODS_TAIL}");
    zipped(
        name,
        &[
            ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
            (
                "META-INF/manifest.xml",
                br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#,
            ),
            ("content.xml", content.as_bytes()),
        ],
    )
}

/// One row of 16 384 repeated cells, repeated 6 100 times, in a few hundred bytes.
fn repeated_ods() -> TempFile {
    ods(
        "repeated.ods",
        r#"<table:table-row table:number-rows-repeated="6100"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>"#,
    )
}

/// Issue 18, finding 1: the repeated-cell `.ods` is refused before the spreadsheet library
/// expands it.
#[test]
fn a_repeated_cell_ods_is_refused_before_it_is_expanded() {
    let path = repeated_ods();
    assert!(std::fs::metadata(&path).unwrap().len() < 2000);
    let started = std::time::Instant::now();
    let err = validate(&path).unwrap_err();
    assert!(matches!(err, IngestError::TooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("expand to 99942400 cells"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// What a spreadsheet program writes is read as before: a header, rows, and the trailing
/// empty rows and columns LibreOffice repeats to the edge of the sheet.
#[test]
fn an_ods_with_trailing_repeats_is_read() {
    let cell = |v: &str| {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>"#
        )
    };
    let row = |a: &str, b: &str| {
        format!(
            r#"<table:table-row>{}{}<table:table-cell table:number-columns-repeated="16382"/></table:table-row>"#,
            cell(a),
            cell(b)
        )
    };
    let table = format!(
        r#"{}{}{}<table:table-row table:number-rows-repeated="1048573"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#,
        row("id", "note"),
        row("1", "a"),
        row("2", "b")
    );
    let report = validate(&ods("libre.ods", &table)).unwrap();
    assert_eq!(report.stats.accepted, 2, "{}", report.to_text());
}

/// An `.xlsx` whose shared-strings table is `sst`.
fn xlsx_with_strings(name: &str, sst: &[u8]) -> TempFile {
    let sheet = br#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>"#;
    let workbook = br#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    // The parts a workbook needs for calamine to open it and read its shared strings.
    let types = br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;
    let rels = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let workbook_rels = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
    zipped(
        name,
        &[
            ("[Content_Types].xml", types.as_slice()),
            ("_rels/.rels", rels.as_slice()),
            ("xl/workbook.xml", workbook.as_slice()),
            ("xl/_rels/workbook.xml.rels", workbook_rels.as_slice()),
            ("xl/sharedStrings.xml", sst),
            ("xl/worksheets/sheet1.xml", sheet.as_slice()),
        ],
    )
}

/// A shared-strings table declaring two billion strings: the library reserves room for them
/// before reading one.
fn declared_strings() -> TempFile {
    xlsx_with_strings(
        "declared_strings.xlsx",
        br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2000000000" uniqueCount="2000000000"><si><t>a</t></si></sst>"#,
    )
}

/// Shared-strings bombs: two billion strings declared, and three million empty ones.
#[test]
fn shared_strings_bombs_are_refused() {
    let mut many =
        br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#.to_vec();
    for _ in 0..3_000_000 {
        many.extend_from_slice(b"<si/>");
    }
    many.extend_from_slice(b"</sst>");
    for (path, said) in [
        (declared_strings(), "2000000000 shared strings"),
        (
            xlsx_with_strings("many.xlsx", &many),
            "2000001 shared strings",
        ),
    ] {
        let err = validate(&path).unwrap_err();
        assert!(matches!(err, IngestError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains(said), "{err}");
    }
}

/// An `.ods` whose content is nested a million deep.
fn deep_ods() -> TempFile {
    let mut table = String::from("<table:table-row><table:table-cell>");
    for _ in 0..1_000_000 {
        table.push_str("<text:span>");
    }
    table.push_str("</table:table-cell></table:table-row>");
    ods("deep.ods", &table)
}

#[test]
fn deep_xml_is_refused() {
    let err = validate(&deep_ods()).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

/// An `.xls` with two cells at opposite corners of the sheet: the library would lay out the
/// 16.7 million cells between them.
fn far_xls() -> TempFile {
    let record = |kind: u16, body: &[u8]| -> Vec<u8> {
        let mut r = kind.to_le_bytes().to_vec();
        r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_le_bytes());
        r.extend_from_slice(body);
        r
    };
    let number = |row: u16, col: u16| -> Vec<u8> {
        let mut b = row.to_le_bytes().to_vec();
        b.extend_from_slice(&col.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&1.0f64.to_le_bytes());
        record(0x0203, &b)
    };
    let mut stream = record(0x0809, &[0, 6, 0x10, 0, 0, 0, 0, 0]);
    stream.extend(number(0, 0));
    stream.extend(number(65_535, 255));
    stream.extend(record(0x000A, &[]));
    let path = temp("far.xls", b"");
    let mut ole = cfb::create(&path).unwrap();
    ole.create_stream("/Workbook")
        .unwrap()
        .write_all(&stream)
        .unwrap();
    ole.flush().unwrap();
    drop(ole);
    path
}

#[test]
fn an_xls_with_far_apart_cells_is_refused() {
    let err = validate(&far_xls()).unwrap_err();
    assert!(
        err.to_string().contains("expand to 16777216 cells"),
        "{err}"
    );
}

/// Writes the hostile files above to `tests/fixtures/hostile/`, where the end-to-end tests read
/// them (`cargo test -p backbone-ingest --test it -- --ignored regenerate`).
#[test]
#[ignore = "writes into the repository; run by hand when a generator changes"]
fn regenerate_hostile_fixtures() {
    let dir = backbone_testkit::root().join("tests/fixtures/hostile");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, file) in [
        ("repeated.ods", repeated_ods()),
        ("declared_strings.xlsx", declared_strings()),
        ("deep.ods", deep_ods()),
        ("far.xls", far_xls()),
    ] {
        std::fs::copy(&file, dir.join(name)).unwrap();
    }
}

/// Every input the fuzz targets found (`tests/fixtures/fuzz/`), read again: an answer, never
/// a panic, within the memory budgets.
#[test]
fn fuzz_findings_stay_fixed() {
    let dir = backbone_testkit::root().join("tests/fixtures/fuzz");
    let mut read = 0;
    for target in ["csv", "xlsx", "ods", "xls", "schema"] {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if target == "schema" {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                let _ = TableSchema::from_json_str(&text, "fuzz.json");
            } else {
                let _ = validate(&path);
            }
            read += 1;
        }
    }
    eprintln!("{read} fuzz finding(s) read again");
}
