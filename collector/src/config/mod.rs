//! The collector's configuration file (TOML).
//!
//! Every table rejects unknown keys, so a typo is an error at start-up instead of a setting that
//! silently does nothing. Errors name the file, the line and the dotted key, e.g.
//! `config/collector.toml:7: mqtt.port: invalid type: string "x", expected u16`.
//!
//! Each section's struct and defaults live in a submodule of its own and are re-exported here,
//! so callers name them `config::X`. The checks that serde cannot express stay together in
//! `Config::validate`, in one fixed order: several sections' keys depend on each other
//! (TLS and `[embedded_broker]`, packet limits), and the first error reported for a file must
//! not depend on how the code is split.

mod api;
mod broker;
mod commands;
mod deliver;
mod history;
mod ingest;
mod intel;
mod mqtt;
mod postgres;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use store_proto::topics;
use store_runtime::locate::KeyError;

use self::api::default_api;
pub use self::api::ApiConfig;
use self::broker::default_embedded_broker;
pub use self::broker::{EmbeddedBrokerConfig, EMBEDDED_BROKER_MAX_PACKET_BYTES};
use self::commands::default_commands;
pub use self::commands::CommandsConfig;
pub use self::deliver::{
    AlertmanagerConfig, DeliverConfig, FilterConfig, SendConfig, WebhookConfig,
};
use self::history::default_history;
pub use self::history::HistoryConfig;
use self::ingest::{default_ack, default_ingest};
pub use self::ingest::{AckConfig, IngestConfig};
use self::intel::default_intel;
pub use self::intel::{ClockMode, IntelConfig, OutputFormat};
use self::mqtt::default_mqtt;
pub use self::mqtt::{MqttConfig, MIN_PACKET_BYTES};
pub use self::postgres::PostgresConfig;

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
    /// Event history and audit log: whether events are kept, and for how long.
    #[serde(default = "default_history")]
    pub history: HistoryConfig,
    /// Commands from HQ to agents: per-agent and rate bounds, resending, how long they are kept.
    #[serde(default = "default_commands")]
    pub commands: CommandsConfig,
    /// Chain-wide rule thresholds: `[rules.stock]`, `[rules.staffing]`, `[rules.anomaly]`. Every
    /// key has a documented default (see `config/collector.example.toml`).
    #[serde(default)]
    pub rules: toml::Table,
    /// Per-store profiles: `[store.{id}]` with `region`, `timezone` (or `utc_offset_minutes`), `open`, `close`,
    /// and `[store.{id}.rules.*]` overriding the chain's thresholds key by key.
    #[serde(default)]
    pub store: toml::Table,
    /// Where alert state changes and signals are pushed: `[[deliver.webhook]]`,
    /// `[[deliver.alertmanager]]`. None by default.
    #[serde(default)]
    pub deliver: DeliverConfig,
    /// The PostgreSQL sink: `[postgres]`. Absent (the default), nothing is streamed.
    #[serde(default)]
    pub postgres: Option<PostgresConfig>,
}

/// Longest retention accepted: beyond it the cut-off in milliseconds would not mean anything.
const MAX_HISTORY_DAYS: u64 = 36_500;

fn default_stores() -> Vec<String> {
    Vec::new()
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
        if let Err((path, message)) = self.deliver.check() {
            let parts: Vec<&str> = path.iter().map(String::as_str).collect();
            return fail(&parts, message);
        }
        if let Some(Err((key, message))) = self.postgres.as_ref().map(PostgresConfig::check) {
            return fail(&["postgres", key], message);
        }
        if self.history.prune_interval_secs == 0 {
            return fail(
                &["history", "prune_interval_secs"],
                "must be at least 1".to_owned(),
            );
        }
        if self.history.max_age_days > MAX_HISTORY_DAYS {
            return fail(
                &["history", "max_age_days"],
                format!(
                    "{} is more than {MAX_HISTORY_DAYS} (100 years)",
                    self.history.max_age_days
                ),
            );
        }
        if self.history.audit_max_age_days > MAX_HISTORY_DAYS {
            return fail(
                &["history", "audit_max_age_days"],
                format!(
                    "{} is more than {MAX_HISTORY_DAYS} (100 years)",
                    self.history.audit_max_age_days
                ),
            );
        }
        if !crate::ingest::valid_id(&self.api.token_name) {
            return fail(
                &["api", "token_name"],
                format!(
                    "{:?} is not a valid name (1 to {} characters of A-Z, a-z, 0-9, '_', '.', '-')",
                    self.api.token_name,
                    crate::ingest::MAX_ID_LEN
                ),
            );
        }
        for (key, zero) in [
            (
                "max_outstanding_per_agent",
                self.commands.max_outstanding_per_agent == 0,
            ),
            (
                "max_publishes_per_sec",
                self.commands.max_publishes_per_sec == 0,
            ),
            ("resend_after_secs", self.commands.resend_after_secs == 0),
            ("keep_commands", self.commands.keep_commands == 0),
            ("keep_days", self.commands.keep_days == 0),
        ] {
            if zero {
                return fail(&["commands", key], "must be at least 1".to_owned());
            }
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
