//! Just enough MQTT 3.1.1 for the peer's publisher and subscriber: CONNECT, PUBLISH at QoS 1,
//! PUBACK, SUBSCRIBE, read one packet. Buffered on both sides, so a pipelined client is not
//! limited by one syscall per packet ([`crate::mqtt_probe`] is the simple blocking one).
//!
//! Reads are bounded: a remaining length above [`MAX_PACKET`] is an error, and the caller sets a
//! read timeout on the socket, so a broker that misbehaves cannot stall or exhaust the bench.

use std::io::{self, BufRead, Write};

/// Largest packet accepted from a broker (the bench's own publishes are a few hundred bytes).
pub const MAX_PACKET: usize = 1024 * 1024;

/// Packet types (high nibble of the first byte).
pub const CONNACK: u8 = 2;
pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const SUBACK: u8 = 9;

/// Appends a packet with first byte `first` and `body` to `out`.
pub fn put_packet(out: &mut Vec<u8>, first: u8, body: &[u8]) {
    out.push(first);
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// CONNECT with keep-alive disabled (the bench's connections are busy or short).
pub fn connect(client_id: &str, clean_session: bool) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, "MQTT");
    body.push(4);
    body.push(if clean_session { 0x02 } else { 0x00 });
    body.extend_from_slice(&0u16.to_be_bytes());
    put_str(&mut body, client_id);
    let mut out = Vec::new();
    put_packet(&mut out, 0x10, &body);
    out
}

/// PUBLISH at QoS 1 with packet id `id` (never 0), appended to `out`.
pub fn publish_qos1(out: &mut Vec<u8>, topic: &str, id: u16, payload: &[u8]) {
    let mut body = Vec::with_capacity(topic.len() + 4 + payload.len());
    put_str(&mut body, topic);
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(payload);
    put_packet(out, 0x32, &body);
}

/// PUBACK for packet id bytes `id`, appended to `out`.
pub fn puback(out: &mut Vec<u8>, id: [u8; 2]) {
    put_packet(out, 0x40, &id);
}

/// SUBSCRIBE to one filter at QoS 1.
pub fn subscribe(id: u16, filter: &str) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    put_str(&mut body, filter);
    body.push(1);
    let mut out = Vec::new();
    put_packet(&mut out, 0x82, &body);
    out
}

/// Reads one packet: `(first byte, body)`. Errors on EOF, timeout, or a length over
/// [`MAX_PACKET`].
pub fn read_packet(r: &mut impl BufRead) -> io::Result<(u8, Vec<u8>)> {
    let mut first = [0u8; 1];
    r.read_exact(&mut first)?;
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        len |= usize::from(b[0] & 0x7F) << shift;
        if b[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(io::Error::other("bad remaining length"));
        }
    }
    if len > MAX_PACKET {
        return Err(io::Error::other(format!("packet of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok((first[0], body))
}

/// A received PUBLISH: its QoS 1 packet id (if any) and payload.
pub fn parse_publish(first: u8, body: &[u8]) -> Option<(Option<[u8; 2]>, &[u8])> {
    let qos = (first >> 1) & 3;
    let tlen = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let mut rest = body.get(2 + tlen..)?;
    let id = if qos > 0 {
        let id = [*rest.first()?, *rest.get(1)?];
        rest = &rest[2..];
        Some(id)
    } else {
        None
    };
    Some((id, rest))
}

/// Writes `bytes` and flushes.
pub fn send(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    w.write_all(bytes)?;
    w.flush()
}

/// Reads the CONNACK; errors if the broker refused.
pub fn expect_connack(r: &mut impl BufRead) -> io::Result<bool> {
    let (first, body) = read_packet(r)?;
    if first >> 4 != CONNACK || body.len() != 2 {
        return Err(io::Error::other(format!(
            "expected CONNACK, got type {}",
            first >> 4
        )));
    }
    if body[1] != 0 {
        return Err(io::Error::other(format!("refused, code {}", body[1])));
    }
    Ok(body[0] & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_round_trips_through_the_reader() {
        let mut out = Vec::new();
        let payload = vec![7u8; 300]; // a two-byte remaining length
        publish_qos1(&mut out, "a/b", 513, &payload);
        let (first, body) = read_packet(&mut &out[..]).unwrap();
        assert_eq!(first, 0x32);
        let (id, p) = parse_publish(first, &body).unwrap();
        assert_eq!(id, Some(513u16.to_be_bytes()));
        assert_eq!(p, &payload[..]);
    }

    #[test]
    fn oversized_and_truncated_packets_are_errors() {
        let huge = [0x30u8, 0xFF, 0xFF, 0xFF, 0x7F];
        assert!(read_packet(&mut &huge[..]).is_err());
        let cut = [0x40u8, 2, 0];
        assert!(read_packet(&mut &cut[..]).is_err());
        assert!(parse_publish(0x32, &[0, 9, b'a']).is_none());
    }
}
