//! `[embedded_broker]`: the optional in-process MQTT broker, and its packet limit.
//!
//! The limit lives here because `Config::validate` checks `mqtt.max_packet_bytes` against it:
//! the collector's client must accept anything the broker lets through.

use std::net::SocketAddr;

use serde::Deserialize;

/// Largest packet (MQTT remaining length) the embedded broker accepts from a client: 16 MiB of
/// batch plus room for topic and header. A larger publish is refused at the broker (it drops
/// that client's connection), so it never reaches the collector's session. The collector's own
/// client limit (`mqtt.max_packet_bytes`) must be at least this; the config check enforces it.
pub const EMBEDDED_BROKER_MAX_PACKET_BYTES: usize = 16 * 1024 * 1024 + 64 * 1024;

/// `[embedded_broker]`: an in-process MQTT broker (rumqttd).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedBrokerConfig {
    /// Address the embedded broker listens on for agents (MQTT 3.1.1, plain TCP, no
    /// authentication). Listen on a store-network or public address on purpose only.
    #[serde(default = "default_broker_listen")]
    pub listen: SocketAddr,
}

fn default_broker_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1883))
}

pub(super) fn default_embedded_broker() -> Option<EmbeddedBrokerConfig> {
    None
}
