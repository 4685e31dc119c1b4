//! The store's life cycle as the data manager runs it: compaction (`backbone optimize`, and
//! the night when enough small files have piled up) and the initiative's `[retention]`
//! (`backbone vacuum`).

use std::path::Path;

use backbone_store::{Compacted, Store, Swept, Vacuumed};
use backbone_workspace::{Declarations, Layout, clock};
use chrono::{DateTime, Utc};

use crate::PipelineError;

/// The night compacts when a table has at least this many small files to merge.
pub const NIGHT_COMPACTION: usize = 32;

/// Compacts every table with at least `at_least` small files to merge (see
/// [`Store::optimize`]).
pub fn optimize(store: &Store, at_least: usize) -> Result<Vec<Compacted>, PipelineError> {
    Ok(store.optimize(at_least)?)
}

/// One line per table compacted, or whose statistics were trimmed.
pub fn compacted_text(done: &[Compacted]) -> String {
    if done.is_empty() {
        return "nothing to compact: no partition holds two or more small files".into();
    }
    done.iter()
        .map(|c| {
            let mut said = Vec::new();
            if c.files_before > 0 {
                said.push(format!(
                    "{} small file(s) in {} partition(s) rewritten as {}",
                    c.files_before, c.partitions, c.files_after
                ));
            }
            if let Some(cut) = &c.statistics_cut {
                said.push(format!(
                    "statistics cut to {} ({} file(s) added again)",
                    if cut.columns.is_empty() {
                        "row counts".to_owned()
                    } else {
                        cut.columns.join(", ")
                    },
                    cut.files
                ));
            }
            format!(
                "{}: {} (version {}; no row changed)",
                c.table,
                said.join("; "),
                c.version
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a vacuum did, or would do.
#[derive(Debug, Default)]
pub struct Vacuum {
    /// Per table: superseded data files removed.
    pub tables: Vec<Vacuumed>,
    /// The retention of superseded files, when declared.
    pub superseded: Option<String>,
    /// Raw files removed from `archive/`.
    pub archive: Swept,
    /// Raw files removed from `processed/`.
    pub processed: Swept,
    /// The retention of raw files, when declared.
    pub raw: Option<String>,
    /// Per table: data files of older versions that held an erased person.
    pub erased: Vec<Vacuumed>,
    /// Nothing was removed: only said.
    pub dry_run: bool,
}

impl Vacuum {
    /// The data manager's lines.
    pub fn text(&self) -> String {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        let mut out = Vec::new();
        match &self.superseded {
            None => out.push(
                "superseded data files: kept for ever ([retention] superseded_files is not set)"
                    .to_owned(),
            ),
            Some(span) => {
                let files: usize = self.tables.iter().map(|t| t.files).sum();
                out.push(format!(
                    "superseded data files older than {span}: {verb} {files}"
                ));
                for t in self.tables.iter().filter(|t| t.files > 0) {
                    out.push(format!(
                        "  {}: {} file(s); versions from {} on stay readable",
                        t.table, t.files, t.oldest_kept
                    ));
                }
            }
        }
        for e in &self.erased {
            out.push(format!(
                "{}: {verb} {} file(s) of older versions that held an erased person ({}); \
                 versions from {} on stay readable",
                e.table, e.files, e.reason, e.oldest_kept
            ));
        }
        match &self.raw {
            None => out.push(
                "raw partner files: kept for ever ([retention] raw_files is not set)".to_owned(),
            ),
            Some(span) => out.push(format!(
                "raw partner files last received more than {span} ago: {verb} {} from archive/ \
                 and {} from processed/ ({} bytes)",
                self.archive.files,
                self.processed.files,
                self.archive.bytes + self.processed.bytes
            )),
        }
        out.join("\n")
    }
}

/// Applies the initiative's `[retention]` at the workspace clock's now.
pub fn vacuum(layout: &Layout, dry_run: bool) -> Result<Vacuum, PipelineError> {
    let decl = Declarations::load(layout)?;
    let retention = &decl.initiative.retention;
    let now = DateTime::parse_from_rfc3339(&clock::now_rfc3339())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    let store = crate::open_store(layout)?;
    let mut out = Vacuum {
        dry_run,
        ..Vacuum::default()
    };
    // An erased person's rows in older versions go whatever the retention.
    out.erased = store.vacuum_erasures(now, dry_run)?;
    if let Some(span) = retention.superseded_files {
        out.superseded = Some(span.to_string());
        out.tables = store.vacuum(span.before(now), now, &span.to_string(), dry_run)?;
    }
    if let Some(span) = retention.raw_files {
        out.raw = Some(span.to_string());
        let horizon = span.before(now);
        out.archive = store.expire_raw(horizon, dry_run)?;
        out.processed = expire_processed(&layout.root().join("processed"), horizon, dry_run)?;
    }
    Ok(out)
}

/// Files under `processed/` last changed before `horizon`.
fn expire_processed(
    dir: &Path,
    horizon: DateTime<Utc>,
    dry_run: bool,
) -> Result<Swept, PipelineError> {
    let mut swept = Swept::default();
    let Ok(partners) = std::fs::read_dir(dir) else {
        return Ok(swept);
    };
    for partner in partners.filter_map(Result::ok) {
        let Ok(files) = std::fs::read_dir(partner.path()) else {
            continue;
        };
        for f in files.filter_map(Result::ok) {
            let Ok(meta) = f.path().symlink_metadata() else {
                continue;
            };
            let changed = meta
                .modified()
                .map(DateTime::<Utc>::from)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if meta.is_file() && changed < horizon {
                if !dry_run {
                    std::fs::remove_file(f.path())
                        .map_err(|e| PipelineError::io("removing", &f.path(), e))?;
                }
                swept.files += 1;
                swept.bytes += meta.len();
            }
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backbone_store::StatisticsCut;

    #[test]
    fn what_optimize_did_is_said_per_table() {
        let cut = |columns: &[&str], files| StatisticsCut {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            files,
        };
        let done = [
            Compacted {
                table: "service_records".into(),
                version: 12_031,
                partitions: 0,
                files_before: 0,
                files_after: 0,
                statistics_cut: Some(cut(&["service_date"], 12_000)),
            },
            Compacted {
                table: "rejects".into(),
                version: 40,
                partitions: 3,
                files_before: 33,
                files_after: 3,
                statistics_cut: None,
            },
            Compacted {
                table: "submissions".into(),
                version: 41,
                partitions: 1,
                files_before: 8,
                files_after: 1,
                statistics_cut: Some(cut(&[], 0)),
            },
        ];
        assert_eq!(
            compacted_text(&done),
            "service_records: statistics cut to service_date (12000 file(s) added again) \
             (version 12031; no row changed)\n\
             rejects: 33 small file(s) in 3 partition(s) rewritten as 3 (version 40; no row \
             changed)\n\
             submissions: 8 small file(s) in 1 partition(s) rewritten as 1; statistics cut to \
             row counts (0 file(s) added again) (version 41; no row changed)"
        );
        assert_eq!(
            compacted_text(&[]),
            "nothing to compact: no partition holds two or more small files"
        );
    }
}
