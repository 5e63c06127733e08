//! Device authorization flows (RFC 8628) and backchannel authentication requests (CIBA poll mode): both wait
//! for a user's answer, move from `pending` once (a conditional update, safe against a concurrent answer),
//! record each poll with the interval the client must keep, and are spent once for tokens: one `ApprovalRepo`
//! implementation over the columns both tables share.

use crate::entities::{oidc_backchannel_requests as backchannel, oidc_device_flows as flows};
use crate::{Conn, Db, at, corrupt, db_err, ms, spend_once};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use zauthy_core::error::Result;
use zauthy_core::oidc::{ApprovalKind, BackchannelRequest, DeviceFlow, FlowStatus};
use zauthy_core::store::{ApprovalRepo, OidcBackchannelRepo, OidcDeviceRepo};

fn words(text: &str) -> Vec<String> {
    text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn status(text: &str) -> Result<FlowStatus> {
    FlowStatus::parse(text).ok_or_else(|| corrupt("flow status", text))
}

fn to_flow(m: flows::Model) -> Result<DeviceFlow> {
    Ok(DeviceFlow {
        status: status(&m.status)?,
        scope: words(&m.scope),
        id: m.id,
        org_id: m.org_id,
        client_id: m.client_id,
        device_code_hash: m.device_code_hash,
        user_code_hash: m.user_code_hash,
        user_id: m.user_id,
        grant_id: m.grant_id,
        interval_secs: m.interval_secs,
        last_polled_at: m.last_polled_at.map(at),
        expires_at: at(m.expires_at),
        used_at: m.used_at.map(at),
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
    })
}

fn to_request(m: backchannel::Model) -> Result<BackchannelRequest> {
    Ok(BackchannelRequest {
        status: status(&m.status)?,
        scope: words(&m.scope),
        acr_values: words(&m.acr_values),
        id: m.id,
        org_id: m.org_id,
        client_id: m.client_id,
        user_id: m.user_id,
        auth_req_id_hash: m.auth_req_id_hash,
        binding_message: m.binding_message,
        grant_id: m.grant_id,
        interval_secs: m.interval_secs,
        last_polled_at: m.last_polled_at.map(at),
        expires_at: at(m.expires_at),
        used_at: m.used_at.map(at),
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
    })
}

#[async_trait]
impl<C: Db> OidcDeviceRepo for Conn<C> {
    async fn insert_device_flow(&self, f: &DeviceFlow) -> Result<()> {
        flows::Entity::insert(flows::ActiveModel {
            id: Set(f.id.clone()),
            org_id: Set(f.org_id.clone()),
            client_id: Set(f.client_id.clone()),
            device_code_hash: Set(f.device_code_hash.clone()),
            user_code_hash: Set(f.user_code_hash.clone()),
            scope: Set(f.scope.join(" ")),
            status: Set(f.status.as_str().to_owned()),
            user_id: Set(f.user_id.clone()),
            grant_id: Set(f.grant_id.clone()),
            interval_secs: Set(f.interval_secs),
            last_polled_at: Set(f.last_polled_at.map(ms)),
            expires_at: Set(ms(f.expires_at)),
            used_at: Set(f.used_at.map(ms)),
            created_at: Set(ms(f.created_at)),
            updated_at: Set(ms(f.updated_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_device_flow_by_device_code(&self, hash: &str) -> Result<Option<DeviceFlow>> {
        let found = flows::Entity::find().filter(flows::Column::DeviceCodeHash.eq(hash)).one(&self.db).await;
        found.map_err(db_err)?.map(to_flow).transpose()
    }

    async fn find_device_flow_by_user_code(&self, digest: &str) -> Result<Option<DeviceFlow>> {
        let found = flows::Entity::find().filter(flows::Column::UserCodeHash.eq(digest)).one(&self.db).await;
        found.map_err(db_err)?.map(to_flow).transpose()
    }
}

#[async_trait]
impl<C: Db> OidcBackchannelRepo for Conn<C> {
    async fn insert_backchannel_request(&self, r: &BackchannelRequest) -> Result<()> {
        backchannel::Entity::insert(backchannel::ActiveModel {
            id: Set(r.id.clone()),
            org_id: Set(r.org_id.clone()),
            client_id: Set(r.client_id.clone()),
            user_id: Set(r.user_id.clone()),
            auth_req_id_hash: Set(r.auth_req_id_hash.clone()),
            scope: Set(r.scope.join(" ")),
            acr_values: Set(r.acr_values.join(" ")),
            binding_message: Set(r.binding_message.clone()),
            status: Set(r.status.as_str().to_owned()),
            grant_id: Set(r.grant_id.clone()),
            interval_secs: Set(r.interval_secs),
            last_polled_at: Set(r.last_polled_at.map(ms)),
            expires_at: Set(ms(r.expires_at)),
            used_at: Set(r.used_at.map(ms)),
            created_at: Set(ms(r.created_at)),
            updated_at: Set(ms(r.updated_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_backchannel_request(&self, id: &str) -> Result<Option<BackchannelRequest>> {
        backchannel::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.map(to_request).transpose()
    }

    async fn find_backchannel_request_by_auth_req_id(&self, hash: &str) -> Result<Option<BackchannelRequest>> {
        let found = backchannel::Entity::find().filter(backchannel::Column::AuthReqIdHash.eq(hash)).one(&self.db).await;
        found.map_err(db_err)?.map(to_request).transpose()
    }

    async fn list_pending_backchannel_requests(
        &self,
        org_id: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<BackchannelRequest>> {
        let rows = backchannel::Entity::find()
            .filter(backchannel::Column::OrgId.eq(org_id))
            .filter(backchannel::Column::UserId.eq(user_id))
            .filter(backchannel::Column::Status.eq(FlowStatus::Pending.as_str()))
            .filter(backchannel::Column::ExpiresAt.gt(ms(now)))
            .order_by_asc(backchannel::Column::CreatedAt)
            .order_by_asc(backchannel::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(to_request).collect()
    }
}

/// The columns both kinds of approval have, so that polling, deciding and spending are written once.
struct ApprovalColumns<E: EntityTrait> {
    id: E::Column,
    status: E::Column,
    user_id: E::Column,
    grant_id: E::Column,
    interval_secs: E::Column,
    last_polled_at: E::Column,
    expires_at: E::Column,
    used_at: E::Column,
    updated_at: E::Column,
}

fn device_columns() -> ApprovalColumns<flows::Entity> {
    use flows::Column as C;
    ApprovalColumns {
        id: C::Id,
        status: C::Status,
        user_id: C::UserId,
        grant_id: C::GrantId,
        interval_secs: C::IntervalSecs,
        last_polled_at: C::LastPolledAt,
        expires_at: C::ExpiresAt,
        used_at: C::UsedAt,
        updated_at: C::UpdatedAt,
    }
}

fn backchannel_columns() -> ApprovalColumns<backchannel::Entity> {
    use backchannel::Column as C;
    ApprovalColumns {
        id: C::Id,
        status: C::Status,
        user_id: C::UserId,
        grant_id: C::GrantId,
        interval_secs: C::IntervalSecs,
        last_polled_at: C::LastPolledAt,
        expires_at: C::ExpiresAt,
        used_at: C::UsedAt,
        updated_at: C::UpdatedAt,
    }
}

impl<E: EntityTrait> ApprovalColumns<E> {
    async fn record_poll(&self, db: &impl Db, id: &str, now: OffsetDateTime, interval_secs: i64) -> Result<()> {
        E::update_many()
            .col_expr(self.last_polled_at, Expr::value(ms(now)))
            .col_expr(self.interval_secs, Expr::value(interval_secs))
            .col_expr(self.updated_at, Expr::value(ms(now)))
            .filter(self.id.eq(id))
            .exec(db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// `user_fixed`: the authorization names its user already (a backchannel request), who alone may decide
    /// it; otherwise the decision records who made it (a device flow).
    async fn decide(
        &self,
        db: &impl Db,
        id: &str,
        (status, user_id, grant_id): (FlowStatus, &str, Option<&str>),
        user_fixed: bool,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut update = E::update_many()
            .col_expr(self.status, Expr::value(status.as_str()))
            .col_expr(self.grant_id, Expr::value(grant_id.map(str::to_owned)))
            .col_expr(self.updated_at, Expr::value(ms(now)))
            .filter(self.id.eq(id))
            .filter(self.status.eq(FlowStatus::Pending.as_str()))
            .filter(self.expires_at.gt(ms(now)));
        update = if user_fixed {
            update.filter(self.user_id.eq(user_id))
        } else {
            update.col_expr(self.user_id, Expr::value(user_id))
        };
        Ok(update.exec(db).await.map_err(db_err)?.rows_affected == 1)
    }

    async fn spend(&self, db: &impl Db, id: &str, now: OffsetDateTime) -> Result<bool> {
        spend_once::<E>(db, [self.id, self.used_at, self.updated_at], id, now).await
    }
}

#[async_trait]
impl<C: Db> ApprovalRepo for Conn<C> {
    async fn record_approval_poll(
        &self,
        kind: ApprovalKind,
        id: &str,
        now: OffsetDateTime,
        interval_secs: i64,
    ) -> Result<()> {
        match kind {
            ApprovalKind::Device => device_columns().record_poll(&self.db, id, now, interval_secs).await,
            ApprovalKind::Backchannel => backchannel_columns().record_poll(&self.db, id, now, interval_secs).await,
        }
    }

    async fn decide_approval(
        &self,
        kind: ApprovalKind,
        id: &str,
        status: FlowStatus,
        user_id: &str,
        grant_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let decision = (status, user_id, grant_id);
        match kind {
            ApprovalKind::Device => device_columns().decide(&self.db, id, decision, false, now).await,
            ApprovalKind::Backchannel => backchannel_columns().decide(&self.db, id, decision, true, now).await,
        }
    }

    async fn spend_approval(&self, kind: ApprovalKind, id: &str, now: OffsetDateTime) -> Result<bool> {
        match kind {
            ApprovalKind::Device => device_columns().spend(&self.db, id, now).await,
            ApprovalKind::Backchannel => backchannel_columns().spend(&self.db, id, now).await,
        }
    }
}
