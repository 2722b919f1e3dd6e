//! The line feed (`line_feed::decode::decode_line`): one JSON object per line from POS
//! software, over TCP, into one event.
//!
//! Input: the line, without its terminator.
//!
//! Asserted besides "no panic": a decoded event has a device id; written back as a line (the
//! harness's own encoder of the documented schema) it decodes to the same event; it survives
//! the protobuf encoding the journal and the uplink use; a line refused says why.

use prost::Message;
use serde_json::{json, Value};
use store_drivers::line_feed::decode::decode_line;
use store_proto::v1::{DeviceState, ScanMode, TransactionKind};
use store_proto::{Body, Event};

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let (device_id, body) = match decode_line(data) {
        Ok(decoded) => decoded,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(!device_id.is_empty(), "an event without a device");
    let line = encode(&device_id, &body).to_string();
    let (again_id, again) =
        decode_line(line.as_bytes()).unwrap_or_else(|e| panic!("re-encoded {line} refused: {e}"));
    assert_eq!(again_id, device_id);
    assert!(
        same(&body, &again),
        "{body:?} came back as {again:?} from {line}"
    );

    let event = Event {
        seq: 1,
        device_id,
        body: Some(body),
        ..Default::default()
    };
    let bytes = event.encode_to_vec();
    assert_eq!(
        Event::decode(bytes.as_slice()).ok(),
        Some(event),
        "protobuf round trip"
    );
}

/// The bodies, with quantities equal to the last bits a JSON float may lose.
fn same(a: &Body, b: &Body) -> bool {
    match (a, b) {
        (Body::PosTransaction(a), Body::PosTransaction(b)) => {
            let mut b2 = b.clone();
            for (x, y) in a.items.iter().zip(&mut b2.items) {
                if (x.quantity - y.quantity).abs() <= x.quantity.abs() * 1e-15 {
                    y.quantity = x.quantity;
                }
            }
            *a == b2
        }
        _ => a == b,
    }
}

fn name<T: Copy + Into<i32>>(value: i32, names: &[(T, &'static str)]) -> &'static str {
    names
        .iter()
        .find(|(v, _)| (*v).into() == value)
        .map(|(_, n)| *n)
        .unwrap_or_else(|| panic!("value {value} not in the schema"))
}

fn encode(device_id: &str, body: &Body) -> Value {
    match body {
        Body::Scan(s) => json!({
            "type": "scan", "device_id": device_id, "data": s.data, "symbology": s.symbology,
            "aim": s.aim, "gtin": s.gtin, "quantity": s.quantity,
            "mode": name(s.mode, &[
                (ScanMode::Sale, "sale"), (ScanMode::StockCount, "stock_count"),
                (ScanMode::Receiving, "receiving"), (ScanMode::Shrink, "shrink"),
                (ScanMode::TransferOut, "transfer_out"), (ScanMode::TransferIn, "transfer_in"),
                (ScanMode::Badge, "badge"),
            ]),
        }),
        Body::PosTransaction(t) => json!({
            "type": "pos_transaction", "device_id": device_id, "register_id": t.register_id,
            "receipt_id": t.receipt_id, "total_minor": t.total_minor, "currency": t.currency,
            "operator_id": t.operator_id,
            "kind": name(t.kind, &[
                (TransactionKind::Sale, "sale"), (TransactionKind::Return, "return"),
                (TransactionKind::Void, "void"),
            ]),
            "items": t.items.iter().map(|i| json!({
                "gtin": i.gtin, "item_id": i.item_id, "description": i.description,
                "quantity": i.quantity, "unit_price_minor": i.unit_price_minor,
                "extended_minor": i.extended_minor,
            })).collect::<Vec<_>>(),
        }),
        Body::FootTraffic(f) => json!({
            "type": "foot_traffic", "device_id": device_id, "counter_id": f.counter_id,
            "line": f.line, "interval_start_ms": f.interval_start_ms,
            "interval_end_ms": f.interval_end_ms, "entries": f.entries, "exits": f.exits,
        }),
        Body::DeviceStatus(s) => json!({
            "type": "device_status", "device_id": device_id, "reason": s.reason,
            "state": name(s.state, &[
                (DeviceState::Connected, "connected"), (DeviceState::Disconnected, "disconnected"),
                (DeviceState::DecodeError, "decode_error"),
            ]),
        }),
        other => panic!("the line feed made a {other:?}"),
    }
}
