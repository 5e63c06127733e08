//! Forgotten password, reset by emailed token, and change for a signed-in user.

use crate::dto::SuccessResponse;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Caller, Client};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::passwords::FORGOT_PASSWORD_MESSAGE;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    #[schema(example = "user@example.com")]
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    #[schema(example = "If an account exists, a reset link has been sent.")]
    pub message: &'static str,
}

/// Email a single-use reset token (valid 30 minutes). Always the same answer, so it reveals nothing about
/// which emails have accounts: the send limits of magic links and codes (5 emails per address per hour, all
/// flows together, 20 sends per client IP per hour) plus 60 s between reset emails to one address, counted for
/// every address whether or not it has an account. Permissions: API key.
#[utoipa::path(post, path = "/password/forgot", tag = "passwords", security(("bearer" = [])), request_body = ForgotPasswordRequest,
    responses((status = 200, body = MessageResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited (with Retry-After)")))]
pub async fn forgot_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<ForgotPasswordRequest>,
) -> ApiResult<Json<MessageResponse>> {
    crate::passwordless::check_ip_send_limit(&state, &client)?;
    state.services.forgot_password(&actor, &body.email, &client).await?;
    Ok(Json(MessageResponse { message: FORGOT_PASSWORD_MESSAGE }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[schema(example = "prt_...")]
    pub token: String,
    #[schema(example = "NewSecureP@ss123")]
    pub new_password: String,
}

/// Set a new password with the emailed token; every session of the user ends. Permissions: API key.
#[utoipa::path(post, path = "/password/reset", tag = "passwords", security(("bearer" = [])), request_body = ResetPasswordRequest,
    responses((status = 200, body = SuccessResponse),
        (status = 400, body = ErrorBody, description = "invalid_reset_token, weak_password"), (status = 401, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.reset_password(&actor, &body.token, &body.new_password).await?;
    Ok(SuccessResponse::ok())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Change the signed-in user's password; their other sessions end. Permissions: the user's access token.
#[utoipa::path(post, path = "/password/change", tag = "passwords", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 200, body = SuccessResponse),
        (status = 400, body = ErrorBody, description = "weak_password, password_unchanged"),
        (status = 401, body = ErrorBody, description = "invalid_credentials (counts toward the lockout)"),
        (status = 429, body = ErrorBody, description = "account_locked")))]
pub async fn change_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    state.services.change_password(&actor, &body.current_password, &body.new_password, &client).await?;
    Ok(SuccessResponse::ok())
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
}
