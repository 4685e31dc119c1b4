//! Order-dependent work, on one thread, block after block in file order: unique values and
//! keys across the file, the blank rows at the end, the counts, and handing rows to the sink.

use super::*;

/// Rows whose unique keys are looked up together, ahead of their checks ([`UniqueIndex::touch`]).
const TOUCH_ROWS: usize = 64;

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

    pub(super) fn push_note(&mut self, v: &Validator<'_>, note: Note) {
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

    pub(super) fn flush_blank(&mut self, v: &Validator<'_>) {
        for n in std::mem::take(&mut self.pending_blank) {
            self.collector.stats.rows += 1;
            self.collector.stats.blank_rows += 1;
            let at = At {
                row: n,
                col: None,
                field: None,
                label: None,
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
        c: CheckedBlock,
        sat: &Saturation,
        sink: &mut dyn Sink,
    ) -> Result<(), IngestError> {
        let CheckedBlock {
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
            // The next rows' keys loaded together (a block is ~20 000 rows: touched all at
            // once, the first ones' slots would be out of cache again by their turn).
            if i % TOUCH_ROWS == 0 && nkeys > 0 {
                let ahead = keys
                    .get(i * nkeys..(i + TOUCH_ROWS).min(rows.len()) * nkeys)
                    .unwrap_or_default();
                for (k, index) in self.indexes.iter().enumerate() {
                    index.touch(ahead.iter().skip(k).step_by(nkeys).copied());
                }
            }
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
                let origin = block.origin.get(i).copied().filter(|o| *o != u32::MAX);
                let (col, label) = v.place(fp, origin);
                let at = At {
                    row: r.number,
                    col,
                    field: Some(fp),
                    label,
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
                let issue =
                    v.row_ctx(&view)
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

    /// Issues found before the rows of another sheet of the same file (its header's).
    pub(crate) fn add_issues(&mut self, issues: Vec<Issue>) {
        for i in issues {
            self.collector.push(i);
        }
    }

    /// After a sheet's last block: blank rows still pending are the end of the sheet, not
    /// rows.
    pub(crate) fn end_sheet(&mut self) {
        self.pending_blank.clear();
    }

    /// After the last block of the last sheet.
    pub(crate) fn finish(mut self, sheet: Option<String>) -> Collector {
        if self.collector.stats.rows == 0 {
            let at = At {
                row: 0,
                col: None,
                field: None,
                label: None,
            };
            let ctx = IssueCtx {
                sheet: sheet.as_deref(),
                misaligned: false,
                personal: Vec::new(),
                encoding: "",
                max_cell: 0,
            };
            let issue = ctx.build(
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
