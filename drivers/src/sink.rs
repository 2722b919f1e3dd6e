//! The channel from drivers to the agent's journal.

use store_proto::Event;
use tokio::sync::{mpsc, oneshot};

/// One event on its way to the journal.
#[derive(Debug)]
pub struct Record {
    /// The event, with `seq` left at 0: the journal assigns it.
    pub event: Event,
    /// Answered with the assigned `seq` once the event is durable, or with why it was not stored.
    pub reply: Option<oneshot::Sender<Result<u64, RecordError>>>,
}

/// Why the journal did not store a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("journal write failed: {0}")]
    Journal(String),
    #[error("agent is shutting down")]
    ShuttingDown,
}

/// Where drivers put their events. Bounded: a full journal slows the drivers down.
pub type Sink = mpsc::Sender<Record>;
