//! What the POSLog walker collects of one transaction ([`Tx`], its [`Line`]s and [`Value`]s,
//! each with its byte offset) and how that becomes a `PosTransaction`: kind, items, amounts in
//! minor units, or the transaction kept raw with the error naming element and line.
//!
//! The walker ([`super`]) only gathers text; every rule about what the text means (voided
//! lines, returns, rounding, the grand total check) is here.

use store_proto::v1::{LineItem, PosTransaction, TransactionKind};

use crate::pos::amount::{self, DecimalSeparator};
use crate::scanner::gs1::gtin;

/// A value read from the document, with where it was.
#[derive(Debug, Clone, Default)]
pub(super) struct Value {
    pub(super) text: String,
    pub(super) at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineKind {
    Sale,
    Return,
}

#[derive(Default)]
pub(super) struct Line {
    pub(super) at: usize,
    pub(super) sequence: String,
    pub(super) kind: Option<LineKind>,
    pub(super) voided: bool,
    pub(super) item_ids: Vec<String>,
    pub(super) description: String,
    pub(super) regular_price: Option<Value>,
    pub(super) actual_price: Option<Value>,
    pub(super) extended: Option<Value>,
    pub(super) quantity: Option<Value>,
}

#[derive(Default)]
pub(super) struct Tx {
    /// Byte offset of the `Transaction` start tag.
    pub(super) at: usize,
    /// Depth of the `Transaction` element in the path.
    pub(super) depth: usize,
    pub(super) workstation: String,
    pub(super) sequence: String,
    pub(super) operator: String,
    pub(super) currency: String,
    pub(super) void: bool,
    pub(super) retail: bool,
    pub(super) lines: Vec<Line>,
    pub(super) line: Option<Line>,
    pub(super) grand_total: Option<Value>,
}

/// The 1-based line of byte offset `at`.
pub(super) fn line_of(input: &[u8], at: usize) -> usize {
    1 + input[..at.min(input.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Turns a finished transaction into its event.
pub(super) fn finish(input: &[u8], tx: Tx, raw: &[u8]) -> PosTransaction {
    let mut event = PosTransaction {
        register_id: tx.workstation.clone(),
        receipt_id: tx.sequence.clone(),
        operator_id: tx.operator.clone(),
        currency: tx.currency.clone(),
        ..Default::default()
    };
    let tx_line = line_of(input, tx.at);
    match read_transaction(input, &tx) {
        Ok((kind, total, items)) => {
            event.kind = kind as i32;
            event.total_minor = total;
            event.items = items;
        }
        Err(error) => {
            event.kind = if tx.void {
                TransactionKind::Void
            } else {
                TransactionKind::Sale
            } as i32;
            event.error = format!("POSLog Transaction at line {tx_line}: {error}");
            event.raw_text = String::from_utf8_lossy(raw).into_owned();
        }
    }
    event
}

fn read_transaction(
    input: &[u8],
    tx: &Tx,
) -> Result<(TransactionKind, i64, Vec<LineItem>), String> {
    let digits = amount::currency_minor_digits(&tx.currency);
    let at_line = |v: &Value| line_of(input, v.at);
    let money = |name: &str, v: &Value, round: bool| {
        let parsed = if round {
            amount::parse_minor_rounded(&v.text, DecimalSeparator::Point, digits)
        } else {
            amount::parse_minor(&v.text, DecimalSeparator::Point, digits)
        };
        parsed.map_err(|e| format!("{name} at line {}: {e}", at_line(v)))
    };
    let lines: Vec<&Line> = tx
        .lines
        .iter()
        .filter(|l| l.kind.is_some() && !l.voided)
        .collect();
    let sales = lines
        .iter()
        .filter(|l| l.kind == Some(LineKind::Sale))
        .count();
    let returns = lines.len() - sales;
    let kind = if tx.void {
        TransactionKind::Void
    } else if returns > 0 && sales == 0 {
        TransactionKind::Return
    } else {
        TransactionKind::Sale
    };
    let total = match &tx.grand_total {
        Some(v) => money("Total[@TotalType=\"TransactionGrandAmount\"]", v, false)?,
        None if kind == TransactionKind::Void => 0,
        None => {
            return Err(
                "RetailTransaction has no Total[@TotalType=\"TransactionGrandAmount\"]".to_string(),
            )
        }
    };
    let mut items = Vec::with_capacity(lines.len());
    for line in lines {
        let where_ = if line.sequence.is_empty() {
            format!("LineItem at line {}", line_of(input, line.at))
        } else {
            format!(
                "LineItem {} at line {}",
                line.sequence,
                line_of(input, line.at)
            )
        };
        let quantity = match &line.quantity {
            Some(v) => amount::parse_quantity(&v.text, DecimalSeparator::Point)
                .map_err(|e| format!("{where_}: Quantity at line {}: {e}", at_line(v)))?,
            None => 1.0,
        };
        let unit = match line.actual_price.as_ref().or(line.regular_price.as_ref()) {
            Some(v) => Some(money("unit price", v, true).map_err(|e| format!("{where_}: {e}"))?),
            None => None,
        };
        let extended = match &line.extended {
            Some(v) => money("ExtendedAmount", v, false).map_err(|e| format!("{where_}: {e}"))?,
            None => {
                let unit =
                    unit.ok_or_else(|| format!("{where_}: no ExtendedAmount and no unit price"))?;
                let value = (unit as f64 * quantity).round();
                if !(value.is_finite() && value.abs() < i64::MAX as f64) {
                    return Err(format!("{where_}: unit price × quantity out of range"));
                }
                value as i64
            }
        };
        let unit = match unit {
            Some(u) => u,
            None if quantity != 0.0 => {
                let value = (extended as f64 / quantity).round();
                if value.is_finite() && value.abs() < i64::MAX as f64 {
                    value as i64
                } else {
                    0
                }
            }
            None => 0,
        };
        let gtin14 = line
            .item_ids
            .iter()
            .find_map(|id| gtin::to_gtin14("GTIN", id).ok())
            .unwrap_or_default();
        let mut item = LineItem {
            gtin: gtin14,
            item_id: line.item_ids.first().cloned().unwrap_or_default(),
            description: line.description.clone(),
            quantity: quantity.abs(),
            unit_price_minor: unit.saturating_abs(),
            extended_minor: extended.saturating_abs(),
        };
        if line.kind == Some(LineKind::Return) && kind != TransactionKind::Return {
            // An exchange: the returned line counts against the sale.
            item.quantity = -item.quantity;
            item.extended_minor = -item.extended_minor;
        } else if line.kind == Some(LineKind::Sale) {
            // A sale line keeps the signs it was written with (price corrections, deposits).
            item.quantity = quantity;
            item.extended_minor = extended;
            item.unit_price_minor = unit;
        }
        items.push(item);
    }
    let total = if kind == TransactionKind::Return {
        total.saturating_abs()
    } else {
        total
    };
    Ok((kind, total, items))
}
