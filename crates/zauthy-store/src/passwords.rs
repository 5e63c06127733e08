//! Password reset tokens.

use crate::entities::password_reset_tokens as resets;
use crate::{Conn, Db, at, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use time::OffsetDateTime;
use zauthy_core::error::Result;
use zauthy_core::passwords::PasswordResetRecord;
use zauthy_core::store::PasswordResetRepo;

fn spend(now: OffsetDateTime) -> sea_orm::UpdateMany<resets::Entity> {
    resets::Entity::update_many()
        .col_expr(resets::Column::UsedAt, Expr::value(ms(now)))
        .col_expr(resets::Column::UpdatedAt, Expr::value(ms(now)))
        .filter(resets::Column::UsedAt.is_null())
}

#[async_trait]
impl<C: Db> PasswordResetRepo for Conn<C> {
    async fn insert_reset_token(&self, t: &PasswordResetRecord) -> Result<()> {
        resets::Entity::insert(resets::ActiveModel {
            id: Set(t.id.clone()),
            org_id: Set(t.org_id.clone()),
            user_id: Set(t.user_id.clone()),
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

    async fn find_reset_token(&self, token_hash: &str) -> Result<Option<PasswordResetRecord>> {
        let row = resets::Entity::find()
            .filter(resets::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(row.map(|m| PasswordResetRecord {
            id: m.id,
            org_id: m.org_id,
            user_id: m.user_id,
            token_hash: m.token_hash,
            expires_at: at(m.expires_at),
            used_at: m.used_at.map(at),
            created_at: at(m.created_at),
        }))
    }

    async fn mark_reset_token_used(&self, token_id: &str, now: OffsetDateTime) -> Result<bool> {
        let result = spend(now).filter(resets::Column::Id.eq(token_id)).exec(&self.db).await.map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn invalidate_reset_tokens(&self, user_id: &str, now: OffsetDateTime) -> Result<()> {
        spend(now).filter(resets::Column::UserId.eq(user_id)).exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }
}
