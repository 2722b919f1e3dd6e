//! `POST /v1/stores/{store}/agents/{agent}/commands`: the JSON body, checked strictly, into a
//! [`Request`]. Every refusal names the field it is about, so an operator can fix the call.
//!
//! The body is hostile like any network input: bounded ([`MAX_BODY_BYTES`]), unknown fields and
//! kinds refused, every number range-checked, every string bounded and limited to a plain
//! charset before it reaches the book, the broker or an agent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use store_proto::v1::{command, Replay, ScanMode, SetLogFilter, SetScanMode};

use crate::ingest::valid_id;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Lifetime of a command when the request names none.
pub const DEFAULT_EXPIRES_IN_SECS: u64 = 3_600;
/// Longest lifetime a request may ask for (7 days).
pub const MAX_EXPIRES_IN_SECS: u64 = 7 * 86_400;
/// Longest tracing filter sent to an agent.
pub const MAX_FILTER_LEN: usize = 256;
/// How long a log filter stays in force when the request names no duration.
pub const DEFAULT_FILTER_SECS: u32 = 600;
/// Longest a log filter may stay in force (a day).
pub const MAX_FILTER_SECS: u32 = 86_400;

/// What a command asks the agent to do, as the book keeps it and the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// The seqs `[from_seq, to_seq]`, or (when `to_seq` is 0) the events whose wall time lies in
    /// `[from_time_ms, to_time_ms]`.
    Replay {
        from_seq: u64,
        to_seq: u64,
        from_time_ms: i64,
        to_time_ms: i64,
    },
    Reload,
    /// `mode`: a `ScanMode` name in snake case, e.g. `stock_count`.
    SetScanMode {
        device_id: String,
        mode: String,
    },
    StatusReport,
    SetLogFilter {
        filter: String,
        duration_secs: u32,
    },
}

impl Kind {
    /// The kind's name, as in the request (`replay`, `set_scan_mode`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Replay { .. } => "replay",
            Kind::Reload => "reload",
            Kind::SetScanMode { .. } => "set_scan_mode",
            Kind::StatusReport => "status_report",
            Kind::SetLogFilter { .. } => "set_log_filter",
        }
    }

    /// The wire form (`Command.kind`).
    pub fn to_proto(&self) -> command::Kind {
        match self {
            Kind::Replay {
                from_seq,
                to_seq,
                from_time_ms,
                to_time_ms,
            } => command::Kind::Replay(Replay {
                from_seq: *from_seq,
                to_seq: *to_seq,
                from_time_ms: *from_time_ms,
                to_time_ms: *to_time_ms,
            }),
            Kind::Reload => command::Kind::Reload(Default::default()),
            Kind::SetScanMode { device_id, mode } => command::Kind::SetScanMode(SetScanMode {
                device_id: device_id.clone(),
                mode: scan_mode(mode).map_or(0, |m| m as i32),
            }),
            Kind::StatusReport => command::Kind::StatusReport(Default::default()),
            Kind::SetLogFilter {
                filter,
                duration_secs,
            } => command::Kind::SetLogFilter(SetLogFilter {
                filter: filter.clone(),
                duration_s: *duration_secs,
            }),
        }
    }
}

/// A checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: Kind,
    pub expires_in_secs: u64,
}

/// Why a request body was refused (HTTP 400); the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, RequestError> {
    Err(RequestError(message.into()))
}

/// Checks a request body (see the module docs).
pub fn parse(body: &[u8]) -> Result<Request, RequestError> {
    if body.len() > MAX_BODY_BYTES {
        return refuse(format!("body is larger than {MAX_BODY_BYTES} bytes"));
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return refuse(format!("body is not valid JSON: {e}")),
    };
    let Value::Object(fields) = value else {
        return refuse("body must be a JSON object");
    };
    let kind =
        match fields.get("kind") {
            Some(Value::String(k)) => k.as_str(),
            Some(_) => return refuse("kind: must be a string"),
            None => return refuse(
                "kind: missing (replay, reload, set_scan_mode, status_report or set_log_filter)",
            ),
        };
    let allowed: &[&str] = match kind {
        "replay" => &["from_seq", "to_seq", "from_time", "to_time"],
        "reload" | "status_report" => &[],
        "set_scan_mode" => &["device_id", "mode"],
        "set_log_filter" => &["filter", "duration_secs"],
        other => {
            return refuse(format!(
                "kind: unknown kind {:?} (expected replay, reload, set_scan_mode, status_report or set_log_filter)",
                clip(other)
            ))
        }
    };
    for name in fields.keys() {
        if name != "kind" && name != "expires_in_secs" && !allowed.contains(&name.as_str()) {
            return refuse(format!("{}: unknown field for kind {kind}", clip(name)));
        }
    }
    let expires_in_secs = match fields.get("expires_in_secs") {
        None => DEFAULT_EXPIRES_IN_SECS,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_EXPIRES_IN_SECS).contains(&n) => n,
            _ => {
                return refuse(format!(
                    "expires_in_secs: must be a whole number of seconds from 1 to {MAX_EXPIRES_IN_SECS}"
                ))
            }
        },
    };
    let kind = match kind {
        "replay" => replay(&fields)?,
        "reload" => Kind::Reload,
        "status_report" => Kind::StatusReport,
        "set_scan_mode" => {
            let device_id = string(&fields, "device_id")?;
            if !valid_id(&device_id) {
                return refuse(format!(
                    "device_id: {:?} is not a valid device id (1 to {} characters of A-Z, a-z, 0-9, '_', '.', '-')",
                    clip(&device_id),
                    crate::ingest::MAX_ID_LEN
                ));
            }
            let mode = string(&fields, "mode")?;
            if scan_mode(&mode).is_none() {
                return refuse(format!(
                    "mode: unknown scan mode {:?} (expected sale, stock_count, receiving, shrink, transfer_out, transfer_in or badge)",
                    clip(&mode)
                ));
            }
            Kind::SetScanMode { device_id, mode }
        }
        _ => {
            let filter = string(&fields, "filter")?;
            if filter.is_empty()
                || filter.len() > MAX_FILTER_LEN
                || !filter.bytes().all(|b| b.is_ascii_graphic())
            {
                return refuse(format!(
                    "filter: must be 1 to {MAX_FILTER_LEN} printable ASCII characters without spaces, e.g. \"store_agent=debug\""
                ));
            }
            // The agent parses it with the same grammar and refuses what does not parse: refused
            // here, the operator hears at once instead of after the command's round trip.
            if let Err(e) = store_runtime::log_directives::check_plain(&filter) {
                return refuse(format!("filter: {e}"));
            }
            if let Err(e) = tracing_subscriber::EnvFilter::try_new(&filter) {
                return refuse(format!(
                    "filter: {:?} is not a tracing filter: {e}",
                    clip(&filter)
                ));
            }
            let duration_secs = match fields.get("duration_secs") {
                None => DEFAULT_FILTER_SECS,
                Some(v) => match v.as_u64() {
                    Some(n) if (1..=u64::from(MAX_FILTER_SECS)).contains(&n) => n as u32,
                    _ => {
                        return refuse(format!(
                            "duration_secs: must be a whole number of seconds from 1 to {MAX_FILTER_SECS}"
                        ))
                    }
                },
            };
            Kind::SetLogFilter {
                filter,
                duration_secs,
            }
        }
    };
    Ok(Request {
        kind,
        expires_in_secs,
    })
}

fn replay(fields: &Map<String, Value>) -> Result<Kind, RequestError> {
    let by_seq = fields.contains_key("from_seq") || fields.contains_key("to_seq");
    let by_time = fields.contains_key("from_time") || fields.contains_key("to_time");
    match (by_seq, by_time) {
        (true, true) => {
            refuse("from_time: give either from_seq and to_seq or from_time and to_time, not both")
        }
        (false, false) => refuse(
            "from_seq: missing (a replay names from_seq and to_seq, or from_time and to_time)",
        ),
        (true, false) => {
            let seq = |name: &str| match fields.get(name) {
                None => refuse(format!("{name}: missing")),
                Some(v) => match v.as_u64() {
                    Some(n) if n >= 1 => Ok(n),
                    _ => refuse(format!("{name}: must be a whole number of at least 1")),
                },
            };
            let (from_seq, to_seq) = (seq("from_seq")?, seq("to_seq")?);
            if to_seq < from_seq {
                return refuse(format!("to_seq: {to_seq} is below from_seq {from_seq}"));
            }
            Ok(Kind::Replay {
                from_seq,
                to_seq,
                from_time_ms: 0,
                to_time_ms: 0,
            })
        }
        (false, true) => {
            let time = |name: &str| {
                match fields.get(name) {
                None => refuse(format!("{name}: missing")),
                Some(Value::String(s)) => crate::history::time::parse_rfc3339(s)
                    .filter(|ms| *ms >= 0)
                    .map_or_else(
                    || refuse(format!("{name}: {:?} is not an RFC 3339 time such as \"2026-12-01T14:00:00Z\" (or give ms since the epoch)", clip(s))),
                    Ok,
                ),
                Some(v) => match v.as_i64() {
                    Some(n) if n >= 0 => Ok(n),
                    _ => refuse(format!(
                        "{name}: must be an RFC 3339 time or ms since the epoch"
                    )),
                },
            }
            };
            let (from_time_ms, to_time_ms) = (time("from_time")?, time("to_time")?);
            if to_time_ms < from_time_ms {
                return refuse("to_time: is before from_time");
            }
            Ok(Kind::Replay {
                from_seq: 0,
                to_seq: 0,
                from_time_ms,
                to_time_ms,
            })
        }
    }
}

fn string(fields: &Map<String, Value>, name: &str) -> Result<String, RequestError> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => refuse(format!("{name}: must be a string")),
        None => refuse(format!("{name}: missing")),
    }
}

/// The `ScanMode` a snake-case name stands for (`stock_count` → `SCAN_MODE_STOCK_COUNT`);
/// "unspecified" is not a mode one can set.
pub fn scan_mode(name: &str) -> Option<ScanMode> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return None;
    }
    ScanMode::from_str_name(&format!("SCAN_MODE_{}", name.to_ascii_uppercase()))
        .filter(|m| *m != ScanMode::Unspecified)
}

/// Echoed input is cut short: an error message must not carry a 16 KiB string back.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Request {
        parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    fn err(body: &str) -> String {
        parse(body.as_bytes())
            .expect_err("should be refused")
            .to_string()
    }

    /// Found by the `collector_command` fuzz target: a filter of the right charset that the
    /// agent's tracing grammar refuses was accepted here, issued, and refused by the agent.
    #[test]
    fn refuses_a_log_filter_the_agent_cannot_parse() {
        for filter in [
            "store_agent=debuug",
            "{tore_agent=debug",
            "store_agent=de9bug",
        ] {
            let body = format!(r#"{{"kind":"set_log_filter","filter":"{filter}"}}"#);
            let e = err(&body);
            assert!(e.starts_with("filter: directive "), "{e}");
        }
        ok(r#"{"kind":"set_log_filter","filter":"store_agent=debug,rumqttc=warn"}"#);
    }

    /// Found by the `collector_command` fuzz target: a span and field filter whose regex took
    /// 11 s of CPU to compile (`fuzz/regressions/collector_command/timeout-regex-log-filter`).
    #[test]
    fn refuses_span_and_field_log_filters() {
        for filter in ["store_agent[uplink]=debug", "store_agent[{seq=1}]=debug"] {
            let body = format!(r#"{{"kind":"set_log_filter","filter":"{filter}"}}"#);
            let e = err(&body);
            assert!(
                e.starts_with("filter: directive ") && e.contains("span and field"),
                "{e}"
            );
        }
    }

    #[test]
    fn accepts_every_kind_with_defaults() {
        assert_eq!(
            ok(r#"{"kind":"replay","from_seq":1,"to_seq":100}"#),
            Request {
                kind: Kind::Replay {
                    from_seq: 1,
                    to_seq: 100,
                    from_time_ms: 0,
                    to_time_ms: 0
                },
                expires_in_secs: 3600
            }
        );
        let r = ok(
            r#"{"kind":"replay","from_time":"1970-01-01T00:00:01Z","to_time":5000,"expires_in_secs":60}"#,
        );
        assert_eq!(
            r.kind,
            Kind::Replay {
                from_seq: 0,
                to_seq: 0,
                from_time_ms: 1000,
                to_time_ms: 5000
            }
        );
        assert_eq!(r.expires_in_secs, 60);
        assert_eq!(ok(r#"{"kind":"reload"}"#).kind, Kind::Reload);
        assert_eq!(ok(r#"{"kind":"status_report"}"#).kind, Kind::StatusReport);
        let r = ok(r#"{"kind":"set_scan_mode","device_id":"scanner-1","mode":"stock_count"}"#);
        assert_eq!(
            r.kind.to_proto(),
            command::Kind::SetScanMode(SetScanMode {
                device_id: "scanner-1".into(),
                mode: ScanMode::StockCount as i32
            })
        );
        assert_eq!(
            ok(r#"{"kind":"set_log_filter","filter":"store_agent=debug"}"#).kind,
            Kind::SetLogFilter {
                filter: "store_agent=debug".into(),
                duration_secs: 600
            }
        );
    }

    #[test]
    fn each_refusal_names_its_field() {
        let big = format!(
            r#"{{"kind":"reload","x":"{}"}}"#,
            "a".repeat(MAX_BODY_BYTES)
        );
        for (body, starts) in [
            (big.as_str(), "body is larger than"),
            ("{", "body is not valid JSON"),
            ("[]", "body must be a JSON object"),
            ("{}", "kind: missing"),
            (r#"{"kind":7}"#, "kind: must be a string"),
            (r#"{"kind":"reboot"}"#, "kind: unknown kind \"reboot\""),
            (r#"{"kind":"reload","force":true}"#, "force: unknown field"),
            (
                r#"{"kind":"status_report","from_seq":1}"#,
                "from_seq: unknown field",
            ),
            (
                r#"{"kind":"reload","expires_in_secs":0}"#,
                "expires_in_secs: ",
            ),
            (
                r#"{"kind":"reload","expires_in_secs":604801}"#,
                "expires_in_secs: ",
            ),
            (
                r#"{"kind":"reload","expires_in_secs":"60"}"#,
                "expires_in_secs: ",
            ),
            (r#"{"kind":"replay"}"#, "from_seq: missing"),
            (r#"{"kind":"replay","from_seq":1}"#, "to_seq: missing"),
            (
                r#"{"kind":"replay","from_seq":0,"to_seq":5}"#,
                "from_seq: must be",
            ),
            (
                r#"{"kind":"replay","from_seq":-1,"to_seq":5}"#,
                "from_seq: must be",
            ),
            (
                r#"{"kind":"replay","from_seq":9,"to_seq":5}"#,
                "to_seq: 5 is below from_seq 9",
            ),
            (
                r#"{"kind":"replay","from_seq":1,"to_seq":5,"to_time":1}"#,
                "from_time: give either",
            ),
            (
                r#"{"kind":"replay","from_time":"yesterday","to_time":1}"#,
                "from_time: \"yesterday\" is not an RFC 3339",
            ),
            (
                r#"{"kind":"replay","from_time":-5,"to_time":1}"#,
                "from_time: must be",
            ),
            (
                r#"{"kind":"replay","from_time":10,"to_time":1}"#,
                "to_time: is before from_time",
            ),
            (
                r#"{"kind":"set_scan_mode","mode":"sale"}"#,
                "device_id: missing",
            ),
            (
                r#"{"kind":"set_scan_mode","device_id":"a/b","mode":"sale"}"#,
                "device_id: \"a/b\" is not a valid",
            ),
            (
                r#"{"kind":"set_scan_mode","device_id":"s1","mode":"SALE"}"#,
                "mode: unknown scan mode",
            ),
            (
                r#"{"kind":"set_scan_mode","device_id":"s1","mode":"unspecified"}"#,
                "mode: unknown scan mode",
            ),
            (
                r#"{"kind":"set_scan_mode","device_id":"s1","mode":3}"#,
                "mode: must be a string",
            ),
            (
                r#"{"kind":"set_log_filter","filter":""}"#,
                "filter: must be",
            ),
            (
                r#"{"kind":"set_log_filter","filter":"a b"}"#,
                "filter: must be",
            ),
            (
                r#"{"kind":"set_log_filter","filter":"x","duration_secs":0}"#,
                "duration_secs: ",
            ),
            (
                r#"{"kind":"set_log_filter","filter":"x","duration_secs":86401}"#,
                "duration_secs: ",
            ),
        ] {
            let e = err(body);
            assert!(e.starts_with(starts), "{body}: {e}");
        }
        let long_filter = format!(
            r#"{{"kind":"set_log_filter","filter":"{}"}}"#,
            "a".repeat(MAX_FILTER_LEN + 1)
        );
        assert!(err(&long_filter).starts_with("filter: must be"));
        // Echoed input is clipped.
        let long_kind = format!(r#"{{"kind":"{}"}}"#, "k".repeat(1000));
        assert!(err(&long_kind).len() < 300);
    }
}
