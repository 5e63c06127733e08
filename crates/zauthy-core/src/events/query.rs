//! Reading the event log: newest first, filtered by type, user and time, a page at a time.

use super::Event;
use super::store::EventQuery;
use crate::accounts::Role;
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::services::Services;

const MAX_PER_PAGE: u64 = 100;

#[derive(Debug)]
pub struct EventList {
    pub events: Vec<Event>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

impl Services {
    /// The organization's events, newest first. API key, or an owner or admin.
    pub async fn list_events(&self, actor: &Actor, query: EventQuery) -> Result<EventList> {
        let org_id = actor.require_admin(Role::Admin)?;
        if query.page == 0 || query.per_page == 0 || query.per_page > MAX_PER_PAGE {
            return Err(CoreError::invalid("invalid_pagination", "page must be ≥ 1 and per_page between 1 and 100"));
        }
        if let (Some(s), Some(u)) = (query.filter.since, query.filter.until)
            && s > u
        {
            return Err(CoreError::invalid("invalid_query", "since must not be after until"));
        }
        let offset = (query.page - 1)
            .checked_mul(query.per_page)
            .filter(|o| i64::try_from(*o).is_ok())
            .ok_or_else(|| CoreError::invalid("invalid_pagination", "page is out of range"))?;
        let (events, total) = self.store.query_events(org_id, &query.filter, query.per_page, offset).await?;
        Ok(EventList { events, total, page: query.page, per_page: query.per_page })
    }
}
