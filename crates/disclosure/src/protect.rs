//! The stage: which cells to hide so that no hidden cell can be given away by anything
//! published with it, and the rows that show them.

use backbone_schema::Indicator;
use backbone_workspace::tables::ValueRow;

use crate::attack::{self, AttackError, Bounds};
use crate::model::{Column, Model, Reading, Relation};
use crate::suppress::{self, SumGroup};

/// What the stage did, for the log and the methods section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Protection {
    /// Cells behind the published numbers.
    pub cells: usize,
    /// Cells below their threshold (zero excepted).
    pub primary: usize,
    /// Cells hidden so that the small ones cannot be worked out.
    pub complementary: usize,
    /// Linear programs the attacker solved.
    pub solves: usize,
}

/// Applies disclosure control to `rows`: the results of `indicators` with true values (counts,
/// ratios and rates computed without suppression; rows of other indicators are left as they
/// are). `threshold` is the initiative's. Every cell below its threshold is hidden, then
/// complementary cells, until the attacker ([`attack::bounds`]) pins no hidden cell; each row
/// showing a hidden cell is suppressed (no value, numerator or denominator; a rate keeps its
/// population).
pub fn protect(
    indicators: &[&Indicator],
    threshold: u64,
    rows: &mut [ValueRow],
) -> Result<Protection, AttackError> {
    let model = Model::build(indicators, threshold, rows, Reading::Truth);
    let n = model.cells.len();
    let mut hidden: Vec<bool> = model
        .cells
        .iter()
        .map(|c| match c.value {
            Some(v) => v > 0.0 && v < c.threshold as f64,
            None => true,
        })
        .collect();
    // A row suppressed already (by its own indicator's rules) hides its cells.
    for (c, cell) in model.cells.iter().enumerate() {
        if cell.shown_in.iter().any(|(r, _)| rows[*r].suppressed) {
            hidden[c] = true;
        }
    }
    let primary = hidden.iter().filter(|&&h| h).count();
    let mut solves = 0;
    // The components and their relations do not change as cells are hidden: found once.
    let components: Vec<(Vec<usize>, Vec<&Relation>)> = model
        .components()
        .into_iter()
        .map(|c| {
            let relations = attack::relations_of(&model, &c);
            (c, relations)
        })
        .collect();
    // A row showing a hidden cell is suppressed whole, which hides the other cells it shows
    // where no other row shows them: those are protected in turn, until nothing changes.
    loop {
        for (component, relations) in &components {
            if !component.iter().any(|&c| hidden[c]) {
                continue;
            }
            equations(&model, component, relations, &mut hidden);
            // The attacker, until it finds nothing: each round hides one more cell.
            for _ in 0..=component.len() {
                let (found, solved) = first_disclosed(&model, component, relations, &hidden)?;
                solves += solved;
                let Some(exposed) = found else { break };
                match complement(&model, exposed.cell, &hidden) {
                    Some(c) => hidden[c] = true,
                    None => break,
                }
            }
        }
        let row_hidden = rows_hidden(&model, &hidden, rows.len());
        let effective: Vec<bool> = model
            .cells
            .iter()
            .map(|c| c.shown_in.iter().all(|&(r, _)| row_hidden[r]))
            .collect();
        if effective == hidden {
            break;
        }
        hidden = effective;
    }
    // Each row showing a hidden cell is suppressed whole: no value and no count (a ratio
    // neither side, whichever was hidden; a rate keeps its population, which is public).
    let row_hidden = rows_hidden(&model, &hidden, rows.len());
    let mut ratio_row = vec![false; rows.len()];
    for cell in &model.cells {
        for &(r, col) in &cell.shown_in {
            ratio_row[r] |= col == Column::Denominator;
        }
    }
    for (r, row) in rows.iter_mut().enumerate() {
        if row_hidden[r] {
            row.suppressed = true;
            row.value = None;
            row.numerator = None;
            if ratio_row[r] {
                row.denominator = None;
            }
        }
    }
    let all = hidden.iter().filter(|&&h| h).count();
    Ok(Protection {
        cells: n,
        primary,
        complementary: all - primary,
        solves,
    })
}

/// The rows showing a hidden cell.
fn rows_hidden(model: &Model, hidden: &[bool], rows: usize) -> Vec<bool> {
    let mut out = vec![false; rows];
    for (c, cell) in model.cells.iter().enumerate() {
        for &(r, _) in &cell.shown_in {
            out[r] |= hidden[c];
        }
    }
    out
}

/// Complementary suppression by the equations first (`suppress::suppress` over the
/// component's relations read as sums: no relation keeps a single hidden cell, and no hidden
/// cell is determined by all of them together). Cheap, and it leaves the attacker little to do.
fn equations(model: &Model, component: &[usize], relations: &[&Relation], hidden: &mut [bool]) {
    let index: std::collections::HashMap<usize, usize> =
        component.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let local = |c: usize| index.get(&c).copied();
    let groups: Vec<SumGroup> = relations
        .iter()
        .filter_map(|r| {
            let (Relation::Sum { total, parts } | Relation::Cover { total, parts }) = r;
            Some(SumGroup {
                margin: local(*total)?,
                members: parts.iter().filter_map(|&p| local(p)).collect(),
            })
        })
        .collect();
    let values: Vec<u64> = component
        .iter()
        .map(|&c| model.cells[c].value.unwrap_or(0.0).round().max(0.0) as u64)
        .collect();
    let forced: Vec<bool> = component.iter().map(|&c| hidden[c]).collect();
    // Threshold 0: the small cells are the forced ones (each cell has its own threshold).
    let s = suppress::suppress(&values, &groups, 0, &forced);
    for (i, &c) in component.iter().enumerate() {
        hidden[c] |= s[i];
    }
}

/// The first hidden cell of the component the attacker pins, and how many programs it took.
fn first_disclosed(
    model: &Model,
    component: &[usize],
    relations: &[&Relation],
    hidden: &[bool],
) -> Result<(Option<Bounds>, usize), AttackError> {
    let mut solves = 0;
    for &c in component.iter().filter(|&&c| hidden[c]) {
        let b = attack::bounds_of(model, component, relations, hidden, c)?;
        solves += 2;
        if b.discloses(model.cells[c].threshold) {
            return Ok((Some(b), solves));
        }
    }
    Ok((None, solves))
}

/// The published cell to hide next so that `exposed` can no longer be pinned: one that shares
/// a relation with it (else with a hidden cell tied to it, and so on outwards), the smallest at
/// or above the threshold (it covers the small one and costs the least), else the largest.
fn complement(model: &Model, exposed: usize, hidden: &[bool]) -> Option<usize> {
    let threshold = model.cells[exposed].threshold as f64;
    let mut frontier = vec![exposed];
    let mut seen = vec![false; hidden.len()];
    seen[exposed] = true;
    while !frontier.is_empty() {
        let mut candidates = Vec::new();
        let mut next = Vec::new();
        for r in &model.relations {
            if !r.cells().any(|c| frontier.contains(&c)) {
                continue;
            }
            for c in r.cells() {
                if seen[c] {
                    continue;
                }
                seen[c] = true;
                if hidden[c] {
                    next.push(c);
                } else {
                    candidates.push(c);
                }
            }
        }
        let value = |c: usize| model.cells[c].value.unwrap_or(0.0);
        let best = candidates
            .iter()
            .copied()
            .filter(|&c| value(c) >= threshold)
            .min_by(|&a, &b| value(a).total_cmp(&value(b)).then(a.cmp(&b)))
            .or_else(|| {
                candidates
                    .iter()
                    .copied()
                    .max_by(|&a, &b| value(a).total_cmp(&value(b)).then(b.cmp(&a)))
            });
        if best.is_some() {
            return best;
        }
        frontier = next;
    }
    None
}
