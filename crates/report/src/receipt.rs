//! A receipt for every submission, in the partner's language: the verdict, the counts, each
//! problem with its row, the column as the partner wrote it, the cell reference in
//! spreadsheets, the value (never a personal-data value: the validation report never holds
//! one), why it is wrong and what a valid value looks like; and whether it replaced an
//! earlier submission.

use backbone_ingest::{Expected, ExpectedKind, ValidationReport, Verdict};
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

/// What a valid value looks like, in `lang`, from the parts the validation report's English
/// `expected` was made of. In Hebrew each value is isolated (U+2068 … U+2069), so that a
/// date format or a list of Latin codes keeps its order inside a right-to-left sentence.
pub(crate) fn valid_words(lang: Lang, x: &Expected) -> String {
    let iso = |v: &str| {
        if lang.rtl() {
            format!("\u{2068}{v}\u{2069}")
        } else {
            v.to_owned()
        }
    };
    let say = |key: &str, holes: &[(&str, &str)]| {
        holes.iter().fold(lang.t(key).to_owned(), |s, (hole, v)| {
            s.replace(hole, &iso(v))
        })
    };
    let mut s = match &x.kind {
        ExpectedKind::OneOf { values, or: None } => say("exp_one_of", &[("{values}", values)]),
        ExpectedKind::OneOf {
            values,
            or: Some(or),
        } => say("exp_one_of_or", &[("{values}", values), ("{or}", or)]),
        ExpectedKind::Text => say("exp_text", &[]),
        ExpectedKind::WholeNumber => say("exp_whole_number", &[]),
        ExpectedKind::Number { example } => say("exp_number", &[("{example}", example)]),
        ExpectedKind::Boolean { yes, no } => say("exp_boolean", &[("{yes}", yes), ("{no}", no)]),
        ExpectedKind::Date { examples } => {
            let examples: Vec<String> = examples.iter().map(|e| iso(e)).collect();
            lang.t("exp_date")
                .replace("{examples}", &examples.join(lang.t("exp_or")))
        }
        ExpectedKind::Year => say("exp_year", &[]),
        ExpectedKind::Month => say("exp_month", &[("{month}", "2024-03")]),
        ExpectedKind::Unique => say("exp_unique", &[]),
        ExpectedKind::Email => say("exp_email", &[("{x}", "name@example.org")]),
        ExpectedKind::Uri => say("exp_uri", &[("{x}", "https://example.org/a")]),
        ExpectedKind::Base64 => say("exp_base64", &[("{x}", "aGVsbG8=")]),
        ExpectedKind::Uuid => say(
            "exp_uuid",
            &[("{x}", "123e4567-e89b-12d3-a456-426614174000")],
        ),
        ExpectedKind::Total { sum } => say("exp_total", &[("{sum}", sum)]),
        // A kind added to the ingest crate and not yet here: its English.
        _ => x.kind.to_string(),
    };
    match (&x.lower, &x.upper) {
        (Some(a), Some(b)) => s.push_str(&say("exp_from_to", &[("{a}", a), ("{b}", b)])),
        (Some(a), None) => s.push_str(&say("exp_at_least", &[("{a}", a)])),
        (None, Some(b)) => s.push_str(&say("exp_at_most", &[("{b}", b)])),
        (None, None) => {}
    }
    match (&x.min_length, &x.max_length) {
        (Some(a), Some(b)) => s.push_str(&say("exp_chars_from_to", &[("{a}", a), ("{b}", b)])),
        (Some(a), None) => s.push_str(&say("exp_chars_at_least", &[("{a}", a)])),
        (None, Some(b)) => s.push_str(&say("exp_chars_at_most", &[("{b}", b)])),
        (None, None) => {}
    }
    if let Some(p) = &x.pattern {
        s.push_str(&say("exp_pattern", &[("{p}", p)]));
    }
    s
}

/// The validation report's short technical reason (`type is "date"`, `constraint "maximum"
/// is "600"`), for a receipt in `lang`. In Hebrew the problem's title and what a valid value
/// looks like already say it in words the partner reads, so only what they do not say is
/// kept: the earlier row of a repeated value, that a cell must be filled, and a rule's
/// expression (the schema's, as written).
fn detail_in(lang: Lang, note: &str) -> String {
    if !lang.rtl() {
        return note.to_owned();
    }
    if let Some(row) = note.strip_prefix("same as row ") {
        return lang.t("same_as_row").replace("{row}", row);
    }
    if note == r#"constraint "required" is "true""# {
        return lang.t("must_be_filled").to_owned();
    }
    if note.starts_with("rule ") {
        return note.to_owned();
    }
    String::new()
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
                detail: detail_in(lang, &e.note),
                valid: e.expected_parts.as_ref().map_or_else(
                    || e.expected.clone().unwrap_or_default(),
                    |x| valid_words(lang, x),
                ),
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
        layout_note => layout_note(report, &t),
        drift => drift_lines(report, lang),
        encoding_guess => if report.source.encoding_guessed {
            t("encoding_guessed").replace(
                "{encoding}",
                report.source.encoding.as_deref().unwrap_or_default(),
            )
        } else {
            String::new()
        },
    };
    build(ctx)
}

/// What changed in the partner's header since its last accepted file, one sentence a change.
fn drift_lines(report: &ValidationReport, lang: Lang) -> Vec<String> {
    match &report.source.drift {
        Some(d) => drift_sentences(d, &report.source.field_columns, lang),
        None => Vec::new(),
    }
}

/// What changed in a partner's header, one sentence a change in `lang` (the receipt's and the
/// partner page's words); a field named by the header it was read from.
pub(crate) fn drift_sentences(
    d: &backbone_ingest::Drift,
    field_columns: &std::collections::BTreeMap<String, String>,
    lang: Lang,
) -> Vec<String> {
    let t = |k: &str| lang.t(k).to_owned();
    let label = |f: &str| {
        field_columns
            .get(f)
            .cloned()
            .unwrap_or_else(|| f.to_owned())
    };
    let mut out = Vec::new();
    for r in &d.renamed {
        let key = if r.taken {
            "drift_renamed"
        } else {
            "drift_maybe"
        };
        out.push(t(key).replace("{from}", &r.from).replace("{to}", &r.to));
    }
    for a in &d.added {
        out.push(t("drift_added").replace("{x}", a));
    }
    for r in &d.removed {
        out.push(t("drift_removed").replace("{x}", r));
    }
    if d.reordered {
        out.push(t("drift_reordered"));
    }
    for (f, v) in &d.new_spellings {
        out.push(
            t("drift_spelling")
                .replace("{x}", v)
                .replace("{field}", &format!("\"{}\"", label(f))),
        );
    }
    out
}

/// What the receipt says of a sheet read in its own layout (wide, totals left out).
fn layout_note(report: &ValidationReport, t: &dyn Fn(&str) -> String) -> String {
    let Some(l) = report
        .source
        .layout
        .as_ref()
        .filter(|l| l.figure_columns > 0)
    else {
        return String::new();
    };
    let mut note = t("layout_wide")
        .replace("{columns}", &l.figure_columns.to_string())
        .replace("{span}", &l.figure_span.join(" … "))
        .replace("{figures}", &l.figures.to_string());
    let mut which = Vec::new();
    if !l.totals_rows.is_empty() {
        let rows: Vec<String> = l.totals_rows.iter().map(u64::to_string).collect();
        which.push(format!("{} {}", t("layout_rows"), rows.join(", ")));
    }
    if !l.totals_columns.is_empty() {
        which.push(format!(
            "{} {}",
            t("layout_columns"),
            l.totals_columns.join(", ")
        ));
    }
    if !which.is_empty() {
        note.push(' ');
        note.push_str(&t("layout_totals").replace("{which}", &which.join("; ")));
    }
    note
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

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Expected> {
        let bounded = |kind, lo: Option<&str>, hi: Option<&str>| Expected {
            lower: lo.map(str::to_owned),
            upper: hi.map(str::to_owned),
            ..Expected::of(kind)
        };
        vec![
            Expected::of(ExpectedKind::OneOf {
                values: "counseling, shelter".into(),
                or: None,
            }),
            Expected::of(ExpectedKind::OneOf {
                values: "F, M, זכר, נקבה".into(),
                or: Some("female, male".into()),
            }),
            Expected {
                min_length: Some("2".into()),
                max_length: Some("9".into()),
                pattern: Some("[A-Z]\\d+".into()),
                ..Expected::of(ExpectedKind::Text)
            },
            bounded(ExpectedKind::WholeNumber, Some("0"), Some("120")),
            bounded(
                ExpectedKind::Number {
                    example: "1.234,5".into(),
                },
                Some("0"),
                None,
            ),
            Expected::of(ExpectedKind::Boolean {
                yes: "yes, כן".into(),
                no: "no, לא".into(),
            }),
            bounded(
                ExpectedKind::Date {
                    examples: vec![
                        "15/03/2024 (%d/%m/%Y)".into(),
                        "2024-03-15 (%Y-%m-%d)".into(),
                    ],
                },
                None,
                Some("2025-12-31"),
            ),
            Expected::of(ExpectedKind::Year),
            Expected::of(ExpectedKind::Month),
            Expected::of(ExpectedKind::Unique),
        ]
    }

    #[test]
    fn english_is_the_validation_reports_own_sentence() {
        for x in samples() {
            assert_eq!(valid_words(Lang::En, &x), x.to_string());
        }
    }

    #[test]
    fn hebrew_says_it_in_hebrew_with_values_isolated() {
        let said: Vec<String> = samples().iter().map(|x| valid_words(Lang::He, x)).collect();
        for (s, x) in said.iter().zip(samples()) {
            // No English words left (the values, formats and patterns are the schema's).
            for word in [
                "one of",
                "such as",
                "written like",
                "at least",
                "at most",
                "from ",
            ] {
                assert!(!s.contains(word), "{s} (from {x})");
            }
        }
        assert_eq!(
            said[6],
            "תאריך קיים, כתוב כמו \u{2068}15/03/2024 (%d/%m/%Y)\u{2069} או \
             \u{2068}2024-03-15 (%Y-%m-%d)\u{2069}, לכל היותר \u{2068}2025-12-31\u{2069}"
        );
        assert_eq!(
            said[1],
            "אחד מהערכים: \u{2068}F, M, זכר, נקבה\u{2069} (או \u{2068}female, male\u{2069})"
        );
    }
}
