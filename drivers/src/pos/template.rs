//! Receipt templates: per-vendor regular expressions that read a printed receipt's text into a
//! [`PosTransaction`].
//!
//! A template is a TOML file ([`TemplateConfig`] lists every key; `src/pos/templates/` holds
//! examples, each parsed by a test). Patterns use the syntax of the `regex` crate with named
//! groups, and are compiled with multi-line mode on: `^` and `$` match at the start and end of
//! every line; `.` does not match a newline, so a pattern stays on one line unless it says `\n`.
//!
//! How a receipt is read ([`parse_receipt`], [`parse_text`]):
//! 1. CR LF and lone CR become LF.
//! 2. `void_marker` matching anywhere makes it a VOID, else `return_marker` a RETURN, else a
//!    SALE.
//! 3. `receipt_id`, `register_id`, `operator_id`: the first match of each pattern, its group of
//!    the same name, trimmed. Missing ones are left empty.
//! 4. `total`: the first match; group `total` is the grand total. The currency is the `total`
//!    pattern's optional `currency` group, else the `currency` pattern's, else
//!    `default_currency`; a printed one must be a three-letter ISO 4217 code (upper-cased).
//! 5. Line items are searched between the end of the first `items_start` match (or the start of
//!    the text) and the start of the first `items_end` match after it (or of the `total` match).
//!    Each of the `items` patterns may match there many times; at each point the earliest match
//!    of any pattern is taken (the first pattern on a tie) and the search goes on after it, so a
//!    pattern may span several lines. Groups: `amount` (extended amount, required),
//!    `description`, `quantity` (default 1), `unit_price` (default: amount ÷ quantity, rounded),
//!    `gtin` (kept, normalised to 14 digits, when its check digit is right; otherwise kept as
//!    `item_id` if that is empty), `item_id`. Text in the region that no pattern matches is
//!    ignored.
//! 6. Numbers follow [`super::amount`]: `decimal_separator` and `minor_digits` decide how
//!    `3,98`, `1.234,56` or `3.98-` (trailing minus) read.
//! 7. With `check_total` (the default), the items must add up to the total (on a RETURN, to the
//!    total or its negation: refunds print their signs variously): an item line that the
//!    template misses would otherwise go unnoticed.
//! 8. On a RETURN, the refund's minus is not repeated in the numbers: the total is stored
//!    positive, and the line amounts change sign when they add up to a negative amount, so the
//!    returned lines are positive while a line against the refund (a coupon given back) stays
//!    negative. Quantities take the sign of their line's amount, unit prices are magnitudes.
//!
//! A receipt that does not fit (no total, an amount that does not parse, items that do not add
//! up, a bad currency) is kept: `raw_text` holds its text and `error` says why; such an event
//! has no items and a zero total, while the header fields found are kept.

use regex::{Captures, Regex, RegexBuilder};
use serde::Deserialize;
use store_proto::v1::{LineItem, PosTransaction, TransactionKind};

use super::amount::{self, DecimalSeparator};
use super::escpos::Receipt;
use crate::scanner::gs1::gtin;

/// A receipt template as written in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// Name of the template, shown in errors and logs.
    pub name: String,
    /// Pattern with a group `receipt_id`: the receipt (transaction) number.
    #[serde(default)]
    pub receipt_id: Option<String>,
    /// Pattern with a group `register_id`: the till or workstation number.
    #[serde(default)]
    pub register_id: Option<String>,
    /// Pattern with a group `operator_id`: the cashier.
    #[serde(default)]
    pub operator_id: Option<String>,
    /// Patterns for line items, tried together (see the module documentation). Each needs a
    /// group `amount`; `description`, `quantity`, `unit_price`, `gtin` and `item_id` are
    /// optional.
    pub items: Vec<String>,
    /// Pattern with a group `total` (and optionally `currency`): the grand total line.
    pub total: String,
    /// Pattern with a group `currency`, when the currency is printed apart from the total.
    #[serde(default)]
    pub currency: Option<String>,
    /// ISO 4217 code used when the receipt does not print one; empty for none.
    #[serde(default = "default_currency")]
    pub default_currency: String,
    /// Pattern marking where line items start (items are searched after its first match).
    #[serde(default)]
    pub items_start: Option<String>,
    /// Pattern marking where line items end (default: where the total is).
    #[serde(default)]
    pub items_end: Option<String>,
    /// Pattern that, found anywhere, makes the receipt a return (refund).
    #[serde(default)]
    pub return_marker: Option<String>,
    /// Pattern that, found anywhere, makes the receipt a void (cancelled transaction).
    #[serde(default)]
    pub void_marker: Option<String>,
    /// Decimal separator of amounts and quantities: `auto`, `point` or `comma`.
    #[serde(default = "default_decimal_separator")]
    pub decimal_separator: DecimalSeparator,
    /// Decimals of the currency's minor unit: 2 for EUR or USD, 0 for JPY.
    #[serde(default = "default_minor_digits")]
    pub minor_digits: u8,
    /// Require the line items to add up to the total. Turn off only for layouts with lines the
    /// template cannot capture (such as discounts printed without an amount column).
    #[serde(default = "default_check_total")]
    pub check_total: bool,
}

fn default_currency() -> String {
    String::new()
}

fn default_decimal_separator() -> DecimalSeparator {
    DecimalSeparator::Auto
}

fn default_minor_digits() -> u8 {
    2
}

fn default_check_total() -> bool {
    true
}

/// A template that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template is not valid TOML: {0}")]
    Toml(String),
    #[error("template {template}: pattern `{field}` does not compile: {message}")]
    Regex {
        template: String,
        field: String,
        message: String,
    },
    #[error("template {template}: pattern `{field}` needs a named group `{group}`")]
    MissingGroup {
        template: String,
        field: String,
        group: &'static str,
    },
    #[error("template {template}: `items` needs at least one pattern")]
    NoItems { template: String },
    #[error(
        "template {template}: `default_currency` {currency:?} is not a three-letter ISO 4217 code"
    )]
    Currency { template: String, currency: String },
    #[error("template {template}: `minor_digits` must be at most 4, not {digits}")]
    MinorDigits { template: String, digits: u8 },
}

/// A compiled receipt template. Deserializes from the same TOML as [`TemplateConfig`].
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "TemplateConfig")]
pub struct Template {
    name: String,
    receipt_id: Option<Regex>,
    register_id: Option<Regex>,
    operator_id: Option<Regex>,
    items: Vec<Regex>,
    total: Regex,
    currency: Option<Regex>,
    default_currency: String,
    items_start: Option<Regex>,
    items_end: Option<Regex>,
    return_marker: Option<Regex>,
    void_marker: Option<Regex>,
    decimal_separator: DecimalSeparator,
    minor_digits: u8,
    check_total: bool,
}

impl TryFrom<TemplateConfig> for Template {
    type Error = TemplateError;

    fn try_from(config: TemplateConfig) -> Result<Self, Self::Error> {
        Template::new(config)
    }
}

impl Template {
    /// Compiles and checks a template.
    pub fn new(config: TemplateConfig) -> Result<Template, TemplateError> {
        let name = config.name.clone();
        let compile = |field: &str, pattern: &str, groups: &[&'static str]| {
            let re = RegexBuilder::new(pattern)
                .multi_line(true)
                .build()
                .map_err(|e| TemplateError::Regex {
                    template: name.clone(),
                    field: field.to_string(),
                    message: e.to_string(),
                })?;
            for &group in groups {
                if !re.capture_names().any(|n| n == Some(group)) {
                    return Err(TemplateError::MissingGroup {
                        template: name.clone(),
                        field: field.to_string(),
                        group,
                    });
                }
            }
            Ok(re)
        };
        let optional = |field: &str, pattern: &Option<String>, groups: &[&'static str]| {
            pattern
                .as_deref()
                .map(|p| compile(field, p, groups))
                .transpose()
        };
        if config.items.is_empty() {
            return Err(TemplateError::NoItems { template: name });
        }
        let items = config
            .items
            .iter()
            .enumerate()
            .map(|(i, p)| compile(&format!("items[{i}]"), p, &["amount"]))
            .collect::<Result<Vec<_>, _>>()?;
        let default_currency = config.default_currency.trim().to_ascii_uppercase();
        if !default_currency.is_empty() && !is_currency_code(&default_currency) {
            return Err(TemplateError::Currency {
                template: name,
                currency: config.default_currency,
            });
        }
        if config.minor_digits > 4 {
            return Err(TemplateError::MinorDigits {
                template: name,
                digits: config.minor_digits,
            });
        }
        Ok(Template {
            receipt_id: optional("receipt_id", &config.receipt_id, &["receipt_id"])?,
            register_id: optional("register_id", &config.register_id, &["register_id"])?,
            operator_id: optional("operator_id", &config.operator_id, &["operator_id"])?,
            items,
            total: compile("total", &config.total, &["total"])?,
            currency: optional("currency", &config.currency, &["currency"])?,
            default_currency,
            items_start: optional("items_start", &config.items_start, &[])?,
            items_end: optional("items_end", &config.items_end, &[])?,
            return_marker: optional("return_marker", &config.return_marker, &[])?,
            void_marker: optional("void_marker", &config.void_marker, &[])?,
            decimal_separator: config.decimal_separator,
            minor_digits: config.minor_digits,
            check_total: config.check_total,
            name: config.name,
        })
    }

    /// Reads and compiles a template from TOML text.
    pub fn from_toml(text: &str) -> Result<Template, TemplateError> {
        let config: TemplateConfig =
            toml::from_str(text).map_err(|e| TemplateError::Toml(e.to_string()))?;
        Template::new(config)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Templates shipped with the drivers (`src/pos/templates/`), by name: a driver's `template`
/// setting may name one of these instead of a file.
pub const BUILTIN: &[(&str, &str)] = &[
    ("generic", include_str!("templates/generic.toml")),
    ("de_comma", include_str!("templates/de_comma.toml")),
    ("gtin", include_str!("templates/gtin.toml")),
];

/// The TOML text of a built-in template.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Reads a decoded ESC/POS receipt with a template.
pub fn parse_receipt(template: &Template, receipt: &Receipt) -> PosTransaction {
    parse_text(template, &receipt.text)
}

/// Reads receipt text with a template (for feeds that deliver text rather than ESC/POS).
pub fn parse_text(template: &Template, text: &str) -> PosTransaction {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let kind = if matches(&template.void_marker, &text) {
        TransactionKind::Void
    } else if matches(&template.return_marker, &text) {
        TransactionKind::Return
    } else {
        TransactionKind::Sale
    };
    let mut tx = PosTransaction {
        register_id: field(&template.register_id, &text, "register_id"),
        receipt_id: field(&template.receipt_id, &text, "receipt_id"),
        kind: kind as i32,
        operator_id: field(&template.operator_id, &text, "operator_id"),
        ..Default::default()
    };
    match read_body(template, &text, kind) {
        Ok(body) => {
            tx.currency = body.currency;
            tx.total_minor = body.total_minor;
            tx.items = body.items;
        }
        Err(Failure { error, currency }) => {
            tx.currency = currency;
            tx.raw_text = text;
            tx.error = format!("template {}: {error}", template.name);
        }
    }
    tx
}

fn matches(re: &Option<Regex>, text: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(text))
}

fn field(re: &Option<Regex>, text: &str, group: &str) -> String {
    re.as_ref()
        .and_then(|re| re.captures(text))
        .and_then(|c| c.name(group))
        .map(|m| m.as_str().trim().to_string())
        .unwrap_or_default()
}

struct Body {
    currency: String,
    total_minor: i64,
    items: Vec<LineItem>,
}

struct Failure {
    error: String,
    /// The currency when it was found before the failure (kept on the error event).
    currency: String,
}

fn read_body(template: &Template, text: &str, kind: TransactionKind) -> Result<Body, Failure> {
    let fail = |error: String| Failure {
        error,
        currency: String::new(),
    };
    let total_caps = template
        .total
        .captures(text)
        .ok_or_else(|| fail("no line matches the `total` pattern".to_string()))?;
    let total_match = total_caps.get(0).map_or(0..0, |m| m.range());
    let printed_currency = total_caps
        .name("currency")
        .or_else(|| {
            template
                .currency
                .as_ref()
                .and_then(|re| re.captures(text))
                .and_then(|c| c.name("currency"))
        })
        .map(|m| m.as_str().trim().to_ascii_uppercase());
    let currency = match printed_currency {
        Some(c) if is_currency_code(&c) => c,
        Some(c) => return Err(fail(format!("currency {c:?} is not an ISO 4217 code"))),
        None => template.default_currency.clone(),
    };
    let fail = |error: String| Failure {
        error,
        currency: currency.clone(),
    };
    let total_text = total_caps.name("total").map_or("", |m| m.as_str());
    let total = amount::parse_minor(
        total_text,
        template.decimal_separator,
        template.minor_digits,
    )
    .map_err(|e| fail(format!("total: {e}")))?;

    let start = match &template.items_start {
        Some(re) => re
            .find(text)
            .map(|m| m.end())
            .ok_or_else(|| fail("no line matches the `items_start` pattern".to_string()))?,
        None => 0,
    };
    let end = match &template.items_end {
        Some(re) => re
            .find_at(text, start)
            .map(|m| m.start())
            .ok_or_else(|| fail("no line matches the `items_end` pattern".to_string()))?,
        None => total_match.start,
    };
    let mut items = Vec::new();
    let mut sum: i64 = 0;
    for caps in item_matches(&template.items, text, start, end) {
        let line = 1 + text[..caps.get(0).map_or(0, |m| m.start())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count();
        let item =
            read_item(template, &caps).map_err(|e| fail(format!("item on line {line}: {e}")))?;
        sum = sum.saturating_add(item.extended_minor);
        items.push(item);
    }
    // A refund may print its lines and its total with different signs.
    let adds_up =
        sum == total || (kind == TransactionKind::Return && Some(sum) == total.checked_neg());
    if template.check_total && !adds_up {
        let digits = template.minor_digits;
        return Err(fail(format!(
            "{} items add up to {}, the total says {}",
            items.len(),
            amount::format_minor(sum, digits),
            amount::format_minor(total, digits)
        )));
    }
    let mut total_minor = total;
    if kind == TransactionKind::Return {
        // The refund's minus is not repeated in the numbers: the total and the lines are turned
        // positive; a line against the refund (a coupon given back) stays negative.
        let first_sign = items
            .iter()
            .map(|i| i.extended_minor.signum())
            .find(|&s| s != 0)
            .unwrap_or(1);
        let sign = if sum < 0 || (sum == 0 && first_sign < 0) {
            -1
        } else {
            1
        };
        total_minor = total.saturating_abs();
        for item in &mut items {
            item.extended_minor = item.extended_minor.saturating_mul(sign);
            item.unit_price_minor = item.unit_price_minor.saturating_abs();
            item.quantity = if item.extended_minor < 0 {
                -item.quantity.abs()
            } else {
                item.quantity.abs()
            };
        }
    }
    Ok(Body {
        currency,
        total_minor,
        items,
    })
}

/// The item matches in `text[start..end]`: at each point the earliest match of any pattern.
fn item_matches<'t>(
    patterns: &[Regex],
    text: &'t str,
    start: usize,
    end: usize,
) -> Vec<Captures<'t>> {
    let region = text.get(..end.max(start)).unwrap_or(text);
    let mut found = Vec::new();
    let mut at = start;
    while at < region.len() {
        let best = patterns
            .iter()
            .filter_map(|re| re.captures_at(region, at))
            .min_by_key(|c| c.get(0).map_or(usize::MAX, |m| m.start()));
        let Some(caps) = best else { break };
        let whole = caps.get(0).map_or(at..at, |m| m.range());
        if whole.is_empty() {
            // An empty match reads nothing: step over one character and look again.
            at = region[whole.start..]
                .chars()
                .next()
                .map_or(region.len(), |c| whole.start + c.len_utf8());
            continue;
        }
        at = whole.end;
        found.push(caps);
    }
    found
}

fn read_item(template: &Template, caps: &Captures<'_>) -> Result<LineItem, String> {
    let group = |name: &str| caps.name(name).map(|m| m.as_str().trim());
    let sep = template.decimal_separator;
    let digits = template.minor_digits;
    let extended = amount::parse_minor(group("amount").unwrap_or(""), sep, digits)
        .map_err(|e| format!("amount: {e}"))?;
    let quantity = match group("quantity") {
        Some(q) => amount::parse_quantity(q, sep).map_err(|e| format!("quantity: {e}"))?,
        None => 1.0,
    };
    let unit_price = match group("unit_price") {
        Some(p) => amount::parse_minor(p, sep, digits).map_err(|e| format!("unit price: {e}"))?,
        None if quantity == 1.0 || quantity == 0.0 => extended,
        None => {
            let unit = (extended as f64 / quantity).round();
            if unit.is_finite() && unit.abs() < i64::MAX as f64 {
                unit as i64
            } else {
                return Err(format!("no unit price and quantity {quantity}"));
            }
        }
    };
    let mut item_id = group("item_id").unwrap_or("").to_string();
    let mut gtin14 = String::new();
    if let Some(code) = group("gtin").filter(|c| !c.is_empty()) {
        match gtin::to_gtin14("GTIN", code) {
            Ok(g) => gtin14 = g,
            Err(_) if item_id.is_empty() => item_id = code.to_string(),
            Err(_) => {}
        }
    }
    Ok(LineItem {
        gtin: gtin14,
        item_id,
        description: group("description").unwrap_or("").to_string(),
        quantity,
        unit_price_minor: unit_price,
        extended_minor: extended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pos::escpos::EscPosDecoder;
    use crate::pos::fuzz::XorShift;

    const GENERIC: &str = include_str!("templates/generic.toml");
    const DE_COMMA: &str = include_str!("templates/de_comma.toml");

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
                let t = Template::from_toml(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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
        let bytes = include_bytes!("../../tests/fixtures/pos/escpos/sale_cut.bin");
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
        let bytes = include_bytes!("../../tests/fixtures/pos/escpos/two_receipts_qr.bin");
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
        let text =
            "Rückgabe\nBon-Nr. 4712\nMilch 1,5%      1,19- A\n---------\nSUMME EUR   1,19-\n";
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
            Template::from_toml(
                "name = \"t\"\nitems = ['(?P<price>\\d+)']\ntotal = '(?P<total>\\d+)'"
            ),
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
            let bytes = include_bytes!("../../tests/fixtures/pos/escpos/sale_cut.bin");
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
}
