//! The storage port (trait and record types) of organizations and their API keys. `zauthy-store` implements it
//! for SQLite and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use super::{ApiKey, OrgSettings, Organization, Plan};
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait OrgRepo {
    async fn insert_org(&self, org: &Organization) -> Result<()>;
    async fn find_org(&self, id: &str) -> Result<Option<Organization>>;
    async fn list_orgs(&self) -> Result<Vec<Organization>>;
    async fn set_org_plan(&self, id: &str, plan: Plan, now: OffsetDateTime) -> Result<bool>;
    async fn set_org_settings(&self, id: &str, settings: &OrgSettings, now: OffsetDateTime) -> Result<bool>;
    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<()>;
    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>>;
    async fn delete_api_key(&self, org_id: &str, key_id: &str) -> Result<bool>;
}
