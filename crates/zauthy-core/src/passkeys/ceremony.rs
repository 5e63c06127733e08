//! Server-side state of a WebAuthn ceremony between `start` and `finish`: single use (a conditional update),
//! valid for five minutes, bound to its organization and, for registration, to the user who started it.
//!
//! The ceremony id is not a secret worth hashing: it grants nothing by itself, because `finish` also needs
//! the authenticator's signature over the challenge kept in the state.

use super::store::CeremonyKind;
use super::store::CeremonyRecord;
use crate::error::{CoreError, Result};
use crate::ids;
use crate::services::Services;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

pub const CEREMONY_TTL_SECS: i64 = 300;
pub const CEREMONY_ID: &str = "pkc";

/// What `start` answers: the options for `navigator.credentials.create()` / `get()` (`{"publicKey": …}`,
/// binary members base64url) and the ceremony id that `finish` takes back.
#[derive(Debug, Clone)]
pub struct PasskeyChallenge {
    pub ceremony_id: String,
    pub options: serde_json::Value,
    pub expires_at: OffsetDateTime,
}

fn unknown() -> CoreError {
    CoreError::invalid("ceremony_not_found", "The passkey ceremony is unknown; start again")
}

impl Services {
    /// Stores a new ceremony and returns its id and expiry. Expired ones are pruned
    /// (`crate::prune::Prunable::WebauthnCeremonies`).
    pub(crate) async fn save_ceremony(
        &self,
        org_id: &str,
        user_id: Option<&str>,
        kind: CeremonyKind,
        state: &impl Serialize,
    ) -> Result<(String, OffsetDateTime)> {
        let now = self.now();
        let state = serde_json::to_string(state).map_err(|e| CoreError::internal(format!("ceremony state: {e}")))?;
        let record = CeremonyRecord {
            id: ids::new_id(CEREMONY_ID),
            org_id: org_id.to_owned(),
            user_id: user_id.map(str::to_owned),
            kind,
            state,
            expires_at: now + Duration::seconds(CEREMONY_TTL_SECS),
            used_at: None,
            created_at: now,
        };
        self.store.insert_ceremony(&record).await?;
        Ok((record.id, record.expires_at))
    }

    /// Spends the ceremony (even if the response then fails verification, so a challenge is never tried
    /// twice) and returns its state. Another organization's ceremony, another user's, or one of another
    /// kind is reported as unknown.
    pub(crate) async fn claim_ceremony(
        &self,
        org_id: &str,
        ceremony_id: &str,
        kinds: &[CeremonyKind],
        user_id: Option<&str>,
    ) -> Result<CeremonyRecord> {
        if !ids::is_valid_id(CEREMONY_ID, ceremony_id) {
            return Err(unknown());
        }
        let record = self.store.find_ceremony(ceremony_id).await?.ok_or_else(unknown)?;
        let user_matches = user_id.is_none_or(|u| record.user_id.as_deref() == Some(u));
        if record.org_id != org_id || !kinds.contains(&record.kind) || !user_matches {
            return Err(unknown());
        }
        let now = self.now();
        if record.used_at.is_some() {
            return Err(CoreError::invalid("ceremony_used", "This passkey ceremony was already used; start again"));
        }
        if record.expires_at <= now {
            return Err(CoreError::invalid("ceremony_expired", "This passkey ceremony has expired; start again"));
        }
        if !self.store.mark_ceremony_used(&record.id, now).await? {
            return Err(CoreError::invalid("ceremony_used", "This passkey ceremony was already used; start again"));
        }
        Ok(record)
    }
}
