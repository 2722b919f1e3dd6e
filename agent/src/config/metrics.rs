//! `[metrics]`: where the Prometheus endpoint listens, if anywhere.
//!
//! Off by default: an agent exposes nothing unless asked to.

use serde::Deserialize;

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to serve `/metrics` (keep it on loopback); unset = no endpoint.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
}
