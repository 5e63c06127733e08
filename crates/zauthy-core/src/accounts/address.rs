//! A user's postal address: the OpenID Connect Address Claim (Core §5.1.1), validated and normalised.

use crate::error::{CoreError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The members of an address, as sent or as stored; absent members are left out when serialized.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressMembers {
    /// The full mailing address for display; may hold line breaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// House number, street and extended lines; may hold line breaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A validated address with at least one non-empty member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(AddressMembers);

/// Longest `formatted` member, in characters; every other member allows `MAX_MEMBER_CHARS`.
pub const MAX_FORMATTED_CHARS: usize = 1024;
pub const MAX_MEMBER_CHARS: usize = 256;

fn clean_member(value: Option<String>, member: &str, max: usize) -> Result<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim();
    // OIDC allows line breaks ("\n" or "\r\n") in the multi-line members; nothing else unprintable.
    let multi_line = matches!(member, "formatted" | "street_address");
    let bad_char = |c: char| c.is_control() && !(multi_line && (c == '\n' || c == '\r'));
    if value.chars().count() > max || value.chars().any(bad_char) {
        return Err(CoreError::invalid(
            "invalid_address",
            format!("address.{member} must be at most {max} printable characters"),
        ));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

impl Address {
    /// Trims every member and drops the empty ones; `None` when nothing is left (no address).
    pub fn parse(raw: AddressMembers) -> Result<Option<Self>> {
        let members = AddressMembers {
            formatted: clean_member(raw.formatted, "formatted", MAX_FORMATTED_CHARS)?,
            street_address: clean_member(raw.street_address, "street_address", MAX_MEMBER_CHARS)?,
            locality: clean_member(raw.locality, "locality", MAX_MEMBER_CHARS)?,
            region: clean_member(raw.region, "region", MAX_MEMBER_CHARS)?,
            postal_code: clean_member(raw.postal_code, "postal_code", MAX_MEMBER_CHARS)?,
            country: clean_member(raw.country, "country", MAX_MEMBER_CHARS)?,
        };
        Ok((members != AddressMembers::default()).then_some(Self(members)))
    }

    /// For values read back from the store, which were validated on the way in.
    pub fn from_trusted(members: AddressMembers) -> Self {
        Self(members)
    }

    pub fn members(&self) -> &AddressMembers {
        &self.0
    }

    pub fn into_members(self) -> AddressMembers {
        self.0
    }

    /// The `address` claim: a JSON object of the non-empty members.
    pub fn to_claim(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(locality: &str) -> AddressMembers {
        AddressMembers { locality: Some(locality.into()), ..Default::default() }
    }

    #[test]
    fn members_are_trimmed_and_empty_ones_dropped() {
        let raw = AddressMembers { country: Some("  ".into()), ..members(" Paris ") };
        let address = Address::parse(raw).unwrap().unwrap();
        assert_eq!(address.to_claim(), serde_json::json!({"locality": "Paris"}));
    }

    #[test]
    fn an_address_with_no_non_empty_member_is_no_address() {
        assert_eq!(Address::parse(AddressMembers::default()).unwrap(), None);
        assert_eq!(Address::parse(members(" ")).unwrap(), None);
    }

    #[test]
    fn line_breaks_are_allowed_only_in_the_multi_line_members() {
        let multi = AddressMembers { street_address: Some("1 Main St\r\nApt 2".into()), ..Default::default() };
        assert!(Address::parse(multi).is_ok());
        assert!(Address::parse(members("Par\nis")).is_err());
        assert!(Address::parse(members("Par\u{0}is")).is_err());
    }

    #[test]
    fn members_longer_than_their_limit_are_refused() {
        assert!(Address::parse(members(&"é".repeat(MAX_MEMBER_CHARS))).is_ok());
        assert!(Address::parse(members(&"é".repeat(MAX_MEMBER_CHARS + 1))).is_err());
        let formatted = |n| AddressMembers { formatted: Some("x".repeat(n)), ..Default::default() };
        assert!(Address::parse(formatted(MAX_FORMATTED_CHARS)).is_ok());
        assert!(Address::parse(formatted(MAX_FORMATTED_CHARS + 1)).is_err());
    }
}
