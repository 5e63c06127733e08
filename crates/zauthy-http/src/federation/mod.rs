//! Social login (`/auth/oauth/*`): the enabled providers, starting a sign-in or a link, the callback that
//! finishes both, the user's linked identities and unlinking; and the admin API for providers.

mod hosted;
mod providers;

pub use hosted::router as hosted_router;

use crate::accounts::LoginResponse;
use crate::dto::{SuccessResponse, UserResponse, rfc3339};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Client};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::federation::{
    CallbackInput, CallbackOutcome, FederatedIdentity, InitInput, InitOutcome, OAuthProvider,
};

pub use providers::{CreateProviderRequest, ProviderResponse, UpdateProviderRequest};

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProvider {
    /// What to send as `provider` to `/auth/oauth/init`.
    #[schema(example = "google")]
    pub provider: String,
    /// `google`, `apple` or `oidc`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[schema(example = "Google")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProviderList {
    pub providers: Vec<PublicProvider>,
}

/// List the organization's enabled social login providers. Permissions: API key or any signed-in user.
#[utoipa::path(get, path = "/auth/oauth/providers", tag = "social login", security(("bearer" = [])),
    responses((status = 200, body = PublicProviderList), (status = 401, body = ErrorBody)))]
pub async fn list_enabled(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<PublicProviderList>> {
    let providers = state.services.enabled_oauth_providers(&actor).await?;
    Ok(Json(PublicProviderList {
        providers: providers
            .into_iter()
            .map(|p| PublicProvider { provider: p.slug, kind: p.kind.as_str(), name: p.display_name })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    #[schema(example = "google")]
    pub provider: String,
    /// Where the provider sends the user back; must equal one of the organization's allowed_redirect_urls.
    #[schema(example = "https://yourapp.com/auth/callback")]
    pub redirect_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InitResponse {
    /// Send the user's browser here.
    #[schema(example = "https://accounts.google.com/o/oauth2/v2/auth?...")]
    pub authorization_url: String,
    /// The flow's state (also in the URL): keep it, e.g. in a cookie, to check the callback is yours.
    pub state: String,
    /// After this the flow must start again (10 minutes).
    pub expires_at: String,
}

impl From<InitOutcome> for InitResponse {
    fn from(o: InitOutcome) -> Self {
        Self { authorization_url: o.authorization_url, state: o.state, expires_at: rfc3339(o.expires_at) }
    }
}

/// Start a sign-in with a provider: state, nonce and PKCE (S256) are kept server side, single use, for 10
/// minutes. Permissions: API key.
#[utoipa::path(post, path = "/auth/oauth/init", tag = "social login", security(("bearer" = [])), request_body = InitRequest,
    responses((status = 200, body = InitResponse),
        (status = 400, body = ErrorBody, description = "oauth_provider_unavailable, invalid_redirect_url"),
        (status = 401, body = ErrorBody, description = "api_key_required"),
        (status = 502, body = ErrorBody, description = "discovery_failed")))]
pub async fn init(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<InitRequest>,
) -> ApiResult<Json<InitResponse>> {
    let input = InitInput { provider: body.provider, redirect_url: body.redirect_url };
    Ok(Json(state.services.oauth_init(&actor, input).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackRequest {
    /// The `state` the redirect URL received.
    pub state: String,
    /// The `code` the redirect URL received.
    pub code: Option<String>,
    /// Optional: checked against the provider the flow started with.
    pub provider: Option<String>,
    /// Optional: checked against the redirect URL the flow started with.
    pub redirect_url: Option<String>,
    /// The provider's `error` if it sent one instead of a code (e.g. `access_denied`).
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// Apple's `user` form field (JSON with the user's name), sent only the first time.
    pub user: Option<String>,
    /// The `iss` the redirect URL received (RFC 9207), if the provider sends one: it must be the provider's.
    pub iss: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityResponse {
    #[schema(example = "google")]
    pub provider: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The upstream's subject (`sub`) for the user.
    pub subject: String,
    pub email: Option<String>,
    pub created_at: String,
    pub last_login_at: Option<String>,
}

impl IdentityResponse {
    fn new(identity: FederatedIdentity, provider: &OAuthProvider) -> Self {
        Self {
            provider: provider.slug.clone(),
            kind: provider.kind.as_str(),
            subject: identity.subject,
            email: identity.email,
            created_at: rfc3339(identity.created_at),
            last_login_at: identity.last_login_at.map(rfc3339),
        }
    }
}

/// The callback's answer: for a sign-in exactly what `/login` answers (tokens, or `mfa_required`); for a
/// link the user and the new identity (`linked: true`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // serialized once, straight away
pub enum CallbackResponse {
    SignedIn(LoginResponse),
    Linked { linked: bool, user: UserResponse, identity: IdentityResponse },
}

/// Finish a sign-in or a link with what the provider sent to the redirect URL: the state is spent, the code
/// exchanged with the PKCE verifier, the ID token checked against the provider's JWKS (issuer, audience,
/// expiry, nonce, algorithm). A sign-in needs the API key; a link needs the access token of the user who
/// started it. An identity reaches an existing account only through a link, or a verified email when the
/// provider allows it.
#[utoipa::path(post, path = "/auth/oauth/callback", tag = "social login", security(("bearer" = [])), request_body = CallbackRequest,
    responses((status = 200, body = CallbackResponse),
        (status = 400, body = ErrorBody, description = "invalid_oauth_state, oauth_state_expired, oauth_state_used, oauth_state_mismatch, oauth_issuer_mismatch, oauth_denied, oauth_exchange_failed, oauth_email_missing, oauth_provider_unavailable"),
        (status = 401, body = ErrorBody, description = "invalid_id_token, api_key_required, user_token_required"),
        (status = 403, body = ErrorBody, description = "oauth_signup_disabled, user_blocked"),
        (status = 409, body = ErrorBody, description = "oauth_account_exists, oauth_identity_in_use, oauth_provider_already_linked"),
        (status = 502, body = ErrorBody, description = "oauth_upstream_error, discovery_failed")))]
pub async fn callback(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(b): ApiJson<CallbackRequest>,
) -> ApiResult<Json<CallbackResponse>> {
    let input = CallbackInput {
        state: b.state,
        code: b.code,
        provider: b.provider,
        redirect_url: b.redirect_url,
        error: b.error,
        error_description: b.error_description,
        user: b.user,
        iss: b.iss,
    };
    Ok(Json(match state.services.oauth_callback(&actor, input, &client).await? {
        CallbackOutcome::SignedIn(outcome) => CallbackResponse::SignedIn(outcome.into()),
        CallbackOutcome::Linked { user, provider, identity } => CallbackResponse::Linked {
            linked: true,
            user: user.into(),
            identity: IdentityResponse::new(identity, &provider),
        },
    }))
}

/// Start linking a provider to the signed-in user's account; finish with `/auth/oauth/callback` and the same
/// access token. Permissions: the user's access token.
#[utoipa::path(post, path = "/auth/oauth/link", tag = "social login", security(("bearer" = [])), request_body = InitRequest,
    responses((status = 200, body = InitResponse),
        (status = 400, body = ErrorBody, description = "oauth_provider_unavailable, invalid_redirect_url"),
        (status = 401, body = ErrorBody, description = "user_token_required"),
        (status = 409, body = ErrorBody, description = "oauth_provider_already_linked")))]
pub async fn link(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<InitRequest>,
) -> ApiResult<Json<InitResponse>> {
    let input = InitInput { provider: body.provider, redirect_url: body.redirect_url };
    Ok(Json(state.services.oauth_link_start(&actor, input).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<IdentityResponse>,
}

/// The signed-in user's linked providers. Permissions: the user's access token.
#[utoipa::path(get, path = "/auth/oauth/identities", tag = "social login", security(("bearer" = [])),
    responses((status = 200, body = IdentityList), (status = 401, body = ErrorBody)))]
pub async fn identities(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<IdentityList>> {
    let list = state.services.oauth_identities(&actor).await?;
    Ok(Json(IdentityList { identities: list.into_iter().map(|(i, p)| IdentityResponse::new(i, &p)).collect() }))
}

/// Unlink a provider from the signed-in user's account; refused when it is the last way to sign in (no
/// password, passkey or other linked provider). Permissions: the user's access token.
#[utoipa::path(delete, path = "/auth/oauth/unlink/{provider}", tag = "social login", security(("bearer" = [])),
    params(("provider" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 401, body = ErrorBody, description = "user_token_required"),
        (status = 404, body = ErrorBody, description = "not linked"),
        (status = 409, body = ErrorBody, description = "last_sign_in_method")))]
pub async fn unlink(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(provider): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.oauth_unlink(&actor, &provider).await?;
    Ok(SuccessResponse::ok())
}

/// The same as `DELETE /auth/oauth/unlink/{provider}`, for clients that only POST.
#[utoipa::path(post, path = "/auth/oauth/unlink/{provider}", tag = "social login", security(("bearer" = [])),
    params(("provider" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "last_sign_in_method")))]
pub async fn unlink_post(
    state: State<AppState>,
    caller: Caller,
    provider: ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    unlink(state, caller, provider).await
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_enabled))
        .routes(routes!(init))
        .routes(routes!(callback))
        .routes(routes!(link))
        .routes(routes!(identities))
        .routes(routes!(unlink, unlink_post))
        .merge(providers::api_router())
}
