//! The authorization endpoint's first step (and PAR, RFC 9126): validate the request against the client's
//! registration and keep it server-side, so the hosted sign-in and consent pages carry only its id.
//! Until client and redirect URI are known good nothing is redirected (no open redirector); after that every
//! error goes back to the client in RFC 6749 §4.1.2.1 form.

use super::error::{OAuthError, OidcError, OidcResult};
use super::token::ClientAuth;
use super::{AuthParams, AuthRequest, ClientType, GRANT_AUTHORIZATION_CODE, OidcClient, SCOPES, is_pkce_text};
use crate::error::{CoreError, Result};
use crate::ids;
use crate::services::Services;
use std::collections::HashMap;
use std::sync::Arc;
use time::Duration;

/// How long a pending authorization request (and a pushed one) waits for the user.
pub const REQUEST_TTL: Duration = Duration::minutes(10);
/// How long a PAR `request_uri` may wait before it is used at `/authorize` (RFC 9126 suggests a short time).
pub const PAR_TTL_SECS: i64 = 90;
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Where the browser goes back to the client: the redirect URI with these parameters, in the query or as an
/// auto-submitted form (`form_post`).
#[derive(Debug, Clone)]
pub struct AuthRedirect {
    pub redirect_uri: String,
    pub form_post: bool,
    pub params: Vec<(&'static str, String)>,
}

impl AuthRedirect {
    /// The URL for a query-mode redirect.
    pub fn url(&self) -> String {
        let mut url = self.redirect_uri.clone();
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.params).finish();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query);
        url
    }
}

/// An authorization request that cannot go on.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Shown to the user, never redirected: the client or the redirect URI is not known good.
    Fatal(OAuthError),
    /// Sent back to the client.
    Redirect(AuthRedirect),
    /// Not the request's doing: a server error page.
    Core(CoreError),
}

impl From<CoreError> for AuthorizeError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

/// Before the redirect URI is known good, a refusal is shown, never redirected.
impl From<OidcError> for AuthorizeError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::OAuth(e) => Self::Fatal(e),
            OidcError::Core(e) => Self::Core(e),
        }
    }
}

/// Builds the error redirect of a request whose client and redirect URI are known good.
pub(crate) fn error_redirect(
    issuer: &str,
    redirect_uri: &str,
    form_post: bool,
    state: Option<&str>,
    e: OAuthError,
) -> AuthRedirect {
    let mut params = vec![("error", e.error.to_owned()), ("error_description", e.description)];
    if let Some(state) = state {
        params.push(("state", state.to_owned()));
    }
    params.push(("iss", issuer.to_owned()));
    AuthRedirect { redirect_uri: redirect_uri.to_owned(), form_post, params }
}

fn bad(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError::new(error, description)
}

/// Checks everything after the redirect URI; an error here is redirected to the client.
fn validate_params(
    client: &OidcClient,
    p: &HashMap<String, String>,
    redirect_uri: String,
) -> Result<AuthParams, OAuthError> {
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    for (name, error) in [("request", "request_not_supported"), ("registration", "registration_not_supported")] {
        if get(name).is_some() {
            return Err(bad(error, format!("the {name} parameter is not supported; use PAR")));
        }
    }
    if let Some(long) = p.iter().find(|(_, v)| v.len() > 4096) {
        return Err(bad("invalid_request", format!("parameter {} is too long", long.0)));
    }
    match get("response_type") {
        Some("code") => {}
        None => return Err(bad("invalid_request", "response_type is required")),
        Some(other) => {
            return Err(bad("unsupported_response_type", format!("response_type {other:?} is not supported")));
        }
    }
    if !client.grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) {
        return Err(bad("unauthorized_client", "this client may not use the authorization code flow"));
    }
    let response_mode = match get("response_mode") {
        None | Some("query") => "query",
        Some("form_post") => "form_post",
        Some(other) => return Err(bad("invalid_request", format!("response_mode {other:?} is not supported"))),
    };
    let mut scope: Vec<String> = Vec::new();
    for s in get("scope").unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !SCOPES.contains(&s) || !client.allowed_scopes.iter().any(|a| a == s) {
            return Err(bad("invalid_scope", format!("scope {s:?} is not allowed for this client")));
        }
        if !scope.iter().any(|x| x == s) {
            scope.push(s.to_owned());
        }
    }
    if scope.is_empty() {
        return Err(bad("invalid_scope", "scope is required (openid for OpenID Connect)"));
    }
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) if client.client_type == ClientType::Public => {
            return Err(bad("invalid_request", "public clients must use PKCE (code_challenge with S256)"));
        }
        (None, None) => None,
        (None, Some(_)) => return Err(bad("invalid_request", "code_challenge_method without code_challenge")),
        (Some(c), Some("S256")) if is_pkce_text(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => return Err(bad("invalid_request", "code_challenge is malformed")),
        (Some(_), _) => return Err(bad("invalid_request", "code_challenge_method must be S256")),
    };
    let prompt: Vec<String> =
        get("prompt").unwrap_or("").split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if let Some(unknown) = prompt.iter().find(|v| !["none", "login", "consent", "select_account"].contains(&v.as_str()))
    {
        return Err(bad("invalid_request", format!("prompt {unknown:?} is not supported")));
    }
    if prompt.iter().any(|v| v == "none") && prompt.len() > 1 {
        return Err(bad("invalid_request", "prompt=none cannot be combined with other values"));
    }
    let max_age = match get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad("invalid_request", "max_age must be a non-negative integer"))?,
        ),
    };
    // A SHA-256 thumbprint: 43 base64url characters.
    let dpop_jkt = match get("dpop_jkt") {
        None => None,
        Some(jkt) if jkt.len() == 43 && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Some(jkt.to_owned())
        }
        Some(_) => return Err(bad("invalid_request", "dpop_jkt must be a SHA-256 JWK thumbprint")),
    };
    let claims = match get("claims") {
        None => None,
        Some(text) => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|_| bad("invalid_request", "claims must be a JSON object"))?;
            if !value.is_object() {
                return Err(bad("invalid_request", "claims must be a JSON object"));
            }
            Some(value)
        }
    };
    Ok(AuthParams {
        redirect_uri,
        scope,
        state: get("state").map(str::to_owned),
        nonce: get("nonce").map(str::to_owned),
        code_challenge,
        response_mode: response_mode.to_owned(),
        prompt,
        max_age,
        login_hint: get("login_hint").map(str::to_owned),
        acr_values: get("acr_values").unwrap_or("").split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        claims,
        hinted_session: None,
        dpop_jkt,
    })
}

impl Services {
    /// The client and exact redirect URI of a request, or the fatal error to show.
    async fn client_and_redirect(
        &self,
        org_id: &str,
        p: &HashMap<String, String>,
    ) -> OidcResult<(Arc<OidcClient>, String)> {
        let Some(client_id) = p.get("client_id").filter(|c| ids::is_valid_id(ids::OIDC_CLIENT, c)) else {
            return Err(bad("invalid_request", "client_id is missing or unknown").into());
        };
        let client = match self.cached_oidc_client(client_id).await? {
            Some((client, _)) if client.org_id == org_id => client,
            _ => return Err(bad("invalid_request", "client_id is missing or unknown").into()),
        };
        let Some(redirect_uri) = p.get("redirect_uri").filter(|r| client.redirect_uris.iter().any(|u| u == *r)) else {
            return Err(bad("invalid_request", "redirect_uri is missing or not registered for this client").into());
        };
        let redirect_uri = redirect_uri.clone();
        Ok((client, redirect_uri))
    }

    /// `GET|POST /authorize`: validates the request and keeps it (or takes the pushed one named by
    /// `request_uri`). Returns the pending request's id, for the sign-in and consent pages.
    pub async fn start_authorization(
        &self,
        org_id: &str,
        p: &HashMap<String, String>,
    ) -> std::result::Result<String, AuthorizeError> {
        if let Some(uri) = p.get("request_uri") {
            return self.pushed_request(org_id, p, uri).await;
        }
        let (client, redirect_uri) = self.client_and_redirect(org_id, p).await?;
        let form_post = p.get("response_mode").is_some_and(|m| m == "form_post");
        let state = p.get("state").map(String::as_str);
        let mut params = match validate_params(&client, p, redirect_uri.clone()) {
            Ok(params) => params,
            Err(e) => {
                let r = error_redirect(&self.issuer(org_id), &redirect_uri, form_post, state, e);
                return Err(AuthorizeError::Redirect(r));
            }
        };
        if let Some(hint) = p.get("login_hint_token").filter(|h| !h.is_empty()) {
            match self.spend_login_hint(org_id, &client.id, hint).await? {
                Some(session_id) => params.hinted_session = Some(session_id),
                None => {
                    let e = bad("invalid_request", "login_hint_token is invalid, expired, used or for another client");
                    let r = error_redirect(&self.issuer(org_id), &redirect_uri, form_post, state, e);
                    return Err(AuthorizeError::Redirect(r));
                }
            }
        }
        let id = self.keep_request(org_id, &client, params, REQUEST_TTL).await?;
        Ok(id)
    }

    async fn keep_request(
        &self,
        org_id: &str,
        client: &OidcClient,
        params: AuthParams,
        ttl: Duration,
    ) -> Result<String> {
        let now = self.now();
        let request = AuthRequest {
            id: crate::crypto::new_opaque_token(ids::OIDC_AUTH_REQUEST),
            org_id: org_id.to_owned(),
            client_id: client.id.clone(),
            params,
            expires_at: now + ttl,
            used_at: None,
            created_at: now,
        };
        self.store.insert_auth_request(&request).await?;
        Ok(request.id)
    }

    /// `/authorize?client_id=…&request_uri=…`: a request pushed earlier by the same client.
    async fn pushed_request(
        &self,
        org_id: &str,
        p: &HashMap<String, String>,
        uri: &str,
    ) -> std::result::Result<String, AuthorizeError> {
        let fatal = |d: &str| Err(AuthorizeError::Fatal(bad("invalid_request_uri", d)));
        let Some(id) = uri.strip_prefix(REQUEST_URI_PREFIX) else {
            return fatal("request_uri must come from this server's pushed authorization request endpoint");
        };
        let Some(request) = self.store.find_auth_request(id).await? else {
            return fatal("request_uri is unknown or expired");
        };
        let now = self.now();
        let pushed_window = request.created_at + Duration::seconds(PAR_TTL_SECS);
        if request.org_id != org_id
            || p.get("client_id") != Some(&request.client_id)
            || request.used_at.is_some()
            || now >= pushed_window
        {
            return fatal("request_uri is unknown, expired, used or belongs to another client");
        }
        Ok(request.id)
    }

    /// `POST /par` (RFC 9126): a client-authenticated request, validated like `/authorize`; the answer's
    /// `request_uri` stands in for the parameters there.
    pub async fn push_authorization_request(
        &self,
        org_id: &str,
        auth: &ClientAuth,
        p: &HashMap<String, String>,
    ) -> OidcResult<(String, i64)> {
        let client = self.authenticate_oidc_client(org_id, auth).await?;
        if p.contains_key("request_uri") {
            return Err(bad("invalid_request", "request_uri cannot be pushed").into());
        }
        if p.get("client_id").is_some_and(|c| *c != client.id) {
            return Err(bad("invalid_request", "client_id differs from the authenticated client").into());
        }
        let Some(redirect_uri) = p.get("redirect_uri").filter(|r| client.redirect_uris.iter().any(|u| u == *r)) else {
            return Err(bad("invalid_request", "redirect_uri is missing or not registered for this client").into());
        };
        let params = match validate_params(&client, p, redirect_uri.clone()) {
            Ok(params) => params,
            Err(e) => return Err(e.into()),
        };
        let id = self.keep_request(org_id, &client, params, REQUEST_TTL).await?;
        Ok((format!("{REQUEST_URI_PREFIX}{id}"), PAR_TTL_SECS))
    }
}
