//! `POST /o/{org_id}/token` (RFC 6749 §3.2): form-encoded, client authentication by `client_secret_basic`,
//! `client_secret_post` or `none`; errors are RFC 6749 §5.2 `{"error","error_description"}` (not the API's
//! `{"detail","error"}`), every answer `Cache-Control: no-store`.

use super::oauth::{ClientForm, no_store_json, oauth_answer, with_credentials};
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use zauthy_core::oidc::{GRANT_CIBA, GRANT_DEVICE_CODE, OAuthError};

use super::dpop::{self, Proof, Role};
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

with_credentials!(TokenForm);

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
    ClientForm { form, auth }: ClientForm<TokenForm>,
) -> ApiResult<Response> {
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
    let services = &state.services;
    let answer = match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let (code, redirect, verifier) =
                (form.code.as_deref(), form.redirect_uri.as_deref(), form.code_verifier.as_deref());
            services.authorization_code_grant(&org_id, &auth, code, redirect, verifier, dpop).await
        }
        Some("refresh_token") => {
            let (token, scope) = (form.refresh_token.as_deref(), form.scope.as_deref());
            services.client_refresh_grant(&org_id, &auth, token, scope, dpop).await
        }
        Some("client_credentials") => {
            services.client_credentials_grant(&org_id, &auth, form.scope.as_deref(), dpop).await
        }
        Some(GRANT_DEVICE_CODE) => services.device_code_grant(&org_id, &auth, form.device_code.as_deref(), dpop).await,
        Some(GRANT_CIBA) => services.ciba_grant(&org_id, &auth, form.auth_req_id.as_deref(), dpop).await,
        None => Err(OAuthError::new("invalid_request", "grant_type is required").into()),
        Some(other) => {
            Err(OAuthError::new("unsupported_grant_type", format!("grant_type {other:?} is not supported")).into())
        }
    };
    let response = oauth_answer(answer, no_store_json)?;
    Ok(dpop::answer(&state, &org_id, &headers, response))
}
