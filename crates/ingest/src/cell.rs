//! One cell as a source gives it, before any casting.

use chrono::NaiveDateTime;

/// A cell as it came out of the file. CSV cells are always [`Cell::Text`]; spreadsheets keep
/// their own types so that a date cell is not turned into text and parsed back.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    /// No value (a spreadsheet's empty cell).
    Empty,
    /// Text, as bytes: UTF-8 is checked when the cell is used, so a bad byte is reported
    /// against its cell rather than failing the file.
    Text(&'a [u8]),
    /// Text already known to be UTF-8.
    Str(&'a str),
    /// A spreadsheet integer.
    Int(i64),
    /// A spreadsheet number.
    Float(f64),
    /// A spreadsheet boolean.
    Bool(bool),
    /// A spreadsheet date cell, already converted from its date system (1900 or 1904).
    DateTime(NaiveDateTime),
    /// A spreadsheet error value (`#DIV/0!`).
    Error(&'a str),
    /// A formula whose result was never saved in the file.
    FormulaNoValue,
}

impl Cell<'_> {
    /// The cell as a person would read it in the file; text is shown as UTF-8 with bad bytes
    /// replaced (for display only: the value itself is never replaced).
    pub fn display(&self) -> String {
        match self {
            Cell::Empty | Cell::FormulaNoValue => String::new(),
            Cell::Text(b) => String::from_utf8_lossy(b).into_owned(),
            Cell::Str(s) => (*s).to_owned(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => format_float(*f),
            Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
            Cell::DateTime(dt) => {
                if dt.time() == chrono::NaiveTime::MIN {
                    dt.date().format("%d/%m/%Y").to_string()
                } else {
                    dt.format("%d/%m/%Y %H:%M:%S").to_string()
                }
            }
            Cell::Error(e) => (*e).to_owned(),
        }
    }

    /// True when the cell holds nothing but white space.
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(b) => trim_bytes(b).is_empty(),
            Cell::Str(s) => trim_bytes(s.as_bytes()).is_empty(),
            _ => false,
        }
    }
}

/// A float as a spreadsheet shows it: integers without `.0`, no exponent for ordinary sizes.
pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        // Exact: the value is integral and well inside i64.
        #[allow(clippy::cast_possible_truncation)]
        let i = f as i64;
        i.to_string()
    } else {
        f.to_string()
    }
}

/// Trims ASCII white space, NBSP and the invisible marks partners' tools leave around values
/// (BOM, LRM, RLM).
pub fn trim_bytes(b: &[u8]) -> &[u8] {
    // Nearly every cell starts and ends with a plain visible character: nothing to do.
    match (b.first(), b.last()) {
        (None, _) => return b,
        (Some(&f), Some(&l)) if is_plain(f) && is_plain(l) => return b,
        _ => {}
    }
    let mut s = b;
    loop {
        let before = s.len();
        s = s.trim_ascii();
        for mark in [
            &[0xC2, 0xA0][..],
            &[0xE2, 0x80, 0x8F],
            &[0xE2, 0x80, 0x8E],
            &[0xEF, 0xBB, 0xBF],
        ] {
            if let Some(rest) = s.strip_prefix(mark) {
                s = rest;
            }
            if let Some(rest) = s.strip_suffix(mark) {
                s = rest;
            }
        }
        if s.len() == before {
            return s;
        }
    }
}

/// A byte that is neither white space nor the first or last byte of an invisible mark.
#[inline]
fn is_plain(c: u8) -> bool {
    c > b' ' && !matches!(c, 0xC2 | 0xA0 | 0xE2 | 0x8E | 0x8F | 0xEF | 0xBF)
}

/// Spreadsheet column letters for a 0-based column: 0 → `A`, 27 → `AB`.
pub fn column_letters(mut col: usize) -> String {
    let mut out = Vec::new();
    loop {
        #[allow(clippy::cast_possible_truncation)]
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(16_383), "XFD");
    }

    #[test]
    fn trims_invisible_marks() {
        assert_eq!(trim_bytes(" \u{a0}abc\u{200f} ".as_bytes()), b"abc");
        assert_eq!(trim_bytes(b"   "), b"");
    }
}
