//! The indicators as SQL another engine runs on the store's Delta tables (`backbone sql`):
//! DuckDB (its `delta` extension) on one machine, Spark (Databricks, a cluster with Delta)
//! past it. Each indicator's cells are computed as [`crate::compute`] does: a row is in the
//! period of its date field (reporting years starting at the initiative's first month),
//! a side counts the rows its filter keeps, the total and each breakdown straight from the
//! rows (distinct counts are not additive), `(missing)` for an empty breakdown value, bands
//! by their edges, ratios and rates joined from their sides, derived indicators from their
//! inputs' values.
//!
//! The numbers are those before disclosure control: `small` marks the cells below the
//! threshold (the primary cells); backbone also hides the cells that would give them away,
//! which one SQL query cannot decide (the disclosure crate solves it over all indicators).
//! Publish backbone's results, not this query's.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use backbone_schema::{Grain, Indicator, Kind, Measure};
use backbone_workspace::Declarations;

use crate::MetricsError;

/// Which engine the SQL is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// DuckDB, reading the tables with `delta_scan`.
    DuckDb,
    /// Spark SQL (Databricks, a Spark cluster with Delta Lake).
    Spark,
}

impl Dialect {
    fn ident(self, name: &str) -> String {
        match self {
            Self::DuckDb => format!("\"{}\"", name.replace('"', "\"\"")),
            Self::Spark => format!("`{}`", name.replace('`', "``")),
        }
    }

    fn text(self, value: &str) -> String {
        let v = value.replace('\'', "''");
        match self {
            Self::DuckDb => format!("'{v}'"),
            // Spark reads backslashes in literals as escapes.
            Self::Spark => format!("'{}'", v.replace('\\', "\\\\")),
        }
    }

    fn string_type(self) -> &'static str {
        match self {
            Self::DuckDb => "VARCHAR",
            Self::Spark => "STRING",
        }
    }

    fn format(self) -> &'static str {
        match self {
            Self::DuckDb => "printf",
            Self::Spark => "format_string",
        }
    }

    /// How a table is read: DuckDB's `delta_scan`, Spark's path-based table name.
    pub fn table(self, location: &str) -> String {
        match self {
            Self::DuckDb => format!("delta_scan({})", self.text(location)),
            Self::Spark => format!("delta.`{}`", location.replace('`', "``")),
        }
    }
}

/// The SQL of every indicator (or only `only`), one query returning `indicator, period,
/// breakdown, value, numerator, denominator, small`, ordered. `location(schema)` is where a
/// schema's Delta table is (a path or a URI).
pub fn sql(
    decl: &Declarations,
    only: Option<&str>,
    dialect: Dialect,
    location: &dyn Fn(&str) -> String,
) -> Result<String, MetricsError> {
    let indicators: Vec<&Indicator> = decl.indicators.iter().map(|(_, i)| i).collect();
    // Tables of figures (`x-aggregate`): a sum's cell weighs what it adds up to.
    let aggregate: BTreeSet<String> = decl
        .schemas
        .iter()
        .filter(|(_, s)| s.aggregate)
        .map(|(n, _)| n.clone())
        .collect();
    let wanted: Vec<&Indicator> = match only {
        Some(id) => vec![*indicators.iter().find(|i| i.id == id).ok_or_else(|| {
            MetricsError::compute(
                id,
                format!(
                    "no such indicator; the indicators are {}",
                    indicators
                        .iter()
                        .map(|i| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?],
        None => indicators.clone(),
    };
    // A derived indicator needs its inputs' cells.
    let mut needed: Vec<&Indicator> = Vec::new();
    let mut stack: Vec<&Indicator> = wanted.clone();
    while let Some(i) = stack.pop() {
        if needed.iter().any(|n| n.id == i.id) {
            continue;
        }
        needed.push(i);
        if let Some(f) = &i.formula {
            for id in backbone_schema::formula_ids(f) {
                if let Some(input) = indicators.iter().find(|x| x.id == id) {
                    stack.push(input);
                }
            }
        }
    }
    // In declaration order, inputs before the derived ones.
    needed.sort_by_key(|i| {
        (
            i.kind == Kind::Derived,
            indicators.iter().position(|x| x.id == i.id),
        )
    });
    let fm = decl.initiative.first_month;
    let mut tables: BTreeSet<String> = BTreeSet::new();
    let mut ctes: Vec<String> = Vec::new();
    let mut body_of = |ind: &Indicator| -> Result<String, MetricsError> {
        let threshold = ind.threshold.unwrap_or(decl.initiative.threshold);
        Ok(match ind.kind {
            Kind::Ratio => {
                let (Some(n), Some(d)) = (&ind.numerator, &ind.denominator) else {
                    return Err(MetricsError::compute(&ind.id, "a ratio without its sides"));
                };
                let factor = ind.factor.unwrap_or(1.0);
                let num = side(dialect, ind, Some(n), fm, &mut tables, &aggregate);
                let den = side(dialect, ind, Some(d), fm, &mut tables, &aggregate);
                format!(
                    "SELECT period, breakdown,\n    COALESCE(n.value, 0) / NULLIF(d.value, 0) * {factor:?} AS value,\n    COALESCE(n.value, 0) AS numerator, d.value AS denominator,\n    (n.units > 0 AND n.units < {threshold}) OR (d.units > 0 AND d.units < {threshold}) AS small\n  FROM ({num}) n FULL OUTER JOIN ({den}) d USING (period, breakdown)"
                )
            }
            Kind::Rate => {
                let (Some(n), Some(p)) = (&ind.numerator, &ind.population) else {
                    return Err(MetricsError::compute(&ind.id, "a rate without its sides"));
                };
                let factor = ind.factor.unwrap_or(1.0);
                let num = side(dialect, ind, Some(n), fm, &mut tables, &aggregate);
                tables.insert(p.schema.clone());
                let year = format!("CAST({} AS INT)", dialect.ident(&p.year_field));
                let value = format!("SUM(CAST({} AS DOUBLE))", dialect.ident(&p.field));
                let from = dialect.ident(&format!("table {}", p.schema));
                let mut levels = vec![format!(
                    "SELECT {year} AS year, '' AS breakdown, {value} AS value FROM {from} GROUP BY 1"
                )];
                for d in &ind.dimensions {
                    levels.push(format!(
                        "SELECT {year} AS year, {} AS breakdown, {value} AS value FROM {from} GROUP BY 1, 2",
                        labelled(dialect, d, &format!("CAST({} AS {})", dialect.ident(d), dialect.string_type()))
                    ));
                }
                format!(
                    "SELECT n.period, n.breakdown,\n    CASE WHEN p.value > 0 THEN n.value / p.value * {factor:?} END AS value,\n    n.value AS numerator, p.value AS denominator,\n    n.units > 0 AND n.units < {threshold} AS small\n  FROM ({num}) n LEFT JOIN (\n    {}\n  ) p ON p.year = CAST(substr(n.period, 1, 4) AS INT) AND p.breakdown = n.breakdown",
                    levels.join("\n    UNION ALL ")
                )
            }
            Kind::Derived => {
                let Some(formula) = &ind.formula else {
                    return Err(MetricsError::compute(
                        &ind.id,
                        "a derived indicator without a formula",
                    ));
                };
                let ids = backbone_schema::formula_ids(formula);
                let Some(first) = ids.first() else {
                    return Err(MetricsError::compute(&ind.id, "a formula without inputs"));
                };
                let value = substitute(formula, &ids, dialect);
                let mut from = dialect.ident(first);
                for id in ids.iter().skip(1) {
                    let _ = write!(
                        from,
                        " JOIN {} USING (period, breakdown)",
                        dialect.ident(id)
                    );
                }
                let small = ids
                    .iter()
                    .map(|id| format!("{}.small", dialect.ident(id)))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                format!(
                    "SELECT period, breakdown, {value} AS value,\n    CAST(NULL AS DOUBLE) AS numerator, CAST(NULL AS DOUBLE) AS denominator, {small} AS small\n  FROM {from}"
                )
            }
            _ => {
                let s = side(dialect, ind, None, fm, &mut tables, &aggregate);
                let numerator = if ind.kind.is_count() {
                    "value"
                } else {
                    "CAST(NULL AS DOUBLE)"
                };
                format!(
                    "SELECT period, breakdown, value, {numerator} AS numerator,\n    CAST(NULL AS DOUBLE) AS denominator, units > 0 AND units < {threshold} AS small\n  FROM ({s}) c"
                )
            }
        })
    };
    for ind in &needed {
        if ind.versions.is_empty() {
            let body = body_of(ind)?;
            ctes.push(format!("{} AS (\n  {body}\n)", dialect.ident(&ind.id)));
            continue;
        }
        // One query per definition in force somewhere, each kept for its periods (labels of
        // one grain compare as text in time order).
        let first = ind
            .versions
            .iter()
            .rposition(|v| v.backcast)
            .map_or(1, |i| i + 2) as u32;
        let last = ind.definitions();
        let mut parts = Vec::new();
        for n in first..=last {
            let name = format!("{}@{n}", ind.id);
            let body = body_of(&ind.definition(n))?;
            ctes.push(format!("{} AS (\n  {body}\n)", dialect.ident(&name)));
            let mut cond = Vec::new();
            let start = |k| backbone_workspace::definitions::start_of(ind, k, fm);
            if let Some(p) = start(n).filter(|_| n > first) {
                cond.push(format!("period >= {}", dialect.text(&p.label())));
            }
            if let Some(p) = start(n + 1).filter(|_| n < last) {
                cond.push(format!("period < {}", dialect.text(&p.label())));
            }
            parts.push(format!(
                "SELECT * FROM {}{}",
                dialect.ident(&name),
                if cond.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", cond.join(" AND "))
                }
            ));
        }
        ctes.push(format!(
            "{} AS (\n  {}\n)",
            dialect.ident(&ind.id),
            parts.join("\n  UNION ALL ")
        ));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- backbone sql: the indicators of {}, for {}.",
        decl.initiative.name.get("en"),
        match dialect {
            Dialect::DuckDb => "DuckDB (INSTALL delta; LOAD delta;)",
            Dialect::Spark =>
                "Spark SQL with Delta Lake (Databricks, or spark-sql with delta-spark)",
        }
    );
    let _ = writeln!(
        out,
        "-- Values before disclosure control: `small` marks cells below the threshold; backbone's\n-- published results also hide the cells that would reveal them. Publish those, not these.\n-- Declarations' fingerprint: {}",
        decl.fingerprint
    );
    let mut with: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "{} AS (SELECT * FROM {})",
                dialect.ident(&format!("table {t}")),
                dialect.table(&location(t))
            )
        })
        .collect();
    with.extend(ctes);
    let _ = writeln!(out, "WITH\n{}", with.join(",\n"));
    let selects: Vec<String> = wanted
        .iter()
        .map(|i| {
            format!(
                "SELECT {} AS indicator, period, breakdown, CAST(value AS DOUBLE) AS value, CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator, small FROM {}",
                dialect.text(&i.id),
                dialect.ident(&i.id)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "{}\nORDER BY indicator, period, breakdown;",
        selects.join("\nUNION ALL\n")
    );
    Ok(out)
}

/// One side's cells: `period, breakdown, value, units` (units: what the threshold is about:
/// the count itself, the rows with a value behind a sum or a mean, or, over a table of
/// figures, the sum itself).
fn side(
    dialect: Dialect,
    ind: &Indicator,
    measure: Option<&Measure>,
    first_month: u32,
    tables: &mut BTreeSet<String>,
    aggregate: &BTreeSet<String>,
) -> String {
    let kind = measure.map_or(ind.kind, |m| m.kind);
    let field = measure.map_or(ind.field.as_deref(), |m| m.field.as_deref());
    let filter = measure
        .map_or(ind.filter.as_deref(), |m| m.filter.as_deref())
        .filter(|f| !f.trim().is_empty());
    let schema = measure
        .and_then(|m| m.schema.clone())
        .unwrap_or_else(|| ind.schema.clone());
    tables.insert(schema.clone());
    let date = dialect.ident(ind.date_field_of(measure).unwrap_or("date"));
    let f = field.map_or_else(|| "NULL".to_owned(), |f| dialect.ident(f));
    let (value, units) = match kind {
        Kind::DistinctCount => (
            format!("COUNT(DISTINCT {f})"),
            format!("COUNT(DISTINCT {f})"),
        ),
        Kind::Sum if aggregate.contains(&schema) => (
            format!("COALESCE(SUM(CAST({f} AS DOUBLE)), 0)"),
            format!("ROUND(COALESCE(SUM(CAST({f} AS DOUBLE)), 0))"),
        ),
        Kind::Sum => (
            format!("COALESCE(SUM(CAST({f} AS DOUBLE)), 0)"),
            format!("COUNT({f})"),
        ),
        Kind::Mean => (format!("AVG(CAST({f} AS DOUBLE))"), format!("COUNT({f})")),
        _ => ("COUNT(*)".to_owned(), "COUNT(*)".to_owned()),
    };
    let period = period_label(dialect, &date, ind.grain);
    let mut filters = vec![format!("{date} IS NOT NULL")];
    if let Some(f) = filter {
        filters.push(format!("({f})"));
    }
    // Months since year 0, shifted so that the reporting year starts at 0.
    let months = format!("year({date}) * 12 + month({date}) - {}", first_month);
    let from = format!(
        "(SELECT *, {months} AS __k FROM {} WHERE {})",
        dialect.ident(&format!("table {schema}")),
        filters.join(" AND ")
    );
    let mut levels = vec![format!(
        "SELECT {period} AS period, '' AS breakdown, CAST({value} AS DOUBLE) AS value, {units} AS units FROM {from} r GROUP BY 1"
    )];
    for d in &ind.dimensions {
        levels.push(format!(
            "SELECT {period} AS period, {} AS breakdown, CAST({value} AS DOUBLE) AS value, {units} AS units FROM {from} r GROUP BY 1, 2",
            labelled(dialect, d, &dimension(dialect, ind, d))
        ));
    }
    levels.join("\n    UNION ALL ")
}

/// `dim=value`, `(missing)` for an empty value.
fn labelled(dialect: Dialect, name: &str, expr: &str) -> String {
    format!(
        "{} || COALESCE({expr}, '(missing)')",
        dialect.text(&format!("{name}="))
    )
}

/// A breakdown value as text: the partner, a band's label, or the field.
fn dimension(dialect: Dialect, ind: &Indicator, name: &str) -> String {
    if name == "partner" {
        return dialect.ident(crate::PARTNER);
    }
    if let Some(band) = ind.bands.get(name) {
        let f = format!("CAST({} AS DOUBLE)", dialect.ident(&band.field));
        let mut case = format!("CASE WHEN {f} IS NULL THEN NULL");
        for (i, e) in band.edges.iter().enumerate().rev() {
            let _ = write!(
                case,
                " WHEN {f} >= {e:?} THEN {}",
                dialect.text(&band.label(band.edges.get(i).copied().unwrap_or(*e)))
            );
        }
        let below = band.edges.first().map_or(0.0, |e| e - 1.0);
        let _ = write!(case, " ELSE {} END", dialect.text(&band.label(below)));
        return case;
    }
    format!("CAST({} AS {})", dialect.ident(name), dialect.string_type())
}

/// The period label of a row, as the workspace's `Period` writes it (`__k`: the row's months
/// since year 0, the reporting year starting at 0).
fn period_label(dialect: Dialect, date: &str, grain: Grain) -> String {
    let fmt = dialect.format();
    if grain == Grain::Month {
        return format!("{fmt}('%04d-%02d', year({date}), month({date}))");
    }
    let year = "CAST(floor(__k / 12.0) AS INT)";
    let index = format!(
        "CAST(floor((__k - floor(__k / 12.0) * 12) / {:.1}) AS INT) + 1",
        grain.months() as f64
    );
    match grain {
        Grain::Quarter => format!("{fmt}('%04d-Q%d', {year}, {index})"),
        Grain::HalfYear => format!("{fmt}('%04d-H%d', {year}, {index})"),
        _ => format!("{fmt}('%04d', {year})"),
    }
}

/// A formula with each indicator id replaced by that indicator's value column.
fn substitute(formula: &str, ids: &[String], dialect: Dialect) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let mut in_text = false;
    let flush = |word: &mut String, out: &mut String| {
        if ids.iter().any(|i| i == word) {
            let _ = write!(out, "{}.value", dialect.ident(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in formula.chars() {
        if !in_text && (c.is_ascii_alphanumeric() || c == '_') {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if c == '\'' {
            in_text = !in_text;
        }
        out.push(c);
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_reads_its_inputs_values() {
        let ids = vec!["referrals".to_owned(), "people_reached".to_owned()];
        assert_eq!(
            substitute(
                "(referrals - people_reached) * 100.0 / people_reached",
                &ids,
                Dialect::DuckDb
            ),
            "(\"referrals\".value - \"people_reached\".value) * 100.0 / \"people_reached\".value"
        );
        assert_eq!(
            substitute("referrals / 2", &ids, Dialect::Spark),
            "`referrals`.value / 2"
        );
    }

    #[test]
    fn periods_are_labelled_as_the_workspace_writes_them() {
        let q = period_label(Dialect::DuckDb, "d", Grain::Quarter);
        assert!(q.starts_with("printf('%04d-Q%d'"), "{q}");
        assert!(q.contains("/ 3.0"), "{q}");
        assert!(period_label(Dialect::Spark, "d", Grain::Month).starts_with("format_string("));
    }
}
