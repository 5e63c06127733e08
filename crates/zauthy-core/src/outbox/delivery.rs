//! The outbox worker's single step: claim one due message, hand it to the sender, record the result.

use super::{DeliveryOutcome, OutboxLane, OutboxMessage};
use crate::error::{CoreError, Result};
use crate::services::Services;
use crate::store::Repo;
use async_trait::async_trait;
use time::Duration;

/// Delivers one outbox message (email, SMS, a back-channel logout's request).
#[async_trait]
pub trait MessageSender: Send + Sync {
    async fn send(&self, message: &OutboxMessage) -> anyhow::Result<()>;
}

/// The payload member holding the sealed payload.
const SEALED: &str = "sealed";

/// How long a claimed message is reserved for the worker that claimed it.
const LEASE: Duration = Duration::seconds(60);
const MAX_ATTEMPTS: i32 = 12;

/// Exponential backoff with jitter: about 2 s, 4 s, 8 s … capped at one hour.
fn backoff(attempts: i32) -> Duration {
    let base = 2i64.saturating_pow(attempts.clamp(1, 12) as u32).min(3600);
    let jitter = i64::from(crate::crypto::random_bytes::<1>()[0]) * base / 1024;
    Duration::seconds(base + jitter)
}

/// The context a payload is sealed under: the message's own id, so a sealed payload cannot be moved to
/// another row.
fn seal_context(id: &str) -> String {
    format!("outbox:{id}")
}

impl Services {
    /// Writes `message` to the outbox through `repo` (the caller's transaction) with its payload sealed:
    /// AES-256-GCM under the master key. An email's text holds a reset link, a magic link or a one-time code,
    /// and an SMS its code, which must not sit readable in the database or its backups while waiting to be
    /// sent; once sent (or given up), the store erases the payload.
    pub(crate) async fn queue_message(&self, repo: &dyn Repo, mut message: OutboxMessage) -> Result<()> {
        let plain = serde_json::to_vec(&message.payload).map_err(CoreError::internal)?;
        let sealed = self.keys.master().encrypt(&plain, &seal_context(&message.id));
        message.payload = serde_json::json!({ SEALED: sealed });
        repo.enqueue(&message).await
    }

    /// The payload as it was queued. Rows queued before payloads were sealed are plain, and pass through.
    fn unseal(&self, message: &mut OutboxMessage) -> std::result::Result<(), String> {
        let Some(sealed) = message.payload.get(SEALED).and_then(serde_json::Value::as_str) else {
            return Ok(());
        };
        let plain = self.keys.master().decrypt(sealed, &seal_context(&message.id)).map_err(|e| format!("{e:#}"))?;
        message.payload = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Sends the oldest due message of `lane`, if any.
    pub async fn try_deliver_next(&self, sender: &dyn MessageSender, lane: OutboxLane) -> Result<DeliveryOutcome> {
        let now = self.now();
        let Some(mut message) = self.store.claim_next_outbox(lane, now, now + LEASE).await? else {
            return Ok(DeliveryOutcome::Empty);
        };
        if let Err(why) = self.unseal(&mut message) {
            // Another master key, or a tampered row: no attempt could ever send it.
            tracing::error!(outbox_id = %message.id, kind = %message.kind, %why, "outbox payload cannot be opened");
            self.store.fail_outbox(&message.id, &why, None, self.now()).await?;
            return Ok(DeliveryOutcome::Dead);
        }
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
