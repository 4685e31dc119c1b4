//! Pseudonymisation of personal-data fields: a keyed hash, so that the same person gets the
//! same key at every partner while nobody without the initiative's secret can reverse it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// HMAC-SHA256 with the initiative's secret key.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser(<secret>)")
    }
}

impl Pseudonymiser {
    /// A pseudonymiser keyed with `secret` (at least 16 bytes).
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.len() < 16 {
            return None;
        }
        Hmac::<Sha256>::new_from_slice(secret)
            .ok()
            .map(|mac| Self { mac })
    }

    /// The pseudonym of a value: 32 hex digits (128 bits of the HMAC).
    ///
    /// The value is normalised first so that partners' spellings of one identifier agree:
    /// spaces, dashes, dots and slashes are dropped, letters upper-cased, and an all-digit
    /// identifier loses its leading zeros (spreadsheets drop them from ID numbers).
    pub fn pseudonym(&self, value: &str) -> String {
        let mut norm: String = if value.is_ascii() {
            // The usual case (ID numbers), without the Unicode tables.
            value
                .bytes()
                .filter(|&b| !char::from(b).is_whitespace() && !matches!(b, b'-' | b'.' | b'/'))
                .map(|b| char::from(b.to_ascii_uppercase()))
                .collect()
        } else {
            value
                .chars()
                .filter(|c| {
                    !c.is_whitespace() && !matches!(c, '-' | '.' | '/' | '\u{200e}' | '\u{200f}')
                })
                .flat_map(char::to_uppercase)
                .collect()
        };
        if !norm.is_empty() && norm.bytes().all(|b| b.is_ascii_digit()) {
            let trimmed = norm.trim_start_matches('0');
            norm = if trimmed.is_empty() {
                "0".to_owned()
            } else {
                trimmed.to_owned()
            };
        }
        let mut mac = self.mac.clone();
        mac.update(norm.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(32);
        for b in &digest[..16] {
            out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_person_same_pseudonym_and_never_the_raw_value() {
        let p = Pseudonymiser::new(b"0123456789abcdef0123").unwrap();
        assert_eq!(p.pseudonym("012345678"), p.pseudonym("12345678"));
        assert_eq!(p.pseudonym("12-345 678"), p.pseudonym("12345678"));
        assert_eq!(p.pseudonym("ab12"), p.pseudonym("AB12"));
        // The ASCII fast path and the Unicode path agree.
        assert_eq!(p.pseudonym("ab 12\u{200e}"), p.pseudonym("AB12"));
        assert_eq!(p.pseudonym("\u{a0}ab.12"), p.pseudonym("ab/12"));
        assert_ne!(p.pseudonym("12345678"), p.pseudonym("12345679"));
        assert_eq!(p.pseudonym("x").len(), 32);
        let other = Pseudonymiser::new(b"another secret key!!").unwrap();
        assert_ne!(p.pseudonym("12345678"), other.pseudonym("12345678"));
        assert!(Pseudonymiser::new(b"short").is_none());
    }
}
