//! The webhook worker: claims due deliveries in batches, sends up to `MAX_IN_FLIGHT` at once (a slow endpoint
//! holds one slot, not the queue), and records finished attempts in batches from a single recorder task, so the
//! database sees two short transactions per batch instead of two per delivery. Woken at once when this node
//! commits deliveries; polls for retries that fall due and for work other nodes queued.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use zauthy_core::Services;
use zauthy_core::webhooks::{SentDelivery, WebhookTransport};

/// Deliveries being sent at once per node.
const MAX_IN_FLIGHT: usize = 64;
/// Deliveries claimed, and attempts recorded, per transaction at most.
const BATCH: usize = 64;
/// How often an idle worker looks for retries and other nodes' work.
const POLL: Duration = Duration::from_millis(500);
/// On shutdown, how long in-flight sends may finish; those still running are retried after their lease.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true, then finishes what is in flight (within `SHUTDOWN_GRACE`) and records it.
pub async fn run(
    services: Arc<Services>,
    transport: Arc<dyn WebhookTransport>,
    wakeup: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let (sent_tx, sent_rx) = mpsc::unbounded_channel::<SentDelivery>();
    let recorder = tokio::spawn(record(services.clone(), sent_rx));
    while !*stop.borrow() {
        // Wait for a free slot before claiming, so nothing is claimed that cannot be sent at once.
        if slots.available_permits() == 0 {
            tokio::select! {
                permit = slots.acquire() => drop(permit),
                _ = stop.changed() => continue,
            }
        }
        let free = slots.available_permits().min(BATCH);
        let claimed = match services.claim_webhook_deliveries(free as u64).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(error = ?e, "claiming webhook deliveries");
                Vec::new()
            }
        };
        let full = claimed.len() == free;
        for delivery in claimed {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                // Cannot happen (only this loop takes slots); the lease brings the delivery back if it did.
                break;
            };
            let (services, transport, sent_tx) = (services.clone(), transport.clone(), sent_tx.clone());
            tokio::spawn(async move {
                let sent = services.send_webhook_delivery(delivery, &*transport).await;
                let _ = sent_tx.send(sent);
                drop(permit);
            });
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
    drop(sent_tx);
    let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("webhook deliveries still in flight at shutdown; they are retried when their lease ends");
        recorder.abort();
    }
    let _ = recorder.await;
}

/// Records finished attempts, as many per transaction as have arrived (up to `BATCH`). A batch that cannot be
/// recorded is sent again once its leases end: at least once, never lost.
async fn record(services: Arc<Services>, mut sent: mpsc::UnboundedReceiver<SentDelivery>) {
    let mut batch = Vec::with_capacity(BATCH);
    while sent.recv_many(&mut batch, BATCH).await > 0 {
        if let Err(e) = services.record_webhook_deliveries(&batch).await {
            tracing::error!(error = ?e, deliveries = batch.len(), "recording webhook attempts");
        }
        batch.clear();
    }
}
