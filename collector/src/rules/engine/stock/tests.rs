use std::path::Path;

use store_proto::v1::{AlertState, LineItem, PosTransaction, Scan};

use super::*;
use crate::rules::engine::profile::StoreProfile;

const PENS: &str = "04006381333931";
const MILK: &str = "00000096385074";
const BEANS: &str = "05901234123457";
const H: i64 = HOUR_MS;
/// 2026-11-23T00:00:00Z, a Monday.
const T0: i64 = 1_795_392_000_000;

fn catalogue() -> Catalogue {
    Catalogue::parse_csv(
        Path::new("t.csv"),
        "gtin,name,pack_size,reorder_point,lead_time_days,service_level,max_stock\n\
         4006381333931,Pens,12,50,,,100\n\
         96385074,Milk,6,,4,0.95,200\n",
    )
    .unwrap()
}

struct World {
    stock: Stock,
    out: Outbox,
    profiles: Profiles,
    cat: Catalogue,
}

impl World {
    fn new() -> World {
        let mut profiles = Profiles::default();
        for (s, region) in [("s1", "north"), ("s2", "north"), ("s3", "south")] {
            profiles.insert(
                s,
                StoreProfile {
                    region: region.to_owned(),
                    ..StoreProfile::default()
                },
            );
        }
        World {
            stock: Stock::default(),
            out: Outbox::default(),
            profiles,
            cat: catalogue(),
        }
    }

    fn apply_at(&mut self, store: &str, ev: Event, historical: bool, now: i64) {
        let ctx = Ctx {
            store,
            agent: "a1",
            historical,
            now_ms: now,
            batch_sent_ms: now,
            profile: self.profiles.get(store),
            catalogue: &self.cat,
        };
        self.stock.apply(&ctx, &ev, &mut self.out);
    }

    /// Applies a live event and evaluates, as one commit group at the event's time.
    fn live(&mut self, store: &str, ev: Event) {
        let t = ev.wall_time_ms;
        self.apply_at(store, ev, false, t);
        self.eval(t);
    }

    fn eval(&mut self, now: i64) {
        self.stock
            .evaluate(&self.profiles, &self.cat, now, &mut self.out);
    }

    fn pos(&self, store: &str, gtin: &str) -> f64 {
        self.stock.position(store, gtin).unwrap()
    }

    fn alert(&self, key: &str) -> Option<&Alert> {
        self.out.alerts.active(key)
    }
}

fn scan(t: i64, gtin: &str, mode: ScanMode, qty: i32) -> Event {
    Event {
        wall_time_ms: t,
        device_id: "scanner-1".into(),
        body: Some(Body::Scan(Scan {
            gtin: gtin.into(),
            mode: mode as i32,
            quantity: qty,
            ..Scan::default()
        })),
        ..Event::default()
    }
}

fn tx(t: i64, kind: TransactionKind, lines: &[(&str, &str, f64)]) -> Event {
    Event {
        wall_time_ms: t,
        device_id: "pos-1".into(),
        body: Some(Body::PosTransaction(PosTransaction {
            kind: kind as i32,
            items: lines
                .iter()
                .map(|(gtin, item_id, q)| LineItem {
                    gtin: (*gtin).into(),
                    item_id: (*item_id).into(),
                    quantity: *q,
                    ..LineItem::default()
                })
                .collect(),
            ..PosTransaction::default()
        })),
        ..Event::default()
    }
}

fn sale(t: i64, gtin: &str, q: f64) -> Event {
    tx(t, TransactionKind::Sale, &[(gtin, "", q)])
}
fn ret(t: i64, gtin: &str, q: f64) -> Event {
    tx(t, TransactionKind::Return, &[(gtin, "", q)])
}
fn receive(t: i64, gtin: &str, q: i32) -> Event {
    scan(t, gtin, ScanMode::Receiving, q)
}

#[test]
fn movements_by_kind_and_mode() {
    let mut w = World::new();
    w.live("s1", receive(T0, PENS, 0)); // quantity 0 means 1
    w.live("s1", receive(T0 + 1, PENS, 99)); // 100
    w.live("s1", scan(T0 + 2, PENS, ScanMode::Sale, 5)); // the till carries the sale: 100
    w.live("s1", sale(T0 + 3, PENS, 3.0)); // 97
    w.live("s1", tx(T0 + 4, TransactionKind::Void, &[(PENS, "", 7.0)])); // 97
    w.live("s1", ret(T0 + 5, PENS, 1.0)); // 98
    w.live("s1", scan(T0 + 6, PENS, ScanMode::Shrink, 2)); // 96
    w.live("s1", scan(T0 + 7, PENS, ScanMode::TransferOut, 10)); // 86
    w.live("s1", scan(T0 + 8, PENS, ScanMode::TransferIn, 4)); // 90
                                                               // A POS line with no gtin but an item id that is a valid EAN-13 counts; an internal article
                                                               // number (bad check digit) does not.
    w.live(
        "s1",
        tx(
            T0 + 9,
            TransactionKind::Sale,
            &[
                ("", "4006381333931", 2.0),
                ("", "4006381333932", 1.0),
                ("", "A-17", 1.0),
            ],
        ),
    ); // 88
    assert_eq!(w.pos("s1", PENS), 88.0);
    assert_eq!(w.stock.stats.unidentified, 2);
    assert_eq!(w.stock.stats.no_change, 1);
    let v = &w.stock.positions("s1")[0];
    assert_eq!(
        (
            v.gtin.as_str(),
            v.name.as_str(),
            v.known,
            v.reorder_point,
            v.max_stock
        ),
        (PENS, "Pens", true, Some(50.0), Some(100.0))
    );
    assert_eq!((v.last_event_ms, v.last_count_ms), (T0 + 9, None));
}

#[test]
fn derived_reorder_point_from_daily_sales() {
    // Milk: lead time 4 days, service level 0.95 (z = 1.645). Daily sales 7, 13, 7, 13, 7, 13,
    // 10 (Mon–Sun): d = 10, σ = 3 (sample), ROP = 10·4 + 1.645·3·√4 = 49.87 → 50 (rounded up).
    // Orders fill up to max 200.
    let mut w = World::new();
    w.live("s1", receive(T0, MILK, 500));
    for (day, q) in [7.0, 13.0, 7.0, 13.0, 7.0, 13.0, 10.0].iter().enumerate() {
        w.live("s1", sale(T0 + day as i64 * DAY_MS + 12 * H, MILK, *q));
    }
    // On day 3 there are only 3 complete days (fewer than min_demand_days = 7): no ROP yet.
    w.eval(T0 + 3 * DAY_MS + H);
    assert_eq!(w.stock.positions("s1")[0].reorder_point, None);
    w.eval(T0 + 7 * DAY_MS + H);
    let v = &w.stock.positions("s1")[0];
    assert_eq!((v.position, v.reorder_point), (430.0, Some(50.0)));
    // A store at UTC+13 sees the same sales on other local days (12:00Z is 01:00 the next
    // day), so its history is its own: sales shift by one local day, and its first local day
    // (the receipt, 13:00 local on Monday) has none.
    let p = StoreProfile {
        utc_offset_minutes: 13 * 60,
        ..StoreProfile::default()
    };
    w.profiles.insert("s9", p);
    w.live("s9", receive(T0, MILK, 500));
    for (day, q) in [7.0, 13.0, 7.0, 13.0, 7.0, 13.0, 10.0].iter().enumerate() {
        w.live("s9", sale(T0 + day as i64 * DAY_MS + 12 * H, MILK, *q));
    }
    w.eval(T0 + 7 * DAY_MS + 10 * H); // Monday 23:00 local, next week
                                      // Local days Mon..Sun: 0, 7, 13, 7, 13, 7, 13 (the 10 falls on today, not yet complete):
                                      // d = 60/7 = 8.571; squared deviations 73.47 + 3·2.469 + 3·19.61 = 139.71, σ = √(139.71/6)
                                      // = 4.826; ROP = 8.571·4 + 1.645·4.826·2 = 34.29 + 15.87 = 50.16 → 51.
    let days = [0.0, 7.0, 13.0, 7.0, 13.0, 7.0, 13.0];
    let (d, sd) = rules::demand_stats(&days).unwrap();
    assert!(
        (d - 8.5714).abs() < 1e-3 && (sd - 4.8255).abs() < 1e-3,
        "{d} {sd}"
    );
    assert_eq!(w.stock.positions("s9")[0].reorder_point, Some(51.0));
}

/// The same week of milk sales as above in Berlin, across the night the clocks go back
/// (Sunday 2026-10-25 has 25 hours): every local day's sales are found, so the ROP is the same 50.
#[test]
fn derived_reorder_point_across_a_daylight_saving_change() {
    let mut w = World::new();
    let p = StoreProfile {
        zone: Some(jiff::tz::TimeZone::get("Europe/Berlin").unwrap()),
        ..StoreProfile::default()
    };
    w.profiles.insert("s8", p.clone());
    // Thursday 2026-10-22 .. Wednesday 2026-10-28, noon-ish local.
    let thursday = p.local_day(1_792_663_200_000); // 2026-10-22T10:00:00Z
    w.live(
        "s8",
        receive(p.start_of_local_day(thursday) + 8 * H, MILK, 500),
    );
    for (i, q) in [7.0, 13.0, 7.0, 13.0, 7.0, 13.0, 10.0].iter().enumerate() {
        let day = p.start_of_local_day(thursday + i as i64);
        w.live("s8", sale(day + 12 * H, MILK, *q));
    }
    w.eval(p.start_of_local_day(thursday + 7) + H);
    let v = &w.stock.positions("s8")[0];
    assert_eq!((v.position, v.reorder_point), (430.0, Some(50.0)));
}

#[test]
fn late_backlog_around_a_count() {
    // Live first: a count of 40 at 10:00 and a sale of 2 at 10:30; then the backlog drains: a
    // receipt of 100 at 08:00 and a sale of 5 at 09:00 (both before the count: ignored) and a
    // sale of 4 at 11:00 (after it: applied). 40 − 2 − 4 = 34.
    let mut w = World::new();
    w.live("s1", scan(T0 + 10 * H, PENS, ScanMode::StockCount, 40));
    w.live("s1", sale(T0 + 10 * H + H / 2, PENS, 2.0));
    assert_eq!(w.pos("s1", PENS), 38.0);
    let now = T0 + 12 * H;
    w.apply_at("s1", receive(T0 + 8 * H, PENS, 100), true, now);
    w.apply_at("s1", sale(T0 + 9 * H, PENS, 5.0), true, now);
    w.apply_at("s1", sale(T0 + 11 * H, PENS, 4.0), true, now);
    w.eval(now);
    assert_eq!(w.pos("s1", PENS), 34.0);
    assert_eq!(w.stock.stats.covered_by_count, 2);
    assert_eq!(w.stock.positions("s1")[0].last_count_ms, Some(T0 + 10 * H));
    // Two count scans of the same GTIN within the session add up (shelf + back room), as of the
    // later one; a sale in between is in the count.
    w.live("s1", scan(T0 + 20 * H, PENS, ScanMode::StockCount, 30));
    w.live("s1", sale(T0 + 20 * H + 5 * MINUTE_MS, PENS, 1.0));
    w.live(
        "s1",
        scan(T0 + 20 * H + 10 * MINUTE_MS, PENS, ScanMode::StockCount, 25),
    );
    assert_eq!(w.pos("s1", PENS), 55.0);
}

#[test]
fn hysteresis_pages_once_and_receipts_clear_at_once() {
    // Pens: ROP 50, hysteresis 0.2 → clears at 50 + max(1, 10) = 60 by sales/returns.
    let mut w = World::new();
    w.live("s1", receive(T0, PENS, 60));
    w.out.alerts.take_published();
    w.live("s1", sale(T0 + 1, PENS, 10.0)); // 50: LOW
    let key = format!("s1/stock/{PENS}");
    let id = w.alert(&key).unwrap().id.clone();
    for i in 0..10 {
        w.live("s1", ret(T0 + 2 + 2 * i, PENS, 1.0)); // 51
        w.live("s1", sale(T0 + 3 + 2 * i, PENS, 1.0)); // 50
    }
    let published = w.out.alerts.take_published();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].kind, AlertKind::Low as i32);
    assert!(!published[0].retrospective);
    for i in 0..9 {
        w.live("s1", ret(T0 + 100 + i, PENS, 1.0)); // up to 59: still LOW
    }
    assert_eq!(w.alert(&key).map(|a| &a.id), Some(&id));
    w.live("s1", ret(T0 + 200, PENS, 1.0)); // 60: clears
    assert!(w.alert(&key).is_none());
    let published = w.out.alerts.take_published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].state, AlertState::Resolved as i32);
    assert!(
        published[0].message.contains("60 ≥ 60"),
        "{}",
        published[0].message
    );

    // Low again at 45; a receipt of 6 lifts it to 51 (> 50): resolved at once.
    w.live("s1", sale(T0 + 300, PENS, 15.0));
    assert!(w.alert(&key).is_some());
    w.live("s1", receive(T0 + 301, PENS, 6));
    assert!(w.alert(&key).is_none());
    // But a receipt that leaves it at or below the ROP does not clear it.
    w.live("s1", sale(T0 + 400, PENS, 11.0)); // 40
    w.live("s1", receive(T0 + 401, PENS, 10)); // 50
    assert!(w.alert(&key).is_some());
}

#[test]
fn low_escalates_to_out_with_order_quantities_in_packs() {
    // Pens: ROP 50, max 100, packs of 12.
    let mut w = World::new();
    let key = format!("s1/stock/{PENS}");
    w.live("s1", receive(T0, PENS, 60));
    w.live("s1", sale(T0 + 1, PENS, 15.0)); // 45
    let low = w.alert(&key).unwrap().clone();
    assert_eq!(low.kind, AlertKind::Low as i32);
    // short 55 → 5 packs (60) would make 105 > 100; 4 packs (48) make 93 > 50: order 48.
    assert_eq!(
        (low.position, low.reorder_point, low.suggested_order_qty),
        (45.0, 50.0, 48)
    );
    assert!(
        low.message
            .contains("position 45 ≤ reorder point 50; order 48 (4 × 12) to reach 100"),
        "{}",
        low.message
    );
    w.out.alerts.take_published();
    w.live("s1", sale(T0 + 2, PENS, 45.0)); // 0: OUT
    let out = w.alert(&key).unwrap().clone();
    assert_eq!(
        (out.kind, out.id.as_str()),
        (AlertKind::Out as i32, low.id.as_str())
    );
    // short 100 → 9 packs (108) overfill; 8 packs (96) reach 96 > 50: 96.
    assert_eq!(out.suggested_order_qty, 96);
    assert_eq!(
        w.out.alerts.take_published().len(),
        1,
        "escalation is published"
    );
    // Oversold to −3: still OUT, ordering as from empty.
    w.live("s1", sale(T0 + 3, PENS, 3.0));
    assert_eq!(w.alert(&key).unwrap().suggested_order_qty, 96);
    assert!(w.out.alerts.take_published().is_empty());
}

#[test]
fn transfer_within_a_region_only() {
    // s1 and s2 are "north", s3 "south". Pens: ROP 50, max 100, packs of 12.
    // s1 at 40 (LOW, needs 100 − 40 = 60); s2 at 100 can spare 100 − 50 − max(1, 0.25·50) =
    // 37.5; s3 at 300 could spare more but is in another region.
    // Transfer min(60, 37.5) = 37.5 → 3 packs = 36 from s2.
    let mut w = World::new();
    w.live("s2", receive(T0, PENS, 100));
    w.live("s3", receive(T0, PENS, 300));
    w.live("s1", receive(T0, PENS, 60));
    w.live("s1", sale(T0 + 1, PENS, 20.0));
    let key = format!("s1/transfer/{PENS}");
    let t = w.alert(&key).expect("transfer suggested").clone();
    assert_eq!(
        (t.kind, t.from_store_id.as_str(), t.transfer_qty),
        (AlertKind::Transfer as i32, "s2", 36)
    );
    assert_eq!(t.store_id, "s1");
    // s1 is replenished: the suggestion is resolved.
    w.live("s1", receive(T0 + 2, PENS, 36));
    assert!(w.alert(&key).is_none());

    // With s2 moved to another region, nobody in s1's region can spare: no suggestion.
    let mut w2 = World::new();
    w2.profiles.insert(
        "s2",
        StoreProfile {
            region: "west".to_owned(),
            ..StoreProfile::default()
        },
    );
    w2.live("s2", receive(T0, PENS, 100));
    w2.live("s3", receive(T0, PENS, 300));
    w2.live("s1", receive(T0, PENS, 40));
    assert!(w2.alert(&format!("s1/stock/{PENS}")).is_some());
    assert!(w2.alert(&key).is_none());
    // A donor with only its margin to spare (s2 at 62: 62 − 50 − 12.5 < 0) gives nothing
    // either.
    let mut w3 = World::new();
    w3.live("s2", receive(T0, PENS, 62));
    w3.live("s1", receive(T0, PENS, 40));
    assert!(w3.alert(&key).is_none());
}

#[test]
fn transfers_from_one_donor_share_what_it_can_spare_in_store_order() {
    // s1 and s4 (north) are both LOW at 40 (each needs 60); s2 (north) at 150 can spare
    // 150 − 50 − 12.5 = 87.5. s1 comes first: 60 (5 packs); s4 gets what is left, 27.5 → 24.
    let mut w = World::new();
    w.profiles.insert(
        "s4",
        StoreProfile {
            region: "north".to_owned(),
            ..StoreProfile::default()
        },
    );
    w.live("s2", receive(T0, PENS, 150));
    w.live("s3", receive(T0, PENS, 300));
    w.live("s4", receive(T0, PENS, 40));
    w.live("s1", receive(T0 + 1, PENS, 40));
    let t1 = w
        .alert(&format!("s1/transfer/{PENS}"))
        .expect("s1 suggested")
        .clone();
    let t4 = w
        .alert(&format!("s4/transfer/{PENS}"))
        .expect("s4 suggested")
        .clone();
    assert_eq!((t1.from_store_id.as_str(), t1.transfer_qty), ("s2", 60));
    assert_eq!((t4.from_store_id.as_str(), t4.transfer_qty), ("s2", 24));
}

#[test]
fn unknown_gtins_are_tracked_and_listed_without_alerts() {
    let mut w = World::new();
    w.live("s1", receive(T0 + 5, BEANS, 2));
    w.live("s1", sale(T0 + 6, BEANS, 3.0)); // −1, but no alert: not in the catalogue
    w.live("s2", sale(T0 + 7, BEANS, 1.0));
    let unknown = w.stock.unknown_gtins();
    assert_eq!(unknown.len(), 2);
    assert_eq!(
        (unknown[0].store.as_str(), unknown[0].gtin.as_str()),
        ("s1", BEANS)
    );
    assert_eq!(
        (
            unknown[0].first_seen_ms,
            unknown[0].events,
            unknown[0].position
        ),
        (T0 + 5, 2, -1.0)
    );
    assert!(w.alert(&format!("s1/stock/{BEANS}")).is_none());
    assert!(!w.stock.positions("s1")[0].known);
    // Once the catalogue has it, it is known on the next evaluation and alerts.
    w.cat = Catalogue::parse_csv(
        Path::new("t.csv"),
        "gtin,name,reorder_point\n5901234123457,Beans,5\n",
    )
    .unwrap();
    w.eval(T0 + 8);
    assert!(w.stock.unknown_gtins().is_empty());
    assert_eq!(
        w.alert(&format!("s1/stock/{BEANS}")).unwrap().kind,
        AlertKind::Out as i32
    );
}

#[test]
fn historical_dips_are_recorded_as_retrospective() {
    let mut w = World::new();
    let key = format!("s1/stock/{PENS}");
    w.live("s1", receive(T0, PENS, 60));
    w.out.alerts.take_published();
    // A backlog in which stock ran out and was received again: over by now.
    let now = T0 + 10 * H;
    w.apply_at("s1", sale(T0 + H, PENS, 60.0), true, now);
    w.apply_at("s1", receive(T0 + 2 * H, PENS, 80), true, now);
    w.eval(now);
    let published = w.out.alerts.take_published();
    assert_eq!(published.len(), 2, "raised and resolved: {published:?}");
    assert!(published.iter().all(|a| a.retrospective));
    assert_eq!(published[0].kind, AlertKind::Out as i32);
    assert_eq!(published[0].event_time_ms, T0 + H);
    assert!(w.alert(&key).is_none());
    // A backlog that leaves it low: raised as usual (the position is current).
    w.apply_at("s1", sale(T0 + 3 * H, PENS, 40.0), true, now);
    w.eval(now);
    let a = w.alert(&key).unwrap();
    assert_eq!((a.kind, a.retrospective), (AlertKind::Low as i32, false));
}

#[test]
fn save_and_reload_give_the_same_positions_and_alerts() {
    let mut w = World::new();
    w.live("s1", scan(T0, PENS, ScanMode::StockCount, 30));
    w.live("s1", sale(T0 + H, PENS, 2.0)); // 28: LOW
    w.live("s2", receive(T0, PENS, 100));
    w.live("s1", receive(T0 + 2 * H, MILK, 20));
    w.live("s1", receive(T0 + 2 * H, BEANS, 3));
    let mut saved = Vec::new();
    w.stock.save(&mut saved);
    assert_eq!(saved.len(), 4);
    assert!(saved.iter().any(|(k, _)| k == &format!("pos/s1/{PENS}")));
    let mut again = Vec::new();
    w.stock.save(&mut again);
    assert!(again.is_empty(), "only changed keys are saved");
    let mut alerts = Vec::new();
    w.out.alerts.save(&mut alerts);

    let mut r = World::new();
    for (k, v) in &saved {
        r.stock.load(k, v.as_deref().unwrap()).unwrap();
    }
    for (k, v) in &alerts {
        r.out.alerts.load(k, v.as_deref().unwrap()).unwrap();
    }
    for s in ["s1", "s2"] {
        assert_eq!(r.stock.positions(s), w.stock.positions(s));
    }
    assert_eq!(r.stock.unknown_gtins(), w.stock.unknown_gtins());
    r.eval(T0 + 2 * H);
    assert!(
        r.out.alerts.take_published().is_empty(),
        "nothing new after a reload"
    );
    w.out.alerts.take_published();
    // The same events give the same outcome in both: a late sale before the count is ignored,
    // a sale after it drives the position to 0 (OUT) and a transfer from s2 is suggested.
    for world in [&mut w, &mut r] {
        world.apply_at("s1", sale(T0 - H, PENS, 5.0), true, T0 + 3 * H);
        world.live("s1", sale(T0 + 3 * H, PENS, 28.0));
    }
    assert_eq!(r.stock.positions("s1"), w.stock.positions("s1"));
    let strip = |v: Vec<Alert>| -> Vec<(i32, String, i32, i64, String, i64)> {
        v.into_iter()
            .map(|a| {
                (
                    a.kind,
                    a.subject,
                    a.state,
                    a.suggested_order_qty,
                    a.from_store_id,
                    a.transfer_qty,
                )
            })
            .collect()
    };
    let (pw, pr) = (
        strip(w.out.alerts.take_published()),
        strip(r.out.alerts.take_published()),
    );
    assert_eq!(pw, pr);
    assert!(pw.iter().any(|a| a.0 == AlertKind::Out as i32), "{pw:?}");
    // Active alerts, ids included, are the same; the transfer suggested before saving (s2 can
    // spare 100 − 50 − 12.5 = 37.5 → 36) is still there in both.
    let active = |w: &World| -> Vec<(String, Alert)> {
        w.out
            .alerts
            .all_active()
            .map(|(k, a)| (k.to_owned(), a.clone()))
            .collect()
    };
    assert_eq!(active(&r), active(&w));
    let t = w.alert(&format!("s1/transfer/{PENS}")).unwrap();
    assert_eq!((t.from_store_id.as_str(), t.transfer_qty), ("s2", 36));
    assert!(r.stock.load("nope", b"{}").is_err());
    assert!(r
        .stock
        .load(&format!("pos/s1/{PENS}"), b"not json")
        .is_err());
}
