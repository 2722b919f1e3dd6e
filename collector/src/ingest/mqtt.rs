//! The MQTT session: options, the polling task, and the small [`Mqtt`] trait the rest of the
//! collector talks to (so tests can fake the broker).
//!
//! rumqttc's event loop must be polled continuously, and `publish().await` / `ack().await` block
//! when its request channel is full, which deadlocks if called from the polling task
//! (rumqtt#1025). So one task does nothing but poll and forward [`Notice`]s over an unbounded
//! channel; every request is made from other tasks.
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
use rand::Rng;
use rumqttc::{
    AsyncClient, ClientError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, Publish,
    QoS, SubscribeFilter,
};
use store_proto::v1::CollectorStatus;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config::Config;

/// Largest packet accepted or sent: one EventBatch per message, agents cap them well below this.
pub const MAX_PACKET_BYTES: usize = 16 * 1024 * 1024;

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

/// rumqttc options: persistent session, manual acks, large packets, offline last will.
pub fn options(config: &Config, host: &str, port: u16) -> MqttOptions {
    let mut opts = MqttOptions::new(config.mqtt_client_id(), host, port);
    opts.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(config.mqtt.keep_alive_secs))
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
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

/// Creates the client and spawns the polling task.
pub fn connect(
    opts: MqttOptions,
    backoff: Backoff,
    notices: mpsc::UnboundedSender<Notice>,
) -> (Connection, JoinHandle<()>) {
    let (client, eventloop) = AsyncClient::new(opts, REQUEST_CAPACITY);
    let conn = Connection {
        client,
        epoch: Arc::new(AtomicU64::new(0)),
        stopping: Arc::new(AtomicBool::new(false)),
    };
    let task = tokio::spawn(poll(
        eventloop,
        backoff,
        notices,
        conn.epoch.clone(),
        conn.stopping.clone(),
    ));
    (conn, task)
}

/// The polling task: polls, forwards, backs off. Never makes a request itself.
async fn poll(
    mut eventloop: EventLoop,
    mut backoff: Backoff,
    notices: mpsc::UnboundedSender<Notice>,
    epoch: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
) {
    let mut connected = false;
    loop {
        let notice = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                epoch.fetch_add(1, Ordering::SeqCst);
                backoff.reset();
                connected = true;
                info!(
                    session_present = ack.session_present,
                    "Connected to broker."
                );
                Notice::Connected {
                    session_present: ack.session_present,
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => Notice::Publish(Incoming {
                publish,
                epoch: epoch.load(Ordering::SeqCst),
            }),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                debug!("Disconnect sent.");
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                // After a deliberate disconnect every poll fails: leave the loop.
                if stopping.load(Ordering::SeqCst) {
                    debug!("MQTT polling stopped.");
                    return;
                }
                epoch.fetch_add(1, Ordering::SeqCst);
                let delay = backoff.next_delay();
                if connected {
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Connection to broker lost.");
                } else {
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Cannot connect to broker.");
                }
                connected = false;
                if notices.send(Notice::Disconnected).is_err() {
                    return;
                }
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        // The receiver is gone only when the collector is stopping.
        if notices.send(notice).is_err() {
            if !stopping.load(Ordering::SeqCst) {
                error!("Ingest task is gone; MQTT polling stops.");
            }
            return;
        }
    }
}

/// Capped exponential backoff with full jitter: the n-th wait is uniform in
/// `0..=min(max, min * 2^n)`, so thousands of clients never reconnect in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
    attempt: u32,
}

impl Backoff {
    pub fn new(min_ms: u64, max_ms: u64) -> Self {
        Self {
            min_ms: min_ms.max(1),
            max_ms: max_ms.max(min_ms.max(1)),
            attempt: 0,
        }
    }

    /// The current bound on the wait, before jitter.
    pub fn ceiling_ms(&self) -> u64 {
        self.min_ms
            .saturating_mul(1u64 << self.attempt.min(32))
            .min(self.max_ms)
    }

    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling_ms();
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(250, 2000);
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(b.ceiling_ms());
            let d = b.next_delay();
            assert!(d <= Duration::from_millis(*ceilings.last().unwrap()));
        }
        assert_eq!(ceilings, vec![250, 500, 1000, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.ceiling_ms(), 250);
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.ceiling_ms(), 2000);
    }
}
