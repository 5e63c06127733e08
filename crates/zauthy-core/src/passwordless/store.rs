//! The storage port (trait and record types) of magic links, one-time codes and the send counter. `zauthy-store`
//! implements it for SQLite and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use crate::accounts::User;
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait PasswordlessRepo {
    async fn insert_magic_link(&self, link: &MagicLinkRecord) -> Result<()>;
    async fn find_magic_link(&self, token_hash: &str) -> Result<Option<MagicLinkRecord>>;
    /// Marks the link used only if it was unused; false means it was already spent.
    async fn mark_magic_link_used(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn find_one_time_code(
        &self,
        org_id: &str,
        channel: &str,
        destination_hash: &str,
    ) -> Result<Option<OneTimeCode>>;
    /// Stores the code in place of any earlier one for the same destination (one code per destination).
    async fn replace_one_time_code(&self, code: &OneTimeCode) -> Result<()>;
    /// Counts one try, only while the code is unused and below `max_attempts`; false when it was not counted.
    async fn count_otp_attempt(&self, id: &str, max_attempts: i32, now: OffsetDateTime) -> Result<bool>;
    /// Marks the code used only if it was unused.
    async fn mark_one_time_code_used(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    /// How many sends the destination had since `since`, and when the oldest and the newest of them were.
    /// Holds the organization's row locked until the transaction ends, so that concurrent sends of one
    /// organization are counted one after another on PostgreSQL too (SQLite runs writers one at a time).
    async fn passwordless_sends_since(
        &self,
        org_id: &str,
        destination_hash: &str,
        since: OffsetDateTime,
    ) -> Result<(u64, Option<OffsetDateTime>, Option<OffsetDateTime>)>;
    /// Records a send (old ones are pruned: `crate::prune::Prunable::PasswordlessSends`).
    async fn record_passwordless_send(&self, send: &SendRecord) -> Result<()>;
    /// Up to `limit` users of the organization with this phone number.
    async fn find_users_by_phone(&self, org_id: &str, phone: &str, limit: u64) -> Result<Vec<User>>;
    /// Sets `is_verified`; false when it already was.
    async fn mark_email_verified(&self, user_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Sets `phone_verified` if the user's number is still `phone`; false when it was set already, or the
    /// number changed meanwhile.
    async fn mark_phone_verified(&self, user_id: &str, phone: &str, now: OffsetDateTime) -> Result<bool>;
}

/// One send to a destination, as the limit counts it.
#[derive(Debug, Clone)]
pub struct SendRecord {
    pub id: String,
    pub org_id: String,
    pub destination_hash: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct MagicLinkRecord {
    pub id: String,
    pub org_id: String,
    /// The address the link was sent to; the account is looked up (or created) when the link is used.
    pub email: String,
    pub token_hash: String,
    pub redirect_url: Option<String>,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct OneTimeCode {
    pub id: String,
    pub org_id: String,
    pub channel: OtpChannel,
    /// `Services::destination_hash` of the address or phone, never the destination itself.
    pub destination_hash: String,
    pub code_hash: String,
    pub attempts: i32,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpChannel {
    Email,
    Sms,
}

impl OtpChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}
