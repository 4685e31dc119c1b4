//! The results tables as one Excel workbook: a sheet per table, numbers as numbers, sheets
//! right to left for Hebrew, headers in the report's language.

use std::path::Path;

use backbone_schema::Initiative;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::{Lang, ReportError, ResultsTables};
use backbone_workspace::tables::{QUALITY_COLUMNS, VALUE_COLUMNS};

/// The quality columns that count rows: not in the committee's workbook.
const COUNT_COLUMNS: [&str; 3] = ["rows_read", "rows_accepted", "rows_rejected"];

fn sheet<'a>(
    book: &'a mut Workbook,
    name: &str,
    headers: &[&str],
    lang: Lang,
) -> Result<&'a mut Worksheet, XlsxError> {
    let ws = book.add_worksheet();
    ws.set_name(name)?;
    ws.set_right_to_left(lang.rtl());
    let bold = Format::new().set_bold();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(ws)
}

/// Text cells are written as text: a value that looks like a formula stays text (the writer
/// never turns a string into a formula).
fn put_text(ws: &mut Worksheet, r: u32, c: u16, s: &str) -> Result<(), XlsxError> {
    if !s.is_empty() {
        ws.write_string(r, c, s)?;
    }
    Ok(())
}

fn put_number(ws: &mut Worksheet, r: u32, c: u16, v: Option<f64>) -> Result<(), XlsxError> {
    if let Some(v) = v {
        ws.write_number(r, c, v)?;
    }
    Ok(())
}

fn build(
    tables: &ResultsTables,
    initiative: &Initiative,
    lang: Lang,
) -> Result<Workbook, XlsxError> {
    let he = lang.rtl();
    let mut book = Workbook::new();
    let ws = sheet(
        &mut book,
        if he { "מדדים" } else { "indicators" },
        &VALUE_COLUMNS,
        lang,
    )?;
    let pct = Format::new().set_num_format("0%");
    for (i, v) in tables.values.iter().enumerate() {
        let r = i as u32 + 1;
        put_text(ws, r, 0, &v.indicator)?;
        put_text(ws, r, 1, &v.period)?;
        put_text(ws, r, 2, &v.breakdown)?;
        put_number(ws, r, 3, v.value)?;
        put_number(ws, r, 4, v.numerator)?;
        put_number(ws, r, 5, v.denominator)?;
        ws.write_boolean(r, 6, v.suppressed)?;
        if let Some(c) = v.coverage {
            ws.write_number_with_format(r, 7, c, &pct)?;
        }
        put_number(ws, r, 8, v.baseline)?;
        put_number(ws, r, 9, v.target)?;
        put_text(ws, r, 10, &v.status)?;
        put_text(ws, r, 11, &v.store_version)?;
    }
    ws.autofit();
    let ws = sheet(
        &mut book,
        if he { "שלמות" } else { "completeness" },
        &[
            "partner",
            "name",
            "schema",
            "period",
            "due",
            "status",
            "received",
            "submission",
        ],
        lang,
    )?;
    for (i, e) in tables.expected.iter().enumerate() {
        let r = i as u32 + 1;
        let name = initiative
            .partner(&e.partner)
            .map(|p| p.name.get(lang.code()).to_owned())
            .unwrap_or_default();
        for (c, s) in [
            &e.partner,
            &name,
            &e.schema,
            &e.period,
            &e.due,
            &e.status,
            &e.received,
            &e.submission,
        ]
        .iter()
        .enumerate()
        {
            put_text(ws, r, c as u16, s)?;
        }
    }
    ws.autofit();
    // The committee's copy of quality holds no row counts: with the counts published by
    // partner they would give suppressed cells away (results/quality.csv keeps them, for the
    // data manager only).
    let columns: Vec<&str> = QUALITY_COLUMNS
        .iter()
        .copied()
        .filter(|c| !COUNT_COLUMNS.contains(c))
        .collect();
    let ws = sheet(
        &mut book,
        if he { "איכות" } else { "quality" },
        &columns,
        lang,
    )?;
    for (i, q) in tables.quality.iter().enumerate() {
        let r = i as u32 + 1;
        for (c, s) in [
            &q.partner,
            &q.schema,
            &q.period,
            &q.submission,
            &q.file,
            &q.received,
        ]
        .iter()
        .enumerate()
        {
            put_text(ws, r, c as u16, s)?;
        }
        // The share as the report prints it (0.1%), and the problems without their counts:
        // exact shares and counts together give a submission's rows.
        let share = (q.rejected_share * 1000.0).round() / 1000.0;
        ws.write_number_with_format(r, 6, share, &pct)?;
        put_text(ws, r, 7, &crate::model::problem_codes(&q.main_errors))?;
        put_text(ws, r, 8, &q.timeliness)?;
        put_text(ws, r, 9, &q.volume)?;
        put_text(ws, r, 10, &q.unusual)?;
    }
    ws.autofit();
    Ok(book)
}

/// Writes `path` (`results.xlsx`).
/// `generated` (RFC 3339) is written as the workbook's creation time, so the same results
/// rendered at the same time give the same bytes (by default the library writes the time of
/// writing).
pub fn write_workbook(
    tables: &ResultsTables,
    initiative: &Initiative,
    lang: Lang,
    generated: &str,
    path: &Path,
) -> Result<(), ReportError> {
    let err = |e: XlsxError| ReportError::Workbook {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut book = build(tables, initiative, lang).map_err(err)?;
    if let Some(created) = creation_time(generated) {
        book.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    }
    book.save(path).map_err(err)
}

/// An RFC 3339 time as the workbook's creation time (UTC).
fn creation_time(rfc3339: &str) -> Option<rust_xlsxwriter::ExcelDateTime> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()?
        .naive_utc();
    rust_xlsxwriter::ExcelDateTime::from_ymd(
        u16::try_from(t.year()).ok()?,
        u8::try_from(t.month()).ok()?,
        u8::try_from(t.day()).ok()?,
    )
    .ok()?
    .and_hms(
        u16::try_from(t.hour()).ok()?,
        u8::try_from(t.minute()).ok()?,
        t.second(),
    )
    .ok()
}
