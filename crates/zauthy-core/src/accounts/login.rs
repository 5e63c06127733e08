//! Signup and password login, with the lockout schedule and constant-shape failures.

use super::{Address, AddressMembers, Email, Role, User};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::orgs::clean_name_pub as clean_name;
use crate::passwords::{MAX_PASSWORD_CHARS, check_password_policy};
use crate::services::{ClientMeta, Services};
use crate::store::Repo;
use crate::tokens::IssuedTokens;
use serde_json::json;

pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<AddressMembers>,
}

pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// What a sign-in ended with: a session, or (when the user has a second factor and the first one was not
/// strong on its own) a short-lived `mfa_token` to present with the second factor.
#[allow(clippy::large_enum_variant)] // built once per sign-in and moved straight into the response
pub enum LoginOutcome {
    Success { user: User, tokens: IssuedTokens },
    MfaRequired { mfa_token: String, methods: Vec<&'static str> },
}

/// How a sign-in proved who the user is; recorded as `method` on `user.login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    Password,
    MagicLink,
    EmailOtp,
    SmsOtp,
    /// User-verifying passkey: possession and a biometric or PIN, so it satisfies MFA by itself.
    Passkey,
    /// An upstream OpenID provider (social login) vouched for the user; its own factors are unknown to us.
    OAuth,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::MagicLink => "magic_link",
            Self::EmailOtp => "email_otp",
            Self::SmsOtp => "sms_otp",
            Self::Passkey => "passkey",
            Self::OAuth => "oauth",
        }
    }

    /// True when this method alone is multi-factor.
    pub fn satisfies_mfa(self) -> bool {
        matches!(self, Self::Passkey)
    }
}

/// The RFC 8176 authentication method references of a sign-in: its first factor's, the second factor's, and
/// `mfa` when there were two (a user-verifying passkey counts as two by itself).
pub(crate) fn amr_of(method: &str, second_factor: Option<&str>) -> Vec<String> {
    let mut amr: Vec<&str> = match method {
        "password" => vec!["pwd"],
        "magic_link" => vec!["email"],
        "email_otp" => vec!["otp", "email"],
        "sms_otp" => vec!["otp", "sms"],
        "passkey" => vec!["hwk", "user", "mfa"],
        other => vec![other],
    };
    // Both second factors (an authenticator code, a backup code) are one-time passwords.
    if second_factor.is_some() {
        amr.extend(["otp", "mfa"]);
    }
    let mut out: Vec<String> = Vec::new();
    for m in amr {
        if !out.iter().any(|o| o == m) {
            out.push(m.to_owned());
        }
    }
    out
}

use super::lockout::invalid_credentials;

/// E.164: a plus, a non-zero country digit, 7 to 15 digits in all.
pub fn parse_phone(raw: &str) -> Result<String> {
    let phone = raw.trim();
    let digits = phone.strip_prefix('+').unwrap_or("");
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0') {
        Ok(phone.to_owned())
    } else {
        Err(CoreError::invalid("invalid_phone", "phone must be in E.164 format, e.g. +14155550100"))
    }
}

impl Services {
    pub async fn signup(&self, actor: &Actor, req: SignupRequest, meta: &ClientMeta) -> Result<(User, IssuedTokens)> {
        let org_id = actor.require_api_key()?.to_owned();
        let email = Email::parse(&req.email)?;
        check_password_policy(&req.password)?;
        let name =
            req.name.as_deref().filter(|n| !n.trim().is_empty()).map(|n| clean_name(n, "name", 200)).transpose()?;
        let phone = req.phone.as_deref().filter(|p| !p.trim().is_empty()).map(parse_phone).transpose()?;
        let address = req.address.map(Address::parse).transpose()?.flatten();
        let hash = self.hasher.hash(&req.password).await?;
        let now = self.now();
        let user = User { address, ..User::new_signed_in(&org_id, email, name, phone, Role::User, now) };
        let tx = self.store.begin().await?;
        tx.insert_user(&user, Some(&hash)).await.map_err(|e| match e {
            CoreError::Conflict { .. } => {
                CoreError::conflict("email_exists", "A user with this email already exists in this organization")
            }
            other => other,
        })?;
        let tokens = self.start_session(&*tx, &user, vec!["pwd".into()], None, meta).await?;
        tx.insert_event(&Event::new(
            &user.org_id,
            types::USER_SIGNUP,
            Some(&user.id),
            json!({"user_id": user.id, "email": user.email.as_str(), "ip": meta.ip}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok((user, tokens))
    }

    pub async fn login(&self, actor: &Actor, req: LoginRequest, meta: &ClientMeta) -> Result<LoginOutcome> {
        let org_id = actor.require_sign_in_flow()?;
        // A malformed email cannot belong to anyone; answer like a wrong password, after the same work.
        let email = Email::parse(&req.email).ok();
        if req.password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(invalid_credentials());
        }
        let found = match &email {
            Some(email) => self.store.find_user_by_email(org_id, email).await?,
            None => None,
        };
        let Some(found) = found else {
            return Err(self.unknown_account_guess(org_id, &req.email, &req.password).await);
        };
        let user = found.user;
        let now = self.now();
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            return Err(CoreError::locked(until, now));
        }
        // Counted before it is checked, so concurrent guesses cannot outrun the lockout.
        let attempt = self.reserve_attempt(&user).await?;
        let Some(stored_hash) = found.password_hash else {
            // Passwordless account: the same count, work and answer as a wrong password.
            self.hasher.verify_dummy(&req.password).await?;
            return Err(self.attempt_failed(&attempt, meta).await);
        };
        let verified = self.hasher.verify(&req.password, &stored_hash).await?;
        if !verified.ok {
            return Err(self.attempt_failed(&attempt, meta).await);
        }
        if user.is_blocked {
            self.release_attempt(&attempt).await?;
            return Err(CoreError::forbidden_code("user_blocked", "This account has been blocked"));
        }
        let rehash = if verified.needs_rehash { Some(self.hasher.hash(&req.password).await?) } else { None };
        let tx = self.store.begin().await?;
        self.attempt_succeeded(&*tx, &attempt).await?;
        if let Some(hash) = &rehash {
            tx.set_password_hash(&user.id, hash, now).await?;
        }
        let outcome = self.complete_sign_in(&*tx, user, SignInMethod::Password, meta).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// The common end of every sign-in, inside the caller's transaction (which it then commits): either a
    /// session with its `user.login` event, or, when the user has a second factor that `method` does not
    /// replace, an MFA challenge and no tokens.
    pub(crate) async fn complete_sign_in(
        &self,
        repo: &dyn Repo,
        user: User,
        method: SignInMethod,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let now = self.now();
        if !method.satisfies_mfa()
            && let Some(challenge) = self.start_mfa_challenge(repo, &user, method, None, now).await?
        {
            return Ok(challenge);
        }
        self.open_session(repo, user, method.as_str(), None, None, meta).await
    }

    /// Opens the session of a sign-in whose factors are all verified and records `user.login`; `continues`
    /// as for `start_session`.
    pub(crate) async fn open_session(
        &self,
        repo: &dyn Repo,
        user: User,
        method: &str,
        second_factor: Option<&str>,
        continues: Option<&str>,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let now = self.now();
        repo.record_successful_login(&user.id, now).await?;
        let tokens = self.start_session(repo, &user, amr_of(method, second_factor), continues, meta).await?;
        repo.insert_event(&Event::new(
            &user.org_id,
            types::USER_LOGIN,
            Some(&user.id),
            json!({"user_id": user.id, "method": method, "mfa": second_factor, "ip": meta.ip, "user_agent": meta.user_agent}),
            now,
        ))
        .await?;
        let user = User { failed_login_attempts: 0, locked_until: None, last_login_at: Some(now), ..user };
        Ok(LoginOutcome::Success { user, tokens })
    }
}
