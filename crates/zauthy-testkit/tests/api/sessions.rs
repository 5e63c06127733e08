//! Sessions and tokens: refresh rotation with reuse detection, logout, the session list and remote revocation,
//! idle and absolute lifetimes on the movable clock, and `/token/verify` for backends.

use reqwest::header::USER_AGENT;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use zauthy_testkit::{TestApp, TestResponse, TestUser};

/// The session id (`sid` claim) of an access token, read without verification: the server is what we test.
fn session_of(access_token: &str) -> String {
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(access_token).expect("an access token JWT");
    claims["sid"].as_str().expect("a sid claim").to_owned()
}

/// Signs `user` in again from a client that names itself, which starts another session.
async fn login_with_agent(app: &TestApp, api_key: &str, user: &TestUser, agent: &str) -> TestResponse {
    let request = app
        .client
        .post(app.url("/api/v1/login"))
        .bearer_auth(api_key)
        .header(USER_AGENT, agent)
        .json(&json!({"email": user.email, "password": user.password}));
    let r = app.send(request).await;
    assert_eq!(r.status, 200, "login failed: {}", r.text);
    r
}

fn parse_time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
}

// --- refresh rotation -------------------------------------------------------------------------------------

#[tokio::test]
async fn refreshing_returns_a_new_token_pair_that_works() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = app.refresh(&user.refresh_token).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.str("/token_type"), "bearer");
    assert_eq!(r.body["expires_in"], 900);
    let refresh_token = r.str("/refresh_token");
    let access_token = r.str("/access_token");
    assert_ne!(refresh_token, user.refresh_token, "the refresh token must rotate");
    assert_ne!(access_token, user.access_token);
    // Same session, new tokens: the new access token verifies and the new refresh token refreshes.
    assert_eq!(session_of(&access_token), session_of(&user.access_token));
    let verified = app.verify(&org.api_key, &access_token).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(app.refresh(&refresh_token).await.status, 200);
}

#[tokio::test]
async fn presenting_a_spent_refresh_token_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rotated = app.refresh(&user.refresh_token).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_refresh = rotated.str("/refresh_token");
    let new_access = rotated.str("/access_token");

    // An attacker (or the victim) replays the old token: one of the two holders is not legitimate.
    let replay = app.refresh(&user.refresh_token).await;

    assert_eq!(replay.status, 401, "{}", replay.text);
    assert_eq!(replay.error(), "refresh_token_reused");
    // The legitimate-looking newest tokens die with the session.
    let after = app.refresh(&new_refresh).await;
    assert_eq!(after.status, 401, "{}", after.text);
    assert_eq!(after.error(), "session_revoked");
    let verified = app.verify(&org.api_key, &new_access).await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.body["valid"], false);
    assert_eq!(verified.str("/reason"), "session_revoked");
    let sessions = app.get("/api/v1/sessions", Some(&new_access)).await;
    assert_eq!(sessions.status, 401);
    assert_eq!(sessions.error(), "session_revoked");
    // The security event names the user and the session, for webhooks and the audit log.
    let events = app.services.store.list_events(&org.id, Some("security.refresh_token_reused"), 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].user_id.as_deref(), Some(user.id.as_str()));
    assert_eq!(events[0].data["session_id"], session_of(&user.access_token));
    assert_eq!(events[0].data["session_revoked"], true);
}

#[tokio::test]
async fn replaying_a_refresh_token_does_not_touch_the_users_other_sessions() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let other = login_with_agent(&app, &org.api_key, &user, "laptop").await;
    assert_eq!(app.refresh(&user.refresh_token).await.status, 200);

    let replay = app.refresh(&user.refresh_token).await;

    assert_eq!(replay.error(), "refresh_token_reused");
    let verified = app.verify(&org.api_key, &other.str("/access_token")).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(app.refresh(&other.str("/refresh_token")).await.status, 200);
}

#[tokio::test]
async fn unknown_refresh_tokens_are_rejected() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    // Shaped like a real token but never issued; wrong prefix; a real token with a character changed.
    let mut altered = user.refresh_token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'a' { 'b' } else { 'a' });

    for token in ["rt_0123456789abcdefghijklmnopqrstuvwxyz0123456", "abc", "", &altered] {
        let r = app.refresh(token).await;

        assert_eq!(r.status, 401, "{token:?}: {}", r.text);
        assert_eq!(r.error(), "invalid_refresh_token", "{token:?}");
    }
    // Failed guesses must not spend or revoke the real token.
    assert_eq!(app.refresh(&user.refresh_token).await.status, 200);
}

#[tokio::test]
async fn a_refresh_token_sent_with_another_organizations_api_key_is_rejected() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other_org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = app.post("/api/v1/refresh", Some(&other_org.api_key), &json!({"refresh_token": user.refresh_token})).await;

    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.error(), "invalid_refresh_token");
    // The token stays usable in its own organization.
    let own = app.post("/api/v1/refresh", Some(&org.api_key), &json!({"refresh_token": user.refresh_token})).await;
    assert_eq!(own.status, 200, "{}", own.text);
}

// --- logout -------------------------------------------------------------------------------------------------

#[tokio::test]
async fn logout_ends_the_session_for_its_access_and_refresh_tokens() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = app.post("/api/v1/logout", Some(&user.access_token), &json!({})).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"success": true}));
    let sessions = app.get("/api/v1/sessions", Some(&user.access_token)).await;
    assert_eq!(sessions.status, 401, "{}", sessions.text);
    assert_eq!(sessions.error(), "session_revoked");
    let refresh = app.refresh(&user.refresh_token).await;
    assert_eq!(refresh.status, 401, "{}", refresh.text);
    assert_eq!(refresh.error(), "session_revoked");
    let events = app.services.store.list_events(&org.id, Some("session.revoked"), 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data["reason"], "logout");
}

#[tokio::test]
async fn logout_with_an_api_key_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let r = app.post("/api/v1/logout", Some(&org.api_key), &json!({})).await;

    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.error(), "user_token_required");
}

// --- the session list and revocation --------------------------------------------------------------------------

#[tokio::test]
async fn the_session_list_shows_every_login_and_marks_the_callers_session() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let phone = login_with_agent(&app, &org.api_key, &user, "zauthy-test/phone").await;
    let laptop = login_with_agent(&app, &org.api_key, &user, "zauthy-test/laptop").await;
    let laptop_token = laptop.str("/access_token");

    let r = app.get("/api/v1/sessions", Some(&laptop_token)).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let sessions = r.body["sessions"].as_array().expect("a sessions array");
    // Signup started one session, each login another.
    assert_eq!(sessions.len(), 3, "{}", r.text);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{}", r.text);
    assert_eq!(current[0]["id"], session_of(&laptop_token));
    for s in sessions {
        assert!(s["id"].as_str().unwrap().starts_with("sess_"), "{s}");
        let created = parse_time(s["created_at"].as_str().unwrap());
        assert!(parse_time(s["last_used_at"].as_str().unwrap()) >= created, "{s}");
        assert!(parse_time(s["expires_at"].as_str().unwrap()) > created, "{s}");
        assert_eq!(s["ip"], "127.0.0.1", "{s}");
        assert!(s["current"].is_boolean(), "{s}");
    }
    let agent_of = |token: &str| {
        let id = session_of(token);
        sessions.iter().find(|s| s["id"] == id.as_str()).map(|s| s["user_agent"].clone()).expect("listed")
    };
    assert_eq!(agent_of(&laptop_token), "zauthy-test/laptop");
    assert_eq!(agent_of(&phone.str("/access_token")), "zauthy-test/phone");
}

#[tokio::test]
async fn the_session_list_holds_only_the_callers_own_live_sessions() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let someone_else = app.signup_user(&org.api_key).await;
    let ended = login_with_agent(&app, &org.api_key, &user, "ended").await;
    assert_eq!(app.post("/api/v1/logout", Some(&ended.str("/access_token")), &json!({})).await.status, 200);

    let r = app.get("/api/v1/sessions", Some(&user.access_token)).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<&str> = r.body["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![session_of(&user.access_token)], "{}", r.text);
    assert!(!ids.contains(&session_of(&someone_else.access_token).as_str()));
}

#[tokio::test]
async fn revoking_another_session_stops_its_tokens_at_once() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let stolen = login_with_agent(&app, &org.api_key, &user, "stolen-laptop").await;
    let stolen_access = stolen.str("/access_token");
    let stolen_id = session_of(&stolen_access);

    let r = app.delete(&format!("/api/v1/sessions/{stolen_id}"), Some(&user.access_token)).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"success": true}));
    // The revoked access token is refused before its 15 minutes are up.
    let verified = app.verify(&org.api_key, &stolen_access).await;
    assert_eq!(verified.body["valid"], false, "{}", verified.text);
    assert_eq!(verified.str("/reason"), "session_revoked");
    let used = app.get("/api/v1/sessions", Some(&stolen_access)).await;
    assert_eq!(used.status, 401);
    assert_eq!(used.error(), "session_revoked");
    assert_eq!(app.refresh(&stolen.str("/refresh_token")).await.error(), "session_revoked");
    // The caller's own session carries on and no longer lists the revoked one.
    let list = app.get("/api/v1/sessions", Some(&user.access_token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: Vec<&str> = list.body["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![session_of(&user.access_token)]);
}

#[tokio::test]
async fn revoking_an_unknown_or_someone_elses_session_is_not_found() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let victim = app.signup_user(&org.api_key).await;
    let victim_session = session_of(&victim.access_token);

    for id in ["sess_aaaaaaaaaaaaaaaaaaaaaaaa2", "not-a-session", victim_session.as_str()] {
        let r = app.delete(&format!("/api/v1/sessions/{id}"), Some(&user.access_token)).await;

        assert_eq!(r.status, 404, "{id}: {}", r.text);
        assert_eq!(r.error(), "not_found", "{id}");
    }
    // Another user's session is out of reach, not merely hidden.
    let verified = app.verify(&org.api_key, &victim.access_token).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
}

#[tokio::test]
async fn revoking_all_sessions_signs_the_user_out_everywhere_including_here() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let bystander = app.signup_user(&org.api_key).await;
    let phone = login_with_agent(&app, &org.api_key, &user, "phone").await;
    let laptop = login_with_agent(&app, &org.api_key, &user, "laptop").await;

    let r = app.delete("/api/v1/sessions", Some(&laptop.str("/access_token"))).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"success": true, "revoked": 3}));
    for (access, refresh) in [
        (user.access_token.clone(), user.refresh_token.clone()),
        (phone.str("/access_token"), phone.str("/refresh_token")),
        (laptop.str("/access_token"), laptop.str("/refresh_token")),
    ] {
        let used = app.get("/api/v1/sessions", Some(&access)).await;
        assert_eq!(used.status, 401, "{}", used.text);
        assert_eq!(used.error(), "session_revoked");
        assert_eq!(app.refresh(&refresh).await.error(), "session_revoked");
    }
    // Other users keep their sessions.
    let verified = app.verify(&org.api_key, &bystander.access_token).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
}

#[tokio::test]
async fn session_endpoints_need_a_users_access_token_not_an_api_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let session_id = session_of(&user.access_token);

    let list = app.get("/api/v1/sessions", Some(&org.api_key)).await;
    let revoke_one = app.delete(&format!("/api/v1/sessions/{session_id}"), Some(&org.api_key)).await;
    let revoke_all = app.delete("/api/v1/sessions", Some(&org.api_key)).await;

    for r in [&list, &revoke_one, &revoke_all] {
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.error(), "user_token_required");
    }
    // Nothing was revoked on the key's behalf.
    assert_eq!(app.verify(&org.api_key, &user.access_token).await.body["valid"], true);
    let anonymous = app.get("/api/v1/sessions", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error(), "missing_authorization");
}

// --- lifetimes on the clock -----------------------------------------------------------------------------------

/// One hour idle, three hours absolute: short enough to walk through with the clock.
async fn spawn_with_short_sessions() -> TestApp {
    TestApp::spawn_with(|c| {
        c.sessions.idle_timeout_secs = 3600;
        c.sessions.absolute_lifetime_secs = 3 * 3600;
    })
    .await
}

#[tokio::test]
async fn refreshing_keeps_a_session_alive_only_until_its_absolute_lifetime() {
    let app = spawn_with_short_sessions().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let mut refresh_token = user.refresh_token.clone();

    // Every 50 minutes, well inside the idle timeout: 150 minutes in all, past the first idle deadline.
    for round in 1..=3 {
        app.clock.advance(Duration::minutes(50));
        let r = app.refresh(&refresh_token).await;
        assert_eq!(r.status, 200, "refresh {round}: {}", r.text);
        refresh_token = r.str("/refresh_token");
    }
    // Minute 181: only 31 minutes idle, but three hours since login.
    app.clock.advance(Duration::minutes(31));
    let r = app.refresh(&refresh_token).await;

    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.error(), "session_expired");
}

#[tokio::test]
async fn a_session_idle_longer_than_the_idle_timeout_cannot_be_refreshed() {
    let app = spawn_with_short_sessions().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    app.clock.advance(Duration::minutes(61));
    let r = app.refresh(&user.refresh_token).await;

    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.error(), "session_expired");
}

#[tokio::test]
async fn a_session_used_within_the_idle_timeout_can_be_refreshed() {
    let app = spawn_with_short_sessions().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    // The counterpart of the idle test: 59 minutes is still inside the window.
    app.clock.advance(Duration::minutes(59));
    let r = app.refresh(&user.refresh_token).await;

    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn an_access_token_expires_after_fifteen_minutes() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    app.clock.advance(Duration::minutes(14));
    let still_valid = app.verify(&org.api_key, &user.access_token).await;
    assert_eq!(still_valid.body["valid"], true, "{}", still_valid.text);

    app.clock.advance(Duration::minutes(2));
    let verified = app.verify(&org.api_key, &user.access_token).await;
    let used = app.get("/api/v1/sessions", Some(&user.access_token)).await;

    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.body["valid"], false);
    assert_eq!(verified.str("/reason"), "expired");
    assert_eq!(used.status, 401, "{}", used.text);
    assert_eq!(used.error(), "token_expired");
    // The session itself lives on: a refresh gets a fresh access token.
    let refreshed = app.refresh(&user.refresh_token).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(app.get("/api/v1/sessions", Some(&refreshed.str("/access_token"))).await.status, 200);
}

// --- /token/verify ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn verifying_a_valid_token_returns_its_user_role_organization_and_expiry() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let r = app.verify(&org.api_key, &user.access_token).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["valid"], true);
    assert_eq!(r.str("/user_id"), user.id);
    assert_eq!(r.str("/role"), "user");
    assert_eq!(r.str("/org_id"), org.id);
    assert!(r.body.get("reason").is_none(), "{}", r.text);
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(&user.access_token).unwrap();
    let issued_at = OffsetDateTime::from_unix_timestamp(claims["iat"].as_i64().unwrap()).unwrap();
    assert_eq!(parse_time(&r.str("/expires_at")), issued_at + Duration::minutes(15));
    // The owner's token carries the owner role.
    let owner = app.verify(&org.api_key, &org.owner.access_token).await;
    assert_eq!(owner.str("/role"), "owner");
    assert_eq!(owner.str("/user_id"), org.owner.id);
}

#[tokio::test]
async fn a_tampered_token_does_not_verify() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    // Change the first character of the signature: that changes signature bytes, not base64 padding bits.
    let signature_start = user.access_token.rfind('.').unwrap() + 1;
    let mut tampered = user.access_token.clone();
    let flipped = if tampered.as_bytes()[signature_start] == b'A' { "B" } else { "A" };
    tampered.replace_range(signature_start..=signature_start, flipped);
    // And a payload edited to claim the owner role, keeping the original signature.
    let mut parts: Vec<String> = user.access_token.split('.').map(str::to_owned).collect();
    let mut claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(&user.access_token).unwrap();
    claims["role"] = json!("owner");
    parts[1] = data_encoding::BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims).unwrap());
    let escalated = parts.join(".");

    for token in [&tampered, &escalated] {
        let r = app.verify(&org.api_key, token).await;

        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["valid"], false, "{}", r.text);
        assert_eq!(r.str("/reason"), "invalid_signature");
        assert!(r.body.get("user_id").is_none(), "{}", r.text);
        let used = app.get("/api/v1/sessions", Some(token)).await;
        assert_eq!(used.status, 401);
        assert_eq!(used.error(), "invalid_token");
    }
}

#[tokio::test]
async fn garbage_is_reported_as_a_malformed_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    for token in ["abc", "", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let r = app.verify(&org.api_key, token).await;

        assert_eq!(r.status, 200, "{token:?}: {}", r.text);
        assert_eq!(r.body["valid"], false, "{token:?}");
        assert_eq!(r.str("/reason"), "malformed", "{token:?}");
    }
}

#[tokio::test]
async fn a_token_of_another_organization_is_not_valid_for_this_api_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other_org = app.create_org().await;
    let user = app.signup_user(&other_org.api_key).await;

    let r = app.verify(&org.api_key, &user.access_token).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["valid"], false);
    assert_eq!(r.str("/reason"), "wrong_organization");
}

#[tokio::test]
async fn token_verification_needs_an_api_key_or_an_administrator() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let anonymous = app.post("/api/v1/token/verify", None, &json!({"token": user.access_token})).await;
    let as_user = app.verify(&user.access_token, &user.access_token).await;
    let as_owner = app.verify(&org.owner.access_token, &user.access_token).await;

    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    assert_eq!(anonymous.error(), "missing_authorization");
    assert_eq!(as_user.status, 403, "{}", as_user.text);
    assert_eq!(as_user.error(), "forbidden");
    assert_eq!(as_owner.status, 200, "{}", as_owner.text);
    assert_eq!(as_owner.body["valid"], true);
}
