//! The outbox worker's sender: routes each message by kind, email to the mailer and SMS to the SMS sender.

use crate::mailer::Mailer;
use anyhow::{Context, bail};
use async_trait::async_trait;
use zauthy_core::email::{KIND_EMAIL, MessageSender, OutboxMessage};
use zauthy_core::sms::{KIND_SMS, SmsMessage, SmsSender};

pub struct MessageDispatcher {
    pub mailer: Mailer,
    pub sms: Box<dyn SmsSender>,
}

#[async_trait]
impl MessageSender for MessageDispatcher {
    async fn send(&self, message: &OutboxMessage) -> anyhow::Result<()> {
        match message.kind.as_str() {
            KIND_EMAIL => self.mailer.send(message).await,
            KIND_SMS => {
                let sms: SmsMessage = serde_json::from_value(message.payload.clone()).context("SMS payload")?;
                self.sms.send_sms(&message.id, &sms).await
            }
            other => bail!("no sender for {other:?} messages"),
        }
    }
}
