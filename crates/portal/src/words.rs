//! The portal's words in Hebrew and English (the receipts' words are the report crate's).

use std::collections::BTreeMap;

use backbone_report::Lang;

/// (key, English, Hebrew).
const WORDS: &[(&str, &str, &str)] = &[
    ("portal", "Upload portal", "פורטל העלאת קבצים"),
    ("sign_in", "Sign in", "כניסה"),
    ("sign_out", "Sign out", "יציאה"),
    ("token", "Access token", "אסימון גישה"),
    (
        "token_help",
        "The token the data manager gave you (it starts with bbt_).",
        "האסימון שקיבלתם ממנהלת הנתונים (מתחיל ב-bbt_).",
    ),
    ("upload", "Upload a file", "העלאת קובץ"),
    ("file", "File", "קובץ"),
    ("table", "Table", "טבלה"),
    ("period", "Period", "תקופה"),
    (
        "period_help",
        "Leave empty when the file name says it (e.g. report_2024-03.xlsx).",
        "אפשר להשאיר ריק כששם הקובץ מציין אותה (למשל report_2024-03.xlsx).",
    ),
    ("partner", "Partner", "שותף"),
    ("send", "Upload and check", "העלאה ובדיקה"),
    (
        "upload_help",
        "CSV, Excel or OpenDocument, up to {mb} MB. The file is checked at once and you get its receipt.",
        "CSV, Excel או OpenDocument, עד \u{2066}{mb} MB\u{2069}. הקובץ נבדק מיד ומתקבלת קבלה.",
    ),
    ("your_uploads", "Your uploads", "ההעלאות שלכם"),
    ("all_uploads", "Uploads", "העלאות"),
    (
        "your_submissions",
        "Your submissions in the store",
        "ההגשות שלכם במאגר",
    ),
    ("received", "Received", "התקבל"),
    ("status", "Status", "מצב"),
    ("verdict", "Check", "בדיקה"),
    ("rows", "Rows", "שורות"),
    ("rejected", "Rejected rows", "שורות שנדחו"),
    ("receipt", "Receipt", "קבלה"),
    ("none_yet", "Nothing yet.", "אין עדיין."),
    (
        "st_queued",
        "waiting for tonight's run",
        "ממתין להרצה הלילית",
    ),
    ("st_ingesting", "being stored now", "נשמר עכשיו"),
    ("st_stored", "stored", "נשמר"),
    ("st_processed", "processed", "טופל"),
    ("st_duplicate", "already received", "כבר התקבל"),
    ("st_unreadable", "could not be read", "לא ניתן לקריאה"),
    ("st_current", "in use", "בשימוש"),
    ("st_replaced", "replaced", "הוחלף"),
    ("v_accepted", "accepted", "התקבל"),
    (
        "v_accepted_with_problems",
        "accepted with problems",
        "התקבל עם בעיות",
    ),
    ("v_rejected", "rejected", "נדחה"),
    ("v_unreadable", "unreadable", "לא קריא"),
    ("quality", "Your data quality", "איכות הנתונים שלכם"),
    ("report", "The committee report", "דוח הוועדה"),
    ("admin", "Data manager", "ניהול נתונים"),
    ("completeness", "Completeness", "שלמות הדיווח"),
    ("last_runs", "Last runs", "הרצות אחרונות"),
    (
        "held_title",
        "Held for approval (their period is closed)",
        "ממתינים לאישור (התקופה שלהם סגורה)",
    ),
    (
        "held_how",
        "Apply one with its button (or `backbone approve ID` on the server, or POST /api/held/ID/approve with the data manager's token): it is stored, and the results and the report are computed again.",
        "אישור בכפתור שלצדו (או בפקודה backbone approve על השרת, או בבקשת POST ל-/api/held/ID/approve עם האסימון של מנהל הנתונים) קולט את הקובץ ומחשב מחדש את התוצאות ואת הדוח.",
    ),
    ("approve", "Apply", "אישור וקליטה"),
    ("approved", "Applied", "נקלט"),
    (
        "err_no_approver",
        "This portal cannot apply held files; run `backbone approve` on the server.",
        "השירות הזה אינו יכול לקלוט קבצים ממתינים; יש להריץ backbone approve על השרת.",
    ),
    (
        "err_approve_failed",
        "The file could not be applied; nothing changed. Run `backbone approve` on the server to see why.",
        "לא ניתן היה לקלוט את הקובץ; דבר לא השתנה. הריצו backbone approve על השרת כדי לראות מדוע.",
    ),
    ("started", "Started", "התחלה"),
    ("files", "Files", "קבצים"),
    ("seconds", "Seconds", "שניות"),
    ("store_changed", "Store changed", "המאגר השתנה"),
    ("tokens", "Access tokens", "אסימוני גישה"),
    ("c_on_time", "on time", "בזמן"),
    ("c_late", "late", "באיחור"),
    ("c_missing", "missing", "חסר"),
    ("c_not_due", "not due yet", "טרם הגיע המועד"),
    ("created", "Created", "נוצר"),
    ("back", "Back to the uploads", "חזרה להעלאות"),
    ("language", "עברית", "English"),
    (
        "notice_queued",
        "The file waits in the inbox for tonight's run, which stores it and sends this receipt again.",
        "הקובץ ממתין בתיבת הדואר הנכנס להרצה הלילית, שתשמור אותו ותשלח קבלה זו שוב.",
    ),
    (
        "notice_ingesting",
        "The file is being stored now; its submission appears in your list in a minute.",
        "הקובץ נשמר עכשיו; ההגשה תופיע ברשימה בעוד דקה.",
    ),
    (
        "notice_duplicate",
        "These are the same bytes as {what}: nothing new to store.",
        "אלה בדיוק אותם נתונים כמו {what}: אין מה לשמור.",
    ),
    (
        "notice_unreadable",
        "The file was not queued: fix it and upload it again.",
        "הקובץ לא נכנס לתור: יש לתקן ולהעלות שוב.",
    ),
    (
        "notice_replaces_queued",
        "It replaces the file you uploaded at {when}, which has not been stored yet.",
        "הוא מחליף את הקובץ שהעליתם ב-{when}, שעוד לא נשמר.",
    ),
    ("err_title", "Something is wrong", "משהו השתבש"),
    (
        "err_signed_out",
        "You are signed out. Sign in with your access token.",
        "אינכם מחוברים. יש להיכנס עם אסימון הגישה.",
    ),
    (
        "err_bad_token",
        "This token is not valid (it may have been replaced). Ask the data manager for a new one.",
        "האסימון אינו תקף (ייתכן שהוחלף). בקשו אסימון חדש ממנהלת הנתונים.",
    ),
    (
        "err_csrf",
        "The form has expired. Go back, reload the page and try again.",
        "פג תוקף הטופס. חזרו, טענו את הדף מחדש ונסו שוב.",
    ),
    (
        "err_too_large",
        "The file is larger than the limit of {mb} MB. Send the data sheet alone, or split the file by period.",
        "הקובץ גדול מהמגבלה של \u{2066}{mb} MB\u{2069}. שלחו רק את גיליון הנתונים, או פצלו את הקובץ לפי תקופה.",
    ),
    (
        "err_no_file",
        "no file in the upload (form field `file`)",
        "לא צורף קובץ להעלאה (השדה \u{2066}file\u{2069}).",
    ),
    (
        "err_internal",
        "the service could not keep the file; nothing was stored. Try again, or tell the data manager.",
        "השירות לא הצליח לשמור את הקובץ; דבר לא נשמר. נסו שוב, או פנו למנהלת הנתונים.",
    ),
    (
        "err_too_slow",
        "The upload was too slow: less than {rate} bytes a second. Nothing was kept; upload the file again, from a better connection if you can.",
        "ההעלאה הייתה איטית מדי: פחות מ-\u{2066}{rate}\u{2069} בתים בשנייה. שום דבר לא נשמר; העלו את הקובץ שוב, מחיבור טוב יותר אם אפשר.",
    ),
    (
        "err_stalled",
        "The upload stopped: nothing arrived for {seconds} seconds. Nothing was kept; upload the file again.",
        "ההעלאה נעצרה: דבר לא הגיע במשך {seconds} שניות. שום דבר לא נשמר; העלו את הקובץ שוב.",
    ),
    (
        "err_rate",
        "Too many uploads in the last hour ({n} allowed). Try again in {minutes} minutes.",
        "יותר מדי העלאות בשעה האחרונה (מותרות {n}). נסו שוב בעוד {minutes} דקות.",
    ),
    ("err_not_found", "There is nothing here.", "אין כאן כלום."),
    (
        "err_forbidden",
        "This is not yours to see.",
        "אין לכם הרשאה לצפות בזה.",
    ),
    (
        "err_not_shared",
        "The workspace does not share this with partners.",
        "סביבת העבודה אינה משתפת זאת עם שותפים.",
    ),
    (
        "err_busy",
        "The service is busy; try again in a minute.",
        "השירות עמוס; נסו שוב בעוד דקה.",
    ),
];

/// The word for `key` in `lang` (the key itself if there is none; a test checks every key).
pub(crate) fn t(lang: Lang, key: &str) -> String {
    WORDS.iter().find(|(k, _, _)| *k == key).map_or_else(
        || key.to_owned(),
        |(_, en, he)| (if lang == Lang::He { *he } else { *en }).to_owned(),
    )
}

/// Every word, for templates.
pub(crate) fn all(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    WORDS
        .iter()
        .map(|(k, en, he)| (*k, if lang == Lang::He { *he } else { *en }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for (k, en, he) in WORDS {
            assert!(!en.is_empty() && !he.is_empty(), "{k}");
            assert!(keys.insert(*k), "{k} twice");
            // Placeholders must match, or a sentence loses its number.
            let holes = |s: &str| {
                s.match_indices('{')
                    .filter_map(|(i, _)| s[i..].find('}').map(|j| s[i..i + j + 1].to_owned()))
                    .collect::<std::collections::BTreeSet<_>>()
            };
            assert_eq!(holes(en), holes(he), "{k}");
        }
    }
}
