//! `reminders.csv`: partners whose submissions are overdue or due within a week, with their
//! contact, from the completeness table just computed.

use std::collections::BTreeMap;

use backbone_schema::Initiative;
use backbone_workspace::tables::{ExpectedRow, files};
use backbone_workspace::{Layout, clock};

use crate::PipelineError;

/// Writes `reminders.csv`; returns how many reminders it holds.
pub fn write(layout: &Layout, initiative: &Initiative) -> Result<usize, PipelineError> {
    let path = layout.results().join(files::COMPLETENESS_CSV);
    if !path.is_file() {
        return Ok(0);
    }
    let today = clock::today();
    let mut rows: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for e in ExpectedRow::read(&path)? {
        let due_date = chrono::NaiveDate::parse_from_str(&e.due, "%Y-%m-%d").ok();
        let what = match e.status.as_str() {
            "missing" => "overdue",
            "not_due" if due_date.is_some_and(|d| d <= today + chrono::Duration::days(7)) => {
                if due_date.is_some_and(|d| d < today) {
                    "overdue"
                } else {
                    "due soon"
                }
            }
            _ => continue,
        };
        let p = initiative.partner(&e.partner);
        rows.insert(
            (e.partner.clone(), e.schema.clone(), e.period.clone()),
            vec![
                e.partner.clone(),
                p.map(|p| p.name.get("he").to_owned()).unwrap_or_default(),
                p.map(|p| p.contact.clone()).unwrap_or_default(),
                e.schema,
                e.period,
                e.due,
                what.to_owned(),
            ],
        );
    }
    let out = layout.reminders();
    let io = |e: csv::Error| PipelineError::io("writing", &out, std::io::Error::other(e));
    let mut w = csv::Writer::from_path(&out).map_err(io)?;
    w.write_record([
        "partner", "name", "contact", "schema", "period", "due", "status",
    ])
    .map_err(io)?;
    for r in rows.values() {
        w.write_record(r).map_err(io)?;
    }
    w.flush()
        .map_err(|e| PipelineError::io("writing", &out, e))?;
    Ok(rows.len())
}
