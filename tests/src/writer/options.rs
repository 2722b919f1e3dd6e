//! What a writer sends and how: [`WriterOptions`] (address, amount, pace, window, timeouts)
//! and [`LineSource`], the lines themselves with the effect each should have at the collector.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::events::{self, Effect};

/// What to send and how.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// The agent's line-feed address.
    pub addr: SocketAddr,
    /// Lines to send; `None` sends until [`super::Writer::stop`].
    pub total: Option<u64>,
    /// Target events per second; `None` sends flat out.
    pub rate: Option<f64>,
    /// Most lines in flight (sent, not answered) on a connection.
    pub window: usize,
    /// How long to keep trying to (re)connect before giving up.
    pub reconnect_timeout: Duration,
    /// How long to wait for the answers still owed when stopping or finishing.
    pub drain_timeout: Duration,
    /// Index of the first line (see [`crate::events`]); lets a second writer continue the mix.
    pub first_index: u64,
    /// Record `(seq, send instant)` of every acknowledged line, for latency measurements.
    pub record_send_times: bool,
}

impl WriterOptions {
    /// Flat out, until stopped, window 2048, 60 s to reconnect.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            total: None,
            rate: None,
            window: 2048,
            reconnect_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(60),
            first_index: 0,
            record_send_times: false,
        }
    }

    pub fn total(mut self, n: u64) -> Self {
        self.total = Some(n);
        self
    }

    pub fn rate(mut self, events_per_sec: f64) -> Self {
        assert!(events_per_sec > 0.0);
        self.rate = Some(events_per_sec);
        self
    }

    pub fn window(mut self, lines: usize) -> Self {
        self.window = lines.max(1);
        self
    }

    pub fn first_index(mut self, i: u64) -> Self {
        self.first_index = i;
        self
    }

    pub fn reconnect_timeout(mut self, d: Duration) -> Self {
        self.reconnect_timeout = d;
        self
    }

    pub fn record_send_times(mut self) -> Self {
        self.record_send_times = true;
        self
    }
}

/// Makes the line with a given index (newline included) and names its effect on the collector's
/// stats; replaces the standard mix of [`crate::events`]. Called from the writer thread, in index
/// order, once per line written, just before the line is written.
#[derive(Clone)]
pub struct LineSource(Arc<dyn Fn(u64) -> (String, Effect) + Send + Sync>);

impl LineSource {
    pub fn new(f: impl Fn(u64) -> (String, Effect) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The standard mix of [`crate::events`].
    pub fn standard() -> Self {
        Self::new(|i| (events::line(i), events::effect_of(i)))
    }

    pub(super) fn line(&self, index: u64) -> (String, Effect) {
        (self.0)(index)
    }
}

impl std::fmt::Debug for LineSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineSource(..)")
    }
}
