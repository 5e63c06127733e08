//! Refresh with rotation and reuse detection, logout, session listing and revocation, token verification.

use super::Session;
use crate::accounts::Role;
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::services::{ClientMeta, Services};
use crate::tokens::{AccessClaims, IssuedTokens, TokenRejection};
use crate::{crypto, ids};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// A token that verified, with its session still live.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
    pub expires_at: OffsetDateTime,
}

/// Which of a user's sessions end.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ending<'a> {
    /// One session, if it is the user's and not revoked yet.
    One(&'a str),
    /// Every session not revoked yet, except the one given (a password change keeps the one making it).
    AllBut(Option<&'a str>),
}

fn invalid_refresh() -> CoreError {
    CoreError::unauthenticated("invalid_refresh_token", "The refresh token is invalid or expired")
}

impl Services {
    /// Ends sessions of the user for `reason` inside `repo`'s transaction, and queues a back-channel logout
    /// for each RP holding a grant under one of them; returns how many ended. Every way a session is ended
    /// on purpose goes through here (a step-up is not an end: its session lives on under the same `sid`).
    /// After the commit, call `sessions_ended`.
    pub(crate) async fn end_sessions(
        &self,
        repo: &dyn crate::store::Repo,
        org_id: &str,
        user_id: &str,
        ending: Ending<'_>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let ended = match ending {
            Ending::One(session_id) => u64::from(repo.revoke_session(org_id, user_id, session_id, reason, now).await?),
            Ending::AllBut(keep) => repo.revoke_user_sessions(org_id, user_id, keep, reason, now).await?,
        };
        if ended > 0 {
            let sids = repo.sids_revoked_at(org_id, user_id, reason, now).await?;
            self.queue_backchannel_logouts(repo, org_id, user_id, &sids, now).await?;
        }
        Ok(ended)
    }

    /// After a commit that ended sessions: this node forgets what it cached about them at once (other nodes
    /// within a second), and its outbox worker sends the logout notices without waiting for its next poll.
    pub(crate) fn sessions_ended(&self) {
        self.cache.invalidate();
        self.wake_outbox();
    }

    /// Exchanges a refresh token for a new pair. A token presented twice revokes its whole session, because
    /// one of the two presenters is not the legitimate client.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        caller_org: Option<&str>,
        meta: &ClientMeta,
    ) -> Result<IssuedTokens> {
        if !refresh_token.starts_with("rt_") || refresh_token.len() > 128 {
            return Err(invalid_refresh());
        }
        let now = self.now();
        let tx = self.store.begin().await?;
        let record = tx.find_refresh_token(&crypto::sha256_hex(refresh_token)).await?.ok_or_else(invalid_refresh)?;
        if caller_org.is_some_and(|org| org != record.org_id) {
            return Err(invalid_refresh());
        }
        let session = tx.find_session(&record.session_id).await?.ok_or_else(invalid_refresh)?;
        if record.used_at.is_some() || !tx.mark_refresh_token_used(&record.id, now).await? {
            let ending = Ending::One(&session.id);
            let revoked =
                self.end_sessions(&*tx, &session.org_id, &session.user_id, ending, "refresh_token_reused", now).await?
                    > 0;
            tx.insert_event(&Event::new(
                &session.org_id,
                types::REFRESH_TOKEN_REUSED,
                Some(&session.user_id),
                json!({"user_id": session.user_id, "session_id": session.id, "ip": meta.ip, "session_revoked": revoked}),
                now,
            ))
            .await?;
            tx.commit().await?;
            self.sessions_ended();
            return Err(CoreError::unauthenticated(
                "refresh_token_reused",
                "This refresh token was already used; the session has been revoked",
            ));
        }
        if session.revoked_at.is_some() {
            return Err(CoreError::unauthenticated("session_revoked", "The session has been revoked"));
        }
        if !session.is_active(now) || record.expires_at <= now {
            return Err(CoreError::unauthenticated("session_expired", "The session has expired; sign in again"));
        }
        let user = tx.find_user(&session.org_id, &session.user_id).await?.ok_or_else(invalid_refresh)?.user;
        if user.is_blocked {
            return Err(CoreError::forbidden_code("user_blocked", "This account has been blocked"));
        }
        let idle = (now + Duration::seconds(self.config.sessions.idle_timeout_secs)).min(session.absolute_expires_at);
        tx.touch_session(&session.id, now, idle).await?;
        let tokens = self.issue_tokens(&*tx, &user, &session.id, idle).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    pub async fn logout(&self, actor: &Actor) -> Result<()> {
        let (org_id, user_id, session_id) = actor.require_user()?;
        self.revoke_with_event(org_id, user_id, session_id, "logout").await.map(|_| ())
    }

    /// Ends one session of the user, with its `session.revoked` event; false when it was not live.
    pub(crate) async fn revoke_with_event(
        &self,
        org_id: &str,
        user_id: &str,
        session_id: &str,
        reason: &str,
    ) -> Result<bool> {
        let now = self.now();
        let tx = self.store.begin().await?;
        let revoked = self.end_sessions(&*tx, org_id, user_id, Ending::One(session_id), reason, now).await? > 0;
        if revoked {
            tx.insert_event(&Event::new(
                org_id,
                types::SESSION_REVOKED,
                Some(user_id),
                json!({"user_id": user_id, "session_id": session_id, "reason": reason}),
                now,
            ))
            .await?;
        }
        tx.commit().await?;
        self.sessions_ended();
        Ok(revoked)
    }

    /// The caller's live sessions, newest first, with the one making this call marked.
    pub async fn list_sessions(&self, actor: &Actor) -> Result<Vec<(Session, bool)>> {
        let (org_id, user_id, current) = actor.require_user()?;
        let sessions = self.store.list_active_sessions(org_id, user_id, self.now()).await?;
        Ok(sessions.into_iter().map(|s| (s.id == current, s)).map(|(c, s)| (s, c)).collect())
    }

    pub async fn revoke_session(&self, actor: &Actor, session_id: &str) -> Result<()> {
        let (org_id, user_id, _) = actor.require_user()?;
        if !ids::is_valid_id(ids::SESSION, session_id)
            || !self.revoke_with_event(org_id, user_id, session_id, "revoked_by_user").await?
        {
            return Err(CoreError::NotFound { entity: "session" });
        }
        Ok(())
    }

    /// Signs the user out everywhere, including this session.
    pub async fn revoke_all_sessions(&self, actor: &Actor) -> Result<u64> {
        let (org_id, user_id, _) = actor.require_user()?;
        let now = self.now();
        let tx = self.store.begin().await?;
        let count = self.end_sessions(&*tx, org_id, user_id, Ending::AllBut(None), "revoked_everywhere", now).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::SESSION_REVOKED,
            Some(user_id),
            json!({"user_id": user_id, "reason": "revoked_everywhere", "count": count}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.sessions_ended();
        Ok(count)
    }

    /// Full verification: signature, issuer, expiry, and that the session behind it is still live.
    pub async fn verify_access_token(&self, token: &str) -> Result<std::result::Result<VerifiedToken, TokenRejection>> {
        if token.len() > 4096 {
            return Ok(Err(TokenRejection::Malformed));
        }
        let now = self.now();
        let claims = match self.cache.claims(token) {
            Some(claims) => claims,
            None => match self.keys.verify(&*self.store, token, |org| self.issuer(org)).await? {
                Ok(claims) => {
                    self.cache.put_claims(token, &claims);
                    claims
                }
                Err(rejection) => return Ok(Err(rejection)),
            },
        };
        if claims.exp <= now.unix_timestamp() {
            return Ok(Err(TokenRejection::Expired));
        }
        let session = match self.cache.session(&claims.sid) {
            Some(session) => Some(session),
            None => {
                let generation = self.cache.generation();
                let found = self.store.find_session(&claims.sid).await?;
                if let Some(session) = &found {
                    self.cache.put_session(session, generation);
                }
                found
            }
        };
        let live = session.is_some_and(|s| s.user_id == claims.sub && s.org_id == claims.org_id && s.is_active(now));
        if !live {
            return Ok(Err(TokenRejection::SessionRevoked));
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or(now);
        Ok(Ok(VerifiedToken { claims, expires_at }))
    }

    /// Verification on behalf of an API key: a token of another organization is not valid for it.
    pub async fn verify_token_for(
        &self,
        actor: &Actor,
        token: &str,
    ) -> Result<std::result::Result<VerifiedToken, TokenRejection>> {
        let org_id = actor.require_admin(Role::Admin)?;
        Ok(match self.verify_access_token(token).await? {
            Ok(v) if v.claims.org_id != org_id => Err(TokenRejection::WrongOrganization),
            other => other,
        })
    }

    /// Turns a bearer access token into an actor, or the reason it is refused.
    pub async fn authenticate_user_token(&self, token: &str) -> Result<Actor> {
        match self.verify_access_token(token).await? {
            Ok(v) => Ok(Actor::User {
                role: v
                    .claims
                    .role
                    .parse()
                    .map_err(|_| CoreError::unauthenticated("invalid_token", "Invalid token"))?,
                org_id: v.claims.org_id,
                user_id: v.claims.sub,
                session_id: v.claims.sid,
            }),
            Err(TokenRejection::Expired) => {
                Err(CoreError::unauthenticated("token_expired", "The access token has expired"))
            }
            Err(TokenRejection::SessionRevoked) => {
                Err(CoreError::unauthenticated("session_revoked", "The session of this token has ended"))
            }
            Err(_) => Err(CoreError::unauthenticated("invalid_token", "The access token is invalid")),
        }
    }
}
