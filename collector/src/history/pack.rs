//! A pack: the history rows of one agent from one commit group, in one sled value.
//!
//! sled's cost is per key (a leaf insert, an index entry, a log record), not per byte, so the
//! rows of an agent's batches in one commit group share one key instead of one key each.
//!
//! The key has the row key's layout ([`keys::RowKey`]): the store, the *earliest* event time
//! among the pack's rows, the agent and the pack's first seq (unique: a seq is applied once).
//! The value is `[2][arrival ms, 8][rows, 4][row]*`, each row a length (4 bytes) and the
//! `Event` as protobuf, in the order the rows were applied. Numbers are big-endian.
//!
//! Every row's event time lies in `[key time, key time + SPAN_MS)`, so a reader looking for
//! rows at or after `t` starts at the key time `t - SPAN_MS` and filters rows, and retention by
//! age drops a pack once its key time is `SPAN_MS` older than the cut-off. Values written before
//! packing (`[1][arrival][Event]`, one row) read as packs of one row.

use prost::Message;
use store_proto::Event;

use super::keys::{self, RowKey};
use super::record::{BadRow, Row};

/// Layout version of a single-row value (before packing).
const SINGLE: u8 = 1;
/// Layout version of a pack.
const PACKED: u8 = 2;
/// Bytes before the first row of a pack.
const HEADER: usize = 1 + 8 + 4;

/// Widest spread of event times in one pack. Batches sent as events happen span well under a
/// second; a catch-up batch of old events is split into packs of at most this span.
pub const SPAN_MS: i64 = 60_000;
/// Most rows in one pack. 64 rows already take the per-key cost below the rest of ingest; more
/// only makes each read of one row decode more.
pub const MAX_ROWS: u32 = 64;
/// A pack is closed once its value reaches this size. sled writes a log item over 128 KiB (a
/// leaf of up to 16 values) to a blob file of its own; 4 KiB values keep every history leaf
/// inline in sled's log, where its recovery checks them.
pub const MAX_BYTES: usize = 4 * 1024;

/// A pack being filled by [`super::Recorder`].
#[derive(Debug)]
pub struct Builder {
    pub store: String,
    pub agent: String,
    first_seq: u64,
    earliest_ms: i64,
    latest_ms: i64,
    rows: u32,
    value: Vec<u8>,
}

impl Builder {
    /// A pack holding `event` as its first row.
    pub fn new(store: &str, agent: &str, arrival_ms: i64, event: &Event) -> Builder {
        let mut value = Vec::with_capacity(HEADER + 4 + event.encoded_len());
        value.push(PACKED);
        value.extend_from_slice(&arrival_ms.to_be_bytes());
        value.extend_from_slice(&0u32.to_be_bytes());
        let mut pack = Builder {
            store: store.to_owned(),
            agent: agent.to_owned(),
            first_seq: event.seq,
            earliest_ms: event.wall_time_ms,
            latest_ms: event.wall_time_ms,
            rows: 0,
            value,
        };
        pack.append(event);
        pack
    }

    /// Whether `event` of the same agent can join without breaking the pack's bounds.
    pub fn fits(&self, event: &Event) -> bool {
        let t = event.wall_time_ms;
        let spread = i128::from(self.latest_ms.max(t)) - i128::from(self.earliest_ms.min(t));
        self.rows < MAX_ROWS && self.value.len() < MAX_BYTES && spread < i128::from(SPAN_MS)
    }

    /// Adds a row; the caller checked [`Builder::fits`]. Returns the bytes added.
    pub fn push(&mut self, event: &Event) -> usize {
        self.earliest_ms = self.earliest_ms.min(event.wall_time_ms);
        self.latest_ms = self.latest_ms.max(event.wall_time_ms);
        self.append(event)
    }

    fn append(&mut self, event: &Event) -> usize {
        let before = self.value.len();
        let len = event.encoded_len();
        self.value.reserve(4 + len);
        self.value.extend_from_slice(&(len as u32).to_be_bytes());
        // Cannot fail: the buffer has the capacity.
        let _ = event.encode(&mut self.value);
        self.rows += 1;
        self.value.len() - before
    }

    /// Rows in the pack.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// The key and value to write.
    pub fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        self.value[9..HEADER].copy_from_slice(&self.rows.to_be_bytes());
        let key = RowKey {
            store: &self.store,
            time_ms: self.earliest_ms,
            agent: &self.agent,
            seq: self.first_seq,
        }
        .time_key();
        (key, self.value)
    }
}

/// A stored pack, parsed enough to count and walk its rows (events are decoded on demand).
#[derive(Debug, Clone)]
pub struct Pack<'a> {
    pub key: RowKey<'a>,
    pub arrival_ms: i64,
    /// Rows as the header says (1 for a single-row value).
    pub rows: u32,
    raw_key: &'a [u8],
    single: bool,
    body: &'a [u8],
}

/// Parses a stored key and value (a pack or a single row).
pub fn parse<'a>(key: &'a [u8], value: &'a [u8]) -> Result<Pack<'a>, BadRow> {
    let parsed = keys::parse_time_key(key).ok_or_else(|| bad(key, "not a time key"))?;
    let arrival = |v: &[u8]| i64::from_be_bytes(v[1..9].try_into().expect("8 bytes"));
    match value.first() {
        Some(&SINGLE) if value.len() >= 9 => Ok(Pack {
            key: parsed,
            arrival_ms: arrival(value),
            rows: 1,
            raw_key: key,
            single: true,
            body: &value[9..],
        }),
        Some(&PACKED) if value.len() >= HEADER => Ok(Pack {
            key: parsed,
            arrival_ms: arrival(value),
            rows: u32::from_be_bytes(value[9..HEADER].try_into().expect("4 bytes")),
            raw_key: key,
            single: false,
            body: &value[HEADER..],
        }),
        _ => Err(bad(key, "unknown row version")),
    }
}

fn bad(key: &[u8], reason: &str) -> BadRow {
    BadRow {
        key: keys::hex(key),
        reason: reason.to_owned(),
    }
}

impl<'a> Pack<'a> {
    /// The rows' encoded events, in order, without decoding them.
    pub fn raw_rows(&self) -> RawRows<'a> {
        RawRows {
            key: self.raw_key,
            rest: self.body,
            single: self.single,
            done: false,
        }
    }

    /// Decodes one row from [`Pack::raw_rows`]; `first` checks the seq the key names.
    pub fn row(&self, raw: &[u8], first: bool) -> Result<Row, BadRow> {
        let event = Event::decode(raw).map_err(|e| bad(self.raw_key, &e.to_string()))?;
        if first && event.seq != self.key.seq {
            return Err(bad(self.raw_key, "seq in key and row differ"));
        }
        Ok(Row {
            store: self.key.store.to_owned(),
            agent: self.key.agent.to_owned(),
            time_ms: event.wall_time_ms,
            arrival_ms: self.arrival_ms,
            event,
        })
    }

    /// Every row, decoded.
    pub fn decode_all(&self) -> Result<Vec<Row>, BadRow> {
        let mut rows = Vec::with_capacity(self.rows.min(MAX_ROWS) as usize);
        for (i, raw) in self.raw_rows().enumerate() {
            rows.push(self.row(raw?, i == 0)?);
        }
        Ok(rows)
    }
}

/// Iterator over a pack's encoded rows; a damaged length ends it with an error.
#[derive(Debug, Clone)]
pub struct RawRows<'a> {
    key: &'a [u8],
    rest: &'a [u8],
    single: bool,
    done: bool,
}

impl<'a> Iterator for RawRows<'a> {
    type Item = Result<&'a [u8], BadRow>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.single {
            self.done = true;
            return Some(Ok(self.rest));
        }
        if self.rest.is_empty() {
            self.done = true;
            return None;
        }
        let Some((len, rest)) = self.rest.split_first_chunk::<4>() else {
            self.done = true;
            return Some(Err(bad(self.key, "truncated row length")));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > rest.len() {
            self.done = true;
            return Some(Err(bad(self.key, "row longer than the pack")));
        }
        let (row, rest) = rest.split_at(len);
        self.rest = rest;
        Some(Ok(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_proto::v1::Scan;
    use store_proto::Body;

    fn scan(seq: u64, wall_time_ms: i64) -> Event {
        Event {
            seq,
            wall_time_ms,
            body: Some(Body::Scan(Scan {
                gtin: "00012345678905".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn a_pack_round_trips_and_is_keyed_by_its_earliest_row() {
        let mut pack = Builder::new("s1", "a1", 77, &scan(5, 1_000));
        for (seq, t) in [(6, 900), (7, 1_500)] {
            assert!(pack.fits(&scan(seq, t)));
            pack.push(&scan(seq, t));
        }
        assert_eq!(pack.rows(), 3);
        let (key, value) = pack.finish();
        let parsed = keys::parse_time_key(&key).unwrap();
        assert_eq!((parsed.time_ms, parsed.seq, parsed.agent), (900, 5, "a1"));
        let pack = parse(&key, &value).unwrap();
        assert_eq!((pack.rows, pack.arrival_ms), (3, 77));
        let rows = pack.decode_all().unwrap();
        let got: Vec<(u64, i64)> = rows.iter().map(|r| (r.event.seq, r.time_ms)).collect();
        assert_eq!(got, [(5, 1_000), (6, 900), (7, 1_500)]);
        assert!(rows.iter().all(|r| r.store == "s1" && r.arrival_ms == 77));
    }

    #[test]
    fn packs_close_at_their_span_and_row_bounds() {
        let mut pack = Builder::new("s1", "a1", 0, &scan(1, 0));
        assert!(pack.fits(&scan(2, SPAN_MS - 1)));
        assert!(!pack.fits(&scan(2, SPAN_MS)));
        pack.push(&scan(2, SPAN_MS - 1));
        assert!(pack.fits(&scan(3, 0)));
        assert!(
            !pack.fits(&scan(2, -1)),
            "one earlier row would widen it to SPAN_MS"
        );
        assert!(
            !pack.fits(&scan(2, i64::MIN)),
            "no overflow on extreme clocks"
        );
        let mut full = Builder::new("s1", "a1", 0, &scan(1, i64::MAX));
        for seq in 2..=u64::from(MAX_ROWS) {
            full.push(&scan(seq, i64::MAX));
        }
        assert!(!full.fits(&scan(9_999, i64::MAX)));
    }

    #[test]
    fn single_row_values_read_as_packs_of_one() {
        let event = scan(42, 1_764_600_000_000);
        let key = RowKey {
            store: "s1",
            time_ms: event.wall_time_ms,
            agent: "a1",
            seq: 42,
        }
        .time_key();
        let value = super::super::record::encode(500, &event);
        let pack = parse(&key, &value).unwrap();
        assert_eq!(pack.rows, 1);
        let rows = pack.decode_all().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].event.clone(), rows[0].arrival_ms), (event, 500));
    }

    #[test]
    fn damaged_packs_are_errors_not_panics() {
        let (key, value) = Builder::new("s1", "a1", 0, &scan(3, 0)).finish();
        assert!(parse(&key, &[]).is_err());
        assert!(parse(&key, &[9; 20]).is_err());
        assert!(parse(&key, &value[..5]).is_err());
        assert!(parse(b"hist/t/", &value).is_err());
        // A length past the end, a truncated length, a body that is not an Event.
        for cut in [value.len() - 1, HEADER + 2] {
            let pack = parse(&key, &value[..cut]).unwrap();
            assert!(pack.decode_all().is_err(), "cut at {cut}");
        }
        let mut junk = value[..HEADER].to_vec();
        junk.extend_from_slice(&[0, 0, 0, 2, 0xff, 0xff]);
        assert!(parse(&key, &junk).unwrap().decode_all().is_err());
        // A first row whose seq is not the key's.
        let other = keys::RowKey {
            store: "s1",
            time_ms: 0,
            agent: "a1",
            seq: 4,
        }
        .time_key();
        assert!(parse(&other, &value).unwrap().decode_all().is_err());
    }
}
