//! Guesses at a password or second factor, given a place before they are checked. A guess takes a place
//! only while the account is not locked and its confirmed failures plus the places already taken stay below
//! the next lock of the schedule; otherwise it waits for the guesses ahead of it to be decided. A wrong guess
//! then becomes a failure (the one that reaches a threshold locks the account); a right one gives its place
//! back, in the transaction that signs in. So concurrent wrong guesses never get more checks than the schedule
//! allows, and concurrent right ones are never counted as failures, nor answered with a lock they did not earn.

use super::{User, lockout_duration_after};
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::ids::new_id;
use crate::services::{ClientMeta, Services};
use crate::store::{Repo, Store};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};
use time::Duration;

/// How long a place is held when its request never finishes (its connection dropped mid-check): long past
/// any real hash check, short enough that the account's budget comes back on its own.
const PLACE_LAPSES_AFTER: Duration = Duration::seconds(30);
/// How long a guess waits for a place while the budget is taken by guesses still being checked.
const PLACE_WAIT: StdDuration = StdDuration::from_secs(10);
const PLACE_POLL: StdDuration = StdDuration::from_millis(20);

/// A guess holding a place until it is shown to be right or wrong. Dropped undecided (its request was
/// cancelled mid-check, or failed for another reason), it gives its place back on its own.
pub(crate) struct ReservedAttempt {
    org_id: String,
    user_id: String,
    place_id: String,
    store: Arc<dyn Store>,
    decided: AtomicBool,
}

impl Drop for ReservedAttempt {
    fn drop(&mut self) {
        if self.decided.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (store, place_id) = (self.store.clone(), std::mem::take(&mut self.place_id));
        runtime.spawn(async move {
            if let Err(e) = store.delete_pending_guess(&place_id).await {
                tracing::warn!(error = %e, "an undecided guess's place was not given back; it lapses on its own");
            }
        });
    }
}

pub(super) fn invalid_credentials() -> CoreError {
    CoreError::unauthenticated("invalid_credentials", "Invalid email or password")
}

/// How many more failures the account takes before the schedule locks it.
fn failures_before_next_lock(failures: i32) -> u64 {
    let failures = failures.max(0);
    (1..).find(|n| lockout_duration_after(failures + n).is_some()).map_or(1, |n| n as u64)
}

impl Services {
    /// Gives a guess for `user` a place, waiting while concurrent guesses hold the account's remaining budget;
    /// refuses with `account_locked` while the account is locked.
    pub(crate) async fn reserve_attempt(&self, user: &User) -> Result<ReservedAttempt> {
        let deadline = Instant::now() + PLACE_WAIT;
        loop {
            let now = self.now();
            let tx = self.store.begin().await?;
            let current = tx.find_user_for_update(&user.org_id, &user.id).await?.ok_or_else(invalid_credentials)?.user;
            if let Some(until) = current.locked_until.filter(|until| *until > now) {
                return Err(CoreError::locked(until, now));
            }
            let taken = tx.count_pending_guesses(&user.id, now).await?;
            if taken < failures_before_next_lock(current.failed_login_attempts) {
                let place_id = new_id("guess");
                tx.insert_pending_guess(&place_id, &user.id, now + PLACE_LAPSES_AFTER, now).await?;
                tx.commit().await?;
                return Ok(ReservedAttempt {
                    org_id: user.org_id.clone(),
                    user_id: user.id.clone(),
                    place_id,
                    store: self.store.clone(),
                    decided: AtomicBool::new(false),
                });
            }
            tx.commit().await?;
            if Instant::now() >= deadline {
                // Guesses ahead of this one have not been decided for as long: not a lock, a retry.
                return Err(CoreError::RateLimited { retry_after_secs: 1 });
            }
            tokio::time::sleep(PLACE_POLL).await;
        }
    }

    /// The guess was wrong: it becomes a failure (locking the account when it reaches a threshold of the
    /// schedule); records `user.login_failed` (and `user.locked`) and returns the answer, `account_locked` or
    /// `invalid_credentials`.
    pub(crate) async fn attempt_failed(&self, attempt: &ReservedAttempt, meta: &ClientMeta) -> CoreError {
        let recorded: Result<CoreError> = async {
            let now = self.now();
            let tx = self.store.begin().await?;
            let user_id = attempt.user_id.as_str();
            let Some(current) = tx.find_user_for_update(&attempt.org_id, user_id).await? else {
                return Ok(invalid_credentials());
            };
            tx.delete_pending_guess(&attempt.place_id).await?;
            let attempts = current.user.failed_login_attempts + 1;
            let new_lock = lockout_duration_after(attempts).map(|duration| now + duration);
            let locked_until = new_lock.or(current.user.locked_until.filter(|until| *until > now));
            tx.set_failed_logins(user_id, attempts, locked_until, now).await?;
            tx.insert_event(&Event::new(
                &attempt.org_id,
                types::USER_LOGIN_FAILED,
                Some(user_id),
                json!({"user_id": user_id, "failed_attempts": attempts, "ip": meta.ip}),
                now,
            ))
            .await?;
            if let Some(until) = new_lock {
                tx.insert_event(&Event::new(
                    &attempt.org_id,
                    types::USER_LOCKED,
                    Some(user_id),
                    json!({"user_id": user_id, "failed_attempts": attempts, "locked_until": until.unix_timestamp()}),
                    now,
                ))
                .await?;
            }
            tx.commit().await?;
            attempt.decided.store(true, Ordering::Relaxed);
            Ok(match locked_until {
                Some(until) => CoreError::locked(until, now),
                None => invalid_credentials(),
            })
        }
        .await;
        recorded.unwrap_or_else(|e| e)
    }

    /// The guess was right: gives its place back inside the caller's transaction, which holds the user's row
    /// from here to its commit. Refuses with `account_locked` only when wrong guesses locked the account since
    /// (possible only after this guess's place lapsed).
    pub(crate) async fn attempt_succeeded(&self, repo: &dyn Repo, attempt: &ReservedAttempt) -> Result<()> {
        let now = self.now();
        let current =
            repo.find_user_for_update(&attempt.org_id, &attempt.user_id).await?.ok_or_else(invalid_credentials)?.user;
        repo.delete_pending_guess(&attempt.place_id).await?;
        // Given back with the caller's commit; if that transaction rolls back instead, the place lapses.
        attempt.decided.store(true, Ordering::Relaxed);
        match current.locked_until.filter(|until| *until > now) {
            Some(until) => Err(CoreError::locked(until, now)),
            None => Ok(()),
        }
    }

    /// A password guess for an email without an account: counted and locked on an account's schedule, under a
    /// keyed hash of the address, then answered after the same work as a wrong password (the dummy hash) with
    /// the same error, `invalid_credentials` or, from the guess that reaches a threshold on, `account_locked`.
    /// So the lockout does not tell a missing account from an existing one either.
    pub(crate) async fn unknown_account_guess(&self, org_id: &str, email: &str, password: &str) -> CoreError {
        let answer: Result<CoreError> = async {
            let now = self.now();
            let key = super::Email::key_of(email);
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

#[cfg(test)]
mod tests {
    use super::failures_before_next_lock;

    #[test]
    fn the_budget_of_guesses_ends_at_the_next_lock_of_the_schedule() {
        assert_eq!(failures_before_next_lock(0), 5);
        assert_eq!(failures_before_next_lock(4), 1);
        assert_eq!(failures_before_next_lock(5), 5);
        assert_eq!(failures_before_next_lock(9), 1);
        assert_eq!(failures_before_next_lock(15), 5);
        assert_eq!(failures_before_next_lock(-3), 5);
    }
}
