//! The receiver the deliveries go to: a hyper HTTP/1.1 server on loopback in the bench process that answers
//! `200 ok` at once and records, per delivery, the latency from the event's `created_at` to its receipt.

use super::DRAIN_LIMIT;
use anyhow::bail;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub struct Arrival {
    /// Event `created_at` to receipt here; both from this machine's clock.
    pub latency: Duration,
    pub created_at: OffsetDateTime,
    pub received: Instant,
}

#[derive(Default)]
pub struct Received {
    pub arrivals: Vec<Arrival>,
    /// (endpoint, event id): a retry or duplicate counts once.
    unique: HashSet<(String, String)>,
    pub malformed: u64,
}

/// The in-process receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Received>>,
}

fn lock(m: &Mutex<Received>) -> std::sync::MutexGuard<'_, Received> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn receive(
    received: Arc<Mutex<Received>>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await?.to_bytes();
    let now = SystemTime::now();
    let at = Instant::now();
    let parsed = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        let created = OffsetDateTime::parse(v["created_at"].as_str()?, &Rfc3339).ok()?;
        Some((v["id"].as_str()?.to_owned(), created))
    });
    let mut r = lock(&received);
    match parsed {
        Some((id, created_at)) => {
            let now = OffsetDateTime::from(now);
            let latency = Duration::try_from(now - created_at).unwrap_or_default();
            r.arrivals.push(Arrival { latency, created_at, received: at });
            r.unique.insert((path, id));
        }
        None => r.malformed += 1,
    }
    drop(r);
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let shared = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| receive(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver { addr, received })
    }

    pub fn unique(&self) -> usize {
        lock(&self.received).unique.len()
    }

    /// Forgets everything received so far (between scenarios, after a drain).
    pub fn reset(&self) -> Received {
        std::mem::take(&mut *lock(&self.received))
    }

    /// Waits until `expected` distinct deliveries have arrived; how long that took, or an error after
    /// `DRAIN_LIMIT`.
    pub async fn drain(&self, expected: usize) -> anyhow::Result<Duration> {
        let started = Instant::now();
        while self.unique() < expected {
            if started.elapsed() > DRAIN_LIMIT {
                bail!("only {} of {expected} deliveries arrived within {DRAIN_LIMIT:?}", self.unique());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(started.elapsed())
    }
}
