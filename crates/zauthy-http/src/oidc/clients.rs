//! `/oidc/clients`: register, list, read, update and delete service providers, and rotate their secrets.

use crate::dto::{SuccessResponse, rfc3339};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::oidc::{ClientInput, ClientUpdate, OidcClient};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    #[schema(example = "Acme Web")]
    pub name: String,
    /// `confidential` (default; gets a secret) or `public` (browser/native app; PKCE S256, no secret).
    #[schema(example = "confidential")]
    pub client_type: Option<String>,
    /// Exact-match redirect URIs: https, or http only for localhost.
    #[schema(example = json!(["https://acme.example/callback"]))]
    pub redirect_uris: Vec<String>,
    /// Default `["openid", "profile", "email"]`; any of openid, profile, email, phone, address, offline_access.
    pub allowed_scopes: Option<Vec<String>>,
    /// Default `["authorization_code", "refresh_token"]`; also client_credentials, device code and CIBA.
    pub grant_types: Option<Vec<String>>,
    /// `client_secret_basic` (default), `client_secret_post`, `private_key_jwt` (with `jwks`), `none` (public).
    pub token_endpoint_auth_method: Option<String>,
    /// The client's public keys (a JWK Set), for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// `RS256` (default, what OpenID Connect requires), `ES256` or `EdDSA`.
    pub id_token_signed_response_alg: Option<String>,
    /// Ask for a second factor before consent.
    pub require_mfa: Option<bool>,
    /// Where `end_session` may send the browser after sign-out (exact match, like redirect URIs).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// OpenID Connect Back-Channel Logout: zauthy POSTs a `logout_token` here when a session this client
    /// holds ends. Held to the webhook URL rules (https, a public address).
    #[schema(example = "https://acme.example/backchannel-logout")]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (zauthy always includes it).
    pub backchannel_logout_session_required: Option<bool>,
    /// `public` (default: `sub` is the user's id) or `pairwise` (OIDC Core §8.1: a `sub` derived for the
    /// host of the redirect URIs, which must then all be on that one host; unlinkable across hosts).
    #[schema(example = "public")]
    pub subject_type: Option<String>,
    /// RFC 9449 §5.2: every token request of this client must carry a DPoP proof, so its access tokens are
    /// always bound to the client's key (default false: DPoP is used when the client sends a proof).
    pub dpop_bound_access_tokens: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub allowed_scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    /// `null` removes the keys.
    #[serde(default, deserialize_with = "crate::dto::nullable")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Option<Value>>,
    pub id_token_signed_response_alg: Option<String>,
    pub require_mfa: Option<bool>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::dto::nullable")]
    pub backchannel_logout_uri: Option<Option<String>>,
    pub backchannel_logout_session_required: Option<bool>,
    /// Changing it changes the `sub` every user has at this client.
    pub subject_type: Option<String>,
    pub dpop_bound_access_tokens: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientResponse {
    #[schema(example = "cli_abc123")]
    pub client_id: String,
    pub name: String,
    pub client_type: &'static str,
    pub redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub id_token_signed_response_alg: String,
    pub require_mfa: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub subject_type: &'static str,
    /// A pairwise client's sector: the host its users' `sub` is derived for (or its id, without redirect URIs).
    pub sector_identifier: Option<String>,
    /// Token requests without a DPoP proof are refused.
    pub dpop_bound_access_tokens: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<OidcClient> for ClientResponse {
    fn from(c: OidcClient) -> Self {
        Self {
            client_id: c.id,
            name: c.name,
            client_type: c.client_type.as_str(),
            redirect_uris: c.redirect_uris,
            allowed_scopes: c.allowed_scopes,
            grant_types: c.grant_types,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            jwks: c.jwks,
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            require_mfa: c.require_mfa,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            backchannel_logout_uri: c.backchannel_logout_uri,
            backchannel_logout_session_required: c.backchannel_logout_session_required,
            subject_type: c.subject_type.as_str(),
            sector_identifier: c.sector_identifier,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClientResponse {
    #[serde(flatten)]
    pub client: ClientResponse,
    /// Shown only now (confidential clients); stored as a hash.
    #[schema(example = "cs_...")]
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ClientResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecretResponse {
    pub client_id: String,
    /// The new secret, shown only now; the previous one stopped working.
    pub client_secret: String,
}

/// Register a service provider. Permissions: API key, or an owner or admin.
#[utoipa::path(post, path = "/oidc/clients", tag = "oidc", security(("bearer" = [])), request_body = CreateClientRequest,
    responses((status = 201, body = CreatedClientResponse),
        (status = 400, body = ErrorBody, description = "invalid_redirect_uri, invalid_scope, invalid_grant_type, invalid_auth_method, invalid_jwks, invalid_signing_alg, invalid_client_type, invalid_name, invalid_backchannel_logout_uri, invalid_subject_type"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_client(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<CreateClientRequest>,
) -> ApiResult<(StatusCode, Json<CreatedClientResponse>)> {
    let input = ClientInput {
        name: body.name,
        client_type: body.client_type,
        redirect_uris: body.redirect_uris,
        allowed_scopes: body.allowed_scopes,
        grant_types: body.grant_types,
        token_endpoint_auth_method: body.token_endpoint_auth_method,
        jwks: body.jwks,
        id_token_signed_response_alg: body.id_token_signed_response_alg,
        require_mfa: body.require_mfa,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        backchannel_logout_uri: body.backchannel_logout_uri,
        backchannel_logout_session_required: body.backchannel_logout_session_required,
        subject_type: body.subject_type,
        dpop_bound_access_tokens: body.dpop_bound_access_tokens,
    };
    let created = state.services.create_oidc_client(&actor, input).await?;
    let body = CreatedClientResponse { client: created.client.into(), client_secret: created.client_secret };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The organization's service providers. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/oidc/clients", tag = "oidc", security(("bearer" = [])),
    responses((status = 200, body = ClientList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_clients(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<ClientList>> {
    let clients = state.services.list_oidc_clients(&actor).await?;
    Ok(Json(ClientList { clients: clients.into_iter().map(Into::into).collect() }))
}

/// One service provider. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/oidc/clients/{client_id}", tag = "oidc", security(("bearer" = [])), params(("client_id" = String, Path)),
    responses((status = 200, body = ClientResponse), (status = 404, body = ErrorBody)))]
pub async fn get_client(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(client_id): ApiPath<String>,
) -> ApiResult<Json<ClientResponse>> {
    Ok(Json(state.services.get_oidc_client(&actor, &client_id).await?.into()))
}

/// Change a service provider; fields left out keep their value. Permissions: API key, or an owner or admin.
#[utoipa::path(patch, path = "/oidc/clients/{client_id}", tag = "oidc", security(("bearer" = [])), params(("client_id" = String, Path)),
    request_body = UpdateClientRequest,
    responses((status = 200, body = ClientResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_client(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(client_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateClientRequest>,
) -> ApiResult<Json<ClientResponse>> {
    let update = ClientUpdate {
        name: body.name,
        redirect_uris: body.redirect_uris,
        allowed_scopes: body.allowed_scopes,
        grant_types: body.grant_types,
        token_endpoint_auth_method: body.token_endpoint_auth_method,
        jwks: body.jwks,
        id_token_signed_response_alg: body.id_token_signed_response_alg,
        require_mfa: body.require_mfa,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        backchannel_logout_uri: body.backchannel_logout_uri,
        backchannel_logout_session_required: body.backchannel_logout_session_required,
        subject_type: body.subject_type,
        dpop_bound_access_tokens: body.dpop_bound_access_tokens,
    };
    Ok(Json(state.services.update_oidc_client(&actor, &client_id, update).await?.into()))
}

/// Remove a service provider. Permissions: API key, or an owner or admin.
#[utoipa::path(delete, path = "/oidc/clients/{client_id}", tag = "oidc", security(("bearer" = [])), params(("client_id" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 404, body = ErrorBody)))]
pub async fn delete_client(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(client_id): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.delete_oidc_client(&actor, &client_id).await?;
    Ok(SuccessResponse::ok())
}

/// Issue a new client secret (shown once); the old one stops working at once. Permissions: API key, or an
/// owner or admin.
#[utoipa::path(post, path = "/oidc/clients/{client_id}/rotate-secret", tag = "oidc", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = ClientSecretResponse),
        (status = 400, body = ErrorBody, description = "invalid_client_type (public clients have no secret)"),
        (status = 404, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(client_id): ApiPath<String>,
) -> ApiResult<Json<ClientSecretResponse>> {
    let client_secret = state.services.rotate_oidc_client_secret(&actor, &client_id).await?;
    Ok(Json(ClientSecretResponse { client_id, client_secret }))
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_client, list_clients))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(rotate_secret))
}
