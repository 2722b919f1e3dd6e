use std::collections::BTreeMap;

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
