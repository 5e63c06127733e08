//! Sessions and refresh tokens.

use crate::entities::{browser_sessions, refresh_tokens, sessions};
use crate::{Conn, Db, at, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;
use zauthy_core::error::Result;
use zauthy_core::sessions::{RefreshTokenRecord, Session};
use zauthy_core::store::{BrowserSessionRepo, SessionRepo};

fn to_session(m: sessions::Model) -> Session {
    Session {
        id: m.id,
        org_id: m.org_id,
        user_id: m.user_id,
        ip: m.ip,
        user_agent: m.user_agent,
        created_at: at(m.created_at),
        last_used_at: at(m.last_used_at),
        idle_expires_at: at(m.idle_expires_at),
        absolute_expires_at: at(m.absolute_expires_at),
        revoked_at: m.revoked_at.map(at),
        revoked_reason: m.revoked_reason,
        amr: m.amr.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        sid: m.sid,
    }
}

fn to_refresh(m: refresh_tokens::Model) -> RefreshTokenRecord {
    RefreshTokenRecord {
        id: m.id,
        org_id: m.org_id,
        session_id: m.session_id,
        token_hash: m.token_hash,
        expires_at: at(m.expires_at),
        used_at: m.used_at.map(at),
        created_at: at(m.created_at),
    }
}

fn revoke(reason: &str, now: OffsetDateTime) -> sea_orm::UpdateMany<sessions::Entity> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(ms(now)))
        .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
        .col_expr(sessions::Column::UpdatedAt, Expr::value(ms(now)))
        .filter(sessions::Column::RevokedAt.is_null())
}

#[async_trait]
impl<C: Db> SessionRepo for Conn<C> {
    async fn insert_session(&self, s: &Session) -> Result<()> {
        sessions::Entity::insert(sessions::ActiveModel {
            id: Set(s.id.clone()),
            org_id: Set(s.org_id.clone()),
            user_id: Set(s.user_id.clone()),
            ip: Set(s.ip.clone()),
            user_agent: Set(s.user_agent.clone()),
            last_used_at: Set(ms(s.last_used_at)),
            idle_expires_at: Set(ms(s.idle_expires_at)),
            absolute_expires_at: Set(ms(s.absolute_expires_at)),
            revoked_at: Set(s.revoked_at.map(ms)),
            revoked_reason: Set(s.revoked_reason.clone()),
            amr: Set(s.amr.join(" ")),
            sid: Set(s.sid.clone()),
            created_at: Set(ms(s.created_at)),
            updated_at: Set(ms(s.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_session(&self, session_id: &str) -> Result<Option<Session>> {
        Ok(sessions::Entity::find_by_id(session_id).one(&self.db).await.map_err(db_err)?.map(to_session))
    }

    async fn list_active_sessions(&self, org_id: &str, user_id: &str, now: OffsetDateTime) -> Result<Vec<Session>> {
        let rows = sessions::Entity::find()
            .filter(sessions::Column::OrgId.eq(org_id))
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::IdleExpiresAt.gt(ms(now)))
            .filter(sessions::Column::AbsoluteExpiresAt.gt(ms(now)))
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_session).collect())
    }

    async fn touch_session(
        &self,
        session_id: &str,
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<()> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastUsedAt, Expr::value(ms(now)))
            .col_expr(sessions::Column::IdleExpiresAt, Expr::value(ms(idle_expires_at)))
            .col_expr(sessions::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(sessions::Column::Id.eq(session_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_session(
        &self,
        org_id: &str,
        user_id: &str,
        session_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let result = revoke(reason, now)
            .filter(sessions::Column::OrgId.eq(org_id))
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::Id.eq(session_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_user_sessions(
        &self,
        org_id: &str,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let mut update =
            revoke(reason, now).filter(sessions::Column::OrgId.eq(org_id)).filter(sessions::Column::UserId.eq(user_id));
        if let Some(keep) = keep {
            update = update.filter(sessions::Column::Id.ne(keep));
        }
        Ok(update.exec(&self.db).await.map_err(db_err)?.rows_affected)
    }

    async fn sids_revoked_at(
        &self,
        org_id: &str,
        user_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<String>> {
        sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Sid)
            .distinct()
            .filter(sessions::Column::OrgId.eq(org_id))
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.eq(ms(now)))
            .filter(sessions::Column::RevokedReason.eq(reason))
            .into_tuple::<String>()
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> Result<()> {
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            id: Set(t.id.clone()),
            org_id: Set(t.org_id.clone()),
            session_id: Set(t.session_id.clone()),
            token_hash: Set(t.token_hash.clone()),
            expires_at: Set(ms(t.expires_at)),
            used_at: Set(t.used_at.map(ms)),
            created_at: Set(ms(t.created_at)),
            updated_at: Set(ms(t.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>> {
        Ok(refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_refresh))
    }

    async fn mark_refresh_token_used(&self, token_id: &str, now: OffsetDateTime) -> Result<bool> {
        crate::spend_once::<refresh_tokens::Entity>(
            &self.db,
            [refresh_tokens::Column::Id, refresh_tokens::Column::UsedAt, refresh_tokens::Column::UpdatedAt],
            token_id,
            now,
        )
        .await
    }
}

#[async_trait]
impl<C: Db> BrowserSessionRepo for Conn<C> {
    async fn insert_browser_session(
        &self,
        token_hash: &str,
        org_id: &str,
        session_id: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        browser_sessions::Entity::insert(browser_sessions::ActiveModel {
            token_hash: Set(token_hash.to_owned()),
            org_id: Set(org_id.to_owned()),
            session_id: Set(session_id.to_owned()),
            created_at: Set(ms(now)),
            updated_at: Set(ms(now)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_browser_session(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        let row = browser_sessions::Entity::find_by_id(token_hash).one(&self.db).await.map_err(db_err)?;
        Ok(row.map(|m| (m.org_id, m.session_id)))
    }
}
