//! Passwordless sign-in: emailed magic links and one-time codes by email or SMS, with send limits that stop
//! email/SMS bombing and answers that never reveal whether an address or phone has an account.

mod limits;
mod magic_link;
mod otp;
pub mod store;

pub use limits::{SEND_LIMIT_WINDOW, SENDS_PER_DESTINATION_PER_HOUR, SENDS_PER_IP_PER_HOUR};
pub use magic_link::{MAGIC_LINK_SENT_MESSAGE, MAGIC_LINK_TTL_MINUTES};
pub use otp::{OTP_COOLDOWN_SECS, OTP_MAX_ATTEMPTS, OTP_SENT_MESSAGE, OTP_TTL_MINUTES, OtpDestination};
pub use store::{MagicLinkRecord, OneTimeCode, OtpChannel, SendRecord};

use crate::outbox::EmailMessage;

fn magic_link_email(to: &str, org_name: &str, link: &str) -> EmailMessage {
    EmailMessage {
        to: to.to_owned(),
        subject: format!("Sign in to {org_name}"),
        text: format!(
            "Someone asked to sign in to {org_name} with this email address.\r\n\r\n\
             To sign in, open:\r\n{link}\r\n\r\n\
             The link works once and expires in {MAGIC_LINK_TTL_MINUTES} minutes. If you did not ask for it, \
             ignore this email.\r\n"
        ),
    }
}

fn otp_email(to: &str, org_name: &str, code: &str) -> EmailMessage {
    EmailMessage {
        to: to.to_owned(),
        subject: format!("Your {org_name} sign-in code: {code}"),
        text: format!(
            "Your {org_name} sign-in code is:\r\n\r\n    {code}\r\n\r\n\
             It works once and expires in {OTP_TTL_MINUTES} minutes. Never share it; {org_name} will not ask you \
             for it. If you did not ask for it, ignore this email.\r\n"
        ),
    }
}

use crate::accounts::{Email, Role, SignInMethod, User};
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::services::{ClientMeta, Services};
use crate::store::Repo;
use serde_json::json;

impl Services {
    /// The account a proven email address signs in to, inside the caller's transaction: the existing user,
    /// or (when the organization allows passwordless signup) a new one without a password. `None` when there
    /// is no account and none may be created. The address is marked verified either way, since the sign-in
    /// proved control of it.
    async fn passwordless_account(
        &self,
        repo: &dyn Repo,
        org_id: &str,
        email: &Email,
        method: SignInMethod,
        meta: &ClientMeta,
    ) -> Result<Option<User>> {
        let now = self.now();
        if let Some(found) = repo.find_user_by_email(org_id, email).await? {
            let mut user = found.user;
            if user.is_blocked {
                return Err(CoreError::forbidden_code("user_blocked", "This account has been blocked"));
            }
            if !user.is_verified && repo.mark_email_verified(&user.id, now).await? {
                user.is_verified = true;
                repo.insert_event(&Event::new(
                    org_id,
                    types::EMAIL_VERIFIED,
                    Some(&user.id),
                    json!({"user_id": user.id, "email": user.email.as_str(), "method": method.as_str()}),
                    now,
                ))
                .await?;
            }
            return Ok(Some(user));
        }
        let settings = repo.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })?.settings;
        if !settings.passwordless_signup {
            return Ok(None);
        }
        let mut user = User::new_signed_in(org_id, email.clone(), None, None, Role::User, now);
        user.is_verified = true;
        repo.insert_user(&user, None).await?;
        repo.insert_event(&Event::new(
            org_id,
            types::USER_SIGNUP,
            Some(&user.id),
            json!({"user_id": user.id, "email": user.email.as_str(), "method": method.as_str(), "ip": meta.ip}),
            now,
        ))
        .await?;
        repo.insert_event(&Event::new(
            org_id,
            types::EMAIL_VERIFIED,
            Some(&user.id),
            json!({"user_id": user.id, "email": user.email.as_str(), "method": method.as_str()}),
            now,
        ))
        .await?;
        Ok(Some(user))
    }
}
