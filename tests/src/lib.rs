//! End-to-end harness of store-edge: real `store-agent` and `store-collector` processes, a real
//! Mosquitto broker, and a line-feed client standing in for store devices.
//!
//! The tests in `tests/` and the `bench` binary are black boxes: they write config files into a
//! temporary directory, start the release binaries (built beforehand with
//! `cargo build --release --bins`), feed events through the agent's line-feed driver, kill and
//! restart things, and judge the outcome only from what the collector reports on `/v1/stats`.
//!
//! Modules, each with one job:
//! - [`bins`]: where the binaries under test are.
//! - [`ports`]: free `127.0.0.1` ports, waiting for a port to accept.
//! - [`mod@env`]: a per-test temporary directory that is kept (and named) when the test fails.
//! - [`process`]: a child process with a log file, SIGKILL/SIGTERM, restart, log tail on failure.
//! - [`mosquitto`], [`agent`], [`collector`]: the three processes, configured by the test;
//!   [`stack`] wires one of each together.
//! - [`http`] and [`stats`]: a tiny HTTP/1.1 client and the collector's `/v1/stats` document.
//! - [`events`]: the deterministic mix of line-feed events and their expected tallies.
//! - [`writer`]: streams line-feed events with pipelining, survives agent restarts, reports
//!   which seqs were acknowledged with `ok`.
//! - [`check`]: the delivery invariants (no loss, exactly-once effect) as a list of violations.
//! - [`wait`]: polling with a deadline and a descriptive panic, instead of fixed sleeps.
//! - [`mqtt_probe`]: a minimal MQTT 3.1.1 client, enough to check the broker's persistence.
//! - [`peer`]: the setup `bench` compares with: QoS 1 publisher, a store Mosquitto bridged to a
//!   central one, a central subscriber.
//! - [`pki`]: a throw-away CA and certificates for the TLS tests; [`tls_probe`]: a blocking MQTT
//!   client over TLS (rumqttc) that tries what a store's credentials may and may not do.
//! - [`signal`]: the one place that calls `kill(2)`.
//! - [`pty`]: pseudo-terminals standing in for serial devices.
//! - [`store_day`]: the scripted two-store day (simulated clock) and [`store_day::DayStack`], the
//!   processes that play it; [`demo`]: the demo's devices, day and HQ view.
//! - [`browser`]: headless Chromium for the dashboard test.
//! - [`counter_generator`]: a virtual people counter posting Axis or Xovis payloads to a
//!   `counter_push` receiver on a schedule.
//! - [`proxy`]: an in-test TCP proxy that cuts, black-holes or throttles a link.
//! - [`faketime`]: running a process under libfaketime with a clock offset the test changes.
//! - [`faults`]: the fault suite's cases and accounting, run by the `faults` binary.
//! - [`benchkit`]: collecting and printing benchmark results (medians, ratios) for `bench` and
//!   `collector_bench`.
//!
//! Running:
//!
//! ```text
//! scripts/test.sh                                   # everything, as CI does (.ci/run)
//! cargo build --release --bins                      # then, e.g.:
//! cargo test --release -p store-tests --test agent_sigkill -- --nocapture
//! cargo run --release -p store-tests --bin bench -- --runs 3
//! cargo run --release -p store-tests --bin faults -- [--full] [--only a,b] [--seed N]
//! scripts/demo.sh                                   # the local demo (src/bin/demo.rs)
//! ```
//!
//! Knobs (environment): `STORE_TESTS_SEED` replays the random kill moments of a failed run;
//! `STORE_TESTS_OUTAGE_SECS` (30) the broker outage; `STORE_TESTS_RATE` the writer rate of the
//! outage and collector-kill tests; `STORE_TESTS_HAPPY_EVENTS` (100000),
//! `STORE_TESTS_EMBEDDED_EVENTS` (20000), `STORE_TESTS_AGENT_KILLS` (5),
//! `STORE_TESTS_COLLECTOR_KILLS` (3), `STORE_TESTS_WEBHOOK_FAIL_SECS` (20: how long the failing
//! webhook of `webhook_delivery` answers 500; 60 for the full run); `STORE_TESTS_KEEP=1` keeps the test directories of passing
//! tests too; `STORE_TESTS_LIMIT_SECS` (600) is each test's time limit before
//! [`watchdog`] aborts it; `RUST_LOG` is passed to the agent and collector (default `info`);
//! `STORE_AGENT_BIN`, `STORE_COLLECTOR_BIN`, `MOSQUITTO_BIN` and `CHROMIUM_BIN` (the headless
//! browser of the dashboard test) override the binaries.
//!
//! The e2e tests start several processes each, and the machines running them are small: every
//! test takes [`serial()`] first so the tests of one test binary run one at a time, whatever
//! `--test-threads` says.

pub mod agent;
pub mod benchkit;
pub mod bins;
pub mod browser;
pub mod check;
pub mod collector;
pub mod counter_generator;
pub mod demo;
pub mod env;
pub mod events;
pub mod faketime;
pub mod faults;
pub mod http;
pub mod lazyfs;
pub mod mosquitto;
pub mod mqtt_probe;
pub mod peer;
pub mod pki;
pub mod ports;
pub mod process;
pub mod proxy;
pub mod pty;
pub mod signal;
pub mod stack;
pub mod stats;
pub mod store_day;
pub mod tls_probe;
pub mod wait;
pub mod watchdog;
pub mod writer;

use std::sync::{Mutex, MutexGuard};

pub use agent::{Agent, AgentConfig};
pub use collector::{Collector, CollectorConfig};
pub use env::TestEnv;
pub use mosquitto::Mosquitto;
pub use stack::Stack;
pub use writer::{Writer, WriterOptions, WriterReport};

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the end-to-end tests of one test binary. Hold the guard for the whole test.
///
/// A test that failed while holding the lock poisons it; the next test still runs (its own
/// outcome does not depend on the failed one's, which has killed its processes on drop).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A random seed for a test, printed so a failing run can be replayed with
/// `STORE_TESTS_SEED=<seed>`.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("STORE_TESTS_SEED") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("STORE_TESTS_SEED must be a u64, got {s:?}")),
        Err(_) => rand::random(),
    };
    println!("[{test}] seed = {seed} (replay with STORE_TESTS_SEED={seed})");
    seed
}

/// A numeric knob from the environment (e.g. `STORE_TESTS_OUTAGE_SECS`), or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a non-negative integer, got {v:?}")),
        Err(_) => default,
    }
}
