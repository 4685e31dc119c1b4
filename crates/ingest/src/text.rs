//! Delimited text: encoding detection and decoding, delimiter sniffing, and records read with
//! `csv-core` into bounded blocks.
//!
//! `csv-core` rather than the `csv` crate's reader because the latter grows a record without
//! bound (a hostile 10 GB field) and skips empty lines without telling; frictionless counts
//! them as rows, and so must our row numbers.

use std::io::Read;

use crossbeam_channel::Sender;
use csv_core::{ReadRecordResult, ReaderBuilder};
use encoding_rs::{DecoderResult, Encoding, UTF_8};

use crate::Limits;
use crate::batch::{Block, Slot};
use crate::error::IngestError;

const HEAD_BYTES: usize = 64 * 1024;
const READ_CHUNK: usize = 1 << 20;
const BLOCK_ROWS: usize = 8192;
const BLOCK_BYTES: usize = 4 << 20;

/// How a text file will be read.
#[derive(Debug)]
pub(crate) struct TextPlan {
    pub(crate) encoding: &'static Encoding,
    /// Bytes of BOM to skip (UTF-8 only; other decoders remove their own).
    pub(crate) bom_len: usize,
    pub(crate) delimiter: u8,
}

/// Decides encoding and delimiter from the first bytes, unless the profile pinned them.
pub(crate) fn plan(
    head: &[u8],
    file: &str,
    encoding: Option<&str>,
    delimiter: Option<u8>,
    at_eof: bool,
) -> Result<TextPlan, IngestError> {
    let (encoding, bom_len) = match encoding {
        Some(label) => {
            let enc = Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
                IngestError::UnknownEncoding {
                    file: file.to_owned(),
                    label: label.to_owned(),
                }
            })?;
            let bom = match Encoding::for_bom(head) {
                Some((e, n)) if e == enc && e == UTF_8 => n,
                _ => 0,
            };
            (enc, bom)
        }
        None => detect_encoding(head, at_eof),
    };
    let delimiter = match delimiter {
        Some(d) => d,
        None => {
            let (text, _) = encoding.decode_without_bom_handling(&head[bom_len..]);
            sniff_delimiter(&text)
        }
    };
    Ok(TextPlan {
        encoding,
        bom_len,
        delimiter,
    })
}

fn detect_encoding(head: &[u8], at_eof: bool) -> (&'static Encoding, usize) {
    if let Some((enc, n)) = Encoding::for_bom(head) {
        return (enc, if enc == UTF_8 { n } else { 0 });
    }
    match std::str::from_utf8(head) {
        Ok(_) => return (UTF_8, 0),
        // A multi-byte character cut by the end of the head is still UTF-8.
        Err(e) if e.error_len().is_none() && !at_eof => return (UTF_8, 0),
        Err(_) => {}
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(head, at_eof);
    // Partners are mostly Israeli: prefer Hebrew legacy encodings when undecided.
    let guess = det.guess(Some(b"il"), chardetng::Utf8Detection::Allow);
    // Windows-1255 is a superset of ISO-8859-8 and what Hebrew Windows actually writes.
    if guess == encoding_rs::ISO_8859_8 || guess == encoding_rs::ISO_8859_8_I {
        return (encoding_rs::WINDOWS_1255, 0);
    }
    (guess, 0)
}

/// The delimiter among `,` `;` tab `|` that splits the first lines most consistently.
pub(crate) fn sniff_delimiter(text: &str) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let mut counts: Vec<[usize; 4]> = Vec::new();
    let mut current = [0usize; 4];
    let mut in_quotes = false;
    let mut line_has_content = false;
    for b in text.bytes() {
        if b == b'"' {
            in_quotes = !in_quotes;
        }
        if in_quotes {
            continue;
        }
        if b == b'\n' {
            if line_has_content {
                counts.push(current);
            }
            current = [0; 4];
            line_has_content = false;
            if counts.len() >= 50 {
                break;
            }
            continue;
        }
        if b != b'\r' {
            line_has_content = true;
        }
        if let Some(i) = CANDIDATES.iter().position(|&c| c == b) {
            current[i] += 1;
        }
    }
    if line_has_content && counts.len() < 50 {
        counts.push(current);
    }
    let mut best = (b',', 0usize, 0usize);
    for (i, &cand) in CANDIDATES.iter().enumerate() {
        // The most common non-zero count per line, and how many lines have it.
        let mut freq: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
        for c in &counts {
            if c[i] > 0 {
                *freq.entry(c[i]).or_default() += 1;
            }
        }
        let Some((&per_line, &lines)) = freq.iter().max_by_key(|(k, v)| (**v, **k)) else {
            continue;
        };
        if (lines, per_line) > (best.1, best.2) {
            best = (cand, lines, per_line);
        }
    }
    best.0
}

/// The reading thread: decodes (when not UTF-8), splits records, numbers rows the way
/// frictionless does (every record and every empty line is a row), and sends blocks.
pub(crate) fn produce(
    mut reader: Box<dyn Read + Send>,
    head: Vec<u8>,
    plan: &TextPlan,
    file: &str,
    limits: &Limits,
    tx: &Sender<Result<Block, IngestError>>,
) {
    if let Err(e) = produce_inner(&mut reader, head, plan, file, limits, tx) {
        let _ = tx.send(Err(e));
    }
}

struct Decoder {
    inner: Option<encoding_rs::Decoder>,
    name: &'static str,
    raw_offset: u64,
}

fn produce_inner(
    reader: &mut Box<dyn Read + Send>,
    head: Vec<u8>,
    plan: &TextPlan,
    file: &str,
    limits: &Limits,
    tx: &Sender<Result<Block, IngestError>>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_owned(),
        source,
    };
    let mut decoder = Decoder {
        inner: (plan.encoding != UTF_8).then(|| plan.encoding.new_decoder_with_bom_removal()),
        name: plan.encoding.name(),
        raw_offset: 0,
    };
    let mut rdr = ReaderBuilder::new().delimiter(plan.delimiter).build();

    // `input` holds UTF-8 bytes not yet parsed: input[pos..len].
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK * 3 + 16);
    let mut pos = 0usize;
    let mut raw = head;
    raw.drain(..plan.bom_len.min(raw.len()));
    let mut raw_eof = false;
    let mut decoded_eof = false;

    let mut block = new_block();
    let mut used = 0usize; // bytes of block.data in use
    let mut ends: Vec<usize> = vec![0; 64];
    let mut nends = 0usize;
    let mut record_start = 0usize;

    let mut row: u64 = 0;
    let mut newlines_in_record: u64 = 0;
    let mut last_byte: u8 = 0;
    let mut crlf_pending = false;

    loop {
        if pos == input.len() && !decoded_eof {
            input.clear();
            pos = 0;
            fill(
                reader,
                &mut raw,
                &mut raw_eof,
                &mut input,
                &mut decoder,
                file,
                row,
            )
            .map_err(|e| match e {
                FillError::Io(source) => io(source),
                FillError::Decode(e) => e,
            })?;
            if input.is_empty() && raw_eof {
                decoded_eof = true;
            }
        }
        let avail = &input[pos..];
        let (res, nin, nout, nend) =
            rdr.read_record(avail, &mut block.data[used..], &mut ends[nends..]);
        if nin > 0 {
            let consumed = &avail[..nin];
            if crlf_pending {
                // The '\n' of a CRLF that ended the previous record is consumed here.
                if consumed[0] == b'\n' {
                    newlines_in_record = newlines_in_record.wrapping_sub(1);
                }
                crlf_pending = false;
            }
            newlines_in_record = newlines_in_record.wrapping_add(count_newlines(consumed));
            last_byte = consumed[nin - 1];
        }
        pos += nin;
        used += nout;
        nends += nend;
        match res {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => {
                let record_bytes = used - record_start;
                if record_bytes >= limits.max_record_bytes {
                    return Err(IngestError::TooLarge {
                        file: file.to_owned(),
                        sheet: None,
                        row: Some(row + 1),
                        column: None,
                        what: format!("a row of more than {record_bytes} bytes"),
                        limit: limits.max_record_bytes as u64,
                        hint: "check that the file is really a table of rows (a quote character left open swallows the rest of the file)",
                    });
                }
                let grow = block.data.len().max(1 << 16);
                block.data.resize(block.data.len() + grow, 0);
            }
            ReadRecordResult::OutputEndsFull => {
                if ends.len() >= limits.max_columns {
                    return Err(IngestError::TooLarge {
                        file: file.to_owned(),
                        sheet: None,
                        row: Some(row + 1),
                        column: None,
                        what: format!("a row of more than {} columns", limits.max_columns),
                        limit: limits.max_columns as u64,
                        hint: "a table has at most a few hundred columns; check the delimiter",
                    });
                }
                let n = ends.len();
                ends.resize((n * 2).min(limits.max_columns), 0);
            }
            ReadRecordResult::Record | ReadRecordResult::End => {
                let is_record = matches!(res, ReadRecordResult::Record);
                let data = &block.data[record_start..used];
                let term = u64::from(is_record && last_byte == b'\n');
                let embedded = if newlines_in_record > term && is_record {
                    count_newlines(data)
                } else {
                    0
                };
                let blank_lines = newlines_in_record.saturating_sub(term + embedded);
                // Empty lines before this record are rows of their own.
                for _ in 0..blank_lines {
                    row += 1;
                    block.end_row(row);
                }
                if is_record {
                    row += 1;
                    let mut start = 0usize;
                    for &end in &ends[..nends] {
                        let len = end - start;
                        let slot = if len > limits.max_cell_bytes {
                            Slot::Oversized(len as u64)
                        } else {
                            Slot::Text(offset(record_start + start), offset(record_start + end))
                        };
                        block.slots.push(slot);
                        start = end;
                    }
                    block.end_row(row);
                    crlf_pending = last_byte == b'\r';
                }
                newlines_in_record = 0;
                nends = 0;
                record_start = used;
                if block.len() >= BLOCK_ROWS || used >= BLOCK_BYTES || !is_record {
                    block.data.truncate(used);
                    block.seal();
                    let full = std::mem::replace(&mut block, new_block());
                    used = 0;
                    record_start = 0;
                    if !full.rows.is_empty() && tx.send(Ok(full)).is_err() {
                        return Ok(()); // the validating side stopped
                    }
                }
                if !is_record {
                    return Ok(());
                }
            }
        }
    }
}

fn new_block() -> Block {
    let mut b = Block::with_capacity(BLOCK_BYTES + (1 << 16), BLOCK_ROWS * 16);
    b.data.resize(BLOCK_BYTES + (1 << 16), 0);
    b
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn count_newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

enum FillError {
    Io(std::io::Error),
    Decode(IngestError),
}

/// Reads the next chunk into `out` as UTF-8 (decoded when the file is not UTF-8).
fn fill(
    reader: &mut Box<dyn Read + Send>,
    raw: &mut Vec<u8>,
    raw_eof: &mut bool,
    out: &mut Vec<u8>,
    decoder: &mut Decoder,
    file: &str,
    row: u64,
) -> Result<(), FillError> {
    if raw.is_empty() && !*raw_eof {
        raw.resize(READ_CHUNK, 0);
        let mut n = 0;
        while n < READ_CHUNK {
            match reader.read(&mut raw[n..]) {
                Ok(0) => {
                    *raw_eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FillError::Io(e)),
            }
        }
        raw.truncate(n);
    }
    match &mut decoder.inner {
        None => {
            std::mem::swap(out, raw);
            raw.clear();
        }
        Some(dec) => {
            let needed = dec
                .max_utf8_buffer_length_without_replacement(raw.len())
                .unwrap_or(raw.len() * 3 + 16);
            out.resize(needed, 0);
            let (result, read, written) =
                dec.decode_to_utf8_without_replacement(raw, out, *raw_eof);
            out.truncate(written);
            if let DecoderResult::Malformed(bad, _) = result {
                let offset = decoder.raw_offset + read as u64 - u64::from(bad);
                return Err(FillError::Decode(IngestError::Encoding {
                    file: file.to_owned(),
                    encoding: decoder.name.to_owned(),
                    offset,
                    row: row + 1 + count_newlines(out),
                }));
            }
            decoder.raw_offset += read as u64;
            raw.drain(..read);
        }
    }
    Ok(())
}

/// The head of a file: up to 64 KiB, and whether that was all of it.
pub(crate) fn read_head(reader: &mut dyn Read) -> std::io::Result<(Vec<u8>, bool)> {
    let mut head = vec![0; HEAD_BYTES];
    let mut n = 0;
    while n < HEAD_BYTES {
        match reader.read(&mut head[n..]) {
            Ok(0) => {
                head.truncate(n);
                return Ok((head, true));
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter("a;b;c\n1;2,5;3\n4;5;6\n"), b';');
        assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter("title only\n\na\tb\tc\n1\t2\t3\n"), b'\t');
        assert_eq!(sniff_delimiter("a|b\n\"x|y\"|z\n1|2\n"), b'|');
        assert_eq!(sniff_delimiter("single column\nvalue\n"), b',');
    }

    #[test]
    fn detects_encodings() {
        let (text, _, _) =
            encoding_rs::WINDOWS_1255.encode("שם,גיל,עיר\nדנה,34,חיפה\nיוסי,51,ירושלים\n");
        assert_eq!(detect_encoding(&text, true).0.name(), "windows-1255");
        assert_eq!(
            detect_encoding("שם,גיל\n".as_bytes(), true).0.name(),
            "UTF-8"
        );
        assert_eq!(detect_encoding(b"\xef\xbb\xbfa,b", true), (UTF_8, 3));
        assert_eq!(detect_encoding(b"\xff\xfea\x00", true).0.name(), "UTF-16LE");
        // A character cut at the end of the head is not evidence against UTF-8.
        assert_eq!(
            detect_encoding(&"אב".as_bytes()[..3], false).0.name(),
            "UTF-8"
        );
    }
}
