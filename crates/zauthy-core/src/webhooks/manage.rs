//! Managing endpoints: create (the secret shown once), list, get, update, delete, rotate the secret with an
//! overlap, send a test event, redeliver, and read the delivery history.

use super::{Webhook, WebhookAttempt, WebhookDelivery, check_events, check_url, new_secret, payload_of};
use crate::accounts::Role;
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::ids;
use crate::services::Services;
use serde_json::json;
use time::{Duration, OffsetDateTime};

#[derive(Debug)]
pub struct WebhookInput {
    pub url: String,
    pub events: Vec<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Default)]
pub struct WebhookUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

fn not_found() -> CoreError {
    CoreError::NotFound { entity: "webhook" }
}

fn context(webhook_id: &str) -> String {
    format!("webhook-secret:{webhook_id}")
}

impl Services {
    fn seal_secret(&self, webhook_id: &str, secret: &str) -> String {
        self.keys.master().encrypt(secret.as_bytes(), &context(webhook_id))
    }

    /// The secrets that sign now: the current one, then the previous one while its overlap lasts.
    pub fn signing_secrets(&self, webhook: &Webhook, now: OffsetDateTime) -> Result<Vec<String>> {
        let open = |enc: &str| -> Result<String> {
            let raw = self.keys.master().decrypt(enc, &context(&webhook.id)).map_err(CoreError::internal)?;
            String::from_utf8(raw).map_err(CoreError::internal)
        };
        let mut secrets = vec![open(&webhook.secret_enc)?];
        if let (Some(prev), Some(until)) = (&webhook.previous_secret_enc, webhook.previous_secret_expires_at)
            && until > now
        {
            secrets.push(open(prev)?);
        }
        Ok(secrets)
    }

    pub async fn create_webhook(&self, actor: &Actor, input: WebhookInput) -> Result<CreatedWebhook> {
        let org_id = actor.require_admin(Role::Admin)?.to_owned();
        let url = check_url(&input.url, &self.config.webhooks)?;
        let events = check_events(&input.events)?;
        let now = self.now();
        let id = ids::new_id(ids::WEBHOOK);
        let secret = new_secret();
        let webhook = Webhook {
            secret_enc: self.seal_secret(&id, &secret),
            id,
            org_id: org_id.clone(),
            url: url.to_string(),
            events,
            active: input.active.unwrap_or(true),
            previous_secret_enc: None,
            previous_secret_expires_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        let tx = self.store.begin().await?;
        tx.insert_webhook(&webhook).await?;
        tx.insert_event(&Event::new(
            &org_id,
            types::WEBHOOK_CREATED,
            actor.user_id(),
            json!({"webhook_id": webhook.id, "url": webhook.url, "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    pub async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<Webhook>> {
        let org_id = actor.require_admin(Role::Admin)?;
        self.store.list_webhooks(org_id).await
    }

    pub async fn get_webhook(&self, actor: &Actor, webhook_id: &str) -> Result<Webhook> {
        let org_id = actor.require_admin(Role::Admin)?;
        self.org_webhook(org_id, webhook_id).await
    }

    async fn org_webhook(&self, org_id: &str, webhook_id: &str) -> Result<Webhook> {
        if !ids::is_valid_id(ids::WEBHOOK, webhook_id) {
            return Err(not_found());
        }
        self.store.find_webhook(org_id, webhook_id).await?.ok_or_else(not_found)
    }

    pub async fn update_webhook(&self, actor: &Actor, webhook_id: &str, update: WebhookUpdate) -> Result<Webhook> {
        let org_id = actor.require_admin(Role::Admin)?;
        let current = self.org_webhook(org_id, webhook_id).await?;
        let url = match update.url {
            Some(u) => check_url(&u, &self.config.webhooks)?.to_string(),
            None => current.url.clone(),
        };
        let events = match update.events {
            Some(e) => check_events(&e)?,
            None => current.events.clone(),
        };
        let active = update.active.unwrap_or(current.active);
        let now = self.now();
        // Turning an endpoint back on starts its failure clock afresh.
        let failing_since = if active && !current.active { None } else { current.failing_since };
        let webhook = Webhook { url, events, active, failing_since, updated_at: now, ..current };
        let tx = self.store.begin().await?;
        if !tx.update_webhook(&webhook).await? {
            return Err(not_found());
        }
        tx.insert_event(&Event::new(
            org_id,
            types::WEBHOOK_UPDATED,
            actor.user_id(),
            json!({"webhook_id": webhook.id, "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(webhook)
    }

    pub async fn delete_webhook(&self, actor: &Actor, webhook_id: &str) -> Result<()> {
        let org_id = actor.require_admin(Role::Admin)?;
        let webhook = self.org_webhook(org_id, webhook_id).await?;
        let now = self.now();
        let tx = self.store.begin().await?;
        if !tx.delete_webhook(org_id, &webhook.id).await? {
            return Err(not_found());
        }
        tx.insert_event(&Event::new(
            org_id,
            types::WEBHOOK_DELETED,
            actor.user_id(),
            json!({"webhook_id": webhook.id, "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new secret (returned once); the previous one keeps signing for the configured overlap.
    pub async fn rotate_webhook_secret(&self, actor: &Actor, webhook_id: &str) -> Result<(String, OffsetDateTime)> {
        let org_id = actor.require_admin(Role::Admin)?;
        let current = self.org_webhook(org_id, webhook_id).await?;
        let now = self.now();
        let until = now + Duration::seconds(self.config.webhooks.secret_overlap_secs);
        let secret = new_secret();
        let webhook = Webhook {
            secret_enc: self.seal_secret(&current.id, &secret),
            previous_secret_enc: Some(current.secret_enc.clone()),
            previous_secret_expires_at: Some(until),
            updated_at: now,
            ..current
        };
        let tx = self.store.begin().await?;
        tx.update_webhook(&webhook).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::WEBHOOK_SECRET_ROTATED,
            actor.user_id(),
            json!({"webhook_id": webhook.id, "previous_secret_expires_at": until.unix_timestamp()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok((secret, until))
    }

    /// Queues a `webhook.test` delivery to the endpoint (even when it is inactive).
    pub async fn test_webhook(&self, actor: &Actor, webhook_id: &str) -> Result<WebhookDelivery> {
        let org_id = actor.require_admin(Role::Admin)?;
        let webhook = self.org_webhook(org_id, webhook_id).await?;
        let now = self.now();
        let event_id = ids::new_id(ids::EVENT);
        let body = payload_of(&event_id, super::TEST_EVENT, &json!({"webhook_id": webhook.id}), now);
        let delivery = WebhookDelivery::new(&webhook, &event_id, super::TEST_EVENT, body, now);
        self.store.insert_webhook_delivery(&delivery).await?;
        Ok(delivery)
    }

    /// Queues the same body (same event id) again as a new delivery.
    pub async fn redeliver(&self, actor: &Actor, webhook_id: &str, delivery_id: &str) -> Result<WebhookDelivery> {
        let org_id = actor.require_admin(Role::Admin)?;
        let webhook = self.org_webhook(org_id, webhook_id).await?;
        let original = self
            .store
            .find_webhook_delivery(org_id, delivery_id)
            .await?
            .filter(|d| d.webhook_id == webhook.id)
            .ok_or(CoreError::NotFound { entity: "delivery" })?;
        let delivery =
            WebhookDelivery::new(&webhook, &original.event_id, &original.event_type, original.payload, self.now());
        self.store.insert_webhook_delivery(&delivery).await?;
        Ok(delivery)
    }

    /// The endpoint's latest deliveries, newest first, each with its attempts (oldest first).
    pub async fn webhook_deliveries(
        &self,
        actor: &Actor,
        webhook_id: &str,
        limit: u64,
    ) -> Result<Vec<(WebhookDelivery, Vec<WebhookAttempt>)>> {
        let org_id = actor.require_admin(Role::Admin)?;
        let webhook = self.org_webhook(org_id, webhook_id).await?;
        let deliveries = self.store.list_webhook_deliveries(&webhook.id, limit.clamp(1, 100)).await?;
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        let attempts = self.store.list_webhook_attempts(&ids).await?;
        Ok(deliveries
            .into_iter()
            .map(|d| {
                let mine = attempts.iter().filter(|a| a.delivery_id == d.id).cloned().collect();
                (d, mine)
            })
            .collect())
    }
}
