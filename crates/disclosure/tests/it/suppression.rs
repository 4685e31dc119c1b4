//! Property tests of small-cell suppression on random one- and two-dimensional tables.

use backbone_disclosure::suppress::{SumGroup, recoverable, suppress};
use proptest::prelude::*;

/// A one-dimensional table: the total (index 0) and its cells.
fn one_dim(cells: &[u64]) -> (Vec<u64>, Vec<SumGroup>) {
    let mut values = vec![cells.iter().sum()];
    values.extend_from_slice(cells);
    let group = SumGroup {
        margin: 0,
        members: (1..values.len()).collect(),
    };
    (values, vec![group])
}

/// A two-dimensional table with its margins: cells r×c, then row sums, column sums, total.
fn two_dim(rows: usize, cols: usize, cells: &[u64]) -> (Vec<u64>, Vec<SumGroup>) {
    let mut values = cells.to_vec();
    let row0 = values.len();
    for r in 0..rows {
        values.push((0..cols).map(|c| cells[r * cols + c]).sum());
    }
    let col0 = values.len();
    for c in 0..cols {
        values.push((0..rows).map(|r| cells[r * cols + c]).sum());
    }
    let total = values.len();
    values.push(cells.iter().sum());
    let mut groups = Vec::new();
    for r in 0..rows {
        groups.push(SumGroup {
            margin: row0 + r,
            members: (0..cols).map(|c| r * cols + c).collect(),
        });
    }
    for c in 0..cols {
        groups.push(SumGroup {
            margin: col0 + c,
            members: (0..rows).map(|r| r * cols + c).collect(),
        });
    }
    groups.push(SumGroup {
        margin: total,
        members: (row0..col0).collect(),
    });
    groups.push(SumGroup {
        margin: total,
        members: (col0..total).collect(),
    });
    (values, groups)
}

/// Every suppression decision is justified: below the threshold (and not zero), or needed
/// (publishing that one cell would let a reader recover a suppressed one).
fn justified(
    values: &[u64],
    groups: &[SumGroup],
    s: &[bool],
    threshold: u64,
) -> Result<(), String> {
    let refs: Vec<&SumGroup> = groups.iter().collect();
    for i in 0..values.len() {
        let small = values[i] > 0 && values[i] < threshold;
        if small && !s[i] {
            return Err(format!("cell {i} = {} is published", values[i]));
        }
        if s[i] && !small {
            let mut t = s.to_vec();
            t[i] = false;
            if recoverable(&t, &refs).is_empty() {
                return Err(format!(
                    "cell {i} = {} is suppressed for no reason",
                    values[i]
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn one_dimension(cells in prop::collection::vec(prop_oneof![0u64..4, 0u64..40], 1..9), threshold in 1u64..12) {
        let (values, groups) = one_dim(&cells);
        let s = suppress(&values, &groups, threshold, &[]);
        // Nothing recoverable by subtraction: a group has no suppressed entry, or two or more.
        let k = s.iter().filter(|&&x| x).count();
        prop_assert!(k != 1, "one lone suppressed entry: {:?} {:?}", values, s);
        let refs: Vec<&SumGroup> = groups.iter().collect();
        prop_assert!(recoverable(&s, &refs).is_empty());
        prop_assert_eq!(justified(&values, &groups, &s, threshold), Ok(()));
    }

    #[test]
    fn two_dimensions(rows in 2usize..4, cols in 2usize..5, seed in prop::collection::vec(prop_oneof![0u64..4, 0u64..30], 16), threshold in 2u64..10) {
        let cells: Vec<u64> = seed.iter().copied().take(rows * cols).collect();
        let (values, groups) = two_dim(rows, cols, &cells);
        let s = suppress(&values, &groups, threshold, &[]);
        let refs: Vec<&SumGroup> = groups.iter().collect();
        prop_assert!(recoverable(&s, &refs).is_empty(), "{:?} {:?}", values, s);
        prop_assert_eq!(justified(&values, &groups, &s, threshold), Ok(()));
    }
}

/// The audit itself, checked against brute force on a 2×2 table: a suppressed cell is
/// recoverable exactly when the published cells leave it one possible value.
#[test]
fn the_audit_agrees_with_brute_force() {
    let (values, groups) = two_dim(2, 2, &[3, 5, 7, 11]);
    let refs: Vec<&SumGroup> = groups.iter().collect();
    for mask in 0u32..(1 << values.len()) {
        let s: Vec<bool> = (0..values.len()).map(|i| mask & (1 << i) != 0).collect();
        let audit = recoverable(&s, &refs);
        // Brute force: try every value −40..=70 (negative too: the audit is about the
        // equations alone) for each suppressed cell, keep the assignments consistent with
        // every equation.
        let hidden: Vec<usize> = (0..values.len()).filter(|&i| s[i]).collect();
        if hidden.len() > 2 {
            continue;
        }
        let mut possible: Vec<std::collections::BTreeSet<i64>> =
            vec![Default::default(); hidden.len()];
        let mut assign = vec![-40i64; hidden.len()];
        loop {
            let mut v: Vec<i64> = values.iter().map(|&x| x as i64).collect();
            for (k, &i) in hidden.iter().enumerate() {
                v[i] = assign[k];
            }
            if groups
                .iter()
                .all(|g| v[g.margin] == g.members.iter().map(|&m| v[m]).sum::<i64>())
            {
                for (k, &a) in assign.iter().enumerate() {
                    possible[k].insert(a);
                }
            }
            // next assignment
            let mut k = 0;
            while k < assign.len() {
                assign[k] += 1;
                if assign[k] <= 70 {
                    break;
                }
                assign[k] = -40;
                k += 1;
            }
            if k == assign.len() {
                break;
            }
        }
        let brute: Vec<usize> = hidden
            .iter()
            .zip(&possible)
            .filter(|(_, p)| p.len() == 1)
            .map(|(&i, _)| i)
            .collect();
        assert_eq!(audit, brute, "mask {mask:b}");
    }
}
