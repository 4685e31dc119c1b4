//! The row loop: every cell cast, mapped and checked; every row accepted or rejected with its
//! reasons; accepted rows into Arrow.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use arrow_array::RecordBatch;

use backbone_schema::{CmpOp, Operand, Severity, TableSchema};
use nohash_hasher::NoHashHasher;

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
/// had it. Keeping hashes rather than values holds 5M keys in ~130 MB instead of ~600 MB; two
/// different values share a 96-bit hash with probability ~10⁻¹⁶ in a 5M-row file.
#[derive(Default)]
struct UniqueIndex {
    first: HashMap<u64, (u32, u32), BuildHasherDefault<NoHashHasher<u64>>>,
    /// Values whose first 64 bits collide with another value's.
    overflow: HashMap<(u64, u32), u64>,
}

impl UniqueIndex {
    fn with_capacity(n: usize) -> Self {
        Self {
            first: HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default()),
            overflow: HashMap::new(),
        }
    }

    /// Registers `key` at `row`; returns the first row that had it, if any.
    fn check(&mut self, h: u128, row: u64) -> Option<u64> {
        #[allow(clippy::cast_possible_truncation)]
        let (h1, h2) = (h as u64, (h >> 64) as u32);
        let row32 = u32::try_from(row).unwrap_or(u32::MAX);
        match self.first.entry(h1) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((h2, row32));
                None
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                let (seen_h2, seen_row) = *e.get();
                if seen_h2 == h2 {
                    Some(u64::from(seen_row))
                } else {
                    match self.overflow.entry((h1, h2)) {
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(row);
                            None
                        }
                        std::collections::hash_map::Entry::Occupied(o) => Some(*o.get()),
                    }
                }
            }
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
