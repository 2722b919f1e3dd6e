use jiff::tz::TimeZone;
use jiff::Timestamp;
use store_proto::v1::{AlertKind, LineItem, PosTransaction, TransactionKind};
use store_proto::{Body, Event};

use super::query::{stockouts, store_rows, summed_rows, Granularity};
use super::*;
use crate::rules::engine::alerts::AlertBuilder;
use crate::rules::engine::catalogue::Catalogue;
use crate::rules::engine::fixtures::{ctx, ft, H, MIN, MONDAY};
use crate::rules::engine::profile::StoreProfile;
use crate::rules::engine::{BatchInfo, Engine};

const GTIN: &str = "4006381333931";

fn berlin() -> StoreProfile {
    StoreProfile {
        zone: Some(TimeZone::get("Europe/Berlin").unwrap()),
        ..StoreProfile::default()
    }
}

fn ms(s: &str) -> i64 {
    s.parse::<Timestamp>().unwrap().as_millisecond()
}

fn tx(kind: TransactionKind, at: i64, total: i64, units: f64) -> Event {
    let items = if units != 0.0 {
        vec![LineItem {
            gtin: GTIN.into(),
            quantity: units,
            unit_price_minor: total,
            extended_minor: total,
            ..LineItem::default()
        }]
    } else {
        vec![]
    };
    Event {
        wall_time_ms: at,
        clock_synced: true,
        device_id: "till".into(),
        body: Some(Body::PosTransaction(PosTransaction {
            register_id: "r1".into(),
            kind: kind as i32,
            items,
            total_minor: total,
            currency: "EUR".into(),
            ..PosTransaction::default()
        })),
        ..Event::default()
    }
}

fn close(a: Option<f64>, b: f64) {
    let a = a.expect("a ratio");
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

/// A scripted Monday in Berlin (UTC+1 in November), 10:00–12:00 local.
#[test]
fn a_store_day_by_hand() {
    let mut engine = Engine::default();
    engine.profiles.insert("s1", berlin());
    let t10 = MONDAY + 9 * H; // 10:00 local
    let t11 = MONDAY + 10 * H; // 11:00 local
    let now = t11 + 40 * MIN;
    let batch = BatchInfo {
        store: "s1",
        agent: "a1",
        historical: false,
        sent_ms: now,
    };
    let mut events = vec![ft(t10, 100, 0), ft(t11, 20, 0)];
    // 24 sales in the 10:00 hour and 6 in the 11:00 hour, 2500 cents and 2 units each.
    events.extend((0..24).map(|i| tx(TransactionKind::Sale, t10 + i * 2 * MIN, 2500, 2.0)));
    events.extend((0..6).map(|i| tx(TransactionKind::Sale, t11 + i * 2 * MIN, 2500, 2.0)));
    events.extend((0..3).map(|_| tx(TransactionKind::Return, t11 + 20 * MIN, 1000, 0.0)));
    events.extend((0..2).map(|_| tx(TransactionKind::Void, t11 + 30 * MIN, 0, 0.0)));
    for ev in &events {
        engine.apply(batch, now, ev);
    }
    // Two samples ten minutes apart: the GTIN sold 60 units without a count is at −60, and the
    // trailing hour's 20 entries need min_staff 2 with nobody on duty: understaffed.
    engine.evaluate(now);
    engine.evaluate(now + 10 * MIN);
    assert_eq!(
        engine.staffing.latest("s1").0.unwrap().kind,
        SignalKind::Understaffed as i32
    );

    let day = berlin().local_day(t10);
    let rows = store_rows(&engine.kpi, "s1", &berlin(), day, day, Granularity::Day);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.period, "2026-11-23");
    // 120 entries, 30 sales → conversion 30 / 120 = 0.25.
    assert_eq!((r.counters.entries, r.counters.transactions), (120, 30));
    close(r.kpis.conversion, 0.25);
    // Sales 30 × 2500 = 75000 cents; basket 75000 / 30 = 2500; units 60 / 30 = 2.
    assert_eq!(r.counters.sales_minor, 75_000);
    close(r.kpis.average_basket_minor, 2500.0);
    close(r.kpis.units_per_transaction, 2.0);
    // 3 returns and 2 voids among 30 + 3 + 2 = 35 POS transactions.
    assert_eq!((r.counters.returns, r.counters.voids), (3, 2));
    assert_eq!(r.counters.returns_minor, 3000);
    close(r.kpis.returns_rate, 3.0 / 35.0);
    close(r.kpis.voids_rate, 2.0 / 35.0);
    // 10 sampled open minutes with one GTIN out, understaffed throughout.
    assert_eq!(r.counters.stockout_minutes, 10);
    assert_eq!(r.counters.understaffed_minutes, 10);
    assert_eq!(r.counters.overstaffed_minutes, 0);
    assert!((r.kpis.stockout_hours - 10.0 / 60.0).abs() < 1e-9);

    let hours = store_rows(&engine.kpi, "s1", &berlin(), day, day, Granularity::Hour);
    let periods: Vec<&str> = hours.iter().map(|r| r.period.as_str()).collect();
    assert_eq!(
        periods,
        ["2026-11-23T10:00+01:00", "2026-11-23T11:00+01:00"]
    );
    // 10:00: 24 / 100 = 0.24; 11:00: 6 / 20 = 0.3 and the sampled minutes.
    close(hours[0].kpis.conversion, 0.24);
    close(hours[1].kpis.conversion, 0.3);
    assert_eq!(hours[1].counters.understaffed_minutes, 10);
    assert_eq!(
        stockouts(&engine.kpi, "s1", day, day),
        vec![("04006381333931".to_owned(), 10.0 / 60.0)]
    );

    // Saved and loaded: the same rows.
    let saved = engine.save();
    let mut again = Engine::default();
    for (k, v) in saved.iter().filter(|(k, _)| k.starts_with("intel/kpi/")) {
        again.load(k, v.as_ref().unwrap()).unwrap();
    }
    assert_eq!(
        store_rows(&again.kpi, "s1", &berlin(), day, day, Granularity::Hour),
        hours
    );
    // The stock-outs have a key of their own, written only by the minute's sampling.
    assert!(saved
        .iter()
        .any(|(k, _)| *k == format!("intel/kpi/s1/{day}/stockouts")));
    assert_eq!(
        stockouts(&again.kpi, "s1", day, day),
        stockouts(&engine.kpi, "s1", day, day)
    );
    engine.apply(batch, now, &ft(t11 + 45 * MIN, 1, 0));
    let saved = engine.save();
    let kpi_keys: Vec<&str> = saved
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("intel/kpi/"))
        .collect();
    assert_eq!(kpi_keys, [format!("intel/kpi/s1/{day}")]);
}

#[test]
fn regions_sum_first_and_divide_after() {
    let cat = Catalogue::default();
    let p = StoreProfile::default();
    let mut k = Kpis::default();
    let t = MONDAY + 10 * H;
    // s1: 100 entries, 10 sales (0.1); s2: 10 entries, 5 sales (0.5).
    for (store, entries, sales) in [("s1", 100, 10), ("s2", 10, 5)] {
        let c = ctx(store, &p, &cat, t, false);
        k.apply(&c, &ft(t, entries, 0));
        for i in 0..sales {
            k.apply(&c, &tx(TransactionKind::Sale, t + i * MIN, 1000, 1.0));
        }
    }
    let day = p.local_day(t);
    let rows = summed_rows(&k, [("s1", &p), ("s2", &p)], day, day, Granularity::Day);
    assert_eq!(rows.len(), 1);
    // 15 / 110, not the mean of 0.1 and 0.5 (0.3).
    close(rows[0].kpis.conversion, 15.0 / 110.0);
    assert_eq!(rows[0].counters.sales_minor, 15_000);
}

/// 2026-10-25 in Berlin has 25 hours (02:00 twice), 2026-03-29 has 23.
#[test]
fn hours_and_days_across_daylight_saving() {
    let cat = Catalogue::default();
    let p = berlin();
    let mut k = Kpis::default();
    let fall = ms("2026-10-24T22:00:00Z"); // 2026-10-25 00:00 CEST
    let spring = ms("2026-03-28T23:00:00Z"); // 2026-03-29 00:00 CET
    for (start, hours) in [(fall, 25), (spring, 23)] {
        for i in 0..hours {
            let t = start + i * H + 5 * MIN;
            let c = ctx("s1", &p, &cat, start + 30 * H, false);
            k.apply(&c, &tx(TransactionKind::Sale, t, 100, 1.0));
        }
        // The next local day starts exactly `hours` later.
        assert_eq!(p.day_start(start + 5 * MIN), start);
        assert_eq!(p.day_start(start + hours * H), start + hours * H);
    }
    let day = p.local_day(fall);
    let hours = store_rows(&k, "s1", &p, day, day, Granularity::Hour);
    assert_eq!(hours.len(), 25);
    assert_eq!(hours[2].period, "2026-10-25T02:00+02:00");
    assert_eq!(hours[3].period, "2026-10-25T02:00+01:00");
    assert_eq!(hours[24].period, "2026-10-25T23:00+01:00");
    let days = store_rows(&k, "s1", &p, day, day, Granularity::Day);
    assert_eq!(days[0].counters.transactions, 25);

    let day = p.local_day(spring);
    let hours = store_rows(&k, "s1", &p, day, day, Granularity::Hour);
    assert_eq!(hours.len(), 23);
    assert_eq!(hours[1].period, "2026-03-29T01:00+01:00");
    assert_eq!(hours[2].period, "2026-03-29T03:00+02:00");
    let days = store_rows(&k, "s1", &p, day, day, Granularity::Day);
    assert_eq!(days[0].counters.transactions, 23);
}

#[test]
fn rows_are_pruned_and_old_events_refused() {
    let cat = Catalogue::default();
    let p = StoreProfile::default();
    let mut k = Kpis::default();
    let t = MONDAY + 10 * H;
    k.apply(&ctx("s1", &p, &cat, t, false), &ft(t, 5, 0));
    let day = p.local_day(t);
    let mut saved = Vec::new();
    k.save(&mut saved);
    assert_eq!(saved.len(), 1);

    // 36 days on: the hours are gone, the day's sums stay.
    let stock = Stock::default();
    let staffing = Staffing::default();
    let profiles = Profiles::default();
    k.evaluate(&profiles, &stock, &staffing, t + 36 * DAY_MS);
    let row = &k.days("s1").unwrap()[&day];
    assert!(row.hours.is_empty());
    assert_eq!(row.total.entries, 5);
    // 401 days on: the day is deleted, and so is its key.
    k.evaluate(&profiles, &stock, &staffing, t + 401 * DAY_MS);
    assert!(k.days("s1").unwrap().is_empty());
    let mut saved = Vec::new();
    k.save(&mut saved);
    assert!(saved.contains(&(format!("s1/{day}"), None)), "{saved:?}");

    // An event 401 days old, or two days ahead, makes no row.
    let now = t + 401 * DAY_MS;
    k.apply(&ctx("s1", &p, &cat, now, false), &ft(t, 5, 0));
    k.apply(
        &ctx("s1", &p, &cat, now, false),
        &ft(now + 2 * DAY_MS, 5, 0),
    );
    assert_eq!(k.stats.out_of_window, 2);
    assert!(k.days("s1").unwrap().is_empty());
}

#[test]
fn alerts_raised_acknowledged_resolved_and_time_to_acknowledge() {
    let p = StoreProfile::default();
    let profiles = Profiles::default();
    let mut book = AlertBook::default();
    let mut k = Kpis::default();
    let t = MONDAY + 10 * H;
    let alert = || AlertBuilder::new("s1", AlertKind::ReturnsSpike, "x", "m".into()).build();
    book.raise("s1/a", alert(), t);
    book.raise("s1/b", alert(), t);
    book.raise("s1/c", alert(), t);
    let ids: Vec<String> = book.all_active().map(|(_, a)| a.id.clone()).collect();
    // Acknowledged 60 s, 120 s and 600 s after raising (the engine's newest "now").
    for (id, after) in ids.iter().zip([60, 120, 600]) {
        k.evaluate(
            &profiles,
            &Stock::default(),
            &Staffing::default(),
            t + after * 1000,
        );
        book.acknowledge(id, "hq").unwrap();
        k.take_alerts(&profiles, &mut book);
    }
    book.resolve("s1/a", "over", t + H, t + H);
    k.take_alerts(&profiles, &mut book);
    let day = p.local_day(t);
    let rows = store_rows(&k, "s1", &p, day, day, Granularity::Day);
    let c = &rows[0].counters;
    assert_eq!(
        (c.alerts_raised, c.alerts_acknowledged, c.alerts_resolved),
        (3, 3, 1)
    );
    // Mean (60 + 120 + 600) / 3 = 260 s; median 120 s.
    assert_eq!(rows[0].mean_ack_seconds, Some(260.0));
    assert_eq!(rows[0].median_ack_seconds, Some(120.0));
}

#[test]
fn hostile_quantities_and_totals_cannot_break_the_sums() {
    let cat = Catalogue::default();
    let p = StoreProfile::default();
    let mut k = Kpis::default();
    let t = MONDAY + 10 * H;
    let c = ctx("s1", &p, &cat, t, false);
    for q in [f64::NAN, -1.0, 1e300, f64::INFINITY] {
        k.apply(&c, &tx(TransactionKind::Sale, t, i64::MAX, q));
    }
    assert_eq!(k.stats.bad_quantity, 4);
    let day = p.local_day(t);
    let row = &k.days("s1").unwrap()[&day].total;
    // Four sales, no units, and the totals saturate instead of wrapping.
    assert_eq!((row.transactions, row.units), (4, 0.0));
    assert_eq!(row.sales_minor, i64::MAX);
    // What is saved loads back.
    let mut saved = Vec::new();
    k.save(&mut saved);
    let mut again = Kpis::default();
    for (key, v) in &saved {
        again.load(key, v.as_ref().unwrap()).unwrap();
    }
    assert_eq!(again.days("s1"), k.days("s1"));
}
