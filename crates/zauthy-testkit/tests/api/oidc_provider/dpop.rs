//! DPoP (RFC 9449): proofs signed by the client's own key bind its tokens to that key. The server asks for its
//! nonce first (`use_dpop_nonce`), then issues `token_type: DPoP` tokens with `cnf.jkt`; userinfo wants the
//! token under `Authorization: DPoP` with a proof naming it (`ath`); a public client's refresh token works only
//! with its key; a proof is good for one request (`htm`, `htu`, `iat`, `jti` on every node).

use super::flow::jwt_claims;
use super::*;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::Digest;
use zauthy_testkit::browser::{Browser, location};

/// A client's DPoP key pair (P-256).
struct ProofKey {
    encoding: EncodingKey,
    jwk: Jwk,
}

impl ProofKey {
    fn new() -> Self {
        let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap().to_pkcs8v1().unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": BASE64URL_NOPAD.encode(&public[1..33]),
                         "y": BASE64URL_NOPAD.encode(&public[33..65])});
        Self { encoding: EncodingKey::from_ec_der(pkcs8.as_ref()), jwk: serde_json::from_value(jwk).unwrap() }
    }

    /// The key's RFC 7638 thumbprint, as `cnf.jkt` carries it.
    fn jkt(&self) -> String {
        self.jwk.thumbprint(ThumbprintHash::SHA256).unwrap()
    }

    /// A proof for `method` at `url`, with the server's `nonce` and, at a resource, the token's hash.
    fn proof(&self, app: &TestApp, method: &str, url: &str, nonce: Option<&str>, token: Option<&str>) -> String {
        let mut claims = json!({"jti": zauthy_core::ids::new_id("jti"), "htm": method, "htu": url,
                                "iat": app.services.now().unix_timestamp()});
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(token) = token {
            claims["ath"] = json!(BASE64URL_NOPAD.encode(&sha2::Sha256::digest(token.as_bytes())));
        }
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
    }
}

fn endpoint(app: &TestApp, org: &TestOrg, path: &str) -> String {
    format!("{}{path}", app.services.issuer(&org.id))
}

/// A form POST to `/o/{org}/{path}` with a DPoP proof; `basic` authenticates a confidential client.
async fn post_with_proof(
    app: &TestApp,
    org: &TestOrg,
    path: &str,
    basic: Option<&Rp>,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> TestResponse {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut request = app
        .client
        .post(app.url(&format!("/o/{}/{path}", org.id)))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(rp) = basic {
        request = request.basic_auth(&rp.id, Some(&rp.secret));
    }
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    app.send(request).await
}

/// The nonce the server hands out: a token request with a nonce-less proof is refused with it.
async fn server_nonce(app: &TestApp, org: &TestOrg, key: &ProofKey) -> String {
    let proof = key.proof(app, "POST", &endpoint(app, org, "/token"), None, None);
    // The proof is checked before the client is authenticated: any client id will do to learn the nonce.
    let form = [("grant_type", "client_credentials"), ("client_id", "cli_unknown")];
    let r = post_with_proof(app, org, "token", None, &form, Some(&proof)).await;
    assert_eq!((r.status, r.error()), (400, "use_dpop_nonce"), "{}", r.text);
    r.header("dpop-nonce").expect("a DPoP-Nonce header").to_owned()
}

async fn userinfo(app: &TestApp, org: &TestOrg, scheme: &str, token: &str, proof: Option<&str>) -> TestResponse {
    let mut request = app
        .client
        .get(app.url(&format!("/o/{}/userinfo", org.id)))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    app.send(request).await
}

#[tokio::test]
async fn a_proof_binds_the_tokens_to_the_key_and_userinfo_accepts_them_only_with_a_fresh_proof_of_that_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let key = ProofKey::new();
    let code = code_for(&app, &org, &rp, &user, &[]).await;
    let token_url = endpoint(&app, &org, "/token");
    let exchange_form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];

    // Without the server's nonce the proof is refused, and the nonce comes with the refusal.
    let first = key.proof(&app, "POST", &token_url, None, None);
    let refused = post_with_proof(&app, &org, "token", Some(&rp), &exchange_form, Some(&first)).await;
    assert_eq!((refused.status, refused.error()), (400, "use_dpop_nonce"), "{}", refused.text);
    let nonce = refused.header("dpop-nonce").expect("DPoP-Nonce").to_owned();
    let proof = key.proof(&app, "POST", &token_url, Some(&nonce), None);
    let tokens = post_with_proof(&app, &org, "token", Some(&rp), &exchange_form, Some(&proof)).await;

    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(tokens.body["token_type"], "DPoP");
    assert!(tokens.header("dpop-nonce").is_some(), "every answer to a proof carries a nonce");
    let access = tokens.str("/access_token");
    assert_eq!(jwt_claims(&access)["cnf"]["jkt"], key.jkt());

    // Userinfo: the token under the DPoP scheme with a proof naming it.
    let userinfo_url = endpoint(&app, &org, "/userinfo");
    let good = key.proof(&app, "GET", &userinfo_url, Some(&nonce), Some(&access));
    let r = userinfo(&app, &org, "DPoP", &access, Some(&good)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.str("/sub"), user.id);
    // The same proof again (its jti is spent), or as a plain bearer token, or with another key: refused.
    let replayed = userinfo(&app, &org, "DPoP", &access, Some(&good)).await;
    assert_eq!((replayed.status, replayed.error()), (401, "invalid_dpop_proof"), "{}", replayed.text);
    assert!(replayed.header("www-authenticate").is_some_and(|c| c.starts_with("DPoP ")), "{:?}", replayed.headers);
    let bearer = userinfo(&app, &org, "Bearer", &access, None).await;
    assert_eq!((bearer.status, bearer.error()), (401, "invalid_token"), "{}", bearer.text);
    let thief = ProofKey::new();
    let stolen = thief.proof(&app, "GET", &userinfo_url, Some(&nonce), Some(&access));
    assert_eq!(userinfo(&app, &org, "DPoP", &access, Some(&stolen)).await.status, 401);
    // A proof for another request: method, URL, token hash, age.
    for (method, url, token, age) in [
        ("POST", userinfo_url.as_str(), access.as_str(), 0),
        ("GET", token_url.as_str(), access.as_str(), 0),
        ("GET", userinfo_url.as_str(), "another-token", 0),
        ("GET", userinfo_url.as_str(), access.as_str(), 600),
    ] {
        app.clock.advance(time::Duration::seconds(-age));
        let wrong = key.proof(&app, method, url, Some(&nonce), Some(token));
        app.clock.advance(time::Duration::seconds(age));
        let r = userinfo(&app, &org, "DPoP", &access, Some(&wrong)).await;
        assert_eq!((r.status, r.error()), (401, "invalid_dpop_proof"), "{method} {url} {age}: {}", r.text);
    }

    // Introspection tells the resource server the token is bound, and to which key.
    let r = post_oauth(&app, &org, "introspect", &rp, &[("token", &access)]).await;
    assert_eq!(r.body["token_type"], "DPoP", "{}", r.text);
    assert_eq!(r.body["cnf"]["jkt"], key.jkt(), "{}", r.text);
}

#[tokio::test]
async fn a_public_client_s_refresh_token_works_only_with_the_key_it_was_bound_to() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let spa = json!({"name": "SPA", "client_type": "public", "token_endpoint_auth_method": "none"});
    let rp = register(&app, &org, spa).await;
    let key = ProofKey::new();
    let nonce = server_nonce(&app, &org, &key).await;
    let token_url = endpoint(&app, &org, "/token");
    let mut browser = Browser::new(&app);
    let params = with(base(&rp), "scope", "openid offline_access");
    let r = approve(&mut browser, &authorize_url(&app, &org, &params), &user, None).await;
    let code = callback(&r).remove("code").expect("a code");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", rp.id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let proof = key.proof(&app, "POST", &token_url, Some(&nonce), None);
    let tokens = post_with_proof(&app, &org, "token", None, &form, Some(&proof)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let refresh = tokens.str("/refresh_token");
    let refresh_form = [("grant_type", "refresh_token"), ("client_id", rp.id.as_str()), ("refresh_token", &refresh)];

    // Stolen without the key: refused with no proof, and with a proof of another key.
    let none = post_with_proof(&app, &org, "token", None, &refresh_form, None).await;
    assert_eq!((none.status, none.error()), (400, "invalid_dpop_proof"), "{}", none.text);
    let thief = ProofKey::new();
    let other = thief.proof(&app, "POST", &token_url, Some(&nonce), None);
    let r = post_with_proof(&app, &org, "token", None, &refresh_form, Some(&other)).await;
    assert_eq!((r.status, r.error()), (400, "invalid_dpop_proof"), "{}", r.text);
    // Nor can a copy end the grant at the revocation endpoint.
    let revoke = [("client_id", rp.id.as_str()), ("token", refresh.as_str())];
    let r = post_with_proof(&app, &org, "revoke", None, &revoke, None).await;
    assert_eq!((r.status, r.error()), (400, "invalid_dpop_proof"), "{}", r.text);

    // With its key it rotates, and the next one is bound too.
    let proof = key.proof(&app, "POST", &token_url, Some(&nonce), None);
    let rotated = post_with_proof(&app, &org, "token", None, &refresh_form, Some(&proof)).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(rotated.body["token_type"], "DPoP");
    assert_eq!(jwt_claims(&rotated.str("/access_token"))["cnf"]["jkt"], key.jkt());
    let next = rotated.str("/refresh_token");
    let next_form = [("grant_type", "refresh_token"), ("client_id", rp.id.as_str()), ("refresh_token", &next)];
    let r = post_with_proof(&app, &org, "token", None, &next_form, None).await;
    assert_eq!((r.status, r.error()), (400, "invalid_dpop_proof"), "{}", r.text);
}

#[tokio::test]
async fn a_client_registered_with_dpop_bound_access_tokens_gets_no_token_without_a_proof() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let body = json!({"redirect_uris": [], "grant_types": ["client_credentials"], "dpop_bound_access_tokens": true});
    let rp = register(&app, &org, body).await;
    let key = ProofKey::new();
    let form = [("grant_type", "client_credentials")];

    let without = post_with_proof(&app, &org, "token", Some(&rp), &form, None).await;
    let nonce = server_nonce(&app, &org, &key).await;
    let proof = key.proof(&app, "POST", &endpoint(&app, &org, "/token"), Some(&nonce), None);
    let with_proof = post_with_proof(&app, &org, "token", Some(&rp), &form, Some(&proof)).await;

    assert_eq!((without.status, without.error()), (400, "invalid_dpop_proof"), "{}", without.text);
    assert_eq!(with_proof.status, 200, "{}", with_proof.text);
    assert_eq!(with_proof.body["token_type"], "DPoP");
    let client = app.get(&format!("/api/v1/oidc/clients/{}", rp.id), Some(&org.api_key)).await;
    assert_eq!(client.body["dpop_bound_access_tokens"], true, "{}", client.text);
    let discovery = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    let algs = discovery.body["dpop_signing_alg_values_supported"].as_array().expect("DPoP algorithms");
    assert!(algs.iter().any(|a| a == "ES256"), "{algs:?}");
}

#[tokio::test]
async fn a_proof_is_spent_on_every_node_and_a_nonce_from_one_node_works_on_the_other() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let body = json!({"redirect_uris": [], "grant_types": ["client_credentials"]});
    let rp = register(&app, &org, body).await;
    let node = app.another_node().await;
    let key = ProofKey::new();
    let nonce = server_nonce(&app, &org, &key).await;
    let proof = key.proof(&app, "POST", &endpoint(&app, &org, "/token"), Some(&nonce), None);
    let form = [("grant_type", "client_credentials")];

    let here = post_with_proof(&app, &org, "token", Some(&rp), &form, Some(&proof)).await;
    let replay_there = post_with_proof(&node, &org, "token", Some(&rp), &form, Some(&proof)).await;
    let fresh = key.proof(&app, "POST", &endpoint(&app, &org, "/token"), Some(&nonce), None);
    let fresh_there = post_with_proof(&node, &org, "token", Some(&rp), &form, Some(&fresh)).await;

    assert_eq!(here.status, 200, "{}", here.text);
    assert_eq!((replay_there.status, replay_there.error()), (400, "invalid_dpop_proof"), "{}", replay_there.text);
    assert_eq!(fresh_there.status, 200, "{}", fresh_there.text);
}

#[tokio::test]
async fn malformed_proofs_are_refused_with_invalid_dpop_proof() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let rp = register(&app, &org, json!({"redirect_uris": [], "grant_types": ["client_credentials"]})).await;
    let key = ProofKey::new();
    let nonce = server_nonce(&app, &org, &key).await;
    let url = endpoint(&app, &org, "/token");
    let good = key.proof(&app, "POST", &url, Some(&nonce), None);
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value = serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[0].as_bytes()).unwrap()).unwrap();
    let reheader = |change: &dyn Fn(&mut Value)| {
        let mut h = header.clone();
        change(&mut h);
        format!("{}.{}.{}", BASE64URL_NOPAD.encode(h.to_string().as_bytes()), parts[1], parts[2])
    };
    let cases = [
        ("garbage", "not-a-jwt".to_owned()),
        ("typ", reheader(&|h| h["typ"] = json!("JWT"))),
        ("private key", reheader(&|h| h["jwk"]["d"] = json!("AAAA"))),
        ("alg none", reheader(&|h| h["alg"] = json!("none"))),
        ("other key", reheader(&|h| h["jwk"] = serde_json::to_value(ProofKey::new().jwk).unwrap())),
        ("signature", format!("{}.{}.{}", parts[0], parts[1], BASE64URL_NOPAD.encode(&[0u8; 64]))),
    ];
    for (what, proof) in cases {
        let r = post_with_proof(&app, &org, "token", Some(&rp), &[("grant_type", "client_credentials")], Some(&proof))
            .await;
        assert_eq!((r.status, r.error()), (400, "invalid_dpop_proof"), "{what}: {}", r.text);
    }
    // Two proofs at once are refused too.
    let request = app
        .client
        .post(app.url(&format!("/o/{}/token", org.id)))
        .basic_auth(&rp.id, Some(&rp.secret))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("DPoP", key.proof(&app, "POST", &url, Some(&nonce), None))
        .header("DPoP", key.proof(&app, "POST", &url, Some(&nonce), None))
        .body("grant_type=client_credentials");
    let r = app.send(request).await;
    assert_eq!((r.status, r.error()), (400, "invalid_dpop_proof"), "{}", r.text);
}

/// The independent client's folder (`npm ci` there is done by `scripts/test.sh`).
fn oauth_client_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("oauth-client")
}

#[tokio::test]
async fn openid_client_binds_its_tokens_with_dpop_follows_the_nonce_and_uses_them_at_userinfo_and_refresh() {
    let installed = oauth_client_dir().join("node_modules").join("openid-client").join("package.json");
    assert!(installed.exists(), "run scripts/test.sh once: it runs `npm ci` in {}", oauth_client_dir().display());
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let spa = json!({"name": "SPA", "client_type": "public", "token_endpoint_auth_method": "none"});
    let rp = register(&app, &org, spa).await;
    let mut browser = Browser::new(&app);
    let params = with(with(base(&rp), "scope", "openid email offline_access"), "nonce", "n0nce");
    let back = approve(&mut browser, &authorize_url(&app, &org, &params), &user, None).await;
    let callback_url = location(&back).expect("the redirect back to the client");

    let run = tokio::process::Command::new("node")
        .arg("dpop.mjs")
        .args([&app.services.issuer(&org.id), &rp.id, &callback_url, VERIFIER, "s", "n0nce"])
        .current_dir(oauth_client_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("openid-client did not finish within a minute")
        .expect("node could not be started");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "openid-client failed ({}):\n{stdout}\n{stderr}", output.status);
    let got: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    assert_eq!(got["token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("dpop"), "{got}");
    assert_eq!(got["refreshed_token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("dpop"), "{got}");
    assert_eq!(got["sub"], user.id.as_str());
    assert_eq!(got["userinfo"]["email"], user.email.as_str(), "{got}");
    assert_eq!(got["userinfo_after_refresh"]["sub"], user.id.as_str(), "{got}");
    let jkt = jwt_claims(got["access_token"].as_str().unwrap())["cnf"]["jkt"].clone();
    assert!(jkt.is_string(), "{got}");
    assert_eq!(jwt_claims(got["refreshed_access_token"].as_str().unwrap())["cnf"]["jkt"], jkt);
    // The client's key never left it: here, its tokens are useless as bearer tokens and without its key.
    let access = got["refreshed_access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, &org, "Bearer", access, None).await.status, 401);
    let refresh = got["refreshed_refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("client_id", rp.id.as_str()), ("refresh_token", refresh)];
    let r = post_with_proof(&app, &org, "token", None, &form, None).await;
    assert_eq!((r.status, r.error()), (400, "invalid_dpop_proof"), "{}", r.text);
}

#[tokio::test]
async fn a_code_asked_for_with_dpop_jkt_is_exchanged_only_with_a_proof_of_that_key() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let rp = register(&app, &org, json!({})).await;
    let key = ProofKey::new();
    let jkt = key.jkt();
    let code = code_for(&app, &org, &rp, &user, &[("dpop_jkt", jkt.as_str())]).await;
    let nonce = server_nonce(&app, &org, &key).await;
    let url = endpoint(&app, &org, "/token");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];

    let without = post_with_proof(&app, &org, "token", Some(&rp), &form, None).await;
    let other = ProofKey::new().proof(&app, "POST", &url, Some(&nonce), None);
    let with_other = post_with_proof(&app, &org, "token", Some(&rp), &form, Some(&other)).await;
    let right = key.proof(&app, "POST", &url, Some(&nonce), None);
    let with_right = post_with_proof(&app, &org, "token", Some(&rp), &form, Some(&right)).await;

    assert_eq!((without.status, without.error()), (400, "invalid_dpop_proof"), "{}", without.text);
    assert_eq!((with_other.status, with_other.error()), (400, "invalid_dpop_proof"), "{}", with_other.text);
    assert_eq!(with_right.status, 200, "{}", with_right.text);
    assert_eq!(jwt_claims(&with_right.str("/access_token"))["cnf"]["jkt"], jkt);
    // A malformed dpop_jkt is refused at authorize.
    let mut browser = Browser::new(&app);
    let r = browser.get(&authorize_url(&app, &org, &with(base(&rp), "dpop_jkt", "not-a-thumbprint"))).await;
    let r = browser.follow(r).await;
    assert_eq!(callback(&r).get("error").map(String::as_str), Some("invalid_request"), "{r:?}");
}
