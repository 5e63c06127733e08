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

pub mod store;

pub use store::{Prunable, PruneCutoffs};

use crate::error::Result;
use crate::services::Services;
use time::Duration;

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
