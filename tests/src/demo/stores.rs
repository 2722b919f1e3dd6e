//! The demo's two stores, as agents: the drivers that read store s1's virtual devices, and
//! what the status line shows of each agent (read from its status socket, so a store whose
//! agent is down shows its last known state).

use std::path::{Path, PathBuf};

use store_agent::status::{self, Snapshot};

use super::devices::{Printer, SerialScanner};
use super::text::thousands;
use crate::agent::toml_str;
use crate::{Agent, AgentConfig};

/// The drivers of store s1's agent: every device virtual, every driver real.
pub fn s1_drivers(
    handheld: &SerialScanner,
    fifo: &Path,
    tap_port: u16,
    printer: &Printer,
    door_port: u16,
) -> String {
    format!(
        r#"
[[drivers]]
type = "serial_scanner"
id = "handheld-1"
path = {handheld}

[[drivers]]
type = "hid_pos_scanner"
id = "till-1-scanner"
device = {{ report_file = {fifo} }}

[[drivers]]
type = "escpos_tap"
id = "till-1-printer"
listen = "127.0.0.1:{tap_port}"
printer = "{printer}"
template = "gtin"

[[drivers]]
type = "counter_push"
id = "door-1"
listen = "127.0.0.1:{door_port}"
vendor = "xovis"
"#,
        handheld = toml_str(handheld.path()),
        fifo = toml_str(&fifo.to_string_lossy()),
        printer = printer.addr(),
    )
}

/// One store's agent, with what the status line needs.
pub struct Store {
    pub id: &'static str,
    pub agent: Agent,
    socket: PathBuf,
    last: Option<Snapshot>,
}

impl Store {
    pub fn start(dir: &Path, id: &'static str, mqtt_port: u16, extra: String) -> Self {
        let mut cfg = AgentConfig::new(dir, mqtt_port);
        cfg.store_id = id.into();
        cfg.agent_id = format!("agent-{id}");
        cfg.extra_toml = extra;
        let socket = status::socket_path(&cfg.state_dir);
        let agent = Agent::start(dir, cfg);
        Store {
            id,
            agent,
            socket,
            last: None,
        }
    }

    pub fn agent_id(&self) -> String {
        format!("agent-{}", self.id)
    }

    /// `store-agent status`, read from its socket.
    pub fn refresh(&mut self) -> Option<&Snapshot> {
        if let Ok(s) = status::query(&self.socket) {
            self.last = Some(s);
        }
        self.last.as_ref()
    }

    pub fn head(&self) -> u64 {
        self.last.as_ref().map_or(0, |s| s.journal.head_seq)
    }

    pub fn describe(&self) -> String {
        match &self.last {
            None => format!("{}: -", self.id),
            Some(s) => format!(
                "{}: journal {:>5}, backlog {:>4}, uplink {}",
                self.id,
                thousands(s.journal.head_seq),
                thousands(s.journal.ahead_of_collector),
                if s.uplink.connected {
                    s.uplink.mode.as_str()
                } else {
                    "disconnected"
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_day as scenario;

    #[test]
    fn s1_drivers_parse_as_agent_config() {
        let handheld = SerialScanner::open().unwrap();
        let printer = Printer::start().unwrap();
        let text = AgentConfig::new(Path::new("/tmp/demo-test"), 1883).to_toml()
            + &scenario::agent_clock_toml(720.0, 1)
            + &s1_drivers(&handheld, Path::new("/tmp/x.fifo"), 20001, &printer, 20002);
        let config = store_agent::config::AgentConfig::parse(&text, "agent.toml")
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let kinds: Vec<&str> = config.drivers.iter().map(|d| d.kind()).collect();
        assert_eq!(
            kinds,
            [
                "line_feed",
                "serial_scanner",
                "hid_pos_scanner",
                "escpos_tap",
                "counter_push"
            ]
        );
    }
}
