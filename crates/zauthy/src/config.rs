//! One typed configuration, layered: built-in defaults → TOML file → `ZAUTHY_…` environment → command line.
//! Secrets can also come from files (`…_file` keys, e.g. `ZAUTHY_MASTER_KEY_FILE`). Validation reports every
//! problem at once.

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zauthy_core::passwords::Argon2Params;
use zauthy_core::ratelimit::RateLimitConfig;
use zauthy_core::sessions::SessionLifetimes;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// The URL clients use to reach this server; token issuers and email links derive from it.
    pub public_url: String,
    /// Where SQLite, the generated master key and file-delivered email live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to SQLite in `data_dir`.
    pub database_url: Option<String>,
    pub database_url_file: Option<PathBuf>,
    pub database_max_connections: u32,
    /// 32 bytes, base64 or hex. Encrypts secrets at rest. Generated into `data_dir/master.key` if absent.
    pub master_key: Option<String>,
    pub master_key_file: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `zauthy=debug,info`; `RUST_LOG` overrides it.
    pub log_level: String,
    pub trust_proxy_headers: bool,
    pub max_body_bytes: usize,
    pub access_token_ttl_secs: i64,
    /// How often expired short-lived records (authorization requests, codes, device codes, states, …) are
    /// deleted; 0 turns the job off on this node.
    pub prune_interval_secs: u64,
    /// Events (the audit log) older than this many days are deleted by that job; 0 keeps them all.
    pub event_retention_days: u32,
    pub sessions: SessionLifetimes,
    pub passwords: PasswordConfig,
    pub password_reset: PasswordResetConfig,
    pub rate_limits: RateLimitConfig,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub webhooks: WebhooksConfig,
    pub federation: FederationConfig,
    /// `ZAUTHY_…` variables left out because they are Kubernetes service links, not settings; logged as a
    /// warning once logging is up.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

/// Social login's calls to upstream providers (discovery, JWKS, token, userinfo). The two `allow_*` switches
/// are for development and tests only: in production every upstream URL must be https to a public address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    pub allow_http: bool,
    pub allow_private_addresses: bool,
    /// How long a started sign-in (its state) stays usable.
    pub state_ttl_secs: i64,
    /// How long discovery documents and JWKS are reused.
    pub metadata_cache_secs: u64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self { allow_http: false, allow_private_addresses: false, state_ttl_secs: 600, metadata_cache_secs: 300 }
    }
}

impl FederationConfig {
    pub fn settings(&self) -> zauthy_core::federation::FederationSettings {
        zauthy_core::federation::FederationSettings {
            allow_http: self.allow_http,
            allow_private_addresses: self.allow_private_addresses,
            state_ttl_secs: self.state_ttl_secs,
            metadata_ttl_secs: self.metadata_cache_secs,
        }
    }
}

/// Webhook delivery. The two `allow_*` switches are for development and tests only: in production a webhook
/// must be https to a public address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    pub allow_http: bool,
    pub allow_private_addresses: bool,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_overlap_hours: i64,
    /// An endpoint failing continuously this long is disabled (a `webhook.disabled` event).
    pub disable_after_hours: i64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self { allow_http: false, allow_private_addresses: false, secret_overlap_hours: 24, disable_after_hours: 72 }
    }
}

impl WebhooksConfig {
    pub fn settings(&self) -> zauthy_core::webhooks::WebhookSettings {
        zauthy_core::webhooks::WebhookSettings {
            allow_http: self.allow_http,
            allow_private_addresses: self.allow_private_addresses,
            secret_overlap_secs: self.secret_overlap_hours.max(0) * 3600,
            disable_after_secs: self.disable_after_hours.max(1) * 3600,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    #[serde(flatten)]
    pub argon2: Argon2Params,
    /// Hashes computed at once; defaults to the number of cores. Each needs `memory_kib` of RAM.
    pub max_concurrent_hashes: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordResetConfig {
    pub token_ttl_secs: i64,
    /// The application's reset page; the emailed link is this URL with `?token=…`.
    pub url: Option<String>,
}

impl Default for PasswordResetConfig {
    fn default() -> Self {
        Self { token_ttl_secs: 1800, url: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The sender, e.g. `zauthy <no-reply@example.com>`.
    pub from: String,
    /// Without an SMTP host, messages are written as .eml files under `data_dir/outbox/mail`.
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (plain text, for local relays only).
    pub smtp_security: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_password_file: Option<PathBuf>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            from: "zauthy <no-reply@localhost>".to_owned(),
            smtp_host: None,
            smtp_port: None,
            smtp_security: "starttls".to_owned(),
            smtp_username: None,
            smtp_password: None,
            smtp_password_file: None,
        }
    }
}

/// Text messages (one-time codes). Without a provider, each SMS is written as a file under
/// `data_dir/outbox/sms` instead of being sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `twilio`, or absent for files.
    pub provider: Option<String>,
    /// `AC` followed by 32 hex digits.
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub twilio_auth_token_file: Option<PathBuf>,
    /// The sending number (E.164) or alphanumeric sender id; or use `messaging_service_sid`.
    pub from: Option<String>,
    /// `MG` followed by 32 hex digits: send through a Twilio messaging service instead of `from`.
    pub messaging_service_sid: Option<String>,
    /// The provider's API root (a test receiver, a regional edge).
    pub base_url: String,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: None,
            twilio_account_sid: None,
            twilio_auth_token: None,
            twilio_auth_token_file: None,
            from: None,
            messaging_service_sid: None,
            base_url: "https://api.twilio.com".to_owned(),
        }
    }
}

fn is_twilio_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34 && value.starts_with(prefix) && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl SmsConfig {
    fn problems(&self, problems: &mut Vec<String>) {
        let Some(provider) = &self.provider else {
            return;
        };
        if provider != "twilio" {
            problems.push(format!("sms.provider: {provider:?} is not supported (use \"twilio\" or leave it unset)"));
            return;
        }
        if !self.twilio_account_sid.as_deref().is_some_and(|sid| is_twilio_sid(sid, "AC")) {
            problems.push("sms.twilio_account_sid: must be AC followed by 32 hex digits".to_owned());
        }
        if self.twilio_auth_token.as_deref().is_none_or(str::is_empty) {
            problems.push("sms.twilio_auth_token (or sms.twilio_auth_token_file): required for twilio".to_owned());
        }
        match (&self.from, &self.messaging_service_sid) {
            (Some(_), Some(_)) | (None, None) => {
                problems.push("sms: set exactly one of sms.from and sms.messaging_service_sid".to_owned());
            }
            (Some(from), None) => {
                let phone = zauthy_core::accounts::parse_phone(from).is_ok();
                let alphanumeric = (1..=11).contains(&from.len())
                    && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
                    && from.bytes().any(|b| b.is_ascii_alphabetic());
                if !phone && !alphanumeric {
                    problems.push("sms.from: must be an E.164 number or an alphanumeric sender id".to_owned());
                }
            }
            (None, Some(sid)) => {
                if !is_twilio_sid(sid, "MG") {
                    problems.push("sms.messaging_service_sid: must be MG followed by 32 hex digits".to_owned());
                }
            }
        }
        let local = |u: &url::Url| matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url::Url::parse(&self.base_url) {
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && local(&u)) => {}
            _ => problems.push("sms.base_url: must be an https URL (http only for localhost)".to_owned()),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            public_url: "http://localhost:8080".to_owned(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_url_file: None,
            database_max_connections: 16,
            master_key: None,
            master_key_file: None,
            log_format: "text".to_owned(),
            log_level: "info".to_owned(),
            trust_proxy_headers: false,
            max_body_bytes: 64 * 1024,
            access_token_ttl_secs: 900,
            prune_interval_secs: 60,
            event_retention_days: 0,
            sessions: SessionLifetimes::default(),
            passwords: PasswordConfig::default(),
            password_reset: PasswordResetConfig::default(),
            rate_limits: RateLimitConfig::default(),
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
            webhooks: WebhooksConfig::default(),
            federation: FederationConfig::default(),
            ignored_env: Vec::new(),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// The variables Kubernetes sets for a Service named `zauthy` (docker links use the same shape): `…_SERVICE_HOST`,
/// `…_SERVICE_PORT[_NAME]`, `…_PORT` and `…_PORT_8080_TCP[_PROTO|_PORT|_ADDR]`, given as the lowercased key after
/// `ZAUTHY_`. No setting is named like these, so a real typo of a setting is still refused.
fn is_kubernetes_service_link(key: &str) -> bool {
    if key == "service_host" || key == "service_port" || key.starts_with("service_port_") || key == "port" {
        return true;
    }
    let Some(rest) = key.strip_prefix("port_") else { return false };
    let mut parts = rest.splitn(3, '_');
    let number = parts.next().unwrap_or("");
    let protocol = parts.next().unwrap_or("");
    let field = parts.next();
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && matches!(protocol, "tcp" | "udp" | "sctp")
        && field.is_none_or(|f| matches!(f, "proto" | "port" | "addr"))
}

fn read_secret(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading secret file {}", path.display()))?;
    Ok(text.trim().to_owned())
}

impl Config {
    /// Loads the layers. `file` defaults to `./zauthy.toml` when that exists.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("config file {} does not exist", path.display());
                }
                figment = figment.merge(Toml::file(path));
            }
            None if Path::new("zauthy.toml").exists() => figment = figment.merge(Toml::file("zauthy.toml")),
            None => {}
        }
        // ZAUTHY_TEST_* belong to the test harness and ZAUTHY_CONFIG names the file; neither is a setting. Nor
        // are the service links Kubernetes puts in every pod of a namespace with a Service named `zauthy`.
        let env = Env::prefixed("ZAUTHY_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            !k.starts_with("test_") && k != "config" && !is_kubernetes_service_link(&k)
        });
        let ignored_env: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| {
                name.strip_prefix("ZAUTHY_").is_some_and(|k| is_kubernetes_service_link(&k.to_ascii_lowercase()))
            })
            .collect();
        figment = figment.merge(env).merge(Serialized::defaults(overrides));
        let mut config: Config = figment.extract().map_err(|e| {
            let problems: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("invalid configuration:\n  - {}", problems.join("\n  - "))
        })?;
        config.ignored_env = ignored_env;
        config.resolve_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_secret_files(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.database_url_file {
            self.database_url = Some(read_secret(path)?);
        }
        if let Some(path) = &self.master_key_file {
            self.master_key = Some(read_secret(path)?);
        }
        if let Some(path) = &self.email.smtp_password_file {
            self.email.smtp_password = Some(read_secret(path)?);
        }
        if let Some(path) = &self.sms.twilio_auth_token_file {
            self.sms.twilio_auth_token = Some(read_secret(path)?);
        }
        Ok(())
    }

    /// Every problem at once, so an operator fixes the file in one go.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!("listen: {:?} is not an address like 127.0.0.1:8080", self.listen));
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            problems.push("public_url: must start with http:// or https://".to_owned());
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            problems.push("database_url: must be sqlite:… or postgres://…".to_owned());
        }
        if self.database_max_connections == 0 {
            problems.push("database_max_connections: must be at least 1".to_owned());
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            problems.push("log_format: must be text or json".to_owned());
        }
        let a = &self.passwords.argon2;
        if a.memory_kib < Argon2Params::MIN_MEMORY_KIB
            || a.iterations < Argon2Params::MIN_ITERATIONS
            || a.parallelism == 0
        {
            problems.push("passwords: Argon2id needs memory_kib ≥ 19456, iterations ≥ 2, parallelism ≥ 1".to_owned());
        }
        if !(60..=86_400).contains(&self.access_token_ttl_secs) {
            problems.push("access_token_ttl_secs: must be between 60 and 86400".to_owned());
        }
        let s = &self.sessions;
        if s.idle_timeout_secs <= 0 || s.absolute_lifetime_secs < s.idle_timeout_secs {
            problems.push("sessions: idle_timeout_secs must be > 0 and ≤ absolute_lifetime_secs".to_owned());
        }
        if self.password_reset.token_ttl_secs < 60 {
            problems.push("password_reset.token_ttl_secs: must be at least 60".to_owned());
        }
        if !matches!(self.email.smtp_security.as_str(), "starttls" | "tls" | "none") {
            problems.push("email.smtp_security: must be starttls, tls or none".to_owned());
        }
        if self.email.from.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(format!("email.from: {:?} is not a valid mailbox", self.email.from));
        }
        self.sms.problems(&mut problems);
        if !(60..=3600).contains(&self.federation.state_ttl_secs) {
            problems.push("federation.state_ttl_secs: must be between 60 and 3600".to_owned());
        }
        if self.max_body_bytes < 1024 {
            problems.push("max_body_bytes: must be at least 1024".to_owned());
        }
        if problems.is_empty() { Ok(()) } else { bail!("invalid configuration:\n  - {}", problems.join("\n  - ")) }
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("zauthy.db").display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_service_links_are_told_from_settings() {
        for link in [
            "port",
            "service_host",
            "service_port",
            "service_port_http",
            "port_8080_tcp",
            "port_8080_tcp_proto",
            "port_8080_tcp_port",
            "port_8080_tcp_addr",
            "port_53_udp",
        ] {
            assert!(is_kubernetes_service_link(link), "{link}");
        }
        for setting in ["listen", "public_url", "database_url", "porte", "port_http", "port_8080_tcp_host", "ports"] {
            assert!(!is_kubernetes_service_link(setting), "{setting}");
        }
    }

    #[test]
    fn validation_reports_every_problem_at_once() {
        let config = Config {
            listen: "nope".to_owned(),
            public_url: "ftp://x".to_owned(),
            log_format: "xml".to_owned(),
            ..Config::default()
        };
        let message = config.validate().unwrap_err().to_string();
        assert!(
            message.contains("listen") && message.contains("public_url") && message.contains("log_format"),
            "{message}"
        );
    }

    #[test]
    fn a_twilio_sms_provider_needs_its_account_credentials_and_one_sender() {
        let mut config = Config::default();
        config.sms.provider = Some("twilio".to_owned());
        config.sms.base_url = "http://example.com".to_owned();
        let message = config.validate().unwrap_err().to_string();
        for key in ["twilio_account_sid", "twilio_auth_token", "exactly one of", "base_url"] {
            assert!(message.contains(key), "{key} missing from {message}");
        }
        config.sms.twilio_account_sid = Some(format!("AC{}", "0a".repeat(16)));
        config.sms.twilio_auth_token = Some("secret".to_owned());
        config.sms.from = Some("+15005550006".to_owned());
        config.sms.base_url = "http://127.0.0.1:9999".to_owned();
        config.validate().unwrap();
        config.sms.provider = Some("nexmo".to_owned());
        assert!(config.validate().unwrap_err().to_string().contains("sms.provider"));
    }

    #[test]
    fn the_defaults_are_valid_and_use_sqlite_in_the_data_dir() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.database_url(), "sqlite://./data/zauthy.db?mode=rwc");
    }
}
