//! The uplink's bookkeeping, free of I/O so it can be tested step by step.
//!
//! Every held seq is in exactly one of: `todo` (to send), a batch in flight (published, no PUBACK
//! yet), or `broker_acked` (PUBACKed, not yet under the collector's mark). The collector's mark
//! removes seqs from all of them. What moves seqs back into `todo`:
//! - a disconnect: in-flight batches are resent (rumqttc drops them on a clean reconnect);
//! - a stall: a collector is online, yet its mark has not reached what the broker acknowledged
//!   for `stall_timeout`; the broker lost them (crash, wipe), so everything PUBACKed is resent.
//!
//! Live first: seqs `>= live_from` are live and go first; seqs below it are the backlog,
//! sent as `historical` batches at the configured drain rate beside the live ones.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use store_proto::SeqSet;

use crate::config::UplinkConfig;

/// Which mode the uplink is in, for status and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disconnected,
    /// Connected, nothing old to drain.
    Normal,
    /// Connected, draining a backlog beside live data.
    Backlog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub first: u64,
    pub last: u64,
    pub historical: bool,
    /// Events in the batch (what a historical batch took from the drain budget).
    pub events: usize,
    pub sent_at: Instant,
}

/// What to send next: the seq range to read from the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub from: u64,
    pub to: u64,
    pub historical: bool,
}

#[derive(Debug)]
pub struct State {
    cfg: UplinkConfig,
    todo: SeqSet,
    inflight: HashMap<u64, InFlight>,
    broker_acked: SeqSet,
    mark: u64,
    /// Seqs above the mark the collector already holds (from its last mark message).
    done_above: SeqSet,
    stall_since: Option<Instant>,
    collectors: HashSet<String>,
    head: u64,
    live_from: u64,
    connected: bool,
    tokens: f64,
    last_refill: Instant,
    next_id: u64,
    /// When the oldest live seq not yet sent became durable (for the linger).
    live_since: Option<Instant>,
    pub rewinds: u64,
}

impl State {
    /// `held` is the journal's lowest held seq (if any) and `head` its durable head.
    pub fn new(cfg: UplinkConfig, held: Option<u64>, head: u64, now: Instant) -> Self {
        let mut todo = SeqSet::new();
        if let Some(first) = held {
            todo.insert_range(first, head);
        }
        let mut s = Self {
            tokens: cfg.batch_max_events as f64,
            cfg,
            todo,
            inflight: HashMap::new(),
            broker_acked: SeqSet::new(),
            mark: 0,
            done_above: SeqSet::new(),
            stall_since: None,
            collectors: HashSet::new(),
            head,
            live_from: 0,
            connected: false,
            last_refill: now,
            next_id: 1,
            live_since: None,
            rewinds: 0,
        };
        s.reclassify();
        s
    }

    pub fn mode(&self) -> Mode {
        if !self.connected {
            Mode::Disconnected
        } else if self.todo.first().is_some_and(|f| f < self.live_from) {
            Mode::Backlog
        } else {
            Mode::Normal
        }
    }

    pub fn mark(&self) -> u64 {
        self.mark
    }

    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    pub fn todo_len(&self) -> u64 {
        self.todo.len()
    }

    pub fn collector_online(&self) -> bool {
        !self.collectors.is_empty()
    }

    /// A large enough backlog becomes historical; new seqs from here on are live.
    fn reclassify(&mut self) {
        if self.todo.len() >= self.cfg.backlog_threshold_events {
            self.live_from = self.head + 1;
        }
    }

    /// The journal made seqs up to `head` durable.
    pub fn on_head(&mut self, head: u64, now: Instant) {
        if head > self.head {
            self.todo
                .insert_range((self.head + 1).max(self.mark + 1), head);
            self.head = head;
            self.live_since.get_or_insert(now);
        }
    }

    fn linger(&self) -> Duration {
        Duration::from_millis(self.cfg.linger_ms)
    }

    /// When held-back live events must go out even if the batch is not full.
    pub fn linger_deadline(&self) -> Option<Instant> {
        let since = self.live_since?;
        self.todo.first_range_from(self.live_from)?;
        Some(since + self.linger())
    }

    pub fn on_connected(&mut self) {
        self.connected = true;
    }

    /// Everything in flight is lost with the connection: send it again.
    pub fn on_disconnected(&mut self) {
        self.connected = false;
        // Collector statuses are retained: the broker tells them again after we resubscribe,
        // and a wiped broker must not leave us believing a collector is listening.
        self.collectors.clear();
        for (_, b) in self.inflight.drain() {
            self.todo.insert_range(b.first.max(self.mark + 1), b.last);
        }
        self.reclassify();
    }

    /// The broker acknowledged a batch; returns how long that took.
    pub fn on_puback(&mut self, id: u64, now: Instant) -> Option<Duration> {
        let b = self.inflight.remove(&id)?;
        self.broker_acked
            .insert_range(b.first.max(self.mark + 1), b.last);
        if self.stall_since.is_none() && !self.broker_acked.is_empty() {
            self.stall_since = Some(now);
        }
        Some(now.saturating_duration_since(b.sent_at))
    }

    /// The collector's committed mark and what it holds above it; returns the mark to trim the
    /// journal to when it moved.
    pub fn on_mark(&mut self, mark: u64, done_above: &[(u64, u64)], now: Instant) -> Option<u64> {
        if mark < self.mark {
            return None; // a stale retained message
        }
        // What the collector holds needs no sending, now or after a rewind.
        self.done_above = SeqSet::from_ranges(done_above.iter().copied());
        self.done_above.remove_through(mark);
        for (a, b) in self.done_above.ranges() {
            self.todo.remove_range(a, b);
        }
        if mark == self.mark {
            return None;
        }
        self.mark = mark;
        self.todo.remove_through(mark);
        self.broker_acked.remove_through(mark);
        self.done_above.remove_through(mark);
        self.stall_since = (!self.broker_acked.is_empty()).then_some(now);
        Some(mark)
    }

    pub fn on_collector(&mut self, id: &str, online: bool) {
        if online {
            self.collectors.insert(id.to_owned());
        } else {
            self.collectors.remove(id);
        }
    }

    /// Refills the drain budget and detects a stall; returns true when it rewound.
    pub fn tick(&mut self, now: Instant) -> bool {
        let rate = self.cfg.backlog_events_per_sec as f64;
        if rate > 0.0 {
            let dt = now
                .saturating_duration_since(self.last_refill)
                .as_secs_f64();
            let cap = rate.max(self.cfg.batch_max_events as f64);
            self.tokens = (self.tokens + rate * dt).min(cap);
        }
        self.last_refill = now;
        let stalled = self.stall_since.is_some_and(|t| {
            now.saturating_duration_since(t) >= Duration::from_secs(self.cfg.stall_timeout_secs)
        });
        if stalled && self.collector_online() {
            for (a, b) in self.broker_acked.ranges().collect::<Vec<_>>() {
                self.todo.insert_range(a, b);
            }
            // Only what the collector lacks: a small gap costs a small resend.
            for (a, b) in self.done_above.ranges() {
                self.todo.remove_range(a, b);
            }
            self.broker_acked = SeqSet::new();
            self.stall_since = None;
            self.rewinds += 1;
            self.reclassify();
            return true;
        }
        false
    }

    /// The next range to read and send, if the window and the drain budget allow.
    ///
    /// Live events wait up to `linger_ms` for a batch to fill, so a store sending a steady
    /// trickle does not pay one MQTT message per event.
    pub fn pick(&self, now: Instant) -> Option<Pick> {
        if !self.connected || self.inflight.len() >= self.cfg.max_inflight {
            return None;
        }
        if let Some((from, to)) = self.todo.first_range_from(self.live_from) {
            let full = to - from + 1 >= self.cfg.batch_max_events as u64;
            let waited = self
                .live_since
                .is_none_or(|since| now >= since + self.linger());
            if full || waited {
                return Some(Pick {
                    from,
                    to,
                    historical: false,
                });
            }
        }
        let (from, to) = self.todo.first_range()?;
        if from >= self.live_from {
            return None; // live events lingering
        }
        if self.cfg.backlog_events_per_sec > 0 && self.tokens <= 0.0 {
            return None;
        }
        Some(Pick {
            from,
            to: to.min(self.live_from - 1),
            historical: true,
        })
    }

    /// A batch that could not be handed to the client after all: back to the to-send set.
    pub fn on_disconnected_batch(&mut self, id: u64) {
        if let Some(b) = self.inflight.remove(&id) {
            self.todo.insert_range(b.first.max(self.mark + 1), b.last);
            if b.historical {
                self.tokens += b.events as f64;
            }
        }
    }

    /// Nothing is held in `from..=to` any more (trimmed or shed): nothing to send there.
    pub fn skip(&mut self, from: u64, to: u64) {
        self.todo.remove_range(from, to);
    }

    /// A batch covering `from..=to` with `events` events was handed to the MQTT client.
    pub fn sent(&mut self, from: u64, to: u64, events: usize, historical: bool) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.todo.remove_range(from, to);
        self.inflight.insert(
            id,
            InFlight {
                first: from,
                last: to,
                historical,
                events,
                sent_at: Instant::now(),
            },
        );
        if historical {
            self.tokens -= events as f64;
        } else if self.todo.first_range_from(self.live_from).is_none() {
            self.live_since = None;
        }
        id
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(s.on_mark(5, &[], t), Some(5));
        assert_eq!(s.on_mark(4, &[], t), None, "marks never go back");
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
        assert_eq!(s.on_mark(10, &[(15, 40)], t), Some(10));
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
}
