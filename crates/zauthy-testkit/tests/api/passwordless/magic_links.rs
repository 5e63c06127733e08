//! Magic links: the emailed link, its single use and lifetime, the redirect allow-list, unknown addresses,
//! passwordless signup, and the hosted landing page (GET shows, CSRF-protected POST signs in).

use super::{allow_passwordless_signup, assert_error, assert_signed_in, event_types, logins, mails, patch_settings};
use serde_json::json;
use time::Duration;
use zauthy_core::passwordless::MAGIC_LINK_SENT_MESSAGE;
use zauthy_testkit::smtp::ReceivedMail;
use zauthy_testkit::{TestApp, TestOrg, TestResponse, TestUser, unique_email};

async fn send(app: &TestApp, api_key: &str, email: &str) -> TestResponse {
    app.post("/api/v1/magic-link/send", Some(api_key), &json!({"email": email})).await
}

async fn send_to(app: &TestApp, api_key: &str, email: &str, redirect_url: &str) -> TestResponse {
    app.post("/api/v1/magic-link/send", Some(api_key), &json!({"email": email, "redirect_url": redirect_url})).await
}

async fn verify(app: &TestApp, api_key: &str, token: &str) -> TestResponse {
    app.post("/api/v1/magic-link/verify", Some(api_key), &json!({"token": token})).await
}

/// The sign-in link in a mail: the line that carries `token=ml_…`.
fn link_in(mail: &ReceivedMail) -> String {
    let body = mail.text_body();
    body.lines()
        .map(str::trim)
        .find(|l| l.contains("token=ml_"))
        .unwrap_or_else(|| panic!("no magic link in the mail:\n{body}"))
        .to_owned()
}

fn token_of(link: &str) -> String {
    let start = link.find("token=").expect("token parameter") + "token=".len();
    link[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

/// Sends a link to `user` and returns the token from the email that arrives.
async fn token_for(app: &TestApp, org: &TestOrg, user: &TestUser) -> String {
    let r = send(app, &org.api_key, &user.email).await;
    assert_eq!(r.status, 200, "{}", r.text);
    token_of(&link_in(&app.email_to(&user.email).await))
}

// ---------------------------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_magic_link_arrives_by_email_and_signs_the_user_in() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = send(&app, &org.api_key, &user.email).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"message": MAGIC_LINK_SENT_MESSAGE}));
    let mail = app.email_to(&user.email).await;
    assert!(mail.subject().unwrap_or_default().contains("Sign in"), "{:?}", mail.subject());
    let link = link_in(&mail);
    // Without a redirect_url the link lands on the organization's hosted page.
    assert!(link.starts_with(&format!("{}/o/{}/magic-link?token=ml_", app.address, org.id)), "{link}");
    let token = token_of(&link);
    assert_eq!(token.len(), 3 + 43, "a 256-bit token, got {token:?}");

    let signed_in = verify(&app, &org.api_key, &token).await;
    let returned = assert_signed_in(&app, &org.api_key, &signed_in, &user.email).await;
    assert_eq!(returned["id"], json!(user.id));
    assert_eq!(returned["is_verified"], json!(true), "a used link proves the address");
    assert_eq!(logins(&app, &org.id).await[0], (user.id.clone(), "magic_link".to_owned()));
    let types = event_types(&app, &org.id).await;
    for expected in ["magic_link.sent", "email.verified", "user.login"] {
        assert!(types.iter().any(|t| t == expected), "{expected} missing from {types:?}");
    }
}

#[tokio::test]
async fn reusing_a_magic_link_is_rejected() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;
    assert_eq!(verify(&app, &org.api_key, &token).await.status, 200);

    let again = verify(&app, &org.api_key, &token).await;

    assert_error(&again, 400, "magic_link_used");
}

#[tokio::test]
async fn an_expired_magic_link_is_rejected() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;

    app.clock.advance(Duration::minutes(16));
    let r = verify(&app, &org.api_key, &token).await;

    assert_error(&r, 400, "magic_link_expired");
}

#[tokio::test]
async fn a_magic_link_is_rejected_with_another_organizations_api_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;

    let r = verify(&app, &other.api_key, &token).await;

    assert_error(&r, 400, "magic_link_wrong_organization");
    // The attempt did not spend it.
    assert_eq!(verify(&app, &org.api_key, &token).await.status, 200);
}

#[tokio::test]
async fn a_tampered_or_made_up_magic_link_is_rejected() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;
    let last = token.chars().last().unwrap();
    let tampered = format!("{}{}", &token[..token.len() - 1], if last == 'A' { 'B' } else { 'A' });

    for bad in [tampered.as_str(), "ml_short", "prt_not-a-magic-link", "", &format!("{token}x")] {
        assert_error(&verify(&app, &org.api_key, bad).await, 400, "invalid_magic_link");
    }
    assert_eq!(verify(&app, &org.api_key, &token).await.status, 200);
}

#[tokio::test]
async fn a_redirect_url_outside_the_allow_list_is_rejected_and_nothing_is_sent() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    patch_settings(&app, &org.api_key, json!({"allowed_redirect_urls": ["https://app.example.com/auth/callback"]}))
        .await;

    for bad in [
        "https://evil.example.com/auth/callback",
        "https://app.example.com/auth/callback/",
        "https://app.example.com/auth/callback?next=https://evil.example.com",
        "https://app.example.com.evil.com/auth/callback",
        "not a url",
    ] {
        assert_error(&send_to(&app, &org.api_key, &user.email, bad).await, 400, "invalid_redirect_url");
    }
    // A known address afterwards: its mail is the first and only one.
    let other = app.signup_user(&org.api_key).await;
    assert_eq!(send(&app, &org.api_key, &other.email).await.status, 200);
    let all = mails(&app, 1).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].to, vec![other.email.clone()]);
}

#[tokio::test]
async fn an_allowed_redirect_url_is_used_exactly_in_the_emailed_link() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let plain = "https://app.example.com/auth/callback";
    let with_query = "https://app.example.com/auth/callback?flow=signin";
    patch_settings(&app, &org.api_key, json!({"allowed_redirect_urls": [plain, with_query]})).await;

    assert_eq!(send_to(&app, &org.api_key, &user.email, plain).await.status, 200);
    let first = link_in(&mails(&app, 1).await[0]);
    app.clock.advance(Duration::seconds(1));
    assert_eq!(send_to(&app, &org.api_key, &user.email, with_query).await.status, 200);
    let second = link_in(&mails(&app, 2).await[1]);

    assert_eq!(first, format!("{plain}?token={}", token_of(&first)));
    assert_eq!(second, format!("{with_query}&token={}", token_of(&second)));
    // Either link's token signs in through the API.
    let r = verify(&app, &org.api_key, &token_of(&second)).await;
    assert_signed_in(&app, &org.api_key, &r, &user.email).await;
}

#[tokio::test]
async fn a_magic_link_for_an_unknown_email_answers_the_same_and_sends_nothing() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    // The unknown address goes first: had it queued a mail, that mail would arrive before the known one.
    let unknown = send(&app, &org.api_key, &unique_email("nobody")).await;
    let known = send(&app, &org.api_key, &user.email).await;
    app.email_to(&user.email).await;

    assert_eq!((unknown.status, &unknown.body), (known.status, &known.body));
    let all = app.smtp.messages();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].to, vec![user.email.clone()]);
}

#[tokio::test]
async fn a_blocked_user_gets_no_magic_link() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let blocked = app.signup_user(&org.api_key).await;
    let user = app.signup_user(&org.api_key).await;
    let r = app.post(&format!("/api/v1/users/{}/block", blocked.id), Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let for_blocked = send(&app, &org.api_key, &blocked.email).await;
    let for_user = send(&app, &org.api_key, &user.email).await;
    app.email_to(&user.email).await;

    assert_eq!(for_blocked.body, for_user.body);
    assert_eq!(app.smtp.messages().len(), 1, "a blocked account got a link");
}

#[tokio::test]
async fn with_passwordless_signup_a_magic_link_creates_a_verified_account_without_a_password() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    allow_passwordless_signup(&app, &org.api_key).await;
    let email = unique_email("newcomer");

    assert_eq!(send(&app, &org.api_key, &email).await.status, 200);
    let token = token_of(&link_in(&app.email_to(&email).await));
    let r = verify(&app, &org.api_key, &token).await;

    let created = assert_signed_in(&app, &org.api_key, &r, &email).await;
    assert_eq!(created["is_verified"], json!(true));
    assert_eq!(created["role"], json!("user"));
    let listed = app.get(&format!("/api/v1/users/{}", created["id"].as_str().unwrap()), Some(&org.api_key)).await;
    assert_eq!(listed.body["email"], json!(email), "{}", listed.text);
    // No password was set: a password login cannot succeed.
    assert_error(&app.login(&org.api_key, &email, "").await, 401, "invalid_credentials");
    let types = event_types(&app, &org.id).await;
    for expected in ["user.signup", "email.verified", "user.login", "magic_link.sent"] {
        assert!(types.iter().any(|t| t == expected), "{expected} missing from {types:?}");
    }
    // The next link signs in to the same account.
    app.clock.advance(Duration::seconds(1));
    assert_eq!(send(&app, &org.api_key, &email).await.status, 200);
    let second = token_of(&link_in(&mails(&app, 2).await[1]));
    assert_eq!(verify(&app, &org.api_key, &second).await.body["user"]["id"], created["id"]);
}

#[tokio::test]
async fn magic_link_send_needs_the_api_key_and_a_valid_email() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let anonymous = app.post("/api/v1/magic-link/send", None, &json!({"email": user.email})).await;
    let as_user = send(&app, &user.access_token, &user.email).await;
    let malformed = send(&app, &org.api_key, "not-an-email").await;

    assert_error(&anonymous, 401, "missing_authorization");
    assert_error(&as_user, 401, "api_key_required");
    assert_error(&malformed, 400, "invalid_email");
}

// ---------------------------------------------------------------------------------------------------------------
// Hosted landing page
// ---------------------------------------------------------------------------------------------------------------

/// `name=value` of each `Set-Cookie`, joined for a `Cookie` header.
fn cookies_of(r: &TestResponse) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in:\n{html}")) + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

async fn open_landing(app: &TestApp, org: &TestOrg, token: &str) -> TestResponse {
    app.send(app.client.get(app.url(&format!("/o/{}/magic-link?token={token}", org.id)))).await
}

#[tokio::test]
async fn opening_the_hosted_landing_page_does_not_spend_the_link() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;

    // A mail scanner prefetching the link, twice.
    let first = open_landing(&app, &org, &token).await;
    let second = open_landing(&app, &org, &token).await;

    for page in [&first, &second] {
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(
            page.text.contains(&format!(r#"<strong id="magic-link-email">{}</strong>"#, user.email)),
            "{}",
            page.text
        );
        assert!(page.text.contains(&format!(r#"action="/o/{}/magic-link""#, org.id)), "{}", page.text);
        assert_eq!(hidden_value(&page.text, "token"), token);
    }
    assert_eq!(first.header("cache-control"), Some("no-store"));
    // The token in this page's URL is never sent to another site as a referrer.
    assert_eq!(first.header("referrer-policy"), Some("same-origin"));
    assert_eq!(verify(&app, &org.api_key, &token).await.status, 200, "the GETs spent the link");
    // Once spent, the page says so instead of offering to sign in.
    let spent = open_landing(&app, &org, &token).await;
    assert_eq!(spent.status, 400);
    assert!(spent.text.contains(r#"data-error="magic_link_used""#), "{}", spent.text);
}

#[tokio::test]
async fn the_hosted_landing_refuses_a_post_without_the_csrf_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;
    let page = open_landing(&app, &org, &token).await;
    let cookies = cookies_of(&page);
    let csrf = hidden_value(&page.text, "csrf_token");
    let url = app.url(&format!("/o/{}/magic-link", org.id));

    let without_field = app
        .send(
            app.client
                .post(&url)
                .header("cookie", &cookies)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", token.as_str())])),
        )
        .await;
    let without_cookie = app
        .send(
            app.client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", token.as_str()), ("csrf_token", csrf.as_str())])),
        )
        .await;
    let cross_site = app
        .send(
            app.client
                .post(&url)
                .header("cookie", &cookies)
                .header("origin", "https://evil.example.com")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", token.as_str()), ("csrf_token", csrf.as_str())])),
        )
        .await;

    for r in [&without_field, &without_cookie, &cross_site] {
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains(r#"data-error="csrf_failed""#), "{}", r.text);
        assert!(r.header("set-cookie").is_none_or(|c| !c.starts_with("zauthy_session=")));
    }
    assert_eq!(verify(&app, &org.api_key, &token).await.status, 200, "a refused POST spent the link");
}

#[tokio::test]
async fn confirming_on_the_hosted_landing_page_signs_the_browser_in() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;
    let page = open_landing(&app, &org, &token).await;
    let csrf_cookie = cookies_of(&page);
    let csrf = hidden_value(&page.text, "csrf_token");

    let confirmed = app
        .send(
            app.client
                .post(app.url(&format!("/o/{}/magic-link", org.id)))
                .header("cookie", &csrf_cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("token", token.as_str()), ("csrf_token", csrf.as_str())])),
        )
        .await;

    assert_eq!(confirmed.status, 303, "{}", confirmed.text);
    assert_eq!(confirmed.header("location"), Some(format!("/o/{}/account", org.id).as_str()));
    let session_cookie = cookies_of(&confirmed);
    assert!(session_cookie.starts_with("zauthy_session=bs_"), "{session_cookie}");
    let account = app
        .send(
            app.client
                .get(app.url(&format!("/o/{}/account", org.id)))
                .header("cookie", format!("{session_cookie}; {csrf_cookie}")),
        )
        .await;
    assert_eq!(account.status, 200, "{}", account.text);
    assert!(account.text.contains(r#"id="signed-in-as""#), "{}", account.text);
    assert!(account.text.contains(&user.email), "{}", account.text);
    assert_eq!(logins(&app, &org.id).await[0], (user.id.clone(), "magic_link".to_owned()));
    // The link is spent.
    assert_error(&verify(&app, &org.api_key, &token).await, 400, "magic_link_used");
}

#[tokio::test]
async fn two_simultaneous_uses_of_one_magic_link_sign_in_only_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;

    let (a, b) = tokio::join!(verify(&app, &org.api_key, &token), verify(&app, &org.api_key, &token));

    let mut outcomes = vec![(a.status, a.error().to_owned()), (b.status, b.error().to_owned())];
    outcomes.sort();
    assert_eq!(outcomes, vec![(200, String::new()), (400, "magic_link_used".to_owned())], "{} / {}", a.text, b.text);
    assert_eq!(logins(&app, &org.id).await.iter().filter(|(_, m)| m == "magic_link").count(), 1);
}

#[tokio::test]
async fn the_hosted_landing_page_of_an_expired_or_foreign_link_explains_instead_of_offering_sign_in() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = token_for(&app, &org, &user).await;

    let foreign = open_landing(&app, &other, &token).await;
    let bogus = open_landing(&app, &org, "ml_bogus").await;
    app.clock.advance(Duration::minutes(16));
    let expired = open_landing(&app, &org, &token).await;

    for (page, code) in
        [(&foreign, "magic_link_wrong_organization"), (&bogus, "invalid_magic_link"), (&expired, "magic_link_expired")]
    {
        assert_eq!(page.status, 400, "{}", page.text);
        assert!(page.text.contains(&format!(r#"data-error="{code}""#)), "{}", page.text);
        assert!(!page.text.contains("confirm-sign-in"), "{}", page.text);
    }
}
