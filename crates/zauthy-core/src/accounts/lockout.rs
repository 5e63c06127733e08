//! Guesses at a password or second factor, counted before they are checked. A guess first reserves a place
//! in the failure counter (refused while the account is locked; the reservation that reaches a threshold of
//! the schedule sets the lock at once), then the guess is checked: a wrong one keeps its place and is
//! recorded, a right one gives its place back, in the transaction that signs in, unless another guess locked
//! the account meanwhile. So concurrent requests never get more guesses than the schedule allows.

use super::{User, lockout_duration_after};
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::services::{ClientMeta, Services};
use crate::store::Repo;
use serde_json::json;
use time::OffsetDateTime;

/// A guess counted as failed until it is shown to be right.
pub(crate) struct ReservedAttempt {
    org_id: String,
    user_id: String,
    /// The failure count with this guess.
    attempts: i32,
    /// The lock this guess set, when it reached a threshold of the schedule.
    locked_until: Option<OffsetDateTime>,
}

pub(super) fn invalid_credentials() -> CoreError {
    CoreError::unauthenticated("invalid_credentials", "Invalid email or password")
}

impl Services {
    /// Reserves a guess for `user`, or refuses with `account_locked` while the account is locked.
    pub(crate) async fn reserve_attempt(&self, user: &User) -> Result<ReservedAttempt> {
        let now = self.now();
        let tx = self.store.begin().await?;
        let Some(attempts) = tx.reserve_login_attempt(&user.id, now).await? else {
            drop(tx);
            let current = self.store.find_user(&user.org_id, &user.id).await?;
            return Err(match current.and_then(|f| f.user.locked_until).filter(|until| *until > now) {
                Some(until) => CoreError::locked(until, now),
                // Deleted meanwhile: like any unknown account.
                None => invalid_credentials(),
            });
        };
        let locked_until = lockout_duration_after(attempts).map(|duration| now + duration);
        if locked_until.is_some() {
            tx.set_locked_until(&user.id, locked_until, now).await?;
        }
        tx.commit().await?;
        Ok(ReservedAttempt { org_id: user.org_id.clone(), user_id: user.id.clone(), attempts, locked_until })
    }

    /// The guess was wrong: it stays counted; records `user.login_failed` (and `user.locked` when it locked the
    /// account) and returns the answer, `account_locked` or `invalid_credentials`.
    pub(crate) async fn attempt_failed(&self, attempt: &ReservedAttempt, meta: &ClientMeta) -> CoreError {
        let now = self.now();
        let answer = match attempt.locked_until {
            Some(until) => CoreError::locked(until, now),
            None => invalid_credentials(),
        };
        let recorded: Result<()> = async {
            let tx = self.store.begin().await?;
            let user_id = attempt.user_id.as_str();
            tx.insert_event(&Event::new(
                &attempt.org_id,
                types::USER_LOGIN_FAILED,
                Some(user_id),
                json!({"user_id": user_id, "failed_attempts": attempt.attempts, "ip": meta.ip}),
                now,
            ))
            .await?;
            if let Some(until) = attempt.locked_until {
                tx.insert_event(&Event::new(
                    &attempt.org_id,
                    types::USER_LOCKED,
                    Some(user_id),
                    json!({"user_id": user_id, "failed_attempts": attempt.attempts, "locked_until": until.unix_timestamp()}),
                    now,
                ))
                .await?;
            }
            tx.commit().await
        }
        .await;
        match recorded {
            Ok(()) => answer,
            Err(e) => e,
        }
    }

    /// The guess was right: gives its place in the counter back (and lifts the lock it set itself), inside
    /// the caller's transaction, which holds the user's row from here to its commit. Refuses with
    /// `account_locked` when another guess locked the account since this one was reserved.
    pub(crate) async fn attempt_succeeded(&self, repo: &dyn Repo, attempt: &ReservedAttempt) -> Result<()> {
        let now = self.now();
        let current =
            repo.find_user_for_update(&attempt.org_id, &attempt.user_id).await?.ok_or_else(invalid_credentials)?.user;
        let own_lock = attempt.locked_until.is_some()
            && current.locked_until == attempt.locked_until
            && current.failed_login_attempts == attempt.attempts;
        if let Some(until) = current.locked_until.filter(|until| *until > now)
            && !own_lock
        {
            return Err(CoreError::locked(until, now));
        }
        let locked_until = if own_lock { None } else { current.locked_until };
        let attempts = (current.failed_login_attempts - 1).max(0);
        repo.set_failed_logins(&attempt.user_id, attempts, locked_until, now).await
    }

    /// A password guess for an email without an account: counted and locked on an account's schedule, under a
    /// keyed hash of the address, then answered after the same work as a wrong password (the dummy hash) with
    /// the same error, `invalid_credentials` or, from the guess that reaches a threshold on, `account_locked`.
    /// So the lockout does not tell a missing account from an existing one either.
    pub(crate) async fn unknown_account_guess(&self, org_id: &str, email: &str, password: &str) -> CoreError {
        let answer: Result<CoreError> = async {
            let now = self.now();
            let key = email.trim().to_lowercase();
            let email_hash = self.keys.mac_hex("unknown-login", format!("{org_id}\0{key}").as_bytes());
            let tx = self.store.begin().await?;
            let attempts = match tx.reserve_unknown_login_attempt(org_id, &email_hash, now).await? {
                Ok(attempts) => attempts,
                Err(until) => return Ok(CoreError::locked(until, now)),
            };
            let locked_until = lockout_duration_after(attempts).map(|duration| now + duration);
            if let Some(until) = locked_until {
                tx.lock_unknown_login(org_id, &email_hash, until).await?;
            }
            tx.commit().await?;
            self.hasher.verify_dummy(password).await?;
            Ok(locked_until.map_or_else(invalid_credentials, |until| CoreError::locked(until, now)))
        }
        .await;
        answer.unwrap_or_else(|e| e)
    }

    /// Gives a right guess's place back on its own, when no sign-in follows (a blocked user's right password).
    pub(crate) async fn release_attempt(&self, attempt: &ReservedAttempt) -> Result<()> {
        let tx = self.store.begin().await?;
        self.attempt_succeeded(&*tx, attempt).await?;
        tx.commit().await
    }
}
