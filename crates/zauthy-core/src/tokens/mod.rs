//! Access tokens: per-organization signing keys (Ed25519; RSA and P-256 for ID tokens) (encrypted at rest), JWT issuance and verification, JWKS.

mod keyring;
mod signer;
pub mod store;

pub use keyring::KeyRing;
pub(crate) use keyring::active_of;
pub use signer::SigningAlg;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A signing key as stored: the private half encrypted under the master key, the public half as a JWK.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub org_id: String,
    pub algorithm: String,
    pub private_key_enc: String,
    pub public_jwk: String,
    pub created_at: OffsetDateTime,
    /// Set when a newer key replaced this one; it no longer signs.
    pub retired_at: Option<OffsetDateTime>,
    /// After this instant no token signed by the key can still be valid, so it leaves the JWKS.
    pub expires_at: Option<OffsetDateTime>,
}

/// The claims of an access token. `sid` ties it to a session so revocation takes effect at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub org_id: String,
    pub role: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// The audience of zauthy's own API access tokens, so an ID token for a client can't be replayed here.
pub const API_AUDIENCE: &str = "zauthy-api";

#[derive(Debug, Clone, Serialize)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    /// The session the pair belongs to (hosted pages bind a browser cookie to it).
    #[serde(skip)]
    pub session_id: String,
}

/// Why a token did not verify. Kept coarse on purpose: callers learn "invalid" vs "expired" vs "revoked".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    BadSignature,
    Expired,
    SessionRevoked,
    WrongOrganization,
}

impl TokenRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadSignature => "invalid_signature",
            Self::Expired => "expired",
            Self::SessionRevoked => "session_revoked",
            Self::WrongOrganization => "wrong_organization",
        }
    }
}
