//! The outbox: messages written with the change that caused them, claimed by workers under a lease.
//! A claim is a conditional update, so two nodes on one PostgreSQL never both take the same message.

use crate::entities::outbox;
use crate::{Conn, Db, at, db_err, ms, unreadable};
use async_trait::async_trait;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;
use zauthy_core::error::Result;
use zauthy_core::oidc::KIND_BACKCHANNEL_LOGOUT;
use zauthy_core::outbox::{OutboxLane, OutboxMessage};
use zauthy_core::store::OutboxRepo;

const PENDING: &str = "pending";
const DONE: &str = "done";
const DEAD: &str = "dead";
/// The statuses of messages nothing will send any more.
pub(crate) const FINISHED: [&str; 2] = [DONE, DEAD];
/// What a finished message's payload becomes: it held the message (a reset link, a one-time code), and
/// nothing needs it once sent or given up. Kind, attempts and the last error stay for the record.
const ERASED: &str = "{}";

fn claimable(now: OffsetDateTime) -> Condition {
    Condition::any().add(outbox::Column::LockedUntil.is_null()).add(outbox::Column::LockedUntil.lte(ms(now)))
}

#[async_trait]
impl<C: Db> OutboxRepo for Conn<C> {
    async fn enqueue(&self, m: &OutboxMessage) -> Result<()> {
        outbox::Entity::insert(outbox::ActiveModel {
            id: Set(m.id.clone()),
            org_id: Set(m.org_id.clone()),
            kind: Set(m.kind.clone()),
            payload: Set(m.payload.to_string()),
            status: Set(PENDING.to_owned()),
            attempts: Set(m.attempts),
            next_attempt_at: Set(ms(m.next_attempt_at)),
            locked_until: Set(None),
            last_error: Set(None),
            created_at: Set(ms(m.created_at)),
            updated_at: Set(ms(m.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn claim_next_outbox(
        &self,
        lane: OutboxLane,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<OutboxMessage>> {
        let in_lane = match lane {
            OutboxLane::Messages => outbox::Column::Kind.ne(KIND_BACKCHANNEL_LOGOUT),
            OutboxLane::Logout => outbox::Column::Kind.eq(KIND_BACKCHANNEL_LOGOUT),
        };
        let candidates = outbox::Entity::find()
            .filter(outbox::Column::Status.eq(PENDING))
            .filter(in_lane)
            .filter(outbox::Column::NextAttemptAt.lte(ms(now)))
            .filter(claimable(now))
            .order_by_asc(outbox::Column::NextAttemptAt)
            .order_by_asc(outbox::Column::Id)
            .limit(8)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        for row in candidates {
            let claimed = outbox::Entity::update_many()
                .col_expr(outbox::Column::LockedUntil, Expr::value(ms(lease_until)))
                .col_expr(outbox::Column::UpdatedAt, Expr::value(ms(now)))
                .filter(outbox::Column::Id.eq(&row.id))
                .filter(outbox::Column::Status.eq(PENDING))
                .filter(claimable(now))
                .exec(&self.db)
                .await
                .map_err(db_err)?;
            if claimed.rows_affected == 1 {
                let payload = serde_json::from_str(&row.payload).map_err(|_| unreadable("outbox payload", &row.id))?;
                return Ok(Some(OutboxMessage {
                    id: row.id,
                    org_id: row.org_id,
                    kind: row.kind,
                    payload,
                    attempts: row.attempts,
                    next_attempt_at: at(row.next_attempt_at),
                    created_at: at(row.created_at),
                }));
            }
        }
        Ok(None)
    }

    async fn complete_outbox(&self, id: &str, now: OffsetDateTime) -> Result<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(DONE))
            .col_expr(outbox::Column::Payload, Expr::value(ERASED))
            .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<i64>::None))
            .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(1))
            .col_expr(outbox::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn fail_outbox(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let error: String = error.chars().take(2000).collect();
        let mut update = outbox::Entity::update_many()
            .col_expr(outbox::Column::LastError, Expr::value(error))
            .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<i64>::None))
            .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(1))
            .col_expr(outbox::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(outbox::Column::Id.eq(id));
        update = match retry_at {
            Some(t) => update.col_expr(outbox::Column::NextAttemptAt, Expr::value(ms(t))),
            None => update
                .col_expr(outbox::Column::Status, Expr::value(DEAD))
                .col_expr(outbox::Column::Payload, Expr::value(ERASED)),
        };
        update.exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }
}
