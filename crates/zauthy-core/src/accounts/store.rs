//! The storage port (trait and record types) of users, their credentials, lockout counters and the places of
//! guesses being checked, block state. `zauthy-store` implements it for SQLite and PostgreSQL; `crate::store`
//! composes every feature's port into one `Repo`.

use super::{Email, User, UserWithSecret};
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait UserRepo {
    /// Fails with `CoreError::Conflict` when the email is taken in the organization.
    async fn insert_user(&self, user: &User, password_hash: Option<&str>) -> Result<()>;
    async fn find_user(&self, org_id: &str, user_id: &str) -> Result<Option<UserWithSecret>>;
    /// Like `find_user`, and holds the user's row locked until the transaction ends, so a check about the
    /// account and the write it allows cannot interleave with another transaction doing the same for that
    /// user (PostgreSQL `FOR UPDATE`; a SQLite transaction already holds the database's write lock).
    async fn find_user_for_update(&self, org_id: &str, user_id: &str) -> Result<Option<UserWithSecret>>;
    async fn find_user_by_email(&self, org_id: &str, email: &Email) -> Result<Option<UserWithSecret>>;
    async fn list_users(
        &self,
        org_id: &str,
        email_contains: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<User>, u64)>;
    /// The places guesses at this user's password or second factor hold while they are checked, after
    /// dropping the lapsed ones (`expires_at` passed).
    async fn count_pending_guesses(&self, user_id: &str, now: OffsetDateTime) -> Result<u64>;
    async fn insert_pending_guess(
        &self,
        id: &str,
        user_id: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn delete_pending_guess(&self, id: &str) -> Result<bool>;
    /// The same for an email without an account (a keyed hash of it): the new failure count, or `None` and
    /// the lock's end while it is locked.
    async fn reserve_unknown_login_attempt(
        &self,
        org_id: &str,
        email_hash: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<i32, OffsetDateTime>>;
    /// Locks an email without an account until `until` (the reservation reached a threshold of the schedule).
    async fn lock_unknown_login(&self, org_id: &str, email_hash: &str, until: OffsetDateTime) -> Result<()>;
    /// Sets the failure counter and lock (the caller holds the row locked).
    async fn set_failed_logins(
        &self,
        user_id: &str,
        attempts: i32,
        locked_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Resets the failure counter and lock, and stamps the login time.
    async fn record_successful_login(&self, user_id: &str, now: OffsetDateTime) -> Result<()>;
    async fn set_password_hash(&self, user_id: &str, hash: &str, now: OffsetDateTime) -> Result<()>;
    async fn set_blocked(&self, org_id: &str, user_id: &str, blocked: bool, now: OffsetDateTime) -> Result<bool>;
    async fn unlock_user(&self, org_id: &str, user_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Writes name, phone and role as given (the caller merged them with the current values).
    async fn update_user_profile(&self, user: &User, now: OffsetDateTime) -> Result<bool>;
    /// Deletes the user and everything that hangs off it (sessions, tokens).
    async fn delete_user(&self, org_id: &str, user_id: &str) -> Result<bool>;
}
