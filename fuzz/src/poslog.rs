//! The POSLog parser of the `poslog_folder` driver (`pos::poslog::parse_poslog`): a file a POS
//! dropped, NRF ARTS POSLog XML, in; one sale per `RetailTransaction` out.
//!
//! Input: the file's bytes.
//!
//! Asserted besides "no panic": the parse is deterministic and a UTF-8 byte-order mark changes
//! nothing; a document refused names a line inside it; there are no more sales than
//! `RetailTransaction` elements; a sale that could not be read keeps its XML (a run of the file)
//! and names a line inside it, with no items and a zero total; one that was read has GTINs of
//! 14 digits with a right check digit, and, as a refund, a total, amounts and quantities that
//! are magnitudes.

use store_drivers::pos::poslog::{parse_poslog, PosLogError};
use store_drivers::scanner::gs1::check;
use store_proto::v1::TransactionKind;

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let parsed = parse_poslog(data);
    assert_eq!(parsed, parse_poslog(data), "not deterministic");
    let bom = [b"\xEF\xBB\xBF".as_slice(), data].concat();
    if !data.starts_with(b"\xEF\xBB\xBF") {
        assert_eq!(
            parsed,
            parse_poslog(&bom),
            "a byte-order mark changes the parse"
        );
    }
    let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
    let txs = match parsed {
        Err(e) => {
            let line = match &e {
                PosLogError::Xml { line, .. }
                | PosLogError::Root { line, .. }
                | PosLogError::TooDeep { line, .. } => Some(*line),
                PosLogError::Empty => None,
            };
            if let Some(line) = line {
                assert!((1..=lines).contains(&line), "line {line} of {lines}: {e}");
            }
            return;
        }
        Ok(txs) => txs,
    };
    let elements = data
        .windows(b"RetailTransaction".len())
        .filter(|w| *w == b"RetailTransaction")
        .count();
    assert!(
        txs.len() <= elements,
        "{} sales from {elements} elements",
        txs.len()
    );
    let text = std::str::from_utf8(data).ok();
    for tx in &txs {
        if !tx.error.is_empty() {
            assert!(tx.items.is_empty() && tx.total_minor == 0, "{tx:?}");
            assert!(
                !tx.raw_text.is_empty(),
                "an unreadable sale without its XML"
            );
            if let Some(text) = text {
                assert!(
                    text.contains(&tx.raw_text),
                    "raw text is not a run of the file"
                );
            }
            let line: usize = tx
                .error
                .strip_prefix("POSLog Transaction at line ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no line in {:?}", tx.error));
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
            continue;
        }
        assert!(tx.raw_text.is_empty());
        let refund = tx.kind == TransactionKind::Return as i32;
        if refund {
            assert!(tx.total_minor >= 0, "a refund total with a sign: {tx:?}");
        }
        for item in &tx.items {
            if !item.gtin.is_empty() {
                assert!(
                    item.gtin.len() == 14 && check::is_valid(item.gtin.as_bytes()),
                    "gtin {:?}",
                    item.gtin
                );
            }
            if refund {
                assert!(
                    item.quantity >= 0.0 && item.extended_minor >= 0,
                    "a refund line with a sign: {item:?}"
                );
            }
        }
    }
}
