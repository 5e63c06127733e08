//! What the provider refuses: unregistered redirect URIs (shown, never redirected), PKCE mistakes, code
//! reuse (which revokes what the code gave), expired codes, wrong client authentication, another client's
//! code and another organization's client.

use super::*;
use time::Duration;
use zauthy_testkit::browser::Browser;

#[tokio::test]
async fn an_unregistered_or_near_miss_redirect_uri_is_shown_as_an_error_and_never_followed() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    for uri in
        ["https://evil.example/cb", "https://rp.example/cb/", "https://rp.example/cb?x=1", "https://RP.example/cb"]
    {
        let r = browser.get(&authorize_url(&app, &org, &with(base(&rp), "redirect_uri", uri))).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.text);
        assert!(location(&r).is_none(), "{uri} must not be redirected to");
    }
    let r =
        browser.get(&authorize_url(&app, &org, &with(base(&rp), "client_id", "cli_000000000000000000000000"))).await;
    assert_eq!((r.status, location(&r)), (400, None), "unknown client");
    // The same parameter twice is refused (RFC 6749 §3.1).
    let mut twice = base(&rp);
    twice.push(("redirect_uri", "https://evil.example/cb"));
    assert_eq!(browser.get(&authorize_url(&app, &org, &twice)).await.status, 400);
}

#[tokio::test]
async fn bad_parameters_with_a_good_redirect_uri_go_back_to_the_client_as_errors() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let rp = register(&app, &org, json!({})).await;
    let public = register(&app, &org, json!({"name": "SPA", "client_type": "public"})).await;
    let mut browser = Browser::new(&app);
    let cases = [
        (with(base(&rp), "response_type", "token"), "unsupported_response_type"),
        (with(base(&rp), "scope", "openid admin"), "invalid_scope"),
        (with(base(&rp), "code_challenge_method", "plain"), "invalid_request"),
        (with(base(&rp), "prompt", "none login"), "invalid_request"),
        (with(base(&rp), "request", "eyJhbGciOiJub25lIn0.e30."), "request_not_supported"),
        (base(&public).into_iter().filter(|(k, _)| !k.starts_with("code_challenge")).collect(), "invalid_request"),
    ];
    for (params, error) in cases {
        let r = browser.get(&authorize_url(&app, &org, &params)).await;
        let back = callback(&r);
        assert_eq!((back["error"].as_str(), back["state"].as_str()), (error, "s"), "{params:?}");
    }
}

#[tokio::test]
async fn the_code_needs_the_right_pkce_verifier_redirect_uri_and_client() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let other = register(&app, &org, json!({"name": "Other"})).await;

    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let r = exchange(&app, &org, &rp, &code, None).await;
    assert_eq!(r.body["error"], "invalid_grant", "missing verifier: {}", r.text);
    let wrong = "x".repeat(43);
    assert_eq!(exchange(&app, &org, &rp, &code, Some(&wrong)).await.body["error"], "invalid_grant");
    let r = post_oauth(
        &app,
        &org,
        "token",
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(r.body["error"], "invalid_grant", "another redirect_uri");
    assert_eq!(
        exchange(&app, &org, &other, &code, Some(VERIFIER)).await.body["error"],
        "invalid_grant",
        "another client"
    );
    let wrong_secret = Rp { id: rp.id.clone(), secret: "cs_wrong".into() };
    let r = exchange(&app, &org, &wrong_secret, &code, Some(VERIFIER)).await;
    assert_eq!((r.status, r.body["error"].as_str()), (401, Some("invalid_client")));
    // None of those spent it.
    let r = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_code_used_twice_is_refused_and_revokes_the_tokens_it_gave() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let first = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(again.body["error"], "invalid_grant");
    assert_grant_revoked_by_reuse(&app, &org, &rp, &first, "authorization_code").await;
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    app.clock.advance(Duration::seconds(61));
    let r = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
}

#[tokio::test]
async fn another_organizations_client_is_unknown_here_everywhere() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let elsewhere = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    let r = browser.get(&authorize_url(&app, &elsewhere, &base(&rp))).await;
    assert_eq!((r.status, location(&r)), (400, None), "its authorize page does not know the client");
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let r = exchange(&app, &elsewhere, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.body["error"], "invalid_client", "nor its token endpoint: {}", r.text);
    let t = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    let r = app
        .send(app.client.get(app.url(&format!("/o/{}/userinfo", elsewhere.id))).bearer_auth(t.str("/access_token")))
        .await;
    assert_eq!(r.status, 401, "nor its userinfo");
}

#[tokio::test]
async fn the_consent_form_refuses_posts_without_the_csrf_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    let r = browser.get(&authorize_url(&app, &org, &base(&rp))).await;
    let r = browser.follow(r).await;
    let r = browser.sign_in(r, &user.email, &user.password).await;
    let request = hidden_value(&r.text, "request").unwrap();
    let origin = browser.origin();
    let r = zauthy_testkit::browser::post_form(
        &app,
        &mut browser.jar,
        &format!("/o/{}/consent", org.id),
        Some(&origin),
        &[("request", &request), ("decision", "approve")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(location(&r).is_none());
}

#[tokio::test]
async fn a_code_device_code_or_auth_req_id_the_server_never_issued_is_invalid_grant_and_a_missing_one_invalid_request()
{
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let grants = json!({"grant_types": [
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:openid:params:grant-type:ciba"
    ]});
    let rp = register(&app, &org, grants).await;
    let cases = [
        ("authorization_code", "code"),
        ("urn:ietf:params:oauth:grant-type:device_code", "device_code"),
        ("urn:openid:params:grant-type:ciba", "auth_req_id"),
    ];
    for (grant_type, field) in cases {
        for unknown in ["garbage", "x", &"z".repeat(300), "ac_unknown", "dc_unknown", "bcr_unknown"] {
            let r = post_oauth(&app, &org, "token", &rp, &[("grant_type", grant_type), (field, unknown)]).await;
            assert_eq!((r.status, r.error()), (400, "invalid_grant"), "{field}={unknown:.20}: {}", r.text);
        }
        let r = post_oauth(&app, &org, "token", &rp, &[("grant_type", grant_type)]).await;
        assert_eq!((r.status, r.error()), (400, "invalid_request"), "{field} missing: {}", r.text);
    }
}

#[tokio::test]
async fn a_form_body_over_the_size_limit_is_413_at_every_oauth_endpoint() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 16 * 1024).await;
    let org = app.create_org().await;
    let rp = register(&app, &org, json!({})).await;
    let padding = "p".repeat(20 * 1024);
    for endpoint in ["token", "introspect", "revoke", "par", "device_authorization", "bc-authorize"] {
        let r = post_oauth(&app, &org, endpoint, &rp, &[("grant_type", "client_credentials"), ("pad", &padding)]).await;
        assert_eq!((r.status, r.error()), (413, "invalid_request"), "{endpoint}: {}", r.text);
    }
    // Not a form at all is still a 400.
    let r = app
        .send(
            app.client
                .post(app.url(&format!("/o/{}/token", org.id)))
                .basic_auth(&rp.id, Some(&rp.secret))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("{}"),
        )
        .await;
    assert_eq!((r.status, r.error()), (400, "invalid_request"), "{}", r.text);
}
