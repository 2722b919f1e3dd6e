//! `store-agent replay-capture`: feeds a captured byte file through one driver kind's pure
//! decoder and renders the events the driver would journal, for support ("what did the agent make
//! of these bytes?") and for checking a template or a scanner setting against a capture.
//!
//! A thin dispatcher: each kind's bytes → events step is the driver's own pure half (its
//! `decode` module, or `ReceiptCapture` for ESC/POS), the same code the driver's I/O loop runs,
//! with the driver's default settings. So a capture replays exactly as the live driver records
//! it; only the file format of a capture (how it is cut into reads, reports or payloads) lives
//! here.
//!
//! What a file holds, per kind:
//! - `serial_scanner`: the bytes read from the port; framing per `--framing` (default `cr_lf`,
//!   which also takes a lone CR or LF); the end of the file ends a last unterminated scan, as the
//!   driver's idle timeout would.
//! - `hid_pos`: concatenated 64-byte HID POS input reports; `wedge`: concatenated 8-byte boot
//!   keyboard reports. A short last chunk is decoded as the short report it is (an error event).
//!   Scans go through the scan modes of the default settings (staff command barcodes such as
//!   `MODE-COUNT` change the mode of the scans after them, within the one instant a replay takes).
//! - `escpos`: the bytes sent to the receipt printer; each receipt is read with the template of
//!   `--template` (a built-in name or a TOML file; default `generic`).
//! - `poslog`: one POSLog XML document. A file the driver would move to `rejected/` shows as a
//!   decode-error status with the reason and the start of the file.
//! - `counter_serial`: the lines of our beam-counter protocol; every line is taken as received
//!   at `--start-ms` (default now). The end of the file is the end of the stream, as when the
//!   port goes away: bytes after the last LF are not counted but kept raw in a decode error.
//! - `axis`, `axis3d`, `xovis`, `irisys`, `hikvision`, `vivotek`: one JSON payload as the counter
//!   posts it, or several, one per line. Running totals (`axis`, `irisys`) count from the first
//!   sample, which is only a baseline, as in the `counter_push` driver.
//!
//! Undecodable input becomes the same decode-error events the drivers journal (raw bytes kept),
//! never a failure of the command. Events carry no time stamps (zero): they are not observations.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use store_drivers::counter::push::{PayloadDecoder, PushReplay};
use store_drivers::counter::serial::LineDecoder;
use store_drivers::counter::Vendor;
use store_drivers::pos::escpos::EscPosOptions;
use store_drivers::pos::poslog_folder::decode::decode_file;
use store_drivers::pos::tap::ReceiptCapture;
use store_drivers::pos::template::{self, Template};
use store_drivers::scanner::hid::hidpos::{self, HidPosDecoder};
use store_drivers::scanner::hid::wedge::{self, WedgeDecoder};
use store_drivers::scanner::hid::ReportDecoder;
use store_drivers::scanner::mode::{ModeConfig, ScanMode};
use store_drivers::scanner::record::{self, ScanInput, ScanRecorder};
use store_drivers::scanner::serial::framing::Framing;
use store_drivers::scanner::serial::SerialScanDecoder;
use store_proto::{Body, Event};

/// Driver kinds `replay-capture` knows, as written on the command line.
pub const KINDS: [&str; 12] = [
    "serial_scanner",
    "hid_pos",
    "wedge",
    "escpos",
    "poslog",
    "counter_serial",
    "axis",
    "axis3d",
    "xovis",
    "irisys",
    "hikvision",
    "vivotek",
];

/// `--framing` values.
pub const FRAMINGS: [&str; 4] = ["cr", "lf", "cr_lf", "stx_etx"];

/// Longest scan kept, as the serial scanner driver's default `max_len`.
const MAX_SCAN_LEN: usize = 4096;
/// How much of a rejected POSLog file is shown raw, as the `counter_push` driver keeps of an
/// undecodable payload.
const MAX_RAW_BYTES: usize = store_drivers::counter::push::decode::MAX_RAW_BYTES;
/// The counting line of the counter drivers' default settings.
const DEFAULT_LINE: &str = "main";

/// A command line that does not make sense (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("unknown driver kind {0:?}; kinds: {kinds}", kinds = KINDS.join(", "))]
    UnknownKind(String),
    #[error("--{option} applies to --driver {applies_to} only")]
    NotForKind {
        option: &'static str,
        applies_to: &'static str,
    },
    #[error("unknown framing {0:?}; framings: {f}", f = FRAMINGS.join(", "))]
    Framing(String),
    #[error("template {name}: {reason}")]
    Template { name: String, reason: String },
}

/// What to replay, and how.
#[derive(Debug, Clone)]
pub struct Replay {
    kind: &'static str,
    framing: Framing,
    template: Option<Arc<Template>>,
    device_id: String,
    now_ms: i64,
}

impl Replay {
    /// Checks the kind and the options that go with it. `template` is a built-in template's
    /// name or the path of a template file; `now_ms` is when counter lines count as received.
    pub fn new(
        kind: &str,
        framing: Option<&str>,
        template: Option<&str>,
        device_id: &str,
        now_ms: i64,
    ) -> Result<Replay, UsageError> {
        let kind = KINDS
            .iter()
            .find(|k| **k == kind)
            .ok_or_else(|| UsageError::UnknownKind(kind.to_owned()))?;
        if framing.is_some() && *kind != "serial_scanner" {
            return Err(UsageError::NotForKind {
                option: "framing",
                applies_to: "serial_scanner",
            });
        }
        if template.is_some() && *kind != "escpos" {
            return Err(UsageError::NotForKind {
                option: "template",
                applies_to: "escpos",
            });
        }
        let framing = match framing {
            None => Framing::CrLf,
            Some(f) => serde_json::from_value(Value::String(f.to_owned()))
                .map_err(|_| UsageError::Framing(f.to_owned()))?,
        };
        let template = if *kind == "escpos" {
            Some(Arc::new(load_template(template.unwrap_or("generic"))?))
        } else {
            None
        };
        Ok(Replay {
            kind,
            framing,
            template,
            device_id: device_id.to_owned(),
            now_ms,
        })
    }

    /// The events the driver would journal for `bytes`, in order.
    pub fn events(&self, bytes: &[u8]) -> Vec<Event> {
        let bodies = match self.kind {
            "serial_scanner" => {
                let mut decoder = SerialScanDecoder::new(self.framing, MAX_SCAN_LEN);
                let mut inputs = decoder.feed(bytes);
                inputs.extend(decoder.finish());
                scans(inputs)
            }
            "hid_pos" => reports(HidPosDecoder::default(), hidpos::REPORT_LEN, bytes),
            "wedge" => reports(WedgeDecoder::default(), wedge::REPORT_LEN, bytes),
            "escpos" => self.escpos(bytes),
            "poslog" => poslog(bytes),
            "counter_serial" => {
                let mut decoder = LineDecoder::new(self.device_id.clone(), DEFAULT_LINE);
                let mut bodies = decoder.feed(bytes, self.now_ms);
                bodies.extend(decoder.finish());
                bodies
            }
            vendor => self.counter_push(vendor, bytes),
        };
        bodies.into_iter().map(|b| self.event(b)).collect()
    }

    fn event(&self, body: Body) -> Event {
        Event {
            device_id: self.device_id.clone(),
            body: Some(body),
            ..Default::default()
        }
    }

    fn escpos(&self, bytes: &[u8]) -> Vec<Body> {
        let Some(template) = &self.template else {
            return Vec::new();
        };
        let mut capture = ReceiptCapture::new(Arc::clone(template), EscPosOptions::default());
        let mut bodies = capture.push(bytes);
        bodies.extend(capture.flush_idle());
        bodies
    }

    fn counter_push(&self, vendor: &str, bytes: &[u8]) -> Vec<Body> {
        let Ok(vendor) = serde_json::from_value::<Vendor>(Value::String(vendor.to_owned())) else {
            return Vec::new();
        };
        let mut replay = PushReplay::new(PayloadDecoder::new(
            vendor,
            self.device_id.clone(),
            DEFAULT_LINE,
        ));
        payloads(bytes)
            .into_iter()
            .flat_map(|payload| replay.feed(payload))
            .collect()
    }
}

/// A capture of fixed-size reports, fed one report at a time; the end of the file ends what
/// is open, as the driver's idle timeout would.
fn reports<D: ReportDecoder>(mut decoder: D, report_len: usize, bytes: &[u8]) -> Vec<Body> {
    let mut inputs: Vec<ScanInput> = bytes
        .chunks(report_len)
        .flat_map(|report| decoder.feed(report))
        .collect();
    inputs.extend(decoder.finish());
    scans(inputs)
}

/// Scanner inputs → bodies through the scan modes of the default settings, all at one instant.
fn scans(inputs: Vec<ScanInput>) -> Vec<Body> {
    let mut recorder = ScanRecorder::new(ScanMode::Sale, ModeConfig::default());
    let now = std::time::Instant::now();
    inputs
        .into_iter()
        .filter_map(|input| recorder.record(input, now).body)
        .collect()
}

/// One JSON document, or one per non-blank line when the file is not a single document.
fn payloads(bytes: &[u8]) -> Vec<&[u8]> {
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .collect();
    // A single document (or a single line of garbage) is kept whole, so a decode error keeps
    // every byte of it.
    if lines.len() <= 1 || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return vec![bytes];
    }
    lines
}

fn poslog(bytes: &[u8]) -> Vec<Body> {
    match decode_file(bytes) {
        Ok(bodies) => bodies,
        Err(e) => vec![record::decode_error(
            e.to_string(),
            bytes.get(..MAX_RAW_BYTES).unwrap_or(bytes).to_vec(),
        )],
    }
}

/// A built-in template by name, else a template file.
fn load_template(name: &str) -> Result<Template, UsageError> {
    let error = |reason: String| UsageError::Template {
        name: name.to_owned(),
        reason,
    };
    let text = match template::builtin(name) {
        Some(text) => text.to_owned(),
        None => std::fs::read_to_string(name).map_err(|e| {
            error(format!(
                "not a built-in template ({}) and not a readable file: {e}",
                template::BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
    };
    Template::from_toml(&text).map_err(|e| error(e.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `SCAN_MODE_STOCK_COUNT` → `stock_count`.
fn enum_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_ascii_lowercase()
}

/// An event as one JSON object with readable field names: `kind`, `device_id`, the body's
/// fields (enums by name, bytes as lowercase hex in `raw_hex`), and the time stamps when set.
pub fn event_json(event: &Event) -> Value {
    let mut out = BTreeMap::new();
    out.insert("kind", json!(store_proto::kind_name(event.body.as_ref())));
    out.insert("device_id", json!(event.device_id));
    if event.seq != 0 {
        out.insert("seq", json!(event.seq));
    }
    if event.wall_time_ms != 0 {
        out.insert("wall_time_ms", json!(event.wall_time_ms));
        out.insert("monotonic_ns", json!(event.monotonic_ns));
        out.insert("clock_synced", json!(event.clock_synced));
        out.insert("boot_id", json!(event.boot_id));
    }
    let body = match &event.body {
        Some(Body::Scan(s)) => json!({
            "data": s.data,
            "raw_hex": hex(&s.raw),
            "aim": s.aim,
            "symbology": s.symbology,
            "gtin": s.gtin,
            "mode": enum_name(s.mode().as_str_name(), "SCAN_MODE_"),
            "quantity": s.quantity,
            "error": s.error,
            "elements": s.elements.iter().map(|e| json!({"ai": e.ai, "value": e.value})).collect::<Vec<_>>(),
            "shift": enum_name(s.shift().as_str_name(), "SHIFT_ACTION_"),
        }),
        Some(Body::PosTransaction(t)) => json!({
            "register_id": t.register_id,
            "receipt_id": t.receipt_id,
            "transaction_kind": enum_name(t.kind().as_str_name(), "TRANSACTION_KIND_"),
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
        Some(Body::FootTraffic(t)) => json!({
            "counter_id": t.counter_id,
            "line": t.line,
            "interval_start_ms": t.interval_start_ms,
            "interval_end_ms": t.interval_end_ms,
            "entries": t.entries,
            "exits": t.exits,
            "coalesced_ticks": t.coalesced_ticks,
        }),
        Some(Body::DeviceStatus(s)) => json!({
            "state": enum_name(s.state().as_str_name(), "DEVICE_STATE_"),
            "reason": s.reason,
            "raw_hex": hex(&s.raw),
        }),
        Some(Body::DataLoss(d)) => json!({
            "reason": enum_name(d.reason().as_str_name(), "DATA_LOSS_REASON_"),
            "ranges": d.ranges.iter().map(|r| json!({"first": r.first, "last": r.last})).collect::<Vec<_>>(),
            "classes": d.classes.iter().map(|c| json!({"class": c.class, "dropped": c.dropped, "coalesced": c.coalesced})).collect::<Vec<_>>(),
            "exact": d.exact,
            "detail": d.detail,
        }),
        None => json!({}),
    };
    let mut value = serde_json::to_value(out).unwrap_or_default();
    if let (Some(map), Value::Object(fields)) = (value.as_object_mut(), body) {
        map.extend(fields);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(kind: &str) -> Replay {
        Replay::new(kind, None, None, "cap", 1_000).unwrap()
    }

    #[test]
    fn options_are_checked_against_the_kind() {
        let e = Replay::new("modem", None, None, "d", 0).unwrap_err();
        assert!(e.to_string().contains("serial_scanner, hid_pos"), "{e}");
        let e = Replay::new("wedge", Some("cr"), None, "d", 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--framing applies to --driver serial_scanner only"
        );
        let e = Replay::new("poslog", None, Some("generic"), "d", 0).unwrap_err();
        assert_eq!(e.to_string(), "--template applies to --driver escpos only");
        let e = Replay::new("serial_scanner", Some("crlf"), None, "d", 0).unwrap_err();
        assert!(e.to_string().contains("cr_lf"), "{e}");
        let e = Replay::new("escpos", None, Some("/no/such.toml"), "d", 0).unwrap_err();
        assert!(e.to_string().contains("generic, de_comma"), "{e}");
    }

    #[test]
    fn serial_scanner_frames_and_errors() {
        let events = Replay::new("serial_scanner", Some("stx_etx"), None, "cap", 0)
            .unwrap()
            .events(b"zz\x02]E05901234123457\x03\x02abc");
        let kinds: Vec<_> = events
            .iter()
            .map(|e| event_json(e)["kind"].clone())
            .collect();
        assert_eq!(kinds, ["device_status", "scan", "device_status"]);
        let scan = event_json(&events[1]);
        assert_eq!(scan["gtin"], "05901234123457");
        assert_eq!(scan["raw_hex"], hex(b"]E05901234123457"));
        assert_eq!(scan["mode"], "sale");
        assert!(scan.get("wall_time_ms").is_none());
        assert_eq!(event_json(&events[2])["raw_hex"], "616263");
    }

    #[test]
    fn counter_payloads_one_document_or_lines() {
        let axis = replay("axis").events(
            b"{\"serial\":\"S\",\"timestamp\":\"20170503112756\",\"in\":12,\"out\":318}\n\
              {\"serial\":\"S\",\"timestamp\":\"20170503112856\",\"in\":15,\"out\":320}\n",
        );
        assert_eq!(axis.len(), 1);
        let t = event_json(&axis[0]);
        assert_eq!(
            (t["entries"].clone(), t["exits"].clone()),
            (json!(3), json!(2))
        );
        assert_eq!(t["counter_id"], "S");
        assert_eq!(t["line"], "main");
        let bad = replay("vivotek").events(b"{\"Data\": 5}");
        let s = event_json(&bad[0]);
        assert_eq!(s["state"], "decode_error");
        assert!(
            s["reason"]
                .as_str()
                .unwrap()
                .starts_with("vivotek payload:"),
            "{s}"
        );
    }
}
