//! OpenID Connect Back-Channel Logout 1.0. When sessions of a user end (sign-out, revocation, sign-out
//! everywhere, a password reset or change, a block or role change, a reused refresh token, deletion), each
//! client holding a live grant under one of their `sid`s that registered a `backchannel_logout_uri` gets a
//! logout token. The notice is queued in the outbox by the transaction that ends the sessions, so it is sent
//! at least once even if the process stops right after the commit. The token is signed when it is sent (a
//! fresh `iat`, `exp` and `jti` per attempt, so a retry an hour later is not refused as stale), with the
//! client's ID-token algorithm, and POSTed through the webhook transport, under the same outbound rules
//! (https, public addresses only, no redirects). A 2xx answer ends it; anything else is retried with the
//! outbox's backoff.
//!
//! Not a logout: a step-up (the session replacing the stepped-up one keeps its `sid`) and a session that just
//! expires (nothing happens at that moment to announce it).

use crate::error::Result;
use crate::ids;
use crate::outbox::OutboxMessage;
use crate::services::Services;
use crate::store::Repo;
use crate::tokens::SigningAlg;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

/// The outbox kind of a back-channel logout notice.
pub const KIND_BACKCHANNEL_LOGOUT: &str = "backchannel_logout";
/// The `events` member that makes a JWT a logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is good for this long after it is signed.
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

/// What the outbox keeps: who is to be told about which session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogoutNotice {
    client_id: String,
    user_id: String,
    sid: String,
}

/// What the sender POSTs, built from a notice at the moment of sending.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutDelivery {
    pub uri: String,
    pub logout_token: String,
}

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: String,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: &'a str,
    sid: &'a str,
    events: serde_json::Value,
}

impl Services {
    /// Queues a logout notice, inside `repo`'s transaction, for each client that wants one and holds a live
    /// grant of the user under one of `sids`. Returns how many were queued.
    pub(crate) async fn queue_backchannel_logouts(
        &self,
        repo: &dyn Repo,
        org_id: &str,
        user_id: &str,
        sids: &[String],
        now: OffsetDateTime,
    ) -> Result<usize> {
        let mut queued = 0;
        for (client_id, sid) in repo.clients_of_sessions(org_id, user_id, sids).await? {
            let wants =
                repo.find_oidc_client(&client_id).await?.is_some_and(|(c, _)| c.backchannel_logout_uri.is_some());
            if !wants {
                continue;
            }
            let notice = LogoutNotice { client_id, user_id: user_id.to_owned(), sid };
            let message = OutboxMessage {
                id: ids::new_id(ids::OUTBOX),
                org_id: Some(org_id.to_owned()),
                kind: KIND_BACKCHANNEL_LOGOUT.to_owned(),
                payload: serde_json::to_value(&notice).unwrap_or_default(),
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
            };
            self.queue_message(repo, message).await?;
            queued += 1;
        }
        Ok(queued)
    }

    /// The request to send for a queued notice: the client's URI as it is now and a freshly signed logout
    /// token. `None` when there is nothing to send any more (the client was deleted or dropped its URI).
    pub(crate) async fn logout_delivery(&self, message: &OutboxMessage) -> Result<Option<LogoutDelivery>> {
        let Some(org_id) = message.org_id.as_deref() else {
            return Ok(None);
        };
        let Ok(notice) = serde_json::from_value::<LogoutNotice>(message.payload.clone()) else {
            return Ok(None);
        };
        let client = self.store.find_oidc_client(&notice.client_id).await?.map(|(c, _)| c);
        let Some((client, uri)) =
            client.filter(|c| c.org_id == org_id).and_then(|c| c.backchannel_logout_uri.clone().map(|u| (c, u)))
        else {
            return Ok(None);
        };
        let now = self.now();
        let sub = self.subject_for(&client, &notice.user_id);
        let claims = LogoutClaims {
            iss: self.issuer(org_id),
            aud: &client.id,
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + LOGOUT_TOKEN_TTL_SECS,
            jti: ids::new_id("lt"),
            sub: &sub,
            sid: &notice.sid,
            events: json!({ LOGOUT_EVENT: {} }),
        };
        let alg = SigningAlg::parse(&client.id_token_signed_response_alg).unwrap_or(SigningAlg::RS256);
        let logout_token = self.keys.sign_typed(&*self.store, org_id, alg, now, "logout+jwt", &claims).await?;
        Ok(Some(LogoutDelivery { uri, logout_token }))
    }
}
