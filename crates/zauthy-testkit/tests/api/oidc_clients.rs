//! Registering service providers (OIDC clients): validation of redirect URIs, types, grants and keys; the
//! secret shown once and rotated; nothing crosses organizations.

use serde_json::{Value, json};
use zauthy_testkit::{TestApp, TestResponse};

fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

async fn create(app: &TestApp, bearer: &str, body: Value) -> TestResponse {
    app.post("/api/v1/oidc/clients", Some(bearer), &body).await
}

#[tokio::test]
async fn a_confidential_client_gets_defaults_and_a_secret_shown_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let r = create(&app, &org.api_key, json!({"name": "Acme", "redirect_uris": ["https://acme.example/cb"]})).await;

    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.str("/client_id");
    assert!(id.starts_with("cli_"));
    assert!(r.str("/client_secret").starts_with("cs_"));
    assert_eq!(r.body["client_type"], "confidential");
    assert_eq!(r.body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(r.body["id_token_signed_response_alg"], "RS256");
    assert_eq!(r.body["grant_types"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(r.body["allowed_scopes"], json!(["openid", "profile", "email", "offline_access"]));

    let read = app.get(&format!("/api/v1/oidc/clients/{id}"), Some(&org.api_key)).await;
    assert_eq!(read.status, 200);
    assert!(read.body.get("client_secret").is_none(), "the secret is never shown again: {}", read.text);
    let secret = r.str("/client_secret");
    assert!(app.services.check_oidc_client_secret(&org.id, &id, &secret).await.unwrap());
    assert!(!app.services.check_oidc_client_secret(&org.id, &id, "cs_wrong").await.unwrap());
    assert_eq!(app.services.store.list_events(&org.id, Some("oidc_client.created"), 5).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_public_client_has_no_secret_and_cannot_use_client_credentials() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let r = create(
        &app,
        &org.api_key,
        json!({"name": "SPA", "client_type": "public", "redirect_uris": ["http://localhost:3000/cb"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["client_secret"], Value::Null);
    assert_eq!(r.body["token_endpoint_auth_method"], "none");
    let id = r.str("/client_id");
    assert_error(
        &app.post(&format!("/api/v1/oidc/clients/{id}/rotate-secret"), Some(&org.api_key), &json!({})).await,
        400,
        "invalid_client_type",
    );

    let bad = create(
        &app,
        &org.api_key,
        json!({"name": "SPA", "client_type": "public", "grant_types": ["client_credentials"], "redirect_uris": []}),
    )
    .await;
    assert_error(&bad, 400, "invalid_grant_type");
    let bad = create(
        &app,
        &org.api_key,
        json!({"name": "SPA", "client_type": "public", "token_endpoint_auth_method": "client_secret_basic",
               "redirect_uris": ["https://spa.example/cb"]}),
    )
    .await;
    assert_error(&bad, 400, "invalid_auth_method");
}

#[tokio::test]
async fn redirect_uris_must_be_exact_https_urls_except_on_localhost() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    for bad in [
        "http://acme.example/cb",
        "https://acme.example/*",
        "https://acme.example/cb#frag",
        "https://user:pw@acme.example/cb",
        "/relative",
        "javascript:alert(1)",
        "not a url",
    ] {
        let r = create(&app, &org.api_key, json!({"name": "Acme", "redirect_uris": [bad]})).await;
        assert_error(&r, 400, "invalid_redirect_uri");
    }
    let none = create(&app, &org.api_key, json!({"name": "Acme", "redirect_uris": []})).await;
    assert_error(&none, 400, "invalid_redirect_uri");
    let machine =
        create(&app, &org.api_key, json!({"name": "Cron", "redirect_uris": [], "grant_types": ["client_credentials"]}))
            .await;
    assert_eq!(machine.status, 201, "a machine client needs no redirect URI: {}", machine.text);
}

#[tokio::test]
async fn scopes_grants_algorithms_and_keys_are_validated() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let base = |extra: Value| {
        let mut body = json!({"name": "Acme", "redirect_uris": ["https://acme.example/cb"]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };

    assert_error(&create(&app, &org.api_key, base(json!({"allowed_scopes": ["admin"]}))).await, 400, "invalid_scope");
    assert_error(
        &create(&app, &org.api_key, base(json!({"grant_types": ["password"]}))).await,
        400,
        "invalid_grant_type",
    );
    assert_error(&create(&app, &org.api_key, base(json!({"grant_types": []}))).await, 400, "invalid_grant_type");
    assert_error(
        &create(&app, &org.api_key, base(json!({"id_token_signed_response_alg": "HS256"}))).await,
        400,
        "invalid_signing_alg",
    );
    assert_error(
        &create(&app, &org.api_key, base(json!({"token_endpoint_auth_method": "private_key_jwt"}))).await,
        400,
        "invalid_jwks",
    );
    let private = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "secret"}]});
    assert_error(
        &create(&app, &org.api_key, base(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": private})))
            .await,
        400,
        "invalid_jwks",
    );
    assert_error(&create(&app, &org.api_key, base(json!({"client_type": "robot"}))).await, 400, "invalid_client_type");
    assert_error(&create(&app, &org.api_key, base(json!({"name": " "}))).await, 400, "invalid_name");
    assert_error(&create(&app, &org.api_key, base(json!({"surprise": 1}))).await, 400, "invalid_request");

    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "kid": "k1"}]});
    let ok = create(
        &app,
        &org.api_key,
        base(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks, "id_token_signed_response_alg": "ES256"})),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(ok.body["jwks"], jwks);
}

#[tokio::test]
async fn clients_can_be_listed_updated_rotated_and_deleted() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let created =
        create(&app, &org.api_key, json!({"name": "Acme", "redirect_uris": ["https://acme.example/cb"]})).await;
    let id = created.str("/client_id");
    let old_secret = created.str("/client_secret");
    let path = format!("/api/v1/oidc/clients/{id}");

    let list = app.get("/api/v1/oidc/clients", Some(&org.owner.access_token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["clients"].as_array().unwrap().len(), 1);

    let update = json!({"name": "Acme 2", "redirect_uris": ["https://acme.example/cb2"], "require_mfa": true});
    let r = app.send(app.client.patch(app.url(&path)).bearer_auth(&org.api_key).json(&update)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["name"].clone(), r.body["require_mfa"].clone()), (json!("Acme 2"), json!(true)));
    assert_eq!(r.body["redirect_uris"], json!(["https://acme.example/cb2"]));
    let bad = json!({"redirect_uris": ["http://evil.example/cb"]});
    let r = app.send(app.client.patch(app.url(&path)).bearer_auth(&org.api_key).json(&bad)).await;
    assert_error(&r, 400, "invalid_redirect_uri");

    let rotated = app.post(&format!("{path}/rotate-secret"), Some(&org.api_key), &json!({})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = rotated.str("/client_secret");
    assert!(app.services.check_oidc_client_secret(&org.id, &id, &new_secret).await.unwrap());
    assert!(!app.services.check_oidc_client_secret(&org.id, &id, &old_secret).await.unwrap(), "the old secret stops");

    assert_eq!(app.delete(&path, Some(&org.api_key)).await.status, 200);
    assert_error(&app.get(&path, Some(&org.api_key)).await, 404, "not_found");
    assert_error(&app.delete(&path, Some(&org.api_key)).await, 404, "not_found");
    for event in ["oidc_client.updated", "oidc_client.secret_rotated", "oidc_client.deleted"] {
        assert_eq!(app.services.store.list_events(&org.id, Some(event), 5).await.unwrap().len(), 1, "{event}");
    }
}

#[tokio::test]
async fn clients_never_cross_organizations_and_need_an_administrator() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let created =
        create(&app, &org.api_key, json!({"name": "Acme", "redirect_uris": ["https://acme.example/cb"]})).await;
    let id = created.str("/client_id");
    let path = format!("/api/v1/oidc/clients/{id}");

    assert_error(&app.get(&path, Some(&other.api_key)).await, 404, "not_found");
    assert_error(&app.delete(&path, Some(&other.api_key)).await, 404, "not_found");
    assert_error(&app.post(&format!("{path}/rotate-secret"), Some(&other.api_key), &json!({})).await, 404, "not_found");
    assert_eq!(app.get("/api/v1/oidc/clients", Some(&other.api_key)).await.body["clients"], json!([]));
    let secret = created.str("/client_secret");
    assert!(!app.services.check_oidc_client_secret(&other.id, &id, &secret).await.unwrap());

    assert_error(&app.get("/api/v1/oidc/clients", Some(&user.access_token)).await, 403, "forbidden");
    assert_error(&create(&app, &user.access_token, json!({"name": "X", "redirect_uris": []})).await, 403, "forbidden");
    assert_error(&app.get("/api/v1/oidc/clients/garbage", Some(&org.api_key)).await, 404, "not_found");
}
