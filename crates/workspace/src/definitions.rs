//! An indicator's definitions over time (`[[indicator.version]]`): which one is in force for
//! a period, and where its series breaks. The metrics compute each period under its
//! definition, the report draws the breaks, `backbone sql` and `explain` follow the same rule.

use backbone_schema::Indicator;

use crate::Period;

/// The first period, at the indicator's grain, of definition `k` (2 or later): the first
/// period that starts on or after the first month of its `since`. `None` when `since` is not
/// a period (`backbone check` says so) or `k` is not one of its definitions.
pub fn start_of(ind: &Indicator, k: u32, first_month: u32) -> Option<Period> {
    let v = ind.versions.get(usize::try_from(k.checked_sub(2)?).ok()?)?;
    let since = Period::parse(v.since.trim())?;
    let (y, m) = *since.months(first_month).first()?;
    let p = Period::of_month(ind.grain, y, m, first_month)?;
    if p.months(first_month).first() == Some(&(y, m)) {
        Some(p)
    } else {
        Some(p.next())
    }
}

/// The definition in force for `period` (1 is the first): the latest that had started by
/// then, or a later one that is backcast over the whole series.
pub fn definition_for(ind: &Indicator, period: Period, first_month: u32) -> u32 {
    let mut best = 1;
    for (i, v) in ind.versions.iter().enumerate() {
        let k = u32::try_from(i).map_or(u32::MAX, |i| i.saturating_add(2));
        let started = start_of(ind, k, first_month)
            .is_some_and(|s| s.grain() == period.grain() && period.ordinal() >= s.ordinal());
        if v.backcast || started {
            best = k;
        }
    }
    best
}

/// Where the series breaks: the first period under each definition that does not replace the
/// one before it over the whole series, with its number. Empty without versions, or when the
/// last change was backcast over everything before.
pub fn breaks(ind: &Indicator, first_month: u32) -> Vec<(Period, u32)> {
    let last_backcast = ind
        .versions
        .iter()
        .rposition(|v| v.backcast)
        .map_or(1, |i| i + 2);
    (2..=ind.definitions())
        .filter(|k| *k as usize > last_backcast)
        .filter_map(|k| Some((start_of(ind, k, first_month)?, k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indicator(versions: &str) -> Indicator {
        let text = format!(
            "[[indicator]]\nid = \"x\"\nlabel = {{ en = \"X\" }}\nschema = \"s\"\nkind = \"count\"\ngrain = \"quarter\"\n{versions}"
        );
        backbone_schema::indicators_from_toml(&text, "x.toml")
            .unwrap()
            .remove(0)
    }

    fn q(label: &str) -> Period {
        Period::parse(label).unwrap()
    }

    #[test]
    fn a_definition_is_in_force_from_the_first_whole_period_after_its_since() {
        let ind = indicator(
            "[[indicator.version]]\nsince = \"2024-08\"\nfilter = \"a > 1\"\n[[indicator.version]]\nsince = \"2025-Q1\"\nfilter = \"a > 2\"\n",
        );
        // August is inside Q3: the third quarter keeps the first definition.
        assert_eq!(start_of(&ind, 2, 1), Some(q("2024-Q4")));
        assert_eq!(start_of(&ind, 3, 1), Some(q("2025-Q1")));
        let at = |p: &str| definition_for(&ind, q(p), 1);
        assert_eq!(
            [
                at("2024-Q1"),
                at("2024-Q3"),
                at("2024-Q4"),
                at("2025-Q1"),
                at("2026-Q2")
            ],
            [1, 1, 2, 3, 3]
        );
        assert_eq!(breaks(&ind, 1), vec![(q("2024-Q4"), 2), (q("2025-Q1"), 3)]);
        assert_eq!(ind.definition(3).filter.as_deref(), Some("a > 2"));
        assert_eq!(
            ind.changes(2),
            vec!["filter: none → `a > 1`".to_owned()],
            "what changed, in words"
        );
    }

    #[test]
    fn a_backcast_definition_covers_the_whole_series_without_a_break() {
        let ind = indicator(
            "[[indicator.version]]\nsince = \"2024-07\"\nbackcast = true\nfilter = \"a > 1\"\n",
        );
        assert_eq!(definition_for(&ind, q("2023-Q1"), 1), 2);
        assert_eq!(definition_for(&ind, q("2024-Q3"), 1), 2);
        assert!(breaks(&ind, 1).is_empty());
        // A later change that is not backcast breaks the series again.
        let ind = indicator(
            "[[indicator.version]]\nsince = \"2024-07\"\nbackcast = true\nfilter = \"a > 1\"\n[[indicator.version]]\nsince = \"2025-01\"\nfilter = \"a > 3\"\n",
        );
        assert_eq!(definition_for(&ind, q("2023-Q1"), 1), 2);
        assert_eq!(definition_for(&ind, q("2025-Q2"), 1), 3);
        assert_eq!(breaks(&ind, 1), vec![(q("2025-Q1"), 3)]);
    }
}
