//! The reads on the token, introspection and userinfo hot paths (and the client at `authorize` and on the
//! sign-in and consent pages), through the node's verification cache (`crate::cache`): the client, the
//! grant and the user are read at most once per `TTL`, and a token's signature is checked once. A change on
//! this node invalidates at once; one on another node is seen within the cache's `TTL`, the bound sessions and
//! API keys already keep.

use super::{Grant, OidcClient};
use crate::accounts::User;
use crate::error::Result;
use crate::services::Services;
use data_encoding::BASE64URL_NOPAD;
use serde_json::Value;
use std::sync::Arc;

impl Services {
    /// The client `client_id` and its secret's hash.
    pub(super) async fn cached_oidc_client(
        &self,
        client_id: &str,
    ) -> Result<Option<(Arc<OidcClient>, Option<Arc<str>>)>> {
        if let Some(found) = self.cache.fresh(&self.cache.oidc_clients, client_id) {
            return Ok(Some(found));
        }
        let generation = self.cache.generation();
        let found = self.store.find_oidc_client(client_id).await?.map(|(c, hash)| (Arc::new(c), hash.map(Arc::from)));
        if let Some(found) = &found {
            self.cache.keep(&self.cache.oidc_clients, client_id, found.clone(), generation);
        }
        Ok(found)
    }

    /// The grant `grant_id`, revoked or not (the caller decides).
    pub(super) async fn cached_grant(&self, grant_id: &str) -> Result<Option<Arc<Grant>>> {
        if let Some(found) = self.cache.fresh(&self.cache.grants, grant_id) {
            return Ok(Some(found));
        }
        let generation = self.cache.generation();
        Ok(self.store.find_grant(grant_id).await?.map(|grant| self.keep_grant(grant, generation)))
    }

    /// `grant`, read from the store after `generation` began, kept as `cached_grant` would.
    pub(super) fn keep_grant(&self, grant: Grant, generation: u64) -> Arc<Grant> {
        let grant = Arc::new(grant);
        self.cache.keep(&self.cache.grants, &grant.id, grant.clone(), generation);
        grant
    }

    /// Whether the grant-less (client_credentials) access token `jti` was revoked.
    pub(super) async fn cached_token_revoked(&self, jti: &str) -> Result<bool> {
        if let Some(found) = self.cache.fresh(&self.cache.revoked_tokens, jti) {
            return Ok(found);
        }
        let generation = self.cache.generation();
        let revoked = self.store.is_access_token_revoked(jti).await?;
        self.cache.keep(&self.cache.revoked_tokens, jti, revoked, generation);
        Ok(revoked)
    }

    /// The user `user_id` of `org_id`, blocked or not (the caller decides).
    pub(super) async fn cached_user(&self, org_id: &str, user_id: &str) -> Result<Option<Arc<User>>> {
        let key = format!("{org_id}:{user_id}");
        if let Some(found) = self.cache.fresh(&self.cache.users, &key) {
            return Ok(Some(found));
        }
        let generation = self.cache.generation();
        let found = self.store.find_user(org_id, user_id).await?.map(|f| Arc::new(f.user));
        if let Some(user) = &found {
            self.cache.keep(&self.cache.users, &key, user.clone(), generation);
        }
        Ok(found)
    }

    /// The claims of a token `org_id` issued to a service provider: signature, algorithm, issuer and audience
    /// (`audience`, or else the client the token names in `client_id`), not expiry (the caller's, against the
    /// service clock). A signature once checked stays good, so only the issuer and audience are compared again
    /// when the claims come from the cache.
    pub(super) async fn verified_client_token(
        &self,
        org_id: &str,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Option<Arc<Value>>> {
        if token.len() > 4096 {
            return Ok(None);
        }
        let issuer = self.issuer(org_id);
        if let Some(claims) = self.cache.oidc_claims(token) {
            let aud = claims["aud"].as_str();
            let ok = claims["iss"].as_str() == Some(issuer.as_str())
                && aud.is_some()
                && aud == audience.or_else(|| claims["client_id"].as_str());
            return Ok(ok.then_some(claims));
        }
        let named;
        let audience = match audience {
            Some(a) => a,
            None => match unverified_client_id(token) {
                Some(client_id) => {
                    named = client_id;
                    named.as_str()
                }
                None => return Ok(None),
            },
        };
        let Some(claims) = self.keys.verify_for_audience(&*self.store, org_id, token, audience, &issuer).await? else {
            return Ok(None);
        };
        let claims = Arc::new(claims);
        if claims["aud"].is_string() {
            self.cache.put_oidc_claims(token, claims.clone());
        }
        Ok(Some(claims))
    }
}

/// The `client_id` a JWT names, read without checking it, only to learn which audience to check it for.
fn unverified_client_id(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = BASE64URL_NOPAD.decode(payload.as_bytes()).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("client_id")?.as_str().map(str::to_owned)
}
