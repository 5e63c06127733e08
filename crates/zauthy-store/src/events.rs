//! The event log.

use crate::entities::events;
use crate::{Conn, Db, at, db_err, ms, unreadable};
use async_trait::async_trait;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use zauthy_core::error::Result;
use zauthy_core::events::{Event, EventFilter};
use zauthy_core::store::EventRepo;

#[async_trait]
impl<C: Db> EventRepo for Conn<C> {
    async fn insert_event(&self, e: &Event) -> Result<()> {
        events::Entity::insert(events::ActiveModel {
            id: Set(e.id.clone()),
            org_id: Set(e.org_id.clone()),
            event_type: Set(e.event_type.clone()),
            user_id: Set(e.user_id.clone()),
            data: Set(e.data.to_string()),
            created_at: Set(ms(e.created_at)),
            updated_at: Set(ms(e.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        // Same connection, so the deliveries commit or roll back with the event.
        if crate::webhooks::fan_out(&self.db, e).await? > 0 {
            self.wakeup.deliveries_queued();
        }
        Ok(())
    }

    async fn list_events(&self, org_id: &str, event_type: Option<&str>, limit: u64) -> Result<Vec<Event>> {
        let mut query = events::Entity::find().filter(events::Column::OrgId.eq(org_id));
        if let Some(t) = event_type {
            query = query.filter(events::Column::EventType.eq(t));
        }
        let rows = query
            .order_by_desc(events::Column::CreatedAt)
            .order_by_desc(events::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(to_event).collect()
    }

    async fn query_events(
        &self,
        org_id: &str,
        filter: &EventFilter,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<Event>, u64)> {
        let mut query = events::Entity::find().filter(events::Column::OrgId.eq(org_id));
        if let Some(t) = &filter.event_type {
            query = query.filter(events::Column::EventType.eq(t.as_str()));
        }
        if let Some(u) = &filter.user_id {
            query = query.filter(events::Column::UserId.eq(u.as_str()));
        }
        if let Some(s) = filter.since {
            query = query.filter(events::Column::CreatedAt.gte(ms(s)));
        }
        if let Some(u) = filter.until {
            query = query.filter(events::Column::CreatedAt.lt(ms(u)));
        }
        let total = query.clone().count(&self.db).await.map_err(db_err)?;
        let rows = query
            .order_by_desc(events::Column::CreatedAt)
            .order_by_desc(events::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok((rows.into_iter().map(to_event).collect::<Result<Vec<_>>>()?, total))
    }
}

fn to_event(m: events::Model) -> Result<Event> {
    let data = serde_json::from_str(&m.data).map_err(|_| unreadable("event data", &m.id))?;
    Ok(Event {
        event_type: m.event_type,
        id: m.id,
        org_id: m.org_id,
        user_id: m.user_id,
        data,
        created_at: at(m.created_at),
    })
}
