//! Turning running totals into interval counts.
//!
//! Some counters report "so many in and out since my last reset" (Axis live sums, Irisys
//! registers, the `TOTAL` line of the serial protocol). A [`CumulativeTracker`] keeps the last
//! sample of one counter line and subtracts:
//!
//! - **First sample: baseline, no event.** We do not know what part of the first total was
//!   already reported (before an agent restart, say), so it is not counted; counting starts from
//!   it.
//! - **Next samples: the difference**, as one interval from the previous sample's time to this
//!   one's. A difference of zero produces no event (a quiet counter should not fill the
//!   journal); the next interval still starts at this sample, so the gap means "nobody".
//! - **A total that goes down means the counter was reset** (a reboot, a daily reset): the new
//!   totals are the counts since the reset, and become the interval (from the previous sample's
//!   time, since the moment of the reset is unknown). If either direction goes down, both are
//!   taken as reset, as devices reset all their registers together.
//! - **A sample whose order (log entry id, timestamp) is not above the last one taken is a
//!   duplicate or arrived late and is ignored.** Nothing is lost by ignoring it: totals are
//!   cumulative, so the next accepted sample's difference includes its counts.
//!
//! State is in memory only: after an agent restart, the first sample of each counter
//! re-baselines, and what the counter counted between the last sample before the restart and
//! the first after it is not reported.
//!
//! A driver that must not lose counts when the journal refuses an event uses [`Trackers::plan`]
//! and [`Trackers::commit`]: the tracker moves past a sample only once the event made from it is
//! durable, so a retried payload is counted again instead of being taken for a duplicate.

use std::collections::HashMap;

use store_proto::v1::FootTraffic;

use super::reading::{interval, Totals};

/// The last sample taken from a counter line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    order: u64,
    at_ms: i64,
    entries: u64,
    exits: u64,
}

/// What a new sample means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first sample: it becomes the baseline and counts nothing.
    Baseline,
    /// Not newer than the last sample taken: a duplicate or late sample, ignored.
    Stale,
    /// People counted since the previous sample (possibly none).
    Delta {
        start_ms: i64,
        end_ms: i64,
        entries: u32,
        exits: u32,
        /// The totals went down: the counter was reset and these are the counts since.
        reset: bool,
    },
}

/// Running totals → differences, for one counter line. See the module docs for the rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CumulativeTracker {
    last: Option<Sample>,
}

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl CumulativeTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one sample of running totals and says what it adds.
    pub fn observe(&mut self, order: u64, at_ms: i64, entries: u64, exits: u64) -> Step {
        let sample = Sample {
            order,
            at_ms,
            entries,
            exits,
        };
        let Some(last) = self.last else {
            self.last = Some(sample);
            return Step::Baseline;
        };
        if order <= last.order {
            return Step::Stale;
        }
        self.last = Some(sample);
        let reset = entries < last.entries || exits < last.exits;
        let (d_in, d_out) = if reset {
            (entries, exits)
        } else {
            (entries - last.entries, exits - last.exits)
        };
        Step::Delta {
            // A device clock that went back must not make an interval end before it starts.
            start_ms: last.at_ms.min(at_ms),
            end_ms: at_ms,
            entries: clamp_u32(d_in),
            exits: clamp_u32(d_out),
            reset,
        }
    }
}

/// Trackers of every counter line a driver hears from, keyed by `(counter_id, line)`.
#[derive(Debug, Default)]
pub struct Trackers {
    by_line: HashMap<(String, String), CumulativeTracker>,
}

/// Events computed from samples, and the tracker states to keep once they are stored.
#[derive(Debug)]
pub struct Plan {
    /// Interval counts to journal, in sample order.
    pub traffic: Vec<FootTraffic>,
    steps: Vec<PlanStep>,
}

#[derive(Debug)]
struct PlanStep {
    key: (String, String),
    after: CumulativeTracker,
    /// Index into `traffic` of the event this sample produced.
    event: Option<usize>,
}

impl Trackers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Computes the events of some samples without changing the trackers.
    pub fn plan(&self, samples: &[Totals]) -> Plan {
        let mut scratch: HashMap<(String, String), CumulativeTracker> = HashMap::new();
        let mut plan = Plan {
            traffic: Vec::new(),
            steps: Vec::with_capacity(samples.len()),
        };
        for t in samples {
            let key = (t.counter_id.clone(), t.line.clone());
            let tracker = scratch
                .entry(key.clone())
                .or_insert_with(|| self.by_line.get(&key).copied().unwrap_or_default());
            let step = tracker.observe(t.order, t.at_ms, t.entries, t.exits);
            let event = match step {
                Step::Delta {
                    start_ms,
                    end_ms,
                    entries,
                    exits,
                    ..
                } if entries > 0 || exits > 0 => {
                    plan.traffic.push(interval(
                        &t.counter_id,
                        &t.line,
                        start_ms,
                        end_ms,
                        entries,
                        exits,
                    ));
                    Some(plan.traffic.len() - 1)
                }
                _ => None,
            };
            plan.steps.push(PlanStep {
                key,
                after: *tracker,
                event,
            });
        }
        plan
    }

    /// Keeps the tracker states of a plan up to the first event that was not stored: `stored`
    /// is how many of `plan.traffic`, from the start, are durable. Samples after a lost event
    /// stay unseen, so the device's retry produces their events again.
    pub fn commit(&mut self, plan: Plan, stored: usize) {
        for step in plan.steps {
            if step.event.is_some_and(|i| i >= stored) {
                break;
            }
            self.by_line.insert(step.key, step.after);
        }
    }

    /// Plans and commits at once, for callers whose events cannot be refused.
    pub fn apply(&mut self, samples: &[Totals]) -> Vec<FootTraffic> {
        let plan = self.plan(samples);
        let traffic = plan.traffic.clone();
        let stored = traffic.len();
        self.commit(plan, stored);
        traffic
    }

    /// How many counter lines are tracked.
    pub fn len(&self) -> usize {
        self.by_line.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_line.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(order: u64, entries: u64, exits: u64) -> Totals {
        Totals {
            counter_id: "dev".into(),
            line: "main".into(),
            order,
            at_ms: order as i64 * 1000,
            entries,
            exits,
        }
    }

    #[test]
    fn first_sample_is_a_baseline_then_differences() {
        let mut t = CumulativeTracker::new();
        assert_eq!(t.observe(1, 1000, 10, 300), Step::Baseline);
        assert_eq!(
            t.observe(2, 2000, 13, 301),
            Step::Delta {
                start_ms: 1000,
                end_ms: 2000,
                entries: 3,
                exits: 1,
                reset: false
            }
        );
        assert_eq!(
            t.observe(3, 3000, 13, 301),
            Step::Delta {
                start_ms: 2000,
                end_ms: 3000,
                entries: 0,
                exits: 0,
                reset: false
            }
        );
    }

    #[test]
    fn a_total_going_down_is_a_reset() {
        let mut t = CumulativeTracker::new();
        t.observe(1, 1000, 500, 480);
        // Rebooted, then counted 4 in and 2 out: those are the counts since the reset.
        assert_eq!(
            t.observe(2, 2000, 4, 2),
            Step::Delta {
                start_ms: 1000,
                end_ms: 2000,
                entries: 4,
                exits: 2,
                reset: true
            }
        );
        // Only one direction went down: still a reset of both.
        t.observe(3, 3000, 10, 9);
        assert_eq!(
            t.observe(4, 4000, 11, 3),
            Step::Delta {
                start_ms: 3000,
                end_ms: 4000,
                entries: 11,
                exits: 3,
                reset: true
            }
        );
    }

    #[test]
    fn duplicates_and_late_samples_are_ignored_without_losing_counts() {
        let mut t = CumulativeTracker::new();
        t.observe(5, 5000, 10, 10);
        t.observe(7, 7000, 12, 10);
        assert_eq!(t.observe(7, 7000, 12, 10), Step::Stale);
        assert_eq!(t.observe(6, 6000, 11, 10), Step::Stale);
        // The next sample's difference is from the last one taken (order 7).
        assert!(matches!(
            t.observe(8, 8000, 15, 11),
            Step::Delta {
                start_ms: 7000,
                entries: 3,
                exits: 1,
                ..
            }
        ));
    }

    #[test]
    fn clock_going_back_keeps_intervals_ordered() {
        let mut t = CumulativeTracker::new();
        t.observe(1, 9000, 1, 1);
        assert!(matches!(
            t.observe(2, 4000, 2, 1),
            Step::Delta {
                start_ms: 4000,
                end_ms: 4000,
                ..
            }
        ));
    }

    #[test]
    fn huge_differences_saturate() {
        let mut t = CumulativeTracker::new();
        t.observe(1, 0, 0, 0);
        assert!(matches!(
            t.observe(2, 1, u64::MAX, 0),
            Step::Delta {
                entries: u32::MAX,
                ..
            }
        ));
    }

    #[test]
    fn trackers_keep_lines_apart_and_skip_zero_differences() {
        let mut trackers = Trackers::new();
        let other = |order, entries, exits| Totals {
            line: "side".into(),
            ..totals(order, entries, exits)
        };
        let out = trackers.apply(&[
            totals(1, 10, 10),
            other(1, 100, 100),
            totals(2, 12, 10),
            other(2, 100, 100),
            totals(3, 12, 10),
            other(3, 101, 100),
        ]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!((out[0].line.as_str(), out[0].entries), ("main", 2));
        assert_eq!(
            (out[0].interval_start_ms, out[0].interval_end_ms),
            (1000, 2000)
        );
        assert_eq!((out[1].line.as_str(), out[1].entries), ("side", 1));
        assert_eq!(
            (out[1].interval_start_ms, out[1].interval_end_ms),
            (2000, 3000)
        );
        assert_eq!(trackers.len(), 2);
    }

    #[test]
    fn plan_changes_nothing_until_committed() {
        let mut trackers = Trackers::new();
        trackers.apply(&[totals(1, 0, 0)]);
        let samples = [totals(2, 1, 0), totals(3, 3, 0)];
        let plan = trackers.plan(&samples);
        assert_eq!(plan.traffic.len(), 2);
        // The journal stored nothing: the same samples give the same events again.
        trackers.commit(plan, 0);
        let plan = trackers.plan(&samples);
        assert_eq!(plan.traffic.len(), 2);
        assert_eq!(plan.traffic[0].entries, 1);
        // Only the first was stored: a retry produces only the second.
        trackers.commit(plan, 1);
        let again = trackers.apply(&samples);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].entries, 2);
        // Everything stored: a resend is all duplicates.
        assert!(trackers.apply(&samples).is_empty());
    }

    #[test]
    fn baseline_is_kept_even_when_a_later_event_fails() {
        let mut trackers = Trackers::new();
        let samples = [totals(1, 5, 5), totals(2, 6, 5)];
        let plan = trackers.plan(&samples);
        assert_eq!(plan.traffic.len(), 1);
        trackers.commit(plan, 0);
        // The baseline stands; the retry counts the one person again.
        let again = trackers.apply(&samples);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].entries, 1);
    }
}
