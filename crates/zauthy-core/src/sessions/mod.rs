//! Sessions and rotating refresh tokens with reuse detection.

mod browser;
mod service;
pub mod store;
mod types;

pub use browser::BROWSER_TOKEN_PREFIX;
pub(crate) use service::Ending;
pub use service::VerifiedToken;
pub use types::{RefreshTokenRecord, Session, SessionLifetimes};
