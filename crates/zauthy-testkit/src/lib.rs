//! Test harness: a real zauthy server per test on a random port, with its own database (a temp SQLite file,
//! or a fresh PostgreSQL database when `ZAUTHY_TEST_PG_URL` is set), a real SMTP sink and a movable clock.

pub mod browser;
pub mod http_sink;
pub mod smtp;

use http_sink::{Answer, HttpSink};
use serde_json::{Value, json};
use smtp::SmtpSink;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use zauthy::Config;
use zauthy_core::Services;
use zauthy_core::clock::ManualClock;
use zauthy_core::crypto::MasterKey;

/// The default password of test users; satisfies the password rules.
pub const PASSWORD: &str = "SecureP@ss123";

/// The Twilio credentials and sender every `TestApp` is configured with (its SMS provider is `app.sms`).
pub const TWILIO_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_AUTH_TOKEN: &str = "test-auth-token-5ecret";
pub const SMS_FROM: &str = "+15005550006";

/// What Twilio answers to an accepted message (abridged).
pub fn twilio_accepted() -> Answer {
    Answer {
        status: 201,
        body:
            json!({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued", "account_sid": TWILIO_ACCOUNT_SID})
                .to_string(),
        headers: Vec::new(),
    }
}

pub struct TestApp {
    /// `http://localhost:PORT` (WebAuthn and hosted pages need a `localhost` origin).
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub smtp: SmtpSink,
    /// The SMS provider's API as this app sees it: a local receiver speaking Twilio's answers.
    pub sms: HttpSink,
    pub clock: Arc<ManualClock>,
    pub services: Arc<Services>,
    pub config: Config,
    /// Which database this app runs on: `sqlite` or `postgres`.
    pub database: &'static str,
    _data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response, read whole: status, headers and the JSON body (`Value::Null` when not JSON).
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` code of an error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    pub fn str(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {pointer} in {}", self.text))
            .to_owned()
    }
}

/// An organization made through the API: its key and signed-in owner.
#[derive(Debug, Clone)]
pub struct TestOrg {
    pub id: String,
    pub api_key: String,
    pub owner: TestUser,
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A unique email for this test process.
pub fn unique_email(stem: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!("{stem}{n}-{}@example.com", std::process::id())
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("info,zauthy=debug").with_test_writer().try_init();
    }
}

async fn database_url(dir: &std::path::Path) -> anyhow::Result<(String, &'static str)> {
    let Ok(admin) = std::env::var("ZAUTHY_TEST_PG_URL") else {
        if std::env::var("ZAUTHY_TEST_DB").as_deref() == Ok("postgres") {
            anyhow::bail!("ZAUTHY_TEST_DB=postgres needs ZAUTHY_TEST_PG_URL");
        }
        return Ok((format!("sqlite://{}?mode=rwc", dir.join("zauthy.db").display()), "sqlite"));
    };
    let name = format!("zt_{}", zauthy_core::ids::new_id("db").trim_start_matches("db_"));
    let conn = sea_orm::Database::connect(&admin).await?;
    sea_orm::ConnectionTrait::execute_unprepared(&conn, &format!("create database {name}")).await?;
    conn.close().await?;
    let mut url = reqwest::Url::parse(&admin)?;
    url.set_path(&format!("/{name}"));
    Ok((url.to_string(), "postgres"))
}

impl TestApp {
    /// A server with test-friendly defaults: generous rate limits (tests that check limits set their own).
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose configuration `adjust` can change before it starts.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::try_spawn_with(adjust).await.expect("test server failed to start")
    }

    async fn try_spawn_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<TestApp> {
        zauthy::install_crypto_provider();
        init_logs();
        let data_dir = tempfile::tempdir()?;
        let smtp = SmtpSink::start().await?;
        let sms = HttpSink::start(twilio_accepted()).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (database_url, database) = database_url(data_dir.path()).await?;
        let mut config = Config {
            listen: format!("127.0.0.1:{port}"),
            public_url: format!("http://localhost:{port}"),
            data_dir: data_dir.path().to_owned(),
            database_url: Some(database_url),
            database_max_connections: 5,
            master_key: Some(MasterKey::generate().to_base64()),
            ..Config::default()
        };
        config.email.smtp_host = Some("127.0.0.1".to_owned());
        config.email.smtp_port = Some(smtp.port());
        config.email.smtp_security = "none".to_owned();
        config.sms.provider = Some("twilio".to_owned());
        config.sms.twilio_account_sid = Some(TWILIO_ACCOUNT_SID.to_owned());
        config.sms.twilio_auth_token = Some(TWILIO_AUTH_TOKEN.to_owned());
        config.sms.from = Some(SMS_FROM.to_owned());
        config.sms.base_url = sms.base_url();
        let generous = zauthy_core::ratelimit::CategoryLimits { auth: 100_000, kyc: 100_000, general: 100_000 };
        config.rate_limits.free = generous;
        config.rate_limits.pro = generous;
        config.rate_limits.enterprise = generous;
        config.rate_limits.unauthenticated_per_ip = 100_000;
        config.rate_limits.org_create_per_ip_per_hour = 100_000;
        // Webhook receivers in tests are local http sinks; SSRF tests switch these back off.
        config.webhooks.allow_http = true;
        config.webhooks.allow_private_addresses = true;
        // Social login's upstream in tests is another organization of this same server, on loopback.
        config.federation.allow_http = true;
        config.federation.allow_private_addresses = true;
        // Tests that move the clock must not see rows vanish under them: they run the pruning themselves
        // (`services.prune_expired_records`); the job's own test turns it back on.
        config.prune_interval_secs = 0;
        adjust(&mut config);
        Self::start(config, listener, data_dir, smtp, sms, database).await
    }

    /// Another node of this app's deployment: the same database, master key and public URL (so the same
    /// issuers and keys), with its own port, clock, data directory, SMTP sink and SMS receiver. What one node
    /// does reaches the other only through the database, as behind a load balancer.
    pub async fn another_node(&self) -> TestApp {
        self.try_another_node().await.expect("second node failed to start")
    }

    async fn try_another_node(&self) -> anyhow::Result<TestApp> {
        let data_dir = tempfile::tempdir()?;
        let smtp = SmtpSink::start().await?;
        let sms = HttpSink::start(twilio_accepted()).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut config = self.config.clone();
        config.listen = format!("127.0.0.1:{}", listener.local_addr()?.port());
        config.data_dir = data_dir.path().to_owned();
        config.email.smtp_port = Some(smtp.port());
        config.sms.base_url = sms.base_url();
        Self::start(config, listener, data_dir, smtp, sms, self.database).await
    }

    async fn start(
        config: Config,
        listener: TcpListener,
        data_dir: tempfile::TempDir,
        smtp: SmtpSink,
        sms: HttpSink,
        database: &'static str,
    ) -> anyhow::Result<TestApp> {
        config.validate()?;
        let port = listener.local_addr()?.port();
        let clock = Arc::new(ManualClock::default());
        let app = zauthy::Application::build_on(&config, clock.clone(), listener).await?;
        let services = app.services();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(TestApp {
            address: format!("http://localhost:{port}"),
            port,
            client,
            smtp,
            sms,
            clock,
            services,
            config,
            database,
            _data_dir: data_dir,
            shutdown: Some(tx),
        })
    }

    /// The server's data directory (SQLite file, file-delivered email and SMS under `outbox/`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        // 127.0.0.1 for the client: "localhost" may resolve to ::1 first, where nothing listens.
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> TestResponse {
        send(request).await
    }

    /// Sends all `requests` at once (each on its own task, so the server sees them concurrently) and returns
    /// the answers in the order of the requests.
    pub async fn send_at_once(&self, requests: impl IntoIterator<Item = reqwest::RequestBuilder>) -> Vec<TestResponse> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, request) in requests.into_iter().enumerate() {
            tasks.spawn(async move { (i, send(request).await) });
        }
        let mut answers = tasks.join_all().await;
        answers.sort_by_key(|(i, _)| *i);
        answers.into_iter().map(|(_, answer)| answer).collect()
    }

    fn with_bearer(&self, request: reqwest::RequestBuilder, bearer: Option<&str>) -> reqwest::RequestBuilder {
        match bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> TestResponse {
        self.send(self.with_bearer(self.client.get(self.url(path)), bearer)).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> TestResponse {
        self.send(self.with_bearer(self.client.delete(self.url(path)), bearer)).await
    }

    pub async fn patch(&self, path: &str, bearer: Option<&str>, body: &Value) -> TestResponse {
        self.send(self.with_bearer(self.client.patch(self.url(path)).json(body), bearer)).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> TestResponse {
        self.send(self.with_bearer(self.client.post(self.url(path)).json(body), bearer)).await
    }

    /// A POST with an arbitrary body and content type, for malformed-input tests.
    pub async fn post_raw(
        &self,
        path: &str,
        bearer: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> TestResponse {
        let mut request = self.with_bearer(self.client.post(self.url(path)), bearer).body(body);
        if let Some(ct) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, ct);
        }
        self.send(request).await
    }

    /// Creates an organization through the public endpoint, as the Quick Start does.
    pub async fn create_org(&self) -> TestOrg {
        let email = unique_email("owner");
        let r = self
            .post(
                "/api/v1/organizations",
                None,
                &json!({"name": "Test Org", "owner_email": email, "owner_password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "creating an organization failed: {}", r.text);
        TestOrg {
            id: r.str("/organization/id"),
            api_key: r.str("/organization/api_key"),
            owner: TestUser {
                id: r.str("/user/id"),
                email,
                password: PASSWORD.to_owned(),
                access_token: r.str("/access_token"),
                refresh_token: r.str("/refresh_token"),
            },
        }
    }

    pub async fn signup(&self, api_key: &str, email: &str, password: &str) -> TestResponse {
        self.post("/api/v1/signup", Some(api_key), &json!({"email": email, "password": password})).await
    }

    /// Signs up a new user with a unique email and the default password.
    pub async fn signup_user(&self, api_key: &str) -> TestUser {
        let email = unique_email("user");
        let r = self.signup(api_key, &email, PASSWORD).await;
        assert_eq!(r.status, 201, "signup failed: {}", r.text);
        TestUser {
            id: r.str("/user/id"),
            email,
            password: PASSWORD.to_owned(),
            access_token: r.str("/access_token"),
            refresh_token: r.str("/refresh_token"),
        }
    }

    pub async fn login(&self, api_key: &str, email: &str, password: &str) -> TestResponse {
        self.post("/api/v1/login", Some(api_key), &json!({"email": email, "password": password})).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        self.post("/api/v1/refresh", None, &json!({"refresh_token": refresh_token})).await
    }

    pub async fn verify(&self, api_key: &str, token: &str) -> TestResponse {
        self.post("/api/v1/token/verify", Some(api_key), &json!({"token": token})).await
    }

    /// Waits for the next email to `to` in the SMTP sink.
    pub async fn email_to(&self, to: &str) -> smtp::ReceivedMail {
        self.smtp.wait_for_mail_to(to, Duration::from_secs(10)).await.expect("no email arrived")
    }
}

async fn send(request: reqwest::RequestBuilder) -> TestResponse {
    let response = request.send().await.expect("request failed to send");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    TestResponse { status, headers, body, text }
}
