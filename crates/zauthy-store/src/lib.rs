//! The storage adapter: one implementation of the core's ports for SQLite and PostgreSQL through sea-orm.
//! Dialect details (SQLite pragmas, immediate transactions) live only in this crate.

mod accounts;
mod entities;
mod events;
mod federation;
mod mfa;
mod migrations;
mod oidc;
mod orgs;
mod outbox;
mod passkeys;
mod passwordless;
mod passwords;
mod prune;
mod sessions;
mod tokens;
mod webhooks;

use async_trait::async_trait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use zauthy_core::clock::{from_unix_ms, to_unix_ms};
use zauthy_core::error::{CoreError, Result};
use zauthy_core::store::{Store, Transaction};

pub use migrations::Migrator;

/// A connection (the pool, or an open transaction) that implements every repository port, with the wakeup of
/// this node's webhook worker and, on SQLite, this process's place in the write queue.
pub struct Conn<C> {
    /// The pool, or the open transaction, every statement runs on.
    db: C,
    wakeup: Wakeup,
    writer: Writer,
}

/// SQLite has one write lock per database. Left to SQLite, writers that find it taken sleep in its busy handler
/// (back-off steps of up to 100 ms) and are woken in no order, which is where SQLite's long write latencies came
/// from. Instead the process queues its own write transactions on a one-permit semaphore (fair, FIFO) and only
/// the holder asks SQLite for the lock. Other processes on the same file still meet the busy handler.
/// PostgreSQL has row locks and needs no queue.
pub(crate) enum Writer {
    /// The pool: the queue to join before opening a write transaction, and the one connection write
    /// transactions run on, whose page cache stays warm (`None` on PostgreSQL).
    Queue(Option<(Arc<Semaphore>, DatabaseConnection)>),
    /// An open transaction: its place at the head of the queue, given back when it commits or is dropped.
    Held(#[allow(dead_code)] Option<OwnedSemaphorePermit>),
}

/// A pooled connection idle at least this long is pinged before it is used.
const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

/// SQLite does not memory-map the database file: it reads pages with `pread`. In WAL mode SQLite unmaps the
/// whole file at the start of every read transaction that follows a commit, so with the file mapped each
/// such transaction costs an `munmap` (a TLB shootdown on every core the process runs on, which on a VM is an
/// IPI and a VM exit each) and page faults to map its pages again. Measured on a 2-vCPU VM: the SQLite code
/// exchange ran 36% faster without the mapping (docs/benchmarks.md).
const MMAP_SIZE: u64 = 0;

/// As long as a writer waits for SQLite's own lock (`busy_timeout`) before giving up.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// Wakes the local webhook worker when deliveries are queued: at once on the pool (the insert has committed),
/// after the commit in a transaction (before it the worker could not see them). Other nodes' workers poll.
pub(crate) struct Wakeup {
    notify: Arc<Notify>,
    /// In a transaction: whether it queued deliveries.
    deferred: Option<AtomicBool>,
}

impl Wakeup {
    pub(crate) fn deliveries_queued(&self) {
        match &self.deferred {
            Some(queued) => queued.store(true, Ordering::Relaxed),
            None => self.notify.notify_one(),
        }
    }
}

pub type SqlStore = Conn<DatabaseConnection>;

/// Opens the database named by `url` (`sqlite://…` or `postgres://…`), without migrating.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<SqlStore> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(max_connections).sqlx_logging(false).acquire_timeout(Duration::from_secs(10));
    // sqlx pings every connection it hands out by default: one more round trip per statement (to PostgreSQL
    // over the network, to SQLite's worker thread). Only a connection idle long enough for a server, proxy or
    // firewall to have dropped it is pinged; a hot one goes straight to its statement.
    options.test_before_acquire_if_idle_for(IDLE_PING_AFTER);
    if url.starts_with("sqlite:") {
        options.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(WRITE_WAIT)
                .foreign_keys(true)
                .pragma("mmap_size", MMAP_SIZE.to_string())
                // Statement journals (a multi-row UPDATE in a transaction, as each group commit's) and sorts
                // stay in memory instead of a temporary file created and unlinked for each one.
                .pragma("temp_store", "memory")
        });
    }
    let db = Database::connect(options.clone()).await?;
    let queue = if url.starts_with("sqlite:") {
        let mut writer = options;
        writer.max_connections(1).min_connections(1);
        Some((Arc::new(Semaphore::new(1)), Database::connect(writer).await?))
    } else {
        None
    };
    Ok(Conn { db, wakeup: Wakeup { notify: Arc::new(Notify::new()), deferred: None }, writer: Writer::Queue(queue) })
}

impl SqlStore {
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Notified (`notify_one`, so a wakeup is never lost) whenever deliveries this process queued are committed.
    pub fn webhook_wakeup(&self) -> Arc<Notify> {
        self.wakeup.notify.clone()
    }

    pub async fn close(self) -> anyhow::Result<()> {
        if let Writer::Queue(Some((_, writer))) = self.writer {
            writer.close().await?;
        }
        self.db.close().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        // SQLite: take the write lock up front. A deferred transaction that reads and then writes fails with
        // SQLITE_BUSY_SNAPSHOT when another writer committed in between; busy_timeout cannot help there.
        let (permit, db) = match &self.writer {
            Writer::Queue(Some((queue, writer))) => (
                Some(
                    tokio::time::timeout(WRITE_WAIT, queue.clone().acquire_owned())
                        .await
                        .map_err(|_| CoreError::internal("timed out waiting for the SQLite write lock"))?
                        .map_err(|_| CoreError::internal("the SQLite write queue is closed"))?,
                ),
                writer,
            ),
            _ => (None, &self.db),
        };
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let tx = db.begin_with_options(options).await.map_err(db_err)?;
        let wakeup = Wakeup { notify: self.wakeup.notify.clone(), deferred: Some(AtomicBool::new(false)) };
        Ok(Box::new(Conn { db: tx, wakeup, writer: Writer::Held(permit) }))
    }

    async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(db_err)
    }
}

#[async_trait]
impl Transaction for Conn<DatabaseTransaction> {
    async fn commit(self: Box<Self>) -> Result<()> {
        let Conn { db: tx, wakeup, writer: _place_in_queue } = *self;
        tx.commit().await.map_err(db_err)?;
        if wakeup.deferred.is_some_and(|queued| queued.into_inner()) {
            wakeup.notify.notify_one();
        }
        Ok(())
    }
}

/// Unique violations become `Conflict` identically on both databases; everything else is internal.
pub(crate) fn db_err(e: DbErr) -> CoreError {
    if let Some(sea_orm::SqlErr::UniqueConstraintViolation(detail)) = e.sql_err() {
        return CoreError::Conflict { code: "conflict", detail };
    }
    CoreError::Internal(anyhow::Error::new(e).context("database error"))
}

pub(crate) fn ms(t: time::OffsetDateTime) -> i64 {
    to_unix_ms(t)
}

pub(crate) fn at(ms: i64) -> time::OffsetDateTime {
    from_unix_ms(ms)
}

pub(crate) fn corrupt(what: &str, value: &str) -> CoreError {
    CoreError::internal(format!("stored {what} has an unknown value {value:?}"))
}

/// Stored JSON that does not parse: reported as corruption (a 500 with the row in the log), never read as empty.
pub(crate) fn unreadable(what: &str, id: &str) -> CoreError {
    CoreError::internal(format!("stored {what} of {id} cannot be read"))
}

/// Stamps `used_at` (and `updated_at`) on the row `id` only if it was unset: the single-use step of every token,
/// code and challenge, safe against a concurrent spender on either database. False means it was spent first
/// (or does not exist).
pub(crate) async fn spend_once<E: sea_orm::EntityTrait>(
    db: &impl ConnectionTrait,
    [id_column, used_at, updated_at]: [E::Column; 3],
    id: &str,
    now: time::OffsetDateTime,
) -> Result<bool> {
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    let result = E::update_many()
        .col_expr(used_at, Expr::value(ms(now)))
        .col_expr(updated_at, Expr::value(ms(now)))
        .filter(id_column.eq(id))
        .filter(used_at.is_null())
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected == 1)
}

/// [`spend_once`] for many rows in one statement (`UPDATE … WHERE id IN (…) AND used_at IS NULL AND also
/// RETURNING id`, on both databases): the ids of those it spent. A row a concurrent transaction spends first is
/// not among them (PostgreSQL re-checks the condition after waiting for that row's lock).
pub(crate) async fn spend_each<E: sea_orm::EntityTrait>(
    db: &impl ConnectionTrait,
    [id_column, used_at, updated_at]: [E::Column; 3],
    ids: &[&str],
    also: sea_orm::sea_query::Expr,
    now: time::OffsetDateTime,
) -> Result<std::collections::HashSet<String>> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryTrait, sea_query::Expr};
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let mut update = E::update_many()
        .col_expr(used_at, Expr::value(ms(now)))
        .col_expr(updated_at, Expr::value(ms(now)))
        .filter(id_column.is_in(ids.iter().copied()))
        .filter(used_at.is_null())
        .filter(also)
        .into_query();
    update.returning_col(id_column);
    let rows = db.query_all(&update).await.map_err(db_err)?;
    rows.iter().map(|row| row.try_get_by_index::<String>(0).map_err(db_err)).collect()
}

/// The bound every generic repository impl needs (a pool or an open transaction).
pub trait Db: ConnectionTrait + Send + Sync {}
impl<C: ConnectionTrait + Send + Sync> Db for C {}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, Statement};

    /// `.cargo/config.toml` builds the bundled SQLite with `SQLITE_ENABLE_QPSG`; without it every `LIMIT ?`
    /// lookup is re-prepared on each execution (see docs/benchmarks.md).
    #[tokio::test]
    async fn the_bundled_sqlite_keeps_its_query_plans_when_a_limit_is_bound_again() {
        let store = connect("sqlite::memory:", 1).await.unwrap();
        let qpsg = number(&store.db, "SELECT sqlite_compileoption_used('ENABLE_QPSG')").await;
        assert_eq!(qpsg, 1, "SQLite was built without SQLITE_ENABLE_QPSG: is .cargo/config.toml read?");
    }

    #[tokio::test]
    async fn every_sqlite_connection_reads_the_file_unmapped_and_keeps_temporary_files_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("zauthy.db").display());
        let store = connect(&url, 2).await.unwrap();
        let Writer::Queue(Some((_, writer))) = &store.writer else { panic!("SQLite has a write queue") };
        for db in [&store.db, writer] {
            assert_eq!(number(db, "PRAGMA mmap_size").await, 0, "the database file is read, not mapped");
            assert_eq!(number(db, "PRAGMA temp_store").await, 2, "temporary tables and journals in memory");
        }
        store.close().await.unwrap();
    }

    async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
        let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().unwrap();
        row.try_get_by_index(0).unwrap()
    }
}
