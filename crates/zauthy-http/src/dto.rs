//! Shapes shared by several features: users, addresses and token pairs as the API reference shows them.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use zauthy_core::accounts::{AddressMembers, User};
use zauthy_core::tokens::IssuedTokens;

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// For `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>` field of a partial update:
/// tells a member that is absent (`None`, leave it) from one that is `null` (`Some(None)`, clear it).
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A postal address: the OpenID Connect address claim (Core §5.1.1). Every member is optional and there are no
/// others; members are trimmed, empty ones dropped, and an address with none left is no address. At most 256
/// characters per member (1024 for `formatted`); line breaks only in `formatted` and `street_address`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "Map<String, Value>")]
pub struct Address {
    /// The full mailing address for display, lines separated by `\n` or `\r\n`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "1 Main Street\nSpringfield, IL 62701\nUSA")]
    pub formatted: Option<String>,
    /// House number, street name and extended lines (PO box, apartment).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "1 Main Street")]
    pub street_address: Option<String>,
    /// City or locality.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Springfield")]
    pub locality: Option<String>,
    /// State, province, prefecture or region.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "IL")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "62701")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "US")]
    pub country: Option<String>,
}

/// Only a JSON object is an address (serde would also read a struct from an array, member by position); its
/// members are those of the claim and nothing else.
impl TryFrom<Map<String, Value>> for Address {
    type Error = serde_json::Error;
    fn try_from(object: Map<String, Value>) -> Result<Self, Self::Error> {
        serde_json::from_value::<AddressMembers>(Value::Object(object)).map(Into::into)
    }
}

impl From<Address> for AddressMembers {
    fn from(a: Address) -> Self {
        let Address { formatted, street_address, locality, region, postal_code, country } = a;
        Self { formatted, street_address, locality, region, postal_code, country }
    }
}

impl From<AddressMembers> for Address {
    fn from(m: AddressMembers) -> Self {
        let AddressMembers { formatted, street_address, locality, region, postal_code, country } = m;
        Self { formatted, street_address, locality, region, postal_code, country }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    #[schema(example = "usr_abc123")]
    pub id: String,
    #[schema(example = "user@example.com")]
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Only the members the user has; `null` when there is no address.
    pub address: Option<Address>,
    /// `owner`, `admin` or `user`.
    #[schema(example = "user")]
    pub role: &'static str,
    pub is_verified: bool,
    /// The user entered an SMS one-time code sent to `phone`; a changed number is unproven again.
    pub phone_verified: bool,
    pub is_blocked: bool,
    /// Set while the account is locked after failed logins.
    pub locked_until: Option<String>,
    pub failed_login_attempts: i32,
    pub last_login_at: Option<String>,
    #[schema(example = "2026-03-07T10:00:00Z")]
    pub created_at: String,
    pub updated_at: String,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email.as_str().to_owned(),
            name: u.name,
            phone: u.phone,
            address: u.address.map(|a| a.into_members().into()),
            role: u.role.as_str(),
            is_verified: u.is_verified,
            phone_verified: u.phone_verified,
            is_blocked: u.is_blocked,
            locked_until: u.locked_until.map(rfc3339),
            failed_login_attempts: u.failed_login_attempts,
            last_login_at: u.last_login_at.map(rfc3339),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT (EdDSA) valid for `expires_in` seconds; verify it with the organization's JWKS.
    pub access_token: String,
    /// Opaque, single use: each refresh returns a new one.
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: i64,
}

impl From<IssuedTokens> for TokenPair {
    fn from(t: IssuedTokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: t.token_type,
            expires_in: t.expires_in,
        }
    }
}

/// `{"success": true}`
#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessResponse {
    pub success: bool,
}

impl SuccessResponse {
    pub fn ok() -> axum::Json<Self> {
        axum::Json(Self { success: true })
    }
}
