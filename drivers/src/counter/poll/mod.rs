//! `counter_poll` driver: asks an AXIS People Counter for its running totals every
//! `interval_secs` and journals what was counted in between.
//!
//! ```text
//! every interval: GET url ──200──▶ axis::decode_live_sum ──Totals──▶ Trackers ──▶ FootTraffic
//!                     │                     └─ bad JSON ──▶ DeviceStatus DECODE_ERROR (body kept)
//!                     └─ refused / timeout / non-200 ──▶ DeviceStatus DISCONNECTED (once)
//! ```
//!
//! - The camera's `live-sum.json` (`{"serial","name","timestamp","in","out"}`, see
//!   [`axis`]) holds totals since the counter's last reset; the
//!   [`Trackers`] turn consecutive samples into interval counts: the first sample is only a
//!   baseline, a total that goes down is a reset, a sample whose timestamp did not move (polled
//!   faster than the camera updates) is ignored. Counts are labelled with the camera's serial
//!   and the configured `line`.
//! - Reachability is reported on change only: `DISCONNECTED` (with the reason) when a poll
//!   fails after the camera answered, or when the very first poll fails; `CONNECTED` when it
//!   answers again (and at the first answer). A camera that stays away adds one event, not one
//!   per poll. Failures do not stop the driver: it keeps polling at the same pace.
//! - Events are sent with a reply channel, and a tracker moves past a sample only once its event
//!   is durable: if the journal refuses it, the next poll's difference still includes those
//!   people.
//! - Polls never overlap: the next one is due an interval after the previous one was due; a
//!   poll slower than the interval delays the next instead of queueing more.

mod config;
#[cfg(test)]
mod tests;

pub use config::{CounterPollConfig, PollAuth};

use std::time::Duration;

use axum::http::{header, HeaderValue, Method, StatusCode};
use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::{Body, Event};
use tokio::sync::oneshot;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use crate::counter::http::{self, HttpError};
use crate::counter::tracker::Trackers;
use crate::counter::vendor::axis;
use crate::{clock, DriverError, Record, RecordError, Sink};

/// How much of an undecodable answer is kept in its `DeviceStatus` event; also the largest
/// answer read (a live sum is under 200 bytes).
const MAX_BODY_BYTES: usize = 64 * 1024;
const MAX_RAW_BYTES: usize = 4096;

/// Polls until the sink closes.
pub async fn run(config: CounterPollConfig, sink: Sink) -> Result<(), DriverError> {
    let interval = Duration::from_secs(config.interval_secs);
    poll_loop(config, interval, sink).await
}

/// The loop, with the interval apart so tests can poll faster than once a second.
async fn poll_loop(
    config: CounterPollConfig,
    interval: Duration,
    sink: Sink,
) -> Result<(), DriverError> {
    info!(
        driver_id = %config.id,
        url = %config.url.as_str(),
        interval_secs = config.interval_secs,
        "Counter poller started."
    );
    let mut poller = Poller {
        headers: auth_headers(&config.auth),
        config,
        sink,
        trackers: Trackers::new(),
        reachable: None,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            // The agent is shutting down: stop polling for counts nobody can store.
            _ = poller.sink.closed() => {
                return Err(DriverError::SinkClosed { id: poller.config.id.clone() });
            }
        }
        poller.poll_once().await?;
    }
}

fn auth_headers(auth: &PollAuth) -> Vec<(header::HeaderName, HeaderValue)> {
    let value = match auth {
        PollAuth::None => return Vec::new(),
        PollAuth::Basic { username, password } => http::basic_auth(username, password),
        PollAuth::Bearer(token) => format!("Bearer {token}"),
    };
    match HeaderValue::from_str(&value) {
        Ok(mut v) => {
            v.set_sensitive(true);
            vec![(header::AUTHORIZATION, v)]
        }
        // Only control characters in the configured secret get here: poll without it, and the
        // camera's 401 says what is wrong.
        Err(_) => Vec::new(),
    }
}

struct Poller {
    config: CounterPollConfig,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    sink: Sink,
    trackers: Trackers,
    /// Whether the last poll got an answer; `None` before the first poll.
    reachable: Option<bool>,
}

/// Why a poll got no usable answer.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{url}: answered {status}")]
    Status { url: String, status: StatusCode },
}

impl Poller {
    async fn poll_once(&mut self) -> Result<(), DriverError> {
        let answer = http::exchange(
            Method::GET,
            &self.config.url,
            &self.headers,
            Vec::new(),
            Duration::from_millis(self.config.timeout_ms),
            MAX_BODY_BYTES,
        )
        .await
        .map_err(PollError::from)
        .and_then(|a| {
            if a.status == StatusCode::OK {
                Ok(a.body)
            } else {
                Err(PollError::Status {
                    url: self.config.url.as_str(),
                    status: a.status,
                })
            }
        });
        let body = match answer {
            Ok(body) => body,
            Err(e) => {
                if self.reachable != Some(false) {
                    warn!(driver_id = %self.config.id, error = %e, "People counter unreachable.");
                    self.status(DeviceState::Disconnected, e.to_string(), Vec::new())
                        .await?;
                    self.reachable = Some(false);
                } else {
                    debug!(driver_id = %self.config.id, error = %e, "People counter still unreachable.");
                }
                return Ok(());
            }
        };
        if self.reachable != Some(true) {
            info!(driver_id = %self.config.id, "People counter answering.");
            let reason = format!("{} answers", self.config.url.as_str());
            self.status(DeviceState::Connected, reason, Vec::new())
                .await?;
            self.reachable = Some(true);
        }
        match axis::decode_live_sum(&body) {
            Ok(decoded) => self.store(decoded.totals).await,
            Err(e) => {
                let reason = format!("axis live sum from {}: {e}", self.config.url.as_str());
                warn!(driver_id = %self.config.id, error = %reason, "Undecodable counter answer.");
                let raw = body.get(..MAX_RAW_BYTES).unwrap_or(&body).to_vec();
                self.status(DeviceState::DecodeError, reason, raw).await
            }
        }
    }

    async fn store(&mut self, mut totals: Vec<crate::counter::Totals>) -> Result<(), DriverError> {
        for t in &mut totals {
            if t.counter_id.is_empty() {
                t.counter_id.clone_from(&self.config.id);
            }
            if t.line.is_empty() {
                t.line.clone_from(&self.config.line);
            }
        }
        let plan = self.trackers.plan(&totals);
        let bodies = plan
            .traffic
            .iter()
            .cloned()
            .map(Body::FootTraffic)
            .collect();
        let outcomes = self.journal(bodies).await?;
        let stored = outcomes.iter().take_while(|r| r.is_ok()).count();
        if let Some(Err(e)) = outcomes.get(stored) {
            // The tracker stays at the last stored sample: the next poll counts these people again.
            warn!(driver_id = %self.config.id, error = %e, "Journal refused counter events; they come with the next poll.");
        }
        self.trackers.commit(plan, stored);
        Ok(())
    }

    async fn status(
        &self,
        state: DeviceState,
        reason: String,
        raw: Vec<u8>,
    ) -> Result<(), DriverError> {
        let body = Body::DeviceStatus(DeviceStatus {
            state: state as i32,
            reason,
            raw,
        });
        // A refused status is logged by the journal; nothing to retry for a state report.
        self.journal(vec![body]).await.map(|_| ())
    }

    /// Sends events and waits until each is durable or refused. Fails only when the agent is
    /// shutting down.
    async fn journal(
        &self,
        bodies: Vec<Body>,
    ) -> Result<Vec<Result<u64, RecordError>>, DriverError> {
        let closed = || DriverError::SinkClosed {
            id: self.config.id.clone(),
        };
        let mut pending = Vec::with_capacity(bodies.len());
        for body in bodies {
            let mut event = Event {
                device_id: self.config.id.clone(),
                body: Some(body),
                ..Default::default()
            };
            clock::stamp(&mut event);
            let (reply, rx) = oneshot::channel();
            self.sink
                .send(Record {
                    event,
                    reply: Some(reply),
                })
                .await
                .map_err(|_| closed())?;
            pending.push(rx);
        }
        let mut outcomes = Vec::with_capacity(pending.len());
        for rx in pending {
            outcomes.push(rx.await.unwrap_or(Err(RecordError::ShuttingDown)));
        }
        Ok(outcomes)
    }
}
