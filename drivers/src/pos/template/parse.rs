//! Reading one receipt's text with a compiled [`Template`]: the header fields, the kind, the
//! item lines and the total, under the rules of the [module overview](super). A receipt that
//! does not fit is kept raw with the reason.

use regex::{Captures, Regex};
use store_proto::v1::{LineItem, PosTransaction, TransactionKind};

use super::{is_currency_code, Template};
use crate::pos::amount;
use crate::pos::escpos::Receipt;
use crate::scanner::gs1::gtin;

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
