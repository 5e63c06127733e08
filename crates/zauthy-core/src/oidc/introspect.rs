//! Token introspection (RFC 7662) for the organization's service providers: a client learns whether a token
//! issued to it is active; anything invalid, expired, foreign or another client's is just `active: false`.

use super::token::{ClientAuth, OAuthError};
use crate::error::Result;
use crate::services::Services;
use serde_json::{Value, json};

impl Services {
    /// Introspects `token` for the authenticated client. Only tokens whose audience is that client are active.
    pub async fn introspect_oidc_token(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        token: &str,
    ) -> Result<std::result::Result<Value, OAuthError>> {
        let client = match self.authenticate_oidc_client(org_id, auth).await? {
            Ok(client) => client,
            Err(e) => return Ok(Err(e)),
        };
        let claims = self.verified_client_token(org_id, token, Some(&client.id)).await?;
        let now = self.now().unix_timestamp();
        // A token issued for a user is active only while its grant stands (not revoked, not reused).
        let claims = match claims {
            Some(c) if c.get("gid").is_some() => self.live_user_token(org_id, &c).await?.map(|_| c),
            other => other,
        };
        Ok(Ok(match claims {
            Some(c) if c["exp"].as_i64().is_some_and(|exp| exp > now) => {
                let mut answer = json!({"active": true, "token_type": "Bearer"});
                for field in ["client_id", "sub", "scope", "exp", "iat", "iss", "aud", "jti", "auth_time", "acr"] {
                    if let Some(v) = c.get(field) {
                        answer[field] = v.clone();
                    }
                }
                answer
            }
            _ => json!({"active": false}),
        }))
    }
}
