//! The report's and receipts' words, from one Project Fluent file per language
//! (`crates/report/i18n/<lang>.ftl`, compiled in). Templates get them as `t.<key>`; Rust code
//! as `lang.t(key)`, with each `{ $name }` left as `{name}` for the caller to fill (the Fluent
//! bundle formats every message once, its variables given as those placeholders).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource};
use fluent_syntax::ast;

/// The language of a document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Lang {
    /// Hebrew, right to left.
    #[default]
    He,
    /// English.
    En,
    /// Arabic, right to left.
    Ar,
}

impl Lang {
    /// Every language the product's own words ship in.
    pub const ALL: [Self; 3] = [Self::He, Self::En, Self::Ar];

    /// From `he`, `ar` or `en` (anything else is English).
    pub fn parse(code: &str) -> Self {
        match code.to_ascii_lowercase().as_str() {
            "he" => Self::He,
            "ar" => Self::Ar,
            _ => Self::En,
        }
    }
    /// `he`, `en` or `ar`.
    pub fn code(self) -> &'static str {
        match self {
            Self::He => "he",
            Self::En => "en",
            Self::Ar => "ar",
        }
    }
    /// The language's name in itself (`עברית`, `English`, `العربية`).
    pub fn name(self) -> &'static str {
        match self {
            Self::He => "עברית",
            Self::En => "English",
            Self::Ar => "العربية",
        }
    }
    /// `rtl` or `ltr`.
    pub fn dir(self) -> &'static str {
        if self.rtl() { "rtl" } else { "ltr" }
    }
    /// Whether text runs right to left.
    pub fn rtl(self) -> bool {
        matches!(self, Self::He | Self::Ar)
    }
    fn index(self) -> usize {
        match self {
            Self::He => 0,
            Self::En => 1,
            Self::Ar => 2,
        }
    }
    /// The word for `key`; empty when there is none (a test checks every key exists in
    /// every language).
    pub fn t(self, key: &str) -> &'static str {
        WORDS[self.index()].get(key).map_or("", String::as_str)
    }
    /// Every word, for templates.
    pub fn words(self) -> BTreeMap<&'static str, &'static str> {
        WORDS[self.index()]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// The report's Fluent files, in [`Lang::ALL`]'s order.
pub const SOURCES: [(Lang, &str); 3] = [
    (Lang::He, include_str!("../i18n/he.ftl")),
    (Lang::En, include_str!("../i18n/en.ftl")),
    (Lang::Ar, include_str!("../i18n/ar.ftl")),
];

static WORDS: LazyLock<[BTreeMap<String, String>; 3]> =
    LazyLock::new(|| SOURCES.map(|(lang, src)| messages(lang, src).0));

/// Every message of a Fluent file in `lang`, formatted with each variable left as `{name}`,
/// and what was wrong with the file (nothing, for a shipped one: a test checks).
pub fn messages(lang: Lang, source: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let (resource, mut problems) = match FluentResource::try_new(source.to_owned()) {
        Ok(r) => (r, Vec::new()),
        Err((r, errors)) => (r, errors.iter().map(|e| format!("{lang:?}: {e}")).collect()),
    };
    let wanted = message_variables(&resource);
    let id = lang.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new(vec![id]);
    bundle.set_use_isolating(false);
    if let Err(errors) = bundle.add_resource(resource) {
        problems.extend(errors.iter().map(|e| format!("{lang:?}: {e}")));
    }
    let mut out = BTreeMap::new();
    for (id, vars) in wanted {
        let Some(pattern) = bundle.get_message(&id).and_then(|m| m.value()) else {
            continue;
        };
        let mut args = FluentArgs::new();
        for v in &vars {
            args.set(v.clone(), format!("{{{v}}}"));
        }
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
        problems.extend(errors.iter().map(|e| format!("{lang:?} {id}: {e}")));
        out.insert(id, text.into_owned());
    }
    (out, problems)
}

/// Each message of a resource (those with a value) and the variables it uses.
fn message_variables(resource: &FluentResource) -> BTreeMap<String, BTreeSet<String>> {
    resource
        .entries()
        .filter_map(|e| match e {
            ast::Entry::Message(m) => m.value.as_ref().map(|p| {
                let mut vars = BTreeSet::new();
                variables(p, &mut vars);
                (m.id.name.to_owned(), vars)
            }),
            _ => None,
        })
        .collect()
}

/// The variables (`$name`) a pattern uses, at any depth.
pub fn variables<S: AsRef<str>>(pattern: &ast::Pattern<S>, out: &mut BTreeSet<String>) {
    fn inline<S: AsRef<str>>(e: &ast::InlineExpression<S>, out: &mut BTreeSet<String>) {
        match e {
            ast::InlineExpression::VariableReference { id } => {
                out.insert(id.name.as_ref().to_owned());
            }
            ast::InlineExpression::Placeable { expression } => expr(expression, out),
            ast::InlineExpression::FunctionReference { arguments, .. } => {
                for a in &arguments.positional {
                    inline(a, out);
                }
            }
            _ => {}
        }
    }
    fn expr<S: AsRef<str>>(e: &ast::Expression<S>, out: &mut BTreeSet<String>) {
        match e {
            ast::Expression::Inline(i) => inline(i, out),
            ast::Expression::Select { selector, variants } => {
                inline(selector, out);
                for v in variants {
                    variables(&v.value, out);
                }
            }
        }
    }
    for el in &pattern.elements {
        if let ast::PatternElement::Placeable { expression } = el {
            expr(expression, out);
        }
    }
}

/// What is wrong with a set of Fluent files, one per language: a file that does not parse, a
/// message missing from a language or not in the first, other variables, an empty message.
/// Empty for the shipped files (the report's and the portal's tests check).
pub fn catalog_problems(sources: &[(Lang, &str)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut first: Option<(Lang, BTreeMap<String, BTreeSet<String>>)> = None;
    for (lang, src) in sources {
        let (words, p) = messages(*lang, src);
        problems.extend(p);
        problems.extend(
            words
                .iter()
                .filter(|(_, w)| w.trim().is_empty())
                .map(|(k, _)| format!("{lang:?} {k}: empty")),
        );
        let resource = FluentResource::try_new((*src).to_owned()).unwrap_or_else(|(r, _)| r);
        let vars = message_variables(&resource);
        match &first {
            None => first = Some((*lang, vars)),
            Some((l0, keys)) => {
                for (k, v) in keys {
                    match vars.get(k) {
                        None => problems.push(format!("{lang:?}: no {k} (which {l0:?} has)")),
                        Some(w) if w != v => problems
                            .push(format!("{lang:?} {k}: variables {w:?}, {l0:?} has {v:?}")),
                        Some(_) => {}
                    }
                }
                for k in vars.keys().filter(|k| !keys.contains_key(*k)) {
                    problems.push(format!("{lang:?}: {k} is not in {l0:?}"));
                }
            }
        }
    }
    problems
}

/// A problem type's title in `lang` (`title-<code>` in the Fluent files); the validation
/// report's English title for a code the files do not know, and always in English (the two
/// are the same words: a test checks).
pub(crate) fn error_title(code: &str, lang: Lang, english: &str) -> String {
    if lang == Lang::En {
        return english.to_owned();
    }
    let t = lang.t(&format!("title-{code}"));
    if t.is_empty() { english } else { t }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_exists_in_every_language_with_the_same_variables() {
        assert_eq!(catalog_problems(&SOURCES), Vec::<String>::new());
        assert_eq!(Lang::En.t("same_as_row"), "same as row {row}");
        assert_eq!(Lang::Ar.t("same_as_row"), "مثل الصف {row}");
        assert_eq!(Lang::He.t("exp_or"), " או ");
    }

    #[test]
    fn the_english_titles_are_the_validation_reports() {
        for kind in backbone_ingest::ErrorType::ALL {
            assert_eq!(Lang::En.t(&format!("title-{}", kind.code())), kind.title());
            assert!(!error_title(kind.code(), Lang::Ar, kind.title()).is_empty());
        }
    }

    #[test]
    fn a_broken_file_says_what_is_wrong() {
        let (_, problems) = messages(Lang::En, "ok = fine\nbad = { $x\n");
        assert!(!problems.is_empty());
    }
}
