//! The composition of the storage ports. Each feature declares its own port (trait and record types) in its
//! folder (`accounts/store.rs`, `oidc/store.rs`, …); this file only joins them into `Repo`, and adds `Store`
//! (the pool: transactions, health) and `Transaction` (the same methods, committed all-or-nothing).
//! `zauthy-store` implements every port once for SQLite and PostgreSQL.

pub use crate::accounts::store::UserRepo;
pub use crate::events::store::EventRepo;
pub use crate::federation::store::FederationRepo;
pub use crate::mfa::store::MfaRepo;
pub use crate::oidc::store::{
    ApprovalRepo, CrossDeviceRepo, OidcBackchannelRepo, OidcClientRepo, OidcDeviceRepo, OidcGrantRepo,
};
pub use crate::orgs::store::OrgRepo;
pub use crate::outbox::store::OutboxRepo;
pub use crate::passkeys::store::PasskeyRepo;
pub use crate::passwordless::store::PasswordlessRepo;
pub use crate::passwords::store::PasswordResetRepo;
pub use crate::prune::store::PruneRepo;
pub use crate::sessions::store::{BrowserSessionRepo, SessionRepo};
pub use crate::tokens::store::SigningKeyRepo;
pub use crate::webhooks::store::WebhookRepo;

use crate::error::Result;
use async_trait::async_trait;

/// Every feature's port in one: what a service holds (`&dyn Repo`) and what a transaction offers.
pub trait Repo:
    OrgRepo
    + UserRepo
    + SessionRepo
    + BrowserSessionRepo
    + MfaRepo
    + OidcClientRepo
    + OidcGrantRepo
    + CrossDeviceRepo
    + OidcDeviceRepo
    + OidcBackchannelRepo
    + ApprovalRepo
    + SigningKeyRepo
    + PasswordResetRepo
    + PasskeyRepo
    + EventRepo
    + WebhookRepo
    + OutboxRepo
    + PasswordlessRepo
    + FederationRepo
    + PruneRepo
    + Send
    + Sync
{
}

impl<T> Repo for T where
    T: OrgRepo
        + UserRepo
        + SessionRepo
        + BrowserSessionRepo
        + MfaRepo
        + OidcClientRepo
        + OidcGrantRepo
        + CrossDeviceRepo
        + OidcDeviceRepo
        + OidcBackchannelRepo
        + ApprovalRepo
        + SigningKeyRepo
        + PasswordResetRepo
        + PasskeyRepo
        + EventRepo
        + WebhookRepo
        + OutboxRepo
        + PasswordlessRepo
        + FederationRepo
        + PruneRepo
        + Send
        + Sync
{
}

#[async_trait]
pub trait Store: Repo {
    /// Starts a write transaction. Dropping it without `commit` rolls it back.
    async fn begin(&self) -> Result<Box<dyn Transaction>>;
    async fn ping(&self) -> Result<()>;
}

#[async_trait]
pub trait Transaction: Repo {
    async fn commit(self: Box<Self>) -> Result<()>;
}
