//! Passwordless sign-in over the API: magic links and one-time codes (email or SMS), with a per-IP send
//! limit on top of the per-destination limit the services count in the database.

use crate::accounts::LoginResponse;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Caller, Client};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zauthy_core::ClientMeta;
use zauthy_core::passwordless::{MAGIC_LINK_SENT_MESSAGE, OTP_SENT_MESSAGE, OtpDestination, SENDS_PER_IP_PER_HOUR};

/// Refuses a send when the client IP asked for too many links, codes or reset emails this hour (in this node's memory;
/// the per-destination limit, which is what stops bombing one inbox or phone, is shared through the database).
pub(crate) fn check_ip_send_limit(state: &AppState, client: &ClientMeta) -> ApiResult<()> {
    if !state.config.rate_limits.enabled {
        return Ok(());
    }
    let ip = client.ip.as_deref().unwrap_or("unknown");
    let key = format!("passwordless-send:ip:{ip}");
    let decision = state.limiter.check(&key, SENDS_PER_IP_PER_HOUR, Duration::from_secs(3600));
    if decision.allowed { Ok(()) } else { Err(ApiError::rate_limited(decision.reset_secs)) }
}

/// The answer of both send endpoints, the same whether or not the destination has an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentResponse {
    #[schema(example = "If the address can sign in, a link has been sent.")]
    pub message: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkSendRequest {
    #[schema(example = "user@example.com")]
    pub email: String,
    /// Where the link lands (`…?token=ml_…`); must equal one of the organization's `allowed_redirect_urls`.
    /// Without it the link opens zauthy's hosted page `/o/{org_id}/magic-link`, which asks for confirmation.
    #[schema(example = "https://yourapp.com/auth/callback")]
    pub redirect_url: Option<String>,
}

/// Email a single-use sign-in link (valid 15 minutes). Unknown addresses get the same answer and no email,
/// unless the organization allows passwordless signup (then the link creates the account). At most 5 links
/// or codes per address per hour and 20 per client IP. Permissions: API key.
#[utoipa::path(post, path = "/magic-link/send", tag = "passwordless", security(("bearer" = [])),
    request_body = MagicLinkSendRequest,
    responses(
        (status = 200, body = SentResponse),
        (status = 400, body = ErrorBody, description = "invalid_email, invalid_redirect_url, invalid_request"),
        (status = 401, body = ErrorBody, description = "missing_authorization, invalid_api_key, api_key_required"),
        (status = 429, body = ErrorBody, description = "rate_limited (with Retry-After)"),
    ))]
pub async fn send_magic_link(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<MagicLinkSendRequest>,
) -> ApiResult<Json<SentResponse>> {
    check_ip_send_limit(&state, &client)?;
    state.services.send_magic_link(&actor, &body.email, body.redirect_url.as_deref(), None, &client).await?;
    Ok(Json(SentResponse { message: MAGIC_LINK_SENT_MESSAGE }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkVerifyRequest {
    #[schema(example = "ml_...")]
    pub token: String,
}

/// Spend a magic link's token and sign in: the user (email now verified) and tokens, or an MFA challenge.
/// Permissions: API key.
#[utoipa::path(post, path = "/magic-link/verify", tag = "passwordless", security(("bearer" = [])),
    request_body = MagicLinkVerifyRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody,
            description = "invalid_magic_link, magic_link_expired, magic_link_used, magic_link_wrong_organization"),
        (status = 401, body = ErrorBody, description = "missing_authorization, invalid_api_key, api_key_required"),
        (status = 403, body = ErrorBody, description = "user_blocked"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    ))]
pub async fn verify_magic_link(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<MagicLinkVerifyRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let outcome = state.services.verify_magic_link(&actor, &body.token, &client).await?;
    Ok(Json(outcome.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpSendRequest {
    /// For `channel: "email"`.
    #[schema(example = "user@example.com")]
    pub email: Option<String>,
    /// E.164, for `channel: "sms"`.
    #[schema(example = "+14155550100")]
    pub phone: Option<String>,
    /// `email` or `sms`; when absent, follows whichever of `email` and `phone` is given.
    #[schema(example = "email")]
    pub channel: Option<String>,
}

/// Send a 6-digit one-time code by email or SMS (valid 10 minutes, 5 tries; a new code replaces the last).
/// The same answer for destinations with and without an account; nothing is sent to unknown ones (by email
/// the code creates the account when the organization allows passwordless signup; never by SMS).
/// Permissions: API key.
#[utoipa::path(post, path = "/otp/send", tag = "passwordless", security(("bearer" = [])),
    request_body = OtpSendRequest,
    responses(
        (status = 200, body = SentResponse),
        (status = 400, body = ErrorBody, description = "invalid_email, invalid_phone, invalid_request"),
        (status = 401, body = ErrorBody, description = "missing_authorization, invalid_api_key, api_key_required"),
        (status = 429, body = ErrorBody,
            description = "otp_cooldown (60 s between codes to one destination), rate_limited; both with Retry-After"),
    ))]
pub async fn send_otp(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<OtpSendRequest>,
) -> ApiResult<Json<SentResponse>> {
    check_ip_send_limit(&state, &client)?;
    let destination = OtpDestination::parse(body.email.as_deref(), body.phone.as_deref(), body.channel.as_deref())?;
    state.services.send_otp(&actor, &destination, &client).await?;
    Ok(Json(SentResponse { message: OTP_SENT_MESSAGE }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpVerifyRequest {
    #[schema(example = "user@example.com")]
    pub email: Option<String>,
    #[schema(example = "+14155550100")]
    pub phone: Option<String>,
    #[schema(example = "123456")]
    pub code: String,
}

/// Check a one-time code and sign in: the user and tokens, or an MFA challenge. A destination that was
/// never sent a code answers like a wrong code. Permissions: API key.
#[utoipa::path(post, path = "/otp/verify", tag = "passwordless", security(("bearer" = [])),
    request_body = OtpVerifyRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody,
            description = "invalid_otp, otp_expired, otp_attempts_exceeded, invalid_email, invalid_phone, invalid_request"),
        (status = 401, body = ErrorBody, description = "missing_authorization, invalid_api_key, api_key_required"),
        (status = 403, body = ErrorBody, description = "user_blocked"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    ))]
pub async fn verify_otp(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<OtpVerifyRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let destination = OtpDestination::parse(body.email.as_deref(), body.phone.as_deref(), None)?;
    let outcome = state.services.verify_otp(&actor, &destination, &body.code, &client).await?;
    Ok(Json(outcome.into()))
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_magic_link))
        .routes(routes!(verify_magic_link))
        .routes(routes!(send_otp))
        .routes(routes!(verify_otp))
}
