//! `[api]`: the HTTP API's address and bearer tokens.
//!
//! Loopback and no token by default; `Config::validate` refuses token pairs that would make the
//! read-only viewer token as powerful as the operator's.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[api]`: the HTTP API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the HTTP API listens on (`GET /healthz`, `GET /v1/stats`). Loopback by default:
    /// expose it on purpose only.
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// The operator's bearer token (`Authorization: Bearer <token>`): reads `/v1/*`, and is the
    /// only token that may change state (acknowledge alerts, reload the catalogue, take backups
    /// with `store-collector backup`). `/healthz`, `/metrics` and the dashboard page itself are
    /// open; the page asks for a token. Without any
    /// token the read routes are open (fine on loopback, not elsewhere) and the state-changing
    /// routes are refused.
    #[serde(default)]
    pub token: Option<String>,
    /// Reads the operator token from a file instead (e.g. a systemd credential); surrounding
    /// whitespace is ignored.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A read-only bearer token (wall displays, reporting): reads `/v1/*`, may not change state.
    #[serde(default)]
    pub viewer_token: Option<String>,
    /// Reads the viewer token from a file instead.
    #[serde(default)]
    pub viewer_token_file: Option<PathBuf>,
    /// The operator token's name: recorded as `issued_by` on every command sent from HQ with
    /// it (the command book's audit trail), and shown to the agent.
    #[serde(default = "default_token_name")]
    pub token_name: String,
}

fn default_token_name() -> String {
    "operator".to_owned()
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

pub(super) fn default_api() -> ApiConfig {
    ApiConfig {
        listen: default_api_listen(),
        token: None,
        token_file: None,
        viewer_token: None,
        viewer_token_file: None,
        token_name: default_token_name(),
    }
}
