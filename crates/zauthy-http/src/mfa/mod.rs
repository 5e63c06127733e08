//! TOTP two-factor authentication: enrolment, confirmation, the login-time second step, backup codes,
//! status and disabling.

use crate::accounts::LoginResponse;
use crate::dto::SuccessResponse;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Caller, Client};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::mfa::MfaProof;

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetupResponse {
    /// The seed in base32, for typing into an authenticator app by hand.
    #[schema(example = "JBSWY3DPEHPK3PXP")]
    pub secret: String,
    #[schema(example = "otpauth://totp/My%20App:user%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=My%20App")]
    pub qr_uri: String,
    /// The same URI as a QR code: `data:image/png;base64,…`, ready for an `<img src>`.
    pub qr_image: String,
    /// Ten single-use codes for when the authenticator is not at hand. Shown only now.
    pub backup_codes: Vec<String>,
}

/// Generate a TOTP seed, its `otpauth://` URI and QR code, and ten backup codes. MFA is enabled only once a
/// code from the app confirms it at `/mfa/totp/verify`. Permissions: the user's access token.
#[utoipa::path(post, path = "/mfa/totp/setup", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = TotpSetupResponse),
        (status = 401, body = ErrorBody, description = "user_token_required"),
        (status = 409, body = ErrorBody, description = "mfa_already_enabled")))]
pub async fn totp_setup(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<TotpSetupResponse>> {
    let s = state.services.setup_totp(&actor).await?;
    Ok(Json(TotpSetupResponse {
        secret: s.secret,
        qr_uri: s.qr_uri,
        qr_image: s.qr_image,
        backup_codes: s.backup_codes,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpVerifyRequest {
    /// A 6-digit code from the authenticator app (or, with `mfa_token`, a backup code).
    #[schema(example = "123456")]
    pub code: Option<String>,
    /// A backup code, as an alternative to `code`.
    pub backup_code: Option<String>,
    /// From the login answer when `mfa_required` was true. Without it, the code confirms enrolment.
    #[schema(example = "mfa_tmp_...")]
    pub mfa_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaEnabledResponse {
    pub success: bool,
    pub mfa_enabled: bool,
}

/// `/mfa/totp/verify` answers a login step with the sign-in result, and an enrolment with `mfa_enabled`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TotpVerifyResponse {
    Login(Box<LoginResponse>),
    Enabled(MfaEnabledResponse),
}

/// With `mfa_token` (API key): complete a login with a TOTP code (each 30-second code works once) or an
/// unused backup code; wrong codes count toward the lockout. Without it (the user's access token): confirm
/// enrolment, which turns MFA on.
#[utoipa::path(post, path = "/mfa/totp/verify", tag = "mfa", security(("bearer" = [])), request_body = TotpVerifyRequest,
    responses((status = 200, body = TotpVerifyResponse),
        (status = 400, body = ErrorBody, description = "invalid_request, mfa_not_set_up"),
        (status = 401, body = ErrorBody, description = "invalid_mfa_code, mfa_code_reused, backup_code_used, invalid_mfa_token, mfa_token_expired, mfa_token_used, mfa_attempts_exceeded, mfa_token_wrong_organization"),
        (status = 403, body = ErrorBody, description = "user_blocked"),
        (status = 409, body = ErrorBody, description = "mfa_already_enabled"),
        (status = 429, body = ErrorBody, description = "account_locked, rate_limited")))]
pub async fn totp_verify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<TotpVerifyRequest>,
) -> ApiResult<Json<TotpVerifyResponse>> {
    let missing = || ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "Send `code` (or `backup_code`)");
    match body.mfa_token {
        Some(token) => {
            let proof = match (body.code, body.backup_code) {
                (Some(code), None) => MfaProof::parse(&code),
                (None, Some(code)) => MfaProof::BackupCode(code),
                _ => return Err(missing()),
            };
            let outcome = state.services.verify_mfa(&actor, &token, proof, &client).await?;
            Ok(Json(TotpVerifyResponse::Login(Box::new(outcome.into()))))
        }
        None => {
            let code = body.code.ok_or_else(missing)?;
            state.services.confirm_totp(&actor, &code).await?;
            Ok(Json(TotpVerifyResponse::Enabled(MfaEnabledResponse { success: true, mfa_enabled: true })))
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableMfaRequest {
    /// The account's password.
    pub password: Option<String>,
    /// For accounts without a password: a current code from the authenticator.
    pub code: Option<String>,
}

/// Turn MFA off; needs the password (a wrong one counts toward the lockout). Permissions: the user's access
/// token.
#[utoipa::path(post, path = "/mfa/disable", tag = "mfa", security(("bearer" = [])), request_body = DisableMfaRequest,
    responses((status = 200, body = SuccessResponse),
        (status = 400, body = ErrorBody, description = "mfa_not_enabled, password_required"),
        (status = 401, body = ErrorBody, description = "invalid_credentials, invalid_mfa_code"),
        (status = 429, body = ErrorBody, description = "account_locked")))]
pub async fn disable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<DisableMfaRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.disable_mfa(&actor, body.password.as_deref(), body.code.as_deref(), &client).await?;
    Ok(SuccessResponse::ok())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusResponse {
    pub enabled: bool,
    /// e.g. `["totp", "backup_code"]`
    pub methods: Vec<&'static str>,
    pub backup_codes_remaining: u64,
}

/// Whether the signed-in user has MFA, and how many backup codes are left. Permissions: the user's access token.
#[utoipa::path(get, path = "/mfa/status", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = MfaStatusResponse), (status = 401, body = ErrorBody)))]
pub async fn status(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<Json<MfaStatusResponse>> {
    let s = state.services.mfa_status(&actor).await?;
    Ok(Json(MfaStatusResponse {
        enabled: s.enabled,
        methods: s.methods,
        backup_codes_remaining: s.backup_codes_remaining,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateBackupCodesRequest {
    /// A current code from the authenticator app.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupCodesResponse {
    pub backup_codes: Vec<String>,
}

/// Replace all backup codes with ten new ones (shown once). Permissions: the user's access token.
#[utoipa::path(post, path = "/mfa/backup-codes", tag = "mfa", security(("bearer" = [])), request_body = RegenerateBackupCodesRequest,
    responses((status = 200, body = BackupCodesResponse),
        (status = 400, body = ErrorBody, description = "mfa_not_enabled"),
        (status = 401, body = ErrorBody, description = "invalid_mfa_code, mfa_code_reused")))]
pub async fn regenerate_backup_codes(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<RegenerateBackupCodesRequest>,
) -> ApiResult<Json<BackupCodesResponse>> {
    let backup_codes = state.services.regenerate_backup_codes(&actor, &body.code).await?;
    Ok(Json(BackupCodesResponse { backup_codes }))
}

/// Remove a user's second factor (they lost their authenticator and backup codes). Permissions: API key, or an
/// owner or admin (only an owner or the API key resets an owner's; nobody their own: that is `/mfa/disable`,
/// with the password).
#[utoipa::path(delete, path = "/users/{user_id}/mfa", tag = "mfa", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = SuccessResponse),
        (status = 400, body = ErrorBody, description = "mfa_not_enabled, cannot_modify_self"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset_user_mfa(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.reset_user_mfa(&actor, &user_id).await?;
    Ok(SuccessResponse::ok())
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(totp_setup))
        .routes(routes!(totp_verify))
        .routes(routes!(disable))
        .routes(routes!(status))
        .routes(routes!(regenerate_backup_codes))
        .routes(routes!(reset_user_mfa))
}
