//! Partner files in: decode, find the header, cast and check every cell; typed Arrow record
//! batches of the accepted rows, the rejected rows with their reasons, and a
//! frictionless-shaped [`ValidationReport`] out.
//!
//! Reading happens on its own thread and hands rows over in blocks of a few MiB through a
//! bounded channel, so memory follows the block size, not the file size; the only thing that
//! grows with the file is the index of `unique` values (16 bytes a row).
//!
//! ```
//! use backbone_ingest::{Options, validate_file};
//! use backbone_schema::TableSchema;
//!
//! let dir = std::env::temp_dir().join(format!("backbone-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("clinic.csv");
//! std::fs::write(&file, "מספר רשומה;גיל\nA1;34\nA2;-3\n").unwrap();
//! let schema = TableSchema::from_json_str(r#"{"fields": [
//!     {"name": "record_id", "x-aliases": ["מספר רשומה"]},
//!     {"name": "age", "type": "integer", "x-aliases": ["גיל"], "constraints": {"minimum": 0}}]}"#,
//!     "s.json").unwrap();
//!
//! let report = validate_file(&file, &schema, &Options::default()).unwrap();
//! assert_eq!((report.stats.accepted, report.stats.rejected), (1, 1));
//! assert_eq!(report.errors[0].row_number, Some(3));
//! assert_eq!(report.errors[0].message, r#"Row 3, column "גיל": "-3" is less than the minimum, 0"#);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod block;
mod budget;
mod cast;
mod cell;
mod datefmt;
mod draft;
mod drift;
mod engine;
mod error;
mod expected;
mod header;
pub mod isolate;
mod layout;
mod output;
mod pseudonym;
pub mod redact;
mod sheet;
mod text;
mod validation_report;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use arrow_array::RecordBatch;
use backbone_schema::{Profile, TableSchema};

pub use cell::{Cell, column_letters};
pub use draft::{Cells, Draft, TextRows, draft_profile, read_cells};
pub use drift::{
    Drift, KnownHeader, Renamed, TAKE_RENAME, add_spellings, header_drift, profile_change,
};
pub use error::IngestError;
pub use expected::{Expected, ExpectedKind};
pub use layout::LayoutInfo;
pub use output::{ROW_NUMBER_COLUMN, arrow_schema};
pub use pseudonym::{Pseudonymiser, ROTATION_KEY_BYTES, Rotation};
pub use validation_report::{
    ErrorType, Group, Issue, SourceInfo, Stats, ValidationReport, Verdict,
};

use crate::block::{Block, CellView, Work};
use crate::validation_report::Collector;

/// Bounds that keep memory and time finite whatever the file claims.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Columns in a row (Excel's own maximum is 16 384).
    pub max_columns: usize,
    /// Bytes in one cell; longer cells are reported, not kept.
    pub max_cell_bytes: usize,
    /// Bytes in one CSV row; past this the file is refused (an unclosed quote).
    pub max_record_bytes: usize,
    /// Total unpacked size of a zip container (`.xlsx`, `.ods`).
    pub max_unpacked_bytes: u64,
    /// Unpacked size of one part of a zip container.
    pub max_unpacked_part_bytes: u64,
    /// `.xls`/`.ods` files are read whole: their size on disk is bounded.
    pub max_whole_sheet_file_bytes: u64,
    /// Cells the sheets of an `.ods`, `.xls` or `.xlsb` file may expand to (the library keeps
    /// each as a dense range, repeated cells written out): checked by streaming the file
    /// before the library reads it.
    pub max_sheet_cells: u64,
    /// Shared strings of an `.xlsx` file (loaded whole by the library), counted and as the
    /// file declares them.
    pub max_shared_strings: u64,
    /// Unpacked size of a part the library loads whole (`.ods` `content.xml`, `.xlsx` shared
    /// strings and styles; a quarter of it for `.xlsb`'s binary parts).
    pub max_whole_part_bytes: u64,
    /// Nesting of the XML parts loaded whole.
    pub max_xml_depth: usize,
    /// Rows searched for the header.
    pub header_scan_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_columns: 16_384,
            max_cell_bytes: 32 * 1024,
            max_record_bytes: 64 << 20,
            max_unpacked_bytes: 4 << 30,
            max_unpacked_part_bytes: 2 << 30,
            max_whole_sheet_file_bytes: 200 << 20,
            max_sheet_cells: 3_000_000,
            max_shared_strings: 2_000_000,
            max_whole_part_bytes: 256 << 20,
            max_xml_depth: 128,
            header_scan_rows: 50,
        }
    }
}

/// How to read one file.
#[derive(Clone, Debug)]
pub struct Options {
    /// The partner profile's reading settings (encoding, delimiter, sheet, header row). Merge
    /// its field settings into the schema with [`TableSchema::with_profile`] first.
    pub profile: Option<Profile>,
    /// Size limits.
    pub limits: Limits,
    /// Problems listed per error type (all are counted).
    pub error_limit: usize,
    /// Rows per Arrow record batch.
    pub batch_rows: usize,
    /// Key for `x-pii` fields; required when rows are collected and the schema has any.
    pub pseudonymiser: Option<Pseudonymiser>,
    /// The file's name in reports (default: the path as given).
    pub display_name: Option<String>,
    /// Threads that check rows (default: one per core).
    pub threads: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            profile: None,
            limits: Limits::default(),
            error_limit: 1000,
            batch_rows: 65_536,
            pseudonymiser: None,
            display_name: None,
            threads: None,
        }
    }
}

/// One problem of a rejected row, for the store's rejects table.
#[derive(Clone, Debug, PartialEq)]
pub struct RowProblem {
    /// The error type.
    pub kind: ErrorType,
    /// The schema field, when the problem is in one.
    pub field: Option<String>,
    /// The short reason.
    pub note: String,
}

/// A rejected row: where it is, why, and its cells (personal-data cells left out).
#[derive(Clone, Debug, PartialEq)]
pub struct RejectedRow {
    /// Physical row number in the file.
    pub row_number: u64,
    /// Every problem of the row.
    pub problems: Vec<RowProblem>,
    /// Per schema field, the cell as written; `None` for personal data or no column.
    pub cells: Vec<Option<String>>,
}

/// The error type receivers return.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where the rows go: the store, a test, or nowhere (plain validation).
pub trait Sink {
    /// Whether rows are wanted at all; when false, no batch is built (validation only).
    fn wants_rows(&self) -> bool {
        false
    }
    /// A batch of accepted rows, in file order.
    fn accepted(&mut self, _batch: RecordBatch) -> Result<(), SinkError> {
        Ok(())
    }
    /// A rejected row.
    fn rejected(&mut self, _row: RejectedRow) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink that keeps nothing.
#[derive(Debug, Default)]
pub struct Discard;
impl Sink for Discard {}

/// A sink that keeps everything in memory (tests, small files).
#[derive(Debug, Default)]
pub struct Collect {
    /// Accepted batches.
    pub batches: Vec<RecordBatch>,
    /// Rejected rows.
    pub rejected: Vec<RejectedRow>,
}

impl Sink for Collect {
    fn wants_rows(&self) -> bool {
        true
    }
    fn accepted(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        self.batches.push(batch);
        Ok(())
    }
    fn rejected(&mut self, row: RejectedRow) -> Result<(), SinkError> {
        self.rejected.push(row);
        Ok(())
    }
}

/// Validates a file without keeping its rows.
pub fn validate_file(
    path: &Path,
    schema: &TableSchema,
    options: &Options,
) -> Result<ValidationReport, IngestError> {
    read_file(path, schema, options, &mut Discard)
}

enum Kind {
    Text(text::TextPlan),
    Sheet(sheet::SheetKind),
}

/// Reads a file against a schema, sending accepted batches and rejected rows to `sink`.
pub fn read_file(
    path: &Path,
    schema: &TableSchema,
    options: &Options,
    sink: &mut dyn Sink,
) -> Result<ValidationReport, IngestError> {
    let started = Instant::now();
    let file = options
        .display_name
        .clone()
        .unwrap_or_else(|| path.display().to_string());
    if sink.wants_rows()
        && options.pseudonymiser.is_none()
        && let Some(f) = schema.fields.iter().find(|f| f.pii)
    {
        return Err(IngestError::NoKey {
            schema: schema.name.clone(),
            field: f.name.clone(),
        });
    }
    let profile = options.profile.clone().unwrap_or_default();
    let Opened { kind, reader, head } = open_source(path, &file, &profile, &options.limits)?;
    let mut source = SourceInfo::default();
    // One sheet, or every sheet the layout's `sheets` pattern matches, read with the same
    // header and checked as one table (keys across sheets, one report).
    let sheets: Vec<Option<String>> = match (&kind, &profile.layout.sheets) {
        (Kind::Sheet(k), Some(pattern)) => {
            let names = sheet::sheet_names(path, *k, &file)?;
            let matching = layout::matching_sheets(&names, pattern);
            if matching.is_empty() {
                return Err(IngestError::SheetNotFound {
                    file,
                    sheet: pattern.clone(),
                    available: names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            matching.into_iter().map(Some).collect()
        }
        _ => vec![profile.sheet.clone()],
    };
    let sheet_field = profile
        .layout
        .sheet_to
        .as_deref()
        .and_then(|f| schema.field_index(f));
    let limits = &options.limits;
    let mut reader = Some(reader);
    let mut carried: Option<engine::Merger> = None;
    let mut layouts: Vec<LayoutInfo> = Vec::new();
    let mut read_sheets = Vec::new();
    for wanted in &sheets {
        let sheet_name = OnceLock::new();
        let (tx, rx) = crossbeam_channel::bounded::<Result<Work, IngestError>>(4);
        let merger_after = std::thread::scope(|scope| -> Result<engine::Merger, IngestError> {
            match &kind {
                Kind::Text(plan) => {
                    source.format = "csv".to_owned();
                    source.encoding = Some(plan.encoding.name().to_owned());
                    source.encoding_guessed = plan.encoding_guessed;
                    source.delimiter = Some(match plan.delimiter {
                        b'\t' => "tab".to_owned(),
                        d => char::from(d).to_string(),
                    });
                    let file = &file;
                    let (reader, head) = (reader.take(), head.clone());
                    scope.spawn(move || match reader {
                        Some(reader) => text::produce(reader, head, plan, file, limits, &tx),
                        None => drop(tx),
                    });
                }
                Kind::Sheet(k) => {
                    source.format = k.name().to_owned();
                    drop(reader.take());
                    let (file, sheet_name, wanted) = (&file, &sheet_name, wanted.as_deref());
                    let k = *k;
                    scope.spawn(move || {
                    // The spreadsheet library panics on some malformed files (fuzzing found an
                    // `.xls` whose shared-strings record ends early): that is the file's answer,
                    // not the end of the process.
                    let produced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        sheet::produce(path, k, wanted, file, limits, sheet_name, &tx);
                    }));
                    if let Err(panic) = produced {
                        let why = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        let _ = tx.send(Err(IngestError::Spreadsheet {
                            file: file.clone(),
                            sheet: None,
                            message: format!(
                                "the file is damaged: the spreadsheet reader stopped on it ({why}); open it in a spreadsheet program and save it again"
                            ),
                        }));
                    }
                });
                }
            }
            let fix_file = |e: IngestError| match e {
                IngestError::Sink { source, .. } => IngestError::Sink {
                    file: file.clone(),
                    source,
                },
                other => other,
            };
            let delimiter = match &kind {
                Kind::Text(plan) => plan.delimiter,
                Kind::Sheet(_) => b',',
            };
            let to_block = |w: Work| -> Result<Block, IngestError> {
                match w {
                    Work::Block(b) => Ok(b),
                    Work::Chunk(c) => text::parse_chunk(c, delimiter, &file, limits),
                }
            };
            // The header is searched for in the first rows; they are kept until it is found.
            let mut held: Vec<Block> = Vec::new();
            let mut held_rows = 0usize;
            while held_rows < limits.header_scan_rows {
                match rx.recv() {
                    Ok(Ok(w)) => {
                        let b = to_block(w)?;
                        held_rows += b.len();
                        held.push(b);
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_) => break,
                }
            }
            source.sheet = sheet_name.get().cloned();
            let mut view = Vec::new();
            let mut candidates: Vec<(u64, Vec<String>)> = Vec::new();
            'scan: for b in &held {
                for i in 0..b.len() {
                    let n = b.row(i, &mut view);
                    let texts = view
                        .iter()
                        .map(|c| match c {
                            CellView::Cell(c) => c
                                .display()
                                .chars()
                                .filter(|ch| !backbone_schema::is_invisible(*ch))
                                .collect::<String>()
                                .trim()
                                .to_owned(),
                            CellView::Oversized(_) => String::new(),
                        })
                        .collect();
                    candidates.push((n, texts));
                    if candidates.len() >= limits.header_scan_rows {
                        break 'scan;
                    }
                }
            }
            if candidates.is_empty() {
                return Err(IngestError::Empty { file: file.clone() });
            }
            let layout = &profile.layout;
            let two_rows = layout.header_rows == Some(2);
            // With two header rows, each row is scored with the one under it, merged cells spread.
            let combined_at = |i: usize| -> Vec<String> {
                match candidates.get(i + 1) {
                    Some(next) if two_rows => layout::combine(&candidates[i].1, &next.1),
                    _ => candidates[i].1.clone(),
                }
            };
            let header_idx = match profile.header_row {
                Some(h) => candidates
                    .iter()
                    .position(|(n, _)| *n == h as u64)
                    .ok_or_else(|| IngestError::HeaderRowMissing {
                        file: file.clone(),
                        sheet: source.sheet.clone(),
                        row: h as u64,
                        last: candidates.last().map_or(0, |c| c.0),
                    })?,
                None => {
                    // A blank row is not the upper row of a two-row header.
                    let texts: Vec<Vec<String>> = (0..candidates.len())
                        .map(|i| {
                            if two_rows && candidates[i].1.iter().all(String::is_empty) {
                                Vec::new()
                            } else {
                                combined_at(i)
                            }
                        })
                        .collect();
                    match &layout.wide {
                        // A wide sheet's header names its kept fields and holds the most months.
                        Some(w) => {
                            let mut keep_only = schema.clone();
                            keep_only.fields.retain(|f| w.keep.contains(&f.name));
                            let score = |t: &Vec<String>| {
                                let months =
                                    t.iter().filter(|c| layout::period_of(c).is_some()).count();
                                (header::fields_named(t, &keep_only), months)
                            };
                            texts
                                .iter()
                                .enumerate()
                                .map(|(i, t)| (score(t), std::cmp::Reverse(i)))
                                .filter(|((named, months), _)| named + months > 0)
                                .max()
                                .map(|(_, std::cmp::Reverse(i))| i)
                                .or_else(|| header::find_header(&texts, &keep_only))
                                .unwrap_or(0)
                        }
                        None => header::find_header(&texts, schema).unwrap_or(0),
                    }
                }
            };
            let last_idx = if two_rows { header_idx + 1 } else { header_idx };
            let Some((header_row, lower)) = candidates.get(last_idx).cloned() else {
                return Err(IngestError::HeaderRowMissing {
                    file: file.clone(),
                    sheet: source.sheet.clone(),
                    row: candidates[header_idx].0 + 1,
                    last: candidates.last().map_or(0, |c| c.0),
                });
            };
            let upper = two_rows.then(|| candidates[header_idx].1.clone());
            source.header_row = Some(candidates[header_idx].0);
            source.skipped_rows = candidates[..header_idx]
                .iter()
                .filter(|(_, t)| t.iter().any(|c| !c.is_empty()))
                .map(|(n, _)| *n)
                .collect();
            let wide = match &layout.wide {
                Some(w) => Some(
                    layout::Wide::plan(
                        upper.as_deref(),
                        &lower,
                        schema,
                        layout,
                        header_row,
                        source.sheet.clone(),
                    )
                    .ok_or_else(|| IngestError::Plan {
                        schema: schema.name.clone(),
                        field: w.values_to.clone(),
                        message:
                            "the profile's [layout] wide names a field the schema does not have"
                                .to_owned(),
                    })?,
                ),
                None => None,
            };
            let labels = match (&wide, &upper) {
                (Some(w), _) => w.labels.clone(),
                (None, Some(u)) => layout::combine(u, &lower),
                (None, None) => lower,
            };
            let mut matched = header::match_header(labels.clone(), schema);
            // The field the sheet's name goes to has no column of its own.
            if let Some(f) = sheet_field {
                matched
                    .issues
                    .retain(|i| !(i.kind == ErrorType::MissingLabel && i.field == Some(f)));
            }
            source.labels = labels.into_iter().take(matched.width).collect();
            for (f, col) in matched.field_col.iter().enumerate() {
                if let Some(c) = col {
                    source
                        .field_columns
                        .insert(schema.fields[f].name.clone(), matched.labels[*c].clone());
                }
            }
            let validator = engine::Validator::new(
                schema,
                &matched,
                header_row,
                matches!(kind, Kind::Text(_)),
                source.sheet.clone(),
                source
                    .encoding
                    .clone()
                    .unwrap_or_else(|| "UTF-8".to_owned()),
                limits.max_cell_bytes,
                sink.wants_rows(),
                options.pseudonymiser.clone(),
                wide.as_ref().map(|w| w.map.clone()),
            )?
            .with_constant(sheet_field.zip(source.sheet.as_deref()).map(|(f, name)| {
                (
                    f,
                    layout::Name::for_field(name, schema.fields[f].field_type),
                )
            }));
            // Rows to expect, from the first rows' size and the file's: sizes the unique indexes.
            let held_bytes: usize = held.iter().map(Block::text_len).sum();
            let expected_rows = match (&kind, std::fs::metadata(path).map(|m| m.len())) {
                (Kind::Text(_), Ok(len)) if held_rows > 0 && held_bytes > 0 => {
                    let per_row = (held_bytes / held_rows).max(1) as u64;
                    usize::try_from(len / per_row)
                        .unwrap_or(usize::MAX)
                        .saturating_add(held_rows / 10)
                        .min(200_000_000)
                }
                _ => held_rows,
            };
            let mut header_issues = validator.header_issues(&matched);
            if let Some(w) = &wide {
                header_issues.extend(w.header_issues());
            }
            let mut merger = match carried.take() {
                Some(mut m) => {
                    m.add_issues(header_issues);
                    m
                }
                None => engine::Merger::new(
                    &validator,
                    Collector::new(options.error_limit),
                    header_issues,
                    expected_rows,
                ),
            };
            let shape = |b: Block| match &wide {
                Some(w) => w.reshape(b),
                None => b,
            };
            let sat = engine::Saturation::new();
            // The blocks read while looking for the header are checked here, in order; the rest
            // by the workers, and merged back in file order.
            let mut next_seq = 0u64;
            for b in held {
                let b = shape(b);
                let checked = validator.check(b.seq, b, &sat)?;
                merger
                    .merge(&validator, checked, &sat, sink)
                    .map_err(fix_file)?;
                next_seq += 1;
            }
            let workers = options
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
                .clamp(1, 16);
            std::thread::scope(|inner| -> Result<(), IngestError> {
                let (done_tx, done_rx) = crossbeam_channel::bounded::<
                    Result<engine::CheckedBlock, IngestError>,
                >(workers * 2);
                for _ in 0..workers {
                    let (rx, done_tx, validator, sat, to_block, shape) = (
                        rx.clone(),
                        done_tx.clone(),
                        &validator,
                        &sat,
                        &to_block,
                        &shape,
                    );
                    inner.spawn(move || {
                        for msg in rx.iter() {
                            let res = msg
                                .and_then(to_block)
                                .map(shape)
                                .and_then(|b| validator.check(b.seq, b, sat));
                            let failed = res.is_err();
                            if done_tx.send(res).is_err() || failed {
                                break;
                            }
                        }
                    });
                }
                // Only the workers read blocks now: if they stop, the reader's sends fail and it
                // stops too, instead of waiting on a full channel forever.
                drop(rx);
                drop(done_tx);
                let mut waiting: std::collections::BTreeMap<u64, engine::CheckedBlock> =
                    std::collections::BTreeMap::new();
                for res in &done_rx {
                    let checked = res?;
                    waiting.insert(checked.seq, checked);
                    while let Some(c) = waiting.remove(&next_seq) {
                        merger.merge(&validator, c, &sat, sink).map_err(fix_file)?;
                        next_seq += 1;
                    }
                }
                Ok(())
            })?;
            if let Some(w) = &wide {
                let (issues, mut info, _) = w.finish();
                for i in issues {
                    merger.collector.push(i);
                }
                info.header_rows = if two_rows { 2 } else { 1 };
                layouts.push(info);
            } else if two_rows {
                layouts.push(LayoutInfo {
                    header_rows: 2,
                    ..LayoutInfo::default()
                });
            }
            merger.end_sheet();
            Ok(merger)
        })?;
        carried = Some(merger_after);
        if let Some(s) = &source.sheet {
            read_sheets.push(s.clone());
        }
    }
    source.layout = LayoutInfo::merge(layouts);
    if read_sheets.len() > 1 {
        source.sheet = Some(read_sheets.join(", "));
    }
    let collector = match carried {
        Some(m) => m.finish(source.sheet.clone()),
        None => return Err(IngestError::Empty { file }),
    };
    let mut report = collector.finish(file, schema.name.clone(), source);
    report.stats.fields = schema.fields.len();
    report.stats.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A file opened for reading: what kind it is, and for text its reader and first bytes.
pub(crate) struct Opened {
    kind: Kind,
    reader: Box<dyn Read + Send>,
    head: Vec<u8>,
}

/// Opens a partner file: tells a workbook from text (and refuses what is neither), plans the
/// text's decoding, and checks what a spreadsheet would expand to before any library reads it.
pub(crate) fn open_source(
    path: &Path,
    file: &str,
    profile: &Profile,
    limits: &Limits,
) -> Result<Opened, IngestError> {
    let file = file.to_owned();
    let io = |source| IngestError::Io {
        file: file.clone(),
        source,
    };
    let mut reader: Box<dyn Read + Send> = Box::new(File::open(path).map_err(io)?);
    let (head, at_eof) = text::read_head(&mut reader).map_err(io)?;
    if head.is_empty() {
        return Err(IngestError::Empty { file });
    }
    let kind = if sheet::is_zip(&head) {
        match sheet::inspect_zip(path, &file, limits)? {
            Some(k) => Kind::Sheet(k),
            None => {
                return Err(IngestError::Spreadsheet {
                    file,
                    sheet: None,
                    message: "a zip file that is neither an Excel (.xlsx) nor an OpenDocument (.ods) workbook".to_owned(),
                });
            }
        }
    } else if sheet::is_ole(&head) {
        Kind::Sheet(sheet::SheetKind::Xls)
    } else if sheet::is_old_biff(&head) {
        return Err(IngestError::Spreadsheet {
            file,
            sheet: None,
            message:
                "an Excel 2, 3 or 4 worksheet (from before Excel 97), which backbone does not \
                      read; open it in Excel or LibreOffice and save it as .xlsx"
                    .to_owned(),
        });
    } else {
        Kind::Text(text::plan(
            &head,
            &file,
            profile.encoding.as_deref(),
            profile.delimiter_byte(),
            at_eof,
        )?)
    };

    // What the spreadsheet library would expand, checked before it is called.
    if let Kind::Sheet(k) = &kind {
        if budget::password_protected(path, *k) {
            return Err(IngestError::Spreadsheet {
                file,
                sheet: None,
                message: "the workbook is password protected; open it, remove the password \
                          (File › Info › Protect Workbook in Excel), and save it again"
                    .to_owned(),
            });
        }
        budget::check(path, *k, &file, limits)?;
    }
    Ok(Opened { kind, reader, head })
}
