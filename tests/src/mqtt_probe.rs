//! A minimal, blocking MQTT 3.1.1 client: CONNECT, SUBSCRIBE, PUBLISH (QoS 0/1), receive.
//!
//! Only for checking the harness's broker (does a graceful stop keep a persistent session and its
//! queued messages, does a wipe lose them?) and for peeking at retained topics. Not a general
//! client: no QoS 2, no keep-alive pings (use it for less than the 60 s keep-alive).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A received PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// One MQTT connection.
pub struct MqttProbe {
    stream: TcpStream,
    next_id: u16,
    /// PUBLISHes that arrived while waiting for something else.
    inbox: Vec<Message>,
}

impl MqttProbe {
    /// Connects; returns the client and CONNACK's session-present flag.
    pub fn connect(
        addr: SocketAddr,
        client_id: &str,
        clean_session: bool,
        timeout: Duration,
    ) -> Result<(Self, bool), String> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let mut probe = Self {
            stream,
            next_id: 1,
            inbox: Vec::new(),
        };
        let mut body = Vec::new();
        put_str(&mut body, "MQTT");
        body.push(4); // protocol level 3.1.1
        body.push(if clean_session { 0x02 } else { 0x00 });
        body.extend_from_slice(&60u16.to_be_bytes());
        put_str(&mut body, client_id);
        probe.send(0x10, &body)?;
        let (kind, body) = probe.read_packet()?;
        if kind >> 4 != 2 || body.len() != 2 {
            return Err(format!("expected CONNACK, got type {} {body:?}", kind >> 4));
        }
        if body[1] != 0 {
            return Err(format!("connection refused, return code {}", body[1]));
        }
        Ok((probe, body[0] & 1 == 1))
    }

    /// Subscribes to one filter at `qos` (0 or 1) and waits for SUBACK.
    pub fn subscribe(&mut self, filter: &str, qos: u8) -> Result<(), String> {
        let id = self.packet_id();
        let mut body = id.to_be_bytes().to_vec();
        put_str(&mut body, filter);
        body.push(qos);
        self.send(0x82, &body)?;
        loop {
            let (kind, body) = self.read_packet()?;
            match kind >> 4 {
                9 if body.get(..2) == Some(&id.to_be_bytes()[..]) => {
                    return if body.get(2) == Some(&0x80) {
                        Err(format!("subscription to {filter} refused"))
                    } else {
                        Ok(())
                    };
                }
                3 => self.on_publish(kind, &body)?,
                other => return Err(format!("expected SUBACK, got type {other}")),
            }
        }
    }

    /// Publishes at QoS 1 and waits for PUBACK.
    pub fn publish(&mut self, topic: &str, payload: &[u8], retain: bool) -> Result<(), String> {
        let id = self.packet_id();
        let mut body = Vec::new();
        put_str(&mut body, topic);
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(payload);
        self.send(0x32 | u8::from(retain), &body)?;
        loop {
            let (kind, body) = self.read_packet()?;
            match kind >> 4 {
                4 if body == id.to_be_bytes() => return Ok(()),
                4 => {}
                3 => self.on_publish(kind, &body)?,
                other => return Err(format!("expected PUBACK, got type {other}")),
            }
        }
    }

    /// Receives PUBLISHes for `wait` (acknowledging QoS 1 ones) and returns them.
    pub fn receive_for(&mut self, wait: Duration) -> Result<Vec<Message>, String> {
        let end = Instant::now() + wait;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(std::mem::take(&mut self.inbox));
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(|e| e.to_string())?;
            match self.read_packet_io() {
                Ok((kind, body)) if kind >> 4 == 3 => self.on_publish(kind, &body)?,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Sends DISCONNECT and closes.
    pub fn disconnect(mut self) {
        let _ = self.send(0xE0, &[]);
    }

    fn on_publish(&mut self, kind: u8, body: &[u8]) -> Result<(), String> {
        let qos = (kind >> 1) & 3;
        let tlen = usize::from(u16::from_be_bytes([
            *body.first().ok_or("short PUBLISH")?,
            *body.get(1).ok_or("short PUBLISH")?,
        ]));
        let topic =
            String::from_utf8_lossy(body.get(2..2 + tlen).ok_or("short PUBLISH")?).into_owned();
        let mut rest = &body[2 + tlen..];
        if qos > 0 {
            let id = rest.get(..2).ok_or("short PUBLISH")?.to_vec();
            rest = &rest[2..];
            self.send(0x40, &id)?;
        }
        self.inbox.push(Message {
            topic,
            payload: rest.to_vec(),
            retain: kind & 1 == 1,
        });
        Ok(())
    }

    fn packet_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        id
    }

    fn send(&mut self, first: u8, body: &[u8]) -> Result<(), String> {
        let mut packet = vec![first];
        let mut len = body.len();
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            packet.push(byte);
            if len == 0 {
                break;
            }
        }
        packet.extend_from_slice(body);
        self.stream
            .write_all(&packet)
            .map_err(|e| format!("send: {e}"))
    }

    fn read_packet(&mut self) -> Result<(u8, Vec<u8>), String> {
        self.read_packet_io().map_err(|e| format!("read: {e}"))
    }

    fn read_packet_io(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut first = [0u8; 1];
        self.stream.read_exact(&mut first)?;
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let mut b = [0u8; 1];
            self.stream.read_exact(&mut b)?;
            len |= usize::from(b[0] & 0x7F) << shift;
            if b[0] & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 21 {
                return Err(io::Error::other("bad remaining length"));
            }
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        Ok((first[0], body))
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}
