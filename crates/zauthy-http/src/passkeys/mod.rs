//! Passkeys (WebAuthn): registration by a signed-in user, sign-in with or without an email, list, remove.
//! `start` answers the options for `navigator.credentials.create()` / `get()` plus a `ceremony_id`;
//! `finish` takes the ceremony id and the browser's `PublicKeyCredential.toJSON()`.

use crate::accounts::LoginResponse;
use crate::dto::{SuccessResponse, rfc3339};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Client, OptionalApiJson};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::passkeys::{PasskeyChallenge, PasskeyRecord};

/// Options for the browser plus the ceremony to finish. Decode the base64url members (`challenge`,
/// `user.id`, `excludeCredentials[].id`, `allowCredentials[].id`) and pass `{publicKey}` to
/// `navigator.credentials.create()` or `get()`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyOptionsResponse {
    #[schema(example = "pkc_...")]
    pub ceremony_id: String,
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
    /// The ceremony must be finished before this time (five minutes).
    pub expires_at: String,
}

impl From<PasskeyChallenge> for PasskeyOptionsResponse {
    fn from(c: PasskeyChallenge) -> Self {
        let public_key = c.options.get("publicKey").cloned().unwrap_or_default();
        Self { ceremony_id: c.ceremony_id, public_key, expires_at: rfc3339(c.expires_at) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyResponse {
    #[schema(example = "pk_...")]
    pub id: String,
    #[schema(example = "Passkey")]
    pub name: String,
    /// The WebAuthn credential id (base64url).
    pub credential_id: String,
    /// The authenticator's signature counter as of the last sign-in (0 for authenticators without one).
    pub sign_count: i64,
    /// Whether the passkey may be synced to other devices, and whether it is.
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<PasskeyRecord> for PasskeyResponse {
    fn from(p: PasskeyRecord) -> Self {
        Self {
            id: p.id,
            name: p.name,
            credential_id: p.credential_id,
            sign_count: p.sign_count,
            backup_eligible: p.backup_eligible,
            backup_state: p.backup_state,
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistrationRequest {
    #[schema(example = "pkc_...")]
    pub ceremony_id: String,
    /// The result of `navigator.credentials.create()`, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// Shown in the passkey list; default "Passkey".
    #[schema(example = "MacBook Touch ID")]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAuthenticationRequest {
    /// The user to sign in; omit it for a username-less sign-in with a discoverable passkey.
    #[schema(example = "user@example.com")]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishAuthenticationRequest {
    #[schema(example = "pkc_...")]
    pub ceremony_id: String,
    /// The result of `navigator.credentials.get()`, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyListResponse {
    pub passkeys: Vec<PasskeyResponse>,
}

/// Start adding a passkey for the signed-in user (their registered passkeys are excluded). Permissions: the
/// user's access token.
#[utoipa::path(post, path = "/passkey/register/start", tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, body = PasskeyOptionsResponse),
        (status = 401, body = ErrorBody, description = "user_token_required")))]
pub async fn register_start(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> ApiResult<Json<PasskeyOptionsResponse>> {
    Ok(Json(state.services.start_passkey_registration(&actor).await?.into()))
}

/// Verify the new credential and store the passkey. Permissions: the user's access token (the same user).
#[utoipa::path(post, path = "/passkey/register/finish", tag = "passkeys", security(("bearer" = [])),
    request_body = FinishRegistrationRequest,
    responses((status = 201, body = PasskeyResponse),
        (status = 400, body = ErrorBody, description = "ceremony_not_found, ceremony_expired, ceremony_used, invalid_passkey_response, passkey_verification_failed, invalid_name"),
        (status = 401, body = ErrorBody, description = "user_token_required"),
        (status = 409, body = ErrorBody, description = "passkey_exists")))]
pub async fn register_finish(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<FinishRegistrationRequest>,
) -> ApiResult<(StatusCode, Json<PasskeyResponse>)> {
    let record = state
        .services
        .finish_passkey_registration(&actor, &body.ceremony_id, &body.credential, body.name.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Start a passkey sign-in: with `email`, that user's passkeys are allowed (an unknown address gets options
/// of the same shape); without, any discoverable passkey of the organization. Permissions: API key.
#[utoipa::path(post, path = "/passkey/authenticate/start", tag = "passkeys", security(("bearer" = [])),
    request_body = StartAuthenticationRequest,
    responses((status = 200, body = PasskeyOptionsResponse),
        (status = 401, body = ErrorBody, description = "api_key_required")))]
pub async fn authenticate_start(
    State(state): State<AppState>,
    Caller(actor): Caller,
    OptionalApiJson(body): OptionalApiJson<StartAuthenticationRequest>,
) -> ApiResult<Json<PasskeyOptionsResponse>> {
    Ok(Json(state.services.start_passkey_authentication(&actor, body.email.as_deref()).await?.into()))
}

/// Verify the assertion and sign the user in. A passkey verifies the user, so no second factor is asked
/// (`mfa_required` is false). Permissions: API key.
#[utoipa::path(post, path = "/passkey/authenticate/finish", tag = "passkeys", security(("bearer" = [])),
    request_body = FinishAuthenticationRequest,
    responses((status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody, description = "ceremony_not_found, ceremony_expired, ceremony_used, invalid_passkey_response"),
        (status = 401, body = ErrorBody, description = "passkey_verification_failed, passkey_possibly_cloned, api_key_required"),
        (status = 403, body = ErrorBody, description = "user_blocked"),
        (status = 429, body = ErrorBody, description = "account_locked")))]
pub async fn authenticate_finish(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<FinishAuthenticationRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let outcome =
        state.services.finish_passkey_authentication(&actor, &body.ceremony_id, &body.credential, &client).await?;
    Ok(Json(outcome.into()))
}

/// The signed-in user's passkeys, oldest first. Permissions: the user's access token.
#[utoipa::path(get, path = "/passkey/list", tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, body = PasskeyListResponse), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<PasskeyListResponse>> {
    let passkeys = state.services.list_passkeys(&actor).await?;
    Ok(Json(PasskeyListResponse { passkeys: passkeys.into_iter().map(Into::into).collect() }))
}

/// Remove one of the signed-in user's passkeys, unless it is the account's last way to sign in (no password,
/// no other passkey, no linked provider). Permissions: the user's access token.
#[utoipa::path(delete, path = "/passkey/{passkey_id}", tag = "passkeys", security(("bearer" = [])),
    params(("passkey_id" = String, Path)),
    responses((status = 200, body = SuccessResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "last_sign_in_method")))]
pub async fn remove(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(passkey_id): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.delete_passkey(&actor, &passkey_id).await?;
    Ok(SuccessResponse::ok())
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(authenticate_start))
        .routes(routes!(authenticate_finish))
        .routes(routes!(list))
        .routes(routes!(remove))
}
