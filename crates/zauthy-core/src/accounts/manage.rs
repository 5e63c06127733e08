//! The organization's user management: list, get, block and unblock, unlock, delete.

use super::{Address, AddressMembers, Role, User};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::ids;
use crate::sessions::Ending;
use serde_json::json;

pub struct UserQuery {
    pub page: u64,
    pub per_page: u64,
    pub email: Option<String>,
}

pub struct UserList {
    pub users: Vec<User>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

pub const MAX_PER_PAGE: u64 = 100;

/// A partial update: `None` leaves a field as it is; `Some("")` clears name or phone, `Some(None)` (or an
/// address with no non-empty member) clears the address.
#[derive(Debug, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Option<AddressMembers>>,
    pub role: Option<Role>,
}

/// What users may change about themselves, with `UserUpdate`'s meaning of `None` and empty.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Option<AddressMembers>>,
}

fn user_not_found() -> CoreError {
    CoreError::NotFound { entity: "user" }
}

impl crate::services::Services {
    pub async fn list_users(&self, actor: &Actor, query: UserQuery) -> Result<UserList> {
        let org_id = actor.require_admin(Role::Admin)?;
        if query.page == 0 || query.per_page == 0 || query.per_page > MAX_PER_PAGE {
            return Err(CoreError::invalid("invalid_pagination", "page must be ≥ 1 and per_page between 1 and 100"));
        }
        let search = query.email.as_deref().map(super::Email::key_of).filter(|e| !e.is_empty());
        if search.as_ref().is_some_and(|s| s.len() > 254) {
            return Err(CoreError::invalid("invalid_email", "email filter is too long"));
        }
        // No stored email has control characters, and PostgreSQL rejects a NUL byte in text.
        if search.as_ref().is_some_and(|s| s.chars().any(char::is_control)) {
            return Err(CoreError::invalid("invalid_email", "email filter contains control characters"));
        }
        // Databases take a signed 64-bit offset; a page beyond that is a client error, not a driver panic.
        let offset = (query.page - 1)
            .checked_mul(query.per_page)
            .filter(|o| i64::try_from(*o).is_ok())
            .ok_or_else(|| CoreError::invalid("invalid_pagination", "page is out of range"))?;
        let (users, total) = self.store.list_users(org_id, search.as_deref(), query.per_page, offset).await?;
        Ok(UserList { users, total, page: query.page, per_page: query.per_page })
    }

    pub async fn get_user(&self, actor: &Actor, user_id: &str) -> Result<User> {
        let org_id = actor.require_admin(Role::Admin)?;
        self.find_org_user(org_id, user_id).await
    }

    async fn find_org_user(&self, org_id: &str, user_id: &str) -> Result<User> {
        if !ids::is_valid_id(ids::USER, user_id) {
            return Err(user_not_found());
        }
        Ok(self.store.find_user(org_id, user_id).await?.ok_or_else(user_not_found)?.user)
    }

    /// Admins may manage users and admins; only an owner (or the API key) may touch an owner; nobody
    /// blocks, unlocks, deletes or resets the second factor of themselves (for that, users prove who they
    /// are: `/mfa/disable` takes their password).
    pub(crate) async fn target_for_admin_action(&self, actor: &Actor, user_id: &str) -> Result<User> {
        let org_id = actor.require_admin(Role::Admin)?;
        let target = self.find_org_user(org_id, user_id).await?;
        if actor.user_id() == Some(user_id) {
            return Err(CoreError::invalid("cannot_modify_self", "You cannot do this to your own account"));
        }
        if let Actor::User { role, .. } = actor
            && target.role == Role::Owner
            && *role != Role::Owner
        {
            return Err(CoreError::forbidden("only an owner can manage an owner"));
        }
        Ok(target)
    }

    pub async fn set_user_blocked(&self, actor: &Actor, user_id: &str, blocked: bool) -> Result<User> {
        let target = self.target_for_admin_action(actor, user_id).await?;
        let now = self.now();
        let tx = self.store.begin().await?;
        tx.set_blocked(&target.org_id, user_id, blocked, now).await?;
        if blocked {
            self.end_sessions(&*tx, &target.org_id, user_id, Ending::AllBut(None), "user_blocked", now).await?;
        }
        let event = if blocked { types::USER_BLOCKED } else { types::USER_UNBLOCKED };
        tx.insert_event(&Event::new(
            &target.org_id,
            event,
            Some(user_id),
            json!({"user_id": user_id, "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.sessions_ended();
        Ok(User { is_blocked: blocked, updated_at: now, ..target })
    }

    /// Edits a user's name, phone, address or role. Changing roles needs an owner (or the API key), and nobody
    /// changes their own role, so an organization cannot lose its last owner by accident.
    pub async fn update_user(&self, actor: &Actor, user_id: &str, update: UserUpdate) -> Result<User> {
        let org_id = actor.require_admin(Role::Admin)?;
        let target = self.find_org_user(org_id, user_id).await?;
        if update.role.is_some_and(|r| r != target.role) {
            actor.require_admin(Role::Owner)?;
            if actor.user_id() == Some(user_id) {
                return Err(CoreError::invalid("cannot_modify_self", "You cannot change your own role"));
            }
        }
        if let Actor::User { role, .. } = actor
            && target.role == Role::Owner
            && *role != Role::Owner
        {
            return Err(CoreError::forbidden("only an owner can manage an owner"));
        }
        self.apply_user_update(org_id, target, update, actor.user_id()).await
    }

    /// The signed-in user's own account (their access token).
    pub async fn own_profile(&self, actor: &Actor) -> Result<User> {
        let (org_id, user_id, _) = actor.require_user()?;
        self.find_org_user(org_id, user_id).await
    }

    /// The signed-in user edits their own name, phone or address (not their role, nor their email, which
    /// needs proof of the new mailbox).
    pub async fn update_own_profile(&self, actor: &Actor, update: ProfileUpdate) -> Result<User> {
        let (org_id, user_id, _) = actor.require_user()?;
        let target = self.find_org_user(org_id, user_id).await?;
        let update = UserUpdate { name: update.name, phone: update.phone, address: update.address, role: None };
        self.apply_user_update(org_id, target, update, Some(user_id)).await
    }

    /// Saves an update the caller may make, with its `user.updated` event; a demotion ends the user's
    /// sessions, since access tokens carry the role.
    async fn apply_user_update(
        &self,
        org_id: &str,
        target: User,
        update: UserUpdate,
        by: Option<&str>,
    ) -> Result<User> {
        let user_id = target.id.as_str();
        let optional =
            |v: Option<String>, current: Option<String>, f: fn(&str) -> Result<String>| -> Result<Option<String>> {
                match v {
                    None => Ok(current),
                    Some(v) if v.trim().is_empty() => Ok(None),
                    Some(v) => f(&v).map(Some),
                }
            };
        let now = self.now();
        let updated = User {
            name: optional(update.name, target.name.clone(), |n| crate::orgs::clean_name_pub(n, "name", 200))?,
            phone: optional(update.phone, target.phone.clone(), super::login::parse_phone)?,
            address: match update.address {
                None => target.address.clone(),
                Some(members) => members.map(Address::parse).transpose()?.flatten(),
            },
            role: update.role.unwrap_or(target.role),
            updated_at: now,
            ..target.clone()
        };
        // A new number is not proven yet.
        let updated = User { phone_verified: target.phone_verified && updated.phone == target.phone, ..updated };
        // Access tokens carry the role: a demotion must not live on in tokens issued before it.
        let demoted = updated.role < target.role;
        let tx = self.store.begin().await?;
        tx.update_user_profile(&updated, now).await?;
        if demoted {
            self.end_sessions(&*tx, org_id, user_id, Ending::AllBut(None), "role_changed", now).await?;
        }
        tx.insert_event(&Event::new(
            org_id,
            types::USER_UPDATED,
            Some(user_id),
            json!({"user_id": user_id, "by": by, "role": updated.role.as_str(), "previous_role": target.role.as_str(), "sessions_revoked": demoted}),
            now,
        ))
        .await?;
        tx.commit().await?;
        // Revoked sessions, and the cached user the OpenID provider releases claims from.
        self.sessions_ended();
        Ok(updated)
    }

    pub async fn unlock_user(&self, actor: &Actor, user_id: &str) -> Result<User> {
        let target = self.target_for_admin_action(actor, user_id).await?;
        let org_id = target.org_id.as_str();
        let now = self.now();
        let tx = self.store.begin().await?;
        tx.unlock_user(org_id, user_id, now).await?;
        tx.insert_event(&Event::new(
            org_id,
            types::USER_UNLOCKED,
            Some(user_id),
            json!({"user_id": user_id, "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(User { failed_login_attempts: 0, locked_until: None, updated_at: now, ..target })
    }

    pub async fn delete_user(&self, actor: &Actor, user_id: &str) -> Result<()> {
        let target = self.target_for_admin_action(actor, user_id).await?;
        let now = self.now();
        let tx = self.store.begin().await?;
        // Ended first, so the RPs holding its sessions hear of it; the rows go with the user.
        self.end_sessions(&*tx, &target.org_id, user_id, Ending::AllBut(None), "user_deleted", now).await?;
        tx.delete_user(&target.org_id, user_id).await?;
        tx.insert_event(&Event::new(
            &target.org_id,
            types::USER_DELETED,
            Some(user_id),
            json!({"user_id": user_id, "email": target.email.as_str(), "by": actor.user_id()}),
            now,
        ))
        .await?;
        tx.commit().await?;
        self.sessions_ended();
        Ok(())
    }
}
