//! One task per destination: sends the outbox head, removes it on 2xx, otherwise waits (capped
//! exponential backoff with full jitter) and tries the same entry again, forever, until it is
//! delivered or the outbox cap drops it.
//!
//! Ordering: a destination's entries go strictly one at a time, oldest first, and a failing
//! entry holds back every later entry of that destination. That is stronger than "in order per
//! alert" and keeps a resolve from ever overtaking its raise. A slow or failing destination
//! delays only itself: every destination has its own task, and ingest never waits for any of
//! them (it only writes the entries in its commit).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use store_runtime::backoff::Backoff;
use store_runtime::log_limit::LogLimit;
use tracing::{error, warn};

use super::client::Client;
use super::outbox::{Destination, Entry, Outbox};
use super::sign::Signer;

/// Even without a wake-up, the head is looked at this often (a cheap sled read), so a missed
/// notification can never strand an entry.
const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// How one destination is reached.
#[derive(Debug, Clone)]
pub struct Link {
    pub client: Client,
    pub signer: Option<Signer>,
}

impl Link {
    /// POSTs `body` with the store-edge headers; `Ok(())` on a 2xx answer.
    pub async fn send(&self, idempotency_key: &str, body: &[u8]) -> Result<(), String> {
        let timestamp = crate::clock::now_ms().div_euclid(1000);
        let mut headers = vec![
            ("X-Store-Edge-Idempotency-Key", idempotency_key.to_owned()),
            ("X-Store-Edge-Timestamp", timestamp.to_string()),
        ];
        if let Some(signer) = &self.signer {
            headers.push(("X-Store-Edge-Signature", signer.header(timestamp, body)));
        }
        match self.client.post(&headers, body).await? {
            200..=299 => Ok(()),
            status => Err(format!("HTTP status {status}")),
        }
    }
}

/// Runs the sender of `d` until the task is aborted.
pub async fn run(outbox: Arc<Outbox>, d: Arc<Destination>, link: Link, mut backoff: Backoff) {
    let mut log = LogLimit::<&'static str>::default();
    // (seq, attempts) of the head being tried, for the log.
    let mut attempts: (u64, u64) = (u64::MAX, 0);
    loop {
        let head = {
            let (outbox, d) = (outbox.clone(), d.clone());
            tokio::task::spawn_blocking(move || outbox.head(&d)).await
        };
        let entry: Entry = match head {
            Ok(Ok(Some(entry))) => entry,
            Ok(Ok(None)) => {
                tokio::select! {
                    _ = d.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_RECHECK) => {}
                }
                continue;
            }
            Ok(Err(e)) => {
                error!(destination = %d.name, error = %e, "Delivery outbox unreadable; retrying.");
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
            // The runtime is stopping.
            Err(_) => return,
        };
        if attempts.0 != entry.seq {
            attempts = (entry.seq, 0);
        }
        attempts.1 += 1;
        match link
            .send(&entry.stored.key, entry.stored.body.as_bytes())
            .await
        {
            Ok(()) => {
                backoff.reset();
                let (outbox, d2, seq) = (outbox.clone(), d.clone(), entry.seq);
                match tokio::task::spawn_blocking(move || outbox.delivered(&d2, seq)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        error!(destination = %d.name, error = %e, "Delivered entry not removed; it will be sent again.")
                    }
                    Err(_) => return,
                }
            }
            Err(reason) => {
                d.metrics.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay();
                if let Some(failures) = log.note(&"failed", 1, tokio::time::Instant::now()) {
                    warn!(
                        destination = %d.name,
                        idempotency_key = %entry.stored.key,
                        attempts = attempts.1,
                        failures_since_last_line = failures,
                        retry_in_ms = delay.as_millis() as u64,
                        reason = %reason,
                        "Delivery failed; retrying the same entry (later entries wait)."
                    );
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_doubles_from_the_minimum_to_the_cap_with_jitter_below_it() {
        // The defaults: retry_min_ms = 500, retry_max_ms = 60000.
        let mut backoff = Backoff::from_millis(500, 60_000);
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
            ceilings.push(ceiling.as_millis() as u64);
        }
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        backoff.reset();
        assert_eq!(
            backoff.ceiling(),
            Duration::from_millis(500),
            "a 2xx starts over"
        );
    }
}
