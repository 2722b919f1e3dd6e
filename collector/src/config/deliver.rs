//! `[[deliver.webhook]]` and `[[deliver.alertmanager]]`: where alert state changes (and, if
//! asked, staffing signals) are pushed, and which of them each destination wants.
//!
//! Serde checks the shape; [`DeliverConfig::check`] checks what serde cannot (URL form, plain
//! HTTP off loopback, unique names, known kinds and severities) and names the offending key, so
//! `Config::validate` can point at its line.

use std::path::PathBuf;

use serde::Deserialize;

/// `[deliver]`: every destination.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverConfig {
    /// Signed JSON webhooks (an ERP inbox, a chat bridge, ...).
    #[serde(default)]
    pub webhook: Vec<WebhookConfig>,
    /// Prometheus Alertmanagers (`POST {url}/api/v2/alerts`).
    #[serde(default)]
    pub alertmanager: Vec<AlertmanagerConfig>,
}

/// What a destination receives (empty lists mean "all"), from the destination's keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilterConfig {
    pub kinds: Vec<String>,
    pub stores: Vec<String>,
    pub regions: Vec<String>,
    pub min_severity: Option<String>,
    pub include_signals: bool,
}

/// Timing and bounds of a destination, from its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SendConfig {
    pub timeout_ms: u64,
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    pub max_entries: u64,
    pub insecure_plaintext: bool,
    pub tls_ca_file: Option<PathBuf>,
}

/// One `[[deliver.webhook]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names the destination in metrics, logs and the outbox (A-Z, a-z, 0-9, `_`, `-`).
    pub name: String,
    /// `http://` or `https://` URL the deliveries are POSTed to.
    pub url: String,
    /// File holding the HMAC-SHA256 key (`X-Store-Edge-Signature`). Required.
    pub secret_file: PathBuf,
    /// Alert kinds by short name (`LOW`, `OUT`, `DEVICE_OFFLINE`, ...); empty means all.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Store ids; empty means all.
    #[serde(default)]
    pub stores: Vec<String>,
    /// Regions (`[store.{id}] region`); empty means all.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Lowest severity sent: `info` (everything, the default), `warning` or `critical`.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// Longest time for one request (connect, send, read the status line), in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// First retry bound after a failure, in milliseconds (exponential backoff with full jitter).
    #[serde(default = "default_retry_min_ms")]
    pub retry_min_ms: u64,
    /// Longest retry bound, in milliseconds.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Most entries kept waiting for this destination; beyond it the oldest are dropped (and
    /// counted). Bounds the sled outbox while a destination is down for days.
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
    /// Allow `http://` to a host that is not this machine (the body and its signature then cross
    /// the network in clear).
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// PEM CA file the destination's certificate must chain to (`https://` only); the system's CA
    /// store without it.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Also send staffing signals (they pass the store and region filters).
    #[serde(default)]
    pub include_signals: bool,
}

/// One `[[deliver.alertmanager]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Names the destination in metrics, logs and the outbox.
    pub name: String,
    /// Base URL of the Alertmanager, e.g. `http://127.0.0.1:9093`; `/api/v2/alerts` is appended.
    pub url: String,
    /// Optional HMAC key, for a proxy in front of Alertmanager that checks the signature.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Alert kinds by short name (`LOW`, `OUT`, `DEVICE_OFFLINE`, ...); empty means all IT kinds (DEVICE_OFFLINE, DEVICE_SILENT,
    /// COUNTER_STUCK, CLOCK_OFF, TAMPERED).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Store ids; empty means all.
    #[serde(default)]
    pub stores: Vec<String>,
    /// Regions (`[store.{id}] region`); empty means all.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Lowest severity sent: `info` (everything, the default), `warning` or `critical`.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// Longest time for one request (connect, send, read the status line), in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// First retry bound after a failure, in milliseconds (exponential backoff with full jitter).
    #[serde(default = "default_retry_min_ms")]
    pub retry_min_ms: u64,
    /// Longest retry bound, in milliseconds.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Most entries kept waiting for this destination; beyond it the oldest are dropped (and
    /// counted). Bounds the sled outbox while a destination is down for days.
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
    /// Allow `http://` to a host that is not this machine (the body and its signature then cross
    /// the network in clear).
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// PEM CA file the destination's certificate must chain to (`https://` only); the system's CA
    /// store without it.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// How often active alerts are sent again (Alertmanager forgets alerts that are not
    /// repeated), in milliseconds.
    #[serde(default = "default_resend_ms")]
    pub resend_ms: u64,
    /// `generatorURL` of every alert: where a person finds it (e.g. the collector's dashboard).
    #[serde(default)]
    pub generator_url: String,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_retry_min_ms() -> u64 {
    500
}

fn default_retry_max_ms() -> u64 {
    60_000
}

fn default_max_entries() -> u64 {
    100_000
}

fn default_resend_ms() -> u64 {
    60_000
}

// Each destination's keys are flat in its own table, and serde's `flatten` cannot be combined
// with `deny_unknown_fields`: so the shared keys are repeated in both structs and gathered here.
macro_rules! parts {
    ($t:ty, $signals:expr) => {
        impl $t {
            /// The filter keys.
            pub fn filter(&self) -> FilterConfig {
                FilterConfig {
                    kinds: self.kinds.clone(),
                    stores: self.stores.clone(),
                    regions: self.regions.clone(),
                    min_severity: self.min_severity.clone(),
                    include_signals: $signals(self),
                }
            }

            /// The timing and transport keys.
            pub fn send(&self) -> SendConfig {
                SendConfig {
                    timeout_ms: self.timeout_ms,
                    retry_min_ms: self.retry_min_ms,
                    retry_max_ms: self.retry_max_ms,
                    max_entries: self.max_entries,
                    insecure_plaintext: self.insecure_plaintext,
                    tls_ca_file: self.tls_ca_file.clone(),
                }
            }
        }
    };
}

parts!(WebhookConfig, |w: &WebhookConfig| w.include_signals);
parts!(AlertmanagerConfig, |_: &AlertmanagerConfig| false);

/// Longest destination name: it is part of sled keys and metric labels.
const MAX_NAME_LEN: usize = 64;

impl DeliverConfig {
    /// Semantic checks; an error is `(key path, message)` with the path relative to the file.
    pub fn check(&self) -> Result<(), (Vec<String>, String)> {
        let mut names = std::collections::BTreeSet::new();
        let all = self
            .webhook
            .iter()
            .enumerate()
            .map(|(i, w)| ("webhook", i, &w.name, &w.url, w.filter(), w.send()))
            .chain(
                self.alertmanager
                    .iter()
                    .enumerate()
                    .map(|(i, a)| ("alertmanager", i, &a.name, &a.url, a.filter(), a.send())),
            );
        for (table, i, name, url, filter, send) in all {
            let at = |key: &str| {
                vec![
                    "deliver".to_owned(),
                    table.to_owned(),
                    i.to_string(),
                    key.to_owned(),
                ]
            };
            let valid_name = !name.is_empty()
                && name.len() <= MAX_NAME_LEN
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid_name {
                return Err((
                    at("name"),
                    format!(
                        "{name:?}: use 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, '_', '-'"
                    ),
                ));
            }
            if !names.insert(name.clone()) {
                return Err((at("name"), format!("{name:?} is used twice")));
            }
            let parsed = crate::deliver::url::Url::parse(url).map_err(|e| (at("url"), e))?;
            if !parsed.tls
                && !send.insecure_plaintext
                && !store_runtime::tls::is_loopback_host(&parsed.host)
            {
                return Err((
                    at("url"),
                    format!(
                        "plain http to {} crosses the network in clear: use https, or set insecure_plaintext = true",
                        parsed.host
                    ),
                ));
            }
            if !parsed.tls && send.tls_ca_file.is_some() {
                return Err((at("tls_ca_file"), "is set but url is not https".to_owned()));
            }
            for kind in &filter.kinds {
                if crate::deliver::filter::kind_by_name(kind).is_none() {
                    return Err((
                        at("kinds"),
                        format!(
                            "unknown alert kind {kind:?} (known: {})",
                            crate::deliver::filter::kind_names().join(", ")
                        ),
                    ));
                }
            }
            if let Some(s) = &filter.min_severity {
                if crate::deliver::filter::Severity::by_name(s).is_none() {
                    return Err((
                        at("min_severity"),
                        format!("{s:?}: use \"info\", \"warning\" or \"critical\""),
                    ));
                }
            }
            if send.timeout_ms == 0 {
                return Err((at("timeout_ms"), "must be at least 1".to_owned()));
            }
            if send.retry_min_ms == 0 {
                return Err((at("retry_min_ms"), "must be at least 1".to_owned()));
            }
            if send.retry_max_ms < send.retry_min_ms {
                return Err((
                    at("retry_max_ms"),
                    format!(
                        "{} is less than retry_min_ms ({})",
                        send.retry_max_ms, send.retry_min_ms
                    ),
                ));
            }
            if send.max_entries == 0 {
                return Err((at("max_entries"), "must be at least 1".to_owned()));
            }
        }
        for (i, a) in self.alertmanager.iter().enumerate() {
            if a.resend_ms == 0 {
                return Err((
                    vec![
                        "deliver".into(),
                        "alertmanager".into(),
                        i.to_string(),
                        "resend_ms".into(),
                    ],
                    "must be at least 1".to_owned(),
                ));
            }
        }
        Ok(())
    }
}
