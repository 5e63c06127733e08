//! End-to-end tests of the real `zauthy` binary, as an operator runs it: subcommands, configuration from the
//! environment, graceful shutdown on SIGTERM, and what persists across restarts. Each test gets its own temp
//! data dir and free port; with `ZAUTHY_TEST_PG_URL` set it runs on a fresh PostgreSQL database, else on SQLite
//! in the data dir. Every child process is killed when its guard drops, even when a test panics.
#![cfg(unix)]

mod common;

use common::*;
use serde_json::{Value, json};

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

#[tokio::test]
async fn kubernetes_service_link_variables_are_ignored_with_a_warning_but_a_misspelt_setting_still_stops_the_server() {
    let install = Install::new().await;
    // What Kubernetes injects into every pod of a namespace with a Service named `zauthy`.
    let links = [
        ("ZAUTHY_SERVICE_HOST", "10.0.0.11"),
        ("ZAUTHY_SERVICE_PORT", "8080"),
        ("ZAUTHY_SERVICE_PORT_HTTP", "8080"),
        ("ZAUTHY_PORT", "tcp://10.0.0.11:8080"),
        ("ZAUTHY_PORT_8080_TCP", "tcp://10.0.0.11:8080"),
        ("ZAUTHY_PORT_8080_TCP_PROTO", "tcp"),
        ("ZAUTHY_PORT_8080_TCP_PORT", "8080"),
        ("ZAUTHY_PORT_8080_TCP_ADDR", "10.0.0.11"),
    ];

    let server = install.serve(&links).await;

    let org = server.create_org().await;
    assert!(org.id.starts_with("org_"));
    let log = common::read(&server.log);
    assert!(log.contains("Kubernetes service links") && log.contains("ZAUTHY_PORT_8080_TCP_ADDR"), "{log}");
    drop(server);

    let typo = install.run(&["serve"], &[("ZAUTHY_SERVICE_PORT", "8080"), ("ZAUTHY_LISTN", "127.0.0.1:1")]).await;
    assert!(!typo.status.success(), "zauthy started with a misspelt setting");
    assert!(typo.stderr.contains("listn"), "{}", typo.stderr);
}
