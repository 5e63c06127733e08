//! Pairwise subject identifiers (OIDC Core §8.1): a pairwise client sees each user under a `sub` derived
//! for its sector (the host of its redirect URIs), the same in every token and answer it gets, the same for
//! clients of one sector, different across sectors, and never the user's id.

use super::*;

const OTHER_REDIRECT: &str = "https://other.example/cb";

/// The `sub` of an ID token `rp` gets for `user` through the pages, with `redirect` as its redirect URI,
/// and the token response.
async fn sub_at(
    app: &TestApp,
    org: &TestOrg,
    rp: &Rp,
    redirect: &str,
    browser: &mut Browser<'_>,
    user: &TestUser,
) -> (String, TestResponse) {
    let start = authorize_url(
        app,
        org,
        &[
            ("client_id", rp.id.as_str()),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("scope", "openid email offline_access"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let r = approve(browser, &start, user, None).await;
    let to = location(&r).unwrap_or_else(|| panic!("back to the client: {} {}", r.status, r.text));
    assert!(to.starts_with(redirect), "{to}");
    let code = url::Url::parse(&to).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", VERIFIER),
    ];
    let tokens = post_oauth(app, org, "token", rp, &form).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    (super::flow::jwt_claims(&tokens.str("/id_token"))["sub"].as_str().unwrap().to_owned(), tokens)
}

#[tokio::test]
async fn a_pairwise_client_sees_one_sub_for_its_sector_in_every_token_and_other_sectors_see_another() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let discovery = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    assert_eq!(discovery.body["subject_types_supported"], json!(["public", "pairwise"]), "{}", discovery.text);
    let public = register(&app, &org, json!({})).await;
    let pairwise = register(&app, &org, json!({"subject_type": "pairwise"})).await;
    let same_host = register(&app, &org, json!({"subject_type": "pairwise", "name": "Acme Admin"})).await;
    let other_host = register(&app, &org, json!({"subject_type": "pairwise", "redirect_uris": [OTHER_REDIRECT]})).await;
    let mut browser = Browser::new(&app);

    let (public_sub, _) = sub_at(&app, &org, &public, REDIRECT, &mut browser, &user).await;
    assert_eq!(public_sub, user.id, "a public client sees the user's id");
    let (sub, tokens) = sub_at(&app, &org, &pairwise, REDIRECT, &mut browser, &user).await;
    assert_ne!(sub, user.id);
    assert!(!sub.contains(&user.id), "{sub}");
    let (again, _) = sub_at(&app, &org, &pairwise, REDIRECT, &mut browser, &user).await;
    assert_eq!(again, sub, "stable from one sign-in to the next");
    let (same, _) = sub_at(&app, &org, &same_host, REDIRECT, &mut browser, &user).await;
    assert_eq!(same, sub, "clients of one sector see the same sub");
    let (other, _) = sub_at(&app, &org, &other_host, OTHER_REDIRECT, &mut browser, &user).await;
    assert_ne!(other, sub, "another sector cannot link the user");
    assert_ne!(other, user.id);

    // Everything the pairwise client is given names the user by that sub.
    let access = tokens.str("/access_token");
    assert_eq!(super::flow::jwt_claims(&access)["sub"], sub.as_str());
    let userinfo = app.send(app.client.get(app.url(&format!("/o/{}/userinfo", org.id))).bearer_auth(&access)).await;
    assert_eq!(userinfo.body["sub"], sub.as_str(), "{}", userinfo.text);
    assert_eq!(userinfo.body["email"], user.email.as_str());
    let introspected = post_oauth(&app, &org, "introspect", &pairwise, &[("token", &access)]).await;
    assert_eq!((introspected.body["active"].clone(), introspected.body["sub"].clone()), (json!(true), json!(sub)));
    let refreshed = post_oauth(
        &app,
        &org,
        "token",
        &pairwise,
        &[("grant_type", "refresh_token"), ("refresh_token", &tokens.str("/refresh_token"))],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(super::flow::jwt_claims(&refreshed.str("/id_token"))["sub"], sub.as_str());
}

#[tokio::test]
async fn a_pairwise_client_keeps_its_sector_so_its_redirect_uris_cannot_move_to_another_host() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let create = |extra: Value| {
        let mut body = json!({"name": "Acme", "redirect_uris": [REDIRECT]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let r = app
        .post(
            "/api/v1/oidc/clients",
            Some(&org.api_key),
            &create(json!({"subject_type": "pairwise", "redirect_uris": [REDIRECT, OTHER_REDIRECT]})),
        )
        .await;
    assert_eq!((r.status, r.error()), (400, "invalid_subject_type"), "{}", r.text);
    let r = app.post("/api/v1/oidc/clients", Some(&org.api_key), &create(json!({"subject_type": "secret"}))).await;
    assert_eq!((r.status, r.error()), (400, "invalid_subject_type"), "{}", r.text);

    let r = app.post("/api/v1/oidc/clients", Some(&org.api_key), &create(json!({"subject_type": "pairwise"}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["subject_type"].clone(), r.body["sector_identifier"].clone()),
        (json!("pairwise"), json!("rp.example"))
    );
    let path = format!("/api/v1/oidc/clients/{}", r.str("/client_id"));
    let moved = json!({"redirect_uris": [OTHER_REDIRECT]});
    let r = app.patch(&path, Some(&org.api_key), &moved).await;
    assert_eq!((r.status, r.error()), (400, "invalid_redirect_uri"), "{}", r.text);
    let r = app.patch(&path, Some(&org.api_key), &json!({"redirect_uris": [REDIRECT, "https://rp.example/cb2"]})).await;
    assert_eq!(r.status, 200, "another path on the same host is fine: {}", r.text);
    assert_eq!(r.body["sector_identifier"], "rp.example");

    // Public again: no sector, and the redirect URIs may go anywhere.
    let r = app.patch(&path, Some(&org.api_key), &json!({"subject_type": "public"})).await;
    assert_eq!((r.body["subject_type"].clone(), r.body["sector_identifier"].clone()), (json!("public"), json!(null)));
    assert_eq!(app.patch(&path, Some(&org.api_key), &moved).await.status, 200);

    // A client without redirect URIs is its own sector.
    let machine = json!({"name": "Batch", "redirect_uris": [], "grant_types": ["client_credentials"], "subject_type": "pairwise"});
    let r = app.post("/api/v1/oidc/clients", Some(&org.api_key), &machine).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["sector_identifier"], r.body["client_id"]);
}
