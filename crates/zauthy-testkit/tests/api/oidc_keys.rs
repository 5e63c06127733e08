//! The organization's ID-token keys: registering a client with RS256 or ES256 publishes a key of that
//! algorithm in the JWKS (EdDSA stays the access-token key), rotation renews every algorithm in use and
//! keeps the old keys published until their tokens have expired.

use serde_json::{Value, json};
use zauthy_testkit::TestApp;

async fn jwks(app: &TestApp, org_id: &str) -> Vec<Value> {
    let r = app.get(&format!("/o/{org_id}/.well-known/jwks.json"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["keys"].as_array().unwrap().clone()
}

fn kids_of(keys: &[Value], alg: &str) -> Vec<String> {
    keys.iter().filter(|k| k["alg"] == alg).map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn register(app: &TestApp, api_key: &str, alg: &str) -> Value {
    let r = app
        .post(
            "/api/v1/oidc/clients",
            Some(api_key),
            &json!({"name": "RP", "redirect_uris": ["https://rp.example/cb"], "id_token_signed_response_alg": alg}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

#[tokio::test]
async fn registering_rs256_and_es256_clients_publishes_one_key_per_algorithm() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    assert_eq!(kids_of(&jwks(&app, &org.id).await, "RS256").len(), 0, "no RSA key before a client needs one");

    register(&app, &org.api_key, "RS256").await;
    register(&app, &org.api_key, "RS256").await;
    register(&app, &org.api_key, "ES256").await;

    let keys = jwks(&app, &org.id).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    let rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!((rsa["kty"].as_str(), rsa["use"].as_str()), (Some("RSA"), Some("sig")));
    assert!(rsa["n"].is_string() && rsa["e"] == "AQAB" && rsa.get("d").is_none(), "{rsa}");
    let ec = keys.iter().find(|k| k["alg"] == "ES256").unwrap();
    assert_eq!((ec["kty"].as_str(), ec["crv"].as_str(), ec["use"].as_str()), (Some("EC"), Some("P-256"), Some("sig")));
    assert!(ec.get("d").is_none(), "{ec}");
    for key in &keys {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
        assert!(jsonwebtoken::DecodingKey::from_jwk(&jwk).is_ok(), "unusable JWK {key}");
    }
    // Another organization does not see them.
    let other = app.create_org().await;
    assert_eq!(jwks(&app, &other.id).await.len(), 1);
}

#[tokio::test]
async fn switching_a_client_to_es256_publishes_an_es256_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let client = register(&app, &org.api_key, "EdDSA").await;
    assert_eq!(jwks(&app, &org.id).await.len(), 1, "EdDSA uses the organization's existing key");

    let id = client["client_id"].as_str().unwrap();
    let r = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/oidc/clients/{id}")))
                .bearer_auth(&org.api_key)
                .json(&json!({"id_token_signed_response_alg": "ES256"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    assert_eq!(kids_of(&jwks(&app, &org.id).await, "ES256").len(), 1);
}

#[tokio::test]
async fn rotation_renews_every_algorithm_in_use_and_keeps_old_keys_until_their_tokens_expire() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    register(&app, &org.api_key, "RS256").await;
    let before = jwks(&app, &org.id).await;
    let (old_rsa, old_ed) = (kids_of(&before, "RS256"), kids_of(&before, "EdDSA"));

    let r = app.post("/api/v1/signing-keys/rotate", Some(&org.api_key), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let during = jwks(&app, &org.id).await;
    assert_eq!(kids_of(&during, "RS256").len(), 2, "{during:?}");
    assert_eq!(kids_of(&during, "EdDSA").len(), 2);
    assert_eq!(kids_of(&during, "ES256").len(), 0, "an algorithm nobody uses is not created by a rotation");
    assert!(kids_of(&during, "RS256").contains(&old_rsa[0]));
    assert_eq!(r.str("/kid"), *kids_of(&during, "EdDSA").iter().find(|k| **k != old_ed[0]).unwrap());
    let events = app.services.store.list_events(&org.id, Some("signing_key.rotated"), 5).await.unwrap();
    assert_eq!(events.len(), 1);

    app.clock.advance(time::Duration::seconds(900 + 61));
    let after = jwks(&app, &org.id).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(!kids_of(&after, "RS256").contains(&old_rsa[0]));
    assert!(!kids_of(&after, "EdDSA").contains(&old_ed[0]));
}
