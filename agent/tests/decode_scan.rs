//! `store-agent decode-scan`: runs the built binary and checks its JSON and exit codes.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_store-agent"))
        .arg("decode-scan")
        .args(args)
        .output()
        .expect("run store-agent")
}

fn json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8(out.stdout.clone()).expect("UTF-8 output");
    assert_eq!(
        stdout.lines().count(),
        1,
        "one JSON object on one line: {stdout}"
    );
    serde_json::from_str(&stdout).expect("JSON output")
}

#[test]
fn valid_gs1_128_with_text_escape() {
    let out = run(&["]C101095060001343521012345<GS>17220630"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["symbology"], "gs1-128");
    assert_eq!(v["aim"], "]C1");
    assert_eq!(v["valid"], true);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(
        v["elements"],
        serde_json::json!([
            {"ai": "01", "value": "09506000134352"},
            {"ai": "10", "value": "12345"},
            {"ai": "17", "value": "220630"}
        ])
    );
    assert_eq!(v["gtin"], "09506000134352");
    assert_eq!(v["batch"], "12345");
    assert_eq!(v["expiry"], "2022-06-30");
    assert_eq!(v["serial"], serde_json::Value::Null);
    assert_eq!(v["quantity"], serde_json::Value::Null);
}

#[test]
fn raw_gs_byte_and_hex_give_the_same_answer() {
    let with_byte = json(&run(&["]d2010950110153000317140704\x1D10AB-123\x1D2112"]));
    let hex = "5d 64 32 30 31 30 39 35 30 31 31 30 31 35 33 30 30 30 33 31 37 31 34 30 37 30 34 \
               1d 31 30 41 42 2d 31 32 33 1d 32 31 31 32";
    let out = run(&["--hex", hex]);
    assert_eq!(out.status.code(), Some(0));
    let with_hex = json(&out);
    assert_eq!(with_byte, with_hex);
    assert_eq!(with_hex["symbology"], "gs1-datamatrix");
    assert_eq!(with_hex["valid"], true);
    assert_eq!(with_hex["serial"], "12");
    assert_eq!(with_hex["batch"], "AB-123");
}

#[test]
fn invalid_data_still_exits_zero() {
    // Month 13 in the expiry date.
    let out = run(&["]C10109506000134352<GS>10ABC<GS>17221330"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["valid"], false);
    let error = v["error"].as_str().expect("an error message");
    assert!(
        error.contains("AI (17)") && error.contains("position 25"),
        "{error}"
    );
    assert_eq!(v["error_ai"], "17");
    assert_eq!(v["elements"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["gtin"], "09506000134352");
    assert_eq!(v["expiry"], serde_json::Value::Null);

    // A bad EAN-13 check digit.
    let out = run(&["]E09506000134353"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["symbology"], "ean13");
    assert_eq!(v["valid"], false);
}

#[test]
fn usage_errors_exit_2() {
    for args in [&["--hex", "5d4"][..], &["--hex", "zz"], &[]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
