//! Delivers outbox SMS: through Twilio's Messages API when configured, otherwise as JSON files under
//! `data_dir/outbox/sms` (so a laptop install needs no provider and loses nothing).

use crate::config::SmsConfig;
use anyhow::{Context, bail};
use async_trait::async_trait;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use zauthy_core::sms::{SmsMessage, SmsSender};

/// Builds the sender the configuration names.
pub fn sms_sender(config: &SmsConfig, data_dir: &std::path::Path) -> anyhow::Result<Box<dyn SmsSender>> {
    match config.provider.as_deref() {
        None => Ok(Box::new(SmsFiles { dir: data_dir.join("outbox").join("sms") })),
        Some("twilio") => Ok(Box::new(Twilio::new(config)?)),
        Some(other) => bail!("unsupported SMS provider {other:?}"),
    }
}

/// Writes each message as `{outbox_id}.json`.
pub struct SmsFiles {
    dir: PathBuf,
}

#[async_trait]
impl SmsSender for SmsFiles {
    async fn send_sms(&self, outbox_id: &str, sms: &SmsMessage) -> anyhow::Result<()> {
        let dir = &self.dir;
        tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{outbox_id}.json"));
        let partial = dir.join(format!(".{outbox_id}.json.partial"));
        tokio::fs::write(&partial, serde_json::to_vec_pretty(sms)?).await?;
        tokio::fs::rename(&partial, &path).await?;
        tracing::info!(to = %sms.to, path = %path.display(), "SMS written to file (no SMS provider configured)");
        Ok(())
    }

    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }
}

enum Sender {
    From(String),
    MessagingService(String),
}

/// Twilio's Programmable Messaging API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic
/// auth with the account SID and auth token, a form-encoded `To`, `From` (or `MessagingServiceSid`) and
/// `Body`; `201 Created` with the message's `sid` on success, `{code, message}` on failure.
pub struct Twilio {
    client: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: String,
    sender: Sender,
}

#[derive(Deserialize)]
struct TwilioMessage {
    sid: String,
    status: Option<String>,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl Twilio {
    pub fn new(config: &SmsConfig) -> anyhow::Result<Self> {
        let account_sid = config.twilio_account_sid.clone().context("sms.twilio_account_sid")?;
        let auth_token = config.twilio_auth_token.clone().context("sms.twilio_auth_token")?;
        let sender = match (&config.from, &config.messaging_service_sid) {
            (_, Some(sid)) => Sender::MessagingService(sid.clone()),
            (Some(from), None) => Sender::From(from.clone()),
            (None, None) => bail!("sms.from or sms.messaging_service_sid is required"),
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // A redirect would resend the credentials somewhere else; Twilio never answers with one.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("zauthy/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the SMS HTTP client")?;
        let messages_url =
            format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", config.base_url.trim_end_matches('/'));
        Ok(Self { client, messages_url, account_sid, auth_token, sender })
    }

    fn form(&self, sms: &SmsMessage) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", &sms.to);
        match &self.sender {
            Sender::From(from) => form.append_pair("From", from),
            Sender::MessagingService(sid) => form.append_pair("MessagingServiceSid", sid),
        };
        form.append_pair("Body", &sms.body);
        form.finish()
    }
}

#[async_trait]
impl SmsSender for Twilio {
    async fn send_sms(&self, outbox_id: &str, sms: &SmsMessage) -> anyhow::Result<()> {
        let response = self
            .client
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(self.form(sms))
            .send()
            .await
            .context("calling Twilio")?;
        let status = response.status();
        let text = response.text().await.context("reading Twilio's answer")?;
        if status.is_success() {
            let message: TwilioMessage = serde_json::from_str(&text)
                .with_context(|| format!("Twilio answered {status} without a message sid"))?;
            tracing::info!(outbox_id, twilio_sid = %message.sid, status = ?message.status, "SMS accepted by Twilio");
            return Ok(());
        }
        match serde_json::from_str::<TwilioError>(&text) {
            Ok(TwilioError { code, message }) => bail!(
                "Twilio answered {status}: error {}: {}",
                code.map_or_else(|| "?".to_owned(), |c| c.to_string()),
                message.unwrap_or_default()
            ),
            Err(_) => bail!("Twilio answered {status}: {}", text.chars().take(200).collect::<String>()),
        }
    }

    fn describe(&self) -> String {
        format!("Twilio at {}", self.messages_url)
    }
}
