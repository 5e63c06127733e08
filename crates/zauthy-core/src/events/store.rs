//! The storage port (trait and record types) of the event log. `zauthy-store` implements it for SQLite and
//! PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use super::Event;
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait EventRepo {
    async fn insert_event(&self, event: &Event) -> Result<()>;
    async fn list_events(&self, org_id: &str, event_type: Option<&str>, limit: u64) -> Result<Vec<Event>>;
    /// A page of the organization's events, newest first, and how many match in all.
    async fn query_events(
        &self,
        org_id: &str,
        filter: &EventFilter,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<Event>, u64)>;
}

#[derive(Debug, Clone)]
pub struct EventQuery {
    pub page: u64,
    pub per_page: u64,
    pub filter: EventFilter,
}

/// What the store filters on; `None` means no restriction. `since` is inclusive, `until` exclusive.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}
