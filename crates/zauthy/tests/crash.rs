//! Crash safety of webhook delivery, on the real binary: the server is SIGKILLed in the middle of a burst of
//! events while deliveries are in flight, restarted on the same data, and every event that committed is then
//! delivered at least once, duplicates carrying the same id and body. Runs on SQLite, or on PostgreSQL when
//! `ZAUTHY_TEST_PG_URL` is set.
#![cfg(unix)]

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// Signups in the burst, and how many run at once.
const BURST: usize = 200;
const CONCURRENCY: usize = 8;
/// The receiver acknowledges this many deliveries, then holds every later one unanswered until released.
const ACKNOWLEDGED_BEFORE_KILL: usize = 20;
/// How long the restarted server may take to deliver everything: deliveries claimed by the killed process
/// wait out their lease (30 s) first.
const DELIVERY_LIMIT: Duration = Duration::from_secs(90);

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        // The receiver is a local http listener: the explicit development settings allow it.
        ("ZAUTHY_WEBHOOKS__ALLOW_HTTP", "true"),
        ("ZAUTHY_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES", "true"),
        ("ZAUTHY_RATE_LIMITS__FREE__AUTH", "1000000"),
        ("ZAUTHY_RATE_LIMITS__FREE__GENERAL", "1000000"),
        ("ZAUTHY_RATE_LIMITS__UNAUTHENTICATED_PER_IP", "1000000"),
    ]
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    arrived: Instant,
    /// The `webhook-id` header: the event id receivers de-duplicate on.
    id: String,
    signature: String,
    body: String,
    /// Held unanswered: the sender never learned that it arrived.
    held: bool,
}

struct ReceiverState {
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    released: watch::Sender<bool>,
}

/// A real HTTP listener on loopback that records every delivery. It answers 200 to the first
/// `ACKNOWLEDGED_BEFORE_KILL`, then holds the answers back until `release`, so that at the kill some
/// deliveries have reached it without the server knowing.
struct Receiver {
    port: u16,
    state: Arc<ReceiverState>,
}

async fn receive(State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> &'static str {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let held = {
        let mut received = state.received.lock().unwrap_or_else(|e| e.into_inner());
        let held = received.len() >= ACKNOWLEDGED_BEFORE_KILL && !*state.released.borrow();
        received.push(Received {
            arrived: Instant::now(),
            id: header("webhook-id"),
            signature: header("x-webhook-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
            held,
        });
        held
    };
    state.arrived.notify_waiters();
    if held {
        let _ = state.released.subscribe().wait_for(|released| *released).await;
    }
    "ok"
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let state = Arc::new(ReceiverState {
            received: Mutex::default(),
            arrived: Notify::new(),
            released: watch::channel(false).0,
        });
        let app = axum::Router::new().fallback(receive).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until at least `n` requests have arrived.
    async fn wait_for(&self, n: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.state.arrived.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let got = self.received().len();
            if got >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("the receiver got {got} deliveries within {limit:?}, expected {n}");
            }
        }
    }

    /// From now on every delivery is answered at once, held ones included.
    fn release(&self) {
        self.state.released.send_replace(true);
    }
}

/// Every `user.signup` event in the organization's log, by id, through the paginated events API.
async fn signup_events(server: &Server, api_key: &str) -> BTreeMap<String, Value> {
    let mut events = BTreeMap::new();
    for page in 1.. {
        let r = server.get(&format!("/api/v1/events?type=user.signup&per_page=100&page={page}"), api_key).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let batch = r.body["events"].as_array().expect("an events array").clone();
        if batch.is_empty() {
            break;
        }
        for e in batch {
            events.insert(e["id"].as_str().expect("an event id").to_owned(), e);
        }
    }
    events
}

/// A signup that got its answer before the kill.
struct Signed {
    user_id: String,
}

/// Runs `BURST` signups, `CONCURRENCY` at a time, until done or the server stops answering.
fn start_burst(base: String, api_key: String) -> (tokio::task::JoinSet<()>, Arc<Mutex<Vec<Signed>>>) {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let signed = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, base, api_key, next, signed) =
            (client.clone(), base.clone(), api_key.clone(), next.clone(), signed.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= BURST {
                    return;
                }
                let body = json!({"email": format!("burst{i}@example.com"), "password": PASSWORD});
                let sent = client.post(format!("{base}/api/v1/signup")).bearer_auth(&api_key).json(&body).send().await;
                // After the kill: the connection is refused or reset, and this worker stops.
                let Ok(response) = sent else { return };
                let status = response.status();
                let Ok(text) = response.text().await else { return };
                assert_eq!(status, 201, "signup {i} failed: {text}");
                let value: Value = serde_json::from_str(&text).expect("a JSON signup answer");
                let user_id = value["user"]["id"].as_str().expect("a user id").to_owned();
                signed.lock().unwrap_or_else(|e| e.into_inner()).push(Signed { user_id });
            }
        });
    }
    (tasks, signed)
}

#[tokio::test]
async fn a_server_killed_mid_burst_delivers_every_committed_event_after_a_restart() {
    let install = Install::new().await;
    let env = settings();
    let receiver = Receiver::start().await;
    let server = install.serve(&env).await;
    let org = server.create_org().await;
    let hook = server
        .post("/api/v1/webhooks", Some(&org.api_key), &json!({"url": receiver.url(), "events": ["user.signup"]}))
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let secret = hook.str("/secret");
    // Events from before the endpoint existed (the owner's own signup) are not delivered to it.
    let before: BTreeSet<String> = signup_events(&server, &org.api_key).await.into_keys().collect();

    let (mut burst, signed) = start_burst(server.url(""), org.api_key.clone());
    receiver.wait_for(ACKNOWLEDGED_BEFORE_KILL + 1, Duration::from_secs(60)).await;
    server.kill().await;
    let killed_at = Instant::now();
    while let Some(done) = burst.join_next().await {
        done.expect("a burst worker panicked");
    }
    let signed_before_kill: Vec<String> =
        signed.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|s| s.user_id.clone()).collect();
    assert!(
        signed_before_kill.len() < BURST,
        "the kill came after the whole burst; it must interrupt it (all {BURST} signups answered)"
    );
    let held_at_kill: BTreeSet<String> = receiver.received().iter().filter(|r| r.held).map(|r| r.id.clone()).collect();
    assert!(!held_at_kill.is_empty(), "no delivery was in flight at the kill");

    receiver.release();
    let server = install.serve(&env).await;
    let events: BTreeMap<String, Value> =
        signup_events(&server, &org.api_key).await.into_iter().filter(|(id, _)| !before.contains(id)).collect();

    // Every signup answered 201 before the kill committed its event.
    let users_with_events: BTreeSet<&str> = events.values().filter_map(|e| e["data"]["user_id"].as_str()).collect();
    for user_id in &signed_before_kill {
        assert!(users_with_events.contains(user_id.as_str()), "the signup of {user_id} was answered but has no event");
    }

    // Every committed event is delivered and acknowledged: held deliveries do not count, the server never
    // learned they arrived. Bounded by the lease the killed process left on what it had claimed.
    let expected: BTreeSet<String> = events.keys().cloned().collect();
    let deadline = Instant::now() + DELIVERY_LIMIT;
    let received = loop {
        let received = receiver.received();
        let acknowledged: BTreeSet<String> = received.iter().filter(|r| !r.held).map(|r| r.id.clone()).collect();
        if expected.is_subset(&acknowledged) {
            break received;
        }
        let missing: Vec<_> = expected.difference(&acknowledged).collect();
        assert!(
            Instant::now() < deadline,
            "{} of {} committed events were never delivered, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let delivered: BTreeSet<String> = received.iter().map(|r| r.id.clone()).collect();
    assert_eq!(delivered, expected, "only committed events are delivered, and every one of them");

    // Deliveries that reached the receiver but were never acknowledged are sent again after the restart: a
    // worker that marked a delivery done before sending it would lose exactly these.
    for id in &held_at_kill {
        assert!(
            received.iter().any(|r| &r.id == id && r.arrived > killed_at),
            "{id} was in flight at the kill and was not delivered again"
        );
    }

    // Duplicates are the same event: same id, body and signature.
    let mut by_id: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for r in &received {
        by_id.entry(r.id.as_str()).or_default().push(r);
    }
    for (id, copies) in &by_id {
        let body: Value = serde_json::from_str(&copies[0].body).expect("a JSON body");
        assert_eq!(body["id"], *id, "the body's id is the webhook-id header");
        assert_eq!(body["event"], "user.signup");
        assert_eq!(body["data"], events[*id]["data"], "the body carries the recorded event's data");
        for copy in copies {
            assert_eq!(copy.body, copies[0].body, "a duplicate of {id} has a different body");
            assert_eq!(copy.signature, zauthy_core::webhooks::hex_signature(&secret, copy.body.as_bytes()));
        }
    }
    let duplicates = received.len() - by_id.len();
    assert!(duplicates >= held_at_kill.len(), "{duplicates} duplicates for {} held deliveries", held_at_kill.len());
}
