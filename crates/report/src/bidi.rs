//! Right-to-left text for the PNG charts. plotters draws glyphs left to right as given, so a
//! Hebrew label must be handed over in visual order: runs reordered by the Unicode
//! Bidirectional Algorithm (`unicode-bidi`), and brackets mirrored inside right-to-left runs
//! (the algorithm leaves mirroring to the renderer, which here is us).
//!
//! Arabic letters also change shape with their neighbours, and plotters draws one glyph a
//! character without the font's shaping tables. So Arabic is shaped first
//! (`ar-reshaper`: each letter becomes its initial, medial, final or isolated presentation
//! form, lam-alef its ligature, keeping only the ligatures the bundled font has), and then
//! reordered like Hebrew.

use unicode_bidi::{BidiInfo, Level};

/// The mirrored form of a character with the Bidi_Mirrored property (the pairs that occur in
/// labels; the full list is in Unicode's BidiMirroring.txt).
fn mirror(c: char) -> char {
    match c {
        '(' => ')',
        ')' => '(',
        '[' => ']',
        ']' => '[',
        '{' => '}',
        '}' => '{',
        '<' => '>',
        '>' => '<',
        '«' => '»',
        '»' => '«',
        '‹' => '›',
        '›' => '‹',
        '≤' => '≥',
        '≥' => '≤',
        other => other,
    }
}

/// The Arabic shaper, with the ligatures the bundled DejaVu Sans draws (it has Arabic
/// Presentation Forms-B, lam-alef among them, but not every word ligature of Forms-A).
static RESHAPER: std::sync::LazyLock<ar_reshaper::ArabicReshaper> =
    std::sync::LazyLock::new(|| {
        use ar_reshaper::{
            Language, ReshaperConfig, config::LigaturesFlags, prelude::LigatureNames,
        };
        // The crate's default ligatures are the four lam-alefs and the word Allah (U+FDF2), which
        // DejaVu Sans lacks; its `from_font` also turns on ligatures the font does not have
        // (a test checks every glyph drawn exists).
        let mut config = ReshaperConfig::new(Language::Arabic, LigaturesFlags::default());
        config.update_ligature(LigatureNames::ARABIC_LIGATURE_ALLAH, false);
        config.to_reshaper()
    });

/// `text` in the order its glyphs are drawn left to right. `rtl` is the paragraph direction
/// (the report's language); a line with no right-to-left letter comes back unchanged.
pub fn visual(text: &str, rtl: bool) -> String {
    let shaped;
    let text = if text
        .chars()
        .any(|c| matches!(c as u32, 0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF))
    {
        shaped = RESHAPER.reshape(text);
        shaped.as_str()
    } else {
        text
    };
    let has_rtl = text
        .chars()
        .any(|c| matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF));
    if !has_rtl {
        return text.to_owned();
    }
    let level = if rtl { Level::rtl() } else { Level::ltr() };
    let info = BidiInfo::new(text, Some(level));
    let mut out = String::with_capacity(text.len());
    for para in &info.paragraphs {
        let line = para.range.clone();
        let (levels, runs) = info.visual_runs(para, line);
        for run in runs {
            let rtl_run = levels[run.start].is_rtl();
            let piece = &text[run.clone()];
            if rtl_run {
                out.extend(piece.chars().rev().map(mirror));
            } else {
                out.push_str(piece);
            }
        }
    }
    // Explicit direction marks have no glyph.
    out.retain(|c| !matches!(c, '\u{200e}' | '\u{200f}' | '\u{2066}'..='\u{2069}' | '\u{202a}'..='\u{202e}'));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hebrew_is_reversed_and_numbers_keep_their_order() {
        // "people 2024" in Hebrew: the number stays 2024, the words come out reversed.
        assert_eq!(visual("אנשים 2024", true), "2024 םישנא");
        assert_eq!(visual("People reached", true), "People reached");
        // Mixed, in an English paragraph: the Hebrew run alone is reversed.
        assert_eq!(visual("region צפון", false), "region ןופצ");
    }

    #[test]
    fn brackets_are_mirrored_in_rtl_runs() {
        // Logical "(צפון)" is drawn as "(ןופצ)": the reversed run with its brackets mirrored
        // back so that they still open and close around the word.
        assert_eq!(visual("(צפון)", true), "(ןופצ)");
        assert_eq!(visual("יעד (2025)", true), "(2025) דעי");
    }

    #[test]
    fn arabic_letters_are_joined_then_reordered() {
        // "نساء" (women): nun initial, sin medial, alef final, hamza isolated; drawn from
        // the left, the last letter first.
        let v: Vec<char> = visual("نساء", true).chars().collect();
        assert_eq!(v[1..], ['\u{FE8E}', '\u{FEB4}', '\u{FEE7}']);
        // (The lone hamza may keep its own code point: its isolated form is the same glyph.)
        assert!(matches!(v[0], '\u{0621}' | '\u{FE80}'), "{v:?}");
        // Numbers keep their order inside an Arabic line.
        let v = visual("سنة 2024", true);
        assert!(v.starts_with("2024 "), "{v}");
        assert!(
            v.chars().all(|c| !matches!(c as u32, 0x0600..=0x06FF)),
            "{v}"
        );
        // Lam-alef is one glyph (U+FEFB), which the bundled font has.
        assert_eq!(visual("لا", true), "\u{FEFB}");
    }

    #[test]
    fn every_arabic_word_the_charts_may_draw_has_a_glyph_in_the_bundled_font() {
        let Ok(face) = ttf_parser::Face::parse(crate::chart::FONT, 0) else {
            panic!("the bundled font does not parse");
        };
        let mut words: String = crate::Lang::Ar.words().into_values().collect();
        words.push_str("الله نساء رجال الشمال الجنوب القدس حيفا");
        for c in visual(&words, true).chars().filter(|c| !c.is_ascii()) {
            assert!(
                face.glyph_index(c).is_some(),
                "no glyph for U+{:04X}",
                c as u32
            );
        }
    }

    proptest! {
        /// Reordering only moves and mirrors characters: the same multiset, bar brackets.
        #[test]
        fn keeps_every_character(s in "[א-ת a-z0-9().,%-]{0,40}") {
            let v = visual(&s, true);
            let norm = |t: &str| {
                let mut c: Vec<char> = t.chars().map(mirror).map(|c| match c {
                    ')' => '(', other => other }).collect();
                c.sort_unstable();
                c
            };
            prop_assert_eq!(norm(&v), norm(&s));
        }
    }
}
