//! Period labels (`2024-03`, `2024-Q1`, `2024-H2`, `2024`) as positions on a time axis.

/// The grain of a label and its ordinal: months since year 0 for months, quarters for
/// quarters, and so on. Consecutive periods of one grain have consecutive ordinals.
pub(crate) fn ordinal(label: &str) -> Option<(char, i64)> {
    let (year, rest) = match label.split_once('-') {
        Some((y, r)) => (y.parse::<i64>().ok()?, Some(r)),
        None => (label.parse::<i64>().ok()?, None),
    };
    match rest {
        None => Some(('Y', year)),
        Some(r) if r.starts_with('Q') => {
            let q: i64 = r[1..].parse().ok().filter(|q| (1..=4).contains(q))?;
            Some(('Q', year * 4 + q - 1))
        }
        Some(r) if r.starts_with('H') => {
            let h: i64 = r[1..].parse().ok().filter(|h| (1..=2).contains(h))?;
            Some(('H', year * 2 + h - 1))
        }
        Some(r) => {
            let m: i64 = r.parse().ok().filter(|m| (1..=12).contains(m))?;
            Some(('M', year * 12 + m - 1))
        }
    }
}

/// The label of an ordinal of a grain.
pub(crate) fn label(grain: char, ordinal: i64) -> String {
    match grain {
        'Q' => format!("{}-Q{}", ordinal.div_euclid(4), ordinal.rem_euclid(4) + 1),
        'H' => format!("{}-H{}", ordinal.div_euclid(2), ordinal.rem_euclid(2) + 1),
        'M' => format!(
            "{}-{:02}",
            ordinal.div_euclid(12),
            ordinal.rem_euclid(12) + 1
        ),
        _ => ordinal.to_string(),
    }
}

/// Sorts period labels in time order (unknown shapes last, by text).
pub(crate) fn sort(labels: &mut [String]) {
    labels.sort_by_key(|l| (ordinal(l).map_or((1, 0), |(_, o)| (0, o)), l.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for l in [
            "2024-03", "2024-12", "2025-Q1", "2024-Q4", "2024-H2", "2024",
        ] {
            let (g, o) = ordinal(l).unwrap_or(('?', 0));
            assert_eq!(label(g, o), l);
        }
        assert_eq!(
            ordinal("2024-Q4").map(|x| x.1 + 1),
            ordinal("2025-Q1").map(|x| x.1)
        );
        assert_eq!(ordinal("2024-13"), None);
    }
}
