//! `[mqtt]`: how the collector reaches the broker, including its TLS keys.
//!
//! The defaults are named functions so that serde's defaults and `Config`'s default table come
//! from one place; `Config::validate` checks the combinations serde cannot (password without
//! user name, plaintext off loopback, packet limits).

use std::path::PathBuf;

use serde::Deserialize;

/// `[mqtt]`: the broker connection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host name or IP address.
    #[serde(default = "default_host")]
    pub host: String,
    /// Broker TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// MQTT client id. The collector keeps a persistent session under this id, so the broker
    /// queues batches for it while it is away; two running collectors must never share one.
    /// Defaults to `store-collector-{collector_id}`.
    #[serde(default = "default_client_id")]
    pub client_id: Option<String>,
    /// Seconds between keep-alive pings (1-65535). The broker declares the collector gone (and
    /// publishes its offline status) after 1.5 times this without traffic.
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
    /// Shortest wait before reconnecting, in milliseconds. Waits double after each failed attempt
    /// up to `reconnect_max_ms`, each one picked at random below the current bound ("full
    /// jitter"), so many clients never reconnect in step.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Longest wait before reconnecting, in milliseconds.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// While a reconnect wait is longer than this (ms), the broker's port is probed with a bare
    /// TCP connect about this often (jittered ±50 %), and the collector reconnects soon after it
    /// accepts instead of sleeping out the backoff: agents' batches that a restarted broker
    /// accepts reach HQ without waiting for it. 0 turns probing off.
    #[serde(default = "default_reconnect_probe_ms")]
    pub reconnect_probe_ms: u64,
    /// User name for the broker, if it requires one.
    #[serde(default = "default_username")]
    pub username: Option<String>,
    /// Password for the broker (needs `username`).
    #[serde(default = "default_password")]
    pub password: Option<String>,
    /// Reads the password from this file instead (surrounding whitespace ignored), e.g. the
    /// systemd credential `/run/credentials/store-collector.service/store-collector.mqtt-password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Subscribe to events through the broker's shared subscription `$share/{group}/...` instead
    /// of directly, so that a broker cluster (EMQX with `shared_subscription_strategy =
    /// hash_topic`) splits stores between the collectors of one group. Unset (the default): a
    /// plain subscription; split a chain with static `stores` lists instead.
    #[serde(default)]
    pub shared_group: Option<String>,
    /// Connect over TLS. Implied by `tls_ca_file` or `tls_cert_file`; alone, the broker's
    /// certificate is checked against the system's CA store. Not with `[embedded_broker]`
    /// (plain TCP on this machine).
    #[serde(default)]
    pub tls: bool,
    /// PEM file with the CA certificate(s) the broker's certificate must chain to. The broker's
    /// certificate must name `host` (DNS name or IP address).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate of this collector (mutual TLS); with `use_identity_as_username`,
    /// the broker takes its common name as the user name. Needs `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file` (e.g. a systemd credential).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Allow a plaintext connection to a broker that is not on this machine. Without TLS the
    /// password, every store's events and the commit marks cross the network in clear, so a
    /// `host` other than localhost, 127.0.0.0/8 or ::1 is refused unless this is true (a
    /// warning at every start).
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// Largest MQTT packet the collector accepts from the broker, in bytes. It must be at least
    /// the broker's own limit (Mosquitto `message_size_limit`, plus topic and header): a larger
    /// packet makes the client drop the connection, and the broker would hand the same packet
    /// to the resumed session again and again. Must be at least 1 MiB.
    #[serde(default = "default_max_packet_bytes")]
    pub max_packet_bytes: usize,
}

pub(super) fn default_max_packet_bytes() -> usize {
    32 * 1024 * 1024
}

/// Smallest allowed `mqtt.max_packet_bytes`: an agent's batch (256 KiB by default) must fit.
pub const MIN_PACKET_BYTES: usize = 1024 * 1024;

impl MqttConfig {
    /// The TLS keys, for [`store_runtime::tls`].
    pub fn tls_files(&self) -> store_runtime::tls::TlsFiles<'_> {
        store_runtime::tls::TlsFiles {
            tls: self.tls,
            ca_file: self.tls_ca_file.as_deref(),
            cert_file: self.tls_cert_file.as_deref(),
            key_file: self.tls_key_file.as_deref(),
        }
    }
}

pub(super) fn default_mqtt() -> MqttConfig {
    MqttConfig {
        host: default_host(),
        port: default_port(),
        client_id: default_client_id(),
        keep_alive_secs: default_keep_alive_secs(),
        reconnect_min_ms: default_reconnect_min_ms(),
        reconnect_max_ms: default_reconnect_max_ms(),
        reconnect_probe_ms: default_reconnect_probe_ms(),
        username: default_username(),
        password: default_password(),
        password_file: None,
        shared_group: None,
        tls: false,
        tls_ca_file: None,
        tls_cert_file: None,
        tls_key_file: None,
        insecure_plaintext: false,
        max_packet_bytes: default_max_packet_bytes(),
    }
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}

fn default_port() -> u16 {
    1883
}

fn default_client_id() -> Option<String> {
    None
}

fn default_keep_alive_secs() -> u64 {
    30
}

fn default_reconnect_min_ms() -> u64 {
    250
}

fn default_reconnect_max_ms() -> u64 {
    30_000
}

fn default_reconnect_probe_ms() -> u64 {
    1_000
}

fn default_username() -> Option<String> {
    None
}

fn default_password() -> Option<String> {
    None
}
