//! A real HTTP receiver on loopback for outbound calls (the SMS provider, later webhooks): it records every
//! request (method, path, headers, body), answers with a configured success, can be told to fail the next
//! N requests, and can be awaited.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

/// One request as the sink received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path and query, e.g. `/2010-04-01/Accounts/AC…/Messages.json`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    /// What the sink answered.
    pub answered: u16,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body decoded as `application/x-www-form-urlencoded`, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    /// The single value of form field `name`.
    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// An answer: status, content type `application/json`, body, and any extra headers.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

struct Plan {
    success: Answer,
    failures_left: usize,
    failure: Answer,
}

struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    plan: Mutex<Plan>,
    arrived: Notify,
}

pub struct HttpSink {
    port: u16,
    shared: Arc<Shared>,
    _shutdown: oneshot::Sender<()>,
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut plan = shared.plan.lock().unwrap_or_else(|e| e.into_inner());
        if plan.failures_left > 0 {
            plan.failures_left -= 1;
            plan.failure.clone()
        } else {
            plan.success.clone()
        }
    };
    let path = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    shared.requests.lock().unwrap_or_else(|e| e.into_inner()).push(RecordedRequest {
        method: method.to_string(),
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered: answer.status,
    });
    shared.arrived.notify_waiters();
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(axum::http::header::CONTENT_TYPE, "application/json")], answer.body).into_response();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) =
            (axum::http::HeaderName::from_bytes(name.as_bytes()), axum::http::HeaderValue::from_str(&value))
        {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

impl HttpSink {
    /// Starts a sink on 127.0.0.1 that answers every request with `success` until told otherwise.
    pub async fn start(success: Answer) -> anyhow::Result<HttpSink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            requests: Mutex::default(),
            plan: Mutex::new(Plan {
                success,
                failures_left: 0,
                failure: Answer { status: 500, body: "{}".to_owned(), headers: Vec::new() },
            }),
            arrived: Notify::new(),
        });
        let app = axum::Router::new().fallback(record).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(HttpSink { port, shared, _shutdown: tx })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on, answer with `success` (for answers that must name the sink's own address).
    pub fn answer_with(&self, success: Answer) {
        self.shared.plan.lock().unwrap_or_else(|e| e.into_inner()).success = success;
    }

    /// The next `n` requests get `failure` instead of the success answer.
    pub fn fail_next(&self, n: usize, failure: Answer) {
        let mut plan = self.shared.plan.lock().unwrap_or_else(|e| e.into_inner());
        plan.failures_left = n;
        plan.failure = failure;
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for the first request.
    pub async fn wait_for_request(&self, timeout: Duration) -> anyhow::Result<RecordedRequest> {
        Ok(self.wait_for_requests(1, timeout).await?.remove(0))
    }

    /// Waits until at least `n` requests have arrived, then returns all of them.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<RecordedRequest>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registering before looking means a request landing in between still wakes us.
            let notified = self.shared.arrived.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let requests = self.requests();
            if requests.len() >= n {
                return Ok(requests);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                anyhow::bail!(
                    "the HTTP sink got {} request(s) within {timeout:?}, expected {n}",
                    self.requests().len()
                );
            }
        }
    }
}
