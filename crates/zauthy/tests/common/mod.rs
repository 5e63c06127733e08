//! Helpers for the tests that run the real `zauthy` binary: an installation (temp working and data dir, and on
//! PostgreSQL a fresh database when `ZAUTHY_TEST_PG_URL` is set), the child process guard that kills a server
//! even when a test panics, and a small HTTP client for the running server. Each test binary uses a part of it.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_zauthy");
pub const PASSWORD: &str = "SecureP@ss123";
/// The most a child may take to start, to exit after SIGTERM, or to finish a command.
pub const PROCESS_LIMIT: Duration = Duration::from_secs(10);
/// Token issuers derive from the public URL, so it stays the same across restarts on different ports, as
/// behind a reverse proxy.
pub const PUBLIC_URL: &str = "https://auth.example.test";

/// A fresh PostgreSQL database when `ZAUTHY_TEST_PG_URL` is set, like the testkit makes.
pub async fn fresh_postgres_database() -> Option<String> {
    let admin = std::env::var("ZAUTHY_TEST_PG_URL").ok()?;
    let name = format!("zt_{}", zauthy_core::ids::new_id("db").trim_start_matches("db_"));
    let conn = sea_orm::Database::connect(&admin).await.expect("connecting to ZAUTHY_TEST_PG_URL");
    sea_orm::ConnectionTrait::execute_unprepared(&conn, &format!("create database {name}"))
        .await
        .expect("creating a test database");
    conn.close().await.expect("closing the admin connection");
    let mut url = reqwest::Url::parse(&admin).expect("ZAUTHY_TEST_PG_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("bound address").port()
}

/// A finished command.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// One installation: a working dir (no stray `zauthy.toml`), a data dir inside it that does not exist yet,
/// and on PostgreSQL the database URL.
pub struct Install {
    pub root: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub runs: std::cell::Cell<u32>,
}

impl Install {
    pub async fn new() -> Install {
        zauthy::install_crypto_provider();
        let root = tempfile::tempdir().expect("temp dir");
        let data_dir = root.path().join("data");
        Install { root, data_dir, database_url: fresh_postgres_database().await, runs: Default::default() }
    }

    pub fn on_sqlite(&self) -> bool {
        self.database_url.is_none()
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }

    /// `zauthy --data-dir … ARGS` with only the `ZAUTHY_*` settings of this test, never the caller's.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(BIN);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ZAUTHY_") {
                command.env_remove(key);
            }
        }
        if let Some(url) = &self.database_url {
            command.env("ZAUTHY_DATABASE_URL", url);
        }
        command.envs(env.iter().copied()).current_dir(self.root.path()).arg("--data-dir").arg(&self.data_dir);
        command.args(args).stdin(Stdio::null());
        command
    }

    /// Output goes to files, not pipes, so a chatty child never blocks on a full pipe.
    pub fn output_files(&self, name: &str) -> (PathBuf, PathBuf) {
        let n = self.runs.get();
        self.runs.set(n + 1);
        (self.root.path().join(format!("{n}-{name}.out")), self.root.path().join(format!("{n}-{name}.err")))
    }

    /// Runs a command to completion within `PROCESS_LIMIT`.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Finished {
        let (out, err) = self.output_files("run");
        let child = self
            .command(args, env)
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("starting zauthy");
        let mut guard = ChildGuard(child);
        let status = guard.wait_for_exit().await.unwrap_or_else(|| {
            panic!("`zauthy {}` did not finish within {PROCESS_LIMIT:?}: {}", args.join(" "), read(&err))
        });
        Finished { status, stdout: read(&out), stderr: read(&err) }
    }

    /// Runs a command that must succeed, and returns its stdout.
    pub async fn run_ok(&self, args: &[&str]) -> String {
        let finished = self.run(args, &[]).await;
        assert!(finished.status.success(), "`zauthy {}` failed: {}", args.join(" "), finished.stderr);
        finished.stdout
    }

    /// Starts `zauthy serve` on a free port and waits until `/health` answers.
    pub async fn serve(&self, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let (out, log) = self.output_files("serve");
        let child = self
            .command(&["serve", "--listen", &listen, "--public-url", PUBLIC_URL], env)
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("starting zauthy serve");
        let mut server = Server { child: ChildGuard(child), port, log, client: reqwest::Client::new() };
        server.wait_until_healthy().await;
        server
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kills the child when dropped, so no test leaves a server running, even when it panics.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// The exit status, or `None` if the child is still running after `PROCESS_LIMIT`.
    pub async fn wait_for_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + PROCESS_LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("polling the child") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn str(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {pointer} in {}", self.text))
            .to_owned()
    }
}

/// A running `zauthy serve`.
pub struct Server {
    pub child: ChildGuard,
    pub port: u16,
    pub log: PathBuf,
    pub client: reqwest::Client,
}

/// An organization created over HTTP: its id, API key, and owner's email and access token.
pub struct Org {
    pub id: String,
    pub api_key: String,
    pub owner_email: String,
    pub owner_access_token: String,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Readiness polling of the child: bounded by `PROCESS_LIMIT`, and fails fast if the child exits.
    pub async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + PROCESS_LIMIT;
        loop {
            if let Ok(r) = self.client.get(self.url("/health")).send().await
                && r.status() == 200
            {
                return;
            }
            if let Ok(Some(status)) = self.child.0.try_wait() {
                panic!("zauthy serve exited with {status} before it was healthy:\n{}", read(&self.log));
            }
            assert!(
                Instant::now() < deadline,
                "zauthy serve not healthy within {PROCESS_LIMIT:?}:\n{}",
                read(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.expect("request failed to send");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response { status, headers, body, text }
    }

    pub async fn get(&self, path: &str, bearer: &str) -> Response {
        self.send(self.client.get(self.url(path)).bearer_auth(bearer)).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn create_org(&self) -> Org {
        let owner_email = "owner@example.com".to_owned();
        let r = self
            .post(
                "/api/v1/organizations",
                None,
                &json!({"name": "Acme", "owner_email": owner_email, "owner_password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "creating an organization failed: {}", r.text);
        Org {
            id: r.str("/organization/id"),
            api_key: r.str("/organization/api_key"),
            owner_email,
            owner_access_token: r.str("/access_token"),
        }
    }

    pub async fn login_owner(&self, org: &Org) -> Response {
        let r = self
            .post("/api/v1/login", Some(&org.api_key), &json!({"email": org.owner_email, "password": PASSWORD}))
            .await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r
    }

    /// Sends SIGTERM and expects a clean exit within `PROCESS_LIMIT`.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.0.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().expect("running kill");
        assert!(kill.success(), "kill -TERM {pid} failed");
        self.child
            .wait_for_exit()
            .await
            .unwrap_or_else(|| panic!("zauthy did not exit within {PROCESS_LIMIT:?} of SIGTERM:\n{}", read(&self.log)))
    }

    /// SIGKILL: no shutdown, no flushing; whatever the process had in memory is gone.
    pub async fn kill(mut self) -> ExitStatus {
        self.child.0.kill().expect("sending SIGKILL");
        self.child.wait_for_exit().await.unwrap_or_else(|| panic!("zauthy did not exit after SIGKILL"))
    }
}
