//! Pruning the account-side records (`Services::prune_expired_records`): sessions with their refresh tokens
//! and browser cookies, reset tokens, magic links, one-time codes, WebAuthn ceremonies and the passwordless
//! send counter. Rows made through the real flows, the clock moved past their end and the grace hour, then
//! what is gone (it now reads "unknown" instead of "expired" or "revoked") and what must still work: a live
//! session keeps refreshing, a spent refresh token of a live session is still caught, the send limit still
//! counts the sends of its hour.

use serde_json::{Value, json};
use time::Duration;
use zauthy_core::prune::{PRUNE_GRACE, Prunable, PruneReport};
use zauthy_core::sessions::RefreshTokenRecord;
use zauthy_core::{crypto, ids};
use zauthy_testkit::browser::{Jar, csrf_in, get_page, post_form};
use zauthy_testkit::{TestApp, TestOrg, TestResponse, TestUser, unique_email};

async fn prune(app: &TestApp) -> PruneReport {
    app.services.prune_expired_records().await.expect("pruning")
}

fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

/// The session id (`sid` claim) of an access token, read without verification.
fn session_of(access_token: &str) -> String {
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(access_token).expect("an access token JWT");
    claims["sid"].as_str().expect("a sid claim").to_owned()
}

/// One hour idle, three hours absolute: short enough to walk through with the clock.
async fn spawn_with_short_sessions() -> TestApp {
    TestApp::spawn_with(|c| {
        c.sessions.idle_timeout_secs = 3600;
        c.sessions.absolute_lifetime_secs = 3 * 3600;
    })
    .await
}

async fn login(app: &TestApp, org: &TestOrg, user: &TestUser) -> TestResponse {
    let r = app.login(&org.api_key, &user.email, &user.password).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

async fn refreshed(app: &TestApp, refresh_token: &str) -> TestResponse {
    let r = app.refresh(refresh_token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

/// Signs `user` in on the hosted page: a session with a browser cookie (in `jar`).
async fn browser_sign_in(app: &TestApp, org: &TestOrg, user: &TestUser, jar: &mut Jar) {
    let login = get_page(app, jar, &format!("/o/{}/login", org.id)).await;
    let csrf = csrf_in(&login.text);
    let form = [("csrf_token", csrf.as_str()), ("email", &user.email), ("password", &user.password), ("return_to", "")];
    let r = post_form(app, jar, &format!("/o/{}/login", org.id), Some(&app.address), &form).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(jar.get("zauthy_session").is_some(), "a session cookie");
}

/// The hosted account page for the browser behind `jar`: 200 when signed in, a redirect to sign in otherwise.
async fn account_page(app: &TestApp, org: &TestOrg, jar: &mut Jar) -> TestResponse {
    get_page(app, jar, &format!("/o/{}/account", org.id)).await
}

// --- sessions ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dead_sessions_go_with_their_refresh_tokens_and_cookies_an_hour_after_they_end_and_live_ones_keep_refreshing() {
    let app = spawn_with_short_sessions().await;
    let org = app.create_org().await; // the owner's session is left idle
    let user = app.signup_user(&org.api_key).await; // and so is this one
    let revoked = login(&app, &org, &user).await;
    let r = app.post("/api/v1/logout", Some(&revoked.str("/access_token")), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_error(&app.refresh(&revoked.str("/refresh_token")).await, 401, "session_revoked");
    let mut browser = Jar::default();
    browser_sign_in(&app, &org, &user, &mut browser).await;
    let live = login(&app, &org, &user).await;
    let spent = live.str("/refresh_token");

    // The live session refreshes every 50 minutes; its spent tokens stay behind, used (and expiring).
    app.clock.advance(Duration::minutes(50));
    let mut current = refreshed(&app, &spent).await.str("/refresh_token");
    // The revoked session ended over an hour ago; the idle ones only five minutes ago.
    app.clock.advance(Duration::minutes(15));
    assert_eq!(prune(&app).await.deleted, [(Prunable::SessionRefreshTokens, 1), (Prunable::Sessions, 1)]);
    assert_error(&app.refresh(&revoked.str("/refresh_token")).await, 401, "invalid_refresh_token");
    assert_error(&app.refresh(&user.refresh_token).await, 401, "session_expired");

    app.clock.advance(Duration::minutes(35));
    current = refreshed(&app, &current).await.str("/refresh_token");
    app.clock.advance(Duration::minutes(25));
    // The owner's, the signup's and the browser's sessions idled out an hour and five minutes ago.
    let report = prune(&app).await;
    assert_eq!(
        report.deleted,
        [(Prunable::SessionRefreshTokens, 3), (Prunable::BrowserSessions, 1), (Prunable::Sessions, 3)]
    );
    assert_error(&app.refresh(&user.refresh_token).await, 401, "invalid_refresh_token");
    assert_error(&app.refresh(&org.owner.refresh_token).await, 401, "invalid_refresh_token");
    let page = account_page(&app, &org, &mut browser).await;
    assert_eq!(page.status, 303, "the cookie of a forgotten session signs nobody in: {}", page.text);
    assert_eq!(prune(&app).await, PruneReport::default(), "a second run finds nothing");

    // The live session still works and lists only itself.
    let r = refreshed(&app, &current).await;
    let sessions = app.get("/api/v1/sessions", Some(&r.str("/access_token"))).await;
    assert_eq!(sessions.status, 200, "{}", sessions.text);
    let ids: Vec<&str> =
        sessions.body["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [session_of(&live.str("/access_token"))], "{}", sessions.text);
    // Its first token, spent and past its own expiry by over an hour, was kept: replaying it is still caught.
    assert_error(&app.refresh(&spent).await, 401, "refresh_token_reused");
    assert_error(&app.refresh(&r.str("/refresh_token")).await, 401, "session_revoked");
}

#[tokio::test]
async fn an_access_token_whose_session_was_pruned_is_refused() {
    // Access tokens that outlive the grace hour, so one is still unexpired when its session row goes.
    let app = TestApp::spawn_with(|c| c.access_token_ttl_secs = 3 * 3600).await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let other = login(&app, &org, &user).await;
    let r = app.post("/api/v1/logout", Some(&user.access_token), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    app.clock.advance(PRUNE_GRACE + Duration::minutes(1));
    assert_eq!(prune(&app).await.deleted, [(Prunable::SessionRefreshTokens, 1), (Prunable::Sessions, 1)]);

    let verified = app.verify(&org.api_key, &user.access_token).await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!((verified.body["valid"].clone(), verified.str("/reason")), (json!(false), "session_revoked".into()));
    assert_error(&app.get("/api/v1/sessions", Some(&user.access_token)).await, 401, "session_revoked");
    // The token itself is fine: the user's other session, kept, still lets its token through.
    let verified = app.verify(&org.api_key, &other.str("/access_token")).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
}

#[tokio::test]
async fn an_unused_refresh_token_past_its_expiry_goes_even_while_its_session_lives() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    // No flow leaves such a token behind today (a session's unused token expires with the session), so it is
    // written straight to the store: a second token of the signup's session, expiring in a minute.
    let stray = crypto::new_opaque_token("rt");
    let now = app.services.now();
    let record = RefreshTokenRecord {
        id: ids::new_id(ids::REFRESH),
        org_id: org.id.clone(),
        session_id: session_of(&user.access_token),
        token_hash: crypto::sha256_hex(&stray),
        expires_at: now + Duration::minutes(1),
        used_at: None,
        created_at: now,
    };
    app.services.store.insert_refresh_token(&record).await.expect("a stray token");
    let spent = user.refresh_token.clone();
    let current = refreshed(&app, &spent).await.str("/refresh_token");

    app.clock.advance(Duration::minutes(2));
    assert_eq!(prune(&app).await, PruneReport::default(), "within the grace hour");
    assert_error(&app.refresh(&stray).await, 401, "session_expired");
    app.clock.advance(PRUNE_GRACE);
    assert_eq!(prune(&app).await.deleted, [(Prunable::SessionRefreshTokens, 1)]);
    assert_error(&app.refresh(&stray).await, 401, "invalid_refresh_token");
    // The session and its spent token stay: the session refreshes, and the spent token is caught.
    let next = refreshed(&app, &current).await;
    assert_error(&app.refresh(&spent).await, 401, "refresh_token_reused");
    assert_error(&app.refresh(&next.str("/refresh_token")).await, 401, "session_revoked");
}

// --- emailed credentials and passkey ceremonies -----------------------------------------------------------

/// The text of the newest mail to `to` that arrived after the first `seen` and contains `marker`.
async fn mail_after(app: &TestApp, seen: usize, to: &str, marker: &str) -> String {
    let mut want = seen + 1;
    loop {
        let mails = app.smtp.wait_for(want, std::time::Duration::from_secs(10)).await.expect("the mail did not arrive");
        let found = mails[seen..]
            .iter()
            .rev()
            .find(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)) && m.text_body().contains(marker));
        if let Some(mail) = found {
            return mail.text_body();
        }
        want = mails.len() + 1;
    }
}

async fn mails_so_far(app: &TestApp) -> usize {
    app.smtp.wait_for(0, std::time::Duration::from_secs(1)).await.expect("the mails").len()
}

/// The token starting with `prefix` in a text.
fn token_in(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).unwrap_or_else(|| panic!("no {prefix} token in:\n{text}"));
    text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

async fn reset_token(app: &TestApp, org: &TestOrg, email: &str) -> String {
    let seen = mails_so_far(app).await;
    let r = app.post("/api/v1/password/forgot", Some(&org.api_key), &json!({"email": email})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    token_in(&mail_after(app, seen, email, "prt_").await, "prt_")
}

async fn reset(app: &TestApp, org: &TestOrg, token: &str) -> TestResponse {
    let body = json!({"token": token, "new_password": "NewSecureP@ss456"});
    app.post("/api/v1/password/reset", Some(&org.api_key), &body).await
}

async fn magic_link(app: &TestApp, org: &TestOrg, email: &str) -> String {
    let seen = mails_so_far(app).await;
    let r = app.post("/api/v1/magic-link/send", Some(&org.api_key), &json!({"email": email})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    token_in(&mail_after(app, seen, email, "ml_").await, "ml_")
}

async fn use_magic_link(app: &TestApp, org: &TestOrg, token: &str) -> TestResponse {
    app.post("/api/v1/magic-link/verify", Some(&org.api_key), &json!({"token": token})).await
}

async fn send_code(app: &TestApp, org: &TestOrg, email: &str) -> TestResponse {
    app.post("/api/v1/otp/send", Some(&org.api_key), &json!({"email": email, "channel": "email"})).await
}

/// Sends a code to `email` (which has an account) and returns it from the mail.
async fn emailed_code(app: &TestApp, org: &TestOrg, email: &str) -> String {
    let seen = mails_so_far(app).await;
    let r = send_code(app, org, email).await;
    assert_eq!(r.status, 200, "{}", r.text);
    crate::passwordless::six_digits_in(&mail_after(app, seen, email, "").await)
}

async fn use_code(app: &TestApp, org: &TestOrg, email: &str, code: &str) -> TestResponse {
    app.post("/api/v1/otp/verify", Some(&org.api_key), &json!({"email": email, "code": code})).await
}

#[tokio::test]
async fn reset_tokens_magic_links_and_one_time_codes_go_an_hour_after_they_expire_used_or_not() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let nobody = unique_email("nobody");
    // A reset used (it revokes the user's sessions: the signup's, the only one so far) and one left unused.
    let used_reset = reset_token(&app, &org, &user.email).await;
    assert_eq!(reset(&app, &org, &used_reset).await.status, 200);
    // Reset emails to one address are a minute apart at least.
    app.clock.advance(Duration::seconds(61));
    let stale_reset = reset_token(&app, &org, &user.email).await;
    // A magic link used and one left unused; a code used, and one sent where nobody has an account.
    let used_link = magic_link(&app, &org, &user.email).await;
    assert_eq!(use_magic_link(&app, &org, &used_link).await.status, 200);
    let stale_link = magic_link(&app, &org, &user.email).await;
    let code = emailed_code(&app, &org, &user.email).await;
    assert_eq!(use_code(&app, &org, &user.email, &code).await.status, 200);
    assert_eq!(send_code(&app, &org, &nobody).await.status, 200);

    // All expired (codes after 10 minutes, links after 15, resets after 30), but within the grace hour.
    app.clock.advance(Duration::minutes(31));
    assert_eq!(prune(&app).await, PruneReport::default());
    assert_error(&use_magic_link(&app, &org, &stale_link).await, 400, "magic_link_expired");
    assert_error(&use_code(&app, &org, &nobody, "123456").await, 400, "otp_expired");

    app.clock.advance(PRUNE_GRACE);
    let live_reset = reset_token(&app, &org, &user.email).await;
    let live_link = magic_link(&app, &org, &user.email).await;
    let live_code = emailed_code(&app, &org, &user.email).await;
    let report = prune(&app).await;
    assert_eq!(
        report.deleted,
        [
            // The session the reset revoked.
            (Prunable::SessionRefreshTokens, 1),
            (Prunable::Sessions, 1),
            (Prunable::PasswordResetTokens, 2),
            (Prunable::MagicLinks, 2),
            // The user's fresh code replaced the used one already; the unknown address's is left.
            (Prunable::OneTimeCodes, 1),
        ]
    );
    // What is gone is unknown now rather than expired.
    assert_error(&use_magic_link(&app, &org, &stale_link).await, 400, "invalid_magic_link");
    assert_error(&use_code(&app, &org, &nobody, "123456").await, 400, "invalid_otp");
    assert_error(&reset(&app, &org, &stale_reset).await, 400, "invalid_reset_token");
    // What is live still works.
    assert_eq!(use_magic_link(&app, &org, &live_link).await.status, 200);
    assert_eq!(use_code(&app, &org, &user.email, &live_code).await.status, 200);
    assert_eq!(reset(&app, &org, &live_reset).await.status, 200);
}

#[tokio::test]
async fn passkey_ceremonies_go_an_hour_after_they_expire_and_a_new_one_still_signs_in() {
    use crate::passkeys::{assert_with, authenticator, finish_authentication, register, sign_in, start_authentication};
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let mut key = authenticator();
    let passkey = register(&app, &user, &mut key).await; // a registration ceremony, used
    let start = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let assertion = assert_with(&app, &start, &mut key, &passkey); // signed, never sent
    let stale = start.str("/ceremony_id");

    // Five minutes' validity, then the grace hour.
    app.clock.advance(Duration::minutes(6));
    assert_eq!(prune(&app).await, PruneReport::default());
    assert_error(&finish_authentication(&app, &org.api_key, &stale, &assertion).await, 400, "ceremony_expired");
    app.clock.advance(PRUNE_GRACE);
    let live = start_authentication(&app, &org.api_key, Some(&user.email)).await;
    let live_assertion = assert_with(&app, &live, &mut key, &passkey);
    assert_eq!(prune(&app).await.deleted, [(Prunable::WebauthnCeremonies, 2)]);
    assert_error(&finish_authentication(&app, &org.api_key, &stale, &assertion).await, 400, "ceremony_not_found");
    let r = finish_authentication(&app, &org.api_key, &live.str("/ceremony_id"), &live_assertion).await;
    assert_eq!(r.status, 200, "the ceremony started before the run: {}", r.text);
    let r = sign_in(&app, &org.api_key, None, &mut key, &passkey).await;
    assert_eq!(r.status, 200, "and one started after it: {}", r.text);
}

// --- the passwordless send limit --------------------------------------------------------------------------

#[tokio::test]
async fn sends_are_kept_for_the_limits_hour_and_the_grace_hour_so_the_limit_still_counts_them() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let nobody = unique_email("nobody");
    let send = || send_code(&app, &org, &nobody);
    for round in 1..=5 {
        assert_eq!(send().await.status, 200, "send {round}");
        app.clock.advance(Duration::seconds(61));
    }
    assert_error(&send().await, 429, "rate_limited");

    // Within the hour the limit counts over, a run deletes none of them and the limit holds.
    app.clock.advance(Duration::minutes(45));
    assert_eq!(prune(&app).await, PruneReport::default());
    assert_error(&send().await, 429, "rate_limited");
    // Past the hour the limit no longer counts them, but within the grace hour after it they stay.
    app.clock.advance(Duration::minutes(40));
    assert_eq!(send().await.status, 200, "the limit has room again");
    assert_eq!(prune(&app).await, PruneReport::default());

    app.clock.advance(Duration::minutes(40));
    assert_eq!(prune(&app).await.deleted, [(Prunable::PasswordlessSends, 5)]);
    // The send of this hour was kept: it still counts, four more fit and the fifth is refused.
    for round in 1..=4 {
        assert_eq!(send().await.status, 200, "send {round} after the run");
        app.clock.advance(Duration::seconds(61));
    }
    assert_error(&send().await, 429, "rate_limited");
}

// --- failed sign-ins with emails that have no account ----------------------------------------------------------

#[tokio::test]
async fn an_unknown_emails_failure_count_goes_a_month_after_its_last_failure_and_counting_starts_again() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let (counted, locked) = (unique_email("nobody"), unique_email("locked"));
    let wrong = |email: String| {
        let app = &app;
        let key = org.api_key.clone();
        async move { app.login(&key, &email, "WrongP@ss999").await }
    };
    assert_error(&wrong(counted.clone()).await, 401, "invalid_credentials");
    for _ in 0..14 {
        wrong(locked.clone()).await;
    }
    // The fifteenth failure locks for 24 hours.
    assert_error(&wrong(locked.clone()).await, 429, "account_locked");

    app.clock.advance(Duration::days(30) - Duration::hours(1));
    // (The owner's session of the organization's creation expires meanwhile and goes too.)
    assert_eq!(prune(&app).await.of(Prunable::UnknownLoginFailures), 0, "within the month both stay");
    app.clock.advance(Duration::hours(2) + Duration::minutes(1));
    assert_eq!(prune(&app).await.of(Prunable::UnknownLoginFailures), 2);
    // Forgotten: counting starts again.
    for _ in 0..4 {
        assert_error(&wrong(locked.clone()).await, 401, "invalid_credentials");
    }
    assert_error(&wrong(locked.clone()).await, 429, "account_locked");
}
