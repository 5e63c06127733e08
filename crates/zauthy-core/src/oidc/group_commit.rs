//! Group commit of the token endpoint's writes. Every code exchange and refresh rotation spends one token and
//! stores the next refresh token, which used to be a transaction of its own (BEGIN, UPDATE, INSERT, COMMIT).
//! On SQLite those queue behind the one write lock, and on PostgreSQL each costs the server four statements,
//! so under load the commits, not the CPU, set the token endpoint's rate.
//!
//! Here a request queues its write and waits. One flusher per node takes everything queued (up to
//! [`MAX_BATCH`]) and writes it in one transaction: one `UPDATE … RETURNING` per kind of token spent and one
//! multi-row `INSERT`. Then it answers each request. With no load a batch is one write, as before; under load
//! the batch grows with the queue. A request answers only after its write has committed. A failed batch is
//! written again one request at a time, so only a request whose own write fails gets an error, with nothing of
//! it written.
//!
//! The flusher is a spawned task, so a request dropped while waiting (its client went away) does not abort
//! the others' transaction: its write still commits, as it would have had the client gone away after commit.

use super::TokenWrite;
use crate::error::{CoreError, Result};
use crate::store::Store;
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// The most writes one transaction carries (a bound on its statements' parameters and on its duration).
const MAX_BATCH: usize = 128;

/// This node's queue of token writes and whether a flusher is running.
#[derive(Default)]
pub struct TokenWrites(Arc<Mutex<Queue>>);

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    flushing: bool,
}

struct Waiting {
    write: TokenWrite,
    now: OffsetDateTime,
    answer: oneshot::Sender<Result<bool>>,
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TokenWrites {
    /// Commits `write` through `store` together with whatever other token writes are queued on this node;
    /// true when it spent its token (false: spent before, by another request, or unknown).
    pub async fn commit(&self, store: &Arc<dyn Store>, write: TokenWrite, now: OffsetDateTime) -> Result<bool> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = lock(&self.0);
            queue.waiting.push(Waiting { write, now, answer });
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start {
            tokio::spawn(flush(self.0.clone(), store.clone()));
        }
        answered.await.map_err(|_| CoreError::internal("the token write was lost"))?
    }
}

/// Writes batches until the queue is empty. Checking for more and stepping down happen under the queue's lock,
/// so a write queued meanwhile either joins the next batch here or starts the next flusher.
async fn flush(queue: Arc<Mutex<Queue>>, store: Arc<dyn Store>) {
    let _guard = PanicGuard(queue.clone());
    loop {
        let batch: Vec<Waiting> = {
            let mut q = lock(&queue);
            if q.waiting.is_empty() {
                q.flushing = false;
                return;
            }
            let n = q.waiting.len().min(MAX_BATCH);
            q.waiting.drain(..n).collect()
        };
        let now = batch.iter().map(|w| w.now).max().expect("a batch is never empty");
        let writes: Vec<&TokenWrite> = batch.iter().map(|w| &w.write).collect();
        match write_batch(&*store, &writes, now).await {
            Ok(spent) => {
                for (waiting, spent) in batch.into_iter().zip(spent) {
                    let _ = waiting.answer.send(Ok(spent));
                }
            }
            // One write's failure (a grant deleted meanwhile breaks its refresh token's foreign key; two nodes'
            // batches deadlocking on PostgreSQL) must not fail the others: each is retried in a transaction of
            // its own, so only the culprit fails.
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %e, writes = writes.len(), "token write batch failed; writing each alone");
                for waiting in batch {
                    let alone = write_batch(&*store, &[&waiting.write], waiting.now).await;
                    let _ = waiting.answer.send(alone.map(|spent| spent[0]));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "token write failed");
                if let Some(waiting) = batch.into_iter().next() {
                    let _ = waiting.answer.send(Err(e));
                }
            }
        }
    }
}

async fn write_batch(store: &dyn Store, writes: &[&TokenWrite], now: OffsetDateTime) -> Result<Vec<bool>> {
    let tx = store.begin().await?;
    let spent = tx.write_tokens(writes, now).await?;
    if spent.len() != writes.len() {
        return Err(CoreError::internal("the store answered a token write batch with the wrong count"));
    }
    tx.commit().await?;
    Ok(spent)
}

/// Should a flush panic, the writes still queued fail (their senders drop) and the next write starts a new
/// flusher, instead of every later request waiting on one that is gone.
struct PanicGuard(Arc<Mutex<Queue>>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut q = lock(&self.0);
            q.waiting.clear();
            q.flushing = false;
        }
    }
}
