//! `store-agent replay-capture`: runs the built binary on capture fixtures
//! (`tests/fixtures/replay/`, and the ESC/POS and POSLog fixtures of the drivers crate) and
//! checks its JSON lines and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = match name.strip_prefix("pos/") {
        Some(rest) => dir.join("../drivers/tests/fixtures/pos").join(rest),
        None => dir.join("tests/fixtures/replay").join(name),
    };
    path.to_str().unwrap().to_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_store-agent"))
        .arg("replay-capture")
        .args(args)
        .output()
        .expect("run store-agent")
}

/// Runs a replay that must succeed; returns one JSON value per output line.
fn events(kind: &str, file: &str, extra: &[&str]) -> Vec<Value> {
    let path = fixture(file);
    let mut args = vec!["--driver", kind, "--start-ms", "1000"];
    args.extend_from_slice(extra);
    args.push(&path);
    let out = run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

fn traffic(e: &Value) -> (i64, i64, u64, u64) {
    assert_eq!(e["kind"], "foot_traffic", "{e}");
    (
        e["interval_start_ms"].as_i64().unwrap(),
        e["interval_end_ms"].as_i64().unwrap(),
        e["entries"].as_u64().unwrap(),
        e["exits"].as_u64().unwrap(),
    )
}

#[test]
fn serial_scanner_default_framing_and_stx_etx() {
    let e = events("serial_scanner", "serial_scanner_crlf.bin", &[]);
    assert_eq!(kinds(&e), ["scan"; 4]);
    assert_eq!(e[0]["symbology"], "gs1-128");
    assert_eq!(
        e[0]["elements"],
        json!([
            {"ai": "01", "value": "09506000134352"},
            {"ai": "10", "value": "12345"},
            {"ai": "17", "value": "220630"}
        ])
    );
    assert_eq!(
        e[0]["raw_hex"],
        "5d433130313039353036303030313334333532313031323334351d3137323230363330"
    );
    assert_eq!(e[0]["device_id"], "replay");
    assert_eq!(e[1]["gtin"], "05901234123457");
    assert_eq!(e[2]["gtin"], "");
    assert!(
        e[2]["error"].as_str().unwrap().contains("check digit"),
        "{}",
        e[2]
    );
    // The end of the file ends the last scan, which had no terminator.
    assert_eq!(e[3]["gtin"], "04006381333931");
    assert!(
        e[0].get("wall_time_ms").is_none(),
        "replayed events are not time stamped"
    );

    let e = events(
        "serial_scanner",
        "serial_scanner_stx_etx.bin",
        &["--framing", "stx_etx", "--device-id", "till-2"],
    );
    assert_eq!(kinds(&e), ["scan", "device_status", "scan"]);
    assert_eq!(e[1]["state"], "decode_error");
    assert_eq!(e[1]["raw_hex"], "7a7a");
    assert_eq!(e[2]["gtin"], "09506000134352");
    assert_eq!(e[2]["device_id"], "till-2");
}

#[test]
fn hid_pos_and_wedge_reports() {
    let e = events("hid_pos", "hid_pos.bin", &[]);
    assert_eq!(kinds(&e), ["scan", "scan", "device_status"]);
    assert_eq!(
        (e[0]["aim"].as_str(), e[0]["gtin"].as_str()),
        (Some("]E0"), Some("05901234123457"))
    );
    // Reassembled from a continued report.
    assert_eq!(e[1]["data"], "01095060001343521012345");
    assert_eq!(e[1]["gtin"], "09506000134352");
    assert_eq!(e[2]["reason"], "HID POS report id 0x05 (expected 0x02)");
    assert_eq!(e[2]["raw_hex"].as_str().unwrap().len(), 128);

    let e = events("wedge", "wedge.bin", &[]);
    assert_eq!(kinds(&e), ["scan", "device_status"]);
    assert_eq!(e[0]["data"], "4006381333931");
    assert_eq!(e[1]["raw_hex"], "00001e0000");
    assert_eq!(e[1]["reason"], "keyboard report of 5 bytes (expected 8)");
}

#[test]
fn escpos_with_a_template_and_poslog() {
    let e = events(
        "escpos",
        "pos/escpos/sale_cut.bin",
        &["--template", "generic"],
    );
    assert_eq!(kinds(&e), ["pos_transaction"]);
    let t = &e[0];
    assert_eq!(
        (
            t["receipt_id"].as_str(),
            t["register_id"].as_str(),
            t["operator_id"].as_str()
        ),
        (Some("1001"), Some("3"), Some("42"))
    );
    assert_eq!(
        (t["total_minor"].as_i64(), t["currency"].as_str()),
        (Some(647), Some("EUR"))
    );
    assert_eq!(t["transaction_kind"], "sale");
    assert_eq!(t["error"], "");
    let items: Vec<_> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["description"].as_str().unwrap(),
                i["extended_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(items, [("Milk 1L", 398), ("Bread", 249)]);

    let e = events("poslog", "pos/poslog/sale.xml", &[]);
    assert_eq!(kinds(&e), ["pos_transaction"]);
    assert_eq!(e[0]["receipt_id"], "1001");
    assert_eq!(e[0]["items"][0]["gtin"], "04006381333931");

    let e = events("poslog", "poslog_broken.xml", &[]);
    assert_eq!(kinds(&e), ["device_status"]);
    assert!(
        e[0]["reason"].as_str().unwrap().contains("malformed XML"),
        "{}",
        e[0]
    );
    assert!(e[0]["raw_hex"]
        .as_str()
        .unwrap()
        .starts_with("3c504f534c6f67"));
}

#[test]
fn counter_serial_lines() {
    let e = events("counter_serial", "counter_serial.txt", &[]);
    assert_eq!(
        kinds(&e),
        [
            "foot_traffic",
            "foot_traffic",
            "device_status",
            "foot_traffic",
            "device_status"
        ]
    );
    assert_eq!(traffic(&e[0]), (1000, 1000, 3, 0));
    // TOTAL 100 90 is the baseline; TOTAL 104 91 adds 4 in, 1 out.
    assert_eq!(traffic(&e[1]), (1000, 1000, 4, 1));
    assert_eq!(e[2]["raw_hex"], "53494445574159532032");
    // A reset.
    assert_eq!(traffic(&e[3]), (1000, 1000, 2, 0));
    // The last line has no LF: as in the driver when the port goes away, a cut-off line is not
    // counted (`OUT 2` may have been `OUT 20`) but kept raw.
    assert_eq!(e[4]["state"], "decode_error");
    assert_eq!(
        e[4]["reason"],
        "line cut off when the port went away; not counted"
    );
    assert_eq!(e[4]["raw_hex"], "4f55542032");
    assert_eq!(e[0]["counter_id"], "replay");
}

#[test]
fn counter_push_vendors() {
    let e = events("axis", "axis.jsonl", &[]);
    // First line: the baseline; then 3 in 1 out; then a reset with 2 in since.
    assert_eq!(e.len(), 2);
    assert_eq!(traffic(&e[0]), (1_709_287_200_000, 1_709_287_210_000, 3, 1));
    assert_eq!(traffic(&e[1]), (1_709_287_210_000, 1_709_287_220_000, 2, 0));
    assert_eq!(e[0]["counter_id"], "00408CAC512B");

    let e = events("xovis", "xovis.json", &[]);
    assert_eq!(e.len(), 1);
    assert_eq!(traffic(&e[0]), (1_645_780_665_470, 1_645_780_665_470, 2, 1));
    assert_eq!(e[0]["line"], "Entrance");

    let e = events("irisys", "irisys.json", &[]);
    assert_eq!(e.len(), 1);
    assert_eq!(traffic(&e[0]), (1_596_615_060_000, 1_596_615_120_000, 5, 1));
    assert_eq!(e[0]["counter_id"], "V4D-20050095");

    let e = events("hikvision", "hikvision.json", &[]);
    assert_eq!(traffic(&e[0]), (1_483_200_000_000, 1_483_200_000_000, 3, 1));

    let e = events("vivotek", "vivotek.json", &[]);
    assert_eq!(traffic(&e[0]), (1_432_793_700_000, 1_432_794_600_000, 1, 2));
    assert_eq!(e[0]["line"], "Counting1");

    let e = events("hikvision", "not_json.txt", &[]);
    assert_eq!(kinds(&e), ["device_status"]);
    assert!(
        e[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("hikvision payload: payload is not valid JSON"),
        "{}",
        e[0]
    );
    assert_eq!(e[0]["raw_hex"], "3c68746d6c3e4c6f67696e3c2f68746d6c3e0a");
}

#[test]
fn usage_errors_exit_2_and_list_the_choices() {
    let path = fixture("axis.jsonl");
    let out = run(&["--driver", "modem", &path]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for kind in [
        "serial_scanner",
        "hid_pos",
        "wedge",
        "escpos",
        "poslog",
        "counter_serial",
        "axis",
        "xovis",
        "irisys",
        "hikvision",
        "vivotek",
    ] {
        assert!(stderr.contains(kind), "{kind} missing from: {stderr}");
    }
    assert!(out.stdout.is_empty());

    let out = run(&["--driver", "wedge", "--framing", "cr", &path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--framing applies to --driver serial_scanner only"));

    let out = run(&[
        "--driver",
        "escpos",
        "--template",
        "/no/such/template.toml",
        &path,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("generic, de_comma"));

    // A file that cannot be read is an error, not an empty replay.
    let out = run(&["--driver", "axis", "/no/such/capture.bin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/capture.bin"));
}
