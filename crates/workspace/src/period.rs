//! A reporting period (`2024-03`, `2024-Q1`, `2024-H2`, `2024`): the one type every crate
//! parses, labels, orders and steps periods with.
//!
//! A period is its grain and an ordinal (months since year 0 for months, quarters for
//! quarters, …), so consecutive periods of one grain have consecutive ordinals and periods of
//! different grains order by time: by the month they start in, the longer first when two
//! start together (`2024`, `2024-H1`, `2024-Q1`, `2024-01`, `2024-02`, …).
//!
//! Labels name the reporting year: with a year that starts in September (`first_month = 9`),
//! `2024-Q1` is September–November 2024. A label alone does not say when the reporting year
//! starts, so ordering and stepping are by label; [`Period::months`] takes `first_month`.

use std::cmp::Ordering;
use std::fmt;

use backbone_schema::Grain;

/// One reporting period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    grain: Grain,
    /// Periods of `grain` since year 0 (year 0's first is 0).
    ordinal: i64,
}

impl Period {
    /// The period `index` (1-based: month, quarter, half) of `year` at `grain`; `None` when the
    /// index is out of range. A year's index is ignored.
    pub fn new(grain: Grain, year: i32, index: u32) -> Option<Self> {
        let per_year = i64::from(12 / grain.months());
        let index = i64::from(index);
        let index = match grain {
            Grain::Year => 1,
            _ if (1..=per_year).contains(&index) => index,
            _ => return None,
        };
        Some(Self {
            grain,
            ordinal: i64::from(year) * per_year + index - 1,
        })
    }

    /// The period holding the calendar month `(year, month)` (1–12) at `grain`, for a reporting
    /// year that starts in `first_month`. A year that starts in September is named by the
    /// calendar year it starts in.
    pub fn of_month(grain: Grain, year: i32, month: u32, first_month: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || !(1..=12).contains(&first_month) {
            return None;
        }
        if grain == Grain::Month {
            // Months are named by their calendar year and month whatever the reporting year.
            return Self::new(grain, year, month);
        }
        let shifted = (month + 12 - first_month) % 12; // 0-based month of the reporting year
        // A reporting year is named by the calendar year it starts in.
        let year = if month >= first_month { year } else { year - 1 };
        Self::new(grain, year, shifted / grain.months() + 1)
    }

    /// Parses a whole label of any grain (`2024-03`, `2024-Q1`, `2024-h2`, `2024`; spaces
    /// around are allowed). Anything else, `2024-13` or `2024/03`, is `None`.
    pub fn parse(label: &str) -> Option<Self> {
        let label = label.trim();
        let (year, rest) = match label.split_once('-') {
            Some((y, r)) => (y, Some(r)),
            None => (label, None),
        };
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let number = |s: &str, digits: usize| {
            (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        match rest {
            None => Self::new(Grain::Year, year, 1),
            Some(r) if r.starts_with(['Q', 'q']) => {
                Self::new(Grain::Quarter, year, number(&r[1..], 1)?)
            }
            Some(r) if r.starts_with(['H', 'h']) => {
                Self::new(Grain::HalfYear, year, number(&r[1..], 1)?)
            }
            Some(r) => Self::new(Grain::Month, year, number(r, 2)?),
        }
    }

    /// Parses a whole label that must be at `grain`.
    pub fn parse_at(grain: Grain, label: &str) -> Option<Self> {
        Self::parse(label).filter(|p| p.grain == grain)
    }

    /// The period at `grain` that a file name or a typed-in value names: `…2024-03…` and
    /// `…2024_03…` give `2024-03`, `…2024_Q1…` gives `2024-Q1`, `…2024-H2…` gives `2024-H2`,
    /// `…2024…` gives `2024`. Years 2000–2099; the period must not run into other digits.
    pub fn find_in(grain: Grain, name: &str) -> Option<Self> {
        let b = name.as_bytes();
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let sep = |i: usize| {
            b.get(i)
                .is_some_and(|c| matches!(c, b'-' | b'_' | b'.' | b' '))
        };
        for start in 0..b.len() {
            if start > 0 && digit(start - 1) {
                continue;
            }
            if !(b[start] == b'2'
                && b.get(start + 1) == Some(&b'0')
                && digit(start + 2)
                && digit(start + 3))
            {
                continue;
            }
            let year: i32 = name.get(start..start + 4)?.parse().ok()?;
            let after_year = start + 4;
            let found = match grain {
                Grain::Year => (!digit(after_year)).then(|| Self::new(grain, year, 1)),
                Grain::Month => [after_year, after_year + 1]
                    .into_iter()
                    .filter(|&at| at == after_year || sep(after_year))
                    .find_map(|at| {
                        let m = name.get(at..at + 2)?;
                        let m: u32 = m
                            .bytes()
                            .all(|c| c.is_ascii_digit())
                            .then(|| m.parse().ok())
                            .flatten()?;
                        (!digit(at + 2)).then(|| Self::new(grain, year, m))
                    }),
                Grain::Quarter | Grain::HalfYear => {
                    let letter = if grain == Grain::Quarter { b'q' } else { b'h' };
                    [after_year, after_year + 1]
                        .into_iter()
                        .filter(|&at| at == after_year || sep(after_year))
                        .find_map(|at| {
                            let l = b.get(at)?.to_ascii_lowercase();
                            let n = b.get(at + 1)?;
                            (l == letter && n.is_ascii_digit() && !digit(at + 2))
                                .then(|| Self::new(grain, year, u32::from(n - b'0')))
                        })
                }
            };
            if let Some(Some(p)) = found {
                return Some(p);
            }
        }
        None
    }

    /// The grain.
    pub fn grain(self) -> Grain {
        self.grain
    }

    /// The reporting year the label names.
    pub fn year(self) -> i32 {
        let per_year = i64::from(12 / self.grain.months());
        i32::try_from(self.ordinal.div_euclid(per_year)).unwrap_or(i32::MAX)
    }

    /// The 1-based index within its year (month, quarter, half; 1 for a year).
    pub fn index(self) -> u32 {
        let per_year = i64::from(12 / self.grain.months());
        u32::try_from(self.ordinal.rem_euclid(per_year) + 1).unwrap_or(1)
    }

    /// Consecutive numbering of periods of one grain (for trends across years).
    pub fn ordinal(self) -> i64 {
        self.ordinal
    }

    /// The period of the same grain with this ordinal.
    pub fn from_ordinal(grain: Grain, ordinal: i64) -> Self {
        Self { grain, ordinal }
    }

    /// The metrics' compact key: `year * 100 + index`.
    pub fn key(self) -> i32 {
        self.year()
            .saturating_mul(100)
            .saturating_add(self.index() as i32)
    }

    /// The period of a [`Period::key`].
    pub fn from_key(grain: Grain, key: i32) -> Option<Self> {
        Self::new(
            grain,
            key.div_euclid(100),
            key.rem_euclid(100).unsigned_abs(),
        )
    }

    /// The next period of the same grain.
    #[must_use]
    pub fn next(self) -> Self {
        Self {
            grain: self.grain,
            ordinal: self.ordinal + 1,
        }
    }

    /// The first month of the period on the label's own axis (months since year 0, with the
    /// reporting year's first month as month 0 of its year).
    fn first_month_ordinal(self) -> i64 {
        match self.grain {
            Grain::Month => self.ordinal,
            g => self.ordinal * i64::from(g.months()),
        }
    }

    /// The last month of the period on the same axis.
    fn last_month_ordinal(self) -> i64 {
        self.first_month_ordinal() + i64::from(self.grain.months()) - 1
    }

    /// Whether every month of `other` is a month of this period (`2024-Q1` contains
    /// `2024-02` and itself, not `2024-H1`), reading both labels on one axis.
    pub fn contains(self, other: Self) -> bool {
        self.first_month_ordinal() <= other.first_month_ordinal()
            && other.last_month_ordinal() <= self.last_month_ordinal()
    }

    /// Whether the period starts after `other` ends.
    pub fn after(self, other: Self) -> bool {
        self.first_month_ordinal() > other.last_month_ordinal()
    }

    /// Whether the period ends before `other` starts.
    pub fn before(self, other: Self) -> bool {
        self.last_month_ordinal() < other.first_month_ordinal()
    }

    /// The calendar months `(year, month)` the period covers, for a reporting year starting
    /// in `first_month`.
    pub fn months(self, first_month: u32) -> Vec<(i32, u32)> {
        if self.grain == Grain::Month {
            return vec![(self.year(), self.index())];
        }
        let start = i64::from(self.year()) * 12 + i64::from(first_month.clamp(1, 12)) - 1
            + (i64::from(self.index()) - 1) * i64::from(self.grain.months());
        (0..i64::from(self.grain.months()))
            .map(|m| {
                let o = start + m;
                (
                    i32::try_from(o.div_euclid(12)).unwrap_or(i32::MAX),
                    u32::try_from(o.rem_euclid(12) + 1).unwrap_or(1),
                )
            })
            .collect()
    }

    /// The label: `2024-03`, `2024-Q1`, `2024-H2`, `2024`.
    pub fn label(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, i) = (self.year(), self.index());
        match self.grain {
            Grain::Month => write!(f, "{y:04}-{i:02}"),
            Grain::Quarter => write!(f, "{y:04}-Q{i}"),
            Grain::HalfYear => write!(f, "{y:04}-H{i}"),
            Grain::Year => write!(f, "{y:04}"),
        }
    }
}

impl Ord for Period {
    /// By time: the month a period starts in, then the longer first, then the grain.
    fn cmp(&self, other: &Self) -> Ordering {
        self.first_month_ordinal()
            .cmp(&other.first_month_ordinal())
            .then(other.grain.months().cmp(&self.grain.months()))
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Sorts period labels by time; labels that are not periods go last, by text.
pub fn sort_labels(labels: &mut [String]) {
    labels.sort_by(|a, b| match (Period::parse(a), Period::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    });
}

/// The word for a grain in a sentence (`monthly`, …), in English.
pub fn adverb(grain: Grain) -> &'static str {
    match grain {
        Grain::Month => "monthly",
        Grain::Quarter => "quarterly",
        Grain::HalfYear => "half-yearly",
        Grain::Year => "yearly",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Period {
        Period::parse(s).unwrap_or_else(|| Period::from_ordinal(Grain::Year, -1))
    }

    #[test]
    fn labels_round_trip_and_bad_ones_are_refused() {
        for l in [
            "2024-03", "2024-12", "2025-Q1", "2024-Q4", "2024-H2", "2024",
        ] {
            assert_eq!(p(l).label(), l);
        }
        assert_eq!(p(" 2024-q1 ").label(), "2024-Q1");
        for bad in [
            "2024-13", "2024/03", "2024-Q5", "2024-H3", "24-03", "2024-3", "x", "",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn order_is_by_time_not_text() {
        let mut labels: Vec<String> = [
            "2025-Q1", "2024-02", "2024-Q3", "2024-Q1", "2024-04", "2024", "x",
        ]
        .map(str::to_owned)
        .to_vec();
        sort_labels(&mut labels);
        assert_eq!(
            labels,
            [
                "2024", "2024-Q1", "2024-02", "2024-04", "2024-Q3", "2025-Q1", "x"
            ]
        );
        assert_eq!(p("2024-Q4").next(), p("2025-Q1"));
        assert_eq!(p("2024-12").next(), p("2025-01"));
    }

    #[test]
    fn contains_and_windows() {
        assert!(p("2024-Q1").contains(p("2024-02")));
        assert!(p("2024").contains(p("2024-H2")));
        assert!(!p("2024-Q1").contains(p("2024-04")));
        assert!(!p("2024-Q1").contains(p("2024-H1")));
        assert!(p("2025-01").after(p("2024-12")));
        assert!(p("2024-12").before(p("2025-Q1")));
        assert!(!p("2024-Q4").after(p("2024-12")));
    }

    #[test]
    fn months_of_a_reporting_year_that_starts_in_september() {
        assert_eq!(
            p("2024-Q1").months(9),
            vec![(2024, 9), (2024, 10), (2024, 11)]
        );
        assert_eq!(p("2024-Q2").months(9)[1], (2025, 1));
        assert_eq!(
            Period::of_month(Grain::Quarter, 2025, 1, 9),
            Some(p("2024-Q2"))
        );
        assert_eq!(Period::of_month(Grain::Year, 2025, 8, 9), Some(p("2024")));
        assert_eq!(
            Period::of_month(Grain::Month, 2025, 1, 9),
            Some(p("2025-01"))
        );
        assert_eq!(
            Period::of_month(Grain::HalfYear, 2024, 7, 1),
            Some(p("2024-H2"))
        );
    }

    #[test]
    fn found_in_file_names() {
        let f = |g, n| Period::find_in(g, n).map(Period::label);
        assert_eq!(
            f(Grain::Month, "shelter_2024-03.csv").as_deref(),
            Some("2024-03")
        );
        assert_eq!(
            f(Grain::Month, "shelter_202403.csv").as_deref(),
            Some("2024-03")
        );
        assert_eq!(
            f(Grain::Month, "x_2024_11 final.xlsx").as_deref(),
            Some("2024-11")
        );
        assert_eq!(f(Grain::Month, "x_2024-13.csv"), None);
        assert_eq!(f(Grain::Month, "x_12024-03.csv"), None);
        assert_eq!(
            f(Grain::Quarter, "police 2024_q3.xlsx").as_deref(),
            Some("2024-Q3")
        );
        assert_eq!(f(Grain::HalfYear, "a-2024H2").as_deref(), Some("2024-H2"));
        assert_eq!(
            f(Grain::Year, "population_2024.csv").as_deref(),
            Some("2024")
        );
        assert_eq!(f(Grain::Year, "population_20245.csv"), None);
        assert_eq!(
            f(Grain::Month, "2023-99 then 2024-05").as_deref(),
            Some("2024-05")
        );
    }

    proptest! {
        #[test]
        fn keys_and_labels_agree(g in 0..4usize, year in 2000..2100i32, index in 1..13u32) {
            let grain = [Grain::Month, Grain::Quarter, Grain::HalfYear, Grain::Year][g];
            if let Some(period) = Period::new(grain, year, index) {
                prop_assert_eq!(Period::parse(&period.label()), Some(period));
                prop_assert_eq!(Period::from_key(grain, period.key()), Some(period));
                prop_assert_eq!(Period::find_in(grain, &format!("f_{period}.csv")), Some(period));
                prop_assert!(period < period.next());
                prop_assert!(period.contains(period));
            }
        }
    }
}
