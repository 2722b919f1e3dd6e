//! `[drivers.modes]`: which staff command barcodes a scanner driver understands, and their
//! timeouts. Plain configuration, read by [`super::ModeState`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ScanMode;

/// `[drivers.modes]` of a scanner driver: the staff command barcodes it understands. Every
/// field is optional; the defaults below are all Code 39-printable, so the barcodes can be
/// made with any label printer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeConfig {
    /// Mode barcodes: scanned data → mode. Given in config, the table replaces the defaults
    /// entirely (an empty table turns mode barcodes off). Defaults: `MODE-SALE` sale,
    /// `MODE-COUNT` stock_count, `MODE-RECEIVE` receiving, `MODE-SHRINK` shrink,
    /// `MODE-TRANSFER-OUT` transfer_out, `MODE-TRANSFER-IN` transfer_in.
    #[serde(default = "default_barcodes")]
    pub barcodes: BTreeMap<String, ScanMode>,
    /// After this many seconds without any scan, a switched mode returns to the driver's
    /// default `mode`. 0 keeps a switched mode until another mode barcode is scanned.
    #[serde(default = "default_mode_timeout_secs")]
    pub mode_timeout_secs: u64,
    /// Prefix of quantity barcodes (`QTY12`: the next item counts 12). Empty turns them off.
    #[serde(default = "default_quantity_prefix")]
    pub quantity_prefix: String,
    /// Prefix of staff badge barcodes (`BADGE-1042`: badge id `1042`). Empty turns badges off.
    #[serde(default = "default_badge_prefix")]
    pub badge_prefix: String,
    /// Barcode that makes the next badge scan start a shift. Empty: none.
    #[serde(default = "default_shift_start_barcode")]
    pub shift_start_barcode: String,
    /// Barcode that makes the next badge scan end a shift. Empty: none.
    #[serde(default = "default_shift_end_barcode")]
    pub shift_end_barcode: String,
    /// How long a quantity waits for its item, and a shift barcode for its badge, in seconds;
    /// after that it is dropped (with a warning in the log). 0: they wait forever.
    #[serde(default = "default_pending_timeout_secs")]
    pub pending_timeout_secs: u64,
}

impl Default for ModeConfig {
    fn default() -> Self {
        ModeConfig {
            barcodes: default_barcodes(),
            mode_timeout_secs: default_mode_timeout_secs(),
            quantity_prefix: default_quantity_prefix(),
            badge_prefix: default_badge_prefix(),
            shift_start_barcode: default_shift_start_barcode(),
            shift_end_barcode: default_shift_end_barcode(),
            pending_timeout_secs: default_pending_timeout_secs(),
        }
    }
}

fn default_barcodes() -> BTreeMap<String, ScanMode> {
    [
        ("MODE-SALE", ScanMode::Sale),
        ("MODE-COUNT", ScanMode::StockCount),
        ("MODE-RECEIVE", ScanMode::Receiving),
        ("MODE-SHRINK", ScanMode::Shrink),
        ("MODE-TRANSFER-OUT", ScanMode::TransferOut),
        ("MODE-TRANSFER-IN", ScanMode::TransferIn),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn default_mode_timeout_secs() -> u64 {
    0
}

fn default_quantity_prefix() -> String {
    "QTY".to_owned()
}

fn default_badge_prefix() -> String {
    "BADGE-".to_owned()
}

fn default_shift_start_barcode() -> String {
    "SHIFT-START".to_owned()
}

fn default_shift_end_barcode() -> String {
    "SHIFT-END".to_owned()
}

fn default_pending_timeout_secs() -> u64 {
    30
}
