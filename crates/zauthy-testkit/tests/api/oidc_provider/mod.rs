//! The organization as an OpenID provider, end to end over HTTP: an independent relying party (the
//! `openidconnect` and `oauth2` crates) runs discovery, code + PKCE through the hosted sign-in and consent
//! pages, ID-token validation against the JWKS, userinfo, refresh rotation, revocation and introspection;
//! the device authorization grant and CIBA; then the negative cases a provider must refuse.

mod address;
mod backchannel_logout;
mod ciba;
mod concurrency;
mod cross_device;
mod device;
mod dpop;
mod flow;
mod freshness;
mod logout;
mod magic_link;
mod nodes;
mod pairwise;
mod private_key_jwt;
mod pruning;
mod refusals;
mod select_account;

use serde_json::{Value, json};
use zauthy_testkit::browser::{Browser, hidden_value, location};
use zauthy_testkit::{TestApp, TestOrg, TestResponse, TestUser};

pub const REDIRECT: &str = "https://rp.example/cb";

pub struct Rp {
    pub id: String,
    pub secret: String,
}

/// Registers a confidential client (or with `extra` overrides) that may use every user scope.
pub async fn register(app: &TestApp, org: &TestOrg, extra: Value) -> Rp {
    let mut body = json!({
        "name": "Acme Web",
        "redirect_uris": [REDIRECT],
        "allowed_scopes": ["openid", "profile", "email", "phone", "offline_access"],
        "grant_types": ["authorization_code", "refresh_token"],
        "post_logout_redirect_uris": ["https://rp.example/bye"],
    });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = app.post("/api/v1/oidc/clients", Some(&org.api_key), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    Rp { id: r.str("/client_id"), secret: r.body["client_secret"].as_str().unwrap_or_default().to_owned() }
}

/// The authorize URL of `org` with these parameters.
pub fn authorize_url(app: &TestApp, org: &TestOrg, params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    app.url(&format!("/o/{}/authorize?{query}", org.id))
}

/// Follows the browser through sign-in (if the login page shows) and consent (approving `keep` scopes, or
/// everything offered when `None`) until it is sent back to the client; returns that answer.
pub async fn approve(browser: &mut Browser<'_>, start: &str, user: &TestUser, keep: Option<&[&str]>) -> TestResponse {
    let mut r = browser.get(start).await;
    r = browser.follow(r).await;
    if r.text.contains(r#"id="password-form""#) {
        r = browser.sign_in(r, &user.email, &user.password).await;
    }
    if r.text.contains(r#"id="consent-form""#) {
        let request = hidden_value(&r.text, "request").expect("the consent form names its request");
        let offered = offered_scopes(&r.text);
        let chosen: Vec<&str> = match keep {
            Some(keep) => keep.to_vec(),
            None => offered.iter().map(String::as_str).collect(),
        };
        let mut form = vec![("request", request.as_str()), ("decision", "approve")];
        form.extend(chosen.iter().map(|s| ("scope", *s)));
        let path = format!("/o/{}/consent", org_of(start));
        r = browser.submit(&r, &path, &form).await;
    }
    r
}

/// The scopes listed on a consent page.
pub fn offered_scopes(page: &str) -> Vec<String> {
    page.split(r#"name="scope" value=""#).skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect()
}

fn org_of(url: &str) -> String {
    let at = url.find("/o/").unwrap() + 3;
    url[at..].split('/').next().unwrap().to_owned()
}

/// The parameters of the redirect back to the client.
pub fn callback(r: &TestResponse) -> std::collections::HashMap<String, String> {
    let to = location(r).unwrap_or_else(|| panic!("expected a redirect to the client, got {}: {}", r.status, r.text));
    assert!(to.starts_with(REDIRECT), "redirected to {to}");
    url::Url::parse(&to).unwrap().query_pairs().into_owned().collect()
}

/// A form post to one of the provider's OAuth endpoints with Basic client authentication.
pub async fn post_oauth(app: &TestApp, org: &TestOrg, endpoint: &str, rp: &Rp, form: &[(&str, &str)]) -> TestResponse {
    app.send(oauth_request(app, org, endpoint, rp, form)).await
}

/// The request `post_oauth` sends, unsent.
pub fn oauth_request(
    app: &TestApp,
    org: &TestOrg,
    endpoint: &str,
    rp: &Rp,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    app.client
        .post(app.url(&format!("/o/{}/{endpoint}", org.id)))
        .basic_auth(&rp.id, Some(&rp.secret))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
}

/// The authorization_code grant at the token endpoint, with Basic client authentication.
pub async fn exchange(app: &TestApp, org: &TestOrg, rp: &Rp, code: &str, verifier: Option<&str>) -> TestResponse {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    post_oauth(app, org, "token", rp, &form).await
}

/// A second redemption revoked the grant behind `tokens` (a token response): its access token is inactive
/// at introspection and refused at userinfo, its refresh token is `invalid_grant`, and the reuse was
/// recorded as `security.oidc_token_reuse` of `kind`.
pub async fn assert_grant_revoked_by_reuse(app: &TestApp, org: &TestOrg, rp: &Rp, tokens: &TestResponse, kind: &str) {
    let access = tokens.str("/access_token");
    let r = post_oauth(app, org, "introspect", rp, &[("token", &access)]).await;
    assert_eq!(r.body["active"], false, "the access token is revoked: {}", r.text);
    let r = app.send(app.client.get(app.url(&format!("/o/{}/userinfo", org.id))).bearer_auth(&access)).await;
    assert_eq!(r.status, 401, "userinfo refuses it: {}", r.text);
    let refresh = tokens.str("/refresh_token");
    let r = post_oauth(app, org, "token", rp, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(r.body["error"], "invalid_grant", "and its refresh token: {}", r.text);
    let events = app.get("/api/v1/events?type=security.oidc_token_reuse", Some(&org.api_key)).await;
    assert_eq!(events.body["events"][0]["data"]["kind"], kind, "{}", events.text);
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// S256 of `VERIFIER` (RFC 7636 appendix B).
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The parameters of an authorization request of `rp` with PKCE (`CHALLENGE`), scope `openid`.
pub fn base(rp: &Rp) -> Vec<(&str, &str)> {
    vec![
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

/// `params` with `key` set to `value` (replacing it if present).
pub fn with<'a>(mut params: Vec<(&'a str, &'a str)>, key: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    params.retain(|(k, _)| *k != key);
    params.push((key, value));
    params
}

/// A code for `user` through the pages, with PKCE (`VERIFIER`) and the given extra parameters (which replace
/// the defaults of the same name).
pub async fn code_for(app: &TestApp, org: &TestOrg, rp: &Rp, user: &TestUser, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("client_id", rp.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email offline_access"),
        ("state", "st4te"),
        ("nonce", "n0nce"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    params.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    params.extend_from_slice(extra);
    let mut browser = Browser::new(app);
    let r = approve(&mut browser, &authorize_url(app, org, &params), user, None).await;
    callback(&r).remove("code").expect("a code")
}
