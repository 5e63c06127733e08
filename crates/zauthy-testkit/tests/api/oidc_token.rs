//! The token endpoint with the `client_credentials` grant: client authentication (Basic, post), RFC 6749
//! errors with their statuses and `no-store`, tokens verifiable through the JWKS, audience the client, and
//! nothing across organizations.

use data_encoding::BASE64;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use zauthy_testkit::{TestApp, TestResponse};

struct Client {
    id: String,
    secret: String,
}

async fn machine_client(app: &TestApp, api_key: &str, extra: Value) -> Client {
    let mut body = json!({
        "name": "Batch job",
        "redirect_uris": ["https://rp.example/cb"],
        "grant_types": ["client_credentials"],
    });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = app.post("/api/v1/oidc/clients", Some(api_key), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    Client { id: r.str("/client_id"), secret: r.body["client_secret"].as_str().unwrap_or_default().to_owned() }
}

async fn token(app: &TestApp, org_id: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> TestResponse {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut request = app
        .client
        .post(app.url(&format!("/o/{org_id}/token")))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        request =
            request.header(AUTHORIZATION, format!("Basic {}", BASE64.encode(format!("{id}:{secret}").as_bytes())));
    }
    app.send(request).await
}

fn assert_oauth_error(r: &TestResponse, status: u16, error: &str) {
    assert_eq!((r.status, r.body["error"].as_str()), (status, Some(error)), "{}", r.text);
    assert!(r.body["error_description"].is_string(), "{}", r.text);
    assert_eq!(r.header(CACHE_CONTROL.as_str()), Some("no-store"));
}

async fn verify_with_jwks(app: &TestApp, org_id: &str, jwt: &str, audience: &str) -> Value {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&app.get(&format!("/o/{org_id}/.well-known/jwks.json"), None).await.text).unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("the token's kid is published");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.services.issuer(org_id)]);
    validation.validate_exp = false;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("the token verifies").claims
}

#[tokio::test]
async fn a_confidential_client_gets_an_access_token_for_itself_with_basic_authentication() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let client = machine_client(&app, &org.api_key, json!({})).await;

    let r = token(&app, &org.id, Some((&client.id, &client.secret)), &[("grant_type", "client_credentials")]).await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header(CACHE_CONTROL.as_str()), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert!(r.body.get("scope").is_none(), "a client acting for itself has no user scopes: {}", r.text);
    assert!(r.body.get("id_token").is_none() && r.body.get("refresh_token").is_none(), "{}", r.text);
    let claims = verify_with_jwks(&app, &org.id, &r.str("/access_token"), &client.id).await;
    assert_eq!(claims["sub"], client.id.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    // It is not a token for zauthy's own API.
    let me = app.get("/api/v1/sessions", Some(&r.str("/access_token"))).await;
    assert_eq!(me.status, 401, "{}", me.text);
}

#[tokio::test]
async fn client_secret_post_works_for_a_client_registered_for_it_and_user_scopes_are_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let client = machine_client(&app, &org.api_key, json!({"token_endpoint_auth_method": "client_secret_post"})).await;
    let form = |scope| {
        [
            ("grant_type", "client_credentials"),
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_str()),
            ("scope", scope),
        ]
    };

    let r = token(&app, &org.id, None, &form("")).await;
    assert_eq!(r.status, 200, "{}", r.text);

    assert_oauth_error(&token(&app, &org.id, None, &form("reports:delete")).await, 400, "invalid_scope");
    assert_oauth_error(&token(&app, &org.id, None, &form("openid")).await, 400, "invalid_scope");
    assert_oauth_error(&token(&app, &org.id, None, &form("email")).await, 400, "invalid_scope");
    // Registered for client_secret_post, so Basic is refused.
    let basic = token(&app, &org.id, Some((&client.id, &client.secret)), &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(&basic, 401, "invalid_client");
}

#[tokio::test]
async fn a_wrong_secret_or_an_unknown_client_is_invalid_client_with_a_challenge() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let client = machine_client(&app, &org.api_key, json!({})).await;
    let grant = [("grant_type", "client_credentials")];

    let wrong = token(&app, &org.id, Some((&client.id, "cs_wrong")), &grant).await;
    let unknown = token(&app, &org.id, Some(("cli_nosuchclient", &client.secret)), &grant).await;
    let anonymous = token(&app, &org.id, None, &grant).await;

    for r in [&wrong, &unknown, &anonymous] {
        assert_oauth_error(r, 401, "invalid_client");
        assert!(r.header(WWW_AUTHENTICATE.as_str()).is_some_and(|v| v.starts_with("Basic")), "{:?}", r.headers);
    }
}

#[tokio::test]
async fn a_client_of_another_organization_is_unknown_at_this_organizations_token_endpoint() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    let client = machine_client(&app, &other.api_key, json!({})).await;

    let here = token(&app, &org.id, Some((&client.id, &client.secret)), &[("grant_type", "client_credentials")]).await;
    let there =
        token(&app, &other.id, Some((&client.id, &client.secret)), &[("grant_type", "client_credentials")]).await;

    assert_oauth_error(&here, 401, "invalid_client");
    assert_eq!(there.status, 200, "{}", there.text);
}

#[tokio::test]
async fn a_client_without_the_grant_or_an_unknown_grant_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let web = machine_client(&app, &org.api_key, json!({"grant_types": ["authorization_code"]})).await;
    let machine = machine_client(&app, &org.api_key, json!({})).await;

    let not_registered =
        token(&app, &org.id, Some((&web.id, &web.secret)), &[("grant_type", "client_credentials")]).await;
    let unknown = token(&app, &org.id, Some((&machine.id, &machine.secret)), &[("grant_type", "password")]).await;
    let missing = token(&app, &org.id, Some((&machine.id, &machine.secret)), &[("scope", "")]).await;

    assert_oauth_error(&not_registered, 400, "unauthorized_client");
    assert_oauth_error(&unknown, 400, "unsupported_grant_type");
    assert_oauth_error(&missing, 400, "invalid_request");
}

#[tokio::test]
async fn a_body_that_is_not_a_form_is_invalid_request() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;

    let r = app.post(&format!("/o/{}/token", org.id), None, &json!({"grant_type": "client_credentials"})).await;

    assert_oauth_error(&r, 400, "invalid_request");
}

#[tokio::test]
async fn the_token_endpoint_counts_against_the_organizations_auth_rate_limit() {
    let app = TestApp::spawn_with(|c| c.rate_limits.free.auth = 3).await;
    let org = app.create_org().await;
    let client = machine_client(&app, &org.api_key, json!({})).await;
    let form = [("grant_type", "client_credentials")];

    for _ in 0..3 {
        let r = token(&app, &org.id, Some((&client.id, &client.secret)), &form).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let limited = token(&app, &org.id, Some((&client.id, &client.secret)), &form).await;

    assert_oauth_error(&limited, 429, "temporarily_unavailable");
    assert!(limited.header("retry-after").is_some());
    // Another organization has its own budget.
    let other = app.create_org().await;
    let other_client = machine_client(&app, &other.api_key, json!({})).await;
    let r = token(&app, &other.id, Some((&other_client.id, &other_client.secret)), &form).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
