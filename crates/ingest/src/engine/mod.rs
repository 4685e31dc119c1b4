//! The row loop: every cell cast, mapped and checked; every row accepted or rejected with its
//! reasons; accepted rows into Arrow.

use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use arrow_array::RecordBatch;

use backbone_schema::{CmpOp, Operand, Severity, TableSchema};

use crate::block::{Block, CellView};
use crate::cast::{Broken, CastFail, Caster, Checks, Value};
use crate::cell::{Cell, column_letters};
use crate::error::IngestError;
use crate::expected::{Expected, ExpectedKind};
use crate::header::HeaderMatch;
use crate::output::Output;
use crate::pseudonym::Pseudonymiser;
use crate::validation_report::{Collector, ErrorType, Issue};
use crate::{RejectedRow, RowProblem, Sink};

mod issue;
mod merger;
mod validator;

use issue::*;

/// One schema field as this file is read.
pub(crate) struct FieldPlan {
    pub(crate) field: usize,
    pub(crate) name: String,
    pub(crate) col: Option<usize>,
    pub(crate) label: Option<String>,
    pub(crate) caster: Caster,
    pub(crate) checks: Checks,
    pub(crate) expected: Expected,
    pub(crate) pii: bool,
}

/// Values seen in a unique field or key: a 96-bit hash of the value with the row that first
/// had it. Keeping hashes rather than values holds 5M keys in 128 MiB instead of ~600 MB; two
/// different values share a 96-bit hash with probability ~10⁻¹⁶ in a 5M-row file.
///
/// An open-addressing table of 16-byte slots with linear probing, rather than a `HashMap`: a
/// large file's index is far beyond the caches, so every insert waits on memory, and on the
/// one thread that keeps file order. One array is one miss per insert where hashbrown takes
/// two (its control bytes and its buckets live apart), and [`UniqueIndex::touch`] loads the
/// next rows' slots together before they are checked, so that their misses overlap instead
/// of coming one after another (the merge thread's time in the 5M-row file: BENCHMARKS.md).
struct UniqueIndex {
    /// `[h1, h2 << 32 | row]`; a slot whose second word is 0 is empty (rows count from 1).
    slots: Vec<[u64; 2]>,
    len: usize,
}

impl UniqueIndex {
    fn with_capacity(n: usize) -> Self {
        // Filled at most three quarters: linear probing stays within a cache line or two.
        let slots = n
            .saturating_mul(4)
            .div_ceil(3)
            .max(16)
            .checked_next_power_of_two()
            .unwrap_or(1 << 40);
        Self {
            // All zeros: an allocation of fresh pages, touched only where a key lands.
            slots: vec![[0u64; 2]; slots],
            len: 0,
        }
    }

    #[allow(clippy::cast_possible_truncation)]
    fn slot_of(&self, h1: u64) -> usize {
        (h1 as usize) & (self.slots.len() - 1)
    }

    /// Loads the slots these keys start probing at, each independent of the others, so that
    /// the processor has many of them in flight at once; [`UniqueIndex::check`] then finds
    /// them in cache.
    fn touch(&self, keys: impl Iterator<Item = u128>) {
        let mut acc = 0u64;
        for h in keys {
            #[allow(clippy::cast_possible_truncation)]
            let h1 = h as u64;
            acc ^= self.slots[self.slot_of(h1)][0];
        }
        std::hint::black_box(acc);
    }

    /// Registers `key` at `row`; returns the first row that had it, if any.
    fn check(&mut self, h: u128, row: u64) -> Option<u64> {
        #[allow(clippy::cast_possible_truncation)]
        let (h1, h2) = (h as u64, (h >> 64) as u32);
        let row32 = u32::try_from(row).unwrap_or(u32::MAX).max(1);
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.slot_of(h1);
        loop {
            let [seen_h1, second] = self.slots[i];
            if second == 0 {
                self.slots[i] = [h1, (u64::from(h2) << 32) | u64::from(row32)];
                self.len += 1;
                return None;
            }
            if seen_h1 == h1 && (second >> 32) == u64::from(h2) {
                return Some(second & u64::from(u32::MAX));
            }
            i = (i + 1) & mask;
        }
    }

    /// Twice the slots, every key placed again (the estimate of the file's rows was short).
    fn grow(&mut self) {
        let doubled = vec![[0u64; 2]; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s[1] != 0) {
            let mut i = self.slot_of(slot[0]);
            while self.slots[i][1] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

struct RulePlan {
    lhs: usize,
    op: CmpOp,
    rhs: RuleSide,
    expr: String,
    severity: Severity,
    message: Option<String>,
}

enum RuleSide {
    Field(usize),
    Constant(Value<'static>),
}

/// Where an issue is, and about which field.
struct At<'p> {
    row: u64,
    /// The sheet's column (0-based).
    col: Option<usize>,
    field: Option<&'p FieldPlan>,
    /// The header over the cell when it is not the field's own: a wide sheet's figure column.
    label: Option<&'p str>,
}

/// A `unique` field, a `uniqueKeys` entry or the primary key.
struct KeyDef {
    fields: Vec<usize>,
    kind: ErrorType,
    severity: Severity,
}

/// Error types whose list is full: workers stop building messages for them (a file with
/// millions of bad cells would otherwise spend its time writing sentences nobody reads).
pub(crate) struct Saturation(Vec<AtomicBool>);

impl Saturation {
    pub(crate) fn new() -> Self {
        Self(
            (0..ErrorType::COUNT)
                .map(|_| AtomicBool::new(false))
                .collect(),
        )
    }
    fn is(&self, kind: ErrorType) -> bool {
        self.0[kind.index()].load(AtomicOrdering::Relaxed)
    }
    fn set(&self, kind: ErrorType) {
        self.0[kind.index()].store(true, AtomicOrdering::Relaxed);
    }
}

/// An issue as a worker found it: built, or only counted once its type's list is full.
enum Note {
    Built(Box<Issue>),
    Counted {
        kind: ErrorType,
        severity: Severity,
        field: Option<usize>,
        row: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RowKind {
    /// The header or a row above it.
    Skip,
    Blank,
    Data,
}

struct RowOutcome {
    number: u64,
    kind: RowKind,
    errors: u32,
    warnings: u32,
    /// In the block's batch (no error found by the worker).
    candidate: bool,
}

/// A block checked by a worker: everything that does not depend on other blocks.
pub(crate) struct CheckedBlock {
    pub(crate) seq: u64,
    block: Block,
    rows: Vec<RowOutcome>,
    notes: Vec<(u32, Note)>,
    problems: Vec<(u32, RowProblem)>,
    /// Per row, per key: the key's hash (0: no key, a part is missing).
    keys: Vec<u128>,
    batch: Option<RecordBatch>,
}

/// The immutable plan of a file, shared by the worker threads.
pub(crate) struct Validator<'s> {
    schema: &'s TableSchema,
    plan: Vec<FieldPlan>,
    width: usize,
    fatal: bool,
    header_row: u64,
    key_defs: Vec<KeyDef>,
    rules: Vec<RulePlan>,
    is_csv: bool,
    sheet: Option<String>,
    encoding: String,
    max_cell: usize,
    collect: bool,
    pseudonymiser: Option<Pseudonymiser>,
    /// Where the long rows' columns are in the sheet, when a wide layout made them.
    cols: Option<crate::layout::ColMap>,
    /// A field with no column whose value is the same on every row: the sheet's name
    /// (`[layout] sheet_to`).
    constant: Option<(usize, crate::layout::Name)>,
}

impl Validator<'_> {
    /// The same value for field `f` on every row (the sheet's name).
    pub(crate) fn with_constant(mut self, constant: Option<(usize, crate::layout::Name)>) -> Self {
        self.constant = constant;
        self
    }

    /// Where field `fp`'s cell of a row is in the sheet, and the header over it when that is
    /// not the field's own.
    fn place<'p>(
        &'p self,
        fp: &'p FieldPlan,
        origin: Option<u32>,
    ) -> (Option<usize>, Option<&'p str>) {
        match (&self.cols, fp.col) {
            (Some(m), Some(c)) => (m.real(c, origin), m.label(c, origin)),
            _ => (fp.col, None),
        }
    }
}

/// Builds an issue's sentence from the quoted cell.
type Detail<'a> = Box<dyn Fn(&str) -> String + 'a>;

/// A worker's running count for one row, and where its notes go.
struct Tally<'a> {
    errors: u32,
    warnings: u32,
    idx: u32,
    notes: &'a mut Vec<(u32, Note)>,
    problems: &'a mut Vec<(u32, RowProblem)>,
    sat: &'a Saturation,
    collect: bool,
}

impl Tally<'_> {
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        ctx: &IssueCtx<'_>,
        at: &At<'_>,
        kind: ErrorType,
        severity: Severity,
        cell: Option<&Cell<'_>>,
        note: &str,
        detail: &dyn Fn(&str) -> String,
    ) {
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        if self.collect {
            self.problems.push((
                self.idx,
                RowProblem {
                    kind,
                    field: at.field.map(|f| f.name.clone()),
                    note: note.to_owned(),
                },
            ));
        }
        let n = if self.sat.is(kind) {
            Note::Counted {
                kind,
                severity,
                field: at.field.map(|f| f.field),
                row: at.row,
            }
        } else {
            Note::Built(Box::new(ctx.build(
                at,
                kind,
                severity,
                cell,
                note.to_owned(),
                detail,
            )))
        };
        self.notes.push((self.idx, n));
    }
}

/// Order-dependent work, on one thread, block after block in file order: unique values, the
/// blank rows at the end, the counts, and handing rows to the sink.
pub(crate) struct Merger {
    pub(crate) collector: Collector,
    indexes: Vec<UniqueIndex>,
    pending_blank: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::UniqueIndex;

    /// Keys from a few values of each half, so that the table meets every case: the same key
    /// again, keys that share their first 64 bits (or their slot) and differ after, and a table
    /// that starts too small and grows several times.
    fn key() -> impl Strategy<Value = u128> {
        (0u64..40, 0u32..3).prop_map(|(a, b)| {
            let h1 = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) | u64::from(a % 4 == 0) << 63;
            (u128::from(b) << 64) | u128::from(h1)
        })
    }

    proptest! {
        #[test]
        fn finds_the_first_row_of_every_key_as_a_map_does(
            keys in proptest::collection::vec(key(), 0..400),
            estimate in 0usize..50,
        ) {
            let mut index = UniqueIndex::with_capacity(estimate);
            let mut model: HashMap<(u64, u32), u64> = HashMap::new();
            for (i, h) in keys.iter().enumerate() {
                let row = i as u64 + 2;
                #[allow(clippy::cast_possible_truncation)]
                let model_key = (*h as u64, (*h >> 64) as u32);
                let expected = match model.get(&model_key) {
                    Some(first) => Some(*first),
                    None => {
                        model.insert(model_key, row);
                        None
                    }
                };
                index.touch(std::iter::once(*h));
                prop_assert_eq!(index.check(*h, row), expected, "key {} at row {}", h, row);
            }
            prop_assert_eq!(index.len, model.len());
            prop_assert!(index.len * 4 <= index.slots.len() * 3);
        }
    }

    #[test]
    fn keys_differing_only_after_the_first_64_bits_are_different_keys() {
        let mut index = UniqueIndex::with_capacity(1);
        let (a, b) = (7u128, (1u128 << 64) | 7);
        assert_eq!(index.check(a, 2), None);
        assert_eq!(index.check(b, 3), None);
        assert_eq!(index.check(b, 4), Some(3));
        assert_eq!(index.check(a, 5), Some(2));
    }
}
