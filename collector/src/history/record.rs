//! One history row: how it is stored, and how it reads as JSON.
//!
//! The value is `[1][arrival ms, 8 bytes][the Event, protobuf]`: ingest already holds the
//! decoded event, so writing costs one re-encode and no JSON; decoding to JSON happens only when
//! someone reads the row. The event keeps everything the agent sent (device, wall and monotonic
//! time, boot id, body), so the row explains itself without the batch.

use prost::Message;
use serde_json::{json, Map, Value};
use store_proto::v1::{DataLossReason, DeviceState, ScanMode, ShiftAction, TransactionKind};
use store_proto::{Body, Event};

use super::keys::{self, RowKey};
use super::time::format_ms;

/// First byte of every row value: the row layout version.
const VERSION: u8 = 1;

/// Encodes a row value.
pub fn encode(arrival_ms: i64, event: &Event) -> Vec<u8> {
    let mut value = Vec::with_capacity(9 + event.encoded_len());
    value.push(VERSION);
    value.extend_from_slice(&arrival_ms.to_be_bytes());
    // Cannot fail: the buffer has the capacity.
    let _ = event.encode(&mut value);
    value
}

/// A history row read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub store: String,
    pub agent: String,
    /// The time the row is filed under: the event's wall time.
    pub time_ms: i64,
    /// Collector wall time when the event's group was committed.
    pub arrival_ms: i64,
    pub event: Event,
}

/// Why a stored row could not be read (a bug or a damaged database, never client input).
#[derive(Debug, thiserror::Error)]
#[error("history row {key}: {reason}")]
pub struct BadRow {
    pub key: String,
    pub reason: String,
}

/// Decodes a row from its time key and value.
pub fn decode(key: &[u8], value: &[u8]) -> Result<Row, BadRow> {
    let bad = |reason: &str| BadRow {
        key: keys::hex(key),
        reason: reason.to_owned(),
    };
    let parsed = keys::parse_time_key(key).ok_or_else(|| bad("not a time key"))?;
    if value.first() != Some(&VERSION) || value.len() < 9 {
        return Err(bad("unknown row version"));
    }
    let arrival_ms = i64::from_be_bytes(value[1..9].try_into().expect("8 bytes"));
    let event = Event::decode(&value[9..]).map_err(|e| bad(&e.to_string()))?;
    if event.seq != parsed.seq {
        return Err(bad("seq in key and row differ"));
    }
    Ok(Row {
        store: parsed.store.to_owned(),
        agent: parsed.agent.to_owned(),
        time_ms: parsed.time_ms,
        arrival_ms,
        event,
    })
}

impl Row {
    /// Where the row lives.
    pub fn key(&self) -> RowKey<'_> {
        RowKey {
            store: &self.store,
            time_ms: self.time_ms,
            agent: &self.agent,
            seq: self.event.seq,
        }
    }

    /// `scan`, `pos_transaction`, ... ([`store_proto::kind_name`]).
    pub fn kind(&self) -> &'static str {
        store_proto::kind_name(self.event.body.as_ref())
    }

    /// Whether the event names `gtin` (a scan of it, or a POS line of it). GTINs compare
    /// without leading zeros: tills send 8 to 13 digits, scans and positions 14.
    pub fn has_gtin(&self, gtin: &str) -> bool {
        let wanted = gtin.trim_start_matches('0');
        if wanted.is_empty() {
            return false;
        }
        let same = |g: &str| g.trim_start_matches('0') == wanted;
        match &self.event.body {
            Some(Body::Scan(scan)) => same(&scan.gtin),
            Some(Body::PosTransaction(tx)) => tx.items.iter().any(|i| same(&i.gtin)),
            _ => false,
        }
    }

    /// Whether the event names `id` as its device, agent, GTIN or register.
    pub fn names(&self, id: &str) -> bool {
        self.event.device_id == id
            || self.agent == id
            || self.has_gtin(id)
            || matches!(&self.event.body, Some(Body::PosTransaction(t)) if t.register_id == id)
    }

    /// The row as the API shows it.
    pub fn to_json(&self) -> Value {
        let e = &self.event;
        json!({
            "store_id": self.store,
            "agent_id": self.agent,
            "seq": e.seq,
            "device_id": e.device_id,
            "kind": self.kind(),
            "wall_time_ms": e.wall_time_ms,
            "wall_time": format_ms(e.wall_time_ms),
            "arrival_ms": self.arrival_ms,
            "clock_synced": e.clock_synced,
            "boot_id": e.boot_id,
            "monotonic_ns": e.monotonic_ns,
            "body": body_json(e.body.as_ref()),
        })
    }
}

/// An event body as JSON: the protobuf field names, enums by name, bytes as hex.
pub fn body_json(body: Option<&Body>) -> Value {
    match body {
        Some(Body::Scan(s)) => json!({
            "data": s.data,
            "raw_hex": keys::hex(&s.raw),
            "aim": s.aim,
            "symbology": s.symbology,
            "gtin": s.gtin,
            "mode": enum_name(ScanMode::try_from(s.mode).map(|m| m.as_str_name())),
            "quantity": s.quantity,
            "error": s.error,
            "elements": s.elements.iter().map(|e| json!({"ai": e.ai, "value": e.value})).collect::<Vec<_>>(),
            "shift": enum_name(ShiftAction::try_from(s.shift).map(|m| m.as_str_name())),
        }),
        Some(Body::PosTransaction(t)) => json!({
            "register_id": t.register_id,
            "receipt_id": t.receipt_id,
            "kind": enum_name(TransactionKind::try_from(t.kind).map(|m| m.as_str_name())),
            "items": t.items.iter().map(|i| json!({
                "gtin": i.gtin,
                "item_id": i.item_id,
                "description": i.description,
                "quantity": i.quantity,
                "unit_price_minor": i.unit_price_minor,
                "extended_minor": i.extended_minor,
            })).collect::<Vec<_>>(),
            "total_minor": t.total_minor,
            "currency": t.currency,
            "operator_id": t.operator_id,
            "raw_text": t.raw_text,
            "error": t.error,
        }),
        Some(Body::FootTraffic(f)) => json!({
            "counter_id": f.counter_id,
            "line": f.line,
            "interval_start_ms": f.interval_start_ms,
            "interval_end_ms": f.interval_end_ms,
            "entries": f.entries,
            "exits": f.exits,
            "coalesced_ticks": f.coalesced_ticks,
        }),
        Some(Body::DeviceStatus(d)) => json!({
            "state": enum_name(DeviceState::try_from(d.state).map(|m| m.as_str_name())),
            "reason": d.reason,
            "raw_hex": keys::hex(&d.raw),
        }),
        Some(Body::DataLoss(l)) => json!({
            "reason": enum_name(DataLossReason::try_from(l.reason).map(|m| m.as_str_name())),
            "ranges": l.ranges.iter().map(|r| [r.first, r.last]).collect::<Vec<_>>(),
            "classes": l.classes.iter().map(|c| json!({"class": c.class, "dropped": c.dropped, "coalesced": c.coalesced})).collect::<Vec<_>>(),
            "exact": l.exact,
            "detail": l.detail,
        }),
        None => Value::Object(Map::new()),
    }
}

/// An enum value's protobuf name; unknown numbers (a newer agent) read as `UNKNOWN`.
fn enum_name<E>(name: Result<&'static str, E>) -> &'static str {
    name.unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_proto::v1::{LineItem, PosTransaction, Scan};

    fn scan_event(seq: u64, gtin: &str) -> Event {
        Event {
            seq,
            device_id: "scanner-1".into(),
            wall_time_ms: 1_764_600_000_000,
            clock_synced: true,
            body: Some(Body::Scan(Scan {
                data: gtin.into(),
                gtin: gtin.into(),
                raw: vec![0x30, 0x0d],
                mode: ScanMode::StockCount as i32,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn a_row_round_trips_through_key_and_value() {
        let event = scan_event(42, "00012345678905");
        let key = RowKey {
            store: "s1",
            time_ms: event.wall_time_ms,
            agent: "a1",
            seq: 42,
        }
        .time_key();
        let row = decode(&key, &encode(1_764_600_000_500, &event)).unwrap();
        assert_eq!(row.store, "s1");
        assert_eq!(row.agent, "a1");
        assert_eq!(row.arrival_ms, 1_764_600_000_500);
        assert_eq!(row.event, event);
        assert_eq!(row.kind(), "scan");
        assert!(row.has_gtin("00012345678905"));
        assert!(!row.has_gtin("00012345678912"));
        let json = row.to_json();
        assert_eq!(json["body"]["mode"], "SCAN_MODE_STOCK_COUNT");
        assert_eq!(json["body"]["raw_hex"], "300d");
        assert_eq!(json["wall_time"], "2025-12-01T14:40:00.000Z");
    }

    #[test]
    fn pos_lines_name_their_gtins() {
        let event = Event {
            seq: 1,
            body: Some(Body::PosTransaction(PosTransaction {
                items: vec![LineItem {
                    gtin: "00000000000017".into(),
                    ..Default::default()
                }],
                kind: 99,
                ..Default::default()
            })),
            ..Default::default()
        };
        let key = RowKey {
            store: "s1",
            time_ms: 0,
            agent: "a1",
            seq: 1,
        }
        .time_key();
        let row = decode(&key, &encode(0, &event)).unwrap();
        assert!(row.has_gtin("00000000000017"));
        assert!(row.has_gtin("17"), "GTINs compare without leading zeros");
        assert!(!row.has_gtin("0000"));
        assert_eq!(row.to_json()["body"]["kind"], "UNKNOWN");
    }

    #[test]
    fn damaged_rows_are_errors_not_panics() {
        let key = RowKey {
            store: "s1",
            time_ms: 0,
            agent: "a1",
            seq: 7,
        }
        .time_key();
        assert!(decode(&key, &[]).is_err());
        assert!(decode(&key, &[2; 20]).is_err());
        assert!(decode(&key, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]).is_err());
        // A row whose event carries another seq than its key.
        assert!(decode(&key, &encode(0, &scan_event(8, "x"))).is_err());
        assert!(decode(b"hist/t/", &encode(0, &scan_event(7, "x"))).is_err());
    }
}
