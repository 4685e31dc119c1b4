//! Spreadsheets through calamine: `.xlsx` streamed cell by cell (memory does not grow with
//! the sheet), `.xls` and `.ods` read whole within a size limit. Zip containers are checked
//! for bombs before calamine opens them.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::OnceLock;

use calamine::{Data, DataRef, Reader};
use crossbeam_channel::Sender;

use crate::Limits;
use crate::block::{Block, Slot, Work};
use crate::cell::column_letters;
use crate::error::IngestError;

const BLOCK_ROWS: usize = 4096;

/// The spreadsheet formats we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SheetKind {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

impl SheetKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Xlsx => "xlsx",
            Self::Xlsb => "xlsb",
            Self::Xls => "xls",
            Self::Ods => "ods",
        }
    }
}

/// Looks inside a zip container: which spreadsheet it is, and whether unpacking it stays
/// within the limits (a zip bomb is refused here, before any XML is parsed).
pub(crate) fn inspect_zip(
    path: &Path,
    file: &str,
    limits: &Limits,
) -> Result<Option<SheetKind>, IngestError> {
    let f = File::open(path).map_err(|source| IngestError::Io {
        file: file.to_owned(),
        source,
    })?;
    let mut zip =
        zip::ZipArchive::new(BufReader::new(f)).map_err(|e| IngestError::Spreadsheet {
            file: file.to_owned(),
            sheet: None,
            message: format!("the file looks like a zip container but cannot be opened ({e})"),
        })?;
    let mut total: u64 = 0;
    let mut kind = None;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| IngestError::Spreadsheet {
            file: file.to_owned(),
            sheet: None,
            message: format!("damaged zip entry {i} ({e})"),
        })?;
        // Part names written with backslashes (some Windows tools) mean the same parts.
        let name = entry
            .name()
            .map(|n| n.replace('\\', "/"))
            .unwrap_or_default();
        let size = entry.size();
        let packed = entry.compressed_size().max(1);
        total = total.saturating_add(size);
        if size > limits.max_unpacked_part_bytes || (size > (16 << 20) && size / packed > 1000) {
            return Err(IngestError::TooLarge {
                file: file.to_owned(),
                sheet: None,
                row: None,
                column: None,
                what: format!("part {name:?} unpacks to {size} bytes from {packed}"),
                limit: limits.max_unpacked_part_bytes,
                hint: "this looks like a zip bomb or a workbook far larger than a submission; export the data sheet alone",
            });
        }
        match name.as_str() {
            "xl/workbook.xml" => kind = Some(SheetKind::Xlsx),
            // A minimal package: the workbook part where `_rels/.rels` points, not under xl/.
            n if n.ends_with("workbook.xml") && kind.is_none() => kind = Some(SheetKind::Xlsx),
            "xl/workbook.bin" => kind = Some(SheetKind::Xlsb),
            "content.xml" if kind.is_none() => kind = Some(SheetKind::Ods),
            _ => {}
        }
    }
    if total > limits.max_unpacked_bytes {
        return Err(IngestError::TooLarge {
            file: file.to_owned(),
            sheet: None,
            row: None,
            column: None,
            what: format!("the workbook unpacks to {total} bytes"),
            limit: limits.max_unpacked_bytes,
            hint: "export the data sheet alone, or send it as CSV",
        });
    }
    Ok(kind)
}

fn sheet_error(file: &str, sheet: Option<&str>, e: impl std::fmt::Display) -> IngestError {
    IngestError::Spreadsheet {
        file: file.to_owned(),
        sheet: sheet.map(str::to_owned),
        message: e.to_string(),
    }
}

/// Picks the sheet: the one asked for (by exact or normalised name), else the first that has
/// any data.
fn choose_sheet(
    names: &[String],
    wanted: Option<&str>,
    file: &str,
    mut has_data: impl FnMut(&str) -> Result<bool, IngestError>,
) -> Result<String, IngestError> {
    if let Some(w) = wanted {
        let norm = backbone_schema::normalise_header(w);
        return names
            .iter()
            .find(|n| *n == w)
            .or_else(|| {
                names
                    .iter()
                    .find(|n| backbone_schema::normalise_header(n) == norm)
            })
            .cloned()
            .ok_or_else(|| IngestError::SheetNotFound {
                file: file.to_owned(),
                sheet: w.to_owned(),
                available: names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
    }
    for n in names {
        if has_data(n)? {
            return Ok(n.clone());
        }
    }
    Err(IngestError::NoSheetWithData {
        file: file.to_owned(),
    })
}

/// The reading thread for spreadsheets. The chosen sheet's name is put in `sheet_out`.
pub(crate) fn produce(
    path: &Path,
    kind: SheetKind,
    wanted: Option<&str>,
    file: &str,
    limits: &Limits,
    sheet_out: &OnceLock<String>,
    tx: &Sender<Result<Work, IngestError>>,
) {
    let result = match kind {
        SheetKind::Xlsx => produce_xlsx(path, wanted, file, limits, sheet_out, tx),
        SheetKind::Xlsb => {
            produce_whole::<calamine::Xlsb<_>>(path, wanted, file, limits, sheet_out, tx)
        }
        SheetKind::Xls => {
            produce_whole::<calamine::Xls<_>>(path, wanted, file, limits, sheet_out, tx)
        }
        SheetKind::Ods => match ods_with_mimetype(path, file) {
            Ok(None) => {
                produce_whole::<calamine::Ods<_>>(path, wanted, file, limits, sheet_out, tx)
            }
            Ok(Some(copy)) => {
                let r =
                    produce_whole::<calamine::Ods<_>>(&copy, wanted, file, limits, sheet_out, tx);
                let _ = std::fs::remove_file(&copy);
                r
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        let _ = tx.send(Err(e));
    }
}

/// The workbook's sheet names, in order (for `[layout] sheets`).
pub(crate) fn sheet_names(
    path: &Path,
    kind: SheetKind,
    file: &str,
) -> Result<Vec<String>, IngestError> {
    fn names<R: Reader<BufReader<File>>>(
        path: &Path,
        file: &str,
    ) -> Result<Vec<String>, IngestError>
    where
        R::Error: std::fmt::Display,
    {
        let f = File::open(path).map_err(|source| IngestError::Io {
            file: file.to_owned(),
            source,
        })?;
        let wb = R::new(BufReader::new(f)).map_err(|e| sheet_error(file, None, e))?;
        Ok(wb.sheet_names())
    }
    match kind {
        SheetKind::Xlsx => names::<calamine::Xlsx<_>>(path, file),
        SheetKind::Xlsb => names::<calamine::Xlsb<_>>(path, file),
        SheetKind::Xls => names::<calamine::Xls<_>>(path, file),
        SheetKind::Ods => match ods_with_mimetype(path, file)? {
            None => names::<calamine::Ods<_>>(path, file),
            Some(copy) => {
                let r = names::<calamine::Ods<_>>(&copy, file);
                let _ = std::fs::remove_file(&copy);
                r
            }
        },
    }
}

/// Builds dense rows from cells that arrive in row order, and sends blocks.
struct RowBuilder<'a> {
    block: Block,
    row: Option<u32>,
    cells: Vec<Slot>,
    file: &'a str,
    sheet: &'a str,
    limits: &'a Limits,
    tx: &'a Sender<Result<Work, IngestError>>,
    last_row_sent: u64,
    seq: u64,
    stopped: bool,
}

impl<'a> RowBuilder<'a> {
    fn new(
        file: &'a str,
        sheet: &'a str,
        limits: &'a Limits,
        tx: &'a Sender<Result<Work, IngestError>>,
    ) -> Self {
        Self {
            block: Block::default(),
            row: None,
            cells: Vec::new(),
            file,
            sheet,
            limits,
            tx,
            last_row_sent: 0,
            seq: 0,
            stopped: false,
        }
    }

    fn too_large(&self, row: u32, col: u32, text_len: Option<usize>) -> IngestError {
        IngestError::TooLarge {
            file: self.file.to_owned(),
            sheet: Some(self.sheet.to_owned()),
            row: Some(u64::from(row) + 1),
            column: Some(col + 1),
            what: match text_len {
                None => format!(
                    "a cell in column {} (column {})",
                    column_letters(col as usize),
                    col + 1
                ),
                Some(n) => format!("a cell of {n} bytes"),
            },
            limit: self.limits.max_columns as u64,
            hint: "delete the stray cells far to the right of the table, or export the table alone",
        }
    }

    /// Adds a cell at (row, col), 0-based.
    fn cell(&mut self, row: u32, col: u32, value: CellValue<'_>) -> Result<(), IngestError> {
        if col as usize >= self.limits.max_columns {
            return Err(self.too_large(row, col, None));
        }
        if self.row != Some(row) {
            self.finish_row();
            // Rows with no cell at all before this one are blank rows of the sheet. They are
            // ended before this row's first text goes into the block, which may be sent.
            let number = u64::from(row) + 1;
            while self.last_row_sent + 1 < number {
                self.last_row_sent += 1;
                self.block.end_row(self.last_row_sent);
                self.maybe_send();
            }
            self.row = Some(row);
        }
        let slot = match value {
            CellValue::Text(s) if s.len() > self.limits.max_cell_bytes => {
                Slot::Oversized(s.len() as u64)
            }
            CellValue::Text(s) => self.block_text(s),
            CellValue::Err(s) => match self.block_text(s) {
                Slot::Text(a, b) => Slot::Error(a, b),
                other => other,
            },
            CellValue::Slot(s) => s,
        };
        let col = col as usize;
        if col >= self.cells.len() {
            self.cells.resize(col, Slot::Empty);
            self.cells.push(slot);
        } else {
            self.cells[col] = slot;
        }
        Ok(())
    }

    fn block_text(&mut self, s: &str) -> Slot {
        self.block.text(s.as_bytes())
    }

    fn finish_row(&mut self) {
        let Some(r) = self.row.take() else { return };
        let number = u64::from(r) + 1;
        // Trailing empty cells are not columns.
        while matches!(self.cells.last(), Some(Slot::Empty)) {
            self.cells.pop();
        }
        self.block.slots.append(&mut self.cells);
        self.block.end_row(number);
        self.last_row_sent = number;
        self.maybe_send();
    }

    fn maybe_send(&mut self) {
        if self.block.len() >= BLOCK_ROWS || self.block.data.len() >= (4 << 20) {
            self.send();
        }
    }

    fn send(&mut self) {
        let mut full = std::mem::take(&mut self.block);
        if full.rows.is_empty() {
            return;
        }
        full.seal();
        full.seq = self.seq;
        self.seq += 1;
        if !full.rows.is_empty() && !self.stopped && self.tx.send(Ok(Work::Block(full))).is_err() {
            self.stopped = true;
        }
    }

    fn finish(mut self) {
        self.finish_row();
        self.send();
    }
}

enum CellValue<'s> {
    Text(&'s str),
    Err(&'s str),
    Slot(Slot),
}

/// A date cell: its date and time, or, for a serial outside Excel's dates (before 1900 or
/// after 9999-12-31, which Excel shows as `#####`), the cell error Excel shows.
fn datetime_value(dt: &calamine::ExcelDateTime) -> CellValue<'static> {
    const LAST_SERIAL: f64 = 2_958_466.0; // 10000-01-01
    let serial = dt.as_f64();
    if dt.is_datetime() && !(0.0..LAST_SERIAL).contains(&serial) {
        return CellValue::Err("#####");
    }
    CellValue::Slot(datetime_slot(dt))
}

/// A duration cell (`[h]:mm:ss`, `255:10:10`) or a time of day (a date serial below 1,
/// which a library would make the 31st of December 1899), as the clock a spreadsheet shows:
/// hours past 24 kept, milliseconds only when there are some.
fn clock_text(dt: &calamine::ExcelDateTime) -> Option<String> {
    let serial = dt.as_f64();
    let clock = !dt.is_datetime() || (0.0..1.0).contains(&serial);
    if !clock || !serial.is_finite() || !(0.0..=1e7).contains(&serial) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = (serial * 86_400_000.0).round() as u64;
    let (h, m, sec, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    Some(if milli == 0 {
        format!("{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}.{milli:03}")
    })
}

fn datetime_slot(dt: &calamine::ExcelDateTime) -> Slot {
    if dt.is_datetime() {
        match dt.as_datetime() {
            Some(d) => Slot::DateTime(d),
            None => Slot::Float(dt.as_f64()),
        }
    } else {
        Slot::Float(dt.as_f64())
    }
}

/// A time of day or duration as an OpenDocument cell stores it (`PT11H12M12S`, `P1DT2H`),
/// written as a spreadsheet shows it (`11:12:12`, `26:00:00`).
fn iso_duration_clock(s: &str) -> Option<String> {
    let rest = s.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let days: u64 = match days {
        "" => 0,
        d => d.strip_suffix('D')?.parse().ok()?,
    };
    let (mut h, mut m, mut sec) = (0u64, 0u64, 0f64);
    let mut num = String::new();
    for ch in time.chars() {
        match ch {
            'H' => h = std::mem::take(&mut num).parse().ok()?,
            'M' => m = std::mem::take(&mut num).parse().ok()?,
            'S' => sec = std::mem::take(&mut num).parse().ok()?,
            d if d.is_ascii_digit() || d == '.' => num.push(d),
            _ => return None,
        }
    }
    if !num.is_empty() {
        return None;
    }
    let hours = days * 24 + h;
    if sec.fract() == 0.0 {
        Some(format!("{hours:02}:{m:02}:{:02}", sec as u64))
    } else {
        Some(format!("{hours:02}:{m:02}:{sec:06.3}"))
    }
}

fn iso_slot(s: &str) -> Option<Slot> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Slot::DateTime(d.and_time(chrono::NaiveTime::MIN)));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(Slot::DateTime)
}

fn produce_xlsx(
    path: &Path,
    wanted: Option<&str>,
    file: &str,
    limits: &Limits,
    sheet_out: &OnceLock<String>,
    tx: &Sender<Result<Work, IngestError>>,
) -> Result<(), IngestError> {
    let f = File::open(path).map_err(|source| IngestError::Io {
        file: file.to_owned(),
        source,
    })?;
    let mut wb: calamine::Xlsx<_> =
        calamine::Xlsx::new(BufReader::new(f)).map_err(|e| sheet_error(file, None, e))?;
    let names = wb.sheet_names();
    let name = choose_sheet(&names, wanted, file, |n| {
        let mut cells = wb
            .worksheet_cells_reader(n)
            .map_err(|e| sheet_error(file, Some(n), e))?;
        loop {
            match cells.next_cell() {
                Ok(Some(c)) if !matches!(c.get_value(), DataRef::Empty) => return Ok(true),
                Ok(Some(_)) => {}
                Ok(None) => return Ok(false),
                Err(e) => return Err(sheet_error(file, Some(n), e)),
            }
        }
    })?;
    let _ = sheet_out.set(name.clone());
    let mut cells = wb
        .worksheet_cells_reader(&name)
        .map_err(|e| sheet_error(file, Some(&name), e))?;
    let mut rows = RowBuilder::new(file, &name, limits, tx);
    loop {
        let rec = match cells.next_cell_with_formula_metadata() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(e) => return Err(sheet_error(file, Some(&name), e)),
        };
        let (r, c) = rec.pos;
        let value = match &rec.value {
            DataRef::Empty if rec.formula.is_some() => CellValue::Slot(Slot::FormulaNoValue),
            DataRef::Empty => continue,
            DataRef::Int(i) => CellValue::Slot(Slot::Int(*i)),
            DataRef::Float(f) => CellValue::Slot(Slot::Float(*f)),
            DataRef::Bool(b) => CellValue::Slot(Slot::Bool(*b)),
            DataRef::DurationIso(s) => {
                let shown = iso_duration_clock(s).unwrap_or_else(|| s.to_string());
                rows.cell(r, c, CellValue::Text(&shown))?;
                continue;
            }
            DataRef::String(s) => CellValue::Text(s),
            DataRef::DateTimeIso(s) => match iso_slot(s) {
                Some(slot) => CellValue::Slot(slot),
                None => CellValue::Text(s),
            },
            DataRef::SharedString(s) => CellValue::Text(s),
            DataRef::DateTime(dt) => match clock_text(dt) {
                // A time of day, or a duration: the clock the spreadsheet shows.
                Some(shown) => {
                    rows.cell(r, c, CellValue::Text(&shown))?;
                    continue;
                }
                None => datetime_value(dt),
            },
            DataRef::Error(e) => {
                let shown = e.to_string();
                rows.cell(r, c, CellValue::Err(&shown))?;
                continue;
            }
        };
        rows.cell(r, c, value)?;
        if rows.stopped {
            return Ok(());
        }
    }
    rows.finish();
    Ok(())
}

/// `.xls`, `.xlsb` and `.ods`: calamine reads the sheet whole; the file size limit bounds it.
fn produce_whole<R>(
    path: &Path,
    wanted: Option<&str>,
    file: &str,
    limits: &Limits,
    sheet_out: &OnceLock<String>,
    tx: &Sender<Result<Work, IngestError>>,
) -> Result<(), IngestError>
where
    R: Reader<BufReader<File>>,
    R::Error: std::fmt::Display,
{
    let f = File::open(path).map_err(|source| IngestError::Io {
        file: file.to_owned(),
        source,
    })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > limits.max_whole_sheet_file_bytes {
        return Err(IngestError::TooLarge {
            file: file.to_owned(),
            sheet: None,
            row: None,
            column: None,
            what: format!("a {len}-byte .xls/.ods file"),
            limit: limits.max_whole_sheet_file_bytes,
            hint: "save it as .xlsx or CSV, which are read as a stream",
        });
    }
    let mut wb = R::new(BufReader::new(f)).map_err(|e| sheet_error(file, None, e))?;
    let names = wb.sheet_names();
    let mut first_range = None;
    let name = choose_sheet(&names, wanted, file, |n| {
        let range = wb
            .worksheet_range(n)
            .map_err(|e| sheet_error(file, Some(n), e))?;
        let has = range.used_cells().next().is_some();
        if has {
            first_range = Some(range);
        }
        Ok(has)
    })?;
    let _ = sheet_out.set(name.clone());
    let range = match first_range {
        Some(r) => r,
        None => wb
            .worksheet_range(&name)
            .map_err(|e| sheet_error(file, Some(&name), e))?,
    };
    // Formulas only matter where the value is missing; a reader without formula support
    // (or a sheet without formulas) gives an empty range.
    let formulas = wb.worksheet_formula(&name).ok();
    let Some((r0, c0)) = range.start() else {
        return Ok(());
    };
    let mut rows = RowBuilder::new(file, &name, limits, tx);
    for (i, row) in range.rows().enumerate() {
        let r = r0 + u32::try_from(i).unwrap_or(u32::MAX);
        for (j, cell) in row.iter().enumerate() {
            let c = c0 + u32::try_from(j).unwrap_or(u32::MAX);
            let value = match cell {
                Data::Empty => {
                    let has_formula = formulas
                        .as_ref()
                        .and_then(|f| f.get_value((r, c)))
                        .is_some_and(|f| !f.is_empty());
                    if has_formula {
                        CellValue::Slot(Slot::FormulaNoValue)
                    } else {
                        continue;
                    }
                }
                Data::Int(i) => CellValue::Slot(Slot::Int(*i)),
                Data::Float(f) => CellValue::Slot(Slot::Float(*f)),
                Data::Bool(b) => CellValue::Slot(Slot::Bool(*b)),
                // Some tools write .xls text as UTF-16 under code page 1252, which the
                // library reads with a NUL between letters; a NUL is never meant in a cell.
                Data::String(s) if s.contains('\0') => {
                    let clean = s.replace('\0', "");
                    rows.cell(r, c, CellValue::Text(&clean))?;
                    continue;
                }
                Data::DurationIso(s) => {
                    let shown = iso_duration_clock(s).unwrap_or_else(|| s.clone());
                    rows.cell(r, c, CellValue::Text(&shown))?;
                    continue;
                }
                Data::String(s) => CellValue::Text(s),
                Data::DateTimeIso(s) => match iso_slot(s) {
                    Some(slot) => CellValue::Slot(slot),
                    None => CellValue::Text(s),
                },
                Data::DateTime(dt) => match clock_text(dt) {
                    // A time of day, or a duration: the clock the spreadsheet shows.
                    Some(shown) => {
                        rows.cell(r, c, CellValue::Text(&shown))?;
                        continue;
                    }
                    None => datetime_value(dt),
                },
                Data::Error(e) => {
                    let shown = e.to_string();
                    rows.cell(r, c, CellValue::Err(&shown))?;
                    continue;
                }
            };
            rows.cell(r, c, value)?;
        }
        if rows.stopped {
            return Ok(());
        }
    }
    rows.finish();
    Ok(())
}

/// An `.ods` without its `mimetype` entry (Google Docs writes them; the library refuses
/// them): a copy with the entry added, in the temporary folder, the other parts copied as
/// they are (not unpacked). `None` when the file has the entry.
fn ods_with_mimetype(path: &Path, file: &str) -> Result<Option<std::path::PathBuf>, IngestError> {
    let err = |e: &dyn std::fmt::Display| IngestError::Spreadsheet {
        file: file.to_owned(),
        sheet: None,
        message: format!("the OpenDocument file cannot be opened ({e})"),
    };
    let f = File::open(path).map_err(|source| IngestError::Io {
        file: file.to_owned(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(BufReader::new(f)).map_err(|e| err(&e))?;
    if zip.index_for_name("mimetype").is_some() {
        return Ok(None);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let copy =
        std::env::temp_dir().join(format!("backbone-ods-{}-{nanos}.ods", std::process::id()));
    let out = File::create(&copy).map_err(|source| IngestError::Io {
        file: copy.display().to_string(),
        source,
    })?;
    let written = (|| -> zip::result::ZipResult<()> {
        let mut w = zip::ZipWriter::new(std::io::BufWriter::new(out));
        w.start_file(
            "mimetype",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )?;
        std::io::Write::write_all(&mut w, b"application/vnd.oasis.opendocument.spreadsheet")?;
        for i in 0..zip.len() {
            w.raw_copy_file(zip.by_index_raw(i)?)?;
        }
        w.finish()?;
        Ok(())
    })();
    match written {
        Ok(()) => Ok(Some(copy)),
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            Err(err(&e))
        }
    }
}

/// True when the bytes start like an OLE compound file (`.xls`).
pub(crate) fn is_ole(head: &[u8]) -> bool {
    head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

/// True when the bytes start like an Excel 2, 3 or 4 worksheet or workbook: a bare BIFF
/// stream (no OLE container) whose first record is a `BOF` of those versions.
pub(crate) fn is_old_biff(head: &[u8]) -> bool {
    matches!(head, [0x09, 0x00 | 0x02 | 0x04, len, 0x00, ..] if matches!(len, 4 | 6 | 8 | 16))
}

/// True when the bytes start like a zip container (`.xlsx`, `.ods`).
pub(crate) fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opendocument_times_read_as_a_clock() {
        assert_eq!(
            iso_duration_clock("PT11H12M12S").as_deref(),
            Some("11:12:12")
        );
        assert_eq!(iso_duration_clock("PT0H5M0S").as_deref(), Some("00:05:00"));
        assert_eq!(iso_duration_clock("P1DT2H").as_deref(), Some("26:00:00"));
        assert_eq!(
            iso_duration_clock("PT1H0M1.5S").as_deref(),
            Some("01:00:01.500")
        );
        assert_eq!(iso_duration_clock("11:12"), None);
        assert_eq!(iso_duration_clock("PT1X"), None);
    }
}
