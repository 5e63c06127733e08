//! TOTP two-factor authentication over HTTP: enrolment with QR code and backup codes, the login-time second
//! step with replay protection and lockout, backup codes, single-use expiring mfa tokens, disabling, an
//! administrator's reset, the hosted code form, and seeds encrypted at rest.

use data_encoding::{BASE32_NOPAD, BASE64};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use time::Duration;
use zauthy_testkit::{TestApp, TestOrg, TestResponse, TestUser};

// ---------------------------------------------------------------------------------------------------------------
// An independent RFC 6238 implementation (HMAC-SHA1 from the RustCrypto crates, not the server's totp-rs)
// ---------------------------------------------------------------------------------------------------------------

fn hotp(secret: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value =
        u32::from_be_bytes([digest[offset], digest[offset + 1], digest[offset + 2], digest[offset + 3]]) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

/// The code an authenticator app shows for `secret` (base32) at the server's current time.
pub(crate) fn code_now(app: &TestApp, secret: &str) -> String {
    let key = BASE32_NOPAD.decode(secret.as_bytes()).expect("a base32 secret");
    hotp(&key, app.services.now().unix_timestamp() as u64 / 30)
}

#[test]
fn the_independent_implementation_matches_the_rfc_6238_vectors() {
    let key = b"12345678901234567890";
    assert_eq!(hotp(key, 59 / 30), "287082");
    assert_eq!(hotp(key, 1_111_111_109 / 30), "081804");
    assert_eq!(hotp(key, 2_000_000_000 / 30), "279037");
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

async fn setup(app: &TestApp, user: &TestUser) -> TestResponse {
    app.post("/api/v1/mfa/totp/setup", Some(&user.access_token), &json!({})).await
}

async fn verify(app: &TestApp, bearer: &str, body: Value) -> TestResponse {
    app.post("/api/v1/mfa/totp/verify", Some(bearer), &body).await
}

/// Enrols `user` and returns the secret and backup codes. Moves the clock to the next step afterwards, so
/// the confirming code's step is spent and the next code differs.
pub(crate) async fn enrol(app: &TestApp, user: &TestUser) -> (String, Vec<String>) {
    let r = setup(app, user).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret = r.str("/secret");
    let codes = r.body["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    let r = verify(app, &user.access_token, json!({"code": code_now(app, &secret)})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.clock.advance(Duration::seconds(30));
    (secret, codes)
}

/// Logs in with the password and returns the `mfa_token` of the answer, which must ask for MFA.
/// A user with TOTP on, signed in with their password: the app, the organization, the user, the `mfa_token`
/// and the right code for now.
async fn waiting_for_a_code() -> (TestApp, TestOrg, TestUser, String, String) {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, _) = enrol(&app, &user).await;
    let token = mfa_token(&app, &org, &user).await;
    let right = code_now(&app, &secret);
    (app, org, user, token, right)
}

/// A well-formed code that is not `right`.
fn other_code(right: &str) -> &'static str {
    if right == "123456" { "654321" } else { "123456" }
}

async fn mfa_token(app: &TestApp, org: &TestOrg, user: &TestUser) -> String {
    let r = app.login(&org.api_key, &user.email, &user.password).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], true, "{}", r.text);
    r.str("/mfa_token")
}

// ---------------------------------------------------------------------------------------------------------------
// Enrolment
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn setup_returns_a_secret_an_otpauth_uri_a_qr_image_and_ten_backup_codes() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = setup(&app, &user).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let secret = r.str("/secret");
    assert_eq!(BASE32_NOPAD.decode(secret.as_bytes()).expect("base32").len(), 20, "a 160-bit seed");
    let uri = r.str("/qr_uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=Test%20Org"), "the issuer is the organization's name: {uri}");
    let image = r.str("/qr_image");
    let png = BASE64.decode(image.strip_prefix("data:image/png;base64,").expect("a PNG data URI").as_bytes()).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let codes: Vec<&str> = r.body["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(codes.len(), 10);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "{codes:?}");
}

#[tokio::test]
async fn mfa_is_enabled_only_after_a_valid_code_confirms_setup() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let secret = setup(&app, &user).await.str("/secret");

    // Not yet confirmed: logging in still gives tokens.
    let r = app.login(&org.api_key, &user.email, &user.password).await;
    assert_eq!((r.status, r.body["mfa_required"].clone()), (200, json!(false)), "{}", r.text);

    let wrong = verify(&app, &user.access_token, json!({"code": "000000"})).await;
    let wrong = if code_now(&app, &secret) == "000000" {
        verify(&app, &user.access_token, json!({"code": "111111"})).await
    } else {
        wrong
    };
    assert_error(&wrong, 401, "invalid_mfa_code");

    let r = verify(&app, &user.access_token, json!({"code": code_now(&app, &secret)})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"success": true, "mfa_enabled": true}));

    let r = app.login(&org.api_key, &user.email, &user.password).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], true);
    assert!(r.str("/mfa_token").starts_with("mfa_tmp_"));
    assert_eq!(r.body["mfa_methods"], json!(["totp", "backup_code"]));
    assert!(r.body.get("access_token").is_none() && r.body.get("refresh_token").is_none(), "no tokens: {}", r.text);

    let events = app.services.store.list_events(&org.id, Some("mfa.enabled"), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id.as_deref(), Some(user.id.as_str()));
}

#[tokio::test]
async fn enrolling_again_while_mfa_is_on_is_a_conflict() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    enrol(&app, &user).await;

    assert_error(&setup(&app, &user).await, 409, "mfa_already_enabled");
}

#[tokio::test]
async fn mfa_endpoints_need_the_users_own_access_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    assert_error(&app.post("/api/v1/mfa/totp/setup", Some(&org.api_key), &json!({})).await, 401, "user_token_required");
    assert_error(&app.post("/api/v1/mfa/totp/setup", None, &json!({})).await, 401, "missing_authorization");
    assert_error(&app.get("/api/v1/mfa/status", Some(&org.api_key)).await, 401, "user_token_required");
    let r = verify(&app, &org.api_key, json!({"code": "123456"})).await;
    assert_error(&r, 401, "user_token_required");
}

#[tokio::test]
async fn totp_seeds_are_encrypted_at_rest() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, codes) = enrol(&app, &user).await;

    let db = sea_orm::Database::connect(app.config.database_url.clone().unwrap()).await.unwrap();
    let rows = sea_orm::ConnectionTrait::query_all_raw(
        &db,
        sea_orm::Statement::from_string(db.get_database_backend(), "select secret_enc from mfa_totp".to_owned()),
    )
    .await
    .unwrap();
    let stored: String = rows[0].try_get("", "secret_enc").unwrap();
    let raw = BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
    assert!(stored.starts_with("v1."), "{stored}");
    assert!(!stored.contains(&secret) && !stored.contains(&BASE64.encode(&raw)), "the seed must not be readable");
    let rows = sea_orm::ConnectionTrait::query_all_raw(
        &db,
        sea_orm::Statement::from_string(db.get_database_backend(), "select code_hash from mfa_backup_codes".to_owned()),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 10);
    for row in rows {
        let hash: String = row.try_get("", "code_hash").unwrap();
        assert!(codes.iter().all(|c| !hash.contains(c.as_str())), "backup codes are stored hashed");
        assert_eq!(hash.len(), 64);
    }
    db.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------------------------
// The login-time second step
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_code_from_an_independent_implementation_completes_the_login() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, _) = enrol(&app, &user).await;
    let token = mfa_token(&app, &org, &user).await;

    let r = verify(&app, &org.api_key, json!({"mfa_token": token, "code": code_now(&app, &secret)})).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], false);
    assert_eq!(r.str("/user/id"), user.id);
    let verified = app.verify(&org.api_key, &r.str("/access_token")).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(app.refresh(&r.str("/refresh_token")).await.status, 200);
    let logins = app.services.store.list_events(&org.id, Some("user.login"), 20).await.unwrap();
    assert!(
        logins.iter().any(|e| e.data["method"] == "password" && e.data["mfa"] == "totp"),
        "{:?}",
        logins.iter().map(|e| &e.data).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_same_time_step_cannot_be_used_twice() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, _) = enrol(&app, &user).await;
    let code = code_now(&app, &secret);
    let first =
        verify(&app, &org.api_key, json!({"mfa_token": mfa_token(&app, &org, &user).await, "code": code})).await;
    assert_eq!(first.status, 200, "{}", first.text);

    let token = mfa_token(&app, &org, &user).await;
    let replay = verify(&app, &org.api_key, json!({"mfa_token": token, "code": code})).await;
    assert_error(&replay, 401, "mfa_code_reused");

    // The next step's code works with the same mfa_token.
    app.clock.advance(Duration::seconds(30));
    let next = verify(&app, &org.api_key, json!({"mfa_token": token, "code": code_now(&app, &secret)})).await;
    assert_eq!(next.status, 200, "{}", next.text);
}

#[tokio::test]
async fn the_confirming_code_cannot_be_replayed_at_login() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let secret = setup(&app, &user).await.str("/secret");
    let code = code_now(&app, &secret);
    assert_eq!(verify(&app, &user.access_token, json!({"code": code})).await.status, 200);

    let token = mfa_token(&app, &org, &user).await;
    assert_error(&verify(&app, &org.api_key, json!({"mfa_token": token, "code": code})).await, 401, "mfa_code_reused");
}

#[tokio::test]
async fn a_backup_code_completes_a_login_once_only() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (_, codes) = enrol(&app, &user).await;

    // Codes are accepted in `code` (any case) or `backup_code`.
    let token = mfa_token(&app, &org, &user).await;
    let r = verify(&app, &org.api_key, json!({"mfa_token": token, "code": codes[0].to_uppercase()})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["access_token"].is_string());

    let token = mfa_token(&app, &org, &user).await;
    let again = verify(&app, &org.api_key, json!({"mfa_token": token, "backup_code": codes[0]})).await;
    assert_error(&again, 401, "backup_code_used");
    let other = verify(&app, &org.api_key, json!({"mfa_token": token, "backup_code": codes[1]})).await;
    assert_eq!(other.status, 200, "{}", other.text);

    let status = app.get("/api/v1/mfa/status", Some(&user.access_token)).await;
    assert_eq!(status.body, json!({"enabled": true, "methods": ["totp", "backup_code"], "backup_codes_remaining": 8}));
    assert_eq!(app.services.store.list_events(&org.id, Some("mfa.backup_code_used"), 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn another_users_backup_code_does_not_work() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let alice = app.signup_user(&org.api_key).await;
    let bob = app.signup_user(&org.api_key).await;
    enrol(&app, &alice).await;
    let (_, bobs_codes) = enrol(&app, &bob).await;

    let token = mfa_token(&app, &org, &alice).await;
    let r = verify(&app, &org.api_key, json!({"mfa_token": token, "backup_code": bobs_codes[0]})).await;
    assert_error(&r, 401, "invalid_mfa_code");
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout_schedule() {
    let (app, org, user, token, right) = waiting_for_a_code().await;
    let wrong = other_code(&right);

    for _ in 1..=4 {
        let r = verify(&app, &org.api_key, json!({"mfa_token": token, "code": wrong})).await;
        assert_error(&r, 401, "invalid_mfa_code");
    }
    let fifth = verify(&app, &org.api_key, json!({"mfa_token": token, "code": wrong})).await;
    assert_error(&fifth, 429, "account_locked");
    assert!(fifth.body["locked_until"].is_string());

    // Locked: even the right code is refused, and so is the password.
    let r = verify(&app, &org.api_key, json!({"mfa_token": token, "code": right})).await;
    assert_error(&r, 429, "account_locked");
    assert_error(&app.login(&org.api_key, &user.email, &user.password).await, 429, "account_locked");
}

#[tokio::test]
async fn concurrent_wrong_codes_on_one_mfa_token_are_checked_at_most_five_times_and_the_right_one_does_not_pass_the_lock()
 {
    let (app, org, user, token, right) = waiting_for_a_code().await;
    let wrong = other_code(&right);
    let attempt = |code: &str| {
        let body = json!({"mfa_token": token, "code": code});
        app.client.post(app.url("/api/v1/mfa/totp/verify")).bearer_auth(&org.api_key).json(&body)
    };
    let mut requests: Vec<_> = (0..15).map(|_| attempt(wrong)).collect();
    requests.push(attempt(&right));

    let answers = app.send_at_once(requests).await;

    let (right_answer, wrong_answers) = answers.split_last().expect("sixteen answers");
    let checked = wrong_answers.iter().filter(|r| r.error() == "invalid_mfa_code").count();
    let stored = app.get(&format!("/api/v1/users/{}", user.id), Some(&org.api_key)).await;
    let attempts = stored.body["failed_login_attempts"].as_i64().expect("a counter");
    assert!(attempts <= 5, "{attempts} failures counted in a burst: {}", stored.text);
    assert!(checked <= 4, "{checked} wrong codes checked besides the one that locked");
    if right_answer.status != 200 {
        assert!(matches!(right_answer.error(), "account_locked" | "mfa_attempts_exceeded"), "{}", right_answer.text);
        assert_eq!(attempts, 5, "{}", stored.text);
        let again = verify(&app, &org.api_key, json!({"mfa_token": token, "code": right})).await;
        assert!(matches!(again.error(), "account_locked" | "mfa_attempts_exceeded"), "{}", again.text);
    }
}

#[tokio::test]
async fn an_mfa_token_is_dead_after_five_wrong_codes_even_when_the_account_is_not_locked() {
    let (app, org, user, token, right) = waiting_for_a_code().await;
    let wrong = other_code(&right);
    for _ in 1..=4 {
        assert_error(
            &verify(&app, &org.api_key, json!({"mfa_token": token, "code": wrong})).await,
            401,
            "invalid_mfa_code",
        );
    }
    // The organization ends the lock the fifth failure set; the token's own limit still holds.
    assert_error(&verify(&app, &org.api_key, json!({"mfa_token": token, "code": wrong})).await, 429, "account_locked");
    let unlock = app.post(&format!("/api/v1/users/{}/unlock", user.id), Some(&org.api_key), &json!({})).await;
    assert_eq!(unlock.status, 200, "{}", unlock.text);

    let r = verify(&app, &org.api_key, json!({"mfa_token": token, "code": right})).await;

    assert_error(&r, 401, "mfa_attempts_exceeded");
    // A new sign-in gets a new token and five new tries.
    let fresh = mfa_token(&app, &org, &user).await;
    assert_eq!(verify(&app, &org.api_key, json!({"mfa_token": fresh, "code": right})).await.status, 200);
}

#[tokio::test]
async fn mfa_tokens_are_single_use_expire_and_belong_to_one_organization() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other_org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, codes) = enrol(&app, &user).await;

    let token = mfa_token(&app, &org, &user).await;
    assert_eq!(
        verify(&app, &org.api_key, json!({"mfa_token": token, "code": code_now(&app, &secret)})).await.status,
        200
    );
    app.clock.advance(Duration::seconds(30));
    let reused = verify(&app, &org.api_key, json!({"mfa_token": token, "code": code_now(&app, &secret)})).await;
    assert_error(&reused, 401, "mfa_token_used");

    let token = mfa_token(&app, &org, &user).await;
    let foreign = verify(&app, &other_org.api_key, json!({"mfa_token": token, "backup_code": codes[0]})).await;
    assert_error(&foreign, 401, "mfa_token_wrong_organization");
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_error(
        &verify(&app, &org.api_key, json!({"mfa_token": tampered, "code": "123456"})).await,
        401,
        "invalid_mfa_token",
    );
    assert_error(
        &verify(&app, &org.api_key, json!({"mfa_token": "garbage", "code": "123456"})).await,
        401,
        "invalid_mfa_token",
    );

    app.clock.advance(Duration::minutes(6));
    let expired = verify(&app, &org.api_key, json!({"mfa_token": token, "code": code_now(&app, &secret)})).await;
    assert_error(&expired, 401, "mfa_token_expired");
    // None of those spent the backup code.
    let fresh = mfa_token(&app, &org, &user).await;
    assert_eq!(verify(&app, &org.api_key, json!({"mfa_token": fresh, "backup_code": codes[0]})).await.status, 200);
}

#[tokio::test]
async fn a_verify_request_without_a_code_is_a_clear_error() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    enrol(&app, &user).await;
    let token = mfa_token(&app, &org, &user).await;

    assert_error(&verify(&app, &org.api_key, json!({"mfa_token": token})).await, 400, "invalid_request");
    assert_error(
        &verify(&app, &org.api_key, json!({"mfa_token": token, "code": 123456})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &verify(&app, &org.api_key, json!({"mfa_token": token, "code": "x".repeat(100_000)})).await,
        413,
        "payload_too_large",
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Backup-code renewal, disabling and the administrator's reset
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn regenerated_backup_codes_replace_the_old_ones() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, old) = enrol(&app, &user).await;

    let r =
        app.post("/api/v1/mfa/backup-codes", Some(&user.access_token), &json!({"code": code_now(&app, &secret)})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new: Vec<String> =
        r.body["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(new.len(), 10);

    let token = mfa_token(&app, &org, &user).await;
    assert_error(
        &verify(&app, &org.api_key, json!({"mfa_token": token, "backup_code": old[0]})).await,
        401,
        "invalid_mfa_code",
    );
    assert_eq!(verify(&app, &org.api_key, json!({"mfa_token": token, "backup_code": new[0]})).await.status, 200);
}

#[tokio::test]
async fn disabling_mfa_needs_the_password() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    enrol(&app, &user).await;

    let wrong = app.post("/api/v1/mfa/disable", Some(&user.access_token), &json!({"password": "Wrong$Pass123"})).await;
    assert_error(&wrong, 401, "invalid_credentials");
    let missing = app.post("/api/v1/mfa/disable", Some(&user.access_token), &json!({})).await;
    assert_error(&missing, 400, "password_required");

    let r = app.post("/api/v1/mfa/disable", Some(&user.access_token), &json!({"password": user.password})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let login = app.login(&org.api_key, &user.email, &user.password).await;
    assert_eq!(login.body["mfa_required"], false, "{}", login.text);
    assert!(login.body["access_token"].is_string());
    let status = app.get("/api/v1/mfa/status", Some(&user.access_token)).await;
    assert_eq!(status.body, json!({"enabled": false, "methods": [], "backup_codes_remaining": 0}));
    assert_eq!(app.services.store.list_events(&org.id, Some("mfa.disabled"), 10).await.unwrap().len(), 1);
    let again = app.post("/api/v1/mfa/disable", Some(&user.access_token), &json!({"password": user.password})).await;
    assert_error(&again, 400, "mfa_not_enabled");
}

#[tokio::test]
async fn wrong_passwords_at_mfa_disable_count_toward_the_lockout() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    enrol(&app, &user).await;
    let disable = |password: &str| {
        let request = app.client.post(app.url("/api/v1/mfa/disable")).bearer_auth(&user.access_token);
        app.send(request.json(&json!({"password": password})))
    };

    for _ in 1..=4 {
        assert_error(&disable("Wrong$Pass123").await, 401, "invalid_credentials");
    }
    assert_error(&disable("Wrong$Pass123").await, 429, "account_locked");

    // Locked: the right password is refused here and at login, and MFA stays on.
    assert_error(&disable(&user.password).await, 429, "account_locked");
    assert_error(&app.login(&org.api_key, &user.email, &user.password).await, 429, "account_locked");
    assert_eq!(app.get("/api/v1/mfa/status", Some(&user.access_token)).await.body["enabled"], true);
    let stored = app.get(&format!("/api/v1/users/{}", user.id), Some(&org.api_key)).await;
    assert_eq!(stored.body["failed_login_attempts"], 5, "{}", stored.text);
}

/// A user promoted to admin with the API key and signed in again, so the token carries the role.
async fn promoted_admin(app: &TestApp, org: &TestOrg) -> TestUser {
    let user = app.signup_user(&org.api_key).await;
    let r = app.patch(&format!("/api/v1/users/{}", user.id), Some(&org.api_key), &json!({"role": "admin"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let login = app.login(&org.api_key, &user.email, &user.password).await;
    assert_eq!(login.str("/user/role"), "admin", "{}", login.text);
    TestUser { access_token: login.str("/access_token"), refresh_token: login.str("/refresh_token"), ..user }
}

#[tokio::test]
async fn an_admin_cannot_reset_the_owners_mfa_or_their_own() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let admin = promoted_admin(&app, &org).await;
    enrol(&app, &org.owner).await;
    enrol(&app, &admin).await;
    let reset = |user_id: &str, bearer: &str| {
        app.send(app.client.delete(app.url(&format!("/api/v1/users/{user_id}/mfa"))).bearer_auth(bearer))
    };

    assert_error(&reset(&org.owner.id, &admin.access_token).await, 403, "forbidden");
    assert_error(&reset(&admin.id, &admin.access_token).await, 400, "cannot_modify_self");
    assert_error(&reset(&org.owner.id, &org.owner.access_token).await, 400, "cannot_modify_self");
    for user in [&org.owner, &admin] {
        assert_eq!(app.get("/api/v1/mfa/status", Some(&user.access_token)).await.body["enabled"], true);
    }
    // The owner may reset the admin's, the API key the owner's.
    assert_eq!(reset(&admin.id, &org.owner.access_token).await.status, 200);
    assert_eq!(reset(&org.owner.id, &org.api_key).await.status, 200);
    assert_eq!(app.get("/api/v1/mfa/status", Some(&org.owner.access_token)).await.body["enabled"], false);
}

#[tokio::test]
async fn an_administrator_can_reset_a_users_mfa_but_not_across_organizations() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other_org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    enrol(&app, &user).await;
    let path = format!("/api/v1/users/{}/mfa", user.id);

    assert_error(&app.delete(&path, Some(&other_org.api_key)).await, 404, "not_found");
    assert_error(&app.delete(&path, Some(&user.access_token)).await, 403, "forbidden");
    let r = app.delete(&path, Some(&org.owner.access_token)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let login = app.login(&org.api_key, &user.email, &user.password).await;
    assert_eq!(login.body["mfa_required"], false, "{}", login.text);
}

// ---------------------------------------------------------------------------------------------------------------
// The hosted code form
// ---------------------------------------------------------------------------------------------------------------

const CSRF: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

async fn post_hosted_form(app: &TestApp, org: &TestOrg, form: &[(&str, &str)], cookie: Option<&str>) -> TestResponse {
    let mut request = app.client.post(app.url(&format!("/o/{}/login/mfa", org.id))).form(form);
    if let Some(c) = cookie {
        request = request.header(reqwest::header::COOKIE, c);
    }
    app.send(request).await
}

#[tokio::test]
async fn the_hosted_code_form_signs_the_browser_in_and_refuses_forged_posts() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let (secret, _) = enrol(&app, &user).await;
    let token = mfa_token(&app, &org, &user).await;
    let csrf_cookie = format!("zauthy_csrf={CSRF}");

    // No CSRF token, or a foreign one: refused, and the code is not consumed.
    let code = code_now(&app, &secret);
    let forged = post_hosted_form(&app, &org, &[("mfa_token", &token), ("code", &code)], Some(&csrf_cookie)).await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert!(forged.text.contains("csrf_failed"));
    let other = "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJ";
    let mismatched = post_hosted_form(
        &app,
        &org,
        &[("mfa_token", &token), ("code", &code), ("csrf_token", other)],
        Some(&csrf_cookie),
    )
    .await;
    assert_eq!(mismatched.status, 403);

    // A wrong code shows the form again with the reason.
    let wrong = if code == "123456" { "654321" } else { "123456" };
    let again = post_hosted_form(
        &app,
        &org,
        &[("mfa_token", &token), ("code", wrong), ("csrf_token", CSRF)],
        Some(&csrf_cookie),
    )
    .await;
    assert_eq!(again.status, 401, "{}", again.text);
    assert!(again.text.contains(r#"id="code""#) && again.text.contains(r#"id="error""#), "{}", again.text);

    let ok = post_hosted_form(
        &app,
        &org,
        &[("mfa_token", &token), ("code", &code), ("csrf_token", CSRF), ("return_to", "https://evil.example/")],
        Some(&csrf_cookie),
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert_eq!(ok.header("location"), Some(format!("/o/{}/account", org.id).as_str()), "no open redirect");
    let session_cookie = ok
        .headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("zauthy_session="))
        .expect("a session cookie")
        .to_owned();
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    let pair = session_cookie.split(';').next().unwrap();

    let account = app
        .send(app.client.get(app.url(&format!("/o/{}/account", org.id))).header(reqwest::header::COOKIE, pair))
        .await;
    assert_eq!(account.status, 200, "{}", account.text);
    assert!(account.text.contains(&user.email), "{}", account.text);
}

#[tokio::test]
async fn deleting_a_user_with_mfa_removes_their_second_factor_too() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    enrol(&app, &user).await;
    mfa_token(&app, &org, &user).await;

    let r = app.delete(&format!("/api/v1/users/{}", user.id), Some(&org.api_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    assert!(app.services.store.find_totp(&user.id).await.unwrap().is_none());
    assert_eq!(app.services.store.count_unused_backup_codes(&user.id).await.unwrap(), 0);
}
