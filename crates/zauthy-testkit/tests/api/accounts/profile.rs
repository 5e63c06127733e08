//! The signed-in user's own profile (`/me`): read it, edit name, phone and address, never the role or the
//! email, and only with the user's own access token.

use super::{assert_error, get_user};
use serde_json::json;
use zauthy_testkit::TestApp;

#[tokio::test]
async fn a_signed_in_user_reads_and_edits_their_own_name_phone_and_address() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;

    let me = app.get("/api/v1/me", Some(&user.access_token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!((me.str("/id"), me.str("/email")), (user.id.clone(), user.email.clone()));

    let body = json!({"name": " Jane Doe ", "phone": "+14155550100",
        "address": {"street_address": "1 Main Street", "locality": "Springfield", "country": "US"}});
    let r = app.patch("/api/v1/me", Some(&user.access_token), &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Jane Doe");
    assert_eq!(r.body["phone"], "+14155550100");
    assert_eq!(r.body["address"]["locality"], "Springfield");
    assert_eq!(r.body["role"], "user");
    // The organization sees the same account.
    let seen = get_user(&app, &org.api_key, &user.id).await;
    assert_eq!((seen.body["name"].clone(), seen.body["phone"].clone()), (json!("Jane Doe"), json!("+14155550100")));
    let events = app.get("/api/v1/events?type=user.updated", Some(&org.api_key)).await;
    assert_eq!(events.body["events"][0]["data"]["by"], user.id.as_str(), "{}", events.text);

    // Empty strings and null clear; fields left out stay.
    let r = app.patch("/api/v1/me", Some(&user.access_token), &json!({"name": "", "address": null})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["name"].clone(), r.body["address"].clone()), (json!(null), json!(null)), "{}", r.text);
    assert_eq!(r.body["phone"], "+14155550100");
    assert_eq!(app.get("/api/v1/me", Some(&user.access_token)).await.body["name"], json!(null));
}

#[tokio::test]
async fn the_profile_cannot_change_role_or_email_refuses_bad_values_and_needs_the_users_own_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let r = app.patch("/api/v1/me", Some(&user.access_token), &json!({"name": "Before"})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    for (body, status, code) in [
        (json!({"role": "owner"}), 400, "invalid_request"),
        (json!({"email": "other@example.com"}), 400, "invalid_request"),
        (json!({"name": "After", "phone": "0800 not a number"}), 400, "invalid_phone"),
        (json!({"name": "After", "address": {"country": "x".repeat(300)}}), 400, "invalid_address"),
        (json!({"name": 5}), 400, "invalid_request"),
    ] {
        let r = app.patch("/api/v1/me", Some(&user.access_token), &body).await;
        assert_error(&r, status, code);
    }
    let me = app.get("/api/v1/me", Some(&user.access_token)).await;
    assert_eq!((me.body["name"].clone(), me.body["role"].clone()), (json!("Before"), json!("user")), "{}", me.text);
    assert_eq!(me.str("/email"), user.email);

    assert_error(&app.get("/api/v1/me", Some(&org.api_key)).await, 401, "user_token_required");
    assert_error(&app.patch("/api/v1/me", Some(&org.api_key), &json!({"name": "X"})).await, 401, "user_token_required");
    assert_eq!(app.get("/api/v1/me", None).await.status, 401);
    // A signed-out session's token no longer reaches the profile.
    let r = app.post("/api/v1/logout", Some(&user.access_token), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/api/v1/me", Some(&user.access_token)).await.status, 401);
}
