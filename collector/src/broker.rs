//! The optional embedded MQTT broker (rumqttd), for demos and single-site set-ups.
//!
//! rumqttd runs in its own threads (`Broker::start` blocks forever). It reports a listener that
//! cannot bind only in its log, so [`start`] checks the address first and then waits until the
//! broker accepts connections. rumqttd logs ordinary client disconnects at ERROR; that is noise.
//! It does not resend retained messages on a resumed session (rumqtt#1069): agents that depend on
//! that should use Mosquitto.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{ConnectionSettings, RouterConfig, ServerSettings};
use tracing::{error, info};

use crate::config::{EmbeddedBrokerConfig, EMBEDDED_BROKER_MAX_PACKET_BYTES as MAX_PACKET_BYTES};

/// How long to wait for the broker to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("embedded broker cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("embedded broker thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("embedded broker on {addr} did not accept connections within {READY_TIMEOUT:?}")]
    NotReady { addr: SocketAddr },
}

/// The rumqttd configuration: one MQTT 3.1.1 listener, no TLS, no console, no metrics.
pub fn rumqttd_config(listen: SocketAddr) -> rumqttd::Config {
    let server = ServerSettings {
        name: "store-collector-v4".to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PACKET_BYTES,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    rumqttd::Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 200,
            // A segment must hold the largest message.
            max_segment_size: 4 * MAX_PACKET_BYTES,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Default::default()
    }
}

/// Where a client on this host reaches a broker listening on `listen`.
pub fn client_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Starts the broker and returns the address to connect to once it accepts connections.
/// Blocking (up to ten seconds); the broker lives until the process exits.
pub fn start(config: &EmbeddedBrokerConfig) -> Result<SocketAddr, BrokerError> {
    let addr = config.listen;
    // Fail loudly now rather than connect to whatever else holds the port.
    drop(TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?);
    let rumqttd_config = rumqttd_config(addr);
    std::thread::Builder::new()
        .name("embedded-broker".to_owned())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(rumqttd_config);
            if let Err(e) = broker.start() {
                error!(error = %e, "Embedded broker stopped.");
            }
        })
        .map_err(BrokerError::Thread)?;
    let target = client_addr(addr);
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
            info!(listen = %addr, "Embedded broker listening.");
            return Ok(target);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotReady { addr })
}
