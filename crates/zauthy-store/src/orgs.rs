//! Organizations and API keys.

use crate::entities::{api_keys, organizations};
use crate::{Conn, Db, at, corrupt, db_err, ms};
use async_trait::async_trait;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
use time::OffsetDateTime;
use zauthy_core::error::{CoreError, Result};
use zauthy_core::orgs::{ApiKey, KeyEnvironment, OrgSettings, Organization, Plan};
use zauthy_core::store::OrgRepo;

fn to_org(m: organizations::Model) -> Result<Organization> {
    Ok(Organization {
        plan: m.plan.parse::<Plan>().map_err(|_| corrupt("plan", &m.plan))?,
        settings: serde_json::from_str(&m.settings).map_err(|_| corrupt("settings", &m.settings))?,
        id: m.id,
        name: m.name,
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
    })
}

fn to_key(m: api_keys::Model) -> Result<ApiKey> {
    let environment = match m.environment.as_str() {
        "live" => KeyEnvironment::Live,
        "test" => KeyEnvironment::Test,
        other => return Err(corrupt("key environment", other)),
    };
    Ok(ApiKey { id: m.id, org_id: m.org_id, name: m.name, prefix: m.prefix, environment, created_at: at(m.created_at) })
}

#[async_trait]
impl<C: Db> OrgRepo for Conn<C> {
    async fn insert_org(&self, org: &Organization) -> Result<()> {
        organizations::Entity::insert(organizations::ActiveModel {
            id: Set(org.id.clone()),
            name: Set(org.name.clone()),
            plan: Set(org.plan.as_str().to_owned()),
            settings: Set(serde_json::to_string(&org.settings).map_err(CoreError::internal)?),
            created_at: Set(ms(org.created_at)),
            updated_at: Set(ms(org.updated_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_org(&self, id: &str) -> Result<Option<Organization>> {
        organizations::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.map(to_org).transpose()
    }

    async fn list_orgs(&self) -> Result<Vec<Organization>> {
        let rows = organizations::Entity::find()
            .order_by_asc(organizations::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(to_org).collect()
    }

    async fn set_org_plan(&self, id: &str, plan: Plan, now: OffsetDateTime) -> Result<bool> {
        let result = organizations::Entity::update_many()
            .col_expr(organizations::Column::Plan, Expr::value(plan.as_str()))
            .col_expr(organizations::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(organizations::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn set_org_settings(&self, id: &str, settings: &OrgSettings, now: OffsetDateTime) -> Result<bool> {
        let text = serde_json::to_string(settings).map_err(CoreError::internal)?;
        let result = organizations::Entity::update_many()
            .col_expr(organizations::Column::Settings, Expr::value(text))
            .col_expr(organizations::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(organizations::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<()> {
        api_keys::Entity::insert(api_keys::ActiveModel {
            id: Set(key.id.clone()),
            org_id: Set(key.org_id.clone()),
            name: Set(key.name.clone()),
            prefix: Set(key.prefix.clone()),
            environment: Set(key.environment.as_str().to_owned()),
            key_hash: Set(key_hash.to_owned()),
            created_at: Set(ms(key.created_at)),
            updated_at: Set(ms(key.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        api_keys::Entity::find()
            .filter(api_keys::Column::KeyHash.eq(key_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_key)
            .transpose()
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>> {
        let rows = api_keys::Entity::find()
            .filter(api_keys::Column::OrgId.eq(org_id))
            .order_by_asc(api_keys::Column::CreatedAt)
            .order_by_asc(api_keys::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(to_key).collect()
    }

    async fn delete_api_key(&self, org_id: &str, key_id: &str) -> Result<bool> {
        let result = api_keys::Entity::delete_many()
            .filter(api_keys::Column::OrgId.eq(org_id))
            .filter(api_keys::Column::Id.eq(key_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }
}
