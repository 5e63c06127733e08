//! The pruning job: every `interval`, deletes the short-lived records nobody can use any more
//! (`Services::prune_expired_records`). Safe on every node at once; a failed run is logged and the next one
//! picks up where it left off.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use zauthy_core::Services;

/// Runs until `stop` turns true; the first run is one `interval` after start.
pub async fn run(services: Arc<Services>, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        match services.prune_expired_records().await {
            Ok(report) if report.total() > 0 => {
                let deleted: Vec<String> =
                    report.deleted.iter().map(|(kind, n)| format!("{}={n}", kind.as_str())).collect();
                tracing::info!(total = report.total(), deleted = %deleted.join(" "), "pruned expired records");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = ?e, "pruning expired records"),
        }
    }
}
