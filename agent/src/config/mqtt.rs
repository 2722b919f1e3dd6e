//! `[mqtt]`: how the agent reaches the broker, including its TLS keys.
//!
//! The password is only ever named by file (`password_file`), never written in the config; the
//! plaintext-off-loopback rule is checked in `AgentConfig::validate`.

use std::path::PathBuf;

use serde::Deserialize;
use store_runtime::tls::TlsFiles;

/// `[mqtt]`: the broker connection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Defaults to `store-agent-{store_id}-{agent_id}`.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the broker password (e.g. a systemd credential); never the password itself.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Connect over TLS. Implied by `tls_ca_file` or `tls_cert_file`; alone, the broker's
    /// certificate is checked against the system's CA store.
    #[serde(default)]
    pub tls: bool,
    /// PEM file with the CA certificate(s) the broker's certificate must chain to. The broker's
    /// certificate must name `host` (DNS name or IP address).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate of this agent (mutual TLS); with `use_identity_as_username`, the
    /// broker takes its common name as the user name. Needs `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file` (e.g. a systemd credential).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Allow a plaintext connection to a broker that is not on this machine. Without TLS the
    /// password, events and commit marks cross the network in clear, so a `host` other than
    /// localhost, 127.0.0.0/8 or ::1 is refused unless this is true (a warning at every start).
    #[serde(default)]
    pub insecure_plaintext: bool,
}

impl MqttConfig {
    /// The TLS keys, for [`store_runtime::tls`].
    pub fn tls_files(&self) -> TlsFiles<'_> {
        TlsFiles {
            tls: self.tls,
            ca_file: self.tls_ca_file.as_deref(),
            cert_file: self.tls_cert_file.as_deref(),
            key_file: self.tls_key_file.as_deref(),
        }
    }
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}
fn default_port() -> u16 {
    1883
}
fn default_keep_alive_secs() -> u64 {
    30
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            client_id: None,
            keep_alive_secs: default_keep_alive_secs(),
            username: None,
            password_file: None,
            tls: false,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            insecure_plaintext: false,
        }
    }
}
