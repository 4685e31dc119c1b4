//! The report's words in Hebrew and English. Templates get them as `t.<key>`.

use std::collections::BTreeMap;

/// The language of a document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum Lang {
    /// Hebrew, right to left.
    #[default]
    He,
    /// English.
    En,
}

impl Lang {
    /// From `he` or `en` (anything else is English).
    pub fn parse(code: &str) -> Self {
        if code.eq_ignore_ascii_case("he") {
            Self::He
        } else {
            Self::En
        }
    }
    /// `he` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Self::He => "he",
            Self::En => "en",
        }
    }
    /// `rtl` or `ltr`.
    pub fn dir(self) -> &'static str {
        match self {
            Self::He => "rtl",
            Self::En => "ltr",
        }
    }
    /// Whether text runs right to left.
    pub fn rtl(self) -> bool {
        self == Self::He
    }
    /// The word for `key`; empty when there is none (a unit test checks every key has both
    /// languages).
    pub fn t(self, key: &str) -> &'static str {
        WORDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or("", |(_, en, he)| if self == Self::He { he } else { en })
    }
    /// Every word, for templates.
    pub fn words(self) -> BTreeMap<&'static str, &'static str> {
        WORDS
            .iter()
            .map(|(k, en, he)| (*k, if self == Self::He { *he } else { *en }))
            .collect()
    }
}

/// (key, English, Hebrew).
const WORDS: &[(&str, &str, &str)] = &[
    ("revisions", "Revisions", "עדכונים לנתונים שפורסמו"),
    (
        "rev_heading",
        "Values published in edition {n} ({date}) that have changed since",
        "ערכים שפורסמו במהדורה {n} ({date}) והשתנו מאז",
    ),
    (
        "rev_none",
        "No value published in the last edition has changed.",
        "אף ערך שפורסם במהדורה האחרונה לא השתנה.",
    ),
    (
        "rev_from_to",
        "revised from {before} to {after}",
        "עודכן מ-{before} ל-{after}",
    ),
    (
        "rev_now_shown",
        "now published as {after} (suppressed in the edition)",
        "מתפרסם כעת: {after} (הוסתר במהדורה)",
    ),
    (
        "rev_now_suppressed",
        "published as {before}, now suppressed",
        "פורסם כ-{before}, וכעת מוסתר",
    ),
    (
        "rev_gone",
        "published as {before}, now without a value",
        "פורסם כ-{before}, וכעת אין לו ערך",
    ),
    ("rev_after", "after", "בעקבות"),
    (
        "rev_after_declarations",
        "after a change in the indicators' definitions",
        "בעקבות שינוי בהגדרות המדדים",
    ),
    (
        "rev_after_recompute",
        "when the results were computed again",
        "בחישוב מחדש של התוצאות",
    ),
    ("rev_more_files", "and {n} more files", "ועוד {n} קבצים"),
    (
        "rev_more",
        "{n} more published values changed (by breakdown, or beyond the first 25), each listed in revisions.csv with the files behind it.",
        "עוד {n} ערכים שפורסמו השתנו (לפי פילוח, או מעבר ל-25 הראשונים); כל אחד מהם מופיע בקובץ revisions.csv עם הקבצים שמאחוריו.",
    ),
    ("triangle", "Revisions triangle", "משולש העדכונים"),
    (
        "triangle_note",
        "Each period's value as it stood in each published edition, and now. Official statisticians publish this table so readers see how much early figures usually move.",
        "הערך של כל תקופה כפי שפורסם בכל מהדורה, וכעת. סטטיסטיקאים רשמיים מפרסמים טבלה זו כדי שהקוראים יראו בכמה נוטים המספרים הראשונים להשתנות.",
    ),
    (
        "rev_mar",
        "Mean absolute revision from first publication to now: {mar}, over {n} periods.",
        "העדכון המוחלט הממוצע מהפרסום הראשון ועד היום: {mar}, על פני {n} תקופות.",
    ),
    (
        "rev_mar_none",
        "No period has both a first published value and a value now.",
        "אין תקופה שיש לה גם ערך שפורסם לראשונה וגם ערך כעת.",
    ),
    ("edition", "Edition", "מהדורה"),
    ("now", "Now", "כעת"),
    ("report", "Steering committee report", "דוח לוועדת ההיגוי"),
    ("period", "Period", "תקופה"),
    ("data_as_of", "Data as of ", "נתונים נכון ל־"),
    ("store_version", "Store version", "גרסת המאגר"),
    ("generated", "Generated", "הופק"),
    ("scorecard", "Scorecard", "כרטיס ניקוד"),
    ("indicator", "Indicator", "מדד"),
    ("latest", "Latest", "ערך אחרון"),
    ("change", "Change", "שינוי"),
    ("baseline", "Baseline", "קו בסיס"),
    ("target", "Target", "יעד"),
    ("target_path", "Target path", "מסלול היעד"),
    ("status", "Status", "מצב"),
    ("trend", "Trend", "מגמה"),
    ("coverage", "Coverage", "כיסוי"),
    ("actual", "Actual", "בפועל"),
    ("forecast", "Forecast", "תחזית"),
    ("on_track", "On track", "במסלול"),
    ("at_risk", "At risk", "בסיכון"),
    ("off_track", "Off track", "לא במסלול"),
    ("no_target", "No target", "אין יעד"),
    ("better", "better", "שיפור"),
    ("worse", "worse", "הרעה"),
    ("no_change", "no change", "ללא שינוי"),
    ("since", "since", "לעומת"),
    ("suppressed", "suppressed", "מוסתר"),
    ("no_data", "no data", "אין נתונים"),
    ("breakdowns", "Breakdowns", "פילוחים"),
    ("by", "By", "לפי"),
    ("value", "Value", "ערך"),
    ("values_table", "The values", "הערכים"),
    ("completeness", "Completeness of reporting", "שלמות הדיווח"),
    (
        "completeness_intro",
        "Which partner sent which period, and when.",
        "איזה שותף שלח איזו תקופה, ומתי.",
    ),
    ("partner", "Partner", "שותף"),
    ("on_time", "on time", "בזמן"),
    ("late", "late", "באיחור"),
    ("missing", "missing", "חסר"),
    ("not_due", "not yet due", "טרם הגיע מועדו"),
    (
        "quality",
        "Data quality by partner",
        "איכות הנתונים לפי שותף",
    ),
    ("submissions", "Submissions", "הגשות"),
    ("rejected_share", "Rows rejected", "שורות שנדחו"),
    ("main_errors", "Main problems", "בעיות עיקריות"),
    (
        "own_history",
        "Unusual against its own history",
        "חריג לעומת התקופות הקודמות שלו",
    ),
    (
        "volume_high",
        "rows: more than twice the usual",
        "שורות: יותר מפי שניים מהרגיל",
    ),
    (
        "volume_low",
        "rows: less than half the usual",
        "שורות: פחות ממחצית הרגיל",
    ),
    ("mean", "mean", "ממוצע"),
    ("usually", "usually", "בדרך כלל"),
    ("on_time_share", "On time", "בזמן"),
    ("details", "Details", "פירוט"),
    ("methods", "Methods", "שיטות"),
    ("definition", "Definition", "הגדרה"),
    ("computed_as", "Computed as", "אופן החישוב"),
    ("grain", "Period", "תדירות"),
    ("dimensions", "Breakdowns", "פילוחים"),
    ("source", "Source", "מקור"),
    ("direction_up", "Higher is better", "גבוה יותר — טוב יותר"),
    ("direction_down", "Lower is better", "נמוך יותר — טוב יותר"),
    (
        "suppression_note",
        "Values marked “suppressed” are hidden to protect privacy: counts below the threshold of",
        "ערכים המסומנים „מוסתר” הוסתרו כדי להגן על פרטיות: ספירות מתחת לסף של",
    ),
    (
        "suppression_note2",
        "and values from which such a count could be worked out, or nearly, from anything published here together (other breakdowns, other periods, other indicators counting the same rows).",
        "וערכים שמהם אפשר היה לחשב ספירה כזו, או לקרוב אליה, מכל מה שמתפרסם כאן יחד (פילוחים אחרים, תקופות אחרות, מדדים אחרים שסופרים את אותן השורות).",
    ),
    (
        "data_manager_only",
        "Kept by the data manager and not published: the rows of each submission (results/quality.csv), the changes between runs (results/changes.csv), the rows not taken in (store/rejects), each partner's receipts (sent to that partner only) and the rows behind a value (backbone explain).",
        "נשמרים אצל מנהל/ת הנתונים ואינם מתפרסמים: מספר השורות בכל הגשה (results/quality.csv), השינויים בין הרצות (results/changes.csv), השורות שלא נקלטו (store/rejects), האישורים של כל שותף (נשלחים לאותו שותף בלבד) והשורות שמאחורי ערך (backbone explain).",
    ),
    (
        "coverage_note",
        "Coverage is the share of expected submissions received behind a value.",
        "כיסוי הוא שיעור ההגשות הצפויות שהתקבלו ועומדות מאחורי הערך.",
    ),
    ("month", "monthly", "חודשי"),
    ("quarter", "quarterly", "רבעוני"),
    ("half_year", "half-yearly", "חצי־שנתי"),
    ("year", "yearly", "שנתי"),
    ("median", "Median of all partners", "חציון כל השותפים"),
    ("this_partner", "This partner", "שותף זה"),
    (
        "error_rate_over_time",
        "Rows rejected over time",
        "שורות שנדחו לאורך זמן",
    ),
    (
        "timeliness_over_time",
        "Timeliness over time",
        "עמידה בזמנים לאורך זמן",
    ),
    ("partner_page", "Data quality", "איכות נתונים"),
    ("back", "Back to the report", "חזרה לדוח"),
    (
        "partners_on_time",
        "Partners on time",
        "שותפים שדיווחו בזמן",
    ),
    ("chart_trend_alt", "Line chart of", "תרשים קו של"),
    ("chart_bars_alt", "Bar chart of", "תרשים עמודות של"),
    ("exports", "Downloads", "הורדות"),
    ("contents", "Contents", "תוכן"),
    ("legend", "Legend", "מקרא"),
    ("no_values", "No values yet.", "אין עדיין ערכים."),
    ("first_period", "first period", "תקופה ראשונה"),
    // Receipts.
    (
        "receipt",
        "Receipt for your data submission",
        "אישור קבלת דיווח",
    ),
    ("file", "File", "קובץ"),
    ("table", "Table", "טבלה"),
    ("received", "Received", "התקבל"),
    ("submission", "Submission", "הגשה"),
    (
        "verdict_accepted",
        "Accepted: every row is in.",
        "התקבל: כל השורות נקלטו.",
    ),
    (
        "verdict_accepted_with_problems",
        "Accepted with problems: the rows below were not taken in, or need a look.",
        "התקבל עם בעיות: השורות שלהלן לא נקלטו, או שכדאי לבדוק אותן.",
    ),
    (
        "verdict_rejected",
        "Not accepted: no row could be taken in. Please fix the file and send it again.",
        "לא התקבל: אף שורה לא נקלטה. נא לתקן את הקובץ ולשלוח שוב.",
    ),
    (
        "verdict_unreadable",
        "The file could not be read.",
        "לא ניתן היה לקרוא את הקובץ.",
    ),
    ("rows_read", "Rows read", "שורות שנקראו"),
    ("rows_accepted", "Rows accepted", "שורות שנקלטו"),
    ("rows_rejected", "Rows not accepted", "שורות שלא נקלטו"),
    (
        "rows_warnings",
        "Rows accepted with a warning",
        "שורות שנקלטו עם אזהרה",
    ),
    (
        "replaces",
        "This file replaces your earlier submission",
        "קובץ זה מחליף את ההגשה הקודמת שלך",
    ),
    ("problems", "What to fix", "מה לתקן"),
    ("row", "Row", "שורה"),
    ("column", "Column", "עמודה"),
    ("cell", "Cell", "תא"),
    ("what_was_written", "Written", "נכתב"),
    ("why", "Why", "הסיבה"),
    ("valid_looks_like", "A valid value", "ערך תקין"),
    ("same_as_row", "same as row {row}", "כמו בשורה {row}"),
    (
        "must_be_filled",
        "this cell must be filled",
        "חובה למלא תא זה",
    ),
    // What a valid value looks like (`valid_words`; the English is the validation report's).
    ("exp_one_of", "one of {values}", "אחד מהערכים: {values}"),
    (
        "exp_one_of_or",
        "one of {values} (or {or})",
        "אחד מהערכים: {values} (או {or})",
    ),
    ("exp_text", "text", "טקסט"),
    (
        "exp_whole_number",
        "a whole number such as 42",
        "מספר שלם, למשל 42",
    ),
    (
        "exp_number",
        "a number such as {example}",
        "מספר, למשל {example}",
    ),
    (
        "exp_boolean",
        "one of {yes} (yes) or {no} (no)",
        "{yes} (כן) או {no} (לא)",
    ),
    (
        "exp_date",
        "a real date written like {examples}",
        "תאריך קיים, כתוב כמו {examples}",
    ),
    ("exp_or", " or ", " או "),
    (
        "encoding_guessed",
        "The file is short, so its encoding was guessed: it was read as {encoding}. If names or words below look garbled, save the file as UTF-8 (CSV UTF-8) and send it again.",
        "הקובץ קצר, ולכן הקידוד שלו נוחש: הוא נקרא כ-{encoding}. אם שמות או מילים למטה נראים משובשים, שמרו את הקובץ כ-UTF-8 ‏(CSV UTF-8) ושלחו אותו שוב.",
    ),
    (
        "layout_wide",
        "Your table was read as you laid it out: {columns} columns of figures ({span}) became {figures} figures, one per cell.",
        "הטבלה נקראה כפי שסידרתם אותה: {columns} עמודות של נתונים ({span}) הפכו ל-{figures} נתונים, אחד לכל תא.",
    ),
    (
        "layout_totals",
        "Your totals ({which}) were left out of the data and checked against the figures they add up.",
        "שורות ועמודות הסה\"כ ({which}) לא נכללו בנתונים, ונבדקו מול הנתונים שהן מסכמות.",
    ),
    ("layout_rows", "rows", "שורות"),
    (
        "held_notice",
        "The period {period} was closed after its figures went to the steering committee. Your file was checked (below) and is held: it is applied when the data manager approves it, and you need do nothing more unless there are cells to fix.",
        "התקופה {period} נסגרה אחרי שהנתונים שלה הוצגו לוועדת ההיגוי. הקובץ שלכם נבדק (למטה) ומוחזק: הוא ייקלט כשמנהל הנתונים יאשר אותו, ואין צורך לעשות דבר נוסף אלא אם יש תאים לתקן.",
    ),
    (
        "renamed_pending",
        "the column \"{x}\" is read as {field} since it was renamed; the profile does not say so yet (backbone profile draft --from-drift).",
        "העמודה \"{x}\" נקראת כ-\u{2066}{field}\u{2069} מאז ששמה שונה; הפרופיל של השותף עדיין אינו אומר זאת.",
    ),
    (
        "header_changes",
        "Changes in the latest file",
        "שינויים בקובץ האחרון",
    ),
    (
        "drift_title",
        "Since your last file:",
        "מאז הקובץ הקודם שלכם:",
    ),
    (
        "drift_renamed",
        "the column \"{from}\" is now called \"{to}\"; it was read as before.",
        "העמודה \"{from}\" נקראת עכשיו \"{to}\"; היא נקראה כמו קודם.",
    ),
    (
        "drift_maybe",
        "the column \"{from}\" is missing; if \"{to}\" is the same column, tell us and we will read it.",
        "העמודה \"{from}\" חסרה; אם \"{to}\" היא אותה עמודה, כתבו לנו ונקרא אותה.",
    ),
    (
        "drift_added",
        "a new column \"{x}\", which is not read.",
        "עמודה חדשה \"{x}\", שאינה נקראת.",
    ),
    (
        "drift_removed",
        "the column \"{x}\" is no longer in the file.",
        "העמודה \"{x}\" כבר לא מופיעה בקובץ.",
    ),
    (
        "drift_reordered",
        "the columns are in another order, which is fine.",
        "סדר העמודות השתנה, וזה בסדר.",
    ),
    (
        "drift_spelling",
        "a new spelling \"{x}\" in the column of {field}.",
        "כתיב חדש \"{x}\" בעמודה של {field}.",
    ),
    ("layout_columns", "columns", "עמודות"),
    ("exp_year", "a year such as 2024", "שנה, למשל 2024"),
    ("exp_month", "a month such as {month}", "חודש, למשל {month}"),
    (
        "exp_unique",
        "a value that no other row has",
        "ערך שאין לאף שורה אחרת",
    ),
    (
        "exp_email",
        "an email address such as {x}",
        "כתובת דוא\"ל, למשל {x}",
    ),
    (
        "exp_uri",
        "an address with its scheme, such as {x}",
        "כתובת מלאה, למשל {x}",
    ),
    (
        "exp_base64",
        "base64 text such as {x}",
        "טקסט base64, למשל {x}",
    ),
    ("exp_uuid", "a UUID such as {x}", "מזהה UUID, למשל {x}"),
    (
        "exp_total",
        "the sum of the figures it totals, {sum}",
        "סכום הנתונים שהוא מסכם, {sum}",
    ),
    ("exp_from_to", ", from {a} to {b}", ", מ-{a} עד {b}"),
    ("exp_at_least", ", at least {a}", ", לפחות {a}"),
    ("exp_at_most", ", at most {b}", ", לכל היותר {b}"),
    (
        "exp_chars_from_to",
        ", {a} to {b} characters",
        ", {a} עד {b} תווים",
    ),
    (
        "exp_chars_at_least",
        ", at least {a} characters",
        ", לפחות {a} תווים",
    ),
    (
        "exp_chars_at_most",
        ", at most {b} characters",
        ", לכל היותר {b} תווים",
    ),
    ("exp_pattern", ", in the form {p}", ", בתבנית {p}"),
    (
        "hidden_personal",
        "(personal data, not shown)",
        "(מידע אישי, לא מוצג)",
    ),
    (
        "more_not_listed",
        "more problems of this kind are not listed",
        "בעיות נוספות מסוג זה אינן מפורטות",
    ),
    ("error", "error", "שגיאה"),
    ("warning", "warning", "אזהרה"),
    ("whole_file", "whole file", "כל הקובץ"),
    (
        "questions",
        "Questions? Reply to this message; the data team reads every one.",
        "שאלות? השיבו להודעה זו; צוות הנתונים קורא כל אחת.",
    ),
    (
        "your_quality",
        "Your data quality page",
        "דף איכות הנתונים שלך",
    ),
];

/// Error-type titles in Hebrew (the English ones come from the validation report).
pub(crate) fn error_title(code: &str, lang: Lang, english: &str) -> String {
    if lang == Lang::En {
        return english.to_owned();
    }
    match code {
        "blank-label" => "עמודה ללא כותרת",
        "duplicate-label" => "עמודה שמופיעה פעמיים",
        "extra-label" => "עמודה שאינה בתבנית (לא נקלטה)",
        "missing-label" => "עמודה חסרה",
        "blank-row" => "שורה ריקה",
        "extra-cell" => "ערך מעבר לעמודה האחרונה",
        "missing-cell" => "שורה קצרה מדי",
        "type-error" => "סוג ערך שגוי",
        "constraint-error" => "ערך שאינו מותר",
        "unique-error" => "ערך שחוזר על עצמו",
        "primary-key" => "מפתח חוזר או חסר",
        "row-constraint" => "ערכים שסותרים זה את זה",
        "encoding-error" => "תווים שלא ניתן לקרוא",
        "formula-error" => "נוסחה ללא תוצאה שמורה",
        "cell-error" => "ערך שגיאה של גיליון (כמו ‎#DIV/0!‎)",
        "value-map-error" => "כתיב לא מוכר",
        "oversized-cell" => "תא ארוך מדי",
        "no-data" => "אין נתונים",
        "incorrect-label" => "עמודה שלא במקומה",
        "unmatched-header" => "הקובץ אינו של הטבלה הזו",
        "total-mismatch" => "סה\"כ שאינו מסתכם",
        _ => english,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for (k, en, he) in WORDS {
            assert!(!en.is_empty() && !he.is_empty(), "{k}");
            assert!(keys.insert(k), "duplicate key {k}");
        }
    }
}
