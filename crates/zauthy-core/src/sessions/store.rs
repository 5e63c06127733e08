//! The storage port (trait and record types) of sessions, their refresh tokens, and the browser cookies bound to
//! them. `zauthy-store` implements it for SQLite and PostgreSQL; `crate::store` composes every feature's port
//! into one `Repo`.

use super::{RefreshTokenRecord, Session};
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait SessionRepo {
    async fn insert_session(&self, session: &Session) -> Result<()>;
    async fn find_session(&self, session_id: &str) -> Result<Option<Session>>;
    async fn list_active_sessions(&self, org_id: &str, user_id: &str, now: OffsetDateTime) -> Result<Vec<Session>>;
    async fn touch_session(&self, session_id: &str, now: OffsetDateTime, idle_expires_at: OffsetDateTime)
    -> Result<()>;
    /// Revokes one live session of the user; false when there is none with that id.
    async fn revoke_session(
        &self,
        org_id: &str,
        user_id: &str,
        session_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Revokes every live session of the user, except `keep` if given; returns how many.
    async fn revoke_user_sessions(
        &self,
        org_id: &str,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<u64>;
    /// The `sid`s of the user's sessions revoked at `now` for `reason`: what the two revocations above just
    /// ended, read back inside the same transaction.
    async fn sids_revoked_at(
        &self,
        org_id: &str,
        user_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<String>>;
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<()>;
    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>>;
    /// Marks the token used only if it was unused: false means someone presented it before (reuse).
    async fn mark_refresh_token_used(&self, token_id: &str, now: OffsetDateTime) -> Result<bool>;
}

#[async_trait]
pub trait BrowserSessionRepo {
    async fn insert_browser_session(
        &self,
        token_hash: &str,
        org_id: &str,
        session_id: &str,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// `(org_id, session_id)` of the cookie token with this hash.
    async fn find_browser_session(&self, token_hash: &str) -> Result<Option<(String, String)>>;
}
