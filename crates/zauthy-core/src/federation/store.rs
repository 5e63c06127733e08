//! The storage port (trait and record types) of social login: upstream providers, sign-in states and linked
//! identities. `zauthy-store` implements it for SQLite and PostgreSQL; `crate::store` composes every feature's
//! port into one `Repo`.

use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait FederationRepo {
    /// Fails with `CoreError::Conflict` when the organization already has a provider with that slug.
    async fn insert_oauth_provider(&self, provider: &crate::federation::OAuthProvider) -> Result<()>;
    async fn find_oauth_provider(&self, org_id: &str, slug: &str) -> Result<Option<crate::federation::OAuthProvider>>;
    async fn find_oauth_provider_by_id(
        &self,
        org_id: &str,
        provider_id: &str,
    ) -> Result<Option<crate::federation::OAuthProvider>>;
    async fn list_oauth_providers(&self, org_id: &str) -> Result<Vec<crate::federation::OAuthProvider>>;
    /// Writes every field but id, org, slug, kind and created_at.
    async fn update_oauth_provider(&self, provider: &crate::federation::OAuthProvider) -> Result<bool>;
    /// Deletes the provider with its linked identities and pending authorization requests.
    async fn delete_oauth_provider(&self, org_id: &str, provider_id: &str) -> Result<bool>;
    async fn insert_oauth_state(&self, state: &crate::federation::OAuthStateRecord) -> Result<()>;
    async fn find_oauth_state(&self, state_hash: &str) -> Result<Option<crate::federation::OAuthStateRecord>>;
    /// Marks the state used only if it was unused; false means it was already spent.
    async fn spend_oauth_state(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    /// Fails with `CoreError::Conflict` when `(provider, subject)` or `(user, provider)` is already linked.
    async fn insert_federated_identity(&self, identity: &crate::federation::FederatedIdentity) -> Result<()>;
    async fn find_federated_identity(
        &self,
        org_id: &str,
        provider_id: &str,
        subject: &str,
    ) -> Result<Option<crate::federation::FederatedIdentity>>;
    async fn list_federated_identities(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<Vec<crate::federation::FederatedIdentity>>;
    /// Stamps a sign-in and refreshes the email the upstream reported.
    async fn touch_federated_identity(&self, id: &str, email: Option<&str>, now: OffsetDateTime) -> Result<()>;
    async fn delete_federated_identity(&self, org_id: &str, user_id: &str, id: &str) -> Result<bool>;
}
