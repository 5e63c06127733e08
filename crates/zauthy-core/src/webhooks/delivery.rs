//! The webhook worker's steps: claim a batch of due deliveries under a lease, POST each signed body, and record
//! many attempts in one transaction: done, a retry (exponential backoff with jitter over about a day), given
//! up, or the endpoint disabled after failing for too long. The binary's worker pipelines the three steps;
//! `try_deliver_next_webhook` runs them for one delivery.

use super::{DELIVERED, FAILED, PENDING, Webhook, WebhookAttempt, WebhookDelivery, hex_signature, standard_signature};
use crate::error::Result;
use crate::events::{Event, types};
use crate::ids;
use crate::outbox::DeliveryOutcome;
use crate::services::Services;
use async_trait::async_trait;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

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

/// An endpoint as it was when its deliveries were claimed, with the secrets that sign now.
struct Endpoint {
    webhook: Webhook,
    secrets: Vec<String>,
}

/// A delivery this worker holds the lease on, ready to send.
pub struct ClaimedDelivery {
    delivery: WebhookDelivery,
    endpoint: Arc<Endpoint>,
}

/// A sent (or refused) delivery, waiting to be recorded.
pub struct SentDelivery {
    delivery: WebhookDelivery,
    endpoint: Arc<Endpoint>,
    attempt: WebhookAttempt,
    /// The delivery's status after this attempt, and its attempt count.
    status: &'static str,
    attempts: i32,
    finished_at: OffsetDateTime,
    /// Whether the attempt says anything about the endpoint's health: not for test events, nor for
    /// deliveries refused because the endpoint is inactive.
    judges_endpoint: bool,
}

impl SentDelivery {
    pub fn outcome(&self) -> DeliveryOutcome {
        match self.status {
            DELIVERED => DeliveryOutcome::Delivered,
            PENDING => DeliveryOutcome::Retrying,
            _ => DeliveryOutcome::Dead,
        }
    }

    fn succeeded(&self) -> bool {
        self.status == DELIVERED
    }
}

impl Services {
    /// Claims up to `limit` due deliveries under a lease, each with its endpoint (read once per endpoint).
    pub async fn claim_webhook_deliveries(&self, limit: u64) -> Result<Vec<ClaimedDelivery>> {
        let now = self.now();
        let rows = self.store.claim_webhook_deliveries(now, now + LEASE, limit).await?;
        let mut endpoints: HashMap<String, Option<Arc<Endpoint>>> = HashMap::new();
        let mut claimed = Vec::with_capacity(rows.len());
        for delivery in rows {
            if !endpoints.contains_key(&delivery.webhook_id) {
                let endpoint = match self.store.find_webhook(&delivery.org_id, &delivery.webhook_id).await? {
                    Some(webhook) => match self.signing_secrets(&webhook, now) {
                        Ok(secrets) => Some(Arc::new(Endpoint { webhook, secrets })),
                        Err(e) => {
                            // Left leased: retried when the lease ends, like any delivery a worker lost.
                            tracing::error!(webhook_id = %webhook.id, error = ?e, "cannot open the webhook secret");
                            None
                        }
                    },
                    // Deleted meanwhile: its deliveries went with it.
                    None => None,
                };
                endpoints.insert(delivery.webhook_id.clone(), endpoint);
            }
            if let Some(Some(endpoint)) = endpoints.get(&delivery.webhook_id) {
                claimed.push(ClaimedDelivery { delivery, endpoint: endpoint.clone() });
            }
        }
        Ok(claimed)
    }

    /// POSTs one claimed delivery (no database access) and decides what becomes of it.
    pub async fn send_webhook_delivery(
        &self,
        claimed: ClaimedDelivery,
        transport: &dyn WebhookTransport,
    ) -> SentDelivery {
        let ClaimedDelivery { delivery, endpoint } = claimed;
        let now = self.now();
        let attempts = delivery.attempts + 1;
        let webhook = &endpoint.webhook;
        let mut attempt = WebhookAttempt {
            id: ids::new_id(ids::WEBHOOK_ATTEMPT),
            delivery_id: delivery.id.clone(),
            webhook_id: webhook.id.clone(),
            attempted_at: now,
            status_code: None,
            latency_ms: 0,
            response_body: None,
            error: None,
            next_retry_at: None,
        };
        if !webhook.active && delivery.event_type != super::TEST_EVENT {
            attempt.error = Some("the endpoint is inactive".to_owned());
            let judges_endpoint = false;
            return SentDelivery {
                delivery,
                endpoint,
                attempt,
                status: FAILED,
                attempts,
                finished_at: now,
                judges_endpoint,
            };
        }
        let body = delivery.payload.as_bytes();
        let timestamp = now.unix_timestamp();
        let secrets = &endpoint.secrets;
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
        attempt.latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let after = self.now();
        match result {
            Ok(r) => {
                attempt.status_code = Some(i32::from(r.status));
                attempt.response_body = Some(r.body);
                if !(200..300).contains(&r.status) {
                    attempt.error = Some(format!("HTTP {}", r.status));
                }
            }
            Err(e) => attempt.error = Some(e),
        }
        let success = attempt.error.is_none();
        let schedule = backoff_schedule();
        attempt.next_retry_at = match usize::try_from(attempts - 1).ok().and_then(|i| schedule.get(i)) {
            Some(wait) if !success => Some(after + jitter(*wait)),
            _ => None,
        };
        let status = if success {
            DELIVERED
        } else if attempt.next_retry_at.is_some() {
            PENDING
        } else {
            FAILED
        };
        let judges_endpoint = delivery.event_type != super::TEST_EVENT;
        SentDelivery { delivery, endpoint, attempt, status, attempts, finished_at: after, judges_endpoint }
    }

    /// Records sent deliveries in one transaction, and what they say about their endpoints' health: a success
    /// clears the failing mark, a failure sets it, and an endpoint failing for too long is disabled (a
    /// `webhook.disabled` event).
    pub async fn record_webhook_deliveries(&self, sent: &[SentDelivery]) -> Result<()> {
        if sent.is_empty() {
            return Ok(());
        }
        let tx = self.store.begin().await?;
        for s in sent {
            tx.record_webhook_attempt(&s.attempt, s.status, s.attempts, s.finished_at).await?;
        }
        // Endpoints whose health may change, judged against their rows as they are now (another worker may have
        // marked them since the claim). An all-success batch for a healthy endpoint touches nothing.
        let mut touched: Vec<&Webhook> = Vec::new();
        for s in sent.iter().filter(|s| s.judges_endpoint) {
            let w = &s.endpoint.webhook;
            if (!s.succeeded() || w.failing_since.is_some()) && !touched.iter().any(|t| t.id == w.id) {
                touched.push(w);
            }
        }
        let disable_after = Duration::seconds(self.config.webhooks.disable_after_secs);
        for snapshot in touched {
            let Some(mut hook) = tx.find_webhook(&snapshot.org_id, &snapshot.id).await? else {
                continue;
            };
            for s in sent.iter().filter(|s| s.judges_endpoint && s.endpoint.webhook.id == hook.id) {
                let at = s.finished_at;
                if s.succeeded() {
                    if hook.failing_since.take().is_some() {
                        tx.set_webhook_failing(&hook.id, None, at).await?;
                    }
                } else if let Some(since) = hook.failing_since {
                    if hook.active && at - since >= disable_after && tx.disable_webhook(&hook.id, at).await? {
                        hook.active = false;
                        tx.insert_event(&Event::new(
                            &hook.org_id,
                            types::WEBHOOK_DISABLED,
                            None,
                            json!({"webhook_id": hook.id, "url": hook.url, "failing_since": since.unix_timestamp()}),
                            at,
                        ))
                        .await?;
                        tracing::warn!(webhook_id = %hook.id, "webhook disabled after failing continuously");
                    }
                } else {
                    hook.failing_since = Some(s.attempt.attempted_at);
                    tx.set_webhook_failing(&hook.id, hook.failing_since, at).await?;
                }
            }
        }
        tx.commit().await?;
        for s in sent.iter().filter(|s| !s.succeeded()) {
            let (id, attempts, error) = (&s.delivery.id, s.attempts, &s.attempt.error);
            tracing::info!(delivery_id = %id, attempts, error = ?error, "webhook delivery failed");
        }
        Ok(())
    }

    /// Claims, sends and records one due delivery.
    pub async fn try_deliver_next_webhook(&self, transport: &dyn WebhookTransport) -> Result<DeliveryOutcome> {
        let Some(claimed) = self.claim_webhook_deliveries(1).await?.pop() else {
            return Ok(DeliveryOutcome::Empty);
        };
        let sent = self.send_webhook_delivery(claimed, transport).await;
        self.record_webhook_deliveries(std::slice::from_ref(&sent)).await?;
        Ok(sent.outcome())
    }
}
