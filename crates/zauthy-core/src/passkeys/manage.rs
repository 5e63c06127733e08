//! The signed-in user's passkeys: list and remove.

use super::{PASSKEY_ID, PasskeyRecord};
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

    /// Removes one of the user's passkeys; another user's (or another organization's) is not found.
    pub async fn delete_passkey(&self, actor: &Actor, passkey_id: &str) -> Result<()> {
        let (org_id, user_id, _) = actor.require_user()?;
        if !ids::is_valid_id(PASSKEY_ID, passkey_id) {
            return Err(CoreError::NotFound { entity: "passkey" });
        }
        let now = self.now();
        let tx = self.store.begin().await?;
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
