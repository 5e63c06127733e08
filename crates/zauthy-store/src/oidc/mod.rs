//! OIDC clients (service providers). Lists are stored as JSON text, the same on both databases.

mod cross_device;
mod device;
mod grants;

use crate::entities::oidc_clients as clients;
use crate::{Conn, Db, at, corrupt, db_err, ms};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use zauthy_core::error::{CoreError, Result};
use zauthy_core::oidc::{ClientType, OidcClient, SubjectType};
use zauthy_core::store::OidcClientRepo;

fn list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|_| corrupt("list", text))
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(CoreError::internal)
}

fn to_client(m: clients::Model) -> Result<(OidcClient, Option<String>)> {
    let client = OidcClient {
        client_type: ClientType::parse(&m.client_type).ok_or_else(|| corrupt("client type", &m.client_type))?,
        redirect_uris: list(&m.redirect_uris)?,
        allowed_scopes: list(&m.allowed_scopes)?,
        grant_types: list(&m.grant_types)?,
        jwks: m.jwks.as_deref().map(|j| serde_json::from_str(j).map_err(|_| corrupt("jwks", j))).transpose()?,
        id: m.id,
        org_id: m.org_id,
        name: m.name,
        token_endpoint_auth_method: m.token_endpoint_auth_method,
        id_token_signed_response_alg: m.id_token_signed_response_alg,
        require_mfa: m.require_mfa,
        post_logout_redirect_uris: list(&m.post_logout_redirect_uris)?,
        backchannel_logout_uri: m.backchannel_logout_uri,
        backchannel_logout_session_required: m.backchannel_logout_session_required,
        subject_type: SubjectType::parse(&m.subject_type).ok_or_else(|| corrupt("subject type", &m.subject_type))?,
        sector_identifier: m.sector_identifier,
        dpop_bound_access_tokens: m.dpop_bound_access_tokens,
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
    };
    Ok((client, m.secret_hash))
}

#[async_trait]
impl<C: Db> OidcClientRepo for Conn<C> {
    async fn insert_oidc_client(&self, c: &OidcClient, secret_hash: Option<&str>) -> Result<()> {
        clients::Entity::insert(clients::ActiveModel {
            id: Set(c.id.clone()),
            org_id: Set(c.org_id.clone()),
            name: Set(c.name.clone()),
            client_type: Set(c.client_type.as_str().to_owned()),
            secret_hash: Set(secret_hash.map(str::to_owned)),
            redirect_uris: Set(json_text(&c.redirect_uris)?),
            allowed_scopes: Set(json_text(&c.allowed_scopes)?),
            grant_types: Set(json_text(&c.grant_types)?),
            token_endpoint_auth_method: Set(c.token_endpoint_auth_method.clone()),
            jwks: Set(c.jwks.as_ref().map(json_text).transpose()?),
            id_token_signed_response_alg: Set(c.id_token_signed_response_alg.clone()),
            require_mfa: Set(c.require_mfa),
            post_logout_redirect_uris: Set(json_text(&c.post_logout_redirect_uris)?),
            backchannel_logout_uri: Set(c.backchannel_logout_uri.clone()),
            backchannel_logout_session_required: Set(c.backchannel_logout_session_required),
            subject_type: Set(c.subject_type.as_str().to_owned()),
            sector_identifier: Set(c.sector_identifier.clone()),
            dpop_bound_access_tokens: Set(c.dpop_bound_access_tokens),
            created_at: Set(ms(c.created_at)),
            updated_at: Set(ms(c.updated_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_oidc_client(&self, client_id: &str) -> Result<Option<(OidcClient, Option<String>)>> {
        clients::Entity::find_by_id(client_id).one(&self.db).await.map_err(db_err)?.map(to_client).transpose()
    }

    async fn list_oidc_clients(&self, org_id: &str) -> Result<Vec<OidcClient>> {
        let rows = clients::Entity::find()
            .filter(clients::Column::OrgId.eq(org_id))
            .order_by_asc(clients::Column::CreatedAt)
            .order_by_asc(clients::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(|m| to_client(m).map(|(c, _)| c)).collect()
    }

    async fn update_oidc_client(&self, c: &OidcClient) -> Result<bool> {
        let result = clients::Entity::update_many()
            .col_expr(clients::Column::Name, Expr::value(c.name.clone()))
            .col_expr(clients::Column::RedirectUris, Expr::value(json_text(&c.redirect_uris)?))
            .col_expr(clients::Column::AllowedScopes, Expr::value(json_text(&c.allowed_scopes)?))
            .col_expr(clients::Column::GrantTypes, Expr::value(json_text(&c.grant_types)?))
            .col_expr(clients::Column::TokenEndpointAuthMethod, Expr::value(c.token_endpoint_auth_method.clone()))
            .col_expr(clients::Column::Jwks, Expr::value(c.jwks.as_ref().map(json_text).transpose()?))
            .col_expr(clients::Column::IdTokenSignedResponseAlg, Expr::value(c.id_token_signed_response_alg.clone()))
            .col_expr(clients::Column::RequireMfa, Expr::value(c.require_mfa))
            .col_expr(clients::Column::PostLogoutRedirectUris, Expr::value(json_text(&c.post_logout_redirect_uris)?))
            .col_expr(clients::Column::BackchannelLogoutUri, Expr::value(c.backchannel_logout_uri.clone()))
            .col_expr(
                clients::Column::BackchannelLogoutSessionRequired,
                Expr::value(c.backchannel_logout_session_required),
            )
            .col_expr(clients::Column::SubjectType, Expr::value(c.subject_type.as_str()))
            .col_expr(clients::Column::SectorIdentifier, Expr::value(c.sector_identifier.clone()))
            .col_expr(clients::Column::DpopBoundAccessTokens, Expr::value(c.dpop_bound_access_tokens))
            .col_expr(clients::Column::UpdatedAt, Expr::value(ms(c.updated_at)))
            .filter(clients::Column::Id.eq(&c.id))
            .filter(clients::Column::OrgId.eq(&c.org_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete_oidc_client(&self, org_id: &str, client_id: &str) -> Result<bool> {
        let result = clients::Entity::delete_many()
            .filter(clients::Column::Id.eq(client_id))
            .filter(clients::Column::OrgId.eq(org_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn record_jwt_id(&self, id: &str, expires_at: OffsetDateTime, now: OffsetDateTime) -> Result<bool> {
        use crate::entities::oidc_client_assertions as seen;
        let inserted = seen::Entity::insert(seen::ActiveModel {
            id: Set(id.to_owned()),
            expires_at: Set(ms(expires_at)),
            created_at: Set(ms(now)),
            updated_at: Set(ms(now)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err);
        match inserted {
            Ok(_) => Ok(true),
            Err(CoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn revoke_access_token(
        &self,
        org_id: &str,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        use crate::entities::revoked_access_tokens as revoked;
        let inserted = revoked::Entity::insert(revoked::ActiveModel {
            id: Set(jti.to_owned()),
            org_id: Set(org_id.to_owned()),
            client_id: Set(client_id.to_owned()),
            expires_at: Set(ms(expires_at)),
            created_at: Set(ms(now)),
            updated_at: Set(ms(now)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err);
        match inserted {
            Ok(_) | Err(CoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool> {
        use crate::entities::revoked_access_tokens as revoked;
        Ok(revoked::Entity::find_by_id(jti).one(&self.db).await.map_err(db_err)?.is_some())
    }

    async fn set_oidc_client_secret(&self, client_id: &str, secret_hash: &str, now: OffsetDateTime) -> Result<()> {
        clients::Entity::update_many()
            .col_expr(clients::Column::SecretHash, Expr::value(secret_hash))
            .col_expr(clients::Column::UpdatedAt, Expr::value(ms(now)))
            .filter(clients::Column::Id.eq(client_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
