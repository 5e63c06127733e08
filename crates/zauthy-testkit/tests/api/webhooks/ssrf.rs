//! SSRF refusals: destinations on loopback, private, link-local (cloud metadata) or literal addresses are
//! refused when a webhook is saved, and a host name that resolves to such an address is refused when the
//! delivery connects, so neither a name nor a later DNS answer reaches the server's own network.

use super::{create, wait_history};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use zauthy_core::webhooks::is_public_address;
use zauthy_testkit::TestApp;

#[tokio::test]
async fn webhook_urls_to_private_or_literal_addresses_are_refused() {
    let app = TestApp::spawn_with(|c| {
        c.webhooks.allow_http = false;
        c.webhooks.allow_private_addresses = false;
    })
    .await;
    let org = app.create_org().await;
    for url in [
        "https://127.0.0.1/h",
        "https://10.0.0.1/h",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/h",
        "https://[::ffff:10.0.0.1]/h",
        "https://93.184.216.34/h",
        "https://localhost/h",
        "https://api.localhost/h",
        "http://example.com/h",
        "ftp://example.com/h",
        "https://user:pw@example.com/h",
    ] {
        let r = create(&app, &org, url, json!(["*"])).await;
        assert_eq!((r.status, r.error()), (400, "invalid_webhook_url"), "{url}: {}", r.text);
    }
    let r = create(&app, &org, "https://example.com/h", json!(["*"])).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.str("/id");
    let patch = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/webhooks/{id}")))
                .bearer_auth(&org.api_key)
                .json(&json!({"url": "https://10.1.2.3/h"})),
        )
        .await;
    assert_eq!((patch.status, patch.error()), (400, "invalid_webhook_url"));
}

/// A name this machine resolves to a non-public address without asking DNS, as every CI machine can: its own
/// host name (in `/etc/hosts`, or answered by nss-myhostname), else the `ip6-localhost` aliases Debian,
/// Ubuntu and Docker put in `/etc/hosts`. Plain `localhost` does not count: it is refused by name already.
async fn a_name_resolving_to_a_private_address() -> (String, IpAddr) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut tried = Vec::new();
    for name in [hostname.trim(), "ip6-localhost", "ip6-loopback"] {
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || lower == "localhost" || lower.ends_with(".localhost") || name.parse::<IpAddr>().is_ok() {
            continue;
        }
        let addrs: Vec<IpAddr> = match tokio::net::lookup_host((name, 0)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        };
        if !addrs.is_empty() && addrs.iter().all(|ip| !is_public_address(*ip)) {
            return (name.to_owned(), addrs[0]);
        }
        tried.push(format!("{name} -> {addrs:?}"));
    }
    panic!("no host name on this machine resolves only to non-public addresses: {tried:?}");
}

#[tokio::test]
async fn a_host_name_resolving_to_a_private_address_is_refused_when_the_delivery_connects() {
    let (name, ip) = a_name_resolving_to_a_private_address().await;
    // Something listens where the name points, so a delivery that got through the guard would be seen.
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("listening on the address the name resolves to");
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let app = TestApp::spawn_with(|c| {
        c.webhooks.allow_http = true;
        c.webhooks.allow_private_addresses = false;
    })
    .await;
    let org = app.create_org().await;

    // Saving does not resolve the name (the answer may change by the time of delivery); connecting does.
    let r = create(&app, &org, &format!("http://{name}:{port}/hooks"), json!(["user.signup"])).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.str("/id");
    app.signup_user(&org.api_key).await;

    let list = wait_history(&app, &org, &id, |l| l.first().is_some_and(|d| d["attempts"] == 1)).await;
    let delivery = &list[0];
    let attempt = &delivery["attempt_history"][0];
    assert!(attempt["status_code"].is_null(), "{attempt}");
    let error = attempt["error"].as_str().unwrap_or_default();
    // The same words as for a name that does not exist: the history does not map the internal network.
    assert_eq!(error, zauthy::webhooks::UNRESOLVED, "{attempt}");
    assert_eq!(delivery["status"], "pending", "a refused attempt is retried on the backoff schedule");
    assert!(attempt["next_retry_at"].is_string(), "{attempt}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the delivery reached {ip}:{port}");
}
