//! The checks that do not depend on other rows, on worker threads: each cell cast, mapped
//! and checked, each row's rules, its keys hashed, accepted rows into the block's batch.

use super::*;

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
        cols: Option<crate::layout::ColMap>,
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
            cols,
            constant: None,
        })
    }

    pub(super) fn ctx(&self) -> IssueCtx<'_> {
        IssueCtx {
            sheet: self.sheet.as_deref(),
            misaligned: false,
            personal: Vec::new(),
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
                // A long header's column is the sheet's kept column, or none (the names and
                // figures come from many).
                let col = match &self.cols {
                    Some(m) => li.col.and_then(|c| m.real(c, None)),
                    None => li.col,
                };
                Issue {
                    kind: li.kind,
                    severity: li.severity,
                    row_number: Some(self.header_row),
                    field_name: fp.map(|f| f.name.clone()),
                    field_number: col.map(|c| c + 1),
                    label: label.clone(),
                    cell: label.filter(|l| !l.is_empty()),
                    message: format!("Header (row {}): {}", self.header_row, li.message),
                    note: li.kind.title().to_owned(),
                    expected: None,
                    expected_parts: None,
                    sheet: self.sheet.clone(),
                    cell_ref: match (&self.sheet, col) {
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
    ) -> Result<CheckedBlock, IngestError> {
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
                rows.push(RowOutcome {
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
            let origin = block.origin.get(i).copied().filter(|o| *o != u32::MAX);
            self.check_row(number, origin, &view, &mut tally, &mut broken, &mut values);
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
            rows.push(RowOutcome {
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
        Ok(CheckedBlock {
            seq,
            block,
            rows,
            notes,
            problems,
            keys,
            batch,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_row<'v>(
        &'v self,
        number: u64,
        origin: Option<u32>,
        cells: &[CellView<'v>],
        t: &mut Tally<'_>,
        broken: &mut Vec<Broken>,
        values: &mut Vec<Value<'v>>,
    ) {
        let ctx = self.row_ctx(cells);
        values.clear();
        values.resize(self.plan.len(), Value::Null);
        for fp in &self.plan {
            let constant = match (&self.constant, fp.col) {
                (Some((f, name)), None) if *f == fp.field => Some(name.cell()),
                _ => None,
            };
            let (col, label) = self.place(fp, origin);
            let at = At {
                row: number,
                col,
                field: Some(fp),
                label,
            };
            let column = match (fp.col, &constant) {
                (Some(c), _) => cells.get(c),
                (None, Some(_)) => None,
                (None, None) => continue,
            };
            let cell = match column {
                None if constant.is_some() => constant.as_ref().unwrap_or(&Cell::Empty),
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
                            format!("type is \"{}\"", fp.caster.type_label()),
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
                    label: None,
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
            let (col, label) = self.place(fp, origin);
            let at = At {
                row: number,
                col,
                field: Some(fp),
                label,
            };
            let shown = |fp: &FieldPlan, v: &Value<'_>| {
                let text = v.canonical();
                if fp.pii || ctx.misaligned || ctx.personal.iter().any(|p| p == text.trim()) {
                    "…".to_owned()
                } else {
                    text.into_owned()
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

    /// Whether a row's cells do not line up with the header: a CSV row with fewer cells, or
    /// with anything beyond the last column. Its cells cannot be told apart, so none is echoed.
    fn misaligned(&self, cells: &[CellView<'_>]) -> bool {
        self.is_csv
            && (cells.len() < self.width
                || cells
                    .iter()
                    .skip(self.width)
                    .any(|c| !matches!(c, CellView::Cell(c) if c.is_blank())))
    }

    /// The personal-data values of a row as written (trimmed, not blank).
    fn personal(&self, cells: &[CellView<'_>]) -> Vec<String> {
        self.plan
            .iter()
            .filter(|fp| fp.pii)
            .filter_map(|fp| match fp.col.and_then(|c| cells.get(c)) {
                Some(CellView::Cell(c)) => Some(c.display().trim().to_owned()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The issue context of one row: nothing quoted when its cells are misaligned, and no
    /// value equal to one of its personal-data values.
    pub(super) fn row_ctx(&self, cells: &[CellView<'_>]) -> IssueCtx<'_> {
        IssueCtx {
            misaligned: self.misaligned(cells),
            personal: self.personal(cells),
            ..self.ctx()
        }
    }

    /// The cells of a rejected row as written, personal data left out: nothing at all when
    /// the row's cells are misaligned, and no cell equal to a personal-data value of the row.
    pub(super) fn shown_cells(&self, cells: &[CellView<'_>]) -> Vec<Option<String>> {
        let misaligned = self.misaligned(cells);
        let personal = self.personal(cells);
        self.plan
            .iter()
            .map(|fp| match (fp.col.and_then(|c| cells.get(c)), fp.pii) {
                _ if misaligned => None,
                (_, true) | (None, _) => None,
                (Some(CellView::Cell(c)), false) => {
                    Some(c.display()).filter(|s| !personal.iter().any(|p| p == s.trim()))
                }
                (Some(CellView::Oversized(n)), false) => Some(format!("<{n} bytes>")),
            })
            .collect()
    }
}
