//! One file into the store: placed by the workspace's rule, archived under its hash,
//! validated from the archived copy, pseudonymised, and one Delta commit.

use std::path::PathBuf;

use backbone_ingest::{
    KnownHeader, Options, Pseudonymiser, RejectedRow, Sink, SinkError, ValidationReport,
    add_spellings, arrow_schema, header_drift, read_file,
};
use backbone_store::{Begun, Pending, Reject, Store, StoreError, Submission};
use backbone_workspace::{Layout, Request, place, resolve_schema, secret_key, with_profile};

use crate::PipelineError;

/// One file to ingest.
#[derive(Clone, Debug)]
pub struct IngestRequest {
    /// The file.
    pub file: PathBuf,
    /// The partner it came from.
    pub partner: String,
    /// The table, by name or path.
    pub schema: String,
    /// The period it covers.
    pub period: String,
    /// The partner's reading profile, if any.
    pub profile: Option<PathBuf>,
    /// A spreadsheet is read first by a child process within its memory and time.
    pub isolation: Option<backbone_ingest::isolate::Isolation>,
    /// The data manager approved it: applied even when its period is closed.
    pub approved: bool,
}

/// What one ingest did.
#[derive(Debug)]
pub enum Ingested {
    /// The same bytes were stored before, as this submission.
    Duplicate(Box<Submission>),
    /// Another ingest stored the same bytes while this one read them.
    Raced {
        /// The file's name.
        file_name: String,
        /// The other ingest's submission.
        id: String,
    },
    /// Recorded (with or without rows) at this table version.
    Stored {
        /// The submission as recorded.
        submission: Box<Submission>,
        /// The table version of its commit.
        version: u64,
        /// The submission it replaced.
        replaces: Option<String>,
        /// The validation report.
        report: Box<ValidationReport>,
        /// A warning to pass on (the mirror table is behind).
        warning: Option<String>,
    },
    /// Its period is closed: validated and kept, not applied, until approved.
    Held {
        /// What will be applied on approval.
        held: Box<crate::approval::Held>,
        /// The validation report.
        report: Box<ValidationReport>,
    },
    /// The file could not be read at all (the report's one-line error).
    Unreadable {
        /// The file's name.
        file_name: String,
        /// Why.
        error: String,
    },
}

/// Streams accepted batches into the store as the file is read, and rejected rows into the
/// `rejects` table.
struct StoreSink<'a, 's> {
    pending: &'a mut Pending<'s>,
    submission: &'a Submission,
    /// The schema's field names, in the order of a rejected row's cells.
    fields: Vec<String>,
}

impl Sink for StoreSink<'_, '_> {
    fn wants_rows(&self) -> bool {
        true
    }
    fn accepted(&mut self, batch: arrow_array::RecordBatch) -> Result<(), SinkError> {
        self.pending
            .write(self.submission, batch)
            .map_err(|e| Box::new(e) as SinkError)
    }
    fn rejected(&mut self, row: RejectedRow) -> Result<(), SinkError> {
        for p in row.problems {
            // The cell as written; personal-data cells are already `None` in a RejectedRow.
            let cell = p
                .field
                .as_ref()
                .and_then(|f| self.fields.iter().position(|n| n == f))
                .and_then(|i| row.cells.get(i).cloned().flatten());
            let reject = Reject {
                row_number: row.row_number,
                error_type: p.kind.code().to_owned(),
                field: p.field,
                cell,
                message: p.note,
            };
            self.pending
                .reject(self.submission, reject)
                .map_err(|e| Box::new(e) as SinkError)?;
        }
        Ok(())
    }
}

/// The workspace's store (`store/`, shareable: no personal data) and its archive of the raw
/// files as received (`archive/`, which holds personal data and stays with the data manager).
pub fn open_store(layout: &Layout) -> Result<Store, PipelineError> {
    Ok(Store::open_with_archive(
        &layout.store(),
        &layout.archive(),
    )?)
}

/// The workspace's pseudonymiser.
pub fn pseudonymiser(layout: &Layout) -> Result<Pseudonymiser, PipelineError> {
    let rotations = backbone_workspace::rotation_keys(layout)?;
    Pseudonymiser::with_rotations(&secret_key(layout)?, &rotations).ok_or_else(|| {
        PipelineError::ShortKey {
            path: layout.secret_key().display().to_string(),
        }
    })
}

/// Every schema of the workspace that loads (for naming the table a wrong file belongs to).
pub fn workspace_schemas(layout: &Layout) -> Vec<backbone_schema::TableSchema> {
    let Ok(dir) = std::fs::read_dir(layout.schemas()) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|f| backbone_schema::TableSchema::load(f).ok())
        .collect()
}

/// Ingests one file: placed (the same rule as the nightly run and the portal: a declared
/// partner that owes the table, a whole period at the grain owed, inside the obligation's
/// window; a reference table from any well-formed source id), archived, validated,
/// pseudonymised, one Delta commit. `received` is the submission's time (RFC 3339).
pub fn ingest_file(
    layout: &Layout,
    store: &Store,
    request: &IngestRequest,
    received: String,
) -> Result<Ingested, PipelineError> {
    let (file, partner) = (&request.file, &request.partner);
    let schema = resolve_schema(layout, &request.schema)?;
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    // A workspace without an initiative (a bare store) places by the rule's own checks: a
    // well-formed id and a whole period.
    let initiative = if layout.initiative().exists() {
        backbone_schema::Initiative::load(&layout.initiative())?
    } else {
        backbone_schema::Initiative::from_toml("name = { en = \"\" }", "initiative.toml")?
    };
    let placed = place(
        &initiative,
        &Request {
            partner,
            file_name: &file_name,
            schema: Some(&schema.name),
            period: Some(&request.period),
            reference_ok: true,
        },
    )?;
    let period = &placed.period.label();
    let (mut schema, profile) = with_profile(&schema, request.profile.as_deref())?;
    let options = Options {
        profile,
        pseudonymiser: Some(pseudonymiser(layout)?),
        display_name: Some(file_name.clone()),
        ..Options::default()
    };
    // Before anything reads the file: its bytes, under their hash. Validation then reads the
    // archived copy, so the rows stored are exactly the bytes kept and hashed, even if the
    // partner's file changes meanwhile.
    let sha256 = store.archive(file)?;
    let source = store.archived(&sha256).unwrap_or_else(|| file.clone());
    // A spreadsheet no child could read within its memory and time is not read here either.
    if let Some(isolation) = &request.isolation
        && let Err(e) = isolation.check(
            &source,
            &file_name,
            &request.schema,
            request.profile.as_deref(),
        )
    {
        return Ok(Ingested::Unreadable {
            file_name,
            error: e.to_string(),
        });
    }
    // A closed period takes no more changes by itself: the file is checked as usual and
    // held for the data manager's approval (unless this is that approval). The same bytes
    // already stored are a duplicate, as ever.
    if !request.approved
        && let Some(closed_period) = crate::approval::closed_for(layout, period)
    {
        if let Some(s) = store
            .submissions(&schema.name, None)
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.sha256 == sha256 && s.partner == *partner && s.period == *period)
        {
            return Ok(Ingested::Duplicate(Box::new(s)));
        }
        let mut report = match backbone_ingest::validate_file(&source, &schema, &options) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Ingested::Unreadable {
                    file_name,
                    error: e.to_string(),
                });
            }
        };
        if report.is_wrong_file() {
            report.name_closest_schema(&workspace_schemas(layout));
        }
        let s = &report.stats;
        let held = crate::approval::Held {
            id: format!("{partner}-{}-{period}-{}", schema.name, &sha256[..12]),
            partner: partner.to_owned(),
            schema: schema.name.clone(),
            period: period.to_owned(),
            closed_period,
            file_name,
            sha256,
            received,
            rows: (s.rows, s.accepted, s.rejected),
        };
        crate::approval::hold(layout, &held)?;
        return Ok(Ingested::Held {
            held: Box::new(held),
            report: Box::new(report),
        });
    }
    // What changed since the partner's last accepted file: a column renamed plainly enough
    // is read under its new name (an alias for this file), the rest said in the receipt.
    let known = known_header(layout, partner, &schema.name);
    // A file whose header cannot be read is reported in full by the read below.
    let mut drift = known
        .as_ref()
        .and_then(|k| header_drift(&source, &file_name, &mut schema, &options, k).ok());
    let rows = arrow_schema(&schema);
    let mut pending = match store.begin(&schema.name, partner, period, &sha256, &rows)? {
        Begun::Duplicate(s) => return Ok(Ingested::Duplicate(s)),
        Begun::Writing(p) => *p,
    };
    let mut submission = Submission {
        id: format!("{partner}-{}-{period}-{}", schema.name, &sha256[..12]),
        partner: partner.to_owned(),
        schema: schema.name.clone(),
        period: period.to_owned(),
        file_name: file_name.clone(),
        sha256,
        received,
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        rows_with_warnings: 0,
        verdict: String::new(),
        supersedes: None,
        table_version: None,
    };
    let mut report: ValidationReport = {
        let mut sink = StoreSink {
            pending: &mut pending,
            submission: &submission,
            fields: schema.fields.iter().map(|f| f.name.clone()).collect(),
        };
        match read_file(&source, &schema, &options, &mut sink) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Ingested::Unreadable {
                    file_name,
                    error: e.to_string(),
                });
            }
        }
    };
    if report.is_wrong_file() {
        report.name_closest_schema(&workspace_schemas(layout));
    }
    if let (Some(d), Some(k)) = (&mut drift, &known) {
        add_spellings(d, &report, k);
        if !d.is_empty() {
            report.source.drift = Some(d.clone());
        }
    }
    let s = &report.stats;
    submission.rows_read = s.rows;
    submission.rows_accepted = s.accepted;
    submission.rows_rejected = s.rejected;
    submission.rows_with_warnings = s.with_warnings;
    submission.verdict = report.verdict.words().replace(' ', "_");
    let replaces = if s.accepted > 0 {
        pending.supersedes().map(str::to_owned)
    } else {
        None
    };
    let (version, warning) = match pending.commit(submission.clone()) {
        Ok(v) => (v, None),
        Err(StoreError::MirrorBehind { version, message }) => (
            version,
            Some(format!(
                "the submissions table is behind the ledger ({message}); the next ingest catches it up"
            )),
        ),
        Err(StoreError::Raced(id)) => return Ok(Ingested::Raced { file_name, id }),
        Err(e) => return Err(e.into()),
    };
    submission.supersedes.clone_from(&replaces);
    submission.table_version = Some(version);
    // The header the partner's next file is compared with (a plain sheet that had rows kept).
    if report.stats.accepted > 0 && report.source.layout.is_none() {
        let header = KnownHeader::after(
            known.as_ref(),
            submission.id.clone(),
            &report,
            drift.unwrap_or_default(),
        );
        save_known_header(layout, partner, &schema.name, &header)?;
    }
    Ok(Ingested::Stored {
        submission: Box::new(submission),
        version,
        replaces,
        report: Box::new(report),
        warning,
    })
}

fn known_header_path(layout: &Layout, partner: &str, schema: &str) -> PathBuf {
    layout
        .private()
        .join("headers")
        .join(partner)
        .join(format!("{schema}.json"))
}

/// The header of a partner's last accepted file for a table, and what changed in it then.
pub fn known_header(layout: &Layout, partner: &str, schema: &str) -> Option<KnownHeader> {
    let text = std::fs::read_to_string(known_header_path(layout, partner, schema)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Every partner's last accepted header: (partner, schema, header).
pub fn known_headers(layout: &Layout) -> Vec<(String, String, KnownHeader)> {
    let mut out = Vec::new();
    let Ok(partners) = std::fs::read_dir(layout.private().join("headers")) else {
        return out;
    };
    for p in partners.flatten() {
        let partner = p.file_name().to_string_lossy().into_owned();
        let Ok(files) = std::fs::read_dir(p.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(schema) = name.strip_suffix(".json")
                && let Some(h) = known_header(layout, &partner, schema)
            {
                out.push((partner.clone(), schema.to_owned(), h));
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn save_known_header(
    layout: &Layout,
    partner: &str,
    schema: &str,
    header: &KnownHeader,
) -> Result<(), PipelineError> {
    let path = known_header_path(layout, partner, schema);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io("creating", dir, e))?;
    }
    let text = serde_json::to_string_pretty(header).unwrap_or_default();
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| PipelineError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| PipelineError::io("writing", &path, e))
}
