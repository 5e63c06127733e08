//! The storage port (trait and record types) of the organizations' signing keys. `zauthy-store` implements it for
//! SQLite and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use super::SigningKeyRecord;
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait SigningKeyRepo {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<()>;
    async fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRecord>>;
    async fn list_signing_keys(&self, org_id: &str) -> Result<Vec<SigningKeyRecord>>;
    /// Retires every active key of the org but those in `keep`; they stay published until `expires_at`.
    async fn retire_signing_keys(
        &self,
        org_id: &str,
        keep: &[String],
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<u64>;
}
