//! `backbone rekey`: the pseudonym key leaked, so every pseudonym in the store is rewritten
//! under a new key, one commit per table, and new files are pseudonymised the same way.
//!
//! No identifier is needed: the new pseudonym of a person is `HMAC(new key, old pseudonym)`,
//! and the pseudonymiser applies the rotation after the first key for every file ingested
//! from now on (`.backbone/rotations.key`), so a person keeps one pseudonym across the years
//! and distinct counts stay exact. The leaked key alone no longer finds anybody: it gives
//! `HMAC(k₁, id)`, which is in no current file. The data files of older versions still hold
//! the old pseudonyms; `backbone vacuum` removes them (and those versions can no longer be
//! read). The `rejects` table holds no pseudonym (personal cells are never kept there).
//!
//! Resumable: the new key is written aside first (`rotations.key.next`), each table's commit
//! records the key's fingerprint, and the key takes effect (a rename) only when every table
//! is rewritten; a rotation interrupted half way is finished by running it again.

use backbone_ingest::{ROTATION_KEY_BYTES, Rotation};
use backbone_store::Rekeyed;
use backbone_workspace::{Declarations, Layout, clock, rotation_keys, write_private};
use sha2::{Digest, Sha256};

use crate::{PipelineError, open_store};

/// What a rotation did.
#[derive(Debug, Default)]
pub struct Rekey {
    /// Per table: the version made and the rows rewritten (`None`: done by an earlier run).
    pub tables: Vec<(String, Option<u64>, u64)>,
    /// The rotations now in force.
    pub rotations: usize,
    /// The results' one line, when they were computed again.
    pub metrics: Option<String>,
}

/// Rotates the pseudonym key.
pub fn rekey(layout: &Layout) -> Result<Rekey, PipelineError> {
    let _lock = crate::hold_run_lock(layout, "rotating the key")?;
    let decl = Declarations::load(layout)?;
    // The key of the first ingest must exist: a store without one has nothing to rotate.
    let _ = crate::pseudonymiser(layout)?;
    let current = rotation_keys(layout)?;
    let next_path = layout.rotation_keys().with_extension("key.next");
    // A rotation interrupted half way is finished with the key it had started with.
    let next = match std::fs::read(&next_path) {
        Ok(bytes)
            if bytes.len() == current.len() + ROTATION_KEY_BYTES && bytes.starts_with(&current) =>
        {
            bytes
        }
        _ => {
            let mut key = [0u8; ROTATION_KEY_BYTES];
            getrandom::fill(&mut key)
                .map_err(|e| PipelineError::Erase(format!("no randomness for the new key: {e}")))?;
            let mut bytes = current.clone();
            bytes.extend_from_slice(&key);
            let _ = std::fs::remove_file(&next_path);
            write_private(&next_path, &bytes)
                .map_err(|e| PipelineError::io("writing", &next_path, e))?;
            bytes
        }
    };
    let key = &next[current.len()..];
    let rotation = Rotation::new(key).ok_or_else(|| PipelineError::ShortKey {
        path: next_path.display().to_string(),
    })?;
    let fingerprint: String = Sha256::digest(key)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let store = open_store(layout)?;
    let mut out = Rekey::default();
    for schema in store.schemas()? {
        let Some(table) = decl.schemas.get(&schema) else {
            continue;
        };
        let columns = table.personal_fields();
        if columns.is_empty() {
            continue;
        }
        let record = Rekeyed {
            key: fingerprint.clone(),
            at: clock::now_rfc3339(),
            ..Rekeyed::default()
        };
        let version = store.rekey(&schema, &columns, &|p| rotation.apply_str(p), record)?;
        let rows = match version {
            Some(v) => store
                .history(&schema, Some(v))?
                .last()
                .and_then(|v| v.rekey.as_ref())
                .map_or(0, |r| r.rows),
            None => 0,
        };
        out.tables.push((schema, version, rows));
    }
    drop(store);
    let path = layout.rotation_keys();
    std::fs::rename(&next_path, &path).map_err(|e| PipelineError::io("moving", &next_path, e))?;
    out.rotations = next.len() / ROTATION_KEY_BYTES;
    out.metrics = crate::recompute_published(layout, &decl)?;
    Ok(out)
}

/// The data manager's lines.
pub fn rekey_text(r: &Rekey) -> String {
    let mut out = Vec::new();
    for (table, version, rows) in &r.tables {
        out.push(match version {
            Some(v) => format!("{table}: {rows} row(s) re-pseudonymised (version {v})"),
            None => format!("{table}: already re-pseudonymised under this key"),
        });
    }
    if r.tables.is_empty() {
        out.push("no table holds personal data: nothing to rewrite".into());
    }
    out.push(format!(
        "the key has been rotated {} time(s); files ingested from now on get the same pseudonyms",
        r.rotations
    ));
    out.push("older versions' files still hold the old pseudonyms: run `backbone vacuum` to remove them (those versions then can no longer be read)".into());
    if let Some(m) = &r.metrics {
        out.push(format!("results computed again: {m}"));
    }
    out.join("\n")
}
