//! One-time codes by email or SMS: six uniform random digits, valid 10 minutes, five tries, one code per
//! destination at a time (a new one replaces the last), a 60-second resend cool-down.
//!
//! A six-digit code has only 10^6 values, so hashing alone would not protect it: what does is the attempt
//! limit (five guesses per code, then it is dead; a new code costs a send, and sends are limited per hour).
//! The stored value is an HMAC under the master key over the record id and the code, so a database dump
//! without the master key does not give the codes away either.
//!
//! Every send creates a code row, whether or not the destination has an account (for unknown ones nothing
//! is sent, so nobody can know the code). Verification therefore behaves identically for known and unknown
//! destinations: wrong code, five tries, expiry, cool-down. Codes by SMS sign in only an existing account
//! whose phone is unique in the organization; passwordless signup works by email only, because a phone
//! number changes hands and is a weak identity for creating accounts.

use super::otp_email;
use super::store::OneTimeCode;
use super::store::OtpChannel;
use crate::accounts::{Email, LoginOutcome, SignInMethod, User, parse_phone};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::outbox::OutboxMessage;
use crate::services::{ClientMeta, Services};
use crate::sms::otp_sms;
use crate::store::Repo;
use crate::{crypto, ids};
use serde_json::json;
use time::Duration;

pub const OTP_TTL_MINUTES: i64 = 10;
pub const OTP_MAX_ATTEMPTS: i32 = 5;
pub const OTP_COOLDOWN_SECS: i64 = 60;

/// The one answer `/otp/send` gives, whether or not the destination has an account.
pub const OTP_SENT_MESSAGE: &str = "If the destination can sign in, a code has been sent.";

/// Where a code goes: a validated email address or an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtpDestination {
    Email(Email),
    Phone(String),
}

impl OtpDestination {
    /// From a request's `email` / `phone` / `channel`: exactly one of email and phone; `channel`, when
    /// given, must match it (`email` → email, `sms` → phone).
    pub fn parse(email: Option<&str>, phone: Option<&str>, channel: Option<&str>) -> Result<Self> {
        let channel = channel
            .map(|c| {
                OtpChannel::parse(c)
                    .ok_or_else(|| CoreError::invalid("invalid_request", "channel must be \"email\" or \"sms\""))
            })
            .transpose()?;
        match (email, phone, channel) {
            (Some(email), None, None | Some(OtpChannel::Email)) => Ok(Self::Email(Email::parse(email)?)),
            (None, Some(phone), None | Some(OtpChannel::Sms)) => Ok(Self::Phone(parse_phone(phone)?)),
            (Some(_), Some(_), _) => Err(CoreError::invalid("invalid_request", "send either email or phone, not both")),
            (None, None, _) => Err(CoreError::invalid("invalid_request", "email or phone is required")),
            (Some(_), None, Some(_)) => Err(CoreError::invalid("invalid_request", "channel \"sms\" needs phone")),
            (None, Some(_), Some(_)) => Err(CoreError::invalid("invalid_request", "channel \"email\" needs email")),
        }
    }

    pub fn channel(&self) -> OtpChannel {
        match self {
            Self::Email(_) => OtpChannel::Email,
            Self::Phone(_) => OtpChannel::Sms,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Email(email) => email.as_str(),
            Self::Phone(phone) => phone,
        }
    }
}

/// Six digits, each of the 10^6 values equally likely: rejection sampling over the OS random source.
fn new_code() -> String {
    // The largest multiple of 10^6 that fits in a u32; values at or above it would favour low codes.
    const LIMIT: u32 = 4_294_000_000;
    loop {
        let n = u32::from_be_bytes(crypto::random_bytes::<4>());
        if n < LIMIT {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

fn invalid_otp() -> CoreError {
    CoreError::invalid("invalid_otp", "The code is invalid")
}

impl Services {
    fn code_hash(&self, record_id: &str, code: &str) -> String {
        self.keys.mac_hex("one-time-code", format!("{record_id}\0{code}").as_bytes())
    }

    /// Sends a new code to the destination when it may sign in; answers the same either way. Refuses with
    /// `otp_cooldown` within 60 s of the previous code and `rate_limited` past the hourly send limit, for
    /// every destination alike.
    pub async fn send_otp(&self, actor: &Actor, destination: &OtpDestination, meta: &ClientMeta) -> Result<()> {
        let org_id = actor.require_sign_in_flow()?;
        let org = self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })?;
        let channel = destination.channel();
        let recipient: Option<Option<User>> = match destination {
            OtpDestination::Email(email) => match self.store.find_user_by_email(org_id, email).await? {
                Some(found) => (!found.user.is_blocked).then_some(Some(found.user)),
                None => org.settings.passwordless_signup.then_some(None),
            },
            OtpDestination::Phone(phone) => match self.store.find_users_by_phone(org_id, phone, 2).await?.as_slice() {
                [user] if !user.is_blocked => Some(Some(user.clone())),
                _ => None,
            },
        };
        let hash = self.destination_hash(org_id, channel.as_str(), destination.as_str());
        let now = self.now();
        let tx = self.store.begin().await?;
        let cooldown = |retry_after_secs: i64| CoreError::Throttled {
            code: "otp_cooldown",
            detail: "A code was sent moments ago; wait before asking for another".to_owned(),
            retry_after_secs: retry_after_secs.max(1) as u64,
        };
        if let Some(previous) = tx.find_one_time_code(org_id, channel.as_str(), &hash).await? {
            let free_at = previous.created_at + Duration::seconds(OTP_COOLDOWN_SECS);
            if free_at > now {
                return Err(cooldown((free_at - now).whole_seconds()));
            }
        }
        self.record_send(&*tx, org_id, &hash, None).await?;
        let code = new_code();
        let id = ids::new_id(ids::ONE_TIME_CODE);
        let record = OneTimeCode {
            code_hash: self.code_hash(&id, &code),
            id,
            org_id: org_id.to_owned(),
            channel,
            destination_hash: hash,
            attempts: 0,
            expires_at: now + Duration::minutes(OTP_TTL_MINUTES),
            used_at: None,
            created_at: now,
        };
        // A concurrent send to the same destination (another node) committed its code first.
        tx.replace_one_time_code(&record).await.map_err(|e| match e {
            CoreError::Conflict { .. } => cooldown(OTP_COOLDOWN_SECS),
            other => other,
        })?;
        if let Some(user) = &recipient {
            let message = match destination {
                OtpDestination::Email(email) => {
                    OutboxMessage::email(Some(org_id), &otp_email(email.as_str(), &org.name, &code), now)
                }
                OtpDestination::Phone(phone) => {
                    OutboxMessage::sms(Some(org_id), &otp_sms(phone, &org.name, &code, OTP_TTL_MINUTES), now)
                }
            };
            self.queue_message(&*tx, message).await?;
            let user_id = user.as_ref().map(|u| u.id.as_str());
            tx.insert_event(&Event::new(
                org_id,
                types::OTP_SENT,
                user_id,
                json!({"user_id": user_id, "channel": channel.as_str(), "ip": meta.ip}),
                now,
            ))
            .await?;
        }
        tx.commit().await?;
        if recipient.is_some() {
            self.wake_outbox();
        }
        Ok(())
    }

    /// Checks a code and signs its destination in. A wrong code counts against the five tries (committed
    /// even though the answer is an error); the right one is spent in the transaction that signs in.
    pub async fn verify_otp(
        &self,
        actor: &Actor,
        destination: &OtpDestination,
        code: &str,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let org_id = actor.require_sign_in_flow()?;
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid_otp());
        }
        let channel = destination.channel();
        let hash = self.destination_hash(org_id, channel.as_str(), destination.as_str());
        let now = self.now();
        let tx = self.store.begin().await?;
        let record = tx.find_one_time_code(org_id, channel.as_str(), &hash).await?.ok_or_else(invalid_otp)?;
        if record.used_at.is_some() {
            return Err(invalid_otp());
        }
        let exceeded = || {
            CoreError::invalid(
                "otp_attempts_exceeded",
                "Too many wrong codes; this code no longer works, ask for a new one",
            )
        };
        if record.attempts >= OTP_MAX_ATTEMPTS {
            return Err(exceeded());
        }
        if record.expires_at <= now {
            return Err(CoreError::invalid("otp_expired", "This code has expired; ask for a new one"));
        }
        if !tx.count_otp_attempt(&record.id, OTP_MAX_ATTEMPTS, now).await? {
            // A concurrent request changed the row since we read it: it spent the code, or used the last try.
            let spent =
                tx.find_one_time_code(org_id, channel.as_str(), &hash).await?.is_none_or(|r| r.used_at.is_some());
            return Err(if spent { invalid_otp() } else { exceeded() });
        }
        if !crypto::constant_time_eq(self.code_hash(&record.id, code).as_bytes(), record.code_hash.as_bytes()) {
            tx.commit().await?;
            return Err(invalid_otp());
        }
        if !tx.mark_one_time_code_used(&record.id, now).await? {
            return Err(invalid_otp());
        }
        let user = self.otp_account(&*tx, org_id, destination, meta).await?.ok_or_else(invalid_otp)?;
        let outcome = self.complete_sign_in(&*tx, user, channel.method(), meta).await?;
        tx.commit().await?;
        // The sign-in may have proven the address: the cached user must show it.
        self.cache.invalidate();
        Ok(outcome)
    }

    async fn otp_account(
        &self,
        repo: &dyn Repo,
        org_id: &str,
        destination: &OtpDestination,
        meta: &ClientMeta,
    ) -> Result<Option<User>> {
        match destination {
            OtpDestination::Email(email) => {
                self.passwordless_account(repo, org_id, email, SignInMethod::EmailOtp, meta).await
            }
            OtpDestination::Phone(phone) => match repo.find_users_by_phone(org_id, phone, 2).await?.as_slice() {
                [user] if user.is_blocked => {
                    Err(CoreError::forbidden_code("user_blocked", "This account has been blocked"))
                }
                [user] => {
                    // The code reached this number: it is the user's, proven.
                    repo.mark_phone_verified(&user.id, phone, self.now()).await?;
                    Ok(Some(User { phone_verified: true, ..user.clone() }))
                }
                // Nobody, or a phone shared by several accounts: which one would this be?
                _ => Ok(None),
            },
        }
    }
}

impl OtpChannel {
    fn method(self) -> SignInMethod {
        match self {
            Self::Email => SignInMethod::EmailOtp,
            Self::Sms => SignInMethod::SmsOtp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| new_code()).collect();
        assert!(codes.iter().all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        assert!(codes.len() > 190, "{} distinct codes out of 200", codes.len());
    }

    #[test]
    fn the_destination_follows_the_fields_and_channel() {
        let email = OtpDestination::parse(Some("A@Example.com"), None, Some("email")).unwrap();
        assert_eq!(email, OtpDestination::Email(Email::parse("a@example.com").unwrap()));
        let phone = OtpDestination::parse(None, Some("+14155550100"), None).unwrap();
        assert_eq!(phone.channel(), OtpChannel::Sms);
        let code = |r: Result<OtpDestination>| match r {
            Err(CoreError::Invalid { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(OtpDestination::parse(None, Some("0123"), Some("sms"))), "invalid_phone");
        assert_eq!(code(OtpDestination::parse(Some("a@example.com"), None, Some("sms"))), "invalid_request");
        assert_eq!(code(OtpDestination::parse(None, None, Some("email"))), "invalid_request");
        assert_eq!(code(OtpDestination::parse(Some("a@example.com"), None, Some("fax"))), "invalid_request");
    }
}
