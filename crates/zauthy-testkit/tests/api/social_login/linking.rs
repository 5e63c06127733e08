//! Which account an upstream identity reaches: an existing one only by an explicit link or a verified email
//! the provider allows; linking by the signed-in user; unlinking that keeps a way to sign in; and
//! organizations that never see each other's providers, states or identities.

use super::{
    APP_REDIRECT, Upstream, add_provider, assert_error, callback, downstream, events, init, social_sign_in,
    through_upstream, upstream, verify_email,
};
use serde_json::json;
use zauthy_testkit::{PASSWORD, TestApp};

#[tokio::test]
async fn an_existing_account_is_reached_by_email_only_when_verified_on_both_sides_and_allowed() {
    let app = TestApp::spawn().await;
    let up = upstream(&app).await;
    let org = downstream(&app, &up, "upstream", json!({})).await;
    let local = app.signup(&org.api_key, &up.user.email, PASSWORD).await;
    assert_eq!(local.status, 201, "{}", local.text);
    let local_id = local.str("/user/id");

    // Same email, but the provider does not link by email: a clear refusal, never a silent takeover.
    assert_error(&social_sign_in(&app, &org, "upstream", &up.user).await, 409, "oauth_account_exists");

    let r = app
        .send(
            app.client
                .patch(app.url("/api/v1/organizations/me/oauth-providers/upstream"))
                .bearer_auth(&org.api_key)
                .json(&json!({"link_by_verified_email": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Allowed now, but neither address is proven yet.
    assert_error(&social_sign_in(&app, &org, "upstream", &up.user).await, 409, "oauth_account_exists");
    verify_email(&app, &up.org, &up.user.email).await;
    assert_error(&social_sign_in(&app, &org, "upstream", &up.user).await, 409, "oauth_account_exists");
    verify_email(&app, &org, &up.user.email).await;

    let r = social_sign_in(&app, &org, "upstream", &up.user).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.str("/user/id"), local_id, "the verified email reached the existing account");
    assert_eq!(events(&app, &org.id, "oauth.linked").await[0]["via"], "verified_email");
    let social_signups =
        events(&app, &org.id, "user.signup").await.into_iter().filter(|e| e["method"] == "oauth").count();
    assert_eq!(social_signups, 0, "no second account");
}

#[tokio::test]
async fn a_signed_in_user_links_a_provider_and_then_signs_in_with_it() {
    let app = TestApp::spawn().await;
    let up = upstream(&app).await;
    let org = downstream(&app, &up, "upstream", json!({"allow_signup": false})).await;
    let local = app.signup_user(&org.api_key).await;
    assert_error(&social_sign_in(&app, &org, "upstream", &up.user).await, 403, "oauth_signup_disabled");

    let r = app
        .post(
            "/api/v1/auth/oauth/link",
            Some(&local.access_token),
            &json!({"provider": "upstream", "redirect_url": APP_REDIRECT}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let returned = through_upstream(&app, &up.user, &r.str("/authorization_url")).await;
    // Only the user who started the link may finish it: not the API key, not another user.
    assert_error(&callback(&app, &org.api_key, &returned).await, 401, "user_token_required");
    let someone = app.signup_user(&org.api_key).await;
    assert_error(&callback(&app, &someone.access_token, &returned).await, 400, "invalid_oauth_state");
    let linked = callback(&app, &local.access_token, &returned).await;

    assert_eq!(linked.status, 200, "{}", linked.text);
    assert_eq!(linked.body["linked"], true);
    assert_eq!(linked.str("/user/id"), local.id);
    assert_eq!(linked.body["identity"]["provider"], "upstream");
    assert_eq!(events(&app, &org.id, "oauth.linked").await[0]["via"], "link");
    let r = social_sign_in(&app, &org, "upstream", &up.user).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.str("/user/id"), local.id, "the linked identity signs in to the account it was linked to");

    // The same upstream account cannot be linked to a second user, and one user has one identity per provider.
    let r = app
        .post(
            "/api/v1/auth/oauth/link",
            Some(&local.access_token),
            &json!({"provider": "upstream", "redirect_url": APP_REDIRECT}),
        )
        .await;
    assert_error(&r, 409, "oauth_provider_already_linked");
    let r = app
        .post(
            "/api/v1/auth/oauth/link",
            Some(&someone.access_token),
            &json!({"provider": "upstream", "redirect_url": APP_REDIRECT}),
        )
        .await;
    let returned = through_upstream(&app, &up.user, &r.str("/authorization_url")).await;
    assert_error(&callback(&app, &someone.access_token, &returned).await, 409, "oauth_identity_in_use");
}

#[tokio::test]
async fn unlinking_is_refused_when_it_would_leave_no_way_to_sign_in() {
    let app = TestApp::spawn().await;
    let up = upstream(&app).await;
    let org = downstream(&app, &up, "upstream", json!({})).await;
    let social = social_sign_in(&app, &org, "upstream", &up.user).await;
    assert_eq!(social.status, 200, "{}", social.text);
    let token = social.str("/access_token");

    let r = app.delete("/api/v1/auth/oauth/unlink/upstream", Some(&token)).await;
    assert_error(&r, 409, "last_sign_in_method");
    assert_error(
        &app.delete("/api/v1/auth/oauth/unlink/upstream", Some(&org.api_key)).await,
        401,
        "user_token_required",
    );
    assert_error(&app.delete("/api/v1/auth/oauth/unlink/google", Some(&token)).await, 404, "not_found");

    // With a second provider linked, the first one can go.
    let second = upstream(&app).await;
    add_provider(&app, &org, &second, "second", json!({})).await;
    let r = app
        .post("/api/v1/auth/oauth/link", Some(&token), &json!({"provider": "second", "redirect_url": APP_REDIRECT}))
        .await;
    let returned = through_upstream(&app, &second.user, &r.str("/authorization_url")).await;
    assert_eq!(callback(&app, &token, &returned).await.status, 200);

    let r = app.send(app.client.post(app.url("/api/v1/auth/oauth/unlink/upstream")).bearer_auth(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(events(&app, &org.id, "oauth.unlinked").await[0]["provider"], "upstream");
    let identities = app.get("/api/v1/auth/oauth/identities", Some(&token)).await;
    assert_eq!(identities.body["identities"].as_array().unwrap().len(), 1, "{}", identities.text);
    assert_error(&app.delete("/api/v1/auth/oauth/unlink/second", Some(&token)).await, 409, "last_sign_in_method");

    // A password-holder may drop their only provider.
    let holder = app.signup_user(&org.api_key).await;
    let third = upstream(&app).await;
    add_provider(&app, &org, &third, "third", json!({})).await;
    let r = app
        .post(
            "/api/v1/auth/oauth/link",
            Some(&holder.access_token),
            &json!({"provider": "third", "redirect_url": APP_REDIRECT}),
        )
        .await;
    let returned = through_upstream(&app, &third.user, &r.str("/authorization_url")).await;
    assert_eq!(callback(&app, &holder.access_token, &returned).await.status, 200);
    assert_eq!(app.delete("/api/v1/auth/oauth/unlink/third", Some(&holder.access_token)).await.status, 200);
}

/// Links `provider` (served by `up`) to the account behind `token`.
async fn link(app: &TestApp, token: &str, up: &Upstream, provider: &str) {
    let r = app
        .post("/api/v1/auth/oauth/link", Some(token), &json!({"provider": provider, "redirect_url": APP_REDIRECT}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let returned = through_upstream(app, &up.user, &r.str("/authorization_url")).await;
    let r = callback(app, token, &returned).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The slugs of the providers linked to the account behind `token`.
async fn linked(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.get("/api/v1/auth/oauth/identities", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["identities"].as_array().unwrap().iter().map(|i| i["provider"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn two_concurrent_unlinks_of_an_account_with_two_providers_and_no_password_leave_one_linked() {
    let app = TestApp::spawn().await;
    let first = upstream(&app).await;
    let org = downstream(&app, &first, "first", json!({})).await;
    let social = social_sign_in(&app, &org, "first", &first.user).await;
    assert_eq!(social.status, 200, "{}", social.text);
    let token = social.str("/access_token");
    let second = upstream(&app).await;
    add_provider(&app, &org, &second, "second", json!({})).await;
    link(&app, &token, &second, "second").await;

    // Each round both unlinks race; the check and the delete must not interleave, so one of them is refused.
    for round in 0..4 {
        assert_eq!(linked(&app, &token).await.len(), 2, "round {round} starts with both linked");
        let (a, b) = tokio::join!(
            app.delete("/api/v1/auth/oauth/unlink/first", Some(&token)),
            app.delete("/api/v1/auth/oauth/unlink/second", Some(&token)),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {} / {}", a.text, b.text);
        let refused = if a.status == 409 { &a } else { &b };
        assert_error(refused, 409, "last_sign_in_method");
        let left = linked(&app, &token).await;
        assert_eq!(left.len(), 1, "round {round}: exactly one provider stays linked");
        match left[0].as_str() {
            "first" => link(&app, &token, &second, "second").await,
            _ => link(&app, &token, &first, "first").await,
        }
    }
}

#[tokio::test]
async fn organizations_never_see_each_others_providers_states_or_identities() {
    let app = TestApp::spawn().await;
    let up = upstream(&app).await;
    let org = downstream(&app, &up, "upstream", json!({})).await;
    let other = downstream(&app, &up, "elsewhere", json!({})).await;

    let (url, _) = init(&app, &org, "upstream").await;
    let returned = through_upstream(&app, &up.user, &url).await;
    assert_error(&callback(&app, &other.api_key, &returned).await, 400, "invalid_oauth_state");
    let r = app
        .post(
            "/api/v1/auth/oauth/init",
            Some(&other.api_key),
            &json!({"provider": "upstream", "redirect_url": APP_REDIRECT}),
        )
        .await;
    assert_error(&r, 400, "oauth_provider_unavailable");
    assert_error(
        &app.get("/api/v1/organizations/me/oauth-providers/upstream", Some(&other.api_key)).await,
        404,
        "not_found",
    );

    let mine = callback(&app, &org.api_key, &returned).await;
    let theirs = social_sign_in(&app, &other, "elsewhere", &up.user).await;
    assert_eq!((mine.status, theirs.status), (200, 200), "{} {}", mine.text, theirs.text);
    assert_ne!(
        mine.str("/user/id"),
        theirs.str("/user/id"),
        "one upstream account, one separate user per organization"
    );
    let token = theirs.str("/access_token");
    assert_error(&app.delete("/api/v1/auth/oauth/unlink/upstream", Some(&token)).await, 404, "not_found");
    let listed = app.get("/api/v1/auth/oauth/providers", Some(&other.api_key)).await;
    assert_eq!(listed.body["providers"], json!([{"provider": "elsewhere", "type": "oidc", "name": "Upstream"}]));
}
