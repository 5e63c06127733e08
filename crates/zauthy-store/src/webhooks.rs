//! Webhook endpoints, their deliveries and attempts. Deliveries are claimed in batches under a lease, in one
//! `UPDATE … RETURNING`: on PostgreSQL with `FOR UPDATE SKIP LOCKED` (several nodes never wait on or take the
//! same row), on SQLite as is (one writer at a time anyway).

use crate::entities::{webhook_attempts as attempts, webhook_deliveries as deliveries, webhooks};
use crate::{Conn, Db, at, corrupt, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement};
use time::OffsetDateTime;
use zauthy_core::error::{CoreError, Result};
use zauthy_core::events::Event;
use zauthy_core::store::WebhookRepo;
use zauthy_core::webhooks::{Webhook, WebhookAttempt, WebhookDelivery, payload};

fn to_webhook(m: webhooks::Model) -> Result<Webhook> {
    Ok(Webhook {
        events: serde_json::from_str(&m.events).map_err(|_| corrupt("webhook events", &m.events))?,
        id: m.id,
        org_id: m.org_id,
        url: m.url,
        active: m.active,
        secret_enc: m.secret_enc,
        previous_secret_enc: m.previous_secret_enc,
        previous_secret_expires_at: m.previous_secret_expires_at.map(at),
        failing_since: m.failing_since.map(at),
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
    })
}

fn to_delivery(m: deliveries::Model) -> WebhookDelivery {
    WebhookDelivery {
        id: m.id,
        org_id: m.org_id,
        webhook_id: m.webhook_id,
        event_id: m.event_id,
        event_type: m.event_type,
        payload: m.payload,
        status: m.status,
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at.map(at),
        last_status_code: m.last_status_code,
        last_error: m.last_error,
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
    }
}

/// Writes one pending delivery per active endpoint of the event's organization that subscribes to it, on the
/// connection (transaction) that writes the event. Returns how many it wrote.
pub(crate) async fn fan_out<C: Db>(conn: &C, event: &Event) -> Result<usize> {
    let hooks = webhooks::Entity::find()
        .filter(webhooks::Column::OrgId.eq(&event.org_id))
        .filter(webhooks::Column::Active.eq(true))
        .all(conn)
        .await
        .map_err(db_err)?;
    let mut body = None;
    let mut queued = 0;
    for m in hooks {
        let hook = to_webhook(m)?;
        if !hook.subscribes_to(&event.event_type) {
            continue;
        }
        let body = body.get_or_insert_with(|| payload(event)).clone();
        let d = WebhookDelivery::new(&hook, &event.id, &event.event_type, body, event.created_at);
        insert_delivery(conn, &d).await?;
        queued += 1;
    }
    Ok(queued)
}

async fn insert_delivery<C: Db>(conn: &C, d: &WebhookDelivery) -> Result<()> {
    deliveries::Entity::insert(deliveries::ActiveModel {
        id: Set(d.id.clone()),
        org_id: Set(d.org_id.clone()),
        webhook_id: Set(d.webhook_id.clone()),
        event_id: Set(d.event_id.clone()),
        event_type: Set(d.event_type.clone()),
        payload: Set(d.payload.clone()),
        status: Set(d.status.clone()),
        attempts: Set(d.attempts),
        next_attempt_at: Set(d.next_attempt_at.map(ms)),
        locked_until: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        created_at: Set(ms(d.created_at)),
        updated_at: Set(ms(d.updated_at)),
    })
    .exec_without_returning(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl<C: Db> WebhookRepo for Conn<C> {
    async fn insert_webhook(&self, w: &Webhook) -> Result<()> {
        webhooks::Entity::insert(webhooks::ActiveModel {
            id: Set(w.id.clone()),
            org_id: Set(w.org_id.clone()),
            url: Set(w.url.clone()),
            events: Set(serde_json::to_string(&w.events).map_err(CoreError::internal)?),
            active: Set(w.active),
            secret_enc: Set(w.secret_enc.clone()),
            previous_secret_enc: Set(w.previous_secret_enc.clone()),
            previous_secret_expires_at: Set(w.previous_secret_expires_at.map(ms)),
            failing_since: Set(w.failing_since.map(ms)),
            created_at: Set(ms(w.created_at)),
            updated_at: Set(ms(w.updated_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_webhook(&self, org_id: &str, webhook_id: &str) -> Result<Option<Webhook>> {
        webhooks::Entity::find_by_id(webhook_id)
            .filter(webhooks::Column::OrgId.eq(org_id))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_webhook)
            .transpose()
    }

    async fn list_webhooks(&self, org_id: &str) -> Result<Vec<Webhook>> {
        let rows = webhooks::Entity::find()
            .filter(webhooks::Column::OrgId.eq(org_id))
            .order_by_asc(webhooks::Column::CreatedAt)
            .order_by_asc(webhooks::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(to_webhook).collect()
    }

    async fn update_webhook(&self, w: &Webhook) -> Result<bool> {
        let events = serde_json::to_string(&w.events).map_err(CoreError::internal)?;
        let r = webhooks::Entity::update_many()
            .col_expr(webhooks::Column::Url, Expr::value(w.url.clone()))
            .col_expr(webhooks::Column::Events, Expr::value(events))
            .col_expr(webhooks::Column::Active, Expr::value(w.active))
            .col_expr(webhooks::Column::SecretEnc, Expr::value(w.secret_enc.clone()))
            .col_expr(webhooks::Column::PreviousSecretEnc, Expr::value(w.previous_secret_enc.clone()))
            .col_expr(webhooks::Column::PreviousSecretExpiresAt, Expr::value(w.previous_secret_expires_at.map(ms)))
            .col_expr(webhooks::Column::FailingSince, Expr::value(w.failing_since.map(ms)))
            .col_expr(webhooks::Column::UpdatedAt, Expr::value(ms(w.updated_at)))
            .filter(webhooks::Column::Id.eq(&w.id))
            .filter(webhooks::Column::OrgId.eq(&w.org_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    async fn delete_webhook(&self, org_id: &str, webhook_id: &str) -> Result<bool> {
        // Children first: SQLite does not enforce the cascade unless foreign keys are on.
        attempts::Entity::delete_many()
            .filter(attempts::Column::WebhookId.eq(webhook_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        deliveries::Entity::delete_many()
            .filter(deliveries::Column::WebhookId.eq(webhook_id))
            .filter(deliveries::Column::OrgId.eq(org_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        let r = webhooks::Entity::delete_many()
            .filter(webhooks::Column::Id.eq(webhook_id))
            .filter(webhooks::Column::OrgId.eq(org_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    async fn set_webhook_failing(
        &self,
        webhook_id: &str,
        since: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        webhooks::Entity::update_many()
            .col_expr(webhooks::Column::FailingSince, Expr::value(since.map(ms)))
            .col_expr(webhooks::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(webhooks::Column::Id.eq(webhook_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn disable_webhook(&self, webhook_id: &str, now: OffsetDateTime) -> Result<bool> {
        let r = webhooks::Entity::update_many()
            .col_expr(webhooks::Column::Active, Expr::value(false))
            .col_expr(webhooks::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(webhooks::Column::Id.eq(webhook_id))
            .filter(webhooks::Column::Active.eq(true))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    async fn insert_webhook_delivery(&self, d: &WebhookDelivery) -> Result<()> {
        insert_delivery(&self.db, d).await?;
        self.wakeup.deliveries_queued();
        Ok(())
    }

    async fn find_webhook_delivery(&self, org_id: &str, delivery_id: &str) -> Result<Option<WebhookDelivery>> {
        Ok(deliveries::Entity::find_by_id(delivery_id)
            .filter(deliveries::Column::OrgId.eq(org_id))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_delivery))
    }

    async fn claim_webhook_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>> {
        // One statement claims the whole batch. On PostgreSQL, rows another node holds locked are skipped
        // instead of waited for; SQLite has one writer at a time, so the statement alone is atomic there.
        let backend = self.db.get_database_backend();
        let (sql, values): (&str, Vec<sea_orm::Value>) = if backend == DbBackend::Postgres {
            (
                "update webhook_deliveries set locked_until = $1, updated_at = $2 where id in (
                    select id from webhook_deliveries
                    where status = 'pending' and next_attempt_at <= $2 and (locked_until is null or locked_until <= $2)
                    order by next_attempt_at, id limit $3 for update skip locked) returning *",
                vec![ms(lease_until).into(), ms(now).into(), (limit as i64).into()],
            )
        } else {
            (
                "update webhook_deliveries set locked_until = ?, updated_at = ? where id in (
                    select id from webhook_deliveries
                    where status = 'pending' and next_attempt_at <= ? and (locked_until is null or locked_until <= ?)
                    order by next_attempt_at, id limit ?) returning *",
                vec![ms(lease_until).into(), ms(now).into(), ms(now).into(), ms(now).into(), (limit as i64).into()],
            )
        };
        let rows = deliveries::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        let mut claimed: Vec<WebhookDelivery> = rows.into_iter().map(to_delivery).collect();
        claimed.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(claimed)
    }

    async fn record_webhook_attempt(
        &self,
        a: &WebhookAttempt,
        status: &str,
        attempt_count: i32,
        now: OffsetDateTime,
    ) -> Result<()> {
        let body = a.response_body.as_ref().map(|b| b.chars().take(4096).collect::<String>());
        let error = a.error.as_ref().map(|e| e.chars().take(2000).collect::<String>());
        attempts::Entity::insert(attempts::ActiveModel {
            id: Set(a.id.clone()),
            delivery_id: Set(a.delivery_id.clone()),
            webhook_id: Set(a.webhook_id.clone()),
            attempted_at: Set(ms(a.attempted_at)),
            status_code: Set(a.status_code),
            latency_ms: Set(a.latency_ms),
            response_body: Set(body),
            error: Set(error.clone()),
            next_retry_at: Set(a.next_retry_at.map(ms)),
            created_at: Set(ms(now)),
            updated_at: Set(ms(now)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Status, Expr::value(status))
            .col_expr(deliveries::Column::Attempts, Expr::value(attempt_count))
            .col_expr(deliveries::Column::NextAttemptAt, Expr::value(a.next_retry_at.map(ms)))
            .col_expr(deliveries::Column::LockedUntil, Expr::value(Option::<i64>::None))
            .col_expr(deliveries::Column::LastStatusCode, Expr::value(a.status_code))
            .col_expr(deliveries::Column::LastError, Expr::value(error))
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(deliveries::Column::Id.eq(&a.delivery_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_webhook_deliveries(&self, webhook_id: &str, limit: u64) -> Result<Vec<WebhookDelivery>> {
        let rows = deliveries::Entity::find()
            .filter(deliveries::Column::WebhookId.eq(webhook_id))
            .order_by_desc(deliveries::Column::CreatedAt)
            .order_by_desc(deliveries::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_delivery).collect())
    }

    async fn list_webhook_attempts(&self, delivery_ids: &[String]) -> Result<Vec<WebhookAttempt>> {
        if delivery_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = attempts::Entity::find()
            .filter(attempts::Column::DeliveryId.is_in(delivery_ids.iter().cloned()))
            .order_by_asc(attempts::Column::AttemptedAt)
            .order_by_asc(attempts::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|m| WebhookAttempt {
                id: m.id,
                delivery_id: m.delivery_id,
                webhook_id: m.webhook_id,
                attempted_at: at(m.attempted_at),
                status_code: m.status_code,
                latency_ms: m.latency_ms,
                response_body: m.response_body,
                error: m.error,
                next_retry_at: m.next_retry_at.map(at),
            })
            .collect())
    }
}
