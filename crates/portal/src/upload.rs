//! What happens to an uploaded file once its bytes are on disk: which table and period it
//! is for, the same check as `backbone validate`, the receipt, and the inbox. Everything here
//! is blocking (file reading, validation) and runs on the blocking pool.

use std::path::{Path, PathBuf};

use backbone_ingest::{Options, ValidationReport, validate_file};
use backbone_report::{Lang, ReceiptInfo};
use backbone_schema::{Initiative, TableSchema};
use backbone_store::{Store, Submission};
use backbone_workspace::{Layout, Request, with_profile};
use serde::{Deserialize, Serialize};

use crate::PortalError;
use crate::tokens::{Who, random_hex};
use crate::words::t;

/// A file received in full, not yet checked.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// Where its bytes are (under `.backbone/portal/tmp/`).
    pub(crate) tmp: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
    /// The name the partner's browser or script gave (shown to that partner only).
    pub(crate) file_name: String,
}

/// One upload, as the portal remembers it (`.backbone/portal/uploads/<partner>/<id>.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Upload {
    /// `up-<time>-<random>`.
    pub id: String,
    /// The partner it is for.
    pub partner: String,
    /// Who uploaded it (`partner:<id>` or `admin`).
    pub by: String,
    /// Table and period.
    pub schema: String,
    /// Reporting period.
    pub period: String,
    /// The name it was uploaded under (never used as a path).
    pub file_name: String,
    /// The name the portal gave it in the inbox.
    pub stored_as: String,
    /// sha256 of the bytes.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
    /// When it arrived (RFC 3339).
    pub received: String,
    /// What the content turned out to be (`csv`, `xlsx`, `ods`, `xls`, `xlsb`), empty when
    /// unreadable.
    pub format: String,
    /// `accepted`, `accepted_with_problems`, `rejected`, `unreadable`.
    pub verdict: String,
    /// Rows read, accepted, rejected.
    pub rows: u64,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// `queued`, `ingesting`, `duplicate`, `unreadable` when it arrived; see [`Upload::now`].
    pub status: String,
    /// The submission or upload with the same bytes.
    pub duplicate_of: Option<String>,
    /// The submission it will replace, if the partner already has one for the period.
    pub replaces: Option<String>,
}

/// An upload with its receipt.
#[derive(Debug)]
pub(crate) struct CheckedUpload {
    pub(crate) upload: Upload,
    pub(crate) receipt_html: String,
    pub(crate) report: serde_json::Value,
}

/// The portal's folders in a workspace.
#[derive(Clone, Debug)]
pub(crate) struct Dirs {
    pub(crate) layout: Layout,
    pub(crate) isolation: Option<backbone_ingest::isolate::Isolation>,
}

impl Dirs {
    pub(crate) fn new(ws: PathBuf) -> Self {
        Self {
            layout: Layout::new(ws),
            isolation: None,
        }
    }
    pub(crate) fn portal(&self) -> PathBuf {
        self.layout.portal()
    }
    pub(crate) fn tmp(&self) -> PathBuf {
        self.portal().join("tmp")
    }
    pub(crate) fn uploads(&self, partner: &str) -> PathBuf {
        self.portal().join("uploads").join(partner)
    }
    pub(crate) fn unreadable(&self, partner: &str) -> PathBuf {
        self.portal().join("unreadable").join(partner)
    }
    pub(crate) fn inbox(&self, partner: &str) -> PathBuf {
        self.layout.inbox_of(partner)
    }
    pub(crate) fn store(&self) -> Result<Store, PortalError> {
        Ok(Store::open_with_archive(
            &self.layout.store(),
            &self.layout.archive(),
        )?)
    }
}

/// The table and period a file is for: what the form says, else what the file name says,
/// checked against what the partner owes, by the workspace's one placement rule (the same
/// as `backbone ingest` and the nightly run). A refusal is a sentence in `lang` (the partner
/// reads it on the upload page).
pub(crate) fn target(
    initiative: &Initiative,
    partner: &str,
    file_name: &str,
    schema: Option<&str>,
    period: Option<&str>,
    lang: Lang,
) -> Result<(String, String), String> {
    backbone_workspace::place(
        initiative,
        &Request {
            partner,
            file_name,
            schema,
            period,
            reference_ok: false,
        },
    )
    .map(|p| (p.schema, p.period.label()))
    .map_err(|r| r.say(lang.code()))
}

/// A file name fit to show: the last path component, no control characters, at most 200
/// characters. It is never used as a path.
pub(crate) fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.trim().is_empty() {
        "upload".to_owned()
    } else {
        clean
    }
}

/// What the nightly run's ledger says about this partner.
struct History {
    submissions: Vec<Submission>,
}

impl History {
    fn load(dirs: &Dirs, initiative: &Initiative, partner: &str) -> Self {
        let mut submissions = Vec::new();
        match dirs.store() {
            Ok(store) => {
                let have = store.schemas().unwrap_or_default();
                for (schema, _) in initiative.schemas_of(partner) {
                    if !have.iter().any(|s| s == schema) {
                        continue;
                    }
                    match store.submissions(schema, None) {
                        Ok(list) => {
                            submissions.extend(list.into_iter().filter(|s| s.partner == partner))
                        }
                        Err(e) => tracing::warn!("cannot read the ledger of {schema}: {e}"),
                    }
                }
            }
            Err(e) => tracing::warn!("cannot open the store: {e}"),
        }
        Self { submissions }
    }

    /// The submission now in use for (schema, period): the last one made.
    fn current(&self, schema: &str, period: &str) -> Option<&Submission> {
        self.submissions
            .iter()
            .filter(|s| s.schema == schema && s.period == period)
            .max_by(|a, b| a.table_version.cmp(&b.table_version))
    }
}

/// The partner's own submissions in the store, newest first, each marked in use or replaced.
pub(crate) fn submissions_of(
    dirs: &Dirs,
    initiative: &Initiative,
    partner: &str,
) -> Vec<(Submission, bool)> {
    let history = History::load(dirs, initiative, partner);
    let mut out: Vec<(Submission, bool)> = history
        .submissions
        .iter()
        .map(|s| {
            let current = history
                .current(&s.schema, &s.period)
                .is_some_and(|c| c.id == s.id);
            (s.clone(), current)
        })
        .collect();
    out.sort_by(|a, b| b.0.received.cmp(&a.0.received));
    out
}

/// How the upload is handled, decided by the caller.
pub(crate) struct Handling<'a> {
    pub(crate) dirs: &'a Dirs,
    pub(crate) initiative: &'a Initiative,
    pub(crate) partner: &'a str,
    pub(crate) by: &'a Who,
    pub(crate) schema: &'a str,
    pub(crate) period: &'a str,
    pub(crate) lang: Lang,
    pub(crate) now: &'a str,
    pub(crate) at_once: bool,
}

/// Checks the file, decides what becomes of it, moves it, and writes the receipt.
pub(crate) fn check(h: &Handling<'_>, incoming: Incoming) -> Result<CheckedUpload, PortalError> {
    let Handling {
        dirs,
        initiative,
        partner,
        schema,
        period,
        lang,
        now,
        ..
    } = *h;
    let id = format!("up-{}-{}", compact(now), random_hex(3)?);
    let table = TableSchema::load(&dirs.layout.schema(schema))?;
    let profile_path = dirs.layout.profile(partner);
    let mut options = Options {
        display_name: Some(incoming.file_name.clone()),
        // One worker thread per upload: the service checks several partners' files at once.
        threads: Some(1),
        ..Options::default()
    };
    let (table, profile) = with_profile(&table, profile_path.as_deref())?;
    options.profile = profile;
    // A spreadsheet no child could read within its memory and time is not read here.
    let isolated = match &dirs.isolation {
        Some(i) => i.check(
            &incoming.tmp,
            &incoming.file_name,
            schema,
            profile_path.as_deref(),
        ),
        None => Ok(()),
    };
    let checked = isolated.and_then(|()| validate_file(&incoming.tmp, &table, &options));

    let history = History::load(dirs, initiative, partner);
    let mut upload = Upload {
        id: id.clone(),
        partner: partner.to_owned(),
        by: h.by.label(),
        schema: schema.to_owned(),
        period: period.to_owned(),
        file_name: incoming.file_name.clone(),
        stored_as: String::new(),
        sha256: incoming.sha256.clone(),
        bytes: incoming.bytes,
        received: now.to_owned(),
        format: String::new(),
        verdict: "unreadable".to_owned(),
        rows: 0,
        accepted: 0,
        rejected: 0,
        status: String::new(),
        duplicate_of: None,
        replaces: None,
    };
    let mut info = ReceiptInfo {
        initiative: initiative.name.get(lang.code()).to_owned(),
        partner: initiative.partner(partner).map_or_else(
            || partner.to_owned(),
            |p| p.name.get(lang.code()).to_owned(),
        ),
        file: incoming.file_name.clone(),
        schema: schema.to_owned(),
        period: period.to_owned(),
        received: now.to_owned(),
        submission: id.clone(),
        back_link: Some(("/".to_owned(), t(lang, "back"))),
        quality_page: initiative
            .portal
            .share_quality
            .then(|| "/quality".to_owned()),
        ..ReceiptInfo::default()
    };
    let stem = format!(
        "{schema}_{period}_{}_{}",
        compact(now),
        &incoming.sha256[..12]
    );
    let (receipt, report_json) = match checked {
        Err(e) => {
            upload.status = "unreadable".into();
            upload.stored_as = format!("{stem}.bin");
            let dir = dirs.unreadable(partner);
            place(&incoming.tmp, &dir, &upload.stored_as)?;
            info.notice = Some(t(lang, "notice_unreadable"));
            let message = e.to_string();
            let receipt = backbone_report::unreadable_receipt(&info, &message, lang)?;
            let json = serde_json::json!({
                "valid": false,
                "verdict": "unreadable",
                "errors": [{"type": "source-error", "message": message, "severity": "error"}],
            });
            (receipt, json)
        }
        Ok(report) => {
            fill(&mut upload, &report);
            let ext = if report.source.format.is_empty() {
                "bin".to_owned()
            } else {
                report.source.format.clone()
            };
            upload.stored_as = format!("{stem}.{ext}");
            let waiting = waiting(dirs, partner, schema, period);
            let same = history
                .submissions
                .iter()
                .find(|s| s.sha256 == incoming.sha256 && s.schema == schema && s.period == period)
                .map(|s| s.id.clone())
                .or_else(|| {
                    waiting
                        .iter()
                        .find(|u| u.sha256 == incoming.sha256)
                        .map(|u| u.id.clone())
                });
            match same {
                Some(other) => {
                    upload.status = "duplicate".into();
                    info.notice = Some(t(lang, "notice_duplicate").replace("{what}", &other));
                    upload.duplicate_of = Some(other);
                    // The same bytes are already archived or waiting: nothing is lost.
                    let _ = std::fs::remove_file(&incoming.tmp);
                }
                None => {
                    upload.replaces = history.current(schema, period).map(|s| s.id.clone());
                    place(&incoming.tmp, &dirs.inbox(partner), &upload.stored_as)?;
                    upload.status = if h.at_once { "ingesting" } else { "queued" }.into();
                    let mut notice = t(
                        lang,
                        if h.at_once {
                            "notice_ingesting"
                        } else {
                            "notice_queued"
                        },
                    );
                    if let Some(when) = waiting.first().map(|u| &u.received) {
                        notice.push(' ');
                        notice.push_str(&t(lang, "notice_replaces_queued").replace("{when}", when));
                    }
                    info.notice = Some(notice);
                    info.replaces.clone_from(&upload.replaces);
                }
            }
            let receipt = backbone_report::receipt(&report, &info, lang)?;
            (receipt, report.to_json())
        }
    };
    save(dirs, &upload, &receipt.html, &report_json)?;
    Ok(CheckedUpload {
        upload,
        receipt_html: receipt.html,
        report: report_json,
    })
}

fn fill(upload: &mut Upload, report: &ValidationReport) {
    upload.format.clone_from(&report.source.format);
    upload.verdict = serde_json::to_value(report.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    upload.rows = report.stats.rows;
    upload.accepted = report.stats.accepted;
    upload.rejected = report.stats.rejected;
}

/// `2026-11-27T03:15:00Z` → `20261127T031500Z`: sorts by time, safe in a file name.
fn compact(now: &str) -> String {
    now.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// Moves a received file into `dir` under `name` (both ours, never the partner's).
fn place(tmp: &Path, dir: &Path, name: &str) -> Result<(), PortalError> {
    std::fs::create_dir_all(dir).map_err(PortalError::io(dir))?;
    let dest = dir.join(name);
    std::fs::rename(tmp, &dest).map_err(PortalError::io(&dest))
}

/// The partner's uploads for (schema, period) still waiting in the inbox, newest first. The
/// inbox names say whether there are any (they start with `<schema>_<period>_`), so the
/// upload records are read only when there are.
fn waiting(dirs: &Dirs, partner: &str, schema: &str, period: &str) -> Vec<Upload> {
    let prefix = format!("{schema}_{period}_");
    let names: Vec<String> = inbox_names(dirs, partner)
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    uploads_of(dirs, partner)
        .into_iter()
        .filter(|u| u.schema == schema && u.period == period && names.contains(&u.stored_as))
        .collect()
}

fn inbox_names(dirs: &Dirs, partner: &str) -> Vec<String> {
    std::fs::read_dir(dirs.inbox(partner))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn save(
    dirs: &Dirs,
    upload: &Upload,
    receipt_html: &str,
    report: &serde_json::Value,
) -> Result<(), PortalError> {
    let dir = dirs.uploads(&upload.partner);
    std::fs::create_dir_all(&dir).map_err(PortalError::io(&dir))?;
    let write = |name: String, bytes: &[u8]| -> Result<(), PortalError> {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(PortalError::io(&tmp))?;
        let dest = dir.join(name);
        std::fs::rename(&tmp, &dest).map_err(PortalError::io(&dest))
    };
    write(format!("{}.html", upload.id), receipt_html.as_bytes())?;
    let doc = serde_json::json!({"upload": upload, "report": report});
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    write(format!("{}.json", upload.id), text.as_bytes())
}

/// A partner's uploads, newest first.
pub(crate) fn uploads_of(dirs: &Dirs, partner: &str) -> Vec<Upload> {
    let mut out: Vec<Upload> = std::fs::read_dir(dirs.uploads(partner))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .filter_map(|v| serde_json::from_value::<Upload>(v["upload"].clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out
}

/// One upload's record and receipt, if it is this partner's. `id` comes from a URL: only
/// ids the portal makes are looked up.
pub(crate) fn upload_of(
    dirs: &Dirs,
    partner: &str,
    id: &str,
) -> Option<(serde_json::Value, String)> {
    if !id.starts_with("up-") || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let dir = dirs.uploads(partner);
    let json = std::fs::read_to_string(dir.join(format!("{id}.json"))).ok()?;
    let html = std::fs::read_to_string(dir.join(format!("{id}.html"))).ok()?;
    Some((serde_json::from_str(&json).ok()?, html))
}

/// Where an upload stands now: still in the inbox, or in the store as which submission.
pub(crate) fn now_status(
    dirs: &Dirs,
    upload: &Upload,
    ledger: &[(Submission, bool)],
) -> (String, Option<String>) {
    match upload.status.as_str() {
        "queued" | "ingesting" => {
            if dirs
                .inbox(&upload.partner)
                .join(&upload.stored_as)
                .is_file()
            {
                (upload.status.clone(), None)
            } else if let Some((s, _)) = ledger.iter().find(|(s, _)| s.sha256 == upload.sha256) {
                ("stored".to_owned(), Some(s.id.clone()))
            } else {
                ("processed".to_owned(), None)
            }
        }
        other => (other.to_owned(), upload.duplicate_of.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initiative() -> Initiative {
        Initiative::from_toml(
            r#"
name = { he = "ש", en = "I" }
[[partner]]
id = "a"
name = { he = "א", en = "A" }
[[partner]]
id = "b"
name = { he = "ב", en = "B" }
[[obligation]]
schema = "service_records"
partners = ["a", "b"]
grain = "month"
from = "2024-01"
to = "2024-12"
[[obligation]]
schema = "backbone_activity"
partners = ["b"]
grain = "quarter"
from = "2024-Q1"
"#,
            "initiative.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_period_comes_from_the_form_or_the_name_at_the_tables_grain() {
        let i = initiative();
        let t = |file: &str, schema: Option<&str>, period: Option<&str>| {
            target(&i, "a", file, schema, period, Lang::En)
        };
        assert_eq!(
            t("march_2024_03.xlsx", None, None),
            Ok(("service_records".into(), "2024-03".into()))
        );
        assert_eq!(
            t("x.csv", None, Some(" 2024-11 ")),
            Ok(("service_records".into(), "2024-11".into()))
        );
        // The form wins over the name.
        assert_eq!(
            t("report_2024-01.csv", None, Some("2024-02")),
            Ok(("service_records".into(), "2024-02".into()))
        );
        // A typed period must be a whole period of the grain, within the obligation.
        for bad in [
            "2024-Q1", "2024", "2024-13", "24-03", "2024-03x", "2025-01", "2023-12",
        ] {
            assert!(t("x.csv", None, Some(bad)).is_err(), "{bad}");
        }
        assert!(t("x.csv", None, None).is_err_and(|e| e.contains("2024-03")));
    }

    #[test]
    fn a_partner_with_several_tables_names_one() {
        let i = initiative();
        let t = |file: &str, schema: Option<&str>, period: Option<&str>| {
            target(&i, "b", file, schema, period, Lang::En)
        };
        assert!(t("x_2024-03.csv", None, None).is_err_and(|e| e.contains("backbone_activity")));
        assert_eq!(
            t("backbone_activity_2024-Q2.xlsx", None, None),
            Ok(("backbone_activity".into(), "2024-Q2".into()))
        );
        assert_eq!(
            t("x.csv", Some("backbone_activity"), Some("2024-q3")),
            Ok(("backbone_activity".into(), "2024-Q3".into())),
            "written as the label"
        );
        assert_eq!(
            t("x.csv", Some("backbone_activity"), Some("2024-03")),
            Err("`2024-03` is not a period of `backbone_activity`, which is reported by quarter: write it like 2024-Q1".into()),
        );
        assert!(
            target(
                &i,
                "a",
                "x_2024-03.csv",
                Some("backbone_activity"),
                None,
                Lang::En
            )
            .is_err()
        );
        assert!(target(&i, "nobody", "x_2024-03.csv", None, None, Lang::En).is_err());
        // In Hebrew, with the period and the example kept left to right.
        assert_eq!(
            target(&i, "b", "x.csv", Some("backbone_activity"), Some("2024-03"), Lang::He),
            Err("\u{2066}2024-03\u{2069} אינה תקופה של \u{2066}backbone_activity\u{2069}, שמדווחת לפי רבעון: כתבו אותה כמו \u{2066}2024-Q1\u{2069}".into()),
        );
        assert_eq!(
            target(&i, "a", "x.csv", None, Some("2023-12"), Lang::He),
            Err("השותף \u{2066}a\u{2069} מדווח על \u{2066}service_records\u{2069} מ-\u{2066}2024-01\u{2069} עד \u{2066}2024-12\u{2069}; \u{2066}2023-12\u{2069} מחוץ לטווח.".into()),
        );
    }

    #[test]
    fn shown_names_are_one_plain_component() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\Users\\x\\דוח.xlsx"), "דוח.xlsx");
        assert_eq!(display_name("a\u{0}b\nc.csv"), "abc.csv");
        assert_eq!(display_name("dir/"), "upload");
        assert_eq!(display_name(&"x".repeat(500)).chars().count(), 200);
    }
}
