//! Pseudonymisation of personal-data fields: a keyed hash, so that the same person gets the
//! same key at every partner while nobody without the initiative's secret can reverse it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// HMAC-SHA256 with the initiative's secret key, then once more with each rotation's key
/// (`backbone rekey`), over the previous pseudonym.
///
/// After a rotation the pseudonym of an identifier is `HMAC(k₂, HMAC(k₁, id))`: the store's
/// pseudonyms were rewritten that way (no identifier needed), new files are pseudonymised
/// the same way, so a person keeps one pseudonym across the years, and a leaked copy of `k₁`
/// alone no longer finds anybody in the store.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
    rotations: Vec<Rotation>,
}

/// One rotation of the key: a pseudonym in, the rotated pseudonym out.
#[derive(Clone)]
pub struct Rotation {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rotation(<secret>)")
    }
}

/// The length of a rotation's key in the rotations file.
pub const ROTATION_KEY_BYTES: usize = 32;

impl Rotation {
    /// A rotation keyed with `key` (at least 16 bytes).
    pub fn new(key: &[u8]) -> Option<Self> {
        if key.len() < 16 {
            return None;
        }
        Hmac::<Sha256>::new_from_slice(key)
            .ok()
            .map(|mac| Self { mac })
    }

    /// The rotated pseudonym (32 hex digits) of a pseudonym's 32 hex digits.
    pub fn apply(&self, pseudonym: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(pseudonym);
        hex32(&mac.finalize().into_bytes())
    }

    /// [`Self::apply`] as text.
    pub fn apply_str(&self, pseudonym: &str) -> String {
        let hex = self.apply(pseudonym.as_bytes());
        std::str::from_utf8(&hex).unwrap_or_default().to_owned()
    }
}

fn hex32(digest: &[u8]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, b) in digest.iter().take(16).enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
    out
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
        Hmac::<Sha256>::new_from_slice(secret).ok().map(|mac| Self {
            mac,
            rotations: Vec::new(),
        })
    }

    /// The pseudonymiser after the rotations whose keys `rotations` holds, one
    /// [`ROTATION_KEY_BYTES`] block each, oldest first (`None` when that file is malformed).
    pub fn with_rotations(secret: &[u8], rotations: &[u8]) -> Option<Self> {
        let mut p = Self::new(secret)?;
        if !rotations.len().is_multiple_of(ROTATION_KEY_BYTES) {
            return None;
        }
        for key in rotations.chunks(ROTATION_KEY_BYTES) {
            p.rotations.push(Rotation::new(key)?);
        }
        Some(p)
    }

    /// How many rotations it applies.
    pub fn rotations(&self) -> usize {
        self.rotations.len()
    }

    /// The pseudonym of a value: 32 hex digits (128 bits of the HMAC).
    ///
    /// The value is normalised first so that partners' spellings of one identifier agree:
    /// spaces, dashes, dots and slashes are dropped, letters upper-cased, and an all-digit
    /// identifier loses its leading zeros (spreadsheets drop them from ID numbers).
    pub fn pseudonym(&self, value: &str) -> String {
        let hex = self.pseudonym_hex(value);
        // Hex digits, always UTF-8.
        std::str::from_utf8(&hex).unwrap_or_default().to_owned()
    }

    /// [`Self::pseudonym`] as ASCII bytes, without allocating for the usual short ASCII
    /// identifier (this runs once per row of every file ingested).
    pub fn pseudonym_hex(&self, value: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        let mut stack = [0u8; 64];
        if value.is_ascii() && value.len() <= stack.len() {
            // The usual case (ID numbers), without the Unicode tables or an allocation.
            let mut n = 0;
            for b in value.bytes() {
                if !b.is_ascii_whitespace() && b != 0x0b && !matches!(b, b'-' | b'.' | b'/') {
                    stack[n] = b.to_ascii_uppercase();
                    n += 1;
                }
            }
            mac.update(strip_zeros(&stack[..n]));
        } else {
            let norm: String = value
                .chars()
                .filter(|c| {
                    !c.is_whitespace() && !matches!(c, '-' | '.' | '/' | '\u{200e}' | '\u{200f}')
                })
                .flat_map(char::to_uppercase)
                .collect();
            mac.update(strip_zeros(norm.as_bytes()));
        }
        let mut out = hex32(&mac.finalize().into_bytes());
        for r in &self.rotations {
            out = r.apply(&out);
        }
        out
    }
}

/// An all-digit identifier without its leading zeros ("0" if it was all zeros).
fn strip_zeros(norm: &[u8]) -> &[u8] {
    if norm.is_empty() || !norm.iter().all(u8::is_ascii_digit) {
        return norm;
    }
    match norm.iter().position(|&b| b != b'0') {
        Some(i) => &norm[i..],
        None => b"0",
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

    #[test]
    fn pseudonyms_are_the_published_hmac() {
        // Stores keep pseudonyms across versions of backbone: the function may never change.
        // Expected values from Python's `hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]`.
        let p = Pseudonymiser::new(b"0123456789abcdef0123").unwrap();
        assert_eq!(
            p.pseudonym("012-345-678"),
            "45bc04148c9b131789068437c70bc908"
        );
        assert_eq!(p.pseudonym("ab 12"), "5bcae4765593ad701b57ac4a69a72213");
        assert_eq!(p.pseudonym("000"), "27f80ddeb8d4aa07a898ce9a86761237");
        // Longer than the fast path's buffer: the Unicode path, same rules.
        let long = format!("{}12345678", "0".repeat(80));
        assert_eq!(p.pseudonym(&long), "45bc04148c9b131789068437c70bc908");
    }

    #[test]
    fn a_rotation_maps_old_pseudonyms_to_what_the_rotated_key_gives_new_files() {
        let key = b"0123456789abcdef0123";
        let rot = [7u8; 32];
        let before = Pseudonymiser::new(key).unwrap();
        let after = Pseudonymiser::with_rotations(key, &rot).unwrap();
        let rotation = Rotation::new(&rot).unwrap();
        for id in ["012345678", "ab 12", "x"] {
            assert_eq!(
                rotation.apply_str(&before.pseudonym(id)),
                after.pseudonym(id)
            );
            assert_ne!(before.pseudonym(id), after.pseudonym(id));
        }
        assert_eq!(after.rotations(), 1);
        assert!(Pseudonymiser::with_rotations(key, &[1u8; 31]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn the_ascii_fast_path_agrees_with_the_unicode_path(s in "[ -~\t\x0b\x0c\r\n]{0,70}") {
            let p = Pseudonymiser::new(b"0123456789abcdef0123").unwrap();
            // A left-to-right mark is dropped by normalisation but forces the Unicode path.
            proptest::prop_assert_eq!(p.pseudonym(&s), p.pseudonym(&format!("{s}\u{200e}")));
        }
    }
}
