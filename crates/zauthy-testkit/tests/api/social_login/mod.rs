//! Social login over HTTP against a real upstream: a second organization of the same server is the OpenID
//! provider ("Google"), driven through its hosted sign-in and consent pages like a browser. Also the provider
//! configuration API, Apple's client-secret JWT (captured by a real local receiver), state rules and SSRF.

mod config;
mod flow;
mod hosted;
mod linking;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use zauthy_testkit::{TestApp, TestOrg, TestResponse, TestUser};

/// The application's redirect URL: allowed in the downstream org, registered with the upstream client.
pub const APP_REDIRECT: &str = "http://localhost:3000/auth/callback";

pub fn assert_error(r: &TestResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.error()), (status, code), "{}", r.text);
}

/// A browser's cookie jar, kept by hand so the test sees every `Set-Cookie`.
#[derive(Default)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, r: &TestResponse) {
        for value in r.headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !attributes.contains("Max-Age=0") {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Every `<input type="hidden" name=… value=…>` of a page, in order.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in page.split(r#"<input type="hidden" name=""#).skip(1) {
        let (name, rest) = chunk.split_once('"').unwrap();
        let value = rest.split_once(r#"value=""#).unwrap().1.split('"').next().unwrap();
        out.push((unescape(name), unescape(value)));
    }
    out
}

/// The scopes a consent page leaves ticked (the locked `openid` box is not submitted, like a browser).
fn ticked_scopes(page: &str) -> Vec<String> {
    page.split(r#"name="scope" value=""#)
        .skip(1)
        .filter(|c| !c.split('>').next().unwrap().contains("disabled"))
        .map(|c| unescape(c.split('"').next().unwrap()))
        .collect()
}

pub async fn get_page(app: &TestApp, jar: &mut Jar, path: &str) -> TestResponse {
    let r = app.send(app.client.get(app.url(path)).header(COOKIE, jar.header())).await;
    jar.take(&r);
    r
}

async fn post_form(app: &TestApp, jar: &mut Jar, path: &str, form: &[(String, String)]) -> TestResponse {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let request = app
        .client
        .post(app.url(path))
        .header(COOKIE, jar.header())
        .header(ORIGIN, &app.address)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    let r = app.send(request).await;
    jar.take(&r);
    r
}

/// `http://localhost:PORT/x?y` → `/x?y` on this server.
fn local_path(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.address).unwrap_or_else(|| panic!("{url} is not on this server")).to_owned()
}

/// What came back to the application's redirect URL, as name → value.
pub struct Returned(pub Vec<(String, String)>);

impl Returned {
    pub fn get(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {name} returned"))
    }
}

/// Follows `authorization_url` like a browser: the upstream's sign-in page (as `user`), its consent page
/// (approving what it offers), and back to the application, by redirect or by `form_post`.
pub async fn through_upstream(app: &TestApp, user: &TestUser, authorization_url: &str) -> Returned {
    through_upstream_in(app, &mut Jar::default(), user, authorization_url, APP_REDIRECT).await
}

/// Like `through_upstream`, in the browser `jar`, until the provider sends it to `back_to`.
pub async fn through_upstream_in(
    app: &TestApp,
    jar: &mut Jar,
    user: &TestUser,
    authorization_url: &str,
    back_to: &str,
) -> Returned {
    let jar = &mut *jar;
    let mut r = get_page(app, jar, &local_path(app, authorization_url)).await;
    for _ in 0..12 {
        if let Some(location) = r.header(LOCATION.as_str()).map(str::to_owned) {
            if let Some(query) = location.strip_prefix(&format!("{back_to}?")) {
                let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
                return Returned(pairs);
            }
            let path = if location.starts_with('/') { location } else { local_path(app, &location) };
            r = get_page(app, jar, &path).await;
            continue;
        }
        assert_eq!(r.status, 200, "unexpected page: {}", r.text);
        let fields = hidden_fields(&r.text);
        if r.text.contains(r#"id="form-post""#) {
            assert!(r.text.contains(&format!(r#"action="{back_to}""#)), "{}", r.text);
            return Returned(fields);
        }
        if r.text.contains(r#"id="consent-form""#) {
            let mut form = fields;
            form.extend(ticked_scopes(&r.text).into_iter().map(|s| ("scope".to_owned(), s)));
            form.push(("decision".to_owned(), "approve".to_owned()));
            let action = r.text.split(r#"action=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
            r = post_form(app, jar, &unescape(&action), &form).await;
            continue;
        }
        if r.text.contains(r#"id="password""#) {
            let mut form: Vec<(String, String)> = hidden_fields(&r.text);
            form.push(("email".to_owned(), user.email.clone()));
            form.push(("password".to_owned(), user.password.clone()));
            let action =
                r.text.split(r#"method="post" action=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
            r = post_form(app, jar, &unescape(&action), &form).await;
            continue;
        }
        panic!("a page the test does not know: {}", r.text);
    }
    panic!("too many steps at the upstream");
}

/// The upstream ("Google"): an organization with a confidential client for the application, and a user.
pub struct Upstream {
    pub org: TestOrg,
    pub client_id: String,
    pub client_secret: String,
    pub discovery_url: String,
    pub user: TestUser,
}

pub async fn upstream(app: &TestApp) -> Upstream {
    upstream_for(app, &[APP_REDIRECT]).await
}

/// An upstream whose client may send users back to `redirect_uris`.
pub async fn upstream_for(app: &TestApp, redirect_uris: &[&str]) -> Upstream {
    let org = app.create_org().await;
    let body = json!({"name": "Downstream app", "redirect_uris": redirect_uris});
    let r = app.post("/api/v1/oidc/clients", Some(&org.api_key), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let user = app.signup_user(&org.api_key).await;
    Upstream {
        discovery_url: format!("{}/o/{}/.well-known/openid-configuration", app.address, org.id),
        client_id: r.str("/client_id"),
        client_secret: r.str("/client_secret"),
        org,
        user,
    }
}

/// An organization that signs users in with `upstream` as provider `slug`, redirecting to `APP_REDIRECT`.
pub async fn downstream(app: &TestApp, upstream: &Upstream, slug: &str, extra: Value) -> TestOrg {
    let org = app.create_org().await;
    let r = app
        .send(
            app.client
                .patch(app.url("/api/v1/organizations/me/settings"))
                .bearer_auth(&org.api_key)
                .json(&json!({"allowed_redirect_urls": [APP_REDIRECT]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    add_provider(app, &org, upstream, slug, extra).await;
    org
}

pub async fn add_provider(app: &TestApp, org: &TestOrg, upstream: &Upstream, slug: &str, extra: Value) {
    let mut body = json!({
        "type": "oidc",
        "provider": slug,
        "display_name": "Upstream",
        "client_id": upstream.client_id,
        "client_secret": upstream.client_secret,
        "discovery_url": upstream.discovery_url,
    });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = app.post("/api/v1/organizations/me/oauth-providers", Some(&org.api_key), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Starts a sign-in at `org` with `provider` and returns `(authorization_url, state)`.
pub async fn init(app: &TestApp, org: &TestOrg, provider: &str) -> (String, String) {
    let r = app
        .post(
            "/api/v1/auth/oauth/init",
            Some(&org.api_key),
            &json!({"provider": provider, "redirect_url": APP_REDIRECT}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    (r.str("/authorization_url"), r.str("/state"))
}

/// Hands what came back to the application to `/auth/oauth/callback`, with `bearer` (API key or user token).
pub async fn callback(app: &TestApp, bearer: &str, returned: &Returned) -> TestResponse {
    let mut body = json!({"state": returned.get("state"), "code": returned.get("code")});
    if let Some((_, iss)) = returned.0.iter().find(|(k, _)| k == "iss") {
        body["iss"] = json!(iss);
    }
    app.post("/api/v1/auth/oauth/callback", Some(bearer), &body).await
}

/// A whole social sign-in of `user` at `org` through `provider`: init, the upstream's pages, callback.
pub async fn social_sign_in(app: &TestApp, org: &TestOrg, provider: &str, user: &TestUser) -> TestResponse {
    let (url, _) = init(app, org, provider).await;
    let returned = through_upstream(app, user, &url).await;
    callback(app, &org.api_key, &returned).await
}

/// Proves `email` at `org` with an emailed one-time code, which marks the account verified.
pub async fn verify_email(app: &TestApp, org: &TestOrg, email: &str) {
    let before = app.smtp.messages().len();
    let r = app.post("/api/v1/otp/send", Some(&org.api_key), &json!({"email": email, "channel": "email"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The same address may have had a code from another organization already: take the newest message.
    let mut mails = app.smtp.wait_for(before + 1, std::time::Duration::from_secs(10)).await.expect("no code arrived");
    let mail = mails.pop().unwrap();
    assert!(mail.to.iter().any(|t| t == email), "{:?}", mail.to);
    let code = six_digits(&mail.text_body());
    let r = app.post("/api/v1/otp/verify", Some(&org.api_key), &json!({"email": email, "code": code})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn six_digits(text: &str) -> String {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(5))
        .find(|&i| {
            b[i..i + 6].iter().all(u8::is_ascii_digit)
                && (i == 0 || !b[i - 1].is_ascii_digit())
                && b.get(i + 6).is_none_or(|c| !c.is_ascii_digit())
        })
        .map(|i| text[i..i + 6].to_owned())
        .unwrap_or_else(|| panic!("no code in {text}"))
}

/// The organization's events of `event_type`, newest first.
pub async fn events(app: &TestApp, org_id: &str, event_type: &str) -> Vec<Value> {
    let events = app.services.store.list_events(org_id, Some(event_type), 50).await.unwrap();
    events.into_iter().map(|e| e.data).collect()
}
