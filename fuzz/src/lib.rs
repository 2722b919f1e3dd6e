//! Input formats of the fuzz targets, shared with the seed generator (`examples/seeds.rs`).
//!
//! Both formats are plain byte framings rather than `arbitrary` structures, so that seeds can
//! hold real protobuf payloads the fuzzer then mutates byte by byte, and so that a crashing
//! input can be read (and inlined into a regression test) without this crate.
//!
//! Every reader stops at the first truncated record: any byte string is a valid input.

/// Reads bytes off the front of a fuzz input.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    pub fn u16(&mut self) -> Option<u16> {
        let b = self.bytes(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (b, rest) = self.data.split_at(n);
        self.data = rest;
        Some(b)
    }

    /// A `u8`-length-prefixed byte string.
    pub fn short(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()? as usize;
        self.bytes(n)
    }

    /// A `u16`-length-prefixed (little endian) byte string.
    pub fn long(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.bytes(n)
    }
}

/// Appends a `u8`-length-prefixed byte string (at most 255 bytes are kept).
pub fn put_short(out: &mut Vec<u8>, b: &[u8]) {
    let b = &b[..b.len().min(255)];
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

/// Appends a `u16`-length-prefixed byte string (at most 65535 bytes are kept).
pub fn put_long(out: &mut Vec<u8>, b: &[u8]) {
    let b = &b[..b.len().min(65535)];
    out.extend_from_slice(&(b.len() as u16).to_le_bytes());
    out.extend_from_slice(b);
}

pub mod agent_ack;
pub mod agent_command;
pub mod collector_command;
pub mod collector_publish;
pub mod config;
pub mod counter_payload;
pub mod counter_serial;
pub mod escpos;
pub mod gs1;
pub mod hid_pos;
pub mod line_feed;
pub mod poslog;
pub mod receipt_template;
pub mod serial_framing;
pub mod wedge;

/// `collector_publish`: two header bytes, then publishes.
///
/// - byte 0: bit 0 set: the collector owns stores `s1` and `s2` only (else every store);
///   bits 1..=3: `max_ranges_per_agent - 1`; bits 4..=5: `max_stores - 1`;
/// - byte 1: `max_seq_ahead`: 0 is the default, `n` is `n * 8`;
/// - then publishes, each a short topic and a long payload.
pub mod publish {
    pub const OWN_STORES: u8 = 1;

    /// Header for `max_ranges` (1..=8), `max_stores` (1..=4) and a window byte.
    pub fn header(own_stores: bool, max_ranges: u8, max_stores: u8, window: u8) -> Vec<u8> {
        let flags = u8::from(own_stores)
            | ((max_ranges.clamp(1, 8) - 1) << 1)
            | ((max_stores.clamp(1, 4) - 1) << 4);
        vec![flags, window]
    }

    pub fn push(out: &mut Vec<u8>, topic: &str, payload: &[u8]) {
        super::put_short(out, topic.as_bytes());
        super::put_long(out, payload);
    }
}

/// `agent_ack`: a header, then operations on the uplink state.
///
/// Header: held first seq (u8, 0 = nothing held), journal head at start (u8), config byte
/// (bits 0..=2: `batch_max_events - 1`, bits 3..=4: `max_inflight - 1`, bit 5: backlog drain
/// rate limited, bits 6..=7: backlog threshold `4 << n`).
///
/// Operations, one byte each then their arguments (the byte is taken modulo [`ack::OPS`]):
pub mod ack {
    pub const CONNECT: u8 = 0;
    pub const DISCONNECT: u8 = 1;
    /// Then a byte: how many events to send of the picked range (`1 + n`), and bit 7 set when
    /// the client refuses the publish.
    pub const SEND: u8 = 2;
    /// Then a byte: which batch published since the connection (index modulo their number).
    pub const PUBACK: u8 = 3;
    /// Then a byte: how far the journal head moves.
    pub const HEAD: u8 = 4;
    /// Then a u16: milliseconds that pass (times 32), then a tick.
    pub const TICK: u8 = 5;
    /// Then a byte (0: the agent's ack topic; 1: a collector's status topic, id from the next
    /// short string; else: a raw short topic), then a long payload.
    pub const MESSAGE: u8 = 6;
    /// The journal holds nothing in the picked range (trimmed or shed).
    pub const SKIP: u8 = 7;
    pub const OPS: u8 = 8;

    /// The ack topic of the fuzzed agent.
    pub const ACK_TOPIC: &str = "stores/s1/agents/a1/ack";

    pub fn message_ack(out: &mut Vec<u8>, payload: &[u8]) {
        out.extend_from_slice(&[MESSAGE, 0]);
        super::put_long(out, payload);
    }

    pub fn message_status(out: &mut Vec<u8>, collector: &str, payload: &[u8]) {
        out.extend_from_slice(&[MESSAGE, 1]);
        super::put_short(out, collector.as_bytes());
        super::put_long(out, payload);
    }
}
