//! Passwordless sign-in: magic links (API and hosted landing page), one-time codes by email and by SMS
//! (through Twilio's API, answered by a local receiver), and the send limits against bombing.

mod magic_links;
mod otp;
mod sms;

use serde_json::{Value, json};
use std::time::Duration as StdDuration;
use zauthy_testkit::smtp::ReceivedMail;
use zauthy_testkit::{PASSWORD, TestApp, TestResponse, TestUser, unique_email};

pub fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

pub async fn patch_settings(app: &TestApp, api_key: &str, body: Value) {
    let request = app.client.patch(app.url("/api/v1/organizations/me/settings")).bearer_auth(api_key).json(&body);
    let r = app.send(request).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

pub async fn allow_passwordless_signup(app: &TestApp, api_key: &str) {
    patch_settings(app, api_key, json!({"passwordless_signup": true})).await;
}

/// A user who signed up with a phone number.
pub async fn signup_with_phone(app: &TestApp, api_key: &str, phone: &str) -> TestUser {
    let email = unique_email("phone");
    let r =
        app.post("/api/v1/signup", Some(api_key), &json!({"email": email, "password": PASSWORD, "phone": phone})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    TestUser {
        id: r.str("/user/id"),
        email,
        password: PASSWORD.to_owned(),
        access_token: r.str("/access_token"),
        refresh_token: r.str("/refresh_token"),
    }
}

/// A fresh E.164 number per call.
pub fn unique_phone() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("+1415{:03}{:04}", std::process::id() % 1000, N.fetch_add(1, Ordering::Relaxed) % 10_000)
}

/// Asserts that a sign-in answer carries the user and working tokens, and returns the user object.
pub async fn assert_signed_in(app: &TestApp, api_key: &str, r: &TestResponse, email: &str) -> Value {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], json!(false), "{}", r.text);
    assert_eq!(r.body["user"]["email"], json!(email), "{}", r.text);
    let verified = app.verify(api_key, &r.str("/access_token")).await;
    assert_eq!(verified.body["valid"], json!(true), "{}", verified.text);
    assert_eq!(verified.body["user_id"], r.body["user"]["id"]);
    let refreshed = app.refresh(&r.str("/refresh_token")).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    r.body["user"].clone()
}

/// Waits until `n` messages have reached the SMTP sink.
pub async fn mails(app: &TestApp, n: usize) -> Vec<ReceivedMail> {
    app.smtp.wait_for(n, StdDuration::from_secs(10)).await.expect("the emails did not arrive")
}

/// The first run of six digits in a text.
pub fn six_digits_in(text: &str) -> String {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5))
        .find(|&i| {
            bytes[i..i + 6].iter().all(u8::is_ascii_digit)
                && (i == 0 || !bytes[i - 1].is_ascii_digit())
                && bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit())
        })
        .map(|i| text[i..i + 6].to_owned())
        .unwrap_or_else(|| panic!("no six-digit code in {text:?}"))
}

/// `user.login` events of the organization, newest first, as `(user_id, method)`.
pub async fn logins(app: &TestApp, org_id: &str) -> Vec<(String, String)> {
    let events = app.services.store.list_events(org_id, Some("user.login"), 50).await.expect("events");
    events
        .into_iter()
        .map(|e| (e.user_id.unwrap_or_default(), e.data["method"].as_str().unwrap_or("").to_owned()))
        .collect()
}

pub async fn event_types(app: &TestApp, org_id: &str) -> Vec<String> {
    let events = app.services.store.list_events(org_id, None, 200).await.expect("events");
    events.into_iter().map(|e| e.event_type).collect()
}
