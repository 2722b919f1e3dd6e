//! POS feeds: pure decoders for what point-of-sale systems emit, turned into
//! [`store_proto::v1::PosTransaction`]s.
//!
//! ```text
//! receipt printer stream ──escpos::EscPosDecoder──▶ Receipt (text, raw, barcodes)
//!                            ──template::parse_receipt (per-vendor TOML template)──▶ PosTransaction
//! NRF ARTS POSLog XML ──poslog::parse_poslog──▶ PosTransaction, one per RetailTransaction
//! ```
//!
//! Modules: [`escpos`] the ESC/POS stream parser and its code tables, [`template`] receipt
//! templates (example templates live in `src/pos/templates/`), [`poslog`] the POSLog reader,
//! [`amount`] the decimal rules both share. The drivers built on them: [`tap`] (`escpos_tap`,
//! `escpos_serial_tap`: pass-throughs between tills and receipt printers) and [`poslog_folder`]
//! (`poslog_folder`: a drop folder of POSLog files).
//!
//! Conventions shared by both paths:
//! - Nothing is dropped: input that cannot be read as a transaction still yields a
//!   `PosTransaction` with `raw_text` (the receipt text, or the transaction's XML) and `error`
//!   saying why. Such an event carries no items and a zero total, so nobody applies half a
//!   receipt.
//! - Money is in minor units (`total_minor`, `unit_price_minor`, `extended_minor`).
//! - `kind` carries the direction: on a RETURN the total and the returned lines are positive
//!   (the minus a receipt or POSLog prints for a refund is not repeated in the numbers).
//! - The decoders do no I/O and never panic, whatever the input.

pub mod amount;
pub mod escpos;
pub mod poslog;
pub mod poslog_folder;
pub mod tap;
pub mod template;

#[cfg(test)]
mod fuzz;
