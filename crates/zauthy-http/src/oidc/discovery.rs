//! `GET /o/{org_id}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0), the same metadata at
//! RFC 8414's `/.well-known/oauth-authorization-server/o/{org_id}` (and under the issuer),
//! and `POST /o/{org_id}/par` (pushed authorization requests, RFC 9126).

use super::oauth::{ClientForm, no_store_json, oauth_answer};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// The issuer's metadata: where its endpoints are and what it supports.
#[utoipa::path(get, path = "/o/{org_id}/.well-known/openid-configuration", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    responses((status = 200, description = "OpenID provider metadata", content_type = "application/json"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn openid_configuration(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
) -> ApiResult<Response> {
    metadata(&state, &org_id).await
}

/// The issuer's OAuth 2.0 authorization server metadata (RFC 8414), at the location §3.1 gives for an issuer
/// with a path: the well-known segment between the host and the issuer's path. The same document as discovery.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server/o/{org_id}", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    responses((status = 200, description = "Authorization server metadata", content_type = "application/json"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn authorization_server_metadata(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
) -> ApiResult<Response> {
    metadata(&state, &org_id).await
}

/// RFC 8414 metadata under the issuer, as discovery is served (what many clients try first).
#[utoipa::path(get, path = "/o/{org_id}/.well-known/oauth-authorization-server", tag = "oidc",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    responses((status = 200, description = "Authorization server metadata", content_type = "application/json"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn authorization_server_metadata_under_issuer(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
) -> ApiResult<Response> {
    metadata(&state, &org_id).await
}

async fn metadata(state: &AppState, org_id: &str) -> ApiResult<Response> {
    state.services.store.find_org(org_id).await?.ok_or_else(ApiError::not_found)?;
    let mut response = axum::Json(state.services.provider_metadata(org_id)).into_response();
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
        (status = 413, description = "invalid_request: the body is over the size limit"),
        (status = 401, description = "invalid_client")))]
pub async fn par(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    ClientForm { form, auth }: ClientForm<HashMap<String, String>>,
) -> ApiResult<Response> {
    oauth_answer(state.services.push_authorization_request(&org_id, &auth, &form).await, |(request_uri, expires_in)| {
        let mut response = no_store_json(serde_json::json!({"request_uri": request_uri, "expires_in": expires_in}));
        *response.status_mut() = StatusCode::CREATED;
        response
    })
}
