//! The webhook worker's single step: claim one due delivery under a lease, POST the signed body, record the
//! attempt, then schedule a retry (exponential backoff with jitter over about a day), give up, or disable
//! an endpoint that has failed for too long.

use super::{DELIVERED, FAILED, PENDING, WebhookAttempt, hex_signature, standard_signature};
use crate::email::DeliveryOutcome;
use crate::error::Result;
use crate::events::{Event, types};
use crate::ids;
use crate::services::Services;
use async_trait::async_trait;
use serde_json::json;
use time::Duration;

/// What the receiver answered.
#[derive(Debug, Clone)]
pub struct TransportResponse {
    pub status: u16,
    /// At most a few KiB of the body.
    pub body: String,
}

/// Sends one request; an `Err` is a failure before any status (refused address, timeout, TLS, DNS).
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> std::result::Result<TransportResponse, String>;
}

/// A claimed delivery is reserved this long: more than the 10 s request timeout plus recording the attempt,
/// and short, because it is also how long deliveries a crashed process had claimed wait before a retry.
const LEASE: Duration = Duration::seconds(30);

/// The waits before attempts 2, 3, …; after the last one the delivery is `failed` (about 27 h in all).
pub fn backoff_schedule() -> [Duration; 7] {
    [
        Duration::minutes(1),
        Duration::minutes(5),
        Duration::minutes(30),
        Duration::hours(2),
        Duration::hours(5),
        Duration::hours(10),
        Duration::hours(10),
    ]
}

/// Up to +10 % so endpoints that failed together do not retry together.
fn jitter(base: Duration) -> Duration {
    let r = i64::from(u16::from_le_bytes(crate::crypto::random_bytes::<2>()));
    base + Duration::milliseconds(base.whole_milliseconds() as i64 * r / 65_536 / 10)
}

impl Services {
    pub async fn try_deliver_next_webhook(&self, transport: &dyn WebhookTransport) -> Result<DeliveryOutcome> {
        let now = self.now();
        let Some(delivery) = self.store.claim_next_webhook_delivery(now, now + LEASE).await? else {
            return Ok(DeliveryOutcome::Empty);
        };
        let Some(webhook) = self.store.find_webhook(&delivery.org_id, &delivery.webhook_id).await? else {
            return Ok(DeliveryOutcome::Empty);
        };
        let test = delivery.event_type == super::TEST_EVENT;
        if !webhook.active && !test {
            let attempt = WebhookAttempt {
                id: ids::new_id(ids::WEBHOOK_ATTEMPT),
                delivery_id: delivery.id.clone(),
                webhook_id: webhook.id.clone(),
                attempted_at: now,
                status_code: None,
                latency_ms: 0,
                response_body: None,
                error: Some("the endpoint is inactive".to_owned()),
                next_retry_at: None,
            };
            self.store.record_webhook_attempt(&attempt, FAILED, delivery.attempts + 1, now).await?;
            return Ok(DeliveryOutcome::Dead);
        }
        let secrets = self.signing_secrets(&webhook, now)?;
        let body = delivery.payload.as_bytes();
        let timestamp = now.unix_timestamp();
        let standard: Vec<String> =
            secrets.iter().map(|s| standard_signature(s, &delivery.event_id, timestamp, body)).collect();
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("x-webhook-signature", hex_signature(&secrets[0], body)),
            ("webhook-id", delivery.event_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", standard.join(" ")),
            ("user-agent", "zauthy-webhooks/1".to_owned()),
        ];
        let started = std::time::Instant::now();
        let result = transport.post(&webhook.url, &headers, body).await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let after = self.now();
        let attempts = delivery.attempts + 1;
        let (status_code, response_body, error) = match &result {
            Ok(r) if (200..300).contains(&r.status) => (Some(i32::from(r.status)), Some(r.body.clone()), None),
            Ok(r) => (Some(i32::from(r.status)), Some(r.body.clone()), Some(format!("HTTP {}", r.status))),
            Err(e) => (None, None, Some(e.clone())),
        };
        let success = error.is_none();
        let schedule = backoff_schedule();
        let next_retry_at = match usize::try_from(attempts - 1).ok().and_then(|i| schedule.get(i)) {
            Some(wait) if !success => Some(after + jitter(*wait)),
            _ => None,
        };
        let status = if success {
            DELIVERED
        } else if next_retry_at.is_some() {
            PENDING
        } else {
            FAILED
        };
        let attempt = WebhookAttempt {
            id: ids::new_id(ids::WEBHOOK_ATTEMPT),
            delivery_id: delivery.id.clone(),
            webhook_id: webhook.id.clone(),
            attempted_at: now,
            status_code,
            latency_ms,
            response_body,
            error: error.clone(),
            next_retry_at,
        };
        let tx = self.store.begin().await?;
        tx.record_webhook_attempt(&attempt, status, attempts, after).await?;
        if success {
            if webhook.failing_since.is_some() {
                tx.set_webhook_failing(&webhook.id, None, after).await?;
            }
        } else if test {
            // A test event says nothing about the endpoint's health.
        } else if let Some(since) = webhook.failing_since {
            if webhook.active
                && after - since >= Duration::seconds(self.config.webhooks.disable_after_secs)
                && tx.disable_webhook(&webhook.id, after).await?
            {
                tx.insert_event(&Event::new(
                    &webhook.org_id,
                    types::WEBHOOK_DISABLED,
                    None,
                    json!({"webhook_id": webhook.id, "url": webhook.url, "failing_since": since.unix_timestamp()}),
                    after,
                ))
                .await?;
                tracing::warn!(webhook_id = %webhook.id, "webhook disabled after failing continuously");
            }
        } else {
            tx.set_webhook_failing(&webhook.id, Some(now), after).await?;
        }
        tx.commit().await?;
        if success {
            Ok(DeliveryOutcome::Delivered)
        } else {
            tracing::info!(delivery_id = %delivery.id, attempts, error = ?error, "webhook delivery failed");
            Ok(if status == FAILED { DeliveryOutcome::Dead } else { DeliveryOutcome::Retrying })
        }
    }
}
