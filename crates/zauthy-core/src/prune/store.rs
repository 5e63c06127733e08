//! The storage port of the pruning job: the kinds of short-lived records, the instants their rules are stated
//! in, and the one method that deletes a batch of dead rows of a kind. `zauthy-store` implements it for SQLite
//! and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

/// The kinds of short-lived records, each with the rule that says when a row is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prunable {
    /// Pending authorization requests, pushed (PAR) or not, spent or not: past their expiry.
    AuthRequests,
    /// Authorization codes past their expiry: unused ones at once; used ones once their grant is finished.
    AuthCodes,
    /// Client refresh tokens whose access token has expired: past their expiry, unused ones at once and used
    /// (rotated) ones once their grant is finished; and any of a grant revoked more than the grace ago, without
    /// waiting for their expiry.
    ClientRefreshTokens,
    /// Device authorization flows past their expiry: never redeemed at once; redeemed once the grant is finished.
    DeviceFlows,
    /// Backchannel (CIBA) requests past their expiry: never redeemed at once; redeemed once the grant is finished.
    BackchannelRequests,
    /// Grants no code, refresh token, device flow or backchannel request refers to any more, created before
    /// `issued_before` (dead, see the module doc). After the kinds that refer to them.
    Grants,
    /// Secondary-device requests past their expiry and that of their login_hint_token, if one was issued.
    CrossDeviceRequests,
    /// `private_key_jwt` assertion ids past the assertion's own `exp` (a replay after it fails on `exp`).
    ClientAssertions,
    /// Revoked grant-less (client_credentials) access tokens, past the token's own `exp`.
    RevokedAccessTokens,
    /// Browsers marked trusted, past their expiry.
    TrustedBrowsers,
    /// `mfa_token` challenges past their expiry.
    MfaChallenges,
    /// Social-login authorization requests (state, nonce, PKCE verifier) past their expiry.
    OAuthStates,
    /// Refresh tokens of sessions: all of a dead session's; of a live session, unused ones past their expiry
    /// (used ones stay for reuse detection while the session lives).
    SessionRefreshTokens,
    /// Browser-session cookies of dead sessions.
    BrowserSessions,
    /// Dead sessions (revoked, idle or past their absolute lifetime) with no refresh token or browser cookie
    /// left. After the two kinds above, so their children are gone first.
    Sessions,
    /// Password reset tokens past their expiry, used or not (an expired token is refused either way).
    PasswordResetTokens,
    /// Magic links past their expiry, used or not.
    MagicLinks,
    /// Email and SMS one-time codes past their expiry, used or not.
    OneTimeCodes,
    /// WebAuthn ceremonies (passkey registration and sign-in) past their expiry, used or not.
    WebauthnCeremonies,
    /// Passwordless sends older than the window the per-destination send limit counts them over.
    PasswordlessSends,
    /// Failed sign-ins with an email that has no account, `UNKNOWN_FAILURES_KEPT` after the last one (no lock
    /// lasts that long).
    UnknownLoginFailures,
    /// Outbox messages sent or given up more than `FINISHED_MESSAGES_KEPT` ago (their payload was erased
    /// then; the row only said when and how it went).
    OutboxMessages,
    /// Webhook deliveries delivered or given up more than `DELIVERY_HISTORY_KEPT` ago, with their attempts
    /// (at most eight each, deleted by the foreign key's cascade).
    WebhookDeliveries,
    /// Events older than the configured retention (`CoreConfig::event_retention_days`); none without one.
    Events,
}

impl Prunable {
    /// In deletion order: a kind that others refer to comes after them.
    pub const ALL: [Self; 24] = [
        Self::AuthRequests,
        Self::AuthCodes,
        Self::ClientRefreshTokens,
        Self::DeviceFlows,
        Self::BackchannelRequests,
        Self::Grants,
        Self::CrossDeviceRequests,
        Self::ClientAssertions,
        Self::RevokedAccessTokens,
        Self::TrustedBrowsers,
        Self::MfaChallenges,
        Self::OAuthStates,
        Self::SessionRefreshTokens,
        Self::BrowserSessions,
        Self::Sessions,
        Self::PasswordResetTokens,
        Self::MagicLinks,
        Self::OneTimeCodes,
        Self::WebauthnCeremonies,
        Self::PasswordlessSends,
        Self::UnknownLoginFailures,
        Self::OutboxMessages,
        Self::WebhookDeliveries,
        Self::Events,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthRequests => "oidc_auth_requests",
            Self::AuthCodes => "oidc_codes",
            Self::ClientRefreshTokens => "oidc_refresh_tokens",
            Self::DeviceFlows => "oidc_device_flows",
            Self::BackchannelRequests => "oidc_backchannel_requests",
            Self::Grants => "oidc_grants",
            Self::CrossDeviceRequests => "cross_device_requests",
            Self::ClientAssertions => "oidc_client_assertions",
            Self::RevokedAccessTokens => "revoked_access_tokens",
            Self::TrustedBrowsers => "trusted_browsers",
            Self::MfaChallenges => "mfa_challenges",
            Self::OAuthStates => "oauth_states",
            Self::SessionRefreshTokens => "refresh_tokens",
            Self::BrowserSessions => "browser_sessions",
            Self::Sessions => "sessions",
            Self::PasswordResetTokens => "password_reset_tokens",
            Self::MagicLinks => "magic_links",
            Self::OneTimeCodes => "one_time_codes",
            Self::WebauthnCeremonies => "webauthn_ceremonies",
            Self::PasswordlessSends => "passwordless_sends",
            Self::UnknownLoginFailures => "unknown_login_failures",
            Self::OutboxMessages => "outbox",
            Self::WebhookDeliveries => "webhook_deliveries",
            Self::Events => "events",
        }
    }
}

/// The instants the rules are stated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneCutoffs {
    /// A row whose expiry is before this is expired for good (now minus `PRUNE_GRACE`).
    pub expired_before: OffsetDateTime,
    /// An access token issued before this has expired (`expired_before` minus the access-token lifetime).
    pub issued_before: OffsetDateTime,
    /// A passwordless send made before this no longer counts towards the send limit (`expired_before` minus
    /// the limit's window).
    pub sent_before: OffsetDateTime,
    /// An outbox message finished before this is forgotten (`expired_before` minus `FINISHED_MESSAGES_KEPT`).
    pub finished_before: OffsetDateTime,
    /// A webhook delivery finished before this leaves the delivery history (`expired_before` minus
    /// `DELIVERY_HISTORY_KEPT`).
    pub delivered_before: OffsetDateTime,
    /// Failures of an email without an account last counted before this are forgotten (`expired_before` minus
    /// `UNKNOWN_FAILURES_KEPT`).
    pub failures_before: OffsetDateTime,
    /// Events created before this are deleted; `None` keeps them all.
    pub events_before: Option<OffsetDateTime>,
}

/// Deleting short-lived records that are dead (`crate::prune` states the rule of each kind).
#[async_trait]
pub trait PruneRepo {
    /// Deletes up to `limit` dead rows of `kind`, oldest first, and returns how many. Rows another
    /// transaction holds locked are skipped, so several nodes can prune at once without waiting on each other.
    async fn prune_expired(&self, kind: Prunable, cutoffs: &PruneCutoffs, limit: u64) -> Result<u64>;
}
