//! A real browser against the hosted pages: Debian's Chromium, driven by `playwright-core` from
//! `tests/browser/passkey.mjs`, with a virtual WebAuthn authenticator, registers a passkey on
//! `/o/{org}/passkeys`, signs out, and signs in with it on `/o/{org}/login`.
//!
//! Needs `node`, `/usr/bin/chromium` and `npm ci` in `tests/browser`; `scripts/test.sh` provides all three.
//! Missing pieces fail the test (they never skip it).

use std::path::{Path, PathBuf};
use std::time::Duration;
use zauthy_testkit::TestApp;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("browser")
}

/// Panics with what is missing and how to get it.
fn require_browser_tooling() {
    let hint =
        "run scripts/test.sh once (it installs chromium and runs `npm ci` in crates/zauthy-testkit/tests/browser)";
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(matches!(&node, Ok(o) if o.status.success()), "the browser test needs `node` on PATH: {hint}");
    let chromium = std::env::var("ZAUTHY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(Path::new(&chromium).exists(), "the browser test needs Chromium at {chromium}: {hint}");
    let playwright = browser_dir().join("node_modules").join("playwright-core").join("package.json");
    assert!(playwright.exists(), "the browser test needs playwright-core in {}: {hint}", browser_dir().display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_registers_a_passkey_on_the_hosted_page_signs_out_and_signs_in_with_it() {
    require_browser_tooling();
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let run = tokio::process::Command::new("node")
        .arg("passkey.mjs")
        .args([&app.address, &org.id, &user.email, &user.password])
        .current_dir(browser_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser script did not finish within 3 minutes")
        .expect("node could not be started");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser script failed ({}):\n{stdout}\n{stderr}", output.status);
    // The server saw it the same way: a passkey added, and a sign-in whose method was the passkey.
    let store = &app.services.store;
    let added = store.list_events(&org.id, Some("passkey.added"), 10).await.unwrap();
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].data["name"], "Browser test key");
    let logins = store.list_events(&org.id, Some("user.login"), 10).await.unwrap();
    let methods: Vec<_> =
        logins.iter().filter(|e| e.data["user_id"] == user.id.as_str()).map(|e| e.data["method"].clone()).collect();
    assert!(methods.contains(&serde_json::json!("passkey")), "logins of the user: {methods:?}");
    assert!(methods.contains(&serde_json::json!("password")), "logins of the user: {methods:?}");
}
