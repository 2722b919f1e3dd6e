//! The agent's configuration file (TOML).
//!
//! Every struct rejects unknown keys, so a typo is an error that names the file, the line and the
//! key instead of a silently ignored setting. Defaults are named functions next to their field.
//!
//! Each section's struct and defaults live in a submodule of its own and are re-exported here,
//! so callers name them `config::X`. The checks serde cannot express stay together in
//! `AgentConfig::validate`, in one fixed order, so the first error reported for a file does not
//! depend on how the code is split.

mod clock;
mod journal;
mod metrics;
mod mqtt;
mod privacy;
#[cfg(test)]
mod tests;
mod uplink;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use store_drivers::DriverConfig;
use store_proto::topics;
use store_runtime::locate::KeyError;
use store_runtime::secret::{read_secret, SecretError};
use store_runtime::tls::{self, TlsError};

pub use self::clock::ClockConfig;
pub use self::journal::JournalConfig;
pub use self::metrics::MetricsConfig;
pub use self::mqtt::MqttConfig;
pub use self::privacy::{IdPolicy, PrivacyConfig};
pub use self::uplink::UplinkConfig;

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
            (
                "uplink.drain_window_events",
                self.uplink.drain_window_events,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0".to_owned()));
            }
        }
        let retain = self.journal.retain_max_bytes();
        if retain > 0 && retain >= self.journal.max_bytes {
            return Err(invalid(
                "journal.retain_max_bytes",
                format!(
                    "{retain} must be below journal.max_bytes ({}), which counts retained events too (0 disables retention)",
                    self.journal.max_bytes
                ),
            ));
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
