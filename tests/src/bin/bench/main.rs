//! End-to-end benchmark of store-edge against the usual Mosquitto-bridge setup, with real
//! processes. Prints numbers and a Markdown table, writes JSON; asserts nothing timed.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release -p store-tests --bin bench -- [--runs 3] [--events 200000]
//!     [--backlog 200000] [--latency-rate 1000] [--latency-rate-high 10000] [--latency-secs 10]
//!     [--live-rate 100] [--idle-secs 5] [--window 8192] [--journal-secs 2]
//!     [--peer-change-events 2000] [--json PATH] [--only journal,e2e,...]
//! ```
//!
//! The same load generator timing drives both systems: ours is fed by the line-feed writer
//! ([`store_tests::writer`]), the peer by a QoS 1 publisher paced the same way
//! ([`store_tests::peer::publisher`]). Ours: line feed → agent → Mosquitto → collector,
//! confirmation = applied at HQ. The peer: publisher → store Mosquitto (persistence) bridged to
//! an HQ Mosquitto (`cleansession false`, `max_queued_messages 0`), confirmation = arrival at an
//! HQ subscriber; in two settings, `autosave_interval 1` and `autosave_on_changes true`.
//!
//! Each run starts fresh processes in fresh temporary directories and executes every selected
//! measurement once (interleaved across runs, so a slow phase of the machine does not land on
//! one measurement only). Printed: every metric per run, medians with min and max, ratios of
//! metrics taken in the same run, and a Markdown table ours vs each peer setting (ratios are
//! medians of the per-run ratios). The JSON file (path printed at the end) holds all of it with
//! the conditions (machine, disk, load before and after).
//!
//! Parts, each with one job: [`journal`] (the journal alone and the disk's fdatasync rate),
//! [`ours`] (store-edge's measurements), [`peer`] (the peer's), [`sample`] (CPU, RSS,
//! percentiles), [`machine`] (the conditions).

mod journal;
mod machine;
mod ours;
mod peer;
mod sample;

use std::path::PathBuf;

use store_tests::benchkit::{Decimals, Measurement, Ratio, Row, Suite};

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Opts {
    runs: usize,
    /// Events of the flat-out measurements.
    events: u64,
    /// Events journaled (published) while HQ's broker is down.
    backlog: u64,
    latency_rate: f64,
    latency_rate_high: f64,
    latency_secs: u64,
    /// Live events per second during a backlog drain.
    live_rate: f64,
    idle_secs: u64,
    window: usize,
    /// Seconds per group size in `journal`, and for the disk's fdatasync rate.
    journal_secs: f64,
    /// Cap on the events of the peer's flat-out and backlog measurements with
    /// `autosave_on_changes` (each change rewrites the whole database).
    peer_change_events: u64,
    peer_timeout_secs: u64,
    backlog_timeout_secs: u64,
    json: Option<PathBuf>,
    only: Option<Vec<String>>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            runs: 3,
            events: 200_000,
            backlog: 200_000,
            latency_rate: 1_000.0,
            latency_rate_high: 10_000.0,
            latency_secs: 10,
            live_rate: 100.0,
            idle_secs: 5,
            window: 8_192,
            journal_secs: 2.0,
            peer_change_events: 2_000,
            peer_timeout_secs: 600,
            backlog_timeout_secs: 900,
            json: None,
            only: None,
        }
    }
}

/// Run in this order in every run.
const MEASUREMENTS: &[Measurement<Opts>] = &[
    (
        "journal",
        "journal alone, in process, groups of 1..4096; the disk's 4 KiB fdatasync rate",
        journal::journal,
    ),
    (
        "feed_only",
        "baseline: line feed -> agent journal, no broker",
        ours::feed_only,
    ),
    (
        "e2e",
        "line feed -> agent -> Mosquitto -> collector applied, flat out",
        ours::end_to_end,
    ),
    (
        "peer_e2e_1s",
        "peer (autosave 1 s): publisher -> store Mosquitto -> bridge -> HQ, flat out",
        peer::e2e_second,
    ),
    (
        "peer_e2e_chg",
        "peer (autosave on changes), flat out, --peer-change-events events",
        peer::e2e_change,
    ),
    (
        "latency",
        "line feed -> collector committed, at --latency-rate",
        ours::latency_low,
    ),
    (
        "peer_latency_1s",
        "peer (autosave 1 s): publish -> HQ arrival, at --latency-rate",
        peer::latency_low_second,
    ),
    (
        "peer_latency_chg",
        "peer (autosave on changes), at --latency-rate",
        peer::latency_low_change,
    ),
    (
        "latency_high",
        "line feed -> collector committed, at --latency-rate-high",
        ours::latency_high,
    ),
    (
        "peer_latency_high_1s",
        "peer (autosave 1 s), at --latency-rate-high",
        peer::latency_high_second,
    ),
    (
        "peer_latency_high_chg",
        "peer (autosave on changes), at --latency-rate-high",
        peer::latency_high_change,
    ),
    (
        "backlog",
        "HQ broker down for --backlog events, then up; agent's default historical rate",
        ours::backlog_default,
    ),
    (
        "backlog_unlimited",
        "as backlog, historical rate unlimited",
        ours::backlog_unlimited,
    ),
    (
        "peer_backlog_1s",
        "peer (autosave 1 s): HQ broker down for --backlog events, then up",
        peer::backlog_second,
    ),
    (
        "peer_backlog_chg",
        "peer (autosave on changes): as above, --peer-change-events events",
        peer::backlog_change,
    ),
];

const RATIOS: &[Ratio] = &[
    (
        "journal group-1 commits/s over the disk's fdatasyncs/s (how close to the disk's limit)",
        "journal.g1_commits_per_sec",
        "journal.disk_fdatasyncs_per_sec",
    ),
    (
        "journal group-16 commits/s over the disk's fdatasyncs/s",
        "journal.g16_commits_per_sec",
        "journal.disk_fdatasyncs_per_sec",
    ),
    (
        "journal group-256 commits/s over the disk's fdatasyncs/s",
        "journal.g256_commits_per_sec",
        "journal.disk_fdatasyncs_per_sec",
    ),
    (
        "journal group-4096 commits/s over the disk's fdatasyncs/s",
        "journal.g4096_commits_per_sec",
        "journal.disk_fdatasyncs_per_sec",
    ),
    (
        "end-to-end events/s over feed-only (journal) events/s",
        "e2e.events_per_sec",
        "feed_only.events_per_sec",
    ),
    (
        "feed-only events/s over journal-alone (group 4096) events/s",
        "feed_only.events_per_sec",
        "journal.g4096_events_per_sec",
    ),
];

/// The peer columns of the table.
const COLUMNS: &[&str] = &["peer autosave 1 s", "peer autosave on changes"];

/// Ours against each peer setting. Times that grow with the number of events (drain time) are
/// not compared with the on-changes setting, which handles only `--peer-change-events`.
const ROWS: &[Row] = &[
    (
        "durable ingest, HQ down (events/s)",
        "backlog_unlimited.ingest_events_per_sec",
        &[
            "peer_backlog_1s.ingest_events_per_sec",
            "peer_backlog_chg.ingest_events_per_sec",
        ],
    ),
    (
        "journal alone, group 1 (events/s)",
        "journal.g1_events_per_sec",
        &[],
    ),
    (
        "journal alone, group 16 (events/s)",
        "journal.g16_events_per_sec",
        &[],
    ),
    (
        "journal alone, group 256 (events/s)",
        "journal.g256_events_per_sec",
        &[],
    ),
    (
        "journal alone, group 4096 (events/s)",
        "journal.g4096_events_per_sec",
        &[],
    ),
    (
        "journal group commits/s, group 1",
        "journal.g1_commits_per_sec",
        &[],
    ),
    (
        "journal group commits/s, group 4096",
        "journal.g4096_commits_per_sec",
        &[],
    ),
    (
        "disk: 4 KiB write + fdatasync per second",
        "journal.disk_fdatasyncs_per_sec",
        &[],
    ),
    (
        "end-to-end, flat out (events/s)",
        "e2e.events_per_sec",
        &["peer_e2e_1s.events_per_sec", "peer_e2e_chg.events_per_sec"],
    ),
    (
        "device confirmation rate, flat out (events/s)",
        "e2e.feed_events_per_sec",
        &[
            "peer_e2e_1s.feed_events_per_sec",
            "peer_e2e_chg.feed_events_per_sec",
        ],
    ),
    (
        "latency p50 at low rate (ms)",
        "latency.latency_p50_ms",
        &[
            "peer_latency_1s.latency_p50_ms",
            "peer_latency_chg.latency_p50_ms",
        ],
    ),
    (
        "latency p99 at low rate (ms)",
        "latency.latency_p99_ms",
        &[
            "peer_latency_1s.latency_p99_ms",
            "peer_latency_chg.latency_p99_ms",
        ],
    ),
    (
        "latency p999 at low rate (ms)",
        "latency.latency_p999_ms",
        &[
            "peer_latency_1s.latency_p999_ms",
            "peer_latency_chg.latency_p999_ms",
        ],
    ),
    (
        "latency p50 at high rate (ms)",
        "latency_high.latency_p50_ms",
        &[
            "peer_latency_high_1s.latency_p50_ms",
            "peer_latency_high_chg.latency_p50_ms",
        ],
    ),
    (
        "latency p99 at high rate (ms)",
        "latency_high.latency_p99_ms",
        &[
            "peer_latency_high_1s.latency_p99_ms",
            "peer_latency_high_chg.latency_p99_ms",
        ],
    ),
    (
        "latency p999 at high rate (ms)",
        "latency_high.latency_p999_ms",
        &[
            "peer_latency_high_1s.latency_p999_ms",
            "peer_latency_high_chg.latency_p999_ms",
        ],
    ),
    (
        "achieved rate at high rate (events/s)",
        "latency_high.achieved_events_per_sec",
        &[
            "peer_latency_high_1s.achieved_events_per_sec",
            "peer_latency_high_chg.achieved_events_per_sec",
        ],
    ),
    (
        "backlog: time to resume after the outage (s)",
        "backlog.resume_secs",
        &[
            "peer_backlog_1s.resume_secs",
            "peer_backlog_chg.resume_secs",
        ],
    ),
    (
        "backlog: drain time, default rate (s)",
        "backlog.drain_secs",
        &["peer_backlog_1s.drain_secs", ""],
    ),
    (
        "backlog: drain time, unlimited (s)",
        "backlog_unlimited.drain_secs",
        &["peer_backlog_1s.drain_secs", ""],
    ),
    (
        "backlog: drain rate, unlimited (events/s)",
        "backlog_unlimited.drain_events_per_sec",
        &[
            "peer_backlog_1s.drain_events_per_sec",
            "peer_backlog_chg.drain_events_per_sec",
        ],
    ),
    (
        "backlog: live p99 during drain, default rate (ms)",
        "backlog.live_p99_ms",
        &[
            "peer_backlog_1s.live_p99_ms",
            "peer_backlog_chg.live_p99_ms",
        ],
    ),
    (
        "backlog: live p99 during drain, unlimited (ms)",
        "backlog_unlimited.live_p99_ms",
        &[
            "peer_backlog_1s.live_p99_ms",
            "peer_backlog_chg.live_p99_ms",
        ],
    ),
    (
        "RSS idle after the flat-out run (MiB): agent vs store broker",
        "e2e.agent_rss_idle_mib",
        &[
            "peer_e2e_1s.broker_rss_idle_mib",
            "peer_e2e_chg.broker_rss_idle_mib",
        ],
    ),
    (
        "RSS at low rate (MiB)",
        "latency.agent_rss_mib",
        &[
            "peer_latency_1s.broker_rss_mib",
            "peer_latency_chg.broker_rss_mib",
        ],
    ),
    (
        "RSS peak during backlog (MiB)",
        "backlog_unlimited.agent_rss_peak_mib",
        &[
            "peer_backlog_1s.broker_rss_peak_mib",
            "peer_backlog_chg.broker_rss_peak_mib",
        ],
    ),
    (
        "RSS after the drain (MiB)",
        "backlog_unlimited.agent_rss_drained_mib",
        &[
            "peer_backlog_1s.broker_rss_drained_mib",
            "peer_backlog_chg.broker_rss_drained_mib",
        ],
    ),
    (
        "CPU idle (% of a core)",
        "e2e.agent_cpu_idle_pct",
        &[
            "peer_e2e_1s.broker_cpu_idle_pct",
            "peer_e2e_chg.broker_cpu_idle_pct",
        ],
    ),
    (
        "CPU at low rate (% of a core)",
        "latency.agent_cpu_pct",
        &[
            "peer_latency_1s.broker_cpu_pct",
            "peer_latency_chg.broker_cpu_pct",
        ],
    ),
    (
        "CPU at high rate (% of a core)",
        "latency_high.agent_cpu_pct",
        &[
            "peer_latency_high_1s.broker_cpu_pct",
            "peer_latency_high_chg.broker_cpu_pct",
        ],
    ),
];

const SUITE: Suite<Opts> = Suite {
    measurements: MEASUREMENTS,
    ratios: RATIOS,
    decimals: Decimals::TwoBelowThousand,
};

fn main() {
    let opts = parse_args();
    println!(
        "store-edge bench: {} run(s); {} events flat out; backlog {}; latency at {} and {} events/s for {} s",
        opts.runs, opts.events, opts.backlog, opts.latency_rate, opts.latency_rate_high, opts.latency_secs
    );
    let tmp = std::env::temp_dir();
    let mut context = machine::context(&tmp);
    println!("conditions: {context}");
    let report = SUITE.collect(&opts, opts.runs, opts.only.as_deref());
    context["load_at_end"] = machine::load().into();
    context["date_end"] = machine::now_utc().into();
    context["options"] = format!("{opts:?}").into();
    let table = report.markdown(COLUMNS, ROWS, Decimals::TwoBelowThousand);
    println!(
        "\n== ours vs the peer: median [min-max] over {} run(s); ratio = median of per-run ours/peer ==\n",
        opts.runs
    );
    println!(
        "{} UTC; {} CPUs ({}); disk {}; load {} at start, {} at end\n",
        context["date"].as_str().unwrap_or("?"),
        context["nproc"],
        context["cpu"].as_str().unwrap_or("?"),
        context["disk"].as_str().unwrap_or("?"),
        context["load_at_start"].as_str().unwrap_or("?"),
        context["load_at_end"].as_str().unwrap_or("?"),
    );
    print!("{table}");
    let path = opts.json.clone().unwrap_or_else(default_json_path);
    let json = report.to_json(COLUMNS, ROWS, context);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")) {
        Ok(()) => println!("\nJSON: {}", path.display()),
        Err(e) => println!("\nJSON not written to {}: {e}", path.display()),
    }
    report.exit_on_failures();
}

/// `target/bench/bench-<unix seconds>.json` under the workspace.
fn default_json_path() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench")
        .join(format!("bench-{secs}.json"))
}

fn parse_args() -> Opts {
    let mut o = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match flag.as_str() {
            "--runs" => o.runs = parse(&value("--runs")),
            "--events" => o.events = parse(&value("--events")),
            "--backlog" => o.backlog = parse(&value("--backlog")),
            "--latency-rate" => o.latency_rate = parse(&value("--latency-rate")),
            "--latency-rate-high" => o.latency_rate_high = parse(&value("--latency-rate-high")),
            "--latency-secs" => o.latency_secs = parse(&value("--latency-secs")),
            "--live-rate" => o.live_rate = parse(&value("--live-rate")),
            "--idle-secs" => o.idle_secs = parse(&value("--idle-secs")),
            "--window" => o.window = parse(&value("--window")),
            "--journal-secs" => o.journal_secs = parse(&value("--journal-secs")),
            "--peer-change-events" => o.peer_change_events = parse(&value("--peer-change-events")),
            "--peer-timeout-secs" => o.peer_timeout_secs = parse(&value("--peer-timeout-secs")),
            "--backlog-timeout-secs" => {
                o.backlog_timeout_secs = parse(&value("--backlog-timeout-secs"))
            }
            "--json" => o.json = Some(PathBuf::from(value("--json"))),
            "--only" => {
                let list: Vec<String> = value("--only").split(',').map(str::to_string).collect();
                for n in &list {
                    if !SUITE.has(n) {
                        usage(&format!("unknown measurement {n}"));
                    }
                }
                o.only = Some(list);
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if o.runs == 0 {
        usage("--runs must be at least 1");
    }
    if o.events == 0 || o.backlog == 0 || o.peer_change_events == 0 {
        usage("--events, --backlog and --peer-change-events must be at least 1");
    }
    if !(o.latency_rate > 0.0 && o.latency_rate_high > 0.0 && o.live_rate > 0.0) {
        usage("rates must be positive");
    }
    o
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| usage(&format!("not a number: {s}")))
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("bench: {err}");
    }
    eprintln!(
        "usage: bench [--runs N] [--events N] [--backlog N] [--latency-rate R] \
         [--latency-rate-high R] [--latency-secs S] [--live-rate R] [--idle-secs S] [--window N] \
         [--journal-secs S] [--peer-change-events N] [--peer-timeout-secs S] \
         [--backlog-timeout-secs S] [--json PATH] [--only {}]",
        SUITE.names()
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}
