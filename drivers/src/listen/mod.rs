//! Bounded TCP listeners for the drivers that serve the network (`line_feed`, `counter_push`).
//!
//! Every connection is hostile until it proves otherwise, so a listener:
//! - holds at most `max_connections` connections at once ([`Listener`]). Further connections are
//!   still accepted, answered at once with a short refusal (`err busy: …` or HTTP 503) and
//!   closed, so they cost one file descriptor for a moment and no buffers;
//! - survives accept errors: running out of file descriptors (`EMFILE`, `ENFILE`) or kernel
//!   memory pauses accepting with a backoff of 100 ms doubling up to 1 s, instead of failing the
//!   driver (which would refuse good clients until the supervisor restarted it); a connection
//!   aborted before it was accepted is skipped;
//! - counts what it refuses and times out ([`ListenerStats`], one per driver id, kept across
//!   driver restarts; [`listener_counts`] reads them all) and logs it rate-limited: one line per
//!   driver and kind of rejection per [`LOG_EVERY`], with how many were not logged.
//!
//! The time limits of a connection (idle, line, header and body timeouts) are the drivers' own,
//! as they depend on the protocol; they count through [`ListenerStats::timed_out`].

mod accept;
mod limiter;

pub use accept::{Listener, Slot};
pub(crate) use limiter::LogLimiter;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Shortest interval between two log lines about the same kind of rejection by one driver.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// What one driver's listener accepted and rejected since the agent started.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections served.
    pub accepted: AtomicU64,
    /// Connections refused because `max_connections` were open.
    pub refused_busy: AtomicU64,
    /// Failed accepts (file descriptors exhausted, connection aborted before accept, …).
    pub accept_errors: AtomicU64,
    /// Connections closed by a time limit (idle, line, header or body timeout).
    pub timed_out: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
}

/// A copy of one driver's [`ListenerStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerCounts {
    pub driver_id: String,
    pub accepted: u64,
    pub refused_busy: u64,
    pub accept_errors: u64,
    pub timed_out: u64,
    pub open: u64,
}

static REGISTRY: Mutex<BTreeMap<String, Arc<ListenerStats>>> = Mutex::new(BTreeMap::new());

/// The stats of driver `id`, created on first use. The same for every run of the driver, so the
/// counters only grow (as Prometheus counters must) across driver restarts.
pub fn stats_for(id: &str) -> Arc<ListenerStats> {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry.entry(id.to_owned()).or_default().clone()
}

/// The counts of every listening driver that ran since the agent started, by driver id.
pub fn listener_counts() -> Vec<ListenerCounts> {
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry
        .iter()
        .map(|(id, s)| ListenerCounts {
            driver_id: id.clone(),
            accepted: s.accepted.load(Ordering::Relaxed),
            refused_busy: s.refused_busy.load(Ordering::Relaxed),
            accept_errors: s.accept_errors.load(Ordering::Relaxed),
            timed_out: s.timed_out.load(Ordering::Relaxed),
            open: s.open.load(Ordering::Relaxed),
        })
        .collect()
}

/// Serde `deserialize_with` for limits where 0 would disable the listener or close every
/// connection at once: at least 1.
pub(crate) fn at_least_one<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + PartialOrd + From<u8>,
{
    let value = T::deserialize(d)?;
    if value < T::from(1) {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(value)
}

/// Warns when a listener binds every interface: the drivers' examples name one address on
/// purpose, so that a service meant for the store network is not also offered on every other
/// network the machine is on (VPN, uplink).
pub(crate) fn warn_if_every_interface(id: &str, addr: std::net::SocketAddr) {
    if addr.ip().is_unspecified() {
        tracing::warn!(
            driver_id = %id,
            %addr,
            "Listening on every interface; set `listen` to the address of the store-side interface."
        );
    }
}
