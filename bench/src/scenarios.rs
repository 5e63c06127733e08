//! One database's run: start-up, idle memory, setup through the public API, then each scenario in turn.

use crate::Options;
use crate::load::{self, Outcome, Verdict, Worker, bearer, json_bytes, request};
use crate::raw_argon2::{self, RawOutcome};
use crate::report::ms;
use crate::server::Server;
use anyhow::{Context, bail};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Start-up samples per database (fresh starts on PostgreSQL: one, it has a single fresh database).
const STARTS: usize = 5;
/// Connections for the cheap endpoints (health, verify, refresh).
pub const CHEAP_CONCURRENCY: usize = 32;
const PASSWORD: &str = "SecureP@ss123";

/// Start-up samples; judged on the median, the spread shown next to it.
pub struct Starts(Vec<Duration>);

impl Starts {
    fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Starts(samples)
    }

    pub fn median(&self) -> Duration {
        self.0.get(self.0.len().saturating_sub(1) / 2).copied().unwrap_or_default()
    }

    pub fn min(&self) -> Duration {
        self.0.first().copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }
}

pub struct DbResult {
    pub name: &'static str,
    /// Spawn-to-healthy times on a fresh database (schema created, master key generated) and on restarts.
    pub start_fresh: Starts,
    pub start_restart: Starts,
    pub rss_idle: u64,
    pub rss_after: u64,
    pub health: Outcome,
    pub verify: Outcome,
    pub login: Outcome,
    pub refresh: Outcome,
    /// Raw Argon2id, measured right before and right after the logins, merged.
    pub raw: RawOutcome,
    /// Extra scenarios that split the cost of verification (with --diagnostics).
    pub diagnostics: Vec<(&'static str, Outcome)>,
}

impl DbResult {
    pub fn scenarios(&self) -> [(&'static str, &Outcome); 4] {
        [
            ("GET /health", &self.health),
            ("POST /token/verify", &self.verify),
            ("POST /login", &self.login),
            ("POST /refresh", &self.refresh),
        ]
    }

    pub fn total_errors(&self) -> u64 {
        let diagnostics: u64 = self.diagnostics.iter().map(|(_, o)| o.error_count()).sum();
        self.scenarios().iter().map(|(_, o)| o.error_count()).sum::<u64>() + diagnostics
    }

    pub fn verify_ratio(&self) -> f64 {
        self.verify.rps() / self.health.rps()
    }

    pub fn login_ratio(&self) -> f64 {
        self.login.rps() / self.raw.per_second()
    }
}

struct User {
    email: String,
    access_token: String,
    refresh_token: String,
}

struct Setup {
    api_key: String,
    users: Vec<User>,
}

async fn post(client: &reqwest::Client, url: String, bearer: Option<&str>, body: Value) -> anyhow::Result<Value> {
    let mut request = client.post(&url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("POST {url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

fn string_at(value: &Value, pointer: &str) -> anyhow::Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no {pointer} in {value}"))
}

/// An organization and `users` signed-up users (each with its own live session), through the public API.
async fn setup(addr: SocketAddr, users: usize) -> anyhow::Result<Setup> {
    let client = reqwest::Client::new();
    let base = format!("http://{addr}/api/v1");
    let org = post(
        &client,
        format!("{base}/organizations"),
        None,
        json!({"name": "Bench Org", "owner_email": "owner@bench.example.com", "owner_password": PASSWORD}),
    )
    .await?;
    let api_key = string_at(&org, "/organization/api_key")?;
    let signups: Vec<_> = (0..users)
        .map(|i| {
            let (client, base, api_key) = (client.clone(), base.clone(), api_key.clone());
            tokio::spawn(async move {
                let email = format!("user{i}@bench.example.com");
                let body = json!({"email": email, "password": PASSWORD});
                let r = post(&client, format!("{base}/signup"), Some(&api_key), body).await?;
                anyhow::Ok(User {
                    email,
                    access_token: string_at(&r, "/access_token")?,
                    refresh_token: string_at(&r, "/refresh_token")?,
                })
            })
        })
        .collect();
    let mut created = Vec::with_capacity(users);
    for signup in signups {
        created.push(signup.await??);
    }
    Ok(Setup { api_key, users: created })
}

/// `GET /health`: the HTTP stack's own ceiling (also the OIDC section's).
pub struct Health;

impl Worker for Health {
    fn request(&mut self) -> Request<Full<Bytes>> {
        request(Method::GET, "/health", None, None)
    }
}

struct Ready;

impl Worker for Ready {
    fn request(&mut self) -> Request<Full<Bytes>> {
        request(Method::GET, "/ready", None, None)
    }
}

struct Verify {
    api_key: HeaderValue,
    body: Bytes,
    /// False for the diagnostic that sends a malformed token on purpose.
    expect_valid: bool,
}

impl Worker for Verify {
    fn request(&mut self) -> Request<Full<Bytes>> {
        request(Method::POST, "/api/v1/token/verify", Some(&self.api_key), Some(&self.body))
    }

    fn answered(&mut self, status: StatusCode, body: &Bytes) -> Verdict {
        // A 200 saying `valid: false` would measure the rejection path, not verification.
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if status == StatusCode::OK && v["valid"] == self.expect_valid => Verdict::Ok,
            Ok(v) if status == StatusCode::OK => Verdict::Error(format!("valid={} ({})", v["valid"], v["reason"])),
            _ => Verdict::Error(status.as_u16().to_string()),
        }
    }
}

struct Login {
    api_key: HeaderValue,
    body: Bytes,
}

impl Worker for Login {
    fn request(&mut self) -> Request<Full<Bytes>> {
        request(Method::POST, "/api/v1/login", Some(&self.api_key), Some(&self.body))
    }
}

/// Owns one session and rotates its refresh token: each refresh needs the previous answer.
struct Refresh {
    refresh_token: String,
}

impl Worker for Refresh {
    fn request(&mut self) -> Request<Full<Bytes>> {
        request(Method::POST, "/api/v1/refresh", None, Some(&json_bytes(&json!({"refresh_token": self.refresh_token}))))
    }

    fn answered(&mut self, status: StatusCode, body: &Bytes) -> Verdict {
        if status != StatusCode::OK {
            return Verdict::Fatal(status.as_u16().to_string());
        }
        let next =
            serde_json::from_slice::<Value>(body).ok().and_then(|v| v["refresh_token"].as_str().map(str::to_owned));
        match next {
            Some(token) => {
                self.refresh_token = token;
                Verdict::Ok
            }
            None => Verdict::Fatal("200 without refresh_token".to_owned()),
        }
    }
}

fn step(message: &str) {
    use std::io::Write;
    eprint!("  {message}… ");
    let _ = std::io::stderr().flush();
}

fn done(detail: impl std::fmt::Display) {
    eprintln!("{detail}");
}

/// Runs one load scenario with progress on stderr.
async fn scenario<W: Worker>(
    label: String,
    server: &Server,
    workers: Vec<W>,
    options: &Options,
    unit: &str,
) -> anyhow::Result<Outcome> {
    step(&label);
    let outcome = load::run(server.addr, workers, options.warmup, options.measure, || server.cpu_time()).await?;
    done(format!("{:.1} {unit}", outcome.rps()));
    Ok(outcome)
}

async fn raw_hashing(options: &Options, when: &str) -> anyhow::Result<RawOutcome> {
    step(&format!("raw Argon2id in this process, {} threads, {when}", options.cores));
    let (cores, warmup, measure) = (options.cores, options.warmup, options.measure);
    let raw = tokio::task::spawn_blocking(move || raw_argon2::run(cores, warmup, measure)).await??;
    done(format!("{:.1} hashes/s", raw.per_second()));
    Ok(raw)
}

pub async fn bench_database(
    options: &Options,
    name: &'static str,
    database_url: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<DbResult> {
    eprintln!("\n== {name} ==");
    let login_concurrency = 2 * options.cores;
    let env = &options.server_env;

    // A first start creates the schema and the master key; a restart finds both. SQLite gets a fresh database
    // per sample; PostgreSQL has the one it was given.
    let fresh_samples = if database_url.is_none() { STARTS } else { 1 };
    let mut fresh = Vec::new();
    for i in 0..fresh_samples {
        step(&format!("start on a fresh database ({}/{fresh_samples})", i + 1));
        let dir = data_dir.join(format!("fresh-{i}"));
        let (server, took) = Server::start(&options.zauthy, &dir, database_url, env, "start").await?;
        done(format!("healthy after {}", ms(took)));
        fresh.push(took);
        server.stop().await?;
    }
    let data_dir = data_dir.join(format!("fresh-{}", fresh_samples - 1));
    let mut restarts = Vec::new();
    let mut running = None;
    for i in 0..STARTS {
        step(&format!("restart ({}/{STARTS})", i + 1));
        let (server, took) = Server::start(&options.zauthy, &data_dir, database_url, env, "restart").await?;
        done(format!("healthy after {}", ms(took)));
        restarts.push(took);
        // The last one stays up for the load.
        if i + 1 < STARTS {
            server.stop().await?;
        } else {
            running = Some(server);
        }
    }
    let server = running.context("no server running")?;
    let (start_fresh, start_restart) = (Starts::new(fresh), Starts::new(restarts));

    let run = async {
        // Idle: healthy, nothing asked of it yet; let lazy start-up work settle first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_idle = server.rss_bytes()?;

        let users = CHEAP_CONCURRENCY.max(login_concurrency);
        step(&format!("setup: an organization and {users} users"));
        let setup = setup(server.addr, users).await?;
        done("done");
        let api_key = &setup.api_key;
        let cheap = CHEAP_CONCURRENCY;

        let workers = (0..cheap).map(|_| Health).collect();
        let health = scenario(format!("GET /health, {cheap} connections"), &server, workers, options, "rps").await?;

        let workers = setup.users[..cheap]
            .iter()
            .map(|u| Verify {
                api_key: bearer(api_key),
                body: json_bytes(&json!({"token": u.access_token})),
                expect_valid: true,
            })
            .collect();
        let label = format!("POST /token/verify, {cheap} connections");
        let verify = scenario(label, &server, workers, options, "rps").await?;

        let mut diagnostics = Vec::new();
        if options.diagnostics {
            let workers = (0..cheap).map(|_| Ready).collect();
            let label = format!("GET /ready (one DB ping), {cheap} connections");
            diagnostics.push(("GET /ready (1 DB ping)", scenario(label, &server, workers, options, "rps").await?));
            let workers = (0..cheap)
                .map(|_| Verify {
                    api_key: bearer(api_key),
                    body: json_bytes(&json!({"token": "malformed"})),
                    expect_valid: false,
                })
                .collect();
            let label = format!("POST /token/verify of a malformed token, {cheap} connections");
            let outcome = scenario(label, &server, workers, options, "rps").await?;
            diagnostics.push(("verify, malformed token", outcome));
        }

        // The machine's hashing rate drifts (shared host, turbo); measuring it on both sides of the logins and
        // averaging keeps the ratio honest.
        let raw_before = raw_hashing(options, "before logins").await?;
        let workers = setup.users[..login_concurrency]
            .iter()
            .map(|u| Login {
                api_key: bearer(api_key),
                body: json_bytes(&json!({"email": u.email, "password": PASSWORD})),
            })
            .collect();
        let label = format!("POST /login, {login_concurrency} connections");
        let login = scenario(label, &server, workers, options, "logins/s").await?;
        let raw = raw_before.merge(raw_hashing(options, "after logins").await?);

        let workers = setup.users[..cheap].iter().map(|u| Refresh { refresh_token: u.refresh_token.clone() }).collect();
        let label = format!("POST /refresh, {cheap} sessions");
        let refresh = scenario(label, &server, workers, options, "rotations/s").await?;

        let rss_after = server.rss_bytes()?;
        anyhow::Ok(DbResult {
            name,
            start_fresh,
            start_restart,
            rss_idle,
            rss_after,
            health,
            verify,
            login,
            refresh,
            raw,
            diagnostics,
        })
    }
    .await;
    let log = server.log_text();
    server.stop().await?;
    let result = run.map_err(|e| e.context(format!("{name} run failed; server log:\n{log}")))?;
    if !log.trim().is_empty() {
        eprintln!("  server log (warn and above):\n{}", indent(&log));
    }
    crate::report::print_database(options, &result);
    Ok(result)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
