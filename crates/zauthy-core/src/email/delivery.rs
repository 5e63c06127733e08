//! The outbox worker's single step: claim one due message, hand it to the sender, record the result.

use super::{DeliveryOutcome, OutboxMessage};
use crate::error::Result;
use crate::services::Services;
use async_trait::async_trait;
use time::Duration;

/// Delivers one outbox message (email, SMS, a back-channel logout's request).
#[async_trait]
pub trait MessageSender: Send + Sync {
    async fn send(&self, message: &OutboxMessage) -> anyhow::Result<()>;
}

/// How long a claimed message is reserved for the worker that claimed it.
const LEASE: Duration = Duration::seconds(60);
const MAX_ATTEMPTS: i32 = 12;

/// Exponential backoff with jitter: about 2 s, 4 s, 8 s … capped at one hour.
fn backoff(attempts: i32) -> Duration {
    let base = 2i64.saturating_pow(attempts.clamp(1, 12) as u32).min(3600);
    let jitter = i64::from(crate::crypto::random_bytes::<1>()[0]) * base / 1024;
    Duration::seconds(base + jitter)
}

impl Services {
    pub async fn try_deliver_next(&self, sender: &dyn MessageSender) -> Result<DeliveryOutcome> {
        let now = self.now();
        let Some(mut message) = self.store.claim_next_outbox(now, now + LEASE).await? else {
            return Ok(DeliveryOutcome::Empty);
        };
        if message.kind == crate::oidc::KIND_BACKCHANNEL_LOGOUT {
            // Signed now rather than when queued, so that a retry carries a token that is not stale.
            let Some(delivery) = self.logout_delivery(&message).await? else {
                let why = "the client was deleted or no longer has a backchannel_logout_uri";
                self.store.fail_outbox(&message.id, why, None, self.now()).await?;
                return Ok(DeliveryOutcome::Dead);
            };
            message.payload = serde_json::to_value(&delivery).unwrap_or_default();
        }
        match sender.send(&message).await {
            Ok(()) => {
                self.store.complete_outbox(&message.id, self.now()).await?;
                Ok(DeliveryOutcome::Delivered)
            }
            Err(error) => {
                let attempts = message.attempts + 1;
                let error = format!("{error:#}");
                tracing::warn!(outbox_id = %message.id, kind = %message.kind, attempts, %error, "outbox delivery failed");
                if attempts >= MAX_ATTEMPTS {
                    self.store.fail_outbox(&message.id, &error, None, self.now()).await?;
                    Ok(DeliveryOutcome::Dead)
                } else {
                    let retry_at = self.now() + backoff(attempts);
                    self.store.fail_outbox(&message.id, &error, Some(retry_at), self.now()).await?;
                    Ok(DeliveryOutcome::Retrying)
                }
            }
        }
    }
}
