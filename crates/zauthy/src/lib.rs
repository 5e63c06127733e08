//! The zauthy server: configuration, wiring, background workers and the command line.

pub mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod federation;
pub mod mailer;
pub mod master_key;
pub mod prune_worker;
pub mod sms;
pub mod webhook_worker;
pub mod webhooks;

pub use app::Application;
pub use config::Config;

/// aws-lc-rs is the one TLS crypto provider (SMTP, PostgreSQL, outbound HTTP). Installing it explicitly
/// avoids a panic if another crate ever pulls in ring as well.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
