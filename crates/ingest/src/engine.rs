//! The row loop: every cell cast, mapped and checked; every row accepted or rejected with its
//! reasons; accepted rows into Arrow.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use arrow_array::RecordBatch;

use backbone_schema::{CmpOp, Operand, Severity, TableSchema};
use nohash_hasher::NoHashHasher;

use crate::batch::{Block, CellView};
use crate::cast::{Broken, CastFail, Caster, Checks, Value};
use crate::cell::{Cell, column_letters};
use crate::error::IngestError;
use crate::expected::{Expected, ExpectedKind};
use crate::header::HeaderMatch;
use crate::output::Output;
use crate::pseudonym::Pseudonymiser;
use crate::report::{Collector, ErrorType, Issue};
use crate::{RejectedRow, RowProblem, Sink};

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
    col: Option<usize>,
    field: Option<&'p FieldPlan>,
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

struct Outcome {
    number: u64,
    kind: RowKind,
    errors: u32,
    warnings: u32,
    /// In the block's batch (no error found by the worker).
    candidate: bool,
}

/// A block checked by a worker: everything that does not depend on other blocks.
pub(crate) struct Checked {
    pub(crate) seq: u64,
    block: Block,
    rows: Vec<Outcome>,
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
}

impl<'s> Validator<'s> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        schema: &'s TableSchema,
        header: &HeaderMatch,
        header_row: u64,
        is_csv: bool,
        sheet: Option<String>,
        encoding: String,
        max_cell: usize,
        collect: bool,
        pseudonymiser: Option<Pseudonymiser>,
    ) -> Result<Self, IngestError> {
        let plan_err = |field: &str, message: String| IngestError::Plan {
            schema: schema.name.clone(),
            field: field.to_owned(),
            message,
        };
        let mut plan = Vec::with_capacity(schema.fields.len());
        for (i, f) in schema.fields.iter().enumerate() {
            let caster = Caster::new(f, schema.missing_values_for(i));
            let checks = Checks::new(f, &caster).map_err(|m| plan_err(&f.name, m))?;
            let expected = expected_of(&caster, &checks);
            let col = header.field_col[i];
            plan.push(FieldPlan {
                field: i,
                name: f.name.clone(),
                col,
                label: col.map(|c| header.labels[c].trim().to_owned()),
                caster,
                checks,
                expected,
                pii: f.pii,
            });
        }
        let mut key_defs = Vec::new();
        for (i, f) in schema.fields.iter().enumerate() {
            if let Some(u) = f.constraints.unique.as_ref().filter(|u| u.value) {
                key_defs.push(KeyDef {
                    fields: vec![i],
                    kind: ErrorType::UniqueError,
                    severity: u.severity,
                });
            }
        }
        for k in &schema.unique_keys {
            key_defs.push(KeyDef {
                fields: k.clone(),
                kind: ErrorType::UniqueError,
                severity: Severity::Error,
            });
        }
        if !schema.primary_key.is_empty() {
            key_defs.push(KeyDef {
                fields: schema.primary_key.clone(),
                kind: ErrorType::PrimaryKey,
                severity: Severity::Error,
            });
        }
        let mut rules = Vec::new();
        for r in &schema.rules {
            let rhs = match &r.rhs {
                Operand::Field(i) => RuleSide::Field(*i),
                Operand::Literal(t) => {
                    RuleSide::Constant(plan[r.lhs].caster.constant(t).ok_or_else(|| {
                        plan_err(
                            &schema.fields[r.lhs].name,
                            format!(
                                "rule {:?}: {t:?} is not a value of the field's type",
                                r.expr
                            ),
                        )
                    })?)
                }
            };
            rules.push(RulePlan {
                lhs: r.lhs,
                op: r.op,
                rhs,
                expr: r.expr.clone(),
                severity: r.severity,
                message: r.message.clone(),
            });
        }
        Ok(Self {
            schema,
            plan,
            width: header.width,
            fatal: header.is_fatal(),
            header_row,
            key_defs,
            rules,
            is_csv,
            sheet,
            encoding,
            max_cell,
            collect,
            pseudonymiser,
        })
    }

    fn ctx(&self) -> IssueCtx<'_> {
        IssueCtx {
            sheet: self.sheet.as_deref(),
            encoding: &self.encoding,
            max_cell: self.max_cell,
        }
    }

    /// The header's own problems, as issues on the header row.
    pub(crate) fn header_issues(&self, header: &HeaderMatch) -> Vec<Issue> {
        header
            .issues
            .iter()
            .map(|li| {
                let fp = li.field.map(|f| &self.plan[f]);
                let label = li.col.map(|c| header.labels[c].trim().to_owned());
                Issue {
                    kind: li.kind,
                    severity: li.severity,
                    row_number: Some(self.header_row),
                    field_name: fp.map(|f| f.name.clone()),
                    field_number: li.col.map(|c| c + 1),
                    label: label.clone(),
                    cell: label.filter(|l| !l.is_empty()),
                    message: format!("Header (row {}): {}", self.header_row, li.message),
                    note: li.kind.title().to_owned(),
                    expected: None,
                    expected_parts: None,
                    sheet: self.sheet.clone(),
                    cell_ref: match (&self.sheet, li.col) {
                        (Some(_), Some(c)) => {
                            Some(format!("{}{}", column_letters(c), self.header_row))
                        }
                        _ => None,
                    },
                }
            })
            .collect()
    }

    /// Checks every row of a block that does not depend on other rows.
    pub(crate) fn check(
        &self,
        seq: u64,
        block: Block,
        sat: &Saturation,
    ) -> Result<Checked, IngestError> {
        let mut out = self
            .collect
            .then(|| Output::new(self.schema, block.len(), self.pseudonymiser.clone()));
        let nkeys = self.key_defs.len();
        let mut rows = Vec::with_capacity(block.len());
        let mut notes = Vec::new();
        let mut problems = Vec::new();
        let mut keys = Vec::with_capacity(block.len() * nkeys);
        let mut view = Vec::with_capacity(self.plan.len());
        let mut broken = Vec::new();
        let mut key_buf = Vec::new();
        let mut values: Vec<Value<'_>> = Vec::with_capacity(self.plan.len());
        for i in 0..block.len() {
            let number = block.row(i, &mut view);
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            let blank = view.iter().all(|c| match c {
                CellView::Cell(c) => c.is_blank(),
                CellView::Oversized(_) => false,
            });
            if number <= self.header_row || blank {
                let kind = if number <= self.header_row {
                    RowKind::Skip
                } else {
                    RowKind::Blank
                };
                rows.push(Outcome {
                    number,
                    kind,
                    errors: 0,
                    warnings: 0,
                    candidate: false,
                });
                keys.extend(std::iter::repeat_n(0u128, nkeys));
                continue;
            }
            let mut tally = Tally {
                errors: 0,
                warnings: 0,
                idx,
                notes: &mut notes,
                problems: &mut problems,
                sat,
                collect: self.collect,
            };
            self.check_row(number, &view, &mut tally, &mut broken, &mut values);
            for k in &self.key_defs {
                key_buf.clear();
                let mut complete = true;
                for &f in &k.fields {
                    let v = &values[f];
                    if v.is_null() {
                        complete = false;
                        break;
                    }
                    key_buf.extend_from_slice(v.canonical().as_bytes());
                    key_buf.push(0x1f);
                }
                keys.push(if complete {
                    xxhash_rust::xxh3::xxh3_128(&key_buf).max(1)
                } else {
                    0
                });
            }
            let candidate = tally.errors == 0 && !self.fatal;
            let (errors, warnings) = (tally.errors, tally.warnings);
            if candidate && let Some(out) = &mut out {
                out.push(number, &values);
            }
            rows.push(Outcome {
                number,
                kind: RowKind::Data,
                errors,
                warnings,
                candidate,
            });
        }
        let batch = match &mut out {
            Some(o) if o.len() > 0 => Some(o.finish().map_err(|e| IngestError::Sink {
                file: String::new(),
                source: Box::new(e),
            })?),
            _ => None,
        };
        Ok(Checked {
            seq,
            block,
            rows,
            notes,
            problems,
            keys,
            batch,
        })
    }

    fn check_row<'v>(
        &'v self,
        number: u64,
        cells: &[CellView<'v>],
        t: &mut Tally<'_>,
        broken: &mut Vec<Broken>,
        values: &mut Vec<Value<'v>>,
    ) {
        let ctx = self.ctx();
        values.clear();
        values.resize(self.plan.len(), Value::Null);
        for fp in &self.plan {
            let Some(c) = fp.col else { continue };
            let at = At {
                row: number,
                col: Some(c),
                field: Some(fp),
            };
            let cell = match cells.get(c) {
                None if self.is_csv => {
                    t.report(
                        &ctx,
                        &at,
                        ErrorType::MissingCell,
                        Severity::Error,
                        None,
                        "the row ends before this column",
                        &|_| "the row ends before this column; a delimiter is missing".to_owned(),
                    );
                    continue;
                }
                None => &Cell::Empty,
                Some(CellView::Oversized(n)) => {
                    let (n, max) = (*n, self.max_cell);
                    t.report(
                        &ctx,
                        &at,
                        ErrorType::OversizedCell,
                        Severity::Error,
                        None,
                        "cell too long",
                        &move |_| format!("the cell holds {n} bytes; at most {max} are read"),
                    );
                    continue;
                }
                Some(CellView::Cell(cell)) => cell,
            };
            match fp.caster.cast(cell) {
                Ok(Value::Null) => {
                    if let Some(sev) = fp.checks.required {
                        t.report(
                            &ctx,
                            &at,
                            ErrorType::ConstraintError,
                            sev,
                            Some(cell),
                            // The Hebrew receipt recognises this note
                            // (`backbone_report` receipt's `detail_in`).
                            "constraint \"required\" is \"true\"",
                            &|_| "the cell is empty, but a value is required".to_owned(),
                        );
                    }
                }
                Ok(v) => {
                    broken.clear();
                    fp.checks.check(&v, broken);
                    for b in broken.iter() {
                        let note = format!("constraint \"{}\" is \"{}\"", b.constraint, b.shown);
                        let (constraint, shown) = (b.constraint, b.shown.as_str());
                        t.report(
                            &ctx,
                            &at,
                            ErrorType::ConstraintError,
                            b.severity,
                            Some(cell),
                            &note,
                            &|v| constraint_detail(constraint, shown, v),
                        );
                    }
                    values[fp.field] = v;
                }
                Err(fail) => {
                    let enc = self.encoding.as_str();
                    let (kind, note, detail): (ErrorType, String, Detail<'_>) = match fail {
                        CastFail::Type => (
                            ErrorType::TypeError,
                            format!("type is \"{}\"", fp.caster.ty.as_str()),
                            Box::new(|v: &str| format!("{v} is not {}", fp.caster.expected())),
                        ),
                        CastFail::Encoding => (
                            ErrorType::EncodingError,
                            format!("not {enc} text"),
                            Box::new(move |_: &str| {
                                format!(
                                    "the cell holds bytes that are not {enc} text; save the file as UTF-8"
                                )
                            }),
                        ),
                        CastFail::Formula => (
                            ErrorType::FormulaError,
                            "formula without a saved result".to_owned(),
                            Box::new(|_: &str| {
                                "the cell has a formula whose result is not saved in the file; open the file in Excel, let it calculate, and save it again".to_owned()
                            }),
                        ),
                        CastFail::SheetError => (
                            ErrorType::CellError,
                            "spreadsheet error value".to_owned(),
                            Box::new(|v: &str| {
                                format!(
                                    "the cell shows the spreadsheet error {v}; fix the formula that produces it"
                                )
                            }),
                        ),
                        CastFail::Unmapped => (
                            ErrorType::ValueMapError,
                            "not in the value map".to_owned(),
                            Box::new(|v: &str| {
                                format!("{v} is not a known spelling for this column")
                            }),
                        ),
                    };
                    t.report(
                        &ctx,
                        &at,
                        kind,
                        Severity::Error,
                        Some(cell),
                        &note,
                        &*detail,
                    );
                }
            }
        }
        for (c, cell) in cells.iter().enumerate().skip(self.width) {
            if let CellView::Cell(cell) = cell
                && !cell.is_blank()
            {
                let at = At {
                    row: number,
                    col: Some(c),
                    field: None,
                };
                t.report(
                    &ctx,
                    &at,
                    ErrorType::ExtraCell,
                    Severity::Error,
                    Some(cell),
                    "value beyond the last column",
                    &|v| format!("{v} is to the right of the last column of the header"),
                );
            }
        }
        for r in &self.rules {
            let lhs = &values[r.lhs];
            let rhs = match &r.rhs {
                RuleSide::Field(i) => &values[*i],
                RuleSide::Constant(c) => c,
            };
            if lhs.is_null() || rhs.is_null() {
                continue;
            }
            let Some(ord) = lhs.compare(rhs) else {
                continue;
            };
            if r.op.holds(ord) {
                continue;
            }
            let fp = &self.plan[r.lhs];
            let at = At {
                row: number,
                col: fp.col,
                field: Some(fp),
            };
            let shown = |fp: &FieldPlan, v: &Value<'_>| {
                if fp.pii {
                    "…".to_owned()
                } else {
                    v.canonical().into_owned()
                }
            };
            let name = |fp: &'v FieldPlan| fp.label.as_deref().unwrap_or(&fp.name);
            let rhs_text = match &r.rhs {
                RuleSide::Field(i) => {
                    format!("{} is {}", name(&self.plan[*i]), shown(&self.plan[*i], rhs))
                }
                RuleSide::Constant(c) => format!("the limit is {}", c.canonical()),
            };
            let detail = match &r.message {
                Some(m) => format!("{m} ({} is {}, {rhs_text})", name(fp), shown(fp, lhs)),
                None => format!(
                    "the rule {:?} does not hold: {} is {}, {rhs_text}",
                    r.expr,
                    name(fp),
                    shown(fp, lhs)
                ),
            };
            t.report(
                &ctx,
                &at,
                ErrorType::RowConstraint,
                r.severity,
                None,
                &format!("rule \"{}\"", r.expr),
                &|_| detail.clone(),
            );
        }
    }

    /// The cells of a rejected row as written, personal data left out.
    fn shown_cells(&self, cells: &[CellView<'_>]) -> Vec<Option<String>> {
        self.plan
            .iter()
            .map(|fp| match (fp.col.and_then(|c| cells.get(c)), fp.pii) {
                (_, true) | (None, _) => None,
                (Some(CellView::Cell(c)), false) => Some(c.display()),
                (Some(CellView::Oversized(n)), false) => Some(format!("<{n} bytes>")),
            })
            .collect()
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

impl Merger {
    /// `expected_rows`: an estimate of the file's rows, so that the unique indexes are sized
    /// once instead of doubling (a doubling briefly holds both tables: +50% peak memory).
    pub(crate) fn new(
        v: &Validator<'_>,
        mut collector: Collector,
        header_issues: Vec<Issue>,
        expected_rows: usize,
    ) -> Self {
        for i in header_issues {
            collector.push(i);
        }
        let indexes = v
            .key_defs
            .iter()
            .map(|_| UniqueIndex::with_capacity(expected_rows))
            .collect();
        Self {
            collector,
            indexes,
            pending_blank: Vec::new(),
        }
    }

    fn push_note(&mut self, v: &Validator<'_>, note: Note) {
        match note {
            Note::Built(issue) => self.collector.push(*issue),
            Note::Counted {
                kind,
                severity,
                field,
                row,
            } => {
                let name = field.map(|f| v.plan[f].name.as_str());
                self.collector.count_only(kind, severity, name, Some(row));
            }
        }
    }

    fn flush_blank(&mut self, v: &Validator<'_>) {
        for n in std::mem::take(&mut self.pending_blank) {
            self.collector.stats.rows += 1;
            self.collector.stats.blank_rows += 1;
            let at = At {
                row: n,
                col: None,
                field: None,
            };
            if self
                .collector
                .wants(ErrorType::BlankRow, None, Severity::Warning)
            {
                let issue = v.ctx().build(
                    &at,
                    ErrorType::BlankRow,
                    Severity::Warning,
                    None,
                    "row is blank".to_owned(),
                    &|_| "the row is empty; it is skipped".to_owned(),
                );
                self.collector.push(issue);
            } else {
                self.collector
                    .count_only(ErrorType::BlankRow, Severity::Warning, None, Some(n));
            }
        }
    }

    pub(crate) fn merge(
        &mut self,
        v: &Validator<'_>,
        c: Checked,
        sat: &Saturation,
        sink: &mut dyn Sink,
    ) -> Result<(), IngestError> {
        let Checked {
            block,
            rows,
            notes,
            problems,
            keys,
            batch,
            ..
        } = c;
        let nkeys = v.key_defs.len();
        let mut notes = notes.into_iter().peekable();
        let mut problems = problems.into_iter().peekable();
        let mut keep: Vec<bool> = Vec::new();
        let mut dropped = false;
        let mut view = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            match r.kind {
                RowKind::Skip => continue,
                RowKind::Blank => {
                    self.pending_blank.push(r.number);
                    continue;
                }
                RowKind::Data => {}
            }
            self.flush_blank(v);
            self.collector.stats.rows += 1;
            while let Some((_, note)) = notes.next_if(|(j, _)| *j == idx) {
                self.push_note(v, note);
            }
            let mut row_problems: Vec<RowProblem> = Vec::new();
            while let Some((_, p)) = problems.next_if(|(j, _)| *j == idx) {
                row_problems.push(p);
            }
            let (mut errors, mut warnings) = (r.errors, r.warnings);
            for (k, def) in v.key_defs.iter().enumerate() {
                let h = keys[i * nkeys + k];
                if h == 0 {
                    continue;
                }
                let Some(first) = self.indexes[k].check(h, r.number) else {
                    continue;
                };
                match def.severity {
                    Severity::Error => errors += 1,
                    Severity::Warning => warnings += 1,
                }
                // The Hebrew receipt recognises this note (`detail_in`).
                let note = format!("same as row {first}");
                if v.collect {
                    row_problems.push(RowProblem {
                        kind: def.kind,
                        field: Some(v.plan[def.fields[0]].name.clone()),
                        note: note.clone(),
                    });
                }
                if sat.is(def.kind)
                    || !self.collector.wants(
                        def.kind,
                        Some(&v.plan[def.fields[0]].name),
                        def.severity,
                    )
                {
                    self.collector.count_only(
                        def.kind,
                        def.severity,
                        Some(&v.plan[def.fields[0]].name),
                        Some(r.number),
                    );
                    continue;
                }
                block.row(i, &mut view);
                let fp = &v.plan[def.fields[0]];
                let at = At {
                    row: r.number,
                    col: fp.col,
                    field: Some(fp),
                };
                let names: Vec<&str> = def
                    .fields
                    .iter()
                    .map(|&f| v.plan[f].label.as_deref().unwrap_or(&v.plan[f].name))
                    .collect();
                let cell = match (def.fields.len(), fp.col.and_then(|c| view.get(c))) {
                    (1, Some(CellView::Cell(c))) => Some(c),
                    _ => None,
                };
                let detail = |val: &str| {
                    if names.len() == 1 {
                        format!(
                            "{val} was already used in row {first}; each row needs its own value"
                        )
                    } else {
                        format!(
                            "the combination of {} was already used in row {first}",
                            names.join(" + ")
                        )
                    }
                };
                let issue = v
                    .ctx()
                    .build(&at, def.kind, def.severity, cell, note, &detail);
                self.collector.push(issue);
            }
            let rejected = errors > 0 || v.fatal;
            if r.candidate {
                keep.push(!rejected);
                dropped |= rejected;
            }
            if rejected {
                self.collector.stats.rejected += 1;
                if v.collect {
                    if v.fatal && errors == 0 {
                        row_problems.push(RowProblem {
                            kind: ErrorType::MissingLabel,
                            field: None,
                            note: "the file's columns do not match the schema".to_owned(),
                        });
                    }
                    block.row(i, &mut view);
                    let cells = v.shown_cells(&view);
                    sink.rejected(RejectedRow {
                        row_number: r.number,
                        problems: row_problems,
                        cells,
                    })
                    .map_err(|source| IngestError::Sink {
                        file: String::new(),
                        source,
                    })?;
                }
            } else {
                self.collector.stats.accepted += 1;
                if warnings > 0 {
                    self.collector.stats.with_warnings += 1;
                }
            }
        }
        for kind in ErrorType::ALL {
            if self.collector.is_full(kind) {
                sat.set(kind);
            }
        }
        if let Some(mut batch) = batch {
            if dropped {
                let mask = arrow_array::BooleanArray::from(keep);
                batch = arrow_select::filter::filter_record_batch(&batch, &mask).map_err(|e| {
                    IngestError::Sink {
                        file: String::new(),
                        source: Box::new(e),
                    }
                })?;
            }
            if batch.num_rows() > 0 {
                sink.accepted(batch).map_err(|source| IngestError::Sink {
                    file: String::new(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// After the last block. Blank rows still pending are the end of the file: not rows.
    pub(crate) fn finish(mut self, v: &Validator<'_>) -> Collector {
        if self.collector.stats.rows == 0 {
            let at = At {
                row: 0,
                col: None,
                field: None,
            };
            let issue = v.ctx().build(
                &at,
                ErrorType::NoData,
                Severity::Error,
                None,
                "no data rows".to_owned(),
                &|_| "the file has a header but no data rows".to_owned(),
            );
            self.collector.push(issue);
        }
        self.collector
    }
}

struct IssueCtx<'a> {
    sheet: Option<&'a str>,
    #[allow(dead_code)]
    encoding: &'a str,
    #[allow(dead_code)]
    max_cell: usize,
}

impl IssueCtx<'_> {
    /// An issue with its message: where (row, the partner's column name, cell reference),
    /// then what; the value is never shown for personal-data fields.
    fn build(
        &self,
        at: &At<'_>,
        kind: ErrorType,
        severity: Severity,
        cell: Option<&Cell<'_>>,
        note: String,
        detail: &dyn Fn(&str) -> String,
    ) -> Issue {
        let pii = at.field.is_some_and(|f| f.pii);
        let shown = if pii { None } else { cell.map(Cell::display) };
        let quoted = match &shown {
            Some(s) => format!("{s:?}"),
            None => "the value".to_owned(),
        };
        let label = at.field.and_then(|f| f.label.clone());
        let cell_ref = match (self.sheet, at.col) {
            (Some(_), Some(c)) if at.row > 0 => Some(format!("{}{}", column_letters(c), at.row)),
            _ => None,
        };
        let mut message = String::new();
        if at.row > 0 {
            message.push_str(&format!("Row {}", at.row));
            match (&label, at.col) {
                (Some(l), _) => message.push_str(&format!(", column {l:?}")),
                (None, Some(c)) => message.push_str(&format!(", column {}", c + 1)),
                _ => {}
            }
            if let Some(r) = &cell_ref {
                message.push_str(&format!(" ({r})"));
            }
            message.push_str(": ");
        }
        message.push_str(&detail(&quoted));
        let expected = match kind {
            ErrorType::TypeError
            | ErrorType::ConstraintError
            | ErrorType::ValueMapError
            | ErrorType::MissingCell => at.field.map(|f| f.expected.clone()),
            ErrorType::UniqueError | ErrorType::PrimaryKey => {
                Some(Expected::of(ExpectedKind::Unique))
            }
            _ => None,
        };
        Issue {
            kind,
            severity,
            row_number: (at.row > 0).then_some(at.row),
            field_name: at.field.map(|f| f.name.clone()),
            field_number: at.col.map(|c| c + 1),
            label,
            cell: shown,
            message,
            note,
            expected: expected.as_ref().map(ToString::to_string),
            expected_parts: expected,
            sheet: self.sheet.map(str::to_owned),
            cell_ref,
        }
    }
}

fn constraint_detail(constraint: &str, shown: &str, v: &str) -> String {
    match constraint {
        "enum" => {
            let list: Vec<&str> = shown.split(", ").collect();
            if list.len() > 12 {
                format!("{v} is not one of the {} allowed values", list.len())
            } else {
                format!("{v} is not one of the allowed values ({shown})")
            }
        }
        "minimum" => format!("{v} is less than the minimum, {shown}"),
        "maximum" => format!("{v} is more than the maximum, {shown}"),
        "exclusiveMinimum" => format!("{v} must be more than {shown}"),
        "exclusiveMaximum" => format!("{v} must be less than {shown}"),
        "minLength" => format!("{v} is shorter than {shown} characters"),
        "maxLength" => format!("{v} is longer than {shown} characters"),
        "pattern" => format!("{v} does not have the expected form ({shown})"),
        other => format!("{v} breaks the constraint {other} ({shown})"),
    }
}

/// What a valid value looks like, from the type and the constraints.
fn expected_of(caster: &Caster, checks: &Checks) -> Expected {
    if let Some(spellings) = caster.spellings() {
        return Expected::of(spellings);
    }
    if let Some(e) = &checks.enumeration {
        let list: Vec<&str> = e.shown.split(", ").collect();
        if list.len() <= 12 {
            return Expected::of(ExpectedKind::OneOf {
                values: e.shown.clone(),
                or: None,
            });
        }
    }
    Expected {
        kind: caster.expected(),
        lower: (checks.minimum.as_ref())
            .or(checks.exclusive_minimum.as_ref())
            .map(|l| l.shown.clone()),
        upper: (checks.maximum.as_ref())
            .or(checks.exclusive_maximum.as_ref())
            .map(|l| l.shown.clone()),
        min_length: checks.min_length.as_ref().map(|l| l.shown.clone()),
        max_length: checks.max_length.as_ref().map(|l| l.shown.clone()),
        pattern: checks.pattern.as_ref().map(|p| p.shown.clone()),
    }
}
