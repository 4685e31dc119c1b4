//! A raw file without one person's rows, for an erasure: a text file is written again with
//! each of their rows blanked (as many delimiters as it had, so every other row keeps its
//! physical row number, and the rows stored from it keep their lineage); a spreadsheet is
//! only searched, since backbone does not write spreadsheets back (the caller removes it).

use std::path::Path;

use csv_core::{ReadRecordResult, ReaderBuilder};

use crate::cell::format_float;
use crate::{IngestError, sheet, text};

/// What redacting a file found.
#[derive(Debug, PartialEq, Eq)]
pub enum Redaction {
    /// The person is not in it.
    Absent,
    /// A text file: its new bytes (UTF-8 with a byte-order mark unless it was UTF-8 without
    /// one) and the physical rows blanked.
    Rewritten {
        /// The redacted file.
        bytes: Vec<u8>,
        /// The rows blanked (1 = the first line).
        rows: Vec<u64>,
    },
    /// A spreadsheet that holds the person somewhere (sheet, row): not rewritten.
    InSpreadsheet {
        /// The rows found, on any sheet.
        rows: Vec<u64>,
    },
}

/// Looks for cells `is_person` says are the person's identifier, in every row of the file.
/// `encoding` and `delimiter` are the partner profile's, when it pins them.
pub fn redact(
    path: &Path,
    encoding: Option<&str>,
    delimiter: Option<u8>,
    is_person: &dyn Fn(&str) -> bool,
) -> Result<Redaction, IngestError> {
    let file = path.display().to_string();
    let io = |source| IngestError::Io {
        file: file.clone(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    if bytes.is_empty() {
        return Ok(Redaction::Absent);
    }
    if sheet::is_zip(&bytes) || sheet::is_ole(&bytes) {
        return in_sheets(path, &file, is_person);
    }
    let plan = text::plan(&bytes, &file, encoding, delimiter, true)?;
    let (decoded, _, _) = plan.encoding.decode(&bytes[plan.bom_len..]);
    let utf8_plain = plan.encoding == encoding_rs::UTF_8 && plan.bom_len == 0;
    let (out, rows) = blank_rows(decoded.as_bytes(), plan.delimiter, is_person);
    if rows.is_empty() {
        return Ok(Redaction::Absent);
    }
    let mut bytes = if utf8_plain {
        Vec::new()
    } else {
        b"\xEF\xBB\xBF".to_vec()
    };
    bytes.extend(out);
    Ok(Redaction::Rewritten { bytes, rows })
}

/// The text with every row holding the person replaced by an empty row of the same width;
/// rows as the reader counts them (each record and each empty line is one).
fn blank_rows(text: &[u8], delimiter: u8, is_person: &dyn Fn(&str) -> bool) -> (Vec<u8>, Vec<u64>) {
    let mut out = Vec::with_capacity(text.len());
    let mut blanked = Vec::new();
    let mut rdr = ReaderBuilder::new().delimiter(delimiter).build();
    let mut field = vec![0u8; 1024];
    let mut ends = vec![0usize; 256];
    let mut pos = 0usize;
    let mut row = 0u64;
    while pos < text.len() {
        row += 1;
        let line_end = memchr::memchr(b'\n', &text[pos..]).map_or(text.len(), |k| pos + k);
        // One record: csv-core reads it, over several lines when quoted.
        rdr.reset();
        let mut consumed = 0usize;
        let mut written = 0usize;
        let mut nends = 0usize;
        if line_end > pos && !(line_end == pos + 1 && text[pos] == b'\r') {
            loop {
                let (res, nin, nout, nend) = rdr.read_record(
                    &text[pos + consumed..],
                    &mut field[written..],
                    &mut ends[nends..],
                );
                consumed += nin;
                written += nout;
                nends += nend;
                match res {
                    ReadRecordResult::OutputFull => field.resize(field.len() * 2, 0),
                    ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
                    ReadRecordResult::InputEmpty if pos + consumed < text.len() => {}
                    ReadRecordResult::InputEmpty => {
                        let (_, _, nout, nend) =
                            rdr.read_record(&[], &mut field[written..], &mut ends[nends..]);
                        written += nout;
                        nends += nend;
                        break;
                    }
                    ReadRecordResult::Record | ReadRecordResult::End => break,
                }
            }
        } else {
            consumed = line_end - pos + usize::from(line_end < text.len());
        }
        let end = (pos + consumed.max(1)).min(text.len());
        let mut start = 0;
        let mut hit = false;
        for &e in &ends[..nends] {
            let cell = String::from_utf8_lossy(&field[start..e.min(written)]);
            if !cell.trim().is_empty() && is_person(cell.trim()) {
                hit = true;
            }
            start = e;
        }
        if hit {
            blanked.push(row);
            out.extend(std::iter::repeat_n(delimiter, nends.saturating_sub(1)));
            out.push(b'\n');
        } else {
            out.extend_from_slice(&text[pos..end]);
        }
        pos = end;
    }
    (out, blanked)
}

/// The rows of any sheet with a cell that is the person's identifier.
fn in_sheets(
    path: &Path,
    file: &str,
    is_person: &dyn Fn(&str) -> bool,
) -> Result<Redaction, IngestError> {
    use calamine::{Data, Reader};
    let mut book = calamine::open_workbook_auto(path).map_err(|e| IngestError::Spreadsheet {
        file: file.to_owned(),
        sheet: None,
        message: e.to_string(),
    })?;
    let mut rows = Vec::new();
    for name in book.sheet_names() {
        let Ok(range) = book.worksheet_range(&name) else {
            continue;
        };
        let first = u64::from(range.start().map_or(0, |(r, _)| r));
        for (i, cells) in range.rows().enumerate() {
            let hit = cells.iter().any(|c| {
                let text = match c {
                    Data::String(s) => s.trim().to_owned(),
                    Data::Int(n) => n.to_string(),
                    Data::Float(f) => format_float(*f),
                    _ => return false,
                };
                !text.is_empty() && is_person(&text)
            });
            if hit {
                rows.push(first + i as u64 + 1);
            }
        }
    }
    Ok(if rows.is_empty() {
        Redaction::Absent
    } else {
        Redaction::InSpreadsheet { rows }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_persons_rows_are_blanked_and_every_other_row_keeps_its_number() {
        let text =
            b"id,name,age\n123,Dana,30\n\n\"456\",\"Avi, Jr\",41\n0123,\"two\nlines\",5\n789,x,1";
        let (out, rows) = blank_rows(text, b',', &|c| c.trim_start_matches('0') == "123");
        assert_eq!(rows, [2, 5]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,name,age\n,,\n\n\"456\",\"Avi, Jr\",41\n,,\n789,x,1"
        );
        let (same, none) = blank_rows(text, b',', &|_| false);
        assert!(none.is_empty());
        assert_eq!(same, text);
    }
}
