//! The device authorization grant (RFC 8628): an independent client (`openidconnect` 4, which drives the
//! `oauth2` crate's device flow) polls while the user approves on the hosted `/device` page; then the
//! polling rules over raw HTTP (pending, slow_down with a growing interval, denied, expired, single use),
//! wrong user codes, and who may use the grant.

use super::*;
use openidconnect::core::{CoreClient, CoreDeviceAuthorizationResponse, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    ClientId, ClientSecret, DeviceAuthorizationUrl, IssuerUrl, Nonce, OAuth2TokenResponse, Scope, TokenResponse,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::Duration;
use zauthy_testkit::browser::Browser;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ";

async fn device_client(app: &TestApp, org: &TestOrg) -> Rp {
    register(app, org, json!({"name": "Living Room TV", "grant_types": [DEVICE_GRANT, "refresh_token"]})).await
}

pub(super) async fn start(app: &TestApp, org: &TestOrg, rp: &Rp, scope: &str) -> TestResponse {
    let r = post_oauth(app, org, "device_authorization", rp, &[("scope", scope)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

pub(super) async fn poll(app: &TestApp, org: &TestOrg, rp: &Rp, device_code: &str) -> TestResponse {
    post_oauth(app, org, "token", rp, &[("grant_type", DEVICE_GRANT), ("device_code", device_code)]).await
}

fn assert_oauth_error(r: &TestResponse, error: &str) {
    assert_eq!((r.status, r.body["error"].as_str()), (400, Some(error)), "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

/// Signs the browser in through the page `url` leads to and returns the page it lands on afterwards.
pub(super) async fn signed_in_at(browser: &mut Browser<'_>, url: &str, user: &TestUser) -> TestResponse {
    let r = browser.get(url).await;
    let r = browser.follow(r).await;
    if r.text.contains(r#"id="password-form""#) { browser.sign_in(r, &user.email, &user.password).await } else { r }
}

/// Answers the confirmation page `page` (approve keeping `keep`, or deny) for its user code.
pub(super) async fn answer(
    browser: &mut Browser<'_>,
    org: &TestOrg,
    page: &TestResponse,
    approve: bool,
    keep: &[&str],
) -> TestResponse {
    let code = hidden_value(&page.text, "user_code").expect("the confirmation names its user code");
    let mut form = vec![("user_code", code.as_str()), ("decision", if approve { "approve" } else { "deny" })];
    form.extend(keep.iter().map(|s| ("scope", *s)));
    browser.submit(page, &format!("/o/{}/device", org.id), &form).await
}

#[tokio::test]
async fn an_independent_client_gets_tokens_by_device_code_once_the_user_approves_on_the_hosted_page() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = device_client(&app, &org).await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let config = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    let endpoint = config.str("/device_authorization_endpoint");
    assert_eq!(endpoint, format!("{}/device_authorization", app.services.issuer(&org.id)));
    assert!(config.body["grant_types_supported"].as_array().unwrap().contains(&json!(DEVICE_GRANT)), "{}", config.text);
    let issuer = IssuerUrl::new(app.services.issuer(&org.id)).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("discovery and JWKS");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone())),
    )
    .set_device_authorization_url(DeviceAuthorizationUrl::new(endpoint).unwrap());

    let details: CoreDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&http)
        .await
        .expect("the device authorization request");
    let user_code = details.user_code().secret().clone();
    assert!(
        user_code.len() == 9
            && user_code.chars().enumerate().all(|(i, c)| if i == 4 { c == '-' } else { ALPHABET.contains(c) }),
        "XXXX-XXXX from the unambiguous alphabet: {user_code}"
    );
    assert_eq!(details.verification_uri().as_str(), format!("{}/device", app.services.issuer(&org.id)));
    let complete = details.verification_uri_complete().expect("verification_uri_complete").secret().clone();
    assert!(complete.ends_with(&format!("/device?user_code={user_code}")), "{complete}");
    assert_eq!(details.interval(), std::time::Duration::from_secs(5));
    assert_eq!(details.expires_in(), std::time::Duration::from_secs(600));

    // The client polls; each wait moves the server's clock by the interval and, the first time, holds until
    // the user has answered on the hosted page.
    let (approved_tx, approved_rx) = tokio::sync::watch::channel(false);
    let waits = Arc::new(AtomicUsize::new(0));
    let waiting = Arc::new(tokio::sync::Notify::new());
    let (clock, counter, first_wait) = (app.clock.clone(), waits.clone(), waiting.clone());
    let sleep = move |interval: std::time::Duration| {
        let (clock, counter, mut approved) = (clock.clone(), counter.clone(), approved_rx.clone());
        first_wait.notify_one();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = approved.wait_for(|done| *done).await;
            clock.advance(Duration::try_from(interval).unwrap());
        }
    };
    let polling =
        async { client.exchange_device_access_token(&details).unwrap().request_async(&http, sleep, None).await };
    let user_side = async {
        let mut browser = Browser::new(&app);
        // Scanned on a phone that is not signed in yet: the login page first, then back to the code.
        let page = signed_in_at(&mut browser, &complete, &user).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.text.contains(r#"<strong id="client-name">Living Room TV</strong>"#), "{}", page.text);
        assert!(page.text.contains(&format!(r#"<strong id="user-code">{user_code}</strong>"#)), "{}", page.text);
        assert!(page.text.contains(r#"<svg"#) && page.text.contains(r#"id="qr""#), "a QR code of the page");
        assert_eq!(offered_scopes(&page.text), ["openid", "email", "profile", "offline_access"]);
        // Only once the client has been told authorization_pending does the user answer.
        waiting.notified().await;
        // The user keeps email and offline_access, unticks profile.
        let done = answer(&mut browser, &org, &page, true, &["email", "offline_access"]).await;
        assert!(done.text.contains(r#"id="device-approved""#), "{}", done.text);
        approved_tx.send(true).unwrap();
    };
    let (tokens, ()) = tokio::join!(polling, user_side);
    let tokens = tokens.expect("tokens once the user approved");
    assert!(waits.load(Ordering::SeqCst) >= 1, "the first poll was answered authorization_pending");

    let verifier = client.id_token_verifier();
    let claims = tokens
        .id_token()
        .expect("an ID token for openid")
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .expect("the ID token verifies against the JWKS");
    assert_eq!(claims.subject().as_str(), user.id);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("urn:zauthy:acr:sfa"));
    let scopes: Vec<String> = tokens.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    assert_eq!(scopes, ["openid", "email", "offline_access"], "profile was unticked");
    assert!(tokens.refresh_token().is_some(), "offline_access gives a refresh token");
    let info: CoreUserInfoClaims =
        client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&http).await.expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some(user.email.as_str()));
    assert!(info.name().is_none(), "no profile claims");
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", tokens.access_token().secret())]).await;
    assert_eq!(r.body["active"], true, "{}", r.text);

    // The device code works once.
    app.clock.advance(Duration::seconds(5));
    assert_oauth_error(&poll(&app, &org, &rp, details.device_code().secret()).await, "invalid_grant");
    // The approval is remembered as consent and recorded.
    let r = app.get("/api/v1/oidc/consents", Some(&user.access_token)).await;
    assert_eq!(r.body["consents"][0]["scopes"], json!(["openid", "email", "offline_access"]), "{}", r.text);
    let events = app.get("/api/v1/events?type=oidc.device.approved", Some(&org.api_key)).await;
    assert_eq!(events.body["events"][0]["data"]["client_id"], rp.id.as_str(), "{}", events.text);
    assert_eq!(events.body["events"][0]["data"]["user_id"], user.id.as_str());
}

#[tokio::test]
async fn a_device_code_redeemed_a_second_time_revokes_the_tokens_the_first_redemption_gave() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = device_client(&app, &org).await;
    let started = start(&app, &org, &rp, "openid email offline_access").await;
    let device_code = started.str("/device_code");
    let mut browser = Browser::new(&app);
    let page = signed_in_at(&mut browser, &started.str("/verification_uri_complete"), &user).await;
    let done = answer(&mut browser, &org, &page, true, &["email", "offline_access"]).await;
    assert!(done.text.contains(r#"id="device-approved""#), "{}", done.text);
    let tokens = poll(&app, &org, &rp, &device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &tokens.str("/access_token"))]).await;
    assert_eq!(r.body["active"], true, "{}", r.text);

    // Someone else holds a copy of the device code: its second redemption ends the grant.
    app.clock.advance(Duration::seconds(5));
    let again = poll(&app, &org, &rp, &device_code).await;
    assert_oauth_error(&again, "invalid_grant");
    assert!(again.body["error_description"].as_str().unwrap().contains("revoked"), "{}", again.text);
    assert_grant_revoked_by_reuse(&app, &org, &rp, &tokens, "device_code").await;
}

#[tokio::test]
async fn polling_early_slows_the_client_down_with_a_growing_interval_and_a_denial_answers_access_denied() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = device_client(&app, &org).await;
    let started = start(&app, &org, &rp, "openid").await;
    let device_code = started.str("/device_code");

    assert_oauth_error(&poll(&app, &org, &rp, &device_code).await, "authorization_pending");
    assert_oauth_error(&poll(&app, &org, &rp, &device_code).await, "slow_down");
    // The interval is now 10 s: 6 s later is still too early, and raises it to 15 s.
    app.clock.advance(Duration::seconds(6));
    let r = poll(&app, &org, &rp, &device_code).await;
    assert_oauth_error(&r, "slow_down");
    assert!(r.body["error_description"].as_str().unwrap().contains("15"), "{}", r.text);
    app.clock.advance(Duration::seconds(15));
    assert_oauth_error(&poll(&app, &org, &rp, &device_code).await, "authorization_pending");

    let mut browser = Browser::new(&app);
    let page = signed_in_at(&mut browser, &started.str("/verification_uri_complete"), &user).await;
    let done = answer(&mut browser, &org, &page, false, &[]).await;
    assert!(done.text.contains(r#"id="device-denied""#), "{}", done.text);
    app.clock.advance(Duration::seconds(15));
    assert_oauth_error(&poll(&app, &org, &rp, &device_code).await, "access_denied");
    // A decided code cannot be answered again.
    let again = browser.get(&started.str("/verification_uri_complete")).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert!(again.text.contains("invalid or has expired"), "{}", again.text);
    let events = app.get("/api/v1/events?type=oidc.device.denied", Some(&org.api_key)).await;
    assert_eq!(events.body["events"][0]["data"]["client_id"], rp.id.as_str(), "{}", events.text);
    let r = app.get("/api/v1/oidc/consents", Some(&user.access_token)).await;
    assert_eq!(r.body["consents"], json!([]), "a denial remembers nothing: {}", r.text);
}

#[tokio::test]
async fn an_unanswered_device_code_expires_after_ten_minutes() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = device_client(&app, &org).await;
    let started = start(&app, &org, &rp, "openid email").await;
    let mut browser = Browser::new(&app);
    let page = signed_in_at(&mut browser, &started.str("/verification_uri_complete"), &user).await;
    assert!(page.text.contains(r#"id="device-form""#), "{}", page.text);

    app.clock.advance(Duration::seconds(601));
    assert_oauth_error(&poll(&app, &org, &rp, &started.str("/device_code")).await, "expired_token");
    // Approving the expired code fails with the form again, and nothing is issued.
    let late = answer(&mut browser, &org, &page, true, &["email"]).await;
    assert_eq!(late.status, 400, "{}", late.text);
    assert!(
        late.text.contains(r#"id="user-code-form""#) && late.text.contains("invalid or has expired"),
        "{}",
        late.text
    );
    assert_oauth_error(&poll(&app, &org, &rp, &started.str("/device_code")).await, "expired_token");
}

#[tokio::test]
async fn wrong_user_codes_only_ever_read_invalid_or_expired_and_guessing_is_cut_off() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other_org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = device_client(&app, &org).await;
    let foreign_rp = device_client(&app, &other_org).await;
    let foreign = start(&app, &other_org, &foreign_rp, "openid").await;
    let mine = start(&app, &org, &rp, "openid").await;

    // Not signed in: to the login page, which comes back to the code.
    let mut browser = Browser::new(&app);
    let r = browser.get(&format!("/o/{}/device?user_code=BCDF-GHJK", org.id)).await;
    let to = location(&r).expect("a redirect to sign in");
    assert!(to.starts_with(&format!("/o/{}/login?return_to=", org.id)), "{to}");
    assert!(to.contains("user_code%3DBCDF-GHJK"), "{to}");
    let entry = signed_in_at(&mut browser, &format!("/o/{}/device", org.id), &user).await;
    assert!(entry.text.contains(r#"id="user-code-form""#), "{}", entry.text);

    let mut attempts = 0;
    for typed in ["BCDF-GHJK", "hello", "AAAA-AAAA", &foreign.str("/user_code")] {
        let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("user_code", typed).finish();
        let r = browser.get(&format!("/o/{}/device?{q}", org.id)).await;
        attempts += 1;
        assert_eq!(r.status, 400, "{typed}: {}", r.text);
        assert!(r.text.contains("This code is invalid or has expired"), "{typed}: {}", r.text);
        assert!(!r.text.contains("Living Room TV"), "nothing about any client leaks");
    }
    // Typed in lower case with spaces, the real code is found.
    let typed = mine.str("/user_code").to_lowercase().replace('-', " ");
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("user_code", &typed).finish();
    let r = browser.get(&format!("/o/{}/device?{q}", org.id)).await;
    attempts += 1;
    assert!(r.text.contains(r#"id="device-form""#), "{}", r.text);

    // Every lookup counts; past twenty in ten minutes the page refuses, even the right code.
    for _ in attempts..20 {
        let r = browser.get(&format!("/o/{}/device?user_code=ZZZZ-ZZZZ", org.id)).await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    let r = browser.get(&mine.str("/verification_uri_complete")).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    // The device code itself still waits for an answer.
    assert_oauth_error(&poll(&app, &org, &rp, &mine.str("/device_code")).await, "authorization_pending");
}

#[tokio::test]
async fn only_clients_registered_for_the_device_grant_get_codes_and_a_public_client_polls_with_its_id() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let web = register(&app, &org, json!({})).await;
    let r = post_oauth(&app, &org, "device_authorization", &web, &[("scope", "openid")]).await;
    assert_oauth_error(&r, "unauthorized_client");
    let tv = device_client(&app, &org).await;
    assert_oauth_error(
        &post_oauth(&app, &org, "device_authorization", &tv, &[("scope", "openid admin")]).await,
        "invalid_scope",
    );
    assert_oauth_error(&post_oauth(&app, &org, "device_authorization", &tv, &[]).await, "invalid_scope");
    let wrong = Rp { id: tv.id.clone(), secret: "cs_wrong".into() };
    let r = post_oauth(&app, &org, "device_authorization", &wrong, &[("scope", "openid")]).await;
    assert_eq!((r.status, r.body["error"].as_str()), (401, Some("invalid_client")), "{}", r.text);

    let public = register(
        &app,
        &org,
        json!({"client_type": "public", "token_endpoint_auth_method": "none", "grant_types": [DEVICE_GRANT]}),
    )
    .await;
    let form = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("client_id", public.id.as_str())];
        pairs.extend_from_slice(extra);
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
    };
    let post = |path: &str, body: String| {
        app.client
            .post(app.url(&format!("/o/{}/{path}", org.id)))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
    };
    let r = app.send(post("device_authorization", form(&[("scope", "openid")]))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let device_code = r.str("/device_code");
    let r = app.send(post("token", form(&[("grant_type", DEVICE_GRANT), ("device_code", &device_code)]))).await;
    assert_oauth_error(&r, "authorization_pending");
    // Another client cannot redeem it.
    app.clock.advance(Duration::seconds(5));
    assert_oauth_error(&poll(&app, &org, &tv, &device_code).await, "invalid_grant");
    assert_oauth_error(&poll(&app, &org, &tv, "dc_unknown").await, "invalid_grant");
    assert_oauth_error(&post_oauth(&app, &org, "token", &tv, &[("grant_type", DEVICE_GRANT)]).await, "invalid_request");
}

#[tokio::test]
async fn a_client_that_requires_mfa_gets_device_approvals_only_from_users_with_a_second_factor() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, _) = crate::mfa::enrol(&app, &user).await;
    let rp = register(&app, &org, json!({"require_mfa": true, "grant_types": [DEVICE_GRANT]})).await;

    let started = start(&app, &org, &rp, "openid").await;
    let mut browser = Browser::new(&app);
    let r = signed_in_at(&mut browser, &started.str("/verification_uri_complete"), &user).await;
    assert!(r.text.contains(r#"name="mfa_token""#), "the second factor is asked for: {}", r.text);
    let token = hidden_value(&r.text, "mfa_token").unwrap();
    let return_to = hidden_value(&r.text, "return_to").unwrap();
    let code = crate::mfa::code_now(&app, &secret);
    let r = browser
        .submit(
            &r,
            &format!("/o/{}/login/mfa", org.id),
            &[("mfa_token", &token), ("return_to", &return_to), ("code", &code)],
        )
        .await;
    let page = browser.follow(r).await;
    assert!(page.text.contains(r#"id="device-form""#), "back to the code after the second factor: {}", page.text);
    let done = answer(&mut browser, &org, &page, true, &[]).await;
    assert!(done.text.contains(r#"id="device-approved""#), "{}", done.text);
    let r = poll(&app, &org, &rp, &started.str("/device_code")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let claims = super::flow::jwt_claims(&r.str("/id_token"));
    assert_eq!(claims["acr"], "urn:zauthy:acr:mfa");

    // A user with no second factor cannot approve: the request is declined.
    let other = app.signup_user(&org.api_key).await;
    let started = start(&app, &org, &rp, "openid").await;
    let mut browser = Browser::new(&app);
    let r = signed_in_at(&mut browser, &started.str("/verification_uri_complete"), &other).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains(r#"data-error="mfa_not_enabled""#), "{}", r.text);
    assert_oauth_error(&poll(&app, &org, &rp, &started.str("/device_code")).await, "access_denied");
}
