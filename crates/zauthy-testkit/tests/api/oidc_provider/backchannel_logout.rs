//! OpenID Connect Back-Channel Logout 1.0: a client that registers a `backchannel_logout_uri` is sent a
//! signed logout token, over HTTP to a real receiver, whenever a session it holds ends; a step-up is not an
//! end, and the RP's `sid` survives it.

use super::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use zauthy_core::oidc::LOGOUT_EVENT;
use zauthy_testkit::http_sink::{Answer, HttpSink, RecordedRequest};

const WAIT: Duration = Duration::from_secs(15);

async fn receiver() -> HttpSink {
    HttpSink::start(Answer { status: 200, body: String::new(), headers: Vec::new() }).await.unwrap()
}

/// A client whose logout URI is `path` on `sink`.
async fn register_listening(app: &TestApp, org: &TestOrg, sink: &HttpSink, path: &str, extra: Value) -> Rp {
    let mut body = json!({"backchannel_logout_uri": format!("{}{path}", sink.base_url())});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    register(app, org, body).await
}

fn start_for(app: &TestApp, org: &TestOrg, rp: &Rp) -> String {
    authorize_url(
        app,
        org,
        &[
            ("client_id", rp.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("nonce", "n-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// The ID token `browser` gets for `rp` through the pages.
async fn id_token(app: &TestApp, org: &TestOrg, rp: &Rp, browser: &mut Browser<'_>, user: &TestUser) -> String {
    let code = callback(&approve(browser, &start_for(app, org, rp), user, None).await)["code"].clone();
    let r = exchange(app, org, rp, &code, Some(VERIFIER)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.str("/id_token")
}

/// The logout token a request carried, after checking the request's form and the token's signature
/// against the issuer's JWKS, its header and the claims Back-Channel Logout requires.
async fn logout_claims(app: &TestApp, org: &TestOrg, request: &RecordedRequest) -> Value {
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    let token = request.form_value("logout_token").unwrap_or_else(|| panic!("a logout_token: {}", request.body));
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&app.get(&format!("/o/{}/.well-known/jwks.json", org.id), None).await.text).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("the token's kid is published");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[app.services.issuer(&org.id)]);
    validation.validate_aud = false;
    validation.validate_exp = false;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("the logout token verifies").claims;
    assert_eq!(claims["events"], json!({ LOGOUT_EVENT: {} }), "{claims}");
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(exp > iat && exp - iat <= 300, "short-lived: {claims}");
    claims
}

#[tokio::test]
async fn signing_out_at_end_session_sends_the_rp_a_signed_logout_token_for_its_id_tokens_sid() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let sink = receiver().await;
    let rp =
        register_listening(&app, &org, &sink, "/logout", json!({"backchannel_logout_session_required": true})).await;
    let discovery = app.get(&format!("/o/{}/.well-known/openid-configuration", org.id), None).await;
    assert_eq!(discovery.body["backchannel_logout_supported"], true, "{}", discovery.text);
    assert_eq!(discovery.body["backchannel_logout_session_supported"], true, "{}", discovery.text);
    let client = app.get(&format!("/api/v1/oidc/clients/{}", rp.id), Some(&org.api_key)).await;
    assert_eq!(client.body["backchannel_logout_uri"], format!("{}/logout", sink.base_url()), "{}", client.text);
    assert_eq!(client.body["backchannel_logout_session_required"], true, "{}", client.text);

    let mut browser = Browser::new(&app);
    let id_token = id_token(&app, &org, &rp, &mut browser, &user).await;
    let sid = super::flow::jwt_claims(&id_token)["sid"].as_str().expect("the ID token has a sid").to_owned();
    assert!(sink.requests().is_empty(), "nothing is sent while the session lives");

    let r = browser.get(&format!("/o/{}/end_session?id_token_hint={id_token}", org.id)).await;
    assert_eq!(r.status, 200, "signed out: {}", r.text);
    let request = sink.wait_for_request(WAIT).await.expect("the RP is told");
    assert_eq!(request.path, "/logout");
    let claims = logout_claims(&app, &org, &request).await;
    assert_eq!(claims["aud"], rp.id.as_str(), "{claims}");
    assert_eq!(claims["sub"], user.id.as_str(), "{claims}");
    assert_eq!(claims["sid"], sid.as_str(), "{claims}");
}

#[tokio::test]
async fn an_rp_that_fails_to_take_the_logout_gets_it_again_with_a_freshly_signed_token() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let sink = receiver().await;
    sink.fail_next(1, Answer { status: 503, body: "busy".to_owned(), headers: Vec::new() });
    let rp = register_listening(&app, &org, &sink, "/bcl", json!({"id_token_signed_response_alg": "ES256"})).await;
    let mut browser = Browser::new(&app);
    id_token(&app, &org, &rp, &mut browser, &user).await;

    // Signing out everywhere (through the API, from another session) ends the browser's session too.
    let r = app.delete("/api/v1/sessions", Some(&user.access_token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let first = sink.wait_for_request(WAIT).await.expect("a first attempt");
    assert_eq!(first.answered, 503);
    app.clock.advance(time::Duration::minutes(5));
    let both = sink.wait_for_requests(2, WAIT).await.expect("a retry after the backoff");
    assert_eq!(both[1].answered, 200);
    let (a, b) = (logout_claims(&app, &org, &both[0]).await, logout_claims(&app, &org, &both[1]).await);
    let header = jsonwebtoken::decode_header(both[1].form_value("logout_token").unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256, "signed with the client's ID-token algorithm");
    assert_eq!((&a["sid"], &a["aud"]), (&b["sid"], &b["aud"]), "the same notice: {a} / {b}");
    assert_ne!(a["jti"], b["jti"], "each attempt is its own token");
    assert!(b["iat"].as_i64() >= Some(a["iat"].as_i64().unwrap() + 300), "signed when sent: {a} / {b}");
}

#[tokio::test]
async fn a_step_up_keeps_the_sid_the_rps_know_and_the_later_sign_out_reaches_every_one_of_them() {
    let app = TestApp::spawn().await;
    let org = app.create_org().await;
    let user = app.signup_user(&org.api_key).await;
    let sink = receiver().await;
    let plain = register_listening(&app, &org, &sink, "/plain", json!({})).await;
    let strict = register_listening(&app, &org, &sink, "/strict", json!({"require_mfa": true})).await;
    let mut browser = Browser::new(&app);
    let first = id_token(&app, &org, &plain, &mut browser, &user).await;
    let sid = super::flow::jwt_claims(&first)["sid"].as_str().unwrap().to_owned();

    // The strict client asks for a second factor: the browser's session is replaced by a multi-factor one.
    let (secret, _) = crate::mfa::enrol(&app, &user).await;
    let r = browser.get(&start_for(&app, &org, &strict)).await;
    let r = browser.follow(r).await;
    let token = hidden_value(&r.text, "mfa_token").unwrap_or_else(|| panic!("a step-up: {}", r.text));
    let return_to = hidden_value(&r.text, "return_to").unwrap();
    let code = crate::mfa::code_now(&app, &secret);
    let form = [("mfa_token", token.as_str()), ("return_to", return_to.as_str()), ("code", code.as_str())];
    let r = browser.submit(&r, &format!("/o/{}/login/mfa", org.id), &form).await;
    browser.follow(r).await;
    let second = id_token(&app, &org, &strict, &mut browser, &user).await;
    let claims = super::flow::jwt_claims(&second);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "{claims}");
    assert_eq!(claims["sid"], sid.as_str(), "the stepped-up session is the same session to the RPs: {claims}");

    // The step-up told nobody anything: a reset email queued after it arrives with the sink still empty
    // (the outbox sends in order).
    let r = crate::passwords::forgot(&app, &org.api_key, &user.email).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.email_to(&user.email).await;
    assert!(sink.requests().is_empty(), "a step-up is not a logout: {:?}", sink.requests());

    // Signing out with the first RP's (older) ID token is recognised as this browser's own session.
    let r = browser.get(&format!("/o/{}/end_session?id_token_hint={first}", org.id)).await;
    assert_eq!(r.status, 200, "signed out without a confirmation page: {}", r.text);
    assert!(!r.text.contains("confirm-sign-out"), "{}", r.text);
    let requests = sink.wait_for_requests(2, WAIT).await.expect("both RPs are told");
    let mut told = BTreeSet::new();
    for request in &requests {
        let claims = logout_claims(&app, &org, request).await;
        assert_eq!(claims["sid"], sid.as_str(), "{claims}");
        told.insert((request.path.clone(), claims["aud"].as_str().unwrap().to_owned()));
    }
    let expected = BTreeSet::from([("/plain".to_owned(), plain.id.clone()), ("/strict".to_owned(), strict.id.clone())]);
    assert_eq!(told, expected);
}

#[tokio::test]
async fn a_backchannel_logout_uri_must_be_an_https_url_on_a_public_address_and_can_be_removed() {
    let app = TestApp::spawn_with(|c| {
        c.webhooks.allow_http = false;
        c.webhooks.allow_private_addresses = false;
    })
    .await;
    let org = app.create_org().await;
    let create = |uri: &str| json!({"name": "Acme Web", "redirect_uris": [REDIRECT], "backchannel_logout_uri": uri});
    for bad in [
        "http://rp.example/logout",
        "https://127.0.0.1/logout",
        "https://localhost/logout",
        "https://10.1.2.3/logout",
        "https://rp.example/logout#part",
        "/logout",
    ] {
        let r = app.post("/api/v1/oidc/clients", Some(&org.api_key), &create(bad)).await;
        assert_eq!((r.status, r.error()), (400, "invalid_backchannel_logout_uri"), "{bad}: {}", r.text);
        assert!(r.body["detail"].as_str().unwrap().contains("backchannel_logout_uri"), "{}", r.text);
    }
    let r = app.post("/api/v1/oidc/clients", Some(&org.api_key), &create("https://rp.example/logout")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["backchannel_logout_uri"], "https://rp.example/logout");
    assert_eq!(r.body["backchannel_logout_session_required"], false);
    let path = format!("/api/v1/oidc/clients/{}", r.str("/client_id"));
    let r = app.patch(&path, Some(&org.api_key), &json!({"backchannel_logout_uri": "http://rp.example/x"})).await;
    assert_eq!((r.status, r.error()), (400, "invalid_backchannel_logout_uri"), "{}", r.text);
    let r = app.patch(&path, Some(&org.api_key), &json!({"backchannel_logout_uri": null})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backchannel_logout_uri"], Value::Null, "{}", r.text);
    assert_eq!(app.get(&path, Some(&org.api_key)).await.body["backchannel_logout_uri"], Value::Null);
}

/// A logout endpoint that takes connections and never answers: each notice waits out the send timeout.
/// Returns its URL and the number of connections it holds.
async fn silent_endpoint() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(AtomicUsize::new(0));
    let count = held.clone();
    tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, held)
}

#[tokio::test]
async fn logout_endpoints_that_never_answer_do_not_hold_up_another_organizations_email() {
    let app = TestApp::spawn().await;
    let slow_org = app.create_org().await;
    let user = app.signup_user(&slow_org.api_key).await;
    let (silent, held) = silent_endpoint().await;
    let mut browser = Browser::new(&app);
    let mut hint = String::new();
    for n in 0..3 {
        let uri = format!("{silent}/logout/{n}");
        let rp = register(&app, &slow_org, json!({"name": format!("Slow {n}"), "backchannel_logout_uri": uri})).await;
        hint = id_token(&app, &slow_org, &rp, &mut browser, &user).await;
    }
    // Three notices queued, each to an endpoint that will keep its send waiting for 10 s.
    let r = browser.get(&format!("/o/{}/end_session?id_token_hint={hint}", slow_org.id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let other = app.create_org().await;
    let victim = app.signup_user(&other.api_key).await;
    let r = app.post("/api/v1/password/forgot", Some(&other.api_key), &json!({"email": victim.email})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.smtp
        .wait_for_mail_to(&victim.email, Duration::from_secs(5))
        .await
        .expect("the reset email goes out while the logout notices wait");
    assert_eq!(held.load(Ordering::SeqCst), 3, "all three notices are being sent, and wait");
}
