//! `POST /o/{org_id}/token` (RFC 6749 §3.2): form-encoded, client authentication by `client_secret_basic`,
//! `client_secret_post` or `none`; errors are RFC 6749 §5.2 `{"error","error_description"}` (not the API's
//! `{"detail","error"}`), every answer `Cache-Control: no-store`.

use super::form::OAuthForm;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use zauthy_core::oidc::{ClientAuth, GRANT_CIBA, GRANT_DEVICE_CODE, OAuthError};

use super::dpop::{Proof, Role, sent_proof, with_nonce};
use crate::extract::ApiPath;

#[derive(Debug, Deserialize, ToSchema, IntoParams)]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token`, `client_credentials`, `urn:ietf:params:oauth:grant-type:device_code`
    /// or `urn:openid:params:grant-type:ciba`.
    pub grant_type: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and the signed JWT.
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// `authorization_code`: the code, the same redirect URI, the PKCE verifier.
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    /// `refresh_token`: the last refresh token (each works once).
    pub refresh_token: Option<String>,
    /// `urn:ietf:params:oauth:grant-type:device_code`: the device code from `/device_authorization`.
    pub device_code: Option<String>,
    /// `urn:openid:params:grant-type:ciba`: the `auth_req_id` from `/bc-authorize`.
    pub auth_req_id: Option<String>,
}

impl TokenForm {
    fn credentials(&self) -> BodyCredentials<'_> {
        BodyCredentials {
            client_id: self.client_id.as_ref(),
            client_secret: self.client_secret.as_ref(),
            assertion_type: self.client_assertion_type.as_ref(),
            assertion: self.client_assertion.as_ref(),
        }
    }
}

/// An RFC 6749 error answer: 401 with `WWW-Authenticate` for `invalid_client`, 400 otherwise.
pub(crate) fn oauth_error(e: &OAuthError) -> Response {
    let status = if e.error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    let mut response =
        (status, axum::Json(json!({"error": e.error, "error_description": e.description}))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="token""#));
    }
    response
}

/// What a client may send in the body to authenticate: `client_id` with a secret, or a signed
/// `client_assertion` (`private_key_jwt`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BodyCredentials<'a> {
    pub client_id: Option<&'a String>,
    pub client_secret: Option<&'a String>,
    pub assertion_type: Option<&'a String>,
    pub assertion: Option<&'a String>,
}

/// Reads the client's credentials from the `Authorization: Basic` header, the body's secret or the body's
/// assertion; more than one method at once is refused.
pub(crate) fn client_auth(headers: &HeaderMap, body: BodyCredentials<'_>) -> Result<ClientAuth, OAuthError> {
    let (client_id, client_secret) = (body.client_id, body.client_secret);
    if let Some(assertion) = body.assertion {
        if body.assertion_type.map(String::as_str) != Some(zauthy_core::oidc::ASSERTION_TYPE) {
            return Err(OAuthError::new("invalid_client", "client_assertion_type must be the jwt-bearer type"));
        }
        if client_secret.is_some() || headers.contains_key(header::AUTHORIZATION) {
            return Err(OAuthError::new("invalid_request", "use one client authentication method"));
        }
        let Some(subject) = zauthy_core::oidc::assertion_subject(assertion) else {
            return Err(OAuthError::new("invalid_client", "client_assertion is not a JWT"));
        };
        if client_id.is_some_and(|c| *c != subject) {
            return Err(OAuthError::new("invalid_client", "client_id differs from the assertion's subject"));
        }
        return Ok(ClientAuth::Jwt { client_id: subject, assertion: assertion.clone() });
    }
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim().to_owned())
    });
    match (basic, client_id, client_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::new("invalid_request", "use one client authentication method")),
        (Some(encoded), body_id, None) => {
            let decoded = BASE64.decode(encoded.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Err(OAuthError::new("invalid_client", "malformed Basic credentials"));
            };
            // RFC 6749 §2.3.1: both halves are form-urlencoded.
            let (id, secret) = (form_decode(id), form_decode(secret));
            if body_id.is_some_and(|b| *b != id) {
                return Err(OAuthError::new("invalid_request", "client_id differs from the Basic credentials"));
            }
            Ok(ClientAuth::Basic { client_id: id, secret })
        }
        (None, Some(id), Some(secret)) => Ok(ClientAuth::Post { client_id: id.clone(), secret: secret.clone() }),
        (None, Some(id), None) => Ok(ClientAuth::None { client_id: id.clone() }),
        (None, None, _) => Err(OAuthError::new("invalid_client", "client authentication is required")),
    }
}

/// `client_auth` for endpoints that take their parameters as a map (PAR, device authorization, CIBA): the
/// credentials are taken out, the rest stays for the request.
pub(crate) fn client_auth_from_map(
    headers: &HeaderMap,
    form: &mut std::collections::HashMap<String, String>,
) -> Result<ClientAuth, OAuthError> {
    let secret = form.remove("client_secret");
    let assertion_type = form.remove("client_assertion_type");
    let assertion = form.remove("client_assertion");
    let credentials = BodyCredentials {
        client_id: form.get("client_id"),
        client_secret: secret.as_ref(),
        assertion_type: assertion_type.as_ref(),
        assertion: assertion.as_ref(),
    };
    client_auth(headers, credentials)
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// The token endpoint. Grants: `authorization_code` (with PKCE), `refresh_token` (rotating),
/// `client_credentials`, the device code (RFC 8628) and CIBA's `auth_req_id` (poll mode), each for clients
/// registered for it. The last two answer `authorization_pending`, `slow_down`, `expired_token` or
/// `access_denied` until the user has approved.
#[utoipa::path(post, path = "/o/{org_id}/token", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "access_token, token_type, expires_in, scope, id_token, refresh_token", content_type = "application/json"),
        (status = 400, description = "invalid_request, invalid_grant, unsupported_grant_type, unauthorized_client, invalid_scope, authorization_pending, slow_down, expired_token, access_denied, invalid_dpop_proof, use_dpop_nonce (with a DPoP-Nonce header)"),
        (status = 413, description = "invalid_request: the body is over the size limit"),
        (status = 401, description = "invalid_client")))]
pub async fn token(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<TokenForm>,
) -> ApiResult<Response> {
    // The proof first: a client learns the nonce even before its credentials are checked.
    let proof = Proof {
        org_id: &org_id,
        method: "POST",
        endpoint: "/token",
        access_token: None,
        role: Role::AuthorizationServer,
    };
    let dpop = match proof.check(&state, &headers).await? {
        Ok(key) => key,
        Err(refused) => return Ok(refused),
    };
    let dpop = dpop.as_ref();
    let auth = match client_auth(&headers, form.credentials()) {
        Ok(auth) => auth,
        Err(e) => return Ok(oauth_error(&e)),
    };
    let services = &state.services;
    let answer = match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let (code, redirect, verifier) =
                (form.code.as_deref(), form.redirect_uri.as_deref(), form.code_verifier.as_deref());
            services.authorization_code_grant(&org_id, &auth, code, redirect, verifier, dpop).await?
        }
        Some("refresh_token") => {
            let (token, scope) = (form.refresh_token.as_deref(), form.scope.as_deref());
            services.client_refresh_grant(&org_id, &auth, token, scope, dpop).await?
        }
        Some("client_credentials") => {
            services.client_credentials_grant(&org_id, &auth, form.scope.as_deref(), dpop).await?
        }
        Some(GRANT_DEVICE_CODE) => {
            services.device_code_grant(&org_id, &auth, form.device_code.as_deref(), dpop).await?
        }
        Some(GRANT_CIBA) => services.ciba_grant(&org_id, &auth, form.auth_req_id.as_deref(), dpop).await?,
        None => Err(OAuthError::new("invalid_request", "grant_type is required")),
        Some(other) => Err(OAuthError::new("unsupported_grant_type", format!("grant_type {other:?} is not supported"))),
    };
    let response = match answer {
        Ok(tokens) => no_store_json(tokens),
        Err(e) => oauth_error(&e),
    };
    Ok(if sent_proof(&headers) { with_nonce(&state, &org_id, response) } else { response })
}

/// Public routes at the root.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(super::introspect::introspect))
        .routes(routes!(super::userinfo::userinfo_get, super::userinfo::userinfo_post))
        .routes(routes!(super::userinfo::revoke))
        .routes(routes!(super::discovery::par))
        .routes(routes!(super::device::device_authorization))
        .routes(routes!(super::ciba::backchannel_authentication))
        .routes(routes!(super::discovery::openid_configuration))
        .routes(routes!(super::discovery::authorization_server_metadata))
        .routes(routes!(super::discovery::authorization_server_metadata_under_issuer))
}

/// A JSON answer that must not be cached (tokens, token metadata).
pub(crate) fn no_store_json(body: impl serde::Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
