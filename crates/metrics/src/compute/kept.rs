//! Kept distinct sets: what lets an incremental computation recount a quarter's, a half's or a
//! year's distinct count without reading the rows of every month in it.
//!
//! A distinct count is not additive over months (a person served in March and in May is one
//! person of the year), but the *set* of a period is the union of its months' sets. So every
//! computation that writes results also keeps, for each side counting distinct at a grain
//! coarser than a month, one file per calendar month holding the distinct records of that
//! month's rows that pass the side's filter: each breakdown's text and the counted value (a
//! pseudonym's 128 bits, or the text). When one month changes, the incremental computation
//! reads that month's rows again, and the other months of its year from their kept files; the
//! union is tallied exactly as the rows would be (`tally` counts each value once per group
//! whatever how many records repeat it). No approximation: the count is the same as from rows.
//!
//! The files live in `results/distinct/`, beside `basis.json` and as private as it (they hold
//! pseudonyms). `manifest.json` names the store version and declarations they were written
//! for; an incremental computation uses them only when both match its basis. A month whose rows
//! changed (an erasure, a key rotation, a resubmission) is always written again, so a person
//! erased from the store leaves the kept files with the month's rows; results written without
//! kept sets (an `--as-of` computation into the results folder) remove them.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::codes::*;
use super::tally::*;
use super::*;

/// The folder of the kept sets in a results folder.
pub const DIR: &str = "distinct";
/// What the kept sets were written for.
const MANIFEST: &str = "manifest.json";
/// A kept month file's first bytes (and the version of its layout).
const MAGIC: &[u8; 8] = b"BBKEPT02";

/// A record's value: an empty cell.
const EMPTY: u8 = 0;
/// A pseudonym's 128 bits follow.
const PSEUDONYM: u8 = 1;
/// A text's length (u32) and bytes follow.
const TEXT: u8 = 2;
/// A record: a breakdown text's definition (dimension u32, code u32, length u32, bytes),
/// before the first row that uses the code.
const LABEL: u8 = 3;
/// A record: a row (each breakdown's code u32, then the value's tag and value).
const ROW: u8 = 4;

/// A month as a period key (`yyyymm`), the file name `yyyy-mm.bin`.
fn month_file(month: PeriodKey) -> String {
    format!("{:04}-{:02}.bin", month / 100, month % 100)
}

/// The folder name of a side: its indicator's id (`@` of a later definition as `~`) and which
/// side it is. Ids are checked identifiers; anything else is written as its code point.
pub(super) fn side_key(side: &Side<'_>) -> String {
    let which = match side.measure {
        None => "value",
        Some(m)
            if side
                .indicator
                .denominator
                .as_ref()
                .is_some_and(|d| std::ptr::eq(d, m)) =>
        {
            "denominator"
        }
        Some(_) => "numerator",
    };
    let mut key = String::new();
    for c in side.indicator.id.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => key.push(c),
            '@' => key.push('~'),
            c => key.push_str(&format!("%{:x}", u32::from(c))),
        }
    }
    format!("{key}.{which}")
}

/// Whether a side's distinct counts are kept: it counts distinct at a grain coarser than a
/// month (a month is recounted from its own rows anyway).
pub fn kept_side(side: &Side<'_>) -> bool {
    let kind = side.measure.map_or(side.indicator.kind, |m| m.kind);
    let field = side
        .measure
        .map_or(side.indicator.field.as_deref(), |m| m.field.as_deref());
    kind == Kind::DistinctCount && field.is_some() && side.indicator.grain != Grain::Month
}

/// The kept sets of `results` written for `store_version` under declarations `fingerprint`, or
/// `None` (none kept, or kept for other results).
pub fn usable(results: &Path, store_version: &str, fingerprint: &str) -> Option<PathBuf> {
    let dir = results.join(DIR);
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    (v["store_version"].as_str() == Some(store_version)
        && v["declarations"].as_str() == Some(fingerprint))
    .then_some(dir)
}

/// Kept sets written by one computation, in a folder of their own inside the results folder
/// until the results are written ([`Staged::commit`]).
#[derive(Debug)]
pub struct Staged {
    dir: tempfile::TempDir,
    /// Every month of every side (full) or only the months written (incremental).
    whole: bool,
    /// The months written, by side.
    months: BTreeMap<String, BTreeSet<PeriodKey>>,
}

impl Staged {
    /// Puts the sets in place in `results/distinct/` for the results of `store_version` under
    /// `fingerprint`: all of them (a full computation), or the months written over the kept
    /// ones (an incremental one). The manifest is removed first and written last, so sets
    /// half moved are never taken for whole.
    pub fn commit(
        &self,
        results: &Path,
        store_version: &str,
        fingerprint: &str,
    ) -> std::io::Result<()> {
        let dir = results.join(DIR);
        match std::fs::remove_file(dir.join(MANIFEST)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        if self.whole {
            remove(&dir)?;
            std::fs::create_dir_all(&dir)?;
        }
        for (side, months) in &self.months {
            std::fs::create_dir_all(dir.join(side))?;
            for &m in months {
                let name = month_file(m);
                std::fs::rename(
                    self.dir.path().join(side).join(&name),
                    dir.join(side).join(&name),
                )?;
            }
        }
        let manifest = serde_json::json!({
            "store_version": store_version,
            "declarations": fingerprint,
        });
        std::fs::write(dir.join(MANIFEST), manifest.to_string())
    }
}

/// Removes the kept sets of `results` (results written without them).
pub fn forget(results: &Path) -> std::io::Result<()> {
    remove(&results.join(DIR))
}

fn remove(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What one computation keeps: the sets it writes, and the kept sets of the previous results
/// it may read (incremental).
pub struct Keep {
    /// The previous results' kept sets, usable for this computation.
    pub(crate) previous: Option<PathBuf>,
    staged: Staged,
    /// The months being written, by side.
    writers: BTreeMap<String, BTreeMap<PeriodKey, MonthWriter>>,
}

impl Keep {
    /// Sets to be written into `results` once its results are (staged in a folder inside it),
    /// reading `previous` for the months not recomputed. `whole`: every month is written (a
    /// full computation).
    pub fn new(results: &Path, previous: Option<PathBuf>, whole: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(results)?;
        // A staging folder left by a computation that was killed.
        if let Ok(entries) = std::fs::read_dir(results) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".distinct-") {
                    remove(&e.path())?;
                }
            }
        }
        let dir = tempfile::Builder::new()
            .prefix(".distinct-")
            .tempdir_in(results)?;
        Ok(Self {
            previous,
            staged: Staged {
                dir,
                whole,
                months: BTreeMap::new(),
            },
            writers: BTreeMap::new(),
        })
    }

    /// Takes the rows of one batch for a kept side: `month` the column of each row's month
    /// key, `filter` its filter's verdicts, `dims` its breakdown texts, `field` the counted
    /// values. Only months in `only` are taken, when given.
    pub(super) fn push(
        &mut self,
        side: &str,
        df: &DataFrame,
        columns: &KeptColumns<'_>,
        only: Option<&BTreeSet<PeriodKey>>,
    ) -> Result<(), String> {
        let err = |e: PolarsError| e.to_string();
        // Read through iterators: `get(i)` looks its chunk up on every call, and a batch of
        // hundreds of files has as many chunks.
        let months: Vec<Option<i32>> = df
            .column(columns.month)
            .map_err(err)?
            .i32()
            .map_err(err)?
            .iter()
            .collect();
        let flags: Option<Vec<bool>> = match columns.filter {
            Some(f) => Some(
                df.column(f)
                    .map_err(err)?
                    .bool()
                    .map_err(err)?
                    .iter()
                    .map(|v| v == Some(true))
                    .collect(),
            ),
            None => None,
        };
        let mut dims: Vec<Vec<Option<&str>>> = Vec::with_capacity(columns.dims.len());
        for d in columns.dims {
            dims.push(
                df.column(d)
                    .map_err(err)?
                    .str()
                    .map_err(err)?
                    .iter()
                    .collect(),
            );
        }
        let values: Vec<Option<&str>> = df
            .column(columns.field)
            .map_err(err)?
            .str()
            .map_err(err)?
            .iter()
            .collect();
        let folder = self.staged.dir.path().join(side);
        let writers = self.writers.entry(side.to_owned()).or_default();
        let mut labels: Vec<Option<&str>> = Vec::with_capacity(dims.len());
        for (i, month) in months.into_iter().enumerate() {
            let Some(month) = month else { continue };
            if only.is_some_and(|o| !o.contains(&month)) {
                continue;
            }
            if flags
                .as_ref()
                .is_some_and(|f| !f.get(i).copied().unwrap_or(false))
            {
                continue;
            }
            let w = match writers.entry(month) {
                std::collections::btree_map::Entry::Occupied(w) => w.into_mut(),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
                    slot.insert(
                        MonthWriter::new(&folder, month, dims.len()).map_err(|e| e.to_string())?,
                    )
                }
            };
            labels.clear();
            labels.extend(dims.iter().map(|d| d.get(i).copied().flatten()));
            w.row(&labels, values.get(i).copied().flatten())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Closes the months written for `side` and, for every month of `written` without rows,
    /// writes an empty set (a month that lost all its rows must not keep its old set).
    /// The sets are read back with [`Keep::columns`].
    pub(super) fn close(
        &mut self,
        side: &str,
        written: &BTreeSet<PeriodKey>,
        dims: usize,
    ) -> Result<(), String> {
        let folder = self.staged.dir.path().join(side);
        std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
        let months = self.staged.months.entry(side.to_owned()).or_default();
        let writers: Vec<(PeriodKey, MonthWriter)> = self
            .writers
            .remove(side)
            .unwrap_or_default()
            .into_iter()
            .collect();
        months.extend(writers.iter().map(|(m, _)| *m));
        // Each month is deduplicated on its own: a full computation's sixty months share the
        // cores.
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, writers.len().max(1));
        let mut shares: Vec<Vec<MonthWriter>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, (_, w)) in writers.into_iter().enumerate() {
            shares[i % threads].push(w);
        }
        std::thread::scope(|scope| {
            let running: Vec<_> = shares
                .into_iter()
                .map(|share| {
                    scope.spawn(move || share.into_iter().try_for_each(MonthWriter::finish))
                })
                .collect();
            running.into_iter().try_for_each(|t| {
                t.join()
                    .map_err(|_| "a kept set's writer panicked".to_owned())?
                    .map_err(|e| e.to_string())
            })
        })?;
        for &m in written {
            if months.insert(m) {
                MonthWriter::new(&folder, m, dims)
                    .and_then(MonthWriter::finish)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// The distinct records of `side` in `months`, as prepared columns for [`tally`]: the
    /// months written by this computation from their new files, the others from the previous
    /// kept sets. Each record's period is the key of its month at `grain`.
    pub(super) fn columns(
        &self,
        side: &str,
        months: &BTreeSet<PeriodKey>,
        grain: Grain,
        first_month: u32,
        names: &KeptColumns<'_>,
        period: &str,
    ) -> Result<Columns, String> {
        let mine = self.staged.months.get(side);
        let mut reader = Reader::new(names.dims.len());
        for &m in months {
            let path = if mine.is_some_and(|w| w.contains(&m)) {
                self.staged.dir.path().join(side).join(month_file(m))
            } else {
                match &self.previous {
                    Some(p) => p.join(side).join(month_file(m)),
                    None => return Err("no kept sets to read".into()),
                }
            };
            let key = key_of_month(grain, (m / 100, (m % 100) as u32), first_month)
                .ok_or_else(|| format!("month {m} has no period"))?;
            // A month never written had no rows.
            if path.exists() {
                reader.read(&path, key)?;
            }
        }
        Ok(reader.into_columns(names, period))
    }

    /// The computation's sets, to be put in place with the results.
    pub fn into_staged(self) -> Staged {
        self.staged
    }
}

/// The prepared columns a kept side reads.
pub(super) struct KeptColumns<'a> {
    pub(super) month: &'a str,
    pub(super) filter: Option<&'a str>,
    pub(super) dims: &'a [String],
    pub(super) field: &'a str,
}

/// One month's file of one side, as rows arrive: breakdown texts coded as they first appear
/// (each code's text written once, before its first use), then deduplicated when closed.
struct MonthWriter {
    path: PathBuf,
    out: BufWriter<File>,
    labels: Vec<TextCodes>,
    record: Vec<u8>,
}

impl MonthWriter {
    fn new(folder: &Path, month: PeriodKey, dims: usize) -> std::io::Result<Self> {
        let path = folder.join(month_file(month));
        let mut out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        out.write_all(MAGIC)?;
        out.write_all(
            &u32::try_from(dims)
                .map_err(std::io::Error::other)?
                .to_le_bytes(),
        )?;
        Ok(Self {
            path,
            out,
            labels: vec![TextCodes::default(); dims],
            record: Vec::with_capacity(64),
        })
    }

    fn row(&mut self, labels: &[Option<&str>], value: Option<&str>) -> std::io::Result<()> {
        self.record.clear();
        self.record.push(ROW);
        for (d, (label, map)) in labels.iter().zip(self.labels.iter_mut()).enumerate() {
            let code = match label {
                None => NO_CODE,
                Some(text) => {
                    let next = u32::try_from(map.len()).unwrap_or(NO_CODE);
                    let (code, new) = intern(map, text, next);
                    if new {
                        let len = u32::try_from(text.len()).map_err(std::io::Error::other)?;
                        self.out.write_all(&[LABEL])?;
                        self.out.write_all(&(d as u32).to_le_bytes())?;
                        self.out.write_all(&code.to_le_bytes())?;
                        self.out.write_all(&len.to_le_bytes())?;
                        self.out.write_all(text.as_bytes())?;
                    }
                    code
                }
            };
            self.record.extend_from_slice(&code.to_le_bytes());
        }
        encode_value(&mut self.record, value)?;
        self.out.write_all(&self.record)
    }

    /// Closes the file and rewrites it as its texts, then each distinct row once (an
    /// incremental run reads every other month of a year back: repeats would cost it every
    /// night what the one full computation saves).
    fn finish(self) -> std::io::Result<()> {
        let Self {
            path, out, labels, ..
        } = self;
        drop(
            out.into_inner()
                .map_err(std::io::IntoInnerError::into_error)?,
        );
        let dims = labels.len();
        let mut seen: std::collections::HashSet<Vec<u8>, rustc_hash::FxBuildHasher> =
            Default::default();
        let mut rows: Vec<u8> = Vec::new();
        let mut r = BufReader::with_capacity(1 << 16, File::open(&path)?);
        let mut head = [0u8; 12];
        r.read_exact(&mut head)?;
        let mut record = Vec::with_capacity(64);
        let mut tag = [0u8; 1];
        let mut four = [0u8; 4];
        while read_or_end(&mut r, &mut tag)? {
            if tag[0] == LABEL {
                // Known already from the writer's dictionaries.
                let mut def = [0u8; 12];
                r.read_exact(&mut def)?;
                let len = u32::from_le_bytes([def[8], def[9], def[10], def[11]]);
                std::io::copy(&mut (&mut r).take(u64::from(len)), &mut std::io::sink())?;
                continue;
            }
            record.clear();
            record.push(ROW);
            for _ in 0..dims {
                r.read_exact(&mut four)?;
                record.extend_from_slice(&four);
            }
            read_value(&mut r, &mut record)?;
            if !seen.contains(record.as_slice()) {
                rows.extend_from_slice(&record);
                seen.insert(record.clone());
            }
        }
        drop(r);
        let mut out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        out.write_all(&head)?;
        for (d, map) in labels.iter().enumerate() {
            let mut texts: Vec<(&u32, &Box<str>)> = map.iter().map(|(k, v)| (v, k)).collect();
            texts.sort();
            for (code, text) in texts {
                out.write_all(&[LABEL])?;
                out.write_all(&(d as u32).to_le_bytes())?;
                out.write_all(&code.to_le_bytes())?;
                out.write_all(&(text.len() as u32).to_le_bytes())?;
                out.write_all(text.as_bytes())?;
            }
        }
        out.write_all(&rows)?;
        out.flush()
    }
}

/// Appends a counted value: its tag, then its bits or its text.
fn encode_value(record: &mut Vec<u8>, value: Option<&str>) -> std::io::Result<()> {
    match value {
        None => record.push(EMPTY),
        Some(v) => match pseudonym_bits(v) {
            Some(bits) => {
                record.push(PSEUDONYM);
                record.extend_from_slice(&bits.to_le_bytes());
            }
            None => {
                let len = u32::try_from(v.len()).map_err(std::io::Error::other)?;
                record.push(TEXT);
                record.extend_from_slice(&len.to_le_bytes());
                record.extend_from_slice(v.as_bytes());
            }
        },
    }
    Ok(())
}

/// Reads a counted value (its tag first) and appends it to `record` as written.
fn read_value(r: &mut impl Read, record: &mut Vec<u8>) -> std::io::Result<()> {
    let mut tag = [0u8; 1];
    r.read_exact(&mut tag)?;
    record.push(tag[0]);
    match tag[0] {
        EMPTY => {}
        PSEUDONYM => {
            let mut bits = [0u8; 16];
            r.read_exact(&mut bits)?;
            record.extend_from_slice(&bits);
        }
        TEXT => {
            let mut four = [0u8; 4];
            r.read_exact(&mut four)?;
            record.extend_from_slice(&four);
            let start = record.len();
            record.resize(start + u32::from_le_bytes(four) as usize, 0);
            r.read_exact(&mut record[start..])?;
        }
        t => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a kept set's value has an unknown tag {t}"),
            ));
        }
    }
    Ok(())
}

/// Fills `buf`, or returns `false` at the end of the file (between records).
fn read_or_end(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut read = 0;
    while read < buf.len() {
        match r.read(&mut buf[read..]) {
            Ok(0) if read == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Kept months read into the columns [`tally`] reads: one row per record, its period the key
/// of its month, its breakdown texts and its value coded across every month read.
struct Reader {
    periods: Vec<i32>,
    labels: Vec<Labels>,
    codes: Vec<u32>,
    pseudonyms: std::collections::HashMap<u128, u32, rustc_hash::FxBuildHasher>,
    texts: TextCodes,
}

impl Reader {
    fn new(dims: usize) -> Self {
        Self {
            periods: Vec::new(),
            labels: (0..dims).map(|_| Labels::default()).collect(),
            codes: Vec::new(),
            pseudonyms: Default::default(),
            texts: TextCodes::default(),
        }
    }

    fn read(&mut self, path: &Path, period: PeriodKey) -> Result<(), String> {
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut r = BufReader::with_capacity(1 << 16, File::open(path).map_err(io)?);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic).map_err(io)?;
        if &magic != MAGIC {
            return Err(format!("{}: not a kept set", path.display()));
        }
        let mut four = [0u8; 4];
        r.read_exact(&mut four).map_err(io)?;
        let dims = u32::from_le_bytes(four) as usize;
        if dims != self.labels.len() {
            return Err(format!(
                "{}: {dims} breakdown(s) kept, {} declared",
                path.display(),
                self.labels.len()
            ));
        }
        // This file's codes of each breakdown, as codes of every month read.
        let mut recode: Vec<Vec<u32>> = vec![Vec::new(); dims];
        let mut text = Vec::new();
        let mut value = Vec::with_capacity(64);
        let mut tag = [0u8; 1];
        while read_or_end(&mut r, &mut tag).map_err(io)? {
            match tag[0] {
                LABEL => {
                    let mut def = [0u8; 12];
                    r.read_exact(&mut def).map_err(io)?;
                    let word =
                        |i: usize| u32::from_le_bytes([def[i], def[i + 1], def[i + 2], def[i + 3]]);
                    let (d, code, len) = (word(0) as usize, word(4) as usize, word(8));
                    text.resize(len as usize, 0);
                    r.read_exact(&mut text).map_err(io)?;
                    let (Some(labels), Some(mine)) = (self.labels.get_mut(d), recode.get_mut(d))
                    else {
                        return Err(format!("{}: a breakdown out of range", path.display()));
                    };
                    let t = String::from_utf8_lossy(&text);
                    let (mapped, new) = intern(&mut labels.map, &t, next_code(labels.texts.len())?);
                    if new {
                        labels.texts.push(t.as_ref().into());
                    }
                    if mine.len() <= code {
                        mine.resize(code + 1, NO_CODE);
                    }
                    mine[code] = mapped;
                }
                ROW => {
                    for (d, labels) in self.labels.iter_mut().enumerate() {
                        r.read_exact(&mut four).map_err(io)?;
                        let c = u32::from_le_bytes(four);
                        let code = match recode.get(d).and_then(|m| m.get(c as usize)) {
                            Some(&code) if code != NO_CODE => code,
                            _ if c == NO_CODE => NO_CODE,
                            _ => {
                                return Err(format!(
                                    "{}: a breakdown code used before its text",
                                    path.display()
                                ));
                            }
                        };
                        labels.rows.push(code);
                    }
                    value.clear();
                    read_value(&mut r, &mut value).map_err(io)?;
                    let next = next_code(self.pseudonyms.len() + self.texts.len())?;
                    let code = match value.first() {
                        Some(&PSEUDONYM) => {
                            let mut bits = [0u8; 16];
                            bits.copy_from_slice(&value[1..17]);
                            *self
                                .pseudonyms
                                .entry(u128::from_le_bytes(bits))
                                .or_insert(next)
                        }
                        Some(&TEXT) => {
                            let t = String::from_utf8_lossy(&value[5..]);
                            intern(&mut self.texts, &t, next).0
                        }
                        _ => NO_CODE,
                    };
                    self.codes.push(code);
                    self.periods.push(period);
                }
                t => return Err(format!("{}: an unknown record {t}", path.display())),
            }
        }
        Ok(())
    }

    fn into_columns(self, names: &KeptColumns<'_>, period: &str) -> Columns {
        let rows = self.codes.len();
        let mut columns = Columns {
            rows,
            ..Columns::default()
        };
        columns.periods.insert(period.to_owned(), self.periods);
        if let Some(f) = names.filter {
            // Only rows passing the filter were kept.
            columns.flags.insert(f.to_owned(), vec![true; rows]);
        }
        for (name, labels) in names.dims.iter().zip(self.labels) {
            columns.labels.insert(name.clone(), labels);
        }
        let codes = Codes {
            rows: self.codes,
            dense: self.pseudonyms.len() + self.texts.len(),
            ..Codes::default()
        };
        columns.codes.insert(names.field.to_owned(), codes);
        columns
    }
}
