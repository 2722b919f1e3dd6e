//! A scripted store day for two stores of one region, played through the agents' line feeds on a
//! simulated clock, with the outcome HQ must see.
//!
//! The agents run with `[clock] simulated_start_ms`, `speed` and `anchor_ms`, so the script knows
//! the simulated time exactly: step `at_min` minutes after the start is sent at
//! `anchor + at_min · 60 s / speed` real time and stamped (by the agent) with that simulated time.
//! The collector runs with `[intel] clock = "event"`.
//!
//! The day (Saturday 2026-11-21, UTC, stores open 08:00-20:00), with the catalogue below:
//! - 07:00 receiving: s1 gets 20 pens (A) and 8 notebooks (B); s2 gets 60 pens.
//! - 07:30 stock count at s1: 18 pens on the shelf (the count replaces the 20).
//! - 08:00 two staff badge in at each store; the door counters report every 15 minutes
//!   (5 entries per quarter, 20 an hour: 2 staff needed at a target of 25 shoppers per staff-hour).
//! - 09:00-11:50 s1 sells one pen every 10 minutes: 18 sales take it from 18 to 0, so pens go LOW
//!   (≤ 10) and then OUT; s2 holds 60 pens against a reorder point of 10, so HQ suggests a
//!   transfer from s2. At 10:00 s1 sells 3 notebooks: 8 → 5 = its reorder point: LOW.
//! - 12:00-12:35 a returns spike at s1: 8 chargers (C) returned in 40 minutes.
//! - 14:00-15:00 the afternoon rush at s1: 60 entries per quarter (240 an hour: 10 staff needed,
//!   2 on duty): UNDERSTAFFED.
//! - 19:00 end of the script.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::wait::wait_for;
use crate::{Agent, AgentConfig, Collector, CollectorConfig, Mosquitto, TestEnv};

/// Saturday 2026-11-21 07:00:00 UTC.
pub const DAY_START_MS: i64 = 1_795_244_400_000;
/// Last step, minutes after the start.
pub const DAY_MINUTES: u32 = 12 * 60;

pub const PENS: &str = "4006381333931";
pub const NOTEBOOKS: &str = "4006381333948";
pub const CHARGERS: &str = "4006381333955";

/// The catalogue HQ maintains for the scenario (CSV).
pub const CATALOGUE_CSV: &str = "\
gtin,name,pack_size,reorder_point,lead_time_days,service_level,max_stock,store
4006381333931,Ballpoint pens blue,12,10,,,60,
4006381333948,Notebook A5,6,5,,,30,
4006381333955,Phone charger,1,0,,,10,
";

/// One line for one store's line feed at a simulated minute.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at_min: u32,
    pub store: &'static str,
    pub line: String,
}

fn sim_ms(at_min: u32) -> i64 {
    DAY_START_MS + i64::from(at_min) * 60_000
}

fn scan(device: &str, data: &str, mode: &str, quantity: i32) -> String {
    json!({"type": "scan", "device_id": device, "data": data, "gtin": data, "mode": mode,
           "quantity": quantity})
    .to_string()
}

fn badge(id: &str) -> String {
    json!({"type": "scan", "device_id": "scanner-1", "data": id, "mode": "badge"}).to_string()
}

fn sale(receipt: u32, kind: &str, gtin: &str, quantity: f64) -> String {
    json!({"type": "pos_transaction", "device_id": "till-1", "register_id": "1",
           "receipt_id": format!("R{receipt}"), "kind": kind, "currency": "EUR",
           "total_minor": (quantity * 250.0) as i64,
           "items": [{"gtin": gtin, "quantity": quantity, "unit_price_minor": 250}]})
    .to_string()
}

fn door(at_min: u32, entries: u32) -> String {
    json!({"type": "foot_traffic", "device_id": "door-1", "counter_id": "door-1", "line": "main",
           "entries": entries, "exits": entries.saturating_sub(1),
           "interval_start_ms": sim_ms(at_min), "interval_end_ms": sim_ms(at_min + 15)})
    .to_string()
}

/// The day's steps, in time order.
pub fn steps() -> Vec<Step> {
    let mut s = Vec::new();
    let mut at = |at_min: u32, store: &'static str, line: String| {
        s.push(Step {
            at_min,
            store,
            line,
        })
    };
    at(0, "s1", scan("scanner-1", PENS, "receiving", 20));
    at(0, "s1", scan("scanner-1", NOTEBOOKS, "receiving", 8));
    at(0, "s2", scan("scanner-1", PENS, "receiving", 60));
    at(30, "s1", scan("scanner-1", PENS, "stock_count", 18));
    for store in ["s1", "s2"] {
        at(60, store, badge("EMP-1"));
        at(60, store, badge("EMP-2"));
    }
    let mut receipt = 1000;
    for quarter in 0..44u32 {
        // 08:00 .. 18:45, a door-counter interval every 15 minutes.
        let at_min = 60 + quarter * 15;
        let rush = (7 * 60..8 * 60).contains(&at_min);
        at(at_min, "s1", door(at_min, if rush { 60 } else { 5 }));
        at(at_min, "s2", door(at_min, 5));
        if at_min == 3 * 60 {
            receipt += 1;
            at(at_min, "s1", sale(receipt, "sale", NOTEBOOKS, 3.0));
        }
    }
    for i in 0..18u32 {
        receipt += 1;
        at(2 * 60 + i * 10 + 1, "s1", sale(receipt, "sale", PENS, 1.0));
    }
    for i in 0..8u32 {
        receipt += 1;
        at(
            5 * 60 + i * 5 + 2,
            "s1",
            sale(receipt, "return", CHARGERS, 1.0),
        );
    }
    s.sort_by_key(|step| step.at_min);
    s
}

/// `[clock]` for an agent playing the day at `speed`, reading `DAY_START_MS` at real `anchor_ms`.
pub fn agent_clock_toml(speed: f64, anchor_ms: i64) -> String {
    format!(
        "\n[clock]\nsimulated_start_ms = {DAY_START_MS}\nspeed = {speed}\nanchor_ms = {anchor_ms}\n"
    )
}

/// The collector's rules set-up for the scenario: event clock, JSON outputs, both stores in
/// region "north", the catalogue at `catalogue`.
pub fn collector_toml(catalogue: &std::path::Path, evaluate_interval_ms: u64) -> String {
    format!(
        r#"
[intel]
clock = "event"
format = "json"
catalogue = {catalogue:?}
evaluate_interval_ms = {evaluate_interval_ms}

[store.s1]
region = "north"

[store.s2]
region = "north"
"#,
        catalogue = catalogue.display().to_string(),
    )
}

/// A line-feed connection that sends one line and waits for its `ok <seq>`.
pub struct Feed {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Feed {
    pub fn connect(addr: SocketAddr) -> Result<Feed, String> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        Ok(Feed { stream, reader })
    }

    /// Sends `line`; returns the seq the agent stored it under.
    pub fn send(&mut self, line: &str) -> Result<u64, String> {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut answer = String::new();
        self.reader
            .read_line(&mut answer)
            .map_err(|e| format!("read answer: {e}"))?;
        answer
            .trim()
            .strip_prefix("ok ")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("line {line} answered {answer:?}"))
    }
}

/// Plays `steps` in real time: each at `anchor + at_min · 60 s / speed`. Returns the number of
/// lines stored.
pub fn play(
    steps: &[Step],
    feeds: &mut [(&'static str, Feed)],
    anchor: Instant,
    speed: f64,
    mut on_step: impl FnMut(&Step),
) -> Result<u64, String> {
    let mut stored = 0;
    for step in steps {
        let due = anchor + Duration::from_secs_f64(f64::from(step.at_min) * 60.0 / speed);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let feed = feeds
            .iter_mut()
            .find(|(store, _)| *store == step.store)
            .map(|(_, f)| f)
            .ok_or_else(|| format!("no feed for store {}", step.store))?;
        feed.send(&step.line)?;
        stored += 1;
        on_step(step);
    }
    Ok(stored)
}

/// The scenario's processes: Mosquitto, a collector with the scenario's rules set-up and an API
/// token, and one agent per store on the simulated clock, each with a line feed connected. Fields
/// drop in order: agents, collector, broker, then the directory.
pub struct DayStack {
    pub agents: Vec<Agent>,
    pub collector: Collector,
    pub broker: Mosquitto,
    feeds: Vec<(&'static str, Feed)>,
    anchor: Instant,
    speed: f64,
    token: String,
    pub env: TestEnv,
}

impl DayStack {
    /// Starts everything for stores s1 and s2; `before_collector` runs once the broker is up
    /// (e.g. to subscribe to what HQ will publish).
    pub fn start(
        env: TestEnv,
        token: &str,
        speed: f64,
        before_collector: impl FnOnce(&Mosquitto),
    ) -> DayStack {
        let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
        before_collector(&broker);
        let collector_dir = env.subdir("collector");
        let catalogue = collector_dir.join("catalogue.csv");
        std::fs::write(&catalogue, CATALOGUE_CSV).expect("write the catalogue");
        let mut cfg = CollectorConfig::new(&collector_dir, broker.port());
        cfg.api_token = Some(token.to_owned());
        cfg.extra_toml = collector_toml(&catalogue, 100);
        let collector = Collector::start(&collector_dir, cfg);

        // The simulated day starts a little after both agents are up.
        let lead = Duration::from_millis(3_000);
        let anchor_wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as i64
            + lead.as_millis() as i64;
        let anchor = Instant::now() + lead;
        let mut agents = Vec::new();
        let mut feeds = Vec::new();
        for store in ["s1", "s2"] {
            let dir = env.subdir(&format!("agent-{store}"));
            let mut a = AgentConfig::new(&dir, broker.port());
            a.store_id = store.to_owned();
            a.extra_toml = agent_clock_toml(speed, anchor_wall_ms);
            let agent = Agent::start(&dir, a);
            feeds.push((
                store,
                Feed::connect(agent.feed_addr()).expect("connect the line feed"),
            ));
            agents.push(agent);
        }
        DayStack {
            agents,
            collector,
            broker,
            feeds,
            anchor,
            speed,
            token: token.to_owned(),
            env,
        }
    }

    /// Plays the whole day, then waits until HQ applied every line; returns how many there were.
    pub fn play_day(&mut self) -> u64 {
        let stored = play(&steps(), &mut self.feeds, self.anchor, self.speed, |_| {})
            .unwrap_or_else(|e| panic!("playing the day: {e}"));
        self.env.log(format!("{stored} lines stored"));
        wait_for(Duration::from_secs(60), "every line applied", || {
            let stats = self.api_json("/v1/stats")?;
            let applied = stats["applied_total"].as_u64().unwrap_or(0);
            if applied == stored {
                Ok(())
            } else {
                Err(format!("{applied} of {stored} applied"))
            }
        });
        stored
    }

    /// `GET path` on the collector's API with the token, as JSON.
    pub fn api_json(&self, path: &str) -> Result<Value, String> {
        crate::http::get_json(self.collector.api_addr(), &self.token, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_sells_every_pen_and_holds_a_rush() {
        let steps = steps();
        let pens_sold = steps
            .iter()
            .filter(|s| s.store == "s1" && s.line.contains("\"sale\"") && s.line.contains(PENS))
            .count();
        assert_eq!(pens_sold, 18, "the count of 18 pens is sold out exactly");
        assert!(steps.windows(2).all(|w| w[0].at_min <= w[1].at_min));
        assert!(steps.last().unwrap().at_min <= DAY_MINUTES);
        let rush: u32 = steps
            .iter()
            .filter(|s| s.store == "s1" && (420..480).contains(&s.at_min))
            .filter(|s| s.line.contains("foot_traffic"))
            .count() as u32;
        assert_eq!(rush, 4, "four rush quarters");
    }
}
