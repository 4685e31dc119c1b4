//! Disclosure control as one stage over everything published together (DESIGN invariant 5: no
//! small cell leaves).
//!
//! The stage sees every count behind every published number of every indicator at once
//! ([`model`]: a cell per measure, period and part, shared by the indicators that count the
//! same thing; the equations and inequalities a reader can use across breakdowns and
//! periods), hides the cells below their threshold, then complementary cells: first by the
//! equations ([`suppress`]), then until the attacker ([`attack`]: interval bounds by linear
//! programming) pins no hidden cell to an interval narrower than its threshold. A row showing
//! a hidden cell is suppressed whole.
//!
//! [`audit`] is the same attacker on what was published: the rows a committee member
//! received, read back from the files.

pub mod attack;
pub mod model;
mod protect;
pub mod suppress;

use backbone_schema::Indicator;
use backbone_workspace::tables::ValueRow;

pub use attack::{AttackError, Bounds};
pub use model::{Model, modeled};
pub use protect::{Protection, protect};

/// What the attacker found in published results.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// A hidden count a reader can pin to an interval narrower than its threshold.
    Disclosed {
        /// The cell's words (measure · period · part).
        cell: String,
        /// The indicators showing it.
        indicators: Vec<String>,
        /// What a reader can tell.
        low: f64,
        /// What a reader can tell (`INFINITY`: no upper bound).
        high: f64,
        /// Its threshold.
        threshold: u64,
    },
    /// One count published with two values.
    Inconsistent {
        /// The cell's words.
        cell: String,
        /// The values.
        values: Vec<f64>,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disclosed {
                cell,
                indicators,
                low,
                high,
                threshold,
            } => {
                let range = if low == high {
                    format!("exactly {low}")
                } else {
                    format!("between {low} and {high}")
                };
                write!(
                    f,
                    "{cell} ({}): a reader can tell it is {range} (threshold {threshold})",
                    indicators.join(", ")
                )
            }
            Self::Inconsistent { cell, values } => {
                let values: Vec<String> = values.iter().map(f64::to_string).collect();
                write!(f, "{cell}: published as {}", values.join(" and "))
            }
        }
    }
}

/// The attacker on published results: `rows` as a committee member received them. Every
/// hidden count a reader can pin, and every count published twice with two values.
pub fn audit(
    indicators: &[&Indicator],
    threshold: u64,
    rows: &[ValueRow],
) -> Result<Vec<Finding>, AttackError> {
    let model = Model::build(indicators, threshold, rows, model::Reading::Published);
    let mut findings = Vec::new();
    for (c, cell) in model.cells.iter().enumerate() {
        let mut values: Vec<f64> = Vec::new();
        for &(r, col) in &cell.shown_in {
            let row = &rows[r];
            if row.suppressed {
                continue;
            }
            if let Some(v) = col.of(row)
                && !values.iter().any(|x| (x - v).abs() < 1e-9)
            {
                values.push(v);
            }
        }
        if values.len() > 1 {
            findings.push(Finding::Inconsistent {
                cell: model.describe(c),
                values,
            });
        }
    }
    let hidden: Vec<bool> = model.cells.iter().map(|c| c.value.is_none()).collect();
    for component in model.components() {
        let relations = attack::relations_of(&model, &component);
        for b in attack::bounds(&model, &component, &relations, &hidden)? {
            let cell = &model.cells[b.cell];
            if b.discloses(cell.threshold) {
                let mut indicators: Vec<String> = cell
                    .shown_in
                    .iter()
                    .map(|&(r, _)| rows[r].indicator.clone())
                    .collect();
                indicators.sort();
                indicators.dedup();
                findings.push(Finding::Disclosed {
                    cell: model.describe(b.cell),
                    indicators,
                    low: b.low,
                    high: b.high,
                    threshold: cell.threshold,
                });
            }
        }
    }
    Ok(findings)
}
