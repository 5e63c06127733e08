//! The storage port (trait and record types) of the outbox: emails, text messages and logout notices waiting to
//! be sent. `zauthy-store` implements it for SQLite and PostgreSQL; `crate::store` composes every feature's port
//! into one `Repo`.

use super::{OutboxLane, OutboxMessage};
use crate::error::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait OutboxRepo {
    /// Writes the message as given; `Services::queue_message` seals its payload first, and is what to call.
    async fn enqueue(&self, message: &OutboxMessage) -> Result<()>;
    /// Claims the oldest due message of `lane` with a lease so no other worker takes it until `lease_until`.
    async fn claim_next_outbox(
        &self,
        lane: OutboxLane,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<OutboxMessage>>;
    /// Marks the message sent and erases its payload.
    async fn complete_outbox(&self, id: &str, now: OffsetDateTime) -> Result<()>;
    /// Records a failed attempt; `retry_at: None` gives up on the message and erases its payload.
    async fn fail_outbox(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()>;
}
