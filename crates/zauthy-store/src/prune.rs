//! Deleting dead short-lived rows in bounded batches, the same statement on both databases:
//! `DELETE … WHERE id IN (SELECT id … ORDER BY expires_at LIMIT n FOR UPDATE SKIP LOCKED)`. On PostgreSQL the
//! lock clause lets several nodes prune at once, each skipping the rows another is deleting; sea-query writes
//! no lock clause for SQLite, which has one writer at a time anyway. Rows a kind's rule reads in other tables
//! (a grant, a session, the rows referring to them) are not locked: a row that is dead stays dead, and a
//! parent is deleted only once no child refers to it.

use crate::entities::webauthn_ceremonies as ceremonies;
use crate::entities::{browser_sessions as browsers, refresh_tokens as session_refresh, sessions};
use crate::entities::{cross_device_requests as cross_device, mfa_challenges as mfa, oauth_states as states};
use crate::entities::{events, outbox, webhook_deliveries as deliveries};
use crate::entities::{magic_links as links, one_time_codes as otps, passwordless_sends as sends};
use crate::entities::{oidc_auth_requests as requests, oidc_backchannel_requests as backchannel};
use crate::entities::{oidc_client_assertions as assertions, oidc_codes as codes, oidc_device_flows as device};
use crate::entities::{oidc_grants as grants, oidc_refresh_tokens as refresh, trusted_browsers as trusted};
use crate::entities::{password_reset_tokens as resets, unknown_login_failures as unknown};
use crate::{Conn, Db, db_err, ms};
use async_trait::async_trait;
use sea_orm::EntityTrait;
use sea_orm::sea_query::{
    Alias, Cond, Condition, Expr, ExprTrait, IntoColumnRef, LockBehavior, LockType, Order, Query,
};
use zauthy_core::error::Result;
use zauthy_core::prune::{Prunable, PruneCutoffs};
use zauthy_core::store::PruneRepo;

/// Up to `limit` rows of `E` matching `dead`, oldest first by `oldest` (the expiry, or the creation when a
/// row has no expiry of its own).
fn delete_batch<E: EntityTrait>(
    id: E::Column,
    oldest: E::Column,
    dead: Condition,
    limit: u64,
) -> sea_orm::sea_query::DeleteStatement {
    let batch = Query::select()
        .column(id)
        .from(E::default())
        .cond_where(dead)
        .order_by(oldest, Order::Asc)
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

/// Up to `limit` rows of `E` whose own expiry is past the cutoff, whatever else they hold.
fn past_expiry<E: EntityTrait>(
    id: E::Column,
    expires_at: E::Column,
    c: &PruneCutoffs,
    limit: u64,
) -> sea_orm::sea_query::DeleteStatement {
    delete_batch::<E>(id, expires_at, expired(expires_at, c), limit)
}

fn expired<C: sea_orm::ColumnTrait>(expires_at: C, c: &PruneCutoffs) -> Condition {
    Cond::all().add(Expr::col(expires_at).lt(ms(c.expired_before)))
}

/// A session (row of `sessions`) is dead: revoked, idle or past its absolute lifetime before `expired_before`.
fn session_dead(c: &PruneCutoffs) -> Condition {
    use sessions::Column as S;
    let before = ms(c.expired_before);
    Cond::any()
        .add(Expr::col((sessions::Entity, S::RevokedAt)).lt(before))
        .add(Expr::col((sessions::Entity, S::IdleExpiresAt)).lt(before))
        .add(Expr::col((sessions::Entity, S::AbsoluteExpiresAt)).lt(before))
}

/// The ids of dead sessions.
fn dead_sessions(c: &PruneCutoffs) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column((sessions::Entity, sessions::Column::Id))
        .from(sessions::Entity)
        .cond_where(session_dead(c))
        .to_owned()
}

/// No row of `E` has `column` equal to `parent` (a column of the row being judged).
fn not_referred_by<E: EntityTrait>(column: E::Column, parent: impl IntoColumnRef) -> Condition {
    let child = Query::select()
        .expr(Expr::val(1))
        .from(E::default())
        .and_where(Expr::col((E::default(), column)).equals(parent))
        .to_owned();
    Cond::all().add(Expr::not_exists(child))
}

#[async_trait]
impl<C: Db> PruneRepo for Conn<C> {
    async fn prune_expired(&self, kind: Prunable, c: &PruneCutoffs, limit: u64) -> Result<u64> {
        Ok(self.db.execute(&batch_of(kind, c, limit)).await.map_err(db_err)?.rows_affected())
    }
}

/// The statement deleting one batch of dead rows of `kind`.
fn batch_of(kind: Prunable, c: &PruneCutoffs, limit: u64) -> sea_orm::sea_query::DeleteStatement {
    match kind {
        Prunable::AuthRequests => {
            use requests::Column as R;
            past_expiry::<requests::Entity>(R::Id, R::ExpiresAt, c, limit)
        }
        Prunable::AuthCodes => {
            use codes::Column as K;
            let dead = spent_or_unused::<codes::Entity>(K::ExpiresAt, K::UsedAt, K::GrantId, c);
            delete_batch::<codes::Entity>(K::Id, K::ExpiresAt, dead, limit)
        }
        Prunable::ClientRefreshTokens => {
            use refresh::Column as T;
            // A revoked grant's tokens are refused whatever their expiry: nothing to wait for.
            let revoked_long_ago = Query::select()
                .expr(Expr::val(1))
                .from(grants::Entity)
                .and_where(Expr::col((grants::Entity, grants::Column::Id)).equals((refresh::Entity, T::GrantId)))
                .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).lt(ms(c.expired_before)))
                .to_owned();
            // Its access token (issued with it) must have expired too, or it still counts as the grant's
            // last issue for the other rows' rule (and, once the grant's last row, for the grant's).
            let dead = Cond::all()
                .add(
                    Cond::any()
                        .add(spent_or_unused::<refresh::Entity>(T::ExpiresAt, T::UsedAt, T::GrantId, c))
                        .add(Expr::exists(revoked_long_ago)),
                )
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
        Prunable::Grants => {
            use grants::Column as G;
            let grant = (grants::Entity, G::Id);
            let dead = Cond::all()
                .add(Expr::col(G::CreatedAt).lt(ms(c.issued_before)))
                .add(not_referred_by::<codes::Entity>(codes::Column::GrantId, grant))
                .add(not_referred_by::<refresh::Entity>(refresh::Column::GrantId, grant))
                .add(not_referred_by::<device::Entity>(device::Column::GrantId, grant))
                .add(not_referred_by::<backchannel::Entity>(backchannel::Column::GrantId, grant));
            delete_batch::<grants::Entity>(G::Id, G::CreatedAt, dead, limit)
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
            past_expiry::<assertions::Entity>(A::Id, A::ExpiresAt, c, limit)
        }
        Prunable::RevokedAccessTokens => {
            use crate::entities::revoked_access_tokens as revoked;
            use revoked::Column as R;
            past_expiry::<revoked::Entity>(R::Id, R::ExpiresAt, c, limit)
        }
        Prunable::TrustedBrowsers => {
            use trusted::Column as T;
            past_expiry::<trusted::Entity>(T::Id, T::ExpiresAt, c, limit)
        }
        Prunable::MfaChallenges => {
            use mfa::Column as M;
            past_expiry::<mfa::Entity>(M::Id, M::ExpiresAt, c, limit)
        }
        Prunable::OAuthStates => {
            use states::Column as S;
            past_expiry::<states::Entity>(S::Id, S::ExpiresAt, c, limit)
        }
        Prunable::SessionRefreshTokens => {
            use session_refresh::Column as T;
            // A used one of a live session stays: presenting it again revokes the session.
            let dead = Cond::any()
                .add(Expr::col(T::SessionId).in_subquery(dead_sessions(c)))
                .add(expired(T::ExpiresAt, c).add(Expr::col(T::UsedAt).is_null()));
            delete_batch::<session_refresh::Entity>(T::Id, T::ExpiresAt, dead, limit)
        }
        Prunable::BrowserSessions => {
            use browsers::Column as B;
            let dead = Cond::all().add(Expr::col(B::SessionId).in_subquery(dead_sessions(c)));
            delete_batch::<browsers::Entity>(B::TokenHash, B::CreatedAt, dead, limit)
        }
        Prunable::Sessions => {
            use sessions::Column as S;
            let session = (sessions::Entity, S::Id);
            // Its children go first (the kinds above), so deleting it cascades over none.
            let dead = Cond::all()
                .add(session_dead(c))
                .add(not_referred_by::<session_refresh::Entity>(session_refresh::Column::SessionId, session))
                .add(not_referred_by::<browsers::Entity>(browsers::Column::SessionId, session));
            delete_batch::<sessions::Entity>(S::Id, S::IdleExpiresAt, dead, limit)
        }
        Prunable::PasswordResetTokens => {
            use resets::Column as R;
            past_expiry::<resets::Entity>(R::Id, R::ExpiresAt, c, limit)
        }
        Prunable::MagicLinks => {
            use links::Column as L;
            past_expiry::<links::Entity>(L::Id, L::ExpiresAt, c, limit)
        }
        Prunable::OneTimeCodes => {
            use otps::Column as O;
            past_expiry::<otps::Entity>(O::Id, O::ExpiresAt, c, limit)
        }
        Prunable::WebauthnCeremonies => {
            use ceremonies::Column as W;
            past_expiry::<ceremonies::Entity>(W::Id, W::ExpiresAt, c, limit)
        }
        Prunable::PasswordlessSends => {
            use sends::Column as P;
            let dead = Cond::all().add(Expr::col(P::CreatedAt).lt(ms(c.sent_before)));
            delete_batch::<sends::Entity>(P::Id, P::CreatedAt, dead, limit)
        }
        Prunable::UnknownLoginFailures => {
            use unknown::Column as U;
            // No lock outlasts its last failure by more than 24 hours, so a month-old row is never locked.
            let dead = Cond::all().add(Expr::col(U::UpdatedAt).lt(ms(c.failures_before)));
            delete_batch::<unknown::Entity>(U::Id, U::UpdatedAt, dead, limit)
        }
        Prunable::OutboxMessages => {
            use outbox::Column as O;
            let dead = Cond::all()
                .add(Expr::col(O::Status).is_in(crate::outbox::FINISHED))
                .add(Expr::col(O::UpdatedAt).lt(ms(c.finished_before)));
            delete_batch::<outbox::Entity>(O::Id, O::UpdatedAt, dead, limit)
        }
        Prunable::WebhookDeliveries => {
            use deliveries::Column as D;
            use zauthy_core::webhooks::{DELIVERED, FAILED};
            let dead = Cond::all()
                .add(Expr::col(D::Status).is_in([DELIVERED, FAILED]))
                .add(Expr::col(D::UpdatedAt).lt(ms(c.delivered_before)));
            delete_batch::<deliveries::Entity>(D::Id, D::UpdatedAt, dead, limit)
        }
        Prunable::Events => {
            use events::Column as E;
            // The service skips this kind without a retention; `i64::MIN` would match nothing anyway.
            let dead = Cond::all().add(Expr::col(E::CreatedAt).lt(c.events_before.map_or(i64::MIN, ms)));
            delete_batch::<events::Entity>(E::Id, E::CreatedAt, dead, limit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
    use time::OffsetDateTime;

    fn cutoffs() -> PruneCutoffs {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        PruneCutoffs {
            expired_before: now,
            issued_before: now - time::Duration::minutes(15),
            sent_before: now - time::Duration::hours(1),
            finished_before: now - time::Duration::days(7),
            delivered_before: now - time::Duration::days(30),
            failures_before: now - time::Duration::days(30),
            events_before: None,
        }
    }

    fn refresh_batch() -> sea_orm::sea_query::DeleteStatement {
        use refresh::Column as T;
        let dead = spent_or_unused::<refresh::Entity>(T::ExpiresAt, T::UsedAt, T::GrantId, &cutoffs());
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

    #[test]
    fn a_session_goes_only_once_neither_a_refresh_token_nor_a_browser_cookie_refers_to_it() {
        // So deleting it cascades over nothing: its children went (in bounded batches) before it.
        let pg = batch_of(Prunable::Sessions, &cutoffs(), 500).to_string(PostgresQueryBuilder);
        assert!(
            pg.contains(
                r#"NOT EXISTS(SELECT 1 FROM "refresh_tokens" WHERE "refresh_tokens"."session_id" = "sessions"."id")"#
            ),
            "{pg}"
        );
        assert!(pg.contains(r#"NOT EXISTS(SELECT 1 FROM "browser_sessions" WHERE "browser_sessions"."session_id" = "sessions"."id")"#), "{pg}");
    }

    #[test]
    fn a_grant_goes_only_once_no_code_refresh_token_device_flow_or_backchannel_request_refers_to_it() {
        let pg = batch_of(Prunable::Grants, &cutoffs(), 500).to_string(PostgresQueryBuilder);
        for table in ["oidc_codes", "oidc_refresh_tokens", "oidc_device_flows", "oidc_backchannel_requests"] {
            let guard =
                format!(r#"NOT EXISTS(SELECT 1 FROM "{table}" WHERE "{table}"."grant_id" = "oidc_grants"."id")"#);
            assert!(pg.contains(&guard), "{guard} in {pg}");
        }
    }

    #[test]
    fn every_kind_deletes_from_the_table_it_is_named_after_in_one_bounded_batch() {
        for kind in Prunable::ALL {
            let pg = batch_of(kind, &cutoffs(), 500).to_string(PostgresQueryBuilder);
            assert!(pg.starts_with(&format!(r#"DELETE FROM "{}" WHERE"#, kind.as_str())), "{pg}");
            assert!(pg.contains("LIMIT 500 FOR UPDATE SKIP LOCKED"), "{pg}");
        }
    }
}
