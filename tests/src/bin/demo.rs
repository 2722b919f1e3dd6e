//! `demo`: a complete local store chain on this machine - two stores and HQ - playing a store day
//! through virtual devices, with an HQ outage in the middle, and the stock alerts and staffing
//! signals HQ raises shown as they fire.
//!
//! Starts a collector (HQ) with its embedded MQTT broker (rumqttd, in-process: no Mosquitto
//! needed), a catalogue, an API token and the event clock; an agent for store s1 whose devices
//! are all virtual but read by the agent's real drivers (a serial scanner on a pseudo-terminal,
//! a HID POS scanner on a FIFO, a till printing ESC/POS receipts through the `escpos_tap` to a
//! fake printer, a Xovis door counter posting to `counter_push`); and an agent for store s2 fed
//! through its line feed. Everything listens on `127.0.0.1` only, with its state in a temporary
//! directory.
//!
//! The agents run on a simulated clock (`[clock]`): the day, 07:00 to 19:00, lasts `--duration`
//! seconds, and every event is stamped with its simulated time (see `store_tests::demo::day`
//! for the plan and why each alert follows). At 12:45 HQ goes down: the collector and its broker
//! are SIGKILLed while the stores keep trading and the agents keep journaling; at 13:35 it is
//! restarted on the same state directory and the backlog drains.
//!
//! A status line a second shows the event rate, each agent's journal and uplink, and what HQ
//! applied; alerts and signals are printed as they appear on HQ's API. At the end, a summary
//! compares what the devices did with what HQ applied and gives the zero-loss verdict, then the
//! day's KPI table for both stores (from HQ's `/v1/kpis`) and where the event history can be
//! read (API route, CSV export, `store-collector history`); then the dashboard stays up until Ctrl-C (unless `--no-wait`). SIGINT and SIGTERM stop the children
//! with SIGTERM and exit 0.
//!
//! ```text
//! ./scripts/demo.sh                                  # builds, then runs this with its arguments
//! target/release/demo --duration 30 --no-wait
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store_tests::demo::command::RoundTrip;
use store_tests::demo::day::{self, clock, Plan, DAY_SECS, OUTAGE};
use store_tests::demo::devices::{DoorCounter, HidPosScanner, Printer, SerialScanner, Till};
use store_tests::demo::dir::DemoDir;
use store_tests::demo::hq::{self, Watcher};
use store_tests::demo::kpis;
use store_tests::demo::play::{self, Devices, Progress};
use store_tests::demo::stop::{install_stop_handler, nap, stop_processes, stopping};
use store_tests::demo::stores::{s1_drivers, Store};
use store_tests::demo::summary::{summary, Summary};
use store_tests::demo::text::thousands;
use store_tests::demo::webhook;
use store_tests::store_day::{self as scenario, Feed};
use store_tests::{ports, process, Collector, CollectorConfig};

const USAGE: &str = "\
Usage: demo [--duration SECS] [--speed X] [--no-wait] [--keep]

Runs a local store-edge demo on 127.0.0.1: HQ (a collector with its embedded MQTT broker) and
two stores, one with virtual devices (serial and HID POS scanners, a till printing ESC/POS
receipts through the tap, a Xovis door counter), one fed through its line feed. A store day
(07:00-19:00) is played on a simulated clock; HQ is killed at 12:45 and restarted at 13:35.
Stock alerts and staffing signals are printed as HQ raises them.

Options:
  --duration SECS  wall seconds the store day takes (default 60, 20 to 3600); sets the
                   simulated clock's speed (60 s: 720x)
  --speed X        how busy the shop is: background baskets at the till (default 1.0, one
                   basket every 10 simulated minutes; 0.1 to 20)
  --no-wait        exit after the summary instead of leaving the dashboard up until Ctrl-C
  --keep           keep the temporary directory (configs, state, logs) after exit
  -h, --help       print this help";

/// Real seconds between writing the agents' configs and the simulated 07:00: time for HQ's
/// clients and the agents to start and the devices to be plugged in.
const LEAD_SECS: f64 = 4.0;
/// Store time (seconds after 07:00) at which HQ sends its command to store s1: 08:00, well
/// before the outage.
const COMMAND_AT: f64 = 3600.0;
/// The command's lifetime. The agents run on the demo's fast clock, hours ahead of the wall
/// clock by the afternoon, and refuse a command their clock says has expired.
const COMMAND_EXPIRES_SECS: u64 = 86_400;
/// How long HQ may take, after the day, to apply everything the stores journaled.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

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
        if !(20.0..=3600.0).contains(&args.duration) {
            return Err(format!(
                "--duration must be between 20 and 3600 seconds, got {}",
                args.duration
            ));
        }
        if !(0.1..=20.0).contains(&args.speed) {
            return Err(format!(
                "--speed must be between 0.1 and 20, got {}",
                args.speed
            ));
        }
        Ok(Some(args))
    }

    /// Simulated seconds per real second.
    fn clock_speed(&self) -> f64 {
        DAY_SECS / self.duration
    }
}

fn number(name: &str, text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{name}: not a number: {text:?}")),
    }
}

// ---- small helpers ----------------------------------------------------------------------------

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What happened to HQ during the day.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hq {
    Up,
    Down(Instant),
    /// Restarted at this instant after being down so many seconds; the journal heads of s1 and
    /// s2 at the restart: the outage's backlog is drained once HQ's marks reach them.
    Back(Instant, f64, [u64; 2]),
    /// The outage's backlog is applied.
    Recovered,
}

// ---- the run ----------------------------------------------------------------------------------

fn run(args: &Args) -> Result<bool, String> {
    let started_at = Instant::now();
    let speed = args.clock_speed();
    let plan = day::plan(args.speed);
    let mut dir = DemoDir::new()?;
    process::children_in_own_process_group();
    println!(
        "store-edge demo: a store day (07:00-19:00) in {:.0} s (clock {:.0}x), two stores and HQ on 127.0.0.1",
        args.duration, speed
    );
    println!(
        "temporary directory (configs, state, logs): {}",
        dir.path().display()
    );

    // HQ: catalogue, event clock, both stores in one region, a token on the API.
    let collector_dir = dir.subdir("collector")?;
    let catalogue = collector_dir.join("catalogue.csv");
    std::fs::write(&catalogue, day::catalogue_csv(&plan.products))
        .map_err(|e| format!("write {}: {e}", catalogue.display()))?;
    let token = hq::new_token();
    let mut cfg = CollectorConfig::with_embedded_broker(&collector_dir);
    cfg.api_token = Some(token.clone());
    cfg.extra_toml = scenario::collector_toml(&catalogue, 200);
    // A webhook destination inside the demo, so alert delivery can be seen end to end.
    let secret = hq::new_token();
    let secret_file = collector_dir.join("webhook.key");
    std::fs::write(&secret_file, &secret)
        .map_err(|e| format!("write {}: {e}", secret_file.display()))?;
    let receiver = webhook::Receiver::start(&secret)?;
    cfg.extra_toml
        .push_str(&webhook::collector_toml(&receiver, &secret_file));
    println!("starting store-collector (HQ) with its embedded MQTT broker ...");
    let mut collector = Collector::start(&collector_dir, cfg);
    let api = collector.api_addr();
    println!(
        "  ready: MQTT 127.0.0.1:{}, API http://{api} (bearer token), log {}",
        collector.mqtt_port(),
        collector_dir.join("collector.log").display()
    );
    println!(
        "  webhook destination \"demo-inbox\": {} (checks each delivery's HMAC signature)",
        receiver.url()
    );

    // The simulated 07:00, shared by both agents' clocks and the device player.
    let anchor_ms = wall_ms() + (LEAD_SECS * 1000.0) as i64;
    let anchor = Instant::now() + Duration::from_secs_f64(LEAD_SECS);
    let clock_toml = scenario::agent_clock_toml(speed, anchor_ms);

    // Store s1's virtual devices, then its agent.
    let s1_dir = dir.subdir("agent-s1")?;
    let handheld = SerialScanner::open()?;
    let mut till_scanner = HidPosScanner::create(&dir.path().join("till-1-scanner.fifo"))?;
    let printer = Printer::start()?;
    let (tap_port, door_port) = (ports::free_port(), ports::free_port());
    let drivers = s1_drivers(
        &handheld,
        till_scanner.path(),
        tap_port,
        &printer,
        door_port,
    );
    println!("starting store-agent for s1 (virtual devices, real drivers) ...");
    let mut s1 = Store::start(
        &s1_dir,
        "s1",
        collector.mqtt_port(),
        clock_toml.clone() + &drivers,
    );
    till_scanner.plug_in(Duration::from_secs(30))?;
    println!(
        "  serial_scanner   handheld-1      on {} (pseudo-terminal: data + CR LF)",
        handheld.path()
    );
    println!(
        "  hid_pos_scanner  till-1-scanner  on {} (FIFO of 64-byte HID POS reports)",
        till_scanner.path().display()
    );
    println!("  escpos_tap       till-1-printer  on 127.0.0.1:{tap_port} -> printer {} (template \"gtin\")", printer.addr());
    println!("  counter_push     door-1          on http://127.0.0.1:{door_port}/counter (Xovis live data)");
    println!("starting store-agent for s2 (line feed) ...");
    let s2_dir = dir.subdir("agent-s2")?;
    let mut s2 = Store::start(&s2_dir, "s2", collector.mqtt_port(), clock_toml);
    let feed = Feed::connect(s2.agent.feed_addr())?;
    println!(
        "  line_feed        feed            on {}",
        s2.agent.feed_addr()
    );
    println!(
        "HQ goes down at {} and comes back at {} (store time)",
        clock(OUTAGE.0),
        clock(OUTAGE.1)
    );
    println!();

    // The player: the devices do the day.
    let progress = Arc::new(Mutex::new(Progress::default()));
    let stop_player = Arc::new(AtomicBool::new(false));
    let player = {
        let plan: Plan = plan.clone();
        let progress = Arc::clone(&progress);
        let stop = Arc::clone(&stop_player);
        let mut devices = Devices {
            handheld,
            till_scanner,
            till: Till::new(ports::localhost(tap_port)),
            door: DoorCounter::new(ports::localhost(door_port)),
            feed,
        };
        std::thread::Builder::new()
            .name("demo-devices".into())
            .spawn(move || {
                play::play(
                    &plan,
                    &mut devices,
                    anchor,
                    speed,
                    &progress,
                    &stop,
                    |at, text| {
                        println!("{} {text}", clock(at));
                    },
                );
                // The devices stay plugged in until the agents are stopped.
                devices
            })
            .map_err(|e| e.to_string())?
    };

    let mut watcher = Watcher::default();
    let mut hq = Hq::Up;
    let mut outage_report = String::new();
    let mut last_tick = Instant::now();
    let mut last_heads = 0;
    let mut next_status = anchor;
    let mut next_drain_check = Instant::now();
    let mut round_trip: Option<RoundTrip> = None;
    let mut command_report = String::new();
    let mut webhook_report = String::new();
    let mut next_look = Instant::now();
    let sim_now = || {
        Instant::now()
            .saturating_duration_since(anchor)
            .as_secs_f64()
            * speed
    };
    while !player.is_finished() {
        if stopping() {
            stop_player.store(true, Ordering::SeqCst);
            let _devices = player.join();
            return stop_early(&mut [&mut s1, &mut s2], &mut collector, &mut dir, args);
        }
        s1.agent.check_running()?;
        s2.agent.check_running()?;
        match hq {
            Hq::Up if sim_now() >= OUTAGE.0 => {
                let pid = collector.pid().unwrap_or(0);
                collector.note("demo: HQ outage, SIGKILL");
                collector.kill();
                hq = Hq::Down(Instant::now());
                println!(
                    "{} HQ OUTAGE: store-collector (pid {pid}) and its broker SIGKILLed; the stores keep trading, the agents keep journaling",
                    clock(sim_now())
                );
            }
            Hq::Down(since)
                if sim_now() >= OUTAGE.1 && since.elapsed() >= Duration::from_secs(1) =>
            {
                let backlog: u64 = [&mut s1, &mut s2]
                    .iter_mut()
                    .map(|s| s.refresh().map_or(0, |x| x.journal.ahead_of_collector))
                    .sum();
                let targets = [s1.head(), s2.head()];
                println!(
                    "{} HQ back after {:.1} s: restarting store-collector on the same state (backlog {} events)",
                    clock(sim_now()),
                    since.elapsed().as_secs_f64(),
                    thousands(backlog)
                );
                let down = since.elapsed().as_secs_f64();
                collector.start_again();
                hq = Hq::Back(Instant::now(), down, targets);
            }
            Hq::Down(_) => {}
            _ => collector.check_running()?,
        }
        if Instant::now() >= next_look && matches!(hq, Hq::Up | Hq::Recovered) {
            next_look = Instant::now() + Duration::from_millis(100);
            follow_command(
                &mut round_trip,
                &mut command_report,
                sim_now(),
                api,
                &token,
                &s1.agent_id(),
            );
            if webhook_report.is_empty() {
                if let Some(line) = first_delivery(&receiver) {
                    println!("{} WEBHOOK {line}", clock(sim_now()));
                    webhook_report = line;
                }
            }
        }
        if Instant::now() >= next_status {
            next_status = Instant::now() + Duration::from_secs(1);
            let heads = s1.refresh().map_or(0, |s| s.journal.head_seq)
                + s2.refresh().map_or(0, |s| s.journal.head_seq);
            let rate = (heads - last_heads.min(heads)) as f64
                / last_tick.elapsed().as_secs_f64().max(1e-3);
            (last_heads, last_tick) = (heads, Instant::now());
            let hq_text = if matches!(hq, Hq::Down(_)) {
                "HQ DOWN".to_owned()
            } else {
                match hq::stats(api, &token) {
                    Ok(s) => format!("HQ applied {}", thousands(s.applied_total)),
                    Err(_) => "HQ not answering".to_owned(),
                }
            };
            if !matches!(hq, Hq::Down(_)) {
                for line in watcher.poll(api, &token).unwrap_or_default() {
                    println!("{line}");
                }
            }
            println!(
                "[{:>5.1}s {}] {rate:>5.1} ev/s | {} | {} | {hq_text}",
                started_at.elapsed().as_secs_f64(),
                clock(sim_now().min(DAY_SECS)),
                s1.describe(),
                s2.describe()
            );
        }
        if let Hq::Back(at, down, targets) = hq {
            if Instant::now() >= next_drain_check {
                next_drain_check = Instant::now() + Duration::from_millis(200);
                let drained = hq::stats(api, &token).is_ok_and(|stats| {
                    [&s1, &s2].iter().zip(targets).all(|(s, target)| {
                        stats
                            .agent(s.id, &s.agent_id())
                            .is_some_and(|a| a.committed_seq >= target)
                    })
                });
                if drained {
                    outage_report = format!(
                        "HQ down {down:.1} s (store time {}-{}); everything journaled until its return was applied {:.1} s after the restart",
                        clock(OUTAGE.0),
                        clock(OUTAGE.1),
                        at.elapsed().as_secs_f64()
                    );
                    println!(
                        "{} backlog drained: every event journaled during the outage is at HQ ({:.1} s after the restart)",
                        clock(sim_now()),
                        at.elapsed().as_secs_f64()
                    );
                    hq = Hq::Recovered;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let devices = player.join().map_err(|_| "the device player panicked")?;
    let done = progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if matches!(hq, Hq::Down(_)) {
        collector.start_again();
    }

    // Closing: wait until HQ has applied everything both agents journaled.
    println!(
        "19:00 the day is played: {} device actions; waiting for HQ to apply the rest",
        thousands(done.steps)
    );
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    let mut caught_up = false;
    while Instant::now() < deadline {
        if stopping() {
            return stop_early(&mut [&mut s1, &mut s2], &mut collector, &mut dir, args);
        }
        s1.refresh();
        s2.refresh();
        if let Ok(stats) = hq::stats(api, &token) {
            let at_hq = |s: &Store| {
                stats
                    .agent(s.id, &s.agent_id())
                    .is_some_and(|a| a.committed_seq >= s.head() && a.gaps.is_empty())
            };
            if at_hq(&s1) && at_hq(&s2) {
                caught_up = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !caught_up {
        println!("HQ did not catch up within {CATCH_UP_TIMEOUT:?}");
    }
    // The rules run on their evaluation timer too: one more look after it has run.
    if !nap(Duration::from_millis(1500)) {
        return stop_early(&mut [&mut s1, &mut s2], &mut collector, &mut dir, args);
    }
    for line in watcher.poll(api, &token).unwrap_or_default() {
        println!("{line}");
    }
    // The command and the first delivery, if the day was too short for them to show.
    let look_until = Instant::now() + Duration::from_secs(10);
    while (command_report.is_empty() || webhook_report.is_empty())
        && Instant::now() < look_until
        && !stopping()
    {
        follow_command(
            &mut round_trip,
            &mut command_report,
            DAY_SECS,
            api,
            &token,
            &s1.agent_id(),
        );
        if webhook_report.is_empty() {
            if let Some(line) = first_delivery(&receiver) {
                println!("19:00 WEBHOOK {line}");
                webhook_report = line;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    s1.refresh();
    s2.refresh();
    let stats = hq::stats(api, &token)?;
    let positions = hq::get_json(api, &token, "/v1/stores/s1/positions")?;
    let printed = printer.printed();
    let ok = summary(&Summary {
        stats: &stats,
        done: &done,
        plan: &plan,
        stores: [&s1, &s2],
        watcher: &watcher,
        positions: &positions,
        printed_bytes: printed.bytes.len() as u64,
        outage: &outage_report,
        command: &command_report,
        webhook: &webhook_report,
        wall: started_at.elapsed(),
    });
    print_day_report(api, &token, collector.config_path());

    if args.wait && !stopping() {
        println!();
        println!("dashboard: http://{api}/#token={token}");
        println!(
            "API:       curl -H 'Authorization: Bearer {token}' http://{api}/v1/alerts?state=all"
        );
        println!("logs:      {}", dir.path().display());
        println!("Ctrl-C stops the demo.");
        while nap(Duration::from_secs(1)) {
            s1.agent.check_running()?;
            s2.agent.check_running()?;
            collector.check_running()?;
        }
        println!();
    }
    stop_processes(&mut [&mut s1, &mut s2], &mut collector);
    drop(devices);
    dir.keep = args.keep || !ok;
    Ok(ok)
}

/// The day's KPI table for both stores, from HQ's API, and where the history is. A failed
/// request is reported and does not change the verdict (the summary already gave it).
fn print_day_report(api: std::net::SocketAddr, token: &str, config: &std::path::Path) {
    let date = kpis::utc_date(day::DAY_START_MS);
    let next = kpis::utc_date(day::DAY_START_MS + 86_400_000);
    println!();
    match kpis::fetch(api, token, &["s1", "s2"], &date) {
        Ok(rows) => {
            for line in kpis::table(&date, &rows) {
                println!("{line}");
            }
        }
        Err(e) => println!("KPIs of {date}: not available ({e})"),
    }
    println!();
    for line in kpis::history_lines(api, token, "s1", (&date, &next), config) {
        println!("{line}");
    }
}

/// Sends the demo's command once store time reaches [`COMMAND_AT`], then follows it; prints
/// each step and leaves the outcome in `report` (prefixed "FAILED" when it did not succeed).
fn follow_command(
    round_trip: &mut Option<RoundTrip>,
    report: &mut String,
    sim_now: f64,
    api: std::net::SocketAddr,
    token: &str,
    s1_agent: &str,
) {
    if !report.is_empty() {
        return;
    }
    match round_trip {
        None if sim_now >= COMMAND_AT => {
            match RoundTrip::send(api, token, "s1", s1_agent, COMMAND_EXPIRES_SECS) {
                Ok(rt) => {
                    println!(
                        "{} COMMAND HQ -> s1/{s1_agent}: status_report via POST /v1/stores/s1/agents/{s1_agent}/commands (id {}, {})",
                        clock(sim_now),
                        rt.id,
                        rt.state
                    );
                    *round_trip = Some(rt);
                }
                Err(e) => {
                    println!("{} COMMAND not sent: {e}", clock(sim_now));
                    *report = format!("FAILED: not sent: {e}");
                }
            }
        }
        None => {}
        Some(rt) => {
            if let Some(line) = rt.poll(api, token) {
                println!("{} COMMAND {line}", clock(sim_now));
                *report = if rt.succeeded() {
                    line
                } else {
                    format!("FAILED: {line}")
                };
            }
        }
    }
}

/// The first delivery the demo's webhook receiver got, as a line.
fn first_delivery(receiver: &webhook::Receiver) -> Option<String> {
    let d = receiver.deliveries().into_iter().next()?;
    Some(format!(
        "first delivery to demo-inbox: key {}, {} alert at {}, signature {}",
        d.key,
        d.kind,
        d.store_id,
        if d.signature_valid {
            "valid"
        } else {
            "INVALID"
        }
    ))
}

/// Ctrl-C before the summary: stop everything, exit successfully.
fn stop_early(
    stores: &mut [&mut Store],
    collector: &mut Collector,
    dir: &mut DemoDir,
    args: &Args,
) -> Result<bool, String> {
    println!("\ninterrupted: stopping");
    stop_processes(stores, collector);
    dir.keep = args.keep;
    Ok(true)
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
        assert_eq!(a.clock_speed(), 720.0);
        let a = parse(&["--duration", "90", "--speed=2.5", "--no-wait", "--keep"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.duration, a.speed, a.wait, a.keep),
            (90.0, 2.5, false, true)
        );
        assert_eq!(a.clock_speed(), 480.0);
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--duration"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&["--duration", "5"]).unwrap_err().contains("between"));
        assert!(parse(&["--speed", "fast"])
            .unwrap_err()
            .contains("not a number"));
        assert!(parse(&["--no-wait=1"]).unwrap_err().contains("unknown"));
    }
}
