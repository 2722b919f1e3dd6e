//! Configuration of the `line_feed` driver.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[[drivers]] type = "line_feed"`: a TCP listener taking one JSON event per line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineFeedConfig {
    /// Id of this driver instance, unique within the agent.
    pub id: String,
    /// Address to listen on. Loopback by default: expose it to the store network on purpose only.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Longest accepted line in bytes; a longer line is answered with `err` and skipped.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Lines a connection may have in flight (sent, not yet answered) before reading pauses.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7070))
}

fn default_max_line_bytes() -> usize {
    64 * 1024
}

fn default_max_pending() -> usize {
    8192
}
