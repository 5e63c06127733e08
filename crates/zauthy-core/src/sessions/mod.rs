//! Sessions and rotating refresh tokens with reuse detection.

mod service;
mod types;

pub use service::VerifiedToken;
pub use types::{RefreshTokenRecord, Session, SessionLifetimes};
