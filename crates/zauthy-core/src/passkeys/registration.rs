//! Adding a passkey: a signed-in user starts a registration ceremony, their browser creates a credential,
//! and `finish` verifies it and stores it.

use super::store::CeremonyKind;
use super::{
    PASSKEY_ID, PasskeyChallenge, PasskeyRecord, clean_passkey_name, encode_credential_id, normalise_response,
    parse_passkey, passkey_facts, user_handle,
};
use crate::actor::Actor;
use crate::error::{CoreError, Result};
use crate::events::{Event, types};
use crate::ids;
use crate::services::Services;
use serde_json::{Value, json};
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential};

impl Services {
    /// Options for `navigator.credentials.create()`, excluding the user's already registered credentials.
    pub async fn start_passkey_registration(&self, actor: &Actor) -> Result<PasskeyChallenge> {
        let (org_id, user_id, _) = actor.require_user()?;
        let org = self.org_for_passkeys(org_id).await?;
        let user = self.store.find_user(org_id, user_id).await?.ok_or(CoreError::NotFound { entity: "user" })?.user;
        let existing = self.store.list_passkeys(org_id, user_id).await?;
        let exclude =
            existing.iter().map(|r| parse_passkey(r).map(|p| p.cred_id().clone())).collect::<Result<Vec<_>>>()?;
        let webauthn = self.webauthn_for(&org)?;
        let display_name = user.name.as_deref().unwrap_or(user.email.as_str());
        let (challenge, state) = webauthn
            .start_passkey_registration(
                user_handle(user_id),
                user.email.as_str(),
                display_name,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(|e| CoreError::internal(format!("starting a passkey registration: {e}")))?;
        let mut options =
            serde_json::to_value(&challenge).map_err(|e| CoreError::internal(format!("creation options: {e}")))?;
        // Ask for a discoverable credential (username-less sign-in needs one) without requiring it: security
        // keys without resident-key storage still register. Only the client reads this hint; the state does
        // not depend on it.
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection").and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".to_owned(), json!("preferred"));
        }
        let (ceremony_id, expires_at) =
            self.save_ceremony(org_id, Some(user_id), CeremonyKind::Registration, &state).await?;
        Ok(PasskeyChallenge { ceremony_id, options, expires_at })
    }

    /// Verifies the browser's `PublicKeyCredential` (its `toJSON()`) against the ceremony and stores the
    /// passkey under `name` (default "Passkey").
    pub async fn finish_passkey_registration(
        &self,
        actor: &Actor,
        ceremony_id: &str,
        credential: &Value,
        name: Option<&str>,
    ) -> Result<PasskeyRecord> {
        let (org_id, user_id, _) = actor.require_user()?;
        let name = clean_passkey_name(name)?;
        let response: RegisterPublicKeyCredential =
            serde_json::from_value(normalise_response(credential)).map_err(super::invalid_response)?;
        let ceremony = self.claim_ceremony(org_id, ceremony_id, &[CeremonyKind::Registration], Some(user_id)).await?;
        let state: PasskeyRegistration = ceremony.state()?;
        let org = self.org_for_passkeys(org_id).await?;
        let passkey = self.webauthn_for(&org)?.finish_passkey_registration(&response, &state).map_err(|e| {
            tracing::info!(error = %e, "passkey registration failed verification");
            CoreError::invalid("passkey_verification_failed", "The new passkey could not be verified")
        })?;
        let (sign_count, backup_eligible, backup_state) = passkey_facts(&passkey)?;
        let now = self.now();
        let record = PasskeyRecord {
            id: ids::new_id(PASSKEY_ID),
            org_id: org_id.to_owned(),
            user_id: user_id.to_owned(),
            credential_id: encode_credential_id(passkey.cred_id().as_ref()),
            passkey: serde_json::to_string(&passkey).map_err(|e| CoreError::internal(format!("passkey: {e}")))?,
            name,
            sign_count,
            backup_eligible,
            backup_state,
            created_at: now,
            last_used_at: None,
        };
        let tx = self.store.begin().await?;
        tx.insert_passkey(&record).await.map_err(|e| match e {
            CoreError::Conflict { .. } => {
                CoreError::conflict("passkey_exists", "This passkey is already registered in this organization")
            }
            other => other,
        })?;
        tx.insert_event(&Event::new(
            org_id,
            types::PASSKEY_ADDED,
            Some(user_id),
            json!({"user_id": user_id, "passkey_id": record.id, "name": record.name,
                   "backup_eligible": backup_eligible}),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(record)
    }
}
