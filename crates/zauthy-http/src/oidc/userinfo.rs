//! `GET|POST /o/{org_id}/userinfo` (OIDC Core §5.3, bearer token per RFC 6750) and `POST /o/{org_id}/revoke`
//! (RFC 7009, client-authenticated; unknown tokens answer 200 like revoked ones).

use super::form::OAuthForm;
use super::token::{BodyCredentials, client_auth, no_store_json, oauth_error};
use crate::error::ApiResult;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use zauthy_core::oidc::OAuthError;

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserinfoForm {
    /// The access token in the body (RFC 6750 §2.2), when not in `Authorization: Bearer`.
    pub access_token: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// RFC 6750 §3: 401 with `WWW-Authenticate: Bearer error=…`.
fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response =
        (status, axum::Json(serde_json::json!({"error": error, "error_description": description}))).into_response();
    let challenge = format!(r#"Bearer error="{error}", error_description="{description}""#);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn answer_userinfo(state: &AppState, org_id: &str, token: Option<String>) -> ApiResult<Response> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(bearer_error(StatusCode::UNAUTHORIZED, "invalid_request", "an access token is required"));
    };
    Ok(match state.services.userinfo(org_id, &token).await? {
        Some(claims) => no_store_json(claims),
        None => {
            bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is invalid, expired or revoked")
        }
    })
}

/// The signed-in user's claims for the scopes granted to the token (`sub` always).
#[utoipa::path(get, path = "/o/{org_id}/userinfo", tag = "oidc", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    responses(
        (status = 200, description = "sub and the standard claims of the granted scopes", content_type = "application/json"),
        (status = 401, description = "invalid_token (WWW-Authenticate: Bearer)")))]
pub async fn userinfo_get(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    answer_userinfo(&state, &org_id, bearer(&headers)).await
}

/// The same as `GET`, with the token in the header or the form body.
#[utoipa::path(post, path = "/o/{org_id}/userinfo", tag = "oidc", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = UserinfoForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "claims"), (status = 401, description = "invalid_token")))]
pub async fn userinfo_post(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
    form: Result<Form<UserinfoForm>, FormRejection>,
) -> ApiResult<Response> {
    let from_body = form.ok().and_then(|Form(f)| f.access_token);
    let token = match (bearer(&headers), from_body) {
        (Some(_), Some(_)) => {
            return Ok(bearer_error(StatusCode::BAD_REQUEST, "invalid_request", "send the token only once"));
        }
        (header, body) => header.or(body),
    };
    answer_userinfo(&state, &org_id, token).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeForm {
    pub token: Option<String>,
    /// `access_token` or `refresh_token`; optional, the server finds out.
    #[serde(rename = "token_type_hint")]
    pub _token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

/// Revokes a refresh or access token of the calling client, and every token of the same grant.
#[utoipa::path(post, path = "/o/{org_id}/revoke", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or was not a live token of this client"),
        (status = 400, description = "invalid_request"),
        (status = 413, description = "invalid_request: the body is over the size limit"),
        (status = 401, description = "invalid_client")))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<RevokeForm>,
) -> ApiResult<Response> {
    let credentials = BodyCredentials {
        client_id: form.client_id.as_ref(),
        client_secret: form.client_secret.as_ref(),
        assertion_type: form.client_assertion_type.as_ref(),
        assertion: form.client_assertion.as_ref(),
    };
    let auth = match client_auth(&headers, credentials) {
        Ok(auth) => auth,
        Err(e) => return Ok(oauth_error(&e)),
    };
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return Ok(oauth_error(&OAuthError::new("invalid_request", "token is required")));
    };
    Ok(match state.services.revoke_oidc_token(&org_id, &auth, &token).await? {
        Ok(()) => no_store_json(serde_json::json!({})),
        Err(e) => oauth_error(&e),
    })
}
