//! Organizations, API keys, signing keys and tenant isolation.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, TokenData, Validation};
use serde_json::{Value, json};
use zauthy_core::accounts::{Email, Role, User};
use zauthy_testkit::{PASSWORD, TestApp, TestOrg, TestResponse, TestUser, unique_email};

#[tokio::test]
async fn the_quick_start_creates_an_organization_and_registers_a_user_with_its_key() {
    let app = TestApp::spawn().await;

    let org = app
        .post(
            "/api/v1/organizations",
            None,
            &json!({"name": "My App", "owner_email": "you@example.com", "owner_password": "SecureP@ss123"}),
        )
        .await;
    assert_eq!(org.status, 201, "{}", org.text);
    assert!(org.str("/organization/id").starts_with("org_"));
    assert_eq!(org.str("/organization/name"), "My App");
    let api_key = org.str("/organization/api_key");
    assert!(api_key.starts_with("sk_live_"), "{api_key}");
    assert!(org.str("/user/id").starts_with("usr_"));
    assert_eq!(org.str("/user/email"), "you@example.com");
    assert_eq!(org.str("/user/role"), "owner");
    assert!(org.str("/access_token").starts_with("eyJ"));
    assert!(!org.str("/refresh_token").is_empty());

    let user = app
        .post(
            "/api/v1/signup",
            Some(&api_key),
            &json!({"email": "user@example.com", "password": PASSWORD, "name": "Jane Doe"}),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.text);
    assert_eq!(user.str("/user/email"), "user@example.com");
    assert_eq!(user.str("/user/name"), "Jane Doe");
    assert_eq!(user.str("/user/role"), "user");
    assert_eq!(user.body["user"]["is_verified"], false);
    assert_eq!(user.str("/token_type"), "bearer");
    assert_eq!(user.body["expires_in"], 900);
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

async fn create_org_with(app: &TestApp, body: Value) -> TestResponse {
    app.post("/api/v1/organizations", None, &body).await
}

/// A member of `org` with `role`, written straight to the store (the API has no role-change endpoint yet) and
/// then signed in over HTTP, so their token is a real one.
async fn add_member(app: &TestApp, org: &TestOrg, role: Role) -> TestUser {
    let email = unique_email(role.as_str());
    let now = app.services.now();
    let user = User {
        id: zauthy_core::ids::new_id(zauthy_core::ids::USER),
        org_id: org.id.clone(),
        email: Email::parse(&email).expect("valid email"),
        name: None,
        phone: None,
        address: None,
        role,
        is_verified: true,
        phone_verified: false,
        is_blocked: false,
        failed_login_attempts: 0,
        locked_until: None,
        last_login_at: None,
        created_at: now,
        updated_at: now,
    };
    let hash = app.services.hasher.hash(PASSWORD).await.expect("hash");
    app.services.store.insert_user(&user, Some(&hash)).await.expect("insert member");
    let login = app.login(&org.api_key, &email, PASSWORD).await;
    assert_eq!(login.status, 200, "member login failed: {}", login.text);
    assert_eq!(login.str("/user/role"), role.as_str());
    TestUser {
        id: user.id,
        email,
        password: PASSWORD.to_owned(),
        access_token: login.str("/access_token"),
        refresh_token: login.str("/refresh_token"),
    }
}

async fn create_api_key(app: &TestApp, bearer: &str, body: Value) -> TestResponse {
    app.post("/api/v1/api-keys", Some(bearer), &body).await
}

async fn jwks(app: &TestApp, org_id: &str) -> TestResponse {
    app.get(&format!("/o/{org_id}/.well-known/jwks.json"), None).await
}

/// The `kid`s the organization currently publishes.
async fn published_kids(app: &TestApp, org_id: &str) -> Vec<String> {
    let r = jwks(app, org_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let kids = r.body["keys"].as_array().expect("keys array").iter();
    kids.map(|k| k["kid"].as_str().expect("kid").to_owned()).collect()
}

/// The `kid` in a JWT's header.
fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).expect("JWT header").kid.expect("kid in header")
}

/// Verifies `token` the way an independent backend would: with nothing but the organization's published JWKS,
/// the EdDSA algorithm, zauthy's API audience and the organization's issuer.
async fn verify_offline(
    app: &TestApp,
    org_id: &str,
    token: &str,
) -> Result<TokenData<Value>, jsonwebtoken::errors::Error> {
    let set: JwkSet = serde_json::from_value(jwks(app, org_id).await.body).expect("the JWKS is a JWK Set");
    let kid = jsonwebtoken::decode_header(token)?.kid.unwrap_or_default();
    let jwk = set.find(&kid).ok_or(jsonwebtoken::errors::ErrorKind::InvalidSignature)?;
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["zauthy-api"]);
    validation.set_issuer(&[app.services.issuer(org_id)]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
}

/// `token` with its payload rewritten by `edit`, the signature left as it was.
fn tamper(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    use data_encoding::BASE64URL_NOPAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {token}");
    let mut payload: Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).expect("base64url payload"))
            .expect("JSON payload");
    edit(&mut payload);
    let payload = BASE64URL_NOPAD.encode(payload.to_string().as_bytes());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

// ---------------------------------------------------------------------------------------------------------------
// Creating organizations
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn creating_an_organization_with_invalid_input_is_refused_with_the_matching_code_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let email = unique_email("owner");
    let long_name = "x".repeat(101);
    let cases = [
        (json!({}), "invalid_request"),
        (json!({"name": "Acme", "owner_email": email}), "invalid_request"),
        (json!({"owner_email": email, "owner_password": PASSWORD}), "invalid_request"),
        (json!({"name": "Acme", "owner_email": email, "owner_password": 12345678}), "invalid_request"),
        (json!({"name": "Acme", "owner_email": email, "owner_password": PASSWORD, "plan": "pro"}), "invalid_request"),
        (json!({"name": "Acme", "owner_email": email, "owner_password": "password"}), "weak_password"),
        (json!({"name": "Acme", "owner_email": email, "owner_password": "Sh0rt!"}), "weak_password"),
        (json!({"name": "Acme", "owner_email": "not-an-email", "owner_password": PASSWORD}), "invalid_email"),
        (json!({"name": "", "owner_email": email, "owner_password": PASSWORD}), "invalid_name"),
        (json!({"name": "   ", "owner_email": email, "owner_password": PASSWORD}), "invalid_name"),
        (json!({"name": long_name, "owner_email": email, "owner_password": PASSWORD}), "invalid_name"),
    ];

    for (body, code) in cases {
        let r = create_org_with(&app, body.clone()).await;
        assert_eq!((r.status, r.error()), (400, code), "for {body}: {}", r.text);
    }

    // No half-made organization (or owner) was left behind by any refusal...
    let orgs = app.services.store.list_orgs().await.expect("list orgs");
    assert!(orgs.is_empty(), "refused requests created organizations: {orgs:?}");
    // ...so the same owner email goes through with valid data.
    let ok = create_org_with(&app, json!({"name": "Acme", "owner_email": email, "owner_password": PASSWORD})).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(ok.str("/user/email"), email);
    assert_eq!(app.services.store.list_orgs().await.expect("list orgs").len(), 1);
}

#[tokio::test]
async fn an_organization_name_of_exactly_100_characters_is_accepted() {
    let app = TestApp::spawn().await;
    let name = "n".repeat(100);

    let r =
        create_org_with(&app, json!({"name": name, "owner_email": unique_email("owner"), "owner_password": PASSWORD}))
            .await;

    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.str("/organization/name"), name);
}

#[tokio::test]
async fn creating_organizations_is_rate_limited_per_ip() {
    let app = TestApp::spawn_with(|c| c.rate_limits.org_create_per_ip_per_hour = 2).await;
    app.create_org().await;
    app.create_org().await;

    let third = create_org_with(
        &app,
        json!({"name": "Third", "owner_email": unique_email("owner"), "owner_password": PASSWORD}),
    )
    .await;

    assert_error(&third, 429, "rate_limited");
    let retry_after: u64 = third.header("retry-after").expect("Retry-After header").parse().expect("seconds");
    assert!((1..=3600).contains(&retry_after), "Retry-After {retry_after} is outside the hour window");
    assert_eq!(app.services.store.list_orgs().await.expect("list orgs").len(), 2);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the organization
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_api_key_and_the_owner_token_both_read_the_organization() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let issuer = format!("{}/o/{}", app.address, org.id);

    for bearer in [&org.api_key, &org.owner.access_token] {
        let r = app.get("/api/v1/organizations/me", Some(bearer)).await;

        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.str("/id"), org.id);
        assert_eq!(r.str("/name"), "Test Org");
        assert_eq!(r.str("/plan"), "free");
        assert_eq!(r.str("/issuer"), issuer);
        assert_eq!(r.str("/jwks_uri"), format!("{issuer}/.well-known/jwks.json"));
        // The organization read never carries a key secret.
        assert!(!r.text.contains(&org.api_key));
    }
}

#[tokio::test]
async fn an_admin_reads_the_organization_but_a_plain_user_is_forbidden() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let admin = add_member(&app, &org, Role::Admin).await;
    let user = app.signup_user(&org.api_key).await;

    let as_admin = app.get("/api/v1/organizations/me", Some(&admin.access_token)).await;
    let as_user = app.get("/api/v1/organizations/me", Some(&user.access_token)).await;

    assert_eq!(as_admin.status, 200, "{}", as_admin.text);
    assert_eq!(as_admin.str("/id"), org.id);
    assert_error(&as_user, 403, "forbidden");
}

#[tokio::test]
async fn a_plan_set_by_the_operator_shows_in_the_organization() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    app.services.set_plan(&org.id, zauthy_core::orgs::Plan::Pro).await.expect("set plan");

    let r = app.get("/api/v1/organizations/me", Some(&org.api_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.str("/plan"), "pro");
}

// ---------------------------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_api_key_is_shown_once_with_its_prefix_and_works_at_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let live = create_api_key(&app, &org.api_key, json!({"name": "Backend"})).await;
    let test = create_api_key(&app, &org.owner.access_token, json!({"name": "CI", "environment": "test"})).await;

    assert_eq!(live.status, 201, "{}", live.text);
    let live_secret = live.str("/api_key");
    assert!(live_secret.starts_with("sk_live_"), "{live_secret}");
    assert!(live.str("/id").starts_with("key_"));
    assert_eq!(live.str("/name"), "Backend");
    assert_eq!(live.str("/environment"), "live");
    assert_eq!(live.str("/prefix"), live_secret[..12]);

    assert_eq!(test.status, 201, "{}", test.text);
    let test_secret = test.str("/api_key");
    assert!(test_secret.starts_with("sk_test_"), "{test_secret}");
    assert_eq!(test.str("/environment"), "test");
    assert_eq!(test.str("/prefix"), test_secret[..12]);
    assert_ne!(live_secret, test_secret);

    // Both keys act for the organization straight away.
    for secret in [&live_secret, &test_secret] {
        let user = app.signup_user(secret).await;
        let found = app.get(&format!("/api/v1/users/{}", user.id), Some(&org.api_key)).await;
        assert_eq!(found.status, 200, "{}", found.text);
    }
}

#[tokio::test]
async fn listing_api_keys_shows_every_key_without_any_secret() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let created = create_api_key(&app, &org.api_key, json!({"name": "Backend"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.str("/api_key");

    let list = app.get("/api/v1/api-keys", Some(&org.owner.access_token)).await;

    assert_eq!(list.status, 200, "{}", list.text);
    let keys = list.body["api_keys"].as_array().expect("api_keys array");
    assert_eq!(keys.len(), 2, "the default key and the new one: {}", list.text);
    let new = keys.iter().find(|k| k["id"] == created.body["id"]).expect("new key listed");
    assert_eq!(new["name"], "Backend");
    assert_eq!(new["prefix"], secret[..12]);
    assert!(new.get("api_key").is_none(), "{new}");
    // Neither secret appears anywhere in the listing, under any field name.
    assert!(!list.text.contains(&secret), "{}", list.text);
    assert!(!list.text.contains(&org.api_key), "{}", list.text);
}

#[tokio::test]
async fn the_store_keeps_only_the_sha256_of_an_api_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let created = create_api_key(&app, &org.api_key, json!({"name": "Backend"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.str("/api_key");
    let store = &app.services.store;

    let by_hash = store.find_api_key_by_hash(&zauthy_core::crypto::sha256_hex(&secret)).await.expect("lookup");
    let by_secret = store.find_api_key_by_hash(&secret).await.expect("lookup");

    let key = by_hash.expect("the key is found by the SHA-256 of its secret");
    assert_eq!(key.id, created.str("/id"));
    assert_eq!(key.org_id, org.id);
    assert!(by_secret.is_none(), "the plain secret is stored");
}

#[tokio::test]
async fn a_deleted_api_key_is_refused_at_once_and_cannot_be_deleted_twice() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let created = create_api_key(&app, &org.api_key, json!({"name": "Leaked"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (id, secret) = (created.str("/id"), created.str("/api_key"));
    assert_eq!(app.get("/api/v1/organizations/me", Some(&secret)).await.status, 200);

    let deleted = app.delete(&format!("/api/v1/api-keys/{id}"), Some(&org.owner.access_token)).await;

    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.body["success"], true, "{}", deleted.text);
    assert_error(&app.get("/api/v1/organizations/me", Some(&secret)).await, 401, "invalid_api_key");
    let signup = app.signup(&secret, &unique_email("user"), PASSWORD).await;
    assert_error(&signup, 401, "invalid_api_key");
    assert_error(&app.delete(&format!("/api/v1/api-keys/{id}"), Some(&org.api_key)).await, 404, "not_found");
    // The other key is untouched and the deleted one is gone from the list.
    let list = app.get("/api/v1/api-keys", Some(&org.api_key)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(!list.text.contains(&id), "{}", list.text);
}

#[tokio::test]
async fn a_plain_user_cannot_list_create_or_delete_api_keys() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let keys = app.get("/api/v1/api-keys", Some(&org.api_key)).await;
    let default_key_id = keys.str("/api_keys/0/id");

    let list = app.get("/api/v1/api-keys", Some(&user.access_token)).await;
    let create = create_api_key(&app, &user.access_token, json!({"name": "Mine"})).await;
    let delete = app.delete(&format!("/api/v1/api-keys/{default_key_id}"), Some(&user.access_token)).await;

    assert_error(&list, 403, "forbidden");
    assert_error(&create, 403, "forbidden");
    assert_error(&delete, 403, "forbidden");
    // The key the user tried to delete still works.
    assert_eq!(app.get("/api/v1/organizations/me", Some(&org.api_key)).await.status, 200);
}

#[tokio::test]
async fn only_the_owner_or_an_api_key_lists_creates_or_deletes_api_keys_and_an_admin_is_forbidden() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let admin = add_member(&app, &org, Role::Admin).await;
    let keys = app.get("/api/v1/api-keys", Some(&org.api_key)).await;
    let default_key_id = keys.str("/api_keys/0/id");

    // An API key is the organization's root credential: an admin who could mint one could make themself owner.
    let list = app.get("/api/v1/api-keys", Some(&admin.access_token)).await;
    let create = create_api_key(&app, &admin.access_token, json!({"name": "Mine"})).await;
    let delete = app.delete(&format!("/api/v1/api-keys/{default_key_id}"), Some(&admin.access_token)).await;

    assert_error(&list, 403, "forbidden");
    assert_error(&create, 403, "forbidden");
    assert_error(&delete, 403, "forbidden");
    let unchanged = app.get("/api/v1/api-keys", Some(&org.api_key)).await;
    assert_eq!(unchanged.body["api_keys"].as_array().map(Vec::len), Some(1), "{}", unchanged.text);

    // The owner may do all three.
    let owner = &org.owner.access_token;
    assert_eq!(app.get("/api/v1/api-keys", Some(owner)).await.status, 200);
    let created = create_api_key(&app, owner, json!({"name": "Owner's"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let deleted = app.delete(&format!("/api/v1/api-keys/{}", created.str("/id")), Some(owner)).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
}

// ---------------------------------------------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_api_key_cannot_read_or_change_a_user_of_another_organization() {
    let app = TestApp::spawn().await;
    let a = app.create_org().await;
    let b = app.create_org().await;
    let victim = app.signup_user(&b.api_key).await;
    let path = format!("/api/v1/users/{}", victim.id);

    for bearer in [&a.api_key, &a.owner.access_token] {
        assert_error(&app.get(&path, Some(bearer)).await, 404, "not_found");
        assert_error(&app.post(&format!("{path}/block"), Some(bearer), &json!({})).await, 404, "not_found");
        assert_error(&app.post(&format!("{path}/unblock"), Some(bearer), &json!({})).await, 404, "not_found");
        assert_error(&app.post(&format!("{path}/unlock"), Some(bearer), &json!({})).await, 404, "not_found");
        assert_error(&app.delete(&path, Some(bearer)).await, 404, "not_found");
    }

    // B's user is exactly as before: present, not blocked, and still able to sign in.
    let still = app.get(&path, Some(&b.api_key)).await;
    assert_eq!(still.status, 200, "{}", still.text);
    assert_eq!(still.body["is_blocked"], false);
    assert_eq!(app.login(&b.api_key, &victim.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn an_api_key_cannot_delete_an_api_key_of_another_organization() {
    let app = TestApp::spawn().await;
    let a = app.create_org().await;
    let b = app.create_org().await;
    let b_key = create_api_key(&app, &b.api_key, json!({"name": "B backend"})).await;
    let (b_key_id, b_secret) = (b_key.str("/id"), b_key.str("/api_key"));

    let r = app.delete(&format!("/api/v1/api-keys/{b_key_id}"), Some(&a.api_key)).await;

    assert_error(&r, 404, "not_found");
    assert_eq!(app.get("/api/v1/organizations/me", Some(&b_secret)).await.status, 200);
    // Nor does B's key show in A's list.
    let a_list = app.get("/api/v1/api-keys", Some(&a.api_key)).await;
    assert_eq!(a_list.status, 200, "{}", a_list.text);
    assert!(!a_list.text.contains(&b_key_id), "{}", a_list.text);
}

#[tokio::test]
async fn listing_users_shows_only_the_callers_organization() {
    let app = TestApp::spawn().await;
    let a = app.create_org().await;
    let b = app.create_org().await;
    let a_user = app.signup_user(&a.api_key).await;
    let b_user = app.signup_user(&b.api_key).await;

    let r = app.get("/api/v1/users?per_page=100", Some(&a.api_key)).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let mut ids: Vec<&str> =
        r.body["users"].as_array().expect("users").iter().map(|u| u["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut expected = vec![a.owner.id.as_str(), a_user.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "{}", r.text);
    assert_eq!(r.body["total"], 2);
    assert!(!r.text.contains(&b_user.email) && !r.text.contains(&b.owner.email), "{}", r.text);
}

#[tokio::test]
async fn verifying_another_organizations_token_reports_wrong_organization() {
    let app = TestApp::spawn().await;
    let a = app.create_org().await;
    let b = app.create_org().await;
    let b_user = app.signup_user(&b.api_key).await;

    let r = app.verify(&a.api_key, &b_user.access_token).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["valid"], false, "{}", r.text);
    assert_eq!(r.str("/reason"), "wrong_organization");
    assert!(r.body.get("user_id").is_none(), "nothing about B's user leaks: {}", r.text);
    // The same token is fine for its own organization, so the refusal is about the organization alone.
    let own = app.verify(&b.api_key, &b_user.access_token).await;
    assert_eq!(own.body["valid"], true, "{}", own.text);
}

#[tokio::test]
async fn an_api_key_cannot_log_in_a_user_of_another_organization() {
    let app = TestApp::spawn().await;
    let a = app.create_org().await;
    let b = app.create_org().await;
    let b_user = app.signup_user(&b.api_key).await;

    let r = app.login(&a.api_key, &b_user.email, PASSWORD).await;

    assert_error(&r, 401, "invalid_credentials");
    assert!(r.body.get("access_token").is_none(), "{}", r.text);
}

#[tokio::test]
async fn a_refresh_token_presented_with_another_organizations_api_key_is_refused_and_not_spent() {
    let app = TestApp::spawn().await;
    let a = app.create_org().await;
    let b = app.create_org().await;
    let b_user = app.signup_user(&b.api_key).await;

    let r = app.post("/api/v1/refresh", Some(&a.api_key), &json!({"refresh_token": b_user.refresh_token})).await;

    assert_error(&r, 401, "invalid_refresh_token");
    // The refusal neither spent the token nor revoked the session: B's own refresh still works.
    let own = app.post("/api/v1/refresh", Some(&b.api_key), &json!({"refresh_token": b_user.refresh_token})).await;
    assert_eq!(own.status, 200, "{}", own.text);
}

#[tokio::test]
async fn a_user_cannot_revoke_a_session_of_another_organization() {
    let app = TestApp::spawn().await;
    let a = app.create_org().await;
    let b = app.create_org().await;
    let b_user = app.signup_user(&b.api_key).await;
    let sessions = app.get("/api/v1/sessions", Some(&a.owner.access_token)).await;
    assert_eq!(sessions.status, 200, "{}", sessions.text);
    let a_session = sessions.str("/sessions/0/id");

    let r = app.delete(&format!("/api/v1/sessions/{a_session}"), Some(&b_user.access_token)).await;

    assert_error(&r, 404, "not_found");
    // A's owner is still signed in.
    assert_eq!(app.verify(&a.api_key, &a.owner.access_token).await.body["valid"], true);
    assert_eq!(app.get("/api/v1/sessions", Some(&a.owner.access_token)).await.status, 200);
}

// ---------------------------------------------------------------------------------------------------------------
// JWKS and offline verification
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_jwks_is_public_and_publishes_the_organizations_ed25519_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let r = jwks(&app, &org.id).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let keys = r.body["keys"].as_array().expect("keys array");
    assert_eq!(keys.len(), 1, "{}", r.text);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["kid"].as_str(), Some(kid_of(&org.owner.access_token).as_str()));
    assert!(key["x"].as_str().is_some_and(|x| !x.is_empty()), "{key}");
    // Only the public half is published.
    assert!(key.get("d").is_none(), "private key material in the JWKS: {key}");
}

#[tokio::test]
async fn an_access_token_verifies_offline_with_only_the_published_jwks() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let data = verify_offline(&app, &org.id, &user.access_token).await.expect("token verifies offline");

    let claims = &data.claims;
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["org_id"], org.id.as_str());
    assert_eq!(claims["role"], "user");
    assert_eq!(claims["iss"], app.services.issuer(&org.id).as_str());
    assert_eq!(claims["aud"], "zauthy-api");
    assert!(claims["sid"].as_str().is_some_and(|s| s.starts_with("sess_")), "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|s| !s.is_empty()), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().expect("iat"), claims["exp"].as_i64().expect("exp"));
    assert_eq!(exp - iat, 900, "{claims}");
    let published = published_kids(&app, &org.id).await;
    assert_eq!(data.header.kid.as_ref(), published.first(), "{published:?}");
}

#[tokio::test]
async fn a_token_with_an_altered_payload_fails_offline_and_server_verification() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    // A user promoting themselves, keeping the original signature.
    let forged = tamper(&user.access_token, |claims| claims["role"] = json!("owner"));
    assert_ne!(forged, user.access_token);

    let offline = verify_offline(&app, &org.id, &forged).await;
    let online = app.verify(&org.api_key, &forged).await;

    let error = offline.expect_err("a tampered token must not verify");
    assert_eq!(error.kind(), &jsonwebtoken::errors::ErrorKind::InvalidSignature);
    assert_eq!(online.status, 200, "{}", online.text);
    assert_eq!(online.body["valid"], false, "{}", online.text);
    assert_eq!(online.str("/reason"), "invalid_signature");
    // Used as a bearer it grants nothing.
    assert_error(&app.get("/api/v1/organizations/me", Some(&forged)).await, 401, "invalid_token");
}

#[tokio::test]
async fn a_token_does_not_verify_with_another_organizations_jwks() {
    let app = TestApp::spawn().await;
    let a = app.create_org().await;
    let b = app.create_org().await;
    let a_set: JwkSet = serde_json::from_value(jwks(&app, &a.id).await.body).expect("A's JWK Set");

    let by_kid = verify_offline(&app, &a.id, &b.owner.access_token).await;

    // B's kid is not in A's set, and even forcing A's key onto B's token fails on the signature.
    assert!(by_kid.is_err(), "B's token verified with A's keys: {by_kid:?}");
    assert!(a_set.find(&kid_of(&b.owner.access_token)).is_none());
    let a_key = DecodingKey::from_jwk(&a_set.keys[0]).expect("A's key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["zauthy-api"]);
    let forced = jsonwebtoken::decode::<Value>(&b.owner.access_token, &a_key, &validation);
    let error = forced.expect_err("A's key verified B's signature");
    assert_eq!(error.kind(), &jsonwebtoken::errors::ErrorKind::InvalidSignature);
}

#[tokio::test]
async fn the_jwks_of_an_unknown_organization_is_not_found() {
    let app = TestApp::spawn().await;
    app.create_org().await;
    let unknown = zauthy_core::ids::new_id(zauthy_core::ids::ORG);

    assert_error(&jwks(&app, &unknown).await, 404, "not_found");
    assert_error(&jwks(&app, "not-an-org").await, 404, "not_found");
}

// ---------------------------------------------------------------------------------------------------------------
// Signing key rotation
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn rotating_the_signing_key_signs_new_tokens_with_the_new_kid_and_keeps_old_tokens_valid() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let before = app.signup_user(&org.api_key).await;
    let old_kid = kid_of(&before.access_token);

    let r = app.post("/api/v1/signing-keys/rotate", Some(&org.api_key), &json!({})).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let new_kid = r.str("/kid");
    assert_ne!(new_kid, old_kid);
    assert_eq!(r.str("/jwks_uri"), app.services.jwks_url(&org.id));
    let after = app.signup_user(&org.api_key).await;
    assert_eq!(kid_of(&after.access_token), new_kid);
    let refreshed = app.refresh(&before.refresh_token).await;
    assert_eq!(kid_of(&refreshed.str("/access_token")), new_kid, "a refresh signs with the new key too");
    // The token signed before the rotation still verifies, on the server and offline.
    let old = app.verify(&org.api_key, &before.access_token).await;
    assert_eq!(old.body["valid"], true, "{}", old.text);
    assert!(verify_offline(&app, &org.id, &before.access_token).await.is_ok());
    assert!(verify_offline(&app, &org.id, &after.access_token).await.is_ok());
    let mut kids = published_kids(&app, &org.id).await;
    kids.sort();
    let mut expected = vec![old_kid, new_kid];
    expected.sort();
    assert_eq!(kids, expected);
}

#[tokio::test]
async fn the_old_signing_key_leaves_the_jwks_once_its_last_token_has_expired() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let old_kid = kid_of(&org.owner.access_token);
    let r = app.post("/api/v1/signing-keys/rotate", Some(&org.owner.access_token), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_kid = r.str("/kid");

    // Just before the last old token's expiry (900 s) plus the minute of slack, the old key is still published.
    app.clock.advance(time::Duration::seconds(900 + 59));
    assert!(published_kids(&app, &org.id).await.contains(&old_kid));

    app.clock.advance(time::Duration::seconds(2));
    assert_eq!(published_kids(&app, &org.id).await, vec![new_kid]);
}

#[tokio::test]
async fn only_an_owner_or_an_api_key_may_rotate_signing_keys() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let admin = add_member(&app, &org, Role::Admin).await;
    let user = app.signup_user(&org.api_key).await;
    let kid = kid_of(&org.owner.access_token);

    let as_admin = app.post("/api/v1/signing-keys/rotate", Some(&admin.access_token), &json!({})).await;
    let as_user = app.post("/api/v1/signing-keys/rotate", Some(&user.access_token), &json!({})).await;

    assert_error(&as_admin, 403, "forbidden");
    assert_error(&as_user, 403, "forbidden");
    assert_eq!(published_kids(&app, &org.id).await, vec![kid], "a refused rotation changed the keys");
    let as_owner = app.post("/api/v1/signing-keys/rotate", Some(&org.owner.access_token), &json!({})).await;
    assert_eq!(as_owner.status, 200, "{}", as_owner.text);
    let as_key = app.post("/api/v1/signing-keys/rotate", Some(&org.api_key), &json!({})).await;
    assert_eq!(as_key.status, 200, "{}", as_key.text);
    assert_eq!(published_kids(&app, &org.id).await.len(), 3);
}
