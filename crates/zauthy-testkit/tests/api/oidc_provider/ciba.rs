//! Backchannel authentication (OpenID CIBA Core 1.0, poll mode): a client names a user by email at
//! `/bc-authorize`, the user is emailed and approves on the hosted `/approvals` page, the client polls the
//! token endpoint and verifies the ID token against the JWKS (`openidconnect` 4); then denial, expiry,
//! unknown users, malformed requests, clients not registered for CIBA and another user's request.

use super::*;
use openidconnect::core::{CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use time::Duration;
use zauthy_testkit::browser::Browser;

pub const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";

async fn ciba_client(app: &TestApp, org: &TestOrg) -> Rp {
    register(app, org, json!({"name": "Acme Bank", "grant_types": [CIBA_GRANT, "refresh_token"]})).await
}

pub(super) async fn bc_authorize(app: &TestApp, org: &TestOrg, rp: &Rp, form: &[(&str, &str)]) -> TestResponse {
    post_oauth(app, org, "bc-authorize", rp, form).await
}

pub(super) async fn poll(app: &TestApp, org: &TestOrg, rp: &Rp, auth_req_id: &str) -> TestResponse {
    post_oauth(app, org, "token", rp, &[("grant_type", CIBA_GRANT), ("auth_req_id", auth_req_id)]).await
}

fn assert_oauth_error(r: &TestResponse, status: u16, error: &str) {
    assert_eq!((r.status, r.body["error"].as_str()), (status, Some(error)), "{}", r.text);
}

/// The approvals page of a browser signed in as `user`.
async fn approvals(browser: &mut Browser<'_>, org: &TestOrg, user: &TestUser) -> TestResponse {
    let r = browser.get(&format!("/o/{}/approvals", org.id)).await;
    let r = browser.follow(r).await;
    if r.text.contains(r#"id="password-form""#) { browser.sign_in(r, &user.email, &user.password).await } else { r }
}

async fn answer(
    browser: &mut Browser<'_>,
    org: &TestOrg,
    page: &TestResponse,
    request: &str,
    decision: &str,
    keep: &[&str],
) -> TestResponse {
    let mut form = vec![("request", request), ("decision", decision)];
    form.extend(keep.iter().map(|s| ("scope", *s)));
    browser.submit(page, &format!("/o/{}/approvals", org.id), &form).await
}

#[tokio::test]
async fn a_client_gets_verified_tokens_after_the_user_approves_its_backchannel_request_on_the_approvals_page() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = ciba_client(&app, &org).await;

    let config = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    assert_eq!(
        config.str("/backchannel_authentication_endpoint"),
        format!("{}/bc-authorize", app.services.issuer(&org.id))
    );
    assert_eq!(config.body["backchannel_token_delivery_modes_supported"], json!(["poll"]));
    assert!(config.body["grant_types_supported"].as_array().unwrap().contains(&json!(CIBA_GRANT)), "{}", config.text);

    let r = bc_authorize(
        &app,
        &org,
        &rp,
        &[
            ("scope", "openid email profile"),
            ("login_hint", &user.email.to_uppercase()),
            ("binding_message", "Pay 12 EUR, ref W4X"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let auth_req_id = r.str("/auth_req_id");
    assert_eq!((r.body["expires_in"].as_i64(), r.body["interval"].as_i64()), (Some(300), Some(5)));
    assert_oauth_error(&poll(&app, &org, &rp, &auth_req_id).await, 400, "authorization_pending");
    assert_oauth_error(&poll(&app, &org, &rp, &auth_req_id).await, 400, "slow_down");

    // The user is told, with the binding message and where to answer.
    let mail = app.email_to(&user.email).await;
    assert!(mail.subject().unwrap().contains("Acme Bank asks to sign you in"), "{:?}", mail.subject());
    let text = mail.text_body();
    assert!(text.contains("Pay 12 EUR, ref W4X"), "{text}");
    assert!(text.contains(&format!("{}/approvals", app.services.issuer(&org.id))), "{text}");

    let mut browser = Browser::new(&app);
    let page = approvals(&mut browser, &org, &user).await;
    assert!(page.text.contains(r#"<strong class="client-name">Acme Bank</strong>"#), "{}", page.text);
    assert!(page.text.contains(r#"<strong class="binding-message">Pay 12 EUR, ref W4X</strong>"#), "{}", page.text);
    assert_eq!(offered_scopes(&page.text), ["openid", "email", "profile"]);
    let request = hidden_value(&page.text, "request").expect("the request to answer");
    let done = answer(&mut browser, &org, &page, &request, "approve", &["email"]).await;
    assert!(done.text.contains(r#"id="request-approved""#), "{}", done.text);

    app.clock.advance(Duration::seconds(10));
    let r = poll(&app, &org, &rp, &auth_req_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "openid email", "profile was unticked");
    let http = openidconnect::reqwest::ClientBuilder::new().build().unwrap();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.services.issuer(&org.id)).unwrap(), &http)
        .await
        .expect("discovery and JWKS");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone())),
    );
    let id_token: CoreIdToken = serde_json::from_value(r.body["id_token"].clone()).expect("a JWT");
    let claims =
        id_token.claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(())).expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), user.id);
    assert_eq!(claims.audiences()[0].as_str(), rp.id);
    assert!(claims.auth_time().is_some());
    let info =
        app.send(app.client.get(app.url(&format!("/o/{}/userinfo", org.id))).bearer_auth(r.str("/access_token"))).await;
    assert_eq!(info.body["email"], user.email.as_str(), "{}", info.text);
    assert!(info.body.get("name").is_none(), "{}", info.text);

    // Tokens once; the answered request leaves the page.
    assert_oauth_error(&poll(&app, &org, &rp, &auth_req_id).await, 400, "invalid_grant");
    let page = approvals(&mut browser, &org, &user).await;
    assert!(page.text.contains(r#"id="no-approvals""#), "{}", page.text);
    let events = app.get("/api/v1/events?type=oidc.backchannel.approved", Some(&org.api_key)).await;
    assert_eq!(events.body["events"][0]["data"]["client_id"], rp.id.as_str(), "{}", events.text);
    assert_eq!(events.body["events"][0]["data"]["scopes"], json!(["openid", "email"]));
}

#[tokio::test]
async fn an_auth_req_id_redeemed_a_second_time_revokes_the_tokens_the_first_redemption_gave() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = ciba_client(&app, &org).await;
    let r =
        bc_authorize(&app, &org, &rp, &[("scope", "openid email offline_access"), ("login_hint", &user.email)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let auth_req_id = r.str("/auth_req_id");
    let mut browser = Browser::new(&app);
    let page = approvals(&mut browser, &org, &user).await;
    let request = hidden_value(&page.text, "request").expect("the request to answer");
    let done = answer(&mut browser, &org, &page, &request, "approve", &["email", "offline_access"]).await;
    assert!(done.text.contains(r#"id="request-approved""#), "{}", done.text);
    let tokens = poll(&app, &org, &rp, &auth_req_id).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &tokens.str("/access_token"))]).await;
    assert_eq!(r.body["active"], true, "{}", r.text);

    // Someone else holds a copy of the auth_req_id: its second redemption ends the grant.
    app.clock.advance(Duration::seconds(5));
    let again = poll(&app, &org, &rp, &auth_req_id).await;
    assert_oauth_error(&again, 400, "invalid_grant");
    assert!(again.body["error_description"].as_str().unwrap().contains("revoked"), "{}", again.text);
    assert_grant_revoked_by_reuse(&app, &org, &rp, &tokens, "auth_req_id").await;
}

#[tokio::test]
async fn a_denied_backchannel_request_answers_access_denied_and_an_unanswered_one_expires() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = ciba_client(&app, &org).await;
    let denied = bc_authorize(&app, &org, &rp, &[("scope", "openid"), ("login_hint", &user.email)]).await;
    let lapsing =
        bc_authorize(&app, &org, &rp, &[("scope", "openid"), ("login_hint", &user.email), ("requested_expiry", "60")])
            .await;
    assert_eq!(lapsing.body["expires_in"], 60, "{}", lapsing.text);

    let mut browser = Browser::new(&app);
    let page = approvals(&mut browser, &org, &user).await;
    assert_eq!(page.text.matches(r#"class="approval""#).count(), 2, "{}", page.text);
    let first = hidden_value(&page.text, "request").unwrap();
    let done = answer(&mut browser, &org, &page, &first, "deny", &[]).await;
    assert!(done.text.contains(r#"id="request-denied""#), "{}", done.text);
    assert_oauth_error(&poll(&app, &org, &rp, &denied.str("/auth_req_id")).await, 400, "access_denied");
    let events = app.get("/api/v1/events?type=oidc.backchannel.denied", Some(&org.api_key)).await;
    assert_eq!(events.body["events"][0]["data"]["user_id"], user.id.as_str(), "{}", events.text);
    // Answered once is answered.
    let again = answer(&mut browser, &org, &page, &first, "approve", &[]).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert!(again.text.contains(r#"data-error="approval_request_expired""#), "{}", again.text);

    let page = approvals(&mut browser, &org, &user).await;
    let second = hidden_value(&page.text, "request").unwrap();
    app.clock.advance(Duration::seconds(61));
    assert_oauth_error(&poll(&app, &org, &rp, &lapsing.str("/auth_req_id")).await, 400, "expired_token");
    let late = answer(&mut browser, &org, &page, &second, "approve", &[]).await;
    assert!(late.text.contains(r#"data-error="approval_request_expired""#), "{}", late.text);
    let page = approvals(&mut browser, &org, &user).await;
    assert!(page.text.contains(r#"id="no-approvals""#), "expired requests are not listed: {}", page.text);
}

#[tokio::test]
async fn backchannel_requests_are_refused_for_unknown_users_malformed_hints_and_clients_not_registered_for_ciba() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other_org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let stranger = app.signup_user(&other_org.api_key).await;
    let rp = ciba_client(&app, &org).await;
    let email = user.email.as_str();

    for (form, status, error) in [
        (vec![("scope", "openid"), ("login_hint", "nobody@example.com")], 400, "unknown_user_id"),
        (vec![("scope", "openid"), ("login_hint", stranger.email.as_str())], 400, "unknown_user_id"),
        (vec![("scope", "openid"), ("login_hint", "not an email")], 400, "unknown_user_id"),
        (vec![("scope", "email"), ("login_hint", email)], 400, "invalid_scope"),
        (vec![("scope", "openid admin"), ("login_hint", email)], 400, "invalid_scope"),
        (vec![("scope", "openid")], 400, "invalid_request"),
        (vec![("scope", "openid"), ("login_hint_token", "x")], 400, "invalid_request"),
        (vec![("scope", "openid"), ("login_hint", email), ("id_token_hint", "x")], 400, "invalid_request"),
        (vec![("scope", "openid"), ("login_hint", email), ("requested_expiry", "86400")], 400, "invalid_request"),
    ] {
        let r = bc_authorize(&app, &org, &rp, &form).await;
        assert_oauth_error(&r, status, error);
    }
    let long = "x".repeat(101);
    let r =
        bc_authorize(&app, &org, &rp, &[("scope", "openid"), ("login_hint", email), ("binding_message", &long)]).await;
    assert_oauth_error(&r, 400, "invalid_binding_message");
    let wrong = Rp { id: rp.id.clone(), secret: "cs_wrong".into() };
    assert_oauth_error(
        &bc_authorize(&app, &org, &wrong, &[("scope", "openid"), ("login_hint", email)]).await,
        401,
        "invalid_client",
    );
    // Another organization's client does not exist here.
    let foreign = ciba_client(&app, &other_org).await;
    assert_oauth_error(
        &bc_authorize(&app, &org, &foreign, &[("scope", "openid"), ("login_hint", email)]).await,
        401,
        "invalid_client",
    );

    let web = register(&app, &org, json!({})).await;
    assert_oauth_error(
        &bc_authorize(&app, &org, &web, &[("scope", "openid"), ("login_hint", email)]).await,
        400,
        "unauthorized_client",
    );
    assert_oauth_error(&poll(&app, &org, &web, "bcr_anything").await, 400, "unauthorized_client");
    assert_oauth_error(&poll(&app, &org, &rp, "bcr_unknown").await, 400, "invalid_grant");
    assert_oauth_error(
        &post_oauth(&app, &org, "token", &rp, &[("grant_type", CIBA_GRANT)]).await,
        400,
        "invalid_request",
    );

    // A blocked account is refused outright.
    let r = app.post(&format!("/api/v1/users/{}/block", user.id), Some(&org.api_key), &json!({})).await;
    assert!(r.status < 300, "{}", r.text);
    assert_oauth_error(
        &bc_authorize(&app, &org, &rp, &[("scope", "openid"), ("login_hint", email)]).await,
        403,
        "access_denied",
    );
}

#[tokio::test]
async fn a_user_cannot_answer_another_users_backchannel_request_and_a_client_cannot_poll_anothers() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let alice = app.signup_user(&org.api_key).await;
    let mallory = app.signup_user(&org.api_key).await;
    let rp = ciba_client(&app, &org).await;
    let other_rp = ciba_client(&app, &org).await;
    let started = bc_authorize(&app, &org, &rp, &[("scope", "openid"), ("login_hint", &alice.email)]).await;

    let mut alices = Browser::new(&app);
    let page = approvals(&mut alices, &org, &alice).await;
    let request = hidden_value(&page.text, "request").unwrap();
    let mut mallorys = Browser::new(&app);
    let theirs = approvals(&mut mallorys, &org, &mallory).await;
    assert!(theirs.text.contains(r#"id="no-approvals""#), "only the named user sees it: {}", theirs.text);
    // Their page has no form; their own CSRF cookie (set by the page) goes with the forged answer.
    let token = mallorys.jar.get("zauthy_csrf").expect("the page sets a CSRF cookie").to_owned();
    let origin = mallorys.origin();
    let r = zauthy_testkit::browser::post_form(
        &app,
        &mut mallorys.jar,
        &format!("/o/{}/approvals", org.id),
        Some(&origin),
        &[("csrf_token", &token), ("request", &request), ("decision", "approve")],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains(r#"data-error="approval_request_expired""#), "{}", r.text);
    // Without the CSRF token the answer is refused too.
    let origin = alices.origin();
    let r = zauthy_testkit::browser::post_form(
        &app,
        &mut alices.jar,
        &format!("/o/{}/approvals", org.id),
        Some(&origin),
        &[("request", &request), ("decision", "approve")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);

    assert_oauth_error(&poll(&app, &org, &other_rp, &started.str("/auth_req_id")).await, 400, "invalid_grant");
    assert_oauth_error(&poll(&app, &org, &rp, &started.str("/auth_req_id")).await, 400, "authorization_pending");
}
