//! One-time codes by email: delivery, single use, five tries, expiry, cool-down, send limits, and answers
//! that are the same for destinations with and without an account.

use super::{allow_passwordless_signup, assert_error, assert_signed_in, event_types, logins, mails, six_digits_in};
use serde_json::{Value, json};
use time::Duration;
use zauthy_core::passwordless::OTP_SENT_MESSAGE;
use zauthy_testkit::{TestApp, TestOrg, TestResponse, TestUser, unique_email};

pub async fn send(app: &TestApp, api_key: &str, body: Value) -> TestResponse {
    app.post("/api/v1/otp/send", Some(api_key), &body).await
}

pub async fn verify(app: &TestApp, api_key: &str, body: Value) -> TestResponse {
    app.post("/api/v1/otp/verify", Some(api_key), &body).await
}

async fn send_email_code(app: &TestApp, api_key: &str, email: &str) -> TestResponse {
    send(app, api_key, json!({"email": email, "channel": "email"})).await
}

async fn verify_email_code(app: &TestApp, api_key: &str, email: &str, code: &str) -> TestResponse {
    verify(app, api_key, json!({"email": email, "code": code})).await
}

/// Sends a code to the user's email and returns it from the mail that arrives (the `nth` mail overall).
async fn code_for(app: &TestApp, org: &TestOrg, user: &TestUser, nth: usize) -> String {
    let r = send_email_code(app, &org.api_key, &user.email).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mail = &mails(app, nth).await[nth - 1];
    assert_eq!(mail.to, vec![user.email.clone()]);
    six_digits_in(&mail.text_body())
}

/// A six-digit code that is not `code`.
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn an_emailed_code_signs_the_user_in() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = send_email_code(&app, &org.api_key, &user.email).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"message": OTP_SENT_MESSAGE}));
    let mail = app.email_to(&user.email).await;
    let code = six_digits_in(&mail.text_body());
    assert!(mail.subject().unwrap_or_default().contains(&code), "{:?}", mail.subject());

    let signed_in = verify_email_code(&app, &org.api_key, &user.email, &code).await;

    let returned = assert_signed_in(&app, &org.api_key, &signed_in, &user.email).await;
    assert_eq!(returned["id"], json!(user.id));
    assert_eq!(returned["is_verified"], json!(true));
    assert_eq!(logins(&app, &org.id).await[0], (user.id.clone(), "email_otp".to_owned()));
    let types = event_types(&app, &org.id).await;
    for expected in ["otp.sent", "email.verified", "user.login"] {
        assert!(types.iter().any(|t| t == expected), "{expected} missing from {types:?}");
    }
}

#[tokio::test]
async fn a_code_works_only_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let code = code_for(&app, &org, &user, 1).await;
    assert_eq!(verify_email_code(&app, &org.api_key, &user.email, &code).await.status, 200);

    let again = verify_email_code(&app, &org.api_key, &user.email, &code).await;

    assert_error(&again, 400, "invalid_otp");
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code_even_for_the_right_one_after() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let code = code_for(&app, &org, &user, 1).await;
    let wrong = other_than(&code);

    for attempt in 1..=5 {
        let r = verify_email_code(&app, &org.api_key, &user.email, &wrong).await;
        assert_eq!((r.status, r.error()), (400, "invalid_otp"), "attempt {attempt}: {}", r.text);
    }
    let sixth = verify_email_code(&app, &org.api_key, &user.email, &code).await;

    assert_error(&sixth, 400, "otp_attempts_exceeded");
    // A new code (after the cool-down) works again.
    app.clock.advance(Duration::seconds(61));
    let fresh = code_for(&app, &org, &user, 2).await;
    assert_eq!(verify_email_code(&app, &org.api_key, &user.email, &fresh).await.status, 200);
}

#[tokio::test]
async fn an_expired_code_is_rejected() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let code = code_for(&app, &org, &user, 1).await;

    app.clock.advance(Duration::minutes(11));
    let r = verify_email_code(&app, &org.api_key, &user.email, &code).await;

    assert_error(&r, 400, "otp_expired");
}

#[tokio::test]
async fn a_second_code_within_a_minute_is_refused_for_known_and_unknown_addresses_alike() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let nobody = unique_email("nobody");
    let old = code_for(&app, &org, &user, 1).await;
    assert_eq!(send_email_code(&app, &org.api_key, &nobody).await.status, 200);

    let known = send_email_code(&app, &org.api_key, &user.email).await;
    let unknown = send_email_code(&app, &org.api_key, &nobody).await;

    for r in [&known, &unknown] {
        assert_error(r, 429, "otp_cooldown");
        let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    assert_eq!(known.body, unknown.body);
    // After the cool-down a new code replaces the old one.
    app.clock.advance(Duration::seconds(61));
    let new = code_for(&app, &org, &user, 2).await;
    if new != old {
        assert_error(&verify_email_code(&app, &org.api_key, &user.email, &old).await, 400, "invalid_otp");
    }
    assert_eq!(verify_email_code(&app, &org.api_key, &user.email, &new).await.status, 200);
}

#[tokio::test]
async fn a_destination_gets_at_most_five_codes_an_hour_known_or_not() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let nobody = unique_email("nobody");

    for round in 1..=5 {
        for email in [&user.email, &nobody] {
            let r = send_email_code(&app, &org.api_key, email).await;
            assert_eq!(r.status, 200, "send {round} to {email}: {}", r.text);
        }
        app.clock.advance(Duration::seconds(61));
    }
    let known = send_email_code(&app, &org.api_key, &user.email).await;
    let unknown = send_email_code(&app, &org.api_key, &nobody).await;
    // A magic link to the same address counts against the same budget.
    let link = app.post("/api/v1/magic-link/send", Some(&org.api_key), &json!({"email": user.email})).await;

    for r in [&known, &unknown, &link] {
        assert_error(r, 429, "rate_limited");
        let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
    }
    assert_eq!(known.body, unknown.body);
    assert_eq!(mails(&app, 5).await.len(), 5, "only the known address got mail");
    // An hour after the first send, the budget has room again.
    app.clock.advance(Duration::minutes(56));
    assert_eq!(send_email_code(&app, &org.api_key, &user.email).await.status, 200);
}

#[tokio::test]
async fn one_client_ip_may_ask_for_twenty_codes_an_hour() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    for n in 1..=20 {
        let r = send_email_code(&app, &org.api_key, &unique_email("spray")).await;
        assert_eq!(r.status, 200, "send {n}: {}", r.text);
    }
    let refused = send_email_code(&app, &org.api_key, &unique_email("spray")).await;

    assert_error(&refused, 429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
}

#[tokio::test]
async fn unknown_destinations_get_the_same_send_answer_and_verify_says_invalid_otp() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let nobody = unique_email("nobody");
    let nobody_phone = super::unique_phone();

    let unknown = send_email_code(&app, &org.api_key, &nobody).await;
    let unknown_phone = send(&app, &org.api_key, json!({"phone": nobody_phone, "channel": "sms"})).await;
    let known = send_email_code(&app, &org.api_key, &user.email).await;
    app.email_to(&user.email).await;

    assert_eq!(known.status, 200, "{}", known.text);
    for r in [&unknown, &unknown_phone] {
        assert_eq!((r.status, &r.body), (known.status, &known.body));
    }
    assert_eq!(app.smtp.messages().len(), 1, "an unknown address got mail");
    assert!(app.sms.requests().is_empty(), "an unknown phone got an SMS");
    assert_error(&verify_email_code(&app, &org.api_key, &nobody, "123456").await, 400, "invalid_otp");
    let by_phone = verify(&app, &org.api_key, json!({"phone": nobody_phone, "code": "123456"})).await;
    assert_error(&by_phone, 400, "invalid_otp");
    // Never sent anything: the same answer as a wrong code.
    let never = verify_email_code(&app, &org.api_key, &unique_email("never"), "123456").await;
    assert_error(&never, 400, "invalid_otp");
}

#[tokio::test]
async fn a_blocked_user_gets_no_code() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let blocked = app.signup_user(&org.api_key).await;
    let user = app.signup_user(&org.api_key).await;
    let r = app.post(&format!("/api/v1/users/{}/block", blocked.id), Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let for_blocked = send_email_code(&app, &org.api_key, &blocked.email).await;
    let for_user = send_email_code(&app, &org.api_key, &user.email).await;
    app.email_to(&user.email).await;

    assert_eq!(for_blocked.body, for_user.body);
    assert_eq!(app.smtp.messages().len(), 1, "a blocked account got a code");
}

#[tokio::test]
async fn with_passwordless_signup_an_emailed_code_creates_a_verified_account() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    allow_passwordless_signup(&app, &org.api_key).await;
    let email = unique_email("newcomer");

    assert_eq!(send_email_code(&app, &org.api_key, &email).await.status, 200);
    let code = six_digits_in(&app.email_to(&email).await.text_body());
    let r = verify_email_code(&app, &org.api_key, &email, &code).await;

    let created = assert_signed_in(&app, &org.api_key, &r, &email).await;
    assert_eq!(created["is_verified"], json!(true));
    let types = event_types(&app, &org.id).await;
    assert!(types.iter().any(|t| t == "user.signup"), "{types:?}");
}

#[tokio::test]
async fn malformed_otp_requests_are_refused_with_their_codes() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let bad_phone = send(&app, &org.api_key, json!({"phone": "12345", "channel": "sms"})).await;
    let local_phone = send(&app, &org.api_key, json!({"phone": "0301234567", "channel": "sms"})).await;
    let bad_email = send(&app, &org.api_key, json!({"email": "nope", "channel": "email"})).await;
    let mismatch = send(&app, &org.api_key, json!({"email": "a@example.com", "channel": "sms"})).await;
    let both = send(&app, &org.api_key, json!({"email": "a@example.com", "phone": "+14155550100"})).await;
    let neither = send(&app, &org.api_key, json!({"channel": "email"})).await;
    let fax = send(&app, &org.api_key, json!({"email": "a@example.com", "channel": "fax"})).await;
    let verify_bad_phone = verify(&app, &org.api_key, json!({"phone": "+0", "code": "123456"})).await;

    assert_error(&bad_phone, 400, "invalid_phone");
    assert_error(&local_phone, 400, "invalid_phone");
    assert_error(&verify_bad_phone, 400, "invalid_phone");
    assert_error(&bad_email, 400, "invalid_email");
    for r in [&mismatch, &both, &neither, &fax] {
        assert_error(r, 400, "invalid_request");
    }
    for code in ["12345", "1234567", "abcdef", ""] {
        let r = verify_email_code(&app, &org.api_key, "a@example.com", code).await;
        assert_error(&r, 400, "invalid_otp");
    }
}

#[tokio::test]
async fn two_simultaneous_verifications_of_one_code_sign_in_only_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let code = code_for(&app, &org, &user, 1).await;

    let (a, b) = tokio::join!(
        verify_email_code(&app, &org.api_key, &user.email, &code),
        verify_email_code(&app, &org.api_key, &user.email, &code)
    );

    let mut outcomes = vec![(a.status, a.error().to_owned()), (b.status, b.error().to_owned())];
    outcomes.sort();
    assert_eq!(outcomes, vec![(200, String::new()), (400, "invalid_otp".to_owned())], "{} / {}", a.text, b.text);
}
