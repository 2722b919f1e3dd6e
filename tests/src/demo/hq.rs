//! Watching HQ from outside: the collector's API with its bearer token, and the alerts and
//! staffing signals it raises, printed as they appear.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::Value;

use super::day::clock_ms;
use crate::http;
use crate::stats::Stats;

/// `GET path` on HQ's API with the bearer token, as JSON.
pub fn get_json(api: SocketAddr, token: &str, path: &str) -> Result<Value, String> {
    http::get_json(api, token, path)
}

/// `GET /v1/stats` with the bearer token.
pub fn stats(api: SocketAddr, token: &str) -> Result<Stats, String> {
    Stats::parse(&get_json(api, token, "/v1/stats")?.to_string())
}

/// A random API token (hex), so the demo's HQ is not open to other local users.
pub fn new_token() -> String {
    (0..16)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_owned()
}

/// What a staffing signal says, for noticing changes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SignalState {
    kind: String,
    needed: u64,
    on_duty: u64,
}

/// Remembers what was already shown, so each poll prints only what is new or changed.
#[derive(Debug, Default)]
pub struct Watcher {
    /// Alert id → (kind, state) as last shown.
    alerts: BTreeMap<String, (String, String)>,
    /// (store, "now" | "next hour") → the signal as last shown.
    signals: BTreeMap<(String, &'static str), SignalState>,
    /// The latest document of every alert seen.
    pub latest_alerts: BTreeMap<String, Value>,
    /// Signal lines shown, by kind (UNDERSTAFFED, OK, …).
    pub signals_shown: BTreeMap<String, u64>,
    /// Alert lines shown (new alerts and changes).
    pub alert_lines: u64,
}

impl Watcher {
    /// Polls alerts and signals; returns the lines to print, oldest event first.
    pub fn poll(&mut self, api: SocketAddr, token: &str) -> Result<Vec<String>, String> {
        let mut lines: Vec<(i64, String)> = Vec::new();
        let alerts = get_json(api, token, "/v1/alerts?state=all")?;
        for a in alerts["alerts"].as_array().into_iter().flatten() {
            let id = text(a, "id");
            let now = (text(a, "kind"), text(a, "state"));
            let before = self.alerts.insert(id.clone(), now.clone());
            self.latest_alerts.insert(id, a.clone());
            if before.as_ref() == Some(&now) {
                continue;
            }
            let t = a["event_time_ms"].as_i64().unwrap_or(0);
            let verb = match (&before, now.1.as_str()) {
                (None, _) => "ALERT ",
                (Some(_), "RESOLVED") => "clear ",
                (Some(_), _) => "update",
            };
            let retro = if a["retrospective"] == true {
                " (retrospective)"
            } else {
                ""
            };
            self.alert_lines += 1;
            lines.push((
                t,
                format!(
                    "{} {verb} {} {:<13} {:<12} {}{retro}",
                    clock_ms(t),
                    text(a, "store_id"),
                    now.0,
                    now.1,
                    text(a, "message")
                ),
            ));
        }
        let signals = get_json(api, token, "/v1/signals")?;
        for s in signals["signals"].as_array().into_iter().flatten() {
            let store = text(s, "store_id");
            for (key, horizon) in [("now", "now"), ("next_hour", "next hour")] {
                let sig = &s[key];
                if sig.is_null() {
                    continue;
                }
                let state = SignalState {
                    kind: text(sig, "kind"),
                    needed: sig["needed_staff"].as_u64().unwrap_or(0),
                    on_duty: sig["on_duty"].as_u64().unwrap_or(0),
                };
                let before = self.signals.insert((store.clone(), horizon), state.clone());
                // An OK signal is news only when it follows something else (or is the first).
                let changed = match &before {
                    None => true,
                    Some(b) if b.kind != state.kind => true,
                    Some(b) => state.kind != "OK" && b != &state,
                };
                if !changed {
                    continue;
                }
                *self.signals_shown.entry(state.kind.clone()).or_default() += 1;
                let t = sig["event_time_ms"].as_i64().unwrap_or(0);
                lines.push((
                    t,
                    format!(
                        "{} SIGNAL {store} {:<13} {horizon:<12} {}",
                        clock_ms(t),
                        state.kind,
                        text(sig, "message")
                    ),
                ));
            }
        }
        lines.sort_by_key(|(t, _)| *t);
        Ok(lines.into_iter().map(|(_, l)| l).collect())
    }

    /// Alerts seen, by kind (each alert once, with its latest kind).
    pub fn alerts_by_kind(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for a in self.latest_alerts.values() {
            *out.entry(text(a, "kind")).or_default() += 1;
        }
        out
    }

    /// Whether an alert of `kind` for `store` (and `subject`, when given) was seen.
    pub fn saw_alert(&self, store: &str, kind: &str, subject: Option<&str>) -> bool {
        self.latest_alerts.values().any(|a| {
            a["store_id"] == store
                && a["kind"] == kind
                && subject.is_none_or(|s| a["subject"].as_str() == Some(s))
        })
    }

    /// Whether a signal of `kind` was shown at all.
    pub fn saw_signal(&self, kind: &str) -> bool {
        self.signals_shown.contains_key(kind)
    }
}
