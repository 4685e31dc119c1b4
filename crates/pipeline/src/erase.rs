//! `backbone erase`: one person leaves the workspace. Their identifier is pseudonymised with
//! the workspace key; every raw file of the schema (archived and processed copies) is searched
//! for it and rewritten without their rows (a spreadsheet that holds them is removed); their
//! rows leave the current version of the table and the problems of their rejected rows leave
//! `rejects`, one commit each; the data files of older versions that hold them are named for
//! `backbone vacuum`; the results and the report are computed again. The erasure is recorded
//! (in the table's log) with a keyed hash of the pseudonym, never the identifier or the
//! pseudonym itself.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use backbone_ingest::redact::{Redaction, redact};
use backbone_store::{Erasure, Redacted};
use backbone_workspace::{Declarations, Layout, clock, resolve_schema};

use crate::{PipelineError, open_store, pseudonymiser};

/// What an erasure did.
#[derive(Debug)]
pub struct Erased {
    /// The record committed.
    pub erasure: Erasure,
    /// The table version that recorded it.
    pub version: u64,
    /// Copies under `processed/` rewritten or removed.
    pub processed: usize,
    /// Files still waiting in the inbox that hold the person (not read: they are not in the
    /// store yet; the night would ingest them).
    pub waiting: Vec<String>,
    /// The results' one line, when they were computed again.
    pub metrics: Option<String>,
}

/// Erases the person whose identifier (as partners write it) is `id` from `schema`.
pub fn erase(layout: &Layout, schema: &str, id: &str) -> Result<Erased, PipelineError> {
    let _lock = crate::hold_run_lock(layout, "erasing")?;
    let decl = Declarations::load(layout)?;
    let table = resolve_schema(layout, schema)?;
    let columns = table.personal_fields();
    if columns.is_empty() {
        return Err(PipelineError::Erase(format!(
            "schema {} has no personal-data field (x-pii): there is no identifier to erase by",
            table.name
        )));
    }
    let keyed = pseudonymiser(layout)?;
    let pseudonym = keyed.pseudonym(id);
    let is_person = |cell: &str| keyed.pseudonym_hex(cell) == pseudonym.as_bytes();
    let store = open_store(layout)?;
    let submissions = store.submissions(&table.name, None)?;
    if submissions.is_empty() {
        return Err(PipelineError::Erase(format!(
            "table {} has no submission: nothing to erase",
            table.name
        )));
    }
    // The raw files: each once, read as its partner's profile reads it.
    let mut by_sha: BTreeMap<String, Vec<&backbone_store::Submission>> = BTreeMap::new();
    for s in &submissions {
        by_sha.entry(s.sha256.clone()).or_default().push(s);
    }
    let mut raw_files = Vec::new();
    let mut rejected: Vec<(String, u64)> = Vec::new();
    let mut new_bytes: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    for (sha, subs) in &by_sha {
        let Some(path) = store.archived(sha) else {
            continue;
        };
        let profile = profile_of(layout, &subs[0].partner)?;
        let encoding = profile.as_ref().and_then(|p| p.encoding.clone());
        let delimiter = profile
            .as_ref()
            .and_then(backbone_schema::Profile::delimiter_byte);
        let found = redact(&path, encoding.as_deref(), delimiter, &is_person)?;
        let (how, rows, bytes) = match found {
            Redaction::Absent => continue,
            Redaction::Rewritten { bytes, rows } => ("rewritten", rows, Some(bytes)),
            Redaction::InSpreadsheet { rows } => ("removed", rows, None),
        };
        for s in subs {
            rejected.extend(rows.iter().map(|r| (s.id.clone(), *r)));
        }
        store.redact_archived(sha, bytes.as_deref())?;
        new_bytes.insert(sha.clone(), bytes);
        raw_files.push(Redacted {
            sha256: sha.clone(),
            how: how.into(),
            rows,
        });
    }
    // The night's copies of the same files.
    let mut processed = 0;
    let partners: std::collections::BTreeSet<&str> =
        submissions.iter().map(|s| s.partner.as_str()).collect();
    for partner in &partners {
        for f in files_in(&layout.processed_of(partner)) {
            let Ok(sha) = backbone_store::sha256_of(&f) else {
                continue;
            };
            if let Some(bytes) = new_bytes.get(&sha) {
                match bytes {
                    Some(b) => std::fs::write(&f, b),
                    None => std::fs::remove_file(&f),
                }
                .map_err(|e| PipelineError::io("redacting", &f, e))?;
                processed += 1;
            }
        }
    }
    // Files waiting in the inbox are not in the store: named, not changed.
    let mut waiting = Vec::new();
    for p in &decl.initiative.partners {
        for f in files_in(&layout.inbox_of(&p.id)) {
            if !matches!(
                redact(&f, None, None, &is_person),
                Ok(Redaction::Absent) | Err(_)
            ) {
                waiting.push(format!(
                    "{}/{}",
                    p.id,
                    f.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ));
            }
        }
    }
    let record = Erasure {
        tag: keyed.pseudonym(&format!("erasure {pseudonym}")),
        at: clock::now_rfc3339(),
        schema: table.name.clone(),
        raw_files,
        ..Erasure::default()
    };
    let done = store.erase(&table.name, &columns, &pseudonym, record, &rejected)?;
    drop(store);
    let metrics = crate::recompute_published(layout, &decl)?;
    Ok(Erased {
        erasure: done.erasure,
        version: done.version,
        processed,
        waiting,
        metrics,
    })
}

fn profile_of(
    layout: &Layout,
    partner: &str,
) -> Result<Option<backbone_schema::Profile>, PipelineError> {
    match layout.profile(partner) {
        Some(p) if p.is_file() => Ok(Some(backbone_schema::Profile::load(&p)?)),
        _ => Ok(None),
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_file()))
                .collect()
        })
        .unwrap_or_default()
}

/// The data manager's lines.
pub fn erased_text(e: &Erased) -> String {
    let r = &e.erasure;
    let mut out = vec![format!(
        "erased from {} (version {}): {} row(s) of {} submission(s) in the current version, {} rejected-row problem(s)",
        r.schema,
        e.version,
        r.rows,
        r.submissions.len(),
        r.rejects
    )];
    let rewritten = r.raw_files.iter().filter(|f| f.how == "rewritten").count();
    let removed = r.raw_files.len() - rewritten;
    out.push(format!(
        "raw files: {rewritten} rewritten without their rows, {removed} spreadsheet(s) removed; {} copy(ies) in processed/ likewise",
        e.processed
    ));
    if r.older_files.is_empty() {
        out.push("no older version holds them".into());
    } else {
        out.push(format!(
            "{} data file(s) of older versions still hold them: run `backbone vacuum` to remove them (those versions then can no longer be read)",
            r.older_files.len()
        ));
    }
    for w in &e.waiting {
        out.push(format!("waiting in the inbox and not read: {w} holds them; the night will ingest it unless it is corrected"));
    }
    if let Some(m) = &e.metrics {
        out.push(format!("results computed again: {m}"));
    }
    out.push(format!(
        "recorded as {} (a keyed hash; the identifier is kept nowhere)",
        r.tag
    ));
    out.join("\n")
}
