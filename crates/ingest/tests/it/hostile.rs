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
