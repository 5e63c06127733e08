//! The login-time second factor: a first factor leaves an `mfa_token` (single use, 5 minutes); presenting
//! it with a TOTP code (each time step accepted once) or an unused backup code opens the session. Wrong codes
//! count toward the same lockout schedule as wrong passwords.

use super::totp::{backup_code_hash, code_reused, invalid_code};
use super::{METHOD_BACKUP_CODE, METHOD_TOTP, MfaChallenge};
use crate::accounts::{LoginOutcome, ReservedAttempt, SignInMethod, User};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::services::{ClientMeta, Services};
use crate::store::Repo;
use crate::{crypto, ids};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// How long a first factor's `mfa_token` waits for the second.
const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Codes one `mfa_token` may try, whatever the account's lockout says (that counts across tokens).
pub const MFA_CHALLENGE_MAX_ATTEMPTS: i32 = 5;
const TOKEN_PREFIX: &str = "mfa_tmp";

/// The second factor presented with an `mfa_token`.
pub enum MfaProof {
    Totp(String),
    BackupCode(String),
}

impl MfaProof {
    /// Six digits are an authenticator code; anything else is taken as a backup code.
    pub fn parse(code: &str) -> Self {
        let c = code.trim();
        if c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()) {
            Self::Totp(c.to_owned())
        } else {
            Self::BackupCode(c.to_owned())
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Self::Totp(_) => METHOD_TOTP,
            Self::BackupCode(_) => METHOD_BACKUP_CODE,
        }
    }
}

fn invalid_token() -> CoreError {
    CoreError::unauthenticated("invalid_mfa_token", "The mfa_token is invalid")
}

impl Services {
    /// Called by `complete_sign_in` (and a step-up, with the session it replaces): when the user has confirmed
    /// TOTP, writes a challenge (in the caller's transaction) and returns the answer that asks for the second
    /// factor.
    pub(crate) async fn start_mfa_challenge(
        &self,
        repo: &dyn Repo,
        user: &User,
        first_factor: SignInMethod,
        replaces_session: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<LoginOutcome>> {
        if repo.find_totp(&user.id).await?.is_none_or(|t| t.confirmed_at.is_none()) {
            return Ok(None);
        }
        let token = crypto::new_opaque_token(TOKEN_PREFIX);
        repo.insert_mfa_challenge(&MfaChallenge {
            id: ids::new_id(ids::MFA_CHALLENGE),
            org_id: user.org_id.clone(),
            user_id: user.id.clone(),
            token_hash: crypto::sha256_hex(&token),
            first_factor: first_factor.as_str().to_owned(),
            replaces_session_id: replaces_session.map(str::to_owned),
            expires_at: now + CHALLENGE_TTL,
            used_at: None,
            created_at: now,
        })
        .await?;
        let mut methods = vec![METHOD_TOTP];
        if repo.count_unused_backup_codes(&user.id).await? > 0 {
            methods.push(METHOD_BACKUP_CODE);
        }
        Ok(Some(LoginOutcome::MfaRequired { mfa_token: token, methods }))
    }

    /// Completes a sign-in that stopped at `mfa_required`.
    pub async fn verify_mfa(
        &self,
        actor: &Actor,
        mfa_token: &str,
        proof: MfaProof,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let org_id = actor.require_sign_in_flow()?;
        if !mfa_token.starts_with("mfa_tmp_") || mfa_token.len() > 128 {
            return Err(invalid_token());
        }
        let now = self.now();
        let challenge =
            self.store.find_mfa_challenge(&crypto::sha256_hex(mfa_token)).await?.ok_or_else(invalid_token)?;
        if challenge.org_id != org_id {
            return Err(CoreError::unauthenticated(
                "mfa_token_wrong_organization",
                "This mfa_token was issued by another organization",
            ));
        }
        if challenge.used_at.is_some() {
            return Err(CoreError::unauthenticated("mfa_token_used", "This mfa_token was already used; sign in again"));
        }
        if challenge.expires_at <= now {
            return Err(CoreError::unauthenticated("mfa_token_expired", "The mfa_token has expired; sign in again"));
        }
        let found = self.store.find_user(org_id, &challenge.user_id).await?.ok_or_else(invalid_token)?;
        let user = found.user;
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            return Err(CoreError::locked(until, now));
        }
        if user.is_blocked {
            return Err(CoreError::forbidden_code("user_blocked", "This account has been blocked"));
        }
        let org = self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })?;
        let record = self.store.find_totp(&user.id).await?.filter(|t| t.confirmed_at.is_some());

        // Both counted before the code is checked: the token's tries, then the account's lockout.
        if !self.store.count_mfa_attempt(&challenge.id, MFA_CHALLENGE_MAX_ATTEMPTS, now).await? {
            let spent = self.store.find_mfa_challenge(&challenge.token_hash).await?.is_none_or(|c| c.used_at.is_some());
            return Err(if spent {
                CoreError::unauthenticated("mfa_token_used", "This mfa_token was already used; sign in again")
            } else {
                CoreError::unauthenticated(
                    "mfa_attempts_exceeded",
                    "Too many wrong codes were tried with this mfa_token; sign in again",
                )
            });
        }
        let attempt = self.reserve_attempt(&user).await?;
        let step = match &proof {
            MfaProof::Totp(code) => {
                let step = match &record {
                    Some(record) => self.check_totp(&self.totp_of(record, &org.name, user.email.as_str())?, code),
                    None => None,
                };
                let Some(step) = step else {
                    return Err(self.wrong_second_factor(&attempt, meta).await);
                };
                Some(step)
            }
            MfaProof::BackupCode(code) => {
                let stored = self.store.find_backup_code(&backup_code_hash(&user.id, code)).await?;
                if stored.is_none_or(|c| c.user_id != user.id) {
                    return Err(self.wrong_second_factor(&attempt, meta).await);
                }
                None
            }
        };

        let tx = self.store.begin().await?;
        self.attempt_succeeded(&*tx, &attempt).await?;
        match &proof {
            MfaProof::Totp(_) => {
                if !tx.accept_totp_step(&user.id, step.unwrap_or_default(), now).await? {
                    return Err(code_reused());
                }
            }
            MfaProof::BackupCode(code) => {
                let stored = tx.find_backup_code(&backup_code_hash(&user.id, code)).await?;
                let Some(stored) = stored.filter(|c| c.user_id == user.id) else {
                    return Err(invalid_code());
                };
                if stored.used_at.is_some() || !tx.spend_backup_code(&stored.id, now).await? {
                    return Err(CoreError::unauthenticated("backup_code_used", "This backup code was already used"));
                }
                tx.insert_event(&Event::new(
                    org_id,
                    types::MFA_BACKUP_CODE_USED,
                    Some(&user.id),
                    json!({"user_id": user.id, "remaining": tx.count_unused_backup_codes(&user.id).await?}),
                    now,
                ))
                .await?;
            }
        }
        if !tx.spend_mfa_challenge(&challenge.id, now).await? {
            return Err(CoreError::unauthenticated("mfa_token_used", "This mfa_token was already used; sign in again"));
        }
        let continues = match &challenge.replaces_session_id {
            Some(replaced) => Some(self.end_stepped_up_session(&*tx, &user, replaced, now).await?),
            None => None,
        };
        let outcome = self
            .open_session(&*tx, user, &challenge.first_factor, Some(proof.method()), continues.as_deref(), meta)
            .await?;
        tx.commit().await?;
        if challenge.replaces_session_id.is_some() {
            self.cache.invalidate();
        }
        Ok(outcome)
    }

    /// A step-up replaces the session that asked for it rather than adding a second one beside it: the
    /// multi-factor privilege comes with a new session id and cookie (no session fixation), and the
    /// single-factor cookie stops working. A session that ended meanwhile cannot be stepped up. The RPs'
    /// sessions carry over: the new session keeps the `sid` returned here, and this is not a logout.
    async fn end_stepped_up_session(
        &self,
        repo: &dyn Repo,
        user: &User,
        session_id: &str,
        now: OffsetDateTime,
    ) -> Result<String> {
        let ended = || {
            CoreError::unauthenticated("mfa_token_expired", "The sign-in this code was for has ended; sign in again")
        };
        let live = repo.find_session(session_id).await?.filter(|s| s.user_id == user.id && s.is_active(now));
        let Some(live) = live else {
            return Err(ended());
        };
        if !repo.revoke_session(&user.org_id, &user.id, session_id, "step_up", now).await? {
            return Err(ended());
        }
        repo.insert_event(&Event::new(
            &user.org_id,
            types::SESSION_REVOKED,
            Some(&user.id),
            json!({"user_id": user.id, "session_id": session_id, "reason": "step_up"}),
            now,
        ))
        .await?;
        Ok(live.sid)
    }

    /// A wrong second factor counts like a wrong password; the answer stays `invalid_mfa_code` until the
    /// account locks.
    async fn wrong_second_factor(&self, attempt: &ReservedAttempt, meta: &ClientMeta) -> CoreError {
        match self.attempt_failed(attempt, meta).await {
            CoreError::Unauthenticated { code: "invalid_credentials", .. } => invalid_code(),
            other => other,
        }
    }
}
