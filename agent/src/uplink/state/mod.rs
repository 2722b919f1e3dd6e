//! The uplink's bookkeeping, free of I/O so it can be tested step by step.
//!
//! Every held seq is in exactly one of: `todo` (to send), a batch in flight (published, no PUBACK
//! yet), or `broker_acked` (PUBACKed, not yet under the collector's mark). The collector's mark
//! removes seqs from all of them. What moves seqs back into `todo`:
//! - a disconnect: in-flight batches are resent (rumqttc drops them on a clean reconnect);
//! - a stall: a collector is online, yet its mark has not reached what the broker acknowledged
//!   for `stall_timeout`; the broker lost them (crash, wipe), so everything PUBACKed is resent.
//! - a collector's birth: a collector publishes its retained online status (with the time it
//!   subscribed) after every (re)subscription. A birth not seen before means batches the broker
//!   accepted before it may have reached nobody (a broker restarted empty accepts and drops
//!   them): everything PUBACKed and not under the mark is resent at once, and so is what was in
//!   flight when the birth arrived (once PUBACKed), instead of waiting for the stall timeout.
//!   The same birth again (the retained status after this agent's own reconnect) changes
//!   nothing; births resend at most once per [`BIRTH_RESEND_GAP`], since anyone allowed to
//!   publish statuses could make them up (the stall timeout still covers a skipped one).
//!
//! Live first: seqs `>= live_from` are live and go first; seqs below it are the backlog,
//! sent as `historical` batches with what is left: historical batches (backlog and replays)
//! take at most three quarters of the in-flight window, so a live batch always finds a slot,
//! and the backlog published but not under the collector's mark stays within
//! `drain_window_events`, so a live batch queues at HQ behind at most that many events. The
//! drain then runs as fast as the collector's marks come back; `backlog_events_per_sec` is an
//! optional cap on top. Replays are outside the mark bookkeeping: only the window slots bound
//! them.
//!
//! # Commit marks are checked against what was published
//! The mark on `.../ack` is retained on the broker, so anyone who can publish there (a
//! misconfigured ACL, a second agent with the same ids, an old broker state after this agent's
//! `state_dir` was reset) could otherwise make the journal delete events that never left the
//! store (invariant 3 would then be broken by a single message). Two bounds protect the journal:
//!
//! - **Plausible**: a legitimate mark is at most the highest seq this agent can ever have
//!   published: `max(head at start, highest seq published in this run)`. Events up to the journal's
//!   head at start may have gone out in an earlier run (published seqs are not persisted: that
//!   would cost a write per batch); anything above was issued in this run and is known exactly.
//!   A mark above that bound is *forged*: it is ignored as a whole (its `done_above` too), the
//!   applied mark does not move (so a later genuine mark still trims, even after a forged
//!   `u64::MAX`), and the caller reports it (log, metric, status, an event for HQ).
//! - **Applied**: the journal is trimmed only through `min(claimed mark, highest seq published in
//!   this run)`: an event this run has not handed to the broker is never trimmed, whatever the
//!   mark says. After a restart, a retained mark above what this run has published (a genuine one
//!   from the previous run, or a forgery no higher than the old head) is remembered as *claimed*
//!   and applied step by step as the resend catches up: those events go out once more and the
//!   collector drops them as duplicates (invariant 1). The cost is a resend of what was committed
//!   but not yet trimmed at the last stop (normally a handful of events); the gain is that no
//!   message on `.../ack` can delete an event that was never sent.
//!
//! What remains trusted: a forged mark no higher than what was published can still trim events
//! that are in flight and that the collector has not committed; telling those apart needs
//! authenticated marks (broker ACLs are the protection today).
//!
//! "Published" means handed to the MQTT client (before its PUBACK): the collector may commit a
//! batch before this agent sees the broker's PUBACK for it.
//!
//! # A mark going back: the collector was restored
//! A plausible mark below the highest one seen (`claimed`, which starts at the journal's
//! persisted acked mark after a restart) means the collector lost state: HQ restored it from a
//! backup (or the broker restored an old retained mark, which then only costs duplicates). The
//! state answers [`MarkVerdict::Rewind`] once: the seqs in `(new mark, applied mark]` (held in the
//! journal's retention window) go to the *replay* set, everything PUBACKed above the applied mark
//! goes back to `todo`, and what the new mark's `done_above` names is skipped. The caller then
//! takes what the journal no longer holds out with [`State::take_unheld`] (one `DataLoss` for
//! it). The same low mark again is then no longer below `claimed`: nothing happens twice; a
//! later rewind works the same way. The applied mark never goes down: trims only move up, and
//! the journal keeps what is replayed in retention.
//!
//! # Replays
//! The replay set holds seqs at or below the applied mark to send again as historical batches
//! (a rewind, or a resend request through [`super::resend`]). They never enter the mark
//! bookkeeping: a replayed batch's PUBACK only frees its window slot, and a replay lost with the
//! connection is queued again. Live events and the backlog go first; replays share the drain
//! budget. Should the broker lose a rewind's replays, the collector's mark stays below the
//! applied one with nothing left to send: after `stall_timeout` with a collector online, the
//! rest is replayed again.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use store_proto::SeqSet;

use crate::config::UplinkConfig;

/// Most collectors remembered online (a chain runs one or a few).
pub const MAX_COLLECTORS: usize = 64;

/// Least time between two resends for a collector's birth (see the module header).
pub const BIRTH_RESEND_GAP: Duration = Duration::from_secs(1);

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
    /// `published` before this batch, restored if the batch never reached the client.
    published_before: u64,
    /// A replay (seqs at or below the mark): outside the mark bookkeeping.
    pub replay: bool,
}

/// What a commit mark means for the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkVerdict {
    /// Delete every journal entry up to and including this seq.
    Trim(u64),
    /// Nothing to trim now: a stale or repeated mark, or one above what this run has published
    /// yet (applied as the resend catches up, see [`State::due_trim`]).
    Nothing,
    /// The mark claims seqs this agent cannot have published (above `bound`, the highest seq it
    /// can have sent in this or an earlier run): ignored as a whole.
    Forged { mark: u64, bound: u64 },
    /// The mark went back from `from` (the highest seen) to `to`: the collector lost state.
    /// `(to, from]` is queued for replay; the caller takes out what the journal no longer holds
    /// ([`State::take_unheld`]) and records it in one `DataLoss`.
    Rewind { from: u64, to: u64 },
}

/// What to send next: the seq range to read from the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub from: u64,
    pub to: u64,
    pub historical: bool,
    /// From the replay set (see the module header).
    pub replay: bool,
}

#[derive(Debug)]
pub struct State {
    cfg: UplinkConfig,
    todo: SeqSet,
    inflight: HashMap<u64, InFlight>,
    broker_acked: SeqSet,
    /// The applied mark: the journal is trimmed through it. Never above `published`.
    mark: u64,
    /// The highest plausible mark the collector sent; may be above `published` after a restart.
    claimed: u64,
    /// Highest seq handed to the MQTT client in this run.
    published: u64,
    /// The journal's durable head when the uplink started: what an earlier run may have sent.
    start_head: u64,
    /// Seqs above the mark the collector already holds (from its last mark message).
    done_above: SeqSet,
    /// Seqs at or below the applied mark to send again (rewinds and resend requests).
    replay: SeqSet,
    /// While a rewind is being refilled with nothing left to replay: since when, at which
    /// claimed mark (see the module header).
    recover_since: Option<(u64, Instant)>,
    stall_since: Option<Instant>,
    collectors: HashSet<String>,
    /// Each collector's last birth (`wall_time_ms` of its online status); kept across this
    /// agent's reconnects so a retained status seen again is not a new birth.
    births: HashMap<String, i64>,
    /// When the last birth made everything unmarked go again: batches in flight that were sent
    /// before it are resent when their PUBACK arrives.
    resend_before: Option<Instant>,
    head: u64,
    live_from: u64,
    connected: bool,
    tokens: f64,
    last_refill: Instant,
    next_id: u64,
    /// When the oldest live seq not yet sent became durable (for the linger).
    live_since: Option<Instant>,
    pub rewinds: u64,
    /// Collector births that made the uplink resend what it had not seen under a mark.
    pub birth_resends: u64,
    /// Marks that went back (a restored collector), each counted once.
    pub restores: u64,
    /// Commit marks ignored as forged (every message, repeats included).
    pub forged_marks: u64,
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
            claimed: 0,
            published: 0,
            start_head: head,
            done_above: SeqSet::new(),
            replay: SeqSet::new(),
            recover_since: None,
            stall_since: None,
            collectors: HashSet::new(),
            births: HashMap::new(),
            resend_before: None,
            head,
            live_from: 0,
            connected: false,
            last_refill: now,
            next_id: 1,
            live_since: None,
            rewinds: 0,
            birth_resends: 0,
            restores: 0,
            forged_marks: 0,
        };
        s.reclassify();
        s
    }

    /// Resumes after a restart at the journal's persisted acked mark: the highest mark an
    /// earlier run accepted (so it had published that far). A later mark below it is a rewind.
    pub fn acked(mut self, acked: u64) -> Self {
        self.mark = acked;
        self.claimed = acked;
        self.published = self.published.max(acked);
        self.todo.remove_through(acked);
        self.reclassify();
        self
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

    /// Seqs queued for replay (not counting those in flight).
    pub fn replay_len(&self) -> u64 {
        self.replay.len()
    }

    /// The ranges queued for replay within `from..=to`.
    pub fn replay_ranges(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        self.replay
            .ranges()
            .filter(|&(a, b)| b >= from && a <= to)
            .map(|(a, b)| (a.max(from), b.min(to)))
            .collect()
    }

    /// The highest mark seen that is still believed (lower after a rewind).
    pub fn claimed(&self) -> u64 {
        self.claimed
    }

    /// Sends `first..=last` again: at or below the applied mark as a replay, above it as usual.
    fn requeue(&mut self, first: u64, last: u64) {
        if first > last {
            return;
        }
        if first <= self.mark {
            self.replay.insert_range(first, last.min(self.mark));
        }
        if last > self.mark {
            self.todo.insert_range(first.max(self.mark + 1), last);
        }
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
        let lost: Vec<InFlight> = self.inflight.drain().map(|(_, b)| b).collect();
        for b in lost {
            if b.replay {
                self.requeue(b.first, b.last);
            } else if b.last > self.mark {
                self.todo.insert_range(b.first.max(self.mark + 1), b.last);
            }
        }
        self.reclassify();
    }

    /// The broker acknowledged a batch; returns how long that took.
    pub fn on_puback(&mut self, id: u64, now: Instant) -> Option<Duration> {
        let b = self.inflight.remove(&id)?;
        if b.replay {
            return Some(now.saturating_duration_since(b.sent_at));
        }
        if self.resend_before.is_some_and(|t| b.sent_at < t) {
            // Routed before a collector (re)subscribed: the broker may have dropped it.
            if b.last > self.mark {
                self.todo.insert_range(b.first.max(self.mark + 1), b.last);
                for (a, z) in self.done_above.ranges() {
                    self.todo.remove_range(a, z);
                }
            }
            return Some(now.saturating_duration_since(b.sent_at));
        }
        if b.last > self.mark {
            self.broker_acked
                .insert_range(b.first.max(self.mark + 1), b.last);
        }
        if self.stall_since.is_none() && !self.broker_acked.is_empty() {
            self.stall_since = Some(now);
        }
        Some(now.saturating_duration_since(b.sent_at))
    }

    /// The highest seq this agent can have published, in this run or an earlier one.
    pub fn plausible_bound(&self) -> u64 {
        self.start_head.max(self.published)
    }

    /// The collector's committed mark and what it holds above it (see the module header for
    /// why a mark is checked against what was published).
    pub fn on_mark(&mut self, mark: u64, done_above: &[(u64, u64)], now: Instant) -> MarkVerdict {
        let bound = self.plausible_bound();
        if mark > bound {
            self.forged_marks += 1;
            return MarkVerdict::Forged { mark, bound };
        }
        if mark < self.claimed {
            return self.rewind(mark, done_above);
        }
        self.claimed = mark;
        // What the collector holds needs no sending, now or after a rewind; only what this run
        // published can be held there (the rest is sent, and dropped there as a duplicate).
        let mut claim = SeqSet::from_ranges(done_above.iter().copied());
        claim.remove_through(mark);
        if self.published < u64::MAX {
            claim.remove_range(self.published + 1, u64::MAX);
        }
        // What an earlier mark said the collector holds and this one no longer does goes back
        // to be sent: the collector may have lost it (restored from a backup, or the earlier
        // mark was not its own). Left out, those seqs would be in none of todo, in flight and
        // broker_acked, never sent again in this run, and the mark stuck below them.
        let mut withdrawn = std::mem::replace(&mut self.done_above, claim);
        withdrawn.remove_through(mark);
        for (a, b) in self.done_above.ranges().chain(self.broker_acked.ranges()) {
            withdrawn.remove_range(a, b);
        }
        for b in self.inflight.values() {
            withdrawn.remove_range(b.first, b.last);
        }
        for (a, b) in withdrawn.ranges().collect::<Vec<_>>() {
            self.requeue(a, b);
        }
        for (a, b) in self.done_above.ranges() {
            self.todo.remove_range(a, b);
        }
        match self.due_trim(now) {
            Some(to) => MarkVerdict::Trim(to),
            None => MarkVerdict::Nothing,
        }
    }

    /// The collector's mark went back from `claimed` to `mark` (see the module header).
    fn rewind(&mut self, mark: u64, done_above: &[(u64, u64)]) -> MarkVerdict {
        let from = self.claimed;
        self.claimed = mark;
        self.restores += 1;
        self.recover_since = None;
        let mut claim = SeqSet::from_ranges(done_above.iter().copied());
        claim.remove_through(mark);
        if self.published < u64::MAX {
            claim.remove_range(self.published + 1, u64::MAX);
        }
        // What the collector said it held above its old mark goes again, unless the new mark
        // says so too (removed below); left out, it would be tracked nowhere.
        let withdrawn = std::mem::replace(&mut self.done_above, claim);
        for (a, b) in withdrawn.ranges() {
            self.requeue(a, b);
        }
        // What was committed since goes again; what the broker acknowledged may have reached
        // the collector only before its restore: again too.
        self.requeue(mark + 1, self.mark);
        for (a, b) in std::mem::take(&mut self.broker_acked).ranges() {
            self.todo.insert_range(a, b);
        }
        self.stall_since = None;
        for b in self.inflight.values() {
            if !b.replay {
                self.todo.remove_range(b.first, b.last);
            }
        }
        for (a, b) in self.done_above.ranges() {
            self.todo.remove_range(a, b);
            self.replay.remove_range(a, b);
        }
        self.reclassify();
        MarkVerdict::Rewind { from, to: mark }
    }

    /// Takes every seq below `floor` out of what is queued (to send and to replay) and returns
    /// those above the collector's mark: the journal no longer holds them (the retention
    /// floor), so they can only be reported as lost. Those at or below the mark (a resend
    /// request's replays) are simply dropped: the collector has them. Cheap when there are none
    /// (the usual case).
    pub fn take_unheld(&mut self, floor: u64) -> SeqSet {
        let mut out = SeqSet::new();
        if floor <= 1 {
            return out;
        }
        let claimed = self.claimed;
        for set in [&mut self.todo, &mut self.replay] {
            while let Some((a, b)) = set.first_range() {
                if a >= floor {
                    break;
                }
                let b = b.min(floor - 1);
                set.remove_range(a, b);
                if b > claimed {
                    out.insert_range(a.max(claimed + 1), b);
                }
            }
        }
        out
    }

    /// Queues the held seqs of a resend request: at or below the applied mark as replays,
    /// above it to be sent (again); seqs in flight are on their way already. Returns how many
    /// seqs were queued.
    pub fn queue_resend(&mut self, held: &SeqSet) -> u64 {
        let mut queued = 0;
        for (a, b) in held.ranges() {
            if a > self.head {
                break;
            }
            let b = b.min(self.head);
            let mut add = SeqSet::from_ranges([(a, b)]);
            for f in self.inflight.values() {
                if !f.replay {
                    add.remove_range(f.first, f.last);
                }
            }
            for (x, y) in add.ranges().collect::<Vec<_>>() {
                queued += y - x + 1;
                self.broker_acked.remove_range(x, y);
                self.requeue(x, y);
            }
        }
        if self.broker_acked.is_empty() {
            self.stall_since = None;
        }
        queued
    }

    /// Moves the applied mark up to what is both claimed by the collector and published in this
    /// run; returns the seq to trim the journal to when it moved. Called on every mark and after
    /// sending (a claimed mark from before a restart is applied as the resend catches up).
    pub fn due_trim(&mut self, now: Instant) -> Option<u64> {
        let to = self.claimed.min(self.published);
        if to <= self.mark {
            return None;
        }
        self.mark = to;
        self.todo.remove_through(to);
        self.broker_acked.remove_through(to);
        self.done_above.remove_through(to);
        self.stall_since = (!self.broker_acked.is_empty()).then_some(now);
        Some(to)
    }

    /// A collector's status. At most [`MAX_COLLECTORS`] are remembered online: the ids come
    /// from topics anyone allowed to publish there can make up, and must not grow memory
    /// without bound (one is enough to count as online).
    pub fn on_collector(&mut self, id: &str, online: bool) {
        if online {
            if self.collectors.len() < MAX_COLLECTORS {
                self.collectors.insert(id.to_owned());
            }
        } else {
            self.collectors.remove(id);
        }
    }

    /// A collector said it is online and subscribed since `birth_ms` (its status's wall time).
    /// Returns true when that birth is new and made the uplink resend what the broker
    /// acknowledged but the collector has not marked (see the module header).
    pub fn on_collector_birth(&mut self, id: &str, birth_ms: i64, now: Instant) -> bool {
        self.on_collector(id, true);
        let known = self.births.get(id) == Some(&birth_ms);
        if known || (!self.births.contains_key(id) && self.births.len() >= MAX_COLLECTORS) {
            return false;
        }
        let first_sight = self.births.insert(id.to_owned(), birth_ms).is_none();
        // The first birth this process sees is the collector that was already there: its
        // retained status often arrives just after the first batch went out, and resending that
        // batch would only make duplicates. Only a birth that replaces a known one is a restart.
        if first_sight {
            return false;
        }
        let recent = self
            .resend_before
            .is_some_and(|t| now.saturating_duration_since(t) < BIRTH_RESEND_GAP);
        if recent || (self.broker_acked.is_empty() && self.inflight.is_empty()) {
            return false;
        }
        self.resend_unmarked();
        self.resend_before = Some(now);
        self.birth_resends += 1;
        true
    }

    /// Everything PUBACKed and not under the mark goes back to `todo`, except what the
    /// collector said it holds: a small gap costs a small resend. Seqs keep their class: a
    /// birth right after a reconnect must not turn the first live events into backlog.
    fn resend_unmarked(&mut self) {
        for (a, b) in self.broker_acked.ranges().collect::<Vec<_>>() {
            self.todo.insert_range(a, b);
        }
        for (a, b) in self.done_above.ranges() {
            self.todo.remove_range(a, b);
        }
        self.broker_acked = SeqSet::new();
        self.stall_since = None;
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
            self.resend_unmarked();
            self.rewinds += 1;
            self.reclassify();
            return true;
        }
        self.recovery_stalled(now)
    }

    /// A rewind's replays all went out, yet the collector's mark stays below the applied one
    /// for `stall_timeout` with a collector online: the broker lost some; replay the rest.
    fn recovery_stalled(&mut self, now: Instant) -> bool {
        let idle = self.claimed < self.mark
            && self.replay.is_empty()
            && !self.inflight.values().any(|b| b.replay)
            && self.collector_online();
        if !idle {
            self.recover_since = None;
            return false;
        }
        match self.recover_since {
            Some((claimed, since)) if claimed == self.claimed => {
                if now.saturating_duration_since(since)
                    < Duration::from_secs(self.cfg.stall_timeout_secs)
                {
                    return false;
                }
            }
            _ => {
                self.recover_since = Some((self.claimed, now));
                return false;
            }
        }
        self.recover_since = None;
        self.replay.insert_range(self.claimed + 1, self.mark);
        for (a, b) in self.done_above.ranges() {
            self.replay.remove_range(a, b);
        }
        self.rewinds += 1;
        true
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
                    replay: false,
                });
            }
        }
        let paced = !self.historical_room();
        if let Some((from, to)) = self.todo.first_range() {
            if from < self.live_from {
                if paced {
                    return None;
                }
                return Some(Pick {
                    from,
                    to: to.min(self.live_from - 1),
                    historical: true,
                    replay: false,
                });
            }
            // Live events lingering: replays may use the slot meanwhile.
        }
        let (from, to) = self.replay.first_range()?;
        if paced {
            return None;
        }
        Some(Pick {
            from,
            to,
            historical: true,
            replay: true,
        })
    }

    /// Whether one more historical batch may go out now (see the module header: window slots,
    /// the drain window and the optional rate cap).
    fn historical_room(&self) -> bool {
        if self.cfg.backlog_events_per_sec > 0 && self.tokens <= 0.0 {
            return false;
        }
        let slots = (self.cfg.max_inflight - self.cfg.max_inflight / 4).max(1);
        let (mut batches, mut events) = (0usize, 0u64);
        for b in self.inflight.values().filter(|b| b.historical) {
            batches += 1;
            events += b.events as u64;
        }
        batches < slots && events + self.unmarked_backlog() < self.cfg.drain_window_events
    }

    /// Backlog seqs the broker acknowledged that the collector has not confirmed: neither under
    /// its mark nor among what it said it holds above it.
    fn unmarked_backlog(&self) -> u64 {
        if self.live_from <= self.mark + 1 {
            return 0;
        }
        let end = self.live_from - 1;
        let mut n = 0;
        for (a, b) in self.broker_acked.ranges() {
            if a > end {
                break;
            }
            let b = b.min(end);
            n += b - a + 1;
            for (x, y) in self.done_above.ranges() {
                let (lo, hi) = (x.max(a), y.min(b));
                if lo <= hi {
                    n -= hi - lo + 1;
                }
            }
        }
        n
    }

    /// A batch that could not be handed to the client after all: back to the to-send set.
    pub fn on_disconnected_batch(&mut self, id: u64) {
        if let Some(b) = self.inflight.remove(&id) {
            if b.replay {
                self.requeue(b.first, b.last);
                self.tokens += b.events as f64;
                return;
            }
            if self.published == b.last {
                // It never left: it must not count as published (see the module header).
                self.published = b.published_before;
            }
            self.todo.insert_range(b.first.max(self.mark + 1), b.last);
            if b.historical {
                self.tokens += b.events as f64;
            }
        }
    }

    /// The seqs tracked for sending: in `todo`, in a batch in flight, or PUBACKed and waiting
    /// for the collector's mark. For tests and fuzzing (linear in what is held).
    pub fn tracked(&self) -> SeqSet {
        let mut all = self.todo.clone();
        for (a, b) in self.broker_acked.ranges() {
            all.insert_range(a, b);
        }
        for b in self.inflight.values().filter(|b| !b.replay) {
            all.insert_range(b.first, b.last);
        }
        all
    }

    /// Checks the invariants of the module header; the first one broken, described. For tests
    /// and fuzzing (linear in what is held): the uplink never calls it.
    /// - the applied mark is never above what this run published;
    /// - above the mark, every seq is in at most one of `todo`, a batch in flight (batches in
    ///   flight are disjoint) and `broker_acked`; neither `todo` nor `broker_acked` holds a seq
    ///   at or below the mark.
    pub fn audit(&self) -> Result<(), String> {
        if self.replay.last().is_some_and(|l| l > self.mark) {
            return Err(format!("replay holds seqs above the mark {}", self.mark));
        }
        if self.mark > self.published {
            return Err(format!(
                "mark {} above published {}",
                self.mark, self.published
            ));
        }
        for (name, set) in [("todo", &self.todo), ("broker_acked", &self.broker_acked)] {
            if set.first().is_some_and(|f| f <= self.mark) {
                return Err(format!(
                    "{name} holds seqs at or below the mark {}",
                    self.mark
                ));
            }
        }
        for (a, b) in self.broker_acked.ranges() {
            if self.todo.first_range_from(a).is_some_and(|(f, _)| f <= b) {
                return Err(format!("{a}..={b} both in todo and broker_acked"));
            }
        }
        let mut batches: Vec<(u64, u64)> = self
            .inflight
            .values()
            .filter(|b| !b.replay && b.last > self.mark)
            .map(|b| (b.first.max(self.mark.saturating_add(1)), b.last))
            .collect();
        batches.sort_unstable();
        for pair in batches.windows(2) {
            if pair[1].0 <= pair[0].1 {
                return Err(format!("batches in flight overlap: {pair:?}"));
            }
        }
        for &(a, b) in &batches {
            for (name, set) in [("todo", &self.todo), ("broker_acked", &self.broker_acked)] {
                if set.first_range_from(a).is_some_and(|(f, _)| f <= b) {
                    return Err(format!("{a}..={b} both in flight and in {name}"));
                }
            }
        }
        Ok(())
    }

    /// Nothing is held in `from..=to` any more (trimmed or shed): nothing to send there.
    pub fn skip(&mut self, from: u64, to: u64) {
        self.todo.remove_range(from, to);
        self.replay.remove_range(from, to);
    }

    /// A batch covering `from..=to` with `events` events was handed to the MQTT client.
    pub fn sent(&mut self, from: u64, to: u64, events: usize, historical: bool) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        // The replay set and todo are disjoint (at or below the mark, above it).
        if self.replay.contains(from) {
            self.replay.remove_range(from, to);
            self.inflight.insert(
                id,
                InFlight {
                    first: from,
                    last: to,
                    historical: true,
                    events,
                    sent_at: Instant::now(),
                    published_before: self.published,
                    replay: true,
                },
            );
            self.tokens -= events as f64;
            return id;
        }
        self.todo.remove_range(from, to);
        self.inflight.insert(
            id,
            InFlight {
                first: from,
                last: to,
                historical,
                events,
                sent_at: Instant::now(),
                published_before: self.published,
                replay: false,
            },
        );
        self.published = self.published.max(to);
        if historical {
            self.tokens -= events as f64;
        } else if self.todo.first_range_from(self.live_from).is_none() {
            self.live_since = None;
        }
        id
    }
}

#[cfg(test)]
mod tests;
