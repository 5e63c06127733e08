//! The secondary-device flow (seed 001) and carrier discovery: the laptop shows a code, the signed-in phone
//! approves, the laptop goes back to the client with a `login_hint_token` that signs the user in at
//! `/authorize` without asking again: once, for that client only. A trusted laptop skips the code.

use super::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};
use zauthy_testkit::browser::Browser;

/// The client, through the independent RP library: `/authorize` with the `login_hint_token` in a browser
/// where nobody is signed in, the code exchanged and the ID token verified. Returns the token's subject and
/// granted scope.
async fn rp_signs_in_with_hint(app: &TestApp, org: &TestOrg, rp: &Rp, hint: &str) -> (String, String) {
    let http = super::flow::rp_http();
    let issuer = IssuerUrl::new(app.services.issuer(&org.id)).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_extra_param("login_hint_token", hint)
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = Browser::new(app);
    let r = browser.get(url.as_str()).await;
    let r = browser.follow(r).await;
    let back = callback(&r);
    assert_eq!(back.get("state"), Some(csrf.secret()));
    let code = back.get("code").unwrap_or_else(|| panic!("signed in without asking: {back:?}")).clone();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let claims = tokens.id_token().unwrap().claims(&client.id_token_verifier(), &nonce).expect("a valid ID token");
    let scope = tokens.scopes().map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")).unwrap_or_default();
    (claims.subject().as_str().to_owned(), scope)
}

fn user_code(page: &str) -> String {
    let marker = r#"id="user-code">"#;
    let at = page.find(marker).unwrap_or_else(|| panic!("no code on:\n{page}"));
    page[at + marker.len()..].split('<').next().unwrap().to_owned()
}

fn discovery_path(org: &TestOrg, rp: &Rp) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", rp.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "laptop"),
            ("scope", "openid email"),
        ])
        .finish();
    format!("/o/{}/discovery?{q}", org.id)
}

async fn status(laptop: &mut Browser<'_>, org: &TestOrg) -> String {
    laptop.get(&format!("/o/{}/discovery/status", org.id)).await.body["status"].as_str().unwrap_or_default().to_owned()
}

/// The phone (signed in as `user`) approves what `path` shows, keeping `scopes`, optionally trusting the laptop.
async fn phone_approves(phone: &mut Browser<'_>, org: &TestOrg, user: &TestUser, path: &str, trust: bool) {
    let r = phone.get(path).await;
    let r = if location(&r).is_some_and(|l| l.contains("/login")) {
        let login = phone.follow(r).await;
        phone.sign_in(login, &user.email, &user.password).await
    } else {
        r
    };
    assert!(r.text.contains(r#"id="approve-form""#), "{}", r.text);
    assert!(r.text.contains("Acme Web"), "the phone shows which service asks");
    let request = hidden_value(&r.text, "request").unwrap();
    let mut form = vec![("request", request.as_str()), ("decision", "approve"), ("scope", "email")];
    if trust {
        form.push(("trust", "1"));
    }
    let done = phone.submit(&r, &format!("/o/{}/approve", org.id), &form).await;
    assert!(done.text.contains(r#"id="done""#), "{}", done.text);
}

/// The laptop, once approved: back at the client with a login_hint_token.
async fn laptop_completes(laptop: &mut Browser<'_>, org: &TestOrg) -> std::collections::HashMap<String, String> {
    assert_eq!(status(laptop, org).await, "answered");
    let r = laptop.get(&format!("/o/{}/discovery/complete", org.id)).await;
    callback(&r)
}

async fn authorize_with_hint(app: &TestApp, org: &TestOrg, rp: &Rp, hint: &str) -> TestResponse {
    let params = [
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "rp"),
        ("login_hint_token", hint),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    // A fresh browser: nobody is signed in on it.
    let mut browser = Browser::new(app);
    let r = browser.get(&authorize_url(app, org, &params)).await;
    browser.follow(r).await
}

#[tokio::test]
async fn the_phone_approves_a_laptop_sign_in_and_the_login_hint_token_signs_in_once_for_that_client() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let other = register(&app, &org, json!({"name": "Other"})).await;
    let r = app.patch("/api/v1/organizations/me/settings", Some(&org.api_key), &json!({"mccmnc": ["310410"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let mut laptop = Browser::new(&app);
    let page = laptop.get(&discovery_path(&org, &rp)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains(r#"id="qr""#) && page.text.contains("<svg"), "a QR code");
    let code = user_code(&page.text);
    assert_eq!(status(&mut laptop, &org).await, "pending");

    let mut phone = Browser::new(&app);
    phone_approves(&mut phone, &org, &user, &format!("/o/{}/approve?code={code}", org.id), false).await;
    let back = laptop_completes(&mut laptop, &org).await;
    assert_eq!((back["state"].as_str(), back["mccmnc"].as_str()), ("laptop", "310410"));
    let hint = back["login_hint_token"].clone();

    let r = authorize_with_hint(&app, &org, &other, &hint).await;
    assert_eq!(callback(&r)["error"], "invalid_request", "another client cannot use it");
    let (subject, scope) = rp_signs_in_with_hint(&app, &org, &rp, &hint).await;
    assert_eq!(subject, user.id);
    assert_eq!(scope, "openid email", "the scopes approved on the phone");
    let r = authorize_with_hint(&app, &org, &rp, &hint).await;
    assert_eq!(callback(&r)["error"], "invalid_request", "a login_hint_token works once");
}

#[tokio::test]
async fn a_trusted_laptop_needs_no_code_the_request_waits_on_the_phone() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut laptop = Browser::new(&app);
    let mut phone = Browser::new(&app);
    let page = laptop.get(&discovery_path(&org, &rp)).await;
    let code = user_code(&page.text);
    phone_approves(&mut phone, &org, &user, &format!("/o/{}/approve?code={code}", org.id), true).await;
    laptop_completes(&mut laptop, &org).await;
    assert!(laptop.jar.get("zauthy_trusted").is_some(), "the laptop is now trusted");

    let page = laptop.get(&discovery_path(&org, &rp)).await;
    assert!(page.text.contains(r#"id="trusted""#), "{}", page.text);
    let list = phone.get(&format!("/o/{}/approve", org.id)).await;
    let marker = r#"class="pending-request" href=""#;
    let at = list.text.find(marker).unwrap_or_else(|| panic!("the request is listed on the phone: {}", list.text));
    let link = list.text[at + marker.len()..].split('"').next().unwrap().replace("&amp;", "&");
    phone_approves(&mut phone, &org, &user, &link, false).await;
    let back = laptop_completes(&mut laptop, &org).await;
    assert!(back["login_hint_token"].starts_with("lht_"));
    // Someone else's phone does not see it.
    let stranger = app.signup_user(&org.api_key).await;
    let mut other_phone = Browser::new(&app);
    let login = other_phone.get(&format!("/o/{}/login", org.id)).await;
    other_phone.sign_in(login, &stranger.email, &stranger.password).await;
    let list = other_phone.get(&format!("/o/{}/approve", org.id)).await;
    assert!(!list.text.contains("pending-request"));
}

#[tokio::test]
async fn a_denial_on_the_phone_sends_the_laptop_back_with_access_denied_and_wrong_codes_are_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut laptop = Browser::new(&app);
    let page = laptop.get(&discovery_path(&org, &rp)).await;
    let code = user_code(&page.text);
    let mut phone = Browser::new(&app);
    let r = phone.get(&format!("/o/{}/approve?code=00000000", org.id)).await;
    let login = phone.follow(r).await;
    let r = phone.sign_in(login, &user.email, &user.password).await;
    assert!(r.text.contains(r#"id="error""#) && !r.text.contains("approve-form"), "{}", r.text);
    let r = phone.get(&format!("/o/{}/approve?code={code}", org.id)).await;
    let request = hidden_value(&r.text, "request").unwrap();
    phone.submit(&r, &format!("/o/{}/approve", org.id), &[("request", &request), ("decision", "deny")]).await;
    let back = laptop_completes(&mut laptop, &org).await;
    assert_eq!((back["error"].as_str(), back["state"].as_str()), ("access_denied", "laptop"));
    // The answered request cannot be approved afterwards.
    let r = phone.get(&format!("/o/{}/approve?code={code}", org.id)).await;
    assert!(!r.text.contains("approve-form"));
}

#[tokio::test]
async fn an_unapproved_laptop_request_expires() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let rp = register(&app, &org, json!({})).await;
    let mut laptop = Browser::new(&app);
    laptop.get(&discovery_path(&org, &rp)).await;
    app.clock.advance(time::Duration::minutes(6));
    assert_eq!(status(&mut laptop, &org).await, "expired");
    let r = laptop.get(&format!("/o/{}/discovery/complete", org.id)).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn carrier_discovery_answers_for_the_mccmnc_and_sends_the_user_to_the_discovery_page_without_one() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other_org = app.create_org().await;
    let rp = register(&app, &org, json!({})).await;
    let r = app
        .patch("/api/v1/organizations/me/settings", Some(&org.api_key), &json!({"mccmnc": ["310410", "311480"]}))
        .await;
    assert_eq!(r.body["mccmnc"], json!(["310410", "311480"]), "{}", r.text);
    let r =
        app.patch("/api/v1/organizations/me/settings", Some(&other_org.api_key), &json!({"mccmnc": ["310410"]})).await;
    assert_eq!((r.status, r.error()), (409, "mccmnc_taken"), "{}", r.text);
    let r = app.patch("/api/v1/organizations/me/settings", Some(&other_org.api_key), &json!({"mccmnc": ["31x"]})).await;
    assert_eq!((r.status, r.error()), (400, "invalid_mccmnc"));

    let r = app.get(&format!("/.well-known/openid-configuration?client_id={}&mccmnc=311480", rp.id), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["issuer"], app.services.issuer(&org.id).as_str());
    let r = app.get(&format!("/.well-known/openid-configuration?client_id={}&mccmnc=999999", rp.id), None).await;
    assert_eq!((r.status, r.body["error"].as_str()), (404, Some("unknown_mccmnc")), "{}", r.text);
    let r = app
        .get(&format!("/.well-known/openid-configuration?client_id={}&redirect_uri={REDIRECT}&state=x", rp.id), None)
        .await;
    assert_eq!(r.status, 302);
    assert!(r.header("location").unwrap().starts_with(&format!("/o/{}/discovery?client_id={}", org.id, rp.id)));
    // A code another organization serves does not lead to this client's issuer.
    let r =
        app.patch("/api/v1/organizations/me/settings", Some(&other_org.api_key), &json!({"mccmnc": ["50501"]})).await;
    assert_eq!(r.status, 200);
    let r = app.get(&format!("/.well-known/openid-configuration?client_id={}&mccmnc=50501", rp.id), None).await;
    assert_eq!((r.status, r.body["error"].as_str()), (400, Some("invalid_client")));
}

/// Posts an approval of `request` by its id alone, with the browser's CSRF token (from a page that has one).
async fn answer_by_id(browser: &mut Browser<'_>, org: &TestOrg, rp: &Rp, request: &str) -> TestResponse {
    let page = browser.get(&discovery_path(org, rp)).await;
    browser.submit(&page, &format!("/o/{}/approve", org.id), &[("request", request), ("decision", "approve")]).await
}

#[tokio::test]
async fn a_request_sent_to_a_phone_number_is_listed_there_but_only_the_laptops_code_lets_the_phone_approve_it() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let r = app.patch("/api/v1/me", Some(&user.access_token), &json!({"phone": "+14155550100"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rp = register(&app, &org, json!({})).await;
    let mut laptop = Browser::new(&app);
    let page = laptop.get(&discovery_path(&org, &rp)).await;
    let code = user_code(&page.text);
    let sent = laptop.submit(&page, &format!("/o/{}/discovery/phone", org.id), &[("phone", "+14155550100")]).await;
    assert!(sent.status < 400, "{}", sent.text);

    // Listed on the phone, but opening it asks for the code; approving by id alone is refused.
    let mut phone = Browser::new(&app);
    let login = phone.get(&format!("/o/{}/login", org.id)).await;
    phone.sign_in(login, &user.email, &user.password).await;
    let list = phone.get(&format!("/o/{}/approve", org.id)).await;
    let marker = r#"class="pending-request" href=""#;
    let at = list.text.find(marker).unwrap_or_else(|| panic!("the request is listed on the phone: {}", list.text));
    let link = list.text[at + marker.len()..].split('"').next().unwrap().replace("&amp;", "&");
    let request = link.split("request=").nth(1).unwrap().to_owned();
    let opened = phone.get(&link).await;
    assert!(opened.text.contains("Acme Web"), "{}", opened.text);
    assert!(opened.text.contains(r#"id="code-form""#) && !opened.text.contains("approve-form"), "{}", opened.text);
    let forced = answer_by_id(&mut phone, &org, &rp, &request).await;
    assert!(!forced.text.contains(r#"id="done""#), "{}", forced.text);
    assert_eq!(status(&mut laptop, &org).await, "pending");

    // With the code it goes through as usual.
    phone_approves(&mut phone, &org, &user, &format!("/o/{}/approve?code={code}", org.id), false).await;
    let back = laptop_completes(&mut laptop, &org).await;
    let (sub, _) = rp_signs_in_with_hint(&app, &org, &rp, &back["login_hint_token"]).await;
    assert_eq!(sub, user.id);
}

#[tokio::test]
async fn a_code_reached_by_one_user_cannot_be_answered_by_another_and_code_guessing_is_cut_off() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let (alice, mallory) = (app.signup_user(&org.api_key).await, app.signup_user(&org.api_key).await);
    let rp = register(&app, &org, json!({})).await;
    let mut laptop = Browser::new(&app);
    let page = laptop.get(&discovery_path(&org, &rp)).await;
    let code = user_code(&page.text);
    let mut phone = Browser::new(&app);
    let login = phone.get(&format!("/o/{}/login", org.id)).await;
    phone.sign_in(login, &alice.email, &alice.password).await;
    let r = phone.get(&format!("/o/{}/approve?code={code}", org.id)).await;
    let request = hidden_value(&r.text, "request").expect("alice reached the request with its code");

    // Mallory knows the request id (not the code): she can neither open nor answer it, even with the code now.
    let mut other = Browser::new(&app);
    let login = other.get(&format!("/o/{}/login", org.id)).await;
    other.sign_in(login, &mallory.email, &mallory.password).await;
    let r = other.get(&format!("/o/{}/approve?request={request}", org.id)).await;
    assert!(!r.text.contains("approve-form"), "{}", r.text);
    let r = answer_by_id(&mut other, &org, &rp, &request).await;
    assert!(!r.text.contains(r#"id="done""#), "{}", r.text);
    let r = other.get(&format!("/o/{}/approve?code={code}", org.id)).await;
    assert!(!r.text.contains("approve-form"), "{}", r.text);
    assert_eq!(status(&mut laptop, &org).await, "pending");

    // Every lookup counts (Mallory has made one): after 20 in ten minutes even a right code is refused.
    let mut statuses = Vec::new();
    for n in 0..19 {
        statuses.push(other.get(&format!("/o/{}/approve?code={:08}", org.id, 10_000_000 + n)).await.status);
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let r = other.get(&format!("/o/{}/approve?code={code}", org.id)).await;
    assert_eq!(r.status, 429, "{}", r.text);
}
