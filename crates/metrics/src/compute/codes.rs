//! Dense integer codes for breakdown texts and distinct-counted values, agreed across batches:
//! pseudonyms keyed by their 128 bits, the rest interned, split into shards coded on threads
//! of their own.

use super::*;

/// Dense integer codes of the values of a distinct-counted field, the same for a value in
/// every batch, so that counting distinct codes is counting distinct values, exactly. Each
/// value's text is hashed once, here; the counting itself ([`tally`]) then needs no hashing
/// at all.
///
/// Written here rather than with polars: casting 5M pseudonyms to polars' categorical type
/// took a third of the whole computation (its dictionary is built for concurrent use), and
/// polars' per-group `n_unique` sorts each group; this map and one pass per breakdown level
/// do the same in a fraction of the time (`BENCHMARKS.md`).
///
/// The values are split into [`SHARDS`] by their first byte, each shard with its own
/// dictionary coded by its own thread: looking a pseudonym up is a random read in a table of
/// millions, the longest step of the whole computation, and two cores wait for memory
/// twice as fast as one.
#[derive(Default)]
pub(super) struct Codes {
    pub(super) shards: [Shard; SHARDS],
    /// The code of every row read so far, in row order; [`NO_CODE`] for an empty cell.
    pub(super) rows: Vec<u32>,
    /// Codes given outside the shards' dictionaries (a part read back: `parts.rs`).
    pub(super) dense: usize,
}

/// How many dictionaries, and threads, code a field's values.
pub(super) const SHARDS: usize = 2;

/// The shard of a (non-empty) value.
pub(super) fn shard_of(v: &str) -> usize {
    v.as_bytes().first().map_or(0, |&b| usize::from(b) % SHARDS)
}

/// The dictionary of one shard: shard `s` gives codes `s`, `s + SHARDS`, `s + 2·SHARDS`, …
#[derive(Default)]
pub(super) struct Shard {
    /// Pseudonyms (32 hex digits, as the store writes them) by their 128-bit value: kept in
    /// the map itself, a lookup reads no other memory.
    pub(super) pseudonyms: std::collections::HashMap<u128, u32, rustc_hash::FxBuildHasher>,
    /// Any other text.
    pub(super) map: TextCodes,
}

impl Shard {
    pub(super) fn len(&self) -> usize {
        self.pseudonyms.len() + self.map.len()
    }

    /// Codes the values of `values` that belong to shard `s` into `out` (one slot per value);
    /// the other slots are left as they are.
    pub(super) fn code(
        &mut self,
        s: usize,
        values: &StringChunked,
        out: &mut [u32],
    ) -> Result<(), String> {
        for (v, slot) in values.iter().zip(out.iter_mut()) {
            let Some(v) = v.filter(|v| shard_of(v) == s) else {
                continue;
            };
            let next = next_code(self.len().saturating_mul(SHARDS).saturating_add(s))?;
            *slot = match pseudonym_bits(v) {
                Some(bits) => *self.pseudonyms.entry(bits).or_insert(next),
                None => intern(&mut self.map, v, next).0,
            };
        }
        Ok(())
    }
}

/// The code of an empty cell.
pub(super) const NO_CODE: u32 = u32::MAX;

/// Texts by their code.
pub(super) type TextCodes = std::collections::HashMap<Box<str>, u32, rustc_hash::FxBuildHasher>;

/// The code of `v` in `map`, which gives it `next` when it has none yet; `true` when new.
pub(super) fn intern(map: &mut TextCodes, v: &str, next: u32) -> (u32, bool) {
    match map.get(v) {
        Some(&c) => (c, false),
        None => {
            map.insert(v.into(), next);
            (next, true)
        }
    }
}

/// The code after `len` codes, unless the codes have run out.
pub(super) fn next_code(len: usize) -> Result<u32, String> {
    u32::try_from(len)
        .ok()
        .filter(|&c| c != NO_CODE)
        .ok_or_else(|| "more than 4 billion distinct values".to_owned())
}

impl Codes {
    pub(super) fn extend(&mut self, values: &StringChunked) -> Result<(), String> {
        let start = self.rows.len();
        self.rows.resize(start + values.len(), NO_CODE);
        let out = &mut self.rows[start..];
        let [first, rest @ ..] = &mut self.shards;
        std::thread::scope(|scope| {
            // Every other shard on a thread of its own, into a vector of its own; the first
            // on this thread, straight into the rows' codes.
            let others: Vec<_> = rest
                .iter_mut()
                .enumerate()
                .map(|(i, shard)| {
                    scope.spawn(move || {
                        let mut mine = vec![NO_CODE; values.len()];
                        shard.code(i + 1, values, &mut mine).map(|()| mine)
                    })
                })
                .collect();
            first.code(0, values, out)?;
            for other in others {
                let mine = other
                    .join()
                    .map_err(|_| "a thread coding values stopped".to_owned())??;
                for (slot, code) in out.iter_mut().zip(mine) {
                    if code != NO_CODE {
                        *slot = code;
                    }
                }
            }
            Ok(())
        })
    }

    /// One more than the highest code given: the size of an array indexed by code.
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .enumerate()
            .map(|(s, shard)| match shard.len() {
                0 => 0,
                n => (n - 1) * SHARDS + s + 1,
            })
            .max()
            .unwrap_or(0)
            .max(self.dense)
    }
}

/// The 128 bits of a pseudonym written as 32 lowercase hex digits; `None` for any other text
/// (two texts that differ never get the same bits: uppercase or shorter text is not taken).
pub(super) fn pseudonym_bits(v: &str) -> Option<u128> {
    if v.len() != 32 {
        return None;
    }
    // One pass, digit by digit: this runs for every row of a distinct count.
    v.bytes().try_fold(0u128, |bits, b| {
        let nibble = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(bits << 4 | u128::from(nibble))
    })
}

/// A breakdown's values coded by first appearance, with the text of each code.
#[derive(Default)]
pub(super) struct Labels {
    pub(super) map: TextCodes,
    pub(super) texts: Vec<Box<str>>,
    /// Every row's code; [`NO_CODE`] for an empty cell.
    pub(super) rows: Vec<u32>,
}

impl Labels {
    pub(super) fn extend(&mut self, values: &StringChunked) -> Result<(), String> {
        self.rows.reserve(values.len());
        for v in values.iter() {
            let code = match v {
                None => NO_CODE,
                Some(v) => {
                    let (c, new) = intern(&mut self.map, v, next_code(self.texts.len())?);
                    if new {
                        self.texts.push(v.into());
                    }
                    c
                }
            };
            self.rows.push(code);
        }
        Ok(())
    }
}
