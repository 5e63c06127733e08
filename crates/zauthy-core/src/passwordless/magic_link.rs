//! Magic links: a single-use 256-bit `ml_…` token (stored as SHA-256) emailed as a link, valid 15 minutes,
//! landing on an allow-listed application URL or on zauthy's hosted confirmation page.

use super::magic_link_email;
use super::store::MagicLinkRecord;
use crate::accounts::{Email, LoginOutcome, SignInMethod};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::outbox::OutboxMessage;
use crate::services::{ClientMeta, Services};
use crate::store::Repo;
use crate::{crypto, ids};
use serde_json::json;
use time::{Duration, OffsetDateTime};

pub const MAGIC_LINK_TTL_MINUTES: i64 = 15;

/// The one answer `/magic-link/send` gives, whether or not the address has an account.
pub const MAGIC_LINK_SENT_MESSAGE: &str = "If the address can sign in, a link has been sent.";

const TOKEN_PREFIX: &str = "ml";

fn invalid_link() -> CoreError {
    CoreError::invalid("invalid_magic_link", "The magic link is invalid")
}

/// `ml_` and 43 base64url characters: anything else cannot be one of ours.
fn well_formed(token: &str) -> bool {
    token.strip_prefix("ml_").is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The link's state for `org_id` at `now`, as a distinct error per reason.
fn check(record: &MagicLinkRecord, org_id: &str, now: OffsetDateTime) -> Result<()> {
    if record.org_id != org_id {
        return Err(CoreError::invalid(
            "magic_link_wrong_organization",
            "This magic link belongs to another organization",
        ));
    }
    if record.used_at.is_some() {
        return Err(CoreError::invalid("magic_link_used", "This magic link was already used; ask for a new one"));
    }
    if record.expires_at <= now {
        return Err(CoreError::invalid("magic_link_expired", "This magic link has expired; ask for a new one"));
    }
    Ok(())
}

/// `base?token=…`, or `&token=…` when the URL already has a query.
fn with_token(base: &str, token: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}token={token}")
}

impl Services {
    /// Emails a sign-in link when the address may sign in (an unblocked account, or any address when the
    /// organization allows passwordless signup); answers the same either way. `redirect_url` must be one of
    /// the organization's allowed redirect URLs exactly. Without one the link opens the hosted landing page,
    /// which afterwards goes on to `return_to` (a path on the organization's pages, checked there).
    pub async fn send_magic_link(
        &self,
        actor: &Actor,
        email: &str,
        redirect_url: Option<&str>,
        return_to: Option<&str>,
        meta: &ClientMeta,
    ) -> Result<()> {
        let org_id = actor.require_sign_in_flow()?;
        let email = Email::parse(email)?;
        let org = self.store.find_org(org_id).await?.ok_or(CoreError::NotFound { entity: "organization" })?;
        if let Some(url) = redirect_url
            && !org.settings.allows_redirect(url)
        {
            return Err(CoreError::invalid(
                "invalid_redirect_url",
                "redirect_url must be one of the organization's allowed_redirect_urls, exactly",
            ));
        }
        let found = self.store.find_user_by_email(org_id, &email).await?;
        let deliver = match &found {
            Some(found) => !found.user.is_blocked,
            None => org.settings.passwordless_signup,
        };
        let destination = self.destination_hash(org_id, "email", email.as_str());
        let now = self.now();
        let tx = self.store.begin().await?;
        self.record_send(&*tx, org_id, &destination, None).await?;
        if deliver {
            let token = crypto::new_opaque_token(TOKEN_PREFIX);
            let link = match redirect_url {
                Some(url) => with_token(url, &token),
                None => {
                    let landing = match return_to {
                        Some(path) => {
                            let q = url::form_urlencoded::Serializer::new(String::new())
                                .append_pair("return_to", path)
                                .finish();
                            format!("{}/magic-link?{q}", self.issuer(org_id))
                        }
                        None => format!("{}/magic-link", self.issuer(org_id)),
                    };
                    with_token(&landing, &token)
                }
            };
            tx.insert_magic_link(&MagicLinkRecord {
                id: ids::new_id(ids::MAGIC_LINK),
                org_id: org_id.to_owned(),
                email: email.as_str().to_owned(),
                token_hash: crypto::sha256_hex(&token),
                redirect_url: redirect_url.map(str::to_owned),
                expires_at: now + Duration::minutes(MAGIC_LINK_TTL_MINUTES),
                used_at: None,
                created_at: now,
            })
            .await?;
            let message = magic_link_email(email.as_str(), &org.name, &link);
            self.queue_message(&*tx, OutboxMessage::email(Some(org_id), &message, now)).await?;
            let user_id = found.as_ref().map(|f| f.user.id.as_str());
            tx.insert_event(&Event::new(
                org_id,
                types::MAGIC_LINK_SENT,
                user_id,
                json!({"user_id": user_id, "email": email.as_str(), "redirect_url": redirect_url, "ip": meta.ip}),
                now,
            ))
            .await?;
        }
        tx.commit().await?;
        if deliver {
            self.wake_outbox();
        }
        Ok(())
    }

    /// The address a still-usable link signs in, without spending it: the hosted landing page shows it and
    /// asks for confirmation (mail scanners fetch links, so a GET must not sign anyone in).
    pub async fn preview_magic_link(&self, actor: &Actor, token: &str) -> Result<Email> {
        let org_id = actor.require_sign_in_flow()?;
        if !well_formed(token) {
            return Err(invalid_link());
        }
        let record = self.store.find_magic_link(&crypto::sha256_hex(token)).await?.ok_or_else(invalid_link)?;
        check(&record, org_id, self.now())?;
        Ok(Email::from_trusted(record.email))
    }

    /// Spends the link and signs its address in (creating the account when passwordless signup allows it),
    /// all in one transaction.
    pub async fn verify_magic_link(&self, actor: &Actor, token: &str, meta: &ClientMeta) -> Result<LoginOutcome> {
        let org_id = actor.require_sign_in_flow()?;
        if !well_formed(token) {
            return Err(invalid_link());
        }
        let now = self.now();
        let tx = self.store.begin().await?;
        let record = tx.find_magic_link(&crypto::sha256_hex(token)).await?.ok_or_else(invalid_link)?;
        check(&record, org_id, now)?;
        if !tx.mark_magic_link_used(&record.id, now).await? {
            return Err(CoreError::invalid("magic_link_used", "This magic link was already used; ask for a new one"));
        }
        let outcome = self.sign_in_by_link(&*tx, &record, meta).await?;
        tx.commit().await?;
        // The sign-in may have proven the address: the cached user must show it.
        self.cache.invalidate();
        Ok(outcome)
    }

    async fn sign_in_by_link(
        &self,
        repo: &dyn Repo,
        record: &MagicLinkRecord,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let email = Email::from_trusted(record.email.clone());
        // No account: it was deleted since the link was sent, or passwordless signup was turned off.
        let user = self
            .passwordless_account(repo, &record.org_id, &email, SignInMethod::MagicLink, meta)
            .await?
            .ok_or_else(invalid_link)?;
        self.complete_sign_in(repo, user, SignInMethod::MagicLink, meta).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_joins_the_landing_url_with_the_right_separator() {
        assert_eq!(with_token("https://app.example.com/cb", "ml_x"), "https://app.example.com/cb?token=ml_x");
        assert_eq!(with_token("https://app.example.com/cb?a=1", "ml_x"), "https://app.example.com/cb?a=1&token=ml_x");
    }

    #[test]
    fn only_well_formed_tokens_reach_the_store() {
        let token = crypto::new_opaque_token(TOKEN_PREFIX);
        assert!(well_formed(&token), "{token}");
        assert!(!well_formed(&format!("{token}x")));
        assert!(!well_formed(&token.replacen("ml_", "rt_", 1)));
        assert!(!well_formed("ml_../../../../etc/passwd...................."));
    }
}
