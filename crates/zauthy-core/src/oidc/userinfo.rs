//! The UserInfo endpoint (OIDC Core §5.3), token revocation (RFC 7009) and the checks they share: an access
//! token is good only while its signature, expiry and grant all stand.

use super::DpopKey;
use super::Grant;
use super::error::{OAuthError, OidcResult};
use super::issue::{CLIENT_REFRESH_PREFIX, scope_claims};
use super::token::ClientAuth;
use crate::accounts::User;
use crate::crypto;
use crate::error::{CoreError, Result};
use crate::services::Services;
use serde_json::{Map, Value};
use std::sync::Arc;
use time::OffsetDateTime;

impl Services {
    /// A user access token of this organization: signature (the org's key of its algorithm), issuer,
    /// audience = its client, expiry, and a live grant and user. `None` for anything else.
    pub(crate) async fn verify_user_access_token(
        &self,
        org_id: &str,
        token: &str,
    ) -> Result<Option<(Arc<Value>, Arc<Grant>, Arc<User>)>> {
        let Some(claims) = self.verified_client_token(org_id, token, None).await? else {
            return Ok(None);
        };
        Ok(self.live_user_token(org_id, &claims).await?.map(|(grant, user)| (claims, grant, user)))
    }

    /// For the verified claims of a user access token: unexpired, and its grant and user still stand.
    pub(super) async fn live_user_token(
        &self,
        org_id: &str,
        claims: &Value,
    ) -> Result<Option<(Arc<Grant>, Arc<User>)>> {
        if claims["exp"].as_i64().is_none_or(|exp| exp <= self.now().unix_timestamp()) {
            return Ok(None);
        }
        let (Some(grant_id), Some(client_id)) =
            (claims.get("gid").and_then(Value::as_str), claims.get("client_id").and_then(Value::as_str))
        else {
            return Ok(None);
        };
        let Some(grant) = self.cached_grant(grant_id).await? else {
            return Ok(None);
        };
        if grant.revoked_at.is_some() || grant.org_id != org_id || grant.client_id != client_id {
            return Ok(None);
        }
        let Some(user) = self.cached_user(org_id, &grant.user_id).await? else {
            return Ok(None);
        };
        if user.is_blocked {
            return Ok(None);
        }
        Ok(Some((grant, user)))
    }

    /// The claims the token's scopes release; `None` means `invalid_token`. `dpop_jkt` is the key of the DPoP
    /// proof the token came with (`Authorization: DPoP`): a bound token needs its own key (RFC 9449 §7), and a
    /// token presented as DPoP must be bound.
    pub async fn userinfo(
        &self,
        org_id: &str,
        access_token: &str,
        dpop_jkt: Option<&str>,
    ) -> Result<Option<Map<String, Value>>> {
        let Some((claims, _, user)) = self.verify_user_access_token(org_id, access_token).await? else {
            return Ok(None);
        };
        if claims["cnf"]["jkt"].as_str() != dpop_jkt {
            return Ok(None);
        }
        let scope: Vec<String> =
            claims["scope"].as_str().unwrap_or("").split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        if !scope.iter().any(|s| s == "openid") {
            return Ok(None);
        }
        // `claims.userinfo` members can only name claims of the granted scopes (see `requested_claims`), and
        // those are all here already.
        // The token's own `sub`: the one its client sees (pairwise or not).
        let sub = claims["sub"].as_str().unwrap_or(&user.id);
        Ok(Some(scope_claims(&user, sub, &scope)))
    }

    /// RFC 7009: the client's own refresh or access token ends, with its whole grant. Unknown, foreign and
    /// already revoked tokens are answered the same (success), as the RFC asks.
    pub async fn revoke_oidc_token(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        token: &str,
        dpop: Option<&DpopKey>,
    ) -> OidcResult<()> {
        let client = self.authenticate_oidc_client(org_id, auth).await?;
        let grant_id = if token.starts_with(CLIENT_REFRESH_PREFIX) {
            match self.store.find_client_refresh_token(&crypto::sha256_hex(token)).await? {
                // A public client's bound refresh token is its key's: a copy alone cannot end the grant.
                Some(stored)
                    if stored.dpop_jkt.is_some() && stored.dpop_jkt.as_deref() != dpop.map(|k| k.jkt.as_str()) =>
                {
                    return Err(OAuthError::new(
                        "invalid_dpop_proof",
                        "this refresh token is bound to a DPoP key; send a proof signed with that key",
                    )
                    .into());
                }
                Some(stored) => Some(stored.grant_id),
                None => None,
            }
        } else {
            self.verify_user_access_token(org_id, token).await?.map(|(_, grant, _)| grant.id.clone())
        };
        if let Some(grant_id) = grant_id
            && let Some(grant) = self.store.find_grant(&grant_id).await?
            && grant.client_id == client.id
        {
            self.store.revoke_grant(&grant.id, self.now()).await?;
            self.cache.invalidate();
        } else if let Some(claims) = self.verified_client_token(org_id, token, Some(&client.id)).await?
            && claims.get("gid").is_none()
            && claims["sub"] == client.id.as_str()
            && claims["client_id"] == client.id.as_str()
            && let (Some(jti), Some(exp)) = (claims["jti"].as_str(), claims["exp"].as_i64())
        {
            // The client's own (client_credentials) token: no grant to end, so its id is remembered until it
            // expires.
            let now = self.now();
            if exp > now.unix_timestamp() {
                let expires_at = OffsetDateTime::from_unix_timestamp(exp).map_err(CoreError::internal)?;
                self.store.revoke_access_token(org_id, &client.id, jti, expires_at, now).await?;
                self.cache.invalidate();
            }
        }
        Ok(())
    }
}
