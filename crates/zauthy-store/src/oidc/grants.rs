//! The provider's records: authorization requests (parameters as JSON text), grants, single-use codes,
//! rotating refresh tokens (both kept only as SHA-256) and remembered consent. Scopes are space-separated.

use crate::entities::{oidc_auth_requests as requests, oidc_codes as codes, oidc_consents as consents};
use crate::entities::{oidc_grants as grants, oidc_refresh_tokens as refresh};
use crate::{Conn, Db, at, corrupt, db_err, ms, spend_each, spend_once};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, OnConflict, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;
use zauthy_core::error::{CoreError, Result};
use zauthy_core::oidc::{AuthCode, AuthRequest, ClientRefreshToken, Consent, Grant, Spent, TokenWrite};
use zauthy_core::store::OidcGrantRepo;

/// `EXISTS (SELECT 1 FROM oidc_grants WHERE id = {grant_id} AND revoked_at IS NULL)`: a code or refresh token
/// is spent only while its grant stands, so no token comes from a grant revoked before the spend committed,
/// whatever a node's cache still says about the grant.
fn of_live_grant(grant_id: impl IntoColumnRef) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(grants::Entity)
            .and_where(Expr::col((grants::Entity, grants::Column::Id)).equals(grant_id))
            .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).is_null())
            .to_owned(),
    )
}

fn words(text: &str) -> Vec<String> {
    text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn to_grant(m: grants::Model) -> Result<Grant> {
    Ok(Grant {
        claims: m.claims.as_deref().map(|c| serde_json::from_str(c).map_err(|_| corrupt("claims", c))).transpose()?,
        scope: words(&m.scope),
        amr: words(&m.amr),
        id: m.id,
        org_id: m.org_id,
        client_id: m.client_id,
        user_id: m.user_id,
        session_id: m.session_id,
        nonce: m.nonce,
        auth_time: at(m.auth_time),
        acr: m.acr,
        revoked_at: m.revoked_at.map(at),
        created_at: at(m.created_at),
    })
}

fn to_consent(m: consents::Model) -> Consent {
    Consent {
        scope: words(&m.scope),
        id: m.id,
        org_id: m.org_id,
        user_id: m.user_id,
        client_id: m.client_id,
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
    }
}

fn refresh_model(t: &ClientRefreshToken) -> refresh::ActiveModel {
    refresh::ActiveModel {
        id: Set(t.hash.clone()),
        grant_id: Set(t.grant_id.clone()),
        expires_at: Set(ms(t.expires_at)),
        used_at: Set(t.used_at.map(ms)),
        dpop_jkt: Set(t.dpop_jkt.clone()),
        created_at: Set(ms(t.created_at)),
        updated_at: Set(ms(t.created_at)),
    }
}

#[async_trait]
impl<C: Db> OidcGrantRepo for Conn<C> {
    async fn insert_auth_request(&self, r: &AuthRequest) -> Result<()> {
        requests::Entity::insert(requests::ActiveModel {
            id: Set(r.id.clone()),
            org_id: Set(r.org_id.clone()),
            client_id: Set(r.client_id.clone()),
            params: Set(serde_json::to_string(&r.params).map_err(CoreError::internal)?),
            expires_at: Set(ms(r.expires_at)),
            used_at: Set(r.used_at.map(ms)),
            created_at: Set(ms(r.created_at)),
            updated_at: Set(ms(r.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_auth_request(&self, id: &str) -> Result<Option<AuthRequest>> {
        let Some(m) = requests::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)? else {
            return Ok(None);
        };
        Ok(Some(AuthRequest {
            params: serde_json::from_str(&m.params).map_err(|_| corrupt("authorization request", &m.id))?,
            id: m.id,
            org_id: m.org_id,
            client_id: m.client_id,
            expires_at: at(m.expires_at),
            used_at: m.used_at.map(at),
            created_at: at(m.created_at),
        }))
    }

    async fn spend_auth_request(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        use requests::Column as C;
        spend_once::<requests::Entity>(&self.db, [C::Id, C::UsedAt, C::UpdatedAt], id, now).await
    }

    async fn insert_grant(&self, g: &Grant) -> Result<()> {
        grants::Entity::insert(grants::ActiveModel {
            id: Set(g.id.clone()),
            org_id: Set(g.org_id.clone()),
            client_id: Set(g.client_id.clone()),
            user_id: Set(g.user_id.clone()),
            session_id: Set(g.session_id.clone()),
            scope: Set(g.scope.join(" ")),
            claims: Set(g.claims.as_ref().map(|c| c.to_string())),
            nonce: Set(g.nonce.clone()),
            auth_time: Set(ms(g.auth_time)),
            amr: Set(g.amr.join(" ")),
            acr: Set(g.acr.clone()),
            revoked_at: Set(g.revoked_at.map(ms)),
            created_at: Set(ms(g.created_at)),
            updated_at: Set(ms(g.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_grant(&self, id: &str) -> Result<Option<Grant>> {
        grants::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.map(to_grant).transpose()
    }

    async fn revoke_grant(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        let result = grants::Entity::update_many()
            .col_expr(grants::Column::RevokedAt, Expr::value(ms(now)))
            .col_expr(grants::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(grants::Column::Id.eq(id))
            .filter(grants::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_client_grants(&self, user_id: &str, client_id: &str, now: OffsetDateTime) -> Result<u64> {
        let result = grants::Entity::update_many()
            .col_expr(grants::Column::RevokedAt, Expr::value(ms(now)))
            .col_expr(grants::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(grants::Column::UserId.eq(user_id))
            .filter(grants::Column::ClientId.eq(client_id))
            .filter(grants::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected)
    }

    async fn clients_of_sessions(&self, org_id: &str, user_id: &str, sids: &[String]) -> Result<Vec<(String, String)>> {
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        grants::Entity::find()
            .select_only()
            .column(grants::Column::ClientId)
            .column(grants::Column::SessionId)
            .distinct()
            .filter(grants::Column::OrgId.eq(org_id))
            .filter(grants::Column::UserId.eq(user_id))
            .filter(grants::Column::SessionId.is_in(sids.iter().cloned()))
            .filter(grants::Column::RevokedAt.is_null())
            .order_by_asc(grants::Column::ClientId)
            .into_tuple::<(String, String)>()
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    async fn insert_auth_code(&self, c: &AuthCode) -> Result<()> {
        codes::Entity::insert(codes::ActiveModel {
            id: Set(c.hash.clone()),
            grant_id: Set(c.grant_id.clone()),
            redirect_uri: Set(c.redirect_uri.clone()),
            code_challenge: Set(c.code_challenge.clone()),
            dpop_jkt: Set(c.dpop_jkt.clone()),
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

    async fn find_auth_code(&self, hash: &str) -> Result<Option<(AuthCode, Option<Grant>)>> {
        let Some((m, grant)) =
            codes::Entity::find_by_id(hash).find_also_related(grants::Entity).one(&self.db).await.map_err(db_err)?
        else {
            return Ok(None);
        };
        let code = AuthCode {
            hash: m.id,
            grant_id: m.grant_id,
            redirect_uri: m.redirect_uri,
            code_challenge: m.code_challenge,
            dpop_jkt: m.dpop_jkt,
            expires_at: at(m.expires_at),
            used_at: m.used_at.map(at),
            created_at: at(m.created_at),
        };
        Ok(Some((code, grant.map(to_grant).transpose()?)))
    }

    async fn insert_client_refresh_token(&self, t: &ClientRefreshToken) -> Result<()> {
        refresh::Entity::insert(refresh_model(t)).exec_without_returning(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn find_client_refresh_token(&self, hash: &str) -> Result<Option<ClientRefreshToken>> {
        Ok(refresh::Entity::find_by_id(hash).one(&self.db).await.map_err(db_err)?.map(|m| ClientRefreshToken {
            hash: m.id,
            grant_id: m.grant_id,
            expires_at: at(m.expires_at),
            used_at: m.used_at.map(at),
            dpop_jkt: m.dpop_jkt,
            created_at: at(m.created_at),
        }))
    }

    async fn write_tokens(&self, writes: &[&TokenWrite], now: OffsetDateTime) -> Result<Vec<bool>> {
        let hashes =
            |kind: Spent| writes.iter().filter(|w| w.spends == kind).map(|w| w.hash.as_str()).collect::<Vec<_>>();
        let mut spent_codes = {
            use codes::Column as C;
            let live = of_live_grant((codes::Entity, C::GrantId));
            spend_each::<codes::Entity>(&self.db, [C::Id, C::UsedAt, C::UpdatedAt], &hashes(Spent::AuthCode), live, now)
                .await?
        };
        let mut spent_refresh = {
            use refresh::Column as C;
            let (spent, live) = (hashes(Spent::RefreshToken), of_live_grant((refresh::Entity, C::GrantId)));
            spend_each::<refresh::Entity>(&self.db, [C::Id, C::UsedAt, C::UpdatedAt], &spent, live, now).await?
        };
        // In order: of two writes spending the same token, the first has it.
        let spent: Vec<bool> = writes
            .iter()
            .map(|w| match w.spends {
                Spent::AuthCode => spent_codes.remove(&w.hash),
                Spent::RefreshToken => spent_refresh.remove(&w.hash),
            })
            .collect();
        let issued: Vec<refresh::ActiveModel> = writes
            .iter()
            .zip(&spent)
            .filter_map(|(w, &spent)| w.issues.as_ref().filter(|_| spent))
            .map(refresh_model)
            .collect();
        if !issued.is_empty() {
            refresh::Entity::insert_many(issued).exec_without_returning(&self.db).await.map_err(db_err)?;
        }
        Ok(spent)
    }

    async fn save_consent(&self, c: &Consent) -> Result<()> {
        consents::Entity::insert(consents::ActiveModel {
            id: Set(c.id.clone()),
            org_id: Set(c.org_id.clone()),
            user_id: Set(c.user_id.clone()),
            client_id: Set(c.client_id.clone()),
            scope: Set(c.scope.join(" ")),
            created_at: Set(ms(c.created_at)),
            updated_at: Set(ms(c.updated_at)),
        })
        .on_conflict(
            OnConflict::columns([consents::Column::UserId, consents::Column::ClientId])
                .update_columns([consents::Column::Scope, consents::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Consent>> {
        Ok(consents::Entity::find()
            .filter(consents::Column::UserId.eq(user_id))
            .filter(consents::Column::ClientId.eq(client_id))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_consent))
    }

    async fn list_consents(&self, org_id: &str, user_id: &str) -> Result<Vec<Consent>> {
        let rows = consents::Entity::find()
            .filter(consents::Column::OrgId.eq(org_id))
            .filter(consents::Column::UserId.eq(user_id))
            .order_by_asc(consents::Column::CreatedAt)
            .order_by_asc(consents::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_consent).collect())
    }

    async fn delete_consent(&self, org_id: &str, user_id: &str, client_id: &str) -> Result<bool> {
        let result = consents::Entity::delete_many()
            .filter(consents::Column::OrgId.eq(org_id))
            .filter(consents::Column::UserId.eq(user_id))
            .filter(consents::Column::ClientId.eq(client_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }
}
