//! Throughput of one collector: events applied per second by the real collector code, with the
//! rules engine and the durable sled commit included. Prints numbers; asserts nothing timed.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release -p store-tests --bin collector_bench -- [--runs 3] [--events 2000000]
//!     [--stores 100] [--batch 500] [--window 3200] [--publishers 4]
//!     [--only ingest,ingest_no_history,no_rules,rules,mosquitto] [--history on|off]
//! ```
//!
//! This file holds the command line and the suite; the parts, each with one job:
//! - [`workload`]: the batches every measurement feeds (one agent per store, a store mix of
//!   scans, POS transactions, foot traffic and device statuses; `--mix stocked|empty`), and the
//!   catalogue and collector config.
//! - [`ingest`]: `ingest`, the collector's ingest in process, timed until the last durable
//!   acknowledgement; `ingest_no_history` the same with `[history] enabled = false`, so the
//!   cost of the event history is the ratio of the two, in events/s and in CPU time per event
//!   (`--history off` turns it off for `ingest` too).
//! - [`baselines`]: `no_rules` (ingest without the rules engine) and `rules` (the rules engine
//!   alone), to read `ingest` against.
//! - [`mosquitto`]: `mosquitto`, publishers through a real broker to the real `store-collector`
//!   binary.
//!
//! Each measurement runs in a fresh state directory (medians over `--runs`, and ratios of
//! measurements taken in the same run).

mod baselines;
mod ingest;
mod mosquitto;
mod workload;

use store_tests::benchkit::{Decimals, Measurement, Ratio, Suite};

/// Command-line options.
#[derive(Debug, Clone)]
struct Opts {
    runs: usize,
    events: u64,
    stores: usize,
    batch: usize,
    /// `None`: 32 per store.
    window: Option<usize>,
    publishers: usize,
    only: Option<Vec<String>>,
    /// Shelves stocked before the day starts (the default), or empty (a stress case where almost
    /// every position is LOW or OUT and the alert rules do the most work).
    stocked: bool,
    /// `[history] enabled` for `ingest` (`--history on|off`).
    history: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            runs: 3,
            stocked: true,
            events: 2_000_000,
            stores: 100,
            batch: 500,
            window: None,
            publishers: 4,
            only: None,
            history: true,
        }
    }
}

impl Opts {
    fn window(&self) -> usize {
        self.window.unwrap_or(self.stores * 32).max(1)
    }
}

/// Run in this order in every run.
const MEASUREMENTS: &[Measurement<Opts>] = &[
    (
        "ingest",
        "in-process ingest: decode, dedup, rules, durable commit, PUBACK",
        ingest::ingest,
    ),
    (
        "ingest_no_history",
        "in-process ingest as above, [history] enabled = false",
        ingest::ingest_no_history,
    ),
    (
        "no_rules",
        "baseline: decode, dedup, durable commit; no rules engine",
        baselines::no_rules,
    ),
    (
        "rules",
        "rules engine alone, in memory (apply + save)",
        baselines::rules,
    ),
    (
        "mosquitto",
        "publishers -> Mosquitto -> store-collector binary, applied",
        mosquitto::through_mosquitto,
    ),
];

const RATIOS: &[Ratio] = &[
    (
        "ingest over ingest without history (the history's cost)",
        "ingest.events_per_sec",
        "ingest_no_history.events_per_sec",
    ),
    (
        "CPU per event with history over without (the history's cost per event)",
        "ingest.cpu_us_per_event",
        "ingest_no_history.cpu_us_per_event",
    ),
    (
        "ingest over the no-rules baseline",
        "ingest.events_per_sec",
        "no_rules.events_per_sec",
    ),
    (
        "through Mosquitto over in-process ingest",
        "mosquitto.events_per_sec",
        "ingest.events_per_sec",
    ),
];

const SUITE: Suite<Opts> = Suite {
    measurements: MEASUREMENTS,
    ratios: RATIOS,
    decimals: Decimals::TwoBelowHundred,
};

fn main() {
    let opts = parse_args();
    let per_store = (opts.events as usize).div_ceil(opts.stores.max(1) * opts.batch.max(1));
    println!(
        "store-collector bench: {} run(s); {} events = {} stores x {} batches x {} events; window {}",
        opts.runs,
        opts.stores.max(1) * per_store * opts.batch.max(1),
        opts.stores.max(1),
        per_store,
        opts.batch.max(1),
        opts.window()
    );
    SUITE.run(&opts, opts.runs, opts.only.as_deref());
}

fn parse_args() -> Opts {
    let mut opts = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--runs" => opts.runs = parse(&value()),
            "--events" => opts.events = parse(&value()),
            "--stores" => opts.stores = parse(&value()),
            "--batch" => opts.batch = parse(&value()),
            "--window" => opts.window = Some(parse(&value())),
            "--publishers" => opts.publishers = parse(&value()),
            "--history" => {
                opts.history = match value().as_str() {
                    "on" => true,
                    "off" => false,
                    other => usage(&format!("--history {other:?}: expected on or off")),
                }
            }
            "--mix" => {
                opts.stocked = match value().as_str() {
                    "stocked" => true,
                    "empty" => false,
                    other => usage(&format!("--mix {other:?}: expected stocked or empty")),
                }
            }
            "--only" => {
                let names: Vec<String> = value().split(',').map(str::to_owned).collect();
                for n in &names {
                    if !SUITE.has(n) {
                        usage(&format!("unknown measurement {n:?}"));
                    }
                }
                opts.only = Some(names);
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if opts.runs == 0 {
        usage("--runs must be at least 1");
    }
    opts
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| usage(&format!("not a valid number: {s:?}")))
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("error: {err}");
    }
    eprintln!(
        "usage: collector_bench [--runs N] [--events N] [--stores N] [--batch N] [--window N] \
         [--publishers N] [--mix stocked|empty] [--history on|off] \
         [--only ingest,ingest_no_history,no_rules,rules,mosquitto]"
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}
