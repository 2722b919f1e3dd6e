//! The `store-agent` process: config written by the test, state dir kept across restarts, one
//! `line_feed` driver the tests write to.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ports;
use crate::process::{self, Proc};

/// How long an agent may take to open its line feed after a start (a restart replays its journal).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The agent's config file, field by field (see the agent's `check-config` for meanings).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub store_id: String,
    pub agent_id: String,
    pub state_dir: PathBuf,
    pub journal_max_bytes: u64,
    pub group_max_events: u64,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    pub keep_alive_secs: u64,
    pub batch_max_events: u64,
    pub batch_max_bytes: u64,
    pub max_inflight: u64,
    pub stall_timeout_secs: u64,
    pub backlog_threshold_events: u64,
    pub backlog_events_per_sec: u64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// Id of the line-feed driver (also the default `device_id` prefix in logs).
    pub feed_id: String,
    pub feed_port: u16,
    /// Appended verbatim to the `[mqtt]` table (keys only, e.g. `tls_ca_file = "..."`).
    pub mqtt_extra: String,
    /// Appended verbatim to the `[uplink]` table (keys only, e.g. `drain_window_events = 5000`).
    pub uplink_extra: String,
    /// Appended verbatim to the file (tables only, e.g. `[clock]`).
    pub extra_toml: String,
}

impl AgentConfig {
    /// `store-1`/`agent-1`, state under `dir/state`, a free line-feed port, broker on
    /// `127.0.0.1:mqtt_port`, the documented defaults otherwise.
    pub fn new(dir: &Path, mqtt_port: u16) -> Self {
        Self {
            store_id: "store-1".into(),
            agent_id: "agent-1".into(),
            state_dir: dir.join("state"),
            journal_max_bytes: 512 * 1024 * 1024,
            group_max_events: 4096,
            mqtt_host: "127.0.0.1".into(),
            mqtt_port,
            keep_alive_secs: 5,
            batch_max_events: 500,
            batch_max_bytes: 256 * 1024,
            max_inflight: 32,
            stall_timeout_secs: 3,
            backlog_threshold_events: 10_000,
            backlog_events_per_sec: 0,
            reconnect_min_ms: 100,
            reconnect_max_ms: 2000,
            feed_id: "feed".into(),
            feed_port: ports::free_port(),
            mqtt_extra: String::new(),
            uplink_extra: String::new(),
            extra_toml: String::new(),
        }
    }

    /// The TOML text of the config file.
    pub fn to_toml(&self) -> String {
        format!(
            r#"# Written by the store-edge test harness.
store_id = {store_id}
agent_id = {agent_id}
state_dir = {state_dir}

[journal]
max_bytes = {journal_max_bytes}
group_max_events = {group_max_events}

[mqtt]
host = {mqtt_host}
port = {mqtt_port}
keep_alive_secs = {keep_alive_secs}
{mqtt_extra}
[uplink]
batch_max_events = {batch_max_events}
batch_max_bytes = {batch_max_bytes}
max_inflight = {max_inflight}
stall_timeout_secs = {stall_timeout_secs}
backlog_threshold_events = {backlog_threshold_events}
backlog_events_per_sec = {backlog_events_per_sec}
reconnect_min_ms = {reconnect_min_ms}
reconnect_max_ms = {reconnect_max_ms}
{uplink_extra}

[[drivers]]
type = "line_feed"
id = {feed_id}
listen = "127.0.0.1:{feed_port}"
"#,
            store_id = toml_str(&self.store_id),
            agent_id = toml_str(&self.agent_id),
            state_dir = toml_str(&self.state_dir.to_string_lossy()),
            journal_max_bytes = self.journal_max_bytes,
            group_max_events = self.group_max_events,
            mqtt_host = toml_str(&self.mqtt_host),
            mqtt_port = self.mqtt_port,
            keep_alive_secs = self.keep_alive_secs,
            mqtt_extra = self.mqtt_extra,
            batch_max_events = self.batch_max_events,
            batch_max_bytes = self.batch_max_bytes,
            max_inflight = self.max_inflight,
            stall_timeout_secs = self.stall_timeout_secs,
            backlog_threshold_events = self.backlog_threshold_events,
            backlog_events_per_sec = self.backlog_events_per_sec,
            reconnect_min_ms = self.reconnect_min_ms,
            reconnect_max_ms = self.reconnect_max_ms,
            uplink_extra = self.uplink_extra,
            feed_id = toml_str(&self.feed_id),
            feed_port = self.feed_port,
        ) + &self.extra_toml
    }
}

/// A running (or stopped) agent.
pub struct Agent {
    config: AgentConfig,
    config_path: PathBuf,
    proc: Proc,
}

impl Agent {
    /// Writes `dir/agent.toml`, starts the agent (log in `dir/agent.log`) and waits until its
    /// line feed accepts connections.
    pub fn start(dir: &Path, config: AgentConfig) -> Self {
        let mut agent = Self::create(dir, config);
        agent.start_again();
        agent
    }

    /// Writes the config but does not start the process.
    pub fn create(dir: &Path, config: AgentConfig) -> Self {
        std::fs::create_dir_all(dir).expect("create agent dir");
        let config_path = dir.join("agent.toml");
        std::fs::write(&config_path, config.to_toml()).expect("write agent.toml");
        let proc = Proc::new(
            format!("store-agent {}", config.agent_id),
            crate::bins::agent(),
            [
                std::ffi::OsString::from("run"),
                "--config".into(),
                config_path.clone().into_os_string(),
            ],
            dir.join("agent.log"),
        );
        Self {
            config,
            config_path,
            proc,
        }
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Adds an environment variable for the next starts (e.g. `LD_PRELOAD` of libfaketime).
    pub fn env(
        &mut self,
        key: impl Into<std::ffi::OsString>,
        value: impl Into<std::ffi::OsString>,
    ) -> &mut Self {
        self.proc.env(key, value);
        self
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The line-feed driver's address.
    pub fn feed_addr(&self) -> SocketAddr {
        ports::localhost(self.config.feed_port)
    }

    /// Starts the process and waits until it is ready.
    pub fn start_again(&mut self) {
        self.proc.start();
        self.wait_ready(READY_TIMEOUT);
    }

    /// Waits until the line feed accepts connections; panics with the log tail if the process
    /// exits or the timeout passes.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let addr = self.feed_addr();
        let proc = &mut self.proc;
        if let Err(e) = ports::wait_accepts(addr, timeout, || proc.check_running()) {
            panic!(
                "store-agent not ready (line feed {addr}): {e}\nlast log lines:\n{}",
                self.proc.log_tail(process::TAIL_LINES)
            );
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// SIGTERM with a grace period; returns the exit status if it exited in time.
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

    /// `Ok` while running, else how it exited and its log tail.
    pub fn check_running(&mut self) -> Result<(), String> {
        self.proc.check_running()
    }

    /// `Ok` unless the process exited on its own (see [`Proc::check_not_crashed`]).
    pub fn check_not_crashed(&mut self) -> Result<(), String> {
        self.proc.check_not_crashed()
    }

    /// `(VmRSS, VmHWM)` in KiB while running.
    pub fn rss_kib(&self) -> Option<(u64, u64)> {
        process::rss_kib(self.pid()?)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    pub fn note(&self, msg: &str) {
        self.proc.note(msg);
    }
}

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_mentions_every_documented_key() {
        let c = AgentConfig::new(Path::new("/tmp/x \"y\""), 1884).to_toml();
        for key in [
            "store_id",
            "agent_id",
            "state_dir = \"/tmp/x \\\"y\\\"/state\"",
            "[journal]",
            "max_bytes = 536870912",
            "group_max_events = 4096",
            "[mqtt]",
            "port = 1884",
            "keep_alive_secs = 5",
            "[uplink]",
            "stall_timeout_secs = 3",
            "backlog_events_per_sec = 0",
            "[[drivers]]",
            "type = \"line_feed\"",
            "listen = \"127.0.0.1:",
        ] {
            assert!(c.contains(key), "{key} missing in:\n{c}");
        }
    }
}
