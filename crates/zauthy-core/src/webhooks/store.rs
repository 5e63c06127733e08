//! The storage port (trait and record types) of webhook subscriptions, deliveries and their attempts. `zauthy-
//! store` implements it for SQLite and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait WebhookRepo {
    async fn insert_webhook(&self, webhook: &crate::webhooks::Webhook) -> Result<()>;
    async fn find_webhook(&self, org_id: &str, webhook_id: &str) -> Result<Option<crate::webhooks::Webhook>>;
    async fn list_webhooks(&self, org_id: &str) -> Result<Vec<crate::webhooks::Webhook>>;
    /// Writes url, events, active, secrets and failing_since.
    async fn update_webhook(&self, webhook: &crate::webhooks::Webhook) -> Result<bool>;
    async fn delete_webhook(&self, org_id: &str, webhook_id: &str) -> Result<bool>;
    async fn set_webhook_failing(
        &self,
        webhook_id: &str,
        since: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Turns an active endpoint off; false when it already was (another worker got there first).
    async fn disable_webhook(&self, webhook_id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn insert_webhook_delivery(&self, delivery: &crate::webhooks::WebhookDelivery) -> Result<()>;
    async fn find_webhook_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
    ) -> Result<Option<crate::webhooks::WebhookDelivery>>;
    /// Claims up to `limit` of the oldest due pending deliveries under a lease, oldest first; no other worker
    /// takes them until `lease_until`.
    async fn claim_webhook_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<crate::webhooks::WebhookDelivery>>;
    /// Stores the attempt and moves the delivery to `status` (its next attempt at `attempt.next_retry_at`).
    async fn record_webhook_attempt(
        &self,
        attempt: &crate::webhooks::WebhookAttempt,
        status: &str,
        attempts: i32,
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn list_webhook_deliveries(
        &self,
        webhook_id: &str,
        limit: u64,
    ) -> Result<Vec<crate::webhooks::WebhookDelivery>>;
    async fn list_webhook_attempts(&self, delivery_ids: &[String]) -> Result<Vec<crate::webhooks::WebhookAttempt>>;
}
