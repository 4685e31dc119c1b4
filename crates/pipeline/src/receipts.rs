//! Receipts: what a partner reads about each file, in `outbox/<partner>/`.

use backbone_ingest::ValidationReport;
use backbone_report::{Lang, ReceiptInfo};
use backbone_store::Submission;
use backbone_workspace::{Declarations, Layout, clock};

use crate::PipelineError;

fn receipt_info(decl: &Declarations, partner: &str, lang: Lang) -> ReceiptInfo {
    ReceiptInfo {
        initiative: decl.initiative.name.get(lang.code()).to_owned(),
        partner: decl.initiative.partner(partner).map_or_else(
            || partner.to_owned(),
            |p| p.name.get(lang.code()).to_owned(),
        ),
        ..ReceiptInfo::default()
    }
}

fn write_receipt(
    layout: &Layout,
    partner: &str,
    file_name: &str,
    receipt: &backbone_report::Receipt,
    json: Option<&serde_json::Value>,
) -> Result<String, PipelineError> {
    let dir = layout.outbox_of(partner);
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io("creating", &dir, e))?;
    let stem = format!("{file_name}.receipt");
    let html = dir.join(format!("{stem}.html"));
    std::fs::write(&html, &receipt.html).map_err(|e| PipelineError::io("writing", &html, e))?;
    let text = dir.join(format!("{stem}.txt"));
    std::fs::write(&text, &receipt.text).map_err(|e| PipelineError::io("writing", &text, e))?;
    if let Some(json) = json {
        let path = dir.join(format!("{stem}.json"));
        let doc = serde_json::to_string_pretty(json).map_err(|e| PipelineError::Json {
            path: path.display().to_string(),
            source: e,
        })?;
        std::fs::write(&path, doc).map_err(|e| PipelineError::io("writing", &path, e))?;
    }
    Ok(html.display().to_string())
}

/// Writes a submission's receipt to `outbox/<partner>/`; returns the HTML's path.
pub fn receipt(
    layout: &Layout,
    decl: &Declarations,
    submission: &Submission,
    report: &ValidationReport,
    language: &str,
) -> Result<String, PipelineError> {
    let lang = Lang::parse(language);
    let info = ReceiptInfo {
        file: submission.file_name.clone(),
        schema: submission.schema.clone(),
        period: submission.period.clone(),
        received: submission.received.clone(),
        submission: submission.id.clone(),
        replaces: submission.supersedes.clone(),
        ..receipt_info(decl, &submission.partner, lang)
    };
    let r = backbone_report::receipt(report, &info, lang)?;
    let json = serde_json::json!({
        "submission": submission.id,
        "supersedes": submission.supersedes,
        "report": report.to_json(),
    });
    write_receipt(
        layout,
        &submission.partner,
        &submission.file_name,
        &r,
        Some(&json),
    )
}

/// The receipt of a file held because its period is closed: checked as usual, and the
/// partner told it waits for the data manager's approval.
pub fn held_receipt(
    layout: &Layout,
    decl: &Declarations,
    held: &crate::approval::Held,
    report: &ValidationReport,
    language: &str,
) -> Result<String, PipelineError> {
    let lang = Lang::parse(language);
    let info = ReceiptInfo {
        file: held.file_name.clone(),
        schema: held.schema.clone(),
        period: held.period.clone(),
        received: held.received.clone(),
        submission: held.id.clone(),
        notice: Some(
            lang.t("held_notice")
                .replace("{period}", &held.closed_period),
        ),
        ..receipt_info(decl, &held.partner, lang)
    };
    let r = backbone_report::receipt(report, &info, lang)?;
    let json = serde_json::json!({
        "submission": held.id,
        "held": true,
        "closed_period": held.closed_period,
        "report": report.to_json(),
    });
    write_receipt(layout, &held.partner, &held.file_name, &r, Some(&json))
}

/// The receipt of a file that could not be read.
pub fn unreadable_receipt(
    layout: &Layout,
    decl: &Declarations,
    partner: &str,
    file_name: &str,
    error: &str,
    language: &str,
) -> Result<String, PipelineError> {
    let lang = Lang::parse(language);
    let info = ReceiptInfo {
        file: file_name.to_owned(),
        received: clock::now_rfc3339(),
        ..receipt_info(decl, partner, lang)
    };
    let r = backbone_report::unreadable_receipt(&info, error, lang)?;
    write_receipt(layout, partner, file_name, &r, None)
}
