//! What the data manager declared: schemas, indicators, the initiative, and their fingerprint.

use std::collections::{BTreeMap, BTreeSet};

use backbone_schema::{Indicator, Initiative, SchemaError, TableSchema};
use sha2::Digest;

use crate::{Layout, WorkspaceError};

/// The declarations of a workspace.
#[derive(Clone, Debug)]
pub struct Declarations {
    /// Schemas by name.
    pub schemas: BTreeMap<String, TableSchema>,
    /// Indicators, each with the file it was declared in.
    pub indicators: Vec<(String, Indicator)>,
    /// The initiative: partners, obligations, threshold.
    pub initiative: Initiative,
    /// sha256 of every declaration file read: results computed under other declarations are
    /// never reused by an incremental computation.
    pub fingerprint: String,
}

/// A declaration file's name in the fingerprint: its path inside the workspace, `/` between
/// folders. The full path made the same declarations a different fingerprint when the
/// workspace was named another way (`-w .` by hand, an absolute path from cron) or moved, and
/// every such run a full computation.
fn declared_name(layout: &Layout, file: &std::path::Path) -> String {
    file.strip_prefix(layout.root())
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

impl Declarations {
    /// Reads `data-schemas/*.json`, `pipelines/indicators/*.toml` and
    /// `pipelines/initiative.toml` under a workspace.
    pub fn load(layout: &Layout) -> Result<Self, WorkspaceError> {
        let mut schemas = BTreeMap::new();
        let dir = layout.schemas();
        let mut hasher = sha2::Sha256::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| SchemaError::Io {
                file: dir.display().to_string(),
                source: e,
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let s = TableSchema::load(&f)?;
            hasher.update(std::fs::read(&f).unwrap_or_default());
            schemas.insert(s.name.clone(), s);
        }
        let indicator_dir = layout.indicators();
        let mut indicators = backbone_schema::load_indicators(&indicator_dir)?;
        let mut declared: Vec<_> = std::fs::read_dir(&indicator_dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        declared.sort();
        let initiative_path = layout.initiative();
        let initiative = Initiative::load(&initiative_path)?;
        // Each text in every language the initiative publishes in (its fallback order).
        for (_, i) in &mut indicators {
            i.label.complete(&initiative.languages);
            i.description.complete(&initiative.languages);
            for v in &mut i.versions {
                v.reason.complete(&initiative.languages);
            }
        }
        declared.push(initiative_path);
        for f in declared {
            hasher.update(declared_name(layout, &f).as_bytes());
            hasher.update(std::fs::read(&f).unwrap_or_default());
        }
        let fingerprint = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            schemas,
            indicators,
            initiative,
            fingerprint,
        })
    }

    /// The problems of an indicator's later definitions: each must name a period, start after
    /// the one before, change something, and be a sound indicator itself.
    fn check_versions(
        &self,
        file: &str,
        index: usize,
        ind: &backbone_schema::Indicator,
        ids: &[&str],
    ) -> Vec<SchemaError> {
        let fm = self.initiative.first_month;
        let mut out = Vec::new();
        let mut previous: Option<crate::Period> = None;
        for (n, v) in ind.versions.iter().enumerate() {
            let k = u32::try_from(n).map_or(u32::MAX, |n| n.saturating_add(2));
            let at = format!("indicator[{index}] ({}).version[{n}]", ind.id);
            let mut err = |key: &str, message: String| {
                out.push(SchemaError::Invalid {
                    file: file.to_owned(),
                    path: format!("{at}.{key}"),
                    message,
                });
            };
            match crate::definitions::start_of(ind, k, fm) {
                None => err(
                    "since",
                    format!(
                        "{:?} is not a period (2024-07, 2024-Q3, 2024-H2, 2025)",
                        v.since
                    ),
                ),
                Some(start) => {
                    if previous.is_some_and(|p| start.ordinal() <= p.ordinal()) {
                        err(
                            "since",
                            "each version must start in a later period than the one before it"
                                .into(),
                        );
                    }
                    previous = Some(start);
                }
            }
            if ind.changes(k).is_empty() {
                err(
                    "since",
                    "this version changes nothing of what the indicator counts".into(),
                );
            }
            for e in ind.definition(k).check(file, index, &self.schemas, ids) {
                out.push(match e {
                    SchemaError::Invalid {
                        file,
                        path,
                        message,
                    } => SchemaError::Invalid {
                        file,
                        path: format!("{path} (version {k})"),
                        message,
                    },
                    other => other,
                });
            }
        }
        out
    }

    /// Every problem of every indicator, each naming its file and key.
    pub fn check(&self) -> Vec<SchemaError> {
        let ids: Vec<&str> = self.indicators.iter().map(|(_, i)| i.id.as_str()).collect();
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (n, (file, i)) in self.indicators.iter().enumerate() {
            if !seen.insert(i.id.as_str()) {
                out.push(SchemaError::Invalid {
                    file: file.clone(),
                    path: format!("indicator ({}).id", i.id),
                    message: "another indicator has this id".into(),
                });
            }
            let index = self.indicators[..n]
                .iter()
                .filter(|(f, _)| f == file)
                .count();
            out.extend(i.check(file, index, &self.schemas, &ids));
            out.extend(self.check_versions(file, index, i, &ids));
        }
        for o in &self.initiative.obligations {
            if !self.schemas.contains_key(&o.schema) {
                out.push(SchemaError::Invalid {
                    file: "pipelines/initiative.toml".into(),
                    path: "obligation.schema".into(),
                    message: format!("no schema {:?} in data-schemas/", o.schema),
                });
            }
        }
        out
    }
}

/// A schema given as a path to its file, or by name under `data-schemas/`.
pub fn resolve_schema(layout: &Layout, schema: &str) -> Result<TableSchema, WorkspaceError> {
    let direct = std::path::PathBuf::from(schema);
    let path = if direct.is_file() {
        direct
    } else {
        let named = layout.schema(schema);
        if !named.is_file() {
            return Err(WorkspaceError::NoSchema {
                name: schema.to_owned(),
                dir: layout.schemas().display().to_string(),
            });
        }
        named
    };
    Ok(TableSchema::load(&path)?)
}

/// The schema as a partner's file is read: merged with the profile at `profile` (its aliases,
/// value maps, date formats, separators), and the profile itself for the reader's options.
pub fn with_profile(
    schema: &TableSchema,
    profile: Option<&std::path::Path>,
) -> Result<(TableSchema, Option<backbone_schema::Profile>), WorkspaceError> {
    match profile {
        Some(p) => {
            let prof = backbone_schema::Profile::load(p)?;
            let merged = schema.with_profile(&prof, &p.display().to_string())?;
            Ok((merged, Some(prof)))
        }
        None => Ok((schema.clone(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example initiative's declarations copied into `dir`.
    fn example_in(dir: &std::path::Path) {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for folder in ["data-schemas", "pipelines", "pipelines/indicators"] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
            for e in std::fs::read_dir(repo.join(folder)).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    std::fs::copy(e.path(), dir.join(folder).join(e.file_name())).unwrap();
                }
            }
        }
    }

    fn fingerprint(root: &std::path::Path) -> String {
        Declarations::load(&Layout::new(root)).unwrap().fingerprint
    }

    #[test]
    fn the_fingerprint_follows_the_declarations_not_how_the_workspace_is_named() {
        let one = tempfile::tempdir().unwrap();
        example_in(one.path());
        let first = fingerprint(one.path());
        // The same folder named another way, and a copy elsewhere.
        assert_eq!(fingerprint(&one.path().join(".")), first);
        assert_eq!(
            fingerprint(&one.path().join("pipelines").join("..")),
            first,
            "a parent step in the name"
        );
        let two = tempfile::tempdir().unwrap();
        example_in(two.path());
        assert_eq!(fingerprint(two.path()), first, "a copy in another folder");
        // What the data manager declared does change it: a file's content, a file's name.
        let indicators = two.path().join("pipelines/indicators");
        let file = std::fs::read_dir(&indicators)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "toml"))
            .unwrap();
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("\n# a comment\n");
        std::fs::write(&file, &text).unwrap();
        let edited = fingerprint(two.path());
        assert_ne!(edited, first);
        std::fs::rename(&file, indicators.join("renamed.toml")).unwrap();
        assert_ne!(fingerprint(two.path()), edited);
    }
}
