//! The provider keeps clients, grants, users and checked signatures in a short-lived per-node cache; a change
//! made through this node must still reach the authorize, token, introspection and userinfo endpoints and the
//! hosted pages at once.

use super::*;
use zauthy_testkit::browser::{Browser, location};

async fn userinfo(app: &TestApp, org: &TestOrg, access: &str) -> TestResponse {
    app.send(app.client.get(app.url(&format!("/o/{}/userinfo", org.id))).bearer_auth(access)).await
}

/// A user's tokens from the code flow with `profile`, after userinfo and introspection have answered once
/// (so that what they read is cached).
async fn warm_tokens(app: &TestApp, org: &TestOrg, rp: &Rp, user: &TestUser) -> (String, String) {
    let code = code_for(app, org, rp, user, &[("scope", "openid profile offline_access")]).await;
    let r = exchange(app, org, rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (access, refresh) = (r.str("/access_token"), r.str("/refresh_token"));
    assert_eq!(userinfo(app, org, &access).await.status, 200);
    assert_eq!(post_oauth(app, org, "introspect", rp, &[("token", &access)]).await.body["active"], true);
    (access, refresh)
}

#[tokio::test]
async fn a_blocked_user_s_tokens_stop_at_userinfo_introspection_and_refresh_at_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let (access, refresh) = warm_tokens(&app, &org, &rp, &user).await;

    let r = app.post(&format!("/api/v1/users/{}/block", user.id), Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    assert_eq!(userinfo(&app, &org, &access).await.status, 401);
    assert_eq!(post_oauth(&app, &org, "introspect", &rp, &[("token", &access)]).await.body["active"], false);
    let r = post_oauth(&app, &org, "token", &rp, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
}

#[tokio::test]
async fn a_profile_change_shows_in_userinfo_at_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let (access, _) = warm_tokens(&app, &org, &rp, &user).await;

    let r = app.patch(&format!("/api/v1/users/{}", user.id), Some(&org.api_key), &json!({"name": "Renamed"})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = userinfo(&app, &org, &access).await;
    assert_eq!(r.body["name"], "Renamed", "{}", r.text);
}

#[tokio::test]
async fn a_rotated_secret_or_deleted_client_stops_authenticating_at_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let (access, _) = warm_tokens(&app, &org, &rp, &user).await;

    let r = app.post(&format!("/api/v1/oidc/clients/{}/rotate-secret", rp.id), Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rotated = Rp { id: rp.id.clone(), secret: r.str("/client_secret") };
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &access)]).await;
    assert_eq!((r.status, r.body["error"].as_str()), (401, Some("invalid_client")), "the old secret: {}", r.text);
    let r = post_oauth(&app, &org, "introspect", &rotated, &[("token", &access)]).await;
    assert_eq!(r.body["active"], true, "the new secret: {}", r.text);

    let r = app.delete(&format!("/api/v1/oidc/clients/{}", rp.id), Some(&org.api_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post_oauth(&app, &org, "introspect", &rotated, &[("token", &access)]).await;
    assert_eq!((r.status, r.body["error"].as_str()), (401, Some("invalid_client")), "{}", r.text);
    assert_eq!(userinfo(&app, &org, &access).await.status, 401, "a deleted client's tokens end with it");
}

#[tokio::test]
async fn a_redirect_uri_taken_off_a_client_and_a_deleted_client_are_refused_at_authorize_and_consent_at_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let params = base(&rp);
    // Through the pages once, so that this node has the client cached.
    code_for(&app, &org, &rp, &user, &[]).await;
    // A request kept before the client goes, to be finished on the pages after.
    let mut browser = Browser::new(&app);
    let pending = browser.get(&authorize_url(&app, &org, &params)).await;
    let pending_at = location(&pending).expect("to the sign-in page");

    let path = format!("/api/v1/oidc/clients/{}", rp.id);
    let r = app.patch(&path, Some(&org.api_key), &json!({"redirect_uris": ["https://rp.example/other"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = Browser::new(&app).get(&authorize_url(&app, &org, &params)).await;
    assert_eq!((r.status, location(&r)), (400, None), "the URI taken off: {}", r.text);

    let r = app.delete(&path, Some(&org.api_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let moved = with(params, "redirect_uri", "https://rp.example/other");
    let r = Browser::new(&app).get(&authorize_url(&app, &org, &moved)).await;
    assert_eq!((r.status, location(&r)), (400, None), "the deleted client: {}", r.text);
    let r = browser.get(&pending_at).await;
    assert_eq!((r.status, location(&r)), (400, None), "the pending request of a deleted client is gone: {}", r.text);
    assert!(r.text.contains("expired or was already used"), "{}", r.text);
}
