//! The whole trip against a real upstream: init, the upstream organization's sign-in and consent pages, back
//! to the application, the callback; a new user, the same user next time, `form_post`, and the refusals
//! (replayed state, tampered nonce, foreign issuer, a code the upstream rejects); an abandoned sign-in's state
//! pruned.

use super::{Returned, assert_error, callback, downstream, events, init, social_sign_in, through_upstream, upstream};
use serde_json::json;
use zauthy_core::prune::{PRUNE_GRACE, Prunable};
use zauthy_testkit::TestApp;

#[tokio::test]
async fn signing_in_through_another_organization_creates_a_user_and_answers_like_login() {
    let app = TestApp::spawn().await;
    let up = upstream(&app).await;
    let org = downstream(&app, &up, "upstream", json!({})).await;
    let (url, state) = init(&app, &org, "upstream").await;
    assert!(url.starts_with(&format!("{}/o/{}/authorize?", app.address, up.org.id)), "{url}");

    let returned = through_upstream(&app, &up.user, &url).await;
    assert_eq!(returned.get("state"), state);
    let r = callback(&app, &org.api_key, &returned).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], false);
    assert_eq!(r.body["user"]["email"], up.user.email.as_str());
    assert_ne!(r.str("/user/id"), up.user.id, "a user of the downstream organization, not the upstream's");
    let verified = app.verify(&org.api_key, &r.str("/access_token")).await;
    assert_eq!((verified.status, verified.body["valid"].clone()), (200, json!(true)), "{}", verified.text);
    assert_eq!(app.refresh(&r.str("/refresh_token")).await.status, 200);
    let user_id = r.str("/user/id");
    let signup = &events(&app, &org.id, "user.signup").await[0];
    assert_eq!((signup["method"].as_str(), signup["provider"].as_str()), (Some("oauth"), Some("upstream")));
    let linked = &events(&app, &org.id, "oauth.linked").await[0];
    assert_eq!((linked["user_id"].as_str(), linked["via"].as_str()), (Some(user_id.as_str()), Some("signup")));
    assert_eq!(events(&app, &org.id, "user.login").await[0]["method"], "oauth");
    let identities = app.get("/api/v1/auth/oauth/identities", Some(&r.str("/access_token"))).await;
    assert_eq!(identities.body["identities"][0]["provider"], "upstream", "{}", identities.text);
    assert_eq!(identities.body["identities"][0]["subject"], up.user.id.as_str(), "zauthy's sub is the user id");

    // The state was spent: the same answer handed in twice is refused.
    assert_error(&callback(&app, &org.api_key, &returned).await, 400, "oauth_state_used");

    let again = social_sign_in(&app, &org, "upstream", &up.user).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.str("/user/id"), user_id, "the same upstream identity signs in to the same user");
    let social_signups =
        events(&app, &org.id, "user.signup").await.into_iter().filter(|e| e["method"] == "oauth").count();
    assert_eq!(social_signups, 1);
}

#[tokio::test]
async fn a_form_post_provider_brings_the_code_back_in_an_auto_submitted_form() {
    let app = TestApp::spawn().await;
    let up = upstream(&app).await;
    let org = downstream(&app, &up, "upstream", json!({"response_mode": "form_post"})).await;
    let (url, _) = init(&app, &org, "upstream").await;
    assert!(url.contains("response_mode=form_post"), "{url}");

    let returned = through_upstream(&app, &up.user, &url).await;
    let r = callback(&app, &org.api_key, &returned).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["email"], up.user.email.as_str());
}

#[tokio::test]
async fn a_tampered_nonce_a_foreign_issuer_or_a_rejected_code_is_refused() {
    let app = TestApp::spawn().await;
    let up = upstream(&app).await;
    let org = downstream(&app, &up, "upstream", json!({})).await;

    // An attacker swaps the nonce on the way to the provider: the ID token then carries theirs.
    let (url, _) = init(&app, &org, "upstream").await;
    let mut tampered = url::Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == "nonce" { (k, "attacker-nonce".to_owned()) } else { (k, v) })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let returned = through_upstream(&app, &up.user, tampered.as_str()).await;
    let r = callback(&app, &org.api_key, &returned).await;
    assert_error(&r, 401, "invalid_id_token");
    assert!(r.text.contains("nonce"), "{}", r.text);

    // The response names another issuer (a mix-up): refused before any code is sent anywhere.
    let (url, _) = init(&app, &org, "upstream").await;
    let mut returned = through_upstream(&app, &up.user, &url).await;
    assert_eq!(returned.get("iss"), format!("{}/o/{}", app.address, up.org.id));
    for (k, v) in returned.0.iter_mut() {
        if k == "iss" {
            *v = format!("{}/o/{}", app.address, org.id);
        }
    }
    assert_error(&callback(&app, &org.api_key, &returned).await, 400, "oauth_issuer_mismatch");

    // A code the provider never issued.
    let (url, _) = init(&app, &org, "upstream").await;
    let returned = through_upstream(&app, &up.user, &url).await;
    let mut code = returned.get("code");
    let last = code.pop().unwrap();
    code.push(if last == 'A' { 'B' } else { 'A' });
    let forged = Returned(vec![("state".to_owned(), returned.get("state")), ("code".to_owned(), code)]);
    let r = callback(&app, &org.api_key, &forged).await;
    assert_error(&r, 400, "oauth_exchange_failed");
    let social_signups =
        events(&app, &org.id, "user.signup").await.into_iter().filter(|e| e["method"] == "oauth").count();
    assert_eq!(social_signups, 0, "no account came out of any of these");
}

#[tokio::test]
async fn a_discovery_document_that_names_another_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let mut up = upstream(&app).await;
    let org = app.create_org().await;
    // The document is served at 127.0.0.1, but the upstream calls itself localhost: not the same issuer.
    up.discovery_url = format!("{}/o/{}/.well-known/openid-configuration", app.url(""), up.org.id);
    let body = json!({"type": "oidc", "provider": "upstream", "client_id": up.client_id,
        "client_secret": up.client_secret, "discovery_url": up.discovery_url});
    let r = app.post("/api/v1/organizations/me/oauth-providers", Some(&org.api_key), &body).await;
    assert_error(&r, 502, "discovery_failed");
    assert!(r.text.contains("issuer"), "{}", r.text);
}

#[tokio::test]
async fn an_abandoned_sign_ins_state_is_pruned_an_hour_after_it_expires_and_a_new_sign_in_still_works() {
    let app = TestApp::spawn().await;
    let up = upstream(&app).await;
    let org = downstream(&app, &up, "upstream", json!({})).await;
    let (_, state) = init(&app, &org, "upstream").await;
    let abandoned = Returned(vec![("state".to_owned(), state), ("code".to_owned(), "never-issued".to_owned())]);
    app.clock.advance(time::Duration::minutes(11));
    assert_eq!(app.services.prune_expired_records().await.unwrap().total(), 0, "within the grace hour");
    assert_error(&callback(&app, &org.api_key, &abandoned).await, 400, "oauth_state_expired");

    app.clock.advance(PRUNE_GRACE);
    let report = app.services.prune_expired_records().await.unwrap();
    assert_eq!(report.deleted, [(Prunable::OAuthStates, 1)]);
    assert_error(&callback(&app, &org.api_key, &abandoned).await, 400, "invalid_oauth_state");
    let r = social_sign_in(&app, &org, "upstream", &up.user).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
