//! The MQTT session: options, the polling task, and the small [`Mqtt`] trait the rest of the
//! collector talks to (so tests can fake the broker).
//!
//! rumqttc's event loop must be polled continuously, and `publish().await` / `ack().await` block
//! when its request channel is full, which deadlocks if called from the polling task
//! (rumqtt#1025). So one task (the skeleton in `store_runtime::mqtt_poll`, with this module's
//! handler) does nothing but poll and forward [`Notice`]s over an unbounded channel; every
//! request is made from other tasks.
//!
//! Manual acks: a PUBACK tells the broker it may forget a batch, so the collector sends it only
//! after the batch is durably committed. Each publish is tagged with the connection *epoch* it
//! arrived on; an ack for an older epoch is not sent, because its packet id means nothing (or,
//! worse, another message) on the new connection. The broker redelivers such a batch on the
//! resumed session and the collector acknowledges that copy instead, as a duplicate.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing,
    Packet, Publish, QoS, StateError, SubscribeFilter,
};
use store_proto::v1::CollectorStatus;
use store_runtime::backoff::Backoff;
use store_runtime::mqtt_poll::{self, AfterError, PollHandler};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config::Config;

/// Capacity of rumqttc's request channel: acks of a full group plus commit marks fit without
/// waiting.
pub const REQUEST_CAPACITY: usize = 1024;

/// What the polling task reports to the ingest task, in the order it happened.
#[derive(Debug)]
pub enum Notice {
    /// A CONNACK: the connection is up. `session_present = false` means the broker had no
    /// session for us (first start or broker wipe): subscriptions must be made again.
    Connected { session_present: bool },
    /// The connection failed or dropped; the polling task is backing off.
    Disconnected,
    /// An incoming publish (events batch), to be acknowledged with [`Mqtt::ack`] once committed.
    Publish(Incoming),
}

/// An incoming publish and the connection epoch it arrived on.
#[derive(Debug)]
pub struct Incoming {
    pub publish: Publish,
    pub epoch: u64,
}

/// Errors of requests to the MQTT client.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The event loop is gone (the collector is shutting down).
    #[error("MQTT client closed: {0}")]
    Closed(#[from] ClientError),
}

/// The requests the collector makes of its broker connection.
pub trait Mqtt: Clone + Send + Sync + 'static {
    /// Publishes at QoS 1.
    fn publish(
        &self,
        topic: String,
        retain: bool,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), MqttError>> + Send;
    /// PUBACKs `incoming` if it arrived on the current connection; returns whether it did.
    fn ack(&self, incoming: &Incoming) -> impl Future<Output = Result<bool, MqttError>> + Send;
    /// Subscribes to `filters` at QoS 1.
    fn subscribe(&self, filters: Vec<String>)
        -> impl Future<Output = Result<(), MqttError>> + Send;
    /// Unsubscribes from one filter.
    fn unsubscribe(&self, filter: String) -> impl Future<Output = Result<(), MqttError>> + Send;
}

/// [`Mqtt`] over rumqttc.
#[derive(Clone)]
pub struct Connection {
    client: AsyncClient,
    /// Bumped by the polling task on every CONNACK and every connection error.
    epoch: Arc<AtomicU64>,
    /// Set before a deliberate disconnect, so the polling task stops instead of reconnecting.
    stopping: Arc<AtomicBool>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish()
    }
}

impl Connection {
    /// Disconnects cleanly (the broker then does not publish the last will); the polling task
    /// ends on the error that follows.
    pub async fn disconnect(&self) -> Result<(), MqttError> {
        self.stopping.store(true, Ordering::SeqCst);
        self.client.disconnect().await?;
        Ok(())
    }
}

impl Mqtt for Connection {
    async fn publish(
        &self,
        topic: String,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), MqttError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await?;
        Ok(())
    }

    async fn ack(&self, incoming: &Incoming) -> Result<bool, MqttError> {
        if incoming.epoch != self.epoch.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.client.ack(&incoming.publish).await?;
        Ok(true)
    }

    async fn subscribe(&self, filters: Vec<String>) -> Result<(), MqttError> {
        let filters = filters
            .into_iter()
            .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce));
        self.client.subscribe_many(filters).await?;
        Ok(())
    }

    async fn unsubscribe(&self, filter: String) -> Result<(), MqttError> {
        self.client.unsubscribe(filter).await?;
        Ok(())
    }
}

/// `CollectorStatus` payload for `hq/collector/{id}/status`.
pub fn status_payload(collector_id: &str, online: bool, wall_time_ms: i64) -> Vec<u8> {
    CollectorStatus {
        collector_id: collector_id.to_owned(),
        online,
        wall_time_ms,
    }
    .encode_to_vec()
}

/// Largest packet the collector sends (commit marks, statuses and alerts are far smaller).
const MAX_OUTGOING_PACKET_BYTES: usize = 16 * 1024 * 1024;

/// rumqttc options: persistent session, manual acks, incoming packets up to
/// `mqtt.max_packet_bytes`, offline last will.
///
/// The incoming limit must be at least the broker's: rumqttc cannot skip a packet it refuses to
/// read, so it drops the connection, and the broker hands the same packet to the resumed session
/// again (an endless reconnect loop). Below that limit every publish reaches the ingest loop,
/// where an undecodable one is acknowledged, counted and dropped.
pub fn options(config: &Config, host: &str, port: u16) -> MqttOptions {
    let mut opts = MqttOptions::new(config.mqtt_client_id(), host, port);
    opts.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(config.mqtt.keep_alive_secs))
        .set_max_packet_size(config.mqtt.max_packet_bytes, MAX_OUTGOING_PACKET_BYTES)
        // The will is composed before the fact: its time is 0 ("unknown").
        .set_last_will(LastWill::new(
            store_proto::topics::collector_status(&config.collector_id),
            status_payload(&config.collector_id, false, 0),
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(user) = &config.mqtt.username {
        opts.set_credentials(user, config.mqtt.password.clone().unwrap_or_default());
    }
    opts
}

/// [`options`] with the transport `[mqtt]` asks for: TLS from the files named there (read now),
/// or plain TCP, with a warning when that plaintext goes off this machine (only possible with
/// `insecure_plaintext = true`).
pub fn options_with_transport(
    config: &Config,
    host: &str,
    port: u16,
) -> Result<MqttOptions, store_runtime::tls::TlsError> {
    let tls = config.mqtt_tls()?;
    let mut opts = options(config, host, port);
    if tls.is_none()
        && config.embedded_broker.is_none()
        && store_runtime::tls::is_insecure_plaintext(host, &config.mqtt.tls_files())
    {
        warn!(host, "insecure_plaintext = true: the broker connection is not encrypted; the password, every store's events and the commit marks cross the network in clear.");
    }
    opts.set_transport(store_runtime::tls::transport(tls));
    Ok(opts)
}

/// Creates the client and spawns the polling task; `probe` cuts long reconnect waits short
/// once the broker's port accepts again.
pub fn connect(
    opts: MqttOptions,
    backoff: Backoff,
    probe: Option<store_runtime::probe::Probe>,
    notices: mpsc::UnboundedSender<Notice>,
) -> (Connection, JoinHandle<()>) {
    let (client, eventloop) = AsyncClient::new(opts, REQUEST_CAPACITY);
    let conn = Connection {
        client,
        epoch: Arc::new(AtomicU64::new(0)),
        stopping: Arc::new(AtomicBool::new(false)),
    };
    let handler = Handler {
        epoch: conn.epoch.clone(),
        stopping: conn.stopping.clone(),
        connected: false,
    };
    let task = tokio::spawn(mqtt_poll::run(eventloop, backoff, probe, notices, handler));
    (conn, task)
}

/// The polling task's handling: numbers connection epochs and forwards CONNACKs and publishes.
/// Never makes a request itself.
struct Handler {
    epoch: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
    connected: bool,
}

impl PollHandler for Handler {
    type Notice = Notice;

    fn on_event(&mut self, event: Event) -> Option<Notice> {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                self.connected = true;
                info!(
                    session_present = ack.session_present,
                    "Connected to broker."
                );
                Some(Notice::Connected {
                    session_present: ack.session_present,
                })
            }
            Event::Incoming(Packet::Publish(publish)) => Some(Notice::Publish(Incoming {
                publish,
                epoch: self.epoch.load(Ordering::SeqCst),
            })),
            Event::Outgoing(Outgoing::Disconnect) => {
                debug!("Disconnect sent.");
                None
            }
            _ => None,
        }
    }

    fn on_error(
        &mut self,
        _eventloop: &mut EventLoop,
        error: &ConnectionError,
        retry_in: Duration,
    ) -> AfterError<Notice> {
        // After a deliberate disconnect every poll fails: leave the loop.
        if self.stopping.load(Ordering::SeqCst) {
            debug!("MQTT polling stopped.");
            return AfterError::Stop(None);
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let retry_in_ms = retry_in.as_millis() as u64;
        if let ConnectionError::MqttState(StateError::Deserialization(
            rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(size),
        )) = error
        {
            // Nothing here can acknowledge a packet that was not read: only the limits can fix it.
            error!(
                size,
                "The broker sent a packet larger than mqtt.max_packet_bytes; the session \
                cannot get past it. Set the broker's message size limit (Mosquitto \
                message_size_limit) below mqtt.max_packet_bytes, or raise mqtt.max_packet_bytes."
            );
        }
        if self.connected {
            warn!(error = %error, retry_in_ms, "Connection to broker lost.");
        } else {
            warn!(error = %error, retry_in_ms, "Cannot connect to broker.");
        }
        self.connected = false;
        AfterError::Retry(Notice::Disconnected)
    }

    /// The receiver is gone only when the collector is stopping.
    fn on_receiver_gone(&mut self) -> bool {
        if !self.stopping.load(Ordering::SeqCst) {
            error!("Ingest task is gone; MQTT polling stops.");
        }
        true
    }
}
