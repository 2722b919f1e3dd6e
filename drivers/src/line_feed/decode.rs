//! Pure decoder of the line feed: one JSON object per line → one event body.
//!
//! Schema (one object per line; `type` selects the kind; unknown fields are rejected so typos
//! surface instead of being silently ignored):
//!
//! ```text
//! {"type":"scan","device_id":"scanner-1","data":"09506000134352","symbology":"ean13","mode":"sale","quantity":1}
//! {"type":"pos_transaction","device_id":"till-1","receipt_id":"R-1001","kind":"sale","total_minor":499,
//!  "currency":"EUR","items":[{"gtin":"09506000134352","quantity":1,"unit_price_minor":499}]}
//! {"type":"foot_traffic","device_id":"door-1","counter_id":"door-1","line":"main","entries":3,"exits":1,
//!  "interval_start_ms":1700000000000,"interval_end_ms":1700000060000}
//! {"type":"device_status","device_id":"scanner-1","state":"disconnected","reason":"unplugged"}
//! ```

use serde::Deserialize;
use store_proto::v1;
use store_proto::Body;

/// A line that could not be turned into an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line is not UTF-8")]
    NotUtf8,
    #[error("invalid event: {0}")]
    Json(String),
    #[error("field `device_id` must not be empty")]
    EmptyDeviceId,
    #[error("line longer than {0} bytes")]
    TooLong(usize),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Scan {
        device_id: String,
        data: String,
        #[serde(default)]
        symbology: String,
        #[serde(default)]
        aim: String,
        #[serde(default)]
        gtin: String,
        #[serde(default)]
        mode: Mode,
        #[serde(default)]
        quantity: i32,
    },
    PosTransaction {
        device_id: String,
        #[serde(default)]
        register_id: String,
        #[serde(default)]
        receipt_id: String,
        #[serde(default)]
        kind: Kind,
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        total_minor: i64,
        #[serde(default)]
        currency: String,
        #[serde(default)]
        operator_id: String,
    },
    FootTraffic {
        device_id: String,
        #[serde(default)]
        counter_id: String,
        #[serde(default)]
        line: String,
        #[serde(default)]
        interval_start_ms: i64,
        #[serde(default)]
        interval_end_ms: i64,
        entries: u32,
        exits: u32,
    },
    DeviceStatus {
        device_id: String,
        state: State,
        #[serde(default)]
        reason: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum Mode {
    #[default]
    Sale,
    StockCount,
    Receiving,
    Shrink,
    TransferOut,
    TransferIn,
    Badge,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum Kind {
    #[default]
    Sale,
    Return,
    Void,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Connected,
    Disconnected,
    DecodeError,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    #[serde(default)]
    gtin: String,
    #[serde(default)]
    item_id: String,
    #[serde(default)]
    description: String,
    #[serde(default = "one")]
    quantity: f64,
    #[serde(default)]
    unit_price_minor: i64,
    #[serde(default)]
    extended_minor: i64,
}

fn one() -> f64 {
    1.0
}

/// Decodes one line (without its line terminator) into `(device_id, body)`.
pub fn decode_line(line: &[u8]) -> Result<(String, Body), LineError> {
    let text = std::str::from_utf8(line).map_err(|_| LineError::NotUtf8)?;
    let parsed: Line = serde_json::from_str(text).map_err(|e| LineError::Json(e.to_string()))?;
    let (device_id, body) = match parsed {
        Line::Scan {
            device_id,
            data,
            symbology,
            aim,
            gtin,
            mode,
            quantity,
        } => (
            device_id,
            Body::Scan(v1::Scan {
                data,
                symbology,
                aim,
                gtin,
                mode: scan_mode(mode) as i32,
                quantity,
                ..Default::default()
            }),
        ),
        Line::PosTransaction {
            device_id,
            register_id,
            receipt_id,
            kind,
            items,
            total_minor,
            currency,
            operator_id,
        } => (
            device_id,
            Body::PosTransaction(v1::PosTransaction {
                register_id,
                receipt_id,
                kind: tx_kind(kind) as i32,
                items: items
                    .into_iter()
                    .map(|i| v1::LineItem {
                        gtin: i.gtin,
                        item_id: i.item_id,
                        description: i.description,
                        quantity: i.quantity,
                        unit_price_minor: i.unit_price_minor,
                        extended_minor: i.extended_minor,
                    })
                    .collect(),
                total_minor,
                currency,
                operator_id,
                ..Default::default()
            }),
        ),
        Line::FootTraffic {
            device_id,
            counter_id,
            line,
            interval_start_ms,
            interval_end_ms,
            entries,
            exits,
        } => (
            device_id,
            Body::FootTraffic(v1::FootTraffic {
                counter_id,
                line,
                interval_start_ms,
                interval_end_ms,
                entries,
                exits,
                coalesced_ticks: 1,
            }),
        ),
        Line::DeviceStatus {
            device_id,
            state,
            reason,
        } => (
            device_id,
            Body::DeviceStatus(v1::DeviceStatus {
                state: device_state(state) as i32,
                reason,
                raw: Vec::new(),
            }),
        ),
    };
    if device_id.is_empty() {
        return Err(LineError::EmptyDeviceId);
    }
    Ok((device_id, body))
}

fn scan_mode(m: Mode) -> v1::ScanMode {
    match m {
        Mode::Sale => v1::ScanMode::Sale,
        Mode::StockCount => v1::ScanMode::StockCount,
        Mode::Receiving => v1::ScanMode::Receiving,
        Mode::Shrink => v1::ScanMode::Shrink,
        Mode::TransferOut => v1::ScanMode::TransferOut,
        Mode::TransferIn => v1::ScanMode::TransferIn,
        Mode::Badge => v1::ScanMode::Badge,
    }
}

fn tx_kind(k: Kind) -> v1::TransactionKind {
    match k {
        Kind::Sale => v1::TransactionKind::Sale,
        Kind::Return => v1::TransactionKind::Return,
        Kind::Void => v1::TransactionKind::Void,
    }
}

fn device_state(s: State) -> v1::DeviceState {
    match s {
        State::Connected => v1::DeviceState::Connected,
        State::Disconnected => v1::DeviceState::Disconnected,
        State::DecodeError => v1::DeviceState::DecodeError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_kind() {
        let (dev, body) =
            decode_line(br#"{"type":"scan","device_id":"s1","data":"123","mode":"receiving"}"#)
                .unwrap();
        assert_eq!(dev, "s1");
        match body {
            Body::Scan(s) => {
                assert_eq!(s.data, "123");
                assert_eq!(s.mode, v1::ScanMode::Receiving as i32);
            }
            other => panic!("{other:?}"),
        }
        let (_, body) = decode_line(
            br#"{"type":"foot_traffic","device_id":"d","entries":3,"exits":1,"line":"main"}"#,
        )
        .unwrap();
        assert!(matches!(body, Body::FootTraffic(f) if f.entries == 3 && f.exits == 1));
        let (_, body) = decode_line(
            br#"{"type":"pos_transaction","device_id":"t","kind":"return","items":[{"gtin":"1","quantity":2}]}"#,
        )
        .unwrap();
        assert!(matches!(body, Body::PosTransaction(p)
            if p.kind == v1::TransactionKind::Return as i32 && p.items[0].quantity == 2.0));
        let (_, body) =
            decode_line(br#"{"type":"device_status","device_id":"x","state":"disconnected"}"#)
                .unwrap();
        assert!(matches!(body, Body::DeviceStatus(_)));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = decode_line(br#"{"type":"scan","data":"1"}"#).unwrap_err();
        assert!(e.to_string().contains("device_id"), "{e}");
        let e =
            decode_line(br#"{"type":"scan","device_id":"a","data":"1","colour":1}"#).unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = decode_line(br#"{"type":"teleport","device_id":"a"}"#).unwrap_err();
        assert!(e.to_string().contains("teleport"), "{e}");
        assert_eq!(decode_line(b"\xff\xfe").unwrap_err(), LineError::NotUtf8);
        assert_eq!(
            decode_line(br#"{"type":"scan","device_id":"","data":"1"}"#).unwrap_err(),
            LineError::EmptyDeviceId
        );
    }

    #[test]
    fn never_panics_on_garbage() {
        // A cheap deterministic fuzz: every prefix and byte-flip of a valid line.
        let good = br#"{"type":"pos_transaction","device_id":"t","items":[{"gtin":"1"}]}"#;
        for n in 0..good.len() {
            let _ = decode_line(&good[..n]);
            for bit in 0..8 {
                let mut b = good.to_vec();
                b[n] ^= 1 << bit;
                let _ = decode_line(&b);
            }
        }
    }
}
