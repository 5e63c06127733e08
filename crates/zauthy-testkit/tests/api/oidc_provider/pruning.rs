//! Pruning short-lived records (`Services::prune_expired_records`, which the server runs every
//! `prune_interval_secs`): rows made through the real flows, the clock moved past their expiry and the grace
//! hour, then what is gone (it now reads "unknown" instead of "expired") and what still works. Spent codes,
//! device codes and refresh tokens stay while their grant can still have live tokens, so reuse is still caught;
//! a grant goes once nothing refers to it, its remembered consent stays. The account-side kinds are tested in
//! `accounts::pruning`.

use super::ciba::{self, CIBA_GRANT};
use super::device::{self, DEVICE_GRANT};
use super::private_key_jwt::{JWT_BEARER, assertion, client_key, token_with};
use super::*;
use time::Duration;
use zauthy_core::prune::{PRUNE_GRACE, Prunable, PruneReport};
use zauthy_testkit::browser::Browser;

/// A client allowed every grant whose records are pruned.
async fn every_grant(app: &TestApp, org: &TestOrg) -> Rp {
    register(app, org, json!({"grant_types": ["authorization_code", "refresh_token", DEVICE_GRANT, CIBA_GRANT]})).await
}

async fn prune(app: &TestApp) -> PruneReport {
    app.services.prune_expired_records().await.expect("pruning")
}

fn assert_refused(r: &TestResponse, error: &str, description: &str) {
    assert_eq!(r.body["error"], error, "{}", r.text);
    let said = r.body["error_description"].as_str().unwrap_or_default();
    assert!(said.contains(description), "expected {description:?}: {}", r.text);
}

/// A device code `user` approved (for `scope`) and the tokens its first redemption gave.
async fn redeemed_device_code(
    app: &TestApp,
    org: &TestOrg,
    rp: &Rp,
    user: &TestUser,
    scope: &str,
) -> (String, TestResponse) {
    let started = device::start(app, org, rp, scope).await;
    let mut browser = Browser::new(app);
    let page = device::signed_in_at(&mut browser, &started.str("/verification_uri_complete"), user).await;
    let keep: Vec<&str> = scope.split(' ').collect();
    let done = device::answer(&mut browser, org, &page, true, &keep).await;
    assert!(done.text.contains(r#"id="device-approved""#), "{}", done.text);
    let device_code = started.str("/device_code");
    let tokens = device::poll(app, org, rp, &device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    (device_code, tokens)
}

#[tokio::test]
async fn abandoned_requests_codes_and_polling_grants_are_deleted_an_hour_after_expiry_and_live_ones_keep_working() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = every_grant(&app, &org).await;
    let request = [
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];

    // Nobody authenticated any of these: a sign-in never finished, a pushed request never used, a code never
    // exchanged, a device code and a backchannel request nobody answered, a laptop waiting for a phone.
    let mut browser = Browser::new(&app);
    let r = browser.get(&authorize_url(&app, &org, &request)).await;
    assert!(location(&r).is_some_and(|l| l.contains("request=areq_")), "kept for the pages: {} {}", r.status, r.text);
    let r = post_oauth(&app, &org, "par", &rp, &request).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let stale_code = code_for(&app, &org, &rp, &user, &[]).await;
    let stale_device_code = device::start(&app, &org, &rp, "openid").await.str("/device_code");
    let r = ciba::bc_authorize(&app, &org, &rp, &[("scope", "openid"), ("login_hint", &user.email)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stale_auth_req_id = r.str("/auth_req_id");
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&request[..2]).finish();
    let r = Browser::new(&app).get(&format!("/o/{}/discovery?{query}", org.id)).await;
    assert_eq!(r.status, 200, "the laptop's page: {}", r.text);

    // All expired, but within the grace hour: nothing goes yet.
    app.clock.advance(Duration::minutes(11));
    assert_eq!(prune(&app).await, PruneReport::default());
    assert_refused(&device::poll(&app, &org, &rp, &stale_device_code).await, "expired_token", "expired");

    app.clock.advance(PRUNE_GRACE);
    let live_code = code_for(&app, &org, &rp, &user, &[]).await;
    let live_device_code = device::start(&app, &org, &rp, "openid").await.str("/device_code");
    let report = prune(&app).await;
    assert_eq!(
        report.deleted,
        [
            // The abandoned one, the pushed one and the one the stale code came from.
            (Prunable::AuthRequests, 3),
            (Prunable::AuthCodes, 1),
            (Prunable::DeviceFlows, 1),
            (Prunable::BackchannelRequests, 1),
            (Prunable::CrossDeviceRequests, 1),
        ]
    );
    // What is gone is unknown now rather than expired.
    assert_refused(&exchange(&app, &org, &rp, &stale_code, Some(VERIFIER)).await, "invalid_grant", "unknown");
    assert_refused(&device::poll(&app, &org, &rp, &stale_device_code).await, "invalid_grant", "unknown");
    assert_refused(&ciba::poll(&app, &org, &rp, &stale_auth_req_id).await, "invalid_grant", "unknown");
    // What is live still works.
    let r = exchange(&app, &org, &rp, &live_code, Some(VERIFIER)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_refused(&device::poll(&app, &org, &rp, &live_device_code).await, "authorization_pending", "");
    assert_eq!(prune(&app).await, PruneReport::default(), "a second run finds nothing");
}

#[tokio::test]
async fn spent_codes_and_device_codes_stay_while_their_grant_can_have_live_tokens_so_reuse_is_still_caught() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = every_grant(&app, &org).await;
    // With offline_access a refresh token keeps each grant alive for weeks; without, nothing of it outlives
    // its access token.
    let kept_code = code_for(&app, &org, &rp, &user, &[]).await;
    let kept_tokens = exchange(&app, &org, &rp, &kept_code, Some(VERIFIER)).await;
    assert!(kept_tokens.body["refresh_token"].is_string(), "{}", kept_tokens.text);
    let done_code = code_for(&app, &org, &rp, &user, &[("scope", "openid email")]).await;
    let done_tokens = exchange(&app, &org, &rp, &done_code, Some(VERIFIER)).await;
    assert!(done_tokens.body.get("refresh_token").is_none(), "{}", done_tokens.text);
    let (kept_device_code, kept_device_tokens) =
        redeemed_device_code(&app, &org, &rp, &user, "openid offline_access").await;
    let (done_device_code, _) = redeemed_device_code(&app, &org, &rp, &user, "openid").await;

    // Past the grace hour after the codes expired, and past the access tokens' 15 minutes.
    app.clock.advance(PRUNE_GRACE + Duration::minutes(16));
    let report = prune(&app).await;
    assert_eq!(
        report.deleted,
        [
            (Prunable::AuthRequests, 2),
            (Prunable::AuthCodes, 1),
            (Prunable::DeviceFlows, 1),
            // Their grants, which nothing refers to any more.
            (Prunable::Grants, 2),
        ]
    );
    // Those had nothing left to revoke.
    let r = exchange(&app, &org, &rp, &done_code, Some(VERIFIER)).await;
    assert_refused(&r, "invalid_grant", "unknown");
    assert_refused(&device::poll(&app, &org, &rp, &done_device_code).await, "invalid_grant", "unknown");
    // These still catch a copy being used: their grants end.
    let r = exchange(&app, &org, &rp, &kept_code, Some(VERIFIER)).await;
    assert_refused(&r, "invalid_grant", "revoked");
    assert_grant_revoked_by_reuse(&app, &org, &rp, &kept_tokens, "authorization_code").await;
    assert_refused(&device::poll(&app, &org, &rp, &kept_device_code).await, "invalid_grant", "revoked");
    assert_grant_revoked_by_reuse(&app, &org, &rp, &kept_device_tokens, "device_code").await;
    // Now that their grants are revoked they guard nothing either.
    assert_eq!(prune(&app).await.deleted, [(Prunable::AuthCodes, 1), (Prunable::DeviceFlows, 1)]);
}

#[tokio::test]
async fn rotated_refresh_tokens_stay_until_every_refresh_token_of_their_grant_has_expired() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let first = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    let refresh = |token: String| {
        let (app, org, rp) = (&app, &org, &rp);
        async move { post_oauth(app, org, "token", rp, &[("grant_type", "refresh_token"), ("refresh_token", &token)]).await }
    };
    let second = refresh(first.str("/refresh_token")).await;
    assert_eq!(second.status, 200, "{}", second.text);

    // The spent code and the rotated-out token still guard a live grant.
    app.clock.advance(PRUNE_GRACE + Duration::minutes(16));
    assert_eq!(prune(&app).await.deleted, [(Prunable::AuthRequests, 1)]);
    // Thirty days on, the grant's newest refresh token has expired too: nothing of it can be live.
    app.clock.advance(Duration::days(30));
    assert_eq!(
        prune(&app).await.deleted,
        [
            (Prunable::AuthCodes, 1),
            (Prunable::ClientRefreshTokens, 2),
            (Prunable::Grants, 1),
            // The week-long idle timeout has ended the sessions too: the owner's, the signup's and the browser's
            // that signed in for the code.
            (Prunable::SessionRefreshTokens, 3),
            (Prunable::BrowserSessions, 1),
            (Prunable::Sessions, 3),
        ]
    );
    assert_refused(&refresh(first.str("/refresh_token")).await, "invalid_grant", "unknown");
    assert_refused(&refresh(second.str("/refresh_token")).await, "invalid_grant", "unknown");
}

#[tokio::test]
async fn a_grant_nothing_refers_to_any_more_goes_but_its_remembered_consent_stays_and_live_grants_keep_working() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    // A code never exchanged; one exchanged without offline_access (nothing of its grant outlives the access
    // token); and one whose refresh token keeps its grant alive.
    code_for(&app, &org, &rp, &user, &[]).await;
    let done_code = code_for(&app, &org, &rp, &user, &[("scope", "openid email")]).await;
    let done = exchange(&app, &org, &rp, &done_code, Some(VERIFIER)).await;
    assert!(done.body.get("refresh_token").is_none(), "{}", done.text);
    let kept_code = code_for(&app, &org, &rp, &user, &[]).await;
    let kept = exchange(&app, &org, &rp, &kept_code, Some(VERIFIER)).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    let consents = app.get("/api/v1/oidc/consents", Some(&user.access_token)).await;
    assert_eq!(consents.body["consents"][0]["client_id"], rp.id.as_str(), "{}", consents.text);

    // The unexchanged code is gone, so nothing refers to its grant; but the grant is younger than an access
    // token's lifetime before the cutoff, and stays for now.
    app.clock.advance(PRUNE_GRACE + Duration::minutes(11));
    assert_eq!(prune(&app).await.deleted, [(Prunable::AuthRequests, 3), (Prunable::AuthCodes, 1)]);
    // Five minutes on, the exchanged code's access token has expired too: it and both grants go.
    app.clock.advance(Duration::minutes(5));
    assert_eq!(prune(&app).await.deleted, [(Prunable::AuthCodes, 1), (Prunable::Grants, 2)]);
    assert_eq!(prune(&app).await, PruneReport::default(), "a second run finds nothing");
    assert_refused(&exchange(&app, &org, &rp, &done_code, Some(VERIFIER)).await, "invalid_grant", "unknown");
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &done.str("/access_token"))]).await;
    assert_eq!(r.body["active"], false, "{}", r.text);

    // Remembered consent is not a grant: it stays, as it was.
    let fresh = app.login(&org.api_key, &user.email, &user.password).await;
    let after = app.get("/api/v1/oidc/consents", Some(&fresh.str("/access_token"))).await;
    assert_eq!(after.body["consents"], consents.body["consents"], "{}", after.text);
    // The live grant's guarding code stayed, and its refresh token still refreshes.
    let r = post_oauth(
        &app,
        &org,
        "token",
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &kept.str("/refresh_token"))],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_refused(&exchange(&app, &org, &rp, &kept_code, Some(VERIFIER)).await, "invalid_grant", "revoked");
}

#[tokio::test]
async fn refresh_tokens_of_a_revoked_grant_go_an_hour_after_the_revocation_without_waiting_for_their_expiry() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let revoked = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await.str("/refresh_token");
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let kept = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await.str("/refresh_token");
    let refresh = |token: String| {
        let (app, org, rp) = (&app, &org, &rp);
        async move { post_oauth(app, org, "token", rp, &[("grant_type", "refresh_token"), ("refresh_token", &token)]).await }
    };
    let r = post_oauth(&app, &org, "revoke", &rp, &[("token", &revoked)]).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Within the grace hour after the revocation the token is still known, as revoked.
    app.clock.advance(Duration::minutes(30));
    assert_eq!(prune(&app).await, PruneReport::default());
    assert_refused(&refresh(revoked.clone()).await, "invalid_grant", "revoked");

    // Thirty days before its own expiry, the revoked grant's token goes, then the grant with nothing left.
    app.clock.advance(PRUNE_GRACE - Duration::minutes(14));
    assert_eq!(
        prune(&app).await.deleted,
        [
            (Prunable::AuthRequests, 2),
            (Prunable::AuthCodes, 1),
            (Prunable::ClientRefreshTokens, 1),
            (Prunable::Grants, 1),
        ]
    );
    assert_refused(&refresh(revoked).await, "invalid_grant", "unknown");
    let r = refresh(kept).await;
    assert_eq!(r.status, 200, "the live grant's token still refreshes: {}", r.text);
}

#[tokio::test]
async fn an_assertion_id_and_an_mfa_challenge_are_kept_until_they_expire_and_deleted_after_the_grace_hour() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let key = client_key("k1");
    let body = json!({
        "name": "Signed", "redirect_uris": [REDIRECT], "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.jwk]},
    });
    let r = app.post("/api/v1/oidc/clients", Some(&org.api_key), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token_url = app.services.issuer(&org.id) + "/token";
    let signed = assertion(&app, &key, &r.str("/client_id"), &token_url, "once", 300);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", signed.as_str()),
    ];
    assert_eq!(token_with(&app, &org, &form).await.status, 200);
    let user = app.signup_user(&org.api_key).await;
    let (secret, _) = crate::mfa::enrol(&app, &user).await;
    let login = app.login(&org.api_key, &user.email, &user.password).await;
    let stale_mfa_token = login.str("/mfa_token");

    // Until the assertion's own exp its id is remembered: the replay is refused.
    app.clock.advance(Duration::minutes(4));
    assert_eq!(prune(&app).await, PruneReport::default());
    assert_eq!(token_with(&app, &org, &form).await.body["error"], "invalid_client");

    app.clock.advance(PRUNE_GRACE + Duration::minutes(2));
    let report = prune(&app).await;
    assert_eq!(report.deleted, [(Prunable::ClientAssertions, 1), (Prunable::MfaChallenges, 1)]);
    let verify = |token: String| {
        let (app, org, secret) = (&app, &org, &secret);
        async move {
            let body = json!({"mfa_token": token, "code": crate::mfa::code_now(app, secret)});
            app.post("/api/v1/mfa/totp/verify", Some(&org.api_key), &body).await
        }
    };
    assert_eq!(verify(stale_mfa_token).await.error(), "invalid_mfa_token", "unknown now, no longer expired");
    let login = app.login(&org.api_key, &user.email, &user.password).await;
    let r = verify(login.str("/mfa_token")).await;
    assert_eq!(r.status, 200, "a new sign-in still completes: {}", r.text);
}

#[tokio::test]
async fn the_server_prunes_by_itself_every_prune_interval() {
    let app = TestApp::spawn_with(|config| config.prune_interval_secs = 1).await;
    let org = app.create_org().await;
    let rp = every_grant(&app, &org).await;
    let device_code = device::start(&app, &org, &rp, "openid").await.str("/device_code");
    app.clock.advance(PRUNE_GRACE + Duration::minutes(11));
    // The job runs on its own: wait (at most ten seconds) for the device code to be forgotten.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = device::poll(&app, &org, &rp, &device_code).await;
        if r.body["error_description"].as_str().is_some_and(|d| d.contains("unknown")) {
            break;
        }
        assert_eq!(r.body["error"], "expired_token", "{}", r.text);
        assert!(std::time::Instant::now() < deadline, "the pruning job did not run");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_nodes_pruning_at_the_same_moment_delete_each_row_once_without_errors() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let rp = every_grant(&app, &org).await;
    for _ in 0..12 {
        device::start(&app, &org, &rp, "openid").await;
    }
    app.clock.advance(PRUNE_GRACE + Duration::minutes(11));
    let (a, b) = tokio::join!(app.services.prune_expired_records(), app.services.prune_expired_records());
    let (a, b) = (a.expect("one run"), b.expect("the other run"));
    assert_eq!(a.of(Prunable::DeviceFlows) + b.of(Prunable::DeviceFlows), 12, "{a:?} {b:?}");
    assert_eq!(a.total() + b.total(), 12, "{a:?} {b:?}");
}
