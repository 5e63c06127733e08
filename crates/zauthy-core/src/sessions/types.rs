//! Session and refresh token records.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    /// Sliding expiry: pushed forward by every refresh.
    pub idle_expires_at: OffsetDateTime,
    /// Hard end, whatever the activity.
    pub absolute_expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
    /// How the user proved who they are at sign-in (RFC 8176 values: `pwd`, `otp`, `mfa`, `hwk`, …), for the
    /// `amr` and `acr` of the ID tokens issued from this session.
    pub amr: Vec<String>,
    /// The session id the RPs know (the ID tokens' `sid`): this session's own id, or, for a session a
    /// step-up second factor opened in place of another, the replaced session's `sid`. So an RP's session
    /// carries over the step-up, and the logout of the session that replaced it reaches that RP.
    pub sid: String,
}

impl Session {
    /// True when the sign-in used more than one factor (or a passkey, which is one by itself).
    pub fn is_multi_factor(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }

    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.idle_expires_at > now && self.absolute_expires_at > now
    }
}

#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    pub id: String,
    pub org_id: String,
    pub session_id: String,
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// How long sessions live, in seconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SessionLifetimes {
    /// A session unused for this long ends (sliding window, renewed by each refresh).
    pub idle_timeout_secs: i64,
    /// A session ends this long after login, however active.
    pub absolute_lifetime_secs: i64,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        Self { idle_timeout_secs: 7 * 24 * 3600, absolute_lifetime_secs: 30 * 24 * 3600 }
    }
}
