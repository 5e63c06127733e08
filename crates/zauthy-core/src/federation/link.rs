//! Which account an upstream identity belongs to. A known `(provider, sub)` signs its user in. An unknown
//! one attaches to an existing account only by an explicit link from the signed-in user, or by a verified
//! email on both sides when the provider allows it; otherwise it creates a user if signups are allowed, and
//! is refused with a clear error in every other case, never a silent takeover. Unlinking keeps at least one
//! way to sign in.

use super::flow::{InitInput, InitOutcome};
use super::id_token::IdTokenClaims;
use super::{FederatedIdentity, IDENTITY_ID, OAuthProvider};
use crate::accounts::{Email, LoginOutcome, Removing, Role, SignInMethod, User, keep_a_way_to_sign_in};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::ids;
use crate::services::{ClientMeta, Services};
use crate::store::Repo;
use serde_json::json;

fn blocked() -> CoreError {
    CoreError::forbidden_code("user_blocked", "This account has been blocked")
}

impl Services {
    /// Starts linking a provider to the signed-in user's account. Permissions: the user's access token.
    pub async fn oauth_link_start(&self, actor: &Actor, input: InitInput) -> Result<InitOutcome> {
        let (org_id, user_id, _) = actor.require_user()?;
        let provider = self.usable_provider(org_id, &input.provider).await?;
        if self.store.list_federated_identities(org_id, user_id).await?.iter().any(|i| i.provider_id == provider.id) {
            return Err(already_linked(&provider));
        }
        self.start_upstream_authorization(org_id, input, Some(user_id)).await
    }

    /// The identity's account, signed in with `complete_sign_in` (tokens, or the MFA challenge).
    pub(super) async fn federated_sign_in(
        &self,
        provider: &OAuthProvider,
        claims: &IdTokenClaims,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome> {
        let now = self.now();
        let org_id = provider.org_id.as_str();
        let email = claims.email.as_deref().and_then(|e| Email::parse(e).ok());
        let tx = self.store.begin().await?;
        let user = if let Some(identity) = tx.find_federated_identity(org_id, &provider.id, &claims.subject).await? {
            let user = tx
                .find_user(org_id, &identity.user_id)
                .await?
                .ok_or_else(|| CoreError::internal("a federated identity without its user"))?
                .user;
            if user.is_blocked {
                return Err(blocked());
            }
            tx.touch_federated_identity(&identity.id, email.as_ref().map(Email::as_str), now).await?;
            user
        } else {
            let Some(email) = email else {
                return Err(CoreError::invalid(
                    "oauth_email_missing",
                    "The provider shared no usable email address, so no account can be found or made; ask for the email scope",
                ));
            };
            match tx.find_user_by_email(org_id, &email).await? {
                Some(existing) => {
                    let user = existing.user;
                    let allowed = provider.link_by_verified_email && claims.email_verified && user.is_verified;
                    if !allowed {
                        return Err(CoreError::conflict(
                            "oauth_account_exists",
                            "An account with this email already exists; sign in to it and link the provider with /auth/oauth/link",
                        ));
                    }
                    if user.is_blocked {
                        return Err(blocked());
                    }
                    self.attach_identity(&*tx, provider, claims, &user, "verified_email").await?;
                    user
                }
                None if provider.allow_signup => {
                    let name = claims.name.as_deref().and_then(|n| crate::orgs::clean_name_pub(n, "name", 200).ok());
                    let mut user = User::new_signed_in(org_id, email, name, None, Role::User, now);
                    user.is_verified = claims.email_verified;
                    tx.insert_user(&user, None).await?;
                    tx.insert_event(&Event::new(
                        org_id,
                        types::USER_SIGNUP,
                        Some(&user.id),
                        json!({"user_id": user.id, "email": user.email.as_str(), "method": SignInMethod::OAuth.as_str(),
                               "provider": provider.slug, "ip": meta.ip}),
                        now,
                    ))
                    .await?;
                    self.attach_identity(&*tx, provider, claims, &user, "signup").await?;
                    user
                }
                None => {
                    return Err(CoreError::forbidden_code(
                        "oauth_signup_disabled",
                        "No account uses this identity and this provider does not create accounts",
                    ));
                }
            }
        };
        let outcome = self.complete_sign_in(&*tx, user, SignInMethod::OAuth, meta).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Attaches the identity to the user who started the link.
    pub(super) async fn complete_link(
        &self,
        provider: &OAuthProvider,
        claims: &IdTokenClaims,
        user_id: &str,
    ) -> Result<(User, FederatedIdentity)> {
        let org_id = provider.org_id.as_str();
        let tx = self.store.begin().await?;
        let user = tx.find_user(org_id, user_id).await?.ok_or(CoreError::NotFound { entity: "user" })?.user;
        if let Some(identity) = tx.find_federated_identity(org_id, &provider.id, &claims.subject).await? {
            if identity.user_id == user.id {
                return Ok((user, identity));
            }
            return Err(CoreError::conflict(
                "oauth_identity_in_use",
                "This upstream account is already linked to another user of the organization",
            ));
        }
        if tx.list_federated_identities(org_id, user_id).await?.iter().any(|i| i.provider_id == provider.id) {
            return Err(already_linked(provider));
        }
        let identity = self.attach_identity(&*tx, provider, claims, &user, "link").await?;
        tx.commit().await?;
        Ok((user, identity))
    }

    async fn attach_identity(
        &self,
        repo: &dyn Repo,
        provider: &OAuthProvider,
        claims: &IdTokenClaims,
        user: &User,
        via: &str,
    ) -> Result<FederatedIdentity> {
        let now = self.now();
        let identity = FederatedIdentity {
            id: ids::new_id(IDENTITY_ID),
            org_id: provider.org_id.clone(),
            user_id: user.id.clone(),
            provider_id: provider.id.clone(),
            subject: claims.subject.clone(),
            email: claims.email.clone(),
            created_at: now,
            last_login_at: (via != "link").then_some(now),
        };
        repo.insert_federated_identity(&identity).await.map_err(|e| match e {
            // Two callbacks of the same new identity raced; the other one won.
            CoreError::Conflict { .. } => {
                CoreError::conflict("oauth_identity_in_use", "This upstream account was linked at the same moment")
            }
            other => other,
        })?;
        repo.insert_event(&Event::new(
            &provider.org_id,
            types::OAUTH_LINKED,
            Some(&user.id),
            json!({"user_id": user.id, "provider": provider.slug, "provider_type": provider.kind.as_str(),
                   "subject": claims.subject, "via": via}),
            now,
        ))
        .await?;
        Ok(identity)
    }

    /// The signed-in user's linked identities with their providers' names.
    pub async fn oauth_identities(&self, actor: &Actor) -> Result<Vec<(FederatedIdentity, OAuthProvider)>> {
        let (org_id, user_id, _) = actor.require_user()?;
        let providers = self.store.list_oauth_providers(org_id).await?;
        let identities = self.store.list_federated_identities(org_id, user_id).await?;
        Ok(identities
            .into_iter()
            .filter_map(|i| providers.iter().find(|p| p.id == i.provider_id).cloned().map(|p| (i, p)))
            .collect())
    }

    /// Removes the link to `slug`, unless it is the account's last way to sign in (no password, no passkey,
    /// no other linked identity). Permissions: the user's access token.
    pub async fn oauth_unlink(&self, actor: &Actor, slug: &str) -> Result<()> {
        let (org_id, user_id, _) = actor.require_user()?;
        let not_linked = || CoreError::NotFound { entity: "linked identity" };
        let tx = self.store.begin().await?;
        // The user's row stays locked until commit: two removals (unlinks, passkeys) at the same moment cannot
        // both count the other's as the way left to sign in.
        let user = tx.find_user_for_update(org_id, user_id).await?.ok_or(CoreError::NotFound { entity: "user" })?;
        let provider = tx.find_oauth_provider(org_id, slug).await?.ok_or_else(not_linked)?;
        let identities = tx.list_federated_identities(org_id, user_id).await?;
        let target = identities.iter().find(|i| i.provider_id == provider.id).ok_or_else(not_linked)?;
        keep_a_way_to_sign_in(&*tx, &user, Removing::LinkedIdentity).await?;
        tx.delete_federated_identity(org_id, user_id, &target.id).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::OAUTH_UNLINKED,
            Some(user_id),
            json!({"user_id": user_id, "provider": provider.slug, "provider_type": provider.kind.as_str()}),
            self.now(),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn already_linked(provider: &OAuthProvider) -> CoreError {
    CoreError::conflict(
        "oauth_provider_already_linked",
        format!("The account already has a {} identity linked; unlink it first", provider.slug),
    )
}
