//! Social login's tables: upstream providers, linked identities and pending authorization requests.

use crate::entities::{federated_identities as identities, oauth_providers as providers, oauth_states as states};
use crate::{Conn, Db, at, corrupt, db_err, ms, spend_once};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use zauthy_core::error::Result;
use zauthy_core::federation::{FederatedIdentity, OAuthProvider, OAuthStateRecord, ProviderKind, ResponseMode};
use zauthy_core::store::FederationRepo;

fn to_provider(m: providers::Model) -> Result<OAuthProvider> {
    Ok(OAuthProvider {
        kind: ProviderKind::parse(&m.kind).ok_or_else(|| corrupt("provider kind", &m.kind))?,
        response_mode: ResponseMode::parse(&m.response_mode)
            .ok_or_else(|| corrupt("response mode", &m.response_mode))?,
        scopes: m.scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        id: m.id,
        org_id: m.org_id,
        slug: m.slug,
        display_name: m.display_name,
        client_id: m.client_id,
        client_secret_enc: m.client_secret_enc,
        discovery_url: m.discovery_url,
        issuer: m.issuer,
        token_endpoint_auth_method: m.token_endpoint_auth_method,
        apple_team_id: m.apple_team_id,
        apple_key_id: m.apple_key_id,
        apple_private_key_enc: m.apple_private_key_enc,
        enabled: m.enabled,
        allow_signup: m.allow_signup,
        link_by_verified_email: m.link_by_verified_email,
        created_at: at(m.created_at),
        updated_at: at(m.updated_at),
    })
}

fn to_identity(m: identities::Model) -> FederatedIdentity {
    FederatedIdentity {
        id: m.id,
        org_id: m.org_id,
        user_id: m.user_id,
        provider_id: m.provider_id,
        subject: m.subject,
        email: m.email,
        created_at: at(m.created_at),
        last_login_at: m.last_login_at.map(at),
    }
}

fn to_state(m: states::Model) -> OAuthStateRecord {
    OAuthStateRecord {
        id: m.id,
        org_id: m.org_id,
        provider_id: m.provider_id,
        state_hash: m.state_hash,
        nonce: m.nonce,
        code_verifier_enc: m.code_verifier_enc,
        redirect_url: m.redirect_url,
        user_id: m.user_id,
        expires_at: at(m.expires_at),
        used_at: m.used_at.map(at),
        created_at: at(m.created_at),
    }
}

#[async_trait]
impl<C: Db> FederationRepo for Conn<C> {
    async fn insert_oauth_provider(&self, p: &OAuthProvider) -> Result<()> {
        providers::Entity::insert(providers::ActiveModel {
            id: Set(p.id.clone()),
            org_id: Set(p.org_id.clone()),
            slug: Set(p.slug.clone()),
            kind: Set(p.kind.as_str().to_owned()),
            display_name: Set(p.display_name.clone()),
            client_id: Set(p.client_id.clone()),
            client_secret_enc: Set(p.client_secret_enc.clone()),
            discovery_url: Set(p.discovery_url.clone()),
            issuer: Set(p.issuer.clone()),
            scopes: Set(p.scopes.join(" ")),
            token_endpoint_auth_method: Set(p.token_endpoint_auth_method.clone()),
            response_mode: Set(p.response_mode.as_str().to_owned()),
            apple_team_id: Set(p.apple_team_id.clone()),
            apple_key_id: Set(p.apple_key_id.clone()),
            apple_private_key_enc: Set(p.apple_private_key_enc.clone()),
            enabled: Set(p.enabled),
            allow_signup: Set(p.allow_signup),
            link_by_verified_email: Set(p.link_by_verified_email),
            created_at: Set(ms(p.created_at)),
            updated_at: Set(ms(p.updated_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_oauth_provider(&self, org_id: &str, slug: &str) -> Result<Option<OAuthProvider>> {
        let row = providers::Entity::find()
            .filter(providers::Column::OrgId.eq(org_id))
            .filter(providers::Column::Slug.eq(slug))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        row.map(to_provider).transpose()
    }

    async fn find_oauth_provider_by_id(&self, org_id: &str, provider_id: &str) -> Result<Option<OAuthProvider>> {
        let row = providers::Entity::find()
            .filter(providers::Column::OrgId.eq(org_id))
            .filter(providers::Column::Id.eq(provider_id))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        row.map(to_provider).transpose()
    }

    async fn list_oauth_providers(&self, org_id: &str) -> Result<Vec<OAuthProvider>> {
        let rows = providers::Entity::find()
            .filter(providers::Column::OrgId.eq(org_id))
            .order_by_asc(providers::Column::CreatedAt)
            .order_by_asc(providers::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(to_provider).collect()
    }

    async fn update_oauth_provider(&self, p: &OAuthProvider) -> Result<bool> {
        let r = providers::Entity::update_many()
            .col_expr(providers::Column::DisplayName, Expr::value(p.display_name.clone()))
            .col_expr(providers::Column::ClientId, Expr::value(p.client_id.clone()))
            .col_expr(providers::Column::ClientSecretEnc, Expr::value(p.client_secret_enc.clone()))
            .col_expr(providers::Column::DiscoveryUrl, Expr::value(p.discovery_url.clone()))
            .col_expr(providers::Column::Issuer, Expr::value(p.issuer.clone()))
            .col_expr(providers::Column::Scopes, Expr::value(p.scopes.join(" ")))
            .col_expr(providers::Column::TokenEndpointAuthMethod, Expr::value(p.token_endpoint_auth_method.clone()))
            .col_expr(providers::Column::ResponseMode, Expr::value(p.response_mode.as_str()))
            .col_expr(providers::Column::AppleTeamId, Expr::value(p.apple_team_id.clone()))
            .col_expr(providers::Column::AppleKeyId, Expr::value(p.apple_key_id.clone()))
            .col_expr(providers::Column::ApplePrivateKeyEnc, Expr::value(p.apple_private_key_enc.clone()))
            .col_expr(providers::Column::Enabled, Expr::value(p.enabled))
            .col_expr(providers::Column::AllowSignup, Expr::value(p.allow_signup))
            .col_expr(providers::Column::LinkByVerifiedEmail, Expr::value(p.link_by_verified_email))
            .col_expr(providers::Column::UpdatedAt, Expr::value(ms(p.updated_at)))
            .filter(providers::Column::Id.eq(&p.id))
            .filter(providers::Column::OrgId.eq(&p.org_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    async fn delete_oauth_provider(&self, org_id: &str, provider_id: &str) -> Result<bool> {
        // Children first: SQLite does not enforce the cascade unless foreign keys are on.
        identities::Entity::delete_many()
            .filter(identities::Column::OrgId.eq(org_id))
            .filter(identities::Column::ProviderId.eq(provider_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        states::Entity::delete_many()
            .filter(states::Column::OrgId.eq(org_id))
            .filter(states::Column::ProviderId.eq(provider_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        let r = providers::Entity::delete_many()
            .filter(providers::Column::OrgId.eq(org_id))
            .filter(providers::Column::Id.eq(provider_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    async fn insert_oauth_state(&self, s: &OAuthStateRecord) -> Result<()> {
        states::Entity::insert(states::ActiveModel {
            id: Set(s.id.clone()),
            org_id: Set(s.org_id.clone()),
            provider_id: Set(s.provider_id.clone()),
            state_hash: Set(s.state_hash.clone()),
            nonce: Set(s.nonce.clone()),
            code_verifier_enc: Set(s.code_verifier_enc.clone()),
            redirect_url: Set(s.redirect_url.clone()),
            user_id: Set(s.user_id.clone()),
            expires_at: Set(ms(s.expires_at)),
            used_at: Set(s.used_at.map(ms)),
            created_at: Set(ms(s.created_at)),
            updated_at: Set(ms(s.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_oauth_state(&self, state_hash: &str) -> Result<Option<OAuthStateRecord>> {
        let row = states::Entity::find()
            .filter(states::Column::StateHash.eq(state_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(row.map(to_state))
    }

    async fn spend_oauth_state(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        spend_once::<states::Entity>(
            &self.db,
            [states::Column::Id, states::Column::UsedAt, states::Column::UpdatedAt],
            id,
            now,
        )
        .await
    }

    async fn insert_federated_identity(&self, i: &FederatedIdentity) -> Result<()> {
        identities::Entity::insert(identities::ActiveModel {
            id: Set(i.id.clone()),
            org_id: Set(i.org_id.clone()),
            user_id: Set(i.user_id.clone()),
            provider_id: Set(i.provider_id.clone()),
            subject: Set(i.subject.clone()),
            email: Set(i.email.clone()),
            last_login_at: Set(i.last_login_at.map(ms)),
            created_at: Set(ms(i.created_at)),
            updated_at: Set(ms(i.created_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_federated_identity(
        &self,
        org_id: &str,
        provider_id: &str,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>> {
        let row = identities::Entity::find()
            .filter(identities::Column::OrgId.eq(org_id))
            .filter(identities::Column::ProviderId.eq(provider_id))
            .filter(identities::Column::Subject.eq(subject))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(row.map(to_identity))
    }

    async fn list_federated_identities(&self, org_id: &str, user_id: &str) -> Result<Vec<FederatedIdentity>> {
        let rows = identities::Entity::find()
            .filter(identities::Column::OrgId.eq(org_id))
            .filter(identities::Column::UserId.eq(user_id))
            .order_by_asc(identities::Column::CreatedAt)
            .order_by_asc(identities::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_identity).collect())
    }

    async fn touch_federated_identity(&self, id: &str, email: Option<&str>, now: OffsetDateTime) -> Result<()> {
        let mut update = identities::Entity::update_many()
            .col_expr(identities::Column::LastLoginAt, Expr::value(ms(now)))
            .col_expr(identities::Column::UpdatedAt, Expr::value(ms(now)));
        if let Some(email) = email {
            update = update.col_expr(identities::Column::Email, Expr::value(email.to_owned()));
        }
        update.filter(identities::Column::Id.eq(id)).exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn delete_federated_identity(&self, org_id: &str, user_id: &str, id: &str) -> Result<bool> {
        let r = identities::Entity::delete_many()
            .filter(identities::Column::OrgId.eq(org_id))
            .filter(identities::Column::UserId.eq(user_id))
            .filter(identities::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }
}
