//! A realistic year of messy partner files for the example initiative, made up but shaped
//! like what partners send: Hebrew headers, Windows-1255 and UTF-8 CSV, semicolons with
//! decimal commas, spreadsheets with title rows and real date cells, an OpenDocument sheet,
//! one partner with many errors, one resubmission, one month typed in other units, one partner
//! who is always late and one who never reports. Deterministic: the same seed gives the same bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate};

/// The year the demo covers (the population reference table is for this year).
pub(crate) const YEAR: i32 = 2024;

/// How a partner's system writes its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// UTF-8 CSV with Hebrew headers.
    Utf8Csv,
    /// Windows-1255 CSV with Hebrew headers (an old Excel "Save as CSV").
    Win1255Csv,
    /// UTF-8 with BOM, semicolons, decimal commas, `v`/`x` for yes/no (the hotline profile).
    Semicolon,
    /// An .xlsx with a title and a blank row above the header, dates as date cells.
    XlsxTitle,
    /// An .xlsx with the schema's English field names and text dates.
    XlsxPlain,
    /// An OpenDocument spreadsheet.
    Ods,
}

/// One partner of the example, as the generator sees it.
struct Source {
    id: &'static str,
    region: &'static str,
    services: &'static [&'static str],
    /// Records in January; volume grows through the year.
    base: u32,
    format: Format,
    /// Share of rows with a mistake in them.
    error_rate: f64,
    /// Days after the month's end the file arrives.
    delay_days: i64,
    /// Never sends anything.
    silent: bool,
}

const SOURCES: &[Source] = &[
    src(
        "shelter",
        "צפון",
        &["shelter", "counseling"],
        45,
        Format::Utf8Csv,
        0.01,
        7,
    ),
    src(
        "hotline",
        "מרכז",
        &["hotline", "counseling"],
        120,
        Format::Semicolon,
        0.01,
        7,
    ),
    src(
        "welfare",
        "חיפה",
        &["case_management", "counseling"],
        80,
        Format::XlsxTitle,
        0.02,
        7,
    ),
    src(
        "clinic",
        "חיפה",
        &["counseling"],
        40,
        Format::Win1255Csv,
        0.02,
        7,
    ),
    src(
        "police",
        "ירושלים",
        &["case_management", "legal_aid"],
        50,
        Format::XlsxPlain,
        0.01,
        24,
    ),
    src(
        "health_fund",
        "דרום",
        &["counseling", "case_management"],
        60,
        Format::Ods,
        0.01,
        7,
    ),
    src(
        "municipality",
        "תל אביב",
        &["case_management", "counseling"],
        70,
        Format::Utf8Csv,
        0.25,
        7,
    ),
    src(
        "shelter_south",
        "דרום",
        &["shelter"],
        30,
        Format::Win1255Csv,
        0.02,
        7,
    ),
    src(
        "welfare_jerusalem",
        "ירושלים",
        &["case_management"],
        55,
        Format::XlsxTitle,
        0.01,
        7,
    ),
    src(
        "legal_aid",
        "מרכז",
        &["legal_aid"],
        35,
        Format::XlsxPlain,
        0.01,
        7,
    ),
    src(
        "health_fund_north",
        "צפון",
        &["counseling"],
        50,
        Format::Utf8Csv,
        0.01,
        7,
    ),
    Source {
        silent: true,
        ..src(
            "crisis_center",
            "תל אביב",
            &["hotline"],
            40,
            Format::Utf8Csv,
            0.0,
            7,
        )
    },
];

const fn src(
    id: &'static str,
    region: &'static str,
    services: &'static [&'static str],
    base: u32,
    format: Format,
    error_rate: f64,
    delay_days: i64,
) -> Source {
    Source {
        id,
        region,
        services,
        base,
        format,
        error_rate,
        delay_days,
        silent: false,
    }
}

/// The partner whose June file is resubmitted, corrected, a week after the first.
const RESUBMITTER: &str = "welfare";
const RESUBMITTED_MONTH: u32 = 6;

/// The partner whose September file has its minutes in hours (a new staff member's
/// spreadsheet): every row is valid, the month's mean is not what this partner ever sends.
const HOURS_PARTNER: &str = "clinic";
const HOURS_MONTH: u32 = 9;

/// The partner whose header drifts mid-year: from July its minutes column is "משך הטיפול
/// (דקות)" (a new system's export, in the same place), from October a notes column follows.
const DRIFTER: &str = "shelter";
const DRIFT_MONTH: u32 = 7;
const NOTES_MONTH: u32 = 10;

/// The drifting partner's CSV as its new system writes it.
fn drifted(bytes: &[u8], month: u32) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes)?;
    let mut out = String::with_capacity(text.len() + 64);
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(&line.replace(",דקות,", ",משך הטיפול (דקות),"));
            if month >= NOTES_MONTH {
                out.push_str(",הערות");
            }
        } else {
            out.push_str(line);
            if month >= NOTES_MONTH {
                out.push_str(if i % 5 == 0 {
                    ",מעקב טלפוני"
                } else {
                    ","
                });
            }
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// A file that arrives: where it is, whose, and when.
pub(crate) struct Arrival {
    pub(crate) partner: &'static str,
    pub(crate) file: PathBuf,
    pub(crate) date: NaiveDate,
}

/// splitmix64: small, fast and reproducible.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One service record, in the schema's terms.
struct Record {
    record_id: String,
    person_id: String,
    referral: NaiveDate,
    first_contact: Option<NaiveDate>,
    gender: &'static str,
    age: u32,
    region: &'static str,
    service: &'static str,
    minutes: f64,
    improved: Option<bool>,
    /// A mistake made in this row: (column, the wrong text).
    mistake: Option<(usize, String)>,
}

const HEBREW_HEADERS: [&str; 10] = [
    "מספר רשומה",
    "תעודת זהות",
    "תאריך הפניה",
    "תאריך מגע ראשון",
    "מין",
    "גיל",
    "אזור",
    "סוג שירות",
    "דקות",
    "חל שיפור",
];
const FIELD_NAMES: [&str; 10] = [
    "record_id",
    "person_id",
    "referral_date",
    "first_contact_date",
    "gender",
    "age",
    "region",
    "service_type",
    "minutes",
    "outcome_improved",
];

fn hebrew_service(s: &str) -> &'static str {
    match s {
        "counseling" => "ייעוץ",
        "shelter" => "מקלט",
        "legal_aid" => "ליווי משפטי",
        "hotline" => "קו חם",
        _ => "ניהול מקרה",
    }
}

fn month_end(year: i32, month: u32) -> NaiveDate {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or_default()
}

/// The records a partner kept in one month.
fn records(rng: &mut Rng, s: &Source, index: usize, month: u32, clean: bool) -> Vec<Record> {
    let grow = 1.0 + 0.04 * f64::from(month - 1);
    let n = (f64::from(s.base) * grow) as u64 + rng.below(u64::from(s.base) / 5 + 1);
    // Share of contacts within a week rises through the year: the curve the partnership
    // wants to turn.
    let within_week = 0.55 + 0.025 * f64::from(month - 1);
    let improved = 0.45 + 0.015 * f64::from(month - 1);
    let regions = ["צפון", "חיפה", "מרכז", "תל אביב", "ירושלים", "דרום"];
    let last_day = month_end(YEAR, month).day();
    (0..n)
        .map(|k| {
            // People recur: a pool per region shared by the partners there, so the same person
            // is sometimes seen by two partners (and counted once).
            let region = if rng.chance(0.85) {
                s.region
            } else {
                rng.pick(&regions)
            };
            let region_no = regions.iter().position(|r| *r == region).unwrap_or(0) as u64;
            let person =
                100_000_000 + region_no * 1_000_000 + rng.below(900 + u64::from(month) * 120);
            let day = 1 + rng.below(u64::from(last_day)) as u32;
            let referral = NaiveDate::from_ymd_opt(YEAR, month, day).unwrap_or_default();
            let first_contact = if rng.chance(0.93) {
                let days = if rng.chance(within_week) {
                    rng.below(8)
                } else {
                    8 + rng.below(25)
                };
                Some(referral + chrono::Duration::days(days as i64))
            } else {
                None
            };
            let gender = if rng.chance(0.82) {
                "female"
            } else if rng.chance(0.97) {
                "male"
            } else {
                "other"
            };
            let age = 16 + rng.below(60) as u32;
            let service = *rng.pick(s.services);
            let minutes = (20 + rng.below(140)) as f64 + if rng.chance(0.3) { 0.5 } else { 0.0 };
            let improved = if rng.chance(0.7) {
                Some(rng.chance(improved))
            } else {
                None
            };
            let mistake = (!clean && rng.chance(s.error_rate)).then(|| mistake(rng));
            Record {
                record_id: format!(
                    "{}{:02}-{:06}",
                    (b'A' + (index as u8 % 26)) as char,
                    month,
                    k + 1
                ),
                person_id: person.to_string(),
                referral,
                first_contact,
                gender,
                age,
                region,
                service,
                minutes,
                improved,
                mistake,
            }
        })
        .collect()
}

/// The kinds of mistakes partners make, as (column, what they typed).
fn mistake(rng: &mut Rng) -> (usize, String) {
    match rng.below(6) {
        0 => (2, "31/02/2024".to_owned()),
        1 => (5, format!("{}", 130 + rng.below(80))),
        2 => (6, "גליל".to_owned()),
        3 => (1, String::new()),
        4 => (2, "TBD".to_owned()),
        _ => (7, "תמיכה".to_owned()),
    }
}

/// The row's cells as text, in the partner's own spellings.
fn cells(r: &Record, hebrew: bool, decimal_comma: bool) -> Vec<String> {
    let date = |d: &NaiveDate| d.format("%d/%m/%Y").to_string();
    let yes_no = |b: bool| match (hebrew, decimal_comma) {
        (_, true) => {
            if b {
                "v"
            } else {
                "x"
            }
        }
        (true, _) => {
            if b {
                "כן"
            } else {
                "לא"
            }
        }
        _ => {
            if b {
                "yes"
            } else {
                "no"
            }
        }
    };
    let mut out = vec![
        r.record_id.clone(),
        r.person_id.clone(),
        date(&r.referral),
        r.first_contact.as_ref().map(date).unwrap_or_default(),
        if hebrew {
            match r.gender {
                "female" => "נ",
                "male" => "ז",
                _ => "other",
            }
            .to_owned()
        } else {
            r.gender.to_owned()
        },
        r.age.to_string(),
        r.region.to_owned(),
        if hebrew {
            hebrew_service(r.service).to_owned()
        } else {
            r.service.to_owned()
        },
        if decimal_comma {
            format!("{}", r.minutes).replace('.', ",")
        } else {
            format!("{}", r.minutes)
        },
        r.improved.map(|b| yes_no(b).to_owned()).unwrap_or_default(),
    ];
    if let Some((col, text)) = &r.mistake {
        out[*col].clone_from(text);
    }
    out
}

fn csv_bytes(records: &[Record], delimiter: u8, bom: bool, decimal_comma: bool) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    w.write_record(HEBREW_HEADERS)?;
    for r in records {
        w.write_record(cells(r, true, decimal_comma))?;
    }
    let body = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(if bom {
        [b"\xEF\xBB\xBF".as_slice(), &body].concat()
    } else {
        body
    })
}

fn xlsx_bytes(records: &[Record], title: Option<&str>) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as CellFormat, Workbook};
    let mut book = Workbook::new();
    // A fixed creation time: the workbook's bytes, and so its hash and submission id, are the
    // same on every run (by default the library writes the time of writing).
    let created = ExcelDateTime::from_ymd(YEAR as u16, 1, 1)?;
    book.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let sheet = book.add_worksheet();
    let hebrew = title.is_some();
    let mut row = 0u32;
    if let Some(title) = title {
        sheet.set_right_to_left(true);
        let bold = CellFormat::new().set_bold();
        sheet.merge_range(0, 0, 0, 9, title, &bold)?;
        row = 2;
    }
    let headers: &[&str] = if hebrew {
        &HEBREW_HEADERS
    } else {
        &FIELD_NAMES
    };
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(row, c as u16, *h)?;
    }
    let date_format = CellFormat::new().set_num_format("dd/mm/yyyy");
    for r in records {
        row += 1;
        let text = cells(r, hebrew, false);
        for (c, cell) in text.iter().enumerate() {
            let c16 = c as u16;
            let mistaken = r.mistake.as_ref().is_some_and(|(m, _)| *m == c);
            match (c, mistaken) {
                // Dates as real date cells in the titled workbooks, as text in the plain ones.
                (2, false) if hebrew => {
                    let d = ExcelDateTime::from_ymd(
                        r.referral.year() as u16,
                        r.referral.month() as u8,
                        r.referral.day() as u8,
                    )?;
                    sheet.write_datetime_with_format(row, c16, &d, &date_format)?;
                }
                (5 | 8, false) => {
                    let v: f64 = cell.parse().unwrap_or_default();
                    sheet.write_number(row, c16, v)?;
                }
                _ if cell.is_empty() => {}
                _ => {
                    sheet.write_string(row, c16, cell)?;
                }
            }
        }
    }
    Ok(book.save_to_buffer()?)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A minimal OpenDocument spreadsheet: what LibreOffice's "Save as .ods" needs to be read.
fn ods_bytes(records: &[Record]) -> Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut content = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="דיווח">"#,
    );
    let mut row = |cells: Vec<String>| {
        content.push_str("<table:table-row>");
        for c in cells {
            if c.is_empty() {
                content.push_str("<table:table-cell/>");
            } else {
                content.push_str(&format!(
                    "<table:table-cell office:value-type=\"string\"><text:p>{}</text:p></table:table-cell>",
                    xml_escape(&c)
                ));
            }
        }
        content.push_str("</table:table-row>");
    };
    row(HEBREW_HEADERS.iter().map(|s| (*s).to_owned()).collect());
    for r in records {
        row(cells(r, true, false));
    }
    content.push_str("</table:table></office:spreadsheet></office:body></office:document-content>");
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = SimpleFileOptions::default();
    zip.start_file("mimetype", stored)?;
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")?;
    zip.start_file("META-INF/manifest.xml", deflated)?;
    zip.write_all(manifest.as_bytes())?;
    zip.start_file("content.xml", deflated)?;
    zip.write_all(content.as_bytes())?;
    Ok(zip.finish()?.into_inner())
}

fn file_bytes(s: &Source, records: &[Record], month: u32) -> Result<(String, Vec<u8>)> {
    let stem = format!("{}_{YEAR}-{month:02}", s.id);
    Ok(match s.format {
        Format::Utf8Csv => (
            format!("{stem}.csv"),
            csv_bytes(records, b',', false, false)?,
        ),
        Format::Win1255Csv => {
            let text = String::from_utf8(csv_bytes(records, b',', false, false)?)?;
            let (bytes, _, _) = encoding_rs::WINDOWS_1255.encode(&text);
            (format!("{stem}.csv"), bytes.into_owned())
        }
        Format::Semicolon => (format!("{stem}.csv"), csv_bytes(records, b';', true, true)?),
        Format::XlsxTitle => (
            format!("{stem}.xlsx"),
            xlsx_bytes(records, Some(&format!("דיווח חודשי {month:02}/{YEAR}")))?,
        ),
        Format::XlsxPlain => (format!("{stem}.xlsx"), xlsx_bytes(records, None)?),
        Format::Ods => (format!("{stem}.ods"), ods_bytes(records)?),
    })
}

/// Writes a year of partner files under `dir/<partner>/` and returns them in the order they
/// arrive. Nothing is written for the silent partner.
pub(crate) fn year(dir: &Path, seed: u64) -> Result<Vec<Arrival>> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for (index, s) in SOURCES.iter().enumerate() {
        if s.silent {
            continue;
        }
        let folder = dir.join(s.id);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        for month in 1..=12 {
            let resubmits = s.id == RESUBMITTER && month == RESUBMITTED_MONTH;
            let mut recs = records(&mut rng, s, index, month, false);
            if s.id == HOURS_PARTNER && month == HOURS_MONTH {
                for r in &mut recs {
                    r.minutes = (r.minutes / 60.0 * 100.0).round() / 100.0;
                }
            }
            let arrives = month_end(YEAR, month) + chrono::Duration::days(s.delay_days);
            if resubmits {
                // The first file of June: a third of its dates typed as text the system
                // could not read; the corrected file follows a week later.
                let corrected = std::mem::take(&mut recs);
                let mut broken: Vec<Record> = Vec::new();
                for (k, r) in corrected.iter().enumerate() {
                    let mut copy = clone_record(r);
                    if k % 3 == 0 {
                        copy.mistake = Some((2, "2024.06.??".to_owned()));
                    }
                    broken.push(copy);
                }
                let (name, bytes) = file_bytes(s, &broken, month)?;
                let path = folder.join(name);
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                out.push(Arrival {
                    partner: s.id,
                    file: path,
                    date: arrives,
                });
                let (name, bytes) = file_bytes(s, &corrected, month)?;
                let name = name.replacen('.', "_corrected.", 1);
                let path = folder.join(name);
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                out.push(Arrival {
                    partner: s.id,
                    file: path,
                    date: arrives + chrono::Duration::days(7),
                });
                continue;
            }
            let (name, mut bytes) = file_bytes(s, &recs, month)?;
            if s.id == DRIFTER && month >= DRIFT_MONTH {
                bytes = drifted(&bytes, month)?;
            }
            let path = folder.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            out.push(Arrival {
                partner: s.id,
                file: path,
                date: arrives,
            });
        }
    }
    out.extend(backbone_activity(dir, &mut rng)?);
    out.extend(ministry(dir, &mut rng)?);
    out.sort_by(|a, b| (a.date, a.partner).cmp(&(b.date, b.partner)));
    Ok(out)
}

/// The ministry's half-yearly workbook, as its own system prints it: a notes sheet, then one
/// sheet per quarter with a title, the regions down, the quarter's months across (`ינואר
/// 2024`), a totals column and a totals row of SUM formulas with their saved results. Tel
/// Aviv's figures are small (its quarters fall under the threshold); one cell of the second
/// quarter says "לא ידוע" (unknown) where a figure belongs.
fn ministry(dir: &Path, rng: &mut Rng) -> Result<Vec<Arrival>> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as CellFormat, Formula, Workbook};
    const REGIONS: [(&str, u64); 6] = [
        ("צפון", 60),
        ("חיפה", 75),
        ("מרכז", 110),
        ("תל אביב", 1),
        ("ירושלים", 90),
        ("דרום", 55),
    ];
    const MONTHS: [&str; 12] = [
        "ינואר",
        "פברואר",
        "מרץ",
        "אפריל",
        "מאי",
        "יוני",
        "יולי",
        "אוגוסט",
        "ספטמבר",
        "אוקטובר",
        "נובמבר",
        "דצמבר",
    ];
    let folder = dir.join("ministry");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let mut out = Vec::new();
    for half in 1..=2u32 {
        let mut book = Workbook::new();
        let created = ExcelDateTime::from_ymd(YEAR as u16, 1, 1)?;
        book.set_properties(&DocProperties::new().set_creation_datetime(&created));
        let bold = CellFormat::new().set_bold();
        let notes = book.add_worksheet();
        notes.set_name("הערות")?;
        notes.set_right_to_left(true);
        notes.write_string(
            0,
            0,
            "מקור: מערכת ההפניות של המשרד. הנתונים לפי אזור מגורים.",
        )?;
        for quarter in (half * 2 - 1)..=(half * 2) {
            let sheet = book.add_worksheet();
            sheet.set_name(format!("רבעון {quarter} {YEAR}"))?;
            sheet.set_right_to_left(true);
            sheet.merge_range(
                0,
                0,
                0,
                4,
                &format!("הפניות לפי אזור מגורים — רבעון {quarter} {YEAR}"),
                &bold,
            )?;
            let first = (quarter - 1) * 3;
            sheet.write_string_with_format(2, 0, "אזור", &bold)?;
            for m in 0..3u32 {
                let label = format!("{} {YEAR}", MONTHS[(first + m) as usize]);
                sheet.write_string_with_format(2, 1 + m as u16, &label, &bold)?;
            }
            sheet.write_string_with_format(2, 4, "סה\"כ", &bold)?;
            let mut column_sums = [0u64; 3];
            for (r, (region, base)) in REGIONS.iter().enumerate() {
                let row = 3 + r as u32;
                sheet.write_string(row, 0, *region)?;
                let mut total = 0;
                for m in 0..3u32 {
                    let month = first + m + 1;
                    let figure = base + base * u64::from(month) / 30 + rng.below(base / 5 + 2);
                    if quarter == 2 && *region == "ירושלים" && m == 1 {
                        sheet.write_string(row, 1 + m as u16, "לא ידוע")?;
                        continue;
                    }
                    sheet.write_number(row, 1 + m as u16, figure as f64)?;
                    total += figure;
                    column_sums[m as usize] += figure;
                }
                let excel_row = row + 1;
                sheet.write_formula(
                    row,
                    4,
                    Formula::new(format!("=SUM(B{excel_row}:D{excel_row})"))
                        .set_result(total.to_string()),
                )?;
            }
            let totals_row = 3 + REGIONS.len() as u32;
            sheet.write_string_with_format(totals_row, 0, "סה\"כ", &bold)?;
            let last = totals_row;
            for (m, sum) in column_sums.iter().enumerate() {
                let col = ["B", "C", "D"][m];
                sheet.write_formula(
                    totals_row,
                    1 + m as u16,
                    Formula::new(format!("=SUM({col}4:{col}{last})")).set_result(sum.to_string()),
                )?;
            }
            let all: u64 = column_sums.iter().sum();
            sheet.write_formula(
                totals_row,
                4,
                Formula::new(format!("=SUM(E4:E{last})")).set_result(all.to_string()),
            )?;
        }
        let path = folder.join(format!("ministry_{YEAR}-H{half}.xlsx"));
        let bytes = book.save_to_buffer()?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        out.push(Arrival {
            partner: "ministry",
            file: path,
            date: month_end(YEAR, half * 6) + chrono::Duration::days(20),
        });
    }
    Ok(out)
}

/// The backbone organisation's own quarterly record: meetings, shared decisions and which
/// partners took part. Engagement grows through the year.
fn backbone_activity(dir: &Path, rng: &mut Rng) -> Result<Vec<Arrival>> {
    let folder = dir.join("backbone");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let partners: Vec<&str> = SOURCES.iter().map(|s| s.id).collect();
    let mut out = Vec::new();
    for quarter in 1..=4u32 {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["מזהה פעילות", "תאריך", "סוג פעילות", "שותף"])?;
        let engaged = 7 + quarter as usize + rng.below(2) as usize;
        let mut n = 0;
        let mut row = |w: &mut csv::Writer<Vec<u8>>, kind: &str, partner: &str, rng: &mut Rng| {
            n += 1;
            let month = (quarter - 1) * 3 + 1 + rng.below(3) as u32;
            let day = 1 + rng.below(28) as u32;
            w.write_record([
                format!("BB-{YEAR}{quarter}-{n:03}"),
                format!("{day:02}/{month:02}/{YEAR}"),
                kind.to_owned(),
                partner.to_owned(),
            ])
        };
        for p in partners.iter().take(engaged.min(partners.len())) {
            row(&mut w, "מעורבות שותף", p, rng)?;
        }
        for _ in 0..(3 + quarter) {
            row(&mut w, "פגישה", "backbone", rng)?;
        }
        for _ in 0..(1 + quarter / 2) {
            row(&mut w, "החלטה משותפת", "backbone", rng)?;
        }
        let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        let path = folder.join(format!("backbone_activity_{YEAR}-Q{quarter}.csv"));
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        out.push(Arrival {
            partner: "backbone",
            file: path,
            date: month_end(YEAR, quarter * 3) + chrono::Duration::days(10),
        });
    }
    Ok(out)
}

fn clone_record(r: &Record) -> Record {
    Record {
        record_id: r.record_id.clone(),
        person_id: r.person_id.clone(),
        referral: r.referral,
        first_contact: r.first_contact,
        gender: r.gender,
        age: r.age,
        region: r.region,
        service: r.service,
        minutes: r.minutes,
        improved: r.improved,
        mistake: r.mistake.clone(),
    }
}
