//! TOTP enrolment (setup, confirmation by a first valid code), status, backup-code renewal and disabling.

use super::{BACKUP_CODE_COUNT, METHOD_BACKUP_CODE, METHOD_TOTP, TotpRecord};
use crate::accounts::{ReservedAttempt, User};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::passwords::MAX_PASSWORD_CHARS;
use crate::services::{ClientMeta, Services};
use crate::{crypto, store::Repo};
use data_encoding::{BASE32_NOPAD, BASE64};
use serde_json::json;
use totp_rs::{Algorithm, Builder, Totp};

/// What `/mfa/totp/setup` shows once: the seed (base32 and as an `otpauth://` URI / QR code) and the backup codes.
pub struct TotpSetup {
    pub secret: String,
    pub qr_uri: String,
    /// `data:image/png;base64,…`
    pub qr_image: String,
    pub backup_codes: Vec<String>,
}

pub struct MfaStatus {
    pub enabled: bool,
    pub methods: Vec<&'static str>,
    pub backup_codes_remaining: u64,
}

/// The RFC 6238 parameters every authenticator app understands: SHA-1, 6 digits, 30 s steps, one step of
/// clock skew either way. `:` would break the otpauth label, so it is replaced in issuer and account.
pub fn totp_for(secret: &[u8], issuer: &str, account: &str) -> Result<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer.replace(':', " ")))
        .with_account_name(account.replace(':', " "))
        .build()
        .map_err(|e| CoreError::internal(format!("TOTP parameters: {e}")))
}

pub(super) fn invalid_code() -> CoreError {
    CoreError::unauthenticated("invalid_mfa_code", "The code is wrong or has expired")
}

fn not_enabled() -> CoreError {
    CoreError::invalid("mfa_not_enabled", "Two-factor authentication is not enabled for this account")
}

/// `xxxx-xxxx-xxxx-xxxx` from 80 random bits (lowercase base32): too many to guess, even offline from a hash.
fn new_backup_code() -> String {
    let raw = BASE32_NOPAD.encode(&crypto::random_bytes::<10>()).to_ascii_lowercase();
    raw.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
}

/// Codes are compared without case, spaces or dashes, and hashed with the user id so equal codes of two users
/// never share a hash.
pub(super) fn backup_code_hash(user_id: &str, code: &str) -> String {
    let normalized: String =
        code.chars().filter(|c| !matches!(c, '-' | ' ')).flat_map(char::to_lowercase).take(64).collect();
    crypto::sha256_hex(&format!("{user_id}:{normalized}"))
}

impl Services {
    fn seed_context(user_id: &str) -> String {
        format!("totp:{user_id}")
    }

    pub(super) fn totp_of(&self, record: &TotpRecord, issuer: &str, account: &str) -> Result<Totp> {
        let seed = self.keys.master().decrypt(&record.secret_enc, &Self::seed_context(&record.user_id))?;
        totp_for(&seed, issuer, account)
    }

    /// The time step a code belongs to, if it is valid now (within one step of skew).
    pub(super) fn check_totp(&self, totp: &Totp, code: &str) -> Option<i64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = u64::try_from(self.now().unix_timestamp()).ok()?;
        totp.check(code, now).and_then(|step| i64::try_from(step).ok())
    }

    async fn user_and_org_name(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<(crate::accounts::UserWithSecret, String)> {
        let user = self.store.find_user(org_id, user_id).await?.ok_or(CoreError::NotFound { entity: "user" })?;
        let org = self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })?;
        Ok((user, org.name))
    }

    async fn write_backup_codes(&self, repo: &dyn Repo, user: &User) -> Result<Vec<String>> {
        let codes: Vec<String> = (0..BACKUP_CODE_COUNT).map(|_| new_backup_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| backup_code_hash(&user.id, c)).collect();
        repo.replace_backup_codes(&user.org_id, &user.id, &hashes, self.now()).await?;
        Ok(codes)
    }

    /// Starts enrolment: a new seed and backup codes, not active until `confirm_totp` sees a valid code.
    pub async fn setup_totp(&self, actor: &Actor) -> Result<TotpSetup> {
        let (org_id, user_id, _) = actor.require_user()?;
        let (found, org_name) = self.user_and_org_name(org_id, user_id).await?;
        let user = found.user;
        let now = self.now();
        let tx = self.store.begin().await?;
        if tx.find_totp(user_id).await?.is_some_and(|t| t.confirmed_at.is_some()) {
            return Err(CoreError::conflict(
                "mfa_already_enabled",
                "Two-factor authentication is already enabled; disable it first to enrol a new authenticator",
            ));
        }
        let seed = crypto::random_bytes::<20>();
        let totp = totp_for(&seed, &org_name, user.email.as_str())?;
        let qr_uri = totp.to_url().map_err(|e| CoreError::internal(format!("otpauth URI: {e}")))?;
        let png = totp.to_qr_png().map_err(|e| CoreError::internal(format!("QR code: {e}")))?;
        tx.put_pending_totp(&TotpRecord {
            user_id: user.id.clone(),
            org_id: user.org_id.clone(),
            secret_enc: self.keys.master().encrypt(&seed, &Self::seed_context(&user.id)),
            confirmed_at: None,
            last_used_step: None,
            created_at: now,
        })
        .await?;
        let backup_codes = self.write_backup_codes(&*tx, &user).await?;
        tx.commit().await?;
        Ok(TotpSetup {
            secret: BASE32_NOPAD.encode(&seed),
            qr_uri,
            qr_image: format!("data:image/png;base64,{}", BASE64.encode(&png)),
            backup_codes,
        })
    }

    /// Confirms enrolment with the first code from the authenticator; from now on sign-ins need a second factor.
    pub async fn confirm_totp(&self, actor: &Actor, code: &str) -> Result<()> {
        let (org_id, user_id, _) = actor.require_user()?;
        let (found, org_name) = self.user_and_org_name(org_id, user_id).await?;
        let record = self.store.find_totp(user_id).await?.ok_or_else(|| {
            CoreError::invalid("mfa_not_set_up", "Start with /mfa/totp/setup, then confirm with a code from the app")
        })?;
        if record.confirmed_at.is_some() {
            return Err(CoreError::conflict("mfa_already_enabled", "Two-factor authentication is already enabled"));
        }
        let totp = self.totp_of(&record, &org_name, found.user.email.as_str())?;
        let step = self.check_totp(&totp, code).ok_or_else(invalid_code)?;
        let now = self.now();
        let tx = self.store.begin().await?;
        if !tx.confirm_totp(user_id, step, now).await? {
            return Err(CoreError::conflict("mfa_already_enabled", "Two-factor authentication is already enabled"));
        }
        tx.insert_event(&Event::new(
            org_id,
            types::MFA_ENABLED,
            Some(user_id),
            json!({"user_id": user_id, "method": METHOD_TOTP}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn mfa_status(&self, actor: &Actor) -> Result<MfaStatus> {
        let (_, user_id, _) = actor.require_user()?;
        let enabled = self.store.find_totp(user_id).await?.is_some_and(|t| t.confirmed_at.is_some());
        let remaining = if enabled { self.store.count_unused_backup_codes(user_id).await? } else { 0 };
        let mut methods = Vec::new();
        if enabled {
            methods.push(METHOD_TOTP);
            if remaining > 0 {
                methods.push(METHOD_BACKUP_CODE);
            }
        }
        Ok(MfaStatus { enabled, methods, backup_codes_remaining: remaining })
    }

    /// Replaces the backup codes; needs a current code from the authenticator.
    pub async fn regenerate_backup_codes(&self, actor: &Actor, code: &str) -> Result<Vec<String>> {
        let (org_id, user_id, _) = actor.require_user()?;
        let (found, org_name) = self.user_and_org_name(org_id, user_id).await?;
        let record =
            self.store.find_totp(user_id).await?.filter(|t| t.confirmed_at.is_some()).ok_or_else(not_enabled)?;
        let totp = self.totp_of(&record, &org_name, found.user.email.as_str())?;
        let step = self.check_totp(&totp, code).ok_or_else(invalid_code)?;
        let now = self.now();
        let tx = self.store.begin().await?;
        if !tx.accept_totp_step(user_id, step, now).await? {
            return Err(code_reused());
        }
        let codes = self.write_backup_codes(&*tx, &found.user).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::MFA_BACKUP_CODES_REGENERATED,
            Some(user_id),
            json!({"user_id": user_id}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns MFA off after the password (or, for an account without one, a current code) proves it is the user.
    pub async fn disable_mfa(
        &self,
        actor: &Actor,
        password: Option<&str>,
        code: Option<&str>,
        meta: &ClientMeta,
    ) -> Result<()> {
        let (org_id, user_id, _) = actor.require_user()?;
        let (found, org_name) = self.user_and_org_name(org_id, user_id).await?;
        let record =
            self.store.find_totp(user_id).await?.filter(|t| t.confirmed_at.is_some()).ok_or_else(not_enabled)?;
        let wrong_password = || CoreError::unauthenticated("invalid_credentials", "The password is wrong");
        let mut attempt = None;
        match (&found.password_hash, password, code) {
            (Some(_), Some(password), _) if password.chars().count() > MAX_PASSWORD_CHARS => {
                return Err(wrong_password());
            }
            (Some(hash), Some(password), _) => {
                // A wrong password counts toward the lockout like a wrong login.
                let reserved = self.reserve_attempt(&found.user).await?;
                if !self.hasher.verify(password, hash).await?.ok {
                    return Err(match self.attempt_failed(&reserved, meta).await {
                        CoreError::Unauthenticated { code: "invalid_credentials", .. } => wrong_password(),
                        other => other,
                    });
                }
                attempt = Some(reserved);
            }
            (None, _, Some(code)) => {
                let totp = self.totp_of(&record, &org_name, found.user.email.as_str())?;
                self.check_totp(&totp, code).ok_or_else(invalid_code)?;
            }
            (Some(_), None, _) => {
                return Err(CoreError::invalid("password_required", "Confirm with the account's password"));
            }
            (None, _, None) => {
                return Err(CoreError::invalid("code_required", "Confirm with a code from the authenticator app"));
            }
        }
        self.remove_mfa(org_id, user_id, actor.user_id(), attempt.as_ref()).await
    }

    /// An administrator's reset for a user who lost their authenticator, with the rules of every admin action:
    /// only an owner (or the API key) resets an owner's, and nobody their own (that is `/mfa/disable`, with the
    /// password).
    pub async fn reset_user_mfa(&self, actor: &Actor, user_id: &str) -> Result<()> {
        actor.require_admin(crate::accounts::Role::Admin)?;
        if actor.user_id() == Some(user_id) {
            return Err(CoreError::invalid(
                "cannot_modify_self",
                "To turn off your own two-factor authentication, use POST /api/v1/mfa/disable with your password",
            ));
        }
        let target = self.target_for_admin_action(actor, user_id).await?;
        if self.store.find_totp(user_id).await?.is_none_or(|t| t.confirmed_at.is_none()) {
            return Err(not_enabled());
        }
        self.remove_mfa(&target.org_id, user_id, actor.user_id(), None).await
    }

    /// `attempt`: the password that confirmed it, given back to the lockout counter in the same transaction.
    async fn remove_mfa(
        &self,
        org_id: &str,
        user_id: &str,
        by: Option<&str>,
        attempt: Option<&ReservedAttempt>,
    ) -> Result<()> {
        let now = self.now();
        let tx = self.store.begin().await?;
        if let Some(attempt) = attempt {
            self.attempt_succeeded(&*tx, attempt).await?;
        }
        tx.delete_totp(user_id).await?;
        tx.delete_backup_codes(user_id).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::MFA_DISABLED,
            Some(user_id),
            json!({"user_id": user_id, "method": METHOD_TOTP, "by": by}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

pub(super) fn code_reused() -> CoreError {
    CoreError::unauthenticated("mfa_code_reused", "This code was already used; wait for the next one")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 seed, truncated to the 6 digits authenticator apps show.
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let totp = totp_for(b"12345678901234567890", "zauthy", "user@example.com").unwrap();
        for (time, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(totp.generate(time).to_string(), code, "at {time}");
        }
    }

    #[test]
    fn the_otpauth_uri_names_the_issuer_and_account() {
        let totp = totp_for(b"12345678901234567890", "My: App", "jane@example.com").unwrap();
        let url = totp.to_url().unwrap();
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        assert!(
            url.contains("issuer=My%20%20App") || url.contains("issuer=My++App") || url.contains("issuer=My"),
            "{url}"
        );
        assert!(url.contains("jane%40example.com") || url.contains("jane@example.com"), "{url}");
        assert!(url.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "{url}");
    }

    #[test]
    fn backup_codes_are_80_bit_and_compared_loosely() {
        let code = new_backup_code();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(backup_code_hash("usr_1", &code), backup_code_hash("usr_1", &code.to_uppercase().replace('-', " ")));
        assert_ne!(backup_code_hash("usr_1", &code), backup_code_hash("usr_2", &code));
    }
}
