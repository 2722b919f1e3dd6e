//! What the rules engine tells HQ, and how: alerts on `hq/alerts/{store}` and staffing signals on
//! `hq/signals/{store}`, as protobuf or JSON (`[intel] format`), and the JSON shape the HTTP API
//! shares with the JSON format, so a dashboard reads the same fields either way.

use prost::Message;
use serde_json::json;
use store_proto::v1::{Alert, AlertKind, AlertState, SignalKind, StaffingSignal};

use crate::config::OutputFormat;

/// One message for HQ.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// An alert as the message for `hq/alerts/{store}`.
pub fn encode_alert(format: OutputFormat, alert: &Alert) -> Output {
    Output {
        topic: format!("hq/alerts/{}", alert.store_id),
        payload: match format {
            OutputFormat::Protobuf => alert.encode_to_vec(),
            OutputFormat::Json => alert_json(alert).to_string().into_bytes(),
        },
    }
}

/// A staffing signal as the message for `hq/signals/{store}`.
pub fn encode_signal(format: OutputFormat, signal: &StaffingSignal) -> Output {
    Output {
        topic: format!("hq/signals/{}", signal.store_id),
        payload: match format {
            OutputFormat::Protobuf => signal.encode_to_vec(),
            OutputFormat::Json => signal_json(signal).to_string().into_bytes(),
        },
    }
}

/// `ALERT_KIND_LOW` → `"LOW"`.
pub fn alert_kind_name(kind: i32) -> &'static str {
    AlertKind::try_from(kind)
        .map(|k| k.as_str_name().trim_start_matches("ALERT_KIND_"))
        .unwrap_or("UNSPECIFIED")
}

/// `ALERT_STATE_OPEN` → `"OPEN"`.
pub fn alert_state_name(state: i32) -> &'static str {
    AlertState::try_from(state)
        .map(|k| k.as_str_name().trim_start_matches("ALERT_STATE_"))
        .unwrap_or("UNSPECIFIED")
}

/// `SIGNAL_KIND_UNDERSTAFFED` → `"UNDERSTAFFED"`.
pub fn signal_kind_name(kind: i32) -> &'static str {
    SignalKind::try_from(kind)
        .map(|k| k.as_str_name().trim_start_matches("SIGNAL_KIND_"))
        .unwrap_or("UNSPECIFIED")
}

/// An alert as JSON: the proto's field names, enums as their short names.
pub fn alert_json(a: &Alert) -> serde_json::Value {
    json!({
        "id": a.id,
        "store_id": a.store_id,
        "kind": alert_kind_name(a.kind),
        "state": alert_state_name(a.state),
        "subject": a.subject,
        "message": a.message,
        "event_time_ms": a.event_time_ms,
        "raised_at_ms": a.raised_at_ms,
        "resolved_at_ms": a.resolved_at_ms,
        "retrospective": a.retrospective,
        "position": a.position,
        "reorder_point": a.reorder_point,
        "suggested_order_qty": a.suggested_order_qty,
        "from_store_id": a.from_store_id,
        "transfer_qty": a.transfer_qty,
        "observed": a.observed,
        "baseline": a.baseline,
        "acknowledged_by": a.acknowledged_by,
    })
}

/// A staffing signal as JSON: the proto's field names, the kind as its short name.
pub fn signal_json(s: &StaffingSignal) -> serde_json::Value {
    json!({
        "store_id": s.store_id,
        "kind": signal_kind_name(s.kind),
        "hour_start_ms": s.hour_start_ms,
        "forecast": s.forecast,
        "entries_per_hour": s.entries_per_hour,
        "needed_staff": s.needed_staff,
        "on_duty": s.on_duty,
        "message": s.message,
        "retrospective": s.retrospective,
        "event_time_ms": s.event_time_ms,
    })
}
