//! `backbone explain`: the submissions and rows behind one value.

use super::*;

/// One side of an indicator (`value`, `numerator`, `denominator`) and the submissions behind
/// it, each with the number of its rows used.
pub type Lineage = (String, Vec<(Submission, u64)>);

/// The submissions behind one value: (submission, rows of it used), per side of the indicator
/// (`value`, or `numerator` and `denominator`).
pub fn explain(
    store: &Store,
    decl: &Declarations,
    as_of: &AsOf,
    indicator: &str,
    period: &str,
    breakdown: &str,
) -> Result<Vec<Lineage>, MetricsError> {
    let ind = decl
        .indicators
        .iter()
        .map(|(_, i)| i)
        .find(|i| i.id == indicator)
        .ok_or_else(|| {
            MetricsError::compute(
                indicator,
                format!(
                    "no such indicator; there are: {}",
                    decl.indicators
                        .iter()
                        .map(|(_, i)| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let key = compute::parse_period(ind.grain, period).ok_or_else(|| {
        MetricsError::compute(
            indicator,
            format!(
                "{period:?} is not a {:?} period (e.g. {})",
                ind.grain,
                compute::period_label(ind.grain, 202401)
            ),
        )
    })?;
    // The definition in force for that period.
    let definition = backbone_workspace::Period::from_key(ind.grain, key).map_or(1, |p| {
        backbone_workspace::definitions::definition_for(ind, p, decl.initiative.first_month)
    });
    let resolved = ind.definition(definition);
    let ind = &resolved;
    let sides: Vec<(&str, Option<&backbone_schema::Measure>)> = match ind.kind {
        Kind::Ratio => vec![
            ("numerator", ind.numerator.as_ref()),
            ("denominator", ind.denominator.as_ref()),
        ],
        Kind::Rate => vec![("numerator", ind.numerator.as_ref())],
        Kind::Derived => {
            return Err(MetricsError::compute(
                indicator,
                "a derived indicator is computed from other indicators: explain those",
            ));
        }
        _ => vec![("value", None)],
    };
    let mut out = Vec::new();
    for (name, m) in sides {
        let schema = m.and_then(|m| m.schema.as_deref()).unwrap_or(&ind.schema);
        let ranges = compute::period_ranges(ind, m, key, decl.initiative.first_month);
        let Some((v, Some(rows))) =
            scan(store, schema, as_of.0.get(schema).copied(), Some(&ranges))?
        else {
            out.push((name.to_owned(), Vec::new()));
            continue;
        };
        let ledger = store.submissions(schema, Some(v))?;
        let used = compute::contributions(
            &rows.batches,
            ind,
            m,
            decl.initiative.first_month,
            key,
            breakdown,
        )?;
        let mut rows: Vec<(Submission, u64)> = used
            .into_iter()
            .filter_map(|(id, n)| Some((ledger.iter().find(|s| s.id == id)?.clone(), n)))
            .collect();
        rows.sort_by(|a, b| {
            a.0.partner
                .cmp(&b.0.partner)
                .then(a.0.period.cmp(&b.0.period))
        });
        out.push((name.to_owned(), rows));
    }
    Ok(out)
}
