//! Users: credentials, lockout counters, block state, and the org's user list.

use crate::entities::{
    browser_sessions, mfa_challenges, password_reset_tokens, pending_guesses, refresh_tokens, sessions, users,
};
use crate::{Conn, Db, at, corrupt, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use time::OffsetDateTime;
use zauthy_core::accounts::{Address, AddressMembers, Email, Role, User, UserWithSecret};
use zauthy_core::error::{CoreError, Result};
use zauthy_core::store::{MfaRepo, UserRepo};

pub(crate) fn to_user(m: users::Model) -> Result<UserWithSecret> {
    let role = m.role.parse::<Role>().map_err(|_| corrupt("role", &m.role))?;
    let address = m
        .address
        .as_deref()
        .map(|text| serde_json::from_str::<AddressMembers>(text).map_err(|_| corrupt("address", text)))
        .transpose()?
        .map(Address::from_trusted);
    Ok(UserWithSecret {
        password_hash: m.password_hash,
        user: User {
            id: m.id,
            org_id: m.org_id,
            email: Email::from_trusted(m.email),
            name: m.name,
            phone: m.phone,
            address,
            role,
            is_verified: m.is_verified,
            phone_verified: m.phone_verified,
            is_blocked: m.is_blocked,
            failed_login_attempts: m.failed_login_attempts,
            locked_until: m.locked_until.map(at),
            last_login_at: m.last_login_at.map(at),
            created_at: at(m.created_at),
            updated_at: at(m.updated_at),
        },
    })
}

fn address_json(user: &User) -> Result<Option<String>> {
    user.address.as_ref().map(|a| serde_json::to_string(a.members()).map_err(CoreError::internal)).transpose()
}

/// `%` and `_` in a search are literal characters, not wildcards.
fn like_contains(search: &str) -> LikeExpr {
    let escaped = search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

impl<C: Db> Conn<C> {
    pub(crate) async fn update_user(
        &self,
        user_id: &str,
        org_id: Option<&str>,
        sets: Vec<(users::Column, Expr)>,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut update = users::Entity::update_many()
            .col_expr(users::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(users::Column::Id.eq(user_id));
        if let Some(org_id) = org_id {
            update = update.filter(users::Column::OrgId.eq(org_id));
        }
        for (column, value) in sets {
            update = update.col_expr(column, value);
        }
        Ok(update.exec(&self.db).await.map_err(db_err)?.rows_affected == 1)
    }
}

#[async_trait]
impl<C: Db> UserRepo for Conn<C> {
    async fn insert_user(&self, user: &User, password_hash: Option<&str>) -> Result<()> {
        users::Entity::insert(users::ActiveModel {
            id: Set(user.id.clone()),
            org_id: Set(user.org_id.clone()),
            email: Set(user.email.as_str().to_owned()),
            name: Set(user.name.clone()),
            phone: Set(user.phone.clone()),
            address: Set(address_json(user)?),
            role: Set(user.role.as_str().to_owned()),
            password_hash: Set(password_hash.map(str::to_owned)),
            is_verified: Set(user.is_verified),
            phone_verified: Set(user.phone_verified),
            is_blocked: Set(user.is_blocked),
            failed_login_attempts: Set(user.failed_login_attempts),
            locked_until: Set(user.locked_until.map(ms)),
            last_login_at: Set(user.last_login_at.map(ms)),
            created_at: Set(ms(user.created_at)),
            updated_at: Set(ms(user.updated_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_user(&self, org_id: &str, user_id: &str) -> Result<Option<UserWithSecret>> {
        users::Entity::find_by_id(user_id)
            .filter(users::Column::OrgId.eq(org_id))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_user)
            .transpose()
    }

    async fn find_user_for_update(&self, org_id: &str, user_id: &str) -> Result<Option<UserWithSecret>> {
        // sea-query writes no lock clause for SQLite, where the immediate transaction serializes writers.
        users::Entity::find_by_id(user_id)
            .filter(users::Column::OrgId.eq(org_id))
            .lock_exclusive()
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_user)
            .transpose()
    }

    async fn find_user_by_email(&self, org_id: &str, email: &Email) -> Result<Option<UserWithSecret>> {
        users::Entity::find()
            .filter(users::Column::OrgId.eq(org_id))
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_user)
            .transpose()
    }

    async fn list_users(
        &self,
        org_id: &str,
        email_contains: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<User>, u64)> {
        let mut query = users::Entity::find().filter(users::Column::OrgId.eq(org_id));
        if let Some(search) = email_contains {
            query = query.filter(Expr::col(users::Column::Email).like(like_contains(search)));
        }
        let total = query.clone().count(&self.db).await.map_err(db_err)?;
        let rows = query
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        let users = rows.into_iter().map(|m| to_user(m).map(|u| u.user)).collect::<Result<Vec<_>>>()?;
        Ok((users, total))
    }

    async fn reserve_unknown_login_attempt(
        &self,
        org_id: &str,
        email_hash: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<i32, OffsetDateTime>> {
        use crate::entities::unknown_login_failures as unknown;
        // One statement on both databases, as for an account: the first failure inserts the row, the next add
        // one while it is not locked.
        let backend = self.db.get_database_backend();
        // Written with SQLite's numbered placeholders; PostgreSQL's are the same with `$`.
        let sql = "insert into unknown_login_failures (id, org_id, email_hash, failed_attempts, created_at, updated_at)
             values (?1, ?2, ?3, 1, ?4, ?4)
             on conflict (org_id, email_hash) do update
             set failed_attempts = unknown_login_failures.failed_attempts + 1, updated_at = excluded.updated_at
             where unknown_login_failures.locked_until is null or unknown_login_failures.locked_until <= ?4
             returning failed_attempts";
        let sql = if backend == DbBackend::Postgres { sql.replace('?', "$") } else { sql.to_owned() };
        let values: Vec<sea_orm::Value> =
            vec![zauthy_core::ids::new_id("ulf").into(), org_id.into(), email_hash.into(), ms(now).into()];
        let row = self.db.query_one_raw(Statement::from_sql_and_values(backend, &sql, values)).await.map_err(db_err)?;
        if let Some(row) = row {
            return Ok(Ok(row.try_get_by_index::<i32>(0).map_err(db_err)?));
        }
        let locked = unknown::Entity::find()
            .filter(unknown::Column::OrgId.eq(org_id))
            .filter(unknown::Column::EmailHash.eq(email_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .and_then(|m| m.locked_until)
            .ok_or_else(|| CoreError::internal("an unknown-login row neither updated nor locked"))?;
        Ok(Err(at(locked)))
    }

    async fn lock_unknown_login(&self, org_id: &str, email_hash: &str, until: OffsetDateTime) -> Result<()> {
        use crate::entities::unknown_login_failures as unknown;
        unknown::Entity::update_many()
            .col_expr(unknown::Column::LockedUntil, Expr::value(ms(until)))
            .filter(unknown::Column::OrgId.eq(org_id))
            .filter(unknown::Column::EmailHash.eq(email_hash))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn count_pending_guesses(&self, user_id: &str, now: OffsetDateTime) -> Result<u64> {
        pending_guesses::Entity::delete_many()
            .filter(pending_guesses::Column::UserId.eq(user_id))
            .filter(pending_guesses::Column::ExpiresAt.lte(ms(now)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        pending_guesses::Entity::find()
            .filter(pending_guesses::Column::UserId.eq(user_id))
            .count(&self.db)
            .await
            .map_err(db_err)
    }

    async fn insert_pending_guess(
        &self,
        id: &str,
        user_id: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        let row = pending_guesses::ActiveModel {
            id: Set(id.to_owned()),
            user_id: Set(user_id.to_owned()),
            expires_at: Set(ms(expires_at)),
            created_at: Set(ms(now)),
        };
        pending_guesses::Entity::insert(row).exec_without_returning(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn delete_pending_guess(&self, id: &str) -> Result<bool> {
        let done = pending_guesses::Entity::delete_by_id(id).exec(&self.db).await.map_err(db_err)?;
        Ok(done.rows_affected > 0)
    }

    async fn set_failed_logins(
        &self,
        user_id: &str,
        attempts: i32,
        locked_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let sets = vec![
            (users::Column::FailedLoginAttempts, Expr::value(attempts)),
            (users::Column::LockedUntil, Expr::value(locked_until.map(ms))),
        ];
        self.update_user(user_id, None, sets, now).await?;
        Ok(())
    }

    async fn record_successful_login(&self, user_id: &str, now: OffsetDateTime) -> Result<()> {
        let sets = vec![
            (users::Column::FailedLoginAttempts, Expr::value(0)),
            (users::Column::LockedUntil, Expr::value(Option::<i64>::None)),
            (users::Column::LastLoginAt, Expr::value(ms(now))),
        ];
        self.update_user(user_id, None, sets, now).await?;
        Ok(())
    }

    async fn set_password_hash(&self, user_id: &str, hash: &str, now: OffsetDateTime) -> Result<()> {
        self.update_user(user_id, None, vec![(users::Column::PasswordHash, Expr::value(hash))], now).await?;
        Ok(())
    }

    async fn set_blocked(&self, org_id: &str, user_id: &str, blocked: bool, now: OffsetDateTime) -> Result<bool> {
        self.update_user(user_id, Some(org_id), vec![(users::Column::IsBlocked, Expr::value(blocked))], now).await
    }

    async fn unlock_user(&self, org_id: &str, user_id: &str, now: OffsetDateTime) -> Result<bool> {
        let sets = vec![
            (users::Column::FailedLoginAttempts, Expr::value(0)),
            (users::Column::LockedUntil, Expr::value(Option::<i64>::None)),
        ];
        self.update_user(user_id, Some(org_id), sets, now).await
    }

    async fn update_user_profile(&self, user: &User, now: OffsetDateTime) -> Result<bool> {
        let sets = vec![
            (users::Column::Name, Expr::value(user.name.clone())),
            (users::Column::Phone, Expr::value(user.phone.clone())),
            (users::Column::PhoneVerified, Expr::value(user.phone_verified)),
            (users::Column::Address, Expr::value(address_json(user)?)),
            (users::Column::Role, Expr::value(user.role.as_str())),
        ];
        self.update_user(&user.id, Some(&user.org_id), sets, now).await
    }

    async fn delete_user(&self, org_id: &str, user_id: &str) -> Result<bool> {
        if self.find_user(org_id, user_id).await?.is_none() {
            return Ok(false);
        }
        // Explicit child deletes: we do not rely on every SQLite connection having foreign keys enabled.
        let session_ids = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(sessions::Column::UserId.eq(user_id))
            .into_tuple::<String>()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        if !session_ids.is_empty() {
            refresh_tokens::Entity::delete_many()
                .filter(refresh_tokens::Column::SessionId.is_in(session_ids.clone()))
                .exec(&self.db)
                .await
                .map_err(db_err)?;
            browser_sessions::Entity::delete_many()
                .filter(browser_sessions::Column::SessionId.is_in(session_ids))
                .exec(&self.db)
                .await
                .map_err(db_err)?;
        }
        self.delete_totp(user_id).await?;
        self.delete_backup_codes(user_id).await?;
        mfa_challenges::Entity::delete_many()
            .filter(mfa_challenges::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        sessions::Entity::delete_many()
            .filter(sessions::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        password_reset_tokens::Entity::delete_many()
            .filter(password_reset_tokens::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        crate::entities::passkeys::Entity::delete_many()
            .filter(crate::entities::passkeys::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        crate::entities::webauthn_ceremonies::Entity::delete_many()
            .filter(crate::entities::webauthn_ceremonies::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        crate::entities::federated_identities::Entity::delete_many()
            .filter(crate::entities::federated_identities::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        crate::entities::oauth_states::Entity::delete_many()
            .filter(crate::entities::oauth_states::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        let result = users::Entity::delete_many()
            .filter(users::Column::OrgId.eq(org_id))
            .filter(users::Column::Id.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }
}
