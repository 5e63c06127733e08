//! Forgetting short-lived records once nothing can use them. Authorization requests (and PAR), codes, device
//! codes, backchannel requests, secondary-device requests with their login_hint_tokens, `private_key_jwt`
//! assertion ids, MFA challenges and social-login states are written for requests nobody has authenticated
//! yet; sessions, their refresh tokens and browser cookies, password reset tokens, magic links, one-time codes,
//! WebAuthn ceremonies and the passwordless send counter are written on every sign-in or send. Without this
//! they would stay forever. The same job bounds the records of what was sent: outbox messages a week after
//! they went, webhook deliveries after 30 days of history, and events after the retention an operator set
//! (kept by default). The server runs `prune_expired_records` periodically, on every node: each batch skips
//! rows another node is deleting at that moment.
//!
//! A spent single-use credential is kept as long as it guards something: presenting a used code, device code,
//! `auth_req_id` or refresh token again revokes its grant (RFC 9700 §4.14), so those rows stay while the grant
//! could still have a live token. A grant is *finished* when it is revoked, or when it last issued tokens (the
//! guarding row's use, or any of its refresh tokens' creation) before `issued_before` and none of its refresh
//! tokens expires after `expired_before`. Everything else goes once its own expiry is `PRUNE_GRACE` past.
//!
//! A grant (`oidc_grants`) is *dead* once no row references it any more (no code, client refresh token,
//! device flow or backchannel request: each went by its own rule above) and it was created before
//! `issued_before`. Every token a grant issues comes from one of those rows (the code exchange, a poll, a
//! refresh), and none of them goes before the access token issued from it has expired; so when the last one is
//! gone, no live access token names the grant. Revoked or not makes no difference then: revocation only has
//! to be remembered while something could still present a token of the grant. Remembered consent is another
//! table (`oidc_consents`) and is never pruned.
//!
//! A session is *dead* when it was revoked, or passed its idle or absolute expiry, more than `PRUNE_GRACE` ago:
//! nothing revives it (only a refresh of a live session moves its idle expiry). Its refresh tokens and browser
//! cookies go first, then the session once none is left, so no statement cascades over an unbounded number of
//! children. A used refresh token of a live session stays, because presenting it again revokes the session
//! (reuse detection); an unused one past its own expiry can only be refused, so it goes. What named a session
//! without a foreign key (`oidc_grants.session_id`, kept only for the ID token's `sid`;
//! `mfa_challenges.replaces_session_id`; `cross_device_requests.session_id`) finds no session then and is
//! refused as if it had ended, as is an access token whose session is gone.

use crate::error::Result;
use crate::services::Services;
use time::{Duration, OffsetDateTime};

/// How long after its expiry a row is kept: nodes' clocks may differ a little, and for a while a late request
/// still reads "expired" rather than "unknown".
pub const PRUNE_GRACE: Duration = Duration::hours(1);
/// Rows deleted per statement (and transaction): short enough not to hold up other writers.
pub const PRUNE_BATCH: u64 = 500;
/// Batches per kind of record in one run, so a run is bounded; a backlog goes in the following runs.
const MAX_BATCHES: u32 = 20;
/// How long a sent (or given-up) outbox message's row stays, to say when and how it went.
pub const FINISHED_MESSAGES_KEPT: Duration = Duration::days(7);
/// How long a finished webhook delivery stays in the delivery history (`GET /webhooks/{id}/deliveries`).
pub const DELIVERY_HISTORY_KEPT: Duration = Duration::days(30);
/// How long the failure count of an email without an account is kept after its last failure (an account's
/// count stays until a sign-in succeeds; a month without guesses is where this one starts again).
pub const UNKNOWN_FAILURES_KEPT: Duration = Duration::days(30);

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

/// How many rows of each kind one run deleted (kinds with none left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<(Prunable, u64)>,
}

impl PruneReport {
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }

    /// How many rows of `kind` were deleted.
    pub fn of(&self, kind: Prunable) -> u64 {
        self.deleted.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
    }
}

impl Services {
    /// Deletes the short-lived records that are dead at the service clock's now, in batches of
    /// `PRUNE_BATCH` (each its own transaction), at most `MAX_BATCHES` per kind.
    pub async fn prune_expired_records(&self) -> Result<PruneReport> {
        self.cache.codes.forget_expired(self.now());
        let expired_before = self.now() - PRUNE_GRACE;
        let cutoffs = PruneCutoffs {
            expired_before,
            issued_before: expired_before - Duration::seconds(self.config.access_token_ttl_secs),
            sent_before: expired_before - crate::passwordless::SEND_LIMIT_WINDOW,
            finished_before: expired_before - FINISHED_MESSAGES_KEPT,
            delivered_before: expired_before - DELIVERY_HISTORY_KEPT,
            failures_before: expired_before - UNKNOWN_FAILURES_KEPT,
            events_before: self.config.event_retention_days.map(|days| expired_before - Duration::days(days)),
        };
        let mut report = PruneReport::default();
        for kind in Prunable::ALL {
            if kind == Prunable::Events && cutoffs.events_before.is_none() {
                continue;
            }
            let mut deleted = 0;
            for _ in 0..MAX_BATCHES {
                let tx = self.store.begin().await?;
                let n = tx.prune_expired(kind, &cutoffs, PRUNE_BATCH).await?;
                tx.commit().await?;
                deleted += n;
                if n < PRUNE_BATCH {
                    break;
                }
            }
            if deleted > 0 {
                report.deleted.push((kind, deleted));
            }
        }
        Ok(report)
    }
}
