//! `ApiError`: every failure becomes the API reference's `{"detail": "...", "error": "code"}` body with the
//! right status. 5xx bodies are opaque; their cause is logged inside the request's span (with its id).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use zauthy_core::CoreError;

/// The error body of every endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable message.
    #[schema(example = "Invalid email or password")]
    pub detail: String,
    /// A stable machine-readable code; see the `ErrorCode` schema for the full list.
    #[schema(example = "invalid_credentials")]
    pub error: String,
    /// For `account_locked`: when the lock ends (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

/// Every error code the API can answer with, and what it means. Published in OpenAPI as `ErrorCode`.
pub const ERROR_CODES: &[(&str, &str)] = &[
    ("invalid_json", "The body is not valid JSON."),
    ("invalid_request", "The body is JSON but a field is missing, has the wrong type, or is unknown."),
    ("invalid_query", "A query parameter is malformed."),
    ("invalid_path", "A path parameter is malformed."),
    ("unsupported_media_type", "The body must be sent as application/json."),
    ("payload_too_large", "The body exceeds the size limit."),
    ("invalid_email", "The email address is not valid."),
    ("invalid_phone", "The phone number is not in E.164 format."),
    ("invalid_name", "A name is empty, too long or contains control characters."),
    (
        "invalid_address",
        "An address member is too long (256 characters, 1024 for formatted) or contains control characters.",
    ),
    ("invalid_plan", "The plan is not one of free, pro, enterprise."),
    ("invalid_role", "The role is not one of owner, admin, user."),
    ("invalid_pagination", "page or per_page is out of range."),
    (
        "invalid_webhook_url",
        "The webhook URL is not https, names an IP address or a private/local host, or is malformed.",
    ),
    (
        "invalid_webhook_events",
        "A webhook event type is not in the catalogue (GET /api/v1/webhooks/events), or none was given.",
    ),
    ("weak_password", "The password breaks the password rules or is too common."),
    ("password_unchanged", "The new password equals the current one."),
    ("invalid_url", "A URL is not an absolute https URL (http only for localhost), or has credentials or a fragment."),
    ("invalid_rp_id", "The WebAuthn relying party id is not a domain, or an origin lies outside it."),
    ("csrf_failed", "A hosted-page form came without a valid CSRF token or from another origin."),
    ("mfa_already_enabled", "Two-factor authentication is already on; disable it before enrolling again."),
    ("mfa_not_set_up", "Confirming MFA needs /mfa/totp/setup first."),
    ("mfa_not_enabled", "The account has no second factor."),
    ("invalid_mfa_code", "The TOTP or backup code is wrong or expired (counts toward the lockout)."),
    ("mfa_code_reused", "This TOTP code (time step) was already accepted once; wait for the next code."),
    ("backup_code_used", "This backup code was already used."),
    ("invalid_mfa_token", "The mfa_token is unknown or malformed."),
    ("mfa_attempts_exceeded", "Five codes were tried with this mfa_token; sign in again for a new one."),
    ("authorization_request_expired", "The pending OIDC sign-in request expired or was already used; start again."),
    ("cross_device_request_expired", "The sign-in request from another device expired or was already answered."),
    ("invalid_mccmnc", "An mccmnc code must be 5 or 6 digits."),
    ("mccmnc_taken", "Another organization already serves this mccmnc code."),
    ("mfa_required", "A second factor is needed before this action."),
    (
        "invalid_user_code",
        "The code typed on the hosted device or approval page is invalid, expired or already answered.",
    ),
    ("approval_request_expired", "The backchannel sign-in request expired, was already answered, or is not yours."),
    ("second_factor_required", "The application requires a second factor before approval; verify one first."),
    ("mfa_token_expired", "The mfa_token is older than 5 minutes; sign in again."),
    ("mfa_token_used", "The mfa_token already completed a sign-in; sign in again."),
    ("mfa_token_wrong_organization", "The mfa_token belongs to another organization."),
    ("password_required", "Confirm this with the account's password."),
    ("code_required", "Confirm this with a code from the authenticator app."),
    ("invalid_redirect_uri", "A client redirect URI is not an exact https URL (http only for localhost)."),
    (
        "invalid_subject_type",
        "subject_type is not public or pairwise, or a pairwise client's redirect URIs span hosts.",
    ),
    ("invalid_backchannel_logout_uri", "A client back-channel logout URI is not an https URL on a public address."),
    ("invalid_scope", "A scope is not one of openid, profile, email, phone, address, offline_access."),
    ("invalid_grant_type", "A grant type is unknown or not allowed for this kind of client."),
    ("invalid_auth_method", "The token endpoint auth method does not fit the client type."),
    ("invalid_jwks", "The client's jwks is not a JWK Set of public keys."),
    ("invalid_signing_alg", "The ID token algorithm is not RS256, ES256 or EdDSA."),
    ("invalid_client_type", "client_type must be confidential or public; public clients have no secret."),
    ("invalid_reset_token", "The password reset token is invalid, expired or already used."),
    ("invalid_redirect_url", "redirect_url is not one of the organization's allowed_redirect_urls (matched exactly)."),
    ("invalid_magic_link", "The magic link token is unknown or malformed (tampered)."),
    ("magic_link_expired", "The magic link expired (links live 15 minutes); ask for a new one."),
    ("magic_link_used", "The magic link was already used; each link signs in once."),
    ("magic_link_wrong_organization", "The magic link belongs to another organization than the API key's."),
    ("invalid_otp", "The one-time code is wrong, already used, or was never sent to this destination."),
    ("otp_expired", "The one-time code expired (codes live 10 minutes); ask for a new one."),
    ("otp_attempts_exceeded", "Five wrong codes were tried; this code is dead, ask for a new one."),
    ("otp_cooldown", "A code was sent to this destination moments ago; retry after the Retry-After header."),
    ("ceremony_not_found", "The passkey ceremony id is unknown (or belongs to another organization or user)."),
    ("ceremony_expired", "The passkey ceremony is older than five minutes; start again."),
    ("ceremony_used", "The passkey ceremony was already finished (or attempted); start again."),
    ("invalid_passkey_response", "The credential is not a WebAuthn PublicKeyCredential JSON."),
    ("passkey_verification_failed", "The passkey response failed verification (origin, challenge, signature, user)."),
    ("passkey_possibly_cloned", "The passkey's signature counter went backwards; the sign-in was refused."),
    ("passkey_exists", "This credential is already registered in the organization."),
    ("invalid_oauth_provider", "A social login provider's settings are missing or invalid (the detail says which)."),
    ("invalid_discovery_url", "The discovery URL is not https to a public host name, or is malformed."),
    (
        "discovery_failed",
        "The provider's discovery document could not be fetched or does not fit (issuer, endpoints, code flow, S256).",
    ),
    ("invalid_apple_key", "Apple's private_key is not a P-256 key in PKCS#8 PEM (the .p8 file)."),
    ("oauth_provider_exists", "The organization already has a provider with this name."),
    ("oauth_provider_unavailable", "The provider is not configured or is disabled for this organization."),
    ("invalid_upstream_url", "An upstream endpoint is not https to a public host (outbound request refused)."),
    ("invalid_oauth_state", "The OAuth state is unknown, malformed, or belongs to another organization or user."),
    ("oauth_state_expired", "The social sign-in took longer than 10 minutes; start it again."),
    ("oauth_state_used", "The OAuth state was already used; each flow completes once."),
    ("oauth_state_mismatch", "provider or redirect_url differ from the ones the flow started with."),
    (
        "oauth_issuer_mismatch",
        "The authorization response's iss is not the provider's issuer (RFC 9207 mix-up defence).",
    ),
    ("oauth_denied", "The provider returned an error (e.g. the user cancelled)."),
    ("oauth_exchange_failed", "The provider refused the authorization code."),
    ("oauth_upstream_error", "The provider could not be reached or answered something unusable."),
    (
        "invalid_id_token",
        "The provider's ID token failed validation (signature, issuer, audience, expiry, nonce, algorithm).",
    ),
    ("oauth_email_missing", "The provider shared no email address, so no account can be found or created."),
    ("oauth_account_exists", "An account with this email exists; sign in and link the provider (no silent takeover)."),
    ("oauth_signup_disabled", "The identity has no account and this provider does not create accounts."),
    ("oauth_identity_in_use", "The upstream account is already linked to another user."),
    ("oauth_provider_already_linked", "The account already has an identity of this provider; unlink it first."),
    (
        "last_sign_in_method",
        "Unlinking would leave the account no way to sign in (no password, passkey or other provider).",
    ),
    (
        "cannot_modify_self",
        "An administrator tried to block, unlock, delete or reset the MFA of their own account, or change their role.",
    ),
    ("missing_authorization", "The endpoint needs an Authorization: Bearer header."),
    ("invalid_authorization_header", "The Authorization header is not a Bearer credential."),
    ("invalid_api_key", "The API key is unknown or was deleted."),
    ("api_key_required", "The endpoint needs the organization's API key, not a user token."),
    ("user_token_required", "The endpoint needs a user's access token, not an API key."),
    ("invalid_token", "The access token is malformed, tampered or not from this server."),
    ("token_expired", "The access token has expired; refresh it."),
    ("session_revoked", "The session behind the token has ended."),
    ("session_expired", "The session reached its idle or absolute lifetime; sign in again."),
    ("invalid_credentials", "Wrong email or password (the same answer for unknown emails)."),
    ("invalid_refresh_token", "The refresh token is unknown or expired."),
    ("refresh_token_reused", "A refresh token was presented twice; its session has been revoked."),
    ("account_locked", "Too many failed logins; the account is locked until `locked_until`."),
    ("user_blocked", "The account has been blocked by an administrator."),
    ("forbidden", "The caller's role does not allow this."),
    ("email_exists", "A user with this email already exists in the organization."),
    ("conflict", "The resource already exists."),
    ("not_found", "The resource does not exist (or belongs to another organization)."),
    ("method_not_allowed", "The path exists but not with this HTTP method."),
    ("rate_limited", "Too many requests; retry after the Retry-After header."),
    ("service_unavailable", "A dependency (the database) is unavailable."),
    ("internal_error", "An unexpected error; the request id in the logs has the details."),
];

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    retry_after: Option<u64>,
    locked_until: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        debug_assert!(ERROR_CODES.iter().any(|(c, _)| *c == code), "undocumented error code {code}");
        Self { status, code, detail: detail.into(), retry_after: None, locked_until: None }
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many requests; slow down")
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found")
    }

    /// The `Retry-After` value this error will send, for callers that render it differently.
    pub fn clone_retry_after(&self) -> Option<HeaderValue> {
        self.retry_after.map(HeaderValue::from)
    }
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Invalid { code, detail } => Self::new(StatusCode::BAD_REQUEST, code, detail),
            CoreError::NotFound { entity } => {
                Self::new(StatusCode::NOT_FOUND, "not_found", format!("{entity} not found"))
            }
            CoreError::Conflict { code, detail } => {
                // A store-level conflict carries the database's message; don't show it.
                let detail = if code == "conflict" { "The resource already exists".to_owned() } else { detail };
                Self::new(StatusCode::CONFLICT, code, detail)
            }
            CoreError::Unauthenticated { code, detail } => Self::new(StatusCode::UNAUTHORIZED, code, detail),
            CoreError::Forbidden { code, detail } => Self::new(StatusCode::FORBIDDEN, code, detail),
            CoreError::Locked { until, retry_after_secs } => {
                let until_text = until.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                Self {
                    retry_after: Some(retry_after_secs),
                    locked_until: Some(until_text.clone()),
                    ..Self::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "account_locked",
                        format!("Too many failed login attempts; the account is locked until {until_text}"),
                    )
                }
            }
            CoreError::RateLimited { retry_after_secs } => Self::rate_limited(retry_after_secs),
            CoreError::Throttled { code, detail, retry_after_secs } => {
                Self { retry_after: Some(retry_after_secs), ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, detail) }
            }
            CoreError::Upstream { code, detail } => {
                tracing::warn!(code, detail = %detail, "upstream failure");
                Self::new(StatusCode::BAD_GATEWAY, code, detail)
            }
            CoreError::Unavailable(what) => {
                tracing::error!(what, "dependency unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "Service temporarily unavailable")
            }
            CoreError::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { detail: self.detail, error: self.code.to_owned(), locked_until: self.locked_until };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = format!("Bearer error=\"{}\"", self.code);
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
