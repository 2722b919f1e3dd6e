//! Alertmanager's API v2 format (`POST /api/v2/alerts`, a JSON array of alerts with `labels`,
//! `annotations`, `startsAt`, `endsAt`, `generatorURL`). Alertmanager identifies an alert by its
//! label set, so the labels name the alert (kind, store, and the agent, device or subject it is
//! about) and nothing that changes while it is active.

use serde_json::{json, Map, Value};
use store_proto::v1::{Alert, AlertKind, AlertState};

use super::filter::Severity;
use crate::rules::alert_kind_name;

/// One alert as Alertmanager takes it.
pub fn alert(a: &Alert, generator_url: &str) -> Value {
    let kind = alert_kind_name(a.kind);
    let mut labels = Map::new();
    labels.insert(
        "alertname".into(),
        json!(format!("StoreEdge{}", camel(kind))),
    );
    labels.insert("kind".into(), json!(kind));
    labels.insert("store".into(), json!(a.store_id));
    labels.insert("severity".into(), json!(Severity::of_kind(a.kind).name()));
    // Alertmanager treats an empty label as absent: only the one that applies is set.
    let about = match AlertKind::try_from(a.kind) {
        Ok(AlertKind::ClockOff | AlertKind::Tampered) => "agent",
        Ok(AlertKind::DeviceOffline | AlertKind::DeviceSilent | AlertKind::CounterStuck) => {
            "device"
        }
        _ => "subject",
    };
    if !a.subject.is_empty() {
        labels.insert(about.into(), json!(a.subject));
    }
    let mut out = json!({
        "labels": labels,
        "annotations": {
            "summary": format!("{kind} in store {}: {}", a.store_id, a.subject),
            "description": a.message,
            "alert_id": a.id,
        },
        "startsAt": rfc3339(a.raised_at_ms),
        "generatorURL": generator_url,
    });
    if a.state == AlertState::Resolved as i32 {
        out["endsAt"] = json!(rfc3339(a.resolved_at_ms));
    }
    out
}

/// The request body for a list of alerts.
pub fn body<'a>(alerts: impl IntoIterator<Item = &'a Alert>, generator_url: &str) -> Vec<u8> {
    Value::Array(
        alerts
            .into_iter()
            .map(|a| alert(a, generator_url))
            .collect(),
    )
    .to_string()
    .into_bytes()
}

/// `DEVICE_OFFLINE` → `DeviceOffline`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC, e.g. `2023-11-14T22:13:20.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (y, m, d) = civil_date(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar, counting in
/// 400-year eras (146,097 days each) that start on 1 March, so the leap day is last.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from 1 March
    let mp = (5 * doy + 2) / 153; // 0 = March
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        // 2024 is a leap year; `date -u -d @1709208000` = Thu Feb 29 12:00:00 UTC 2024.
        assert_eq!(rfc3339(1_709_208_000_000), "2024-02-29T12:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn api_v2_shape() {
        let mut a = Alert {
            id: "s1-3".into(),
            store_id: "s1".into(),
            kind: AlertKind::DeviceOffline as i32,
            state: AlertState::Open as i32,
            subject: "till-2".into(),
            message: "till-2 offline for 12 min".into(),
            raised_at_ms: 1_700_000_000_000,
            ..Alert::default()
        };
        let v = alert(&a, "http://hq/dash");
        assert_eq!(
            v,
            json!({
                "labels": {
                    "alertname": "StoreEdgeDeviceOffline",
                    "kind": "DEVICE_OFFLINE",
                    "store": "s1",
                    "severity": "critical",
                    "device": "till-2",
                },
                "annotations": {
                    "summary": "DEVICE_OFFLINE in store s1: till-2",
                    "description": "till-2 offline for 12 min",
                    "alert_id": "s1-3",
                },
                "startsAt": "2023-11-14T22:13:20.000Z",
                "generatorURL": "http://hq/dash",
            })
        );
        a.state = AlertState::Resolved as i32;
        a.resolved_at_ms = 1_700_000_060_000;
        let v = alert(&a, "");
        assert_eq!(v["endsAt"], "2023-11-14T22:14:20.000Z");
        a.kind = AlertKind::ClockOff as i32;
        a.subject = "a1".into();
        assert_eq!(alert(&a, "")["labels"]["agent"], "a1");
        let list: Value = serde_json::from_slice(&body([&a, &a], "")).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 2);
    }
}
