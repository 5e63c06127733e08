//! A validated, normalised email address.

use crate::error::{CoreError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims and lowercases; rejects anything that is not `local@domain.tld` within RFC 5321 lengths.
    pub fn parse(raw: &str) -> Result<Self> {
        let email = raw.trim().to_lowercase();
        let invalid = || CoreError::invalid("invalid_email", "email must be a valid address");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
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
}
