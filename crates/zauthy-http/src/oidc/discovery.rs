//! `GET /o/{org_id}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 and RFC 8414 metadata)
//! and `POST /o/{org_id}/par` (pushed authorization requests, RFC 9126).

use super::token::{BodyCredentials, client_auth, no_store_json, oauth_error};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use zauthy_core::oidc::OAuthError;

/// The issuer's metadata: where its endpoints are and what it supports.
#[utoipa::path(get, path = "/o/{org_id}/.well-known/openid-configuration", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    responses((status = 200, description = "OpenID provider metadata", content_type = "application/json"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn openid_configuration(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
) -> ApiResult<Response> {
    state.services.store.find_org(&org_id).await?.ok_or_else(ApiError::not_found)?;
    let mut response = axum::Json(state.services.provider_metadata(&org_id)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

/// Push the parameters of an authorization request; use the answer's `request_uri` with `client_id` at
/// `/authorize`. Client-authenticated like the token endpoint.
#[utoipa::path(post, path = "/o/{org_id}/par", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    request_body(content = HashMap<String, String>, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "{\"request_uri\", \"expires_in\"}", content_type = "application/json"),
        (status = 400, description = "invalid_request, invalid_scope, …"),
        (status = 401, description = "invalid_client")))]
pub async fn par(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> ApiResult<Response> {
    let Ok(Form(mut form)) = form else {
        return Ok(oauth_error(&OAuthError::new("invalid_request", "the body must be form-encoded")));
    };
    let secret = form.remove("client_secret");
    let assertion_type = form.remove("client_assertion_type");
    let assertion = form.remove("client_assertion");
    let credentials = BodyCredentials {
        client_id: form.get("client_id"),
        client_secret: secret.as_ref(),
        assertion_type: assertion_type.as_ref(),
        assertion: assertion.as_ref(),
    };
    let auth = match client_auth(&headers, credentials) {
        Ok(auth) => auth,
        Err(e) => return Ok(oauth_error(&e)),
    };
    Ok(match state.services.push_authorization_request(&org_id, &auth, &form).await? {
        Ok((request_uri, expires_in)) => {
            let mut response = no_store_json(serde_json::json!({"request_uri": request_uri, "expires_in": expires_in}));
            *response.status_mut() = StatusCode::CREATED;
            response
        }
        Err(e) => oauth_error(&e),
    })
}
