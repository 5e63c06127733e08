//! The storage port (trait and record types) of tOTP seeds, backup codes and MFA challenges. `zauthy-store`
//! implements it for SQLite and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use super::{BackupCodeRecord, MfaChallenge, TotpRecord};
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait MfaRepo {
    /// Stores a new unconfirmed seed, replacing an earlier unconfirmed one of the user.
    async fn put_pending_totp(&self, record: &TotpRecord) -> Result<()>;
    async fn find_totp(&self, user_id: &str) -> Result<Option<TotpRecord>>;
    /// Confirms the pending seed, accepting `step` as its first code; false when nothing was pending.
    async fn confirm_totp(&self, user_id: &str, step: i64, now: OffsetDateTime) -> Result<bool>;
    /// Accepts `step` only if it is later than the last accepted step; false means a replay.
    async fn accept_totp_step(&self, user_id: &str, step: i64, now: OffsetDateTime) -> Result<bool>;
    async fn delete_totp(&self, user_id: &str) -> Result<bool>;
    /// Replaces every backup code of the user with these hashes.
    async fn replace_backup_codes(
        &self,
        org_id: &str,
        user_id: &str,
        code_hashes: &[String],
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn find_backup_code(&self, code_hash: &str) -> Result<Option<BackupCodeRecord>>;
    /// Spends the code if unused; false when it was already used.
    async fn spend_backup_code(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn count_unused_backup_codes(&self, user_id: &str) -> Result<u64>;
    async fn delete_backup_codes(&self, user_id: &str) -> Result<()>;
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<()>;
    async fn find_mfa_challenge(&self, token_hash: &str) -> Result<Option<MfaChallenge>>;
    /// Spends the challenge if unused; false when it was already used.
    /// Counts one code tried against the challenge, unless it is spent or had `max_attempts` already; false then.
    async fn count_mfa_attempt(&self, id: &str, max_attempts: i32, now: OffsetDateTime) -> Result<bool>;
    async fn spend_mfa_challenge(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
}
