//! The storage port (trait and record types) of passkeys and WebAuthn ceremonies. `zauthy-store` implements it
//! for SQLite and PostgreSQL; `crate::store` composes every feature's port into one `Repo`.

use crate::error::{CoreError, Result};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

#[async_trait]
pub trait PasskeyRepo {
    async fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<()>;
    async fn find_ceremony(&self, ceremony_id: &str) -> Result<Option<CeremonyRecord>>;
    /// Marks the ceremony used only if it was unused; false means it was already spent.
    async fn mark_ceremony_used(&self, ceremony_id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Fails with `CoreError::Conflict` when the credential id is already registered in the organization.
    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<()>;
    async fn list_passkeys(&self, org_id: &str, user_id: &str) -> Result<Vec<PasskeyRecord>>;
    async fn find_passkey_by_credential(&self, org_id: &str, credential_id: &str) -> Result<Option<PasskeyRecord>>;
    /// Saves the credential state after a sign-in (counter, backup flags) and stamps `last_used_at`.
    async fn update_passkey_use(&self, passkey: &PasskeyRecord, now: OffsetDateTime) -> Result<bool>;
    async fn delete_passkey(&self, org_id: &str, user_id: &str, passkey_id: &str) -> Result<bool>;
}

/// A stored passkey. `passkey` is webauthn-rs's serialized `Passkey` (public key, counter, flags).
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    /// The WebAuthn credential id, base64url without padding; unique within the organization.
    pub credential_id: String,
    pub passkey: String,
    pub name: String,
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct CeremonyRecord {
    pub id: String,
    pub org_id: String,
    pub user_id: Option<String>,
    pub kind: CeremonyKind,
    /// webauthn-rs's serialized state.
    pub state: String,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl CeremonyRecord {
    /// The webauthn-rs state saved at `start`.
    pub(crate) fn state<S: DeserializeOwned>(&self) -> Result<S> {
        serde_json::from_str(&self.state)
            .map_err(|e| CoreError::internal(format!("ceremony {} state is unreadable: {e}", self.id)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// A signed-in user adds a passkey (`PasskeyRegistration` state).
    Registration,
    /// Sign-in of a user named by email, with their credentials allowed (`PasskeyAuthentication`).
    Authentication,
    /// Username-less sign-in: the authenticator names the user (`DiscoverableAuthentication`).
    Discoverable,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
            Self::Discoverable => "discoverable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "registration" => Some(Self::Registration),
            "authentication" => Some(Self::Authentication),
            "discoverable" => Some(Self::Discoverable),
            _ => None,
        }
    }
}
