//! Device drivers of store-edge.
//!
//! A driver knows one kind of device and nothing of sled or MQTT: it turns device input into
//! [`store_proto::Event`]s (stamped with [`clock::stamp`]) and hands them to the agent through a
//! [`Sink`]. A source that can take an answer (such as the `line_feed`) passes a reply channel
//! and learns the event's `seq` only once the journal has made it durable.
//!
//! Drivers are a closed enum of kinds ([`DriverConfig`]), each in its own folder with its config
//! apart from its I/O loop, and with a pure decoder that is tested without the device.

pub mod clock;
pub mod counter;
pub mod line_feed;
pub mod listen;
pub mod pos;
pub mod scanner;
mod sink;
#[cfg(any(test, feature = "test-pty"))]
pub mod test_pty;
#[cfg(test)]
mod testing;

pub use sink::{Record, RecordError, Sink};

use serde::Deserialize;

/// One configured driver instance: `[[drivers]]` in the agent's config, selected by `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DriverConfig {
    /// JSON events, one per line, over TCP (integration with POS software and tests).
    LineFeed(line_feed::LineFeedConfig),
    /// People counters posting their counts over HTTP (Axis, Xovis, Irisys, Hikvision, VIVOTEK).
    CounterPush(counter::CounterPushConfig),
    /// People counters polled over HTTP for their running totals (AXIS People Counter live sum).
    CounterPoll(counter::CounterPollConfig),
    /// Infrared beam counters on a serial port, speaking our ASCII line protocol.
    CounterSerial(counter::CounterSerialConfig),
    /// A barcode scanner on a serial port (RS-232, or USB in "COM emulation" mode).
    SerialScanner(scanner::serial::SerialScannerConfig),
    /// A TCP pass-through between tills and a network receipt printer, reading receipts into
    /// sales.
    EscposTap(pos::tap::EscPosTapConfig),
    /// A pass-through between a till's serial port and a serial receipt printer, reading
    /// receipts into sales.
    EscposSerialTap(pos::tap::EscPosSerialTapConfig),
    /// A folder where POS software drops NRF ARTS POSLog XML files.
    PoslogFolder(pos::poslog_folder::PosLogFolderConfig),
    /// A USB barcode scanner in HID POS mode (usage page 0x8C), through hidraw.
    HidPosScanner(scanner::hid::HidPosScannerConfig),
    /// A USB barcode scanner typing as a keyboard (keyboard wedge), through hidraw.
    WedgeScanner(scanner::hid::WedgeScannerConfig),
}

impl DriverConfig {
    /// The configured id of the driver instance.
    pub fn id(&self) -> &str {
        match self {
            DriverConfig::LineFeed(c) => &c.id,
            DriverConfig::CounterPush(c) => &c.id,
            DriverConfig::CounterPoll(c) => &c.id,
            DriverConfig::CounterSerial(c) => &c.id,
            DriverConfig::SerialScanner(c) => &c.id,
            DriverConfig::EscposTap(c) => &c.id,
            DriverConfig::EscposSerialTap(c) => &c.id,
            DriverConfig::PoslogFolder(c) => &c.id,
            DriverConfig::HidPosScanner(c) => &c.id,
            DriverConfig::WedgeScanner(c) => &c.id,
        }
    }

    /// The driver kind as written in config.
    pub fn kind(&self) -> &'static str {
        match self {
            DriverConfig::LineFeed(_) => "line_feed",
            DriverConfig::CounterPush(_) => "counter_push",
            DriverConfig::CounterPoll(_) => "counter_poll",
            DriverConfig::CounterSerial(_) => "counter_serial",
            DriverConfig::SerialScanner(_) => "serial_scanner",
            DriverConfig::EscposTap(_) => "escpos_tap",
            DriverConfig::EscposSerialTap(_) => "escpos_serial_tap",
            DriverConfig::PoslogFolder(_) => "poslog_folder",
            DriverConfig::HidPosScanner(_) => "hid_pos_scanner",
            DriverConfig::WedgeScanner(_) => "wedge_scanner",
        }
    }
}

/// Errors that stop a driver; the agent's supervisor logs them and restarts the driver.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("driver {id}: cannot listen on {addr}: {source}")]
    Listen {
        id: String,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("driver {id}: I/O error: {source}")]
    Io { id: String, source: std::io::Error },
    #[error("driver {id}: {source}")]
    Hid {
        id: String,
        source: scanner::hid::HidSourceError,
    },
    #[error("driver {id}: the journal is gone (agent shutting down)")]
    SinkClosed { id: String },
}

/// Binds a driver's TCP listener, naming the driver and address when that fails.
pub(crate) async fn bind(
    id: &str,
    addr: std::net::SocketAddr,
) -> Result<tokio::net::TcpListener, DriverError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DriverError::Listen {
            id: id.to_owned(),
            addr,
            source,
        })
}

/// Runs a driver until it fails or the sink closes.
pub async fn run(config: DriverConfig, sink: Sink) -> Result<(), DriverError> {
    match config {
        DriverConfig::LineFeed(c) => line_feed::run(c, sink).await,
        DriverConfig::CounterPush(c) => counter::push::run(c, sink).await,
        DriverConfig::CounterPoll(c) => counter::poll::run(c, sink).await,
        DriverConfig::CounterSerial(c) => counter::serial::run(c, sink).await,
        DriverConfig::SerialScanner(c) => scanner::serial::run(c, sink).await,
        DriverConfig::EscposTap(c) => pos::tap::run_tcp(c, sink).await,
        DriverConfig::EscposSerialTap(c) => pos::tap::run_serial(c, sink).await,
        DriverConfig::PoslogFolder(c) => pos::poslog_folder::run(c, sink).await,
        DriverConfig::HidPosScanner(c) => scanner::hid::run_hid_pos(c, sink).await,
        DriverConfig::WedgeScanner(c) => scanner::hid::run_wedge(c, sink).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commented-out driver examples in `config/agent.example.toml` parse once uncommented
    /// (the agent's own test parses only the active part of the file).
    #[test]
    fn commented_driver_examples_parse() {
        #[derive(Deserialize)]
        struct Drivers {
            drivers: Vec<DriverConfig>,
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/agent.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut kinds = Vec::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if line != "# [[drivers]]" {
                continue;
            }
            let mut block = String::from("[[drivers]]\n");
            while let Some(line) = lines.next_if(|l| l.starts_with('#')) {
                block.push_str(line.strip_prefix("# ").unwrap_or(""));
                block.push('\n');
            }
            let parsed: Drivers = toml::from_str(&block).unwrap_or_else(|e| panic!("{block}\n{e}"));
            for driver in &parsed.drivers {
                if let DriverConfig::SerialScanner(c) = driver {
                    // The example documents the defaults of the staff command barcodes.
                    assert_eq!(c.modes, scanner::mode::ModeConfig::default());
                }
                if let DriverConfig::CounterPush(c) = driver {
                    // ... and those of the listener's limits.
                    let defaults =
                        serde_json::json!({"type": "counter_push", "id": "d", "vendor": "axis"});
                    let Ok(DriverConfig::CounterPush(d)) = serde_json::from_value(defaults) else {
                        panic!("defaults do not parse");
                    };
                    assert_eq!(
                        (
                            c.max_connections,
                            c.header_timeout_secs,
                            c.body_timeout_secs,
                            c.max_body_bytes
                        ),
                        (
                            d.max_connections,
                            d.header_timeout_secs,
                            d.body_timeout_secs,
                            d.max_body_bytes
                        )
                    );
                }
            }
            kinds.extend(parsed.drivers.iter().map(DriverConfig::kind));
        }
        for kind in [
            "counter_push",
            "serial_scanner",
            "hid_pos_scanner",
            "wedge_scanner",
            "escpos_tap",
            "escpos_serial_tap",
            "poslog_folder",
        ] {
            assert!(kinds.contains(&kind), "no example of {kind}: {kinds:?}");
        }
    }

    /// The example's (active) `line_feed` block documents the coded defaults.
    #[test]
    fn line_feed_example_shows_the_defaults() {
        #[derive(Deserialize)]
        struct Drivers {
            drivers: Vec<DriverConfig>,
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/agent.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text
            .find("[[drivers]]\ntype = \"line_feed\"")
            .expect("line_feed example");
        let block = text[start..].split("\n\n").next().unwrap();
        let parsed: Drivers = toml::from_str(block).unwrap_or_else(|e| panic!("{block}\n{e}"));
        let DriverConfig::LineFeed(example) = &parsed.drivers[0] else {
            panic!("not a line feed: {block}");
        };
        let defaults =
            serde_json::json!({"type": "line_feed", "id": example.id, "listen": example.listen});
        let Ok(DriverConfig::LineFeed(defaults)) = serde_json::from_value(defaults) else {
            panic!("defaults do not parse");
        };
        assert_eq!(*example, defaults);
    }
}
