//! A user's postal address (the OIDC address claim's members): set at signup or by the organization, read
//! back in the user JSON, replaced, cleared, and refused when malformed without changing anything.

use super::{assert_error, get_user};
use serde_json::{Value, json};
use zauthy_testkit::{PASSWORD, TestApp, TestOrg, TestResponse, unique_email};

async fn patch_user(app: &TestApp, bearer: &str, user_id: &str, body: &Value) -> TestResponse {
    app.patch(&format!("/api/v1/users/{user_id}"), Some(bearer), body).await
}

async fn signup_with(app: &TestApp, org: &TestOrg, extra: Value) -> TestResponse {
    let mut body = json!({"email": unique_email("address"), "password": PASSWORD});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.post("/api/v1/signup", Some(&org.api_key), &body).await
}

#[tokio::test]
async fn signup_stores_an_address_trimmed_without_empty_members_and_the_user_json_returns_it() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let r = signup_with(
        &app,
        &org,
        json!({"address": {"street_address": " 1 Main Street\nApt 2 ", "locality": "Springfield", "region": "",
            "postal_code": "62701", "country": "US"}}),
    )
    .await;

    assert_eq!(r.status, 201, "{}", r.text);
    let expected = json!({"street_address": "1 Main Street\nApt 2", "locality": "Springfield", "postal_code": "62701", "country": "US"});
    assert_eq!(r.body["user"]["address"], expected, "the signup answer");
    let id = r.str("/user/id");
    assert_eq!(get_user(&app, &org.api_key, &id).await.body["address"], expected, "GET /users/{{id}}");
    let listed = app.get("/api/v1/users", Some(&org.api_key)).await;
    let listed_user = listed.body["users"].as_array().unwrap().iter().find(|u| u["id"] == id.as_str()).cloned();
    assert_eq!(listed_user.unwrap()["address"], expected, "the user list");
    let login = app.login(&org.api_key, r.body["user"]["email"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(login.body["user"]["address"], expected, "the login answer");
}

#[tokio::test]
async fn a_user_without_an_address_has_address_null_and_an_empty_address_is_no_address() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let plain = signup_with(&app, &org, json!({})).await;
    let empty = signup_with(&app, &org, json!({"address": {}})).await;
    let blank = signup_with(&app, &org, json!({"address": {"locality": "  ", "country": ""}})).await;
    let null = signup_with(&app, &org, json!({"address": null})).await;

    for r in [&plain, &empty, &blank, &null] {
        assert_eq!(r.status, 201, "{}", r.text);
        let stored = get_user(&app, &org.api_key, &r.str("/user/id")).await;
        assert_eq!(stored.body.get("address"), Some(&Value::Null), "{}", stored.text);
    }
}

#[tokio::test]
async fn the_organization_sets_replaces_and_clears_a_users_address() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let owner = &org.owner.access_token;
    let long_locality = "é".repeat(256);
    let long_formatted = "x".repeat(1024);

    let set = patch_user(
        &app,
        &org.api_key,
        &user.id,
        &json!({"address": {"formatted": long_formatted, "locality": long_locality, "country": "FR"}}),
    )
    .await;
    let name_only = patch_user(&app, owner, &user.id, &json!({"name": "Ada"})).await;
    let replaced = patch_user(&app, owner, &user.id, &json!({"address": {"locality": "Lyon"}})).await;
    let after_replace = get_user(&app, &org.api_key, &user.id).await;
    let cleared = patch_user(&app, &org.api_key, &user.id, &json!({"address": null})).await;
    let after_clear = get_user(&app, &org.api_key, &user.id).await;
    patch_user(&app, &org.api_key, &user.id, &json!({"address": {"country": "FR"}})).await;
    let emptied = patch_user(&app, &org.api_key, &user.id, &json!({"address": {}})).await;
    let after_empty = get_user(&app, &org.api_key, &user.id).await;

    assert_eq!(set.status, 200, "members up to their limits are accepted: {}", set.text);
    assert_eq!(set.body["address"], json!({"formatted": long_formatted, "locality": long_locality, "country": "FR"}));
    assert_eq!(name_only.status, 200, "{}", name_only.text);
    assert_eq!(name_only.body["address"]["country"], "FR", "a patch without address leaves it as it is");
    assert_eq!(replaced.body["address"], json!({"locality": "Lyon"}), "an address replaces the whole address");
    assert_eq!(after_replace.body["address"], json!({"locality": "Lyon"}));
    assert_eq!(after_replace.str("/name"), "Ada");
    assert_eq!((cleared.status, &cleared.body["address"]), (200, &Value::Null), "{}", cleared.text);
    assert_eq!(after_clear.body["address"], Value::Null, "null clears the address");
    assert_eq!(after_clear.str("/name"), "Ada", "and only the address");
    assert_eq!((emptied.status, &emptied.body["address"]), (200, &Value::Null), "{}", emptied.text);
    assert_eq!(after_empty.body["address"], Value::Null, "an empty object is stored as no address");
}

#[tokio::test]
async fn a_malformed_address_is_refused_with_the_error_body_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let original = json!({"locality": "Springfield", "country": "US"});
    let r = patch_user(&app, &org.api_key, &user.id, &json!({"name": "Ada", "address": original})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let shape_errors = [
        json!({"locality": "Paris", "city": "Paris"}),
        json!({"locality": 75}),
        json!({"street_address": ["1 Main Street"]}),
        json!({"locality": {"name": "Paris"}}),
        json!("1 Main Street, Paris"),
        json!(["Paris"]),
    ];
    let value_errors = [
        json!({"locality": "é".repeat(257)}),
        json!({"street_address": "x".repeat(257)}),
        json!({"formatted": "x".repeat(1025)}),
        json!({"locality": "Par\nis"}),
        json!({"country": "F\u{0}R"}),
        json!({"formatted": "1 Main Street\u{7}"}),
    ];
    for (bad, code) in
        shape_errors.iter().map(|b| (b, "invalid_request")).chain(value_errors.iter().map(|b| (b, "invalid_address")))
    {
        let r = patch_user(&app, &org.api_key, &user.id, &json!({"name": "Changed", "address": bad})).await;
        assert_error(&r, 400, code);
        assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "a readable detail: {}", r.text);
        let signup = signup_with(&app, &org, json!({"address": bad})).await;
        assert_error(&signup, 400, code);
    }

    let stored = get_user(&app, &org.api_key, &user.id).await;
    assert_eq!(stored.body["address"], original, "the refused updates left the address alone");
    assert_eq!(stored.str("/name"), "Ada", "and the other fields of the refused requests too");
    let list = app.get("/api/v1/users", Some(&org.api_key)).await;
    assert_eq!(list.body["total"], 2, "no refused signup created a user: {}", list.text);
}
