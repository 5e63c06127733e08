//! The `address` scope and the `claims` request parameter release the user's postal address as the OIDC
//! address claim (Core §5.1.1): only its non-empty members, only with the user's consent, never as `null`.

use super::flow::{jwt_claims, rp_http};
use super::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClaimName, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};

const ALL_SCOPES: [&str; 6] = ["openid", "profile", "email", "phone", "address", "offline_access"];

/// A confidential client that may ask for every user scope, `address` included.
async fn register_with_address(app: &TestApp, org: &TestOrg) -> Rp {
    register(app, org, json!({"allowed_scopes": ALL_SCOPES})).await
}

async fn set_address(app: &TestApp, org: &TestOrg, user: &TestUser, address: Value) {
    let r = app.patch(&format!("/api/v1/users/{}", user.id), Some(&org.api_key), &json!({"address": address})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Signs `user` in through the pages for `scope` (and `claims`, if any), approving `keep` (or everything
/// offered); returns the access token and the ID token's claims.
async fn sign_in(
    app: &TestApp,
    org: &TestOrg,
    rp: &Rp,
    user: &TestUser,
    scope: &str,
    claims: Option<&Value>,
    keep: Option<&[&str]>,
) -> (String, Value) {
    let claims_text = claims.map(Value::to_string);
    let mut params = vec![
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", scope),
        ("nonce", "n0nce"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    if let Some(text) = &claims_text {
        params.push(("claims", text));
    }
    let mut browser = Browser::new(app);
    let r = approve(&mut browser, &authorize_url(app, org, &params), user, keep).await;
    let code = callback(&r).remove("code").expect("a code");
    let t = exchange(app, org, rp, &code, Some(VERIFIER)).await;
    assert_eq!(t.status, 200, "{}", t.text);
    (t.str("/access_token"), jwt_claims(&t.str("/id_token")))
}

async fn userinfo(app: &TestApp, org: &TestOrg, access_token: &str) -> Value {
    let r = app.send(app.client.get(app.url(&format!("/o/{}/userinfo", org.id))).bearer_auth(access_token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[tokio::test]
async fn an_independent_relying_party_gets_the_address_claim_from_userinfo_and_the_id_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    set_address(
        &app,
        &org,
        &user,
        json!({"street_address": "1 Main Street\nApt 2", "locality": "Springfield", "region": "IL",
            "postal_code": "62701", "country": "US"}),
    )
    .await;
    let rp = register_with_address(&app, &org).await;
    let http = rp_http();

    let issuer = IssuerUrl::new(app.services.issuer(&org.id)).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("discovery and JWKS");
    let supported = metadata.claims_supported().expect("claims_supported");
    assert!(supported.contains(&CoreClaimName::new("address".into())), "discovery lists address: {supported:?}");
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(rp.id.clone()), Some(ClientSecret::new(rp.secret)))
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("address".into()))
        .add_extra_param("claims", json!({"id_token": {"address": null}}).to_string())
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = Browser::new(&app);
    let back = callback(&approve(&mut browser, url.as_str(), &user, None).await);
    let tokens = client
        .exchange_code(AuthorizationCode::new(back["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");

    let info: CoreUserInfoClaims =
        client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&http).await.expect("userinfo");
    let address = info.address().expect("userinfo carries the address for the address scope");
    assert_eq!(address.street_address.as_ref().map(|s| s.as_str()), Some("1 Main Street\nApt 2"));
    assert_eq!(address.locality.as_ref().map(|s| s.as_str()), Some("Springfield"));
    assert_eq!(address.region.as_ref().map(|s| s.as_str()), Some("IL"));
    assert_eq!(address.postal_code.as_ref().map(|s| s.as_str()), Some("62701"));
    assert_eq!(address.country.as_ref().map(|s| s.as_str()), Some("US"));
    assert_eq!(address.formatted, None, "members the user has no value for are left out");
    let id_claims =
        tokens.id_token().expect("an ID token").claims(&client.id_token_verifier(), &nonce).expect("it verifies");
    let in_id_token = id_claims.address().expect("the ID token carries the address the claims parameter asked for");
    assert_eq!(in_id_token.locality.as_ref().map(|s| s.as_str()), Some("Springfield"));
}

#[tokio::test]
async fn the_address_claim_holds_only_the_non_empty_members_and_follows_changes_to_the_address() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    set_address(&app, &org, &user, json!({"formatted": "1 Main Street\r\nSpringfield", "country": " ", "region": ""}))
        .await;
    let rp = register_with_address(&app, &org).await;

    let (access, _) = sign_in(&app, &org, &rp, &user, "openid address", None, None).await;
    assert_eq!(userinfo(&app, &org, &access).await["address"], json!({"formatted": "1 Main Street\r\nSpringfield"}));

    set_address(&app, &org, &user, json!({"locality": "Lyon"})).await;
    assert_eq!(userinfo(&app, &org, &access).await["address"], json!({"locality": "Lyon"}), "userinfo reads it live");

    set_address(&app, &org, &user, Value::Null).await;
    let info = userinfo(&app, &org, &access).await;
    assert_eq!(info.get("address"), None, "a cleared address is no claim, not null: {info}");
}

#[tokio::test]
async fn without_the_address_scope_neither_userinfo_nor_the_id_token_carries_the_address() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    set_address(&app, &org, &user, json!({"locality": "Springfield"})).await;
    let rp = register_with_address(&app, &org).await;

    let (access, id_token) = sign_in(&app, &org, &rp, &user, "openid email profile", None, None).await;
    let info = userinfo(&app, &org, &access).await;

    assert_eq!(info["email"], user.email.as_str(), "the granted scopes are released: {info}");
    assert_eq!(info.get("address"), None, "{info}");
    assert_eq!(id_token.get("address"), None, "{id_token}");
    // With the scope but without the claims parameter, the ID token stays lean: scope claims come from
    // userinfo when an access token is issued (OIDC Core §5.4).
    let (access, id_token) = sign_in(&app, &org, &rp, &user, "openid address", None, None).await;
    assert_eq!(userinfo(&app, &org, &access).await["address"], json!({"locality": "Springfield"}));
    assert_eq!(id_token.get("address"), None, "{id_token}");
}

#[tokio::test]
async fn a_user_without_an_address_gets_no_address_claim_at_all() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register_with_address(&app, &org).await;
    let claims = json!({"id_token": {"address": null}, "userinfo": {"address": {"essential": true}}});

    let (access, id_token) = sign_in(&app, &org, &rp, &user, "openid address", Some(&claims), None).await;
    let info = userinfo(&app, &org, &access).await;

    assert_eq!(info["sub"], user.id.as_str());
    assert_eq!(info.get("address"), None, "no address, not address: null: {info}");
    assert_eq!(id_token.get("address"), None, "{id_token}");
}

#[tokio::test]
async fn the_claims_parameter_cannot_release_what_the_user_did_not_consent_to() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    set_address(&app, &org, &user, json!({"locality": "Springfield"})).await;
    let rp = register_with_address(&app, &org).await;
    let claims = json!({"id_token": {"address": null, "email": null}, "userinfo": {"address": null, "email": null}});

    // The client asks for the address scope, the user unticks it; the claims parameter asks anyway.
    let (access, id_token) = sign_in(&app, &org, &rp, &user, "openid address", Some(&claims), Some(&[])).await;
    let info = userinfo(&app, &org, &access).await;
    assert_eq!(info.get("address"), None, "{info}");
    assert_eq!(id_token.get("address"), None, "{id_token}");
    assert_eq!((info.get("email"), id_token.get("email")), (None, None), "email was never asked for as a scope");

    // Consented, the same parameter puts the address in the ID token.
    let (_, id_token) = sign_in(&app, &org, &rp, &user, "openid address", Some(&claims), None).await;
    assert_eq!(id_token["address"], json!({"locality": "Springfield"}), "{id_token}");
    assert_eq!(id_token.get("email"), None, "{id_token}");
}
