//! End-to-end tests of the real `zauthy` binary, as an operator runs it: subcommands, configuration from the
//! environment, graceful shutdown on SIGTERM, and what persists across restarts. Each test gets its own temp
//! data dir and free port; with `ZAUTHY_TEST_PG_URL` set it runs on a fresh PostgreSQL database, else on SQLite
//! in the data dir. Every child process is killed when its guard drops, even when a test panics.
#![cfg(unix)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_zauthy");
const PASSWORD: &str = "SecureP@ss123";
/// The most a child may take to start, to exit after SIGTERM, or to finish a command.
const PROCESS_LIMIT: Duration = Duration::from_secs(10);
/// Token issuers derive from the public URL, so it stays the same across restarts on different ports, as
/// behind a reverse proxy.
const PUBLIC_URL: &str = "https://auth.example.test";

/// A fresh PostgreSQL database when `ZAUTHY_TEST_PG_URL` is set, like the testkit makes.
async fn fresh_postgres_database() -> Option<String> {
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

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("bound address").port()
}

/// A finished command.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// One installation: a working dir (no stray `zauthy.toml`), a data dir inside it that does not exist yet,
/// and on PostgreSQL the database URL.
struct Install {
    root: tempfile::TempDir,
    data_dir: PathBuf,
    database_url: Option<String>,
    runs: std::cell::Cell<u32>,
}

impl Install {
    async fn new() -> Install {
        zauthy::install_crypto_provider();
        let root = tempfile::tempdir().expect("temp dir");
        let data_dir = root.path().join("data");
        Install { root, data_dir, database_url: fresh_postgres_database().await, runs: Default::default() }
    }

    fn on_sqlite(&self) -> bool {
        self.database_url.is_none()
    }

    fn master_key_path(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }

    /// `zauthy --data-dir … ARGS` with only the `ZAUTHY_*` settings of this test, never the caller's.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
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
    fn output_files(&self, name: &str) -> (PathBuf, PathBuf) {
        let n = self.runs.get();
        self.runs.set(n + 1);
        (self.root.path().join(format!("{n}-{name}.out")), self.root.path().join(format!("{n}-{name}.err")))
    }

    /// Runs a command to completion within `PROCESS_LIMIT`.
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Finished {
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
    async fn run_ok(&self, args: &[&str]) -> String {
        let finished = self.run(args, &[]).await;
        assert!(finished.status.success(), "`zauthy {}` failed: {}", args.join(" "), finished.stderr);
        finished.stdout
    }

    /// Starts `zauthy serve` on a free port and waits until `/health` answers.
    async fn serve(&self, env: &[(&str, &str)]) -> Server {
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

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kills the child when dropped, so no test leaves a server running, even when it panics.
struct ChildGuard(Child);

impl ChildGuard {
    /// The exit status, or `None` if the child is still running after `PROCESS_LIMIT`.
    async fn wait_for_exit(&mut self) -> Option<ExitStatus> {
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

struct Response {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn str(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {pointer} in {}", self.text))
            .to_owned()
    }
}

/// A running `zauthy serve`.
struct Server {
    child: ChildGuard,
    port: u16,
    log: PathBuf,
    client: reqwest::Client,
}

/// An organization created over HTTP: its id, API key, and owner's email and access token.
struct Org {
    id: String,
    api_key: String,
    owner_email: String,
    owner_access_token: String,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Readiness polling of the child: bounded by `PROCESS_LIMIT`, and fails fast if the child exits.
    async fn wait_until_healthy(&mut self) {
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

    async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.expect("request failed to send");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response { status, headers, body, text }
    }

    async fn get(&self, path: &str, bearer: &str) -> Response {
        self.send(self.client.get(self.url(path)).bearer_auth(bearer)).await
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    async fn create_org(&self) -> Org {
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

    async fn login_owner(&self, org: &Org) -> Response {
        let r = self
            .post("/api/v1/login", Some(&org.api_key), &json!({"email": org.owner_email, "password": PASSWORD}))
            .await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r
    }

    /// Sends SIGTERM and expects a clean exit within `PROCESS_LIMIT`.
    async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.0.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().expect("running kill");
        assert!(kill.success(), "kill -TERM {pid} failed");
        self.child
            .wait_for_exit()
            .await
            .unwrap_or_else(|| panic!("zauthy did not exit within {PROCESS_LIMIT:?} of SIGTERM:\n{}", read(&self.log)))
    }
}

/// The `kid` in a JWT's header.
fn kid_of(jwt: &str) -> String {
    let header = jwt.split('.').next().expect("a JWT header");
    let header = data_encoding::BASE64URL_NOPAD.decode(header.as_bytes()).expect("base64url header");
    let header: Value = serde_json::from_slice(&header).expect("JSON header");
    header["kid"].as_str().expect("a kid").to_owned()
}

#[tokio::test]
async fn openapi_prints_the_document_without_touching_a_database_or_the_data_dir() {
    let install = Install::new().await;

    // An unreachable database proves the command never connects.
    let finished = install.run(&["openapi"], &[("ZAUTHY_DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")]).await;

    assert!(finished.status.success(), "{}", finished.stderr);
    let doc: Value = serde_json::from_str(&finished.stdout).expect("stdout is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    assert!(doc["paths"]["/api/v1/login"].is_object(), "no login path in the document");
    assert!(!install.data_dir.exists(), "openapi created the data dir");
}

#[tokio::test]
async fn migrate_creates_the_schema_and_exits() {
    let install = Install::new().await;

    let finished = install.run(&["migrate"], &[]).await;

    assert!(finished.status.success(), "{}", finished.stderr);
    if install.on_sqlite() {
        assert!(install.data_dir.join("zauthy.db").is_file(), "no SQLite database in the data dir");
    }
    // The tables exist and are empty. (Without mode=rwc, SQLite would not create a missing file here.)
    let url = install
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", install.data_dir.join("zauthy.db").display()));
    let db = sea_orm::Database::connect(&url).await.expect("connecting to the migrated database");
    let backend = sea_orm::ConnectionTrait::get_database_backend(&db);
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(backend, "select count(*) as n from organizations"),
    )
    .await
    .expect("the organizations table exists")
    .expect("a count row");
    assert_eq!(row.try_get::<i64>("", "n").expect("a count"), 0);
}

#[tokio::test]
async fn an_operator_changes_a_plan_offline_and_the_restarted_server_applies_its_limits() {
    let install = Install::new().await;
    let server = install.serve(&[]).await;
    let org = server.create_org().await;

    // Graceful shutdown: SIGTERM drains and exits with success.
    let status = server.terminate().await;
    assert!(status.success(), "zauthy exited with {status} after SIGTERM");

    let set = install.run_ok(&["admin", "set-plan", "--org", &org.id, "--plan", "pro"]).await;
    assert!(set.contains(&org.id) && set.contains("pro"), "{set}");
    let listed = install.run_ok(&["admin", "list-orgs"]).await;
    let line = listed.lines().find(|l| l.contains(&org.id)).unwrap_or_else(|| panic!("org not listed:\n{listed}"));
    assert!(line.split('\t').any(|field| field == "pro"), "{line}");

    // A plan that does not exist is refused with the valid choices, and changes nothing.
    let gold = install.run(&["admin", "set-plan", "--org", &org.id, "--plan", "gold"], &[]).await;
    assert!(!gold.status.success(), "setting plan gold succeeded: {}", gold.stdout);
    assert!(gold.stderr.contains("free, pro, enterprise"), "{}", gold.stderr);

    let server = install.serve(&[]).await;
    let me = server.get("/api/v1/organizations/me", &org.api_key).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.str("/plan"), "pro");
    // Logins are in the auth category: 100 a minute on pro.
    let login = server.login_owner(&org).await;
    assert_eq!(login.header("ratelimit-limit"), Some("100"), "{:?}", login.headers);
}

#[tokio::test]
async fn rotating_a_signing_key_offline_prints_the_kid_the_restarted_server_signs_with() {
    let install = Install::new().await;
    let server = install.serve(&[]).await;
    let org = server.create_org().await;
    let old_kid = kid_of(&org.owner_access_token);
    assert!(server.terminate().await.success());

    let rotated = install.run_ok(&["admin", "rotate-signing-key", "--org", &org.id]).await;

    let new_kid = rotated.split_whitespace().last().unwrap_or_else(|| panic!("no kid printed: {rotated:?}"));
    assert_ne!(new_kid, old_kid, "{rotated}");
    let server = install.serve(&[]).await;
    let login = server.login_owner(&org).await;
    assert_eq!(kid_of(&login.str("/access_token")), new_kid, "new tokens must be signed with the printed kid");
}

#[tokio::test]
async fn the_generated_master_key_is_private_and_reused_after_a_restart() {
    let install = Install::new().await;
    let server = install.serve(&[]).await;
    let org = server.create_org().await;
    assert!(server.terminate().await.success());
    let key_file = install.master_key_path();
    let key_before = std::fs::read_to_string(&key_file).expect("a generated master.key");

    let server = install.serve(&[]).await;

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).expect("master.key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "master.key has mode {:o}", mode & 0o777);
    assert_eq!(std::fs::read_to_string(&key_file).expect("master.key"), key_before, "master.key was replaced");
    // The signing keys encrypted under the master key still work: a token from before the restart verifies.
    let verified =
        server.post("/api/v1/token/verify", Some(&org.api_key), &json!({"token": org.owner_access_token})).await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(verified.str("/org_id"), org.id);
}

#[tokio::test]
async fn configuration_errors_are_all_reported_before_anything_starts() {
    let install = Install::new().await;

    let finished = install.run(&["serve"], &[("ZAUTHY_LISTEN", "nope"), ("ZAUTHY_LOG_FORMAT", "xml")]).await;

    assert!(!finished.status.success(), "zauthy started with an invalid configuration");
    assert!(finished.stderr.contains("listen:"), "{}", finished.stderr);
    assert!(finished.stderr.contains("log_format:"), "{}", finished.stderr);
    assert!(!install.data_dir.exists(), "the data dir was created despite the invalid configuration");
}

#[tokio::test]
async fn a_master_key_from_a_file_is_used_instead_of_generating_one() {
    let install = Install::new().await;
    let key_file = install.root.path().join("secret-master-key");
    std::fs::write(&key_file, format!("{}\n", zauthy_core::crypto::MasterKey::generate().to_base64()))
        .expect("writing the key file");
    let key_file = key_file.to_str().expect("a UTF-8 path");

    let server = install.serve(&[("ZAUTHY_MASTER_KEY_FILE", key_file)]).await;

    // Creating an organization encrypts its signing key, so the master key is needed by now.
    let org = server.create_org().await;
    assert!(org.id.starts_with("org_"));
    assert!(!install.master_key_path().exists(), "master.key was generated despite ZAUTHY_MASTER_KEY_FILE");
}

#[tokio::test]
async fn nested_settings_come_from_zauthy_environment_variables() {
    let install = Install::new().await;

    let server = install.serve(&[("ZAUTHY_RATE_LIMITS__FREE__AUTH", "7")]).await;

    let org = server.create_org().await;
    let login = server.login_owner(&org).await;
    assert_eq!(login.header("ratelimit-limit"), Some("7"), "{:?}", login.headers);
    // Only that one field changed: the free plan's general limit keeps its default of 60.
    let me = server.get("/api/v1/organizations/me", &org.api_key).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.header("ratelimit-limit"), Some("60"), "{:?}", me.headers);
}
