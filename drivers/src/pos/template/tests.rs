use store_proto::v1::{LineItem, TransactionKind};

use super::*;
use crate::pos::escpos::EscPosDecoder;
use crate::pos::fuzz::XorShift;

const GENERIC: &str = include_str!("../templates/generic.toml");
const DE_COMMA: &str = include_str!("../templates/de_comma.toml");

fn generic() -> Template {
    Template::from_toml(GENERIC).unwrap()
}

fn de_comma() -> Template {
    Template::from_toml(DE_COMMA).unwrap()
}

fn item(description: &str, quantity: f64, unit: i64, extended: i64) -> LineItem {
    LineItem {
        description: description.to_string(),
        quantity,
        unit_price_minor: unit,
        extended_minor: extended,
        ..Default::default()
    }
}

#[test]
fn every_shipped_template_compiles() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/pos/templates");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let t =
                Template::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                Some(t.name()),
                path.file_stem().and_then(|s| s.to_str()),
                "a template's name is its file name"
            );
            seen += 1;
        }
    }
    assert!(seen >= 2);
}

#[test]
fn reads_a_python_escpos_receipt_end_to_end() {
    let bytes = include_bytes!("../../../tests/fixtures/pos/escpos/sale_cut.bin");
    let receipts = EscPosDecoder::default().push(bytes);
    let tx = parse_receipt(&generic(), &receipts[0]);
    assert_eq!(tx.error, "");
    assert_eq!(tx.raw_text, "");
    assert_eq!(tx.receipt_id, "1001");
    assert_eq!(tx.register_id, "3");
    assert_eq!(tx.operator_id, "42");
    assert_eq!(tx.kind, TransactionKind::Sale as i32);
    assert_eq!(tx.currency, "EUR");
    assert_eq!(tx.total_minor, 647);
    assert_eq!(
        tx.items,
        [item("Milk 1L", 2.0, 199, 398), item("Bread", 1.0, 249, 249)]
    );
}

#[test]
fn generic_reads_decimal_commas_and_amount_only_lines() {
    let bytes = include_bytes!("../../../tests/fixtures/pos/escpos/two_receipts_qr.bin");
    let receipts = EscPosDecoder::default().push(bytes);
    let first = parse_receipt(&generic(), &receipts[0]);
    assert_eq!(first.error, "");
    assert_eq!(first.items, [item("Café crème", 1.0, 250, 250)]);
    assert_eq!(first.total_minor, 250);
    assert_eq!(first.currency, "");
    let second = parse_receipt(&generic(), &receipts[1]);
    assert_eq!(second.receipt_id, "1003");
    assert_eq!(second.items, [item("Tee", 1.0, 100, 100)]);
    let tx = parse_text(
        &generic(),
        "Ticket # A-17\r\nCoffee      2.40\r\nDeposit     0.25\r\nCoupon      0.50-\r\nSUBTOTAL    2.15\r\nTotal: 2.15\r\n",
    );
    assert_eq!(tx.error, "");
    assert_eq!(tx.receipt_id, "A-17");
    assert_eq!(
        tx.items,
        [
            item("Coffee", 1.0, 240, 240),
            item("Deposit", 1.0, 25, 25),
            item("Coupon", 1.0, -50, -50)
        ]
    );
    assert_eq!(tx.total_minor, 215);
}

const DE_SALE: &str = "\
Bon-Nr. 4711        Kasse 2
Bediener: 17
Milch 1,5%                  2,38 A
  2 x 1,19
Bananen                     2,24 A
  0,750 kg x 2,99 EUR/kg
Pfand                       0,25 A
--------------------------------
SUMME EUR                   4,87
Bar                        10,00
";

#[test]
fn de_comma_reads_multi_line_items_and_weights() {
    let tx = parse_text(&de_comma(), DE_SALE);
    assert_eq!(tx.error, "");
    assert_eq!(
        (
            tx.receipt_id.as_str(),
            tx.register_id.as_str(),
            tx.operator_id.as_str()
        ),
        ("4711", "2", "17")
    );
    assert_eq!(tx.kind, TransactionKind::Sale as i32);
    assert_eq!(tx.currency, "EUR");
    assert_eq!(tx.total_minor, 487);
    assert_eq!(
        tx.items,
        [
            item("Milch 1,5%", 2.0, 119, 238),
            item("Bananen", 0.75, 299, 224),
            item("Pfand", 1.0, 25, 25)
        ]
    );
}

#[test]
fn returns_are_stored_positive_and_voids_are_marked() {
    let text = "Rückgabe\nBon-Nr. 4712\nMilch 1,5%      1,19- A\n---------\nSUMME EUR   1,19-\n";
    let tx = parse_text(&de_comma(), text);
    assert_eq!(tx.error, "");
    assert_eq!(tx.kind, TransactionKind::Return as i32);
    assert_eq!(tx.total_minor, 119);
    assert_eq!(tx.items, [item("Milch 1,5%", 1.0, 119, 119)]);
    let text = "*** Storno-Bon ***\nBon-Nr. 4713\nBrot      2,49 A\n------\nSUMME   2,49\n";
    let tx = parse_text(&de_comma(), text);
    assert_eq!(tx.error, "");
    assert_eq!(tx.kind, TransactionKind::Void as i32);
    assert_eq!(tx.total_minor, 249);
    let tx = parse_text(&generic(), "REFUND\nMilk   2 x 1.99   3.98\nTOTAL -3.98\n");
    assert_eq!(tx.error, "");
    assert_eq!(tx.kind, TransactionKind::Return as i32);
    assert_eq!(tx.items, [item("Milk", 2.0, 199, 398)]);
    assert_eq!(tx.total_minor, 398);
    // Negative lines, a coupon given back against the refund, a trailing minus.
    let text = "RETURN\nMilk   2 x 1.99   3.98-\nCoupon   0.50\nTOTAL 3.48-\n";
    let tx = parse_text(&generic(), text);
    assert_eq!(tx.error, "");
    assert_eq!(
        tx.items,
        [item("Milk", 2.0, 199, 398), item("Coupon", -1.0, 50, -50)]
    );
    assert_eq!(tx.total_minor, 348);
}

#[test]
fn receipts_that_do_not_fit_are_kept_with_the_reason() {
    let cases = [
        (
            "Receipt: 9\nMilk   1.99\n",
            "no line matches the `total` pattern",
        ),
        (
            "Milk   1.9.9\nTOTAL 1.99\n",
            "item on line 1: amount: `1.9.9` is not a number",
        ),
        (
            "Milk   1.99\nTOTAL 1.9.9\n",
            "total: `1.9.9` is not a number",
        ),
        (
            "Milk   1.99\nBread  2.00\nTOTAL 1.99\n",
            "2 items add up to 3.99, the total says 1.99",
        ),
    ];
    for (text, why) in cases {
        let tx = parse_text(&generic(), text);
        assert_eq!(tx.error, format!("template generic: {why}"), "{text:?}");
        assert_eq!(tx.raw_text, text);
        assert!(tx.items.is_empty());
        assert_eq!(tx.total_minor, 0);
    }
    // Header fields found are kept on the error event.
    let tx = parse_text(&generic(), "Receipt: 9\nCashier: 4\nMilk   1.99\n");
    assert_eq!(
        (tx.receipt_id.as_str(), tx.operator_id.as_str()),
        ("9", "4")
    );
    // A printed currency that is no ISO code.
    let t = Template::from_toml(
        "name = \"c\"\nitems = ['^(?P<description>\\S+)\\s+(?P<amount>\\S+)$']\n\
         total = '^TOTAL (?P<currency>\\S+) (?P<total>\\S+)$'\nitems_end = '^TOTAL'",
    )
    .unwrap();
    let tx = parse_text(&t, "Milk 1.99\nTOTAL € 1.99\n");
    assert_eq!(
        tx.error,
        "template c: currency \"€\" is not an ISO 4217 code"
    );
    let tx = parse_text(&t, "Milk 1.99\nTOTAL usd 1.99\n");
    assert_eq!((tx.error.as_str(), tx.currency.as_str()), ("", "USD"));
}

#[test]
fn gtins_are_checked_and_normalised() {
    let t = Template::from_toml(
        "name = \"g\"\nitems = ['^(?P<gtin>\\d+) (?P<description>.+?) (?P<amount>\\S+)$']\n\
         total = '^TOTAL (?P<total>\\S+)$'\ndefault_currency = \"eur\"",
    )
    .unwrap();
    let tx = parse_text(
        &t,
        "4006381333931 Pen 1.00\n4006381333932 Ink 2.00\nTOTAL 3.00\n",
    );
    assert_eq!(tx.error, "");
    assert_eq!(tx.currency, "EUR");
    assert_eq!(tx.items[0].gtin, "04006381333931");
    assert_eq!(tx.items[0].item_id, "");
    assert_eq!(tx.items[1].gtin, "");
    assert_eq!(tx.items[1].item_id, "4006381333932");
}

#[test]
fn gtin_template_books_lines_by_gtin() {
    let t = Template::from_toml(builtin("gtin").unwrap()).unwrap();
    let text = "DEMO MARKET\nReceipt: 1001\nRegister: 1\nCashier: 7\n\
                4006381333931 Ballpoint pens     2 x 2.50     5.00\n\
                5449000000996 Mineral water                   0.89\n\
                4006381333932 Misprinted ink     1 x 1.00     1.00\n\
                Carrier bag                                   0.10\n\
                TOTAL EUR                                     6.99\n";
    let tx = parse_text(&t, text);
    assert_eq!(tx.error, "");
    assert_eq!(
        (
            tx.receipt_id.as_str(),
            tx.register_id.as_str(),
            tx.operator_id.as_str()
        ),
        ("1001", "1", "7")
    );
    assert_eq!((tx.total_minor, tx.currency.as_str()), (699, "EUR"));
    let lines: Vec<(&str, &str, &str, f64, i64)> = tx
        .items
        .iter()
        .map(|i| {
            let (g, id, d) = (i.gtin.as_str(), i.item_id.as_str(), i.description.as_str());
            (g, id, d, i.quantity, i.extended_minor)
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("04006381333931", "", "Ballpoint pens", 2.0, 500),
            ("05449000000996", "", "Mineral water", 1.0, 89),
            // A wrong check digit is no GTIN: kept as the till's article number.
            ("", "4006381333932", "Misprinted ink", 1.0, 100),
            ("", "", "Carrier bag", 1.0, 10),
        ]
    );
    let refund = "RETURN\nReceipt: R7\n4006381333955 Phone charger   1 x 19.99   -19.99\n\
                  TOTAL EUR -19.99\n";
    let tx = parse_text(&t, refund);
    assert_eq!(tx.error, "");
    assert_eq!(tx.kind, TransactionKind::Return as i32);
    assert_eq!(tx.items[0].gtin, "04006381333955");
    assert_eq!((tx.items[0].quantity, tx.total_minor), (1.0, 1999));
}

#[test]
fn unit_price_defaults_from_amount_and_quantity() {
    let t = Template::from_toml(
        "name = \"q\"\nitems = ['^(?P<quantity>\\S+) (?P<description>\\S+) (?P<amount>\\S+)$']\n\
         total = '^TOTAL (?P<total>\\S+)$'\ncheck_total = false",
    )
    .unwrap();
    let tx = parse_text(&t, "3 Egg 1.00\nTOTAL 5.00\n");
    assert_eq!(tx.error, "");
    assert_eq!(tx.items, [item("Egg", 3.0, 33, 100)]);
    assert_eq!(tx.total_minor, 500);
}

#[test]
fn region_markers_must_be_found() {
    let t = Template::from_toml(
        "name = \"r\"\nitems = ['^(?P<description>\\S+) +(?P<amount>\\S+)$']\n\
         total = '^TOTAL (?P<total>\\S+)$'\nitems_start = '^-- items --$'\nitems_end = '^-- end --$'",
    )
    .unwrap();
    let tx = parse_text(&t, "Shop 1\n-- items --\nPen 1.00\n-- end --\nTOTAL 1.00\n");
    assert_eq!(tx.error, "");
    assert_eq!(tx.items, [item("Pen", 1.0, 100, 100)]);
    let tx = parse_text(&t, "Pen 1.00\n-- end --\nTOTAL 1.00\n");
    assert_eq!(
        tx.error,
        "template r: no line matches the `items_start` pattern"
    );
    let tx = parse_text(&t, "-- items --\nPen 1.00\nTOTAL 1.00\n");
    assert_eq!(
        tx.error,
        "template r: no line matches the `items_end` pattern"
    );
}

#[test]
fn bad_templates_are_refused_with_the_reason() {
    let base = "name = \"t\"\nitems = ['(?P<amount>\\d+)']\ntotal = '(?P<total>\\d+)'\n";
    assert!(Template::from_toml(base).is_ok());
    let err = |extra: &str| Template::from_toml(&format!("{base}{extra}")).unwrap_err();
    assert!(matches!(err("colour = \"red\""), TemplateError::Toml(m) if m.contains("colour")));
    assert_eq!(
        err("receipt_id = '(?P<id>\\d+)'"),
        TemplateError::MissingGroup {
            template: "t".into(),
            field: "receipt_id".into(),
            group: "receipt_id"
        }
    );
    assert!(
        matches!(err("void_marker = '(unclosed'"), TemplateError::Regex { field, .. } if field == "void_marker")
    );
    assert!(matches!(
        err("default_currency = \"EURO\""),
        TemplateError::Currency { .. }
    ));
    assert!(matches!(
        err("minor_digits = 5"),
        TemplateError::MinorDigits { digits: 5, .. }
    ));
    assert!(matches!(
        Template::from_toml("name = \"t\"\nitems = []\ntotal = '(?P<total>\\d+)'"),
        Err(TemplateError::NoItems { .. })
    ));
    assert!(matches!(
        Template::from_toml("name = \"t\"\nitems = ['(?P<price>\\d+)']\ntotal = '(?P<total>\\d+)'"),
        Err(TemplateError::MissingGroup {
            group: "amount",
            ..
        })
    ));
    // A template embeds in a driver config as plain TOML.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Config {
        template: Template,
    }
    let config = format!("[template]\n{GENERIC}");
    assert!(toml::from_str::<Config>(&config).is_ok());
    let config = "[template]\nname = \"t\"\nitems = ['x']\ntotal = '(?P<total>\\d+)'";
    assert!(toml::from_str::<Config>(config)
        .unwrap_err()
        .to_string()
        .contains("amount"));
}

#[test]
fn never_panics_and_keeps_its_rules_on_mutated_receipts() {
    let sale = {
        let bytes = include_bytes!("../../../tests/fixtures/pos/escpos/sale_cut.bin");
        EscPosDecoder::default().push(bytes)[0].text.clone()
    };
    let seeds = [
        (generic(), sale),
        (
            generic(),
            "REFUND\nMilk   2 x 1.99   3.98\nCoupon   0,50-\nTOTAL -3.48\n".to_string(),
        ),
        (de_comma(), DE_SALE.to_string()),
    ];
    const ALPHABET: &[u8] = b"0123456789.,- x\n\r\tTOTALSUMME-AB";
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    for round in 0..2000 {
        let (template, text) = &seeds[round % seeds.len()];
        let mutated = rng.mutate(text.as_bytes(), ALPHABET);
        let text = String::from_utf8_lossy(&mutated);
        let tx = parse_text(template, &text);
        if tx.error.is_empty() {
            assert_eq!(tx.raw_text, "");
            let sum: i64 = tx.items.iter().map(|i| i.extended_minor).sum();
            assert_eq!(sum, tx.total_minor, "{text:?}");
            if tx.kind == TransactionKind::Return as i32 {
                assert!(
                    tx.total_minor >= 0 || tx.total_minor == i64::MIN,
                    "{text:?}"
                );
                for i in &tx.items {
                    assert_eq!(i.quantity < 0.0, i.extended_minor < 0, "{text:?}");
                    assert!(i.unit_price_minor >= 0);
                }
            }
        } else {
            assert!(tx.error.starts_with("template "));
            assert_eq!(tx.raw_text, text.replace("\r\n", "\n").replace('\r', "\n"));
            assert!(tx.items.is_empty());
            assert_eq!(tx.total_minor, 0);
        }
    }
}
