//! The one approval engine of the "approve on another device" grants — the device authorization grant
//! (RFC 8628) and CIBA poll mode: the polling rules at the token endpoint (`authorization_pending`,
//! `slow_down`, `expired_token`, `access_denied`), the one redemption for tokens (a second one revokes them,
//! like a reused authorization code: `redeem_approval`), the user's decision recorded once with its grant and
//! event (`answer_approval`), and the second factor a client may demand first. Each grant only finds its
//! authorization and checks whose it is; a new "approve elsewhere" flow is a new `ApprovalKind` and caller.

use super::consent::{ACR_MULTI_FACTOR, acr_of};
use super::error::OAuthError;
use super::store::{ApprovalKind, FlowStatus};
use super::token::TokenResponse;
use super::{ConsentDecision, DpopKey, Grant, OidcClient, OidcResult};
use crate::accounts::User;
use crate::error::{CoreError, Result};
use crate::events::Event;
use crate::ids;
use crate::services::Services;
use crate::sessions::Session;
use crate::store::Repo;
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// How often a client may poll the token endpoint at first (RFC 8628 §3.2 default).
pub const POLL_INTERVAL_SECS: i64 = 5;
/// What each `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

/// The polling state of one pending authorization, as the token endpoint sees it.
pub(crate) struct PollState {
    pub status: FlowStatus,
    pub grant_id: Option<String>,
    pub interval_secs: i64,
    pub last_polled_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

/// What a poll found before any tokens are made.
pub(crate) enum Poll {
    /// Answer this error (pending, slow down, expired, denied).
    Refuse(OAuthError),
    /// The user approved: spend the authorization and issue the grant's tokens.
    Approved { grant_id: String },
    /// Tokens were issued for it already: someone holds a copy (see `Services::refuse_reuse`).
    Reused { grant_id: Option<String> },
}

impl PollState {
    /// Applies the polling rules at `now`. `poll_interval` is the interval to record with this poll (raised by
    /// `slow_down` when the client came back too early); the caller persists it with `now`.
    pub fn judge(&self, now: OffsetDateTime, what: &str) -> (Poll, Option<i64>) {
        if self.used_at.is_some() {
            return (Poll::Reused { grant_id: self.grant_id.clone() }, None);
        }
        if self.expires_at <= now {
            return (Poll::Refuse(OAuthError::new("expired_token", format!("the {what} has expired"))), None);
        }
        let too_early = self.last_polled_at.is_some_and(|t| now - t < Duration::seconds(self.interval_secs));
        if too_early {
            let interval = self.interval_secs + SLOW_DOWN_STEP_SECS;
            let e = OAuthError::new("slow_down", format!("poll at most every {interval} seconds"));
            return (Poll::Refuse(e), Some(interval));
        }
        let answer = match (self.status, &self.grant_id) {
            (FlowStatus::Approved, Some(grant_id)) => Poll::Approved { grant_id: grant_id.clone() },
            (FlowStatus::Denied, _) => Poll::Refuse(OAuthError::new("access_denied", "the user declined")),
            _ => Poll::Refuse(OAuthError::new("authorization_pending", "the user has not answered yet")),
        };
        (answer, Some(self.interval_secs))
    }
}

/// A second factor the client (or the request's `acr_values`) demands before the user may approve.
pub enum StepUp {
    /// Verify the code for this `mfa_token` first (the hosted MFA form), then come back.
    SecondFactor { mfa_token: String },
}

pub(crate) fn wants_second_factor(client: &OidcClient, acr_values: &[String]) -> bool {
    client.require_mfa || acr_values.iter().any(|a| a == ACR_MULTI_FACTOR)
}

pub(crate) fn no_second_factor() -> CoreError {
    CoreError::invalid(
        "mfa_not_enabled",
        "This application requires a second factor and your account has none set up; the request was declined",
    )
}

pub(crate) fn second_factor_first() -> CoreError {
    CoreError::invalid("second_factor_required", "This application requires a second factor first; reload the page")
}

impl Services {
    /// A device code or `auth_req_id` redeemed again: like a reused authorization code, the grant its tokens
    /// came from is revoked (with a `security.oidc_token_reuse` event of `kind`); returns the error to answer.
    pub(crate) async fn refuse_reuse(&self, grant_id: Option<&str>, kind: &str, what: &str) -> Result<OAuthError> {
        if let Some(grant_id) = grant_id {
            self.revoke_on_reuse(grant_id, kind).await?;
        }
        Ok(OAuthError::new(
            "invalid_grant",
            format!("the {what} was already exchanged for tokens; the tokens issued from it are revoked"),
        ))
    }

    /// `Ok(None)` when the session may approve as it is; a step-up challenge when it needs a second factor;
    /// `Err(mfa_not_enabled)` when the user has none (the caller declines the request).
    pub(crate) async fn step_up_before_approval(
        &self,
        client: &OidcClient,
        acr_values: &[String],
        user: &User,
        session: &Session,
    ) -> Result<std::result::Result<Option<StepUp>, CoreError>> {
        if !wants_second_factor(client, acr_values) || session.is_multi_factor() {
            return Ok(Ok(None));
        }
        Ok(match self.start_step_up(user, session).await? {
            Some(mfa_token) => Ok(Some(StepUp::SecondFactor { mfa_token })),
            None => Err(no_second_factor()),
        })
    }

    /// The grant an approval makes (written through the caller's transaction), remembering the consent the way
    /// the code flow does. No nonce: neither grant has an authorization request that carried one.
    pub(crate) async fn grant_for_approval(
        &self,
        repo: &dyn Repo,
        client: &OidcClient,
        user: &User,
        session: &Session,
        offered: &[String],
        granted: Vec<String>,
    ) -> Result<Grant> {
        let now = self.now();
        self.remember_consent(repo, user, client, offered, &granted).await?;
        let grant = Grant {
            id: ids::new_id(ids::OIDC_GRANT),
            org_id: client.org_id.clone(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            session_id: Some(session.sid.clone()),
            scope: granted,
            claims: None,
            nonce: None,
            auth_time: session.created_at,
            amr: session.amr.clone(),
            acr: acr_of(&session.amr).to_owned(),
            revoked_at: None,
            created_at: now,
        };
        repo.insert_grant(&grant).await?;
        Ok(grant)
    }

    /// What the user decided on the phone, in the caller's transaction: the status, and for an approval the
    /// grant of the scopes left ticked (`grant_for_approval`).
    pub(crate) async fn decision_outcome(
        &self,
        repo: &dyn Repo,
        approval: Approval<'_>,
        decision: ConsentDecision,
    ) -> Result<(FlowStatus, Option<Grant>)> {
        Ok(match decision {
            ConsentDecision::Deny => (FlowStatus::Denied, None),
            ConsentDecision::Approve(chosen) => {
                let granted = chosen_scopes(approval.requested, &chosen);
                let (client, user, session) = (approval.client, approval.user, approval.session);
                let grant = self.grant_for_approval(repo, client, user, session, approval.requested, granted).await?;
                (FlowStatus::Approved, Some(grant))
            }
        })
    }
}

/// An authorization approved elsewhere, as the token endpoint redeems it.
pub(crate) struct Redemption<'a> {
    pub kind: ApprovalKind,
    pub id: &'a str,
    pub state: PollState,
    /// What the client holds, for the error descriptions (`device code`, `auth_req_id`).
    pub what: &'static str,
    /// The `kind` of the `security.oidc_token_reuse` event a second redemption records.
    pub reuse_kind: &'static str,
}

impl Services {
    /// The redemption of both grants: the polling rules (the poll recorded with its interval), then, once
    /// approved and while the grant stands, the authorization spent and the grant's tokens issued together.
    pub(crate) async fn redeem_approval(
        &self,
        client: &OidcClient,
        r: Redemption<'_>,
        dpop: Option<&DpopKey>,
    ) -> OidcResult<TokenResponse> {
        let now = self.now();
        let (poll, interval) = r.state.judge(now, r.what);
        if let Some(interval) = interval {
            self.store.record_approval_poll(r.kind, r.id, now, interval).await?;
        }
        let grant_id = match poll {
            Poll::Refuse(e) => return Err(e.into()),
            Poll::Reused { grant_id } => {
                return Err(self.refuse_reuse(grant_id.as_deref(), r.reuse_kind, r.what).await?.into());
            }
            Poll::Approved { grant_id } => grant_id,
        };
        let Some((grant, user)) = self.live_grant(client, &grant_id).await? else {
            return Err(OAuthError::new("invalid_grant", "the authorization was revoked").into());
        };
        let tx = self.store.begin().await?;
        if !tx.spend_approval(r.kind, r.id, now).await? {
            // Another poll spent it a moment ago.
            drop(tx);
            return Err(self.refuse_reuse(Some(&grant.id), r.reuse_kind, r.what).await?.into());
        }
        let tokens = self.issue_grant_tokens(&*tx, client, &grant, &user, false, dpop).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// The user's decision on the authorization `id` of `kind`, recorded once in one transaction: the status,
    /// the grant of the scopes left ticked, and the `[approved, denied]` event. `None` when it was answered
    /// before or has expired (nothing is written then).
    pub(crate) async fn answer_approval(
        &self,
        kind: ApprovalKind,
        id: &str,
        approval: Approval<'_>,
        decision: ConsentDecision,
        events: [&'static str; 2],
    ) -> Result<Option<FlowStatus>> {
        let now = self.now();
        let tx = self.store.begin().await?;
        let (status, grant) = self.decision_outcome(&*tx, approval, decision).await?;
        let grant_id = grant.as_ref().map(|g| g.id.as_str());
        if !tx.decide_approval(kind, id, status, &approval.user.id, grant_id, now).await? {
            return Ok(None);
        }
        approval.record(&*tx, (status, grant.as_ref()), events, now).await?;
        tx.commit().await?;
        Ok(Some(status))
    }
}

/// Who approves which request on the phone.
#[derive(Clone, Copy)]
pub(crate) struct Approval<'a> {
    pub client: &'a OidcClient,
    pub user: &'a User,
    pub session: &'a Session,
    pub requested: &'a [String],
}

impl Approval<'_> {
    /// The decision's event (`approved` or `denied` by status), in the caller's transaction.
    pub(crate) async fn record(
        &self,
        repo: &dyn Repo,
        (status, grant): (FlowStatus, Option<&Grant>),
        [approved, denied]: [&'static str; 2],
        now: OffsetDateTime,
    ) -> Result<()> {
        let event = if status == FlowStatus::Approved { approved } else { denied };
        let scopes = grant.map(|g| g.scope.clone()).unwrap_or_default();
        repo.insert_event(&Event::new(
            &self.client.org_id,
            event,
            Some(&self.user.id),
            json!({"user_id": self.user.id, "client_id": self.client.id, "scopes": scopes}),
            now,
        ))
        .await
    }
}

/// The scopes of a request left ticked by the user (`openid` always stays).
pub(crate) fn chosen_scopes(requested: &[String], chosen: &[String]) -> Vec<String> {
    requested.iter().filter(|s| *s == "openid" || chosen.contains(s)).cloned().collect()
}

/// Validates a space-separated `scope` against the provider's scopes and the client's registration.
pub(crate) fn requested_scopes(
    client: &OidcClient,
    scope: Option<&str>,
) -> std::result::Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !super::SCOPES.contains(&s) || !client.allowed_scopes.iter().any(|a| a == s) {
            return Err(OAuthError::new("invalid_scope", format!("scope {s:?} is not allowed for this client")));
        }
        if !out.iter().any(|x| x == s) {
            out.push(s.to_owned());
        }
    }
    if out.is_empty() {
        return Err(OAuthError::new("invalid_scope", "scope is required"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(last: Option<i64>) -> PollState {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        PollState {
            status: FlowStatus::Pending,
            grant_id: None,
            interval_secs: 5,
            last_polled_at: last.map(|s| t0 + Duration::seconds(s)),
            expires_at: t0 + Duration::seconds(600),
            used_at: None,
        }
    }

    #[test]
    fn polling_before_the_interval_is_over_slows_the_client_down_by_five_seconds() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let (poll, interval) = state(Some(0)).judge(t0 + Duration::seconds(4), "device code");
        assert!(matches!(poll, Poll::Refuse(ref e) if e.error == "slow_down"));
        assert_eq!(interval, Some(10));
        let (poll, interval) = state(Some(0)).judge(t0 + Duration::seconds(5), "device code");
        assert!(matches!(poll, Poll::Refuse(ref e) if e.error == "authorization_pending"));
        assert_eq!(interval, Some(5));
        let (poll, _) = state(None).judge(t0 + Duration::seconds(600), "device code");
        assert!(matches!(poll, Poll::Refuse(ref e) if e.error == "expired_token"));
    }
}
