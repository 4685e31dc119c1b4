//! The row loop: every cell cast, mapped and checked; every row accepted or rejected with its
//! reasons; accepted rows into Arrow.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use backbone_schema::{CmpOp, Operand, Severity, TableSchema};
use nohash_hasher::NoHashHasher;

use crate::batch::CellView;
use crate::cast::{Broken, CastFail, Caster, Checks, Value};
use crate::cell::{Cell, column_letters};
use crate::error::IngestError;
use crate::header::HeaderMatch;
use crate::output::Output;
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
    pub(crate) expected: String,
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
    /// Registers `key` at `row`; returns the first row that had it, if any.
    fn check(&mut self, key: &[u8], row: u64) -> Option<u64> {
        let h = xxhash_rust::xxh3::xxh3_128(key);
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

struct KeyCheck {
    fields: Vec<usize>,
    kind: ErrorType,
    severity: Severity,
    index: UniqueIndex,
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

pub(crate) struct Engine<'s> {
    schema: &'s TableSchema,
    plan: Vec<FieldPlan>,
    width: usize,
    fatal: bool,
    keys: Vec<KeyCheck>,
    rules: Vec<RulePlan>,
    pub(crate) collector: Collector,
    is_csv: bool,
    sheet: Option<String>,
    encoding: String,
    out: Option<Output>,
    pending_blank: Vec<u64>,
    broken: Vec<Broken>,
    key_buf: Vec<u8>,
    max_cell_bytes: usize,
}

impl<'s> Engine<'s> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        schema: &'s TableSchema,
        header: &HeaderMatch,
        header_row: u64,
        collector: Collector,
        is_csv: bool,
        sheet: Option<String>,
        encoding: String,
        out: Option<Output>,
        max_cell_bytes: usize,
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
            let expected = expected_text(&caster, &checks);
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
        let mut keys = Vec::new();
        for (i, f) in schema.fields.iter().enumerate() {
            if let Some(u) = f.constraints.unique.as_ref().filter(|u| u.value) {
                keys.push(KeyCheck {
                    fields: vec![i],
                    kind: ErrorType::UniqueError,
                    severity: u.severity,
                    index: UniqueIndex::default(),
                });
            }
        }
        for k in &schema.unique_keys {
            keys.push(KeyCheck {
                fields: k.clone(),
                kind: ErrorType::UniqueError,
                severity: Severity::Error,
                index: UniqueIndex::default(),
            });
        }
        if !schema.primary_key.is_empty() {
            keys.push(KeyCheck {
                fields: schema.primary_key.clone(),
                kind: ErrorType::PrimaryKey,
                severity: Severity::Error,
                index: UniqueIndex::default(),
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
        let mut engine = Self {
            schema,
            plan,
            width: header.width,
            fatal: header.is_fatal(),
            keys,
            rules,
            collector,
            is_csv,
            sheet,
            encoding,
            out,
            pending_blank: Vec::new(),
            broken: Vec::new(),
            key_buf: Vec::new(),
            max_cell_bytes,
        };
        for li in &header.issues {
            let fp = li.field.map(|f| &engine.plan[f]);
            let label = li.col.map(|c| header.labels[c].trim().to_owned());
            let issue = Issue {
                kind: li.kind,
                severity: li.severity,
                row_number: Some(header_row),
                field_name: fp.map(|f| f.name.clone()),
                field_number: li.col.map(|c| c + 1),
                label: label.clone(),
                cell: label.filter(|l| !l.is_empty()),
                message: format!("Header (row {header_row}): {}", li.message),
                note: li.kind.title().to_owned(),
                expected: None,
                sheet: engine.sheet.clone(),
                cell_ref: match (&engine.sheet, li.col) {
                    (Some(_), Some(c)) => Some(format!("{}{header_row}", column_letters(c))),
                    _ => None,
                },
            };
            engine.collector.push(issue);
        }
        Ok(engine)
    }

    /// One data row.
    pub(crate) fn row(
        &mut self,
        number: u64,
        cells: &[CellView<'_>],
        sink: &mut dyn Sink,
    ) -> Result<(), IngestError> {
        let blank = cells.iter().all(|c| match c {
            CellView::Cell(c) => c.is_blank(),
            CellView::Oversized(_) => false,
        });
        if blank {
            // Held back: blank rows at the very end of a file are formatting, not rows.
            self.pending_blank.push(number);
            return Ok(());
        }
        self.flush_blank();
        let Self {
            plan,
            collector,
            out,
            broken,
            key_buf,
            keys,
            rules,
            ..
        } = self;
        let ctx = IssueCtx {
            is_csv: self.is_csv,
            sheet: self.sheet.as_deref(),
            encoding: &self.encoding,
            max_cell: self.max_cell_bytes,
        };
        collector.stats.rows += 1;
        let wants_rows = sink.wants_rows();
        let mut problems: Vec<RowProblem> = Vec::new();
        let mut errors = 0usize;
        let mut warnings = 0usize;
        let mut values: Vec<Value<'_>> = vec![Value::Null; plan.len()];
        let mut report = |collector: &mut Collector,
                          at: &At<'_>,
                          kind: ErrorType,
                          severity: Severity,
                          cell: Option<&Cell<'_>>,
                          note: String,
                          detail: &dyn Fn(&str) -> String| {
            match severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            if wants_rows {
                problems.push(RowProblem {
                    kind,
                    field: at.field.map(|f| f.name.clone()),
                    note: note.clone(),
                });
            }
            ctx.issue(collector, at, kind, severity, cell, note, detail);
        };

        for fp in plan.iter() {
            let Some(c) = fp.col else { continue };
            let at = At {
                row: number,
                col: Some(c),
                field: Some(fp),
            };
            let cell = match cells.get(c) {
                None if ctx.is_csv => {
                    report(
                        collector,
                        &at,
                        ErrorType::MissingCell,
                        Severity::Error,
                        None,
                        "the row ends before this column".to_owned(),
                        &|_| "the row ends before this column; a delimiter is missing".to_owned(),
                    );
                    continue;
                }
                None => &Cell::Empty,
                Some(CellView::Oversized(n)) => {
                    let n = *n;
                    let max = ctx.max_cell;
                    report(
                        collector,
                        &at,
                        ErrorType::OversizedCell,
                        Severity::Error,
                        None,
                        format!("{n} bytes"),
                        &move |_| format!("the cell holds {n} bytes; at most {max} are read"),
                    );
                    continue;
                }
                Some(CellView::Cell(cell)) => cell,
            };
            match fp.caster.cast(cell) {
                Ok(Value::Null) => {
                    if let Some(sev) = fp.checks.required {
                        report(
                            collector,
                            &at,
                            ErrorType::ConstraintError,
                            sev,
                            Some(cell),
                            "constraint \"required\" is \"true\"".to_owned(),
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
                        report(
                            collector,
                            &at,
                            ErrorType::ConstraintError,
                            b.severity,
                            Some(cell),
                            note,
                            &|v| constraint_detail(constraint, shown, v),
                        );
                    }
                    values[fp.field] = v;
                }
                Err(fail) => {
                    let (kind, note, detail): (ErrorType, String, Box<dyn Fn(&str) -> String>) =
                        match fail {
                            CastFail::Type => (
                                ErrorType::TypeError,
                                format!("type is \"{}\"", fp.caster.ty.as_str()),
                                Box::new(|v: &str| format!("{v} is not {}", fp.caster.expected())),
                            ),
                            CastFail::Encoding => {
                                let enc = ctx.encoding;
                                (
                                    ErrorType::EncodingError,
                                    format!("not {enc} text"),
                                    Box::new(move |_: &str| {
                                        format!(
                                            "the cell holds bytes that are not {enc} text; save the file as UTF-8"
                                        )
                                    }),
                                )
                            }
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
                    report(
                        collector,
                        &at,
                        kind,
                        Severity::Error,
                        Some(cell),
                        note,
                        &*detail,
                    );
                }
            }
        }

        for (c, cell) in cells.iter().enumerate().skip(self.width) {
            if let CellView::Cell(cell) = cell {
                if !cell.is_blank() {
                    let at = At {
                        row: number,
                        col: Some(c),
                        field: None,
                    };
                    report(
                        collector,
                        &at,
                        ErrorType::ExtraCell,
                        Severity::Error,
                        Some(cell),
                        "value beyond the last column".to_owned(),
                        &|v| format!("{v} is to the right of the last column of the header"),
                    );
                }
            }
        }

        for r in rules.iter() {
            let lhs = &values[r.lhs];
            let rhs = match &r.rhs {
                RuleSide::Field(i) => &values[*i],
                RuleSide::Constant(c) => c,
            };
            if lhs.is_null() || rhs.is_null() {
                continue;
            }
            if let Some(ord) = lhs.compare(rhs) {
                if !r.op.holds(ord) {
                    let fp = &plan[r.lhs];
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
                    let rhs_text = match &r.rhs {
                        RuleSide::Field(i) => format!(
                            "{} is {}",
                            plan[*i].label.as_deref().unwrap_or(&plan[*i].name),
                            shown(&plan[*i], rhs)
                        ),
                        RuleSide::Constant(c) => format!("the limit is {}", c.canonical()),
                    };
                    let detail = match &r.message {
                        Some(m) => format!(
                            "{m} ({} is {}, {rhs_text})",
                            fp.label.as_deref().unwrap_or(&fp.name),
                            shown(fp, lhs)
                        ),
                        None => format!(
                            "the rule {:?} does not hold: {} is {}, {rhs_text}",
                            r.expr,
                            fp.label.as_deref().unwrap_or(&fp.name),
                            shown(fp, lhs)
                        ),
                    };
                    report(
                        collector,
                        &at,
                        ErrorType::RowConstraint,
                        r.severity,
                        None,
                        format!("rule \"{}\"", r.expr),
                        &|_| detail.clone(),
                    );
                }
            }
        }

        for k in keys.iter_mut() {
            key_buf.clear();
            let mut incomplete = false;
            for &f in &k.fields {
                let v = &values[f];
                if v.is_null() {
                    incomplete = true;
                    break;
                }
                key_buf.extend_from_slice(v.canonical().as_bytes());
                key_buf.push(0x1f);
            }
            if incomplete {
                continue;
            }
            if let Some(first) = k.index.check(key_buf, number) {
                let fp = &plan[k.fields[0]];
                let at = At {
                    row: number,
                    col: fp.col,
                    field: Some(fp),
                };
                let names: Vec<&str> = k
                    .fields
                    .iter()
                    .map(|&f| plan[f].label.as_deref().unwrap_or(&plan[f].name))
                    .collect();
                let cell = if k.fields.len() == 1 {
                    cells.get(fp.col.unwrap_or(usize::MAX))
                } else {
                    None
                };
                let cell = match cell {
                    Some(CellView::Cell(c)) => Some(c),
                    _ => None,
                };
                let note = format!("same as row {first}");
                let detail = |v: &str| {
                    if names.len() == 1 {
                        format!("{v} was already used in row {first}; each row needs its own value")
                    } else {
                        format!(
                            "the combination of {} was already used in row {first}",
                            names.join(" + ")
                        )
                    }
                };
                report(collector, &at, k.kind, k.severity, cell, note, &detail);
            }
        }

        let rejected = errors > 0 || self.fatal;
        if rejected {
            collector.stats.rejected += 1;
            if wants_rows {
                if self.fatal && errors == 0 {
                    problems.push(RowProblem {
                        kind: ErrorType::MissingLabel,
                        field: None,
                        note: "the file's columns do not match the schema".to_owned(),
                    });
                }
                let shown = plan
                    .iter()
                    .map(|fp| match (fp.col.and_then(|c| cells.get(c)), fp.pii) {
                        (_, true) | (None, _) => None,
                        (Some(CellView::Cell(c)), false) => Some(c.display()),
                        (Some(CellView::Oversized(n)), false) => Some(format!("<{n} bytes>")),
                    })
                    .collect();
                sink.rejected(RejectedRow {
                    row_number: number,
                    problems,
                    cells: shown,
                })
                .map_err(|source| IngestError::Sink {
                    file: String::new(),
                    source,
                })?;
            }
        } else {
            collector.stats.accepted += 1;
            if warnings > 0 {
                collector.stats.with_warnings += 1;
            }
            if let Some(out) = out {
                out.push(number, &values);
                if out.len() >= out.batch_rows {
                    let batch = out.finish().map_err(|e| IngestError::Sink {
                        file: String::new(),
                        source: Box::new(e),
                    })?;
                    sink.accepted(batch).map_err(|source| IngestError::Sink {
                        file: String::new(),
                        source,
                    })?;
                }
            }
        }
        Ok(())
    }

    fn flush_blank(&mut self) {
        for n in std::mem::take(&mut self.pending_blank) {
            self.collector.stats.rows += 1;
            self.collector.stats.blank_rows += 1;
            let ctx = IssueCtx {
                is_csv: self.is_csv,
                sheet: self.sheet.as_deref(),
                encoding: &self.encoding,
                max_cell: self.max_cell_bytes,
            };
            let at = At {
                row: n,
                col: None,
                field: None,
            };
            ctx.issue(
                &mut self.collector,
                &at,
                ErrorType::BlankRow,
                Severity::Warning,
                None,
                "row is blank".to_owned(),
                &|_| "the row is empty; it is skipped".to_owned(),
            );
        }
    }

    /// After the last row: the last accepted rows out.
    pub(crate) fn finish(mut self, sink: &mut dyn Sink) -> Result<Collector, IngestError> {
        if let Some(out) = &mut self.out {
            if out.len() > 0 {
                let batch = out.finish().map_err(|e| IngestError::Sink {
                    file: String::new(),
                    source: Box::new(e),
                })?;
                sink.accepted(batch).map_err(|source| IngestError::Sink {
                    file: String::new(),
                    source,
                })?;
            }
        }
        if self.collector.stats.rows == 0 {
            let at = At {
                row: 0,
                col: None,
                field: None,
            };
            let ctx = IssueCtx {
                is_csv: self.is_csv,
                sheet: self.sheet.as_deref(),
                encoding: &self.encoding,
                max_cell: self.max_cell_bytes,
            };
            ctx.issue(
                &mut self.collector,
                &at,
                ErrorType::NoData,
                Severity::Error,
                None,
                "no data rows".to_owned(),
                &|_| "the file has a header but no data rows".to_owned(),
            );
        }
        let _ = self.schema;
        Ok(self.collector)
    }
}

struct IssueCtx<'a> {
    is_csv: bool,
    sheet: Option<&'a str>,
    encoding: &'a str,
    max_cell: usize,
}

impl IssueCtx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        collector: &mut Collector,
        at: &At<'_>,
        kind: ErrorType,
        severity: Severity,
        cell: Option<&Cell<'_>>,
        note: String,
        detail: &dyn Fn(&str) -> String,
    ) {
        let field_name = at.field.map(|f| f.name.as_str());
        if !collector.wants(kind, field_name, severity) {
            collector.count_only(kind, severity, field_name, (at.row > 0).then_some(at.row));
            return;
        }
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
                Some("a value that no other row has".to_owned())
            }
            _ => None,
        };
        let _ = self.is_csv;
        collector.push(Issue {
            kind,
            severity,
            row_number: (at.row > 0).then_some(at.row),
            field_name: field_name.map(str::to_owned),
            field_number: at.col.map(|c| c + 1),
            label,
            cell: shown,
            message,
            note,
            expected,
            sheet: self.sheet.map(str::to_owned),
            cell_ref,
        });
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
fn expected_text(caster: &Caster, checks: &Checks) -> String {
    if let Some(e) = &checks.enumeration {
        let list: Vec<&str> = e.shown.split(", ").collect();
        if list.len() <= 12 {
            return format!("one of {}", e.shown);
        }
    }
    let mut s = caster.expected();
    let lo = checks
        .minimum
        .as_ref()
        .or(checks.exclusive_minimum.as_ref())
        .map(|l| l.shown.as_str());
    let hi = checks
        .maximum
        .as_ref()
        .or(checks.exclusive_maximum.as_ref())
        .map(|l| l.shown.as_str());
    match (lo, hi) {
        (Some(a), Some(b)) => s.push_str(&format!(", from {a} to {b}")),
        (Some(a), None) => s.push_str(&format!(", at least {a}")),
        (None, Some(b)) => s.push_str(&format!(", at most {b}")),
        (None, None) => {}
    }
    match (checks.min_length.as_ref(), checks.max_length.as_ref()) {
        (Some(a), Some(b)) => s.push_str(&format!(", {} to {} characters", a.shown, b.shown)),
        (Some(a), None) => s.push_str(&format!(", at least {} characters", a.shown)),
        (None, Some(b)) => s.push_str(&format!(", at most {} characters", b.shown)),
        (None, None) => {}
    }
    if let Some(p) = &checks.pattern {
        s.push_str(&format!(", in the form {}", p.shown));
    }
    s
}
