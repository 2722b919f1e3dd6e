//! Step-by-step tests of the uplink's bookkeeping: sending order and pacing, resends after a
//! disconnect or a stall, and commit marks checked against what was published.

use super::*;

fn cfg() -> UplinkConfig {
    UplinkConfig {
        batch_max_events: 10,
        max_inflight: 2,
        stall_timeout_secs: 5,
        backlog_threshold_events: 100,
        backlog_events_per_sec: 0,
        linger_ms: 0,
        ..UplinkConfig::default()
    }
}

fn send(s: &mut State, n: u64) -> (u64, Pick) {
    let p = s.pick(Instant::now()).expect("something to send");
    let to = p.to.min(p.from + n - 1);
    (
        s.sent(p.from, to, (to - p.from + 1) as usize, p.historical),
        p,
    )
}

#[test]
fn sends_nothing_while_disconnected_and_respects_the_window() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 30, t);
    assert_eq!(s.pick(t), None);
    s.on_connected();
    send(&mut s, 10);
    send(&mut s, 10);
    assert_eq!(s.pick(t), None, "window of 2 is full");
    assert_eq!(s.mode(), Mode::Normal);
}

#[test]
fn disconnect_resends_what_was_in_flight_but_not_what_was_acked() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 20, t);
    s.on_connected();
    let (a, _) = send(&mut s, 10);
    let (_b, _) = send(&mut s, 10);
    s.on_puback(a, t);
    s.on_disconnected();
    s.on_connected();
    let p = s.pick(t).unwrap();
    assert_eq!((p.from, p.to), (11, 20));
}

#[test]
fn mark_trims_and_stall_rewinds_only_with_a_collector_online() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 20, t);
    s.on_connected();
    let (a, _) = send(&mut s, 10);
    let (b, _) = send(&mut s, 10);
    s.on_puback(a, t);
    s.on_puback(b, t);
    assert_eq!(s.on_mark(5, &[], t), MarkVerdict::Trim(5));
    assert_eq!(
        s.on_mark(5, &[], t),
        MarkVerdict::Nothing,
        "a repeated mark changes nothing"
    );
    assert_eq!(s.pick(t), None, "all sent and acked by the broker");
    let later = t + Duration::from_secs(6);
    assert!(
        !s.tick(later),
        "no collector online: HQ is down, keep waiting"
    );
    s.on_collector("hq", true);
    assert!(
        s.tick(later),
        "collector online and mark stalled: the broker lost them"
    );
    let p = s.pick(t).unwrap();
    assert_eq!((p.from, p.to), (6, 20), "resend from the collector's mark");
    assert_eq!(s.rewinds, 1);
}

/// Found by the `agent_ack` fuzz target (fuzz/regressions/agent_ack/
/// crash-done-above-withdrawn): a mark saying the collector holds 12..=20, then one that no
/// longer says so, left 12..=20 in none of the sets: never resent, the mark stuck at 11.
#[test]
fn seqs_a_later_mark_no_longer_claims_are_sent_again() {
    // The fuzz input: held from 1, head 20; connect, send 1..=20, disconnect, then two
    // messages on the ack topic: CommitMark { done_above: [12..=20] } and an empty one.
    const INPUT: [u8; 21] = [
        0x01, 0x14, 0x0b, 0x00, 0x4a, 0x58, 0x01, 0x06, 0x00, 0x06, 0x00, 0x22, 0x04, 0x08, 0x0c,
        0x10, 0x14, 0x06, 0x00, 0x00, 0x00,
    ];
    let ack = "stores/s1/agents/a1/ack";
    let mark = |payload: &[u8]| match crate::uplink::decode_incoming(ack, ack, payload) {
        Ok(Some(crate::uplink::LinkEvent::Mark {
            committed,
            done_above,
        })) => (committed, done_above),
        other => panic!("{other:?}"),
    };
    let t = Instant::now();
    let mut c = cfg();
    c.batch_max_events = 20;
    let mut s = State::new(c, Some(1), 20, t);
    s.on_connected();
    send(&mut s, 20);
    s.on_disconnected();
    let (committed, done_above) = mark(&INPUT[11..17]);
    assert_eq!((committed, &done_above[..]), (0, &[(12, 20)][..]));
    assert_eq!(s.on_mark(committed, &done_above, t), MarkVerdict::Nothing);
    assert_eq!(s.todo_len(), 11, "what the collector holds is not resent");
    let (committed, done_above) = mark(&INPUT[21..]);
    assert_eq!(s.on_mark(committed, &done_above, t), MarkVerdict::Nothing);
    assert_eq!(s.tracked().ranges().collect::<Vec<_>>(), vec![(1, 20)]);
    assert_eq!(s.todo_len(), 20, "no longer claimed: sent again");
    assert_eq!(s.audit(), Ok(()));
}

#[test]
fn made_up_collector_ids_do_not_grow_memory() {
    let t = Instant::now();
    let mut s = State::new(cfg(), None, 0, t);
    for i in 0..10 * MAX_COLLECTORS {
        s.on_collector(&format!("fake-{i}"), true);
    }
    assert_eq!(s.collectors.len(), MAX_COLLECTORS);
    assert!(s.collector_online());
    s.on_collector("fake-0", false);
    s.on_collector("hq", true);
    assert!(s.collectors.contains("hq"), "a freed place is taken again");
    assert_eq!(s.audit(), Ok(()));
}

#[test]
fn the_audit_sees_every_held_seq_tracked_once() {
    let t = Instant::now();
    let mut c = cfg();
    c.max_inflight = 4;
    let mut s = State::new(c, Some(1), 40, t);
    s.on_connected();
    let (a, _) = send(&mut s, 10);
    let (_b, _) = send(&mut s, 10);
    s.on_puback(a, t);
    assert_eq!(s.audit(), Ok(()));
    assert_eq!(s.tracked().ranges().collect::<Vec<_>>(), vec![(1, 40)]);
    assert_eq!(s.on_mark(5, &[(12, 14)], t), MarkVerdict::Trim(5));
    assert_eq!(s.audit(), Ok(()));
    // A seq in two places is what the audit is for.
    s.todo.insert(15);
    assert!(s.audit().is_err());
}

#[test]
fn a_rewind_resends_only_what_the_collector_lacks() {
    let t = Instant::now();
    let mut c = cfg();
    c.max_inflight = 10;
    let mut s = State::new(c, Some(1), 40, t);
    s.on_connected();
    s.on_collector("hq", true);
    for _ in 0..4 {
        let (id, _) = send(&mut s, 10);
        s.on_puback(id, t);
    }
    // The broker lost 11..=14; the collector holds 1..=10 and 15..=40.
    assert_eq!(s.on_mark(10, &[(15, 40)], t), MarkVerdict::Trim(10));
    assert!(s.tick(t + Duration::from_secs(5)));
    let p = s.pick(t).unwrap();
    assert_eq!((p.from, p.to), (11, 14));
    s.sent(11, 14, 4, p.historical);
    assert_eq!(s.pick(t), None, "nothing else to resend");
}

#[test]
fn collector_presence_is_forgotten_on_disconnect() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 10, t);
    s.on_connected();
    s.on_collector("hq", true);
    let (a, _) = send(&mut s, 10);
    s.on_puback(a, t);
    s.on_disconnected();
    s.on_connected();
    assert!(
        !s.tick(t + Duration::from_secs(6)),
        "nobody said a collector is there"
    );
    s.on_collector("hq", true);
    assert!(s.tick(t + Duration::from_secs(6)));
}

#[test]
fn a_moving_mark_is_not_a_stall() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 20, t);
    s.on_connected();
    s.on_collector("hq", true);
    let (a, _) = send(&mut s, 10);
    let (b, _) = send(&mut s, 10);
    s.on_puback(a, t);
    s.on_puback(b, t);
    s.on_mark(10, &[], t + Duration::from_secs(4));
    assert!(!s.tick(t + Duration::from_secs(8)));
    assert!(s.tick(t + Duration::from_secs(9)));
}

#[test]
fn live_events_go_before_a_backlog_which_is_rate_limited_and_historical() {
    let t = Instant::now();
    let mut c = cfg();
    c.backlog_events_per_sec = 10;
    c.max_inflight = 100;
    let mut s = State::new(c, Some(1), 500, t);
    s.on_connected();
    assert_eq!(s.mode(), Mode::Backlog);
    s.on_head(505, t);
    let (_, p) = send(&mut s, 10);
    assert_eq!(
        (p.from, p.to, p.historical),
        (501, 505, false),
        "live first"
    );
    let (_, p) = send(&mut s, 10);
    assert_eq!((p.from, p.historical), (1, true));
    assert_eq!(s.pick(t), None, "drain budget spent");
    s.on_head(506, t);
    let (_, p) = send(&mut s, 10);
    assert_eq!(
        (p.from, p.historical),
        (506, false),
        "live is not held back by the budget"
    );
    assert_eq!(s.pick(t), None);
    s.tick(t + Duration::from_millis(500));
    let p = s.pick(t).unwrap();
    assert_eq!(
        (p.from, p.to, p.historical),
        (11, 500, true),
        "budget refilled"
    );
}

#[test]
fn live_events_linger_until_the_batch_fills_or_time_is_up() {
    let t = Instant::now();
    let mut c = cfg();
    c.linger_ms = 5;
    let mut s = State::new(c, None, 0, t);
    s.on_connected();
    s.on_head(3, t);
    assert_eq!(s.pick(t), None, "3 of 10 events: wait a little");
    assert_eq!(s.linger_deadline(), Some(t + Duration::from_millis(5)));
    let p = s.pick(t + Duration::from_millis(5)).unwrap();
    assert_eq!((p.from, p.to), (1, 3));
    s.sent(1, 3, 3, false);
    assert_eq!(s.linger_deadline(), None);
    s.on_head(13, t + Duration::from_millis(6));
    let p = s.pick(t + Duration::from_millis(6)).unwrap();
    assert_eq!((p.from, p.to), (4, 13), "a full batch goes at once");
}

#[test]
fn skipped_ranges_are_not_sent() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 20, t);
    s.on_connected();
    s.skip(1, 15);
    let p = s.pick(t).unwrap();
    assert_eq!((p.from, p.to), (16, 20));
}

/// Sends everything that is due, one batch at a time, as the uplink's fill loop does.
fn send_all(s: &mut State, t: Instant) -> u64 {
    let mut last = 0;
    while let Some(p) = s.pick(t) {
        s.sent(p.from, p.to, (p.to - p.from + 1) as usize, p.historical);
        last = p.to;
    }
    last
}

#[test]
fn a_mark_above_what_was_published_is_forged_and_ignored() {
    let t = Instant::now();
    let mut s = State::new(cfg(), None, 0, t);
    s.on_connected();
    s.on_head(5, t);
    send(&mut s, 10);
    assert_eq!(s.plausible_bound(), 5);
    // head + 1000: the old bug trimmed events 6.. before they were ever sent.
    assert_eq!(
        s.on_mark(1005, &[(1006, 2000)], t),
        MarkVerdict::Forged {
            mark: 1005,
            bound: 5
        }
    );
    assert_eq!(s.mark(), 0, "the applied mark did not move");
    s.on_head(8, t);
    let p = s.pick(t).expect("new events are still sent");
    assert_eq!((p.from, p.to), (6, 8));
    assert_eq!(s.forged_marks, 1);
}

#[test]
fn a_forged_max_mark_does_not_stop_later_genuine_marks() {
    let t = Instant::now();
    let mut s = State::new(cfg(), None, 0, t);
    s.on_connected();
    s.on_head(10, t);
    send(&mut s, 10);
    assert!(matches!(
        s.on_mark(u64::MAX, &[], t),
        MarkVerdict::Forged { mark: u64::MAX, .. }
    ));
    assert_eq!(s.on_mark(4, &[], t), MarkVerdict::Trim(4), "genuine mark");
    assert!(matches!(
        s.on_mark(u64::MAX, &[], t),
        MarkVerdict::Forged { .. }
    ));
    assert_eq!(s.on_mark(10, &[], t), MarkVerdict::Trim(10));
    assert_eq!(s.forged_marks, 2);
}

#[test]
fn after_a_restart_a_retained_mark_trims_only_what_this_run_resent() {
    let t = Instant::now();
    // The journal holds 1..=20 from an earlier run; the retained mark says 15 (a genuine mark
    // that arrived after the last trim, or a forgery no higher than the old head).
    let mut s = State::new(cfg(), Some(1), 20, t);
    assert_eq!(s.plausible_bound(), 20);
    assert_eq!(s.on_mark(15, &[(17, 18)], t), MarkVerdict::Nothing);
    assert_eq!(s.mark(), 0, "nothing this run has not published is trimmed");
    assert!(matches!(
        s.on_mark(21, &[], t),
        MarkVerdict::Forged { bound: 20, .. }
    ));
    s.on_connected();
    let (_, p) = send(&mut s, 10);
    assert_eq!((p.from, p.to), (1, 20), "everything is resent");
    assert_eq!(s.due_trim(t), Some(10), "trimmed as the resend catches up");
    send(&mut s, 10);
    assert_eq!(
        s.due_trim(t),
        Some(15),
        "up to the claimed mark, no further"
    );
    assert_eq!(s.due_trim(t), None);
    assert_eq!(s.on_mark(20, &[], t), MarkVerdict::Trim(20));
}

#[test]
fn a_batch_that_never_reached_the_client_does_not_count_as_published() {
    let t = Instant::now();
    let mut s = State::new(cfg(), None, 0, t);
    s.on_connected();
    s.on_head(5, t);
    send(&mut s, 5);
    s.on_head(9, t);
    let (id, _) = send(&mut s, 10);
    s.on_disconnected_batch(id);
    assert_eq!(s.plausible_bound(), 5);
    assert!(matches!(s.on_mark(9, &[], t), MarkVerdict::Forged { .. }));
    assert_eq!(send_all(&mut s, t), 9);
    assert_eq!(s.on_mark(9, &[], t), MarkVerdict::Trim(9));
}

/// Sends everything pickable as batches of at most `cfg().batch_max_events`, PUBACKs them, and
/// returns the picks.
fn drain(s: &mut State, t: Instant) -> Vec<Pick> {
    let mut out = Vec::new();
    while let Some(p) = s.pick(t) {
        let id = s.sent(p.from, p.to, (p.to - p.from + 1) as usize, p.historical);
        s.on_puback(id, t);
        out.push(p);
        assert!(out.len() < 1000, "picks never end");
    }
    out
}

/// An agent that sent and had committed 1..=20.
fn committed_through_20(t: Instant) -> State {
    let mut s = State::new(cfg(), Some(1), 20, t).acked(0);
    s.on_connected();
    drain(&mut s, t);
    assert_eq!(s.on_mark(20, &[], t), MarkVerdict::Trim(20));
    s
}

#[test]
fn rewind_replays_exactly_what_is_held_and_reports_the_rest_once() {
    let t = Instant::now();
    let mut s = committed_through_20(t);
    // HQ restored: its mark is back at 12 and it holds 15..=16 above it.
    assert_eq!(
        s.on_mark(12, &[(15, 16)], t),
        MarkVerdict::Rewind { from: 20, to: 12 }
    );
    // The journal's retention floor is 14: 13 is gone.
    let lost: Vec<_> = s.take_unheld(14).ranges().collect();
    assert_eq!(lost, [(13, 13)]);
    let picks = drain(&mut s, t);
    let sent: Vec<_> = picks.iter().map(|p| (p.from, p.to)).collect();
    assert_eq!(sent, [(14, 14), (17, 20)], "done_above skipped");
    assert!(picks.iter().all(|p| p.historical && p.replay));
    assert_eq!(s.mark(), 20, "the applied mark never goes down");
    s.audit().unwrap();
    // The same low mark again (retained, on reconnect): no second rewind, nothing lost twice.
    assert_eq!(s.on_mark(12, &[(15, 16)], t), MarkVerdict::Nothing);
    assert!(s.take_unheld(14).is_empty());
    assert_eq!(s.pick(t), None);
    assert_eq!(s.restores, 1);
    // The collector catches up; a later restore rewinds again.
    assert_eq!(s.on_mark(20, &[], t), MarkVerdict::Nothing);
    assert_eq!(
        s.on_mark(17, &[], t),
        MarkVerdict::Rewind { from: 20, to: 17 }
    );
    let sent: Vec<_> = drain(&mut s, t).iter().map(|p| (p.from, p.to)).collect();
    assert_eq!(sent, [(18, 20)]);
    assert_eq!(s.restores, 2);
}

#[test]
fn rewind_resends_what_the_broker_acknowledged_above_the_mark() {
    let t = Instant::now();
    let mut s = committed_through_20(t);
    s.on_head(25, t);
    let picks = drain(&mut s, t);
    assert_eq!((picks[0].from, picks[0].to), (21, 25));
    assert_eq!(
        s.on_mark(18, &[], t),
        MarkVerdict::Rewind { from: 20, to: 18 }
    );
    let sent: Vec<_> = drain(&mut s, t)
        .iter()
        .map(|p| (p.from, p.to, p.replay))
        .collect();
    assert_eq!(
        sent,
        [(21, 25, false), (19, 20, true)],
        "backlog first, then replays"
    );
    s.audit().unwrap();
    // Once the collector is past them, the mark moves on as usual.
    assert_eq!(s.on_mark(25, &[], t), MarkVerdict::Trim(25));
}

#[test]
fn restart_resumes_at_the_persisted_mark_and_a_lower_one_is_a_rewind() {
    let t = Instant::now();
    // The journal holds 1..=30 (1..=20 retained) and persisted the acked mark 20.
    let mut s = State::new(cfg(), Some(1), 30, t).acked(20);
    s.on_connected();
    let p = s.pick(t).unwrap();
    assert_eq!(
        (p.from, p.to),
        (21, 30),
        "retained events are not resent at start"
    );
    assert_eq!(s.on_mark(20, &[], t), MarkVerdict::Nothing);
    assert_eq!(
        s.on_mark(15, &[], t),
        MarkVerdict::Rewind { from: 20, to: 15 }
    );
}

#[test]
fn a_resend_request_below_the_mark_does_not_move_the_mark() {
    let t = Instant::now();
    let mut s = committed_through_20(t);
    s.on_head(22, t);
    let held = SeqSet::from_ranges([(5, 8), (10, 10), (19, 22)]);
    assert_eq!(s.queue_resend(&held), 9);
    s.audit().unwrap();
    let picks = drain(&mut s, t);
    let sent: Vec<_> = picks.iter().map(|p| (p.from, p.to, p.replay)).collect();
    assert_eq!(
        sent,
        [
            (21, 22, false),
            (5, 8, true),
            (10, 10, true),
            (19, 20, true)
        ]
    );
    assert_eq!(s.mark(), 20);
    s.audit().unwrap();
    // A replay lost with the connection is queued again, still outside the bookkeeping.
    assert!(s.queue_resend(&SeqSet::from_ranges([(3, 4)])) == 2);
    let p = s.pick(t).unwrap();
    s.sent(p.from, p.to, 2, p.historical);
    s.on_disconnected();
    s.on_connected();
    let p = s.pick(t).unwrap();
    assert_eq!((p.from, p.to, p.replay), (3, 4, true));
    assert_eq!(s.on_mark(22, &[], t), MarkVerdict::Trim(22));
    s.audit().unwrap();
}

#[test]
fn lost_replays_of_a_rewind_are_replayed_after_the_stall_timeout() {
    let t = Instant::now();
    let mut s = committed_through_20(t);
    s.on_collector("hq", true);
    assert!(matches!(s.on_mark(10, &[], t), MarkVerdict::Rewind { .. }));
    drain(&mut s, t);
    // The broker lost them: the collector stays at 12.
    assert_eq!(s.on_mark(12, &[], t), MarkVerdict::Nothing);
    assert!(!s.tick(t));
    assert!(!s.tick(t + Duration::from_secs(1)));
    assert!(s.tick(t + Duration::from_secs(6)));
    let sent: Vec<_> = drain(&mut s, t).iter().map(|p| (p.from, p.to)).collect();
    assert_eq!(sent, [(13, 20)]);
}

#[test]
fn rewind_resends_what_an_earlier_mark_said_the_collector_held() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 20, t).acked(0);
    s.on_connected();
    let (a, _) = send(&mut s, 10);
    s.on_puback(a, t);
    // The collector holds 1..=5 and 15..=20; 11..=20 were never sent.
    assert_eq!(s.on_mark(5, &[(15, 20)], t), MarkVerdict::Trim(5));
    // Restored to 3 without them: 15..=20 must go out again, not be forgotten.
    assert!(matches!(s.on_mark(3, &[], t), MarkVerdict::Rewind { .. }));
    s.audit().unwrap();
    let mut sent: Vec<_> = drain(&mut s, t).iter().map(|p| (p.from, p.to)).collect();
    sent.sort_unstable();
    assert_eq!(sent, [(4, 5), (6, 20)]);
}

#[test]
fn replays_the_collector_has_that_left_retention_are_dropped_not_reported() {
    let t = Instant::now();
    let mut s = committed_through_20(t);
    s.queue_resend(&SeqSet::from_ranges([(3, 8)]));
    // Retention dropped 1..=5 meanwhile: 3..=5 go unsent, and HQ has them: no loss to report.
    assert!(s.take_unheld(6).is_empty());
    let sent: Vec<_> = drain(&mut s, t).iter().map(|p| (p.from, p.to)).collect();
    assert_eq!(sent, [(6, 8)]);
}

#[test]
fn the_first_birth_seen_is_the_collector_already_there() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 30, t);
    s.on_connected();
    let (a, _) = send(&mut s, 10);
    s.on_puback(a, t);
    // Its retained status arrives after the first batch went out: no resend, no duplicates.
    assert!(!s.on_collector_birth("hq", 1_000, t));
    assert_eq!(s.birth_resends, 0);
    assert!(s.pick(t).is_none_or(|p| p.from > 10), "1..=10 queued again");
    s.audit().unwrap();
}

#[test]
fn a_new_collector_birth_resends_what_the_broker_acked_at_once() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 30, t);
    s.on_connected();
    assert!(!s.on_collector_birth("hq", 1_000, t), "nothing sent yet");
    let (a, _) = send(&mut s, 10);
    let (b, _) = send(&mut s, 10);
    s.on_puback(a, t);
    // The broker restarted empty: 1..=10 were accepted and dropped; 11..=20 are in flight.
    let later = t + Duration::from_millis(10);
    assert!(s.on_collector_birth("hq", 2_000, later));
    assert_eq!(s.birth_resends, 1);
    let p = s.pick(later).unwrap();
    assert_eq!((p.from, p.to), (1, 10), "resent at once, no stall timeout");
    // The batch in flight when the birth arrived goes again once the broker acknowledges it.
    s.on_puback(b, later);
    s.sent(1, 10, 10, p.historical);
    let p = s.pick(later).unwrap();
    assert_eq!(
        (p.from, p.to),
        (11, 30),
        "11..=20 back before the unsent 21..=30"
    );
    s.audit().unwrap();
}

#[test]
fn the_same_birth_again_or_too_soon_resends_nothing() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 30, t);
    s.on_connected();
    assert!(
        !s.on_collector_birth("hq", 500, t),
        "the collector already there"
    );
    let (a, _) = send(&mut s, 10);
    s.on_puback(a, t);
    assert!(s.on_collector_birth("hq", 1_000, t));
    let (a, _) = send(&mut s, 10);
    s.on_puback(a, t);
    // This agent reconnects and the broker tells it the retained status again: same birth.
    s.on_disconnected();
    s.on_connected();
    let t2 = t + Duration::from_secs(2);
    assert!(!s.on_collector_birth("hq", 1_000, t2));
    assert!(s.collector_online(), "still counts as online");
    // A made-up birth right after a real one is not worth a second resend.
    let (c, _) = send(&mut s, 10);
    s.on_puback(c, t2);
    assert!(s.on_collector_birth("hq", 3_000, t2));
    assert!(!s.on_collector_birth("hq", 4_000, t2 + Duration::from_millis(100)));
    assert_eq!(s.birth_resends, 2);
    s.audit().unwrap();
}

#[test]
fn the_backlog_fills_the_drain_window_and_moves_on_with_the_mark() {
    let t = Instant::now();
    let mut c = cfg();
    c.max_inflight = 8;
    c.drain_window_events = 30;
    let mut s = State::new(c, Some(1), 200, t);
    s.on_connected();
    s.on_collector_birth("hq", 1, t);
    assert_eq!(s.mode(), Mode::Backlog);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (id, p) = send(&mut s, 10);
        assert!(p.historical);
        ids.push(id);
    }
    assert_eq!(
        s.pick(t),
        None,
        "30 historical events out: the window is full"
    );
    for id in ids {
        s.on_puback(id, t);
    }
    assert_eq!(
        s.pick(t),
        None,
        "PUBACKed is not enough: the collector has not confirmed them"
    );
    // Live events are not held back by the drain window.
    s.on_head(205, t);
    let (_, p) = send(&mut s, 10);
    assert_eq!((p.from, p.to, p.historical), (201, 205, false));
    // The collector commits 1..=20: 20 more may go.
    assert_eq!(s.on_mark(20, &[], t), MarkVerdict::Trim(20));
    let (x, p) = send(&mut s, 10);
    assert_eq!((p.from, p.historical), (31, true));
    let (y, p) = send(&mut s, 10);
    assert_eq!(p.from, 41);
    assert_eq!(s.pick(t), None);
    s.on_puback(x, t);
    s.on_puback(y, t);
    // What the collector holds above a gap does not count against the window.
    assert_eq!(s.on_mark(20, &[(31, 40)], t), MarkVerdict::Nothing);
    let (_, p) = send(&mut s, 10);
    assert_eq!(p.from, 51);
    s.audit().unwrap();
}

#[test]
fn historical_batches_leave_window_slots_for_live_ones() {
    let t = Instant::now();
    let mut c = cfg();
    c.max_inflight = 4;
    c.drain_window_events = 1_000_000;
    let mut s = State::new(c, Some(1), 500, t);
    s.on_connected();
    for _ in 0..3 {
        assert!(send(&mut s, 10).1.historical);
    }
    assert_eq!(
        s.pick(t),
        None,
        "three of four slots are historical at most"
    );
    s.on_head(501, t);
    let (_, p) = send(&mut s, 10);
    assert_eq!(
        (p.from, p.historical),
        (501, false),
        "the last slot is live's"
    );
}

#[test]
fn a_birth_resend_keeps_live_events_live() {
    let t = Instant::now();
    let mut s = State::new(cfg(), Some(1), 200, t);
    s.on_connected();
    s.on_collector_birth("hq", 6, t);
    s.on_head(205, t);
    let (id, p) = send(&mut s, 10);
    assert_eq!((p.from, p.historical), (201, false));
    s.on_puback(id, t);
    s.on_head(206, t);
    assert!(s.on_collector_birth("hq", 7, t));
    let p = s.pick(t).unwrap();
    assert_eq!(
        (p.from, p.to, p.historical),
        (201, 206, false),
        "the resent live events and the new one are still live"
    );
}
