//! Second factors: TOTP (RFC 6238: SHA-1, 6 digits, 30 s, so every authenticator app works) with single-use
//! backup codes, and the `mfa_token` challenge a first factor leaves when a second one is needed.

mod challenge;
pub mod store;
mod totp;

pub use challenge::MfaProof;
pub use totp::{MfaStatus, TotpSetup, totp_for};

use time::OffsetDateTime;

/// A user's TOTP seed as stored: encrypted, and unconfirmed until the first valid code.
#[derive(Debug, Clone)]
pub struct TotpRecord {
    pub user_id: String,
    pub org_id: String,
    pub secret_enc: String,
    pub confirmed_at: Option<OffsetDateTime>,
    /// The last time step accepted; a step is accepted once (replay protection).
    pub last_used_step: Option<i64>,
    pub created_at: OffsetDateTime,
}

/// A backup code as stored (the code itself is shown once, at setup).
#[derive(Debug, Clone)]
pub struct BackupCodeRecord {
    pub id: String,
    pub user_id: String,
    pub used_at: Option<OffsetDateTime>,
}

/// What a first factor leaves behind when a second one is needed; the client holds the token.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub token_hash: String,
    /// The first factor's method (`password`, `magic_link`, …), recorded on the final `user.login`.
    pub first_factor: String,
    /// A step-up: the signed-in session that asked for the second factor. It ends when the stepped-up
    /// session opens, so the new privilege comes with a new session and cookie.
    pub replaces_session_id: Option<String>,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// The second factors a user can present, as `mfa_methods` lists them.
pub const METHOD_TOTP: &str = "totp";
pub const METHOD_BACKUP_CODE: &str = "backup_code";

pub(crate) const BACKUP_CODE_COUNT: usize = 10;
