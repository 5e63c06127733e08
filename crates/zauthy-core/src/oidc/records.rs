//! What the provider keeps between requests: pending authorization requests, grants (a user's authorization
//! of a client, which every code and token issued for it points to), codes, refresh tokens and consent.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// The validated parameters of an authorization request (from `/authorize` or pushed with PAR).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthParams {
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 challenge; `plain` is not accepted.
    pub code_challenge: Option<String>,
    /// `query` or `form_post`.
    pub response_mode: String,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub acr_values: Vec<String>,
    /// The `claims` request parameter (OIDC Core §5.5), as given.
    pub claims: Option<Value>,
    /// The phone session that approved this sign-in, from a spent `login_hint_token` (secondary-device flow):
    /// it stands in for a sign-in on this browser.
    #[serde(default)]
    pub hinted_session: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code may only be exchanged with.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub id: String,
    pub org_id: String,
    pub client_id: String,
    pub params: AuthParams,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// A user's authorization of a client for some scopes, made at one sign-in.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub org_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub scope: Vec<String>,
    pub claims: Option<Value>,
    pub nonce: Option<String>,
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub acr: String,
    pub revoked_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// An authorization code, kept as the SHA-256 of the code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub hash: String,
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    /// The DPoP key the code is bound to (the request's `dpop_jkt`).
    pub dpop_jkt: Option<String>,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// A refresh token issued to a client, kept as its SHA-256; each use spends it and issues the next.
#[derive(Debug, Clone)]
pub struct ClientRefreshToken {
    pub hash: String,
    pub grant_id: String,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    /// A public client's token is bound to the DPoP key it was issued to (RFC 9449 §5): the key's thumbprint.
    pub dpop_jkt: Option<String>,
    pub created_at: OffsetDateTime,
}

/// What a token request spends: each works once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    AuthCode,
    RefreshToken,
}

/// One token request's write: spend the code or refresh token with the SHA-256 `hash` and, only if this spent
/// it, store `issues` (the next refresh token). Concurrent requests' writes commit together in one transaction
/// (`Services::commit_token_write`).
#[derive(Debug, Clone)]
pub struct TokenWrite {
    pub spends: Spent,
    pub hash: String,
    pub issues: Option<ClientRefreshToken>,
}

/// The scopes a user has agreed to share with a client; asked again only for more.
#[derive(Debug, Clone)]
pub struct Consent {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}
