//! From aggregated cells to published values: counts, ratios and rates assembled from their
//! sides, each period's cells made a suppression problem and solved.

use super::*;

/// One computed cell before it becomes a row.
pub(crate) struct Assembled {
    pub(crate) key: (PeriodKey, Breakdown),
    pub(crate) value: Option<f64>,
    pub(crate) numerator: Option<f64>,
    pub(crate) denominator: Option<f64>,
    pub(crate) suppressed: bool,
}

/// The cells of one period as a suppression problem: index 0 the total, then each breakdown
/// cell, with one group per dimension.
pub(crate) fn groups_of(keys: &[Breakdown]) -> Vec<suppress::SumGroup> {
    let mut by_dim: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some((d, _)) = k.split_once('=') {
            by_dim.entry(d).or_default().push(i);
        }
    }
    let Some(total) = keys.iter().position(String::is_empty) else {
        return Vec::new();
    };
    by_dim
        .into_values()
        .map(|members| suppress::SumGroup {
            margin: total,
            members,
        })
        .collect()
}

/// Suppresses the cells of every period: `counts` are the measures a reader could subtract
/// (a count and, for ratios, the numerator and the denominator). Returns the hidden keys.
pub(crate) fn hide(
    keys: &[(PeriodKey, Breakdown)],
    counts: &[Vec<u64>],
    threshold: u64,
) -> BTreeSet<(PeriodKey, Breakdown)> {
    let mut hidden = BTreeSet::new();
    let periods: BTreeSet<PeriodKey> = keys.iter().map(|k| k.0).collect();
    for p in periods {
        let idx: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].0 == p).collect();
        let labels: Vec<Breakdown> = idx.iter().map(|&i| keys[i].1.clone()).collect();
        let groups = groups_of(&labels);
        let mut forced = vec![false; idx.len()];
        // Each measure protects itself; a cell hidden for one is hidden for all, so run again
        // until the union is stable.
        for _ in 0..=idx.len() {
            let before = forced.clone();
            for measure in counts {
                let values: Vec<u64> = idx.iter().map(|&i| measure[i]).collect();
                let s = suppress::suppress(&values, &groups, threshold, &forced);
                for (f, x) in forced.iter_mut().zip(s) {
                    *f |= x;
                }
            }
            if forced == before {
                break;
            }
        }
        for (j, &i) in idx.iter().enumerate() {
            if forced[j] {
                hidden.insert(keys[i].clone());
            }
        }
    }
    hidden
}

pub(crate) fn single(ind: &Indicator, cells: &Cells, threshold: u64) -> Vec<Assembled> {
    let keys: Vec<(PeriodKey, Breakdown)> = cells.keys().cloned().collect();
    let units: Vec<u64> = cells.values().map(|c| c.units).collect();
    let hidden = hide(&keys, &[units], threshold);
    cells
        .iter()
        .map(|(k, c)| {
            let s = hidden.contains(k);
            Assembled {
                key: k.clone(),
                value: if s { None } else { c.value },
                numerator: if s || !ind.kind.is_count() {
                    None
                } else {
                    c.value
                },
                denominator: None,
                suppressed: s,
            }
        })
        .collect()
}

pub(crate) fn ratio(ind: &Indicator, num: &Cells, den: &Cells, threshold: u64) -> Vec<Assembled> {
    let factor = ind.factor.unwrap_or(1.0);
    let keys: Vec<(PeriodKey, Breakdown)> = den
        .keys()
        .chain(num.keys())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let zero = compute::Aggregate {
        value: Some(0.0),
        units: 0,
    };
    let n_units: Vec<u64> = keys
        .iter()
        .map(|k| num.get(k).unwrap_or(&zero).units)
        .collect();
    let d_units: Vec<u64> = keys
        .iter()
        .map(|k| den.get(k).unwrap_or(&zero).units)
        .collect();
    let hidden = hide(&keys, &[n_units, d_units], threshold);
    keys.into_iter()
        .map(|k| {
            let n = num.get(&k).and_then(|c| c.value).or(Some(0.0));
            let d = den.get(&k).and_then(|c| c.value);
            let s = hidden.contains(&k);
            let value = match (n, d) {
                (Some(n), Some(d)) if d != 0.0 => Some(n / d * factor),
                _ => None,
            };
            Assembled {
                key: k,
                value: if s { None } else { value },
                numerator: if s { None } else { n },
                denominator: if s { None } else { d },
                suppressed: s,
            }
        })
        .collect()
}

pub(crate) fn rate(
    ind: &Indicator,
    num: &Cells,
    pop: &BTreeMap<(i32, Breakdown), f64>,
    threshold: u64,
) -> Vec<Assembled> {
    let factor = ind.factor.unwrap_or(1.0);
    let keys: Vec<(PeriodKey, Breakdown)> = num.keys().cloned().collect();
    let units: Vec<u64> = num.values().map(|c| c.units).collect();
    let hidden = hide(&keys, &[units], threshold);
    keys.into_iter()
        .map(|k| {
            // The population of the period's (first) calendar year.
            let year = k.0 / 100;
            let n = num.get(&k).and_then(|c| c.value);
            let d = pop.get(&(year, k.1.clone())).copied();
            let s = hidden.contains(&k);
            let value = match (n, d) {
                (Some(n), Some(d)) if d > 0.0 => Some(n / d * factor),
                _ => None,
            };
            Assembled {
                key: k,
                value: if s { None } else { value },
                numerator: if s { None } else { n },
                denominator: d,
                suppressed: s,
            }
        })
        .collect()
}
