//! zauthy's side of the OIDC scenarios, set up through its public API and hosted pages as a service provider and
//! its users would: an organization, a confidential client registered like oidc-provider's, and one signed-in
//! browser per connection that has consented once, so each later `authorize` yields a code.

use super::reference::{CODE_VERIFIER, REDIRECT_URI};
use super::workers::{CodeSource, Endpoint, form_value};
use crate::server::Server;
use anyhow::{Context, bail};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::atomic::AtomicU64;

const PASSWORD: &str = "SecureP@ss123";
/// What the code scenarios ask for, on both sides.
pub const CODE_SCOPE: &str = "openid email profile offline_access";

async fn post_json(client: &reqwest::Client, url: &str, bearer: Option<&str>, body: Value) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("POST {url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

fn str_at(v: &Value, pointer: &str) -> anyhow::Result<String> {
    v.pointer(pointer).and_then(Value::as_str).map(str::to_owned).with_context(|| format!("no {pointer} in {v}"))
}

fn redirect_of(response: &reqwest::Response, what: &str) -> anyhow::Result<String> {
    if !response.status().is_redirection() {
        bail!("{what}: expected a redirect, got {}", response.status());
    }
    Ok(response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).context("redirect without Location")?.to_owned())
}

/// The value `name=` of a `Set-Cookie` among a response's.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let pair = v.to_str().ok()?.split(';').next()?;
        pair.strip_prefix(name)?.strip_prefix('=').map(str::to_owned)
    })
}

/// A CSRF token of the form the hosted pages accept (43 base64url characters), used as cookie and field.
fn csrf_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(BASE64URL_NOPAD.encode(&bytes))
}

/// One user: signed up through the API, signed in on the hosted login page, consent given once on the hosted
/// consent page. Returns the browser's `Cookie` header.
async fn signed_in_browser(
    base: &str,
    org_id: &str,
    api_key: &str,
    authorize: &str,
    i: usize,
) -> anyhow::Result<String> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let email = format!("oidc-user{i}@bench.example.com");
    post_json(&client, &format!("{base}/api/v1/signup"), Some(api_key), json!({"email": email, "password": PASSWORD}))
        .await?;
    let csrf = csrf_token()?;
    let form = format!(
        "csrf_token={csrf}&email={}&password={}&return_to={}",
        form_value(&email),
        form_value(PASSWORD),
        form_value(&format!("/o/{org_id}/account"))
    );
    let response = client
        .post(format!("{base}/o/{org_id}/login"))
        .header(COOKIE, format!("zauthy_csrf={csrf}"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    redirect_of(&response, "hosted login")?;
    let session = set_cookie(&response, "zauthy_session").context("hosted login set no session cookie")?;
    let cookie = format!("zauthy_csrf={csrf}; zauthy_session={session}");

    // The first authorization asks for consent; approving every scope is remembered for the next ones.
    let response = client.get(format!("{base}{authorize}")).header(COOKIE, &cookie).send().await?;
    let consent = redirect_of(&response, "authorize")?;
    let request_id =
        consent.split_once("request=").map(|(_, r)| r.to_owned()).context("authorize did not lead to consent")?;
    let response = client.get(format!("{base}{consent}")).header(COOKIE, &cookie).send().await?;
    if response.status() != reqwest::StatusCode::OK {
        bail!("the consent page answered {}", response.status());
    }
    let mut form = format!("csrf_token={csrf}&request={}&decision=approve", form_value(&request_id));
    for scope in CODE_SCOPE.split(' ') {
        form.push_str(&format!("&scope={scope}"));
    }
    let response = client
        .post(format!("{base}/o/{org_id}/consent"))
        .header(COOKIE, &cookie)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    let back = redirect_of(&response, "consent")?;
    if !back.starts_with(REDIRECT_URI) || !back.contains("code=") {
        bail!("consent did not return a code to the client: {back}");
    }
    Ok(cookie)
}

/// An organization, its client and `browsers` signed-in users, as zauthy's `Endpoint`.
pub async fn endpoint(server: &Server, browsers: usize) -> anyhow::Result<Endpoint> {
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let org = post_json(
        &client,
        &format!("{base}/api/v1/organizations"),
        None,
        json!({"name": "Bench OIDC Org", "owner_email": "owner-oidc@bench.example.com", "owner_password": PASSWORD}),
    )
    .await?;
    let (org_id, api_key) = (str_at(&org, "/organization/id")?, str_at(&org, "/organization/api_key")?);
    let registered = post_json(
        &client,
        &format!("{base}/api/v1/oidc/clients"),
        Some(&api_key),
        json!({
            "name": "Bench RP",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
            "allowed_scopes": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": super::id_token_alg(),
        }),
    )
    .await?;
    let (id, secret) = (str_at(&registered, "/client_id")?, str_at(&registered, "/client_secret")?);
    let challenge = BASE64URL_NOPAD.encode(&Sha256::digest(CODE_VERIFIER.as_bytes()));
    let authorize = format!(
        "/o/{org_id}/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&code_challenge={challenge}\
         &code_challenge_method=S256",
        form_value(&id),
        form_value(REDIRECT_URI),
        form_value(CODE_SCOPE),
    );
    let sign_ins: Vec<_> = (0..browsers)
        .map(|i| {
            let (base, org_id, api_key, authorize) = (base.clone(), org_id.clone(), api_key.clone(), authorize.clone());
            tokio::spawn(async move { signed_in_browser(&base, &org_id, &api_key, &authorize, i).await })
        })
        .collect();
    let mut cookies = Vec::with_capacity(browsers);
    for sign_in in sign_ins {
        cookies.push(HeaderValue::from_str(&sign_in.await??)?);
    }
    let basic = format!("{}:{}", form_value(&id), form_value(&secret));
    let path = |p: &str| format!("/o/{org_id}/{p}").parse().expect("a path");
    Ok(Endpoint {
        token: path("token"),
        introspect: path("introspect"),
        userinfo: path("userinfo"),
        basic: HeaderValue::from_str(&format!("Basic {}", BASE64.encode(basic.as_bytes())))?,
        jwt_grant: Bytes::from_static(b"grant_type=client_credentials"),
        introspectable_grant: Bytes::from_static(b"grant_type=client_credentials"),
        redirect_uri: REDIRECT_URI.to_owned(),
        code_verifier: CODE_VERIFIER.to_owned(),
        codes: Some(CodeSource::Hosted { authorize: authorize.parse()?, cookies }),
        mint_requests: AtomicU64::new(0),
    })
}
