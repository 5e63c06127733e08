//! Forgotten password (emailed single-use token), reset, and change for a signed-in user.

use serde_json::json;
use std::time::Duration as StdDuration;
use time::Duration;
use zauthy_core::passwords::FORGOT_PASSWORD_MESSAGE;
use zauthy_testkit::smtp::ReceivedMail;
use zauthy_testkit::{PASSWORD, TestApp, TestOrg, TestResponse, TestUser, unique_email};

const NEW_PASSWORD: &str = "NewSecureP@ss456";

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

pub(crate) async fn forgot(app: &TestApp, api_key: &str, email: &str) -> TestResponse {
    app.post("/api/v1/password/forgot", Some(api_key), &json!({"email": email})).await
}

async fn reset(app: &TestApp, api_key: &str, token: &str, new_password: &str) -> TestResponse {
    app.post("/api/v1/password/reset", Some(api_key), &json!({"token": token, "new_password": new_password})).await
}

async fn change(app: &TestApp, access_token: &str, current: &str, new_password: &str) -> TestResponse {
    let body = json!({"current_password": current, "new_password": new_password});
    app.post("/api/v1/password/change", Some(access_token), &body).await
}

/// The `prt_…` reset token in a mail's text.
pub(crate) fn reset_token_in(mail: &ReceivedMail) -> String {
    let body = mail.text_body();
    let start = body.find("prt_").unwrap_or_else(|| panic!("no reset token in the mail:\n{body}"));
    body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

/// Asks for a reset of `user` and returns the token from the email that arrives.
async fn reset_token_for(app: &TestApp, org: &TestOrg, user: &TestUser) -> String {
    let r = forgot(app, &org.api_key, &user.email).await;
    assert_eq!(r.status, 200, "{}", r.text);
    reset_token_in(&app.email_to(&user.email).await)
}

// ---------------------------------------------------------------------------------------------------------------
// Forgot
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn forgot_password_emails_a_reset_token_to_an_existing_user() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = forgot(&app, &org.api_key, &user.email).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"message": "If an account exists, a reset link has been sent."}));
    let mail = app.email_to(&user.email).await;
    let subject = mail.subject().expect("a subject");
    assert!(subject.to_lowercase().contains("reset"), "{subject}");
    let token = reset_token_in(&mail);
    assert!(token.len() > 40, "a 256-bit token, got {token:?}");
    // The token in the mail is the one that works.
    assert_eq!(reset(&app, &org.api_key, &token, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_an_unknown_email_and_sends_nothing() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let nobody = unique_email("nobody");

    // The unknown address goes first: had it queued a mail, that mail would be delivered before the known one.
    let unknown = forgot(&app, &org.api_key, &nobody).await;
    let malformed = forgot(&app, &org.api_key, "not-an-email").await;
    let known = forgot(&app, &org.api_key, &user.email).await;
    app.email_to(&user.email).await;

    assert_eq!(known.status, 200, "{}", known.text);
    for other in [&unknown, &malformed] {
        assert_eq!(other.status, known.status);
        assert_eq!(other.body, known.body);
    }
    assert_eq!(known.str("/message"), FORGOT_PASSWORD_MESSAGE);
    let messages = app.smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].to, std::slice::from_ref(&user.email));
}

#[tokio::test]
async fn forgot_password_sends_nothing_to_a_blocked_user() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let blocked = app.signup_user(&org.api_key).await;
    let user = app.signup_user(&org.api_key).await;
    let r = app.post(&format!("/api/v1/users/{}/block", blocked.id), Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let for_blocked = forgot(&app, &org.api_key, &blocked.email).await;
    let for_user = forgot(&app, &org.api_key, &user.email).await;
    app.email_to(&user.email).await;

    assert_eq!(for_blocked.body, for_user.body);
    assert_eq!(app.smtp.messages().len(), 1, "a blocked account got a reset mail");
}

/// The headers of an answer but those that differ from request to request anyway (the date, the request id,
/// the organization's rate-limit budget left).
fn stable_headers(r: &TestResponse) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(name, _)| {
            !matches!(name.as_str(), "date" | "x-request-id" | "ratelimit-remaining" | "ratelimit-reset")
        })
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or("").to_owned()))
        .collect();
    headers.sort();
    headers
}

fn assert_same_answer(a: &TestResponse, b: &TestResponse) {
    assert_eq!(
        (a.status, &a.body, stable_headers(a)),
        (b.status, &b.body, stable_headers(b)),
        "{} / {}",
        a.text,
        b.text
    );
}

#[tokio::test]
async fn forgot_password_sends_one_email_a_minute_and_five_an_hour_to_an_address_known_or_not() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let nobody = unique_email("nobody");

    let first = forgot(&app, &org.api_key, &user.email).await;
    let first_unknown = forgot(&app, &org.api_key, &nobody).await;
    let again = forgot(&app, &org.api_key, &user.email).await;
    let again_unknown = forgot(&app, &org.api_key, &nobody).await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_same_answer(&first, &first_unknown);
    assert_error(&again, 429, "rate_limited");
    let retry: u64 = again.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_same_answer(&again, &again_unknown);

    for round in 2..=5 {
        app.clock.advance(Duration::seconds(61));
        for email in [&user.email, &nobody] {
            assert_eq!(forgot(&app, &org.api_key, email).await.status, 200, "send {round} to {email}");
        }
    }
    app.clock.advance(Duration::seconds(61));
    let sixth = forgot(&app, &org.api_key, &user.email).await;
    let sixth_unknown = forgot(&app, &org.api_key, &nobody).await;
    // Magic links and codes to the address draw on the same hourly budget.
    let link = app.post("/api/v1/magic-link/send", Some(&org.api_key), &json!({"email": user.email})).await;

    assert_error(&sixth, 429, "rate_limited");
    assert_same_answer(&sixth, &sixth_unknown);
    assert_error(&link, 429, "rate_limited");
    let mails = app.smtp.wait_for(5, StdDuration::from_secs(10)).await.expect("five reset mails");
    assert!(mails.iter().all(|m| m.to == std::slice::from_ref(&user.email)), "{mails:?}");
    // An hour after the first, the budget has room again.
    app.clock.advance(Duration::minutes(56));
    assert_eq!(forgot(&app, &org.api_key, &user.email).await.status, 200);
}

#[tokio::test]
async fn a_burst_of_forgot_password_requests_sends_one_email() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let request = || {
        let body = json!({"email": user.email});
        app.client.post(app.url("/api/v1/password/forgot")).bearer_auth(&org.api_key).json(&body)
    };

    let answers = app.send_at_once((0..19).map(|_| request())).await;

    assert_eq!(
        answers.iter().filter(|r| r.status == 200).count(),
        1,
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|r| r.status == 200 || r.error() == "rate_limited"));
    app.email_to(&user.email).await;
    // Give a second mail the time to arrive if one had been queued.
    assert!(app.smtp.wait_for(2, StdDuration::from_millis(500)).await.is_err(), "more than one reset mail");
}

#[tokio::test]
async fn forgot_password_is_limited_to_twenty_sends_per_client_ip_an_hour() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    for n in 1..=20 {
        let r = forgot(&app, &org.api_key, &unique_email("spray")).await;
        assert_eq!(r.status, 200, "send {n}: {}", r.text);
    }
    let refused = forgot(&app, &org.api_key, &unique_email("spray")).await;

    assert_error(&refused, 429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
}

#[tokio::test]
async fn the_password_endpoints_for_anonymous_users_need_the_api_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let forgot_as_user = forgot(&app, &user.access_token, &user.email).await;
    let forgot_anonymous = app.post("/api/v1/password/forgot", None, &json!({"email": user.email})).await;
    let reset_as_user = reset(&app, &user.access_token, "prt_whatever", NEW_PASSWORD).await;

    assert_error(&forgot_as_user, 401, "api_key_required");
    assert_error(&forgot_anonymous, 401, "missing_authorization");
    assert_error(&reset_as_user, 401, "api_key_required");
}

// ---------------------------------------------------------------------------------------------------------------
// Reset
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_reset_sets_the_new_password_and_spends_the_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = reset_token_for(&app, &org, &user).await;

    let r = reset(&app, &org.api_key, &token, NEW_PASSWORD).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true, "{}", r.text);
    assert_eq!(app.login(&org.api_key, &user.email, NEW_PASSWORD).await.status, 200);
    assert_error(&app.login(&org.api_key, &user.email, PASSWORD).await, 401, "invalid_credentials");
    // Single use: the same token again is refused and changes nothing.
    let again = reset(&app, &org.api_key, &token, "ThirdSecureP@ss789").await;
    assert_error(&again, 400, "invalid_reset_token");
    assert_eq!(app.login(&org.api_key, &user.email, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn made_up_reset_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let real = reset_token_for(&app, &org, &user).await;
    let altered = format!("{}A", &real[..real.len() - 1]);
    let altered = if altered == real { format!("{}B", &real[..real.len() - 1]) } else { altered };

    for token in ["", "prt_", "prt_doesnotexist", "reset_token_abc", &altered, &"prt_x".repeat(40)] {
        let r = reset(&app, &org.api_key, token, NEW_PASSWORD).await;
        assert_eq!((r.status, r.error()), (400, "invalid_reset_token"), "for {token:?}: {}", r.text);
    }
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_reset_token_expires_after_30_minutes() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = reset_token_for(&app, &org, &user).await;

    app.clock.advance(Duration::minutes(31));
    let r = reset(&app, &org.api_key, &token, NEW_PASSWORD).await;

    assert_error(&r, 400, "invalid_reset_token");
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
    assert_error(&app.login(&org.api_key, &user.email, NEW_PASSWORD).await, 401, "invalid_credentials");
}

#[tokio::test]
async fn a_reset_token_still_works_just_before_it_expires() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = reset_token_for(&app, &org, &user).await;

    app.clock.advance(Duration::minutes(29));
    let r = reset(&app, &org.api_key, &token, NEW_PASSWORD).await;

    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_weak_new_password_is_refused_without_spending_the_reset_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = reset_token_for(&app, &org, &user).await;

    for weak in ["short1!", "Password123!", "nouppercase1!"] {
        let r = reset(&app, &org.api_key, &token, weak).await;
        assert_eq!((r.status, r.error()), (400, "weak_password"), "for {weak:?}: {}", r.text);
    }

    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200, "the password changed");
    let r = reset(&app, &org.api_key, &token, NEW_PASSWORD).await;
    assert_eq!(r.status, 200, "the refused attempts spent the token: {}", r.text);
    assert_eq!(app.login(&org.api_key, &user.email, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_reset_token_is_refused_with_another_organizations_api_key_and_stays_usable() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let token = reset_token_for(&app, &org, &user).await;

    let r = reset(&app, &other.api_key, &token, NEW_PASSWORD).await;

    assert_error(&r, 400, "invalid_reset_token");
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
    assert_eq!(reset(&app, &org.api_key, &token, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_reset_signs_the_user_out_everywhere() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let second = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let token = reset_token_for(&app, &org, &user).await;

    let r = reset(&app, &org.api_key, &token, NEW_PASSWORD).await;

    assert_eq!(r.status, 200, "{}", r.text);
    for (access, refresh) in [
        (user.access_token.clone(), user.refresh_token.clone()),
        (second.str("/access_token"), second.str("/refresh_token")),
    ] {
        assert_error(&app.refresh(&refresh).await, 401, "session_revoked");
        let verified = app.verify(&org.api_key, &access).await;
        assert_eq!(verified.body["valid"], false, "{}", verified.text);
        assert_error(&app.get("/api/v1/sessions", Some(&access)).await, 401, "session_revoked");
    }
}

#[tokio::test]
async fn a_reset_ends_a_lockout() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let mut last = None;
    for _ in 0..5 {
        last = Some(app.login(&org.api_key, &user.email, "WrongP@ss999").await);
    }
    assert_error(&last.expect("five attempts"), 429, "account_locked");
    let token = reset_token_for(&app, &org, &user).await;

    let r = reset(&app, &org.api_key, &token, NEW_PASSWORD).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let login = app.login(&org.api_key, &user.email, NEW_PASSWORD).await;
    assert_eq!(login.status, 200, "still locked after the reset: {}", login.text);
    let stored = app.get(&format!("/api/v1/users/{}", user.id), Some(&org.api_key)).await;
    assert_eq!(stored.body["failed_login_attempts"], 0, "{}", stored.text);
}

#[tokio::test]
async fn a_reset_invalidates_the_users_other_outstanding_reset_tokens() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    assert_eq!(forgot(&app, &org.api_key, &user.email).await.status, 200);
    app.email_to(&user.email).await;
    // Reset emails to one address are a minute apart at least.
    app.clock.advance(Duration::seconds(61));
    assert_eq!(forgot(&app, &org.api_key, &user.email).await.status, 200);
    let mails = app.smtp.wait_for(2, StdDuration::from_secs(10)).await.expect("two reset mails");
    let (first, second) = (reset_token_in(&mails[0]), reset_token_in(&mails[1]));
    assert_ne!(first, second);

    let r = reset(&app, &org.api_key, &second, NEW_PASSWORD).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_error(&reset(&app, &org.api_key, &first, "ThirdSecureP@ss789").await, 400, "invalid_reset_token");
    assert_eq!(app.login(&org.api_key, &user.email, NEW_PASSWORD).await.status, 200);
}

// ---------------------------------------------------------------------------------------------------------------
// Change
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn changing_the_password_with_a_wrong_current_password_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = change(&app, &user.access_token, "WrongP@ss999", NEW_PASSWORD).await;

    assert_error(&r, 401, "invalid_credentials");
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
    assert_error(&app.login(&org.api_key, &user.email, NEW_PASSWORD).await, 401, "invalid_credentials");
    // A refused change signs nobody out.
    assert_eq!(app.verify(&org.api_key, &user.access_token).await.body["valid"], true);
}

#[tokio::test]
async fn wrong_current_passwords_at_password_change_count_toward_the_lockout() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    for _ in 1..=4 {
        assert_error(&change(&app, &user.access_token, "WrongP@ss999", NEW_PASSWORD).await, 401, "invalid_credentials");
    }
    let fifth = change(&app, &user.access_token, "WrongP@ss999", NEW_PASSWORD).await;

    assert_error(&fifth, 429, "account_locked");
    assert!(fifth.body["locked_until"].is_string(), "{}", fifth.text);
    // Locked: the right current password is refused here and at login, and the password is unchanged.
    assert_error(&change(&app, &user.access_token, PASSWORD, NEW_PASSWORD).await, 429, "account_locked");
    assert_error(&app.login(&org.api_key, &user.email, PASSWORD).await, 429, "account_locked");
    let stored = app.get(&format!("/api/v1/users/{}", user.id), Some(&org.api_key)).await;
    assert_eq!(stored.body["failed_login_attempts"], 5, "{}", stored.text);
    app.clock.advance(Duration::minutes(31));
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn changing_the_password_to_the_same_one_or_a_weak_one_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let same = change(&app, &user.access_token, PASSWORD, PASSWORD).await;
    let weak = change(&app, &user.access_token, PASSWORD, "weakpassword").await;

    assert_error(&same, 400, "password_unchanged");
    assert_error(&weak, 400, "weak_password");
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn changing_the_password_needs_the_users_own_access_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});

    let with_api_key = app.post("/api/v1/password/change", Some(&org.api_key), &body).await;
    let anonymous = app.post("/api/v1/password/change", None, &body).await;

    assert_error(&with_api_key, 401, "user_token_required");
    assert_error(&anonymous, 401, "missing_authorization");
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let other = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_eq!(other.status, 200, "{}", other.text);

    let r = change(&app, &user.access_token, PASSWORD, NEW_PASSWORD).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true, "{}", r.text);
    // This session carries on: its access token works and its refresh token rotates.
    let sessions = app.get("/api/v1/sessions", Some(&user.access_token)).await;
    assert_eq!(sessions.status, 200, "{}", sessions.text);
    assert_eq!(sessions.body["sessions"].as_array().map(Vec::len), Some(1), "{}", sessions.text);
    assert_eq!(app.refresh(&user.refresh_token).await.status, 200);
    // The other one is over.
    assert_error(&app.refresh(&other.str("/refresh_token")).await, 401, "session_revoked");
    assert_eq!(app.verify(&org.api_key, &other.str("/access_token")).await.body["valid"], false);
    // And the new password is the one that signs in.
    assert_eq!(app.login(&org.api_key, &user.email, NEW_PASSWORD).await.status, 200);
    assert_error(&app.login(&org.api_key, &user.email, PASSWORD).await, 401, "invalid_credentials");
}
