//! A validated, normalised email address. Every address the service compares (sign-up, sign-in, lookups, the
//! lockout's keys, magic links and codes, social-login linking) goes through `Email::parse`, so one address has
//! one form: fullwidth letters mapped to their ordinary ones, lowercased, NFC (RFC 6532 §3.1). What could
//! make two addresses that look alike and compare unequal is refused: invisible characters (zero-width
//! joiners, bidi controls, variation selectors), control characters, and the other compatibility characters.

use crate::error::{CoreError, Result};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Default-ignorable code points that are not format characters (those are refused by category): the
/// combining grapheme joiner, Hangul fillers, Khmer inherent vowels and the variation selectors.
const INVISIBLE: &[(char, char)] = &[
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{E0100}', '\u{E01EF}'),
];

/// A character nobody can see or type by mistake in an address: controls, format characters (U+200B–U+200F,
/// U+2060…, U+FEFF, bidi overrides), separators, unassigned, private-use and the default-ignorables above.
fn is_invisible_or_control(c: char) -> bool {
    use GeneralCategory as G;
    matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
    ) || INVISIBLE.iter().any(|(from, to)| (*from..=*to).contains(&c))
}

/// The Halfwidth and Fullwidth Forms block: what an input method types for `ａｌｉｃｅ`.
fn is_width_variant(c: char) -> bool {
    ('\u{FF01}'..='\u{FFEF}').contains(&c)
}

impl Email {
    /// The one form of an address: trimmed, fullwidth letters mapped to ordinary ones, lowercased, NFC. Rejects
    /// anything that is not `local@domain.tld` within RFC 5321 lengths, and look-alike characters.
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = || CoreError::invalid("invalid_email", "email must be a valid address");
        let mapped: String = raw
            .trim()
            .chars()
            .flat_map(|c| if is_width_variant(c) { c.to_string().nfkc().collect() } else { vec![c] })
            .collect();
        let email: String = mapped.to_lowercase().nfc().collect();
        if email.chars().any(is_invisible_or_control) {
            return Err(CoreError::invalid(
                "invalid_email",
                "email must not contain invisible, control or whitespace characters",
            ));
        }
        // Left are compatibility characters (ligatures, superscripts, circled letters…) that read as others.
        if !email.nfkc().eq(email.chars()) {
            return Err(CoreError::invalid(
                "invalid_email",
                "email must not contain look-alike compatibility characters",
            ));
        }
        if email.len() > 254 {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.split('.').all(|label| !label.is_empty() && label.len() <= 63);
        if local.is_empty() || local.len() > 64 || !domain_ok || local.contains(['<', '>', ',', ';', '"']) {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The key an address is counted or compared under when it need not be valid (lockout of unknown
    /// addresses, passkey decoys, searches): its normalised form when it parses, else trimmed, lowercased, NFC.
    pub fn key_of(raw: &str) -> String {
        match Self::parse(raw) {
            Ok(email) => email.0,
            Err(_) => raw.trim().to_lowercase().nfc().collect(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from the store, which were validated on the way in.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(Email::parse("  Jane.Doe@Example.COM ").unwrap().as_str(), "jane.doe@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in
            ["", "plain", "@example.com", "a@", "a@b", "a@.com", "a@b..com", "a b@c.com", "a@b@c.com", "<a>@b.com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn composed_and_decomposed_accents_are_one_address() {
        let composed = Email::parse("jos\u{E9}@example.com").unwrap();
        let decomposed = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str(), "jos\u{E9}@example.com");
        assert_eq!(Email::parse("JOSE\u{301}@EXAMPLE.COM").unwrap(), composed);
    }

    #[test]
    fn fullwidth_letters_are_the_ordinary_ones() {
        assert_eq!(Email::parse("\u{FF41}\u{FF4C}\u{FF29}ce@example.com").unwrap().as_str(), "alice@example.com");
        assert_eq!(Email::parse("alice\u{FF20}example\u{FF0E}com").unwrap().as_str(), "alice@example.com");
    }

    #[test]
    fn invisible_control_and_compatibility_characters_are_refused() {
        for bad in [
            "ali\u{200D}ce@example.com",
            "alice\u{200B}@example.com",
            "\u{FEFF}alice@example.com",
            "ali\u{202E}ce@example.com",
            "alice\u{FE0F}@example.com",
            "ali\u{0007}ce@example.com",
            "ali\u{00A0}ce@example.com",
            "\u{FB01}sh@example.com",
            "alice\u{00B2}@example.com",
            "\u{24D0}lice@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ordinary_international_addresses_are_accepted() {
        for good in [
            "m\u{FC}ller@example.de",
            "\u{7528}\u{6237}@\u{4F8B}\u{5B50}.\u{5E7F}\u{544A}",
            "\u{43F}@\u{43F}.\u{440}\u{444}",
        ] {
            assert!(Email::parse(good).is_ok(), "{good:?}");
        }
    }
}
