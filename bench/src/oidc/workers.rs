//! The OAuth load workers, the same for zauthy and oidc-provider: each side is an `Endpoint` (its paths, client
//! credentials and request bodies). Every token or code a worker uses is minted on its own connection (a skipped,
//! uncounted request), because oidc-provider's workers each keep their own in-memory store.

use crate::load::{Verdict, Worker};
use data_encoding::BASE64URL_NOPAD;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;

/// Where one side's authorization codes come from.
pub enum CodeMint {
    /// oidc-provider: `POST {uri}&n=N&first=K` with this bearer answers `{"codes": [...]}` (bench/oidc-provider).
    Endpoint { uri: String, bearer: HeaderValue },
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
    /// None while that side cannot mint codes yet.
    pub codes: Option<CodeMint>,
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

fn form_post(uri: &Uri, authorization: &HeaderValue, body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri(uri.clone())
        .header(header::HOST, "localhost")
        .header(header::AUTHORIZATION, authorization.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(body))
        .expect("a well-formed request")
}

fn json(status: StatusCode, body: &Bytes) -> Result<Value, Verdict> {
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

/// Codes of one connection, minted in batches on that connection.
struct Codes {
    queue: VecDeque<String>,
    /// The first account of the next batch (each code is another user's, as after N logins).
    next_account: usize,
    batch: usize,
}

impl Codes {
    fn new(first_account: usize, batch: usize) -> Self {
        Self { queue: VecDeque::new(), next_account: first_account, batch }
    }

    fn mint_request(&mut self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        let Some(CodeMint::Endpoint { uri, bearer }) = &endpoint.codes else {
            unreachable!("the code scenarios run only where codes can be minted")
        };
        let uri: Uri = format!("{uri}&n={}&first={}", self.batch, self.next_account).parse().expect("a valid uri");
        self.next_account += self.batch;
        form_post(&uri, bearer, Bytes::new())
    }

    fn minted(&mut self, status: StatusCode, body: &Bytes) -> Verdict {
        let v = match json(status, body) {
            Ok(v) => v,
            Err(verdict) => return verdict,
        };
        match v["codes"].as_array() {
            Some(codes) if !codes.is_empty() => {
                self.queue.extend(codes.iter().filter_map(|c| c.as_str().map(str::to_owned)));
                Verdict::Skip
            }
            _ => Verdict::Fatal("no codes minted".to_owned()),
        }
    }

    fn exchange_request(&mut self, endpoint: &Endpoint, code: &str) -> Request<Full<Bytes>> {
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            form_value(code),
            form_value(&endpoint.redirect_uri),
            form_value(&endpoint.code_verifier)
        );
        form_post(&endpoint.token, &endpoint.basic, Bytes::from(body))
    }
}

/// The code grant's answer must carry an RS256 ID token, an access token and a refresh token.
fn check_code_answer(v: &Value, checked: &mut bool) -> Result<String, Verdict> {
    let (Some(access), Some(id_token), Some(_)) =
        (v["access_token"].as_str(), v["id_token"].as_str(), v["refresh_token"].as_str())
    else {
        return Err(Verdict::Error("code answer without access, ID and refresh tokens".to_owned()));
    };
    if !*checked {
        match jwt_alg(id_token) {
            Some(alg) if alg == "RS256" => *checked = true,
            other => return Err(Verdict::Fatal(format!("ID token is not RS256 ({other:?})"))),
        }
    }
    Ok(access.to_owned())
}

/// `grant_type=authorization_code` with PKCE (S256), each code once.
pub struct CodeExchange {
    pub endpoint: Arc<Endpoint>,
    codes: Codes,
    minting: bool,
    checked: bool,
}

impl CodeExchange {
    /// `first_account` keeps connections' users apart; `batch` codes are minted at a time.
    pub fn new(endpoint: Arc<Endpoint>, first_account: usize, batch: usize) -> Self {
        Self { endpoint, codes: Codes::new(first_account, batch), minting: false, checked: false }
    }
}

impl Worker for CodeExchange {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let endpoint = Arc::clone(&self.endpoint);
        match self.codes.queue.pop_front() {
            Some(code) => {
                self.minting = false;
                self.codes.exchange_request(&endpoint, &code)
            }
            None => {
                self.minting = true;
                self.codes.mint_request(&endpoint)
            }
        }
    }

    fn answered(&mut self, status: StatusCode, body: &Bytes) -> Verdict {
        if self.minting {
            return self.codes.minted(status, body);
        }
        match json(status, body).and_then(|v| check_code_answer(&v, &mut self.checked)) {
            Ok(_) => Verdict::Ok,
            Err(verdict) => verdict,
        }
    }
}

enum UserinfoState {
    NeedCode,
    Exchanging,
    Ready(HeaderValue),
}

/// `GET userinfo` with the access token of one user, got on this connection through the code grant.
pub struct Userinfo {
    pub endpoint: Arc<Endpoint>,
    codes: Codes,
    state: UserinfoState,
    checked: bool,
}

impl Userinfo {
    pub fn new(endpoint: Arc<Endpoint>, account: usize) -> Self {
        Self { endpoint, codes: Codes::new(account, 1), state: UserinfoState::NeedCode, checked: false }
    }
}

impl Worker for Userinfo {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let endpoint = Arc::clone(&self.endpoint);
        match &self.state {
            UserinfoState::Ready(bearer) => Request::builder()
                .method(Method::GET)
                .uri(endpoint.userinfo.clone())
                .header(header::HOST, "localhost")
                .header(header::AUTHORIZATION, bearer.clone())
                .body(Full::new(Bytes::new()))
                .expect("a well-formed request"),
            _ => match self.codes.queue.pop_front() {
                Some(code) => {
                    self.state = UserinfoState::Exchanging;
                    self.codes.exchange_request(&endpoint, &code)
                }
                None => {
                    self.state = UserinfoState::NeedCode;
                    self.codes.mint_request(&endpoint)
                }
            },
        }
    }

    fn answered(&mut self, status: StatusCode, body: &Bytes) -> Verdict {
        match &self.state {
            UserinfoState::NeedCode => self.codes.minted(status, body),
            UserinfoState::Exchanging => match json(status, body).and_then(|v| check_code_answer(&v, &mut self.checked))
            {
                Ok(access) => {
                    let bearer = HeaderValue::from_str(&format!("Bearer {access}")).expect("a token is a header value");
                    self.state = UserinfoState::Ready(bearer);
                    Verdict::Skip
                }
                Err(verdict) => verdict,
            },
            UserinfoState::Ready(_) => match json(status, body) {
                Ok(v) if v["sub"].is_string() && v["email"].is_string() => Verdict::Ok,
                Ok(_) => Verdict::Error("userinfo without sub and email".to_owned()),
                Err(verdict) => {
                    // A token the server does not know (another worker after a reconnect): start over.
                    self.state = UserinfoState::NeedCode;
                    verdict
                }
            },
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
}
