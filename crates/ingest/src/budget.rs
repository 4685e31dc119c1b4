//! Budgets checked while streaming the parts of a spreadsheet that the spreadsheet library
//! would load whole, **before** it expands them. The library (calamine) keeps `.ods`, `.xls`
//! and `.xlsb` sheets as dense ranges, `.xlsx` and `.xlsb` shared strings as one vector, and
//! `.ods` repeated-cell markers expanded: a few hundred bytes can ask for gigabytes. Each scan
//! here reads a part once, as a stream, with its own memory fixed, and works out what the
//! library would build:
//!
//! - `.ods` `content.xml`: every table's rows and cells with their repeat counts expanded
//!   (capped as the library caps them), the bounding box of the non-empty cells, and the
//!   cells the library pushes while reading;
//! - `.xlsx` shared strings: how many strings, and the count the file declares (the library
//!   reserves that many at once);
//! - `.xlsb` worksheets: the bounding box of the cell records;
//! - `.xls` (BIFF8 in an OLE container): the bounding box of every sheet's cell records (the
//!   library reads every sheet at open), and the shared strings it declares (`.xlsb` too);
//! - every XML part: nesting depth.
//!
//! Over a budget, the file is refused with [`IngestError::TooLarge`] and a hint, and the
//! library is never called.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use quick_xml::events::{BytesStart, Event};

use crate::Limits;
use crate::error::IngestError;
use crate::sheet::SheetKind;

/// Excel's (and the library's) largest sheet.
const MAX_ROWS: u64 = 1_048_576;
const MAX_COLUMNS: u64 = 16_384;

/// What a budget check found to be too much.
struct Over {
    what: String,
    limit: u64,
    hint: &'static str,
}

impl Over {
    fn error(self, file: &str, sheet: Option<String>) -> IngestError {
        IngestError::TooLarge {
            file: file.to_owned(),
            sheet,
            row: None,
            column: None,
            what: self.what,
            limit: self.limit,
            hint: self.hint,
        }
    }
}

/// Whether the workbook is encrypted with a password, which no reader can open without it:
/// an OLE container holding an `EncryptedPackage` (a protected `.xlsx`), an `.xls` whose
/// workbook stream has a `FILEPASS` record, an `.ods` whose manifest declares encryption.
pub(crate) fn password_protected(path: &Path, kind: SheetKind) -> bool {
    match kind {
        SheetKind::Xls => {
            let Ok(mut ole) = cfb::open(path) else {
                return false;
            };
            if ole.is_stream("/EncryptedPackage") {
                return true;
            }
            let Some(stream) = ["/Workbook", "/Book"]
                .into_iter()
                .find(|s| ole.is_stream(s))
            else {
                return false;
            };
            let Ok(reader) = ole.open_stream(stream) else {
                return false;
            };
            let mut r = BufReader::new(reader);
            let mut head = [0u8; 4];
            let mut body = Vec::new();
            // FILEPASS comes in the workbook globals, before their EOF.
            while r.read_exact(&mut head).is_ok() {
                let kind = u16::from_le_bytes([head[0], head[1]]);
                if kind == 0x002F {
                    return true;
                }
                if kind == 0x000A {
                    return false;
                }
                body.resize(usize::from(u16::from_le_bytes([head[2], head[3]])), 0);
                if r.read_exact(&mut body).is_err() {
                    return false;
                }
            }
            false
        }
        SheetKind::Ods => {
            let Ok(f) = File::open(path) else {
                return false;
            };
            let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(f)) else {
                return false;
            };
            let Ok(entry) = zip.by_name("META-INF/manifest.xml") else {
                return false;
            };
            let mut text = String::new();
            entry
                .take(1 << 20)
                .read_to_string(&mut text)
                .is_ok_and(|_| text.contains("encryption-data"))
        }
        SheetKind::Xlsx | SheetKind::Xlsb => false,
    }
}

const SHEET_HINT: &str = "this is far more than a submission holds (or the file is built to exhaust memory); save the data sheet as CSV or .xlsx";

/// Checks a spreadsheet's parts against `limits` before the library opens it.
pub(crate) fn check(
    path: &Path,
    kind: SheetKind,
    file: &str,
    limits: &Limits,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_owned(),
        source,
    };
    match kind {
        SheetKind::Xls => {
            let mut ole = cfb::open(path).map_err(io)?;
            let stream = ["/Workbook", "/Book"]
                .into_iter()
                .find(|s| ole.is_stream(s));
            let Some(stream) = stream else {
                return Ok(()); // the library says what is missing
            };
            let reader = ole.open_stream(stream).map_err(io)?;
            xls_records(BufReader::new(reader), limits).map_err(|o| o.error(file, None))
        }
        SheetKind::Xlsx | SheetKind::Xlsb | SheetKind::Ods => {
            let f = File::open(path).map_err(io)?;
            let mut zip =
                zip::ZipArchive::new(BufReader::new(f)).map_err(|e| IngestError::Spreadsheet {
                    file: file.to_owned(),
                    sheet: None,
                    message: format!("the file is not a readable zip container ({e})"),
                })?;
            for i in 0..zip.len() {
                let entry = zip.by_index(i).map_err(|e| IngestError::Spreadsheet {
                    file: file.to_owned(),
                    sheet: None,
                    message: format!("damaged zip entry {i} ({e})"),
                })?;
                let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
                let lower = name.to_ascii_lowercase().replace('\\', "/");
                let part = Some(name.clone());
                let result = match kind {
                    SheetKind::Ods if lower == "content.xml" => ods_content(entry, limits),
                    SheetKind::Xlsx if lower.ends_with("sharedstrings.xml") => {
                        shared_strings(entry, limits)
                    }
                    SheetKind::Xlsx
                        if lower.ends_with(".xml") && !lower.contains("worksheets/") =>
                    {
                        whole_xml(entry, limits)
                    }
                    SheetKind::Ods if lower.ends_with(".xml") => whole_xml(entry, limits),
                    SheetKind::Xlsb if lower.contains("worksheets/") && lower.ends_with(".bin") => {
                        xlsb_cells(BufReader::new(entry), limits)
                    }
                    SheetKind::Xlsb if lower.ends_with("sharedstrings.bin") => {
                        part_size(entry.size(), limits.max_whole_part_bytes / 4)
                            .and_then(|()| xlsb_strings(BufReader::new(entry), limits))
                    }
                    SheetKind::Xlsb if lower.ends_with(".bin") => {
                        part_size(entry.size(), limits.max_whole_part_bytes / 4)
                    }
                    _ => Ok(()),
                };
                result.map_err(|o| o.error(file, part))?;
            }
            Ok(())
        }
    }
}

fn part_size(size: u64, limit: u64) -> Result<(), Over> {
    if size > limit {
        return Err(Over {
            what: format!("a part loaded whole of {size} bytes"),
            limit,
            hint: SHEET_HINT,
        });
    }
    Ok(())
}

fn xml_reader<R: Read>(r: R) -> quick_xml::Reader<BufReader<R>> {
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(r));
    // The names of open elements are not kept (the depth budget bounds nesting anyway).
    reader.config_mut().check_end_names = false;
    reader
}

fn malformed(e: impl std::fmt::Display) -> Over {
    Over {
        what: format!("XML the reader cannot follow ({e})"),
        limit: 0,
        hint: "open the file in a spreadsheet program and save it again",
    }
}

fn too_deep(limits: &Limits) -> Over {
    Over {
        what: "XML nested deeper than a spreadsheet's".to_owned(),
        limit: limits.max_xml_depth as u64,
        hint: "the file is built to exhaust the reader; save the data sheet as CSV",
    }
}

/// An XML part read whole by the library: its size and its nesting.
fn whole_xml(entry: zip::read::ZipFile<'_, impl Read>, limits: &Limits) -> Result<(), Over> {
    part_size(entry.size(), limits.max_whole_part_bytes)?;
    let mut reader = xml_reader(entry);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    loop {
        match reader.read_event_into(&mut buf).map_err(malformed)? {
            Event::Start(_) => {
                depth += 1;
                if depth > limits.max_xml_depth {
                    return Err(too_deep(limits));
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

fn number_attr(e: &BytesStart<'_>, name: &str) -> Option<u64> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.value.trim().parse().ok())
}

fn has_attr(e: &BytesStart<'_>, name: &str) -> bool {
    e.attributes().flatten().any(|a| a.key.as_ref() == name)
}

/// `.xlsx` shared strings: counted as they stream by, and the declared count checked (the
/// library reserves room for that many before reading one).
fn shared_strings(entry: zip::read::ZipFile<'_, impl Read>, limits: &Limits) -> Result<(), Over> {
    part_size(entry.size(), limits.max_whole_part_bytes)?;
    let over = |n: u64| Over {
        what: format!("{n} shared strings"),
        limit: limits.max_shared_strings,
        hint: SHEET_HINT,
    };
    let mut reader = xml_reader(entry);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut strings = 0u64;
    loop {
        match reader.read_event_into(&mut buf).map_err(malformed)? {
            Event::Start(e) => {
                depth += 1;
                if depth > limits.max_xml_depth {
                    return Err(too_deep(limits));
                }
                match e.local_name().as_ref() {
                    "sst" => {
                        for attr in ["uniqueCount", "count"] {
                            if let Some(n) = number_attr(&e, attr)
                                && n > limits.max_shared_strings
                            {
                                return Err(over(n));
                            }
                        }
                    }
                    "si" => strings += 1,
                    _ => {}
                }
            }
            Event::Empty(e) if e.local_name().as_ref() == "si" => strings += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => return Ok(()),
            _ => {}
        }
        if strings > limits.max_shared_strings {
            return Err(over(strings));
        }
        buf.clear();
    }
}

/// A sheet's cells as the library would lay them out: the bounding box of what is not empty.
#[derive(Default)]
struct Extent {
    rows: Option<(u64, u64)>,
    cols: Option<(u64, u64)>,
}

impl Extent {
    fn add(&mut self, rows: (u64, u64), cols: (u64, u64)) {
        self.rows = Some(match self.rows {
            None => rows,
            Some((a, b)) => (a.min(rows.0), b.max(rows.1)),
        });
        self.cols = Some(match self.cols {
            None => cols,
            Some((a, b)) => (a.min(cols.0), b.max(cols.1)),
        });
    }

    /// Cells of the dense range (`last` inclusive).
    fn cells(&self) -> u64 {
        match (self.rows, self.cols) {
            (Some((r0, r1)), Some((c0, c1))) => {
                (r1.saturating_sub(r0) + 1).saturating_mul(c1.saturating_sub(c0) + 1)
            }
            _ => 0,
        }
    }
}

fn too_many_cells(cells: u64, limits: &Limits) -> Over {
    Over {
        what: format!("sheets that expand to {cells} cells"),
        limit: limits.max_sheet_cells,
        hint: SHEET_HINT,
    }
}

/// `.ods` `content.xml`: every table's rows and cells with their repeat counts expanded.
fn ods_content(entry: zip::read::ZipFile<'_, impl Read>, limits: &Limits) -> Result<(), Over> {
    part_size(entry.size(), limits.max_whole_part_bytes)?;
    let mut reader = xml_reader(entry);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    // Dense cells of the tables finished, and cells the library pushes while reading rows.
    let mut done = 0u64;
    let mut pushed = 0u64;
    let mut table = Extent::default();
    let mut row = 0u64; // expanded rows of this table so far
    let mut row_repeat = 1u64;
    let mut col = 0u64; // expanded columns of this row so far
    let mut row_cols: Option<(u64, u64)> = None;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(malformed)?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Event::Start(_) = event {
            depth += 1;
            if depth > limits.max_xml_depth {
                return Err(too_deep(limits));
            }
        }
        if let Some(e) = start {
            match e.name().as_ref() {
                "table:table" => {
                    table = Extent::default();
                    row = 0;
                }
                "table:table-row" => {
                    let wanted = number_attr(e, "table:number-rows-repeated").unwrap_or(1);
                    row_repeat = wanted.clamp(1, MAX_ROWS.saturating_sub(row).max(1));
                    col = 0;
                    row_cols = None;
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let wanted = number_attr(e, "table:number-columns-repeated").unwrap_or(1);
                    let reps = wanted.clamp(1, MAX_COLUMNS.saturating_sub(col).max(1));
                    // A cell with a value, a formula or content (an element with children).
                    let filled =
                        !empty || has_attr(e, "office:value-type") || has_attr(e, "table:formula");
                    if filled {
                        let last = col + reps - 1;
                        row_cols = Some(match row_cols {
                            None => (col, last),
                            Some((a, _)) => (a, last),
                        });
                    }
                    col = (col + reps).min(MAX_COLUMNS);
                }
                _ => {}
            }
        }
        match &event {
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                match e.name().as_ref() {
                    "table:table-row" => {
                        if let Some(cols) = row_cols {
                            table.add((row, row + row_repeat - 1), cols);
                            // The library pushes a row's cells up to its last filled one.
                            pushed = pushed.saturating_add(cols.1 + 1);
                        }
                        row = (row + row_repeat).min(MAX_ROWS);
                        let now = done.saturating_add(table.cells());
                        if now > limits.max_sheet_cells || pushed > limits.max_sheet_cells {
                            return Err(too_many_cells(now.max(pushed), limits));
                        }
                    }
                    "table:table" => done = done.saturating_add(table.cells()),
                    _ => {}
                }
            }
            // A row written as one empty element: no cells.
            Event::Empty(e) if e.name().as_ref() == "table:table-row" => {
                let wanted = number_attr(e, "table:number-rows-repeated").unwrap_or(1);
                row = (row + wanted.max(1)).min(MAX_ROWS);
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// A BIFF12 record's number (1 or 2 bytes) or length (up to 4): 7 bits a byte, low first.
fn varint(r: &mut impl Read, max: usize) -> Option<u32> {
    let mut v = 0u32;
    for i in 0..max {
        let mut b = [0u8; 1];
        r.read_exact(&mut b).ok()?;
        v |= u32::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            return Some(v);
        }
    }
    Some(v)
}

/// `.xlsb` worksheet: rows from `BrtRowHdr` (0), columns from the cell records (1–13).
fn xlsb_cells(mut r: impl Read, limits: &Limits) -> Result<(), Over> {
    let mut extent = Extent::default();
    let mut row = 0u64;
    let mut head = [0u8; 4];
    while let Some(kind) = varint(&mut r, 2) {
        let Some(len) = varint(&mut r, 4) else { break };
        let len = u64::from(len);
        let mut taken = 0;
        if (kind <= 13) && len >= 4 {
            r.read_exact(&mut head).map_err(malformed)?;
            taken = 4;
            let n = u64::from(u32::from_le_bytes(head));
            if kind == 0 {
                row = n;
            } else {
                extent.add((row, row), (n, n));
                if extent.cells() > limits.max_sheet_cells {
                    return Err(too_many_cells(extent.cells(), limits));
                }
            }
        }
        std::io::copy(&mut (&mut r).take(len - taken), &mut std::io::sink()).map_err(malformed)?;
    }
    Ok(())
}

/// The number of shared strings a file declares: the library reserves room for them at once.
fn declared_strings(n: u64, limits: &Limits) -> Result<(), Over> {
    if n > limits.max_shared_strings {
        return Err(Over {
            what: format!("{n} shared strings"),
            limit: limits.max_shared_strings,
            hint: SHEET_HINT,
        });
    }
    Ok(())
}

/// `.xlsb` shared strings: `BrtBeginSst` (159) declares the count.
fn xlsb_strings(mut r: impl Read, limits: &Limits) -> Result<(), Over> {
    while let Some(kind) = varint(&mut r, 2) {
        let Some(len) = varint(&mut r, 4) else { break };
        let len = u64::from(len);
        if kind == 159 && len >= 8 {
            let mut counts = [0u8; 8];
            r.read_exact(&mut counts).map_err(malformed)?;
            let unique = u32::from_le_bytes([counts[4], counts[5], counts[6], counts[7]]);
            return declared_strings(u64::from(unique), limits);
        }
        std::io::copy(&mut (&mut r).take(len), &mut std::io::sink()).map_err(malformed)?;
    }
    Ok(())
}

/// `.xls` (BIFF8): the shared-strings record's declared count (`SST`), and every sheet's cell
/// records, each starting with its row and column (u16); `MULRK`/`MULBLANK` end with their
/// last column. The library reads every sheet at open, so the sheets' dense ranges are added
/// up.
fn xls_records(mut r: impl Read, limits: &Limits) -> Result<(), Over> {
    let mut total = 0u64;
    let mut sheet = Extent::default();
    let mut head = [0u8; 4];
    let mut body = Vec::new();
    loop {
        if r.read_exact(&mut head).is_err() {
            break;
        }
        let kind = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        body.resize(len, 0);
        if r.read_exact(&mut body).is_err() {
            break;
        }
        let u16_at = |i: usize| -> Option<u64> {
            Some(u64::from(u16::from_le_bytes([
                *body.get(i)?,
                *body.get(i + 1)?,
            ])))
        };
        match kind {
            // BOF: a new substream.
            0x0809 => sheet = Extent::default(),
            // SST: total and unique strings (u32 each).
            0x00FC => {
                if let (Some(lo), Some(hi)) = (u16_at(4), u16_at(6)) {
                    declared_strings(lo | (hi << 16), limits)?;
                }
            }
            // EOF: the substream's range is kept.
            0x000A => {
                total = total.saturating_add(sheet.cells());
                sheet = Extent::default();
            }
            // NUMBER, LABELSST, RK, BOOLERR, FORMULA, BLANK, LABEL, RSTRING.
            0x0203 | 0x00FD | 0x027E | 0x0205 | 0x0006 | 0x0201 | 0x0204 | 0x00D6 => {
                if let (Some(row), Some(col)) = (u16_at(0), u16_at(2)) {
                    sheet.add((row, row), (col, col));
                }
            }
            // MULRK, MULBLANK: row, first column, …, last column.
            0x00BD | 0x00BE => {
                if let (Some(row), Some(first), Some(last)) =
                    (u16_at(0), u16_at(2), len.checked_sub(2).and_then(u16_at))
                {
                    sheet.add((row, row), (first, last.max(first)));
                }
            }
            _ => {}
        }
        let now = total.saturating_add(sheet.cells());
        if now > limits.max_sheet_cells {
            return Err(too_many_cells(now, limits));
        }
    }
    Ok(())
}
