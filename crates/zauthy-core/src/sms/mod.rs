//! Text messages: the outbox payload of an SMS, the port a provider implements, and the texts we send.
//! Like email, an SMS is queued in the transaction that caused it and delivered by the outbox worker.

use crate::ids;
use crate::outbox::OutboxMessage;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const KIND_SMS: &str = "sms";

/// One text message: an E.164 recipient and a plain-text body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SmsMessage {
    pub to: String,
    pub body: String,
}

/// Delivers a text message through a provider (or writes it somewhere when none is configured).
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// `outbox_id` names the message, so a redelivery is recognisable as the same one.
    async fn send_sms(&self, outbox_id: &str, sms: &SmsMessage) -> anyhow::Result<()>;
    /// Where messages go, for the start-up log.
    fn describe(&self) -> String;
}

impl OutboxMessage {
    pub fn sms(org_id: Option<&str>, message: &SmsMessage, now: OffsetDateTime) -> Self {
        Self {
            id: ids::new_id(ids::OUTBOX),
            org_id: org_id.map(str::to_owned),
            kind: KIND_SMS.to_owned(),
            payload: serde_json::to_value(message).unwrap_or_default(),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        }
    }
}

/// The text carrying a one-time sign-in code; short enough for one GSM-7 segment.
pub fn otp_sms(to: &str, org_name: &str, code: &str, ttl_minutes: i64) -> SmsMessage {
    let org: String = org_name.chars().filter(|c| !c.is_control()).take(40).collect();
    SmsMessage {
        to: to.to_owned(),
        body: format!("{code} is your {org} sign-in code. It expires in {ttl_minutes} minutes. Never share it."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sms_outbox_message_carries_its_kind_and_payload() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let sms = otp_sms("+14155550100", "Acme", "012345", 10);
        let message = OutboxMessage::sms(Some("org_x"), &sms, now);
        assert_eq!(message.kind, KIND_SMS);
        let back: SmsMessage = serde_json::from_value(message.payload).unwrap();
        assert_eq!(back, sms);
        assert!(back.body.starts_with("012345 is your Acme sign-in code"), "{}", back.body);
        assert!(back.body.len() <= 160);
    }
}
