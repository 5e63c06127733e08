//! Token introspection (RFC 7662): a client learns its own token is active; expired, tampered, garbage and
//! other clients' tokens are `active: false`; the caller must authenticate.

use data_encoding::BASE64;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::json;
use zauthy_testkit::{TestApp, TestResponse};

async fn machine_client(app: &TestApp, api_key: &str) -> (String, String) {
    let body =
        json!({"name": "Job", "redirect_uris": ["https://rp.example/cb"], "grant_types": ["client_credentials"]});
    let r = app.post("/api/v1/oidc/clients", Some(api_key), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.str("/client_id"), r.str("/client_secret"))
}

async fn form(app: &TestApp, path: &str, (id, secret): (&str, &str), pairs: &[(&str, &str)]) -> TestResponse {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let basic = format!("Basic {}", BASE64.encode(format!("{id}:{secret}").as_bytes()));
    app.send(
        app.client
            .post(app.url(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(AUTHORIZATION, basic)
            .body(body),
    )
    .await
}

async fn access_token(app: &TestApp, org_id: &str, client: (&str, &str)) -> String {
    let r = form(app, &format!("/o/{org_id}/token"), client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.str("/access_token")
}

#[tokio::test]
async fn a_client_sees_its_own_token_active_until_it_expires() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let (id, secret) = machine_client(&app, &org.api_key).await;
    let token = access_token(&app, &org.id, (&id, &secret)).await;
    let path = format!("/o/{}/introspect", org.id);

    let r = form(&app, &path, (&id, &secret), &[("token", &token)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"], true, "{}", r.text);
    assert_eq!(r.body["client_id"], id.as_str());
    assert_eq!(r.body["iss"], app.services.issuer(&org.id));

    app.clock.advance(time::Duration::seconds(901));
    let expired = form(&app, &path, (&id, &secret), &[("token", &token)]).await;
    assert_eq!(expired.body, json!({"active": false}));
}

#[tokio::test]
async fn another_clients_token_a_tampered_one_or_garbage_is_inactive() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let (id, secret) = machine_client(&app, &org.api_key).await;
    let (other_id, other_secret) = machine_client(&app, &org.api_key).await;
    let theirs = access_token(&app, &org.id, (&other_id, &other_secret)).await;
    let mut tampered = access_token(&app, &org.id, (&id, &secret)).await;
    tampered.insert(tampered.len() - 5, if tampered.ends_with('A') { 'B' } else { 'A' });
    tampered.truncate(tampered.len() - 1);
    let path = format!("/o/{}/introspect", org.id);

    for token in [theirs.as_str(), tampered.as_str(), "garbage", org.owner.access_token.as_str()] {
        let r = form(&app, &path, (&id, &secret), &[("token", token)]).await;
        assert_eq!((r.status, &r.body), (200, &json!({"active": false})), "{token}: {}", r.text);
    }
}

#[tokio::test]
async fn introspection_requires_client_authentication_at_the_right_organization() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let other = app.create_org().await;
    let (id, secret) = machine_client(&app, &org.api_key).await;
    let token = access_token(&app, &org.id, (&id, &secret)).await;

    let wrong = form(&app, &format!("/o/{}/introspect", org.id), (&id, "cs_wrong"), &[("token", &token)]).await;
    let foreign = form(&app, &format!("/o/{}/introspect", other.id), (&id, &secret), &[("token", &token)]).await;
    let missing = form(&app, &format!("/o/{}/introspect", org.id), (&id, &secret), &[]).await;

    assert_eq!((wrong.status, wrong.body["error"].as_str()), (401, Some("invalid_client")), "{}", wrong.text);
    assert_eq!((foreign.status, foreign.body["error"].as_str()), (401, Some("invalid_client")), "{}", foreign.text);
    assert_eq!((missing.status, missing.body["error"].as_str()), (400, Some("invalid_request")), "{}", missing.text);
}

#[tokio::test]
async fn a_revoked_client_credentials_token_is_inactive_at_once_and_on_another_node_within_the_cache_bound() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let (id, secret) = machine_client(&app, &org.api_key).await;
    let token = access_token(&app, &org.id, (&id, &secret)).await;
    let kept = access_token(&app, &org.id, (&id, &secret)).await;
    let introspect = format!("/o/{}/introspect", org.id);
    let node = app.another_node().await;
    // The other node has checked the token once, so its cache holds it.
    let before = form(&node, &introspect, (&id, &secret), &[("token", &token)]).await;
    assert_eq!(before.body["active"], true, "{}", before.text);

    let revoked = form(&app, &format!("/o/{}/revoke", org.id), (&id, &secret), &[("token", &token)]).await;

    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let here = form(&app, &introspect, (&id, &secret), &[("token", &token)]).await;
    assert_eq!(here.body, json!({"active": false}), "{}", here.text);
    tokio::time::sleep(zauthy_core::cache::TTL + std::time::Duration::from_millis(100)).await;
    let there = form(&node, &introspect, (&id, &secret), &[("token", &token)]).await;
    assert_eq!(there.body, json!({"active": false}), "{}", there.text);
    // Only that token: the client's other token stays active, and another client cannot revoke it.
    let (other_id, other_secret) = machine_client(&app, &org.api_key).await;
    let foreign = form(&app, &format!("/o/{}/revoke", org.id), (&other_id, &other_secret), &[("token", &kept)]).await;
    assert_eq!(foreign.status, 200, "{}", foreign.text);
    let still = form(&app, &introspect, (&id, &secret), &[("token", &kept)]).await;
    assert_eq!(still.body["active"], true, "{}", still.text);
}

#[tokio::test]
async fn a_public_client_s_bare_client_id_is_not_enough_to_introspect_and_discovery_does_not_offer_it() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let (id, secret) = machine_client(&app, &org.api_key).await;
    let token = access_token(&app, &org.id, (&id, &secret)).await;
    let body = json!({"name": "SPA", "client_type": "public", "redirect_uris": ["https://spa.example/cb"]});
    let public = app.post("/api/v1/oidc/clients", Some(&org.api_key), &body).await;
    assert_eq!(public.status, 201, "{}", public.text);
    let public_id = public.str("/client_id");

    let form_body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("token", token.as_str()), ("client_id", public_id.as_str())])
        .finish();
    let r = app
        .send(
            app.client
                .post(app.url(&format!("/o/{}/introspect", org.id)))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form_body),
        )
        .await;

    assert_eq!((r.status, r.body["error"].as_str()), (401, Some("invalid_client")), "{}", r.text);
    let discovery = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    let methods = discovery.body["introspection_endpoint_auth_methods_supported"].as_array().expect("a list");
    assert!(!methods.iter().any(|m| m == "none"), "{methods:?}");
    assert!(methods.iter().any(|m| m == "client_secret_basic"), "{methods:?}");
}
