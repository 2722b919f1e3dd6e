//! The collector's configuration file (TOML).
//!
//! Every table rejects unknown keys, so a typo is an error at start-up instead of a setting that
//! silently does nothing. Errors name the file, the line and the dotted key, e.g.
//! `config/collector.toml:7: mqtt.port: invalid type: string "x", expected u16`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use store_proto::topics;
use store_runtime::locate::KeyError;

/// Largest packet (MQTT remaining length) the embedded broker accepts from a client: 16 MiB of
/// batch plus room for topic and header. A larger publish is refused at the broker (it drops
/// that client's connection), so it never reaches the collector's session. The collector's own
/// client limit (`mqtt.max_packet_bytes`) must be at least this; the config check enforces it.
pub const EMBEDDED_BROKER_MAX_PACKET_BYTES: usize = 16 * 1024 * 1024 + 64 * 1024;

/// Top level of `collector.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Id of this collector, e.g. `"hq-1"`. It names the collector's status topic
    /// (`hq/collector/{id}/status`) and is written into every commit mark it publishes, so it must
    /// be usable as one MQTT topic level (no `/`, `+` or `#`). Required.
    pub collector_id: String,
    /// Directory for the collector's durable state. The sled database lives in
    /// `{state_dir}/state`. Required.
    pub state_dir: PathBuf,
    /// Stores this collector owns. Empty (the default) means every store. With a list, the
    /// collector subscribes to each listed store's events only, and ignores (but acknowledges)
    /// batches of other stores that reach it anyway, so several collectors can split a chain.
    #[serde(default = "default_stores")]
    pub stores: Vec<String>,
    /// Connection to the MQTT broker.
    #[serde(default = "default_mqtt")]
    pub mqtt: MqttConfig,
    /// Publishing of commit marks to agents.
    #[serde(default = "default_ack")]
    pub ack: AckConfig,
    /// Bounds on what agents' batches may make the collector record.
    #[serde(default = "default_ingest")]
    pub ingest: IngestConfig,
    /// HTTP API (health and statistics).
    #[serde(default = "default_api")]
    pub api: ApiConfig,
    /// When present, the collector runs its own MQTT broker in-process and connects to it
    /// (`mqtt.host` and `mqtt.port` are then not used). Meant for demos and small single-site
    /// set-ups; use Mosquitto or a broker cluster in production.
    #[serde(default = "default_embedded_broker")]
    pub embedded_broker: Option<EmbeddedBrokerConfig>,
    /// The rules engine: catalogue, clock and output format.
    #[serde(default = "default_intel")]
    pub intel: IntelConfig,
    /// Chain-wide rule thresholds: `[rules.stock]`, `[rules.staffing]`, `[rules.anomaly]`. Every
    /// key has a documented default (see `config/collector.example.toml`).
    #[serde(default)]
    pub rules: toml::Table,
    /// Per-store profiles: `[store.{id}]` with `region`, `utc_offset_minutes`, `open`, `close`,
    /// and `[store.{id}.rules.*]` overriding the chain's thresholds key by key.
    #[serde(default)]
    pub store: toml::Table,
}

fn default_stores() -> Vec<String> {
    Vec::new()
}

fn default_mqtt() -> MqttConfig {
    MqttConfig {
        host: default_host(),
        port: default_port(),
        client_id: default_client_id(),
        keep_alive_secs: default_keep_alive_secs(),
        reconnect_min_ms: default_reconnect_min_ms(),
        reconnect_max_ms: default_reconnect_max_ms(),
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

fn default_ingest() -> IngestConfig {
    IngestConfig {
        max_seq_ahead: default_max_seq_ahead(),
        max_ranges_per_agent: default_max_ranges_per_agent(),
        max_stores: default_max_stores(),
    }
}

fn default_ack() -> AckConfig {
    AckConfig {
        interval_ms: default_ack_interval_ms(),
    }
}

fn default_api() -> ApiConfig {
    ApiConfig {
        listen: default_api_listen(),
        token: None,
        token_file: None,
        viewer_token: None,
        viewer_token_file: None,
    }
}

fn default_intel() -> IntelConfig {
    IntelConfig {
        catalogue: None,
        clock: ClockMode::Wall,
        format: OutputFormat::Protobuf,
        evaluate_interval_ms: default_evaluate_interval_ms(),
        catalogue_check_secs: default_catalogue_check_secs(),
    }
}

fn default_embedded_broker() -> Option<EmbeddedBrokerConfig> {
    None
}

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

fn default_max_packet_bytes() -> usize {
    32 * 1024 * 1024
}

/// Smallest allowed `mqtt.max_packet_bytes`: an agent's batch (256 KiB by default) must fit.
pub const MIN_PACKET_BYTES: usize = 1024 * 1024;

/// `[ingest]`: bounds on what agents' batches may make the collector record. Whatever arrives on
/// an agent's topic is checked against them; what falls outside is refused, counted
/// (`store_collector_rejected_events_total`, `store_collector_refused_publishes_total`) and
/// logged once a minute per agent. See the `ledger::dedup` module for the rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Highest seq accepted from an agent, counted above its committed mark. Events beyond are
    /// refused (the agent resends them once its mark has caught up), so a forged seq can never
    /// move the mark far ahead. Must exceed any gap a genuine agent can open: its journal budget
    /// bounds that.
    #[serde(default = "default_max_seq_ahead")]
    pub max_seq_ahead: u64,
    /// Most ranges of applied seqs above an agent's committed mark (each gap behind them is one
    /// range). Once reached, events that would open another range are refused until gaps close;
    /// the agent resends them. Keeps an agent's record small and its cost per batch bounded.
    #[serde(default = "default_max_ranges_per_agent")]
    pub max_ranges_per_agent: usize,
    /// Most stores this collector keeps state for. Batches of further stores are refused
    /// (acknowledged, counted and logged), so a flood of made-up store ids cannot fill memory
    /// and disk.
    #[serde(default = "default_max_stores")]
    pub max_stores: usize,
}

fn default_max_seq_ahead() -> u64 {
    crate::ledger::dedup::DEFAULT_MAX_SEQ_AHEAD
}

fn default_max_ranges_per_agent() -> usize {
    crate::ledger::dedup::DEFAULT_MAX_RANGES_PER_AGENT
}

fn default_max_stores() -> usize {
    20_000
}

impl IngestConfig {
    /// The per-agent limits of the ledger.
    pub fn limits(&self) -> crate::ledger::dedup::Limits {
        crate::ledger::dedup::Limits {
            max_seq_ahead: self.max_seq_ahead,
            max_ranges_per_agent: self.max_ranges_per_agent,
        }
    }
}

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

fn default_username() -> Option<String> {
    None
}

fn default_password() -> Option<String> {
    None
}

/// `[ack]`: commit marks published to agents on `stores/{store}/agents/{agent}/ack`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckConfig {
    /// At most one mark per agent is published per interval (milliseconds), and only when it
    /// moved. Lower means agents free journal space sooner; higher means less broker traffic.
    #[serde(default = "default_ack_interval_ms")]
    pub interval_ms: u64,
}

fn default_ack_interval_ms() -> u64 {
    200
}

/// `[api]`: the HTTP API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the HTTP API listens on (`GET /healthz`, `GET /v1/stats`). Loopback by default:
    /// expose it on purpose only.
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// The operator's bearer token (`Authorization: Bearer <token>`): reads `/v1/*`, and is the
    /// only token that may change state (acknowledge alerts, reload the catalogue). `/healthz`,
    /// `/metrics` and the dashboard page itself are open; the page asks for a token. Without any
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
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// `[intel]`: the rules engine that turns events into stock alerts and staffing signals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelConfig {
    /// Product catalogue HQ maintains (`.csv` or `.toml`). Re-read when the file changes; a file
    /// with errors is refused (logged with file and line) and the last good one stays in force.
    /// Without one, every GTIN is "unknown" and reorder points come from observed demand.
    #[serde(default)]
    pub catalogue: Option<PathBuf>,
    /// What "now" is for the rules: `"wall"` (the collector's clock, the default) or `"event"`
    /// (the newest event time seen: for replays and the accelerated demo).
    #[serde(default = "default_clock")]
    pub clock: ClockMode,
    /// Payload of `hq/alerts/{store}` and `hq/signals/{store}`: `"protobuf"` (store.edge.v1.Alert
    /// and StaffingSignal, the default) or `"json"` (same field names) for dashboards.
    #[serde(default = "default_format")]
    pub format: OutputFormat,
    /// How often time-based rules (staffing, silence, transfers) are evaluated, milliseconds.
    #[serde(default = "default_evaluate_interval_ms")]
    pub evaluate_interval_ms: u64,
    /// How often the catalogue file is checked for changes, seconds.
    #[serde(default = "default_catalogue_check_secs")]
    pub catalogue_check_secs: u64,
}

/// See [`IntelConfig::clock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    Wall,
    Event,
}

/// See [`IntelConfig::format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Protobuf,
    Json,
}

fn default_clock() -> ClockMode {
    ClockMode::Wall
}
fn default_format() -> OutputFormat {
    OutputFormat::Protobuf
}
fn default_evaluate_interval_ms() -> u64 {
    1000
}
fn default_catalogue_check_secs() -> u64 {
    5
}

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

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| KeyError::from_toml(text, origin, &e))?;
        config.validate(text, origin)?;
        Ok(config)
    }

    /// The MQTT client id, with its default filled in.
    pub fn mqtt_client_id(&self) -> String {
        self.mqtt
            .client_id
            .clone()
            .unwrap_or_else(|| format!("store-collector-{}", self.collector_id))
    }

    /// The rustls client config for `[mqtt]`'s TLS keys (`None`: plain TCP). Read at start-up and
    /// by `check-config`, so a bad file is an error naming its key and path.
    pub fn mqtt_tls(
        &self,
    ) -> Result<
        Option<std::sync::Arc<store_runtime::tls::ClientConfig>>,
        store_runtime::tls::TlsError,
    > {
        store_runtime::tls::client_config(&self.mqtt.tls_files())
    }

    /// The per-store profiles with the rules' thresholds resolved.
    pub fn profiles(
        &self,
    ) -> Result<crate::rules::engine::profile::Profiles, crate::rules::engine::profile::ProfileError>
    {
        crate::rules::engine::profile::Profiles::from_tables(&self.rules, &self.store)
    }

    /// Semantic checks serde cannot express; each error points at the offending key.
    fn validate(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let fail = |path: &[&str], message: String| {
            Err(ConfigError::Invalid(KeyError::at(
                text, origin, path, message,
            )))
        };
        if !topics::valid_level(&self.collector_id) {
            return fail(
                &["collector_id"],
                format!(
                    "{:?} is not a valid MQTT topic level (it must be non-empty, without '/', '+' or '#')",
                    self.collector_id
                ),
            );
        }
        if self.state_dir.as_os_str().is_empty() {
            return fail(&["state_dir"], "must not be empty".to_owned());
        }
        for (i, store) in self.stores.iter().enumerate() {
            if !crate::ingest::valid_id(store) {
                let index = i.to_string();
                return fail(
                    &["stores", &index],
                    format!(
                        "{store:?} is not a valid store id (1 to {} characters of A-Z, a-z, 0-9, '_', '.', '-')",
                        crate::ingest::MAX_ID_LEN
                    ),
                );
            }
        }
        if self.mqtt.host.is_empty() {
            return fail(&["mqtt", "host"], "must not be empty".to_owned());
        }
        if self.mqtt.client_id.as_deref() == Some("") {
            return fail(
                &["mqtt", "client_id"],
                "must not be empty (a persistent session needs a fixed client id)".to_owned(),
            );
        }
        if !(1..=u64::from(u16::MAX)).contains(&self.mqtt.keep_alive_secs) {
            return fail(
                &["mqtt", "keep_alive_secs"],
                format!("{} is out of range 1..=65535", self.mqtt.keep_alive_secs),
            );
        }
        if self.mqtt.reconnect_min_ms == 0 {
            return fail(
                &["mqtt", "reconnect_min_ms"],
                "must be at least 1".to_owned(),
            );
        }
        if self.mqtt.reconnect_max_ms < self.mqtt.reconnect_min_ms {
            return fail(
                &["mqtt", "reconnect_max_ms"],
                format!(
                    "{} is less than reconnect_min_ms ({})",
                    self.mqtt.reconnect_max_ms, self.mqtt.reconnect_min_ms
                ),
            );
        }
        if self.mqtt.password.is_some() && self.mqtt.password_file.is_some() {
            return fail(
                &["mqtt", "password_file"],
                "set either mqtt.password or mqtt.password_file, not both".to_owned(),
            );
        }
        if self.mqtt.password_file.is_some() && self.mqtt.username.is_none() {
            return fail(
                &["mqtt", "password_file"],
                "is set but mqtt.username is not".to_owned(),
            );
        }
        if self.mqtt.password.is_some() && self.mqtt.username.is_none() {
            return fail(
                &["mqtt", "password"],
                "is set but mqtt.username is not".to_owned(),
            );
        }
        if let Some(group) = &self.mqtt.shared_group {
            if !topics::valid_level(group) {
                return fail(
                    &["mqtt", "shared_group"],
                    format!("{group:?} is not a valid MQTT topic level (it must be non-empty, without '/', '+' or '#')"),
                );
            }
        }
        if self.embedded_broker.is_some() {
            // The embedded broker is plain TCP on this machine and mqtt.host is not used.
            if self.mqtt.tls_files().enabled() {
                let key = if self.mqtt.tls {
                    "tls"
                } else if self.mqtt.tls_ca_file.is_some() {
                    "tls_ca_file"
                } else {
                    "tls_cert_file"
                };
                return fail(
                    &["mqtt", key],
                    "TLS cannot be used with [embedded_broker] (it listens in plain TCP)"
                        .to_owned(),
                );
            }
        } else if let Err(e) = store_runtime::tls::check_mqtt_settings(
            &self.mqtt.host,
            &self.mqtt.tls_files(),
            self.mqtt.insecure_plaintext,
        ) {
            return fail(&["mqtt", e.key], e.message);
        }
        if self.ack.interval_ms == 0 {
            return fail(&["ack", "interval_ms"], "must be at least 1".to_owned());
        }
        if self.intel.evaluate_interval_ms == 0 {
            return fail(
                &["intel", "evaluate_interval_ms"],
                "must be at least 1".to_owned(),
            );
        }
        if self.api.token.is_some() && self.api.token_file.is_some() {
            return fail(
                &["api", "token_file"],
                "set either api.token or api.token_file, not both".to_owned(),
            );
        }
        if self.api.viewer_token.is_some() && self.api.viewer_token_file.is_some() {
            return fail(
                &["api", "viewer_token_file"],
                "set either api.viewer_token or api.viewer_token_file, not both".to_owned(),
            );
        }
        for (key, token) in [
            ("token", &self.api.token),
            ("viewer_token", &self.api.viewer_token),
        ] {
            if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return fail(&["api", key], "must not be empty".to_owned());
            }
        }
        if self.api.token.is_some() && self.api.token == self.api.viewer_token {
            return fail(
                &["api", "viewer_token"],
                "is the same as api.token: the viewer token must differ from the operator's"
                    .to_owned(),
            );
        }
        if self.mqtt.max_packet_bytes < MIN_PACKET_BYTES {
            return fail(
                &["mqtt", "max_packet_bytes"],
                format!(
                    "{} is less than the minimum {MIN_PACKET_BYTES}",
                    self.mqtt.max_packet_bytes
                ),
            );
        }
        if self.embedded_broker.is_some()
            && self.mqtt.max_packet_bytes < EMBEDDED_BROKER_MAX_PACKET_BYTES
        {
            return fail(
                &["mqtt", "max_packet_bytes"],
                format!(
                    "{} is less than the embedded broker's packet limit {}",
                    self.mqtt.max_packet_bytes, EMBEDDED_BROKER_MAX_PACKET_BYTES
                ),
            );
        }
        if self.ingest.max_seq_ahead == 0 {
            return fail(
                &["ingest", "max_seq_ahead"],
                "must be at least 1".to_owned(),
            );
        }
        if self.ingest.max_ranges_per_agent == 0 {
            return fail(
                &["ingest", "max_ranges_per_agent"],
                "must be at least 1".to_owned(),
            );
        }
        if self.ingest.max_stores == 0 {
            return fail(&["ingest", "max_stores"], "must be at least 1".to_owned());
        }
        if let Err(e) = self.profiles() {
            let parts: Vec<&str> = e.key.split('.').collect();
            return fail(&parts, e.message);
        }
        Ok(())
    }
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value is missing, unknown or out of range:
    /// `file:line: key: message`.
    #[error(transparent)]
    Invalid(#[from] KeyError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, "config/collector.toml")
            .expect_err("config should be rejected")
            .to_string()
    }

    const MINIMAL: &str = "collector_id = \"hq-1\"\nstate_dir = \"/tmp/x\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MINIMAL, "t.toml").unwrap();
        assert_eq!(c.collector_id, "hq-1");
        assert!(c.stores.is_empty());
        assert_eq!(c.mqtt.host, "127.0.0.1");
        assert_eq!(c.mqtt.port, 1883);
        assert_eq!(c.mqtt_client_id(), "store-collector-hq-1");
        assert_eq!(c.mqtt.keep_alive_secs, 30);
        assert_eq!(
            (c.mqtt.reconnect_min_ms, c.mqtt.reconnect_max_ms),
            (250, 30_000)
        );
        assert_eq!(c.ack.interval_ms, 200);
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.mqtt.max_packet_bytes, 32 * 1024 * 1024);
        assert_eq!(
            (
                c.ingest.max_seq_ahead,
                c.ingest.max_ranges_per_agent,
                c.ingest.max_stores
            ),
            (100_000_000, 1024, 20_000)
        );
        assert!(c.embedded_broker.is_none());
        let c = Config::parse(&format!("{MINIMAL}[embedded_broker]\n"), "t.toml").unwrap();
        assert_eq!(
            c.embedded_broker.unwrap().listen.to_string(),
            "127.0.0.1:1883"
        );
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let text = format!("{MINIMAL}\n[mqtt]\nhost = \"broker\"\n\nport = \"x\"\n");
        assert_eq!(
            err(&text),
            "config/collector.toml:7: mqtt.port: invalid type: string \"x\", expected u16"
        );
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = format!("{MINIMAL}[ack]\ninterval_msec = 5\n");
        let e = err(&text);
        assert!(
            e.starts_with(
                "config/collector.toml:4: ack.interval_msec: unknown field `interval_msec`"
            ),
            "{e}"
        );
    }

    #[test]
    fn inline_and_dotted_tables_name_the_key() {
        let text = format!("{MINIMAL}mqtt = {{ port = 99999 }}\n");
        assert_eq!(
            err(&text),
            "config/collector.toml:3: mqtt.port: invalid value: integer `99999`, expected u16"
        );
        let text = format!("{MINIMAL}api.listen = \"nowhere\"\n");
        let e = err(&text);
        assert!(
            e.starts_with("config/collector.toml:3: api.listen: "),
            "{e}"
        );
    }

    #[test]
    fn missing_keys_are_named() {
        let e = err("state_dir = \"/x\"\n");
        assert_eq!(
            e,
            "config/collector.toml: collector_id: missing field `collector_id`"
        );
    }

    #[test]
    fn semantic_errors_name_line_and_key() {
        let e = err("state_dir = \"/x\"\n\ncollector_id = \"hq/1\"\n");
        assert!(
            e.starts_with("config/collector.toml:3: collector_id: "),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}stores = [\"s1\",\n  \"s+2\"]\n"));
        assert!(e.starts_with("config/collector.toml:4: stores.1: "), "{e}");
        let e = err(&format!(
            "{MINIMAL}[mqtt]\nreconnect_min_ms = 500\nreconnect_max_ms = 10\n"
        ));
        assert!(
            e.starts_with("config/collector.toml:5: mqtt.reconnect_max_ms: "),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}[mqtt]\npassword = \"p\"\n"));
        assert!(
            e.starts_with("config/collector.toml:4: mqtt.password: "),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}[mqtt]\nmax_packet_bytes = 1000\n"));
        assert!(
            e.starts_with("config/collector.toml:4: mqtt.max_packet_bytes: "),
            "{e}"
        );
        let e = err(&format!(
            "{MINIMAL}[mqtt]\nmax_packet_bytes = 2000000\n[embedded_broker]\n"
        ));
        assert!(
            e.starts_with("config/collector.toml:4: mqtt.max_packet_bytes: "),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}[ingest]\nmax_ranges_per_agent = 0\n"));
        assert!(
            e.starts_with("config/collector.toml:4: ingest.max_ranges_per_agent: "),
            "{e}"
        );
        let e = err(&format!(
            "{MINIMAL}[api]\ntoken = \"t\"\nviewer_token = \"t\"\n"
        ));
        assert!(
            e.starts_with("config/collector.toml:5: api.viewer_token: "),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}stores = [\"s 1\"]\n"));
        assert!(e.starts_with("config/collector.toml:3: stores.0: "), "{e}");
    }

    #[test]
    fn plaintext_to_a_remote_broker_is_refused() {
        let text = format!("{MINIMAL}[mqtt]\nport = 1883\nhost = \"10.1.2.3\"\n");
        let e = err(&text);
        assert!(e.starts_with("config/collector.toml:5: mqtt.host: "), "{e}");
        assert!(e.contains("insecure_plaintext"), "{e}");
        let c = Config::parse(&format!("{text}insecure_plaintext = true\n"), "t.toml").unwrap();
        assert!(c.mqtt.insecure_plaintext);
        Config::parse(&format!("{text}tls = true\n"), "t.toml").unwrap();
        let e = err(&format!("{text}tls = true\ninsecure_plaintext = true\n"));
        assert!(
            e.starts_with("config/collector.toml:7: mqtt.insecure_plaintext: "),
            "{e}"
        );
        // The embedded broker: mqtt.host is unused, and TLS to it is a mistake.
        let e = err(&format!(
            "{MINIMAL}[mqtt]\ntls_ca_file = \"/ca.pem\"\n[embedded_broker]\n"
        ));
        assert!(
            e.starts_with("config/collector.toml:4: mqtt.tls_ca_file: "),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = err(&format!("{MINIMAL}[mqtt]\nport = 1\nport = 2\n"));
        assert!(e.starts_with("config/collector.toml:5: mqtt.port: "), "{e}");
    }

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.collector_id, "hq-1");
        assert_eq!(c.mqtt_client_id(), "store-collector-hq-1");
        // The example shows the defaults: if a default changes, the example must too.
        assert_eq!(c.ingest, default_ingest());
        assert_eq!(c.mqtt.max_packet_bytes, default_max_packet_bytes());
        let profiles = c.profiles().unwrap();
        assert_eq!(
            profiles.get("any").rules,
            crate::rules::engine::profile::RulesConfig::default()
        );
    }

    #[test]
    fn commented_tls_example_parses_with_the_coded_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let keys: String = text
            .lines()
            .skip_while(|l| *l != "[mqtt]")
            .take_while(|l| *l != "[ack]")
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.split_once(" = ").is_some_and(|(k, _)| {
                    k == "tls" || k.starts_with("tls_") || k == "insecure_plaintext"
                })
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(keys.lines().count(), 5, "{keys}");
        let c = Config::parse(&format!("{MINIMAL}[mqtt]\n{keys}"), "example")
            .unwrap_or_else(|e| panic!("{e}\n{keys}"));
        let d = default_mqtt();
        assert_eq!(
            (c.mqtt.tls, c.mqtt.insecure_plaintext),
            (d.tls, d.insecure_plaintext)
        );
        assert!(c.mqtt.tls_ca_file.is_some() && c.mqtt.tls_key_file.is_some());
    }

    #[test]
    fn example_store_profile_parses_when_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let store: String = text
            .lines()
            .skip_while(|l| !l.starts_with("# [store."))
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        assert!(!store.is_empty());
        let c =
            Config::parse(&format!("{text}\n{store}"), "example").unwrap_or_else(|e| panic!("{e}"));
        let p = c.profiles().unwrap();
        let s = p.get("store-0001");
        assert_eq!((s.region.as_str(), s.utc_offset_minutes), ("north", 60));
        assert_eq!(s.rules.staffing.min_staff, 3);
        assert_eq!(p.get("other").rules.staffing.min_staff, 2);
    }
}
