//! `demo`: one store day on this machine, with an HQ outage in the middle.
//!
//! Starts a collector with its embedded MQTT broker (rumqttd, in-process: no Mosquitto needed) and
//! an agent with a `line_feed` driver, all on `127.0.0.1` with free ports and their state in a
//! temporary directory. Then plays a simulated store day through the line feed on an accelerated
//! clock (08:00 to 18:00 in `--duration` seconds): receiving in the morning, sales (items scanned
//! at the tills, then the receipt), a stock count, returns and an afternoon rush, with the door
//! counter ticking throughout. Midway, HQ goes down: the collector (and with it the broker) is
//! SIGKILLed for about 5 s while the store keeps selling and the agent keeps journaling; then it
//! is restarted on the same state directory and the backlog drains.
//!
//! About once a second a status line shows what was sent and what HQ has applied; at the end a
//! summary compares the collector's `/v1/stats` with what the store was told is stored (`ok
//! <seq>`), and gives the verdict. Then the demo keeps the processes running until Ctrl-C
//! (unless `--no-wait`), so `/v1/stats` can be looked at, and stops them with SIGTERM.
//!
//! ```text
//! ./scripts/demo.sh                                  # builds, then runs this with its arguments
//! target/release/demo --duration 20 --speed 2 --no-wait
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use store_proto::SeqSet;
use store_tests::events::{Effect, Kind};
use store_tests::stats::{short_ranges, Stats};
use store_tests::writer::{LineSource, Progress};
use store_tests::{
    process, Agent, AgentConfig, Collector, CollectorConfig, Writer, WriterOptions, WriterReport,
};

const USAGE: &str = "\
Usage: demo [--duration SECS] [--speed X] [--no-wait] [--keep]

Runs a local store-edge demo: a collector with its embedded MQTT broker and an agent, on
127.0.0.1, fed with a simulated store day; HQ (the collector) is killed midway and restarted.

Options:
  --duration SECS  length of the simulated store day in wall seconds (default 60, at least 5)
  --speed X        event rate multiplier (default 1.0 = about 200 events/s); the HQ outage lasts
                   5 s / X (at least 1 s, at most 30% of the day)
  --no-wait        exit after the summary instead of waiting for Ctrl-C
  --keep           keep the temporary directory (configs, state, logs) after exit
  -h, --help       print this help";

/// Events per second at speed 1.0 and a phase rate of 1.0.
const BASE_RATE: f64 = 200.0;
/// Wall seconds of the HQ outage at speed 1.0.
const OUTAGE_SECS: f64 = 5.0;
/// When the outage starts, as a fraction of the day.
const OUTAGE_AT: f64 = 0.45;
/// Store hours, in minutes after midnight.
const OPENS_MIN: f64 = 8.0 * 60.0;
const CLOSES_MIN: f64 = 18.0 * 60.0;
/// How long the collector may take, after the day, to apply everything acknowledged.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// Grace period of SIGTERM before SIGKILL when stopping a process.
const STOP_GRACE: Duration = Duration::from_secs(10);
const STORE_ID: &str = "store-1";
const AGENT_ID: &str = "agent-1";

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("demo: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = install_stop_handler() {
        eprintln!("demo: cannot handle SIGINT/SIGTERM: {e}");
        return ExitCode::FAILURE;
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---- command line ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Args {
    duration: f64,
    speed: f64,
    wait: bool,
    keep: bool,
}

impl Args {
    /// `Ok(None)` for `--help`.
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Self>, String> {
        let mut args = Args {
            duration: 60.0,
            speed: 1.0,
            wait: true,
            keep: false,
        };
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match name.as_str() {
                "-h" | "--help" => return Ok(None),
                "--duration" => args.duration = number(&name, &value(&name)?)?,
                "--speed" => args.speed = number(&name, &value(&name)?)?,
                "--no-wait" if inline.is_none() => args.wait = false,
                "--keep" if inline.is_none() => args.keep = true,
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        if args.duration < 5.0 || args.duration > 86_400.0 {
            return Err(format!(
                "--duration must be between 5 and 86400 seconds, got {}",
                args.duration
            ));
        }
        if !(0.05..=100.0).contains(&args.speed) {
            return Err(format!(
                "--speed must be between 0.05 and 100, got {}",
                args.speed
            ));
        }
        Ok(Some(args))
    }

    /// Wall seconds of the HQ outage.
    fn outage_secs(&self) -> f64 {
        (OUTAGE_SECS / self.speed).clamp(1.0, 0.3 * self.duration)
    }
}

fn number(name: &str, text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{name}: not a number: {text:?}")),
    }
}

// ---- Ctrl-C ---------------------------------------------------------------------------------

/// Set by SIGINT (Ctrl-C) or SIGTERM; every loop of the demo polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Makes SIGINT and SIGTERM set [`STOP`] instead of killing the process, so the children can be
/// stopped in order first (they run in their own process group and do not see a Ctrl-C).
#[allow(unsafe_code)]
fn install_stop_handler() -> std::io::Result<()> {
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to a static atomic, which is async-signal-safe. The
        // sigaction struct is zero-initialised (a valid value for this plain C struct), then
        // given the handler and an empty mask, and lives across the call; the previous action
        // is not asked for (null pointer, allowed by sigaction(2)).
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sleeps `d` in small steps; false if a stop was asked for meanwhile.
fn nap(d: Duration) -> bool {
    let end = Instant::now() + d;
    while !stopping() {
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
    false
}

// ---- the simulated store ----------------------------------------------------------------------

/// What a line of the store day stands for (finer than the collector's kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Activity {
    ReceivingScan,
    SaleScan,
    Sale,
    StockCountScan,
    Return,
    DoorTick,
}

impl Activity {
    fn label(self) -> &'static str {
        match self {
            Activity::ReceivingScan => "receiving scans",
            Activity::SaleScan => "till scans",
            Activity::Sale => "sales",
            Activity::StockCountScan => "stock-count scans",
            Activity::Return => "returns",
            Activity::DoorTick => "door-counter ticks",
        }
    }
}

/// Who produces the next line.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A handheld scanner in the back room booking in deliveries.
    Receiving,
    /// A till: scans the items of a basket one by one, then closes the receipt.
    Till,
    /// A handheld scanner counting the shelves, aisle by aisle.
    StockCount,
    /// The service desk taking an item back.
    Return,
    /// The door's people counter.
    Door,
}

/// One part of the day.
struct Phase {
    name: &'static str,
    /// End of the phase as a fraction of the day.
    until: f64,
    /// Event rate relative to the base rate.
    rate: f64,
    /// Weights of the sources.
    mix: &'static [(Source, u32)],
    /// Most people counted in, and out, by one door-counter tick.
    door_max: (u32, u32),
}

const PHASES: &[Phase] = &[
    Phase {
        name: "receiving",
        until: 0.15,
        rate: 0.5,
        mix: &[(Source::Receiving, 80), (Source::Door, 20)],
        // Staff and the first customers arrive; nobody leaves yet.
        door_max: (1, 0),
    },
    Phase {
        name: "morning sales",
        until: 0.40,
        rate: 1.0,
        mix: &[
            (Source::Till, 60),
            (Source::Door, 35),
            (Source::Receiving, 5),
        ],
        door_max: (2, 2),
    },
    Phase {
        name: "stock count",
        until: 0.55,
        rate: 0.8,
        mix: &[
            (Source::StockCount, 50),
            (Source::Till, 30),
            (Source::Door, 20),
        ],
        door_max: (2, 2),
    },
    Phase {
        name: "returns",
        until: 0.70,
        rate: 1.0,
        mix: &[(Source::Till, 50), (Source::Door, 35), (Source::Return, 15)],
        door_max: (2, 2),
    },
    Phase {
        name: "afternoon rush",
        until: 1.0,
        rate: 1.6,
        mix: &[(Source::Till, 55), (Source::Door, 45)],
        door_max: (4, 4),
    },
];

struct Product {
    gtin: String,
    name: &'static str,
    price_minor: i64,
}

/// A small grocery range; GTIN-13s get their check digit computed.
fn catalogue() -> Vec<Product> {
    [
        ("400638133393", "Sparkling water 1.5 l", 69),
        ("590123412345", "Oat milk 1 l", 189),
        ("871234567890", "Rye bread 500 g", 249),
        ("761234567890", "Espresso beans 250 g", 599),
        ("501234567890", "Cheddar 200 g", 329),
        ("301234567890", "Apples 1 kg", 279),
        ("800123456789", "Olive oil 500 ml", 749),
        ("400123456789", "Dark chocolate 100 g", 159),
        ("540123456789", "Laundry liquid 1.5 l", 899),
        ("761987654321", "Muesli 750 g", 399),
        ("590987654321", "Tomatoes 500 g", 219),
        ("871987654321", "Toothpaste 75 ml", 189),
    ]
    .into_iter()
    .map(|(prefix, name, price_minor)| Product {
        gtin: gtin13(prefix),
        name,
        price_minor,
    })
    .collect()
}

/// Appends the GS1 check digit to a 12-digit prefix.
fn gtin13(prefix: &str) -> String {
    let sum: u32 = prefix
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{prefix}{}", (10 - sum % 10) % 10)
}

/// Items being scanned at a till.
struct Basket {
    till: u32,
    /// (product index, quantity)
    items: Vec<(usize, u32)>,
    scanned: usize,
}

/// The store's devices; one per demo, shared by the line sources of the phases.
struct Store {
    rng: StdRng,
    products: Vec<Product>,
    basket: Option<Basket>,
    receipts: u64,
    shelf: usize,
    /// People in the shop, as the door counter has seen them: nobody leaves who did not enter.
    inside: u32,
    sent: BTreeMap<Activity, u64>,
}

impl Store {
    fn new() -> Self {
        Self {
            rng: StdRng::seed_from_u64(0x5707_e0d6),
            products: catalogue(),
            basket: None,
            receipts: 0,
            shelf: 0,
            inside: 0,
            sent: BTreeMap::new(),
        }
    }

    /// The next line of `phase`, newline included, with its effect at HQ.
    fn next_line(&mut self, phase: &Phase) -> (String, Effect) {
        let total: u32 = phase.mix.iter().map(|(_, w)| w).sum();
        let mut pick = self.rng.random_range(0..total);
        let mut source = phase.mix[0].0;
        for &(s, w) in phase.mix {
            if pick < w {
                source = s;
                break;
            }
            pick -= w;
        }
        let (activity, value, effect) = match source {
            Source::Receiving => {
                let p = &self.products[self.rng.random_range(0..self.products.len())];
                let case = [6, 12, 24][self.rng.random_range(0..3)];
                (
                    Activity::ReceivingScan,
                    json!({"type": "scan", "device_id": "handheld-1", "data": p.gtin,
                           "symbology": "ean13", "mode": "receiving", "quantity": case}),
                    Effect::of(Kind::Scan),
                )
            }
            Source::StockCount => {
                let p = &self.products[self.shelf % self.products.len()];
                self.shelf += 1;
                let counted = self.rng.random_range(0..40);
                (
                    Activity::StockCountScan,
                    json!({"type": "scan", "device_id": "handheld-2", "data": p.gtin,
                           "symbology": "ean13", "mode": "stock_count", "quantity": counted}),
                    Effect::of(Kind::Scan),
                )
            }
            Source::Till => self.till_line(),
            Source::Return => {
                self.receipts += 1;
                let p = &self.products[self.rng.random_range(0..self.products.len())];
                (
                    Activity::Return,
                    json!({"type": "pos_transaction", "device_id": "till-3",
                           "register_id": "service-desk",
                           "receipt_id": format!("R-{:06}", self.receipts),
                           "kind": "return", "total_minor": p.price_minor, "currency": "EUR",
                           "items": [{"gtin": p.gtin, "description": p.name, "quantity": 1,
                                      "unit_price_minor": p.price_minor,
                                      "extended_minor": p.price_minor}]}),
                    Effect::of(Kind::PosTransaction),
                )
            }
            Source::Door => {
                let entries = self.rng.random_range(0..=phase.door_max.0);
                let exits = self
                    .rng
                    .random_range(0..=phase.door_max.1.min(self.inside + entries));
                self.inside = self.inside + entries - exits;
                (
                    Activity::DoorTick,
                    json!({"type": "foot_traffic", "device_id": "door-1", "counter_id": "door-1",
                           "line": "main", "entries": entries, "exits": exits}),
                    Effect {
                        kind: Kind::FootTraffic,
                        entries: entries.into(),
                        exits: exits.into(),
                    },
                )
            }
        };
        *self.sent.entry(activity).or_default() += 1;
        (format!("{value}\n"), effect)
    }

    /// The next scan of the basket at the till, or its receipt once every item is scanned.
    fn till_line(&mut self) -> (Activity, serde_json::Value, Effect) {
        let n_products = self.products.len();
        let rng = &mut self.rng;
        let basket = self.basket.get_or_insert_with(|| Basket {
            till: rng.random_range(1..=2),
            items: (0..rng.random_range(1..=5))
                .map(|_| (rng.random_range(0..n_products), rng.random_range(1..=3)))
                .collect(),
            scanned: 0,
        });
        if basket.scanned < basket.items.len() {
            let (product, quantity) = basket.items[basket.scanned];
            basket.scanned += 1;
            let p = &self.products[product];
            return (
                Activity::SaleScan,
                json!({"type": "scan", "device_id": format!("till-{}-scanner", basket.till),
                       "data": p.gtin, "symbology": "ean13", "mode": "sale", "quantity": quantity}),
                Effect::of(Kind::Scan),
            );
        }
        let basket = self.basket.take().expect("basket present");
        self.receipts += 1;
        let items: Vec<serde_json::Value> = basket
            .items
            .iter()
            .map(|&(product, quantity)| {
                let p = &self.products[product];
                json!({"gtin": p.gtin, "description": p.name, "quantity": quantity,
                       "unit_price_minor": p.price_minor,
                       "extended_minor": p.price_minor * i64::from(quantity)})
            })
            .collect();
        let total: i64 = basket
            .items
            .iter()
            .map(|&(product, quantity)| self.products[product].price_minor * i64::from(quantity))
            .sum();
        (
            Activity::Sale,
            json!({"type": "pos_transaction", "device_id": format!("till-{}", basket.till),
                   "register_id": format!("till-{}", basket.till),
                   "receipt_id": format!("R-{:06}", self.receipts), "kind": "sale",
                   "total_minor": total, "currency": "EUR", "items": items}),
            Effect::of(Kind::PosTransaction),
        )
    }
}

/// The phase at a fraction of the day.
fn phase_at(fraction: f64) -> usize {
    PHASES
        .iter()
        .position(|p| fraction < p.until)
        .unwrap_or(PHASES.len() - 1)
}

/// Store clock ("HH:MM") at a fraction of the day.
fn store_clock(fraction: f64) -> String {
    let minutes = (OPENS_MIN + fraction.clamp(0.0, 1.0) * (CLOSES_MIN - OPENS_MIN)) as u64;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

// ---- feeding the line feed --------------------------------------------------------------------

/// The line-feed writers of the day: one per phase (each at its phase's rate), their reports
/// merged as they finish.
struct Feed {
    addr: SocketAddr,
    speed: f64,
    store: Arc<Mutex<Store>>,
    current: Option<Writer>,
    done: Option<WriterReport>,
}

/// Totals over the writers so far.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    sent: u64,
    acked: u64,
    max_acked: u64,
}

impl Feed {
    fn new(addr: SocketAddr, speed: f64) -> Self {
        Self {
            addr,
            speed,
            store: Arc::new(Mutex::new(Store::new())),
            current: None,
            done: None,
        }
    }

    /// Starts sending the lines of `phase` (after finishing the previous phase's writer).
    fn start_phase(&mut self, phase: usize) {
        let first_index = self.finish_current().map_or(0, |r| r.next_index);
        let store = Arc::clone(&self.store);
        let source = LineSource::new(move |_index| {
            store
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_line(&PHASES[phase])
        });
        let opts = WriterOptions::new(self.addr)
            .rate(BASE_RATE * self.speed * PHASES[phase].rate)
            .first_index(first_index)
            .reconnect_timeout(Duration::from_secs(10));
        self.current = Some(Writer::start_with_source(opts, source));
    }

    /// Stops the current writer (collecting the answers it is owed) and merges its report.
    fn finish_current(&mut self) -> Option<&WriterReport> {
        if let Some(w) = self.current.take() {
            let report = w.stop();
            match self.done.as_mut() {
                Some(done) => done.merge(report),
                None => self.done = Some(report),
            }
        }
        self.done.as_ref()
    }

    fn totals(&self) -> Totals {
        let mut t = Totals::default();
        if let Some(r) = &self.done {
            t.sent = r.sent;
            t.acked = r.acked.len() as u64;
            t.max_acked = r.max_acked().unwrap_or(0);
        }
        if let Some(w) = &self.current {
            let p: Progress = w.progress();
            t.sent += p.sent;
            t.acked += p.acked;
            t.max_acked = t.max_acked.max(p.max_acked.unwrap_or(0));
        }
        t
    }

    fn sent_by_activity(&self) -> BTreeMap<Activity, u64> {
        self.store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sent
            .clone()
    }
}

// ---- status -----------------------------------------------------------------------------------

/// Prints a status line about once per second.
struct Status {
    started: Instant,
    last_at: Instant,
    last_sent: u64,
    /// The collector's committed mark as last seen.
    committed: u64,
    peak_backlog: u64,
}

impl Status {
    fn new(started: Instant) -> Self {
        Self {
            started,
            last_at: started,
            last_sent: 0,
            committed: 0,
            peak_backlog: 0,
        }
    }

    /// Prints one line. `hq_down` says the collector is down on purpose; `stats` is what it
    /// answered, if it did.
    fn line(&mut self, clock: &str, phase: &str, t: Totals, stats: Option<&Stats>, hq_down: bool) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_at).as_secs_f64().max(1e-3);
        let rate = (t.sent - self.last_sent) as f64 / dt;
        self.last_at = now;
        self.last_sent = t.sent;
        let hq = match stats {
            Some(s) => {
                let agent = s.agent(STORE_ID, AGENT_ID);
                self.committed = agent.map_or(0, |a| a.committed_seq);
                format!(
                    "HQ applied {:>7}  committed {:>7}",
                    thousands(s.applied_total),
                    thousands(self.committed)
                )
            }
            None if hq_down => format!(
                "HQ DOWN     {:>7}  committed {:>7}",
                "-",
                thousands(self.committed)
            ),
            None => format!(
                "HQ not answering    committed {:>7}",
                thousands(self.committed)
            ),
        };
        let backlog = t.max_acked.saturating_sub(self.committed);
        self.peak_backlog = self.peak_backlog.max(backlog);
        println!(
            "[{:>6.1}s {clock} {phase:<15}] sent {rate:>5.0}/s  ok'd {:>7} | {hq} | backlog {:>6}",
            self.started.elapsed().as_secs_f64(),
            thousands(t.acked),
            thousands(backlog),
        );
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---- the run ----------------------------------------------------------------------------------

/// The demo's temporary directory. Kept (and named) unless the run ends normally without
/// `--keep`: after an error, a failed verdict or a panic, its logs tell what happened.
struct DemoDir {
    dir: Option<tempfile::TempDir>,
    keep: bool,
}

impl DemoDir {
    fn new() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("store-edge-demo-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        Ok(Self {
            dir: Some(dir),
            keep: true,
        })
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until drop").path()
    }

    fn subdir(&self, name: &str) -> Result<PathBuf, String> {
        let p = self.path().join(name);
        std::fs::create_dir_all(&p).map_err(|e| format!("create {}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if self.keep {
                let path = dir.keep();
                eprintln!("kept {} (configs, state, logs)", path.display());
            }
        }
    }
}

/// What happened to HQ during the day.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hq {
    /// Up, before the outage.
    Up,
    /// Killed at this instant.
    Down(Instant),
    /// Restarted at this instant; the events acknowledged until then reach `target`.
    Back { at: Instant, target: u64 },
    /// The outage's backlog is applied.
    Recovered,
}

/// Runs the demo; `Ok(true)` when the verdict holds (or the user stopped it early).
fn run(args: &Args) -> Result<bool, String> {
    let day = Duration::from_secs_f64(args.duration);
    let outage_at = Duration::from_secs_f64(args.duration * OUTAGE_AT);
    let outage = Duration::from_secs_f64(args.outage_secs());

    let mut dir = DemoDir::new()?;
    process::children_in_own_process_group();
    println!(
        "store-edge demo: a store day (08:00-18:00) in {:.0} s at speed {} (about {:.0} events/s at base rate), \
         with an HQ outage of {:.1} s in the middle",
        args.duration,
        args.speed,
        BASE_RATE * args.speed,
        outage.as_secs_f64()
    );
    println!(
        "temporary directory (configs, state, logs): {}",
        dir.path().display()
    );

    let collector_dir = dir.subdir("collector")?;
    let agent_dir = dir.subdir("agent")?;
    println!(
        "  collector log: {}",
        collector_dir.join("collector.log").display()
    );
    println!("  agent log:     {}", agent_dir.join("agent.log").display());

    println!("starting store-collector (HQ) with its embedded MQTT broker ...");
    let mut collector = Collector::start(
        &collector_dir,
        CollectorConfig::with_embedded_broker(&collector_dir),
    );
    let stats_url = format!("http://{}/v1/stats", collector.api_addr());
    println!(
        "  ready: MQTT on 127.0.0.1:{}, stats on {stats_url}",
        collector.mqtt_port()
    );
    println!("starting store-agent ({STORE_ID}/{AGENT_ID}) with a line-feed driver ...");
    let mut agent_config = AgentConfig::new(&agent_dir, collector.mqtt_port());
    agent_config.store_id = STORE_ID.into();
    agent_config.agent_id = AGENT_ID.into();
    let mut agent = Agent::start(&agent_dir, agent_config);
    println!("  ready: line feed on {}", agent.feed_addr());

    let plan: Vec<String> = PHASES
        .iter()
        .scan(0.0, |from, p| {
            let s = format!("{} {}", store_clock(*from), p.name);
            *from = p.until;
            Some(s)
        })
        .collect();
    println!(
        "the day: {} | 18:00 close; HQ down from {:.1} s to {:.1} s (wall clock)",
        plan.join(" | "),
        outage_at.as_secs_f64(),
        (outage_at + outage).as_secs_f64()
    );
    println!();

    let started = Instant::now();
    let mut feed = Feed::new(agent.feed_addr(), args.speed);
    let mut phase = 0;
    feed.start_phase(phase);
    println!("{} store opens: {}", store_clock(0.0), PHASES[phase].name);
    let mut status = Status::new(started);
    let mut hq = Hq::Up;
    let mut next_status = started + Duration::from_secs(1);
    let mut outage_report = String::new();

    // The day: phases, the outage, a status line a second.
    loop {
        if stopping() {
            return stop_early(&mut feed, &mut agent, &mut collector, &mut dir, args);
        }
        let elapsed = started.elapsed();
        if elapsed >= day {
            break;
        }
        let fraction = elapsed.as_secs_f64() / args.duration;
        let clock = store_clock(fraction);
        agent.check_running()?;
        if !matches!(hq, Hq::Down(_)) {
            collector.check_running()?;
        }

        let now_phase = phase_at(fraction);
        if now_phase != phase {
            phase = now_phase;
            feed.start_phase(phase);
            println!("{clock} {}", PHASES[phase].name);
        }

        match hq {
            Hq::Up if elapsed >= outage_at => {
                // The mark as of the kill, so the backlog shown during the outage is exact.
                if let Some(a) = collector
                    .stats()
                    .ok()
                    .and_then(|s| s.agent(STORE_ID, AGENT_ID).map(|a| a.committed_seq))
                {
                    status.committed = a;
                }
                let pid = collector.pid().unwrap_or(0);
                collector.note("demo: HQ outage, SIGKILL");
                collector.kill();
                hq = Hq::Down(Instant::now());
                println!(
                    "{clock} HQ OUTAGE: store-collector (pid {pid}) and its broker SIGKILLed; \
                     the store keeps selling, the agent keeps journaling"
                );
            }
            Hq::Down(since) if since.elapsed() >= outage => {
                let backlog = feed.totals().max_acked.saturating_sub(status.committed);
                status.peak_backlog = status.peak_backlog.max(backlog);
                println!(
                    "{clock} HQ back after {:.1} s: restarting store-collector on the same state \
                     directory (backlog {} events)",
                    since.elapsed().as_secs_f64(),
                    thousands(backlog)
                );
                collector.start_again();
                let target = feed.totals().max_acked;
                hq = Hq::Back {
                    at: Instant::now(),
                    target,
                };
                println!(
                    "{} HQ ready (pid {}); the agent reconnects and resends from HQ's committed mark",
                    store_clock(started.elapsed().as_secs_f64() / args.duration),
                    collector.pid().unwrap_or(0)
                );
            }
            _ => {}
        }

        if Instant::now() >= next_status {
            next_status += Duration::from_secs(1);
            let down = matches!(hq, Hq::Down(_));
            let stats = if down { None } else { collector.stats().ok() };
            status.line(
                &clock,
                PHASES[phase].name,
                feed.totals(),
                stats.as_ref(),
                down,
            );
            if let (Hq::Back { at, target }, Some(_)) = (hq, &stats) {
                if status.committed >= target {
                    outage_report = format!(
                        "HQ down {:.1} s; backlog peaked at {} events; everything acknowledged \
                         up to HQ's return (seq {}) applied {:.1} s after the restart",
                        outage.as_secs_f64(),
                        thousands(status.peak_backlog),
                        thousands(target),
                        at.elapsed().as_secs_f64()
                    );
                    println!("{clock} backlog drained: {outage_report}");
                    hq = Hq::Recovered;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    // Closing time: stop feeding, let HQ catch up.
    let report = feed.finish_current().cloned().ok_or("no writer ran")?;
    let max_acked = report.max_acked().unwrap_or(0);
    println!(
        "18:00 store closes: {} events sent, {} ok'd (highest seq {}); waiting for HQ to apply the rest",
        thousands(report.sent),
        thousands(report.acked.len() as u64),
        thousands(max_acked)
    );
    if matches!(hq, Hq::Down(_)) {
        // Only with a very short day: the outage outlasted it.
        collector.start_again();
    }
    let caught_up_by = Instant::now() + CATCH_UP_TIMEOUT;
    let mut caught_up = false;
    while Instant::now() < caught_up_by {
        if stopping() {
            return stop_early(&mut feed, &mut agent, &mut collector, &mut dir, args);
        }
        agent.check_running()?;
        collector.check_running()?;
        let stats = collector.stats().ok();
        let done = stats
            .as_ref()
            .and_then(|s| s.agent(STORE_ID, AGENT_ID))
            .is_some_and(|a| a.committed_seq >= max_acked && a.gaps.is_empty());
        if done || Instant::now() >= next_status {
            next_status = Instant::now() + Duration::from_secs(1);
            status.line("18:00", "closed", feed.totals(), stats.as_ref(), false);
        }
        if done {
            caught_up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !caught_up {
        println!(
            "HQ did not reach seq {} within {CATCH_UP_TIMEOUT:?}",
            thousands(max_acked)
        );
    }
    if outage_report.is_empty() {
        outage_report = format!(
            "HQ down {:.1} s; backlog peaked at {} events",
            outage.as_secs_f64(),
            thousands(status.peak_backlog)
        );
    }

    // A quiet second: a late duplicate applied twice would show up now.
    if !nap(Duration::from_secs(1)) {
        return stop_early(&mut feed, &mut agent, &mut collector, &mut dir, args);
    }
    let stats = collector.stats()?;
    let ok = summary(&report, &stats, &feed.sent_by_activity(), &outage_report);

    if args.wait {
        println!();
        println!("HQ stats:  {stats_url}");
        println!(
            "line feed: {} (one JSON event per line, see README \"Line feed\")",
            agent.feed_addr()
        );
        println!("logs:      {}", dir.path().display());
        println!("Ctrl-C stops the demo.");
        let mut last = stats.applied_total;
        while nap(Duration::from_secs(1)) {
            agent.check_running()?;
            collector.check_running()?;
            if let Ok(s) = collector.stats() {
                if s.applied_total != last {
                    last = s.applied_total;
                    println!(
                        "HQ applied {} (committed {})",
                        thousands(s.applied_total),
                        thousands(s.agent(STORE_ID, AGENT_ID).map_or(0, |a| a.committed_seq))
                    );
                }
            }
        }
        println!();
    }
    stop_processes(&mut agent, &mut collector);
    dir.keep = args.keep || !ok;
    Ok(ok)
}

/// Ctrl-C before the summary: stop everything, exit successfully.
fn stop_early(
    feed: &mut Feed,
    agent: &mut Agent,
    collector: &mut Collector,
    dir: &mut DemoDir,
    args: &Args,
) -> Result<bool, String> {
    println!("\ninterrupted: stopping");
    feed.finish_current();
    stop_processes(agent, collector);
    dir.keep = args.keep;
    Ok(true)
}

/// SIGTERM the agent, then the collector, each waited for (SIGKILL after [`STOP_GRACE`]).
fn stop_processes(agent: &mut Agent, collector: &mut Collector) {
    let agent_ran = agent.check_running().is_ok();
    let agent_status = agent.terminate(STOP_GRACE);
    report_stop("store-agent", agent_ran, agent_status);
    let collector_ran = collector.check_running().is_ok();
    let collector_status = collector.terminate(STOP_GRACE);
    report_stop("store-collector", collector_ran, collector_status);
}

fn report_stop(name: &str, was_running: bool, status: Option<std::process::ExitStatus>) {
    match (was_running, status) {
        (false, _) => println!("{name} was not running"),
        (true, Some(s)) => println!("stopped {name} ({s})"),
        (true, None) => println!("{name} ignored SIGTERM for {STOP_GRACE:?}: killed"),
    }
}

/// Prints the summary and returns the verdict: every acknowledged event applied exactly once.
fn summary(
    report: &WriterReport,
    stats: &Stats,
    sent_by_activity: &BTreeMap<Activity, u64>,
    outage_report: &str,
) -> bool {
    let store = stats.store(STORE_ID);
    let agent = stats.agent(STORE_ID, AGENT_ID);
    println!();
    println!("==== summary ====");
    println!(
        "the store sent: {}",
        sent_by_activity
            .iter()
            .map(|(a, n)| format!("{} {}", thousands(*n), a.label()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("outage: {outage_report}");
    println!();
    println!(
        "  {:<16} {:>9} {:>9} {:>14}",
        "kind", "sent", "ok'd", "applied at HQ"
    );
    let mut kinds: Vec<&str> = report.sent_tally.kinds.keys().map(String::as_str).collect();
    for k in store.kinds.keys() {
        if !kinds.contains(&k.as_str()) {
            kinds.push(k);
        }
    }
    let mut violations = report.violations();
    for kind in &kinds {
        let sent = report.sent_tally.kinds.get(*kind).copied().unwrap_or(0);
        let acked = report.acked_tally.kinds.get(*kind).copied().unwrap_or(0);
        let applied = store.kinds.get(*kind).copied().unwrap_or(0);
        let mark = if applied == acked {
            ""
        } else {
            "  <-- differs"
        };
        println!(
            "  {kind:<16} {:>9} {:>9} {:>14}{mark}",
            thousands(sent),
            thousands(acked),
            thousands(applied)
        );
        if applied != acked {
            violations.push(format!(
                "{kind}: {applied} applied at HQ, {acked} acknowledged"
            ));
        }
    }
    println!(
        "  {:<16} {:>9} {:>9} {:>14}",
        "total",
        thousands(report.sent),
        thousands(report.acked.len() as u64),
        thousands(store.kinds.values().sum())
    );
    println!(
        "  people in / out: sent {} / {}, counted at HQ {} / {}",
        thousands(report.acked_tally.entries),
        thousands(report.acked_tally.exits),
        thousands(store.foot_traffic_entries),
        thousands(store.foot_traffic_exits)
    );
    if (store.foot_traffic_entries, store.foot_traffic_exits)
        != (report.acked_tally.entries, report.acked_tally.exits)
    {
        violations.push("foot-traffic sums differ from what was acknowledged".into());
    }
    if report.unanswered != 0 {
        violations.push(format!(
            "{} lines got no answer from the agent",
            report.unanswered
        ));
    }
    println!(
        "duplicates ignored at HQ: {} (re-sent copies recognised by seq, not applied again)",
        thousands(stats.duplicates_total)
    );

    let distinct: u64 = stats.agents.iter().map(|a| a.applied_count).sum();
    match agent {
        None => violations.push(format!("HQ has no entry for {STORE_ID}/{AGENT_ID}")),
        Some(a) => {
            let applied = a.applied();
            let mut missing = SeqSet::new();
            for &seq in &report.acked {
                if !applied.contains(seq) {
                    missing.insert(seq);
                }
            }
            let gaps = if a.gaps.is_empty() {
                "none".to_string()
            } else {
                short_ranges(&a.gaps)
            };
            println!("gaps in seq at HQ: {gaps}");
            println!(
                "committed mark: {} (highest ok'd seq {}); applied seqs {}",
                thousands(a.committed_seq),
                thousands(report.max_acked().unwrap_or(0)),
                short_ranges(&a.applied_ranges)
            );
            println!(
                "ok'd seqs missing at HQ: {}; applied_total {} vs distinct seqs applied {}",
                if missing.is_empty() {
                    "none".to_string()
                } else {
                    thousands(missing.len())
                },
                thousands(stats.applied_total),
                thousands(distinct)
            );
            if !missing.is_empty() {
                let ranges: Vec<(u64, u64)> = missing.ranges().collect();
                violations.push(format!(
                    "LOSS: {} ok'd seqs never applied: {}",
                    missing.len(),
                    short_ranges(&ranges)
                ));
            }
            if a.applied_count != applied.len() {
                violations.push(format!(
                    "applied_count {} but applied_ranges hold {}",
                    a.applied_count,
                    applied.len()
                ));
            }
            if !a.gaps.is_empty() {
                violations.push(format!("gaps: {}", short_ranges(&a.gaps)));
            }
            if !a.lost_ranges.is_empty() {
                violations.push(format!(
                    "seqs settled as lost: {}",
                    short_ranges(&a.lost_ranges)
                ));
            }
            if a.committed_seq < report.max_acked().unwrap_or(0) {
                violations.push(format!(
                    "committed mark {} below the highest ok'd seq",
                    a.committed_seq
                ));
            }
        }
    }
    if stats.applied_total != distinct {
        violations.push(format!(
            "DOUBLE APPLY: applied_total {} != distinct seqs applied {distinct}",
            stats.applied_total
        ));
    }
    if stats.rejected_batches != 0 {
        violations.push(format!("{} batches rejected", stats.rejected_batches));
    }
    println!();
    if violations.is_empty() {
        println!(
            "VERDICT: zero loss, exactly once - all {} ok'd events are applied at HQ, each once",
            thousands(report.acked.len() as u64)
        );
        true
    } else {
        println!("VERDICT: FAILED");
        for v in &violations {
            println!("  - {v}");
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        let a = parse(&[]).unwrap().unwrap();
        assert_eq!(
            (a.duration, a.speed, a.wait, a.keep),
            (60.0, 1.0, true, false)
        );
        let a = parse(&["--duration", "20", "--speed=2.5", "--no-wait", "--keep"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.duration, a.speed, a.wait, a.keep),
            (20.0, 2.5, false, true)
        );
        assert_eq!(a.outage_secs(), 2.0);
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--duration"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&["--duration", "2"]).unwrap_err().contains("between"));
        assert!(parse(&["--speed", "fast"])
            .unwrap_err()
            .contains("not a number"));
        assert!(parse(&["--no-wait=1"]).unwrap_err().contains("unknown"));
        // A slow day's outage is capped to 30% of the day.
        let a = parse(&["--duration", "10", "--speed", "0.1"])
            .unwrap()
            .unwrap();
        assert_eq!(a.outage_secs(), 3.0);
    }

    #[test]
    fn gtin_check_digits_and_number_format() {
        assert_eq!(gtin13("400638133393"), "4006381333931");
        assert_eq!(gtin13("950600013435"), "9506000134352");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }

    #[test]
    fn phases_cover_the_day_in_order() {
        let mut from = 0.0;
        for p in PHASES {
            assert!(p.until > from, "{}", p.name);
            from = p.until;
        }
        assert_eq!(from, 1.0);
        assert_eq!(phase_at(0.0), 0);
        assert_eq!(phase_at(0.99), PHASES.len() - 1);
        assert_eq!(phase_at(1.0), PHASES.len() - 1);
        assert_eq!(store_clock(0.0), "08:00");
        assert_eq!(store_clock(0.5), "13:00");
        assert_eq!(store_clock(1.0), "18:00");
    }

    #[test]
    fn every_line_is_one_json_event_with_its_effect() {
        let mut store = Store::new();
        let mut receipts = Vec::new();
        let (mut entries, mut exits) = (0, 0);
        for phase in PHASES {
            for _ in 0..500 {
                let (line, effect) = store.next_line(phase);
                assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!(v["type"], effect.kind.name(), "{line}");
                assert!(!v["device_id"].as_str().unwrap().is_empty());
                match effect.kind {
                    Kind::FootTraffic => {
                        assert_eq!(v["entries"], effect.entries);
                        assert_eq!(v["exits"], effect.exits);
                        entries += effect.entries;
                        exits += effect.exits;
                        assert!(exits <= entries, "more people left than entered");
                    }
                    Kind::PosTransaction => {
                        let items = v["items"].as_array().unwrap();
                        let sum: i64 = items
                            .iter()
                            .map(|i| i["extended_minor"].as_i64().unwrap())
                            .sum();
                        assert_eq!(v["total_minor"].as_i64().unwrap(), sum, "{line}");
                        receipts.push(v["receipt_id"].as_str().unwrap().to_string());
                    }
                    _ => assert_eq!((effect.entries, effect.exits), (0, 0)),
                }
            }
        }
        assert_eq!(u64::from(store.inside), entries - exits);
        let n = receipts.len();
        receipts.sort();
        receipts.dedup();
        assert_eq!(receipts.len(), n, "receipt ids are unique");
        let sent = &store.sent;
        for a in [
            Activity::ReceivingScan,
            Activity::SaleScan,
            Activity::Sale,
            Activity::StockCountScan,
            Activity::Return,
            Activity::DoorTick,
        ] {
            assert!(sent.get(&a).copied().unwrap_or(0) > 0, "{a:?} never sent");
        }
        assert_eq!(sent.values().sum::<u64>(), 500 * PHASES.len() as u64);
    }
}
