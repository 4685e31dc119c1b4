//! What a reader of the published results holds: the counts behind every published number
//! ("cells"), and the equations and inequalities that tie them together across indicators,
//! breakdowns and periods.
//!
//! A cell is one **measure** (what is counted: the table, count or distinct count of which
//! field, the filter, the date field), one period and one part (the total, or one value of one
//! breakdown). Two indicators that count the same thing share their cells: `referrals` by
//! service type and the denominator of `contact_within_week` by service type are the same
//! cells, one decision each, and the totals of the two are one cell.
//!
//! What a reader knows about the cells of one measure:
//! - **breakdowns**: for each period and each dimension, the parts add up to the total (a
//!   count: every row has exactly one value, missing values have their own part); for a
//!   distinct count each part is at most the total and the total at most the parts' sum (one
//!   person can be in two parts);
//! - **periods**: a period's cell and the same part in the shorter periods inside it (months
//!   into a quarter, quarters into a year, when one measure is published at both grains):
//!   the sum for a count, the same inequalities for a distinct count. A shorter period with
//!   no cell for a part had no rows for it (zero).
//!
//! Counts are never negative. That is all a reader can use, and all the attacker
//! ([`crate::attack`]) uses.

use std::collections::BTreeMap;

use backbone_schema::{Indicator, Kind, Measure};
use backbone_workspace::Period;
use backbone_workspace::tables::ValueRow;

/// The column of a results row that shows a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// A count's value (and its `numerator` column, the same number).
    Value,
    /// A ratio's or a rate's numerator.
    Numerator,
    /// A ratio's denominator.
    Denominator,
}

impl Column {
    /// The number this column of `row` shows (`None` when it shows none).
    pub fn of(self, row: &ValueRow) -> Option<f64> {
        match self {
            Self::Value => row.value.or(row.numerator),
            Self::Numerator => row.numerator,
            Self::Denominator => row.denominator,
        }
    }
}

/// What is counted: one side of an indicator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MeasureKey {
    schema: String,
    /// A count of rows (additive) or of distinct values of `field`.
    distinct: Option<String>,
    filter: String,
    date_field: String,
}

impl MeasureKey {
    /// Whether the parts of a total add up to it (rows; not distinct people).
    pub fn additive(&self) -> bool {
        self.distinct.is_none()
    }
}

impl std::fmt::Display for MeasureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.distinct {
            None => write!(f, "rows of {}", self.schema)?,
            Some(field) => write!(f, "distinct {field} of {}", self.schema)?,
        }
        if !self.filter.is_empty() {
            write!(f, " where {}", self.filter)?;
        }
        write!(f, " by {}", self.date_field)
    }
}

/// The sides of an indicator whose cells are counts, with the column that shows each. Empty
/// for an indicator whose published numbers are not counts (a sum, a mean, a derived value,
/// a ratio of sums): those keep the suppression of their own cells.
pub fn sides(ind: &Indicator) -> Vec<(Column, MeasureKey)> {
    let key = |m: Option<&Measure>| -> Option<MeasureKey> {
        let kind = m.map_or(ind.kind, |m| m.kind);
        let field = m.map_or(ind.field.as_deref(), |m| m.field.as_deref());
        let distinct = match kind {
            Kind::Count => None,
            Kind::DistinctCount => Some(field?.to_owned()),
            _ => return None,
        };
        Some(MeasureKey {
            schema: m
                .and_then(|m| m.schema.clone())
                .unwrap_or_else(|| ind.schema.clone()),
            distinct,
            filter: m
                .map_or(ind.filter.as_deref(), |m| m.filter.as_deref())
                .map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            date_field: ind.date_field_of(m).unwrap_or_default().to_owned(),
        })
    };
    let all = |pairs: Vec<(Column, Option<MeasureKey>)>| -> Vec<(Column, MeasureKey)> {
        let n = pairs.len();
        let found: Vec<(Column, MeasureKey)> = pairs
            .into_iter()
            .filter_map(|(c, k)| k.map(|k| (c, k)))
            .collect();
        if found.len() == n { found } else { Vec::new() }
    };
    match (ind.kind, &ind.numerator, &ind.denominator) {
        (Kind::Count | Kind::DistinctCount, ..) => all(vec![(Column::Value, key(None))]),
        (Kind::Ratio, Some(n), Some(d)) => all(vec![
            (Column::Numerator, key(Some(n))),
            (Column::Denominator, key(Some(d))),
        ]),
        (Kind::Rate, Some(n), _) => all(vec![(Column::Numerator, key(Some(n)))]),
        _ => Vec::new(),
    }
}

/// Whether this stage decides the indicator's suppression (its published numbers are counts
/// or made of counts).
pub fn modeled(ind: &Indicator) -> bool {
    !sides(ind).is_empty()
}

/// A count behind published numbers.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Index into [`Model::measures`].
    pub measure: usize,
    /// The period label.
    pub period: String,
    /// The breakdown label (`""` for the total, `region=north`).
    pub part: String,
    /// The count: the true one for the stage, the published one (or `None`, hidden) for the
    /// attacker.
    pub value: Option<f64>,
    /// The smallest count that may be published (the strictest of the indicators showing it).
    pub threshold: u64,
    /// Where it is shown: (row index, column).
    pub shown_in: Vec<(usize, Column)>,
}

/// What a reader knows about some cells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// `total = Σ parts`.
    Sum {
        /// The cell holding the sum.
        total: usize,
        /// Its parts.
        parts: Vec<usize>,
    },
    /// Each part ≤ `total` ≤ `Σ parts` (distinct counts).
    Cover {
        /// The cell of the whole.
        total: usize,
        /// Cells that each lie within it and together cover it.
        parts: Vec<usize>,
    },
}

impl Relation {
    /// The cells it ties, the total first.
    pub fn cells(&self) -> impl Iterator<Item = usize> + '_ {
        let (Self::Sum { total, parts } | Self::Cover { total, parts }) = self;
        std::iter::once(*total).chain(parts.iter().copied())
    }
}

/// The cells of a set of published results and what ties them.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// What each measure counts.
    pub measures: Vec<MeasureKey>,
    /// Every cell.
    pub cells: Vec<Cell>,
    /// Every equation and inequality.
    pub relations: Vec<Relation>,
}

/// Where a value comes from, for [`Model::build`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// The rows are the true values before suppression (the stage).
    Truth,
    /// The rows are what was published: a suppressed row shows nothing (the attacker).
    Published,
}

impl Model {
    /// The model of `rows` (results rows of the indicators in `indicators`). `threshold` is
    /// the initiative's.
    pub fn build(
        indicators: &[&Indicator],
        threshold: u64,
        rows: &[ValueRow],
        reading: Reading,
    ) -> Self {
        let by_id: BTreeMap<&str, &Indicator> =
            indicators.iter().map(|i| (i.id.as_str(), *i)).collect();
        let mut model = Model::default();
        let mut measure_of: BTreeMap<MeasureKey, usize> = BTreeMap::new();
        // (measure, period, part identity) → cell.
        let mut cell_of: BTreeMap<(usize, String, String), usize> = BTreeMap::new();
        // Per measure and grain, the dimensions (identities) computed at that grain.
        let mut dims_at: BTreeMap<(usize, backbone_schema::Grain), Vec<String>> = BTreeMap::new();
        for ind in indicators {
            for (_, key) in sides(ind) {
                let next = measure_of.len();
                let m = *measure_of.entry(key.clone()).or_insert(next);
                if m == next {
                    model.measures.push(key);
                }
                let dims = dims_at.entry((m, ind.grain)).or_default();
                for d in std::iter::once(String::new())
                    .chain(ind.dimensions.iter().map(|d| dimension(ind, d)))
                {
                    if !dims.contains(&d) {
                        dims.push(d);
                    }
                }
            }
        }
        for (r, row) in rows.iter().enumerate() {
            let Some(ind) = by_id.get(row.indicator.as_str()) else {
                continue;
            };
            let identity = part_identity(ind, &row.breakdown);
            for (column, key) in sides(ind) {
                let Some(&m) = measure_of.get(&key) else {
                    continue;
                };
                let shown = match reading {
                    Reading::Published if row.suppressed => None,
                    _ => column.of(row),
                };
                let next = model.cells.len();
                let c = *cell_of
                    .entry((m, row.period.clone(), identity.clone()))
                    .or_insert(next);
                if c == next {
                    model.cells.push(Cell {
                        measure: m,
                        period: row.period.clone(),
                        part: row.breakdown.clone(),
                        value: None,
                        threshold: 0,
                        shown_in: Vec::new(),
                    });
                }
                let cell = &mut model.cells[c];
                cell.threshold = cell.threshold.max(ind.threshold.unwrap_or(threshold));
                cell.value = cell.value.or(shown);
                cell.shown_in.push((r, column));
            }
        }
        // Breakdowns: per measure and period, the parts of each dimension against the total.
        let mut by_period: BTreeMap<(usize, String), Vec<(String, usize)>> = BTreeMap::new();
        for ((m, period, identity), c) in &cell_of {
            by_period
                .entry((*m, period.clone()))
                .or_default()
                .push((identity.clone(), *c));
        }
        for ((m, _), cells) in &by_period {
            let Some(&(_, total)) = cells.iter().find(|(id, _)| id.is_empty()) else {
                continue;
            };
            let mut parts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (id, c) in cells {
                if let Some((dim, _)) = id.split_once('=') {
                    parts.entry(dim).or_default().push(*c);
                }
            }
            for parts in parts.into_values() {
                model
                    .relations
                    .push(relation(model.measures[*m].additive(), total, parts));
            }
        }
        // Periods: a period's cell against the same part in the shorter periods inside it.
        let periods: Vec<((usize, String), Option<Period>)> = by_period
            .keys()
            .map(|(m, p)| ((*m, p.clone()), Period::parse(p)))
            .collect();
        for ((m, outer_label), outer) in &periods {
            let Some(outer) = outer else { continue };
            let mut grains: Vec<backbone_schema::Grain> = periods
                .iter()
                .filter_map(|((m2, _), p)| p.filter(|p| m2 == m && p.grain() < outer.grain()))
                .map(Period::grain)
                .collect();
            grains.sort();
            grains.dedup();
            for grain in grains {
                let inner: Vec<&String> = periods
                    .iter()
                    .filter(|((m2, _), p)| {
                        m2 == m && p.is_some_and(|p| p.grain() == grain && outer.contains(p))
                    })
                    .map(|((_, label), _)| label)
                    .collect();
                let dims = dims_at.get(&(*m, grain)).cloned().unwrap_or_default();
                for (identity, whole) in by_period
                    .get(&(*m, outer_label.clone()))
                    .into_iter()
                    .flatten()
                {
                    let dim = identity.split_once('=').map_or("", |(d, _)| d);
                    if !dims.iter().any(|d| d == dim) {
                        continue;
                    }
                    let parts: Vec<usize> = inner
                        .iter()
                        .filter_map(|label| {
                            cell_of
                                .get(&(*m, (*label).clone(), identity.clone()))
                                .copied()
                        })
                        .collect();
                    model
                        .relations
                        .push(relation(model.measures[*m].additive(), *whole, parts));
                }
            }
        }
        model
    }

    /// The cells tied to each other, directly or through others: the independent problems.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let mut parent: Vec<usize> = (0..self.cells.len()).collect();
        fn find(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for r in &self.relations {
            let cells: Vec<usize> = r.cells().collect();
            for w in cells.windows(2) {
                let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for c in 0..self.cells.len() {
            let root = find(&mut parent, c);
            groups.entry(root).or_default().push(c);
        }
        groups.into_values().collect()
    }

    /// A cell's words for a message: `rows of service_records by referral_date, 2024-Q3,
    /// partner=police`.
    pub fn describe(&self, cell: usize) -> String {
        let c = &self.cells[cell];
        let part = if c.part.is_empty() {
            "total"
        } else {
            c.part.as_str()
        };
        format!("{} · {} · {part}", self.measures[c.measure], c.period)
    }
}

fn relation(additive: bool, total: usize, parts: Vec<usize>) -> Relation {
    if additive {
        Relation::Sum { total, parts }
    } else {
        Relation::Cover { total, parts }
    }
}

/// A dimension's identity: its name, and its edges when it is a band (two indicators cutting
/// `age` at different edges have different `age_band`s).
fn dimension(ind: &Indicator, dim: &str) -> String {
    match ind.bands.get(dim) {
        Some(b) => format!("{dim}{:?}{}", b.edges, b.field),
        None => dim.to_owned(),
    }
}

/// A breakdown label's identity (see [`dimension`]): `""` for the total.
fn part_identity(ind: &Indicator, breakdown: &str) -> String {
    match breakdown.split_once('=') {
        Some((d, v)) => format!("{}={v}", dimension(ind, d)),
        None => String::new(),
    }
}
