//! Signup, password login, the lockout schedule, transparent rehashing and the organization's user management.

mod address;
mod profile;
mod pruning;

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use zauthy_core::passwords::{Argon2Params, PasswordHasher};
use zauthy_testkit::{PASSWORD, TestApp, TestOrg, TestResponse, TestUser, unique_email};

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

fn parse_time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
}

/// Asserts `r` is the lockout answer and that the lock ends `expected` after the server's current time
/// (within a minute, for the time the request itself took).
fn assert_locked_for(app: &TestApp, r: &TestResponse, expected: Duration) -> OffsetDateTime {
    assert_error(r, 429, "account_locked");
    let until = parse_time(&r.str("/locked_until"));
    let wanted = app.services.now() + expected;
    assert!((until - wanted).abs() <= Duration::minutes(1), "locked until {until}, expected about {wanted}");
    until
}

async fn get_user(app: &TestApp, bearer: &str, user_id: &str) -> TestResponse {
    app.get(&format!("/api/v1/users/{user_id}"), Some(bearer)).await
}

async fn user_action(app: &TestApp, bearer: &str, user_id: &str, action: &str) -> TestResponse {
    app.post(&format!("/api/v1/users/{user_id}/{action}"), Some(bearer), &json!({})).await
}

async fn delete_user(app: &TestApp, bearer: &str, user_id: &str) -> TestResponse {
    app.delete(&format!("/api/v1/users/{user_id}"), Some(bearer)).await
}

/// Fails `count` logins of `user` with a wrong password and returns the last answer.
async fn fail_logins(app: &TestApp, org: &TestOrg, user: &TestUser, count: usize) -> TestResponse {
    let mut last = None;
    for _ in 0..count {
        last = Some(app.login(&org.api_key, &user.email, "WrongP@ss999").await);
    }
    last.expect("at least one attempt")
}

/// The ids of a `/users` listing, in order.
fn listed_ids(r: &TestResponse) -> Vec<String> {
    let users = r.body["users"].as_array().unwrap_or_else(|| panic!("no users array in {}", r.text));
    users.iter().map(|u| u["id"].as_str().expect("user id").to_owned()).collect()
}

fn listed_emails(r: &TestResponse) -> Vec<String> {
    let users = r.body["users"].as_array().unwrap_or_else(|| panic!("no users array in {}", r.text));
    let mut emails: Vec<String> = users.iter().map(|u| u["email"].as_str().expect("email").to_owned()).collect();
    emails.sort();
    emails
}

/// Signs up `email` with the default password and returns the user.
async fn signup_as(app: &TestApp, org: &TestOrg, email: &str) -> TestUser {
    let r = app.signup(&org.api_key, email, PASSWORD).await;
    assert_eq!(r.status, 201, "signup of {email} failed: {}", r.text);
    TestUser {
        id: r.str("/user/id"),
        email: r.str("/user/email"),
        password: PASSWORD.to_owned(),
        access_token: r.str("/access_token"),
        refresh_token: r.str("/refresh_token"),
    }
}

/// A user promoted to admin through `PATCH /users/{id}` with the API key, then signed in again so the token
/// carries the new role.
async fn signup_admin(app: &TestApp, org: &TestOrg) -> TestUser {
    let user = app.signup_user(&org.api_key).await;
    let request = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", user.id)))
        .bearer_auth(&org.api_key)
        .json(&json!({"role": "admin"}));
    let promoted = app.send(request).await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.str("/role"), "admin");
    let login = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.str("/user/role"), "admin");
    TestUser { access_token: login.str("/access_token"), refresh_token: login.str("/refresh_token"), ..user }
}

// ---------------------------------------------------------------------------------------------------------------
// Signup
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn signup_returns_the_new_user_and_a_bearer_token_pair_in_the_reference_shape() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let email = unique_email("jane");

    let r = app
        .post("/api/v1/signup", Some(&org.api_key), &json!({"email": email, "password": PASSWORD, "name": "Jane Doe"}))
        .await;

    assert_eq!(r.status, 201, "{}", r.text);
    let user = &r.body["user"];
    let id = r.str("/user/id");
    assert!(id.starts_with("usr_"), "{id}");
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["name"], "Jane Doe");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_verified"], false);
    let created = parse_time(&r.str("/user/created_at"));
    assert!((created - app.services.now()).abs() <= Duration::minutes(1), "created_at {created}");
    assert!(r.str("/access_token").starts_with("eyJ"), "{}", r.text);
    assert!(r.str("/refresh_token").len() >= 32, "{}", r.text);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["expires_in"], 900);
    // The access token is live and names the new user in the API key's organization.
    let verified = app.verify(&org.api_key, &r.str("/access_token")).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(verified.str("/user_id"), id);
    assert_eq!(verified.str("/org_id"), org.id);
    assert_eq!(verified.str("/role"), "user");
}

#[tokio::test]
async fn signup_normalises_the_email_so_a_differently_written_duplicate_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let first = app.signup(&org.api_key, " User@Example.COM ", PASSWORD).await;
    let exact = app.signup(&org.api_key, "user@example.com", PASSWORD).await;
    let shouting = app.signup(&org.api_key, "USER@EXAMPLE.COM", PASSWORD).await;

    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.str("/user/email"), "user@example.com");
    assert_error(&exact, 409, "email_exists");
    assert_error(&shouting, 409, "email_exists");
    // The normalised address is also the one to log in with, however it is written.
    let login = app.login(&org.api_key, "  USER@example.com", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.str("/user/id"), first.str("/user/id"));
}

#[tokio::test]
async fn signup_with_a_weak_password_is_refused_with_weak_password() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let too_long = format!("Aa1!{}", "x".repeat(125));
    assert_eq!(too_long.chars().count(), 129);
    let cases = [
        ("Sh0rt!a", "too short"),
        ("lowercase1!", "no upper case"),
        ("UPPERCASE1!", "no lower case"),
        ("NoDigitsHere!", "no digit"),
        ("NoSpecial123", "no special character"),
        (too_long.as_str(), "more than 128 characters"),
        ("Password123!", "a decorated common password"),
        ("P@ssw0rd2024", "a leetspeak common password"),
    ];

    for (password, why) in cases {
        let r = app.signup(&org.api_key, &unique_email("weak"), password).await;
        assert_eq!((r.status, r.error()), (400, "weak_password"), "{why}: {}", r.text);
    }

    // Exactly 128 characters is still allowed.
    let longest = format!("Aa1!{}", "x".repeat(124));
    let ok = app.signup(&org.api_key, &unique_email("long"), &longest).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[tokio::test]
async fn signup_with_an_invalid_email_is_refused_with_invalid_email() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    for email in ["not-an-email", "", "   ", "jane@", "@example.com", "jane@example", "ja ne@example.com", "a@b@c.com"]
    {
        let r = app.signup(&org.api_key, email, PASSWORD).await;
        assert_eq!((r.status, r.error()), (400, "invalid_email"), "for {email:?}: {}", r.text);
    }
}

#[tokio::test]
async fn signup_accepts_an_e164_phone_and_refuses_a_malformed_one() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let (server, key) = (&app, org.api_key.as_str());
    let signup = |phone: &str| {
        let body = json!({"email": unique_email("phone"), "password": PASSWORD, "phone": phone});
        async move { server.post("/api/v1/signup", Some(key), &body).await }
    };

    for bad in ["12345", "+123", "+01234567890", "+1 415 555 0100", "+1415555010012345"] {
        let r = signup(bad).await;
        assert_eq!((r.status, r.error()), (400, "invalid_phone"), "for {bad:?}: {}", r.text);
    }
    let ok = signup("+14155550100").await;

    assert_eq!(ok.status, 201, "{}", ok.text);
    let stored = get_user(&app, &org.api_key, &ok.str("/user/id")).await;
    assert_eq!(stored.str("/phone"), "+14155550100");
}

#[tokio::test]
async fn a_refused_signup_writes_nothing_so_the_same_email_signs_up_afterwards() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let email = unique_email("retry");

    let weak = app.signup(&org.api_key, &email, "weak").await;
    let bad_phone = app
        .post("/api/v1/signup", Some(&org.api_key), &json!({"email": email, "password": PASSWORD, "phone": "12345"}))
        .await;
    let bad_name = app
        .post("/api/v1/signup", Some(&org.api_key), &json!({"email": email, "password": PASSWORD, "name": "\u{7}"}))
        .await;

    assert_error(&weak, 400, "weak_password");
    assert_error(&bad_phone, 400, "invalid_phone");
    assert_error(&bad_name, 400, "invalid_name");
    // No user, no event was left behind by the refusals...
    let list = app.get("/api/v1/users", Some(&org.api_key)).await;
    assert_eq!(list.body["total"], 1, "only the owner: {}", list.text);
    let events = app.services.store.list_events(&org.id, Some("user.signup"), 50).await.expect("events");
    assert!(events.iter().all(|e| e.user_id.as_deref() == Some(org.owner.id.as_str())), "{events:?}");
    // ...so the same email now signs up.
    let ok = app.signup(&org.api_key, &email, PASSWORD).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[tokio::test]
async fn signup_needs_the_organizations_api_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let body = json!({"email": unique_email("nokey"), "password": PASSWORD});

    let with_user_token = app.post("/api/v1/signup", Some(&org.owner.access_token), &body).await;
    let without_authorization = app.post("/api/v1/signup", None, &body).await;
    let with_unknown_key = app.post("/api/v1/signup", Some("sk_live_unknown"), &body).await;

    assert_error(&with_user_token, 401, "api_key_required");
    assert_error(&without_authorization, 401, "missing_authorization");
    assert_error(&with_unknown_key, 401, "invalid_api_key");
    let list = app.get("/api/v1/users", Some(&org.api_key)).await;
    assert_eq!(list.body["total"], 1, "a refused signup created a user: {}", list.text);
}

// ---------------------------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn login_with_the_right_password_returns_the_user_and_a_new_token_pair() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = app.login(&org.api_key, &user.email, PASSWORD).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.str("/user/id"), user.id);
    assert_eq!(r.str("/user/email"), user.email);
    assert_eq!(r.str("/user/role"), "user");
    assert_eq!(r.body["mfa_required"], false);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["expires_in"], 900);
    // A login starts its own session: new tokens, and both sessions are live.
    let (access, refresh) = (r.str("/access_token"), r.str("/refresh_token"));
    assert_ne!(access, user.access_token);
    assert_ne!(refresh, user.refresh_token);
    let verified = app.verify(&org.api_key, &access).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(verified.str("/user_id"), user.id);
    assert_eq!(app.verify(&org.api_key, &user.access_token).await.body["valid"], true);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_identical_answer() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let wrong_password = app.login(&org.api_key, &user.email, "WrongP@ss999").await;
    let unknown_email = app.login(&org.api_key, &unique_email("nobody"), "WrongP@ss999").await;
    let malformed_email = app.login(&org.api_key, "not-an-email", "WrongP@ss999").await;

    assert_error(&wrong_password, 401, "invalid_credentials");
    // Nothing in the answer tells an attacker whether the account exists.
    for other in [&unknown_email, &malformed_email] {
        assert_eq!(other.status, wrong_password.status);
        assert_eq!(other.body, wrong_password.body, "bodies differ");
        assert_eq!(other.header("www-authenticate"), wrong_password.header("www-authenticate"));
    }
    assert!(wrong_password.body.get("access_token").is_none(), "{}", wrong_password.text);
}

/// `count` wrong-password logins for `email`, their answers in order.
async fn wrong_logins(app: &TestApp, org: &TestOrg, email: &str, count: usize) -> Vec<TestResponse> {
    let mut answers = Vec::new();
    for _ in 0..count {
        answers.push(app.login(&org.api_key, email, "WrongP@ss999").await);
    }
    answers
}

#[tokio::test]
async fn an_email_without_an_account_locks_on_the_same_schedule_as_an_account_so_the_lockout_tells_nothing() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let missing = unique_email("nobody");

    let emails = [user.email.clone(), missing.clone(), missing.to_uppercase()];
    // Six wrong passwords each: four refusals, the lock (30 minutes) on the fifth, the lock again on the sixth.
    let mut shapes = Vec::new();
    for email in &emails {
        let answers = wrong_logins(&app, &org, email, if email == &missing.to_uppercase() { 1 } else { 6 }).await;
        shapes.push(answers.iter().map(|r| (r.status, r.error().to_owned())).collect::<Vec<_>>());
        if let Some(fifth) = answers.get(4) {
            assert_locked_for(&app, fifth, Duration::minutes(30));
        }
    }
    let expected: Vec<(u16, String)> = [401, 401, 401, 401, 429, 429]
        .iter()
        .map(|s| (*s, if *s == 401 { "invalid_credentials" } else { "account_locked" }.to_owned()))
        .collect();
    assert_eq!(shapes[0], expected, "the account");
    assert_eq!(shapes[1], expected, "the email without an account");
    // The address is counted as written case-insensitively: the seventh guess, in capitals, is locked too.
    assert_eq!(shapes[2], [(429, "account_locked".to_owned())]);

    // When the locks end, both answer alike again.
    app.clock.advance(Duration::minutes(31));
    let account = app.login(&org.api_key, &user.email, "WrongP@ss999").await;
    let nobody = app.login(&org.api_key, &missing, "WrongP@ss999").await;
    assert_error(&account, 401, "invalid_credentials");
    assert_eq!((nobody.status, nobody.body.clone()), (account.status, account.body.clone()));
}

#[tokio::test]
async fn login_needs_the_organizations_api_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let body = json!({"email": user.email, "password": PASSWORD});

    let with_user_token = app.post("/api/v1/login", Some(&user.access_token), &body).await;
    let without_authorization = app.post("/api/v1/login", None, &body).await;

    assert_error(&with_user_token, 401, "api_key_required");
    assert_error(&without_authorization, 401, "missing_authorization");
}

#[tokio::test]
async fn an_address_in_composed_or_decomposed_form_or_in_fullwidth_letters_is_one_account() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let stem = unique_email("jos");
    let composed = stem.replacen("jos", "jos\u{E9}", 1);
    let decomposed = stem.replacen("jos", "jose\u{301}", 1);

    let first = app.signup(&org.api_key, &decomposed, PASSWORD).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.str("/user/email"), composed, "stored in NFC");
    assert_error(&app.signup(&org.api_key, &composed, PASSWORD).await, 409, "email_exists");
    let login = app.login(&org.api_key, &composed.to_uppercase(), PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.str("/user/id"), first.str("/user/id"));

    // Fullwidth letters (an input method's) are the ordinary ones.
    let plain = unique_email("bob");
    let fullwidth: String = plain
        .chars()
        .map(|c| if c.is_ascii_lowercase() { char::from_u32(c as u32 - 0x61 + 0xFF41).unwrap() } else { c })
        .collect();
    assert_eq!(app.signup(&org.api_key, &plain, PASSWORD).await.status, 201);
    assert_error(&app.signup(&org.api_key, &fullwidth, PASSWORD).await, 409, "email_exists");
    assert_eq!(app.login(&org.api_key, &fullwidth, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn addresses_with_invisible_control_or_look_alike_characters_are_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let email = unique_email("eve");
    let user = app.signup(&org.api_key, &email, PASSWORD).await;
    assert_eq!(user.status, 201, "{}", user.text);

    for look_alike in [
        email.replacen("eve", "e\u{200D}ve", 1),
        email.replacen("eve", "eve\u{200B}", 1),
        email.replacen("eve", "\u{202E}eve", 1),
        email.replacen("eve", "eve\u{FE0F}", 1),
        email.replacen("eve", "ev\u{0007}e", 1),
        email.replacen("eve", "\u{FB00}eve", 1),
    ] {
        let r = app.signup(&org.api_key, &look_alike, PASSWORD).await;
        assert_error(&r, 400, "invalid_email");
        // At sign-in, such an address is nobody's: the same answer as a wrong password.
        assert_error(&app.login(&org.api_key, &look_alike, PASSWORD).await, 401, "invalid_credentials");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Lockout
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn five_failed_logins_lock_the_account_for_30_minutes_even_against_the_right_password() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    // Four failures are just wrong passwords.
    let fourth = fail_logins(&app, &org, &user, 4).await;
    assert_error(&fourth, 401, "invalid_credentials");

    let fifth = fail_logins(&app, &org, &user, 1).await;

    let until = assert_locked_for(&app, &fifth, Duration::minutes(30));
    let retry_after: i64 = fifth.header("retry-after").expect("Retry-After header").parse().expect("seconds");
    let remaining = (until - app.services.now()).whole_seconds();
    assert!((remaining - 60..=remaining + 1).contains(&retry_after), "Retry-After {retry_after}, lock {remaining}s");
    // While locked, even the right password is refused, and further guesses are not counted.
    let right = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_error(&right, 429, "account_locked");
    assert_eq!(parse_time(&right.str("/locked_until")), until);
    assert_error(&fail_logins(&app, &org, &user, 1).await, 429, "account_locked");
    let during = get_user(&app, &org.api_key, &user.id).await;
    assert_eq!(during.body["failed_login_attempts"], 5, "{}", during.text);
    assert_eq!(parse_time(&during.str("/locked_until")), until);

    // Once the 30 minutes are over the right password works and the slate is clean.
    app.clock.advance(Duration::minutes(31));
    let after = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_eq!(after.status, 200, "{}", after.text);
    let cleared = get_user(&app, &org.api_key, &user.id).await;
    assert_eq!(cleared.body["failed_login_attempts"], 0, "{}", cleared.text);
    assert_eq!(cleared.body["locked_until"], Value::Null, "{}", cleared.text);
}

#[tokio::test]
async fn failures_keep_counting_across_locks_to_a_two_hour_and_then_a_24_hour_lock() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    assert_locked_for(&app, &fail_logins(&app, &org, &user, 5).await, Duration::minutes(30));
    app.clock.advance(Duration::minutes(31));

    // Failures 6 to 9 are plain refusals; the 10th locks for two hours.
    assert_error(&fail_logins(&app, &org, &user, 4).await, 401, "invalid_credentials");
    assert_locked_for(&app, &fail_logins(&app, &org, &user, 1).await, Duration::hours(2));
    app.clock.advance(Duration::minutes(119));
    assert_error(&app.login(&org.api_key, &user.email, PASSWORD).await, 429, "account_locked");
    app.clock.advance(Duration::minutes(2));

    assert_error(&fail_logins(&app, &org, &user, 4).await, 401, "invalid_credentials");
    assert_locked_for(&app, &fail_logins(&app, &org, &user, 1).await, Duration::hours(24));
    let locked = get_user(&app, &org.api_key, &user.id).await;
    assert_eq!(locked.body["failed_login_attempts"], 15, "{}", locked.text);
    app.clock.advance(Duration::hours(23));
    assert_error(&app.login(&org.api_key, &user.email, PASSWORD).await, 429, "account_locked");
    app.clock.advance(Duration::minutes(61));
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn an_unlock_by_the_organization_ends_a_lock_at_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let by_key = app.signup_user(&org.api_key).await;
    let by_owner = app.signup_user(&org.api_key).await;
    for user in [&by_key, &by_owner] {
        assert_locked_for(&app, &fail_logins(&app, &org, user, 5).await, Duration::minutes(30));
    }

    let key_unlock = user_action(&app, &org.api_key, &by_key.id, "unlock").await;
    let owner_unlock = user_action(&app, &org.owner.access_token, &by_owner.id, "unlock").await;

    for (r, user) in [(&key_unlock, &by_key), (&owner_unlock, &by_owner)] {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.str("/id"), user.id);
        assert_eq!(r.body["locked_until"], Value::Null, "{}", r.text);
        assert_eq!(r.body["failed_login_attempts"], 0, "{}", r.text);
        let login = app.login(&org.api_key, &user.email, PASSWORD).await;
        assert_eq!(login.status, 200, "{}", login.text);
    }
    // The counter restarted: one more failure is a plain refusal, not a lock.
    assert_error(&fail_logins(&app, &org, &by_key, 1).await, 401, "invalid_credentials");
}

#[tokio::test]
async fn concurrent_wrong_passwords_are_checked_at_most_five_times_and_the_right_one_among_them_does_not_pass_the_lock()
{
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let login = |password: &str| {
        let body = json!({"email": user.email, "password": password});
        app.client.post(app.url("/api/v1/login")).bearer_auth(&org.api_key).json(&body)
    };
    let mut requests: Vec<_> = (0..39).map(|_| login("WrongP@ss999")).collect();
    requests.push(login(PASSWORD));

    let answers = app.send_at_once(requests).await;

    let (right, wrong) = answers.split_last().expect("forty answers");
    let refused = wrong.iter().filter(|r| r.error() == "invalid_credentials").count();
    let stored = get_user(&app, &org.api_key, &user.id).await;
    let attempts = stored.body["failed_login_attempts"].as_i64().expect("a counter");
    assert!(attempts <= 5, "{attempts} failures counted in a burst: {}", stored.text);
    for r in wrong {
        assert!(matches!(r.error(), "invalid_credentials" | "account_locked"), "{}", r.text);
    }
    if right.status == 200 {
        // It was checked before five wrong guesses were: it reset the counter, which then counted again.
        assert!(refused <= 8, "{refused} wrong passwords checked");
    } else {
        // Five guesses were reserved (the last of them locked the account) before it was answered.
        assert_error(right, 429, "account_locked");
        assert!(refused <= 4, "{refused} wrong passwords checked besides the one that locked");
        assert_eq!(attempts, 5, "{}", stored.text);
        assert!(stored.body["locked_until"].is_string(), "{}", stored.text);
        assert_error(&app.login(&org.api_key, &user.email, PASSWORD).await, 429, "account_locked");
    }
}

#[tokio::test]
async fn concurrent_right_passwords_are_never_answered_with_a_lock_nor_counted_as_failures() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let login = || {
        let body = json!({"email": user.email, "password": PASSWORD});
        app.client.post(app.url("/api/v1/login")).bearer_auth(&org.api_key).json(&body)
    };

    // More sign-ins at once than the lockout's five guesses, twice over.
    for _ in 0..2 {
        for r in app.send_at_once((0..12).map(|_| login())).await {
            assert_eq!(r.status, 200, "{}", r.text);
        }
    }

    let stored = get_user(&app, &org.api_key, &user.id).await;
    assert_eq!(stored.body["failed_login_attempts"], 0, "{}", stored.text);
    assert_eq!(stored.body["locked_until"], Value::Null, "{}", stored.text);
}

#[tokio::test]
async fn sign_ins_abandoned_mid_check_neither_count_nor_hold_up_the_next_one() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let body = json!({"email": user.email, "password": PASSWORD});

    // Clients that give up before the answer (a mobile app's timeout): the server drops their requests.
    let impatient = reqwest::Client::builder().timeout(std::time::Duration::from_millis(5)).build().expect("client");
    let mut abandoned = tokio::task::JoinSet::new();
    for _ in 0..8 {
        abandoned.spawn(impatient.post(app.url("/api/v1/login")).bearer_auth(&org.api_key).json(&body).send());
    }
    for r in abandoned.join_all().await {
        assert!(r.is_err() || r.is_ok_and(|r| r.status() == 200), "an abandoned sign-in got another answer");
    }

    let next = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_eq!(next.status, 200, "{}", next.text);
    let wrong = app.login(&org.api_key, &user.email, "WrongP@ss999").await;
    assert_error(&wrong, 401, "invalid_credentials");
    let stored = get_user(&app, &org.api_key, &user.id).await;
    assert_eq!(stored.body["failed_login_attempts"], 1, "{}", stored.text);
}

#[tokio::test]
async fn an_admin_cannot_unlock_the_owner_or_themself() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let admin = signup_admin(&app, &org).await;
    let owner = org.owner.clone();
    for user in [&owner, &admin] {
        assert_locked_for(&app, &fail_logins(&app, &org, user, 5).await, Duration::minutes(30));
    }

    let owner_by_admin = user_action(&app, &admin.access_token, &owner.id, "unlock").await;
    let self_by_admin = user_action(&app, &admin.access_token, &admin.id, "unlock").await;

    assert_error(&owner_by_admin, 403, "forbidden");
    assert_error(&self_by_admin, 400, "cannot_modify_self");
    for user in [&owner, &admin] {
        let still = get_user(&app, &org.api_key, &user.id).await;
        assert!(still.body["locked_until"].is_string(), "{}", still.text);
        assert_error(&app.login(&org.api_key, &user.email, PASSWORD).await, 429, "account_locked");
    }
    // The owner (or the API key) may end either lock.
    assert_eq!(user_action(&app, &owner.access_token, &admin.id, "unlock").await.status, 200);
    assert_eq!(user_action(&app, &org.api_key, &owner.id, "unlock").await.status, 200);
    assert_eq!(app.login(&org.api_key, &owner.email, PASSWORD).await.status, 200);
}

// ---------------------------------------------------------------------------------------------------------------
// Transparent rehash
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_hash_made_with_older_argon2_parameters_is_replaced_at_the_next_login() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let old = PasswordHasher::new(Argon2Params { memory_kib: 19_456, iterations: 3, parallelism: 1 }, 1);
    let old_hash = old.hash(PASSWORD).await.expect("hash");
    assert!(old_hash.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"), "{old_hash}");
    app.services.store.set_password_hash(&user.id, &old_hash, app.services.now()).await.expect("store hash");

    let login = app.login(&org.api_key, &user.email, PASSWORD).await;

    assert_eq!(login.status, 200, "{}", login.text);
    let stored = app.services.store.find_user(&org.id, &user.id).await.expect("find").expect("user exists");
    let hash = stored.password_hash.expect("a password hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "not rehashed: {hash}");
    // The new hash still checks the same password.
    let again = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_eq!(again.status, 200, "{}", again.text);
}

// ---------------------------------------------------------------------------------------------------------------
// User management
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn users_are_listed_page_by_page_with_the_total() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    for _ in 0..4 {
        app.signup_user(&org.api_key).await;
    }

    for bearer in [&org.api_key, &org.owner.access_token] {
        let mut seen = Vec::new();
        for page in 1..=3 {
            let r = app.get(&format!("/api/v1/users?page={page}&per_page=2"), Some(bearer)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!((r.body["total"].as_u64(), r.body["page"].as_u64()), (Some(5), Some(page)), "{}", r.text);
            assert_eq!(r.body["per_page"], 2);
            seen.extend(listed_ids(&r));
        }
        let past_the_end = app.get("/api/v1/users?page=4&per_page=2", Some(bearer)).await;
        assert_eq!(past_the_end.status, 200, "{}", past_the_end.text);
        assert!(listed_ids(&past_the_end).is_empty(), "{}", past_the_end.text);

        // The pages together hold every user exactly once, in the same order as one big page.
        let all = app.get("/api/v1/users?per_page=100", Some(bearer)).await;
        assert_eq!(seen, listed_ids(&all));
        assert_eq!(seen.len(), 5);
        assert!(seen.contains(&org.owner.id));
    }
    // Without parameters: the first page of 20.
    let default = app.get("/api/v1/users", Some(&org.api_key)).await;
    assert_eq!((default.body["page"].as_u64(), default.body["per_page"].as_u64()), (Some(1), Some(20)));
}

#[tokio::test]
async fn listing_users_refuses_out_of_range_pagination_and_malformed_query_parameters() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    for query in ["per_page=0", "per_page=101", "page=0"] {
        let r = app.get(&format!("/api/v1/users?{query}"), Some(&org.api_key)).await;
        assert_eq!((r.status, r.error()), (400, "invalid_pagination"), "for {query}: {}", r.text);
    }
    for query in ["page=abc", "per_page=-1", "per_page=1.5", "sort=email"] {
        let r = app.get(&format!("/api/v1/users?{query}"), Some(&org.api_key)).await;
        assert_eq!((r.status, r.error()), (400, "invalid_query"), "for {query}: {}", r.text);
    }
    let largest = app.get("/api/v1/users?per_page=100", Some(&org.api_key)).await;
    assert_eq!(largest.status, 200, "{}", largest.text);
}

#[tokio::test]
async fn the_email_filter_is_a_case_insensitive_substring_with_literal_percent_and_underscore() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    for email in [
        "alice_smith@example.com",
        "alicexsmith@example.com",
        "bob%jones@example.com",
        "bobby.jones@example.com",
        "carol@example.org",
    ] {
        signup_as(&app, &org, email).await;
    }
    let (server, key) = (&app, org.api_key.as_str());
    let search =
        |filter: &'static str| async move { server.get(&format!("/api/v1/users?email={filter}"), Some(key)).await };

    let case_insensitive = search("ALICE").await;
    let underscore = search("alice_").await;
    let percent = search("bob%25j").await; // bob%j, URL-encoded
    let domain = search("Example.ORG").await;
    let nothing = search("zzz").await;

    assert_eq!(listed_emails(&case_insensitive), ["alice_smith@example.com", "alicexsmith@example.com"]);
    assert_eq!(case_insensitive.body["total"], 2);
    // `_` and `%` match themselves, not "any character" or "anything".
    assert_eq!(listed_emails(&underscore), ["alice_smith@example.com"], "{}", underscore.text);
    assert_eq!(underscore.body["total"], 1);
    assert_eq!(listed_emails(&percent), ["bob%jones@example.com"], "{}", percent.text);
    assert_eq!(listed_emails(&domain), ["carol@example.org"]);
    assert_eq!(nothing.status, 200, "{}", nothing.text);
    assert_eq!(nothing.body["total"], 0);
    assert!(listed_ids(&nothing).is_empty());
}

#[tokio::test]
async fn a_user_is_read_by_id_with_the_api_key_or_the_owner_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    for bearer in [&org.api_key, &org.owner.access_token] {
        let r = get_user(&app, bearer, &user.id).await;

        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.str("/id"), user.id);
        assert_eq!(r.str("/email"), user.email);
        assert_eq!(r.str("/role"), "user");
        assert_eq!(r.body["is_blocked"], false);
        assert_eq!(r.body["failed_login_attempts"], 0);
        assert_eq!(r.body["locked_until"], Value::Null);
        // The read model never carries credential material.
        assert!(!r.text.contains("argon2") && r.body.get("password_hash").is_none(), "{}", r.text);
    }
}

#[tokio::test]
async fn a_blocked_user_cannot_log_in_refresh_or_use_their_token_until_unblocked() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let blocked = user_action(&app, &org.owner.access_token, &user.id, "block").await;

    assert_eq!(blocked.status, 200, "{}", blocked.text);
    assert_eq!(blocked.body["is_blocked"], true);
    assert_eq!(get_user(&app, &org.api_key, &user.id).await.body["is_blocked"], true);
    assert_error(&app.login(&org.api_key, &user.email, PASSWORD).await, 403, "user_blocked");
    assert_error(&app.refresh(&user.refresh_token).await, 401, "session_revoked");
    let verified = app.verify(&org.api_key, &user.access_token).await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.body["valid"], false, "{}", verified.text);
    assert_error(&app.get("/api/v1/sessions", Some(&user.access_token)).await, 401, "session_revoked");

    let unblocked = user_action(&app, &org.api_key, &user.id, "unblock").await;

    assert_eq!(unblocked.status, 200, "{}", unblocked.text);
    assert_eq!(unblocked.body["is_blocked"], false);
    let login = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    // Unblocking does not bring the ended sessions back.
    assert_eq!(app.verify(&org.api_key, &user.access_token).await.body["valid"], false);
}

#[tokio::test]
async fn a_deleted_user_is_gone_and_their_email_answers_like_an_unknown_one() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let unknown = app.login(&org.api_key, &unique_email("nobody"), PASSWORD).await;

    let deleted = delete_user(&app, &org.api_key, &user.id).await;

    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.body["success"], true, "{}", deleted.text);
    assert_error(&get_user(&app, &org.api_key, &user.id).await, 404, "not_found");
    let login = app.login(&org.api_key, &user.email, PASSWORD).await;
    assert_error(&login, 401, "invalid_credentials");
    assert_eq!(login.body, unknown.body);
    assert_error(&app.refresh(&user.refresh_token).await, 401, "invalid_refresh_token");
    assert_eq!(app.verify(&org.api_key, &user.access_token).await.body["valid"], false);
    assert_error(&delete_user(&app, &org.api_key, &user.id).await, 404, "not_found");
    // The address is free again.
    assert_eq!(app.signup(&org.api_key, &user.email, PASSWORD).await.status, 201);
}

#[tokio::test]
async fn the_owner_manages_users_with_their_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let owner = &org.owner.access_token;

    let listed = app.get("/api/v1/users", Some(owner)).await;
    let blocked = user_action(&app, owner, &user.id, "block").await;
    let unblocked = user_action(&app, owner, &user.id, "unblock").await;
    let deleted = delete_user(&app, owner, &user.id).await;

    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["total"], 2);
    assert_eq!((blocked.status, &blocked.body["is_blocked"]), (200, &json!(true)), "{}", blocked.text);
    assert_eq!((unblocked.status, &unblocked.body["is_blocked"]), (200, &json!(false)), "{}", unblocked.text);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_error(&get_user(&app, owner, &user.id).await, 404, "not_found");
}

#[tokio::test]
async fn a_plain_user_is_forbidden_from_user_management() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let other = app.signup_user(&org.api_key).await;
    let token = &user.access_token;

    assert_error(&app.get("/api/v1/users", Some(token)).await, 403, "forbidden");
    assert_error(&get_user(&app, token, &user.id).await, 403, "forbidden");
    assert_error(&get_user(&app, token, &other.id).await, 403, "forbidden");
    for action in ["block", "unblock", "unlock"] {
        assert_error(&user_action(&app, token, &other.id, action).await, 403, "forbidden");
    }
    assert_error(&delete_user(&app, token, &other.id).await, 403, "forbidden");
    assert_error(&delete_user(&app, token, &org.owner.id).await, 403, "forbidden");

    // The other user was left alone.
    let untouched = get_user(&app, &org.api_key, &other.id).await;
    assert_eq!(untouched.body["is_blocked"], false, "{}", untouched.text);
    assert_eq!(app.login(&org.api_key, &other.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn an_admin_manages_users_but_cannot_block_or_delete_the_owner() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let admin = signup_admin(&app, &org).await;
    let user = app.signup_user(&org.api_key).await;

    let block_owner = user_action(&app, &admin.access_token, &org.owner.id, "block").await;
    let delete_owner = delete_user(&app, &admin.access_token, &org.owner.id).await;
    let block_user = user_action(&app, &admin.access_token, &user.id, "block").await;

    assert_error(&block_owner, 403, "forbidden");
    assert_error(&delete_owner, 403, "forbidden");
    assert_eq!(block_user.status, 200, "{}", block_user.text);
    // The owner is untouched and still signs in.
    let owner = get_user(&app, &org.api_key, &org.owner.id).await;
    assert_eq!(owner.body["is_blocked"], false, "{}", owner.text);
    assert_eq!(app.login(&org.api_key, &org.owner.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn nobody_blocks_or_deletes_themself() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let admin = signup_admin(&app, &org).await;

    for me in [&org.owner, &admin] {
        let block = user_action(&app, &me.access_token, &me.id, "block").await;
        let delete = delete_user(&app, &me.access_token, &me.id).await;

        assert_error(&block, 400, "cannot_modify_self");
        assert_error(&delete, 400, "cannot_modify_self");
        let still = get_user(&app, &org.api_key, &me.id).await;
        assert_eq!((still.status, &still.body["is_blocked"]), (200, &json!(false)), "{}", still.text);
        assert_eq!(app.verify(&org.api_key, &me.access_token).await.body["valid"], true);
    }
}

#[tokio::test]
async fn an_unknown_or_malformed_user_id_is_not_found() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let unknown = zauthy_core::ids::new_id(zauthy_core::ids::USER);

    for id in [unknown.as_str(), "not-a-user-id", "usr_", "usr_%27%20or%201=1"] {
        for bearer in [&org.api_key, &org.owner.access_token] {
            assert_error(&get_user(&app, bearer, id).await, 404, "not_found");
            for action in ["block", "unblock", "unlock"] {
                let r = user_action(&app, bearer, id, action).await;
                assert_eq!((r.status, r.error()), (404, "not_found"), "{action} {id}: {}", r.text);
            }
            assert_error(&delete_user(&app, bearer, id).await, 404, "not_found");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn signup_login_block_and_delete_are_recorded_as_events_of_the_user() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    assert_eq!(app.login(&org.api_key, &user.email, PASSWORD).await.status, 200);
    assert_eq!(user_action(&app, &org.api_key, &user.id, "block").await.status, 200);
    assert_eq!(delete_user(&app, &org.owner.access_token, &user.id).await.status, 200);

    let events = app.services.store.list_events(&org.id, None, 50).await.expect("events");

    for kind in ["user.signup", "user.login", "user.blocked", "user.deleted"] {
        let event = events
            .iter()
            .find(|e| e.event_type == kind && e.user_id.as_deref() == Some(user.id.as_str()))
            .unwrap_or_else(|| panic!("no {kind} event for {}: {events:?}", user.id));
        assert_eq!(event.org_id, org.id);
        assert_eq!(event.data["user_id"], user.id.as_str(), "{kind}: {}", event.data);
    }
    let deleted = events.iter().find(|e| e.event_type == "user.deleted").expect("deleted event");
    assert_eq!(deleted.data["by"], org.owner.id.as_str(), "{}", deleted.data);
}

#[tokio::test]
async fn demoting_an_admin_ends_their_sessions_so_old_tokens_lose_the_role() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let admin = signup_admin(&app, &org).await;
    assert_eq!(app.get("/api/v1/users?page=1&per_page=5", Some(&admin.access_token)).await.status, 200);

    let request = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", admin.id)))
        .bearer_auth(&org.api_key)
        .json(&json!({"role": "user"}));
    assert_eq!(app.send(request).await.status, 200);

    assert_error(&app.get("/api/v1/users?page=1&per_page=5", Some(&admin.access_token)).await, 401, "session_revoked");
    assert_error(&app.refresh(&admin.refresh_token).await, 401, "session_revoked");
    let again = app.login(&org.api_key, &admin.email, PASSWORD).await;
    assert_eq!(again.str("/user/role"), "user");
    assert_error(
        &app.get("/api/v1/users?page=1&per_page=5", Some(&again.str("/access_token"))).await,
        403,
        "forbidden",
    );
}
