//! Requests to resend events the journal still holds (the retention window included) as
//! historical batches: the port between whoever asks (HQ's replay commands) and the uplink task,
//! which owns the send state and serves them between its other work.

use tokio::sync::{mpsc, oneshot};

/// Which events to resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendRange {
    /// The seqs in `[from, to]`.
    Seqs { from: u64, to: u64 },
    /// The events whose `wall_time_ms` lies in `[from_ms, to_ms]`.
    Time { from_ms: i64, to_ms: i64 },
}

/// What a resend request did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResendOutcome {
    /// Events queued for sending again.
    pub queued: u64,
    /// Requested seqs the journal no longer holds (out of retention, or never issued), as
    /// inclusive ranges, lowest first.
    pub not_retained: Vec<(u64, u64)>,
}

/// One request with its reply channel.
#[derive(Debug)]
pub struct ResendRequest {
    pub range: ResendRange,
    pub reply: oneshot::Sender<Result<ResendOutcome, String>>,
}

/// The asking side; cheap to clone.
#[derive(Debug, Clone)]
pub struct ResendHandle {
    tx: mpsc::Sender<ResendRequest>,
}

impl ResendHandle {
    /// A handle and the receiver the uplink task serves. `capacity` bounds requests waiting.
    pub fn channel(capacity: usize) -> (ResendHandle, mpsc::Receiver<ResendRequest>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (ResendHandle { tx }, rx)
    }

    /// Asks the uplink to resend `range`; an error when the uplink has stopped or too many
    /// requests are waiting.
    pub async fn resend(&self, range: ResendRange) -> Result<ResendOutcome, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(ResendRequest { range, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => "too many resend requests waiting".to_owned(),
                mpsc::error::TrySendError::Closed(_) => "the uplink has stopped".to_owned(),
            })?;
        answer
            .await
            .map_err(|_| "the uplink has stopped".to_owned())?
    }
}
