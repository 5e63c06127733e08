//! zauthy's domain: types, services and the storage ports they need. No HTTP, no database driver.

pub mod accounts;
pub mod actor;
pub mod cache;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod events;
pub mod federation;
pub mod ids;
pub mod mfa;
pub mod oidc;
pub mod orgs;
pub mod outbox;
pub mod passkeys;
pub mod passwordless;
pub mod passwords;
pub mod prune;
pub mod ratelimit;
pub mod services;
pub mod sessions;
pub mod sms;
pub mod store;
pub mod tokens;
pub mod webhooks;

pub use actor::Actor;
pub use error::{CoreError, Result};
pub use services::{ClientMeta, CoreConfig, Services};
