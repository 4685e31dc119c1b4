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
use crate::block::{Block, Chunk, Slot, Work};
use crate::error::IngestError;

const HEAD_BYTES: usize = 64 * 1024;
const READ_CHUNK: usize = 1 << 20;
/// A chunk of rows handed to a worker: ~1 MiB of text (one read). At 2 MiB the validation of
/// the peers' 5M-row file peaked ~40 MiB higher and was no faster.
const CHUNK_BYTES: usize = 1 << 20;

/// How a text file will be read.
#[derive(Debug)]
pub(crate) struct TextPlan {
    pub(crate) encoding: &'static Encoding,
    /// Bytes of BOM to skip (UTF-8 only; other decoders remove their own).
    pub(crate) bom_len: usize,
    pub(crate) delimiter: u8,
    /// Rows end with a carriage return alone (the old "CSV (Macintosh)" of Excel for Mac):
    /// each is read as a line end.
    pub(crate) cr_only: bool,
    /// The encoding was guessed from too little text to be sure (few letters outside ASCII,
    /// no BOM, not UTF-8): the report says which was assumed.
    pub(crate) encoding_guessed: bool,
}

/// Below this many bytes outside ASCII, a guessed legacy encoding is named as a guess.
const SURE_GUESS_BYTES: usize = 64;

/// Decides encoding and delimiter from the first bytes, unless the profile pinned them.
pub(crate) fn plan(
    head: &[u8],
    file: &str,
    encoding: Option<&str>,
    delimiter: Option<u8>,
    at_eof: bool,
) -> Result<TextPlan, IngestError> {
    let pinned = encoding.is_some();
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
    let encoding_guessed = !pinned && encoding_hint_is_weak(encoding, bom_len, head);
    let (text, _) = encoding.decode_without_bom_handling(&head[bom_len..]);
    let cr_only = text.contains('\r') && !text.contains('\n');
    let delimiter = match delimiter {
        Some(d) => d,
        None if cr_only => sniff_delimiter(&text.replace('\r', "\n")),
        None => sniff_delimiter(&text),
    };
    Ok(TextPlan {
        encoding,
        bom_len,
        delimiter,
        cr_only,
        encoding_guessed,
    })
}

/// Whether a detected legacy encoding rests on too few letters to tell one alphabet from
/// another (70 bytes of Greek read as Hebrew, say).
fn encoding_hint_is_weak(encoding: &'static Encoding, bom_len: usize, head: &[u8]) -> bool {
    encoding != UTF_8
        && bom_len == 0
        && Encoding::for_bom(head).is_none()
        && head.iter().filter(|b| !b.is_ascii()).count() < SURE_GUESS_BYTES
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

/// Finds row ends the way a CSV parser does: a quote opens a quoted field only at the start
/// of a field (Hebrew abbreviations such as צה"ל put quotes inside plain fields), and inside
/// a quoted field line breaks are data.
struct Splitter {
    delimiter: u8,
    in_quotes: bool,
    /// Where scanning resumes.
    pos: usize,
    /// Just after the last row end found.
    boundary: usize,
    /// Row ends found up to `boundary`.
    rows: u64,
}

impl Splitter {
    fn scan(&mut self, buf: &[u8], eof: bool) {
        let mut i = self.pos;
        while i < buf.len() {
            if self.in_quotes {
                let Some(k) = memchr::memchr(b'"', &buf[i..]) else {
                    i = buf.len();
                    break;
                };
                let q = i + k;
                match buf.get(q + 1) {
                    // A quote at the end of what we have: escaped or closing, we cannot tell yet.
                    None if !eof => {
                        i = q;
                        break;
                    }
                    Some(b'"') => i = q + 2,
                    _ => {
                        self.in_quotes = false;
                        i = q + 1;
                    }
                }
            } else {
                let Some(k) = memchr::memchr2(b'"', b'\n', &buf[i..]) else {
                    i = buf.len();
                    break;
                };
                let p = i + k;
                if buf[p] == b'\n' {
                    self.rows += 1;
                    self.boundary = p + 1;
                } else if p == 0
                    || matches!(buf[p - 1], b'\n' | b'\r')
                    || buf[p - 1] == self.delimiter
                {
                    self.in_quotes = true;
                }
                i = p + 1;
            }
        }
        self.pos = i;
    }
}

/// The reading thread: decodes (when not UTF-8) and cuts the text into chunks at row ends.
pub(crate) fn produce(
    mut reader: Box<dyn Read + Send>,
    head: Vec<u8>,
    plan: &TextPlan,
    file: &str,
    limits: &Limits,
    tx: &Sender<Result<Work, IngestError>>,
) {
    if let Err(e) = produce_inner(&mut reader, head, plan, file, limits, tx) {
        let _ = tx.send(Err(e));
    }
}

struct Decoder {
    inner: Option<encoding_rs::Decoder>,
    /// Carriage returns become line feeds (rows that end with `\r` alone).
    cr_only: bool,
    name: &'static str,
    raw_offset: u64,
}

fn produce_inner(
    reader: &mut Box<dyn Read + Send>,
    head: Vec<u8>,
    plan: &TextPlan,
    file: &str,
    limits: &Limits,
    tx: &Sender<Result<Work, IngestError>>,
) -> Result<(), IngestError> {
    let mut decoder = Decoder {
        inner: (plan.encoding != UTF_8).then(|| plan.encoding.new_decoder_with_bom_removal()),
        cr_only: plan.cr_only,
        name: plan.encoding.name(),
        raw_offset: 0,
    };
    let mut raw = head;
    raw.drain(..plan.bom_len.min(raw.len()));
    let mut raw_eof = false;
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + READ_CHUNK * 4);
    let mut split = Splitter {
        delimiter: plan.delimiter,
        in_quotes: false,
        pos: 0,
        boundary: 0,
        rows: 0,
    };
    let mut rows_before: u64 = 0;
    let mut seq: u64 = 0;
    loop {
        let eof = raw_eof && raw.is_empty();
        if !eof {
            fill(
                reader,
                &mut raw,
                &mut raw_eof,
                &mut pending,
                &mut decoder,
                file,
                rows_before + split.rows,
            )?;
        }
        let eof = raw_eof && raw.is_empty();
        split.scan(&pending, eof);
        let cut = if eof {
            pending.len()
        } else if pending.len() >= CHUNK_BYTES && split.boundary > 0 {
            split.boundary
        } else {
            if pending.len() - split.boundary > limits.max_record_bytes {
                return Err(IngestError::TooLarge {
                    file: file.to_owned(),
                    sheet: None,
                    row: Some(rows_before + split.rows + 1),
                    column: None,
                    what: format!("a row of more than {} bytes", limits.max_record_bytes),
                    limit: limits.max_record_bytes as u64,
                    hint: "check that the file is really a table of rows (a quote character left open swallows the rest of the file)",
                });
            }
            continue;
        };
        let rest = pending.split_off(cut);
        let rows = if eof && cut > split.boundary {
            split.rows + 1
        } else {
            split.rows
        };
        let text = std::mem::replace(&mut pending, {
            let mut v = Vec::with_capacity(CHUNK_BYTES + READ_CHUNK * 4);
            v.extend_from_slice(&rest);
            v
        });
        split.pos -= cut.min(split.pos);
        split.boundary = 0;
        split.rows = 0;
        if !text.is_empty() {
            let chunk = Chunk {
                seq,
                rows_before,
                text,
            };
            seq += 1;
            rows_before += rows;
            if tx.send(Ok(Work::Chunk(chunk))).is_err() {
                return Ok(()); // the validating side stopped
            }
        }
        if eof {
            return Ok(());
        }
    }
}

/// Parses one chunk into a block of rows (on a worker thread). Every record and every empty
/// line is a row, as frictionless counts them.
pub(crate) fn parse_chunk(
    chunk: Chunk,
    delimiter: u8,
    file: &str,
    limits: &Limits,
) -> Result<Block, IngestError> {
    let mut block = Block::with_capacity(0, 0);
    block.seq = chunk.seq;
    // Unquoted cells are slices of the chunk itself; quoted records are unescaped by
    // csv-core into the space after it.
    block.data = chunk.text;
    let text_len = block.data.len();
    let mut rdr = ReaderBuilder::new().delimiter(delimiter).build();
    let mut ends: Vec<usize> = vec![0; 64];
    let mut out: Vec<u8> = Vec::new();
    let mut row = chunk.rows_before;
    let mut pos = 0usize;
    let too_wide = |row: u64| IngestError::TooLarge {
        file: file.to_owned(),
        sheet: None,
        row: Some(row),
        column: None,
        what: format!("a row of more than {} columns", limits.max_columns),
        limit: limits.max_columns as u64,
        hint: "a table has at most a few hundred columns; check the delimiter",
    };
    while pos < text_len {
        let line_end =
            memchr::memchr(b'\n', &block.data[pos..text_len]).map_or(text_len, |k| pos + k);
        let mut line = pos..line_end;
        if line.end > line.start && block.data[line.end - 1] == b'\r' {
            line.end -= 1;
        }
        row += 1;
        if line.is_empty() {
            // An empty line is a row of its own (frictionless counts it as a blank row).
            block.end_row(row);
            pos = line_end + 1;
            continue;
        }
        if memchr::memchr(b'"', &block.data[line.clone()]).is_none() {
            // The common case: no quotes, so every delimiter separates two cells.
            let mut start = line.start;
            let mut cells = 0usize;
            for d in memchr::memchr_iter(delimiter, &block.data[line.clone()]) {
                push_cell(&mut block.slots, start, line.start + d, limits);
                start = line.start + d + 1;
                cells += 1;
                if cells >= limits.max_columns {
                    return Err(too_wide(row));
                }
            }
            push_cell(&mut block.slots, start, line.end, limits);
            block.end_row(row);
            pos = line_end + 1;
            continue;
        }
        // Quotes: csv-core reads exactly one record, which may run over several lines.
        // Unescaping only shortens a record; it may run past this line, then `out` grows.
        let need = line_end - pos + 16;
        if out.len() < need {
            out.resize(need, 0);
        }
        let mut nends = 0usize;
        let mut consumed = 0usize;
        let mut written = 0usize;
        loop {
            let (res, nin, nout, nend) = rdr.read_record(
                &block.data[pos + consumed..text_len],
                &mut out[written..],
                &mut ends[nends..],
            );
            consumed += nin;
            written += nout;
            nends += nend;
            match res {
                ReadRecordResult::OutputEndsFull => {
                    if ends.len() >= limits.max_columns {
                        return Err(too_wide(row));
                    }
                    let n = ends.len();
                    ends.resize((n * 2).min(limits.max_columns), 0);
                }
                ReadRecordResult::OutputFull => {
                    let n = out.len();
                    out.resize(n * 2 + 16, 0);
                }
                ReadRecordResult::InputEmpty if pos + consumed < text_len => {}
                // The chunk ends inside the record: hand csv-core the end of input.
                ReadRecordResult::InputEmpty | ReadRecordResult::Record | ReadRecordResult::End => {
                    if matches!(res, ReadRecordResult::InputEmpty) {
                        continue_to_end(&mut rdr, &mut out, &mut written, &mut ends, &mut nends);
                    }
                    break;
                }
            }
        }
        let base = block.data.len();
        block.data.extend_from_slice(&out[..written]);
        let mut start = 0usize;
        for &end in &ends[..nends] {
            push_cell(&mut block.slots, base + start, base + end, limits);
            start = end;
        }
        block.end_row(row);
        pos += consumed;
        // A record that ended with CR leaves its LF; a record that ended with LF is done.
        let last = block.data[..text_len].get(pos.wrapping_sub(1)).copied();
        if last == Some(b'\r') && block.data.get(pos) == Some(&b'\n') {
            pos += 1;
        }
    }
    block.seal();
    Ok(block)
}

/// Flushes csv-core at the end of the input (a last record without a line end).
fn continue_to_end(
    rdr: &mut csv_core::Reader,
    out: &mut Vec<u8>,
    written: &mut usize,
    ends: &mut Vec<usize>,
    nends: &mut usize,
) {
    loop {
        if out.len() < *written + 16 {
            out.resize(*written + 64, 0);
        }
        if *nends >= ends.len() {
            ends.resize(ends.len() * 2, 0);
        }
        let (res, _, nout, nend) = rdr.read_record(&[], &mut out[*written..], &mut ends[*nends..]);
        *written += nout;
        *nends += nend;
        if !matches!(
            res,
            ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull
        ) {
            return;
        }
    }
}

fn push_cell(slots: &mut Vec<Slot>, start: usize, end: usize, limits: &Limits) {
    let len = end - start;
    slots.push(if len > limits.max_cell_bytes {
        Slot::Oversized(len as u64)
    } else {
        Slot::Text(offset(start), offset(end))
    });
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn count_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Reads the next piece and appends it to `out` as UTF-8 (decoded when the file is not).
fn fill(
    reader: &mut Box<dyn Read + Send>,
    raw: &mut Vec<u8>,
    raw_eof: &mut bool,
    out: &mut Vec<u8>,
    decoder: &mut Decoder,
    file: &str,
    row: u64,
) -> Result<(), IngestError> {
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
                Err(source) => {
                    return Err(IngestError::Io {
                        file: file.to_owned(),
                        source,
                    });
                }
            }
        }
        raw.truncate(n);
    }
    let start = out.len();
    match &mut decoder.inner {
        None => {
            out.extend_from_slice(raw);
            raw.clear();
        }
        Some(dec) => {
            let needed = dec
                .max_utf8_buffer_length_without_replacement(raw.len())
                .unwrap_or(raw.len() * 3 + 16);
            out.resize(start + needed, 0);
            let (result, read, written) =
                dec.decode_to_utf8_without_replacement(raw, &mut out[start..], *raw_eof);
            out.truncate(start + written);
            if let DecoderResult::Malformed(bad, _) = result {
                let offset = decoder.raw_offset + read as u64 - u64::from(bad);
                return Err(IngestError::Encoding {
                    file: file.to_owned(),
                    encoding: decoder.name.to_owned(),
                    offset,
                    row: row + 1 + count_newlines(&out[start..]),
                });
            }
            decoder.raw_offset += read as u64;
            raw.drain(..read);
        }
    }
    // UTF-8 by now: a 0x0D byte is always the character itself.
    if decoder.cr_only {
        for b in &mut out[start..] {
            if *b == b'\r' {
                *b = b'\n';
            }
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
