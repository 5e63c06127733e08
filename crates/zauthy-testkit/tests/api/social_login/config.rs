//! Configuring providers (presets, validation, secrets never shown), the authorization URL `init` builds,
//! the state rules, Apple's client-secret JWT and the SSRF refusals of outbound calls.

use super::{APP_REDIRECT, assert_error, events};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use serde_json::{Value, json};
use std::collections::HashMap;
use zauthy_testkit::http_sink::{Answer, HttpSink};
use zauthy_testkit::{TestApp, TestOrg, TestResponse};

const PROVIDERS: &str = "/api/v1/organizations/me/oauth-providers";

async fn create(app: &TestApp, org: &TestOrg, body: Value) -> TestResponse {
    app.post(PROVIDERS, Some(&org.api_key), &body).await
}

async fn allow_redirect(app: &TestApp, org: &TestOrg) {
    let r = app
        .send(
            app.client
                .patch(app.url("/api/v1/organizations/me/settings"))
                .bearer_auth(&org.api_key)
                .json(&json!({"allowed_redirect_urls": [APP_REDIRECT]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn google(app: &TestApp, org: &TestOrg) {
    let r = create(
        app,
        org,
        json!({"type": "google", "client_id": "web.apps.googleusercontent.com", "client_secret": "g-secret-1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn init(app: &TestApp, org: &TestOrg, provider: &str) -> TestResponse {
    app.post(
        "/api/v1/auth/oauth/init",
        Some(&org.api_key),
        &json!({"provider": provider, "redirect_url": APP_REDIRECT}),
    )
    .await
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

#[tokio::test]
async fn an_admin_configures_google_and_its_secret_is_never_shown_again() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let r = create(
        &app,
        &org,
        json!({"type": "google", "client_id": "web.apps.googleusercontent.com", "client_secret": "g-secret-1"}),
    )
    .await;

    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["provider"], "google");
    assert_eq!(r.body["type"], "google");
    assert_eq!(r.body["issuer"], "https://accounts.google.com");
    assert_eq!(r.body["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(r.body["has_client_secret"], true);
    assert_eq!(r.body["link_by_verified_email"], false);
    let listed = app.get(PROVIDERS, Some(&org.api_key)).await;
    let one = app.get(&format!("{PROVIDERS}/google"), Some(&org.api_key)).await;
    for text in [&r.text, &listed.text, &one.text] {
        assert!(!text.contains("g-secret-1"), "the secret leaked: {text}");
    }
    let stored = app.services.store.find_oauth_provider(&org.id, "google").await.unwrap().unwrap();
    assert!(stored.client_secret_enc.as_deref().is_some_and(|s| !s.contains("g-secret-1")), "sealed at rest");

    let public = app.get("/api/v1/auth/oauth/providers", Some(&org.api_key)).await;
    assert_eq!(public.body["providers"], json!([{"provider": "google", "type": "google", "name": "Google"}]));
    let user = app.signup_user(&org.api_key).await;
    let as_user = app.get("/api/v1/auth/oauth/providers", Some(&user.access_token)).await;
    assert_eq!(as_user.body["providers"][0]["provider"], "google");

    let r = app
        .send(
            app.client
                .patch(app.url(&format!("{PROVIDERS}/google")))
                .bearer_auth(&org.api_key)
                .json(&json!({"enabled": false, "display_name": "Google Workspace"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["enabled"].clone(), r.body["display_name"].clone()),
        (200, json!(false), json!("Google Workspace")),
        "{}",
        r.text
    );
    let public = app.get("/api/v1/auth/oauth/providers", Some(&org.api_key)).await;
    assert_eq!(public.body["providers"], json!([]));
    assert_error(&init(&app, &org, "google").await, 400, "oauth_provider_unavailable");

    assert_eq!(app.delete(&format!("{PROVIDERS}/google"), Some(&org.api_key)).await.status, 200);
    assert_error(&app.get(&format!("{PROVIDERS}/google"), Some(&org.api_key)).await, 404, "not_found");
    let kinds: Vec<String> = ["oauth_provider.created", "oauth_provider.updated", "oauth_provider.deleted"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for kind in kinds {
        assert_eq!(events(&app, &org.id, &kind).await[0]["provider"], "google", "{kind}");
    }
}

#[tokio::test]
async fn provider_settings_are_checked_with_stable_error_codes() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let cases = [
        (
            json!({"type": "oidc", "provider": "acme", "client_id": "c", "client_secret": "s"}),
            400,
            "invalid_oauth_provider",
        ),
        (
            json!({"type": "oidc", "client_id": "c", "client_secret": "s", "discovery_url": "https://idp.example/.well-known/openid-configuration"}),
            400,
            "invalid_oauth_provider",
        ),
        (
            json!({"type": "google", "provider": "Bad Name", "client_id": "c", "client_secret": "s"}),
            400,
            "invalid_oauth_provider",
        ),
        (json!({"type": "google", "client_id": "c"}), 400, "invalid_oauth_provider"),
        (
            json!({"type": "google", "client_id": "c", "client_secret": "s", "scopes": ["email"]}),
            400,
            "invalid_oauth_provider",
        ),
        (
            json!({"type": "google", "client_id": "c", "client_secret": "s", "team_id": "T"}),
            400,
            "invalid_oauth_provider",
        ),
        (
            json!({"type": "apple", "client_id": "com.example.web", "team_id": "TEAM123456", "key_id": "KEY1234567"}),
            400,
            "invalid_oauth_provider",
        ),
        (
            json!({"type": "apple", "client_id": "com.example.web", "team_id": "TEAM123456", "key_id": "KEY1234567", "private_key": "not a key"}),
            400,
            "invalid_apple_key",
        ),
        (
            json!({"type": "apple", "client_id": "com.example.web", "client_secret": "s", "team_id": "TEAM123456", "key_id": "KEY1234567", "private_key": "x"}),
            400,
            "invalid_oauth_provider",
        ),
        (json!({"type": "github", "client_id": "c", "client_secret": "s"}), 400, "invalid_request"),
        (json!({"type": "google", "client_id": "c", "client_secret": "s", "extra": 1}), 400, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let r = create(&app, &org, body.clone()).await;
        assert_eq!((r.status, r.error()), (status, code), "{body}: {}", r.text);
    }

    google(&app, &org).await;
    assert_error(
        &create(&app, &org, json!({"type": "google", "client_id": "c", "client_secret": "s"})).await,
        409,
        "oauth_provider_exists",
    );
    let user = app.signup_user(&org.api_key).await;
    assert_error(&app.get(PROVIDERS, Some(&user.access_token)).await, 403, "forbidden");
    assert_error(&app.delete(&format!("{PROVIDERS}/google"), Some(&user.access_token)).await, 403, "forbidden");
}

#[tokio::test]
async fn init_returns_an_authorization_url_with_a_fresh_state_nonce_and_s256_challenge() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    allow_redirect(&app, &org).await;
    google(&app, &org).await;

    let first = init(&app, &org, "google").await;
    let second = init(&app, &org, "google").await;

    assert_eq!(first.status, 200, "{}", first.text);
    let url = first.str("/authorization_url");
    assert!(url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?"), "{url}");
    let (a, b) = (query(&url), query(&second.str("/authorization_url")));
    assert_eq!(a["response_type"], "code");
    assert_eq!(a["client_id"], "web.apps.googleusercontent.com");
    assert_eq!(a["redirect_uri"], APP_REDIRECT);
    assert_eq!(a["scope"], "openid email profile");
    assert_eq!(a["code_challenge_method"], "S256");
    assert_eq!(a["state"], first.str("/state"));
    assert!(!a.contains_key("response_mode"), "Google answers in the query");
    assert_eq!(BASE64URL_NOPAD.decode(a["code_challenge"].as_bytes()).unwrap().len(), 32, "a SHA-256 challenge");
    assert!(BASE64URL_NOPAD.decode(a["nonce"].as_bytes()).unwrap().len() >= 32);
    for key in ["state", "nonce", "code_challenge"] {
        assert_ne!(a[key], b[key], "{key} is fresh for every flow");
    }
    let stored =
        app.services.store.find_oauth_state(&zauthy_core::crypto::sha256_hex(&a["state"])).await.unwrap().unwrap();
    assert!(!stored.code_verifier_enc.is_empty() && stored.nonce == a["nonce"]);
    assert!(app.services.store.find_oauth_state(&a["state"]).await.unwrap().is_none(), "the state is stored hashed");

    let r = app
        .post(
            "/api/v1/auth/oauth/init",
            Some(&org.api_key),
            &json!({"provider": "google", "redirect_url": "http://localhost:3000/auth/callback/"}),
        )
        .await;
    assert_error(&r, 400, "invalid_redirect_url");
    assert_error(&init(&app, &org, "apple").await, 400, "oauth_provider_unavailable");
    let user = app.signup_user(&org.api_key).await;
    let r = app
        .post(
            "/api/v1/auth/oauth/init",
            Some(&user.access_token),
            &json!({"provider": "google", "redirect_url": APP_REDIRECT}),
        )
        .await;
    assert_error(&r, 401, "api_key_required");
}

#[tokio::test]
async fn a_state_is_single_use_short_lived_and_bound_to_its_organization_and_redirect() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    allow_redirect(&app, &org).await;
    google(&app, &org).await;
    let callback = |state: String, extra: Value| {
        let mut body = json!({"state": state, "error": "access_denied"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };

    // The user cancelled at the provider: the state is spent and cannot be replayed.
    let state = init(&app, &org, "google").await.str("/state");
    let r = app.post("/api/v1/auth/oauth/callback", Some(&org.api_key), &callback(state.clone(), json!({}))).await;
    assert_error(&r, 400, "oauth_denied");
    let r = app.post("/api/v1/auth/oauth/callback", Some(&org.api_key), &callback(state, json!({}))).await;
    assert_error(&r, 400, "oauth_state_used");

    let state = init(&app, &org, "google").await.str("/state");
    let r = app.post("/api/v1/auth/oauth/callback", Some(&other.api_key), &callback(state.clone(), json!({}))).await;
    assert_error(&r, 400, "invalid_oauth_state");
    let r = app
        .post(
            "/api/v1/auth/oauth/callback",
            Some(&org.api_key),
            &callback(state, json!({"redirect_url": "https://evil.example/cb"})),
        )
        .await;
    assert_error(&r, 400, "oauth_state_mismatch");

    let state = init(&app, &org, "google").await.str("/state");
    let r = app
        .post(
            "/api/v1/auth/oauth/callback",
            Some(&org.api_key),
            &callback(state, json!({"iss": "https://evil.example"})),
        )
        .await;
    assert_error(&r, 400, "oauth_issuer_mismatch");

    let state = init(&app, &org, "google").await.str("/state");
    app.clock.advance(time::Duration::minutes(11));
    let r = app.post("/api/v1/auth/oauth/callback", Some(&org.api_key), &callback(state, json!({}))).await;
    assert_error(&r, 400, "oauth_state_expired");

    for garbage in ["", "ost_unknown", "not-a-state", &"ost_x".repeat(100)] {
        let r =
            app.post("/api/v1/auth/oauth/callback", Some(&org.api_key), &json!({"state": garbage, "code": "c"})).await;
        assert_error(&r, 400, "invalid_oauth_state");
    }
}

/// A fresh P-256 key as Apple hands it out (PKCS#8 PEM) and its public point's JWK coordinates.
fn apple_key() -> (String, String, String) {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let der = pair.to_pkcs8v1().unwrap();
    let b64 = BASE64.encode(der.as_ref());
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    let point = pair.public_key().as_ref();
    assert_eq!(point[0], 4, "an uncompressed point");
    (pem, BASE64URL_NOPAD.encode(&point[1..33]), BASE64URL_NOPAD.encode(&point[33..65]))
}

#[tokio::test]
async fn an_apple_provider_posts_a_client_secret_jwt_signed_with_the_team_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    allow_redirect(&app, &org).await;
    // A real receiver plays Apple's endpoints (the preset's discovery override); every answer is the discovery
    // document, so the token request is recorded and then fails for want of an ID token.
    let sink = HttpSink::start(Answer::default()).await.unwrap();
    let base = sink.base_url();
    let doc = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/auth/authorize"),
        "token_endpoint": format!("{base}/auth/token"),
        "jwks_uri": format!("{base}/auth/keys"),
        "response_types_supported": ["code"],
    });
    sink.answer_with(Answer { status: 200, body: doc.to_string(), headers: Vec::new() });
    let (pem, x, y) = apple_key();

    let r = create(
        &app,
        &org,
        json!({
            "type": "apple", "client_id": "com.example.web", "team_id": "TEAM123456", "key_id": "KEY1234567",
            "private_key": pem, "discovery_url": format!("{base}/.well-known/openid-configuration"),
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!((r.body["response_mode"].clone(), r.body["has_private_key"].clone()), (json!("form_post"), json!(true)));
    assert!(!r.text.contains("PRIVATE KEY"));
    let started = init(&app, &org, "apple").await;
    let q = query(&started.str("/authorization_url"));
    assert_eq!((q["response_mode"].as_str(), q["scope"].as_str()), ("form_post", "name email"));
    let r = app
        .post(
            "/api/v1/auth/oauth/callback",
            Some(&org.api_key),
            &json!({"state": started.str("/state"), "code": "c-from-apple"}),
        )
        .await;

    assert_error(&r, 502, "oauth_upstream_error");
    let requests = sink.requests();
    let token_request = requests.iter().find(|q| q.path == "/auth/token").expect("the token endpoint was called");
    assert_eq!(token_request.method, "POST");
    assert_eq!(token_request.form_value("grant_type").as_deref(), Some("authorization_code"));
    assert_eq!(token_request.form_value("code").as_deref(), Some("c-from-apple"));
    assert_eq!(token_request.form_value("redirect_uri").as_deref(), Some(APP_REDIRECT));
    assert_eq!(token_request.form_value("client_id").as_deref(), Some("com.example.web"));
    assert_eq!(token_request.form_value("code_verifier").map(|v| v.len()), Some(43));
    let secret = token_request.form_value("client_secret").unwrap();
    let header = jsonwebtoken::decode_header(&secret).unwrap();
    assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::ES256, Some("KEY1234567")));
    let key = jsonwebtoken::DecodingKey::from_ec_components(&x, &y).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["https://appleid.apple.com"]);
    validation.set_issuer(&["TEAM123456"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(&secret, &key, &validation).unwrap().claims;
    assert_eq!(claims["sub"], "com.example.web");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((1..=600).contains(&lifetime), "a short-lived secret, not {lifetime} s");
    let (_, other_x, other_y) = apple_key();
    let other = jsonwebtoken::DecodingKey::from_ec_components(&other_x, &other_y).unwrap();
    assert!(jsonwebtoken::decode::<Value>(&secret, &other, &validation).is_err(), "only the team's key verifies it");
}

#[tokio::test]
async fn outbound_calls_refuse_plain_http_and_private_or_local_upstreams() {
    let app = TestApp::spawn_with(|c| {
        c.federation.allow_http = false;
        c.federation.allow_private_addresses = false;
    })
    .await;
    let org = app.create_org().await;
    let sink = HttpSink::start(Answer { status: 200, body: "{}".to_owned(), headers: Vec::new() }).await.unwrap();
    let port = sink.base_url().rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("{}/.well-known/openid-configuration", sink.base_url()),
        format!("https://127.0.0.1:{port}/.well-known/openid-configuration"),
        format!("https://localhost:{port}/.well-known/openid-configuration"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::1]/.well-known/openid-configuration".to_owned(),
        "https://10.0.0.7/.well-known/openid-configuration".to_owned(),
        "https://user:pw@idp.example/.well-known/openid-configuration".to_owned(),
    ] {
        let r = create(
            &app,
            &org,
            json!({"type": "oidc", "provider": "acme", "client_id": "c", "client_secret": "s", "discovery_url": url}),
        )
        .await;
        assert_error(&r, 400, "invalid_discovery_url");
    }
    assert!(sink.requests().is_empty(), "nothing was sent to a refused address");
}
