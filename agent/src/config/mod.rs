//! The agent's configuration file (TOML).
//!
//! Every struct rejects unknown keys, so a typo is an error that names the file, the line and the
//! key instead of a silently ignored setting. Defaults are named functions next to their field.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use store_drivers::DriverConfig;
use store_proto::topics;
use store_runtime::locate::KeyError;
use store_runtime::secret::{read_secret, SecretError};
use store_runtime::tls::{self, TlsError, TlsFiles};

/// Top level of `agent.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Store this agent belongs to; one MQTT topic level (no `/`, `+`, `#`).
    pub store_id: String,
    /// Id of this agent within its store; one MQTT topic level.
    pub agent_id: String,
    /// Directory for the journal and the seq reservation file. Must survive reboots.
    pub state_dir: PathBuf,
    #[serde(default)]
    pub journal: JournalConfig,
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub uplink: UplinkConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub clock: ClockConfig,
    #[serde(default)]
    pub privacy: PrivacyConfig,
    /// Device drivers, each a `[[drivers]]` table selected by `type`.
    #[serde(default)]
    pub drivers: Vec<DriverConfig>,
}

/// `[journal]`: the local durable buffer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Byte budget for events held (key + value bytes; sled's files take about 2-3x that on
    /// disk). When full, the journal sheds by class and records a DataLoss event.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Most events made durable by one fdatasync (group commit).
    #[serde(default = "default_group_max_events")]
    pub group_max_events: usize,
    /// Memory sled may use to cache the journal's pages, in bytes.
    #[serde(default = "default_cache_bytes")]
    pub cache_bytes: u64,
    /// Seqs reserved ahead in the reservation file per fsync; bounds how far seq numbering jumps
    /// after a quarantined journal.
    #[serde(default = "default_seq_reserve")]
    pub seq_reserve: u64,
}

fn default_max_bytes() -> u64 {
    512 * 1024 * 1024
}
fn default_group_max_events() -> usize {
    4096
}
fn default_cache_bytes() -> u64 {
    32 * 1024 * 1024
}
fn default_seq_reserve() -> u64 {
    100_000
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_max_bytes(),
            group_max_events: default_group_max_events(),
            cache_bytes: default_cache_bytes(),
            seq_reserve: default_seq_reserve(),
        }
    }
}

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

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to serve `/metrics` (keep it on loopback); unset = no endpoint.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
}

/// `[clock]`: a simulated clock for demos and tests that play a store day in minutes. Leave it
/// out in production: events then carry the real wall clock.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// Start of the simulated day, ms since the Unix epoch; unset = the real clock.
    #[serde(default)]
    pub simulated_start_ms: Option<i64>,
    /// How many times faster than real time the simulated clock runs (e.g. 240: a 14-hour store
    /// day in 3.5 minutes).
    #[serde(default = "default_clock_speed")]
    pub speed: f64,
    /// Real wall time (ms since the Unix epoch) at which the simulated clock reads
    /// `simulated_start_ms`; unset = when the agent starts. Lets a script that drives the
    /// simulated day know the simulated time exactly.
    #[serde(default)]
    pub anchor_ms: Option<i64>,
}

fn default_clock_speed() -> f64 {
    1.0
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            simulated_start_ms: None,
            speed: default_clock_speed(),
            anchor_ms: None,
        }
    }
}

/// `[privacy]`: what of staff and customers leaves the store (see `privacy`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Cashier ids (POS `operator_id`) and staff badge ids: `"pseudonymise"` (default: replaced
    /// by `p:` + 16 hex digits of HMAC-SHA256 with the key, before they are journaled) or
    /// `"clear"`.
    #[serde(default)]
    pub ids: IdPolicy,
    /// File holding the pseudonymisation key (e.g. a systemd credential), at least 32
    /// characters, the same at every store of the chain so pseudonyms match across stores.
    /// Unset: a random key of this store only is created in `{state_dir}/privacy.key`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Send the text of receipts a template could not read (with card- and loyalty-number-like
    /// digits masked). Default false: such a receipt is sent without its text.
    #[serde(default)]
    pub send_raw_receipts: bool,
}

/// How staff ids leave the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdPolicy {
    /// Replaced by a keyed pseudonym.
    #[default]
    Pseudonymise,
    /// In clear.
    Clear,
}

/// `[uplink]`: batching, flow control and recovery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// Most events in one MQTT message.
    #[serde(default = "default_batch_max_events")]
    pub batch_max_events: usize,
    /// How long live events may wait for a batch to fill (ms); 0 sends each at once.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// Most bytes of events in one MQTT message.
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// Batches published and not yet acknowledged by the broker (PUBACK).
    #[serde(default = "default_max_inflight")]
    pub max_inflight: usize,
    /// When a collector is online but its committed mark stays behind what the broker has
    /// acknowledged for this long, the broker lost batches (crash, wipe): resend from the mark.
    #[serde(default = "default_stall_timeout_secs")]
    pub stall_timeout_secs: u64,
    /// A backlog of at least this many events (after an outage or restart) is drained as
    /// `historical` batches beside the live ones, so new events are not stuck behind it.
    #[serde(default = "default_backlog_threshold_events")]
    pub backlog_threshold_events: u64,
    /// Drain rate of historical batches in events per second; 0 = as fast as possible.
    #[serde(default = "default_backlog_events_per_sec")]
    pub backlog_events_per_sec: u64,
    /// First reconnect delay; doubles per failure up to `reconnect_max_ms`, with full jitter.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
}

fn default_batch_max_events() -> usize {
    500
}
fn default_linger_ms() -> u64 {
    5
}
fn default_batch_max_bytes() -> usize {
    256 * 1024
}
fn default_max_inflight() -> usize {
    32
}
fn default_stall_timeout_secs() -> u64 {
    30
}
fn default_backlog_threshold_events() -> u64 {
    10_000
}
fn default_backlog_events_per_sec() -> u64 {
    5_000
}
fn default_reconnect_min_ms() -> u64 {
    250
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}

impl Default for UplinkConfig {
    fn default() -> Self {
        Self {
            batch_max_events: default_batch_max_events(),
            linger_ms: default_linger_ms(),
            batch_max_bytes: default_batch_max_bytes(),
            max_inflight: default_max_inflight(),
            stall_timeout_secs: default_stall_timeout_secs(),
            backlog_threshold_events: default_backlog_threshold_events(),
            backlog_events_per_sec: default_backlog_events_per_sec(),
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
        }
    }
}

/// A configuration file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// A value that is missing, unknown or out of range: `file:line: key: message`.
    #[error(transparent)]
    Invalid(#[from] KeyError),
}

impl AgentConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and validates config text; `file` is used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let config: AgentConfig =
            toml::from_str(text).map_err(|e| KeyError::from_toml(text, file, &e))?;
        config.validate(text, file)?;
        Ok(config)
    }

    /// The broker user name and password, when `mqtt.username` is set; the password is read
    /// from `mqtt.password_file` (empty without one). Read once at start-up, so a wrong path is
    /// a start-up error naming the key.
    pub fn mqtt_credentials(&self) -> Result<Option<(String, String)>, SecretError> {
        let Some(user) = &self.mqtt.username else {
            return Ok(None);
        };
        let password = match &self.mqtt.password_file {
            Some(path) => read_secret("mqtt.password_file", path)?,
            None => String::new(),
        };
        Ok(Some((user.clone(), password)))
    }

    /// The rustls client config for `[mqtt]`'s TLS keys (`None`: plain TCP). Read once at
    /// start-up (and by `check-config`), so a bad file is an error naming its key and path.
    pub fn mqtt_tls(&self) -> Result<Option<std::sync::Arc<tls::ClientConfig>>, TlsError> {
        tls::client_config(&self.mqtt.tls_files())
    }

    /// The MQTT client id, defaulted from store and agent ids.
    pub fn client_id(&self) -> String {
        self.mqtt
            .client_id
            .clone()
            .unwrap_or_else(|| format!("store-agent-{}-{}", self.store_id, self.agent_id))
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| {
            let path: Vec<&str> = key.split('.').collect();
            ConfigError::Invalid(KeyError::at(text, file, &path, message))
        };
        for (key, value) in [("store_id", &self.store_id), ("agent_id", &self.agent_id)] {
            if !topics::valid_level(value) {
                return Err(invalid(
                    key,
                    format!("{value:?} must be non-empty without '/', '+' or '#'"),
                ));
            }
        }
        if let Err(e) = tls::check_mqtt_settings(
            &self.mqtt.host,
            &self.mqtt.tls_files(),
            self.mqtt.insecure_plaintext,
        ) {
            return Err(invalid(&format!("mqtt.{}", e.key), e.message));
        }
        if !(self.clock.speed.is_finite() && self.clock.speed > 0.0) {
            return Err(invalid(
                "clock.speed",
                format!("{} must be a positive number", self.clock.speed),
            ));
        }
        let positive = [
            (
                "journal.group_max_events",
                self.journal.group_max_events as u64,
            ),
            ("journal.seq_reserve", self.journal.seq_reserve),
            ("journal.max_bytes", self.journal.max_bytes),
            (
                "uplink.batch_max_events",
                self.uplink.batch_max_events as u64,
            ),
            ("uplink.batch_max_bytes", self.uplink.batch_max_bytes as u64),
            ("uplink.max_inflight", self.uplink.max_inflight as u64),
            ("uplink.stall_timeout_secs", self.uplink.stall_timeout_secs),
            ("uplink.reconnect_min_ms", self.uplink.reconnect_min_ms),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0".to_owned()));
            }
        }
        if self.uplink.max_inflight > 1000 {
            return Err(invalid(
                "uplink.max_inflight",
                "must be at most 1000".to_owned(),
            ));
        }
        if self.uplink.reconnect_max_ms < self.uplink.reconnect_min_ms {
            return Err(invalid(
                "uplink.reconnect_max_ms",
                "must not be less than uplink.reconnect_min_ms".to_owned(),
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, d) in self.drivers.iter().enumerate() {
            if d.id().is_empty() || !ids.insert(d.id()) {
                return Err(invalid(
                    &format!("drivers.{i}.id"),
                    format!("driver id {:?} is empty or used twice", d.id()),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "store_id = \"s1\"\nagent_id = \"a1\"\nstate_dir = \"/tmp/x\"\n";

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/agent.example.toml");
        let c = AgentConfig::load(&path).unwrap();
        assert_eq!(c.drivers.len(), 1);
        assert_eq!(c.drivers[0].kind(), "line_feed");
    }

    #[test]
    fn every_commented_driver_example_passes_check_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/agent.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut kinds = Vec::new();
        // Each commented `[[drivers]]` block, uncommented (`# # ` lines stay comments).
        for block in text.split("\n# [[drivers]]\n").skip(1) {
            let body: String = block
                .lines()
                .take_while(|l| l.starts_with("# "))
                .map(|l| format!("{}\n", &l[2..]))
                .collect();
            let config = format!("{MINIMAL}[[drivers]]\n{body}");
            let c =
                AgentConfig::parse(&config, "example").unwrap_or_else(|e| panic!("{e}\n{config}"));
            kinds.push(c.drivers[0].kind());
        }
        for kind in [
            "counter_push",
            "counter_poll",
            "counter_serial",
            "serial_scanner",
            "hid_pos_scanner",
            "wedge_scanner",
            "escpos_tap",
            "escpos_serial_tap",
            "poslog_folder",
        ] {
            assert!(kinds.contains(&kind), "{kind} example missing: {kinds:?}");
        }
    }

    #[test]
    fn defaults_apply() {
        let c = AgentConfig::parse(MINIMAL, "a.toml").unwrap();
        assert_eq!(c.mqtt.port, 1883);
        assert_eq!(c.uplink.max_inflight, 32);
        assert_eq!(c.client_id(), "store-agent-s1-a1");
        assert_eq!(c.privacy, PrivacyConfig::default());
        assert_eq!(c.privacy.ids, IdPolicy::Pseudonymise);
        assert!(!c.privacy.send_raw_receipts);
    }

    #[test]
    fn example_privacy_section_shows_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/agent.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let c = AgentConfig::parse(&text, "example").unwrap();
        assert_eq!(c.privacy, PrivacyConfig::default());
        assert!(text.contains("\n[privacy]\n"), "documented in the example");
        let text = format!("{MINIMAL}[privacy]\nids = \"pseudonymize\"\n");
        let e = AgentConfig::parse(&text, "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agent.toml:5: privacy.ids:"), "{e}");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = format!("{MINIMAL}[mqtt]\nhost = \"x\"\nprot = 1\n");
        let e = AgentConfig::parse(&text, "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agent.toml:6: mqtt"), "{e}");
        assert!(e.contains("prot"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let text = format!("{MINIMAL}[uplink]\nmax_inflight = \"many\"\n");
        let e = AgentConfig::parse(&text, "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agent.toml:5: uplink.max_inflight:"), "{e}");
    }

    #[test]
    fn unknown_driver_field_is_an_error() {
        let text = format!(
            "{MINIMAL}[[drivers]]\ntype = \"line_feed\"\nid = \"f\"\nlisten = \"127.0.0.1:1\"\nport = 3\n"
        );
        let e = AgentConfig::parse(&text, "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("agent.toml:") && e.contains("port"), "{e}");
    }

    #[test]
    fn plaintext_to_a_remote_broker_is_refused() {
        let text = format!("{MINIMAL}[mqtt]\nport = 1883\nhost = \"hq.example\"\n");
        let e = AgentConfig::parse(&text, "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agent.toml:6: mqtt.host: "), "{e}");
        assert!(e.contains("insecure_plaintext"), "{e}");
        let c =
            AgentConfig::parse(&format!("{text}insecure_plaintext = true\n"), "a.toml").unwrap();
        assert!(c.mqtt.insecure_plaintext);
        let c = AgentConfig::parse(&format!("{text}tls_ca_file = \"/etc/ca.pem\"\n"), "a.toml")
            .unwrap();
        assert!(c.mqtt.tls_files().enabled());
        for host in ["localhost", "127.0.0.2", "::1"] {
            let text = format!("{MINIMAL}[mqtt]\nhost = \"{host}\"\n");
            AgentConfig::parse(&text, "a.toml").unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        let text = format!("{MINIMAL}[mqtt]\ntls = true\ntls_key_file = \"/k.pem\"\n");
        let e = AgentConfig::parse(&text, "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agent.toml:6: mqtt.tls_key_file: "), "{e}");
    }

    #[test]
    fn commented_tls_example_passes_check_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/agent.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        // The commented `[mqtt]` keys, uncommented, on top of the minimal config; the documented
        // defaults are the coded ones.
        let keys: String = text
            .lines()
            .skip_while(|l| *l != "[mqtt]")
            .take_while(|l| *l != "[metrics]")
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.split_once(" = ").is_some_and(|(k, _)| {
                    [
                        "host",
                        "port",
                        "tls",
                        "tls_ca_file",
                        "tls_cert_file",
                        "tls_key_file",
                        "insecure_plaintext",
                    ]
                    .contains(&k)
                })
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            keys.contains("tls_ca_file") && keys.contains("insecure_plaintext"),
            "{keys}"
        );
        let c = AgentConfig::parse(&format!("{MINIMAL}[mqtt]\n{keys}"), "example")
            .unwrap_or_else(|e| panic!("{e}\n{keys}"));
        let d = MqttConfig::default();
        assert_eq!(
            (c.mqtt.tls, c.mqtt.insecure_plaintext),
            (d.tls, d.insecure_plaintext)
        );
        assert!(c.mqtt.tls_cert_file.is_some() && c.mqtt.tls_key_file.is_some());
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let text = "store_id = \"a/b\"\nagent_id = \"a1\"\nstate_dir = \"/tmp\"\n";
        let e = AgentConfig::parse(text, "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agent.toml:1: store_id:"), "{e}");
        let text = format!("{MINIMAL}[uplink]\nmax_inflight = 0\n");
        let e = AgentConfig::parse(&text, "agent.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("agent.toml:5: uplink.max_inflight:"), "{e}");
    }
}
