//! Deleting dead short-lived rows in bounded batches, the same statement on both databases:
//! `DELETE … WHERE id IN (SELECT id … ORDER BY expires_at LIMIT n FOR UPDATE SKIP LOCKED)`. On PostgreSQL the
//! lock clause lets several nodes prune at once, each skipping the rows another is deleting; sea-query writes
//! no lock clause for SQLite, which has one writer at a time anyway.

use crate::entities::{cross_device_requests as cross_device, mfa_challenges as mfa, oauth_states as states};
use crate::entities::{oidc_auth_requests as requests, oidc_backchannel_requests as backchannel};
use crate::entities::{oidc_client_assertions as assertions, oidc_codes as codes, oidc_device_flows as device};
use crate::entities::{oidc_grants as grants, oidc_refresh_tokens as refresh, trusted_browsers as trusted};
use crate::{Conn, Db, db_err, ms};
use async_trait::async_trait;
use sea_orm::EntityTrait;
use sea_orm::sea_query::{
    Alias, Cond, Condition, Expr, ExprTrait, IntoColumnRef, LockBehavior, LockType, Order, Query,
};
use zauthy_core::error::Result;
use zauthy_core::prune::{Prunable, PruneCutoffs};
use zauthy_core::store::PruneRepo;

/// Up to `limit` rows of `E` matching `dead`, oldest expiry first.
fn delete_batch<E: EntityTrait>(
    id: E::Column,
    expires_at: E::Column,
    dead: Condition,
    limit: u64,
) -> sea_orm::sea_query::DeleteStatement {
    let batch = Query::select()
        .column(id)
        .from(E::default())
        .cond_where(dead)
        .order_by(expires_at, Order::Asc)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    Query::delete().from_table(E::default()).and_where(Expr::col(id).in_subquery(batch)).to_owned()
}

/// The grant behind a row (its `grant_id`, used at `used_at`) is finished (see `zauthy_core::prune`): revoked,
/// or no token of it issued after `issued_before` and no refresh token of it expiring after `expired_before`.
fn grant_finished<E: EntityTrait>(grant_id: E::Column, used_at: E::Column, c: &PruneCutoffs) -> Condition {
    let row_grant = (E::default(), grant_id).into_column_ref();
    let revoked = Query::select()
        .expr(Expr::val(1))
        .from(grants::Entity)
        .and_where(Expr::col((grants::Entity, grants::Column::Id)).equals(row_grant.clone()))
        .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).is_not_null())
        .to_owned();
    // Aliased: for the refresh tokens' own rule this is the same table as the row's.
    let live = Alias::new("live_refresh");
    let live_refresh = Query::select()
        .expr(Expr::val(1))
        .from_as(refresh::Entity, live.clone())
        .and_where(Expr::col((live.clone(), refresh::Column::GrantId)).equals(row_grant))
        .cond_where(
            Cond::any()
                .add(Expr::col((live.clone(), refresh::Column::ExpiresAt)).gte(ms(c.expired_before)))
                .add(Expr::col((live, refresh::Column::CreatedAt)).gte(ms(c.issued_before))),
        )
        .to_owned();
    Cond::any().add(Expr::exists(revoked)).add(
        Cond::all().add(Expr::col((E::default(), used_at)).lt(ms(c.issued_before))).add(Expr::not_exists(live_refresh)),
    )
}

/// Expired before the cutoff, and either never used or guarding a finished grant.
fn spent_or_unused<E: EntityTrait>(
    expires_at: E::Column,
    used_at: E::Column,
    grant_id: E::Column,
    c: &PruneCutoffs,
) -> Condition {
    Cond::all()
        .add(Expr::col(expires_at).lt(ms(c.expired_before)))
        .add(Cond::any().add(Expr::col(used_at).is_null()).add(grant_finished::<E>(grant_id, used_at, c)))
}

fn expired<C: sea_orm::ColumnTrait>(expires_at: C, c: &PruneCutoffs) -> Condition {
    Cond::all().add(Expr::col(expires_at).lt(ms(c.expired_before)))
}

#[async_trait]
impl<C: Db> PruneRepo for Conn<C> {
    async fn prune_expired(&self, kind: Prunable, c: &PruneCutoffs, limit: u64) -> Result<u64> {
        let statement = match kind {
            Prunable::AuthRequests => {
                use requests::Column as R;
                delete_batch::<requests::Entity>(R::Id, R::ExpiresAt, expired(R::ExpiresAt, c), limit)
            }
            Prunable::AuthCodes => {
                use codes::Column as K;
                let dead = spent_or_unused::<codes::Entity>(K::ExpiresAt, K::UsedAt, K::GrantId, c);
                delete_batch::<codes::Entity>(K::Id, K::ExpiresAt, dead, limit)
            }
            Prunable::ClientRefreshTokens => {
                use refresh::Column as T;
                // Its access token (issued with it) must have expired too, or it still counts as the grant's
                // last issue for the other rows' rule.
                let dead = spent_or_unused::<refresh::Entity>(T::ExpiresAt, T::UsedAt, T::GrantId, c)
                    .add(Expr::col(T::CreatedAt).lt(ms(c.issued_before)));
                delete_batch::<refresh::Entity>(T::Id, T::ExpiresAt, dead, limit)
            }
            Prunable::DeviceFlows => {
                use device::Column as D;
                let dead = spent_or_unused::<device::Entity>(D::ExpiresAt, D::UsedAt, D::GrantId, c);
                delete_batch::<device::Entity>(D::Id, D::ExpiresAt, dead, limit)
            }
            Prunable::BackchannelRequests => {
                use backchannel::Column as B;
                let dead = spent_or_unused::<backchannel::Entity>(B::ExpiresAt, B::UsedAt, B::GrantId, c);
                delete_batch::<backchannel::Entity>(B::Id, B::ExpiresAt, dead, limit)
            }
            Prunable::CrossDeviceRequests => {
                use cross_device::Column as X;
                let dead = expired(X::ExpiresAt, c).add(
                    Cond::any()
                        .add(Expr::col(X::HintExpiresAt).is_null())
                        .add(Expr::col(X::HintExpiresAt).lt(ms(c.expired_before))),
                );
                delete_batch::<cross_device::Entity>(X::Id, X::ExpiresAt, dead, limit)
            }
            Prunable::ClientAssertions => {
                use assertions::Column as A;
                delete_batch::<assertions::Entity>(A::Id, A::ExpiresAt, expired(A::ExpiresAt, c), limit)
            }
            Prunable::TrustedBrowsers => {
                use trusted::Column as T;
                delete_batch::<trusted::Entity>(T::Id, T::ExpiresAt, expired(T::ExpiresAt, c), limit)
            }
            Prunable::MfaChallenges => {
                use mfa::Column as M;
                delete_batch::<mfa::Entity>(M::Id, M::ExpiresAt, expired(M::ExpiresAt, c), limit)
            }
            Prunable::OAuthStates => {
                use states::Column as S;
                delete_batch::<states::Entity>(S::Id, S::ExpiresAt, expired(S::ExpiresAt, c), limit)
            }
        };
        Ok(self.0.execute(&statement).await.map_err(db_err)?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
    use time::OffsetDateTime;

    fn refresh_batch() -> sea_orm::sea_query::DeleteStatement {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let c = PruneCutoffs { expired_before: now, issued_before: now - time::Duration::minutes(15) };
        use refresh::Column as T;
        let dead = spent_or_unused::<refresh::Entity>(T::ExpiresAt, T::UsedAt, T::GrantId, &c);
        delete_batch::<refresh::Entity>(T::Id, T::ExpiresAt, dead, 500)
    }

    #[test]
    fn a_batch_skips_rows_other_nodes_hold_on_postgresql_and_is_plain_sql_on_sqlite() {
        let pg = refresh_batch().to_string(PostgresQueryBuilder);
        let sqlite = refresh_batch().to_string(SqliteQueryBuilder);
        assert!(pg.contains("LIMIT 500 FOR UPDATE SKIP LOCKED"), "{pg}");
        assert!(!sqlite.contains("FOR UPDATE") && sqlite.contains("LIMIT 500"), "{sqlite}");
        // The rotated token's own grant is looked up through the aliased copy of its table.
        assert!(pg.contains(r#""live_refresh"."grant_id" = "oidc_refresh_tokens"."grant_id""#), "{pg}");
    }
}
