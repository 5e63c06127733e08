//! `private_key_jwt` client authentication (RFC 7523): an assertion signed with a key of the client's
//! registered JWKS, for this issuer, short-lived, each `jti` once.

use super::*;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

pub(super) struct ClientKey {
    encoding: EncodingKey,
    pub jwk: Value,
}

pub(super) fn client_key(kid: &str) -> ClientKey {
    let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap().to_pkcs8v1().unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref();
    let (x, y) = (&public[1..33], &public[33..65]);
    ClientKey {
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": BASE64URL_NOPAD.encode(x), "y": BASE64URL_NOPAD.encode(y),
                    "kid": kid, "alg": "ES256", "use": "sig"}),
    }
}

pub(super) fn assertion(
    app: &TestApp,
    key: &ClientKey,
    client_id: &str,
    aud: &str,
    jti: &str,
    lifetime: i64,
) -> String {
    let now = app.services.now().unix_timestamp();
    let claims = json!({"iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "iat": now, "exp": now + lifetime});
    let mut header = Header::new(Algorithm::ES256);
    header.kid = key.jwk["kid"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

pub(super) async fn token_with(app: &TestApp, org: &TestOrg, form: &[(&str, &str)]) -> TestResponse {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let request = app
        .client
        .post(app.url(&format!("/o/{}/token", org.id)))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    app.send(request).await
}

pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[tokio::test]
async fn a_client_authenticates_with_a_signed_assertion_once_per_jti_for_this_issuer_only() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let key = client_key("k1");
    let r = app
        .post(
            "/api/v1/oidc/clients",
            Some(&org.api_key),
            &json!({
                "name": "Signed", "redirect_uris": [REDIRECT], "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.jwk]},
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rp = Rp { id: r.str("/client_id"), secret: r.str("/client_secret") };
    let token_url = app.services.issuer(&org.id) + "/token";

    let good = assertion(&app, &key, &rp.id, &token_url, "jti-1", 60);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", good.as_str()),
    ];
    let r = token_with(&app, &org, &form).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["access_token"].is_string());

    let r = token_with(&app, &org, &form).await;
    assert_eq!((r.status, r.body["error"].as_str()), (401, Some("invalid_client")), "a jti works once: {}", r.text);

    let cases = [
        ("another issuer's audience", assertion(&app, &key, &rp.id, "https://elsewhere.example/token", "jti-2", 60)),
        ("already expired", assertion(&app, &key, &rp.id, &token_url, "jti-3", -5)),
        ("far too long-lived", assertion(&app, &key, &rp.id, &token_url, "jti-4", 3600)),
        ("another key", assertion(&app, &client_key("k1"), &rp.id, &token_url, "jti-5", 60)),
    ];
    for (why, bad) in cases {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", bad.as_str()),
        ];
        let r = token_with(&app, &org, &form).await;
        assert_eq!((r.status, r.body["error"].as_str()), (401, Some("invalid_client")), "{why}: {}", r.text);
    }
    // The registered method is the only one: its secret does not work instead.
    let r = post_oauth(&app, &org, "token", &rp, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Issuer as audience is accepted too (OIDC Core §9), and the introspection endpoint takes assertions.
    let at_issuer = assertion(&app, &key, &rp.id, &app.services.issuer(&org.id), "jti-6", 60);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", at_issuer.as_str()),
    ];
    assert_eq!(token_with(&app, &org, &form).await.status, 200);
    let r = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    assert!(r.body["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("private_key_jwt")));
}
