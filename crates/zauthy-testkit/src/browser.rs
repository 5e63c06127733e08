//! A browser for the hosted pages over plain HTTP: a cookie jar kept by hand (so tests see every
//! `Set-Cookie`), form posts with the CSRF field, and redirects followed one hop at a time.

use crate::{TestApp, TestResponse};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};

/// A browser's cookie jar.
#[derive(Default)]
pub struct Jar(pub Vec<(String, String)>);

impl Jar {
    pub fn take(&mut self, r: &TestResponse) {
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

    pub fn header(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The value of `name="csrf_token"` in a page.
pub fn csrf_in(page: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let at = page.find(marker).unwrap_or_else(|| panic!("no CSRF field in:\n{page}"));
    page[at + marker.len()..].split('"').next().unwrap().to_owned()
}

/// `path` may be a path on the app or an absolute URL.
fn absolute(app: &TestApp, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") { path.to_owned() } else { app.url(path) }
}

pub async fn get_page(app: &TestApp, jar: &mut Jar, path: &str) -> TestResponse {
    let r = app.send(app.client.get(absolute(app, path)).header(COOKIE, jar.header())).await;
    jar.take(&r);
    r
}

pub async fn post_form(
    app: &TestApp,
    jar: &mut Jar,
    path: &str,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> TestResponse {
    let body: Vec<String> = form.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    let mut request = app
        .client
        .post(absolute(app, path))
        .header(COOKIE, jar.header())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.join("&"));
    if let Some(origin) = origin {
        request = request.header(ORIGIN, origin);
    }
    let r = app.send(request).await;
    jar.take(&r);
    r
}

/// A browser on one app: its jar and the app's origin for form posts.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub jar: Jar,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, jar: Jar::default() }
    }

    /// The server's public origin (what a browser on its pages sends as `Origin`).
    pub fn origin(&self) -> String {
        self.app.address.clone()
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        get_page(self.app, &mut self.jar, path).await
    }

    /// Posts `form` plus the page's CSRF token, from this app's origin.
    pub async fn submit(&mut self, page: &TestResponse, path: &str, form: &[(&str, &str)]) -> TestResponse {
        let token = csrf_in(&page.text);
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        let origin = self.origin();
        post_form(self.app, &mut self.jar, path, Some(&origin), &fields).await
    }

    /// Follows redirects on this app until a page answers (or the redirect leaves the app); returns the last
    /// answer. At most 10 hops.
    pub async fn follow(&mut self, mut r: TestResponse) -> TestResponse {
        for _ in 0..10 {
            let Some(location) = location(&r) else { return r };
            if location.starts_with("http")
                && !location.starts_with(&self.origin())
                && !location.starts_with(&self.app.url(""))
            {
                return r;
            }
            r = self.get(&location).await;
        }
        panic!("too many redirects");
    }

    /// Signs in on the hosted login page (the page `r`, or where it redirects) and follows on.
    pub async fn sign_in(&mut self, login_page: TestResponse, email: &str, password: &str) -> TestResponse {
        let org_path = self.login_action(&login_page);
        let return_to = hidden_value(&login_page.text, "return_to").unwrap_or_default();
        let r = self
            .submit(&login_page, &org_path, &[("email", email), ("password", password), ("return_to", &return_to)])
            .await;
        self.follow(r).await
    }

    fn login_action(&self, page: &TestResponse) -> String {
        let marker = r#"<form method="post" action=""#;
        let at = page.text.find(marker).unwrap_or_else(|| panic!("no form in:\n{}", page.text));
        page.text[at + marker.len()..].split('"').next().unwrap().replace("&amp;", "&")
    }
}

/// The `Location` of a redirect, if `r` is one.
pub fn location(r: &TestResponse) -> Option<String> {
    (300..400).contains(&r.status).then(|| r.headers.get(LOCATION)?.to_str().ok().map(str::to_owned)).flatten()
}

/// The value of the hidden input `name` in a page (HTML-unescaped for `&amp;`).
pub fn hidden_value(page: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let at = page.find(&marker)?;
    Some(
        page[at + marker.len()..]
            .split('"')
            .next()?
            .replace("&amp;", "&")
            .replace("&#39;", "'")
            .replace("&quot;", "\""),
    )
}
