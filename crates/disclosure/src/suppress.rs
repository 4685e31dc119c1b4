//! Small-cell suppression (DESIGN invariant 5: no small cell leaves).
//!
//! The cells of one indicator × period form a table: the total, and for each breakdown the
//! cells that add up to it. Each such "group" is a linear equation a reader can use:
//! `margin = Σ members`. Suppression runs in three steps, until nothing changes:
//!
//! 1. primary: every count below the threshold, zero excepted;
//! 2. complementary: a group with exactly one suppressed entry gets a second one (the
//!    smallest member that is not zero, else a zero member, else the margin), or the one
//!    could be recovered by subtraction;
//! 3. audit: with all the equations together (a cell is in the total's group and in its
//!    own breakdown's), a suppressed cell can still be pinned down (in two-dimensional
//!    tables a "bridge" cell can); linear algebra over the equations finds such cells, and
//!    each gets another complementary cell in one of its groups.
//!
//! The audit is exact: a suppressed cell is recoverable if and only if its unit vector lies in
//! the row space of the equations restricted to the suppressed cells.

/// An equation a reader of the published table can use: `margin = Σ members`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SumGroup {
    /// The cell holding the sum.
    pub margin: usize,
    /// The cells that add up to it.
    pub members: Vec<usize>,
}

/// Which cells to suppress. `values` are the counts of the cells; `forced` marks cells that
/// must be suppressed whatever their value (e.g. a ratio whose numerator is suppressed
/// elsewhere); `threshold` is the smallest count that may be published (zero always may).
pub fn suppress(values: &[u64], groups: &[SumGroup], threshold: u64, forced: &[bool]) -> Vec<bool> {
    let n = values.len();
    let primary: Vec<bool> = (0..n)
        .map(|i| {
            (values[i] > 0 && values[i] < threshold) || forced.get(i).copied().unwrap_or(false)
        })
        .collect();
    let mut s = primary.clone();
    let groups: Vec<&SumGroup> = groups
        .iter()
        .filter(|g| g.margin < n && g.members.iter().all(|&m| m < n))
        .collect();
    // Each pass suppresses at least one more cell, so there are at most n passes.
    for _ in 0..=n {
        let mut changed = false;
        for g in &groups {
            let entries = entries(g);
            if entries.iter().filter(|&&i| s[i]).count() == 1
                && let Some(c) = complement(g, values, &s)
            {
                s[c] = true;
                changed = true;
            }
        }
        if changed {
            continue;
        }
        // The audit: a suppressed cell the equations together still pin down.
        let Some(exposed) = recoverable(&s, &groups).into_iter().next() else {
            break;
        };
        let choice = groups
            .iter()
            .filter(|g| entries(g).contains(&exposed))
            .filter_map(|g| complement(g, values, &s))
            .min_by_key(|&c| (values[c] == 0, values[c]));
        match choice {
            Some(c) => s[c] = true,
            None => break, // every entry of its groups is suppressed already
        }
    }
    // Prune: a complementary cell that a later one made unnecessary is published again,
    // largest first (the published table keeps as much as it safely can).
    let mut extra: Vec<usize> = (0..n).filter(|&i| s[i] && !primary[i]).collect();
    extra.sort_by_key(|&i| std::cmp::Reverse(values[i]));
    for c in extra {
        s[c] = false;
        if !recoverable(&s, &groups).is_empty() {
            s[c] = true;
        }
    }
    s
}

fn entries(g: &SumGroup) -> Vec<usize> {
    let mut e = g.members.clone();
    e.push(g.margin);
    e
}

/// The cell to suppress next in a group: the smallest member that is not zero, else a zero
/// member, else the margin.
fn complement(g: &SumGroup, values: &[u64], s: &[bool]) -> Option<usize> {
    g.members
        .iter()
        .copied()
        .filter(|&m| !s[m])
        .min_by_key(|&m| (values[m] == 0, values[m]))
        .or((!s[g.margin]).then_some(g.margin))
}

/// The suppressed cells whose value the published cells and the equations determine.
pub fn recoverable(s: &[bool], groups: &[&SumGroup]) -> Vec<usize> {
    let unknowns: Vec<usize> = (0..s.len()).filter(|&i| s[i]).collect();
    if unknowns.is_empty() {
        return Vec::new();
    }
    let col = |cell: usize| unknowns.iter().position(|&u| u == cell);
    // One row per group, over the unknown cells: +1 for the margin, −1 for each member.
    let mut rows: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| {
            let mut row = vec![0.0; unknowns.len()];
            if let Some(c) = col(g.margin) {
                row[c] += 1.0;
            }
            for &m in &g.members {
                if let Some(c) = col(m) {
                    row[c] -= 1.0;
                }
            }
            row
        })
        .filter(|r| r.iter().any(|&x| x != 0.0))
        .collect();
    // Reduced row echelon form.
    let eps = 1e-9;
    let mut pivots: Vec<(usize, usize)> = Vec::new(); // (row, column)
    let mut r = 0;
    for c in 0..unknowns.len() {
        let Some(p) = (r..rows.len()).find(|&i| rows[i][c].abs() > eps) else {
            continue;
        };
        rows.swap(r, p);
        let pv = rows[r][c];
        for x in &mut rows[r] {
            *x /= pv;
        }
        for i in 0..rows.len() {
            if i != r && rows[i][c].abs() > eps {
                let f = rows[i][c];
                let (pivot_row, other) = if i < r {
                    let (a, b) = rows.split_at_mut(r);
                    (&b[0], &mut a[i])
                } else {
                    let (a, b) = rows.split_at_mut(i);
                    (&a[r], &mut b[0])
                };
                for (o, p) in other.iter_mut().zip(pivot_row.iter()) {
                    *o -= f * p;
                }
            }
        }
        pivots.push((r, c));
        r += 1;
        if r == rows.len() {
            break;
        }
    }
    // A cell is determined when its pivot row has no other unknown in it.
    pivots
        .into_iter()
        .filter(|&(row, c)| {
            rows[row]
                .iter()
                .enumerate()
                .all(|(j, &x)| j == c || x.abs() <= eps)
        })
        .map(|(_, c)| unknowns[c])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_dim(total: usize, members: &[usize]) -> Vec<SumGroup> {
        vec![SumGroup {
            margin: total,
            members: members.to_vec(),
        }]
    }

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        // total 100 = 3 + 40 + 57
        let s = suppress(&[100, 3, 40, 57], &one_dim(0, &[1, 2, 3]), 10, &[]);
        assert_eq!(s, [false, true, true, false]);
    }

    #[test]
    fn zero_is_published_and_two_small_cells_protect_each_other() {
        let s = suppress(&[100, 3, 4, 93, 0], &one_dim(0, &[1, 2, 3, 4]), 10, &[]);
        assert_eq!(s, [false, true, true, false, false]);
    }

    #[test]
    fn a_small_total_hides_everything_it_would_expose() {
        // total 7 = 7 + 0: the total alone suppressed would be recovered from its one cell.
        let s = suppress(&[7, 7, 0], &one_dim(0, &[1, 2]), 10, &[]);
        assert!(s[0] && s[1]);
    }

    #[test]
    fn forced_cells_are_suppressed_and_protected() {
        let s = suppress(
            &[100, 50, 50],
            &one_dim(0, &[1, 2]),
            10,
            &[false, true, false],
        );
        assert_eq!(s, [false, true, true]);
    }

    #[test]
    fn the_audit_finds_a_bridge_in_a_two_dimensional_table() {
        // Suppressed pattern where every row and column has two, but one cell is a bridge:
        // checked by `recoverable` directly.
        // cells: a b / c d with row sums r1 r2 and column sums k1 k2, grand total t.
        let (a, b, c, d, r1, r2, k1, k2, t) = (0, 1, 2, 3, 4, 5, 6, 7, 8);
        let groups = [
            SumGroup {
                margin: r1,
                members: vec![a, b],
            },
            SumGroup {
                margin: r2,
                members: vec![c, d],
            },
            SumGroup {
                margin: k1,
                members: vec![a, c],
            },
            SumGroup {
                margin: k2,
                members: vec![b, d],
            },
            SumGroup {
                margin: t,
                members: vec![r1, r2],
            },
            SumGroup {
                margin: t,
                members: vec![k1, k2],
            },
        ];
        let refs: Vec<&SumGroup> = groups.iter().collect();
        let mut s = vec![false; 9];
        // a, b, c, d all suppressed: a 2×2 block is safe.
        for i in [a, b, c, d] {
            s[i] = true;
        }
        assert!(recoverable(&s, &refs).is_empty());
        // Only a and b: row 1 has two, but each column has one: a = k1 − c.
        let mut s = vec![false; 9];
        s[a] = true;
        s[b] = true;
        assert_eq!(recoverable(&s, &refs), [a, b]);
    }
}
