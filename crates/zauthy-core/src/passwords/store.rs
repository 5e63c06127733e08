//! The storage port (trait and record types) of password reset tokens. `zauthy-store` implements it for SQLite
//! and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait PasswordResetRepo {
    async fn insert_reset_token(&self, token: &PasswordResetRecord) -> Result<()>;
    async fn find_reset_token(&self, token_hash: &str) -> Result<Option<PasswordResetRecord>>;
    /// Marks the token used only if it was unused; false means it was already spent.
    async fn mark_reset_token_used(&self, token_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Spends every outstanding token of the user (after a reset or change).
    async fn invalidate_reset_tokens(&self, user_id: &str, now: OffsetDateTime) -> Result<()>;
}

#[derive(Debug, Clone)]
pub struct PasswordResetRecord {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}
