//! strptime-style date formats compiled once per field.
//!
//! chrono's `parse_from_str` re-reads the pattern for every value and costs more than all
//! other checks of a row together; partners' files are millions of dates in one of a handful
//! of formats. Patterns made only of the directives below are compiled to a token list and
//! parsed byte by byte; any other pattern falls back to chrono, so every strptime pattern
//! chrono knows still works.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Day,
    Month,
    Year4,
    Year2,
    Hour,
    Minute,
    Second,
    /// `%z`: `Z`, `+hh:mm`, `+hhmm`, `+hh`.
    Offset,
    Lit(u8),
    /// One or more spaces in the pattern match one or more spaces in the value.
    Space,
}

/// A compiled date or datetime format.
#[derive(Clone, Debug)]
pub struct DateFormat {
    source: String,
    toks: Option<Vec<Tok>>,
    has_time: bool,
}

/// What a format read out of a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parsed {
    /// Date and time (midnight when the format has no time).
    pub datetime: NaiveDateTime,
    /// Offset east of UTC in seconds, when the value carried one.
    pub offset: Option<i32>,
}

impl DateFormat {
    /// Compiles a pattern such as `%d/%m/%Y`.
    pub fn new(pattern: &str) -> Self {
        let toks = compile(pattern);
        let has_time = pattern.contains("%H")
            || pattern.contains("%M")
            || pattern.contains("%S")
            || pattern.contains("%T");
        Self {
            source: pattern.to_owned(),
            toks,
            has_time,
        }
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Parses a trimmed value; `None` when it does not fit the format or is not a real date.
    pub fn parse(&self, s: &str) -> Option<Parsed> {
        match &self.toks {
            Some(toks) => parse_toks(toks, s.as_bytes()),
            None => {
                if self.has_time {
                    if let Ok(dt) = chrono::DateTime::parse_from_str(s, &self.source) {
                        return Some(Parsed {
                            datetime: dt.naive_utc(),
                            offset: Some(dt.offset().local_minus_utc()),
                        });
                    }
                    NaiveDateTime::parse_from_str(s, &self.source)
                        .ok()
                        .map(|datetime| Parsed {
                            datetime,
                            offset: None,
                        })
                } else {
                    NaiveDate::parse_from_str(s, &self.source)
                        .ok()
                        .map(|d| Parsed {
                            datetime: d.and_time(NaiveTime::MIN),
                            offset: None,
                        })
                }
            }
        }
    }

    /// An example of a valid value, for messages: today's date is not used so that reports
    /// and their snapshots do not change from day to day.
    pub fn example(&self) -> String {
        let dt = NaiveDate::from_ymd_opt(2024, 3, 15)
            .and_then(|d| d.and_hms_opt(9, 30, 0))
            .unwrap_or_default();
        let pattern = self.source.replace("%z", "+02:00");
        dt.format(&pattern).to_string()
    }
}

fn compile(pattern: &str) -> Option<Vec<Tok>> {
    let b = pattern.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let mut d = *b.get(i + 1)?;
                let mut skip = 2;
                // %-d and %-m (no padding) read the same way: padding is optional anyway.
                if d == b'-' {
                    d = *b.get(i + 2)?;
                    skip = 3;
                }
                match d {
                    b'd' | b'e' => toks.push(Tok::Day),
                    b'm' => toks.push(Tok::Month),
                    b'Y' => toks.push(Tok::Year4),
                    b'y' => toks.push(Tok::Year2),
                    b'H' => toks.push(Tok::Hour),
                    b'M' => toks.push(Tok::Minute),
                    b'S' => toks.push(Tok::Second),
                    b'z' => toks.push(Tok::Offset),
                    b'T' => toks.extend([
                        Tok::Hour,
                        Tok::Lit(b':'),
                        Tok::Minute,
                        Tok::Lit(b':'),
                        Tok::Second,
                    ]),
                    b'%' => toks.push(Tok::Lit(b'%')),
                    _ => return None,
                }
                i += skip;
            }
            b' ' => {
                if toks.last() != Some(&Tok::Space) {
                    toks.push(Tok::Space);
                }
                i += 1;
            }
            c if c.is_ascii() => {
                toks.push(Tok::Lit(c));
                i += 1;
            }
            _ => return None,
        }
    }
    Some(toks)
}

fn digits(s: &[u8], pos: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *pos;
    let mut v: u32 = 0;
    while *pos < s.len() && *pos - start < max && s[*pos].is_ascii_digit() {
        v = v * 10 + u32::from(s[*pos] - b'0');
        *pos += 1;
    }
    (*pos - start >= min).then_some(v)
}

fn parse_toks(toks: &[Tok], s: &[u8]) -> Option<Parsed> {
    let (mut y, mut mo, mut d) = (1970_i32, 1_u32, 1_u32);
    let (mut h, mut mi, mut sec) = (0_u32, 0_u32, 0_u32);
    let mut offset = None;
    let mut p = 0;
    for t in toks {
        match t {
            Tok::Day => d = digits(s, &mut p, 1, 2)?,
            Tok::Month => mo = digits(s, &mut p, 1, 2)?,
            Tok::Year4 => y = i32::try_from(digits(s, &mut p, 4, 4)?).ok()?,
            Tok::Year2 => {
                let v = i32::try_from(digits(s, &mut p, 2, 2)?).ok()?;
                // chrono's rule: 00–68 → 2000s, 69–99 → 1900s.
                y = if v < 69 { 2000 + v } else { 1900 + v };
            }
            Tok::Hour => h = digits(s, &mut p, 1, 2)?,
            Tok::Minute => mi = digits(s, &mut p, 2, 2)?,
            Tok::Second => sec = digits(s, &mut p, 2, 2)?,
            Tok::Offset => {
                let c = *s.get(p)?;
                if c == b'Z' || c == b'z' {
                    p += 1;
                    offset = Some(0);
                } else if c == b'+' || c == b'-' {
                    p += 1;
                    let oh = digits(s, &mut p, 2, 2)?;
                    if s.get(p) == Some(&b':') {
                        p += 1;
                    }
                    let om = digits(s, &mut p, 0, 2).unwrap_or(0);
                    let secs = i32::try_from(oh * 3600 + om * 60).ok()?;
                    offset = Some(if c == b'-' { -secs } else { secs });
                } else {
                    return None;
                }
            }
            Tok::Lit(c) => {
                if s.get(p) != Some(c) {
                    return None;
                }
                p += 1;
            }
            Tok::Space => {
                let start = p;
                while s.get(p) == Some(&b' ') {
                    p += 1;
                }
                if p == start {
                    return None;
                }
            }
        }
    }
    if p != s.len() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y, mo, d)?;
    let time = NaiveTime::from_hms_opt(h, mi, sec)?;
    let mut datetime = date.and_time(time);
    if let Some(off) = offset {
        datetime -= chrono::Duration::seconds(i64::from(off));
    }
    Some(Parsed { datetime, offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(f: &str, s: &str) -> Option<String> {
        DateFormat::new(f).parse(s).map(|p| p.datetime.to_string())
    }

    #[test]
    fn compiled_formats() {
        assert_eq!(
            date("%d/%m/%Y", "15/03/2024").as_deref(),
            Some("2024-03-15 00:00:00")
        );
        assert_eq!(
            date("%d/%m/%Y", "5/3/2024").as_deref(),
            Some("2024-03-05 00:00:00")
        );
        assert_eq!(date("%d/%m/%Y", "31/02/2024"), None);
        assert_eq!(date("%d/%m/%Y", "2024-03-15"), None);
        assert_eq!(date("%d/%m/%Y", "15/03/2024x"), None);
        assert_eq!(date("%d/%m/%Y", "15/03/24"), None);
        assert_eq!(
            date("%d/%m/%y", "15/03/24").as_deref(),
            Some("2024-03-15 00:00:00")
        );
        assert_eq!(
            date("%Y-%m-%d", "2024-02-29").as_deref(),
            Some("2024-02-29 00:00:00")
        );
        assert_eq!(date("%Y-%m-%d", "2023-02-29"), None);
        assert_eq!(
            date("%Y-%m-%dT%H:%M:%S%z", "2024-03-15T10:00:00+02:00").as_deref(),
            Some("2024-03-15 08:00:00")
        );
        assert_eq!(
            date("%Y-%m-%dT%H:%M:%S%z", "2024-03-15T10:00:00Z").as_deref(),
            Some("2024-03-15 10:00:00")
        );
        assert_eq!(
            date("%d.%m.%Y %H:%M", "15.03.2024 9:05").as_deref(),
            Some("2024-03-15 09:05:00")
        );
    }

    #[test]
    fn other_directives_fall_back_to_chrono() {
        assert_eq!(
            date("%d %b %Y", "15 Mar 2024").as_deref(),
            Some("2024-03-15 00:00:00")
        );
        assert_eq!(date("%d %b %Y", "15 Foo 2024"), None);
    }

    #[test]
    fn example_is_stable() {
        assert_eq!(DateFormat::new("%d/%m/%Y").example(), "15/03/2024");
    }
}
