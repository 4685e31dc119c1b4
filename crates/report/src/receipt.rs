//! A receipt for every submission, in the partner's language: the verdict, the counts, each
//! problem with its row, the column as the partner wrote it, the cell reference in
//! spreadsheets, the value (never a personal-data value: the validation report never holds
//! one), why it is wrong and what a valid value looks like; and whether it replaced an
//! earlier submission.

use backbone_ingest::{ValidationReport, Verdict};
use minijinja::{Value, context};
use serde::Serialize;

use crate::i18n::error_title;
use crate::render::{environment, render_template};
use crate::{Lang, ReportError};

/// Who sent what, as the receipt names it.
#[derive(Clone, Debug, Default)]
pub struct ReceiptInfo {
    /// The initiative's name in the partner's language.
    pub initiative: String,
    /// The partner's name.
    pub partner: String,
    /// The file name as received.
    pub file: String,
    /// The table (schema) and period.
    pub schema: String,
    /// Reporting period.
    pub period: String,
    /// When it was received.
    pub received: String,
    /// The submission id.
    pub submission: String,
    /// The submission it replaced.
    pub replaces: Option<String>,
    /// A link to the partner's data-quality page, when it is shared with them.
    pub quality_page: Option<String>,
    /// A line under the verdict: what happens next (the upload portal says whether the file
    /// waits for tonight's run or was stored at once).
    pub notice: Option<String>,
    /// A link back (href, words) at the top of the page, for the upload portal.
    pub back_link: Option<(String, String)>,
}

/// The receipt, as HTML and as plain text.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// HTML page.
    pub html: String,
    /// Plain text (for email).
    pub text: String,
}

#[derive(Serialize)]
struct Problem {
    row: String,
    column: String,
    cell_ref: String,
    value: String,
    why: String,
    detail: String,
    valid: String,
    severity: String,
}

#[derive(Serialize)]
struct Kind {
    title: String,
    not_listed: u64,
}

/// The receipt of a file that was read.
pub fn receipt(
    report: &ValidationReport,
    info: &ReceiptInfo,
    lang: Lang,
) -> Result<Receipt, ReportError> {
    let t = |k: &str| lang.t(k).to_owned();
    let verdict = match report.verdict {
        Verdict::Accepted => "verdict_accepted",
        Verdict::AcceptedWithProblems => "verdict_accepted_with_problems",
        Verdict::Rejected => "verdict_rejected",
    };
    let problems: Vec<Problem> = report
        .errors
        .iter()
        .map(|e| {
            let code = e.kind.code();
            Problem {
                row: e
                    .row_number
                    .map_or_else(|| t("whole_file"), |r| r.to_string()),
                column: e
                    .label
                    .clone()
                    .or_else(|| e.field_name.clone())
                    .unwrap_or_default(),
                cell_ref: match (&e.sheet, &e.cell_ref) {
                    (Some(s), Some(c)) => format!("{s}!{c}"),
                    (None, Some(c)) => c.clone(),
                    _ => String::new(),
                },
                value: e.cell.clone().unwrap_or_default(),
                why: error_title(code, lang, e.kind.title()),
                detail: e.note.clone(),
                valid: e.expected.clone().unwrap_or_default(),
                severity: t(e.severity.as_str()),
            }
        })
        .collect();
    let not_listed: Vec<Kind> = report
        .stats
        .not_listed
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(code, n)| Kind {
            title: error_title(code, lang, code),
            not_listed: *n,
        })
        .collect();
    let s = &report.stats;
    let ctx = context! {
        lang => lang.code(),
        dir => lang.dir(),
        t => Value::from_serialize(lang.words()),
        info => info_value(info),
        verdict => report.verdict,
        verdict_words => t(verdict),
        rows => s.rows,
        accepted => s.accepted,
        rejected => s.rejected,
        warnings => s.with_warnings,
        problems => Value::from_serialize(&problems),
        not_listed => Value::from_serialize(&not_listed),
        error => "",
    };
    build(ctx)
}

/// The receipt of a file that could not be read at all.
pub fn unreadable_receipt(
    info: &ReceiptInfo,
    error: &str,
    lang: Lang,
) -> Result<Receipt, ReportError> {
    let ctx = context! {
        lang => lang.code(),
        dir => lang.dir(),
        t => Value::from_serialize(lang.words()),
        info => info_value(info),
        verdict => "unreadable",
        verdict_words => lang.t("verdict_unreadable"),
        rows => 0,
        accepted => 0,
        rejected => 0,
        warnings => 0,
        problems => Vec::<String>::new(),
        not_listed => Vec::<String>::new(),
        error => error,
    };
    build(ctx)
}

/// What the templates know of the submission.
fn info_value(info: &ReceiptInfo) -> Value {
    context! {
        initiative => info.initiative.clone(),
        partner => info.partner.clone(),
        file => info.file.clone(),
        schema => info.schema.clone(),
        period => info.period.clone(),
        received => info.received.clone(),
        submission => info.submission.clone(),
        replaces => info.replaces.clone(),
        quality_page => info.quality_page.clone(),
        notice => info.notice.clone(),
        back_href => info.back_link.as_ref().map(|(h, _)| h.clone()),
        back_words => info.back_link.as_ref().map(|(_, w)| w.clone()),
    }
}

fn build(ctx: Value) -> Result<Receipt, ReportError> {
    let env = environment()?;
    let css = render_template(&env, "style.css", ctx.clone())?;
    let html = render_template(
        &env,
        "receipt.html",
        context! { ..ctx.clone(), ..context!{ css => css } },
    )?;
    let text = render_template(&env, "receipt.txt", ctx)?;
    Ok(Receipt { html, text })
}
