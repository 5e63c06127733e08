//! Carrier codes, secondary-device requests (with their login_hint_token) and trusted browsers.

use crate::entities::{carrier_codes as carriers, cross_device_requests as requests, trusted_browsers as trusted};
use crate::{Conn, Db, at, corrupt, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use zauthy_core::error::{CoreError, Result};
use zauthy_core::oidc::{CrossDeviceRequest, CrossDeviceStatus};
use zauthy_core::store::CrossDeviceRepo;

fn words(text: &str) -> Vec<String> {
    text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn to_request(m: requests::Model) -> Result<CrossDeviceRequest> {
    Ok(CrossDeviceRequest {
        status: CrossDeviceStatus::parse(&m.status).ok_or_else(|| corrupt("cross-device status", &m.status))?,
        scope: words(&m.scope),
        approved_scope: words(&m.approved_scope),
        id: m.id,
        org_id: m.org_id,
        client_id: m.client_id,
        redirect_uri: m.redirect_uri,
        state: m.state,
        code_hash: m.code_hash,
        poll_hash: m.poll_hash,
        target_user_id: m.target_user_id,
        notified_user_id: m.notified_user_id,
        user_id: m.user_id,
        session_id: m.session_id,
        trust_browser: m.trust_browser,
        hint_hash: m.hint_hash,
        hint_used_at: m.hint_used_at.map(at),
        hint_expires_at: m.hint_expires_at.map(at),
        expires_at: at(m.expires_at),
        created_at: at(m.created_at),
    })
}

impl<C: Db> Conn<C> {
    async fn one_request(&self, filter: sea_orm::Condition) -> Result<Option<CrossDeviceRequest>> {
        requests::Entity::find()
            .filter(filter)
            .order_by_desc(requests::Column::CreatedAt)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_request)
            .transpose()
    }

    async fn update_request(&self, update: sea_orm::UpdateMany<requests::Entity>) -> Result<bool> {
        Ok(update.exec(&self.db).await.map_err(db_err)?.rows_affected == 1)
    }
}

#[async_trait]
impl<C: Db> CrossDeviceRepo for Conn<C> {
    async fn insert_cross_device(&self, r: &CrossDeviceRequest) -> Result<()> {
        requests::Entity::insert(requests::ActiveModel {
            id: Set(r.id.clone()),
            org_id: Set(r.org_id.clone()),
            client_id: Set(r.client_id.clone()),
            redirect_uri: Set(r.redirect_uri.clone()),
            state: Set(r.state.clone()),
            scope: Set(r.scope.join(" ")),
            code_hash: Set(r.code_hash.clone()),
            poll_hash: Set(r.poll_hash.clone()),
            target_user_id: Set(r.target_user_id.clone()),
            notified_user_id: Set(r.notified_user_id.clone()),
            status: Set(r.status.as_str().to_owned()),
            user_id: Set(r.user_id.clone()),
            session_id: Set(r.session_id.clone()),
            approved_scope: Set(r.approved_scope.join(" ")),
            trust_browser: Set(r.trust_browser),
            hint_hash: Set(r.hint_hash.clone()),
            hint_expires_at: Set(r.hint_expires_at.map(ms)),
            hint_used_at: Set(r.hint_used_at.map(ms)),
            expires_at: Set(ms(r.expires_at)),
            created_at: Set(ms(r.created_at)),
            updated_at: Set(ms(r.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_cross_device(&self, id: &str) -> Result<Option<CrossDeviceRequest>> {
        self.one_request(sea_orm::Condition::all().add(requests::Column::Id.eq(id))).await
    }

    async fn find_cross_device_by_poll(&self, poll_hash: &str) -> Result<Option<CrossDeviceRequest>> {
        self.one_request(sea_orm::Condition::all().add(requests::Column::PollHash.eq(poll_hash))).await
    }

    async fn find_cross_device_by_code(&self, org_id: &str, code_hash: &str) -> Result<Option<CrossDeviceRequest>> {
        let filter = sea_orm::Condition::all()
            .add(requests::Column::OrgId.eq(org_id))
            .add(requests::Column::CodeHash.eq(code_hash))
            .add(requests::Column::Status.eq("pending"));
        self.one_request(filter).await
    }

    async fn find_cross_device_by_hint(&self, hint_hash: &str) -> Result<Option<CrossDeviceRequest>> {
        self.one_request(sea_orm::Condition::all().add(requests::Column::HintHash.eq(hint_hash))).await
    }

    async fn list_cross_device_for_user(
        &self,
        org_id: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<CrossDeviceRequest>> {
        let rows = requests::Entity::find()
            .filter(requests::Column::OrgId.eq(org_id))
            .filter(
                sea_orm::Condition::any()
                    .add(requests::Column::TargetUserId.eq(user_id))
                    .add(requests::Column::NotifiedUserId.eq(user_id)),
            )
            .filter(requests::Column::Status.eq("pending"))
            .filter(requests::Column::ExpiresAt.gt(ms(now)))
            .order_by_desc(requests::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(to_request).collect()
    }

    async fn target_cross_device(&self, id: &str, user_id: &str, now: OffsetDateTime) -> Result<bool> {
        self.update_request(
            requests::Entity::update_many()
                .col_expr(requests::Column::TargetUserId, Expr::value(user_id))
                .col_expr(requests::Column::UpdatedAt, Expr::value(ms(now)))
                .filter(requests::Column::Id.eq(id))
                .filter(requests::Column::Status.eq("pending"))
                .filter(requests::Column::TargetUserId.is_null()),
        )
        .await
    }

    async fn notify_cross_device(&self, id: &str, user_id: &str, now: OffsetDateTime) -> Result<bool> {
        self.update_request(
            requests::Entity::update_many()
                .col_expr(requests::Column::NotifiedUserId, Expr::value(user_id))
                .col_expr(requests::Column::UpdatedAt, Expr::value(ms(now)))
                .filter(requests::Column::Id.eq(id))
                .filter(requests::Column::Status.eq("pending"))
                .filter(requests::Column::TargetUserId.is_null())
                .filter(requests::Column::NotifiedUserId.is_null()),
        )
        .await
    }

    async fn answer_cross_device(
        &self,
        id: &str,
        status: CrossDeviceStatus,
        user_id: &str,
        session_id: &str,
        scope: &[String],
        trust_browser: bool,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.update_request(
            requests::Entity::update_many()
                .col_expr(requests::Column::Status, Expr::value(status.as_str()))
                .col_expr(requests::Column::UserId, Expr::value(user_id))
                .col_expr(requests::Column::SessionId, Expr::value(session_id))
                .col_expr(requests::Column::ApprovedScope, Expr::value(scope.join(" ")))
                .col_expr(requests::Column::TrustBrowser, Expr::value(trust_browser))
                .col_expr(requests::Column::UpdatedAt, Expr::value(ms(now)))
                .filter(requests::Column::Id.eq(id))
                .filter(requests::Column::Status.eq("pending")),
        )
        .await
    }

    async fn issue_login_hint(
        &self,
        id: &str,
        hint_hash: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.update_request(
            requests::Entity::update_many()
                .col_expr(requests::Column::HintHash, Expr::value(hint_hash))
                .col_expr(requests::Column::HintExpiresAt, Expr::value(ms(expires_at)))
                .col_expr(requests::Column::UpdatedAt, Expr::value(ms(now)))
                .filter(requests::Column::Id.eq(id))
                .filter(requests::Column::HintHash.is_null()),
        )
        .await
    }

    async fn spend_login_hint(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        self.update_request(
            requests::Entity::update_many()
                .col_expr(requests::Column::HintUsedAt, Expr::value(ms(now)))
                .col_expr(requests::Column::UpdatedAt, Expr::value(ms(now)))
                .filter(requests::Column::Id.eq(id))
                .filter(requests::Column::HintUsedAt.is_null()),
        )
        .await
    }

    async fn insert_trusted_browser(
        &self,
        token_hash: &str,
        org_id: &str,
        user_id: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        trusted::Entity::insert(trusted::ActiveModel {
            id: Set(token_hash.to_owned()),
            org_id: Set(org_id.to_owned()),
            user_id: Set(user_id.to_owned()),
            expires_at: Set(ms(expires_at)),
            created_at: Set(ms(now)),
            updated_at: Set(ms(now)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_trusted_browser(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<(String, String)>> {
        let row = trusted::Entity::find_by_id(token_hash).one(&self.db).await.map_err(db_err)?;
        Ok(row.filter(|m| m.expires_at > ms(now)).map(|m| (m.org_id, m.user_id)))
    }

    async fn set_carrier_codes(&self, org_id: &str, codes: &[String], now: OffsetDateTime) -> Result<()> {
        carriers::Entity::delete_many()
            .filter(carriers::Column::OrgId.eq(org_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        for code in codes {
            carriers::Entity::insert(carriers::ActiveModel {
                mccmnc: Set(code.clone()),
                org_id: Set(org_id.to_owned()),
                created_at: Set(ms(now)),
                updated_at: Set(ms(now)),
            })
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| match db_err(e) {
                CoreError::Conflict { .. } => CoreError::conflict(
                    "mccmnc_taken",
                    format!("mccmnc {code} is already served by another organization"),
                ),
                other => other,
            })?;
        }
        Ok(())
    }

    async fn find_carrier(&self, mccmnc: &str) -> Result<Option<String>> {
        Ok(carriers::Entity::find_by_id(mccmnc).one(&self.db).await.map_err(db_err)?.map(|m| m.org_id))
    }
}
