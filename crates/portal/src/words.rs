//! The portal's words, from one Project Fluent file per language
//! (`crates/portal/i18n/<lang>.ftl`, compiled in; the receipts' words are the report crate's).
//! `{ $name }` comes back as `{name}` for the caller to fill.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use backbone_report::Lang;

/// The portal's Fluent files.
const SOURCES: [(Lang, &str); 3] = [
    (Lang::He, include_str!("../i18n/he.ftl")),
    (Lang::En, include_str!("../i18n/en.ftl")),
    (Lang::Ar, include_str!("../i18n/ar.ftl")),
];

static WORDS: LazyLock<Vec<(Lang, BTreeMap<String, String>)>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(l, src)| (*l, backbone_report::i18n::messages(*l, src).0))
        .collect()
});

fn of(lang: Lang) -> Option<&'static BTreeMap<String, String>> {
    WORDS.iter().find(|(l, _)| *l == lang).map(|(_, w)| w)
}

/// The word for `key` in `lang` (the key itself if there is none; a test checks every key).
pub(crate) fn t(lang: Lang, key: &str) -> String {
    of(lang)
        .and_then(|w| w.get(key))
        .map_or_else(|| key.to_owned(), Clone::clone)
}

/// Every word, for templates.
pub(crate) fn all(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    of(lang)
        .map(|w| w.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_exists_in_every_language_with_the_same_variables() {
        assert_eq!(
            backbone_report::i18n::catalog_problems(&SOURCES),
            Vec::<String>::new()
        );
        assert_eq!(t(Lang::Ar, "sign_in"), "تسجيل الدخول");
        assert_eq!(t(Lang::En, "upload_help").matches("{mb}").count(), 1);
    }
}
