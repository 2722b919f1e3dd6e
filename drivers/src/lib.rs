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
pub mod pos;
pub mod scanner;
mod sink;
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
    }
}
