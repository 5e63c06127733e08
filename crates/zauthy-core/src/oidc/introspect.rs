//! Token introspection (RFC 7662) for the organization's service providers: a client learns whether an access
//! or refresh token issued to it is active; anything invalid, expired, foreign, another client's or not an
//! access or refresh token (an ID token) is just `active: false`.

use super::OidcClient;
use super::error::{OAuthError, OidcResult};
use super::issue::CLIENT_REFRESH_PREFIX;
use super::token::ClientAuth;
use crate::crypto;
use crate::error::Result;
use crate::services::Services;
use serde_json::{Value, json};

impl Services {
    /// Introspects `token` for the authenticated client. Only the client's own access and refresh tokens are
    /// active: an ID token or a logout token, though signed for the client, is not a bearer credential.
    pub async fn introspect_oidc_token(&self, org_id: &str, auth: &ClientAuth, token: &str) -> OidcResult<Value> {
        // RFC 7662 §2.1: the caller must be authorized; a public client's bare client_id proves nothing.
        if let ClientAuth::None { .. } = auth {
            return Err(OAuthError::new("invalid_client", "introspection needs client authentication").into());
        }
        let client = self.authenticate_oidc_client(org_id, auth).await?;
        if token.starts_with(CLIENT_REFRESH_PREFIX) {
            return Ok(self.introspect_refresh_token(org_id, &client, token).await?);
        }
        let claims = self.verified_client_token(org_id, token, Some(&client.id)).await?;
        let now = self.now().unix_timestamp();
        let claims = match claims {
            Some(c) if !is_access_token(&c) => None,
            // A token issued for a user is active only while its grant stands (not revoked, not reused).
            Some(c) if c.get("gid").is_some() => self.live_user_token(org_id, &c).await?.map(|_| c),
            // Without a grant, only the client's own (client_credentials) token, until the client revokes it.
            Some(c) if c["sub"] != c["client_id"] => None,
            Some(c) if self.cached_token_revoked(c["jti"].as_str().unwrap_or_default()).await? => None,
            other => other,
        };
        Ok(match claims {
            Some(c) if c["exp"].as_i64().is_some_and(|exp| exp > now) => {
                // A DPoP-bound token says so, with its key (RFC 9449 §6.2), for the resource server to check.
                let token_type = if c.get("cnf").is_some() { "DPoP" } else { "Bearer" };
                let mut answer = json!({"active": true, "token_type": token_type});
                for field in ["client_id", "sub", "scope", "exp", "iat", "iss", "aud", "jti", "auth_time", "acr", "cnf"]
                {
                    if let Some(v) = c.get(field) {
                        answer[field] = v.clone();
                    }
                }
                answer
            }
            _ => json!({"active": false}),
        })
    }

    /// A refresh token is active while it is unspent and unexpired, its grant stands, belongs to `client`
    /// and its user is not blocked.
    async fn introspect_refresh_token(&self, org_id: &str, client: &OidcClient, token: &str) -> Result<Value> {
        let inactive = json!({"active": false});
        let Some(stored) = self.store.find_client_refresh_token(&crypto::sha256_hex(token)).await? else {
            return Ok(inactive);
        };
        let now = self.now();
        if stored.used_at.is_some() || stored.expires_at <= now {
            return Ok(inactive);
        }
        let Some(grant) = self.cached_grant(&stored.grant_id).await? else {
            return Ok(inactive);
        };
        if grant.revoked_at.is_some() || grant.org_id != org_id || grant.client_id != client.id {
            return Ok(inactive);
        }
        let Some(user) = self.cached_user(org_id, &grant.user_id).await? else {
            return Ok(inactive);
        };
        if user.is_blocked {
            return Ok(inactive);
        }
        let mut answer = json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": client.id,
            "sub": self.subject_for(client, &user.id),
            "scope": grant.scope.join(" "),
            "exp": stored.expires_at.unix_timestamp(),
            "iat": stored.created_at.unix_timestamp(),
            "iss": self.issuer(org_id),
            "auth_time": grant.auth_time.unix_timestamp(),
            "acr": grant.acr,
        });
        if let Some(jkt) = &stored.dpop_jkt {
            answer["cnf"] = json!({"jkt": jkt});
        }
        Ok(answer)
    }
}

/// The claims of an access token (RFC 9068: `client_id` and `scope`); ID and logout tokens have neither.
fn is_access_token(claims: &Value) -> bool {
    claims["client_id"].is_string() && claims["scope"].is_string()
}
