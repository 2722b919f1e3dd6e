//! Configuration of the `line_feed` driver.

use std::net::SocketAddr;

use serde::Deserialize;

use crate::listen::at_least_one;

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
    /// Connections served at once (at least 1). A further client is answered
    /// `err busy: too many connections` and closed at once; it should try again later.
    #[serde(default = "default_max_connections", deserialize_with = "at_least_one")]
    pub max_connections: usize,
    /// Seconds a connection may stay without beginning a line (at least 1); then it is answered
    /// `err timeout: …` and closed. A blank line is a keep-alive.
    #[serde(
        default = "default_idle_timeout_secs",
        deserialize_with = "at_least_one"
    )]
    pub idle_timeout_secs: u64,
    /// Seconds a line may take from its first byte to its newline (at least 1), and the client to
    /// take an answer; then the connection is closed (answers already owed are still written).
    #[serde(
        default = "default_line_timeout_secs",
        deserialize_with = "at_least_one"
    )]
    pub line_timeout_secs: u64,
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

fn default_max_connections() -> usize {
    64
}

fn default_idle_timeout_secs() -> u64 {
    300
}

fn default_line_timeout_secs() -> u64 {
    30
}

#[cfg(test)]
mod tests {
    use crate::DriverConfig;

    fn parse(value: serde_json::Value) -> Result<DriverConfig, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn defaults() {
        let c = parse(serde_json::json!({"type": "line_feed", "id": "feed"})).unwrap();
        let DriverConfig::LineFeed(c) = c else {
            panic!("wrong variant: {c:?}");
        };
        assert_eq!(c.listen, std::net::SocketAddr::from(([127, 0, 0, 1], 7070)));
        assert_eq!(c.max_line_bytes, 65_536);
        assert_eq!(c.max_pending, 8192);
        assert_eq!(c.max_connections, 64);
        assert_eq!(c.idle_timeout_secs, 300);
        assert_eq!(c.line_timeout_secs, 30);
    }

    #[test]
    fn zero_limits_are_refused() {
        for key in ["max_connections", "idle_timeout_secs", "line_timeout_secs"] {
            let mut value = serde_json::json!({"type": "line_feed", "id": "feed"});
            value[key] = 0.into();
            let e = parse(value).unwrap_err();
            assert!(e.to_string().contains("must be at least 1"), "{key}: {e}");
        }
    }
}
