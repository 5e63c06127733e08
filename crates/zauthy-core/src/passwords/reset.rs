//! Forgotten-password reset by emailed single-use token, and password change for a signed-in user.

use super::check_password_policy;
use super::store::PasswordResetRecord;
use crate::accounts::Email;
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::outbox::{OutboxMessage, password_reset_email};
use crate::services::{ClientMeta, Services};
use crate::sessions::Ending;
use crate::{crypto, ids};
use serde_json::json;
use std::sync::Arc;
use time::Duration;

/// The one answer `/password/forgot` ever gives, so it reveals nothing about which emails exist.
pub const FORGOT_PASSWORD_MESSAGE: &str = "If an account exists, a reset link has been sent.";

/// The least time between two reset emails to one address (known or not).
pub const RESET_EMAIL_COOLDOWN: Duration = Duration::seconds(60);

fn invalid_reset_token() -> CoreError {
    CoreError::invalid("invalid_reset_token", "The reset token is invalid, expired or already used")
}

impl Services {
    /// Queues a reset email if the account exists and may sign in; answers the same either way, after the
    /// same work. The answer is decided by the send limits alone (those of magic links and one-time codes,
    /// counted for every address, known or not, plus 60 s between emails to one address); the account is looked
    /// up and the email queued afterwards, detached from the answer, so neither the answer nor the time it
    /// takes says whether the address has an account. Errors of that part are logged.
    pub async fn forgot_password(self: &Arc<Self>, actor: &Actor, email: &str, meta: &ClientMeta) -> Result<()> {
        let org_id = actor.require_api_key()?.to_owned();
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let destination = self.destination_hash(&org_id, "email", email.as_str());
        let tx = self.store.begin().await?;
        self.record_send(&*tx, &org_id, &destination, Some(RESET_EMAIL_COOLDOWN)).await?;
        tx.commit().await?;
        let services = Arc::clone(self);
        let meta = meta.clone();
        tokio::spawn(async move {
            if let Err(e) = services.queue_reset_email(&org_id, &email, &meta).await {
                tracing::error!(error = %e, org_id, "queueing a password reset email failed");
            }
        });
        Ok(())
    }

    /// The part of `forgot_password` that depends on the account: the reset token and its email, in one
    /// transaction.
    async fn queue_reset_email(&self, org_id: &str, email: &Email, meta: &ClientMeta) -> Result<()> {
        let Some(found) = self.store.find_user_by_email(org_id, email).await? else {
            return Ok(());
        };
        if found.user.is_blocked {
            return Ok(());
        }
        let org = self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })?;
        let now = self.now();
        let token = crypto::new_opaque_token("prt");
        let record = PasswordResetRecord {
            id: ids::new_id(ids::RESET),
            org_id: org_id.to_owned(),
            user_id: found.user.id.clone(),
            token_hash: crypto::sha256_hex(&token),
            expires_at: now + Duration::seconds(self.config.reset_token_ttl_secs),
            used_at: None,
            created_at: now,
        };
        let url = match &self.config.password_reset_url {
            Some(base) => format!("{base}{}token={token}", if base.contains('?') { '&' } else { '?' }),
            None => format!("{}/api/v1/password/reset (POST the token)", self.config.public_url.trim_end_matches('/')),
        };
        let message =
            password_reset_email(email.as_str(), &org.name, &url, &token, self.config.reset_token_ttl_secs / 60);
        let tx = self.store.begin().await?;
        tx.insert_reset_token(&record).await?;
        self.queue_message(&*tx, OutboxMessage::email(Some(org_id), &message, now)).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::PASSWORD_RESET_REQUESTED,
            Some(&found.user.id),
            json!({"user_id": found.user.id, "ip": meta.ip}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.wake_outbox();
        Ok(())
    }

    /// Sets a new password from a reset token, spends the token and signs the user out everywhere.
    pub async fn reset_password(&self, actor: &Actor, token: &str, new_password: &str) -> Result<()> {
        let org_id = actor.require_api_key()?;
        if !token.starts_with("prt_") || token.len() > 128 {
            return Err(invalid_reset_token());
        }
        check_password_policy(new_password)?;
        let hash = self.hasher.hash(new_password).await?;
        let now = self.now();
        let tx = self.store.begin().await?;
        let record = tx.find_reset_token(&crypto::sha256_hex(token)).await?.ok_or_else(invalid_reset_token)?;
        if record.org_id != org_id || record.used_at.is_some() || record.expires_at <= now {
            return Err(invalid_reset_token());
        }
        if !tx.mark_reset_token_used(&record.id, now).await? {
            return Err(invalid_reset_token());
        }
        tx.set_password_hash(&record.user_id, &hash, now).await?;
        // Proving control of the mailbox also ends a lockout.
        tx.unlock_user(org_id, &record.user_id, now).await?;
        tx.invalidate_reset_tokens(&record.user_id, now).await?;
        self.end_sessions(&*tx, org_id, &record.user_id, Ending::AllBut(None), "password_reset", now).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::PASSWORD_RESET,
            Some(&record.user_id),
            json!({"user_id": record.user_id}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.sessions_ended();
        Ok(())
    }

    /// Changes the signed-in user's password; other sessions end, this one stays. A wrong current password
    /// counts toward the lockout like a wrong login, so a stolen access token cannot guess the password.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new_password: &str,
        meta: &ClientMeta,
    ) -> Result<()> {
        let (org_id, user_id, session_id) = actor.require_user()?;
        let found = self.store.find_user(org_id, user_id).await?.ok_or(CoreError::NotFound { entity: "user" })?;
        let wrong = || CoreError::unauthenticated("invalid_credentials", "The current password is wrong");
        let Some(stored) = found.password_hash.filter(|_| current.chars().count() <= super::MAX_PASSWORD_CHARS) else {
            return Err(wrong());
        };
        check_password_policy(new_password)?;
        if current == new_password {
            return Err(CoreError::invalid("password_unchanged", "The new password must differ from the current one"));
        }
        let attempt = self.reserve_attempt(&found.user).await?;
        if !self.hasher.verify(current, &stored).await?.ok {
            return Err(match self.attempt_failed(&attempt, meta).await {
                CoreError::Unauthenticated { code: "invalid_credentials", .. } => wrong(),
                other => other,
            });
        }
        let hash = self.hasher.hash(new_password).await?;
        let now = self.now();
        let tx = self.store.begin().await?;
        self.attempt_succeeded(&*tx, &attempt).await?;
        tx.set_password_hash(user_id, &hash, now).await?;
        tx.invalidate_reset_tokens(user_id, now).await?;
        let others = Ending::AllBut(Some(session_id));
        self.end_sessions(&*tx, org_id, user_id, others, "password_changed", now).await?;
        tx.insert_event(&Event::new(org_id, types::PASSWORD_CHANGED, Some(user_id), json!({"user_id": user_id}), now))
            .await?;
        tx.commit().await?;
        self.sessions_ended();
        Ok(())
    }
}
