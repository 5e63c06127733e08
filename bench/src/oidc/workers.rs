//! The OAuth load workers, the same for zauthy and oidc-provider: each side is an `Endpoint` (its paths, client
//! credentials and request bodies). A token a worker introspects is minted on its own connection (a skipped,
//! uncounted request), because oidc-provider's workers each keep their own in-memory store. The code grant's
//! workers are in `codes.rs`.

use crate::load::{Verdict, Worker};
use data_encoding::BASE64URL_NOPAD;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Where one side's authorization codes come from.
pub enum CodeSource {
    /// oidc-provider: `POST {uri}&n=N&first=K` with this bearer answers `{"codes": [...]}` (bench/oidc-provider).
    Endpoint { uri: String, bearer: HeaderValue },
    /// zauthy: as a browser would, `GET authorize` then `GET consent` with a signed-in user's cookies (consent
    /// already given once), whose redirect to the client carries the code. One user per connection.
    Hosted { authorize: Uri, cookies: Vec<HeaderValue> },
}

/// How to talk to one OpenID provider.
pub struct Endpoint {
    pub token: Uri,
    pub introspect: Uri,
    pub userinfo: Uri,
    /// `Authorization: Basic …` of the confidential client.
    pub basic: HeaderValue,
    /// The client_credentials request whose answer is a JWT access token (EdDSA).
    pub jwt_grant: Bytes,
    /// The client_credentials request whose answer the provider can introspect (zauthy: the same JWT;
    /// oidc-provider: an opaque token, it does not introspect JWTs).
    pub introspectable_grant: Bytes,
    pub redirect_uri: String,
    pub code_verifier: String,
    /// None while that side cannot mint codes.
    pub codes: Option<CodeSource>,
    /// Requests the code workers made to mint codes during a run (not counted as answers).
    pub mint_requests: AtomicU64,
}

/// Form-encodes a value (RFC 3986 unreserved characters stay, everything else is %XX).
pub fn form_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn form_post(uri: &Uri, authorization: &HeaderValue, body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri(uri.clone())
        .header(header::HOST, "localhost")
        .header(header::AUTHORIZATION, authorization.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(body))
        .expect("a well-formed request")
}

pub fn json(status: StatusCode, body: &Bytes) -> Result<Value, Verdict> {
    if status != StatusCode::OK {
        return Err(Verdict::Error(status.as_u16().to_string()));
    }
    serde_json::from_slice(body).map_err(|_| Verdict::Error("200 without JSON".to_owned()))
}

/// The `alg` in a JWT's header.
pub fn jwt_alg(token: &str) -> Option<String> {
    let header = BASE64URL_NOPAD.decode(token.split('.').next()?.as_bytes()).ok()?;
    Some(serde_json::from_slice::<Value>(&header).ok()?["alg"].as_str()?.to_owned())
}

/// `grant_type=client_credentials`: answered with a JWT access token signed with EdDSA.
pub struct ClientCredentials {
    pub endpoint: Arc<Endpoint>,
    checked: bool,
}

impl ClientCredentials {
    pub fn new(endpoint: Arc<Endpoint>) -> Self {
        Self { endpoint, checked: false }
    }
}

impl Worker for ClientCredentials {
    fn request(&mut self) -> Request<Full<Bytes>> {
        form_post(&self.endpoint.token, &self.endpoint.basic, self.endpoint.jwt_grant.clone())
    }

    fn answered(&mut self, status: StatusCode, body: &Bytes) -> Verdict {
        let v = match json(status, body) {
            Ok(v) => v,
            Err(verdict) => return verdict,
        };
        let Some(token) = v["access_token"].as_str() else {
            return Verdict::Error("200 without access_token".to_owned());
        };
        // The first answer of each connection shows the token is what is meant to be compared.
        if !self.checked {
            match jwt_alg(token) {
                Some(alg) if alg == "EdDSA" => self.checked = true,
                other => return Verdict::Fatal(format!("access token is not an EdDSA JWT ({other:?})")),
            }
        }
        Verdict::Ok
    }
}

/// RFC 7662 introspection of a live token of the same client, minted first on this connection.
pub struct Introspect {
    pub endpoint: Arc<Endpoint>,
    /// `token=…`, once minted.
    body: Option<Bytes>,
}

impl Introspect {
    pub fn new(endpoint: Arc<Endpoint>) -> Self {
        Self { endpoint, body: None }
    }
}

impl Worker for Introspect {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let e = &self.endpoint;
        match &self.body {
            None => form_post(&e.token, &e.basic, e.introspectable_grant.clone()),
            Some(body) => form_post(&e.introspect, &e.basic, body.clone()),
        }
    }

    fn answered(&mut self, status: StatusCode, body: &Bytes) -> Verdict {
        let v = match json(status, body) {
            Ok(v) => v,
            Err(verdict) => return verdict,
        };
        if self.body.is_none() {
            return match v["access_token"].as_str() {
                Some(token) => {
                    self.body = Some(Bytes::from(format!("token={}", form_value(token))));
                    Verdict::Skip
                }
                None => Verdict::Error("token answer without access_token".to_owned()),
            };
        }
        if v["active"] == true && v["client_id"].is_string() {
            Verdict::Ok
        } else {
            // E.g. a new connection landed on another oidc-provider worker: mint again there.
            self.body = None;
            Verdict::Error(format!("active={}", v["active"]))
        }
    }
}

/// The scenarios mix worker types behind one list.
impl Worker for Box<dyn Worker> {
    fn request(&mut self) -> Request<Full<Bytes>> {
        (**self).request()
    }

    fn answered(&mut self, status: StatusCode, body: &Bytes) -> Verdict {
        (**self).answered(status, body)
    }

    fn answered_with_headers(&mut self, status: StatusCode, headers: &HeaderMap, body: &Bytes) -> Verdict {
        (**self).answered_with_headers(status, headers, body)
    }
}
