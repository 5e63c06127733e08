//! Response shapes shared by several features: users and token pairs as the API reference shows them.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use zauthy_core::accounts::User;
use zauthy_core::tokens::IssuedTokens;

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    #[schema(example = "usr_abc123")]
    pub id: String,
    #[schema(example = "user@example.com")]
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// `owner`, `admin` or `user`.
    #[schema(example = "user")]
    pub role: &'static str,
    pub is_verified: bool,
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
            role: u.role.as_str(),
            is_verified: u.is_verified,
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
