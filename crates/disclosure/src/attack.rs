//! The attacker: for every hidden cell, the smallest and the largest count consistent with
//! everything published (linear programming over the [`Model`]'s relations, counts never
//! negative), rounded inwards to whole counts. A hidden cell is **disclosed** when a reader
//! can pin it to an interval narrower than its threshold that reaches below the threshold and
//! above zero: exactly (`3 = 12 − 9`) or nearly (`between 1 and 3`).

use microlp::{ComparisonOp, OptimizationDirection, Problem, SolveOutcome, Variable};

use crate::model::{Model, Relation};

/// What a reader can tell about one hidden cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds {
    /// The cell (index into [`Model::cells`]).
    pub cell: usize,
    /// The smallest count consistent with what is published.
    pub low: f64,
    /// The largest (`f64::INFINITY`: no upper bound).
    pub high: f64,
}

impl Bounds {
    /// Whether the interval gives the cell away (see the module doc).
    pub fn discloses(&self, threshold: u64) -> bool {
        let t = threshold as f64;
        // Pinned to zero gives nothing away: zero is published like any count above the threshold.
        self.high - self.low < t && self.low < t && self.high > 0.0
    }
}

/// The attack failed: the published numbers contradict each other, or the solver could not
/// answer (the cells named).
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// No counts satisfy what is published.
    #[error("the published counts contradict each other around {0}")]
    Contradiction(String),
    /// The solver did not answer.
    #[error("the bounds of {cell} could not be computed: {reason}")]
    Solver {
        /// The cell's words.
        cell: String,
        /// The solver's.
        reason: String,
    },
}

/// The relations among the cells of `component` (cells of the model tied together): what
/// every linear program of the component is built from, found once.
pub fn relations_of<'m>(model: &'m Model, component: &[usize]) -> Vec<&'m Relation> {
    let mut inside = vec![false; model.cells.len()];
    for &c in component {
        inside[c] = true;
    }
    model
        .relations
        .iter()
        .filter(|r| r.cells().next().is_some_and(|c| inside[c]))
        .collect()
}

/// The bounds of every hidden cell of `component`, given its `relations` ([`relations_of`])
/// and which cells are hidden.
pub fn bounds(
    model: &Model,
    component: &[usize],
    relations: &[&Relation],
    hidden: &[bool],
) -> Result<Vec<Bounds>, AttackError> {
    component
        .iter()
        .copied()
        .filter(|&c| hidden[c])
        .map(|c| bounds_of(model, component, relations, hidden, c))
        .collect()
}

/// The bounds of one hidden cell of `component`: two linear programs.
pub fn bounds_of(
    model: &Model,
    component: &[usize],
    relations: &[&Relation],
    hidden: &[bool],
    target: usize,
) -> Result<Bounds, AttackError> {
    let min = OptimizationDirection::Minimize;
    let max = OptimizationDirection::Maximize;
    let low = solve(model, component, hidden, relations, target, min)?;
    let high = solve(model, component, hidden, relations, target, max)?;
    Ok(Bounds {
        cell: target,
        // `+ 0.0` makes a negative zero positive (it prints as `-0`).
        low: (low - 1e-6).ceil().max(0.0) + 0.0,
        high: if high.is_finite() {
            (high + 1e-6).floor()
        } else {
            f64::INFINITY
        },
    })
}

/// The optimum of the target cell in one direction (`INFINITY` when unbounded above).
fn solve(
    model: &Model,
    component: &[usize],
    hidden: &[bool],
    relations: &[&Relation],
    target: usize,
    direction: OptimizationDirection,
) -> Result<f64, AttackError> {
    let mut problem = Problem::new(direction);
    let mut var: Vec<Option<Variable>> = vec![None; model.cells.len()];
    for &c in component {
        let objective = if c == target { 1.0 } else { 0.0 };
        let known = if hidden[c] {
            None
        } else {
            model.cells[c].value
        };
        let range = match known {
            Some(v) => (v, v),
            None => (0.0, f64::INFINITY),
        };
        var[c] = Some(problem.add_var(objective, range));
    }
    let v = |c: usize| var.get(c).copied().flatten();
    for r in relations {
        match r {
            Relation::Sum { total, parts } => {
                let Some(t) = v(*total) else { continue };
                let mut expr = vec![(t, 1.0)];
                expr.extend(parts.iter().filter_map(|&p| v(p)).map(|p| (p, -1.0)));
                problem.add_constraint(expr, ComparisonOp::Eq, 0.0);
            }
            Relation::Cover { total, parts } => {
                let Some(t) = v(*total) else { continue };
                for p in parts.iter().filter_map(|&p| v(p)) {
                    problem.add_constraint([(p, 1.0), (t, -1.0)], ComparisonOp::Le, 0.0);
                }
                let mut expr = vec![(t, 1.0)];
                expr.extend(parts.iter().filter_map(|&p| v(p)).map(|p| (p, -1.0)));
                problem.add_constraint(expr, ComparisonOp::Le, 0.0);
            }
        }
    }
    match problem.solve() {
        Ok(SolveOutcome::Solution(s)) => Ok(s.objective()),
        Ok(SolveOutcome::Interrupted(_)) => Err(AttackError::Solver {
            cell: model.describe(target),
            reason: "interrupted".into(),
        }),
        Err(microlp::Error::Unbounded) => Ok(f64::INFINITY),
        Err(microlp::Error::Infeasible) => Err(AttackError::Contradiction(model.describe(target))),
        Err(e) => Err(AttackError::Solver {
            cell: model.describe(target),
            reason: e.to_string(),
        }),
    }
}
