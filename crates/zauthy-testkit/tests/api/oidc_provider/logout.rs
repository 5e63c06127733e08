//! RP-initiated logout: with the browser's own `id_token_hint` it signs out at once and goes to a registered
//! post-logout URI; anything else asks first, and unregistered URIs are refused.

use super::*;
use zauthy_testkit::browser::Browser;

#[tokio::test]
async fn end_session_with_the_id_token_hint_signs_out_and_returns_to_the_registered_page() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    let start = authorize_url(
        &app,
        &org,
        &[
            ("client_id", rp.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = callback(&approve(&mut browser, &start, &user, None).await)["code"].clone();
    let t = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    let id_token = t.str("/id_token");

    // Unregistered post-logout URIs are refused, not followed.
    let bad =
        format!("/o/{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/", org.id);
    assert_eq!(browser.get(&bad).await.status, 400);
    // Without a hint, the user is asked first (a link elsewhere cannot sign anyone out).
    let r = browser
        .get(&format!("/o/{}/end_session?client_id={}&post_logout_redirect_uri=https://rp.example/bye", org.id, rp.id))
        .await;
    assert!(r.text.contains("confirm-sign-out"), "{}", r.text);
    assert_eq!(browser.get(&format!("/o/{}/account", org.id)).await.status, 200, "still signed in");

    let r = browser
        .get(&format!(
            "/o/{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri=https://rp.example/bye&state=s1",
            org.id
        ))
        .await;
    assert_eq!(location(&r).as_deref(), Some("https://rp.example/bye?state=s1"));
    let r = browser.get(&format!("/o/{}/account", org.id)).await;
    assert!(location(&r).unwrap().contains("/login"), "signed out: {}", r.status);
}
