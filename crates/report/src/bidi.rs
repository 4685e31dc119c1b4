//! Right-to-left text for the PNG charts. plotters draws glyphs left to right as given, so a
//! Hebrew label must be handed over in visual order: runs reordered by the Unicode
//! Bidirectional Algorithm (`unicode-bidi`), and brackets mirrored inside right-to-left runs
//! (the algorithm leaves mirroring to the renderer, which here is us).

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

/// `text` in the order its glyphs are drawn left to right. `rtl` is the paragraph direction
/// (the report's language); a line with no right-to-left letter comes back unchanged.
pub fn visual(text: &str, rtl: bool) -> String {
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
