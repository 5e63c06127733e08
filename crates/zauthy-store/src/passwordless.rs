//! Magic links, one-time codes and the send counter of passwordless sign-in. Spending a link or a code, and
//! counting a try, are conditional updates whose affected-row count decides, so concurrent requests on
//! several nodes cannot both win.

use crate::accounts::to_user;
use crate::entities::{magic_links, one_time_codes, organizations, passwordless_sends, users};
use crate::{Conn, Db, at, corrupt, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;
use zauthy_core::accounts::User;
use zauthy_core::error::Result;
use zauthy_core::passwordless::{MagicLinkRecord, OneTimeCode, OtpChannel, SendRecord};
use zauthy_core::store::PasswordlessRepo;

fn to_code(m: one_time_codes::Model) -> Result<OneTimeCode> {
    let channel = OtpChannel::parse(&m.channel).ok_or_else(|| corrupt("one-time code channel", &m.channel))?;
    Ok(OneTimeCode {
        id: m.id,
        org_id: m.org_id,
        channel,
        destination_hash: m.destination_hash,
        code_hash: m.code_hash,
        attempts: m.attempts,
        expires_at: at(m.expires_at),
        used_at: m.used_at.map(at),
        created_at: at(m.created_at),
    })
}

#[async_trait]
impl<C: Db> PasswordlessRepo for Conn<C> {
    async fn insert_magic_link(&self, l: &MagicLinkRecord) -> Result<()> {
        magic_links::Entity::insert(magic_links::ActiveModel {
            id: Set(l.id.clone()),
            org_id: Set(l.org_id.clone()),
            email: Set(l.email.clone()),
            token_hash: Set(l.token_hash.clone()),
            redirect_url: Set(l.redirect_url.clone()),
            expires_at: Set(ms(l.expires_at)),
            used_at: Set(l.used_at.map(ms)),
            created_at: Set(ms(l.created_at)),
            updated_at: Set(ms(l.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_magic_link(&self, token_hash: &str) -> Result<Option<MagicLinkRecord>> {
        let row = magic_links::Entity::find()
            .filter(magic_links::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(row.map(|m| MagicLinkRecord {
            id: m.id,
            org_id: m.org_id,
            email: m.email,
            token_hash: m.token_hash,
            redirect_url: m.redirect_url,
            expires_at: at(m.expires_at),
            used_at: m.used_at.map(at),
            created_at: at(m.created_at),
        }))
    }

    async fn mark_magic_link_used(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        crate::spend_once::<magic_links::Entity>(
            &self.db,
            [magic_links::Column::Id, magic_links::Column::UsedAt, magic_links::Column::UpdatedAt],
            id,
            now,
        )
        .await
    }

    async fn find_one_time_code(
        &self,
        org_id: &str,
        channel: &str,
        destination_hash: &str,
    ) -> Result<Option<OneTimeCode>> {
        one_time_codes::Entity::find()
            .filter(one_time_codes::Column::OrgId.eq(org_id))
            .filter(one_time_codes::Column::Channel.eq(channel))
            .filter(one_time_codes::Column::DestinationHash.eq(destination_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_code)
            .transpose()
    }

    async fn replace_one_time_code(&self, c: &OneTimeCode) -> Result<()> {
        one_time_codes::Entity::delete_many()
            .filter(one_time_codes::Column::OrgId.eq(c.org_id.as_str()))
            .filter(one_time_codes::Column::Channel.eq(c.channel.as_str()))
            .filter(one_time_codes::Column::DestinationHash.eq(c.destination_hash.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        one_time_codes::Entity::insert(one_time_codes::ActiveModel {
            id: Set(c.id.clone()),
            org_id: Set(c.org_id.clone()),
            channel: Set(c.channel.as_str().to_owned()),
            destination_hash: Set(c.destination_hash.clone()),
            code_hash: Set(c.code_hash.clone()),
            attempts: Set(c.attempts),
            expires_at: Set(ms(c.expires_at)),
            used_at: Set(c.used_at.map(ms)),
            created_at: Set(ms(c.created_at)),
            updated_at: Set(ms(c.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn count_otp_attempt(&self, id: &str, max_attempts: i32, now: OffsetDateTime) -> Result<bool> {
        let column = one_time_codes::Column::Attempts;
        let result = one_time_codes::Entity::update_many()
            .col_expr(column, Expr::col(column).add(1))
            .col_expr(one_time_codes::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(one_time_codes::Column::Id.eq(id))
            .filter(one_time_codes::Column::UsedAt.is_null())
            .filter(column.lt(max_attempts))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn mark_one_time_code_used(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        crate::spend_once::<one_time_codes::Entity>(
            &self.db,
            [one_time_codes::Column::Id, one_time_codes::Column::UsedAt, one_time_codes::Column::UpdatedAt],
            id,
            now,
        )
        .await
    }

    async fn passwordless_sends_since(
        &self,
        org_id: &str,
        destination_hash: &str,
        since: OffsetDateTime,
    ) -> Result<(u64, Option<OffsetDateTime>, Option<OffsetDateTime>)> {
        // sea-query writes no lock clause for SQLite, where the immediate transaction serializes writers.
        organizations::Entity::find_by_id(org_id).lock_exclusive().one(&self.db).await.map_err(db_err)?;
        let times = passwordless_sends::Entity::find()
            .select_only()
            .column(passwordless_sends::Column::CreatedAt)
            .filter(passwordless_sends::Column::OrgId.eq(org_id))
            .filter(passwordless_sends::Column::DestinationHash.eq(destination_hash))
            .filter(passwordless_sends::Column::CreatedAt.gt(ms(since)))
            .order_by_asc(passwordless_sends::Column::CreatedAt)
            .into_tuple::<i64>()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok((times.len() as u64, times.first().copied().map(at), times.last().copied().map(at)))
    }

    async fn record_passwordless_send(&self, s: &SendRecord) -> Result<()> {
        passwordless_sends::Entity::insert(passwordless_sends::ActiveModel {
            id: Set(s.id.clone()),
            org_id: Set(s.org_id.clone()),
            destination_hash: Set(s.destination_hash.clone()),
            created_at: Set(ms(s.created_at)),
            updated_at: Set(ms(s.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_users_by_phone(&self, org_id: &str, phone: &str, limit: u64) -> Result<Vec<User>> {
        let rows = users::Entity::find()
            .filter(users::Column::OrgId.eq(org_id))
            .filter(users::Column::Phone.eq(phone))
            .order_by_asc(users::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(|m| to_user(m).map(|u| u.user)).collect()
    }

    async fn mark_phone_verified(&self, user_id: &str, phone: &str, now: OffsetDateTime) -> Result<bool> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::PhoneVerified, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(users::Column::Id.eq(user_id))
            .filter(users::Column::Phone.eq(phone))
            .filter(users::Column::PhoneVerified.eq(false))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn mark_email_verified(&self, user_id: &str, now: OffsetDateTime) -> Result<bool> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::IsVerified, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(users::Column::Id.eq(user_id))
            .filter(users::Column::IsVerified.eq(false))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }
}
