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
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::codes::*;
use super::tally::*;
use super::*;

/// The folder of the kept sets in a results folder.
pub const DIR: &str = "distinct";
/// What the kept sets were written for.
const MANIFEST: &str = "manifest.json";
/// A kept month file's first bytes (and the version of its layout).
const MAGIC: &[u8; 8] = b"BBKEPT03";
/// The layout the manifest promises: sets kept in another layout are not used (the next
/// computation is a full one, and writes them again).
const FORMAT: u64 = 3;

/// A record's value: an empty cell.
const EMPTY: u8 = 0;
/// A pseudonym's 128 bits follow.
const PSEUDONYM: u8 = 1;
/// A text's length (u32) and bytes follow.
const TEXT: u8 = 2;

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
    (v["format"].as_u64() == Some(FORMAT)
        && v["store_version"].as_str() == Some(store_version)
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
            "format": FORMAT,
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
    /// [`STREAM_MEMORY`] and [`SLICE_BYTES`] (tests take them down to a few bytes, so that
    /// small tables go the ways of a national store's).
    stream_memory: u64,
    slice_bytes: u64,
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
            stream_memory: STREAM_MEMORY,
            slice_bytes: SLICE_BYTES,
        })
    }

    /// The same, with every month's stream dealt into part files and every part read in
    /// slices of at most `slice_bytes` (as many as 2⁸).
    #[cfg(test)]
    pub(super) fn tight(mut self, slice_bytes: u64) -> Self {
        self.stream_memory = 0;
        self.slice_bytes = slice_bytes;
        self
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
        let stream_memory = self.stream_memory;
        std::thread::scope(|scope| {
            let running: Vec<_> = shares
                .into_iter()
                .map(|share| {
                    scope.spawn(move || share.into_iter().try_for_each(|w| w.finish(stream_memory)))
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
                    .and_then(|w| w.finish(stream_memory))
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// The distinct records of `side` in `months`, part by part ([`PARTS`]), each part as
    /// prepared columns handed to `each` (a value is in one part of every month, so the
    /// parts' distinct counts add up): the months written by this computation from their new
    /// files, the others from the previous kept sets. Each record's period is the key of its
    /// month at `grain`. The parts are read on all cores, a part larger than `slice_bytes` in
    /// slices ([`slices_for`]; read once per slice, or beyond [`DEAL_ABOVE`] dealt into its
    /// slices' files): memory follows a slice, not the store.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tally_parts<R: Send>(
        &self,
        side: &str,
        months: &BTreeSet<PeriodKey>,
        grain: Grain,
        first_month: u32,
        names: &KeptColumns<'_>,
        period: &str,
        each: impl Fn(&Columns) -> R + Sync,
    ) -> Result<Vec<R>, String> {
        let mine = self.staged.months.get(side);
        let mut files: Vec<(PathBuf, PeriodKey)> = Vec::with_capacity(months.len());
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
                files.push((path, key));
            }
        }
        // A part of the 10⁸-row store's year is 9 MB (440 000 records): each is read in as many
        // slices (by the value's next bits) as keep a slice under UNIT_BYTES.
        let mut largest = 0u64;
        let mut of_part = [0u64; PARTS];
        for (path, _) in &files {
            for (sum, len) in of_part.iter_mut().zip(part_lengths(path)?) {
                *sum += len;
                largest = largest.max(*sum);
            }
        }
        let slices = slices_for(largest, self.slice_bytes);
        // A few slices: each reads its part of every month and keeps its own records. More:
        // each part of every month is read once and dealt into its slices' files, so that the
        // bytes are read twice however many slices there are.
        let dealt = slices.count() > DEAL_ABOVE;
        let units = if dealt { PARTS } else { PARTS * slices.count() };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || -> Result<Vec<(usize, Vec<R>)>, String> {
            let mut done = Vec::new();
            loop {
                let unit = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if unit >= units {
                    return Ok(done);
                }
                if dealt {
                    done.push((
                        unit,
                        self.dealt(&files, unit, slices, names, period, &each)?,
                    ));
                    continue;
                }
                let (part, slice) = (unit / slices.count(), unit % slices.count());
                let mut reader = Reader::new(names.dims.len());
                for (path, key) in &files {
                    reader.read(path, *key, part, slices, slice)?;
                }
                done.push((unit, vec![each(&reader.into_columns(names, period))]));
            }
        };
        tracing::debug!(
            side,
            months = files.len(),
            largest,
            slices = slices.count(),
            "kept sets read"
        );
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, units);
        let mut done = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut done = work()?;
            for h in helpers {
                match h.join() {
                    Ok(theirs) => done.extend(theirs?),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Ok::<_, String>(done)
        })?;
        done.sort_by_key(|(unit, _)| *unit);
        Ok(done.into_iter().flat_map(|(_, r)| r).collect())
    }

    /// Part `part` of the months `files`, dealt into its `slices` and each slice handed to
    /// `each` in turn (in a folder of the staging folder, removed when done: the records are
    /// pseudonyms, kept where the kept sets are).
    fn dealt<R>(
        &self,
        files: &[(PathBuf, PeriodKey)],
        part: usize,
        slices: Slices,
        names: &KeptColumns<'_>,
        period: &str,
        each: &impl Fn(&Columns) -> R,
    ) -> Result<Vec<R>, String> {
        let io = |e: std::io::Error| format!("{}: {e}", self.staged.dir.path().display());
        let dir = tempfile::Builder::new()
            .prefix(".slices-")
            .tempdir_in(self.staged.dir.path())
            .map_err(io)?;
        let slice_path = |s: usize| dir.path().join(format!("slice-{s}"));
        let mut out = (0..slices.count())
            .map(|s| File::create(slice_path(s)).map(|f| BufWriter::with_capacity(1 << 15, f)))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io)?;
        let mut dealer = Reader::new(names.dims.len());
        for (path, key) in files {
            dealer.deal(path, *key, part, slices, &mut out)?;
        }
        for file in out {
            file.into_inner().map_err(|e| io(e.into_error()))?;
        }
        let mut done = Vec::with_capacity(slices.count());
        for s in 0..slices.count() {
            let mut reader = Reader::for_slice(&dealer);
            reader.read_dealt(&slice_path(s))?;
            std::fs::remove_file(slice_path(s)).map_err(io)?;
            done.push(each(&reader.into_columns(names, period)));
        }
        Ok(done)
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
/// (kept in memory, they are few), each row appended to a staging stream as its codes and
/// value; when closed, the stream is dealt into parts, deduplicated and written in the kept
/// layout ([`MonthWriter::finish`]).
struct MonthWriter {
    path: PathBuf,
    out: BufWriter<File>,
    labels: Vec<TextCodes>,
    record: Vec<u8>,
}

impl MonthWriter {
    fn new(folder: &Path, month: PeriodKey, dims: usize) -> std::io::Result<Self> {
        let path = folder.join(month_file(month));
        let out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        Ok(Self {
            path,
            out,
            labels: vec![TextCodes::default(); dims],
            record: Vec::with_capacity(64),
        })
    }

    fn row(&mut self, labels: &[Option<&str>], value: Option<&str>) -> std::io::Result<()> {
        self.record.clear();
        for (label, map) in labels.iter().zip(self.labels.iter_mut()) {
            let code = match label {
                None => NO_CODE,
                Some(text) => {
                    let next = u32::try_from(map.len()).unwrap_or(NO_CODE);
                    intern(map, text, next).0
                }
            };
            self.record.extend_from_slice(&code.to_le_bytes());
        }
        encode_value(&mut self.record, value)?;
        self.out.write_all(&self.record)
    }

    /// Closes the stream and writes the month's file: its header, its breakdown texts, then
    /// each part's distinct records (an incremental run reads every other month of a year
    /// back: repeats would cost it every night what the one full computation saves).
    ///
    /// A stream up to `stream_memory` bytes ([`STREAM_MEMORY`]) is read whole and deduplicated
    /// part by part; a larger one (a month of the 10⁸-row store: 1.6M records, 33 MB) is first
    /// dealt into its parts' files, read one after the other, so that memory holds one part of
    /// it.
    fn finish(self, stream_memory: u64) -> std::io::Result<()> {
        let Self {
            path, out, labels, ..
        } = self;
        drop(
            out.into_inner()
                .map_err(std::io::IntoInnerError::into_error)?,
        );
        let dims = labels.len();
        let mut texts = Vec::new();
        for (d, map) in labels.iter().enumerate() {
            let mut sorted: Vec<(&u32, &Box<str>)> = map.iter().map(|(k, v)| (v, k)).collect();
            sorted.sort();
            for (code, text) in sorted {
                texts.extend_from_slice(&(d as u32).to_le_bytes());
                texts.extend_from_slice(&code.to_le_bytes());
                texts.extend_from_slice(
                    &u32::try_from(text.len())
                        .map_err(std::io::Error::other)?
                        .to_le_bytes(),
                );
                texts.extend_from_slice(text.as_bytes());
            }
        }
        let whole = std::fs::metadata(&path)?.len() <= stream_memory;
        // The stream in memory with where each of its records starts, by part; or its parts'
        // files.
        let (stream, starts, split) = if whole {
            let stream = std::fs::read(&path)?;
            let mut starts: Vec<Vec<usize>> = vec![Vec::new(); PARTS];
            let mut at = 0;
            while at < stream.len() {
                let end = record_end(&stream, at, dims).ok_or_else(|| cut_short(&path))?;
                starts[part_of(&stream[at + 4 * dims..end])].push(at);
                at = end;
            }
            (stream, starts, None)
        } else {
            (Vec::new(), Vec::new(), Some(split(&path, dims)?))
        };
        // The header's part lengths are known once the parts are written: written over the
        // zeros left for them at the end.
        let mut out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        out.write_all(&[0u8; HEAD])?;
        out.write_all(&texts)?;
        let mut lens = Vec::with_capacity(PARTS);
        for p in 0..PARTS {
            let len = match &split {
                None => write_distinct(
                    starts.get(p).into_iter().flatten().map(|&from| {
                        record_end(&stream, from, dims)
                            .map(|end| &stream[from..end])
                            .ok_or_else(|| cut_short(&path))
                    }),
                    &mut out,
                )?,
                Some(dir) => {
                    let part_path = dir.path().join(format!("part-{p}"));
                    let part = std::fs::read(&part_path)?;
                    let mut at = 0;
                    let len = write_distinct(
                        std::iter::from_fn(|| {
                            (at < part.len()).then(|| {
                                let end =
                                    record_end(&part, at, dims).ok_or_else(|| cut_short(&path))?;
                                let record = &part[at..end];
                                at = end;
                                Ok(record)
                            })
                        }),
                        &mut out,
                    )?;
                    std::fs::remove_file(&part_path)?;
                    len
                }
            };
            lens.push(len);
        }
        let mut head = Vec::with_capacity(HEAD);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(
            &u32::try_from(dims)
                .map_err(std::io::Error::other)?
                .to_le_bytes(),
        );
        head.extend_from_slice(&(PARTS as u32).to_le_bytes());
        head.extend_from_slice(&(texts.len() as u64).to_le_bytes());
        for len in lens {
            head.extend_from_slice(&len.to_le_bytes());
        }
        let mut file = out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&head)?;
        file.flush()
    }
}

/// The stream of a month's records read whole to be deduplicated, at most: beyond, it is
/// dealt into its parts' files first ([`MonthWriter::finish`]). 16 MiB is a month of about
/// 800 000 records of one breakdown, ten times a month of the 5M-row national store.
const STREAM_MEMORY: u64 = 16 << 20;

/// Writes each of `records` not among those before it to `out`; returns the bytes written.
fn write_distinct<'a>(
    records: impl Iterator<Item = std::io::Result<&'a [u8]>>,
    out: &mut impl Write,
) -> std::io::Result<u64> {
    let mut seen: std::collections::HashSet<&[u8], rustc_hash::FxBuildHasher> = Default::default();
    let mut len = 0;
    for record in records {
        let record = record?;
        if seen.insert(record) {
            out.write_all(record)?;
            len += record.len() as u64;
        }
    }
    Ok(len)
}

/// Where the record starting at `at` of a stream of records with `dims` breakdown codes ends,
/// if it is whole.
fn record_end(stream: &[u8], at: usize, dims: usize) -> Option<usize> {
    let value = at + 4 * dims;
    Some(value + value_len(stream.get(value..)?)?)
}

fn cut_short(path: &Path) -> std::io::Error {
    damaged(path, "a record cut short")
}

/// Deals the records of the stream at `path` into one file per part, in a folder beside it
/// (removed with the returned handle), reading and writing through buffers.
fn split(path: &Path, dims: usize) -> std::io::Result<tempfile::TempDir> {
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    let dir = tempfile::Builder::new()
        .prefix(".parts-")
        .tempdir_in(folder)?;
    let mut files = (0..PARTS)
        .map(|p| {
            File::create(dir.path().join(format!("part-{p}")))
                .map(|f| BufWriter::with_capacity(1 << 15, f))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut r = std::io::BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut record = Vec::with_capacity(64);
    loop {
        record.clear();
        record.resize(4 * dims + 1, 0);
        // A record starts with its codes, or its value's tag when it has none.
        match r.read_exact(&mut record[..1]) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            other => other?,
        }
        r.read_exact(&mut record[1..])
            .map_err(|_| cut_short(path))?;
        let rest = match record[4 * dims] {
            EMPTY => 0,
            PSEUDONYM => 16,
            TEXT => {
                let mut four = [0u8; 4];
                r.read_exact(&mut four).map_err(|_| cut_short(path))?;
                record.extend_from_slice(&four);
                u32::from_le_bytes(four) as usize
            }
            _ => return Err(damaged(path, "a value of no known kind")),
        };
        let from = record.len();
        record.resize(from + rest, 0);
        r.read_exact(&mut record[from..])
            .map_err(|_| cut_short(path))?;
        let part = part_of(&record[4 * dims..]);
        if let Some(file) = files.get_mut(part) {
            file.write_all(&record)?;
        }
    }
    for file in files {
        file.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
    }
    Ok(dir)
}

/// How many bits of a pseudonym choose its part.
const PART_BITS: u32 = 5;
/// The parts a month's records are dealt into by their counted value, each read and tallied
/// on its own: a value is in one part of every month, so a period's distinct count is the
/// sum of its parts' counts, exactly.
pub(super) const PARTS: usize = 1 << PART_BITS;
/// A kept month file's header: magic, dimensions (u32), parts (u32), the texts' length
/// (u64), each part's length (u64).
const HEAD: usize = 8 + 4 + 4 + 8 + 8 * PARTS;

/// The part of an encoded value (its tag first): a pseudonym's top bits, a text's FNV-1a
/// hash (written out here so that the parts of months written by different builds agree).
fn part_of(value: &[u8]) -> usize {
    match value.first() {
        Some(&PSEUDONYM) => value
            .get(16)
            .map_or(0, |&top| usize::from(top >> (8 - PART_BITS))),
        Some(&TEXT) => (text_hash(value) % PARTS as u64) as usize,
        _ => 0,
    }
}

/// The FNV-1a hash of an encoded text value's bytes.
fn text_hash(value: &[u8]) -> u64 {
    value
        .get(5..)
        .unwrap_or_default()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The kept records (bytes on disk) one slice of a part holds at most when it is read, about
/// twice as much in memory (its period, breakdown codes, value code and the value's entry in
/// the dictionary). A part of a month's records is never split on disk (a value is in one
/// part of every month); a part too large for memory is read in slices by the value's bits
/// after those that chose its part, each value in one slice of every month, so that the
/// slices' distinct counts add up like the parts'.
const SLICE_BYTES: u64 = 8 << 20;

/// Beyond this many slices a part is dealt into its slices' files rather than read once per
/// slice. Measured at 10⁸ rows with the slices forced up (the kept year's reading and
/// tallying): read once per slice, 0.53–0.63 s for 2 slices, 1.2 s for 16, 3.6 s for 64;
/// dealt, 0.63 s for 16 and 0.70 s for 64.
const DEAL_ABOVE: usize = 4;

/// How many slices each part is read in: a power of two, 2^`bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slices {
    bits: u32,
}

impl Slices {
    pub(super) fn count(self) -> usize {
        1 << self.bits
    }

    /// The slice of an encoded value of part `part_of(value)`: a pseudonym's next bits, a
    /// text's hash over the parts.
    pub(super) fn slice_of(self, value: &[u8]) -> usize {
        if self.bits == 0 {
            return 0;
        }
        let mask = (1u64 << self.bits) - 1;
        let chosen = match value.first() {
            Some(&PSEUDONYM) => match value.get(1..17).and_then(|b| b.try_into().ok()) {
                Some(bits) => (u128::from_le_bytes(bits) >> (128 - PART_BITS - self.bits)) as u64,
                None => 0,
            },
            Some(&TEXT) => text_hash(value) / PARTS as u64,
            _ => 0,
        };
        (chosen & mask) as usize
    }
}

/// The slices that keep the part of the `largest` kept bytes (summed over the months read)
/// to `slice_bytes` ([`SLICE_BYTES`]) each at most, as many as 2⁸.
pub(super) fn slices_for(largest: u64, slice_bytes: u64) -> Slices {
    let mut bits = 0;
    while bits < 8 && largest > slice_bytes << bits {
        bits += 1;
    }
    Slices { bits }
}

/// A kept month file's header, read from the start of `file` (at `path`).
struct Head {
    dims: usize,
    texts_len: u64,
    /// Each part's length in bytes.
    lens: Vec<u64>,
}

impl Head {
    /// Reads and checks the header: the magic, the parts, and lengths that add up to the
    /// file's (a damaged header must not ask for gigabytes).
    fn read(path: &Path, file: &mut File) -> Result<Self, String> {
        let bad = |what: &str| format!("{}: {what}", path.display());
        let size = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        let mut head = [0u8; HEAD];
        file.read_exact(&mut head)
            .map_err(|_| bad("not a kept set"))?;
        if &head[..8] != MAGIC {
            return Err(bad("not a kept set"));
        }
        if word(&head, 12) != Some(PARTS as u32) {
            return Err(bad("kept in another number of parts"));
        }
        let texts_len = long(&head, 16).unwrap_or_default();
        let lens: Vec<u64> = (0..PARTS)
            .map(|p| long(&head, 24 + 8 * p).unwrap_or_default())
            .collect();
        let total = lens
            .iter()
            .try_fold(HEAD as u64 + texts_len, |sum, &l| sum.checked_add(l));
        if total != Some(size) {
            return Err(bad("its parts do not add up to its length"));
        }
        Ok(Self {
            dims: word(&head, 8).unwrap_or_default() as usize,
            texts_len,
            lens,
        })
    }
}

/// Each part's length in bytes, from the header of the kept month file at `path`.
fn part_lengths(path: &Path) -> Result<Vec<u64>, String> {
    let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Head::read(path, &mut file)?.lens)
}

/// The length of the encoded value at the start of `bytes`, if it is whole.
fn value_len(bytes: &[u8]) -> Option<usize> {
    let len = match *bytes.first()? {
        EMPTY => 1,
        PSEUDONYM => 17,
        TEXT => {
            let four: [u8; 4] = bytes.get(1..5)?.try_into().ok()?;
            5 + u32::from_le_bytes(four) as usize
        }
        _ => return None,
    };
    (bytes.len() >= len).then_some(len)
}

fn damaged(path: &Path, what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
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

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn long(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// One part of kept months read into the columns [`tally`] reads: one row per record, its
/// period the key of its month, its breakdown texts and its value coded across every month
/// read.
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

    /// Reads slice `slice` of `slices` of part `part` of the month file at `path`, its records
    /// in period `period`.
    fn read(
        &mut self,
        path: &Path,
        period: PeriodKey,
        part: usize,
        slices: Slices,
        slice: usize,
    ) -> Result<(), String> {
        let (recode, body) = self.open_part(path, part)?;
        let dims = self.labels.len();
        let mut codes = vec![NO_CODE; dims];
        let mut at = 0;
        while at < body.len() {
            let (value, next) = record_at(path, &body, at, dims)?;
            if slices.slice_of(value) == slice {
                recoded(path, &body, at, &recode, &mut codes)?;
                self.push(path, period, &codes, value)?;
            }
            at = next;
        }
        Ok(())
    }

    /// Deals part `part` of the month file at `path` into one file per slice of `slices`:
    /// each record as its period (`period`), its breakdown codes as codes of every month dealt
    /// (the texts kept here) and its value, read back by [`Reader::read_dealt`].
    fn deal(
        &mut self,
        path: &Path,
        period: PeriodKey,
        part: usize,
        slices: Slices,
        files: &mut [BufWriter<File>],
    ) -> Result<(), String> {
        let (recode, body) = self.open_part(path, part)?;
        let dims = self.labels.len();
        let mut codes = vec![NO_CODE; dims];
        let mut record = Vec::with_capacity(64);
        let mut at = 0;
        while at < body.len() {
            let (value, next) = record_at(path, &body, at, dims)?;
            recoded(path, &body, at, &recode, &mut codes)?;
            record.clear();
            record.extend_from_slice(&period.to_le_bytes());
            for c in &codes {
                record.extend_from_slice(&c.to_le_bytes());
            }
            record.extend_from_slice(value);
            if let Some(file) = files.get_mut(slices.slice_of(value)) {
                file.write_all(&record)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            at = next;
        }
        Ok(())
    }

    /// A reader of one slice dealt by `dealer` ([`Reader::deal`]): its breakdown texts.
    fn for_slice(dealer: &Self) -> Self {
        Self {
            labels: dealer
                .labels
                .iter()
                .map(|l| Labels {
                    texts: l.texts.clone(),
                    ..Labels::default()
                })
                .collect(),
            ..Self::new(0)
        }
    }

    /// Reads the records dealt into the slice file at `path`.
    fn read_dealt(&mut self, path: &Path) -> Result<(), String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dims = self.labels.len();
        let mut codes = vec![NO_CODE; dims];
        let mut at = 0;
        while at < bytes.len() {
            let period = word(&bytes, at)
                .ok_or_else(|| format!("{}: a record cut short", path.display()))?;
            for (d, c) in codes.iter_mut().enumerate() {
                *c = word(&bytes, at + 4 + 4 * d)
                    .ok_or_else(|| format!("{}: a record cut short", path.display()))?;
            }
            let (value, next) = record_at(path, &bytes, at + 4, dims)?;
            self.push(path, period as PeriodKey, &codes, value)?;
            at = next;
        }
        Ok(())
    }

    /// The header and texts of the month file at `path` (its breakdown texts coded into this
    /// reader's), and part `part`'s bytes: each of its codes of each breakdown as a code of
    /// every month read, and the part.
    fn open_part(&mut self, path: &Path, part: usize) -> Result<(Vec<Vec<u32>>, Vec<u8>), String> {
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        let bad = |what: &str| format!("{}: {what}", path.display());
        let mut file = File::open(path).map_err(io)?;
        let Head {
            dims,
            texts_len,
            lens,
        } = Head::read(path, &mut file)?;
        if dims != self.labels.len() {
            return Err(format!(
                "{}: {dims} breakdown(s) kept, {} declared",
                path.display(),
                self.labels.len()
            ));
        }
        let mut texts = vec![0u8; usize::try_from(texts_len).map_err(|e| bad(&e.to_string()))?];
        file.read_exact(&mut texts).map_err(io)?;
        // This file's codes of each breakdown, as codes of every month read.
        let mut recode: Vec<Vec<u32>> = vec![Vec::new(); dims];
        let mut at = 0;
        while at < texts.len() {
            let (Some(d), Some(code), Some(len)) =
                (word(&texts, at), word(&texts, at + 4), word(&texts, at + 8))
            else {
                return Err(bad("a breakdown text cut short"));
            };
            let text = texts
                .get(at + 12..at + 12 + len as usize)
                .ok_or_else(|| bad("a breakdown text cut short"))?;
            at += 12 + len as usize;
            let (Some(labels), Some(mine)) =
                (self.labels.get_mut(d as usize), recode.get_mut(d as usize))
            else {
                return Err(bad("a breakdown out of range"));
            };
            let t = String::from_utf8_lossy(text);
            let (mapped, new) = intern(&mut labels.map, &t, next_code(labels.texts.len())?);
            if new {
                labels.texts.push(t.as_ref().into());
            }
            let code = code as usize;
            if mine.len() <= code {
                mine.resize(code + 1, NO_CODE);
            }
            mine[code] = mapped;
        }
        let skip: u64 = lens.iter().take(part).sum();
        file.seek(SeekFrom::Start(HEAD as u64 + texts_len + skip))
            .map_err(io)?;
        let len = lens.get(part).copied().unwrap_or_default();
        let mut body = vec![0u8; usize::try_from(len).map_err(|e| bad(&e.to_string()))?];
        file.read_exact(&mut body).map_err(io)?;
        Ok((recode, body))
    }

    /// Takes one record: its period, its breakdown codes (of every month read) and its value.
    fn push(
        &mut self,
        path: &Path,
        period: PeriodKey,
        codes: &[u32],
        value: &[u8],
    ) -> Result<(), String> {
        for (labels, &code) in self.labels.iter_mut().zip(codes) {
            labels.rows.push(code);
        }
        let next = next_code(self.pseudonyms.len() + self.texts.len())?;
        let code = match value.first() {
            Some(&PSEUDONYM) => {
                let bits: [u8; 16] = value
                    .get(1..17)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| format!("{}: a short value", path.display()))?;
                *self
                    .pseudonyms
                    .entry(u128::from_le_bytes(bits))
                    .or_insert(next)
            }
            Some(&TEXT) => {
                let t = String::from_utf8_lossy(value.get(5..).unwrap_or_default());
                intern(&mut self.texts, &t, next).0
            }
            _ => NO_CODE,
        };
        self.codes.push(code);
        self.periods.push(period);
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

/// The value of the record at `at` of `bytes` (after its `dims` breakdown codes) and where
/// the next record starts.
fn record_at<'a>(
    path: &Path,
    bytes: &'a [u8],
    at: usize,
    dims: usize,
) -> Result<(&'a [u8], usize), String> {
    let start = at + 4 * dims;
    let value = bytes.get(start..).unwrap_or_default();
    let n = value_len(value).ok_or_else(|| format!("{}: a record cut short", path.display()))?;
    Ok((&value[..n], start + n))
}

/// The breakdown codes of the record at `at` of a month file's part, as codes of every month
/// read (`recode`), into `codes`.
fn recoded(
    path: &Path,
    body: &[u8],
    at: usize,
    recode: &[Vec<u32>],
    codes: &mut [u32],
) -> Result<(), String> {
    for (d, out) in codes.iter_mut().enumerate() {
        let c = word(body, at + 4 * d)
            .ok_or_else(|| format!("{}: a record cut short", path.display()))?;
        *out = match recode.get(d).and_then(|m| m.get(c as usize)) {
            Some(&code) if code != NO_CODE => code,
            _ if c == NO_CODE => NO_CODE,
            _ => {
                return Err(format!(
                    "{}: a breakdown code without its text",
                    path.display()
                ));
            }
        };
    }
    Ok(())
}

/// Every pseudonym in the kept month file at `path`, read part by part as an incremental
/// computation reads it.
#[cfg(test)]
pub(super) fn pseudonyms_in(path: &Path) -> Result<BTreeSet<u128>, String> {
    let head = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut reader = Reader::new(word(&head, 8).unwrap_or_default() as usize);
    for part in 0..PARTS {
        reader.read(path, 0, part, Slices { bits: 0 }, 0)?;
    }
    Ok(reader.pseudonyms.into_keys().collect())
}
