//! Operations: health and readiness, Prometheus metrics, the OpenAPI document (served and committed), the
//! self-contained docs page, and request ids.

use serde_json::{Value, json};
use zauthy_testkit::TestApp;

/// Every path the API reference documents; the served OpenAPI document must describe each of them.
const DOCUMENTED_PATHS: &[&str] = &[
    "/api/v1/signup",
    "/api/v1/login",
    "/api/v1/refresh",
    "/api/v1/logout",
    "/api/v1/sessions",
    "/api/v1/sessions/{session_id}",
    "/api/v1/token/verify",
    "/api/v1/password/forgot",
    "/api/v1/password/reset",
    "/api/v1/password/change",
    "/api/v1/organizations",
    "/api/v1/organizations/me",
    "/api/v1/api-keys",
    "/api/v1/api-keys/{key_id}",
    "/api/v1/signing-keys/rotate",
    "/api/v1/users",
    "/api/v1/users/{user_id}",
    "/api/v1/users/{user_id}/block",
    "/api/v1/users/{user_id}/unblock",
    "/api/v1/users/{user_id}/unlock",
    "/o/{org_id}/.well-known/jwks.json",
    "/health",
    "/ready",
    "/metrics",
];

const CDN_HOSTS: &[&str] = &["unpkg", "jsdelivr", "cdnjs", "googleapis"];

#[tokio::test]
async fn health_and_readiness_answer_ok_when_the_database_is_up() {
    let app = TestApp::spawn().await;

    let health = app.get("/health", None).await;
    let ready = app.get("/ready", None).await;

    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.body, json!({"status": "ok"}));
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body, json!({"status": "ready"}));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_record_latencies() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    app.signup_user(&org.api_key).await;

    let metrics = app.get("/metrics", None).await;

    assert_eq!(metrics.status, 200, "{}", metrics.text);
    // The signup is counted under its route template, with its status.
    let signup_counter = metrics
        .text
        .lines()
        .find(|l| l.starts_with("zauthy_http_requests_total{") && l.contains(r#"route="/api/v1/signup""#))
        .unwrap_or_else(|| panic!("no request counter for the signup route:\n{}", metrics.text));
    assert!(signup_counter.contains(r#"method="POST""#), "{signup_counter}");
    assert!(signup_counter.contains(r#"status="201""#), "{signup_counter}");
    assert!(signup_counter.trim_end().ends_with(" 1"), "exactly one signup was made: {signup_counter}");
    assert!(
        metrics.text.lines().any(|l| l.starts_with("zauthy_http_request_duration_seconds_bucket{")
            && l.contains(r#"route="/api/v1/signup""#)),
        "no latency histogram for the signup route:\n{}",
        metrics.text
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint_and_every_error_code() {
    let app = TestApp::spawn().await;

    let doc = app.get("/openapi.json", None).await;

    assert_eq!(doc.status, 200, "{}", doc.text);
    let version = doc.str("/openapi");
    assert!(version.starts_with("3.1"), "expected OpenAPI 3.1, got {version}");
    let paths = doc.body["paths"].as_object().expect("paths object");
    let missing: Vec<&str> = DOCUMENTED_PATHS.iter().copied().filter(|p| !paths.contains_key(*p)).collect();
    assert!(missing.is_empty(), "undocumented paths: {missing:?}");
    let codes: Vec<&str> = doc.body["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let undocumented: Vec<&str> =
        zauthy_http::error::ERROR_CODES.iter().map(|(code, _)| *code).filter(|code| !codes.contains(code)).collect();
    assert!(undocumented.is_empty(), "error codes missing from the ErrorCode schema: {undocumented:?}");
}

/// The `src` and `href` attribute values of an HTML page.
fn referenced_assets(html: &str) -> Vec<String> {
    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').expect("unterminated attribute");
            assets.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    assets
}

#[tokio::test]
async fn the_docs_page_loads_only_assets_served_by_zauthy_itself() {
    let app = TestApp::spawn().await;

    let page = app.get("/docs/", None).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.header("content-type").unwrap_or("").starts_with("text/html"), "{:?}", page.headers);
    // An air-gapped deployment must get a working page: no absolute URLs at all in the HTML.
    assert!(!page.text.contains("http://") && !page.text.contains("https://"), "{}", page.text);
    let assets = referenced_assets(&page.text);
    assert!(assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")), "no swagger-ui bundle in {assets:?}");
    for asset in &assets {
        let path = format!("/docs/{}", asset.trim_start_matches("./"));
        let response = app.get(&path, None).await;
        assert_eq!(response.status, 200, "{path} is not served");
        if path.ends_with(".js") || path.ends_with(".css") {
            for cdn in CDN_HOSTS {
                assert!(!response.text.contains(cdn), "{path} refers to the CDN {cdn}");
            }
        }
    }
}

#[tokio::test]
async fn every_response_carries_a_generated_request_id() {
    let app = TestApp::spawn().await;

    // A success, an API error, an unknown path and the docs page: every layer sets the id.
    let responses = [
        app.get("/health", None).await,
        app.get("/api/v1/organizations/me", None).await,
        app.get("/no/such/path", None).await,
        app.get("/docs/", None).await,
    ];

    for r in &responses {
        let id = r.header("x-request-id").unwrap_or_else(|| panic!("no x-request-id: {:?}", r.headers));
        assert!(id.starts_with("req_") && id.len() > 4, "{id}");
    }
    assert_eq!(responses[1].status, 401);
    assert_eq!(responses[1].error(), "missing_authorization");
    assert_eq!(responses[2].status, 404);
    assert_eq!(responses[2].error(), "not_found");
    let first = responses[0].header("x-request-id");
    assert_ne!(first, responses[1].header("x-request-id"), "request ids must be unique");
}

#[tokio::test]
async fn a_client_supplied_request_id_is_echoed_back() {
    let app = TestApp::spawn().await;

    // A gateway's trace id, so logs on both sides can be joined.
    let r = app.send(app.client.get(app.url("/health")).header("x-request-id", "gw-trace-4711")).await;

    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("gw-trace-4711"));
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let committed: Value = serde_json::from_str(&committed).expect("docs/openapi.json is not JSON");

    let generated = serde_json::to_value(zauthy_http::openapi()).expect("the OpenAPI document serializes");

    assert!(
        committed == generated,
        "docs/openapi.json is out of date with the handlers; regenerate it with \
         `cargo run -p zauthy -- openapi > docs/openapi.json` and commit the result"
    );
}
