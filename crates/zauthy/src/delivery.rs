//! The outbox worker's sender: routes each message by kind, email to the mailer, SMS to the SMS sender, and
//! a back-channel logout's request to the webhook transport (its outbound rules: https, public addresses
//! only, no redirects, a 10 s timeout).

use crate::mailer::Mailer;
use anyhow::{Context, bail};
use async_trait::async_trait;
use std::sync::Arc;
use zauthy_core::oidc::{KIND_BACKCHANNEL_LOGOUT, LogoutDelivery};
use zauthy_core::outbox::{KIND_EMAIL, MessageSender, OutboxMessage};
use zauthy_core::sms::{KIND_SMS, SmsMessage, SmsSender};
use zauthy_core::webhooks::WebhookTransport;

pub struct MessageDispatcher {
    pub mailer: Mailer,
    pub sms: Box<dyn SmsSender>,
    pub http: Arc<dyn WebhookTransport>,
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
            KIND_BACKCHANNEL_LOGOUT => {
                let delivery: LogoutDelivery =
                    serde_json::from_value(message.payload.clone()).context("back-channel logout payload")?;
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("logout_token", &delivery.logout_token)
                    .finish();
                let headers = [("content-type", "application/x-www-form-urlencoded".to_owned())];
                let answer =
                    self.http.post(&delivery.uri, &headers, body.as_bytes()).await.map_err(anyhow::Error::msg)?;
                // OpenID Connect Back-Channel Logout 1.0 §2.8: 200 on success; any 2xx is taken as one.
                if !(200..300).contains(&answer.status) {
                    bail!("the back-channel logout URI answered {}: {}", answer.status, answer.body);
                }
                Ok(())
            }
            other => bail!("no sender for {other:?} messages"),
        }
    }
}
