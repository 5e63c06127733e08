//! Delivers outbox email: over SMTP when a server is configured, otherwise as `.eml` files in the data
//! directory (so a laptop install needs no mail server and loses nothing).

use crate::config::EmailConfig;
use anyhow::{Context, bail};
use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use zauthy_core::outbox::{EmailMessage, KIND_EMAIL, MessageSender, OutboxMessage};

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    pub fn new(config: &EmailConfig, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let from: Mailbox = config.from.parse().context("email.from")?;
        let transport = match &config.smtp_host {
            None => Transport::Files(data_dir.join("outbox").join("mail")),
            Some(host) => {
                let mut builder = match config.smtp_security.as_str() {
                    "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                    "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
                    _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
                };
                if let Some(port) = config.smtp_port {
                    builder = builder.port(port);
                }
                if let (Some(user), Some(password)) = (&config.smtp_username, &config.smtp_password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                builder = builder.timeout(Some(std::time::Duration::from_secs(20)));
                Transport::Smtp(builder.build())
            }
        };
        Ok(Self { from, transport })
    }

    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "SMTP".to_owned(),
            Transport::Files(dir) => format!("files in {}", dir.display()),
        }
    }

    fn build(&self, outbox_id: &str, email: &EmailMessage) -> anyhow::Result<Message> {
        let to: Mailbox = email.to.parse().context("recipient address")?;
        let domain = self.from.email.domain().to_owned();
        Ok(Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            // The outbox id makes a redelivery recognisable as the same message.
            .message_id(Some(format!("<{outbox_id}@{domain}>")))
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone())?)
    }
}

#[async_trait]
impl MessageSender for Mailer {
    async fn send(&self, message: &OutboxMessage) -> anyhow::Result<()> {
        if message.kind != KIND_EMAIL {
            bail!("this sender cannot deliver {:?} messages", message.kind);
        }
        let email: EmailMessage = serde_json::from_value(message.payload.clone()).context("email payload")?;
        let built = self.build(&message.id, &email)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(built).await.context("SMTP delivery")?;
            }
            Transport::Files(dir) => {
                tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join(format!("{}.eml", message.id));
                let partial = dir.join(format!(".{}.eml.partial", message.id));
                tokio::fs::write(&partial, built.formatted()).await?;
                tokio::fs::rename(&partial, &path).await?;
                tracing::info!(to = %email.to, path = %path.display(), "email written to file (no SMTP server configured)");
            }
        }
        Ok(())
    }
}
