//! Sessions and rotating refresh tokens with reuse detection.

pub mod cache;
mod service;
mod types;

pub use service::VerifiedToken;
pub use types::{RefreshTokenRecord, Session, SessionLifetimes};
