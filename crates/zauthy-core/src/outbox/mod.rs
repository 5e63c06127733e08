//! The outbox: outgoing messages (emails, text messages, back-channel logout notices) as durable records written
//! with the change that caused them, their delivery step, and the email bodies the product sends.

mod delivery;
pub mod store;

pub use delivery::MessageSender;

use crate::ids;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A message waiting in the outbox. It is written in the same transaction as the change that caused it,
/// so a crash between commit and send loses nothing; a worker delivers it at least once.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: String,
    pub org_id: Option<String>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub next_attempt_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
}

pub const KIND_EMAIL: &str = "email";

/// Which outbox messages a worker takes. Back-channel logout notices go to endpoints an organization chose,
/// which may be slow or never answer; they have workers of their own, so that no organization's endpoint can
/// hold up the emails and text messages of every organization (reset links, sign-in codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxLane {
    /// Emails and text messages to users.
    Messages,
    /// Back-channel logout notices to clients' servers.
    Logout,
}

impl OutboxMessage {
    pub fn email(org_id: Option<&str>, message: &EmailMessage, now: OffsetDateTime) -> Self {
        Self {
            id: ids::new_id(ids::OUTBOX),
            org_id: org_id.map(str::to_owned),
            kind: KIND_EMAIL.to_owned(),
            payload: serde_json::to_value(message).unwrap_or_default(),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        }
    }
}

/// What one delivery attempt of the outbox worker did; tests drain the outbox with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Retrying,
    Dead,
    Empty,
}

pub fn password_reset_email(to: &str, org_name: &str, reset_url: &str, token: &str, ttl_minutes: i64) -> EmailMessage {
    EmailMessage {
        to: to.to_owned(),
        subject: format!("Reset your {org_name} password"),
        text: format!(
            "Someone asked to reset the password of your {org_name} account.\r\n\r\n\
             To choose a new password, open:\r\n{reset_url}\r\n\r\n\
             or use this reset token: {token}\r\n\r\n\
             The link works once and expires in {ttl_minutes} minutes. If you did not ask for this, ignore this email.\r\n"
        ),
    }
}
