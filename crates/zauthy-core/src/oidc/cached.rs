//! The reads on the token, introspection and userinfo hot paths, through the node's verification cache
//! (`sessions::cache`): the client, the grant and the user are read at most once per `TTL`, and a token's
//! signature is checked once. A change on this node invalidates at once; one on another node is seen within
//! the cache's `TTL`, the bound sessions and API keys already keep.

use super::{Grant, OidcClient};
use crate::accounts::User;
use crate::error::Result;
use crate::services::Services;
use serde_json::Value;

impl Services {
    /// The client `client_id` and its secret's hash.
    pub(super) async fn cached_oidc_client(&self, client_id: &str) -> Result<Option<(OidcClient, Option<String>)>> {
        if let Some(found) = self.cache.fresh(&self.cache.oidc_clients, client_id) {
            return Ok(Some(found));
        }
        let generation = self.cache.generation();
        let found = self.store.find_oidc_client(client_id).await?;
        if let Some(found) = &found {
            self.cache.keep(&self.cache.oidc_clients, client_id, found.clone(), generation);
        }
        Ok(found)
    }

    /// The grant `grant_id`, revoked or not (the caller decides).
    pub(super) async fn cached_grant(&self, grant_id: &str) -> Result<Option<Grant>> {
        if let Some(found) = self.cache.fresh(&self.cache.grants, grant_id) {
            return Ok(Some(found));
        }
        let generation = self.cache.generation();
        let found = self.store.find_grant(grant_id).await?;
        if let Some(grant) = &found {
            self.cache.keep(&self.cache.grants, grant_id, grant.clone(), generation);
        }
        Ok(found)
    }

    /// The user `user_id` of `org_id`, blocked or not (the caller decides).
    pub(super) async fn cached_user(&self, org_id: &str, user_id: &str) -> Result<Option<User>> {
        let key = format!("{org_id}:{user_id}");
        if let Some(found) = self.cache.fresh(&self.cache.users, &key) {
            return Ok(Some(found));
        }
        let generation = self.cache.generation();
        let found = self.store.find_user(org_id, user_id).await?.map(|f| f.user);
        if let Some(user) = &found {
            self.cache.keep(&self.cache.users, &key, user.clone(), generation);
        }
        Ok(found)
    }

    /// The claims of a token `org_id` issued to the service provider `audience`: signature, algorithm, issuer
    /// and audience, not expiry (the caller's, against the service clock). A signature once checked stays
    /// good, so only the issuer and audience are compared again when the claims come from the cache.
    pub(super) async fn verified_client_token(
        &self,
        org_id: &str,
        token: &str,
        audience: &str,
    ) -> Result<Option<Value>> {
        if token.len() > 4096 {
            return Ok(None);
        }
        let issuer = self.issuer(org_id);
        if let Some(claims) = self.cache.oidc_claims(token) {
            let ok = claims["iss"].as_str() == Some(issuer.as_str()) && claims["aud"].as_str() == Some(audience);
            return Ok(ok.then_some(claims));
        }
        let claims = self.keys.verify_for_audience(&*self.store, org_id, token, audience, &issuer).await?;
        if let Some(claims) = &claims
            && claims["aud"].is_string()
        {
            self.cache.put_oidc_claims(token, claims);
        }
        Ok(claims)
    }
}
