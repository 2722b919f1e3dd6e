//! The `store-collector` process: config written by the test, state dir kept across restarts,
//! HTTP API on a free port, optionally with its embedded rumqttd broker.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::toml_str;
use crate::http;
use crate::ports;
use crate::process::{self, Proc};
use crate::stats::Stats;

/// How long a collector may take to answer `/healthz` after a start.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Timeout of one HTTP request to the API.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// The collector's config file, field by field.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub collector_id: String,
    pub state_dir: PathBuf,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    pub keep_alive_secs: u64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    pub ack_interval_ms: u64,
    pub api_port: u16,
    /// Port of the embedded rumqttd broker, when it runs one.
    pub embedded_broker_port: Option<u16>,
    /// Stores this collector owns (empty: all).
    pub stores: Vec<String>,
    /// Bearer token of the HTTP API's `/v1/*`.
    pub api_token: Option<String>,
    /// Appended verbatim to the `[mqtt]` table (keys only, e.g. `tls_ca_file = "..."`).
    pub mqtt_extra: String,
    /// Appended verbatim to the file (tables only, e.g. `[intel]`, `[store.s1]`).
    pub extra_toml: String,
}

impl CollectorConfig {
    /// `hq-1`, state under `dir/state`, a free API port, external broker on
    /// `127.0.0.1:mqtt_port`.
    pub fn new(dir: &Path, mqtt_port: u16) -> Self {
        Self {
            collector_id: "hq-1".into(),
            state_dir: dir.join("state"),
            mqtt_host: "127.0.0.1".into(),
            mqtt_port,
            keep_alive_secs: 5,
            reconnect_min_ms: 100,
            reconnect_max_ms: 2000,
            ack_interval_ms: 100,
            api_port: ports::free_port(),
            embedded_broker_port: None,
            stores: Vec::new(),
            api_token: None,
            mqtt_extra: String::new(),
            extra_toml: String::new(),
        }
    }

    /// Like [`CollectorConfig::new`], but the collector runs its embedded broker on a free port
    /// and connects to it itself.
    pub fn with_embedded_broker(dir: &Path) -> Self {
        let port = ports::free_port();
        Self {
            embedded_broker_port: Some(port),
            ..Self::new(dir, port)
        }
    }

    /// The TOML text of the config file.
    pub fn to_toml(&self) -> String {
        let mut t = format!(
            r#"# Written by the store-edge test harness.
collector_id = {collector_id}
state_dir = {state_dir}
stores = [{stores}]

[mqtt]
host = {mqtt_host}
port = {mqtt_port}
keep_alive_secs = {keep_alive_secs}
reconnect_min_ms = {reconnect_min_ms}
reconnect_max_ms = {reconnect_max_ms}
{mqtt_extra}
[ack]
interval_ms = {ack_interval_ms}

[api]
listen = "127.0.0.1:{api_port}"
"#,
            collector_id = toml_str(&self.collector_id),
            stores = self
                .stores
                .iter()
                .map(|s| toml_str(s))
                .collect::<Vec<_>>()
                .join(", "),
            state_dir = toml_str(&self.state_dir.to_string_lossy()),
            mqtt_host = toml_str(&self.mqtt_host),
            mqtt_port = self.mqtt_port,
            keep_alive_secs = self.keep_alive_secs,
            reconnect_min_ms = self.reconnect_min_ms,
            reconnect_max_ms = self.reconnect_max_ms,
            mqtt_extra = self.mqtt_extra,
            ack_interval_ms = self.ack_interval_ms,
            api_port = self.api_port,
        );
        if let Some(token) = &self.api_token {
            t.push_str(&format!("token = {}\n", toml_str(token)));
        }
        if let Some(port) = self.embedded_broker_port {
            t.push_str(&format!(
                "\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n"
            ));
        }
        t.push_str(&self.extra_toml);
        t
    }
}

/// A running (or stopped) collector.
pub struct Collector {
    config: CollectorConfig,
    config_path: PathBuf,
    proc: Proc,
}

impl Collector {
    /// Writes `dir/collector.toml`, starts the collector (log in `dir/collector.log`) and waits
    /// until `/healthz` answers (and the embedded broker accepts, if configured).
    pub fn start(dir: &Path, config: CollectorConfig) -> Self {
        std::fs::create_dir_all(dir).expect("create collector dir");
        let config_path = dir.join("collector.toml");
        std::fs::write(&config_path, config.to_toml()).expect("write collector.toml");
        let proc = Proc::new(
            format!("store-collector {}", config.collector_id),
            crate::bins::collector(),
            [
                std::ffi::OsString::from("run"),
                "--config".into(),
                config_path.clone().into_os_string(),
            ],
            dir.join("collector.log"),
        );
        let mut c = Self {
            config,
            config_path,
            proc,
        };
        c.start_again();
        c
    }

    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn api_addr(&self) -> SocketAddr {
        ports::localhost(self.config.api_port)
    }

    /// The port agents should use: the embedded broker's, or the external one's.
    pub fn mqtt_port(&self) -> u16 {
        self.config.mqtt_port
    }

    /// Starts the process and waits until it is ready.
    pub fn start_again(&mut self) {
        self.proc.start();
        self.wait_ready(READY_TIMEOUT);
    }

    /// Waits until `/healthz` answers `ok` (and the embedded broker accepts connections).
    pub fn wait_ready(&mut self, timeout: Duration) {
        let api = self.api_addr();
        let result = crate::wait::try_wait_for(timeout, || {
            self.proc.check_running()?;
            let r = http::get(api, "/healthz", HTTP_TIMEOUT)?;
            if r.status == 200 && r.body.trim() == "ok" {
                Ok(())
            } else {
                Err(format!("/healthz answered {} {:?}", r.status, r.body))
            }
        });
        let result = result.and_then(|()| match self.config.embedded_broker_port {
            Some(port) => {
                let proc = &mut self.proc;
                ports::wait_accepts(ports::localhost(port), timeout, || proc.check_running())
            }
            None => Ok(()),
        });
        if let Err(e) = result {
            panic!(
                "store-collector not ready (api {api}): {e}\nlast log lines:\n{}",
                self.proc.log_tail(process::TAIL_LINES)
            );
        }
    }

    /// `GET /v1/stats` (with the operator token when the config sets one: reads need it then).
    pub fn stats(&self) -> Result<Stats, String> {
        let auth = self
            .config
            .api_token
            .as_ref()
            .map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let r = http::request(
            self.api_addr(),
            "GET",
            "/v1/stats",
            &headers,
            None,
            HTTP_TIMEOUT,
        )?;
        if r.status != 200 {
            return Err(format!("/v1/stats answered {}: {}", r.status, r.body));
        }
        Stats::parse(&r.body)
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// SIGTERM with a grace period.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        self.proc.terminate(grace)
    }

    /// SIGKILL (if running), start again on the same config and state, wait until ready.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    pub fn check_running(&mut self) -> Result<(), String> {
        self.proc.check_running()
    }

    /// `Ok` unless the process exited on its own (see [`Proc::check_not_crashed`]).
    pub fn check_not_crashed(&mut self) -> Result<(), String> {
        self.proc.check_not_crashed()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    pub fn note(&self, msg: &str) {
        self.proc.note(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_broker_section_only_when_asked() {
        let plain = CollectorConfig::new(Path::new("/tmp/c"), 1999).to_toml();
        assert!(plain.contains("port = 1999"));
        assert!(!plain.contains("embedded_broker"));
        let emb = CollectorConfig::with_embedded_broker(Path::new("/tmp/c"));
        let port = emb.embedded_broker_port.unwrap();
        let t = emb.to_toml();
        assert!(t.contains(&format!("port = {port}")), "{t}");
        assert!(
            t.contains(&format!("[embedded_broker]\nlisten = \"127.0.0.1:{port}\"")),
            "{t}"
        );
    }
}
