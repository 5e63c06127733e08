//! Passkeys over HTTP with webauthn-authenticator-rs's software passkey as the browser and authenticator:
//! registration, sign-in by email and username-less, ceremonies (single use, expiry, organization),
//! origins, tampering, counters, list and removal.

use crate::social_login;
use serde_json::{Value, json};
use time::Duration;
use webauthn_authenticator_rs::prelude::*;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use zauthy_testkit::{TestApp, TestOrg, TestResponse, TestUser, unique_email};

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

/// A software authenticator that verifies the user (as a passkey must).
pub(crate) fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.address).expect("the app address is a URL")
}

/// A registered passkey as the test knows it: the API's view and the user handle the authenticator keeps.
pub(crate) struct Registered {
    body: Value,
    credential_id: String,
    user_handle: String,
}

async fn start_registration(app: &TestApp, token: &str) -> TestResponse {
    app.post("/api/v1/passkey/register/start", Some(token), &json!({})).await
}

fn creation_options(r: &TestResponse) -> CreationChallengeResponse {
    assert_eq!(r.status, 200, "{}", r.text);
    serde_json::from_value(json!({"publicKey": r.body["publicKey"]})).expect("creation options")
}

fn request_options(r: &TestResponse) -> RequestChallengeResponse {
    assert_eq!(r.status, 200, "{}", r.text);
    serde_json::from_value(json!({"publicKey": r.body["publicKey"]})).expect("request options")
}

async fn finish_registration(app: &TestApp, token: &str, ceremony_id: &str, credential: &Value) -> TestResponse {
    let body = json!({"ceremony_id": ceremony_id, "credential": credential});
    app.post("/api/v1/passkey/register/finish", Some(token), &body).await
}

/// Registers a passkey of `key` for `user` and returns what was stored.
pub(crate) async fn register(app: &TestApp, user: &TestUser, key: &mut SoftPasskey) -> Registered {
    register_with(app, &user.access_token, key).await
}

/// Registers a passkey of `key` for the account behind the access token `token`.
async fn register_with(app: &TestApp, token: &str, key: &mut SoftPasskey) -> Registered {
    let start = start_registration(app, token).await;
    let options = creation_options(&start);
    let credential = key.do_registration(origin(app), options).expect("the authenticator registers");
    let r = finish_registration(app, token, &start.str("/ceremony_id"), &json!(credential)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    Registered { credential_id: r.str("/credential_id"), user_handle: start.str("/publicKey/user/id"), body: r.body }
}

pub(crate) async fn start_authentication(app: &TestApp, api_key: &str, email: Option<&str>) -> TestResponse {
    let body = match email {
        Some(email) => json!({"email": email}),
        None => json!({}),
    };
    app.post("/api/v1/passkey/authenticate/start", Some(api_key), &body).await
}

pub(crate) async fn finish_authentication(
    app: &TestApp,
    api_key: &str,
    ceremony_id: &str,
    credential: &Value,
) -> TestResponse {
    let body = json!({"ceremony_id": ceremony_id, "credential": credential});
    app.post("/api/v1/passkey/authenticate/finish", Some(api_key), &body).await
}

/// The authenticator's assertion for the options of `start`, made with `passkey` whatever the options allow
/// (a client may answer with any credential it holds). For a username-less start, the software passkey
/// (which keeps no resident credentials) answers with the user handle as a discoverable authenticator would.
pub(crate) fn assert_with(app: &TestApp, start: &TestResponse, key: &mut SoftPasskey, passkey: &Registered) -> Value {
    let mut options = request_options(start);
    let discoverable = options.public_key.allow_credentials.is_empty();
    options.public_key.allow_credentials =
        serde_json::from_value(json!([{"type": "public-key", "id": passkey.credential_id}])).unwrap();
    let assertion = key.do_authentication(origin(app), options).expect("the authenticator signs");
    let mut assertion = json!(assertion);
    if discoverable {
        assertion["response"]["userHandle"] = json!(passkey.user_handle);
    }
    assertion
}

/// A full sign-in: start (by email or username-less), sign, finish.
pub(crate) async fn sign_in(
    app: &TestApp,
    api_key: &str,
    email: Option<&str>,
    key: &mut SoftPasskey,
    passkey: &Registered,
) -> TestResponse {
    let start = start_authentication(app, api_key, email).await;
    let assertion = assert_with(app, &start, key, passkey);
    finish_authentication(app, api_key, &start.str("/ceremony_id"), &assertion).await
}

async fn events(app: &TestApp, org: &TestOrg, kind: &str) -> Vec<Value> {
    let list = app.services.store.list_events(&org.id, Some(kind), 10).await.expect("events");
    list.into_iter().map(|e| e.data).collect()
}

async fn setup() -> (TestApp, TestOrg, TestUser) {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    (app, org, user)
}

// ---------------------------------------------------------------------------------------------------------------
// Registration and sign-in
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_registered_passkey_signs_in_by_email_with_working_tokens_and_no_mfa_step() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();

    let passkey = register(&app, &user, &mut key).await;
    assert!(passkey.body["id"].as_str().unwrap().starts_with("pk_"), "{}", passkey.body);
    assert_eq!(passkey.body["name"], "Passkey");

    let r = sign_in(&app, &org.api_key, Some(&user.email), &mut key, &passkey).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], false);
    assert_eq!(r.str("/user/id"), user.id);
    let verified = app.verify(&org.api_key, &r.str("/access_token")).await;
    assert_eq!((verified.status, verified.body["valid"].clone()), (200, json!(true)), "{}", verified.text);
    assert_eq!(app.refresh(&r.str("/refresh_token")).await.status, 200);
    let logins = events(&app, &org, "user.login").await;
    assert_eq!(logins[0]["method"], "passkey", "{logins:?}");
    let added = events(&app, &org, "passkey.added").await;
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["passkey_id"], passkey.body["id"]);
    assert_eq!(added[0]["user_id"], user.id.as_str());
}

#[tokio::test]
async fn a_discoverable_passkey_signs_in_without_an_email() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;

    let start = start_authentication(&app, &org.api_key, None).await;
    assert_eq!(start.body["publicKey"]["allowCredentials"], json!([]), "{}", start.text);
    assert!(start.body.get("mediation").is_none(), "a modal get(), not conditional UI: {}", start.text);
    let assertion = assert_with(&app, &start, &mut key, &passkey);
    let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &assertion).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.str("/user/id"), user.id);
    // An empty body works as well as `{}`.
    let bare = app.post_raw("/api/v1/passkey/authenticate/start", Some(&org.api_key), None, "").await;
    assert_eq!(bare.status, 200, "{}", bare.text);
}

#[tokio::test]
async fn the_passkey_sign_in_start_checks_a_body_it_gets_like_every_json_endpoint() {
    let (app, org, user) = setup().await;
    let path = "/api/v1/passkey/authenticate/start";
    let key = Some(org.api_key.as_str());
    let email = json!({"email": user.email}).to_string();

    let as_text = app.post_raw(path, key, Some("text/plain"), email.clone()).await;
    let array = app.post_raw(path, key, Some("application/json"), json!([user.email]).to_string()).await;
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(70 * 1024));
    let too_large = app.post_raw(path, key, Some("application/json"), huge).await;

    assert_eq!((as_text.status, as_text.error()), (415, "unsupported_media_type"), "{}", as_text.text);
    assert_eq!((array.status, array.error()), (400, "invalid_request"), "{}", array.text);
    assert_eq!((too_large.status, too_large.error()), (413, "payload_too_large"), "{}", too_large.text);
    assert_eq!(too_large.header("content-type"), Some("application/json"));
    // No body at all (with or without a content type) and a JSON object still work.
    for content_type in [None, Some("application/json")] {
        let bare = app.post_raw(path, key, content_type, "").await;
        assert_eq!(bare.status, 200, "{}", bare.text);
    }
    assert_eq!(app.post_raw(path, key, Some("application/json"), email).await.status, 200);
}

#[tokio::test]
async fn a_discoverable_sign_in_with_the_user_handle_of_someone_else_is_refused() {
    let (app, org, user) = setup().await;
    let other = app.signup_user(&org.api_key).await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    let other_passkey = register(&app, &other, &mut authenticator()).await;

    let forged = Registered { user_handle: other_passkey.user_handle.clone(), ..passkey };
    let r = sign_in(&app, &org.api_key, None, &mut key, &forged).await;

    assert_error(&r, 401, "passkey_verification_failed");
}

#[tokio::test]
async fn the_browsers_tojson_shape_is_accepted_at_both_finishes() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let start = start_registration(&app, &user.access_token).await;
    let credential = key.do_registration(origin(&app), creation_options(&start)).unwrap();
    // What Chromium's PublicKeyCredential.toJSON() adds, plus padding some libraries leave on.
    let mut browser = json!(credential);
    let extensions = browser.as_object_mut().unwrap().remove("extensions").unwrap_or(json!({}));
    browser["clientExtensionResults"] = extensions;
    browser["authenticatorAttachment"] = json!("cross-platform");
    browser["response"]["transports"] = json!(["usb", "smart-card"]);
    browser["response"]["publicKeyAlgorithm"] = json!(-7);
    browser["response"]["publicKey"] = json!("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE");
    browser["response"]["authenticatorData"] = json!("SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAQ");
    let raw_id = browser["rawId"].as_str().unwrap().to_owned();
    browser["rawId"] = json!(format!("{raw_id}{}", "=".repeat((4 - raw_id.len() % 4) % 4)));
    let r = finish_registration(&app, &user.access_token, &start.str("/ceremony_id"), &browser).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let passkey = Registered {
        credential_id: r.str("/credential_id"),
        user_handle: start.str("/publicKey/user/id"),
        body: r.body,
    };

    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let mut assertion = assert_with(&app, &start, &mut key, &passkey);
    let extensions = assertion.as_object_mut().unwrap().remove("extensions").unwrap_or(json!({}));
    assertion["clientExtensionResults"] = extensions;
    assertion["authenticatorAttachment"] = json!("cross-platform");
    assertion["response"]["userHandle"] = Value::Null;
    let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_passkey_gets_the_name_given_at_finish_and_registration_excludes_existing_ones() {
    let (app, _org, user) = setup().await;
    let mut key = authenticator();
    let first = register(&app, &user, &mut key).await;

    let start = start_registration(&app, &user.access_token).await;
    let excluded: Vec<&str> = start.body["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap_or_else(|| panic!("excludeCredentials in {}", start.text))
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, vec![first.credential_id.as_str()]);
    assert_eq!(start.body["publicKey"]["authenticatorSelection"]["residentKey"], "preferred");
    let credential = authenticator().do_registration(origin(&app), creation_options(&start)).unwrap();
    let body = json!({"ceremony_id": start.str("/ceremony_id"), "credential": credential, "name": "  Work laptop "});
    let r = app.post("/api/v1/passkey/register/finish", Some(&user.access_token), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "Work laptop");

    let long = start_registration(&app, &user.access_token).await;
    let body = json!({"ceremony_id": long.str("/ceremony_id"), "credential": {}, "name": "x".repeat(101)});
    let r = app.post("/api/v1/passkey/register/finish", Some(&user.access_token), &body).await;
    assert_error(&r, 400, "invalid_name");
}

// ---------------------------------------------------------------------------------------------------------------
// List, delete, counters
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn passkeys_are_listed_and_a_deleted_one_no_longer_signs_in() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    let other = app.signup_user(&org.api_key).await;

    let list = app.get("/api/v1/passkey/list", Some(&user.access_token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["passkeys"][0]["id"], passkey.body["id"]);
    let empty = app.get("/api/v1/passkey/list", Some(&other.access_token)).await;
    assert_eq!(empty.body["passkeys"], json!([]));

    let id = passkey.body["id"].as_str().unwrap().to_owned();
    // Another user cannot remove it.
    assert_error(&app.delete(&format!("/api/v1/passkey/{id}"), Some(&other.access_token)).await, 404, "not_found");
    let r = app.delete(&format!("/api/v1/passkey/{id}"), Some(&user.access_token)).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"success": true})), "{}", r.text);
    assert_error(&app.delete(&format!("/api/v1/passkey/{id}"), Some(&user.access_token)).await, 404, "not_found");
    assert_error(&app.delete("/api/v1/passkey/pk_garbage", Some(&user.access_token)).await, 404, "not_found");
    let removed = events(&app, &org, "passkey.removed").await;
    assert_eq!(removed[0]["passkey_id"], id.as_str());

    assert_error(&sign_in(&app, &org.api_key, None, &mut key, &passkey).await, 401, "passkey_verification_failed");
    let list = app.get("/api/v1/passkey/list", Some(&user.access_token)).await;
    assert_eq!(list.body["passkeys"], json!([]));
}

/// An account made by social login (no password) with two passkeys and its provider unlinked: the passkeys are
/// its only ways to sign in. Returns the access token and both passkeys with their authenticators.
async fn passkeys_only_account(app: &TestApp) -> (TestOrg, String, [(SoftPasskey, Registered); 2]) {
    let up = social_login::upstream(app).await;
    let org = social_login::downstream(app, &up, "upstream", json!({})).await;
    let social = social_login::social_sign_in(app, &org, "upstream", &up.user).await;
    assert_eq!(social.status, 200, "{}", social.text);
    let token = social.str("/access_token");
    let (mut a, mut b) = (authenticator(), authenticator());
    let (first, second) = (register_with(app, &token, &mut a).await, register_with(app, &token, &mut b).await);
    let r = app.delete("/api/v1/auth/oauth/unlink/upstream", Some(&token)).await;
    assert_eq!(r.status, 200, "with passkeys the provider can go: {}", r.text);
    (org, token, [(a, first), (b, second)])
}

#[tokio::test]
async fn the_last_passkey_of_an_account_without_password_or_linked_provider_cannot_be_removed() {
    let app = TestApp::spawn().await;
    let (org, token, [(_, first), (mut key, second)]) = passkeys_only_account(&app).await;
    let r = app.delete(&format!("/api/v1/passkey/{}", first.body["id"].as_str().unwrap()), Some(&token)).await;
    assert_eq!(r.status, 200, "one of two passkeys can go: {}", r.text);

    let last = format!("/api/v1/passkey/{}", second.body["id"].as_str().unwrap());
    assert_error(&app.delete(&last, Some(&token)).await, 409, "last_sign_in_method");
    let list = app.get("/api/v1/passkey/list", Some(&token)).await;
    assert_eq!(list.body["passkeys"].as_array().unwrap().len(), 1, "{}", list.text);
    let r = sign_in(&app, &org.api_key, None, &mut key, &second).await;
    assert_eq!(r.status, 200, "the kept passkey still signs in: {}", r.text);
    assert_eq!(events(&app, &org, "passkey.removed").await.len(), 1);

    // A password-holder may remove their only passkey.
    let holder = app.signup_user(&org.api_key).await;
    let only = register(&app, &holder, &mut authenticator()).await;
    let path = format!("/api/v1/passkey/{}", only.body["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, Some(&holder.access_token)).await.status, 200);
}

#[tokio::test]
async fn two_simultaneous_removals_of_an_accounts_only_two_passkeys_keep_one() {
    let app = TestApp::spawn().await;
    let (_, token, [(_, first), (_, second)]) = passkeys_only_account(&app).await;
    let [a, b] = [&first, &second].map(|p| format!("/api/v1/passkey/{}", p.body["id"].as_str().unwrap()));
    let (a, b) = tokio::join!(app.delete(&a, Some(&token)), app.delete(&b, Some(&token)));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    assert_error(if a.status == 409 { &a } else { &b }, 409, "last_sign_in_method");
    let list = app.get("/api/v1/passkey/list", Some(&token)).await;
    assert_eq!(list.body["passkeys"].as_array().unwrap().len(), 1, "{}", list.text);
}

#[tokio::test]
async fn the_sign_counter_is_stored_and_advances_with_each_sign_in() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    assert_eq!(passkey.body["last_used_at"], Value::Null);
    let registered_count = passkey.body["sign_count"].as_i64().unwrap();

    assert_eq!(sign_in(&app, &org.api_key, Some(&user.email), &mut key, &passkey).await.status, 200);
    let after_one = app.get("/api/v1/passkey/list", Some(&user.access_token)).await.body["passkeys"][0].clone();
    assert_eq!(sign_in(&app, &org.api_key, None, &mut key, &passkey).await.status, 200);
    let after_two = app.get("/api/v1/passkey/list", Some(&user.access_token)).await.body["passkeys"][0].clone();

    let one = after_one["sign_count"].as_i64().unwrap();
    let two = after_two["sign_count"].as_i64().unwrap();
    assert!(one > registered_count && two > one, "counts {registered_count} {one} {two}");
    assert!(after_one["last_used_at"].is_string(), "{after_one}");
}

#[tokio::test]
async fn a_counter_that_goes_backwards_is_refused_and_recorded_as_a_cloned_passkey() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    // Another copy of the key signed in many times already: the server saw a higher counter than ours.
    let store = &app.services.store;
    let mut stored = store.find_passkey_by_credential(&org.id, &passkey.credential_id).await.unwrap().unwrap();
    let mut state: Value = serde_json::from_str(&stored.passkey).unwrap();
    state["cred"]["counter"] = json!(1000);
    stored.passkey = state.to_string();
    stored.sign_count = 1000;
    assert!(store.update_passkey_use(&stored, app.services.now()).await.unwrap());

    let r = sign_in(&app, &org.api_key, Some(&user.email), &mut key, &passkey).await;

    assert_error(&r, 401, "passkey_possibly_cloned");
    let cloned = events(&app, &org, "security.passkey_cloned").await;
    assert_eq!(cloned[0]["passkey_id"], passkey.body["id"]);
    assert!(events(&app, &org, "user.login").await.iter().all(|e| e["method"] != "passkey"));
}

// ---------------------------------------------------------------------------------------------------------------
// Ceremonies
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn reusing_a_ceremony_is_rejected() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let start = start_registration(&app, &user.access_token).await;
    let credential = json!(key.do_registration(origin(&app), creation_options(&start)).unwrap());
    let ceremony = start.str("/ceremony_id");
    assert_eq!(finish_registration(&app, &user.access_token, &ceremony, &credential).await.status, 201);
    assert_error(&finish_registration(&app, &user.access_token, &ceremony, &credential).await, 400, "ceremony_used");

    let passkey = Registered {
        credential_id: credential["rawId"].as_str().unwrap().to_owned(),
        user_handle: start.str("/publicKey/user/id"),
        body: Value::Null,
    };
    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let assertion = assert_with(&app, &start, &mut key, &passkey);
    let ceremony = start.str("/ceremony_id");
    assert_eq!(finish_authentication(&app, &org.api_key, &ceremony, &assertion).await.status, 200);
    assert_error(&finish_authentication(&app, &org.api_key, &ceremony, &assertion).await, 400, "ceremony_used");
}

#[tokio::test]
async fn an_expired_ceremony_is_rejected() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let assertion = assert_with(&app, &start, &mut key, &passkey);

    app.clock.advance(Duration::minutes(6));
    let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &assertion).await;

    assert_error(&r, 400, "ceremony_expired");
    let registration = start_registration(&app, &user.access_token).await;
    let credential = json!(authenticator().do_registration(origin(&app), creation_options(&registration)).unwrap());
    app.clock.advance(Duration::minutes(6));
    let r = finish_registration(&app, &user.access_token, &registration.str("/ceremony_id"), &credential).await;
    assert_error(&r, 400, "ceremony_expired");
}

#[tokio::test]
async fn an_unknown_ceremony_is_rejected() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let assertion = assert_with(&app, &start, &mut key, &passkey);

    for ceremony in ["pkc_aaaaaaaaaaaaaaaaaaaaaaaa", "garbage", ""] {
        let r = finish_authentication(&app, &org.api_key, ceremony, &assertion).await;
        assert_error(&r, 400, "ceremony_not_found");
    }
    // A registration ceremony is not a sign-in ceremony.
    let registration = start_registration(&app, &user.access_token).await;
    let r = finish_authentication(&app, &org.api_key, &registration.str("/ceremony_id"), &assertion).await;
    assert_error(&r, 400, "ceremony_not_found");
}

#[tokio::test]
async fn a_response_signed_for_another_origin_is_rejected() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    // Another site on localhost (another port): the authenticator accepts it for RP id `localhost`, but it
    // is not an allowed origin of the organization.
    let evil = Url::parse(&format!("http://localhost:{}", app.port.wrapping_add(1))).unwrap();

    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let assertion = json!(key.do_authentication(evil.clone(), request_options(&start)).unwrap());
    let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &assertion).await;
    assert_error(&r, 401, "passkey_verification_failed");

    let registration = start_registration(&app, &user.access_token).await;
    let credential = json!(authenticator().do_registration(evil, creation_options(&registration)).unwrap());
    let r = finish_registration(&app, &user.access_token, &registration.str("/ceremony_id"), &credential).await;
    assert_error(&r, 400, "passkey_verification_failed");
    // The failed attempts spent their ceremonies.
    let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &assertion).await;
    assert_error(&r, 400, "ceremony_used");
    let list = app.get("/api/v1/passkey/list", Some(&user.access_token)).await;
    assert_eq!(list.body["passkeys"].as_array().unwrap().len(), 1);
    let _ = passkey;
}

#[tokio::test]
async fn another_organizations_api_key_can_use_neither_the_ceremony_nor_the_passkey() {
    let (app, org, user) = setup().await;
    let other_org = app.create_org().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;

    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let assertion = assert_with(&app, &start, &mut key, &passkey);
    let r = finish_authentication(&app, &other_org.api_key, &start.str("/ceremony_id"), &assertion).await;
    assert_error(&r, 400, "ceremony_not_found");
    // Not spent by the other organization's attempt.
    let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = sign_in(&app, &other_org.api_key, None, &mut key, &passkey).await;
    assert_error(&r, 401, "passkey_verification_failed");
    let r = sign_in(&app, &other_org.api_key, Some(&user.email), &mut key, &passkey).await;
    assert_error(&r, 401, "passkey_verification_failed");
}

#[tokio::test]
async fn registration_needs_the_users_own_token() {
    let (app, org, user) = setup().await;
    assert_error(&start_registration(&app, &org.api_key).await, 401, "user_token_required");
    let r = app.post("/api/v1/passkey/register/start", None, &json!({})).await;
    assert_error(&r, 401, "missing_authorization");
    assert_error(&app.get("/api/v1/passkey/list", Some(&org.api_key)).await, 401, "user_token_required");
    // Sign-in flows need the API key, not a user token.
    assert_error(&start_authentication(&app, &user.access_token, None).await, 401, "api_key_required");

    // Another user cannot finish this user's registration.
    let other = app.signup_user(&org.api_key).await;
    let start = start_registration(&app, &user.access_token).await;
    let credential = json!(authenticator().do_registration(origin(&app), creation_options(&start)).unwrap());
    let r = finish_registration(&app, &other.access_token, &start.str("/ceremony_id"), &credential).await;
    assert_error(&r, 400, "ceremony_not_found");
    let r = finish_registration(&app, &org.api_key, &start.str("/ceremony_id"), &credential).await;
    assert_error(&r, 401, "user_token_required");
    assert_eq!(
        finish_registration(&app, &user.access_token, &start.str("/ceremony_id"), &credential).await.status,
        201
    );
}

#[tokio::test]
async fn tampered_or_malformed_responses_are_client_errors() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;

    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let mut assertion = assert_with(&app, &start, &mut key, &passkey);
    let signature = assertion["response"]["signature"].as_str().unwrap().to_owned();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    assertion["response"]["signature"] = json!(format!("{flipped}{}", &signature[1..]));
    let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &assertion).await;
    assert_error(&r, 401, "passkey_verification_failed");

    for bad in [json!("a string"), json!({}), json!({"id": "x", "rawId": "!!!", "type": "public-key", "response": {}})]
    {
        let start = start_authentication(&app, &org.api_key, None).await;
        let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &bad).await;
        assert_error(&r, 400, "invalid_passkey_response");
        let registration = start_registration(&app, &user.access_token).await;
        let r = finish_registration(&app, &user.access_token, &registration.str("/ceremony_id"), &bad).await;
        assert_error(&r, 400, "invalid_passkey_response");
    }
    let r = app
        .post_raw(
            "/api/v1/passkey/authenticate/finish",
            Some(&org.api_key),
            Some("application/json"),
            "{\"ceremony_id\"",
        )
        .await;
    assert_error(&r, 400, "invalid_json");
    let r = app.post("/api/v1/passkey/authenticate/start", Some(&org.api_key), &json!({"email": 5})).await;
    assert_error(&r, 400, "invalid_request");
    // A registration attestation is no assertion.
    let registration = start_registration(&app, &user.access_token).await;
    let credential = json!(authenticator().do_registration(origin(&app), creation_options(&registration)).unwrap());
    let start = start_authentication(&app, &org.api_key, None).await;
    let r = finish_authentication(&app, &org.api_key, &start.str("/ceremony_id"), &credential).await;
    assert!(r.status == 400 || r.status == 401, "{}", r.text);
}

#[tokio::test]
async fn an_unknown_email_gets_options_shaped_like_a_real_users() {
    let (app, org, user) = setup().await;
    let passkey = register(&app, &user, &mut authenticator()).await;
    let nobody = unique_email("nobody");

    let known = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let unknown = start_authentication(&app, &org.api_key, Some(&nobody)).await;
    let again = start_authentication(&app, &org.api_key, Some(&nobody)).await;
    let no_passkey = start_authentication(&app, &org.api_key, Some(&app.signup_user(&org.api_key).await.email)).await;

    let keys = |r: &TestResponse| {
        let mut k: Vec<String> = r.body["publicKey"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&known), keys(&unknown), "{} vs {}", known.text, unknown.text);
    assert_eq!(keys(&known), keys(&no_passkey));
    let allowed = |r: &TestResponse| r.body["publicKey"]["allowCredentials"].clone();
    assert_eq!(allowed(&known), json!([{"type": "public-key", "id": passkey.credential_id}]));
    assert_eq!(allowed(&unknown).as_array().unwrap().len(), 1);
    assert_eq!(allowed(&unknown), allowed(&again), "stable, so repeating the question reveals nothing");
    assert_ne!(allowed(&unknown), allowed(&no_passkey));
}

#[tokio::test]
async fn a_blocked_user_cannot_sign_in_with_a_passkey() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    let r = app.post(&format!("/api/v1/users/{}/block", user.id), Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    assert_error(&sign_in(&app, &org.api_key, None, &mut key, &passkey).await, 403, "user_blocked");
}

#[tokio::test]
async fn a_locked_user_cannot_sign_in_with_a_passkey() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    for _ in 0..5 {
        app.login(&org.api_key, &user.email, "WrongP@ss999").await;
    }

    let r = sign_in(&app, &org.api_key, Some(&user.email), &mut key, &passkey).await;

    assert_error(&r, 429, "account_locked");
}

#[tokio::test]
async fn the_relying_party_follows_the_organizations_settings() {
    let (app, org, user) = setup().await;
    let start = start_registration(&app, &user.access_token).await;
    assert_eq!(start.body["publicKey"]["rp"], json!({"id": "localhost", "name": "Test Org"}), "{}", start.text);

    // Only another origin allowed: a response from the server's own origin no longer verifies.
    let other = format!("http://localhost:{}", app.port.wrapping_add(1));
    let settings = json!({"webauthn_rp_id": "localhost", "webauthn_origins": [other]});
    let r = app
        .send(app.client.patch(app.url("/api/v1/organizations/me/settings")).bearer_auth(&org.api_key).json(&settings))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let start = start_registration(&app, &user.access_token).await;
    let credential = json!(authenticator().do_registration(origin(&app), creation_options(&start)).unwrap());
    let r = finish_registration(&app, &user.access_token, &start.str("/ceremony_id"), &credential).await;
    assert_error(&r, 400, "passkey_verification_failed");
    let start = start_registration(&app, &user.access_token).await;
    let from_other = Url::parse(&other).unwrap();
    let credential = json!(authenticator().do_registration(from_other, creation_options(&start)).unwrap());
    let r = finish_registration(&app, &user.access_token, &start.str("/ceremony_id"), &credential).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A relying party the server's own origin is not part of, with no origins of its own, cannot work.
    let settings = json!({"webauthn_rp_id": "example.com", "webauthn_origins": []});
    let r = app
        .send(app.client.patch(app.url("/api/v1/organizations/me/settings")).bearer_auth(&org.api_key).json(&settings))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_error(&start_registration(&app, &user.access_token).await, 400, "invalid_rp_id");
}

#[tokio::test]
async fn two_simultaneous_finishes_of_one_ceremony_sign_in_once() {
    let (app, org, user) = setup().await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await;
    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let assertion = assert_with(&app, &start, &mut key, &passkey);
    let ceremony = start.str("/ceremony_id");

    let (a, b) = tokio::join!(
        finish_authentication(&app, &org.api_key, &ceremony, &assertion),
        finish_authentication(&app, &org.api_key, &ceremony, &assertion)
    );

    let mut outcomes = vec![(a.status, a.error().to_owned()), (b.status, b.error().to_owned())];
    outcomes.sort();
    assert_eq!(outcomes, vec![(200, String::new()), (400, "ceremony_used".to_owned())], "{} / {}", a.text, b.text);
}
