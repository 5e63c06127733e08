//! The token endpoint's grants (so far `client_credentials`): client authentication and the RFC 6749 errors,
//! which the OAuth endpoints report in their own `{"error","error_description"}` shape, not the API's.

use super::{ClientType, GRANT_CLIENT_CREDENTIALS, OidcClient};
use crate::error::Result;
use crate::services::Services;
use crate::tokens::SigningAlg;
use crate::{crypto, ids};
use serde::Serialize;

/// How the client presented itself at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic { client_id: String, secret: String },
    /// `client_id` and `client_secret` in the form body.
    Post { client_id: String, secret: String },
    /// Only `client_id`: a public client.
    None { client_id: String },
}

impl ClientAuth {
    fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. } | Self::Post { client_id, .. } | Self::None { client_id } => client_id,
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "client_secret_basic",
            Self::Post { .. } => "client_secret_post",
            Self::None { .. } => "none",
        }
    }
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { error, description: description.into() }
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// The claims of an access token issued to a service provider: its audience is the client, never
/// `zauthy-api`, so it cannot be used against zauthy's own API.
#[derive(Debug, Clone, Serialize)]
struct ClientAccessClaims<'a> {
    iss: String,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

type Grant<T> = Result<std::result::Result<T, OAuthError>>;

fn invalid_client() -> OAuthError {
    OAuthError::new("invalid_client", "client authentication failed")
}

impl Services {
    /// Authenticates the client of `org_id` with the method it registered; anything else is `invalid_client`
    /// (another organization's client, an unknown one, a wrong secret and a wrong method look the same).
    pub async fn authenticate_oidc_client(&self, org_id: &str, auth: &ClientAuth) -> Grant<OidcClient> {
        let client_id = auth.client_id();
        if !ids::is_valid_id(ids::OIDC_CLIENT, client_id) {
            return Ok(Err(invalid_client()));
        }
        let Some((client, hash)) = self.store.find_oidc_client(client_id).await? else {
            return Ok(Err(invalid_client()));
        };
        if client.org_id != org_id || client.token_endpoint_auth_method != auth.method() {
            return Ok(Err(invalid_client()));
        }
        let ok = match (auth, hash, client.client_type) {
            (ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. }, Some(hash), _) => {
                crypto::constant_time_eq(hash.as_bytes(), crypto::sha256_hex(secret).as_bytes())
            }
            (ClientAuth::None { .. }, _, ClientType::Public) => true,
            _ => false,
        };
        Ok(if ok { Ok(client) } else { Err(invalid_client()) })
    }

    /// RFC 6749 §4.4: a confidential client gets an access token for itself; no ID token, no refresh token.
    /// Every scope a client can register today describes a user (OpenID scopes), so a client acting for itself
    /// gets none and asking for one is `invalid_scope`; the check stays general for API scopes to come.
    pub async fn client_credentials_grant(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        scope: Option<&str>,
    ) -> Grant<TokenResponse> {
        let client = match self.authenticate_oidc_client(org_id, auth).await? {
            Ok(client) => client,
            Err(e) => return Ok(Err(e)),
        };
        if client.client_type != ClientType::Confidential
            || !client.grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS)
        {
            return Ok(Err(OAuthError::new("unauthorized_client", "this client may not use client_credentials")));
        }
        // The OpenID scopes describe a user; a client acting for itself has none of them.
        const USER_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "address", "offline_access"];
        let granted: Vec<&str> = match scope {
            Some(requested) => {
                let mut out = Vec::new();
                for s in requested.split(' ').filter(|s| !s.is_empty()) {
                    if USER_SCOPES.contains(&s) || !client.allowed_scopes.iter().any(|a| a == s) {
                        return Ok(Err(OAuthError::new("invalid_scope", format!("scope {s:?} is not allowed here"))));
                    }
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
                out
            }
            None => client.allowed_scopes.iter().map(String::as_str).filter(|s| !USER_SCOPES.contains(s)).collect(),
        };
        let scope = granted.join(" ");
        let now = self.now();
        let ttl = self.config.access_token_ttl_secs;
        let claims = ClientAccessClaims {
            iss: self.issuer(org_id),
            sub: &client.id,
            aud: &client.id,
            client_id: &client.id,
            scope: &scope,
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + ttl,
            jti: ids::new_id("at"),
        };
        let access_token = self.keys.sign_with(&*self.store, org_id, SigningAlg::EdDSA, now, &claims).await?;
        Ok(Ok(TokenResponse { access_token, token_type: "Bearer", expires_in: ttl, scope }))
    }
}
