//! The happy paths, driven by an independent relying party where one exists (`openidconnect` 4).

use super::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenIntrospectionResponse, TokenResponse,
};
use zauthy_core::clock::Clock;
use zauthy_testkit::browser::Browser;

pub(super) fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_independent_relying_party_signs_a_user_in_with_code_and_pkce_and_refreshes() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let http = rp_http();

    let issuer = IssuerUrl::new(app.services.issuer(&org.id)).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("discovery and JWKS");
    let introspection = IntrospectionUrl::new(format!("{}/introspect", app.services.issuer(&org.id))).unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
    .set_introspection_url(introspection);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = Browser::new(&app);
    let back = callback(&approve(&mut browser, url.as_str(), &user, None).await);
    assert_eq!(back.get("state"), Some(csrf.secret()), "state comes back unchanged");
    assert_eq!(back.get("iss").map(String::as_str), Some(app.services.issuer(&org.id).as_str()), "RFC 9207 iss");

    let tokens = client
        .exchange_code(AuthorizationCode::new(back["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token for openid");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("the ID token verifies against the JWKS, nonce and all");
    assert_eq!(claims.subject().as_str(), user.id);
    assert_eq!(claims.email().map(|e| e.as_str()), None, "scope claims come from userinfo, not the ID token");
    assert!(claims.auth_time().is_some(), "auth_time");
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("urn:zauthy:acr:sfa"));
    let amr: Vec<String> = claims.auth_method_refs().unwrap().iter().map(|m| m.as_str().to_owned()).collect();
    assert_eq!(amr, ["pwd"]);
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash binds the access token");

    let info: CoreUserInfoClaims =
        client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&http).await.expect("userinfo");
    assert_eq!(info.subject().as_str(), user.id);
    assert_eq!(info.email().map(|e| e.as_str()), Some(user.email.as_str()));
    assert!(info.email_verified().is_some());
    let live = client.introspect(tokens.access_token()).request_async(&http).await.expect("introspection");
    assert!(live.active());
    assert_eq!(live.sub(), Some(user.id.as_str()));

    // Refresh rotates: the new token works once, the old one is refused and ends the grant.
    let first = tokens.refresh_token().expect("offline_access gives a refresh token").clone();
    let second = client.exchange_refresh_token(&first).unwrap().request_async(&http).await.expect("refresh");
    let next = second.refresh_token().expect("a new refresh token").clone();
    assert_ne!(next.secret(), first.secret());
    let reused = client.exchange_refresh_token(&first).unwrap().request_async(&http).await;
    assert!(reused.is_err(), "a spent refresh token is refused");
    let after_reuse = client.exchange_refresh_token(&next).unwrap().request_async(&http).await;
    assert!(after_reuse.is_err(), "reuse revoked the whole grant, the newest token too");
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", second.access_token().secret())]).await;
    assert_eq!(r.body["active"], false, "access tokens of a revoked grant are inactive: {}", r.text);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_access_tokens_and_introspection_reports_it() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let r = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (access, refresh) = (r.str("/access_token"), r.str("/refresh_token"));

    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &access)]).await;
    assert_eq!(
        (r.body["active"].as_bool(), r.body["sub"].as_str()),
        (Some(true), Some(user.id.as_str())),
        "{}",
        r.text
    );
    assert_eq!(r.body["scope"], "openid email offline_access");

    let r = app.send(app.client.get(app.url(&format!("/o/{}/userinfo", org.id))).bearer_auth(&access)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = post_oauth(&app, &org, "revoke", &rp, &[("token", &refresh), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &access)]).await;
    assert_eq!(r.body["active"], false);
    let r = app.send(app.client.get(app.url(&format!("/o/{}/userinfo", org.id))).bearer_auth(&access)).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
    let r = post_oauth(&app, &org, "token", &rp, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(r.body["error"], "invalid_grant");
    // RFC 7009: an unknown token is answered like a revoked one.
    let r = post_oauth(&app, &org, "revoke", &rp, &[("token", "ort_nothing")]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn consent_lists_the_scopes_lets_the_user_untick_optional_ones_and_is_remembered() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let params = [
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let mut browser = Browser::new(&app);
    let r = approve(&mut browser, &authorize_url(&app, &org, &params), &user, Some(&["profile"])).await;
    let code = callback(&r)["code"].clone();
    let r = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.body["scope"], "openid profile", "email was unticked, openid cannot be: {}", r.text);

    // The same scopes again: no consent screen, straight back with a code.
    let params2 = [
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let r = browser.get(&authorize_url(&app, &org, &params2)).await;
    let r = browser.follow(r).await;
    assert!(callback(&r).contains_key("code"), "remembered consent skips the screen");
    // More than was granted asks again.
    let r = browser.get(&authorize_url(&app, &org, &params)).await;
    let r = browser.follow(r).await;
    assert!(r.text.contains(r#"id="consent-form""#), "email was never granted, so it is asked for");

    // The user sees and withdraws the consent through the API; the client's tokens stop working.
    let r = app.get("/api/v1/oidc/consents", Some(&user.access_token)).await;
    assert_eq!(r.body["consents"][0]["client_id"], rp.id.as_str(), "{}", r.text);
    assert_eq!(r.body["consents"][0]["scopes"], json!(["openid", "profile"]));
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let t = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    let r = app.delete(&format!("/api/v1/oidc/consents/{}", rp.id), Some(&user.access_token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &t.str("/access_token"))]).await;
    assert_eq!(r.body["active"], false, "withdrawn consent revokes the client's tokens");
    let events = app.get("/api/v1/events?type=oidc.consent.revoked", Some(&org.api_key)).await;
    assert_eq!(events.body["events"][0]["data"]["client_id"], rp.id.as_str(), "{}", events.text);
    let r = app.delete(&format!("/api/v1/oidc/consents/{}", rp.id), Some(&user.access_token)).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn denying_consent_sends_access_denied_back_with_the_state() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let params = [
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let mut browser = Browser::new(&app);
    let r = browser.get(&authorize_url(&app, &org, &params)).await;
    let r = browser.follow(r).await;
    let r = browser.sign_in(r, &user.email, &user.password).await;
    let request = hidden_value(&r.text, "request").unwrap();
    let r = browser.submit(&r, &format!("/o/{}/consent", org.id), &[("request", &request), ("decision", "deny")]).await;
    let back = callback(&r);
    assert_eq!((back["error"].as_str(), back["state"].as_str()), ("access_denied", "xyz"));
    // The request is spent: approving it afterwards is not possible.
    let r = browser.get(&format!("/o/{}/consent?request={request}", org.id)).await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[tokio::test]
async fn a_client_that_requires_mfa_gets_a_second_factor_before_consent() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, _) = crate::mfa::enrol(&app, &user).await;
    let rp = register(&app, &org, json!({"require_mfa": true})).await;

    // Without a second factor on record, a password sign-in is stepped up with the authenticator code.
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
            ("nonce", "n"),
        ],
    );
    let r = browser.get(&start).await;
    let r = browser.follow(r).await;
    let r = browser.sign_in(r, &user.email, &user.password).await;
    assert!(r.text.contains(r#"name="mfa_token""#), "the second factor is asked for: {}", r.text);
    let code = crate::mfa::code_now(&app, &secret);
    let token = hidden_value(&r.text, "mfa_token").unwrap();
    let return_to = hidden_value(&r.text, "return_to").unwrap();
    let r = browser
        .submit(
            &r,
            &format!("/o/{}/login/mfa", org.id),
            &[("mfa_token", &token), ("return_to", &return_to), ("code", &code)],
        )
        .await;
    let r = browser.follow(r).await;
    assert!(r.text.contains(r#"id="consent-form""#), "consent comes after the second factor: {}", r.text);
    let r = approve(&mut browser, &start, &user, None).await;
    let code = callback(&r)["code"].clone();
    let r = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    let claims = jwt_claims(&r.str("/id_token"));
    assert_eq!(claims["acr"], "urn:zauthy:acr:mfa");
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));

    // A user with no second factor cannot get past it.
    let other = app.signup_user(&org.api_key).await;
    let mut browser = Browser::new(&app);
    let r = browser.get(&start).await;
    let r = browser.follow(r).await;
    let r = browser.sign_in(r, &other.email, &other.password).await;
    assert_eq!(callback(&r)["error"], "access_denied");
}

/// The ids of the user's live sessions.
async fn session_ids(app: &TestApp, user: &TestUser) -> Vec<String> {
    let r = app.get("/api/v1/sessions", Some(&user.access_token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_second_factor_asked_for_at_consent_replaces_the_browsers_session_instead_of_adding_one() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({"require_mfa": true})).await;
    // The browser signed in with the password alone, before the user set up an authenticator.
    let mut browser = Browser::new(&app);
    let account = format!("/o/{}/account", org.id);
    let r = browser.get(&account).await;
    let r = browser.follow(r).await;
    let r = browser.sign_in(r, &user.email, &user.password).await;
    assert!(r.text.contains(&user.email), "the account page: {}", r.text);
    let (secret, _) = crate::mfa::enrol(&app, &user).await;
    let before = session_ids(&app, &user).await;
    let old_cookies = zauthy_testkit::browser::Jar(browser.jar.0.clone());

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
    let r = browser.get(&start).await;
    let r = browser.follow(r).await;
    assert!(!r.text.contains(r#"id="password-form""#), "the browser is signed in: {}", r.text);
    let token = hidden_value(&r.text, "mfa_token").unwrap_or_else(|| panic!("a step-up: {}", r.text));
    let return_to = hidden_value(&r.text, "return_to").unwrap();
    let code = crate::mfa::code_now(&app, &secret);
    let form = [("mfa_token", token.as_str()), ("return_to", return_to.as_str()), ("code", code.as_str())];
    let r = browser.submit(&r, &format!("/o/{}/login/mfa", org.id), &form).await;
    let r = browser.follow(r).await;
    assert!(r.text.contains(r#"id="consent-form""#), "consent comes after the second factor: {}", r.text);

    // The password-only session ended when the stepped-up one started: its cookie signs nobody in any more.
    let mut old = Browser { app: &app, jar: old_cookies };
    let r = old.get(&account).await;
    assert!(
        location(&r).is_some_and(|l| l.contains("/login")),
        "the old cookie is signed out: {} {}",
        r.status,
        r.text
    );
    let after = session_ids(&app, &user).await;
    assert_eq!(after.len(), before.len(), "one session in place of the other: {before:?} → {after:?}");
    let replaced: Vec<&String> = before.iter().filter(|id| !after.contains(id)).collect();
    assert_eq!(replaced.len(), 1, "{before:?} → {after:?}");
    let events = app.get("/api/v1/events?type=session.revoked", Some(&org.api_key)).await;
    assert_eq!(events.body["events"][0]["data"]["session_id"], replaced[0].as_str(), "{}", events.text);
    assert_eq!(events.body["events"][0]["data"]["reason"], "step_up", "{}", events.text);

    // The new session carries the second factor into the grant.
    let r = approve(&mut browser, &start, &user, None).await;
    let code = callback(&r)["code"].clone();
    let r = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(jwt_claims(&r.str("/id_token"))["amr"], json!(["pwd", "otp", "mfa"]));
}

/// The payload of a JWT, unverified (the tests that need verification use the RP library).
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&data_encoding::BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap()
}

#[tokio::test]
async fn prompt_none_answers_login_required_and_a_signed_in_browser_gets_a_code_silently() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let params = [
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("prompt", "none"),
        ("state", "s"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let mut browser = Browser::new(&app);
    let r = browser.get(&authorize_url(&app, &org, &params)).await;
    let r = browser.follow(r).await;
    assert_eq!(callback(&r)["error"], "login_required");
    // Signed in, but never consented: consent_required.
    let login = browser.get(&format!("/o/{}/login", org.id)).await;
    browser.sign_in(login, &user.email, &user.password).await;
    let r = browser.get(&authorize_url(&app, &org, &params)).await;
    let r = browser.follow(r).await;
    assert_eq!(callback(&r)["error"], "consent_required");
    code_for(&app, &org, &rp, &user, &[]).await;
    let r = browser.get(&authorize_url(&app, &org, &params)).await;
    let r = browser.follow(r).await;
    assert!(callback(&r).contains_key("code"), "consented and signed in: no page at all");
}

#[tokio::test]
async fn a_pushed_authorization_request_is_used_once_by_its_own_client_and_form_post_answers_with_a_form() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let other = register(&app, &org, json!({"name": "Other"})).await;
    let r = post_oauth(
        &app,
        &org,
        "par",
        &rp,
        &[
            ("client_id", &rp.id),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "par-state"),
            ("response_mode", "form_post"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let request_uri = r.str("/request_uri");
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert!(r.body["expires_in"].as_i64().unwrap() > 0);

    let mut browser = Browser::new(&app);
    let foreign = authorize_url(&app, &org, &[("client_id", &other.id), ("request_uri", &request_uri)]);
    let r = browser.get(&foreign).await;
    assert_eq!(r.status, 400, "another client cannot use it: {}", r.text);

    let start = authorize_url(&app, &org, &[("client_id", &rp.id), ("request_uri", &request_uri)]);
    let r = approve(&mut browser, &start, &user, None).await;
    assert_eq!(r.status, 200, "form_post answers with a page: {}", r.text);
    assert!(r.text.contains(&format!(r#"action="{REDIRECT}""#)), "{}", r.text);
    assert_eq!(hidden_value(&r.text, "state").as_deref(), Some("par-state"));
    assert!(hidden_value(&r.text, "code").unwrap().starts_with("ac_"));
    let r = browser.get(&start).await;
    assert_eq!(r.status, 400, "a request_uri works once: {}", r.text);
}

#[tokio::test]
async fn discovery_describes_the_issuer_and_unknown_organizations_are_not_found() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let r = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    assert_eq!(r.status, 200);
    let issuer = app.services.issuer(&org.id);
    assert_eq!(r.body["issuer"], issuer.as_str());
    assert_eq!(r.body["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(r.body["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(r.body["id_token_signing_alg_values_supported"][0], "RS256");
    let r = app.get("/o/org_000000000000000000000000/.well-known/openid-configuration", None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_relying_party_library_gets_a_client_credentials_token_and_introspects_it() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let rp = register(&app, &org, json!({"grant_types": ["client_credentials"]})).await;
    let http = rp_http();
    let issuer = IssuerUrl::new(app.services.issuer(&org.id)).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("discovery");
    let introspection = IntrospectionUrl::new(format!("{}/introspect", app.services.issuer(&org.id))).unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone())),
    )
    .set_introspection_url(introspection);
    let tokens = client.exchange_client_credentials().unwrap().request_async(&http).await.expect("client_credentials");
    assert!(tokens.refresh_token().is_none(), "no refresh token for a client acting for itself");
    let answer = client.introspect(tokens.access_token()).request_async(&http).await.expect("introspection");
    assert!(answer.active());
    assert_eq!(answer.client_id().map(|c| c.as_str()), Some(rp.id.as_str()));
    assert_eq!(answer.sub(), Some(rp.id.as_str()));
}

#[tokio::test]
async fn introspection_reports_the_clients_refresh_tokens_while_they_last_and_never_its_id_tokens() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let other = register(&app, &org, json!({"name": "Other"})).await;
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let tokens = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    // The ID token is signed for the client, but it is no bearer credential.
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &tokens.str("/id_token"))]).await;
    assert_eq!(r.body, json!({"active": false}), "{}", r.text);

    let refresh = tokens.str("/refresh_token");
    let r =
        post_oauth(&app, &org, "introspect", &rp, &[("token", &refresh), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(r.body["active"], true, "{}", r.text);
    assert_eq!(r.body["token_type"], "refresh_token");
    assert_eq!(r.body["client_id"], rp.id.as_str());
    assert_eq!(r.body["sub"], user.id.as_str());
    assert_eq!(r.body["scope"], "openid email offline_access");
    assert_eq!(r.body["iss"], app.services.issuer(&org.id));
    assert!(r.body["exp"].as_i64().unwrap() > r.body["iat"].as_i64().unwrap());
    let r = post_oauth(&app, &org, "introspect", &other, &[("token", &refresh)]).await;
    assert_eq!(r.body, json!({"active": false}), "another client's refresh token: {}", r.text);

    // Rotation spends it; the new one is active until its grant is revoked.
    let rotated =
        post_oauth(&app, &org, "token", &rp, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &refresh)]).await;
    assert_eq!(r.body, json!({"active": false}), "a spent refresh token: {}", r.text);
    let next = rotated.str("/refresh_token");
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &next)]).await;
    assert_eq!(r.body["active"], true, "{}", r.text);
    let r = post_oauth(&app, &org, "revoke", &rp, &[("token", &next)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &next)]).await;
    assert_eq!(r.body, json!({"active": false}), "a revoked grant's refresh token: {}", r.text);
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &rotated.str("/id_token"))]).await;
    assert_eq!(r.body, json!({"active": false}), "{}", r.text);
}

#[tokio::test]
async fn max_age_zero_makes_the_user_sign_in_again_and_that_sign_in_is_enough_however_long_it_took() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    let login = browser.get(&format!("/o/{}/login", org.id)).await;
    browser.sign_in(login, &user.email, &user.password).await;
    code_for(&app, &org, &rp, &user, &[("scope", "openid")]).await;
    app.clock.advance(time::Duration::seconds(30));

    // Signed in 30 s ago: max_age=60 is met without a page, max_age=0 asks for the password again.
    let r = browser.get(&authorize_url(&app, &org, &with(base(&rp), "max_age", "60"))).await;
    let r = browser.follow(r).await;
    assert!(callback(&r).contains_key("code"), "{}", r.text);
    let r = browser.get(&authorize_url(&app, &org, &with(base(&rp), "max_age", "0"))).await;
    let page = browser.follow(r).await;
    assert!(page.text.contains(r#"id="password-form""#), "{}", page.text);

    // The new sign-in satisfies the request even when the user took a few seconds to get on.
    let action = format!("/o/{}/login", org.id);
    let return_to = hidden_value(&page.text, "return_to").unwrap();
    let before = app.clock.now().unix_timestamp();
    let r = browser
        .submit(&page, &action, &[("email", &user.email), ("password", &user.password), ("return_to", &return_to)])
        .await;
    let after = app.clock.now().unix_timestamp();
    app.clock.advance(time::Duration::seconds(3));
    let r = browser.follow(r).await;
    let code = callback(&r)["code"].clone();
    let tokens = exchange(&app, &org, &rp, &code, Some(VERIFIER)).await;
    let auth_time = jwt_claims(&tokens.str("/id_token"))["auth_time"].as_i64().unwrap();
    assert!((before..=after).contains(&auth_time), "auth_time {auth_time} is the new sign-in's ({before}..={after})");
}

#[tokio::test]
async fn a_narrower_request_answered_from_the_remembered_consent_leaves_that_consent_as_it_was() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let mut browser = Browser::new(&app);
    // Consent to openid, email and offline_access.
    let r = approve(
        &mut browser,
        &authorize_url(&app, &org, &with(base(&rp), "scope", "openid email offline_access")),
        &user,
        None,
    )
    .await;
    assert!(callback(&r).contains_key("code"), "{}", r.text);
    let silent = |scope: &'static str| with(with(base(&rp), "scope", scope), "prompt", "none");

    // openid alone needs no page, and does not shrink the consent: email still needs none.
    let r = browser.get(&authorize_url(&app, &org, &silent("openid"))).await;
    assert!(callback(&browser.follow(r).await).contains_key("code"));
    let r = browser.get(&authorize_url(&app, &org, &silent("openid email"))).await;
    let answer = callback(&browser.follow(r).await);
    assert!(answer.contains_key("code"), "{answer:?}");

    // Unticking a scope on the page takes it out; what was not offered stays.
    let r = approve(
        &mut browser,
        &authorize_url(&app, &org, &with(with(base(&rp), "scope", "openid email phone"), "prompt", "consent")),
        &user,
        Some(&["phone"]),
    )
    .await;
    assert!(callback(&r).contains_key("code"), "{}", r.text);
    let r = browser.get(&authorize_url(&app, &org, &silent("openid email"))).await;
    assert_eq!(callback(&browser.follow(r).await)["error"], "consent_required");
    let r = browser.get(&authorize_url(&app, &org, &silent("openid phone offline_access"))).await;
    assert!(callback(&browser.follow(r).await).contains_key("code"));
    let consents = app.get("/api/v1/oidc/consents", Some(&user.access_token)).await;
    let mut scopes: Vec<&str> =
        consents.body["consents"][0]["scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["offline_access", "openid", "phone"], "{}", consents.text);
}

#[tokio::test]
async fn rfc_8414_metadata_is_served_where_section_3_1_puts_it_for_an_issuer_with_a_path_and_under_the_issuer() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let discovery = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    let issuer = app.services.issuer(&org.id);
    let issuer_path = url::Url::parse(&issuer).unwrap().path().to_owned();

    // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
    let at_root = app.get(&format!("/.well-known/oauth-authorization-server{issuer_path}"), None).await;
    let under_issuer = app.get(&format!("{issuer_path}/.well-known/oauth-authorization-server"), None).await;

    for r in [&at_root, &under_issuer] {
        assert_eq!(r.status, 200, "{}", r.text);
        // §3.3: the issuer in the document is the one the metadata was asked for.
        assert_eq!(r.body["issuer"], issuer.as_str());
        assert_eq!(r.body, discovery.body, "the same metadata as discovery");
        for field in ["authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported"] {
            assert!(!r.body[field].is_null(), "{field} is required by RFC 8414 §2");
        }
    }
    let unknown = app.get("/.well-known/oauth-authorization-server/o/org_aaaaaaaaaaaaaaaaaaaaaaaa", None).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}
