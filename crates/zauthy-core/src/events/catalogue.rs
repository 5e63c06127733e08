//! The catalogue of event types: what each means and the fields of its `data`, for the events API, webhook
//! subscriptions and the OpenAPI document.

use super::types as t;

/// One event type as documented to integrators.
#[derive(Debug, Clone, Copy)]
pub struct EventKind {
    pub event_type: &'static str,
    pub description: &'static str,
    /// The fields of `data`, `name: type` separated by commas; `?` marks a field that may be null.
    pub data: &'static str,
    /// Named by the API reference but not emitted yet (its feature is not built).
    pub reserved: bool,
}

const fn kind(event_type: &'static str, description: &'static str, data: &'static str) -> EventKind {
    EventKind { event_type, description, data, reserved: false }
}

const fn reserved(event_type: &'static str, description: &'static str, data: &'static str) -> EventKind {
    EventKind { event_type, description, data, reserved: true }
}

pub const CATALOGUE: &[EventKind] = &[
    kind(
        t::USER_SIGNUP,
        "New user registered",
        "user_id: string, email: string, method?: string, provider?: string, ip?: string",
    ),
    kind(
        t::USER_LOGIN,
        "User logged in (method: password, magic_link, email_otp, sms_otp, passkey or oauth)",
        "user_id: string, method: string, mfa?: string, ip?: string, user_agent?: string",
    ),
    kind(t::USER_BLOCKED, "User account blocked", "user_id: string, by?: string"),
    kind(t::USER_DELETED, "User account deleted", "user_id: string, email: string, by?: string"),
    reserved(
        t::KYC_SESSION_CREATED,
        "KYC session started (reserved: KYC is not built yet)",
        "session_id: string, user_id?: string",
    ),
    reserved(
        t::KYC_COMPLETED,
        "KYC verification completed (passed) (reserved)",
        "session_id: string, user_id?: string",
    ),
    reserved(
        t::KYC_FAILED,
        "KYC verification failed (reserved)",
        "session_id: string, user_id?: string, reason?: string",
    ),
    kind(t::MFA_ENABLED, "User enabled MFA", "user_id: string, method: string"),
    reserved(
        t::SUSPICIOUS_LOGIN,
        "Suspicious login detected (reserved: risk scoring is not built yet)",
        "user_id: string, ip?: string, reason: string",
    ),
    kind(
        t::USER_LOGIN_FAILED,
        "A login failed with a wrong password",
        "user_id: string, failed_attempts: integer, ip?: string",
    ),
    kind(
        t::USER_LOCKED,
        "Too many failures locked the account",
        "user_id: string, failed_attempts: integer, locked_until: integer (unix seconds)",
    ),
    kind(t::USER_UNLOCKED, "An admin unlocked the account", "user_id: string, by?: string"),
    kind(t::USER_UNBLOCKED, "User account unblocked", "user_id: string, by?: string"),
    kind(
        t::USER_UPDATED,
        "Profile or role changed",
        "user_id: string, by?: string, role: string, previous_role: string",
    ),
    kind(
        t::SESSION_REVOKED,
        "A session ended (logout, revocation)",
        "user_id: string, session_id?: string, reason: string, count?: integer",
    ),
    kind(
        t::REFRESH_TOKEN_REUSED,
        "A used refresh token came back; its session was revoked",
        "user_id: string, session_id: string, ip?: string, session_revoked: boolean",
    ),
    kind(t::PASSWORD_RESET_REQUESTED, "A password reset link was sent", "user_id: string, ip?: string"),
    kind(t::PASSWORD_RESET, "The password was reset with a link", "user_id: string"),
    kind(t::PASSWORD_CHANGED, "The user changed their password", "user_id: string"),
    kind(t::MFA_DISABLED, "MFA was turned off", "user_id: string, method: string, by?: string"),
    kind(t::MFA_BACKUP_CODE_USED, "A backup code was spent", "user_id: string, remaining: integer"),
    kind(t::MFA_BACKUP_CODES_REGENERATED, "New backup codes replaced the old ones", "user_id: string"),
    kind(
        t::MAGIC_LINK_SENT,
        "A magic link was sent",
        "user_id?: string, email: string, redirect_url?: string, ip?: string",
    ),
    kind(t::OTP_SENT, "A one-time code was sent", "user_id?: string, channel: string, ip?: string"),
    kind(t::EMAIL_VERIFIED, "The email address was proven", "user_id: string, email: string, method: string"),
    kind(t::PASSKEY_ADDED, "A passkey was registered", "user_id: string, passkey_id: string, name: string"),
    kind(t::PASSKEY_REMOVED, "A passkey was removed", "user_id: string, passkey_id: string"),
    kind(
        t::PASSKEY_CLONED,
        "A passkey's signature counter went backwards (possible clone)",
        "user_id: string, passkey_id: string, stored_sign_count: integer",
    ),
    kind(t::ORGANIZATION_CREATED, "The organization was created", "organization_id: string, name: string"),
    kind(
        t::ORGANIZATION_SETTINGS_UPDATED,
        "Organization settings changed",
        "organization_id: string, by?: string, settings: object",
    ),
    kind(t::API_KEY_CREATED, "An API key was created", "key_id: string, name: string, prefix: string"),
    kind(t::API_KEY_DELETED, "An API key was deleted", "key_id: string"),
    kind(t::SIGNING_KEY_ROTATED, "The token signing key was rotated", "kid: string"),
    kind(
        t::OIDC_CLIENT_CREATED,
        "A service provider was registered",
        "client_id: string, name: string, client_type: string, by?: string",
    ),
    kind(t::OIDC_CLIENT_UPDATED, "A service provider changed", "client_id: string, by?: string"),
    kind(t::OIDC_CLIENT_DELETED, "A service provider was removed", "client_id: string, by?: string"),
    kind(t::OIDC_CLIENT_SECRET_ROTATED, "A service provider's secret was rotated", "client_id: string, by?: string"),
    kind(
        t::OIDC_CONSENT_GRANTED,
        "A user agreed to share scopes with a service provider",
        "user_id: string, client_id: string, scopes: string[]",
    ),
    kind(
        t::OIDC_CONSENT_REVOKED,
        "A user withdrew a service provider's consent; its tokens were revoked",
        "user_id: string, client_id: string, grants_revoked: integer",
    ),
    kind(
        t::OIDC_TOKEN_REUSE,
        "A spent authorization code or refresh token was presented again; every token issued from that grant was revoked",
        "user_id: string, client_id: string, grant_id: string, kind: string",
    ),
    kind(
        t::OIDC_DEVICE_APPROVED,
        "A user approved a device's sign-in (device authorization grant) on the hosted page",
        "user_id: string, client_id: string, scopes: string[]",
    ),
    kind(
        t::OIDC_DEVICE_DENIED,
        "A user denied a device's sign-in",
        "user_id: string, client_id: string, scopes: string[]",
    ),
    kind(
        t::OIDC_BACKCHANNEL_APPROVED,
        "A user approved a service provider's backchannel (CIBA) sign-in request",
        "user_id: string, client_id: string, scopes: string[]",
    ),
    kind(
        t::OIDC_BACKCHANNEL_DENIED,
        "A user denied a service provider's backchannel (CIBA) sign-in request",
        "user_id: string, client_id: string, scopes: string[]",
    ),
    kind(t::WEBHOOK_CREATED, "A webhook was created", "webhook_id: string, url: string, by?: string"),
    kind(t::WEBHOOK_UPDATED, "A webhook changed", "webhook_id: string, by?: string"),
    kind(t::WEBHOOK_DELETED, "A webhook was deleted", "webhook_id: string, by?: string"),
    kind(
        t::WEBHOOK_SECRET_ROTATED,
        "A webhook's signing secret was rotated",
        "webhook_id: string, previous_secret_expires_at: integer (unix seconds)",
    ),
    kind(
        t::WEBHOOK_DISABLED,
        "A webhook failing for too long was turned off",
        "webhook_id: string, url: string, failing_since: integer (unix seconds)",
    ),
    kind(
        t::OAUTH_LINKED,
        "An upstream identity (social login) was attached to a user",
        "user_id: string, provider: string, provider_type: string, subject: string, via: string (link, verified_email or signup)",
    ),
    kind(
        t::OAUTH_UNLINKED,
        "An upstream identity was detached",
        "user_id: string, provider: string, provider_type: string",
    ),
    kind(
        t::OAUTH_PROVIDER_CREATED,
        "A social login provider was configured",
        "provider: string, type: string, by?: string",
    ),
    kind(t::OAUTH_PROVIDER_UPDATED, "A social login provider changed", "provider: string, type: string, by?: string"),
    kind(
        t::OAUTH_PROVIDER_DELETED,
        "A social login provider was removed with its linked identities",
        "provider: string, type: string, by?: string",
    ),
];

/// Whether `event_type` is in the catalogue.
pub fn is_known(event_type: &str) -> bool {
    CATALOGUE.iter().any(|k| k.event_type == event_type)
}
