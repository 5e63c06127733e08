//! Send limits against email and SMS bombing. Per destination they are counted in the database, so they
//! hold across nodes; per client IP the HTTP layer counts in memory. Every destination counts, whether or
//! not it has an account, so a refusal reveals nothing.

use super::store::SendRecord;
use crate::error::{CoreError, Result};
use crate::ids;
use crate::services::Services;
use crate::store::Repo;
use time::{Duration, OffsetDateTime};

/// Magic links, codes and password-reset emails sent to one address or phone (all flows together) per rolling
/// hour.
pub const SENDS_PER_DESTINATION_PER_HOUR: u64 = 5;
/// Magic links, codes and password-reset emails one client IP may ask for per hour (enforced by the HTTP layer).
pub const SENDS_PER_IP_PER_HOUR: u32 = 20;

/// The rolling window the per-destination limit counts sends over; older sends are pruned
/// (`crate::prune::Prunable::PasswordlessSends`).
pub const SEND_LIMIT_WINDOW: Duration = Duration::hours(1);

impl Services {
    /// A keyed hash naming a destination (`email` + address, or `sms` + phone) in one organization. The
    /// limit and code tables hold this instead of the address, so they keep nothing readable about people
    /// who have no account.
    pub(crate) fn destination_hash(&self, org_id: &str, kind: &str, destination: &str) -> String {
        self.keys.mac_hex("passwordless-destination", format!("{org_id}\0{kind}\0{destination}").as_bytes())
    }

    /// Refuses the send with `rate_limited` when the destination had its hourly quota, or (with `cooldown`)
    /// had any send less than `cooldown` ago; records it otherwise. Runs in the transaction that queues the
    /// message (or decides to).
    pub(crate) async fn record_send(
        &self,
        repo: &dyn Repo,
        org_id: &str,
        destination_hash: &str,
        cooldown: Option<Duration>,
    ) -> Result<()> {
        let now = self.now();
        let window = repo.passwordless_sends_since(org_id, destination_hash, now - SEND_LIMIT_WINDOW).await?;
        let (count, oldest, newest) = window;
        let retry_after = |free_at: OffsetDateTime| CoreError::RateLimited {
            retry_after_secs: (free_at - now).whole_seconds().max(1) as u64,
        };
        if count >= SENDS_PER_DESTINATION_PER_HOUR {
            return Err(retry_after(oldest.unwrap_or(now) + SEND_LIMIT_WINDOW));
        }
        if let (Some(cooldown), Some(newest)) = (cooldown, newest)
            && newest + cooldown > now
        {
            return Err(retry_after(newest + cooldown));
        }
        repo.record_passwordless_send(&SendRecord {
            id: ids::new_id(ids::PASSWORDLESS_SEND),
            org_id: org_id.to_owned(),
            destination_hash: destination_hash.to_owned(),
            created_at: now,
        })
        .await
    }
}
