//! Organizations, API keys, signing-key rotation and the per-organization JWKS.

use crate::dto::{TokenPair, UserResponse, rfc3339};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Client};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::accounts::Role;
use zauthy_core::orgs::{ApiKey, KeyEnvironment, NewOrganization, OrgSettings, OrgSettingsUpdate, Organization};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    #[schema(example = "My App")]
    pub name: String,
    #[schema(example = "you@example.com")]
    pub owner_email: String,
    #[schema(example = "SecureP@ss123")]
    pub owner_password: String,
    pub owner_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationResponse {
    #[schema(example = "org_abc123")]
    pub id: String,
    pub name: String,
    /// `free`, `pro` or `enterprise`.
    pub plan: &'static str,
    /// Where this organization publishes its token signing keys.
    pub jwks_uri: String,
    pub issuer: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrganizationBody {
    #[schema(example = "org_abc123")]
    pub id: String,
    pub name: String,
    pub plan: &'static str,
    /// The first API key, shown this once.
    #[schema(example = "sk_live_...")]
    pub api_key: String,
    pub api_key_id: String,
    pub jwks_uri: String,
    pub issuer: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateOrganizationResponse {
    pub organization: CreatedOrganizationBody,
    pub user: UserResponse,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(example = "Backend")]
    pub name: String,
    /// `live` (default) or `test`: only the prefix differs.
    #[serde(default)]
    pub environment: Option<KeyEnvironmentParam>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyEnvironmentParam {
    Live,
    Test,
}

impl From<KeyEnvironmentParam> for KeyEnvironment {
    fn from(p: KeyEnvironmentParam) -> Self {
        match p {
            KeyEnvironmentParam::Live => Self::Live,
            KeyEnvironmentParam::Test => Self::Test,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    #[schema(example = "key_abc123")]
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    #[schema(example = "sk_live_AbCd")]
    pub prefix: String,
    pub environment: &'static str,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyResponse {
    #[serde(flatten)]
    pub key: ApiKeyResponse,
    /// The secret, shown this once. Only its hash is stored.
    #[schema(example = "sk_live_...")]
    pub api_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKeyResponse {
    /// The key id (`kid`) that signs from now on.
    pub kid: String,
    pub jwks_uri: String,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            environment: k.environment.as_str(),
            created_at: rfc3339(k.created_at),
        }
    }
}

fn org_response(state: &AppState, o: Organization) -> OrganizationResponse {
    OrganizationResponse {
        jwks_uri: state.services.jwks_url(&o.id),
        issuer: state.services.issuer(&o.id),
        id: o.id,
        name: o.name,
        plan: o.plan.as_str(),
        created_at: rfc3339(o.created_at),
    }
}

/// Create an organization with its owner, first API key and a session for the owner. Public; rate limited
/// per client IP.
#[utoipa::path(post, path = "/organizations", tag = "organizations", request_body = CreateOrganizationRequest,
    responses(
        (status = 201, body = CreateOrganizationResponse),
        (status = 400, body = ErrorBody, description = "invalid_request, invalid_email, weak_password, invalid_name"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    ))]
pub async fn create_organization(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, Json<CreateOrganizationResponse>)> {
    let limits = &state.config.rate_limits;
    if limits.enabled {
        let key = format!("org-create:{}", client.ip.as_deref().unwrap_or("unknown"));
        let d = state.limiter.check(&key, limits.org_create_per_ip_per_hour, Duration::from_secs(3600));
        if !d.allowed {
            return Err(ApiError::rate_limited(d.reset_secs));
        }
    }
    let input = NewOrganization {
        name: body.name,
        owner_email: body.owner_email,
        owner_password: body.owner_password,
        owner_name: body.owner_name,
    };
    let created = state.services.create_organization(input, &client).await?;
    let org = org_response(&state, created.organization);
    let response = CreateOrganizationResponse {
        organization: CreatedOrganizationBody {
            id: org.id,
            name: org.name,
            plan: org.plan,
            api_key: created.api_key.secret,
            api_key_id: created.api_key.key.id,
            jwks_uri: org.jwks_uri,
            issuer: org.issuer,
            created_at: org.created_at,
        },
        user: created.owner.into(),
        tokens: created.tokens.into(),
    };
    Ok((StatusCode::CREATED, Json(response)))
}

/// The caller's organization. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/organizations/me", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, body = OrganizationResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_organization(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> ApiResult<Json<OrganizationResponse>> {
    let org = state.services.get_organization(&actor).await?;
    Ok(Json(org_response(&state, org)))
}

/// List API keys (prefixes only). Permissions: API key, or an owner.
#[utoipa::path(get, path = "/api-keys", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_api_keys(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<ApiKeyList>> {
    let keys = state.services.list_api_keys(&actor).await?;
    Ok(Json(ApiKeyList { api_keys: keys.into_iter().map(Into::into).collect() }))
}

/// Create an API key; the secret is in this response only. Permissions: API key, or an owner.
#[utoipa::path(post, path = "/api-keys", tag = "organizations", security(("bearer" = [])), request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKeyResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKeyResponse>)> {
    let created =
        state.services.create_api_key(&actor, &body.name, body.environment.map(Into::into).unwrap_or_default()).await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKeyResponse { key: created.key.into(), api_key: created.secret })))
}

/// Delete an API key; it stops working at once. Permissions: API key, or an owner.
#[utoipa::path(delete, path = "/api-keys/{key_id}", tag = "organizations", security(("bearer" = [])),
    params(("key_id" = String, Path, description = "The key's id (key_…)")),
    responses((status = 200, body = crate::dto::SuccessResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_api_key(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(key_id): ApiPath<String>,
) -> ApiResult<Json<crate::dto::SuccessResponse>> {
    state.services.delete_api_key(&actor, &key_id).await?;
    Ok(crate::dto::SuccessResponse::ok())
}

/// Start signing with a new key. The previous key stays in the JWKS until its last token expires.
/// Permissions: API key, or an owner.
#[utoipa::path(post, path = "/signing-keys/rotate", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, body = RotatedKeyResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn rotate_signing_key(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> ApiResult<Json<RotatedKeyResponse>> {
    let org_id = actor.require_admin(Role::Owner)?.to_owned();
    let kid = state.services.rotate_signing_key(&org_id, actor.user_id()).await?;
    Ok(Json(RotatedKeyResponse { kid, jwks_uri: state.services.jwks_url(&org_id) }))
}

/// The organization's public signing keys (RFC 7517), for verifying access tokens offline. Public.
#[utoipa::path(get, path = "/o/{org_id}/.well-known/jwks.json", tag = "organizations",
    params(("org_id" = String, Path, description = "The organization id (org_…)")),
    responses((status = 200, description = "A JWK Set", content_type = "application/json"), (status = 404, body = ErrorBody)))]
pub async fn jwks(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let set = state.services.jwks(&org_id).await?;
    // Short cache: rotations must reach verifiers well within an access token's lifetime.
    Ok(([(axum::http::header::CACHE_CONTROL, "public, max-age=300")], Json(set)))
}

/// An organization's sign-in settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgSettingsResponse {
    /// The exact URLs a magic link may send users to (`redirect_url` must equal one of them).
    pub allowed_redirect_urls: Vec<String>,
    /// Whether a magic link or one-time code to an unknown address creates an account when used.
    pub passwordless_signup: bool,
    /// The WebAuthn relying party id; `null` means the host of the server's public URL.
    pub webauthn_rp_id: Option<String>,
    /// Origins WebAuthn responses may come from; empty means the server's public URL.
    pub webauthn_origins: Vec<String>,
    /// The mobile network codes (MCC+MNC) this organization serves: carrier discovery with one of them
    /// answers with this organization's OpenID configuration.
    #[schema(example = json!(["310410"]))]
    pub mccmnc: Vec<String>,
    /// Approving a sign-in on another device asks for a second factor.
    pub approval_requires_mfa: bool,
}

impl From<OrgSettings> for OrgSettingsResponse {
    fn from(s: OrgSettings) -> Self {
        Self {
            allowed_redirect_urls: s.allowed_redirect_urls,
            passwordless_signup: s.passwordless_signup,
            webauthn_rp_id: s.webauthn_rp_id,
            webauthn_origins: s.webauthn_origins,
            mccmnc: s.mccmnc,
            approval_requires_mfa: s.approval_requires_mfa,
        }
    }
}

/// A partial update: fields left out keep their value; `webauthn_rp_id: null` returns to the default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgSettingsRequest {
    #[schema(example = json!(["https://yourapp.com/auth/callback"]))]
    pub allowed_redirect_urls: Option<Vec<String>>,
    pub passwordless_signup: Option<bool>,
    #[serde(default, deserialize_with = "crate::dto::nullable")]
    #[schema(value_type = Option<String>, example = "yourapp.com")]
    pub webauthn_rp_id: Option<Option<String>>,
    #[schema(example = json!(["https://yourapp.com"]))]
    pub webauthn_origins: Option<Vec<String>>,
    /// 5 or 6 digits each; a code another organization serves is refused with `mccmnc_taken`.
    #[schema(example = json!(["310410"]))]
    pub mccmnc: Option<Vec<String>>,
    pub approval_requires_mfa: Option<bool>,
}

/// The organization's sign-in settings. Permissions: API key, or an owner or admin.
#[utoipa::path(get, path = "/organizations/me/settings", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, body = OrgSettingsResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> ApiResult<Json<OrgSettingsResponse>> {
    Ok(Json(state.services.get_org_settings(&actor).await?.into()))
}

/// Change the organization's sign-in settings. Permissions: API key, or an owner or admin.
#[utoipa::path(patch, path = "/organizations/me/settings", tag = "organizations", security(("bearer" = [])),
    request_body = UpdateOrgSettingsRequest,
    responses((status = 200, body = OrgSettingsResponse),
        (status = 400, body = ErrorBody, description = "invalid_url, invalid_rp_id, invalid_mccmnc"),
        (status = 409, body = ErrorBody, description = "mccmnc_taken"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn update_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<UpdateOrgSettingsRequest>,
) -> ApiResult<Json<OrgSettingsResponse>> {
    let update = OrgSettingsUpdate {
        allowed_redirect_urls: body.allowed_redirect_urls,
        passwordless_signup: body.passwordless_signup,
        webauthn_rp_id: body.webauthn_rp_id,
        webauthn_origins: body.webauthn_origins,
        mccmnc: body.mccmnc,
        approval_requires_mfa: body.approval_requires_mfa,
    };
    Ok(Json(state.services.update_org_settings(&actor, update).await?.into()))
}

/// Routes under `/api/v1`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_organization))
        .routes(routes!(get_organization))
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(delete_api_key))
        .routes(routes!(rotate_signing_key))
}

/// Public routes at the root.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}
