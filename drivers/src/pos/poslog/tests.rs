use store_proto::v1::{LineItem, TransactionKind};

use super::*;
use crate::pos::fuzz::XorShift;

const SALE: &[u8] = include_bytes!("../../../tests/fixtures/pos/poslog/sale.xml");
const RETURN: &[u8] = include_bytes!("../../../tests/fixtures/pos/poslog/return.xml");
const MULTI: &[u8] = include_bytes!("../../../tests/fixtures/pos/poslog/multi.xml");
const VENDOR_EXT: &[u8] = include_bytes!("../../../tests/fixtures/pos/poslog/vendor_ext.xml");
const MISSING_TOTAL: &[u8] = include_bytes!("../../../tests/fixtures/pos/poslog/missing_total.xml");

fn line(
    gtin: &str,
    item_id: &str,
    description: &str,
    quantity: f64,
    unit: i64,
    extended: i64,
) -> LineItem {
    LineItem {
        gtin: gtin.to_string(),
        item_id: item_id.to_string(),
        description: description.to_string(),
        quantity,
        unit_price_minor: unit,
        extended_minor: extended,
    }
}

fn kind(tx: &PosTransaction) -> TransactionKind {
    TransactionKind::try_from(tx.kind).unwrap()
}

#[test]
fn reads_a_sale() {
    let txs = parse_poslog(SALE).unwrap();
    assert_eq!(txs.len(), 1);
    let tx = &txs[0];
    assert_eq!(tx.error, "");
    assert_eq!(tx.raw_text, "");
    assert_eq!(kind(tx), TransactionKind::Sale);
    assert_eq!(
        (
            tx.register_id.as_str(),
            tx.receipt_id.as_str(),
            tx.operator_id.as_str(),
            tx.currency.as_str()
        ),
        ("3", "1001", "42", "EUR")
    );
    assert_eq!(tx.total_minor, 821);
    assert_eq!(
        tx.items,
        [
            // The voided line 2 is left out; tax and tender lines are not items.
            line("04006381333931", "4006381333931", "Milk 1L", 2.0, 199, 398),
            line(
                "00000096385074",
                "96385074",
                "Bananas & co – loose",
                0.75,
                299,
                224
            ),
            // ActualSalesUnitPrice wins over RegularSalesUnitPrice, rounded to the cent.
            line("", "PLU-7", "Salt & Pepper <Set>", 2.0, 100, 199),
        ]
    );
}

#[test]
fn reads_a_return_with_another_prefix_as_positive_numbers() {
    let txs = parse_poslog(RETURN).unwrap();
    assert_eq!(txs.len(), 1);
    let tx = &txs[0];
    assert_eq!(tx.error, "");
    assert_eq!(kind(tx), TransactionKind::Return);
    assert_eq!(
        (tx.receipt_id.as_str(), tx.operator_id.as_str()),
        ("1002", "7")
    );
    assert_eq!(tx.total_minor, 398);
    assert_eq!(
        tx.items,
        [line(
            "04006381333931",
            "4006381333931",
            "Milk 1L",
            2.0,
            199,
            398
        )]
    );
}

#[test]
fn reads_every_transaction_of_a_file_in_order() {
    let txs = parse_poslog(MULTI).unwrap();
    let summary: Vec<(&str, TransactionKind, i64)> = txs
        .iter()
        .map(|t| (t.receipt_id.as_str(), kind(t), t.total_minor))
        .collect();
    assert_eq!(
        summary,
        [
            ("501", TransactionKind::Sale, 300),
            // 502 is a sign-on: no RetailTransaction, no event.
            ("503", TransactionKind::Void, 0),
            ("504", TransactionKind::Sale, 200),
            ("505", TransactionKind::Void, 100),
            ("506", TransactionKind::Void, 0),
        ]
    );
    assert!(txs.iter().all(|t| t.error.is_empty()));
    // Yen have no decimals.
    assert_eq!(txs[0].items, [line("", "SKU-1", "Tea", 2.0, 150, 300)]);
    // A cancelled transaction keeps its items for information.
    assert_eq!(txs[1].items, [line("", "SKU-2", "", 1.0, 500, 500)]);
    // An exchange: the returned line counts against the sale.
    assert_eq!(
        txs[2].items,
        [
            line("", "SKU-3", "", 1.0, 500, 500),
            line("", "SKU-4", "", -1.0, 300, -300)
        ]
    );
}

#[test]
fn vendor_extensions_are_skipped_with_everything_inside() {
    let txs = parse_poslog(VENDOR_EXT).unwrap();
    assert_eq!(txs.len(), 1);
    let tx = &txs[0];
    assert_eq!(tx.error, "");
    assert_eq!(
        (tx.register_id.as_str(), tx.receipt_id.as_str()),
        ("9", "77")
    );
    assert_eq!(tx.total_minor, 150);
    assert_eq!(tx.currency, "");
    assert_eq!(
        tx.items,
        [line(
            "00012345678905",
            "00012345678905",
            "Pen",
            1.0,
            150,
            150
        )]
    );
}

#[test]
fn unreadable_transactions_are_kept_with_the_reason_and_their_xml() {
    let txs = parse_poslog(MISSING_TOTAL).unwrap();
    assert_eq!(txs.len(), 3);
    assert_eq!(txs[0].receipt_id, "601");
    assert_eq!(
        txs[0].error,
        "POSLog Transaction at line 5: RetailTransaction has no \
         Total[@TotalType=\"TransactionGrandAmount\"]"
    );
    assert!(txs[0].raw_text.starts_with("<Transaction>"));
    assert!(txs[0].raw_text.ends_with("</Transaction>"));
    assert!(txs[0]
        .raw_text
        .contains("<SequenceNumber>601</SequenceNumber>"));
    assert!(txs[0].items.is_empty());
    assert_eq!(txs[0].total_minor, 0);
    assert_eq!(
        txs[1].error,
        "POSLog Transaction at line 15: LineItem 1 at line 19: ExtendedAmount at line 23: \
         `one euro` is not a number"
    );
    assert!(txs[1].raw_text.contains("one euro"));
    assert!(!txs[1].raw_text.contains("601"));
    assert_eq!(txs[2].error, "");
    assert_eq!(txs[2].total_minor, 250);
}

#[test]
fn a_lone_transaction_and_other_spellings_of_the_namespace() {
    let xml = br#"<p:Transaction xmlns:p="http://www.nrf-arts.org/IXRetail/namespace">
        <p:SequenceNumber>9</p:SequenceNumber>
        <p:RetailTransaction>
          <p:LineItem><p:Sale><p:ItemID>X</p:ItemID><p:ExtendedAmount>1</p:ExtendedAmount></p:Sale></p:LineItem>
          <p:Total TotalType="TransactionGrandAmount">1.0</p:Total>
        </p:RetailTransaction>
      </p:Transaction>"#;
    let txs = parse_poslog(xml).unwrap();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].receipt_id, "9");
    assert_eq!(txs[0].total_minor, 100);
    // The root's own namespace counts as ARTS, whatever it is, and a BOM is fine.
    let xml = b"\xEF\xBB\xBF<POSLog xmlns='urn:vendor:poslog'><Transaction><RetailTransaction>\
        <Total TotalType='TransactionGrandAmount'>2</Total></RetailTransaction></Transaction></POSLog>";
    let txs = parse_poslog(xml).unwrap();
    assert_eq!(txs[0].total_minor, 200);
    assert!(txs[0].items.is_empty());
    // A file with no transactions is fine.
    assert_eq!(parse_poslog(b"<POSLog/>").unwrap(), []);
}

#[test]
fn malformed_documents_fail_with_line_and_path() {
    let err =
        parse_poslog(b"<POSLog>\n<Transaction>\n<RetailTransaction>\n</Transaction>\n</POSLog>")
            .unwrap_err();
    match &err {
        PosLogError::Xml { line, path, .. } => {
            assert_eq!(*line, 4);
            assert_eq!(path, "/POSLog/Transaction/RetailTransaction");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("POSLog line 4, in /POSLog/Transaction/RetailTransaction: malformed XML"),
        "{err}"
    );

    let err = parse_poslog(b"<POSLog>\n<Transaction>\n").unwrap_err();
    assert!(
        matches!(&err, PosLogError::Xml { path, .. } if path == "/POSLog/Transaction"),
        "{err:?}"
    );
    let err = parse_poslog(b"<POSLog></POSLog>\n<POSLog></POSLog>").unwrap_err();
    assert!(
        matches!(&err, PosLogError::Xml { line: 2, message, .. } if message.contains("root")),
        "{err:?}"
    );
    let err = parse_poslog(b"<POSLog></POSLog>junk").unwrap_err();
    assert!(
        matches!(&err, PosLogError::Xml { message, .. } if message.contains("outside")),
        "{err:?}"
    );
    assert_eq!(
        parse_poslog(b"<?xml version='1.0'?>\n<Receipt/>").unwrap_err(),
        PosLogError::Root {
            line: 2,
            found: "Receipt".into()
        }
    );
    assert_eq!(parse_poslog(b"").unwrap_err(), PosLogError::Empty);
    assert_eq!(
        parse_poslog(b"<!-- nothing -->").unwrap_err(),
        PosLogError::Empty
    );
    let deep = format!("<POSLog>{}", "<a>".repeat(200));
    assert!(matches!(
        parse_poslog(deep.as_bytes()).unwrap_err(),
        PosLogError::TooDeep { max: 128, .. }
    ));
    for bad in [
        &b"<POSLog><Transaction a='1' a='2'/></POSLog>"[..],
        b"<POSLog>&#xD800;</POSLog>",
        b"<POSLog><Description>\xff\xfe</Description></POSLog>",
        b"<POSLog><Transaction",
        b"<POSLog attr=novalue></POSLog>",
    ] {
        let err = parse_poslog(bad).unwrap_err();
        assert!(matches!(err, PosLogError::Xml { .. }), "{bad:?}: {err:?}");
    }
}

#[test]
fn entities_are_resolved_or_kept() {
    let xml = b"<POSLog><Transaction><RetailTransaction><LineItem><Sale>\
        <Description>A&lt;B&gt;&quot;C&apos; &#233;&#x20AC; &nbsp;</Description>\
        <ExtendedAmount>1</ExtendedAmount></Sale></LineItem>\
        <Total TotalType=\"Transaction&#x47;randAmount\">1</Total></RetailTransaction></Transaction></POSLog>";
    let txs = parse_poslog(xml).unwrap();
    assert_eq!(txs[0].items[0].description, "A<B>\"C' é€ &nbsp;");
    assert_eq!(txs[0].total_minor, 100);
}

#[test]
fn never_panics_on_mutated_documents() {
    const ALPHABET: &[u8] = b"<>/=\"'&;#x:! ?[]-abcTransactionLineItemSaleReturnTotal0123456789.";
    let seeds = [SALE, RETURN, MULTI, VENDOR_EXT, MISSING_TOTAL];
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    for round in 0..1500 {
        let input = rng.mutate(seeds[round % seeds.len()], ALPHABET);
        match parse_poslog(&input) {
            Ok(txs) => {
                for tx in txs {
                    if tx.error.is_empty() {
                        assert_eq!(tx.raw_text, "");
                        if kind(&tx) == TransactionKind::Return {
                            assert!(tx.total_minor >= 0);
                        }
                    } else {
                        assert!(tx.error.starts_with("POSLog Transaction at line "));
                        assert!(!tx.raw_text.is_empty());
                        assert!(tx.items.is_empty());
                        assert_eq!(tx.total_minor, 0);
                    }
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}
