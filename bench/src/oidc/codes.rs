//! The code grant's workers: minting authorization codes (oidc-provider's bench endpoint, or zauthy's hosted
//! authorize + consent pages with a signed-in browser), exchanging them, and userinfo with the access token got
//! that way. Minting requests are skipped (not counted) and tallied in `Endpoint::mint_requests`.

use super::workers::{CodeSource, Endpoint, form_post, form_value, json, jwt_alg};
use crate::load::{Verdict, Worker};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

fn get(uri: Uri, header_name: header::HeaderName, value: &HeaderValue) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::HOST, "localhost")
        .header(header_name, value.clone())
        .body(Full::new(Bytes::new()))
        .expect("a well-formed request")
}

fn location(status: StatusCode, headers: &HeaderMap) -> Option<&str> {
    if !status.is_redirection() {
        return None;
    }
    headers.get(header::LOCATION)?.to_str().ok()
}

/// The value of `name` in a URL's query.
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?.1.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// The codes of one connection and how it mints more.
pub struct Codes {
    queue: VecDeque<String>,
    /// oidc-provider: the first account of the next batch (each code another user's, as after N logins).
    next_account: usize,
    batch: usize,
    /// zauthy: this connection's browser cookies, and the consent page of the authorization under way.
    cookie: Option<HeaderValue>,
    consent: Option<Uri>,
}

impl Codes {
    /// Worker `index` of a scenario, starting with `initial` codes.
    pub fn new(endpoint: &Endpoint, index: usize, batch: usize, initial: Vec<String>) -> Self {
        let cookie = match &endpoint.codes {
            Some(CodeSource::Hosted { cookies, .. }) => Some(cookies[index % cookies.len()].clone()),
            _ => None,
        };
        Self { queue: initial.into(), next_account: index * 10_000_000, batch, cookie, consent: None }
    }

    pub fn pop(&mut self) -> Option<String> {
        self.queue.pop_front()
    }

    pub fn mint_request(&mut self, endpoint: &Endpoint) -> Request<Full<Bytes>> {
        endpoint.mint_requests.fetch_add(1, Ordering::Relaxed);
        match (&endpoint.codes, &self.cookie, &self.consent) {
            (Some(CodeSource::Endpoint { uri, bearer }), _, _) => {
                let uri = format!("{uri}&n={}&first={}", self.batch, self.next_account);
                self.next_account += self.batch;
                form_post(&uri.parse().expect("a valid uri"), bearer, Bytes::new())
            }
            (Some(CodeSource::Hosted { authorize, .. }), Some(cookie), None) => {
                get(authorize.clone(), header::COOKIE, cookie)
            }
            (Some(CodeSource::Hosted { .. }), Some(cookie), Some(consent)) => {
                get(consent.clone(), header::COOKIE, cookie)
            }
            _ => unreachable!("the code scenarios run only where codes can be minted"),
        }
    }

    /// The answer to `mint_request`: `Skip` while minting goes well, or until a code is in the queue.
    pub fn minted(&mut self, status: StatusCode, headers: &HeaderMap, body: &Bytes) -> Verdict {
        if self.cookie.is_none() {
            let v = match json(status, body) {
                Ok(v) => v,
                Err(verdict) => return verdict,
            };
            return match v["codes"].as_array() {
                Some(codes) if !codes.is_empty() => {
                    self.queue.extend(codes.iter().filter_map(|c| c.as_str().map(str::to_owned)));
                    Verdict::Skip
                }
                _ => Verdict::Fatal("no codes minted".to_owned()),
            };
        }
        let Some(to) = location(status, headers) else {
            self.consent = None;
            return Verdict::Fatal(format!("minting a code: {status} without a redirect"));
        };
        match self.consent.take() {
            None if to.contains("/consent?request=") => match to.parse() {
                Ok(uri) => {
                    self.consent = Some(uri);
                    Verdict::Skip
                }
                Err(_) => Verdict::Fatal(format!("unusable consent location {to:?}")),
            },
            Some(_) => match query_param(to, "code") {
                Some(code) => {
                    self.queue.push_back(code.to_owned());
                    Verdict::Skip
                }
                None => Verdict::Fatal(format!("the consent step did not end with a code: {to}")),
            },
            None => Verdict::Fatal(format!("authorize did not lead to consent: {to}")),
        }
    }

    pub fn exchange_request(endpoint: &Endpoint, code: &str) -> Request<Full<Bytes>> {
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            form_value(code),
            form_value(&endpoint.redirect_uri),
            form_value(&endpoint.code_verifier)
        );
        form_post(&endpoint.token, &endpoint.basic, Bytes::from(body))
    }
}

/// The code grant's answer must carry an ID token of the configured algorithm (`id_token_alg`), an access token
/// and a refresh token.
fn check_code_answer(v: &Value, checked: &mut bool) -> Result<String, Verdict> {
    let (Some(access), Some(id_token), Some(_)) =
        (v["access_token"].as_str(), v["id_token"].as_str(), v["refresh_token"].as_str())
    else {
        return Err(Verdict::Error("code answer without access, ID and refresh tokens".to_owned()));
    };
    if !*checked {
        let wanted = super::id_token_alg();
        match jwt_alg(id_token) {
            Some(alg) if alg == wanted => *checked = true,
            other => return Err(Verdict::Fatal(format!("ID token is not {wanted} ({other:?})"))),
        }
    }
    Ok(access.to_owned())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    Mint,
    Exchange,
    Userinfo,
}

/// Mints codes into a shared pool (the phase before the code exchange): through zauthy's hosted pages, each code
/// one answer; or through oidc-provider's bench endpoint, `batch` codes per answer.
pub struct PoolMint {
    endpoint: Arc<Endpoint>,
    codes: Codes,
    pool: Arc<Mutex<Vec<String>>>,
}

impl PoolMint {
    pub fn new(endpoint: Arc<Endpoint>, index: usize, batch: usize, pool: Arc<Mutex<Vec<String>>>) -> Self {
        let codes = Codes::new(&endpoint, index, batch, Vec::new());
        Self { endpoint, codes, pool }
    }
}

impl Worker for PoolMint {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let endpoint = Arc::clone(&self.endpoint);
        self.codes.mint_request(&endpoint)
    }

    fn answered_with_headers(&mut self, status: StatusCode, headers: &HeaderMap, body: &Bytes) -> Verdict {
        match self.codes.minted(status, headers, body) {
            Verdict::Skip => {
                let mut pool = self.pool.lock().expect("pool lock");
                let before = pool.len();
                pool.extend(std::iter::from_fn(|| self.codes.pop()));
                // The hosted authorize step has no code yet: the consent step that follows has.
                if pool.len() > before { Verdict::Ok } else { Verdict::Skip }
            }
            other => other,
        }
    }
}

/// `grant_type=authorization_code` with PKCE (S256), each code once; more are minted on this connection when
/// the ones it was given run out.
pub struct CodeExchange {
    endpoint: Arc<Endpoint>,
    codes: Codes,
    sent: Sent,
    checked: bool,
}

impl CodeExchange {
    pub fn new(endpoint: Arc<Endpoint>, index: usize, batch: usize, initial: Vec<String>) -> Self {
        let codes = Codes::new(&endpoint, index, batch, initial);
        Self { endpoint, codes, sent: Sent::Mint, checked: false }
    }
}

impl Worker for CodeExchange {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let endpoint = Arc::clone(&self.endpoint);
        // A hosted mint under way finishes before the next exchange.
        let code = if self.codes.consent.is_some() { None } else { self.codes.pop() };
        match code {
            Some(code) => {
                self.sent = Sent::Exchange;
                Codes::exchange_request(&endpoint, &code)
            }
            None => {
                self.sent = Sent::Mint;
                self.codes.mint_request(&endpoint)
            }
        }
    }

    fn answered_with_headers(&mut self, status: StatusCode, headers: &HeaderMap, body: &Bytes) -> Verdict {
        if self.sent == Sent::Mint {
            return self.codes.minted(status, headers, body);
        }
        match json(status, body).and_then(|v| check_code_answer(&v, &mut self.checked)) {
            Ok(_) => Verdict::Ok,
            Err(verdict) => verdict,
        }
    }
}

/// `GET userinfo` with the access token of one user, got on this connection through the code grant.
pub struct Userinfo {
    endpoint: Arc<Endpoint>,
    codes: Codes,
    bearer: Option<HeaderValue>,
    sent: Sent,
    checked: bool,
}

impl Userinfo {
    pub fn new(endpoint: Arc<Endpoint>, index: usize) -> Self {
        // A distinct account per connection (oidc-provider: accounts of another range than the exchange's).
        let codes = Codes::new(&endpoint, 1_000 + index, 1, Vec::new());
        Self { endpoint, codes, bearer: None, sent: Sent::Mint, checked: false }
    }
}

impl Worker for Userinfo {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let endpoint = Arc::clone(&self.endpoint);
        if let Some(bearer) = &self.bearer {
            self.sent = Sent::Userinfo;
            return get(endpoint.userinfo.clone(), header::AUTHORIZATION, bearer);
        }
        let code = if self.codes.consent.is_some() { None } else { self.codes.pop() };
        match code {
            Some(code) => {
                self.sent = Sent::Exchange;
                Codes::exchange_request(&endpoint, &code)
            }
            None => {
                self.sent = Sent::Mint;
                self.codes.mint_request(&endpoint)
            }
        }
    }

    fn answered_with_headers(&mut self, status: StatusCode, headers: &HeaderMap, body: &Bytes) -> Verdict {
        match self.sent {
            Sent::Mint => self.codes.minted(status, headers, body),
            Sent::Exchange => match json(status, body).and_then(|v| check_code_answer(&v, &mut self.checked)) {
                Ok(access) => {
                    let bearer = HeaderValue::from_str(&format!("Bearer {access}")).expect("a token is a header value");
                    self.bearer = Some(bearer);
                    Verdict::Skip
                }
                Err(verdict) => verdict,
            },
            Sent::Userinfo => match json(status, body) {
                Ok(v) if v["sub"].is_string() && v["email"].is_string() => Verdict::Ok,
                Ok(_) => Verdict::Error("userinfo without sub and email".to_owned()),
                Err(verdict) => {
                    // A token the server does not know (another worker after a reconnect): start over.
                    self.bearer = None;
                    verdict
                }
            },
        }
    }
}
