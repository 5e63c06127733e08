//! The token endpoint's grants (`authorization_code` with PKCE, `refresh_token` with rotation,
//! `client_credentials`): client authentication and the RFC 6749 errors, which the OAuth endpoints report in
//! their own `{"error","error_description"}` shape, not the API's. A spent code or refresh token presented
//! again revokes everything issued from its grant (RFC 6749 §4.1.2, RFC 9700 §4.14).

use super::error::{OAuthError, OidcResult};
use super::{
    ClientType, DpopKey, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, Grant as OidcGrant,
    OidcClient, Spent,
};
use crate::accounts::User;
use crate::error::Result;
use crate::events::{Event, types};
use crate::services::Services;
use crate::tokens::SigningAlg;
use crate::{crypto, ids};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// How the client presented itself at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic { client_id: String, secret: String },
    /// `client_id` and `client_secret` in the form body.
    Post { client_id: String, secret: String },
    /// Only `client_id`: a public client.
    None { client_id: String },
    /// `client_assertion` signed with one of the client's registered keys (`private_key_jwt`).
    Jwt { client_id: String, assertion: String },
}

impl ClientAuth {
    fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::None { client_id }
            | Self::Jwt { client_id, .. } => client_id,
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "client_secret_basic",
            Self::Post { .. } => "client_secret_post",
            Self::None { .. } => "none",
            Self::Jwt { .. } => "private_key_jwt",
        }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

type Grant<T> = OidcResult<T>;

fn invalid_client() -> OAuthError {
    OAuthError::new("invalid_client", "client authentication failed")
}

impl Services {
    /// Authenticates the client of `org_id` with the method it registered; anything else is `invalid_client`
    /// (another organization's client, an unknown one, a wrong secret and a wrong method look the same).
    pub async fn authenticate_oidc_client(&self, org_id: &str, auth: &ClientAuth) -> Grant<Arc<OidcClient>> {
        let client_id = auth.client_id();
        if !ids::is_valid_id(ids::OIDC_CLIENT, client_id) {
            return Err(invalid_client().into());
        }
        let Some((client, hash)) = self.cached_oidc_client(client_id).await? else {
            return Err(invalid_client().into());
        };
        if client.org_id != org_id || client.token_endpoint_auth_method != auth.method() {
            return Err(invalid_client().into());
        }
        let ok = match (auth, hash, client.client_type) {
            (ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. }, Some(hash), _) => {
                crypto::constant_time_eq(hash.as_bytes(), crypto::sha256_hex(secret).as_bytes())
            }
            (ClientAuth::None { .. }, _, ClientType::Public) => true,
            (ClientAuth::Jwt { assertion, .. }, _, ClientType::Confidential) => {
                self.check_client_assertion(&client, assertion).await?
            }
            _ => false,
        };
        if ok { Ok(client) } else { Err(invalid_client().into()) }
    }

    /// RFC 6749 §4.4: a confidential client gets an access token for itself; no ID token, no refresh token.
    /// Every scope a client can register today describes a user (OpenID scopes), so a client acting for itself
    /// gets none and asking for one is `invalid_scope`; the check stays general for API scopes to come.
    pub async fn client_credentials_grant(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        scope: Option<&str>,
        dpop: Option<&DpopKey>,
    ) -> Grant<TokenResponse> {
        let client = self.authenticate_oidc_client(org_id, auth).await?;
        dpop_required(&client, dpop)?;
        if client.client_type != ClientType::Confidential
            || !client.grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS)
        {
            return Err(OAuthError::new("unauthorized_client", "this client may not use client_credentials").into());
        }
        // The OpenID scopes describe a user; a client acting for itself has none of them.
        const USER_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "address", "offline_access"];
        let granted: Vec<&str> = match scope {
            Some(requested) => {
                let mut out = Vec::new();
                for s in requested.split(' ').filter(|s| !s.is_empty()) {
                    if USER_SCOPES.contains(&s) || !client.allowed_scopes.iter().any(|a| a == s) {
                        return Err(
                            (OAuthError::new("invalid_scope", format!("scope {s:?} is not allowed here"))).into()
                        );
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
            cnf: dpop.map(Confirmation::of),
        };
        let access_token = self.keys.sign_with(&*self.store, org_id, SigningAlg::EdDSA, now, &claims).await?;
        Ok(TokenResponse {
            access_token,
            token_type: token_type(dpop),
            expires_in: ttl,
            scope,
            id_token: None,
            refresh_token: None,
        })
    }
}

/// RFC 9449 §5.2: a client registered with `dpop_bound_access_tokens` sends a proof with every token request.
pub(super) fn dpop_required(client: &OidcClient, dpop: Option<&DpopKey>) -> std::result::Result<(), OAuthError> {
    if client.dpop_bound_access_tokens && dpop.is_none() {
        return Err(OAuthError::new("invalid_dpop_proof", "this client must send a DPoP proof with token requests"));
    }
    Ok(())
}

/// `DPoP` for tokens bound to a key (RFC 9449 §5), `Bearer` otherwise.
pub(super) fn token_type(dpop: Option<&DpopKey>) -> &'static str {
    if dpop.is_some() { "DPoP" } else { "Bearer" }
}

/// `cnf` of a DPoP-bound access token (RFC 9449 §6.1): the key's thumbprint.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Confirmation<'a> {
    jkt: &'a str,
}

impl<'a> Confirmation<'a> {
    pub(super) fn of(key: &'a DpopKey) -> Self {
        Self { jkt: &key.jkt }
    }
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new("invalid_grant", description)
}

impl Services {
    /// An authenticated client allowed `grant_type`, or the error to answer.
    pub(super) async fn client_for_grant(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        grant_type: &str,
    ) -> Grant<Arc<OidcClient>> {
        let client = self.authenticate_oidc_client(org_id, auth).await?;
        if !client.grant_types.iter().any(|g| g == grant_type) {
            return Err(
                (OAuthError::new("unauthorized_client", format!("this client may not use {grant_type}"))).into()
            );
        }
        Ok(client)
    }

    /// The live grant `grant_id` of `client` and its user, if both still stand.
    pub(super) async fn live_grant(
        &self,
        client: &OidcClient,
        grant_id: &str,
    ) -> Result<Option<(Arc<OidcGrant>, Arc<User>)>> {
        let Some(grant) = self.cached_grant(grant_id).await? else {
            return Ok(None);
        };
        Ok(self.grant_user(client, &grant).await?.map(|user| (grant, user)))
    }

    /// The user of `grant`, if the grant is `client`'s and not revoked and the user is not blocked.
    async fn grant_user(&self, client: &OidcClient, grant: &OidcGrant) -> Result<Option<Arc<User>>> {
        if grant.client_id != client.id || grant.revoked_at.is_some() {
            return Ok(None);
        }
        let user = self.cached_user(&grant.org_id, &grant.user_id).await?;
        Ok(user.filter(|user| !user.is_blocked))
    }

    /// The token write did not spend the code or refresh token `hash` of `grant_id`. Either it was spent
    /// before, so someone holds a copy and the grant ends, or its grant was revoked (`write_tokens` spends only
    /// while the grant stands) or deleted since the token was read.
    async fn refused_spend(&self, kind: Spent, hash: &str, grant_id: &str) -> Grant<TokenResponse> {
        let (used, name, reused, unknown) = match kind {
            Spent::AuthCode => (
                self.store.find_auth_code(hash).await?.map(|(code, _)| code.used_at.is_some()),
                "authorization_code",
                "the code was already used; the tokens issued from it are revoked",
                "the code is unknown",
            ),
            Spent::RefreshToken => (
                self.store.find_client_refresh_token(hash).await?.map(|token| token.used_at.is_some()),
                "refresh_token",
                "the refresh token was already used; the grant is revoked",
                "the refresh token is unknown",
            ),
        };
        Err(match used {
            Some(true) => {
                self.revoke_on_reuse(grant_id, name).await?;
                invalid_grant(reused)
            }
            Some(false) => invalid_grant("the authorization was revoked"),
            None => invalid_grant(unknown),
        }
        .into())
    }

    /// A spent code or refresh token came back: someone holds a copy. End the whole grant.
    pub(super) async fn revoke_on_reuse(&self, grant_id: &str, kind: &str) -> Result<()> {
        let now = self.now();
        let Some(grant) = self.store.find_grant(grant_id).await? else {
            return Ok(());
        };
        let tx = self.store.begin().await?;
        if tx.revoke_grant(grant_id, now).await? {
            tx.insert_event(&Event::new(
                &grant.org_id,
                types::OIDC_TOKEN_REUSE,
                Some(&grant.user_id),
                json!({"user_id": grant.user_id, "client_id": grant.client_id, "grant_id": grant.id, "kind": kind}),
                now,
            ))
            .await?;
        }
        tx.commit().await?;
        self.cache.invalidate();
        Ok(())
    }

    /// RFC 6749 §4.1.3 with PKCE (RFC 7636): the code must be this client's, unspent, unexpired, for the same
    /// redirect URI, with the verifier of its challenge.
    pub async fn authorization_code_grant(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        dpop: Option<&DpopKey>,
    ) -> Grant<TokenResponse> {
        let client = self.client_for_grant(org_id, auth, GRANT_AUTHORIZATION_CODE).await?;
        dpop_required(&client, dpop)?;
        let Some(code) = code else {
            return Err(OAuthError::new("invalid_request", "code is required").into());
        };
        // One of a shape never issued is as unknown as any other (RFC 6749 §5.2: invalid_grant).
        if !(code.starts_with("ac_") && code.len() < 100) {
            return Err(invalid_grant("the code is unknown").into());
        }
        let hash = crypto::sha256_hex(code);
        // A code this node issued is exchanged as issued: the write below spends it only if it is unspent and
        // its grant stands, which is all a read of it would add (`IssuedCodes`).
        let now = self.now();
        let (stored, grant) = match self.cache.codes.take(&hash, now) {
            Some(issued) => issued,
            None => {
                let generation = self.cache.generation();
                let Some((stored, Some(grant))) = self.store.find_auth_code(&hash).await? else {
                    return Err(invalid_grant("the code is unknown").into());
                };
                // Read with the code: kept for the refreshes, introspection and userinfo calls that follow.
                (stored, self.keep_grant(grant, generation))
            }
        };
        if grant.client_id != client.id || grant.org_id != org_id {
            return Err(invalid_grant("the code was issued to another client").into());
        }
        if stored.used_at.is_some() {
            self.revoke_on_reuse(&grant.id, "authorization_code").await?;
            return Err(invalid_grant("the code was already used; the tokens issued from it are revoked").into());
        }
        if stored.expires_at <= now {
            return Err(invalid_grant("the code has expired").into());
        }
        if redirect_uri != Some(stored.redirect_uri.as_str()) {
            return Err(invalid_grant("redirect_uri differs from the authorization request").into());
        }
        // RFC 9449 §10: a code asked for with dpop_jkt is exchanged only with a proof of that key.
        if let Some(bound) = &stored.dpop_jkt
            && dpop.map(|key| &key.jkt) != Some(bound)
        {
            return Err(
                (OAuthError::new("invalid_dpop_proof", "this code is bound to another DPoP key (dpop_jkt)")).into()
            );
        }
        match (&stored.code_challenge, code_verifier) {
            (Some(challenge), Some(verifier)) if super::is_pkce_text(verifier) => {
                let computed = crypto::sha256_base64url(verifier);
                if !crypto::constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                    return Err(invalid_grant("code_verifier does not match the code_challenge").into());
                }
            }
            (Some(_), _) => return Err(invalid_grant("a valid code_verifier is required").into()),
            (None, Some(_)) => {
                return Err(invalid_grant("code_verifier given but the request had no code_challenge").into());
            }
            (None, None) => {}
        }
        let Some(user) = self.grant_user(&client, &grant).await? else {
            return Err(invalid_grant("the authorization was revoked").into());
        };
        let tokens = self.prepare_grant_tokens(&client, &grant, &user, true, dpop).await?;
        match self.commit_tokens(tokens, Spent::AuthCode, hash.clone(), now).await? {
            Some(tokens) => Ok(tokens),
            None => self.refused_spend(Spent::AuthCode, &hash, &grant.id).await,
        }
    }

    /// RFC 6749 §6 with rotation: each refresh token works once and brings the next; `scope` may narrow.
    pub async fn client_refresh_grant(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        refresh_token: Option<&str>,
        scope: Option<&str>,
        dpop: Option<&DpopKey>,
    ) -> Grant<TokenResponse> {
        let client = self.client_for_grant(org_id, auth, GRANT_REFRESH_TOKEN).await?;
        dpop_required(&client, dpop)?;
        let Some(token) = refresh_token.filter(|t| t.len() < 200) else {
            return Err(OAuthError::new("invalid_request", "refresh_token is required").into());
        };
        let hash = crypto::sha256_hex(token);
        let Some(stored) = self.store.find_client_refresh_token(&hash).await? else {
            return Err(invalid_grant("the refresh token is unknown").into());
        };
        let Some(grant) = self.cached_grant(&stored.grant_id).await? else {
            return Err(invalid_grant("the refresh token is unknown").into());
        };
        if grant.client_id != client.id || grant.org_id != org_id {
            return Err(invalid_grant("the refresh token was issued to another client").into());
        }
        let now = self.now();
        if stored.used_at.is_some() {
            self.revoke_on_reuse(&grant.id, "refresh_token").await?;
            return Err(invalid_grant("the refresh token was already used; the grant is revoked").into());
        }
        if stored.expires_at <= now {
            return Err(invalid_grant("the refresh token has expired").into());
        }
        // RFC 9449 §5: a public client's refresh token works only with the key it was bound to.
        if let Some(bound) = &stored.dpop_jkt
            && dpop.map(|key| &key.jkt) != Some(bound)
        {
            return Err(OAuthError::new(
                "invalid_dpop_proof",
                "this refresh token is bound to a DPoP key; send a proof signed with that key",
            )
            .into());
        }
        let Some(user) = self.grant_user(&client, &grant).await? else {
            return Err(invalid_grant("the authorization was revoked").into());
        };
        let mut grant = grant;
        if let Some(requested) = scope {
            let narrowed: Vec<String> = requested.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if let Some(extra) = narrowed.iter().find(|s| !grant.scope.contains(s)) {
                return Err(OAuthError::new("invalid_scope", format!("scope {extra:?} was not granted")).into());
            }
            // offline_access stays: without it there would be no next refresh token.
            Arc::make_mut(&mut grant).scope.retain(|s| narrowed.contains(s) || s == "offline_access");
        }
        let tokens = self.prepare_grant_tokens(&client, &grant, &user, false, dpop).await?;
        match self.commit_tokens(tokens, Spent::RefreshToken, hash.clone(), now).await? {
            Some(tokens) => Ok(tokens),
            None => self.refused_spend(Spent::RefreshToken, &hash, &grant.id).await,
        }
    }
}
