//! A blocking MQTT 3.1.1 client over TLS (rumqttc with the same rustls set-up as the binaries,
//! from `store_runtime::tls`), for tests that check what a set of credentials may do at the
//! broker: connect or be refused, publish, subscribe, and collect what arrives.
//!
//! It never reconnects: the first connection error is kept and reported, so a refused handshake
//! is a result, not a retry loop. Its own small tokio runtime polls the event loop in the
//! background; every call waits with a timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use store_runtime::tls::{self, TlsFiles};
use tokio::sync::mpsc;

use crate::mqtt_probe::Message;

/// One TLS connection to a broker on `127.0.0.1`.
pub struct TlsProbe {
    runtime: tokio::runtime::Runtime,
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Event, String>>,
    inbox: Vec<Message>,
}

impl TlsProbe {
    /// Connects to `127.0.0.1:port` as `client_id`, checking the broker against `ca_file` and
    /// presenting `client` (certificate, key) if given. Returns the connection error (TLS
    /// handshake, CONNACK refusal) as text when it fails.
    pub fn connect(
        port: u16,
        client_id: &str,
        ca_file: &Path,
        client: Option<(&Path, &Path)>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let files = TlsFiles {
            tls: true,
            ca_file: Some(ca_file),
            cert_file: client.map(|c| c.0),
            key_file: client.map(|c| c.1),
        };
        let config = tls::client_config(&files).map_err(|e| e.to_string())?;
        let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        opts.set_transport(tls::transport(config));
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let (tx, events) = mpsc::unbounded_channel();
        runtime.spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(event) => {
                        if tx.send(Ok(event)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                }
            }
        });
        let mut probe = Self {
            runtime,
            client,
            events,
            inbox: Vec::new(),
        };
        probe.wait_for(timeout, "CONNACK", |p| {
            matches!(p, Packet::ConnAck(_)).then_some(())
        })?;
        Ok(probe)
    }

    /// Subscribes at QoS 1; `Ok(true)` when the broker granted it, `Ok(false)` when it refused.
    pub fn subscribe(&mut self, filter: &str, timeout: Duration) -> Result<bool, String> {
        self.client
            .try_subscribe(filter, QoS::AtLeastOnce)
            .map_err(|e| e.to_string())?;
        self.wait_for(timeout, "SUBACK", |p| match p {
            Packet::SubAck(ack) => Some(
                ack.return_codes
                    .iter()
                    .all(|c| !matches!(c, SubscribeReasonCode::Failure)),
            ),
            _ => None,
        })
    }

    /// Publishes at QoS 1 and waits for the PUBACK (MQTT 3.1.1 brokers acknowledge a publish
    /// their ACL drops too: the PUBACK says nothing about delivery).
    pub fn publish(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
        timeout: Duration,
    ) -> Result<(), String> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .map_err(|e| e.to_string())?;
        self.wait_for(timeout, "PUBACK", |p| {
            matches!(p, Packet::PubAck(_)).then_some(())
        })
    }

    /// What arrived so far and within `wait`.
    pub fn receive_for(&mut self, wait: Duration) -> Result<Vec<Message>, String> {
        let end = Instant::now() + wait;
        while let Some(event) = self.next_event(end)? {
            self.keep(event);
        }
        Ok(std::mem::take(&mut self.inbox))
    }

    /// Waits until a message on `topic` arrives (up to `timeout`); returns every message seen
    /// meanwhile, that one last.
    pub fn receive_until(
        &mut self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Vec<Message>, String> {
        let end = Instant::now() + timeout;
        loop {
            if self.inbox.iter().any(|m| m.topic == topic) {
                return Ok(std::mem::take(&mut self.inbox));
            }
            match self.next_event(end)? {
                Some(event) => self.keep(event),
                None => {
                    return Err(format!(
                        "no message on {topic} within {timeout:?}; got {:?}",
                        self.inbox.iter().map(|m| &m.topic).collect::<Vec<_>>()
                    ))
                }
            }
        }
    }

    /// Sends DISCONNECT.
    pub fn disconnect(self) {
        let _ = self.client.try_disconnect();
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }

    fn keep(&mut self, event: Event) {
        if let Event::Incoming(Packet::Publish(p)) = event {
            self.inbox.push(Message {
                topic: p.topic.clone(),
                payload: p.payload.to_vec(),
                retain: p.retain,
            });
        }
    }

    /// The next event before `end`; `None` at `end`; `Err` when the connection failed.
    fn next_event(&mut self, end: Instant) -> Result<Option<Event>, String> {
        let left = end.saturating_duration_since(Instant::now());
        let events = &mut self.events;
        let got = self
            .runtime
            .block_on(async { tokio::time::timeout(left, events.recv()).await });
        match got {
            Err(_) => Ok(None),
            Ok(None) => Err("connection closed".to_owned()),
            Ok(Some(Ok(event))) => Ok(Some(event)),
            Ok(Some(Err(e))) => Err(e),
        }
    }

    fn wait_for<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pick: impl FnMut(&Packet) -> Option<T>,
    ) -> Result<T, String> {
        let end = Instant::now() + timeout;
        loop {
            match self.next_event(end)? {
                Some(Event::Incoming(packet)) => {
                    if let Some(t) = pick(&packet) {
                        return Ok(t);
                    }
                    self.keep(Event::Incoming(packet));
                }
                Some(_) => {}
                None => return Err(format!("no {what} within {timeout:?}")),
            }
        }
    }
}
