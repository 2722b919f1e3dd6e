use super::*;
use crate::rules::engine::catalogue::Catalogue;
use crate::rules::engine::fixtures::{ctx, ft, H, MIN, MONDAY};
use store_proto::v1::{Scan, ScanMode, ShiftAction};
use store_proto::{Body, Event};

const WEEK: i64 = 7 * DAY_MS;
/// 2026-11-28, a Saturday, 00:00 UTC.
const SATURDAY: i64 = MONDAY + 5 * DAY_MS;

fn roster(staff: u32) -> StoreProfile {
    let mut p = StoreProfile::default();
    p.rules.staffing.roster = vec![RosterEntry {
        days: vec![],
        from: HhMm(8 * 60),
        to: HhMm(20 * 60),
        staff,
    }];
    p
}

fn profiles(p: &StoreProfile) -> Profiles {
    let mut ps = Profiles::default();
    ps.insert("s1", p.clone());
    ps
}

fn start(badge: &str, at: i64) -> Event {
    Event {
        wall_time_ms: at,
        clock_synced: true,
        body: Some(Body::Scan(Scan {
            data: badge.into(),
            mode: ScanMode::Badge as i32,
            shift: ShiftAction::Start as i32,
            ..Scan::default()
        })),
        ..Event::default()
    }
}

#[test]
fn rules_parse_with_defaults_and_reject_bad_values() {
    let r: StaffingRules = toml::from_str("").unwrap();
    assert_eq!(r, StaffingRules::default());
    let r: StaffingRules = toml::from_str(
        "target_star = 30\nroster = [{ days = [\"sat\"], from = \"10:00\", to = \"18:30\", staff = 4 }]",
    )
    .unwrap();
    assert_eq!(r.target_star, 30.0);
    assert_eq!(r.roster[0].to, HhMm(18 * 60 + 30));
    assert_eq!(r.roster[0].days, [Weekday::Sat]);
    for bad in [
        "target_star = 0",
        "nope = 1",
        "roster = [{ from = \"9h\", to = \"10:00\", staff = 1 }]",
        "roster = [{ days = [\"moon\"], from = \"09:00\", to = \"10:00\", staff = 1 }]",
    ] {
        let err = toml::from_str::<StaffingRules>(bad).unwrap_err();
        assert!(!err.message().is_empty(), "{bad}");
    }
    let err =
        toml::from_str::<StaffingRules>("roster = [{ from = \"9h\", to = \"10:00\", staff = 1 }]")
            .unwrap_err();
    assert!(err.message().contains("\"9h\" is not a time"), "{err}");
}

#[test]
fn judge_numbers() {
    let r = StaffingRules::default();
    // 130 entries/h at STAR 25 → ceil(5.2) = 6 needed; 3 on duty → understaffed by 3.
    assert_eq!(judge(&r, 130.0, 3), (SignalKind::Understaffed, 6));
    assert_eq!(judge(&r, 130.0, 7), (SignalKind::Ok, 6));
    // 6 + tolerance 2 = 8 → overstaffed.
    assert_eq!(judge(&r, 130.0, 8), (SignalKind::Overstaffed, 6));
    // Quiet: 10/25 → 1, but min_staff 2.
    assert_eq!(judge(&r, 10.0, 2), (SignalKind::Ok, 2));
    assert_eq!(judge(&r, 0.0, 1), (SignalKind::Understaffed, 2));
}

#[test]
fn current_hour_signal_is_published_on_change_only() {
    let p = roster(3);
    let ps = profiles(&p);
    let cat = Catalogue::default();
    let now = MONDAY + 14 * H; // Monday 14:00, open
    let c = ctx("s1", &p, &cat, now, false);
    let mut t = Traffic::default();
    let mut s = Staff::default();
    let mut st = Staffing::default();
    let mut out = Outbox::default();
    // 13:00–14:00: 30 + 35 + 30 + 35 = 130 entries → 130/h, each applied live (had they
    // all arrived after 14:00, the 13:00 hour would also get a retrospective signal).
    for (q, n) in [30, 35, 30, 35].into_iter().enumerate() {
        let at = now - H + q as i64 * 15 * MIN;
        t.apply(&ctx("s1", &p, &cat, at + MIN, false), &ft(at, n, 0));
    }
    st.evaluate(&ps, &t, &s, now, &mut out);
    assert_eq!(out.signals.len(), 1, "no history: no forecast yet");
    let sig = out.signals.pop().unwrap();
    assert_eq!(sig.kind, SignalKind::Understaffed as i32);
    assert!((sig.entries_per_hour - 130.0).abs() < 1e-9);
    assert_eq!((sig.needed_staff, sig.on_duty), (6, 3));
    assert!(!sig.forecast && !sig.retrospective);
    assert_eq!(sig.hour_start_ms, now);
    assert_eq!(
        sig.message,
        "130.0 entries/h (STAR 25) need 6 staff, 3 on duty: understaffed by 3"
    );

    // A minute later: the same picture, nothing new to publish.
    st.evaluate(&ps, &t, &s, now + MIN, &mut out);
    assert!(out.signals.is_empty());

    // Six staff badge in: OK (badges override the roster for the day).
    for b in ["a", "b", "c", "d", "e", "f"] {
        s.apply(&c, &start(b, now + MIN));
    }
    st.evaluate(&ps, &t, &s, now + 2 * MIN, &mut out);
    let sig = out.signals.pop().unwrap();
    assert_eq!(sig.kind, SignalKind::Ok as i32);
    assert_eq!((sig.needed_staff, sig.on_duty), (6, 6));
    // Two more: 8 ≥ 6 + 2 → OVERSTAFFED.
    s.apply(&c, &start("g", now + 2 * MIN));
    s.apply(&c, &start("h", now + 2 * MIN));
    st.evaluate(&ps, &t, &s, now + 3 * MIN, &mut out);
    assert_eq!(
        out.signals.pop().unwrap().kind,
        SignalKind::Overstaffed as i32
    );
    assert_eq!(
        st.latest("s1").0.unwrap().kind,
        SignalKind::Overstaffed as i32
    );

    // Closed at 21:00: nothing.
    st.evaluate(&ps, &t, &s, MONDAY + 21 * H, &mut out);
    assert!(out.signals.is_empty());

    // Persist and reload.
    let mut saved = Vec::new();
    st.save(&mut saved);
    let mut back = Staffing::default();
    for (k, v) in &saved {
        back.load(k, v.as_deref().unwrap()).unwrap();
    }
    assert_eq!(back.latest("s1"), st.latest("s1"));
}

/// Four past Saturdays: 60 people an hour from 08:00, a rush of 200 at 14:00–15:00. This
/// Saturday looks the same so far. At 13:20 the current hour is fine (60/h → max(2, ceil(2.4))
/// = 3 needed, 3 rostered), but the forecast for 14:00 is 200 × trend 1.00 = 200/h →
/// ceil(200 / 25) = 8 needed vs 3: UNDERSTAFFED, forty minutes before the rush.
#[test]
fn forecast_signals_the_saturday_rush_before_it_starts() {
    let p = roster(3);
    let ps = profiles(&p);
    let cat = Catalogue::default();
    let now = SATURDAY + 13 * H + 20 * MIN;
    let c = ctx("s1", &p, &cat, now, false);
    let mut t = Traffic::default();
    let s = Staff::default();
    let per_hour = |h: i64| if h == 14 { 200 } else { 60 };
    for w in 1..=4 {
        let day = SATURDAY - w * WEEK;
        for h in 8..20 {
            for q in 0..4 {
                t.apply(&c, &ft(day + h * H + q * 15 * MIN, per_hour(h) / 4, 0));
            }
        }
    }
    // Today: 08:00–13:15 as usual (15 per quarter), and 5 so far in the 13:15 quarter.
    for q in 0..21 {
        t.apply(&c, &ft(SATURDAY + 8 * H + q * 15 * MIN, 15, 0));
    }
    t.apply(&c, &ft(SATURDAY + 13 * H + 15 * MIN, 5, 0));

    let f = forecast::next_hour(&t, "s1", &p, &p.rules.staffing, now).unwrap();
    // Today so far: 21 × 15 + 5 = 320; the past Saturdays up to 13:20: 21 × 15 + 15 × 5/15
    // = 320 → trend 1.0.
    assert_eq!(f.weeks, 4);
    assert!((f.today_so_far - 320.0).abs() < 1e-9, "{f:?}");
    assert!((f.past_so_far - 320.0).abs() < 1e-9, "{f:?}");
    assert!((f.entries - 200.0).abs() < 1e-9, "{f:?}");

    let mut st = Staffing::default();
    let mut out = Outbox::default();
    st.evaluate(&ps, &t, &s, now, &mut out);
    let (cur, fc) = st.latest("s1");
    let cur = cur.unwrap();
    // Trailing hour [12:20, 13:20): 15 × 10/15 + 15 + 15 + 15 + 5 = 60 → 60/h.
    assert!((cur.entries_per_hour - 60.0).abs() < 1e-9, "{cur:?}");
    assert_eq!(cur.kind, SignalKind::Ok as i32);
    let fc = fc.unwrap();
    assert!(fc.forecast);
    assert_eq!(fc.hour_start_ms, SATURDAY + 14 * H);
    assert_eq!(fc.kind, SignalKind::Understaffed as i32);
    assert_eq!((fc.needed_staff, fc.on_duty), (8, 3));
    assert!(fc.message.contains("for 14:00"), "{}", fc.message);
    assert_eq!(out.signals.len(), 2);

    // Five minutes later nothing has changed enough to publish again.
    out.signals.clear();
    st.evaluate(&ps, &t, &s, now + 5 * MIN, &mut out);
    assert!(out.signals.is_empty(), "{:?}", out.signals);
}

/// Yesterday 15:00–16:00 had 150 people (6 needed, 3 rostered), learned only now from a
/// backlog: recorded as a retrospective signal, once, without replacing the current one.
#[test]
fn late_traffic_for_an_ended_hour_gives_a_retrospective_signal() {
    let p = roster(3);
    let ps = profiles(&p);
    let cat = Catalogue::default();
    let now = MONDAY + DAY_MS + 10 * H; // Tuesday 10:00
    let live = ctx("s1", &p, &cat, now, false);
    let backlog = ctx("s1", &p, &cat, now, true);
    let mut t = Traffic::default();
    let s = Staff::default();
    let mut st = Staffing::default();
    let mut out = Outbox::default();
    t.apply(&live, &ft(now - 30 * MIN, 20, 0));
    st.evaluate(&ps, &t, &s, now, &mut out);
    assert_eq!(out.signals.len(), 1);
    assert!(!out.signals[0].retrospective);
    out.signals.clear();

    for q in 0..4 {
        t.apply(
            &backlog,
            &ft(MONDAY + 15 * H + q * 15 * MIN, 150 / 4 + 1, 0),
        );
    }
    // 4 × 38 = 152 → ceil(6.08) = 7 needed vs 3.
    st.evaluate(&ps, &t, &s, now, &mut out);
    assert_eq!(out.signals.len(), 1, "{:?}", out.signals);
    let r = &out.signals[0];
    assert!(r.retrospective);
    assert_eq!(r.kind, SignalKind::Understaffed as i32);
    assert_eq!(r.hour_start_ms, MONDAY + 15 * H);
    assert_eq!((r.needed_staff, r.on_duty), (7, 3));
    assert!(!st.latest("s1").0.unwrap().retrospective);
    out.signals.clear();
    st.evaluate(&ps, &t, &s, now + MIN, &mut out);
    assert!(out.signals.is_empty(), "recorded once");
}

/// Through the engine: apply, evaluate, save every part, load into a fresh engine, and get
/// the same traffic, staff and signals back.
#[test]
fn engine_state_round_trips_through_save_and_load() {
    use crate::rules::engine::{BatchInfo, Engine};
    let p = roster(3);
    let mut intel = Engine::new(profiles(&p), Catalogue::default());
    let now = MONDAY + 14 * H;
    let batch = BatchInfo {
        store: "s1",
        agent: "a1",
        historical: false,
        sent_ms: now,
    };
    for k in 0..12 {
        let at = now - H + k * 5 * MIN;
        let sent = BatchInfo {
            sent_ms: at + MIN,
            ..batch
        };
        intel.apply(sent, at + MIN, &ft(at, 11, 3));
    }
    intel.apply(batch, now, &start("ann", now - 2 * H));
    intel.evaluate(now);
    let saved = intel.save();
    assert!(saved
        .iter()
        .any(|(k, _)| k.starts_with("intel/traffic/s1/")));
    assert!(saved.iter().any(|(k, _)| k == "intel/staff/s1"));
    assert!(saved.iter().any(|(k, _)| k == "intel/staffing/current/s1"));
    assert!(saved.iter().any(|(k, _)| k == "intel/anomaly/s1"));
    let mut back = Engine::new(profiles(&p), Catalogue::default());
    for (k, v) in &saved {
        back.load(k, v.as_deref().unwrap()).unwrap();
    }
    let (a, b) = (&intel, &back);
    assert_eq!(
        a.traffic.windows("s1", MONDAY, now + H, &p),
        b.traffic.windows("s1", MONDAY, now + H, &p)
    );
    assert_eq!(a.staff.on_duty("s1", now, &p), 1);
    assert_eq!(b.staff.on_duty("s1", now, &p), 1);
    assert_eq!(a.staffing.latest("s1"), b.staffing.latest("s1"));
    // 132 entries in the hour → 6 needed, Ann alone on duty.
    let cur = b.staffing.latest("s1").0.unwrap();
    assert_eq!((cur.needed_staff, cur.on_duty), (6, 1));
    // Evaluating the reloaded engine publishes nothing new: it knows what it already said.
    back.evaluate(now + MIN);
    assert!(back.outbox.signals.is_empty(), "{:?}", back.outbox.signals);
    assert_eq!(
        intel.outbox.alerts.all_active().count(),
        0,
        "a quiet, well-clocked store"
    );
}

/// The next-hour forecast on its own.
mod forecast_tests {
    use crate::rules::engine::catalogue::Catalogue;
    use crate::rules::engine::fixtures::{ctx, ft, H, MIN, MONDAY};
    use crate::rules::engine::profile::StoreProfile;
    use crate::rules::engine::staffing::forecast::*;
    use crate::rules::engine::staffing::rules::StaffingRules;
    use crate::rules::engine::traffic::Traffic;

    const WEEK_MS: i64 = 7 * 86_400_000;

    #[test]
    fn trend_scales_the_weekly_mean_and_is_clamped() {
        let p = StoreProfile::default();
        let cat = Catalogue::default();
        let rules = StaffingRules::default();
        let now = MONDAY + 2 * WEEK_MS + 12 * H; // Monday two weeks later, 12:00
        let c = ctx("s1", &p, &cat, now, false);
        let mut t = Traffic::default();
        // One week ago: 40 people from 08:00 to 12:00, 100 at 12:00–13:00.
        // Two weeks ago: 40 and 60. Baseline (100 + 60) / 2 = 80; past so far (40 + 40) / 2 = 40.
        for (weeks, next) in [(1, 100), (2, 60)] {
            let d = now - weeks * WEEK_MS;
            t.apply(&c, &ft(d - 4 * H, 40, 0));
            t.apply(&c, &ft(d, next, 0));
        }
        // Today: 60 so far → trend 60 / 40 = 1.5 → forecast 80 × 1.5 = 120.
        t.apply(&c, &ft(now - 3 * H, 60, 0));
        let now = now - 30 * MIN; // 11:30: the forecast is for 12:00–13:00
        let f = next_hour(&t, "s1", &p, &rules, now).unwrap();
        assert_eq!(f.weeks, 2);
        assert_eq!(f.hour_start_ms, now + 30 * MIN);
        assert!((f.baseline - 80.0).abs() < 1e-9);
        assert!((f.trend - 1.5).abs() < 1e-9, "{f:?}");
        assert!((f.entries - 120.0).abs() < 1e-9);

        // 200 today → 5.0, clamped to 2.0 → 160.
        t.apply(&c, &ft(now - 2 * H, 140, 0));
        let f = next_hour(&t, "s1", &p, &rules, now).unwrap();
        assert!((f.trend - 2.0).abs() < 1e-9);
        assert!((f.entries - 160.0).abs() < 1e-9);

        // No history at all: no forecast.
        assert!(next_hour(&t, "s1", &p, &rules, now - 3 * WEEK_MS).is_none());
    }
}

/// Next week's plan from four weeks of traffic.
mod plan_tests {
    use super::*;
    use crate::rules::engine::staffing::plan::next_week;

    /// Four weeks (2026-11-23 .. 2026-12-20): 10 entries an hour on weekdays and Sundays, 130 on
    /// Saturdays, 08:00–20:00. The plan made on Monday 2026-12-21 at 12:00 covers Tue 22 .. Mon 28.
    fn four_weeks(p: &StoreProfile, now: i64) -> Traffic {
        let cat = Catalogue::default();
        let c = ctx("s1", p, &cat, now, false);
        let mut t = Traffic::default();
        for d in 0..28 {
            let day = MONDAY + d * DAY_MS;
            let per_hour = if d % 7 == 5 { 130 } else { 10 };
            for h in 8..20 {
                t.apply(&c, &ft(day + h * H, per_hour, 0));
            }
        }
        t
    }

    #[test]
    fn saturday_needs_more_staff_than_weekdays_and_closed_hours_are_absent() {
        let p = StoreProfile::default();
        let now = MONDAY + 4 * WEEK + 12 * H;
        let t = four_weeks(&p, now);
        let plan = next_week(&t, "s1", &p, now);
        // 7 days × 12 opening hours (08:00..20:00); nothing at night.
        assert_eq!(plan.len(), 84);
        assert!(plan.iter().all(|h| (8..20).contains(&h.hour)));
        assert_eq!(plan[0].date, "2026-12-22");
        assert_eq!(plan[83].date, "2026-12-28");

        let sat: Vec<_> = plan.iter().filter(|h| h.date == "2026-12-26").collect();
        let tue: Vec<_> = plan.iter().filter(|h| h.date == "2026-12-22").collect();
        assert_eq!(sat.len(), 12);
        // Saturday: 130/h at STAR 25 → ceil(5.2) = 6; Tuesday: 10/h → max(2, ceil(0.4)) = 2.
        for h in &sat {
            assert_eq!(h.forecast_entries, Some(130.0));
            assert_eq!(h.weeks, 4);
            assert_eq!(h.needed_staff, 6);
        }
        for h in &tue {
            assert_eq!(h.forecast_entries, Some(10.0));
            assert_eq!(h.needed_staff, 2);
        }
        // Monday the 28th is seven days ahead: a week back is today (not over), so its weeks
        // are 2..=5 back (Dec 14, 7, Nov 30, 23), not today's partial 12:00 hour.
        let mon = plan.last().unwrap();
        assert_eq!((mon.weeks, mon.forecast_entries), (4, Some(10.0)));
    }

    #[test]
    fn the_plan_uses_the_staffing_rule_of_the_signals() {
        let mut p = StoreProfile::default();
        p.rules.staffing.target_star = 50.0;
        p.rules.staffing.min_staff = 1;
        let now = MONDAY + 4 * WEEK + 12 * H;
        let t = four_weeks(&p, now);
        let plan = next_week(&t, "s1", &p, now);
        for h in &plan {
            let (_, needed) = judge(&p.rules.staffing, h.forecast_entries.unwrap(), 0);
            assert_eq!(h.needed_staff, needed);
        }
        // 130 / 50 → 3 on Saturday; 10 / 50 → min_staff 1 on weekdays.
        let sat = plan.iter().find(|h| h.date == "2026-12-26").unwrap();
        assert_eq!(sat.needed_staff, 3);
        assert_eq!(plan[0].needed_staff, 1);
    }
}
