//! Scan modes for staff: printed command barcodes that change what the next scans mean.
//!
//! Every scanner kind (serial, HID POS, keyboard wedge) passes its decoded scans through one
//! [`ModeState`] before they are recorded. The rules, checked in this order on the scan's data
//! (the text after the AIM id, compared exactly):
//!
//! 1. **Mode barcodes** ([`ModeConfig::barcodes`], e.g. `MODE-COUNT` → stock count) switch the
//!    mode of every following item scan. The switch lasts until another mode barcode is scanned
//!    (the default mode's own barcode switches back), or, when [`ModeConfig::mode_timeout_secs`]
//!    is set, until the scanner has been idle that long: then the mode returns to the driver's
//!    configured default (`mode`, sale for scanners at a till).
//! 2. **Shift barcodes** ([`ModeConfig::shift_start_barcode`], [`ModeConfig::shift_end_barcode`])
//!    say whether the *next* badge scan starts or ends a shift.
//! 3. **Badges**: data starting with [`ModeConfig::badge_prefix`] and something after it is a
//!    staff badge. It is recorded as a scan with mode BADGE, `data` = the badge id (the text
//!    after the prefix; `raw` keeps all bytes) and `shift` = START or END when a shift barcode
//!    came just before, else UNSPECIFIED (the collector toggles on/off duty).
//! 4. **Quantity barcodes**: [`ModeConfig::quantity_prefix`] followed by 1 to 6 digits (value at
//!    least 1, e.g. `QTY12`) set the quantity of the *next item scan only*. An item that carries
//!    its own count (GS1 AI 37 or 30) is multiplied by it: `QTY3` then a case of 12 is 36 units.
//!    A quantity barcode with anything else after the prefix is not a command: it is recorded
//!    as an ordinary scan, so nothing a scanner reads is lost to a misprint.
//! 5. Anything else is an item scan, recorded with the current mode and pending quantity.
//!
//! **What is recorded.** Mode, shift and quantity barcodes are commands, not stock events: they
//! are not recorded as scans (HQ sees their effect in the `mode`, `shift` and `quantity` of the
//! scans that follow) and are logged instead. A quantity or shift action with no item or badge
//! scan after it within [`ModeConfig::pending_timeout_secs`] is dropped with a warning; so is a
//! quantity replaced by another quantity before any item. Badge scans and commands do not use
//! up a pending quantity; decode errors (bytes that formed no scan) touch no state at all.
//!
//! The module is pure: time comes in as an [`Instant`] argument, and what happened comes back
//! as [`Note`]s for the driver to log under its id.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use store_proto::v1::{self, Scan, ShiftAction};

/// What a scan is for; recorded in every item scan of a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanMode {
    /// `sale`: an item sold (scanners at a till).
    #[default]
    Sale,
    /// `stock_count`: an item counted in a stock take.
    StockCount,
    /// `receiving`: goods received from a supplier.
    Receiving,
    /// `shrink`: damaged, expired or stolen goods written off.
    Shrink,
    /// `transfer_out`: goods sent to another store.
    TransferOut,
    /// `transfer_in`: goods received from another store.
    TransferIn,
}

impl From<ScanMode> for v1::ScanMode {
    fn from(m: ScanMode) -> Self {
        match m {
            ScanMode::Sale => v1::ScanMode::Sale,
            ScanMode::StockCount => v1::ScanMode::StockCount,
            ScanMode::Receiving => v1::ScanMode::Receiving,
            ScanMode::Shrink => v1::ScanMode::Shrink,
            ScanMode::TransferOut => v1::ScanMode::TransferOut,
            ScanMode::TransferIn => v1::ScanMode::TransferIn,
        }
    }
}

/// Largest quantity a quantity barcode can set (six digits).
pub const MAX_QUANTITY: u32 = 999_999;

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

/// Something the driver should log: a command taken, or state that expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The mode changed, by a mode barcode or (`timeout`) by returning to the default.
    ModeChanged {
        from: ScanMode,
        to: ScanMode,
        timeout: bool,
    },
    /// A mode barcode for the mode already in force.
    ModeUnchanged(ScanMode),
    /// A quantity barcode was scanned; it waits for the next item.
    QuantitySet(u32),
    /// A quantity was dropped without an item: `replaced` by another quantity, else timed out.
    QuantityDropped { quantity: u32, replaced: bool },
    /// A shift barcode was scanned; it waits for the next badge.
    ShiftSet(ShiftAction),
    /// A shift action was dropped without a badge: `replaced`, else timed out.
    ShiftDropped { action: ShiftAction, replaced: bool },
}

/// The result of one scan: the scan to record (`None` for a command) and what to log.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub scan: Option<Scan>,
    pub notes: Vec<Note>,
}

/// The mode state of one scanner.
#[derive(Debug, Clone)]
pub struct ModeState {
    config: ModeConfig,
    default: ScanMode,
    current: ScanMode,
    last_scan: Option<Instant>,
    /// Pending quantity and when it was scanned.
    quantity: Option<(u32, Instant)>,
    /// Pending shift action and when it was scanned.
    shift: Option<(ShiftAction, Instant)>,
}

impl ModeState {
    /// A scanner in its `default` mode with nothing pending.
    pub fn new(default: ScanMode, config: ModeConfig) -> Self {
        ModeState {
            config,
            default,
            current: default,
            last_scan: None,
            quantity: None,
            shift: None,
        }
    }

    /// The mode item scans get now (before any expiry due).
    pub fn current(&self) -> ScanMode {
        self.current
    }

    /// The quantity waiting for the next item, if any.
    pub fn pending_quantity(&self) -> Option<u32> {
        self.quantity.map(|(q, _)| q)
    }

    /// When [`ModeState::expire`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mode = (self.current != self.default)
            .then(|| self.deadline(self.last_scan?, self.config.mode_timeout_secs))
            .flatten();
        let pending = |at: Option<Instant>| self.deadline(at?, self.config.pending_timeout_secs);
        [
            mode,
            pending(self.quantity.map(|(_, at)| at)),
            pending(self.shift.map(|(_, at)| at)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn deadline(&self, from: Instant, secs: u64) -> Option<Instant> {
        (secs > 0).then(|| from + Duration::from_secs(secs))
    }

    /// Applies the timeouts due at `now`: a switched mode back to default, pending quantity or
    /// shift action dropped.
    pub fn expire(&mut self, now: Instant) -> Vec<Note> {
        let mut notes = Vec::new();
        let timeout = self.config.pending_timeout_secs;
        if let Some((quantity, at)) = self.quantity {
            if self.deadline(at, timeout).is_some_and(|d| now >= d) {
                self.quantity = None;
                notes.push(Note::QuantityDropped {
                    quantity,
                    replaced: false,
                });
            }
        }
        if let Some((action, at)) = self.shift {
            if self.deadline(at, timeout).is_some_and(|d| now >= d) {
                self.shift = None;
                notes.push(Note::ShiftDropped {
                    action,
                    replaced: false,
                });
            }
        }
        if self.current != self.default {
            let due = self
                .last_scan
                .and_then(|at| self.deadline(at, self.config.mode_timeout_secs));
            if due.is_some_and(|d| now >= d) {
                notes.push(Note::ModeChanged {
                    from: self.current,
                    to: self.default,
                    timeout: true,
                });
                self.current = self.default;
            }
        }
        notes
    }

    /// Takes one decoded scan (its `mode`, `quantity` and `shift` as decoded from the barcode)
    /// at time `now`: a command changes the state and records nothing; an item or badge scan
    /// comes back ready to record.
    pub fn apply(&mut self, mut scan: Scan, now: Instant) -> Applied {
        let mut notes = self.expire(now);
        self.last_scan = Some(now);
        let data = scan.data.as_str();

        if let Some(&mode) = self.config.barcodes.get(data) {
            if mode == self.current {
                notes.push(Note::ModeUnchanged(mode));
            } else {
                notes.push(Note::ModeChanged {
                    from: self.current,
                    to: mode,
                    timeout: false,
                });
                self.current = mode;
            }
            return Applied { scan: None, notes };
        }

        let shift = if !data.is_empty() && data == self.config.shift_start_barcode {
            Some(ShiftAction::Start)
        } else if !data.is_empty() && data == self.config.shift_end_barcode {
            Some(ShiftAction::End)
        } else {
            None
        };
        if let Some(action) = shift {
            if let Some((old, _)) = self.shift.replace((action, now)) {
                notes.push(Note::ShiftDropped {
                    action: old,
                    replaced: true,
                });
            }
            notes.push(Note::ShiftSet(action));
            return Applied { scan: None, notes };
        }

        if let Some(badge) = strip_nonempty(data, &self.config.badge_prefix) {
            let action = self
                .shift
                .take()
                .map_or(ShiftAction::Unspecified, |(a, _)| a);
            scan.data = badge.to_owned();
            scan.mode = v1::ScanMode::Badge as i32;
            scan.shift = action as i32;
            scan.quantity = 0;
            // A badge is no product: drop what the GS1 decoder may have read into it.
            scan.gtin.clear();
            scan.elements.clear();
            return Applied {
                scan: Some(scan),
                notes,
            };
        }

        if let Some(quantity) =
            strip_nonempty(data, &self.config.quantity_prefix).and_then(parse_quantity)
        {
            if let Some((old, _)) = self.quantity.replace((quantity, now)) {
                notes.push(Note::QuantityDropped {
                    quantity: old,
                    replaced: true,
                });
            }
            notes.push(Note::QuantitySet(quantity));
            return Applied { scan: None, notes };
        }

        scan.mode = v1::ScanMode::from(self.current) as i32;
        if let Some((quantity, _)) = self.quantity.take() {
            let per_scan = scan.quantity.max(1) as i64;
            scan.quantity = (per_scan * quantity as i64).min(i32::MAX as i64) as i32;
        }
        Applied {
            scan: Some(scan),
            notes,
        }
    }
}

/// The text after `prefix`, if `data` starts with a non-empty prefix and has more after it.
fn strip_nonempty<'a>(data: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return None;
    }
    data.strip_prefix(prefix).filter(|rest| !rest.is_empty())
}

/// 1 to 6 ASCII digits, value at least 1.
fn parse_quantity(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse()
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(data: &str) -> Scan {
        Scan {
            data: data.to_owned(),
            raw: data.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn item(state: &mut ModeState, data: &str, now: Instant) -> Scan {
        let applied = state.apply(scan(data), now);
        let notes = applied.notes;
        applied
            .scan
            .unwrap_or_else(|| panic!("{data} was taken as a command: {notes:?}"))
    }

    fn command(state: &mut ModeState, data: &str, now: Instant) -> Vec<Note> {
        let applied = state.apply(scan(data), now);
        assert!(applied.scan.is_none(), "{data} was recorded: {applied:?}");
        applied.notes
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn items_get_the_default_mode() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Receiving, ModeConfig::default());
        let got = item(&mut s, "05901234123457", t);
        assert_eq!(got.mode, v1::ScanMode::Receiving as i32);
        assert_eq!(got.quantity, 0);
        assert_eq!(got.shift, ShiftAction::Unspecified as i32);
        assert_eq!(got.data, "05901234123457");
    }

    #[test]
    fn mode_barcode_switches_until_switched_back() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Sale, ModeConfig::default());
        let notes = command(&mut s, "MODE-COUNT", t);
        assert_eq!(
            notes,
            [Note::ModeChanged {
                from: ScanMode::Sale,
                to: ScanMode::StockCount,
                timeout: false
            }]
        );
        // Without a timeout the mode stays, however long the pause.
        for i in 0..3 {
            let got = item(&mut s, "4006381333931", t + secs(3600 * i));
            assert_eq!(got.mode, v1::ScanMode::StockCount as i32);
        }
        assert_eq!(s.next_deadline(), None);
        assert_eq!(
            command(&mut s, "MODE-COUNT", t + secs(9000)),
            [Note::ModeUnchanged(ScanMode::StockCount)]
        );
        command(&mut s, "MODE-SALE", t + secs(9001));
        assert_eq!(
            item(&mut s, "4006381333931", t + secs(9002)).mode,
            v1::ScanMode::Sale as i32
        );
    }

    #[test]
    fn mode_timeout_returns_to_default_after_idle() {
        let t = Instant::now();
        let config = ModeConfig {
            mode_timeout_secs: 60,
            ..Default::default()
        };
        let mut s = ModeState::new(ScanMode::Sale, config);
        command(&mut s, "MODE-SHRINK", t);
        assert_eq!(s.next_deadline(), Some(t + secs(60)));
        // Each scan restarts the idle clock.
        let got = item(&mut s, "4006381333931", t + secs(59));
        assert_eq!(got.mode, v1::ScanMode::Shrink as i32);
        assert_eq!(s.next_deadline(), Some(t + secs(119)));
        assert!(s.expire(t + secs(118)).is_empty());
        assert_eq!(
            s.expire(t + secs(119)),
            [Note::ModeChanged {
                from: ScanMode::Shrink,
                to: ScanMode::Sale,
                timeout: true
            }]
        );
        assert_eq!(s.current(), ScanMode::Sale);
        assert_eq!(s.next_deadline(), None);

        // Expiry is also applied by the next scan when no timer ran.
        command(&mut s, "MODE-RECEIVE", t + secs(200));
        let applied = s.apply(scan("4006381333931"), t + secs(300));
        assert_eq!(applied.scan.unwrap().mode, v1::ScanMode::Sale as i32);
        assert!(matches!(
            applied.notes[..],
            [Note::ModeChanged { timeout: true, .. }]
        ));
    }

    #[test]
    fn quantity_applies_to_the_next_item_only() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::StockCount, ModeConfig::default());
        assert_eq!(command(&mut s, "QTY12", t), [Note::QuantitySet(12)]);
        assert_eq!(s.pending_quantity(), Some(12));
        let got = item(&mut s, "4006381333931", t + secs(1));
        assert_eq!(got.quantity, 12);
        assert_eq!(got.mode, v1::ScanMode::StockCount as i32);
        assert_eq!(item(&mut s, "4006381333931", t + secs(2)).quantity, 0);
    }

    #[test]
    fn quantity_multiplies_a_gs1_count() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Receiving, ModeConfig::default());
        command(&mut s, "QTY3", t);
        let mut case = scan("0209506000134352\u{1d}3712");
        case.quantity = 12;
        let got = s.apply(case, t).scan.unwrap();
        assert_eq!(got.quantity, 36);
        // Saturates instead of overflowing.
        command(&mut s, "QTY999999", t);
        let mut big = scan("x");
        big.quantity = i32::MAX;
        assert_eq!(s.apply(big, t).scan.unwrap().quantity, i32::MAX);
    }

    #[test]
    fn quantity_without_item_is_dropped_after_the_timeout() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Sale, ModeConfig::default());
        command(&mut s, "QTY5", t);
        assert_eq!(s.next_deadline(), Some(t + secs(30)));
        assert!(s.expire(t + secs(29)).is_empty());
        assert_eq!(
            s.expire(t + secs(30)),
            [Note::QuantityDropped {
                quantity: 5,
                replaced: false
            }]
        );
        assert_eq!(item(&mut s, "4006381333931", t + secs(31)).quantity, 0);

        // Dropped on the next scan too when no timer ran.
        command(&mut s, "QTY5", t + secs(100));
        let applied = s.apply(scan("4006381333931"), t + secs(200));
        assert_eq!(applied.scan.unwrap().quantity, 0);
        assert_eq!(
            applied.notes,
            [Note::QuantityDropped {
                quantity: 5,
                replaced: false
            }]
        );
    }

    #[test]
    fn a_second_quantity_replaces_the_first() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Sale, ModeConfig::default());
        command(&mut s, "QTY5", t);
        assert_eq!(
            command(&mut s, "QTY7", t),
            [
                Note::QuantityDropped {
                    quantity: 5,
                    replaced: true
                },
                Note::QuantitySet(7)
            ]
        );
        // Mode barcodes and badges leave the quantity for the next item.
        command(&mut s, "MODE-COUNT", t);
        item(&mut s, "BADGE-17", t);
        let got = item(&mut s, "4006381333931", t);
        assert_eq!(got.quantity, 7);
        assert_eq!(got.mode, v1::ScanMode::StockCount as i32);
    }

    #[test]
    fn malformed_quantity_is_an_ordinary_scan() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Sale, ModeConfig::default());
        for data in [
            "QTY",
            "QTY0",
            "QTY000",
            "QTYX",
            "QTY1234567",
            "QTY-3",
            "QTY 5",
        ] {
            let got = item(&mut s, data, t);
            assert_eq!(got.data, data);
            assert_eq!(got.quantity, 0);
            assert_eq!(got.mode, v1::ScanMode::Sale as i32);
        }
        assert_eq!(command(&mut s, "QTY007", t), [Note::QuantitySet(7)]);
    }

    #[test]
    fn badge_toggles_without_shift_barcode() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Sale, ModeConfig::default());
        let mut badge = scan("BADGE-1042");
        badge.gtin = "x".into();
        let got = s.apply(badge, t).scan.unwrap();
        assert_eq!(got.data, "1042");
        assert_eq!(got.raw, b"BADGE-1042");
        assert_eq!(got.mode, v1::ScanMode::Badge as i32);
        assert_eq!(got.shift, ShiftAction::Unspecified as i32);
        assert_eq!(got.gtin, "");
        // A badge does not change the item mode.
        assert_eq!(
            item(&mut s, "4006381333931", t).mode,
            v1::ScanMode::Sale as i32
        );
        // The prefix alone is no badge.
        assert_eq!(item(&mut s, "BADGE-", t).mode, v1::ScanMode::Sale as i32);
    }

    #[test]
    fn shift_barcodes_set_the_next_badge_only() {
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Sale, ModeConfig::default());
        assert_eq!(
            command(&mut s, "SHIFT-START", t),
            [Note::ShiftSet(ShiftAction::Start)]
        );
        // An item in between does not use it up.
        item(&mut s, "4006381333931", t);
        assert_eq!(item(&mut s, "BADGE-7", t).shift, ShiftAction::Start as i32);
        assert_eq!(
            item(&mut s, "BADGE-7", t).shift,
            ShiftAction::Unspecified as i32
        );
        command(&mut s, "SHIFT-END", t);
        assert_eq!(item(&mut s, "BADGE-7", t).shift, ShiftAction::End as i32);

        // Dropped after the pending timeout.
        command(&mut s, "SHIFT-END", t);
        assert_eq!(
            s.expire(t + secs(30)),
            [Note::ShiftDropped {
                action: ShiftAction::End,
                replaced: false
            }]
        );
        assert_eq!(
            item(&mut s, "BADGE-7", t + secs(31)).shift,
            ShiftAction::Unspecified as i32
        );
    }

    #[test]
    fn configured_barcodes_replace_the_defaults() {
        let t = Instant::now();
        let config: ModeConfig = toml::from_str(
            r#"
            barcodes = { "INV" = "stock_count", "POS" = "sale" }
            quantity_prefix = "*"
            badge_prefix = "EMP"
            shift_start_barcode = ""
            shift_end_barcode = ""
            mode_timeout_secs = 300
            pending_timeout_secs = 0
            "#,
        )
        .unwrap();
        let mut s = ModeState::new(ScanMode::Sale, config);
        command(&mut s, "INV", t);
        // Default barcodes are no longer commands.
        for data in ["MODE-SALE", "QTY3", "BADGE-1", "SHIFT-START"] {
            let got = item(&mut s, data, t);
            assert_eq!(got.mode, v1::ScanMode::StockCount as i32, "{data}");
        }
        command(&mut s, "*4", t);
        // pending_timeout_secs = 0: the quantity waits forever.
        assert_eq!(item(&mut s, "x", t + secs(10_000)).quantity, 4);
        let badge = item(&mut s, "EMP55", t + secs(10_000));
        assert_eq!(
            (badge.data.as_str(), badge.mode),
            ("55", v1::ScanMode::Badge as i32)
        );
    }

    #[test]
    fn empty_prefixes_turn_rules_off() {
        let t = Instant::now();
        let config = ModeConfig {
            barcodes: BTreeMap::new(),
            quantity_prefix: String::new(),
            badge_prefix: String::new(),
            shift_start_barcode: String::new(),
            shift_end_barcode: String::new(),
            ..Default::default()
        };
        let mut s = ModeState::new(ScanMode::Shrink, config);
        for data in ["MODE-SALE", "QTY3", "BADGE-1", "SHIFT-START", "", "5"] {
            let got = item(&mut s, data, t);
            assert_eq!(got.mode, v1::ScanMode::Shrink as i32, "{data:?}");
            assert_eq!(got.quantity, 0);
        }
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        assert_eq!(
            toml::from_str::<ModeConfig>("").unwrap(),
            ModeConfig::default()
        );
        assert!(toml::from_str::<ModeConfig>("qty_prefix = \"Q\"").is_err());
        assert!(toml::from_str::<ModeConfig>("barcodes = { X = \"badge\" }").is_err());
    }

    #[test]
    fn random_data_never_panics() {
        let mut rng = crate::testing::XorShift(0x5EED_0D0E);
        let t = Instant::now();
        let mut s = ModeState::new(ScanMode::Sale, ModeConfig::default());
        let seeds = [
            "QTY12",
            "BADGE-7",
            "MODE-COUNT",
            "SHIFT-END",
            "4006381333931",
        ];
        for i in 0..5000u64 {
            let seed = seeds[rng.below(seeds.len())].as_bytes();
            let bytes = rng.mutate(seed, b"QTYBADGE-0123456789");
            let data = String::from_utf8_lossy(&bytes).into_owned();
            let now = t + Duration::from_millis(i * 997);
            if let Some(scan) = s.apply(scan(&data), now).scan {
                assert!(scan.quantity >= 0);
            }
            let _ = s.expire(now);
        }
    }
}
