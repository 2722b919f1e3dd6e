//! Receipt templates (`pos::template`): a printed receipt's text read into a sale by a
//! template's patterns, and the compiling of a template from its TOML.
//!
//! Input: byte 0 below 0xF0: the built-in template (modulo their number) reads the rest as
//! receipt text (lossy UTF-8); 0xF0 and above: the rest is a template's TOML, compiled and, when
//! it compiles, given a few receipts to read.
//!
//! Asserted besides "no panic": a receipt reads the same with LF, CR LF or CR line ends; a
//! receipt that fits has a three-letter upper-case currency (or none, when the
//! template has no default), items whose amounts add up to the
//! total (the built-in templates check totals; on a refund both are magnitudes), on a refund
//! unit prices that are magnitudes and quantities with the sign of their amount, and GTINs of 14 digits with
//! a right check digit; one that does not fit keeps its text, says why, and has no items and a
//! zero total; a template that does not compile says why.

use std::sync::OnceLock;

use store_drivers::pos::template::{self, parse_text, Template, BUILTIN};
use store_drivers::scanner::gs1::check;
use store_proto::v1::TransactionKind;

const SAMPLES: &[&str] = &[
    "RECEIPT 12\nTILL 3\nMilk  2 x 1.50  3.00\nBread  2.49\nTOTAL EUR 5.49\n",
    "Ticket: A-1\nRefund\nMilk  -1.50\nTotal 1.50\n",
    "",
];

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if which >= 0xF0 {
        match Template::from_toml(&text) {
            Ok(t) => {
                for sample in SAMPLES {
                    let _ = parse_text(&t, sample);
                }
            }
            Err(e) => assert!(!e.to_string().is_empty(), "an error without a reason"),
        }
        return;
    }
    // Compiled once: compiling the patterns costs far more than reading one receipt.
    static BUILT: OnceLock<Vec<Template>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        BUILTIN
            .iter()
            .map(|(_, toml)| Template::from_toml(toml).expect("a built-in template compiles"))
            .collect()
    });
    let t = &built[usize::from(which) % built.len()];
    check_receipt(t, &text);
    assert!(template::builtin(t.name()).is_some());
}

fn check_receipt(t: &Template, text: &str) {
    let tx = parse_text(t, text);
    let lf = text.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(
        tx,
        parse_text(t, &lf.replace('\n', "\r\n")),
        "CR LF reads differently"
    );
    assert_eq!(
        tx,
        parse_text(t, &lf.replace('\n', "\r")),
        "CR reads differently"
    );
    if !tx.error.is_empty() {
        assert!(tx.items.is_empty() && tx.total_minor == 0, "{tx:?}");
        assert_eq!(tx.raw_text, lf, "the text is not kept as read");
        return;
    }
    assert!(tx.raw_text.is_empty());
    assert!(
        tx.currency.is_empty()
            || (tx.currency.len() == 3 && tx.currency.bytes().all(|b| b.is_ascii_uppercase())),
        "currency {:?}",
        tx.currency
    );
    // Amounts this large saturate in the sum; real receipts are far below.
    let small = |x: i64| x.unsigned_abs() < 1 << 50;
    if small(tx.total_minor) && tx.items.iter().all(|i| small(i.extended_minor)) {
        let sum: i64 = tx.items.iter().map(|i| i.extended_minor).sum();
        assert_eq!(sum, tx.total_minor, "items do not add up: {tx:?}");
    }
    if tx.kind == TransactionKind::Return as i32 {
        assert!(tx.total_minor >= 0, "a refund total with a sign: {tx:?}");
    }
    let refund = tx.kind == TransactionKind::Return as i32;
    for item in &tx.items {
        assert!(
            !refund || item.unit_price_minor >= 0,
            "a refund's unit price: {item:?}"
        );
        if refund && item.extended_minor != 0 && item.quantity != 0.0 {
            assert_eq!(
                item.extended_minor < 0,
                item.quantity < 0.0,
                "quantity and amount of opposite signs: {item:?}"
            );
        }
        if !item.gtin.is_empty() {
            assert!(
                item.gtin.len() == 14 && check::is_valid(item.gtin.as_bytes()),
                "gtin {:?}",
                item.gtin
            );
        }
    }
}
