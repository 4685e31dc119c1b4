//! Period approval: a period the data manager has closed (`backbone close 2024-Q2`) takes no
//! more changes by itself. A file that arrives later for it is validated and receipted as
//! usual, then held, not applied, until the data manager approves it (`backbone approve
//! SUBMISSION`). The committee's published numbers for a closed period move only by a
//! decision.
//!
//! State: `.backbone/closed.json` (the closed periods, when and by whom closed) and
//! `.backbone/held/<submission>.json` (each held file: enough to ingest it on approval; its
//! bytes are in the store's archive under their hash).

use std::path::PathBuf;

use backbone_workspace::{Layout, Period};
use serde::{Deserialize, Serialize};

use crate::PipelineError;

/// One closed period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClosedPeriod {
    /// Its label (`2024-Q2`).
    pub period: String,
    /// When it was closed (RFC 3339).
    pub closed: String,
}

/// A submission held because its period is closed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// The submission id it will have when applied.
    pub id: String,
    /// The partner.
    pub partner: String,
    /// The table.
    pub schema: String,
    /// The period the file is for.
    pub period: String,
    /// The closed period it falls in.
    pub closed_period: String,
    /// The file's name as received.
    pub file_name: String,
    /// Its bytes' hash (the store's archive keeps them).
    pub sha256: String,
    /// When it was received.
    pub received: String,
    /// Rows read, accepted and rejected by its validation.
    pub rows: (u64, u64, u64),
}

fn closed_path(layout: &Layout) -> PathBuf {
    layout.private().join("closed.json")
}

fn held_dir(layout: &Layout) -> PathBuf {
    layout.private().join("held")
}

/// The closed periods, in the order they were closed.
pub fn closed_periods(layout: &Layout) -> Vec<ClosedPeriod> {
    std::fs::read_to_string(closed_path(layout))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_json<T: Serialize>(path: &std::path::Path, value: &T) -> Result<(), PipelineError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io("creating", dir, e))?;
    }
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n").map_err(|e| PipelineError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| PipelineError::io("writing", path, e))
}

/// Closes `period` (or reopens it), at `now`. Returns what changed, in words.
pub fn close(
    layout: &Layout,
    period: &str,
    reopen: bool,
    now: &str,
) -> Result<String, PipelineError> {
    let Some(p) = Period::parse(period) else {
        return Err(PipelineError::Approval(format!(
            "{period:?} is not a period (2024-03, 2024-Q2, 2024-H1, 2024)"
        )));
    };
    let label = p.label();
    let mut closed = closed_periods(layout);
    let was = closed.iter().any(|c| c.period == label);
    let said = match (reopen, was) {
        (false, true) => format!("{label} was already closed"),
        (false, false) => {
            closed.push(ClosedPeriod {
                period: label.clone(),
                closed: now.to_owned(),
            });
            format!("{label} is closed: files for it are now checked and held until approved")
        }
        (true, true) => {
            closed.retain(|c| c.period != label);
            format!("{label} is open again; files held for it stay held until approved")
        }
        (true, false) => format!("{label} was not closed"),
    };
    write_json(&closed_path(layout), &closed)?;
    Ok(said)
}

/// The closed period a file for `period` falls in (any month in common), if any.
pub fn closed_for(layout: &Layout, period: &str) -> Option<String> {
    let p = Period::parse(period)?;
    closed_periods(layout).into_iter().find_map(|c| {
        let q = Period::parse(&c.period)?;
        (!(p.before(q) || p.after(q))).then_some(c.period)
    })
}

/// Records a held submission.
pub fn hold(layout: &Layout, held: &Held) -> Result<(), PipelineError> {
    write_json(&held_dir(layout).join(format!("{}.json", held.id)), held)
}

/// Every held submission, oldest received first.
pub fn held(layout: &Layout) -> Vec<Held> {
    let mut out: Vec<Held> = std::fs::read_dir(held_dir(layout))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    out.sort_by(|a: &Held, b: &Held| (&a.received, &a.id).cmp(&(&b.received, &b.id)));
    out
}

/// The held submission `id`, taken off the held list (the caller ingests it).
pub fn release(layout: &Layout, id: &str) -> Result<Held, PipelineError> {
    let path = held_dir(layout).join(format!("{id}.json"));
    let Some(h) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Held>(&t).ok())
    else {
        let ids: Vec<String> = held(layout).into_iter().map(|h| h.id).collect();
        return Err(PipelineError::Approval(if ids.is_empty() {
            format!("no submission {id:?} is held (none is)")
        } else {
            format!("no submission {id:?} is held; held: {}", ids.join(", "))
        }));
    };
    std::fs::remove_file(&path).map_err(|e| PipelineError::io("removing", &path, e))?;
    Ok(h)
}

/// What an approval did.
#[derive(Debug)]
pub struct Approved {
    /// The ingest of the held file.
    pub ingested: crate::Ingested,
    /// The receipt written for the partner (the file applied).
    pub receipt: Option<String>,
    /// The results' one line, when results were computed again.
    pub metrics: Option<String>,
}

/// Applies a held submission: its archived bytes ingested as they were received, the
/// partner's receipt written again (applied now), the published results computed again.
/// Holds the run lock, so a night never runs beside it.
pub fn approve(
    layout: &Layout,
    id: &str,
    isolation: Option<backbone_ingest::isolate::Isolation>,
) -> Result<Approved, PipelineError> {
    let _lock = crate::hold_run_lock(layout, "approving a held submission")?;
    let decl = backbone_workspace::Declarations::load(layout)?;
    let held = release(layout, id)?;
    let store = crate::open_store(layout)?;
    let Some(file) = store.archived(&held.sha256) else {
        // Put it back: nothing was applied.
        hold(layout, &held)?;
        return Err(PipelineError::Approval(format!(
            "the bytes of {id} ({}) are not in the archive; nothing was applied",
            held.file_name
        )));
    };
    // The archived copy under the name the partner gave it, so the ledger and the receipt
    // say that name.
    let dir = layout.private().join("approving").join(&held.id);
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io("creating", &dir, e))?;
    let named = dir.join(&held.file_name);
    std::fs::copy(&file, &named).map_err(|e| PipelineError::io("copying", &file, e))?;
    let request = crate::IngestRequest {
        file: named,
        partner: held.partner.clone(),
        schema: held.schema.clone(),
        period: held.period.clone(),
        profile: layout.profile(&held.partner),
        isolation,
        approved: true,
    };
    let ingested = crate::ingest_file(layout, &store, &request, held.received.clone());
    let _ = std::fs::remove_dir_all(&dir);
    let ingested = match ingested {
        Ok(i) => i,
        Err(e) => {
            hold(layout, &held)?;
            return Err(e);
        }
    };
    drop(store);
    let mut receipt = None;
    if let crate::Ingested::Stored {
        submission, report, ..
    } = &ingested
    {
        let language = decl
            .initiative
            .partner(&held.partner)
            .map(|x| x.language.clone())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "he".into());
        receipt = Some(crate::receipts::receipt(
            layout, &decl, submission, report, &language,
        )?);
    }
    let metrics = crate::recompute_published(layout, &decl)?;
    Ok(Approved {
        ingested,
        receipt,
        metrics,
    })
}
