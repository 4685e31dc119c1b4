//! Distinct counts in parts, so that their memory follows a part rather than the table.
//!
//! A distinct count is not additive over rows: the same person in two batches is one person.
//! It is additive over a partition of the *values*, though: when every person's rows are in
//! one part, the distinct count of a cell is the sum of the parts' counts, exactly. So the
//! rows of a large table are dealt into parts by their counted value (a pseudonym's own bits,
//! a text's hash), each row written to its part's file as a short record of the columns the
//! count needs (period keys, filters' verdicts, breakdown codes, the value), and each part is
//! then read back and tallied on its own. A table small enough ([`Rows::parts`] is 1) keeps
//! its rows in memory, as they are read, and is tallied once.

use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufReader, BufWriter, Read, Write};

use super::codes::*;
use super::tally::*;
use super::*;

/// The rows of the sides that count one field distinct.
pub(super) struct Parts {
    /// The columns each record holds, in this order, and the counted field's column.
    periods: Vec<String>,
    flags: Vec<String>,
    labels: Vec<String>,
    field: String,
    how: How,
}

enum How {
    /// One part: the rows' columns, kept as they are read.
    Memory(Columns),
    /// Several: a file per part, and the breakdown texts coded across batches.
    Files {
        dir: tempfile::TempDir,
        files: Vec<BufWriter<File>>,
        labels: BTreeMap<String, Labels>,
    },
}

/// A record's value: none (an empty cell).
const EMPTY: u8 = 0;
/// A pseudonym's 128 bits follow.
const PSEUDONYM: u8 = 1;
/// A text's length (u32) and bytes follow.
const TEXT: u8 = 2;

/// The rows' columns, by role, for the sides that count `field` distinct.
pub(super) fn columns_of(
    roles: &BTreeMap<&str, Role>,
    field: &str,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let of = |want: Role| -> Vec<String> {
        roles
            .iter()
            .filter(|(name, role)| **role == want && **name != field)
            .map(|(name, _)| (*name).to_owned())
            .collect()
    };
    (of(Role::Period), of(Role::Flag), of(Role::Label))
}

impl Parts {
    /// Parts for the columns of `roles` (the counted field's is `field`), `parts` of them.
    pub(super) fn new(
        roles: &BTreeMap<&str, Role>,
        field: &str,
        parts: usize,
    ) -> std::io::Result<Self> {
        let (periods, flags, labels) = columns_of(roles, field);
        let how = if parts <= 1 {
            How::Memory(Columns::default())
        } else {
            let dir = tempfile::Builder::new()
                .prefix("backbone-distinct-")
                .tempdir()?;
            let files = (0..parts)
                .map(|p| {
                    File::create(dir.path().join(format!("part-{p}")))
                        .map(|f| BufWriter::with_capacity(1 << 16, f))
                })
                .collect::<std::io::Result<_>>()?;
            How::Files {
                dir,
                files,
                labels: BTreeMap::new(),
            }
        };
        Ok(Self {
            periods,
            flags,
            labels,
            field: field.to_owned(),
            how,
        })
    }

    /// Takes one batch's rows.
    pub(super) fn push(&mut self, df: &DataFrame) -> Result<(), String> {
        match &mut self.how {
            How::Memory(columns) => {
                let mut roles = BTreeMap::new();
                for (names, role) in [
                    (&self.periods, Role::Period),
                    (&self.flags, Role::Flag),
                    (&self.labels, Role::Label),
                ] {
                    for n in names {
                        roles.insert(n.as_str(), role);
                    }
                }
                roles.insert(self.field.as_str(), Role::Code);
                columns.extend(df, &roles).map_err(|e| e.to_string())
            }
            How::Files { files, labels, .. } => {
                let err = |e: PolarsError| e.to_string();
                let mut periods = Vec::with_capacity(self.periods.len());
                for p in &self.periods {
                    let c = df.column(p).map_err(err)?.i32().map_err(err)?;
                    periods.push(c.iter().map(|v| v.unwrap_or(NO_PERIOD)).collect::<Vec<_>>());
                }
                let mut flags = Vec::with_capacity(self.flags.len());
                for f in &self.flags {
                    let c = df.column(f).map_err(err)?.bool().map_err(err)?;
                    flags.push(c.iter().map(|v| v.unwrap_or(false)).collect::<Vec<_>>());
                }
                let mut codes = Vec::with_capacity(self.labels.len());
                for l in &self.labels {
                    let c = df.column(l).map_err(err)?.str().map_err(err)?;
                    let coded = labels.entry(l.clone()).or_default();
                    coded.rows.clear();
                    coded.extend(c)?;
                    codes.push(std::mem::take(&mut coded.rows));
                }
                let values = df.column(&self.field).map_err(err)?.str().map_err(err)?;
                let parts = files.len();
                let mut record = Vec::with_capacity(64);
                for (i, v) in values.iter().enumerate() {
                    record.clear();
                    for p in &periods {
                        record.extend_from_slice(&p[i].to_le_bytes());
                    }
                    for f in &flags {
                        record.push(u8::from(f[i]));
                    }
                    for c in &codes {
                        record.extend_from_slice(&c[i].to_le_bytes());
                    }
                    let part = match v {
                        None => {
                            record.push(EMPTY);
                            0
                        }
                        Some(v) => match pseudonym_bits(v) {
                            Some(bits) => {
                                record.push(PSEUDONYM);
                                record.extend_from_slice(&bits.to_le_bytes());
                                (bits % parts as u128) as usize
                            }
                            None => {
                                let len = u32::try_from(v.len())
                                    .map_err(|_| "a value longer than 4 GiB".to_owned())?;
                                record.push(TEXT);
                                record.extend_from_slice(&len.to_le_bytes());
                                record.extend_from_slice(v.as_bytes());
                                (rustc_hash::FxBuildHasher.hash_one(v) % parts as u64) as usize
                            }
                        },
                    };
                    if let Some(file) = files.get_mut(part) {
                        file.write_all(&record).map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Hands each part's rows to `each`, one part at a time.
    pub(super) fn finish(self, mut each: impl FnMut(&Columns)) -> Result<(), String> {
        let Self {
            periods,
            flags,
            labels: label_columns,
            field,
            how,
        } = self;
        match how {
            How::Memory(columns) => {
                each(&columns);
                Ok(())
            }
            How::Files { dir, files, labels } => {
                let io = |e: std::io::Error| format!("{}: {e}", dir.path().display());
                for (p, file) in files.into_iter().enumerate() {
                    let file = file.into_inner().map_err(|e| io(e.into_error()))?;
                    drop(file);
                    let path = dir.path().join(format!("part-{p}"));
                    let mut columns = Columns::default();
                    {
                        let mut r =
                            BufReader::with_capacity(1 << 16, File::open(&path).map_err(io)?);
                        let mut period_rows: Vec<Vec<i32>> = vec![Vec::new(); periods.len()];
                        let mut flag_rows: Vec<Vec<bool>> = vec![Vec::new(); flags.len()];
                        let mut label_rows: Vec<Vec<u32>> = vec![Vec::new(); label_columns.len()];
                        let mut codes = Codes::default();
                        let mut pseudonyms: std::collections::HashMap<
                            u128,
                            u32,
                            rustc_hash::FxBuildHasher,
                        > = Default::default();
                        let mut texts = TextCodes::default();
                        let mut four = [0u8; 4];
                        let mut text = Vec::new();
                        loop {
                            // A record starts with its first period key, or its value's tag.
                            let mut first = true;
                            let mut at_end = false;
                            for rows in &mut period_rows {
                                match read_or_end(&mut r, &mut four, first).map_err(io)? {
                                    false => {
                                        at_end = true;
                                        break;
                                    }
                                    true => rows.push(i32::from_le_bytes(four)),
                                }
                                first = false;
                            }
                            if at_end {
                                break;
                            }
                            for rows in &mut flag_rows {
                                let mut one = [0u8; 1];
                                r.read_exact(&mut one).map_err(io)?;
                                rows.push(one[0] != 0);
                            }
                            for rows in &mut label_rows {
                                r.read_exact(&mut four).map_err(io)?;
                                rows.push(u32::from_le_bytes(four));
                            }
                            let mut tag = [0u8; 1];
                            if !read_or_end(&mut r, &mut tag, first).map_err(io)? {
                                break;
                            }
                            let next = next_code(pseudonyms.len() + texts.len())?;
                            let code = match tag[0] {
                                PSEUDONYM => {
                                    let mut bits = [0u8; 16];
                                    r.read_exact(&mut bits).map_err(io)?;
                                    *pseudonyms.entry(u128::from_le_bytes(bits)).or_insert(next)
                                }
                                TEXT => {
                                    r.read_exact(&mut four).map_err(io)?;
                                    text.resize(u32::from_le_bytes(four) as usize, 0);
                                    r.read_exact(&mut text).map_err(io)?;
                                    let v = String::from_utf8_lossy(&text);
                                    intern(&mut texts, &v, next).0
                                }
                                _ => NO_CODE,
                            };
                            codes.rows.push(code);
                        }
                        columns.rows = codes.rows.len();
                        codes.dense = pseudonyms.len() + texts.len();
                        for (name, rows) in periods.iter().zip(period_rows) {
                            columns.periods.insert(name.clone(), rows);
                        }
                        for (name, rows) in flags.iter().zip(flag_rows) {
                            columns.flags.insert(name.clone(), rows);
                        }
                        for (name, rows) in label_columns.iter().zip(label_rows) {
                            columns.labels.insert(
                                name.clone(),
                                Labels {
                                    map: TextCodes::default(),
                                    texts: labels
                                        .get(name)
                                        .map(|l| l.texts.clone())
                                        .unwrap_or_default(),
                                    rows,
                                },
                            );
                        }
                        columns.codes.insert(field.clone(), codes);
                    }
                    // Read: the part's file is not needed any more.
                    std::fs::remove_file(&path).map_err(io)?;
                    each(&columns);
                }
                Ok(())
            }
        }
    }
}

/// Fills `buf`, or returns `false` at the end of the file when `may_end` (between records).
fn read_or_end(r: &mut impl Read, buf: &mut [u8], may_end: bool) -> std::io::Result<bool> {
    let mut read = 0;
    while read < buf.len() {
        match r.read(&mut buf[read..]) {
            Ok(0) if read == 0 && may_end => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
