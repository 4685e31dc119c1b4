//! File classes found in other projects' reader test suites (calamine, xlrd, readxl,
//! messytables…), each rebuilt here as a small file of our own: read as the reference
//! readers read it, or refused with one line a partner understands.

use std::io::Write;

use backbone_ingest::{ErrorType, IngestError, Options, validate_file};
use backbone_schema::TableSchema;

fn schema() -> TableSchema {
    TableSchema::from_json_str(
        r#"{"name": "visits", "fields": [
            {"name": "id", "constraints": {"required": true}},
            {"name": "day", "type": "date"},
            {"name": "minutes", "type": "integer"}]}"#,
        "visits.json",
    )
    .unwrap()
}

fn refusal(name: &str, bytes: &[u8]) -> String {
    let f = backbone_testkit::temp_file(name, bytes);
    match validate_file(&f, &schema(), &Options::default()) {
        Err(e @ IngestError::Spreadsheet { .. }) => e.to_string(),
        other => panic!("{name}: expected a refusal, got {other:?}"),
    }
}

/// A CFB (OLE) container holding the given streams.
fn ole(streams: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    let mut c = cfb::create(&path).unwrap();
    for (name, bytes) in streams {
        c.create_stream(name).unwrap().write_all(bytes).unwrap();
    }
    c.flush().unwrap();
    drop(c);
    std::fs::read(&path).unwrap()
}

/// A BIFF record: type, length, body.
fn record(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut r = kind.to_le_bytes().to_vec();
    r.extend((body.len() as u16).to_le_bytes());
    r.extend(body);
    r
}

#[test]
fn an_excel_4_worksheet_is_refused_as_an_old_format() {
    // xlrd's biff4_no_format_no_window2.xls: a bare BIFF4 stream, no OLE container.
    let mut bytes = record(0x0409, &[0, 0, 0x10, 0, 0, 0]);
    bytes.extend(record(0x0000, &[0, 0, 2, 0, 0, 0, 2, 0]));
    bytes.extend(record(0x000A, &[]));
    let e = refusal("old.xls", &bytes);
    assert!(e.contains("Excel 2, 3 or 4"), "{e}");
    assert!(e.contains("save it as .xlsx"), "{e}");
}

#[test]
fn password_protected_workbooks_say_so() {
    // An .xlsx saved with a password is an OLE container with an encrypted package.
    let xlsx = ole(&[
        ("/EncryptionInfo", vec![4, 0, 4, 0, 0x40, 0, 0, 0]),
        ("/EncryptedPackage", vec![0; 64]),
    ]);
    let e = refusal("locked.xlsx", &xlsx);
    assert!(e.contains("password protected"), "{e}");
    // An .xls with a password: FILEPASS among the workbook globals.
    let mut globals = record(0x0809, &[0, 6, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    globals.extend(record(0x002F, &[1, 0, 1, 0]));
    globals.extend(record(0x000A, &[]));
    let e = refusal("locked.xls", &ole(&[("/Workbook", globals)]));
    assert!(e.contains("password protected"), "{e}");
    // An .ods with a password: its manifest declares the encryption.
    let mut ods = Vec::new();
    {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut ods));
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("mimetype", opts).unwrap();
        z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        z.start_file("META-INF/manifest.xml", opts).unwrap();
        z.write_all(
            br#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data manifest:checksum-type="SHA1/1K"/></manifest:file-entry></manifest:manifest>"#,
        )
        .unwrap();
        z.start_file("content.xml", opts).unwrap();
        z.write_all(&[0x8f, 0x12, 0xff, 0x00]).unwrap();
        z.finish().unwrap();
    }
    let e = refusal("locked.ods", &ods);
    assert!(e.contains("password protected"), "{e}");
}

#[test]
fn another_tables_file_is_refused_and_the_right_table_named() {
    let f = backbone_testkit::temp_file(
        "budget.csv",
        b"account,amount,approved_by\n4100,1200,Dana\n4200,300,Noa\n",
    );
    let mut report = validate_file(&f, &schema(), &Options::default()).unwrap();
    // No row is stored with every field empty: the file is refused as a whole.
    assert_eq!(report.stats.accepted, 0);
    assert!(report.is_wrong_file());
    let kinds: Vec<ErrorType> = report.errors.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ErrorType::UnmatchedHeader],
        "one clear error, not a list"
    );
    let budget = TableSchema::from_json_str(
        r#"{"name": "budget", "fields": [{"name": "account"}, {"name": "amount", "type": "number"}]}"#,
        "budget.json",
    )
    .unwrap();
    report.name_closest_schema([&schema(), &budget]);
    insta::assert_snapshot!(report.errors[0].message, @r#"Header (row 1): the header ("account", "amount", "approved_by") names 0 of the 3 fields of "visits": this looks like another table's file; it looks like a file of "budget" (the header names 2 of its 2 fields)"#);
}

#[test]
fn a_header_naming_few_fields_among_many_columns_is_another_tables() {
    // One of six fields ("id"), and five columns that are none: a different register.
    let six = TableSchema::from_json_str(
        r#"{"fields": [{"name": "id"}, {"name": "a"}, {"name": "b"}, {"name": "c"},
            {"name": "d"}, {"name": "e"}]}"#,
        "six.json",
    )
    .unwrap();
    let f = backbone_testkit::temp_file("x.csv", b"id,p,q,r,s,t\n1,2,3,4,5,6\n");
    let report = validate_file(&f, &six, &Options::default()).unwrap();
    assert!(report.is_wrong_file());
    // Half of the fields named: this table's file with columns missing, not another's.
    let f = backbone_testkit::temp_file("y.csv", b"id,a,b,q\n1,2,3,4\n");
    let report = validate_file(&f, &six, &Options::default()).unwrap();
    assert!(!report.is_wrong_file());
    assert_eq!(report.stats.accepted, 1);
}

#[test]
fn a_date_serial_past_the_year_9999_is_the_cell_error_excel_shows() {
    // Excel shows ##### for a date cell whose serial is past 9999-12-31; calamine would make
    // it the year 10099.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dates.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let date = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    let ws = wb.add_worksheet();
    for (c, h) in ["id", "day", "minutes"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "A1").unwrap();
    ws.write_number_with_format(1, 1, 45_366.0, &date).unwrap(); // 15/03/2024
    ws.write_number(1, 2, 30).unwrap();
    ws.write_string(2, 0, "A2").unwrap();
    ws.write_number_with_format(2, 1, 3_000_000.0, &date)
        .unwrap();
    ws.write_number(2, 2, 40).unwrap();
    wb.save(&path).unwrap();
    let report = validate_file(&path, &schema(), &Options::default()).unwrap();
    assert_eq!(report.stats.accepted, 1);
    let e: Vec<(ErrorType, Option<u64>, Option<&str>)> = report
        .errors
        .iter()
        .map(|e| (e.kind, e.row_number, e.field_name.as_deref()))
        .collect();
    assert_eq!(e, [(ErrorType::CellError, Some(3), Some("day"))]);
    assert!(
        report.errors[0].message.contains("#####"),
        "{}",
        report.errors[0].message
    );
}

#[test]
fn a_short_file_says_which_encoding_was_guessed() {
    // 70-odd bytes of Greek in windows-1253: too little text to tell Greek from Hebrew.
    let (greek, _, _) = encoding_rs::WINDOWS_1253
        .encode("id,day,minutes\nΓιώργος,2024-03-15,30\nΕλένη,2024-03-16,45\n");
    let f = backbone_testkit::temp_file("short.csv", &greek);
    let report = validate_file(&f, &schema(), &Options::default()).unwrap();
    assert!(report.source.encoding_guessed);
    assert!(
        report.to_text().contains("guessed from little text"),
        "{}",
        report.to_text()
    );
    // UTF-8, or a file with plenty of text, is not a guess.
    let f = backbone_testkit::temp_file(
        "utf8.csv",
        "id,day,minutes\nΓιώργος,2024-03-15,30\n".as_bytes(),
    );
    let report = validate_file(&f, &schema(), &Options::default()).unwrap();
    assert!(!report.source.encoding_guessed);
    let mut long = String::from("id,day,minutes\n");
    for i in 0..100 {
        long.push_str(&format!("שורה{i},2024-03-15,{i}\n"));
    }
    let (hebrew, _, _) = encoding_rs::WINDOWS_1255.encode(&long);
    let f = backbone_testkit::temp_file("long.csv", &hebrew);
    let report = validate_file(&f, &schema(), &Options::default()).unwrap();
    assert_eq!(report.source.encoding.as_deref(), Some("windows-1255"));
    assert!(!report.source.encoding_guessed);
}

/// An .ods as Google Docs writes it: no `mimetype` entry.
fn ods_without_mimetype(rows: &[&[&str]]) -> Vec<u8> {
    let mut table = String::new();
    for r in rows {
        table.push_str("<table:table-row>");
        for c in *r {
            table.push_str(&format!(
                r#"<table:table-cell office:value-type="string"><text:p>{c}</text:p></table:table-cell>"#
            ));
        }
        table.push_str("</table:table-row>");
    }
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1">{table}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let mut ods = Vec::new();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut ods));
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("META-INF/manifest.xml", opts).unwrap();
    z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#).unwrap();
    z.start_file("content.xml", opts).unwrap();
    z.write_all(content.as_bytes()).unwrap();
    z.finish().unwrap();
    ods
}

#[test]
fn an_ods_without_its_mimetype_entry_is_read() {
    let ods = ods_without_mimetype(&[
        &["id", "day", "minutes"],
        &["A1", "2024-03-15", "30"],
        &["A2", "2024-03-16", "x"],
    ]);
    let f = backbone_testkit::temp_file("google.ods", &ods);
    let report = validate_file(&f, &schema(), &Options::default()).unwrap();
    assert_eq!((report.stats.rows, report.stats.accepted), (2, 1));
    assert_eq!(report.errors[0].kind, ErrorType::TypeError);
}

#[test]
fn an_xlsx_with_backslash_part_names_is_read() {
    // calamine's issue_530.xlsx: every part named `xl\worksheets\sheet1.xml` and so on.
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in [["id", "day", "minutes"], ["A1", "2024-03-15", "30"]]
        .iter()
        .enumerate()
    {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    wb.save(&plain).unwrap();
    let mut zin = zip::ZipArchive::new(std::fs::File::open(&plain).unwrap()).unwrap();
    let mut bytes = Vec::new();
    {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut bytes));
        for i in 0..zin.len() {
            let mut e = zin.by_index(i).unwrap();
            let name = e.name().unwrap().replace('/', "\\");
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            z.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(&data).unwrap();
        }
        z.finish().unwrap();
    }
    let f = backbone_testkit::temp_file("backslash.xlsx", &bytes);
    let report = validate_file(&f, &schema(), &Options::default()).unwrap();
    assert_eq!((report.stats.rows, report.stats.accepted), (1, 1));
}

#[test]
fn an_ods_time_cell_reads_as_the_clock_it_shows() {
    // LibreOffice stores a time cell as an ISO duration; pandas and readODS show 11:12:12.
    let mut ods = Vec::new();
    let content = r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1"><table:table-row><table:table-cell office:value-type="string"><text:p>id</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>at</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell office:value-type="string"><text:p>A1</text:p></table:table-cell><table:table-cell office:value-type="time" office:time-value="PT11H12M12S"><text:p>11:12:12</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#;
    {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut ods));
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("mimetype", opts).unwrap();
        z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        z.start_file("META-INF/manifest.xml", opts).unwrap();
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>"#).unwrap();
        z.start_file("content.xml", opts).unwrap();
        z.write_all(content.as_bytes()).unwrap();
        z.finish().unwrap();
    }
    let schema = TableSchema::from_json_str(
        r#"{"fields": [{"name": "id"}, {"name": "at", "constraints": {"pattern": "[0-9]{2}:[0-9]{2}:[0-9]{2}"}}]}"#,
        "t.json",
    )
    .unwrap();
    let f = backbone_testkit::temp_file("times.ods", &ods);
    let report = validate_file(&f, &schema, &Options::default()).unwrap();
    assert!(report.errors.is_empty(), "{}", report.to_text());
    assert_eq!(report.stats.accepted, 1);
}

/// A wide sheet's stray value in a column with no header is reported where it is, not
/// passed over; a month header that is not a month is a column not read, said once.
#[test]
fn a_wide_sheets_stray_cells_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wide.csv");
    std::fs::write(
        &file,
        "אזור,ינואר 2024,פברואר 2024,הערות,\nצפון,10,12,,\nחיפה,7,8,בדיקה,99\n",
    )
    .unwrap();
    let schema = backbone_schema::TableSchema::from_json_str(
        r#"{"name": "r", "fields": [{"name": "region", "x-aliases": ["אזור"]},
            {"name": "month", "type": "date"}, {"name": "n", "type": "integer"}]}"#,
        "r.json",
    )
    .unwrap();
    let profile = backbone_schema::Profile::from_toml(
        "[layout]\nwide = { keep = [\"region\"], names_to = \"month\", values_to = \"n\" }\n",
        "p.toml",
    )
    .unwrap();
    let options = backbone_ingest::Options {
        profile: Some(profile),
        ..backbone_ingest::Options::default()
    };
    let report = backbone_ingest::validate_file(&file, &schema, &options).unwrap();
    assert_eq!((report.stats.rows, report.stats.accepted), (4, 4));
    let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages
            .contains(&"Row 3, column E: \"99\" is in a column without a header; it is not read"),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"הערות\" (D) is neither a kept field nor a column of figures")),
        "{messages:#?}"
    );
}

/// A time of day and a duration in a workbook are the clocks the spreadsheet shows, not the
/// 31st of December 1899 or a fraction of a day.
#[test]
fn time_and_duration_cells_read_as_their_clocks() {
    use rust_xlsxwriter::{Format, Workbook};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("times.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let clock = Format::new().set_num_format("hh:mm:ss");
    let hours = Format::new().set_num_format("[h]:mm:ss");
    let day = Format::new().set_num_format("dd/mm/yyyy");
    sheet
        .write_number_with_format(0, 0, 10.0 / 24.0 + 10.0 / 1440.0 + 10.0 / 86400.0, &clock)
        .unwrap();
    sheet
        .write_number_with_format(0, 1, 255.0 / 24.0 + 10.0 / 1440.0 + 10.0 / 86400.0, &hours)
        .unwrap();
    sheet
        .write_number_with_format(0, 2, 45_352.0, &day)
        .unwrap();
    book.save(&path).unwrap();
    let cells = backbone_ingest::read_cells(
        &path,
        "times.xlsx",
        None,
        &backbone_ingest::Limits::default(),
        10,
    )
    .unwrap();
    assert_eq!(cells.rows[0].1, ["10:10:10", "255:10:10", "01/03/2024"]);
}
