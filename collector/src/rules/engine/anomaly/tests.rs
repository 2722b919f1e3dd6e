use super::state::DAY_MS;
use super::*;
use crate::rules::engine::catalogue::Catalogue;
use crate::rules::engine::fixtures::{ctx, ft, H, MIN, MONDAY};
use crate::rules::engine::profile::StoreProfile;
use store_proto::v1::{Alert, AlertKind, AlertState, DeviceStatus, PosTransaction};

fn tx(register: &str, kind: TransactionKind, at: i64) -> Event {
    Event {
        wall_time_ms: at,
        clock_synced: true,
        device_id: format!("pos-{register}"),
        body: Some(Body::PosTransaction(PosTransaction {
            register_id: register.into(),
            kind: kind as i32,
            ..PosTransaction::default()
        })),
        ..Event::default()
    }
}

fn status(device: &str, state: DeviceState, at: i64) -> Event {
    Event {
        wall_time_ms: at,
        clock_synced: true,
        device_id: device.into(),
        body: Some(Body::DeviceStatus(DeviceStatus {
            state: state as i32,
            ..DeviceStatus::default()
        })),
        ..Event::default()
    }
}

fn profiles(p: &StoreProfile) -> Profiles {
    let mut ps = Profiles::default();
    ps.insert("s1", p.clone());
    ps
}

struct Rig {
    p: StoreProfile,
    ps: Profiles,
    cat: Catalogue,
    t: Traffic,
    a: Anomalies,
    out: Outbox,
}

impl Rig {
    fn new() -> Rig {
        let p = StoreProfile::default(); // open 08:00–20:00 UTC
        Rig {
            ps: profiles(&p),
            p,
            cat: Catalogue::default(),
            t: Traffic::default(),
            a: Anomalies::default(),
            out: Outbox::default(),
        }
    }
    /// Applies `ev` as if it arrived live at `now` (or in a backlog batch).
    fn apply(&mut self, ev: Event, now: i64, historical: bool) {
        let c = ctx("s1", &self.p, &self.cat, now, historical);
        self.t.apply(&c, &ev);
        self.a.apply(&c, &ev, &mut self.out);
    }
    fn live(&mut self, ev: Event) {
        let at = ev.wall_time_ms;
        self.apply(ev, at, false);
    }
    fn eval(&mut self, now: i64) {
        self.a.evaluate(&self.ps, &self.t, now, &mut self.out);
    }
    fn active(&self, key: &str) -> Option<&Alert> {
        self.out.alerts.active(key)
    }
}

/// 14 days of history with 2 returns in every open hour (08–20) → baseline 2.0/h, threshold
/// max(5, 3 × 2.0) = 6. Today 5 returns by 15:40 → nothing; the 6th → RETURNS_SPIKE. At 16:00
/// the new hour has none → resolved.
#[test]
fn returns_spike_against_the_baseline() {
    let mut r = Rig::new();
    let today = MONDAY + 14 * DAY_MS;
    for d in 0..14 {
        for h in 8..20 {
            for k in 0..2 {
                let at = MONDAY + d * DAY_MS + h * H + k * 20 * MIN;
                r.live(tx("r1", TransactionKind::Return, at));
            }
        }
    }
    let hist = &r.a.stores["s1"];
    assert!((hist.returns_baseline(&r.p, &r.p.rules.anomaly, today + 15 * H) - 2.0).abs() < 1e-9);
    for k in 0..5 {
        r.live(tx(
            "r1",
            TransactionKind::Return,
            today + 15 * H + k * 8 * MIN,
        ));
    }
    r.eval(today + 15 * H + 40 * MIN);
    assert!(r.active("s1/returns").is_none(), "5 < 6");
    r.live(tx("r1", TransactionKind::Return, today + 15 * H + 41 * MIN));
    r.eval(today + 15 * H + 42 * MIN);
    let a = r.active("s1/returns").unwrap();
    assert_eq!(a.kind, AlertKind::ReturnsSpike as i32);
    assert_eq!((a.observed, a.baseline), (6.0, 2.0));
    assert!(!a.retrospective);
    assert_eq!(
        a.message,
        "6 returns since 15:00, usual 2.0/h, threshold 6.0"
    );
    r.eval(today + 16 * H + MIN);
    assert!(r.active("s1/returns").is_none());
    assert_eq!(r.out.alerts.past("s1").count(), 1);
}

/// A backlog brings 7 returns in yesterday's 11:00 hour (a new store: no baseline, threshold
/// 5) and an outage of the scanner from 10:00 to 10:45: both recorded as retrospective,
/// resolved at once, nothing left open to page about.
#[test]
fn historical_batch_gives_retrospective_alerts() {
    let mut r = Rig::new();
    let now = MONDAY + DAY_MS + 9 * H; // Tuesday 09:00
    for k in 0..7 {
        r.apply(
            tx("r1", TransactionKind::Return, MONDAY + 11 * H + k * MIN),
            now,
            true,
        );
    }
    r.apply(
        status("scanner", DeviceState::Disconnected, MONDAY + 10 * H),
        now,
        true,
    );
    r.apply(
        status(
            "scanner",
            DeviceState::Connected,
            MONDAY + 10 * H + 45 * MIN,
        ),
        now,
        true,
    );
    r.eval(now);
    assert_eq!(r.out.alerts.all_active().count(), 0);
    let past: Vec<&Alert> = r.out.alerts.past("s1").collect();
    assert_eq!(past.len(), 2, "{past:?}");
    assert!(past.iter().all(|a| a.retrospective));
    assert_eq!(past[0].kind, AlertKind::ReturnsSpike as i32);
    assert_eq!(
        past[0].observed, 5.0,
        "raised once, when the count reached the threshold"
    );
    assert_eq!(past[1].kind, AlertKind::DeviceOffline as i32);
    assert_eq!(past[1].observed, 45.0);
    assert!(past.iter().all(|a| a.state == AlertState::Resolved as i32));
    // The live rule for today is untouched.
    assert!(r.active("s1/returns").is_none());
}

/// Register r1: 9 sales + 1 void = 10 % → fine; 3 more voids: 4 / 13 = 30.8 % ≥ 20 % →
/// VOID_RATE. An hour later the window has emptied → resolved. Register r2 with 3 voids out of
/// 3 stays quiet: fewer than 10 transactions.
#[test]
fn void_rate_per_register() {
    let mut r = Rig::new();
    let t0 = MONDAY + 10 * H;
    for k in 0..9 {
        r.live(tx("r1", TransactionKind::Sale, t0 + k * MIN));
    }
    r.live(tx("r1", TransactionKind::Void, t0 + 9 * MIN));
    for k in 0..3 {
        r.live(tx("r2", TransactionKind::Void, t0 + k * MIN));
    }
    r.eval(t0 + 10 * MIN);
    assert!(r.active("s1/voids/r1").is_none());
    assert!(r.active("s1/voids/r2").is_none());
    for k in 0..3 {
        r.live(tx("r1", TransactionKind::Void, t0 + (11 + k) * MIN));
    }
    r.eval(t0 + 15 * MIN);
    let a = r.active("s1/voids/r1").unwrap();
    assert_eq!(a.kind, AlertKind::VoidRate as i32);
    assert!((a.observed - 4.0 / 13.0).abs() < 1e-9);
    assert_eq!(a.subject, "r1");
    assert!(
        a.message.contains("4 voids in 13 transactions (31 %)"),
        "{}",
        a.message
    );
    r.eval(t0 + 75 * MIN);
    assert!(r.active("s1/voids/r1").is_none());
}

#[test]
fn device_offline_during_opening_hours_and_back() {
    let mut r = Rig::new();
    let t0 = MONDAY + 10 * H;
    r.live(status("scanner", DeviceState::Disconnected, t0));
    r.eval(t0 + 9 * MIN);
    assert!(r.active("s1/device/scanner").is_none(), "9 < 10 minutes");
    r.eval(t0 + 10 * MIN);
    let a = r.active("s1/device/scanner").unwrap();
    assert_eq!(a.kind, AlertKind::DeviceOffline as i32);
    assert!(!a.retrospective);
    // A CONNECTED stamped before the DISCONNECTED (late delivery) changes nothing.
    r.live(status("scanner", DeviceState::Connected, t0 - MIN));
    assert!(r.active("s1/device/scanner").is_some());
    r.live(status("scanner", DeviceState::Connected, t0 + 20 * MIN));
    assert!(r.active("s1/device/scanner").is_none());
    assert!(r
        .out
        .alerts
        .past("s1")
        .next()
        .unwrap()
        .message
        .contains("after 20 min"));

    // At night a disconnect is not paged.
    r.live(status(
        "scanner",
        DeviceState::Disconnected,
        MONDAY + 21 * H,
    ));
    r.eval(MONDAY + 22 * H);
    assert!(r.active("s1/device/scanner").is_none());
    // …but once the store opens and it is still gone, it is.
    r.eval(MONDAY + 32 * H);
    assert_eq!(
        r.active("s1/device/scanner").unwrap().kind,
        AlertKind::DeviceOffline as i32
    );
}

/// A till scanner busy every open hour for two days is regular. On day 3 it goes quiet after
/// 10:00: at 10:29 nothing, at 10:30 DEVICE_SILENT; its next scan resolves it. A scanner used
/// once a day is never "silent". Silence across the night counts from opening.
#[test]
fn regular_device_that_goes_silent() {
    let mut r = Rig::new();
    for d in 0..2 {
        for m in (8 * 60..20 * 60).step_by(10) {
            r.live(tx(
                "r1",
                TransactionKind::Sale,
                MONDAY + d * DAY_MS + m * MIN,
            ));
        }
        r.live(status(
            "backoffice",
            DeviceState::DecodeError,
            MONDAY + d * DAY_MS + 9 * H,
        ));
    }
    let day3 = MONDAY + 2 * DAY_MS;
    // 08:29 on day 3: silent since 19:50 yesterday, but only 29 min of opening time.
    r.eval(day3 + 8 * H + 29 * MIN);
    assert!(r.active("s1/device/pos-r1").is_none());
    r.live(tx("r1", TransactionKind::Sale, day3 + 10 * H));
    r.eval(day3 + 10 * H + 29 * MIN);
    assert!(r.active("s1/device/pos-r1").is_none());
    r.eval(day3 + 10 * H + 30 * MIN);
    let a = r.active("s1/device/pos-r1").unwrap();
    assert_eq!(a.kind, AlertKind::DeviceSilent as i32);
    assert_eq!(a.observed, 30.0);
    assert!(r.active("s1/device/backoffice").is_none());
    r.eval(day3 + 14 * H);
    assert!(
        r.active("s1/device/backoffice").is_none(),
        "not a regular device"
    );
    r.live(tx("r1", TransactionKind::Sale, day3 + 14 * H + MIN));
    r.eval(day3 + 14 * H + 2 * MIN);
    assert!(r.active("s1/device/pos-r1").is_none());
}

/// Entries until 11:00, then none while the tills ring up a sale every 2 minutes: at 11:30
/// (30 min, 15 sales ≥ 5) COUNTER_STUCK; the next entry resolves it.
#[test]
fn door_counter_stuck_while_tills_sell() {
    let mut r = Rig::new();
    let t0 = MONDAY + 10 * H;
    for k in 0..60 {
        r.live(ft(t0 + k * MIN, 2, 1));
    }
    // The counter keeps reporting, but zeros.
    for k in 60..95 {
        r.live(ft(t0 + k * MIN, 0, 0));
    }
    for k in 0..20 {
        r.live(tx("r1", TransactionKind::Sale, t0 + 60 * MIN + k * 2 * MIN));
    }
    // Last entry counted in the interval ending 11:00.
    r.eval(t0 + 89 * MIN);
    assert!(r.active("s1/counter_stuck").is_none(), "29 minutes");
    r.eval(t0 + 90 * MIN);
    let a = r.active("s1/counter_stuck").unwrap();
    assert_eq!(a.kind, AlertKind::CounterStuck as i32);
    assert_eq!(
        a.observed, 15.0,
        "sales in [11:00, 11:30): 11:00, 11:02, … 11:28"
    );
    assert_eq!(
        a.message,
        "no entries counted for 30 min while the tills made 15 sales"
    );
    r.live(ft(t0 + 95 * MIN, 1, 0));
    r.eval(t0 + 96 * MIN);
    assert!(r.active("s1/counter_stuck").is_none());
}

#[test]
fn agent_clock_off_and_back() {
    let mut r = Rig::new();
    let now = MONDAY + 10 * H;
    let ev = tx("r1", TransactionKind::Sale, now);
    let mut c = ctx("s1", &r.p, &r.cat, now, false);
    // The agent says it sent the batch 5 minutes in the future: +300 s > 120 s.
    c.batch_sent_ms = now + 5 * 60_000;
    r.a.apply(&c, &ev, &mut r.out);
    let a = r.out.alerts.active("s1/clock/a1").unwrap();
    assert_eq!(a.kind, AlertKind::ClockOff as i32);
    assert_eq!((a.observed, a.baseline), (300.0, 120.0));
    assert_eq!(
        a.message,
        "agent a1 clock is +300 s off the collector's (limit 120 s)"
    );
    // A historical batch with a good clock does not resolve it (it says nothing about now).
    c.historical = true;
    c.batch_sent_ms = now;
    r.a.apply(&c, &ev, &mut r.out);
    assert!(r.out.alerts.active("s1/clock/a1").is_some());
    // A live one does.
    c.historical = false;
    r.a.apply(&c, &ev, &mut r.out);
    assert!(r.out.alerts.active("s1/clock/a1").is_none());
    // An event recorded with an unsynchronised clock raises it again.
    let mut unsynced = ev.clone();
    unsynced.clock_synced = false;
    r.a.apply(&c, &unsynced, &mut r.out);
    assert!(r
        .out
        .alerts
        .active("s1/clock/a1")
        .unwrap()
        .message
        .contains("unsynchronised"));
}

/// A TAMPERED status from a backlog batch still pages (not retrospective), carries the reason and
/// stays up while reports keep coming; 24 h of collector time without one resolves it. Its state
/// survives a reload.
#[test]
fn tampered_status_raises_and_quiet_day_resolves() {
    let mut r = Rig::new();
    let t0 = MONDAY + 10 * H;
    let mut ev = status("agent", DeviceState::Tampered, t0 - 2 * DAY_MS);
    if let Some(Body::DeviceStatus(s)) = &mut ev.body {
        s.reason = "forged commit mark 1005 above highest published 5".into();
    }
    // Learned two days late, from a backlog: paged all the same.
    r.apply(ev.clone(), t0, true);
    let a = r.active("s1/tamper/a1").expect("raised").clone();
    assert_eq!(a.kind, AlertKind::Tampered as i32);
    assert_eq!((a.subject.as_str(), a.retrospective), ("a1", false));
    assert_eq!(a.state, AlertState::Open as i32);
    assert_eq!(a.event_time_ms, t0 - 2 * DAY_MS);
    assert_eq!(
        a.message,
        "agent a1 reports tampering: forged commit mark 1005 above highest published 5"
    );
    assert_eq!((a.observed, a.baseline), (1.0, 24.0));
    // Acknowledged; a second report 10 h later refreshes it (same alert, still acknowledged).
    r.out.alerts.acknowledge(&a.id, "maria").unwrap();
    r.eval(t0 + 10 * H);
    r.apply(ev.clone(), t0 + 10 * H, false);
    let b = r.active("s1/tamper/a1").unwrap();
    assert_eq!((b.id.as_str(), b.observed), (a.id.as_str(), 2.0));
    assert_eq!(b.state, AlertState::Acknowledged as i32);
    // Saved and reloaded: the quiet period still counts from the newest report.
    let mut saved = Vec::new();
    r.a.save(&mut saved);
    let mut back = Anomalies::default();
    for (k, v) in &saved {
        back.load(k, v.as_deref().unwrap()).unwrap();
    }
    assert_eq!(back.stores, r.a.stores);
    r.eval(t0 + 34 * H - MIN);
    assert!(r.active("s1/tamper/a1").is_some(), "23 h 59 min quiet");
    r.eval(t0 + 34 * H);
    assert!(r.active("s1/tamper/a1").is_none(), "24 h quiet");
    let past = r.out.alerts.past("s1").last().unwrap();
    assert_eq!(past.message, "agent a1: no tampering reported for 24 h");
    assert!(r.a.stores["s1"].tamper.is_empty(), "state forgotten");
    // A long reason is cut.
    if let Some(Body::DeviceStatus(s)) = &mut ev.body {
        s.reason = "x".repeat(10_000);
    }
    r.apply(ev, t0 + 35 * H, false);
    let c = r.active("s1/tamper/a1").unwrap();
    assert_ne!(c.id, a.id, "a new occurrence");
    assert_eq!(c.observed, 1.0);
    assert!(c.message.len() < 500, "{}", c.message.len());
}

#[test]
fn state_survives_save_and_reload() {
    let mut r = Rig::new();
    let t0 = MONDAY + 10 * H;
    for k in 0..12 {
        let kind = if k % 3 == 0 {
            TransactionKind::Void
        } else {
            TransactionKind::Sale
        };
        r.live(tx("r1", kind, t0 + k * MIN));
        r.live(tx("r2", TransactionKind::Return, t0 + k * MIN));
    }
    r.live(status("door", DeviceState::Disconnected, t0));
    let mut saved = Vec::new();
    r.a.save(&mut saved);
    assert_eq!(saved.len(), 1);
    let mut back = Anomalies::default();
    for (k, v) in &saved {
        back.load(k, v.as_deref().unwrap()).unwrap();
    }
    assert_eq!(back.stores, r.a.stores);
    let mut out2 = Outbox::default();
    r.eval(t0 + 20 * MIN);
    back.evaluate(&r.ps, &r.t, t0 + 20 * MIN, &mut out2);
    let keys =
        |o: &Outbox| -> Vec<String> { o.alerts.all_active().map(|(k, _)| k.to_owned()).collect() };
    assert_eq!(
        keys(&r.out),
        ["s1/device/door", "s1/returns", "s1/voids/r1"]
    );
    assert_eq!(keys(&out2), keys(&r.out));
    assert!(back.load("s1", b"{").is_err());
    let _ = r.p.rules.anomaly.clone();
}

#[test]
fn rules_parse_with_defaults() {
    let r: AnomalyRules = toml::from_str("").unwrap();
    assert_eq!(r, AnomalyRules::default());
    let r: AnomalyRules = toml::from_str("returns_factor = 4.0\nstuck_minutes = 45").unwrap();
    assert_eq!((r.returns_factor, r.stuck_minutes), (4.0, 45));
    assert!(toml::from_str::<AnomalyRules>("returns_factr = 4.0").is_err());
}
