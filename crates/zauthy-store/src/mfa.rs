//! TOTP seeds, backup codes and MFA challenges. Every "use once" is a conditional update, so two nodes
//! racing on the same code or step cannot both succeed.

use crate::entities::{mfa_backup_codes as codes, mfa_challenges as challenges, mfa_totp as totp};
use crate::{Conn, Db, at, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use time::OffsetDateTime;
use zauthy_core::error::Result;
use zauthy_core::ids;
use zauthy_core::mfa::{BackupCodeRecord, MfaChallenge, TotpRecord};
use zauthy_core::store::MfaRepo;

fn to_challenge(m: challenges::Model) -> MfaChallenge {
    MfaChallenge {
        id: m.id,
        org_id: m.org_id,
        user_id: m.user_id,
        token_hash: m.token_hash,
        first_factor: m.first_factor,
        replaces_session_id: m.replaces_session_id,
        expires_at: at(m.expires_at),
        used_at: m.used_at.map(at),
        created_at: at(m.created_at),
    }
}

#[async_trait]
impl<C: Db> MfaRepo for Conn<C> {
    async fn put_pending_totp(&self, r: &TotpRecord) -> Result<()> {
        totp::Entity::delete_many()
            .filter(totp::Column::UserId.eq(&r.user_id))
            .filter(totp::Column::ConfirmedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        totp::Entity::insert(totp::ActiveModel {
            user_id: Set(r.user_id.clone()),
            org_id: Set(r.org_id.clone()),
            secret_enc: Set(r.secret_enc.clone()),
            confirmed_at: Set(r.confirmed_at.map(ms)),
            last_used_step: Set(r.last_used_step),
            created_at: Set(ms(r.created_at)),
            updated_at: Set(ms(r.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_totp(&self, user_id: &str) -> Result<Option<TotpRecord>> {
        let row = totp::Entity::find_by_id(user_id).one(&self.db).await.map_err(db_err)?;
        Ok(row.map(|m| TotpRecord {
            user_id: m.user_id,
            org_id: m.org_id,
            secret_enc: m.secret_enc,
            confirmed_at: m.confirmed_at.map(at),
            last_used_step: m.last_used_step,
            created_at: at(m.created_at),
        }))
    }

    async fn confirm_totp(&self, user_id: &str, step: i64, now: OffsetDateTime) -> Result<bool> {
        let result = totp::Entity::update_many()
            .col_expr(totp::Column::ConfirmedAt, Expr::value(ms(now)))
            .col_expr(totp::Column::LastUsedStep, Expr::value(step))
            .col_expr(totp::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(totp::Column::UserId.eq(user_id))
            .filter(totp::Column::ConfirmedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn accept_totp_step(&self, user_id: &str, step: i64, now: OffsetDateTime) -> Result<bool> {
        let result = totp::Entity::update_many()
            .col_expr(totp::Column::LastUsedStep, Expr::value(step))
            .col_expr(totp::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(totp::Column::UserId.eq(user_id))
            .filter(totp::Column::ConfirmedAt.is_not_null())
            .filter(Condition::any().add(totp::Column::LastUsedStep.is_null()).add(totp::Column::LastUsedStep.lt(step)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete_totp(&self, user_id: &str) -> Result<bool> {
        let result = totp::Entity::delete_many()
            .filter(totp::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn replace_backup_codes(
        &self,
        org_id: &str,
        user_id: &str,
        code_hashes: &[String],
        now: OffsetDateTime,
    ) -> Result<()> {
        self.delete_backup_codes(user_id).await?;
        let rows = code_hashes.iter().map(|hash| codes::ActiveModel {
            id: Set(ids::new_id(ids::BACKUP_CODE)),
            org_id: Set(org_id.to_owned()),
            user_id: Set(user_id.to_owned()),
            code_hash: Set(hash.clone()),
            used_at: Set(None),
            created_at: Set(ms(now)),
            updated_at: Set(ms(now)),
        });
        codes::Entity::insert_many(rows).exec_without_returning(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn find_backup_code(&self, code_hash: &str) -> Result<Option<BackupCodeRecord>> {
        let row =
            codes::Entity::find().filter(codes::Column::CodeHash.eq(code_hash)).one(&self.db).await.map_err(db_err)?;
        Ok(row.map(|m| BackupCodeRecord { id: m.id, user_id: m.user_id, used_at: m.used_at.map(at) }))
    }

    async fn spend_backup_code(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        crate::spend_once::<codes::Entity>(
            &self.db,
            [codes::Column::Id, codes::Column::UsedAt, codes::Column::UpdatedAt],
            id,
            now,
        )
        .await
    }

    async fn count_unused_backup_codes(&self, user_id: &str) -> Result<u64> {
        codes::Entity::find()
            .filter(codes::Column::UserId.eq(user_id))
            .filter(codes::Column::UsedAt.is_null())
            .count(&self.db)
            .await
            .map_err(db_err)
    }

    async fn delete_backup_codes(&self, user_id: &str) -> Result<()> {
        codes::Entity::delete_many().filter(codes::Column::UserId.eq(user_id)).exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn insert_mfa_challenge(&self, c: &MfaChallenge) -> Result<()> {
        challenges::Entity::insert(challenges::ActiveModel {
            id: Set(c.id.clone()),
            org_id: Set(c.org_id.clone()),
            user_id: Set(c.user_id.clone()),
            token_hash: Set(c.token_hash.clone()),
            first_factor: Set(c.first_factor.clone()),
            replaces_session_id: Set(c.replaces_session_id.clone()),
            expires_at: Set(ms(c.expires_at)),
            used_at: Set(c.used_at.map(ms)),
            attempts: Set(0),
            created_at: Set(ms(c.created_at)),
            updated_at: Set(ms(c.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_mfa_challenge(&self, token_hash: &str) -> Result<Option<MfaChallenge>> {
        let row = challenges::Entity::find()
            .filter(challenges::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(row.map(to_challenge))
    }

    async fn count_mfa_attempt(&self, id: &str, max_attempts: i32, now: OffsetDateTime) -> Result<bool> {
        let column = challenges::Column::Attempts;
        let result = challenges::Entity::update_many()
            .col_expr(column, Expr::col(column).add(1))
            .col_expr(challenges::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(challenges::Column::Id.eq(id))
            .filter(challenges::Column::UsedAt.is_null())
            .filter(column.lt(max_attempts))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn spend_mfa_challenge(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        crate::spend_once::<challenges::Entity>(
            &self.db,
            [challenges::Column::Id, challenges::Column::UsedAt, challenges::Column::UpdatedAt],
            id,
            now,
        )
        .await
    }
}
