//! The signed-in user's passkeys: list and remove.

use super::{PASSKEY_ID, PasskeyRecord};
use crate::accounts::{Removing, keep_a_way_to_sign_in};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::ids;
use crate::services::Services;
use serde_json::json;

impl Services {
    pub async fn list_passkeys(&self, actor: &Actor) -> Result<Vec<PasskeyRecord>> {
        let (org_id, user_id, _) = actor.require_user()?;
        self.store.list_passkeys(org_id, user_id).await
    }

    /// Removes one of the user's passkeys, unless it is the account's last way to sign in (409
    /// `last_sign_in_method`); another user's (or another organization's) is not found.
    pub async fn delete_passkey(&self, actor: &Actor, passkey_id: &str) -> Result<()> {
        let (org_id, user_id, _) = actor.require_user()?;
        if !ids::is_valid_id(PASSKEY_ID, passkey_id) {
            return Err(CoreError::NotFound { entity: "passkey" });
        }
        let now = self.now();
        let tx = self.store.begin().await?;
        // The user's row stays locked until commit, as for unlinking: two removals at the same moment cannot
        // both count the other's passkey or identity as the way left to sign in.
        let user = tx.find_user_for_update(org_id, user_id).await?.ok_or(CoreError::NotFound { entity: "user" })?;
        if !tx.list_passkeys(org_id, user_id).await?.iter().any(|p| p.id == passkey_id) {
            return Err(CoreError::NotFound { entity: "passkey" });
        }
        keep_a_way_to_sign_in(&*tx, &user, Removing::Passkey).await?;
        if !tx.delete_passkey(org_id, user_id, passkey_id).await? {
            return Err(CoreError::NotFound { entity: "passkey" });
        }
        tx.insert_event(&Event::new(
            org_id,
            types::PASSKEY_REMOVED,
            Some(user_id),
            json!({"user_id": user_id, "passkey_id": passkey_id}),
            now,
        ))
        .await?;
        tx.commit().await
    }
}
