//! A closed-loop load generator: N workers, each on its own keep-alive HTTP/1.1 connection, sending the next
//! request as soon as the previous answer is read. Every latency is recorded.

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How a worker judges an answer.
pub enum Verdict {
    Ok,
    /// Counted as an error of this kind; the worker goes on.
    Error(String),
    /// Counted as an error of this kind; the worker cannot go on (e.g. its session is gone).
    Fatal(String),
    /// Neither an answer nor an error: a preparatory request the worker makes on its own connection (e.g. minting
    /// the token it then introspects on a server whose state is per process).
    Skip,
}

/// What one worker sends, and what it learns from each answer.
pub trait Worker: Send + 'static {
    fn request(&mut self) -> Request<Full<Bytes>>;
    /// By default any 2xx is a success.
    fn answered(&mut self, status: StatusCode, _body: &Bytes) -> Verdict {
        if status.is_success() { Verdict::Ok } else { Verdict::Error(status.as_u16().to_string()) }
    }
    /// For workers that read headers too (e.g. a redirect's `Location`); by default only status and body.
    fn answered_with_headers(&mut self, status: StatusCode, _headers: &HeaderMap, body: &Bytes) -> Verdict {
        self.answered(status, body)
    }
}

/// A request from parts the worker prepared once (header value, serialized body), so that building it per
/// request costs the load generator next to nothing.
pub fn request(
    method: Method,
    path: &'static str,
    authorization: Option<&HeaderValue>,
    json_body: Option<&Bytes>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path).header(header::HOST, "localhost");
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value.clone());
    }
    let body = match json_body {
        Some(bytes) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            bytes.clone()
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(body)).expect("a well-formed request")
}

pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is a valid header value")
}

pub fn json_bytes(value: &serde_json::Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// The measured outcome of one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub concurrency: usize,
    pub measured: Duration,
    /// Successful answers that arrived inside the measured window (after warm-up).
    pub completed: u64,
    /// Failed answers (non-2xx, or a 2xx the worker rejects) and transport failures, by kind, over the whole run (warm-up included).
    pub errors: BTreeMap<String, u64>,
    /// One example body per error kind.
    pub error_examples: BTreeMap<String, String>,
    /// CPU time the server process and this process (the load generator) spent in the measured window.
    pub server_cpu: Duration,
    pub client_cpu: Duration,
    /// Percent of the machine's CPU time in use by anything (server, load generator, PostgreSQL, others).
    pub host_busy: f64,
    /// Percent of the machine's CPU time the hypervisor gave to other guests during the window.
    pub steal: f64,
    /// Sorted latencies of the measured answers.
    latencies: Vec<Duration>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.completed as f64 / self.measured.as_secs_f64()
    }

    /// Server CPU time per successful answer.
    pub fn server_cpu_per_request(&self) -> Duration {
        self.server_cpu.checked_div(self.completed.max(1) as u32).unwrap_or_default()
    }

    pub fn client_cpu_per_request(&self) -> Duration {
        self.client_cpu.checked_div(self.completed.max(1) as u32).unwrap_or_default()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        // Nearest rank: the smallest latency with at least p of the samples at or below it.
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

struct WorkerResult {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
    error_examples: BTreeMap<String, String>,
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn run_worker(
    addr: SocketAddr,
    mut worker: impl Worker,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<WorkerResult> {
    let mut sender = connect(addr).await?;
    let mut result = WorkerResult {
        latencies: Vec::with_capacity(1 << 16),
        errors: BTreeMap::new(),
        error_examples: BTreeMap::new(),
    };
    let fail = |result: &mut WorkerResult, kind: String, example: String| {
        result.error_examples.entry(kind.clone()).or_insert(example);
        *result.errors.entry(kind).or_insert(0) += 1;
    };
    while Instant::now() < end {
        let request = worker.request();
        let sent = Instant::now();
        let answer = async {
            sender.ready().await?;
            let (parts, body) = sender.send_request(request).await?.into_parts();
            let body = body.collect().await?.to_bytes();
            anyhow::Ok((parts, body))
        }
        .await;
        let done = Instant::now();
        let (parts, body) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                fail(&mut result, "transport".to_owned(), e.to_string());
                // The connection is unusable after a transport error: open another.
                sender = connect(addr).await?;
                continue;
            }
        };
        match worker.answered_with_headers(parts.status, &parts.headers, &body) {
            Verdict::Ok => {
                if done >= measure_from && done <= end {
                    result.latencies.push(done - sent);
                }
            }
            Verdict::Error(kind) => fail(&mut result, kind, String::from_utf8_lossy(&body).into_owned()),
            Verdict::Skip => {}
            Verdict::Fatal(kind) => {
                fail(&mut result, kind, String::from_utf8_lossy(&body).into_owned());
                break;
            }
        }
    }
    Ok(result)
}

/// Runs `workers` concurrently for `warmup + measure`; the successful answers that arrive inside the measured
/// window count towards throughput and latency (counting arrivals, not sends, keeps the rate unbiased).
/// `server_cpu` reads the server's CPU time; it and this process's are sampled at both ends of the window.
pub async fn run<W: Worker>(
    addr: SocketAddr,
    workers: Vec<W>,
    warmup: Duration,
    measure: Duration,
    server_cpu: impl Fn() -> anyhow::Result<Duration>,
) -> anyhow::Result<Outcome> {
    let concurrency = workers.len();
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let handles: Vec<_> = workers.into_iter().map(|w| tokio::spawn(run_worker(addr, w, measure_from, end))).collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let (server_before, client_before) = (server_cpu()?, crate::server::cpu_time_of("self")?);
    let host_before = crate::server::host_ticks()?;
    tokio::time::sleep_until(end.into()).await;
    let (server_after, client_after) = (server_cpu()?, crate::server::cpu_time_of("self")?);
    let (host_busy, steal) = crate::server::host_usage(host_before, crate::server::host_ticks()?);
    let mut outcome = Outcome {
        concurrency,
        measured: measure,
        server_cpu: server_after.saturating_sub(server_before),
        client_cpu: client_after.saturating_sub(client_before),
        host_busy,
        steal,
        completed: 0,
        errors: BTreeMap::new(),
        error_examples: BTreeMap::new(),
        latencies: Vec::new(),
    };
    for handle in handles {
        let result = handle.await??;
        outcome.latencies.extend(result.latencies);
        for (kind, n) in result.errors {
            *outcome.errors.entry(kind).or_insert(0) += n;
        }
        for (kind, example) in result.error_examples {
            outcome.error_examples.entry(kind).or_insert(example);
        }
    }
    outcome.completed = outcome.latencies.len() as u64;
    outcome.latencies.sort_unstable();
    Ok(outcome)
}
