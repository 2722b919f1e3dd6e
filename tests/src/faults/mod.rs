//! The fault suite: one store-edge stack (or the bridge peer) per case, one fault per case,
//! every case judged by the same accounting ([`account`]). Run by the `faults` binary
//! (`src/bin/faults.rs`), which prints the table and writes JSON.
//!
//! Definitions, per case:
//! - **confirmed**: lines the agent's line feed answered `ok <seq>` (for the bridge peer:
//!   messages the local broker PUBACKed);
//! - **applied**: confirmed seqs the collector applied (its `applied_ranges`);
//! - **reported**: confirmed seqs the collector holds as settled by a `DataLoss` event
//!   (`lost_ranges`): dropped under the byte budget or with a quarantined journal, and said so;
//! - **lost**: confirmed seqs neither applied nor reported: silent loss, must be 0;
//! - **double-applied**: applications beyond one per distinct seq (`applied_total` minus the
//!   distinct seqs applied over all agents; for the bridge peer, copies received beyond the
//!   first), must be 0.
//!
//! A case passes only with zero lost, zero double-applied and no other violation (the delivery
//! checks of [`crate::check`] where they apply, plus the case's own assertions). The bridge peer
//! is a reference, not a store-edge case: its loss is reported, not failed on.
//!
//! Each case lives in its own file and is a `fn(&Params, &mut StdRng) -> Outcome`; a case that
//! panics (a timeout of a wait, a crashed process) is a failure with the panic message, and its
//! test directory is kept.

mod account;
mod agent_kills;
mod bridge;
mod broker;
mod budget;
mod clock_step;
mod collector_kills;
mod corrupt;
mod flaps;
mod slow_broker;

use std::time::Duration;

use rand::rngs::StdRng;

pub use account::{account, Outcome};

/// How hard the suite pushes: [`Params::reduced`] for CI, [`Params::full`] for the documented run.
#[derive(Debug, Clone)]
pub struct Params {
    pub full: bool,
    pub agent_kills: u32,
    pub broker_down: Duration,
    pub flaps: u32,
    pub blackholes: u32,
    pub blackhole_for: Duration,
    pub collector_kills: u32,
    pub budget_bytes: u64,
    pub budget_events: u64,
    pub slow_for: Duration,
    pub slow_bytes_per_sec: u64,
    pub outage_kill_for: Duration,
    pub clock_phase_events: u64,
    pub corrupt_events: u64,
    /// Quiet time after the mark is reached, in which a late double apply would show.
    pub settle: Duration,
    /// How long the final drain may take before the case is judged on what arrived.
    pub drain_timeout: Duration,
}

impl Params {
    pub fn reduced() -> Self {
        Self {
            full: false,
            agent_kills: 5,
            broker_down: Duration::from_secs(5),
            flaps: 2,
            blackholes: 1,
            blackhole_for: Duration::from_secs(7),
            collector_kills: 2,
            budget_bytes: 1024 * 1024,
            budget_events: 12_000,
            slow_for: Duration::from_secs(3),
            slow_bytes_per_sec: 16 * 1024,
            outage_kill_for: Duration::from_secs(3),
            clock_phase_events: 300,
            corrupt_events: 5_000,
            settle: Duration::from_millis(500),
            drain_timeout: Duration::from_secs(60),
        }
    }

    pub fn full() -> Self {
        Self {
            full: true,
            agent_kills: 50,
            broker_down: Duration::from_secs(60),
            flaps: 20,
            blackholes: 3,
            blackhole_for: Duration::from_secs(20),
            collector_kills: 10,
            budget_bytes: 4 * 1024 * 1024,
            budget_events: 100_000,
            slow_for: Duration::from_secs(60),
            slow_bytes_per_sec: 16 * 1024,
            outage_kill_for: Duration::from_secs(20),
            clock_phase_events: 2_000,
            corrupt_events: 20_000,
            settle: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(300),
        }
    }
}

/// A case: its name (for `--only`), what it does, and the function.
pub struct Case {
    pub name: &'static str,
    pub what: &'static str,
    /// `false` for the bridge peer: a reference whose loss is shown, not failed on.
    pub judged: bool,
    /// `false` for a case that fails today because of a known, reported bug: the reduced (CI)
    /// run skips it unless `--only` names it; the full run runs it.
    pub ci: bool,
    pub run: fn(&Params, &mut StdRng) -> Outcome,
}

/// Every case, in the order they run.
pub const CASES: &[Case] = &[
    Case {
        name: "agent_kills",
        what: "agent SIGKILLed at random moments under load",
        judged: true,
        ci: true,
        run: agent_kills::run,
    },
    Case {
        name: "broker_down",
        what: "broker SIGKILLed and down, then back with its persistence",
        judged: true,
        ci: true,
        run: broker::down,
    },
    Case {
        name: "broker_empty",
        what: "broker SIGKILLed and restarted empty (persistence wiped)",
        judged: true,
        ci: true,
        run: broker::empty,
    },
    Case {
        name: "link_cut",
        what: "agent-broker link cut and restored repeatedly (TCP proxy)",
        judged: true,
        ci: true,
        run: flaps::cut,
    },
    Case {
        name: "link_blackhole",
        what: "agent-broker link black-holed: bytes dropped, connection hangs (TCP proxy)",
        judged: true,
        ci: true,
        run: flaps::blackhole,
    },
    Case {
        name: "collector_kills",
        what: "collector SIGKILLed mid-stream",
        judged: true,
        ci: true,
        run: collector_kills::run,
    },
    Case {
        name: "byte_budget",
        what: "journal byte budget exhausted during an outage",
        judged: true,
        ci: true,
        run: budget::run,
    },
    Case {
        name: "journal_truncated",
        what: "agent SIGKILLed, its sled files truncated, restarted",
        judged: true,
        // Fails: sled rolls the truncated journal back and the agent reissues seqs it had
        // confirmed (README, "Fault suite", known failures).
        ci: false,
        run: corrupt::truncated,
    },
    Case {
        name: "journal_flipped",
        what: "agent SIGKILLed, bytes of its sled files flipped, restarted",
        judged: true,
        ci: true,
        run: corrupt::flipped,
    },
    Case {
        name: "clock_step",
        what: "agent wall clock stepped -1 h and +1 h (libfaketime)",
        judged: true,
        ci: true,
        run: clock_step::run,
    },
    Case {
        name: "slow_broker",
        what: "link throttled to a trickle (TCP proxy), then released",
        judged: true,
        ci: true,
        run: slow_broker::run,
    },
    Case {
        name: "kill_in_outage",
        what: "store-edge: agent SIGKILLed while the broker is down",
        judged: true,
        ci: true,
        run: bridge::store_edge,
    },
    Case {
        name: "bridge_peer",
        what: "bridge peer: local Mosquitto SIGKILLed while the central one is down",
        judged: false,
        ci: true,
        run: bridge::peer,
    },
];

/// The end of a case: waits (up to `p.drain_timeout`) until the collector's mark covers every
/// confirmed seq, applied or settled, then `p.settle` of quiet (a late double apply would show),
/// and counts. A mark that never gets there is a violation, and the case is judged on what
/// arrived (the missing seqs count as lost).
pub fn drain(
    stack: &mut crate::Stack,
    report: &crate::WriterReport,
    p: &Params,
) -> (crate::stats::Stats, Outcome) {
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let max = report.max_acked().unwrap_or(0);
    let reached = crate::wait::try_wait_for(p.drain_timeout, || {
        stack.alive()?;
        let s = stack.stats()?;
        match s.agent(&store, &agent) {
            Some(a) if a.committed_seq >= max && a.gaps.is_empty() => Ok(s),
            _ => Err(s.summary(&store, &agent)),
        }
    });
    let (stats, late) = match reached {
        Ok(s) => (stack.settled_stats(s, p.settle), None),
        Err(last) => {
            let s = stack
                .stats()
                .unwrap_or_else(|e| panic!("stats after the drain timed out: {e}"));
            (s, Some(last))
        }
    };
    let mut outcome = account(&stats, &store, &agent, report);
    if let Some(last) = late {
        outcome.violations.push(format!(
            "the mark did not reach {max} within {:?}: {last}",
            p.drain_timeout
        ));
    }
    (stats, outcome)
}

/// [`drain`] plus the strict delivery checks: for cases where nothing may be lost, not even
/// with a `DataLoss` report.
pub fn drain_strict(stack: &mut crate::Stack, report: &crate::WriterReport, p: &Params) -> Outcome {
    let (stats, mut o) = drain(stack, report, p);
    let (store, agent) = (stack.store_id(), stack.agent_id());
    account::strict(&mut o, &stats, &store, &agent, report);
    o
}
