//! The MQTT connection: one task polls rumqttc's event loop and turns what happens into
//! [`LinkEvent`]s; publishes go through [`Link`] without ever awaiting inside the polling task
//! (rumqtt#1025).
//!
//! rumqttc has no per-message ack API, so batches are matched to PUBACKs here: publish requests
//! leave in order, each produces one `Outgoing::Publish(pkid)` in the same order, so a FIFO of
//! tags maps pkids to batches, and `Incoming::PubAck(pkid)` finds the batch. On a connection error
//! rumqttc (clean session) drops everything in flight and in its request channel; the tag FIFO is
//! cleared under the same lock that gates new publishes, so no stale request can shift the FIFO.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use rumqttc::{
    AsyncClient, ConnectionError, Event as MqttEvent, EventLoop, LastWill, MqttOptions, Outgoing,
    Packet, QoS,
};
use store_proto::topics;
use store_proto::v1::{AgentStatus, CollectorStatus, CommitMark};
use store_runtime::backoff::Backoff;
use store_runtime::log_limit::LogLimit;
use store_runtime::mqtt_poll::{self, AfterError, PollHandler};
use store_runtime::tls;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::batch::Identity;
use crate::command::Inbox;
use crate::config::AgentConfig;

/// Most `done_above` ranges taken from one commit mark (the collector sends at most 64).
const MAX_DONE_ABOVE: usize = 64;
/// Largest packet the agent accepts from the broker: above the broker's `message_size_limit`
/// (16 MiB in the shipped config) plus topic and header. A packet over the client's limit makes
/// rumqttc drop the connection, and the broker hands the same retained message (on
/// `hq/collector/+/status` or `.../ack`) to the next connection again: a reconnect loop.
const MAX_INCOMING_PACKET_BYTES: usize = 32 << 20;

/// Largest packet the agent sends; batches are far smaller (`uplink.batch_max_bytes`).
const MAX_OUTGOING_PACKET_BYTES: usize = 16 << 20;

/// What the agent logs in to the broker with, read from files at start-up.
#[derive(Debug, Clone, Default)]
pub struct BrokerAccess {
    /// User name and password ([`AgentConfig::mqtt_credentials`]).
    pub credentials: Option<(String, String)>,
    /// TLS client config ([`AgentConfig::mqtt_tls`]); `None`: plain TCP.
    pub tls: Option<Arc<tls::ClientConfig>>,
}

/// What the connection reports to the uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Connected,
    Disconnected(String),
    /// The broker acknowledged the batch with this id.
    PubAck(u64),
    /// The collector's committed mark for this agent, and the seq ranges it already holds above
    /// the mark.
    Mark {
        committed: u64,
        done_above: Vec<(u64, u64)>,
    },
    Collector {
        id: String,
        online: bool,
        /// When it (re)subscribed (its status's wall time, ms); 0 when unknown (a last will).
        birth_ms: i64,
    },
}

#[derive(Debug, Clone, Copy)]
enum Tag {
    Batch(u64),
    Other,
}

#[derive(Debug, Default)]
struct Shared {
    connected: bool,
    stopping: bool,
    /// Publish requests handed to rumqttc and not yet seen as `Outgoing::Publish`.
    fifo: VecDeque<Tag>,
}

/// Handle for publishing; cheap to clone.
#[derive(Clone)]
pub struct Link {
    client: AsyncClient,
    shared: Arc<Mutex<Shared>>,
    events_topic: String,
    status_topic: String,
    identity: Identity,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("topic", &self.events_topic)
            .finish()
    }
}

fn status_payload(identity: &Identity, online: bool) -> Vec<u8> {
    status_with_backlog(identity, online, 0, 0)
}

fn status_with_backlog(
    identity: &Identity,
    online: bool,
    backlog_events: u64,
    committed_seq: u64,
) -> Vec<u8> {
    AgentStatus {
        backlog_events,
        committed_seq,
        store_id: identity.store_id.clone(),
        agent_id: identity.agent_id.clone(),
        online,
        boot_id: identity.boot_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        wall_time_ms: store_drivers::clock::reported_ms(),
        clock_synced: store_drivers::clock::clock_synced(),
    }
    .encode_to_vec()
}

impl Link {
    /// Connects lazily: starts the polling task, which connects and reconnects with backoff.
    /// `access` holds the user name, password and TLS config read at start-up.
    pub fn start(
        config: &AgentConfig,
        access: BrokerAccess,
        identity: Identity,
        commands: Option<Inbox>,
    ) -> (Link, mpsc::UnboundedReceiver<LinkEvent>) {
        let status_topic = topics::agent_status(&identity.store_id, &identity.agent_id);
        let mut opts = MqttOptions::new(config.client_id(), &config.mqtt.host, config.mqtt.port);
        opts.set_keep_alive(Duration::from_secs(config.mqtt.keep_alive_secs.max(5)));
        // Clean session: our journal, not the broker's session, is the source of truth.
        opts.set_clean_session(true);
        opts.set_max_packet_size(MAX_INCOMING_PACKET_BYTES, MAX_OUTGOING_PACKET_BYTES);
        opts.set_inflight((config.uplink.max_inflight + 8).min(u16::MAX as usize) as u16);
        opts.set_last_will(LastWill::new(
            &status_topic,
            status_payload(&identity, false),
            QoS::AtLeastOnce,
            true,
        ));
        if let Some((user, password)) = access.credentials {
            opts.set_credentials(user, password);
        }
        if access.tls.is_none()
            && tls::is_insecure_plaintext(&config.mqtt.host, &config.mqtt.tls_files())
        {
            // Only reachable with insecure_plaintext = true (config validation refuses it
            // otherwise): say so at every start.
            warn!(host = %config.mqtt.host, "insecure_plaintext = true: the broker connection is not encrypted; the password and events cross the network in clear.");
        }
        opts.set_transport(tls::transport(access.tls));
        let capacity = config.uplink.max_inflight * 2 + 16;
        let (client, eventloop) = AsyncClient::new(opts, capacity);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        let link = Link {
            client,
            shared,
            events_topic: topics::events(&identity.store_id, &identity.agent_id),
            status_topic,
            identity,
        };
        let backoff = Backoff::from_millis(
            config.uplink.reconnect_min_ms,
            config.uplink.reconnect_max_ms,
        );
        let handler = Handler {
            ack_topic: topics::ack(&link.identity.store_id, &link.identity.agent_id),
            link: link.clone(),
            pkids: HashMap::new(),
            last_failure: None,
            undecodable_marks: LogLimit::default(),
            cmd_topic: topics::cmd(&link.identity.store_id, &link.identity.agent_id),
            commands,
        };
        let probe = store_runtime::probe::Probe::from_millis(config.uplink.reconnect_probe_ms);
        tokio::spawn(mqtt_poll::run(eventloop, backoff, probe, tx, handler));
        (link, rx)
    }

    /// Hands a batch to the MQTT client. False when not connected (or the client is busy):
    /// the caller keeps the batch in its to-send set.
    pub fn publish_batch(&self, id: u64, payload: Vec<u8>) -> bool {
        let mut shared = self.shared.lock().expect("link lock");
        if !shared.connected || shared.stopping {
            return false;
        }
        match self
            .client
            .try_publish(&self.events_topic, QoS::AtLeastOnce, false, payload)
        {
            Ok(()) => {
                shared.fifo.push_back(Tag::Batch(id));
                true
            }
            Err(e) => {
                debug!(error = %e, "MQTT request channel full; will retry.");
                false
            }
        }
    }

    /// Republishes the retained online status with the current backlog, so HQ sees how far the
    /// store is behind. Tagged like a batch so PUBACK matching stays in step.
    pub fn publish_status(&self, backlog_events: u64, committed_seq: u64) {
        let mut shared = self.shared.lock().expect("link lock");
        if !shared.connected || shared.stopping {
            return;
        }
        let payload = status_with_backlog(&self.identity, true, backlog_events, committed_seq);
        if self
            .client
            .try_publish(&self.status_topic, QoS::AtLeastOnce, true, payload)
            .is_ok()
        {
            shared.fifo.push_back(Tag::Other);
        }
    }

    /// Publishes an HQ command's result (QoS 1, not retained) on this agent's `.../cmd/result`.
    /// False when not connected or the client is busy: the caller may try again.
    pub fn publish_command_result(&self, payload: Vec<u8>) -> bool {
        let mut shared = self.shared.lock().expect("link lock");
        if !shared.connected || shared.stopping {
            return false;
        }
        let topic = topics::cmd_result(&self.identity.store_id, &self.identity.agent_id);
        if self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
            .is_ok()
        {
            shared.fifo.push_back(Tag::Other);
            return true;
        }
        false
    }

    /// Publishes the retained offline status and disconnects (graceful shutdown).
    pub fn stop(&self) {
        let mut shared = self.shared.lock().expect("link lock");
        shared.stopping = true;
        if shared.connected {
            let _ = self.client.try_publish(
                &self.status_topic,
                QoS::AtLeastOnce,
                true,
                status_payload(&self.identity, false),
            );
            shared.fifo.push_back(Tag::Other);
        }
        let _ = self.client.try_disconnect();
    }
}

/// What an incoming publish means to the uplink: a commit mark on `ack_topic` (this agent's
/// `.../ack`), a collector's status on `hq/collector/{id}/status`, or nothing (another topic).
/// An undecodable mark is an error for the caller to count and log (rate limited: anyone who
/// can publish there could send a stream of them). Every byte of `payload` is untrusted: the
/// uplink state checks the mark itself against what was published. Public so the fuzz targets
/// can drive it.
pub fn decode_incoming(
    ack_topic: &str,
    topic: &str,
    payload: &[u8],
) -> Result<Option<LinkEvent>, prost::DecodeError> {
    if topic == ack_topic {
        let m = CommitMark::decode(payload)?;
        Ok(Some(LinkEvent::Mark {
            committed: m.committed_seq,
            // A collector sends at most that many; more only costs work here.
            // Fewer skips are always safe: the rest is resent.
            done_above: m
                .done_above
                .iter()
                .take(MAX_DONE_ABOVE)
                .map(|r| (r.first, r.last))
                .collect(),
        }))
    } else if let Some(id) = topics::parse_collector_status(topic) {
        // An empty retained payload clears the status: treat it as offline.
        let (online, birth_ms) = CollectorStatus::decode(payload)
            .map(|s| (s.online, s.wall_time_ms))
            .unwrap_or((false, 0));
        Ok(Some(LinkEvent::Collector {
            id: id.to_owned(),
            online,
            birth_ms,
        }))
    } else {
        Ok(None)
    }
}

/// The polling task's handling: matches PUBACKs to batches, decodes marks and collector
/// statuses, and drops rumqttc's queued requests on errors. Never awaits.
struct Handler {
    link: Link,
    ack_topic: String,
    /// Packet ids of publishes on the wire, and what each one carries.
    pkids: HashMap<u16, Tag>,
    /// The last connection failure logged at WARN since the last CONNACK: a failure that
    /// repeats (every backoff step) is logged once, a new kind of failure (refused, then a TLS
    /// certificate error) again.
    last_failure: Option<String>,
    /// When undecodable commit marks were last logged, and how many arrived since.
    undecodable_marks: LogLimit<()>,
    /// This agent's `.../cmd`, and where its publishes go (`None`: commands are not run).
    cmd_topic: String,
    commands: Option<Inbox>,
}

impl Handler {
    /// Logs undecodable commit marks at most once per [`store_runtime::log_limit::LOG_EVERY`], with how many arrived since
    /// the last line.
    fn undecodable_mark(&mut self, error: &prost::DecodeError) {
        if let Some(marks) = self
            .undecodable_marks
            .note(&(), 1, tokio::time::Instant::now())
        {
            warn!(%error, marks, topic = %self.ack_topic,
                "Undecodable commit marks ignored (at most one line a minute).");
        }
    }
}

impl PollHandler for Handler {
    type Notice = LinkEvent;

    fn on_event(&mut self, event: MqttEvent) -> Option<LinkEvent> {
        let link = &self.link;
        match event {
            MqttEvent::Incoming(Packet::ConnAck(_)) => {
                {
                    let mut shared = link.shared.lock().expect("link lock");
                    shared.connected = true;
                    shared.fifo.clear();
                    // Re-subscribe every time: the session is clean.
                    let _ = link.client.try_subscribe(&self.ack_topic, QoS::AtLeastOnce);
                    let _ = link
                        .client
                        .try_subscribe(topics::COLLECTOR_STATUS_FILTER, QoS::AtLeastOnce);
                    if self.commands.is_some() {
                        let _ = link.client.try_subscribe(&self.cmd_topic, QoS::AtLeastOnce);
                    }
                    if link
                        .client
                        .try_publish(
                            &link.status_topic,
                            QoS::AtLeastOnce,
                            true,
                            status_payload(&link.identity, true),
                        )
                        .is_ok()
                    {
                        shared.fifo.push_back(Tag::Other);
                    }
                }
                self.pkids.clear();
                self.last_failure = None;
                info!(topic = %link.events_topic, "Connected to the broker.");
                Some(LinkEvent::Connected)
            }
            MqttEvent::Outgoing(Outgoing::Publish(pkid)) => {
                let tag = link.shared.lock().expect("link lock").fifo.pop_front();
                match tag {
                    Some(tag) => {
                        self.pkids.insert(pkid, tag);
                    }
                    None => warn!(pkid, "Outgoing publish without a tag; ignoring."),
                }
                None
            }
            MqttEvent::Incoming(Packet::PubAck(ack)) => match self.pkids.remove(&ack.pkid) {
                Some(Tag::Batch(id)) => Some(LinkEvent::PubAck(id)),
                _ => None,
            },
            MqttEvent::Incoming(Packet::Publish(p)) => {
                // Exactly this agent's command topic; the executor checks every byte.
                if p.topic == self.cmd_topic {
                    if let Some(inbox) = &self.commands {
                        inbox.offer(p.payload.as_ref());
                    }
                    return None;
                }
                match decode_incoming(&self.ack_topic, &p.topic, p.payload.as_ref()) {
                    Ok(event) => event,
                    Err(e) => {
                        self.undecodable_mark(&e);
                        None
                    }
                }
            }
            _ => None,
        }
    }

    fn on_error(
        &mut self,
        eventloop: &mut EventLoop,
        error: &ConnectionError,
        _retry_in: Duration,
    ) -> AfterError<LinkEvent> {
        let stopping = {
            let mut shared = self.link.shared.lock().expect("link lock");
            let was_connected = shared.connected;
            shared.connected = false;
            // Drop whatever rumqttc still holds: with a clean session it would be lost
            // anyway, and a stale request sent after reconnecting would shift the FIFO.
            eventloop.clean();
            eventloop.pending.clear();
            shared.fifo.clear();
            let message = error.to_string();
            if was_connected {
                warn!(error = %message, "Disconnected from the broker.");
            } else if self.last_failure.as_deref() != Some(message.as_str()) {
                // A wrong CA, an expired certificate or refused credentials show up here: say
                // it once, not at every reconnect attempt.
                warn!(error = %message, "Cannot connect to the broker (repeats of this error are logged at debug level).");
            } else {
                debug!(error = %message, "Broker connection attempt failed.");
            }
            self.last_failure = Some(message);
            shared.stopping
        };
        self.pkids.clear();
        let notice = LinkEvent::Disconnected(error.to_string());
        if stopping {
            AfterError::Stop(Some(notice))
        } else {
            AfterError::Retry(notice)
        }
    }

    /// The uplink drops its receiver right after [`Link::stop`]: keep polling so the offline
    /// status and the DISCONNECT still go out; the error that follows ends the task.
    fn on_receiver_gone(&mut self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_proto::v1::SeqRange;

    const ACK: &str = "stores/s1/agents/a1/ack";

    #[test]
    fn incoming_marks_and_statuses_are_decoded_and_bounded() {
        let mark = CommitMark {
            committed_seq: 7,
            done_above: (0..100)
                .map(|i| SeqRange {
                    first: 10 + 2 * i,
                    last: 10 + 2 * i,
                })
                .collect(),
            ..Default::default()
        };
        match decode_incoming(ACK, ACK, &mark.encode_to_vec()) {
            Ok(Some(LinkEvent::Mark {
                committed,
                done_above,
            })) => {
                assert_eq!(committed, 7);
                assert_eq!(done_above.len(), MAX_DONE_ABOVE);
                assert_eq!(done_above[0], (10, 10));
            }
            other => panic!("{other:?}"),
        }
        assert!(decode_incoming(ACK, ACK, b"\xff\xff").is_err());
        let online = CollectorStatus {
            online: true,
            ..Default::default()
        };
        assert_eq!(
            decode_incoming(ACK, "hq/collector/hq-1/status", &online.encode_to_vec()),
            Ok(Some(LinkEvent::Collector {
                id: "hq-1".into(),
                online: true,
                birth_ms: 0,
            }))
        );
        // A cleared (empty) or garbled status counts as offline.
        for payload in [&b""[..], b"\xff"] {
            assert_eq!(
                decode_incoming(ACK, "hq/collector/hq-1/status", payload),
                Ok(Some(LinkEvent::Collector {
                    id: "hq-1".into(),
                    online: false,
                    birth_ms: 0,
                }))
            );
        }
        // Another agent's mark, or anything else, means nothing here.
        let other = decode_incoming(ACK, "stores/s1/agents/a2/ack", &mark.encode_to_vec());
        assert_eq!(other, Ok(None));
    }
}
