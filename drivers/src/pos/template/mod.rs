//! Receipt templates: per-vendor regular expressions that read a printed receipt's text into a
//! [`PosTransaction`](store_proto::v1::PosTransaction).
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

mod parse;
#[cfg(test)]
mod tests;

pub use parse::{parse_receipt, parse_text};

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use super::amount::DecimalSeparator;

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
    ("generic", include_str!("../templates/generic.toml")),
    ("de_comma", include_str!("../templates/de_comma.toml")),
    ("gtin", include_str!("../templates/gtin.toml")),
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
