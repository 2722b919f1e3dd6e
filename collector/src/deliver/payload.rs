//! What a webhook receives: one JSON object per alert state change or signal, with the
//! idempotency key a receiver deduplicates on, and the alert or signal in the same JSON shape as
//! the HTTP API and the JSON MQTT output.

use serde_json::json;
use store_proto::v1::{Alert, StaffingSignal};

use super::filter::Severity;
use crate::rules::{alert_json, alert_kind_name, alert_state_name, signal_json};

/// The idempotency key of an alert state change: `{alert_id}:{KIND}:{STATE}`. The kind is part
/// of it because an escalation (LOW → OUT) reopens the same alert id: without it, "OUT, open"
/// would look like a repeat of "LOW, open".
pub fn alert_key(a: &Alert) -> String {
    format!(
        "{}:{}:{}",
        a.id,
        alert_kind_name(a.kind),
        alert_state_name(a.state)
    )
}

/// The idempotency key of a signal: signals have no id, and one is published only when it says
/// something new, so store, horizon, hour, kind and evaluation time name it.
pub fn signal_key(s: &StaffingSignal) -> String {
    let horizon = if s.retrospective {
        "retrospective"
    } else if s.forecast {
        "forecast"
    } else {
        "current"
    };
    format!(
        "{}:signal:{horizon}:{}:{}:{}",
        s.store_id,
        s.hour_start_ms,
        crate::rules::signal_kind_name(s.kind),
        s.event_time_ms
    )
}

/// The webhook body of an alert state change.
pub fn alert_body(a: &Alert, region: &str) -> Vec<u8> {
    json!({
        "idempotency_key": alert_key(a),
        "type": "alert",
        "state": alert_state_name(a.state),
        "severity": Severity::of_kind(a.kind).name(),
        "region": region,
        "alert": alert_json(a),
    })
    .to_string()
    .into_bytes()
}

/// The webhook body of a staffing signal.
pub fn signal_body(s: &StaffingSignal, region: &str) -> Vec<u8> {
    json!({
        "idempotency_key": signal_key(s),
        "type": "signal",
        "region": region,
        "signal": signal_json(s),
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_proto::v1::{AlertKind, AlertState};

    #[test]
    fn escalation_and_acknowledgement_get_their_own_keys() {
        let mut a = Alert {
            id: "s1-7".into(),
            store_id: "s1".into(),
            kind: AlertKind::Low as i32,
            state: AlertState::Open as i32,
            ..Alert::default()
        };
        assert_eq!(alert_key(&a), "s1-7:LOW:OPEN");
        a.state = AlertState::Acknowledged as i32;
        assert_eq!(alert_key(&a), "s1-7:LOW:ACKNOWLEDGED");
        a.kind = AlertKind::Out as i32;
        a.state = AlertState::Open as i32;
        assert_eq!(alert_key(&a), "s1-7:OUT:OPEN");
        let body: serde_json::Value = serde_json::from_slice(&alert_body(&a, "north")).unwrap();
        assert_eq!(body["idempotency_key"], "s1-7:OUT:OPEN");
        assert_eq!(body["severity"], "critical");
        assert_eq!(body["alert"]["kind"], "OUT");
        assert_eq!(body["region"], "north");
    }
}
