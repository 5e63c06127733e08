//! Webhook delivery: a receiver in this process (hyper, answering 200) gets the deliveries of `user.updated`
//! events that PATCH requests cause, fanned out to several endpoints. Two scenarios: a paced one for the
//! enqueue→delivered latency (event `created_at` to receipt here), and a saturating one for deliveries/s.

mod receiver;

use crate::Options;
use crate::load::{self, Worker, bearer, json_bytes, request};
use crate::report::ms;
use crate::server::Server;
use anyhow::{Context, bail};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Request};
use receiver::{Arrival, Receiver};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub const DELIVERIES_TARGET: f64 = 2000.0;
pub const P99_TARGET: Duration = Duration::from_millis(100);
/// Endpoints subscribed to the event: each event is that many deliveries.
const ENDPOINTS: usize = 4;
/// The paced scenario offers half the throughput target.
const PACED_DELIVERIES_PER_SEC: f64 = DELIVERIES_TARGET / 2.0;
/// Closed-loop producers in the saturating scenario (one user each, so no row is contended).
const PRODUCERS: usize = 16;
/// The most the backlog may take to drain before the run counts the missing deliveries as errors.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
const PASSWORD: &str = "SecureP@ss123";

/// Sorted latencies, nearest-rank percentiles.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub struct Paced {
    pub offered_per_sec: f64,
    pub deliveries: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

pub struct Saturated {
    pub producers: usize,
    pub events_per_sec: f64,
    /// Deliveries that arrived inside the measured window, per second.
    pub deliveries_per_sec: f64,
    /// Deliveries still to arrive when the producers stopped.
    pub backlog: usize,
    pub drain: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

pub struct WebhookResult {
    pub name: &'static str,
    pub paced: Paced,
    pub saturated: Saturated,
    pub errors: u64,
}

impl WebhookResult {
    /// The delivery rate the target is judged on: how fast the worker empties a backlog once the producers
    /// stop (while they run, they compete with delivery for the database and the 2 cores, a figure shown
    /// next to it). Without a backlog, delivery kept up and the rate inside the window is the figure.
    pub fn deliveries_per_sec(&self) -> f64 {
        let s = &self.saturated;
        if s.backlog == 0 || s.drain.is_zero() {
            return s.deliveries_per_sec;
        }
        s.backlog as f64 / s.drain.as_secs_f64()
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    bearer: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = client.request(method, &url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| url.clone())?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

struct Setup {
    base: String,
    api_key: String,
    user_paths: Vec<&'static str>,
}

async fn setup(server: &Server, receiver: &Receiver) -> anyhow::Result<Setup> {
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let org = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/organizations"),
        None,
        Some(json!({"name": "Webhook Bench", "owner_email": "owner@hooks.example.com", "owner_password": PASSWORD})),
    )
    .await?;
    let api_key = org.pointer("/organization/api_key").and_then(Value::as_str).context("no api_key")?.to_owned();
    for i in 0..ENDPOINTS {
        let url = format!("http://{}/hook{i}", receiver.addr);
        let body = json!({"url": url, "events": ["user.updated"]});
        call(&client, reqwest::Method::POST, format!("{base}/api/v1/webhooks"), Some(&api_key), Some(body)).await?;
    }
    let mut user_paths = Vec::new();
    for i in 0..PRODUCERS {
        let body = json!({"email": format!("hooks{i}@bench.example.com"), "password": PASSWORD});
        let r =
            call(&client, reqwest::Method::POST, format!("{base}/api/v1/signup"), Some(&api_key), Some(body)).await?;
        let id = r.pointer("/user/id").and_then(Value::as_str).context("no user id")?;
        // The load generator's requests take a static path; a handful of leaked strings per run.
        user_paths.push(&*Box::leak(format!("/api/v1/users/{id}").into_boxed_str()));
    }
    Ok(Setup { base, api_key, user_paths })
}

async fn event_total(setup: &Setup) -> anyhow::Result<u64> {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/events?type=user.updated&per_page=1", setup.base);
    let r = call(&client, reqwest::Method::GET, url, Some(&setup.api_key), None).await?;
    r["total"].as_u64().context("no total in the events list")
}

/// Renames its user: one `user.updated` event per request.
struct Rename {
    path: &'static str,
    api_key: HeaderValue,
    body: Bytes,
}

impl Worker for Rename {
    fn request(&mut self) -> Request<Full<Bytes>> {
        request(Method::PATCH, self.path, Some(&self.api_key), Some(&self.body))
    }
}

/// Events at a fixed rate (open loop: a slow answer does not delay the next event), for `warmup + measure`;
/// latency over the events created inside the measured window.
async fn paced(setup: &Setup, receiver: &Receiver, options: &Options) -> anyhow::Result<(Paced, u64)> {
    let before = event_total(setup).await?;
    let events_per_sec = PACED_DELIVERIES_PER_SEC / ENDPOINTS as f64;
    let client = reqwest::Client::new();
    let start = OffsetDateTime::now_utc();
    let measure_from = start + options.warmup;
    let end = Instant::now() + options.warmup + options.measure;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / events_per_sec));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = tokio::task::JoinSet::new();
    let mut n = 0usize;
    while Instant::now() < end {
        tick.tick().await;
        let url = format!("{}{}", setup.base, setup.user_paths[n % setup.user_paths.len()]);
        let (client, key) = (client.clone(), setup.api_key.clone());
        requests.spawn(async move {
            call(&client, reqwest::Method::PATCH, url, Some(&key), Some(json!({"name": "Paced"}))).await.map(|_| ())
        });
        n += 1;
    }
    let mut errors = 0;
    while let Some(done) = requests.join_next().await {
        if done?.is_err() {
            errors += 1;
        }
    }
    let events = event_total(setup).await? - before;
    receiver.drain(events as usize * ENDPOINTS).await?;
    let received = receiver.reset();
    let mut latencies: Vec<Duration> =
        received.arrivals.iter().filter(|a| a.created_at >= measure_from).map(|a| a.latency).collect();
    latencies.sort_unstable();
    let paced = Paced {
        offered_per_sec: PACED_DELIVERIES_PER_SEC,
        deliveries: latencies.len(),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: latencies.last().copied().unwrap_or_default(),
    };
    Ok((paced, errors + received.malformed))
}

/// Closed-loop producers as fast as the server answers; deliveries counted as they arrive.
async fn saturated(
    server: &Server,
    setup: &Setup,
    receiver: &Receiver,
    options: &Options,
) -> anyhow::Result<(Saturated, u64)> {
    let before = event_total(setup).await?;
    let workers: Vec<Rename> = setup
        .user_paths
        .iter()
        .map(|path| Rename { path, api_key: bearer(&setup.api_key), body: json_bytes(&json!({"name": "Saturated"})) })
        .collect();
    let started = Instant::now();
    let outcome = load::run(server.addr, workers, options.warmup, options.measure, || server.cpu_time()).await?;
    let (measure_from, end) = (started + options.warmup, started + options.warmup + options.measure);
    let events = event_total(setup).await? - before;
    let expected = events as usize * ENDPOINTS;
    let backlog = expected.saturating_sub(receiver.unique());
    let drain = receiver.drain(expected).await?;
    let received = receiver.reset();
    let in_window: Vec<&Arrival> =
        received.arrivals.iter().filter(|a| a.received >= measure_from && a.received <= end).collect();
    let mut latencies: Vec<Duration> = in_window.iter().map(|a| a.latency).collect();
    latencies.sort_unstable();
    let saturated = Saturated {
        producers: setup.user_paths.len(),
        events_per_sec: outcome.rps(),
        deliveries_per_sec: in_window.len() as f64 / options.measure.as_secs_f64(),
        backlog,
        drain,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
    };
    Ok((saturated, outcome.error_count() + received.malformed))
}

pub async fn bench_webhooks(
    options: &Options,
    name: &'static str,
    database_url: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<WebhookResult> {
    eprintln!("\n== {name}: webhooks ==");
    let receiver = Receiver::start().await?;
    let mut env = options.server_env.clone();
    // The receiver is a local http listener: the explicit development settings allow it.
    env.push(("ZAUTHY_WEBHOOKS__ALLOW_HTTP".to_owned(), "true".to_owned()));
    env.push(("ZAUTHY_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES".to_owned(), "true".to_owned()));
    let (server, _) = Server::start(&options.zauthy, data_dir, database_url, &env, "webhooks").await?;
    let run = async {
        let setup = setup(&server, &receiver).await?;
        eprint!("  paced: {PACED_DELIVERIES_PER_SEC:.0} deliveries/s offered ({ENDPOINTS} endpoints)… ");
        let (paced, paced_errors) = paced(&setup, &receiver, options).await?;
        eprintln!("p50 {} p99 {}", ms(paced.p50), ms(paced.p99));
        eprint!("  saturated: {PRODUCERS} producers… ");
        let (saturated, saturated_errors) = saturated(&server, &setup, &receiver, options).await?;
        eprintln!("{:.0} deliveries/s", saturated.deliveries_per_sec);
        anyhow::Ok(WebhookResult { name, paced, saturated, errors: paced_errors + saturated_errors })
    }
    .await;
    let log = server.log_text();
    server.stop().await?;
    let result = run.map_err(|e| e.context(format!("{name} webhook run failed; server log:\n{log}")))?;
    print(&result);
    Ok(result)
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn print(r: &WebhookResult) {
    let (p, s) = (&r.paced, &r.saturated);
    println!("\n### {}: webhook delivery ({ENDPOINTS} endpoints per event, receiver in the bench process)\n", r.name);
    println!(
        "  paced     {:>5.0} deliveries/s offered: {} measured, enqueue→delivered p50 {}, p99 {}, max {}",
        p.offered_per_sec,
        p.deliveries,
        ms(p.p50),
        ms(p.p99),
        ms(p.max)
    );
    println!(
        "  saturated {:>2} producers: {:.0} events/s, {:.0} deliveries/s in the window (p50 {}, p99 {}),",
        s.producers,
        s.events_per_sec,
        s.deliveries_per_sec,
        ms(s.p50),
        ms(s.p99)
    );
    println!("            backlog {} when the producers stopped, drained in {}", s.backlog, ms(s.drain));
    println!("  errors: {}\n", r.errors);
    println!("  {:<36} {:>12}   {:<10} result", "figure", "value", "target");
    let rate = r.deliveries_per_sec();
    println!(
        "  {:<36} {:>12}   {:<10} {}",
        "deliveries/s (draining a backlog)",
        format!("{rate:.0}"),
        "≥ 2000",
        verdict(rate >= DELIVERIES_TARGET)
    );
    println!("  {:<36} {:>12}", "deliveries/s while producers write", format!("{:.0}", s.deliveries_per_sec));
    println!("  {:<36} {:>12}", "enqueue→delivered p50 (paced)", ms(p.p50));
    println!(
        "  {:<36} {:>12}   {:<10} {}",
        "enqueue→delivered p99 (paced)",
        ms(p.p99),
        "≤ 100 ms",
        verdict(p.p99 <= P99_TARGET)
    );
}

pub fn print_summary(results: &[WebhookResult]) {
    if results.is_empty() {
        return;
    }
    let mut line = format!("  {:<36}", "webhook deliveries/s (backlog drain)");
    for r in results {
        let rate = r.deliveries_per_sec();
        line += &format!(" {:>22}", format!("{rate:.0} {}", verdict(rate >= DELIVERIES_TARGET)));
    }
    println!("{line}   ≥ 2000");
    let mut line = format!("  {:<36}", "webhook enqueue→delivered p50 / p99");
    for r in results {
        let cell = format!("{} / {} {}", ms(r.paced.p50), ms(r.paced.p99), verdict(r.paced.p99 <= P99_TARGET));
        line += &format!(" {cell:>22}");
    }
    println!("{line}   p99 ≤ 100 ms");
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    println!("  {:<36} {errors}", "webhook errors (must be 0)");
}
