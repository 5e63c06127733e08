//! `/organizations/me/oauth-providers`: the organization's social login providers (Google, Apple, any OpenID
//! issuer), configured by admins. Secrets and Apple keys go in and never come out.

use crate::dto::{SuccessResponse, rfc3339};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::federation::{OAuthProvider, ProviderInput, ProviderUpdate};

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderType {
    Google,
    Apple,
    Oidc,
}

impl ProviderType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Apple => "apple",
            Self::Oidc => "oidc",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderRequest {
    /// `google` and `apple` are presets; `oidc` is any OpenID provider by `discovery_url`.
    #[serde(rename = "type")]
    pub kind: ProviderType,
    /// Its name in `/auth/oauth/*` (`"provider": "google"`): lowercase letters, digits, `-`, `_`. Defaults to
    /// the type for the presets; required for `oidc`.
    #[schema(example = "google")]
    pub provider: Option<String>,
    /// The button label; defaults to "Google", "Apple" or the provider name.
    pub display_name: Option<String>,
    /// The client id the upstream gave you (Apple: the Services ID).
    #[schema(example = "1234567890-abc.apps.googleusercontent.com")]
    pub client_id: String,
    /// Required unless the type is `apple` or the auth method is `none`. Stored encrypted, never shown again.
    pub client_secret: Option<String>,
    /// `https://issuer/.well-known/openid-configuration`: required for `oidc`, an override for the presets.
    pub discovery_url: Option<String>,
    /// Defaults: `openid email profile` (Apple: `name email`).
    pub scopes: Option<Vec<String>>,
    /// `client_secret_basic` (default for oidc) or `client_secret_post` (default for the presets), or `none`.
    pub token_endpoint_auth_method: Option<String>,
    /// `query` (default) or `form_post` (Apple's default).
    pub response_mode: Option<String>,
    /// Apple: the team id that signs the client secret.
    pub team_id: Option<String>,
    /// Apple: the id of the Sign in with Apple key.
    pub key_id: Option<String>,
    /// Apple: the key's `.p8` file contents (PKCS#8 PEM). Stored encrypted, never shown again.
    pub private_key: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Whether an unknown upstream identity creates a user. Default true.
    pub allow_signup: Option<bool>,
    /// Whether an identity with a verified email signs in to the verified account with that email. Default
    /// false: existing accounts are reached only by an explicit link.
    pub link_by_verified_email: Option<bool>,
}

/// A partial update: fields left out keep their value; `discovery_url: null` returns a preset to its own
/// endpoints.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProviderRequest {
    pub display_name: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub discovery_url: Option<Option<String>>,
    pub scopes: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub response_mode: Option<String>,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub private_key: Option<String>,
    pub enabled: Option<bool>,
    pub allow_signup: Option<bool>,
    pub link_by_verified_email: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderResponse {
    #[schema(example = "google")]
    pub provider: String,
    /// `google`, `apple` or `oidc`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub display_name: String,
    pub client_id: String,
    pub has_client_secret: bool,
    pub discovery_url: Option<String>,
    /// The issuer every ID token must name.
    pub issuer: String,
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub response_mode: &'static str,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub has_private_key: bool,
    pub enabled: bool,
    pub allow_signup: bool,
    pub link_by_verified_email: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<OAuthProvider> for ProviderResponse {
    fn from(p: OAuthProvider) -> Self {
        Self {
            provider: p.slug,
            kind: p.kind.as_str(),
            display_name: p.display_name,
            client_id: p.client_id,
            has_client_secret: p.client_secret_enc.is_some(),
            discovery_url: p.discovery_url,
            issuer: p.issuer,
            scopes: p.scopes,
            token_endpoint_auth_method: p.token_endpoint_auth_method,
            response_mode: p.response_mode.as_str(),
            team_id: p.apple_team_id,
            key_id: p.apple_key_id,
            has_private_key: p.apple_private_key_enc.is_some(),
            enabled: p.enabled,
            allow_signup: p.allow_signup,
            link_by_verified_email: p.link_by_verified_email,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderResponse>,
}

/// Configure a social login provider. A `discovery_url` is fetched and checked now (issuer, endpoints,
/// code flow, S256). Permissions: API key, or an owner or admin.
#[utoipa::path(post, path = "/organizations/me/oauth-providers", tag = "social login", security(("bearer" = [])),
    request_body = CreateProviderRequest,
    responses((status = 201, body = ProviderResponse),
        (status = 400, body = ErrorBody, description = "invalid_request, invalid_oauth_provider, invalid_discovery_url, invalid_apple_key"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "oauth_provider_exists"),
        (status = 502, body = ErrorBody, description = "discovery_failed")))]
pub async fn create_provider(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<CreateProviderRequest>,
) -> ApiResult<(StatusCode, Json<ProviderResponse>)> {
    let input = ProviderInput {
        provider: b.provider,
        kind: b.kind.as_str().to_owned(),
        display_name: b.display_name,
        client_id: b.client_id,
        client_secret: b.client_secret,
        discovery_url: b.discovery_url,
        scopes: b.scopes,
        token_endpoint_auth_method: b.token_endpoint_auth_method,
        response_mode: b.response_mode,
        team_id: b.team_id,
        key_id: b.key_id,
        private_key: b.private_key,
        enabled: b.enabled,
        allow_signup: b.allow_signup,
        link_by_verified_email: b.link_by_verified_email,
    };
    let provider = state.services.create_oauth_provider(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(provider.into())))
}

/// Every configured provider, enabled or not. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/organizations/me/oauth-providers", tag = "social login", security(("bearer" = [])),
    responses((status = 200, body = ProviderList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_providers(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<ProviderList>> {
    let providers = state.services.list_oauth_providers(&actor).await?;
    Ok(Json(ProviderList { providers: providers.into_iter().map(Into::into).collect() }))
}

/// One provider (never its secrets). Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/organizations/me/oauth-providers/{provider}", tag = "social login", security(("bearer" = [])),
    params(("provider" = String, Path)),
    responses((status = 200, body = ProviderResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_provider(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<ProviderResponse>> {
    Ok(Json(state.services.get_oauth_provider(&actor, &slug).await?.into()))
}

/// Change a provider; a new `discovery_url` is fetched and checked. Permissions: API key, or an owner or admin.
#[utoipa::path(patch, path = "/organizations/me/oauth-providers/{provider}", tag = "social login", security(("bearer" = [])),
    params(("provider" = String, Path)), request_body = UpdateProviderRequest,
    responses((status = 200, body = ProviderResponse),
        (status = 400, body = ErrorBody, description = "invalid_request, invalid_oauth_provider, invalid_discovery_url, invalid_apple_key"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody, description = "discovery_failed")))]
pub async fn update_provider(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateProviderRequest>,
) -> ApiResult<Json<ProviderResponse>> {
    let update = ProviderUpdate {
        display_name: b.display_name,
        client_id: b.client_id,
        client_secret: b.client_secret,
        discovery_url: b.discovery_url,
        scopes: b.scopes,
        token_endpoint_auth_method: b.token_endpoint_auth_method,
        response_mode: b.response_mode,
        team_id: b.team_id,
        key_id: b.key_id,
        private_key: b.private_key,
        enabled: b.enabled,
        allow_signup: b.allow_signup,
        link_by_verified_email: b.link_by_verified_email,
    };
    Ok(Json(state.services.update_oauth_provider(&actor, &slug, update).await?.into()))
}

/// Remove a provider with every identity linked through it. Permissions: API key, or an owner or admin.
#[utoipa::path(delete, path = "/organizations/me/oauth-providers/{provider}", tag = "social login", security(("bearer" = [])),
    params(("provider" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_provider(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.delete_oauth_provider(&actor, &slug).await?;
    Ok(SuccessResponse::ok())
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_provider, list_providers)).routes(routes!(
        get_provider,
        update_provider,
        delete_provider
    ))
}
