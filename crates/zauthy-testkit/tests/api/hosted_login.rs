//! The hosted sign-in page over plain HTTP: it renders, refuses posts without the CSRF token or from another
//! origin, signs in with a password (session cookie, then the account page), signs out, and never
//! redirects off-site; the pages' passkey endpoints with a software passkey (the browser test drives the
//! buttons themselves).

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use webauthn_authenticator_rs::prelude::*;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use zauthy_testkit::browser::{Jar, csrf_in, get_page, post_form};
use zauthy_testkit::{TestApp, TestOrg, TestResponse, TestUser};

async fn setup() -> (TestApp, TestOrg, TestUser) {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    (app, org, user)
}

/// Signs in through the hosted form and returns the answer to the form post.
async fn password_sign_in(
    app: &TestApp,
    org: &TestOrg,
    user: &TestUser,
    jar: &mut Jar,
    return_to: &str,
) -> TestResponse {
    let login = get_page(app, jar, &format!("/o/{}/login?return_to={return_to}", org.id)).await;
    let csrf = csrf_in(&login.text);
    let form =
        [("csrf_token", csrf.as_str()), ("email", &user.email), ("password", &user.password), ("return_to", return_to)];
    post_form(app, jar, &format!("/o/{}/login", org.id), Some(&app.address), &form).await
}

#[tokio::test]
async fn the_sign_in_page_renders_the_password_form_and_the_passkey_button() {
    let (app, org, _) = setup().await;
    let mut jar = Jar::default();

    let r = get_page(&app, &mut jar, &format!("/o/{}/login", org.id)).await;

    assert_eq!(r.status, 200, "{}", r.text);
    for id in [r#"id="email""#, r#"id="password""#, r#"id="sign-in""#, r#"id="passkey-sign-in""#, r#"id="error""#] {
        assert!(r.text.contains(id), "{id} missing in:\n{}", r.text);
    }
    assert!(r.text.contains(r#"<script src="/assets/passkey.js" defer></script>"#));
    assert!(r.header("content-security-policy").unwrap().contains("script-src 'self'"));
    assert!(jar.get("zauthy_csrf").is_some(), "the page sets the CSRF cookie");
    let script = app.get("/assets/passkey.js", None).await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").unwrap().starts_with("text/javascript"));
    assert!(script.text.contains("navigator.credentials.get"));
    assert_eq!(app.get("/o/org_aaaaaaaaaaaaaaaaaaaaaaaa/login", None).await.status, 404);
}

#[tokio::test]
async fn a_sign_in_post_without_the_csrf_token_or_from_another_origin_is_refused() {
    let (app, org, user) = setup().await;
    let mut jar = Jar::default();
    let login = get_page(&app, &mut jar, &format!("/o/{}/login", org.id)).await;
    let csrf = csrf_in(&login.text);
    let path = format!("/o/{}/login", org.id);

    let without = [("email", user.email.as_str()), ("password", user.password.as_str())];
    let r = post_form(&app, &mut jar, &path, Some(&app.address), &without).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains(r#"data-error="csrf_failed""#), "{}", r.text);

    let with = [("csrf_token", csrf.as_str()), ("email", &user.email), ("password", &user.password)];
    let r = post_form(&app, &mut jar, &path, Some("https://evil.com"), &with).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains(r#"data-error="csrf_failed""#), "{}", r.text);

    let wrong = [("csrf_token", "A".repeat(43)), ("email", user.email.clone()), ("password", user.password.clone())];
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_form(&app, &mut jar, &path, Some(&app.address), &wrong).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // The passkey endpoints of the page want the header token too.
    let start = format!("/o/{}/passkey/authenticate/start", org.id);
    let r = app.send(app.client.post(app.url(&start)).header(COOKIE, jar.header()).json(&json!({}))).await;
    assert_eq!((r.status, r.error()), (403, "csrf_failed"), "{}", r.text);
    let r = app
        .send(
            app.client
                .post(app.url(&start))
                .header(COOKIE, jar.header())
                .header("x-csrf-token", &csrf)
                .json(&serde_json::json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["ceremony_id"].as_str().unwrap().starts_with("pkc_"));
    assert!(jar.get("zauthy_session").is_none(), "nobody signed in");
}

#[tokio::test]
async fn password_sign_in_on_the_hosted_page_sets_the_session_and_logout_ends_it() {
    let (app, org, user) = setup().await;
    let mut jar = Jar::default();
    let account = format!("/o/{}/account", org.id);

    let r = password_sign_in(&app, &org, &user, &mut jar, &format!("/o/{}/passkeys", org.id)).await;

    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some(format!("/o/{}/passkeys", org.id).as_str()));
    let set_cookie: Vec<_> = r.headers.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let session = set_cookie.iter().find(|c| c.starts_with("zauthy_session=")).expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains(&format!("Path=/o/{}", org.id)), "{session}");
    let page = get_page(&app, &mut jar, &account).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains(r#"id="signed-in-as""#) && page.text.contains(&user.email), "{}", page.text);
    let passkeys = get_page(&app, &mut jar, &format!("/o/{}/passkeys", org.id)).await;
    assert!(passkeys.text.contains(r#"id="add-passkey""#) && passkeys.text.contains(r#"id="passkey-list""#));
    // Signed in already: the sign-in page sends the browser on.
    assert_eq!(get_page(&app, &mut jar, &format!("/o/{}/login", org.id)).await.status, 303);
    let logins = app.services.store.list_events(&org.id, Some("user.login"), 10).await.unwrap();
    assert_eq!(logins[0].data["method"], "password");

    let csrf = csrf_in(&page.text);
    let r =
        post_form(&app, &mut jar, &format!("/o/{}/logout", org.id), Some(&app.address), &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let after = get_page(&app, &mut jar, &account).await;
    assert_eq!(after.status, 303);
    assert!(after.header("location").unwrap().starts_with(&format!("/o/{}/login", org.id)));
    let passkeys = get_page(&app, &mut jar, &format!("/o/{}/passkeys", org.id)).await;
    assert_eq!(passkeys.status, 303, "signed out, the passkeys page sends the browser to sign in");
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_the_error() {
    let (app, org, user) = setup().await;
    let mut jar = Jar::default();
    let wrong = TestUser { password: "WrongP@ss999".to_owned(), ..user.clone() };

    let r = password_sign_in(&app, &org, &wrong, &mut jar, "").await;

    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains(r#"id="error" role="alert">Invalid email or password"#), "{}", r.text);
    assert!(r.text.contains(&user.email), "the email stays filled in");
    assert!(jar.get("zauthy_session").is_none());
}

#[tokio::test]
async fn return_to_never_leaves_the_organizations_pages() {
    let (app, org, user) = setup().await;
    let escapes = [
        format!("/o/{}/../org_bbbbbbbbbbbbbbbbbbbbbbbb/account", org.id),
        format!("/o/{}/%2e%2e/org_bbbbbbbbbbbbbbbbbbbbbbbb/account", org.id),
    ];
    let targets =
        ["https://evil.com", "//evil.com", "/o/org_bbbbbbbbbbbbbbbbbbbbbbbb/account", &escapes[0], &escapes[1]];
    for target in targets {
        let mut jar = Jar::default();
        let r = password_sign_in(&app, &org, &user, &mut jar, target).await;
        assert_eq!(r.status, 303, "{}", r.text);
        assert_eq!(r.headers.get(LOCATION).unwrap(), &format!("/o/{}/account", org.id), "{target}");
    }
    let mut jar = Jar::default();
    let page = get_page(&app, &mut jar, &format!("/o/{}/login?return_to=https://evil.com", org.id)).await;
    assert!(!page.text.contains("evil.com"), "{}", page.text);
}

/// A JSON post from the page's script: cookies, the CSRF header and this server's Origin.
async fn post_script(app: &TestApp, jar: &mut Jar, path: &str, csrf: Option<&str>, body: &Value) -> TestResponse {
    let mut request = app.client.post(app.url(path)).header(COOKIE, jar.header()).header(ORIGIN, &app.address);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let r = app.send(request.json(body)).await;
    jar.take(&r);
    r
}

#[tokio::test]
async fn the_pages_passkey_endpoints_register_sign_in_and_remove_for_the_signed_in_browser() {
    let (app, org, user) = setup().await;
    let origin = Url::parse(&app.address).unwrap();
    let mut key = SoftPasskey::new(true);
    let mut jar = Jar::default();
    let o = |rest: &str| format!("/o/{}{rest}", org.id);

    // Signed out, registration is refused (after the CSRF check).
    let login = get_page(&app, &mut jar, &o("/login")).await;
    let csrf = csrf_in(&login.text);
    let r = post_script(&app, &mut jar, &o("/passkey/register/start"), Some(&csrf), &json!({})).await;
    assert_eq!((r.status, r.error()), (401, "missing_authorization"), "{}", r.text);

    assert_eq!(password_sign_in(&app, &org, &user, &mut jar, "").await.status, 303);
    let r = post_script(&app, &mut jar, &o("/passkey/register/start"), None, &json!({})).await;
    assert_eq!((r.status, r.error()), (403, "csrf_failed"), "{}", r.text);
    let start = post_script(&app, &mut jar, &o("/passkey/register/start"), Some(&csrf), &json!({})).await;
    assert_eq!(start.status, 200, "{}", start.text);
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": start.body["publicKey"]})).unwrap();
    let credential = key.do_registration(origin.clone(), options).unwrap();
    let body = json!({"ceremony_id": start.body["ceremony_id"], "credential": credential, "name": "Soft key"});
    let r = post_script(&app, &mut jar, &o("/passkey/register/finish"), Some(&csrf), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let passkey_id = r.str("/id");
    let page = get_page(&app, &mut jar, &o("/passkeys")).await;
    assert!(page.text.contains(&format!(r#"<li class="passkey" data-id="{passkey_id}">"#)), "{}", page.text);
    assert!(page.text.contains("Soft key"));

    // Sign out, then in again with the passkey through the sign-in page's endpoints.
    let account = get_page(&app, &mut jar, &o("/account")).await;
    let logout = [("csrf_token", csrf_in(&account.text))];
    let logout: Vec<(&str, &str)> = logout.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post_form(&app, &mut jar, &o("/logout"), Some(&app.address), &logout).await.status, 303);
    assert!(jar.get("zauthy_session").is_none());
    let start =
        post_script(&app, &mut jar, &o("/passkey/authenticate/start"), Some(&csrf), &json!({"email": user.email}))
            .await;
    assert_eq!(start.status, 200, "{}", start.text);
    let options: RequestChallengeResponse =
        serde_json::from_value(json!({"publicKey": start.body["publicKey"]})).unwrap();
    let assertion = key.do_authentication(origin, options).unwrap();
    let body =
        json!({"ceremony_id": start.body["ceremony_id"], "credential": assertion, "return_to": "https://evil.com"});
    let r = post_script(&app, &mut jar, &o("/passkey/authenticate/finish"), Some(&csrf), &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"location": o("/account")}));
    assert!(jar.get("zauthy_session").is_some(), "the passkey sign-in set the session cookie");
    let account = get_page(&app, &mut jar, &o("/account")).await;
    assert!(account.text.contains(&user.email), "{}", account.text);

    // Remove it with the page's form.
    let page = get_page(&app, &mut jar, &o("/passkeys")).await;
    let form = [("csrf_token", csrf_in(&page.text))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_form(&app, &mut jar, &o(&format!("/passkeys/{passkey_id}/remove")), Some(&app.address), &form).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = get_page(&app, &mut jar, &o("/passkeys")).await;
    assert!(page.text.contains(r#"id="no-passkeys""#), "{}", page.text);
    let removed = app.services.store.list_events(&org.id, Some("passkey.removed"), 10).await.unwrap();
    assert_eq!(removed[0].data["passkey_id"], passkey_id.as_str());
}

/// The current code of a TOTP seed, computed with the server's own parameters (the independent check of the
/// algorithm lives in the MFA suite).
fn totp_now(app: &TestApp, secret: &str) -> String {
    let seed = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
    let totp = zauthy_core::mfa::totp_for(&seed, "x", "y").unwrap();
    totp.generate(app.services.now().unix_timestamp() as u64).to_string()
}

#[tokio::test]
async fn a_user_with_mfa_signs_in_on_the_hosted_page_with_password_then_code() {
    let (app, org, user) = setup().await;
    let secret = app.post("/api/v1/mfa/totp/setup", Some(&user.access_token), &json!({})).await.str("/secret");
    let confirm = json!({"code": totp_now(&app, &secret)});
    assert_eq!(app.post("/api/v1/mfa/totp/verify", Some(&user.access_token), &confirm).await.status, 200);
    app.clock.advance(time::Duration::seconds(30));
    let mut jar = Jar::default();
    let passkeys = format!("/o/{}/passkeys", org.id);

    let r = password_sign_in(&app, &org, &user, &mut jar, &passkeys).await;
    assert_eq!(r.status, 200, "the code form, not a redirect: {}", r.text);
    assert!(jar.get("zauthy_session").is_none(), "no session before the second factor");
    let marker = r#"name="mfa_token" value=""#;
    let at = r.text.find(marker).unwrap_or_else(|| panic!("no mfa_token in:\n{}", r.text));
    let mfa_token = r.text[at + marker.len()..].split('"').next().unwrap().to_owned();
    let csrf = csrf_in(&r.text);

    let code = totp_now(&app, &secret);
    let form = [("csrf_token", csrf.as_str()), ("mfa_token", &mfa_token), ("code", &code), ("return_to", &passkeys)];
    let r = post_form(&app, &mut jar, &format!("/o/{}/login/mfa", org.id), Some(&app.address), &form).await;

    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some(passkeys.as_str()));
    assert!(jar.get("zauthy_session").is_some());
    let account = get_page(&app, &mut jar, &format!("/o/{}/account", org.id)).await;
    assert!(account.text.contains(&user.email), "{}", account.text);
}
