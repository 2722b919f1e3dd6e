//! HQ commands end to end: the real collector's API, the shipped Mosquitto config (TLS client
//! certificates as identities, the shipped ACL) and a real agent fed through its line feed.
//!
//! One stack plays every case in turn, so the whole test stays well under a minute:
//!
//! 1. Replay of a seq range, then of a time range, through `POST .../commands`: the command is
//!    `answered` with `ok` and `events_queued` equal to the range's size, the collector's
//!    duplicate counter rises by exactly that size, and the applied count, the agent's applied
//!    count and the per-kind tallies do not move (nothing applied twice).
//! 2. The same `Command` published twice on the agent's cmd topic by a client with an HQ
//!    identity (the shipped collector's rights on command topics): one run, the second answer
//!    says `duplicate`.
//! 3. A command addressed inside to another store, published with that valid HQ identity: the agent refuses it (`ok = false`, "addressed to ...", counted as refused).
//! 4. A command published by another store's agent identity on this agent's cmd topic: the
//!    broker's ACL drops it. A control command sent right after it is answered first (the agent
//!    answers in order), the forged id never gets an answer and never reaches the agent's book of
//!    done ids.
//! 5. The agent stopped: a status report sent meanwhile stays `pending` and runs once the agent
//!    is back; a replay whose expiry is shorter than the outage becomes `expired` and never runs
//!    (no publish, no answer, not in the agent's done ids or log).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command as Process;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use serde_json::{json, Value};
use store_proto::topics;
use store_proto::v1::{command, Command, CommandResult, StatusReport};
use store_tests::check::wait_committed;
use store_tests::pki::Pki;
use store_tests::stack::tls_keys;
use store_tests::stats::Stats;
use store_tests::tls_probe::TlsProbe;
use store_tests::wait::{wait_for, wait_until};
use store_tests::{bins, http, serial, Agent, AgentConfig, Collector, CollectorConfig, Mosquitto};
use store_tests::{TestEnv, Writer, WriterOptions};

const TOKEN: &str = "hq-commands-operator";
const WAIT: Duration = Duration::from_secs(30);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
const STORE: &str = "store-1";
const AGENT: &str = "agent-1";
/// The test's own HQ client. The shipped config makes the certificate's name the client id too,
/// so a second connection as `collector-hq-1` would log the collector out; this identity gets
/// exactly the shipped collector's rights on command topics, appended to the shipped ACL.
const HQ_TEST_IDENTITY: &str = "collector-hq-test";
const HQ_TEST_ACL: &str = "\nuser collector-hq-test\ntopic write stores/+/agents/+/cmd\ntopic read stores/+/agents/+/cmd/result\n";

/// The processes; fields drop in order (agent, collector, broker, then the directory).
struct World {
    agent: Agent,
    collector: Collector,
    broker: Mosquitto,
    pki: Pki,
    env: TestEnv,
}

impl World {
    fn start() -> World {
        let env = TestEnv::new("hq_commands");
        let pki = Pki::new(&env.subdir("pki"), "hq");
        let broker = Mosquitto::start_shipped(
            &env.subdir("mosquitto"),
            "mosquitto.conf",
            &pki,
            HQ_TEST_ACL,
        );
        let collector_dir = env.subdir("collector");
        let mut ccfg = CollectorConfig::new(&collector_dir, broker.port());
        ccfg.mqtt_extra = tls_keys(&pki, Some(&pki.client("collector-hq-1")));
        ccfg.api_token = Some(TOKEN.into());
        let collector = Collector::start(&collector_dir, ccfg);
        let agent_dir = env.subdir("agent");
        let mut cfg = AgentConfig::new(&agent_dir, broker.port());
        cfg.store_id = STORE.into();
        cfg.agent_id = AGENT.into();
        cfg.mqtt_extra = tls_keys(&pki, Some(&pki.client(&format!("{STORE}/agents/{AGENT}"))));
        let agent = Agent::start(&agent_dir, cfg);
        World {
            agent,
            collector,
            broker,
            pki,
            env,
        }
    }

    fn api(&self) -> SocketAddr {
        self.collector.api_addr()
    }

    fn stats(&self) -> Stats {
        self.collector.stats().expect("collector stats")
    }

    fn committed(&mut self, target: u64) -> Stats {
        let World {
            agent,
            collector,
            broker,
            ..
        } = self;
        wait_committed(collector, STORE, AGENT, target, WAIT, || {
            agent.check_not_crashed()?;
            broker.check_not_crashed()
        })
    }

    /// Feeds `n` line-feed events starting at line `first` and waits for every `ok`.
    fn feed(&self, first: u64, n: u64) {
        let writer = Writer::start(
            WriterOptions::new(self.agent.feed_addr())
                .total(n)
                .first_index(first),
        );
        let report = writer.finish(WAIT);
        assert_eq!(
            report.acked.len() as u64,
            n,
            "the agent acknowledged every line"
        );
    }

    /// `POST /v1/stores/{STORE}/agents/{AGENT}/commands`; returns the record (202).
    fn send(&self, body: Value) -> Value {
        let path = format!("/v1/stores/{STORE}/agents/{AGENT}/commands");
        let auth = format!("Bearer {TOKEN}");
        let r = http::request(
            self.api(),
            "POST",
            &path,
            &[("Authorization", &auth)],
            Some(&body.to_string()),
            HTTP_TIMEOUT,
        )
        .expect("POST command");
        assert_eq!(r.status, 202, "POST {path} {body}: {}", r.body);
        serde_json::from_str(&r.body).expect("command record is JSON")
    }

    fn record(&self, id: &str) -> Value {
        http::get_json(self.api(), TOKEN, &format!("/v1/commands/{id}")).expect("GET command")
    }

    fn wait_state(&self, id: &str, state: &str, timeout: Duration) -> Value {
        wait_for(timeout, &format!("command {id} {state}"), || {
            let r = self.record(id);
            if r["state"] == state {
                Ok(r)
            } else {
                Err(r.to_string())
            }
        })
    }

    /// The agent's command counters by outcome (`store-agent status --json`).
    fn agent_counts(&self) -> BTreeMap<String, u64> {
        let out = Process::new(bins::agent())
            .args(["status", "--json", "--config"])
            .arg(self.agent.config_path())
            .output()
            .expect("run store-agent status");
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).expect("status is JSON");
        serde_json::from_value(v["commands"].clone()).expect("commands counters")
    }

    /// Whether the collector's presence view says the agent is online.
    fn agent_online(&self) -> Option<bool> {
        let v = http::get_json(self.api(), TOKEN, "/v1/stores").ok()?;
        v["stores"]
            .as_array()?
            .iter()
            .flat_map(|s| s["agents"].as_array().cloned().unwrap_or_default())
            .find(|a| a["agent_id"] == AGENT)
            .and_then(|a| a["online"].as_bool())
    }

    /// The ids the agent has answered, from its durable book of done ids.
    fn done_ids(&self) -> String {
        let path = self.agent.config().state_dir.join("commands/done.jsonl");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// An MQTT client over TLS holding the certificate of `identity`.
    fn probe(&self, client_id: &str, identity: &str) -> TlsProbe {
        let cert = self.pki.client(identity);
        TlsProbe::connect(
            self.broker.port(),
            client_id,
            &self.pki.ca_file,
            Some((&cert.cert, &cert.key)),
            HTTP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("connect as {identity}: {e}"))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn count(c: &BTreeMap<String, u64>, outcome: &str) -> u64 {
    c.get(outcome).copied().unwrap_or(0)
}

fn status_command(id: &str, store: &str, agent: &str) -> Vec<u8> {
    Command {
        id: id.into(),
        store_id: store.into(),
        agent_id: agent.into(),
        issued_at_ms: now_ms(),
        expires_at_ms: now_ms() + 600_000,
        issued_by: "hq_commands test".into(),
        kind: Some(command::Kind::StatusReport(StatusReport {})),
    }
    .encode_to_vec()
}

/// Every `CommandResult` a client holding the collector's identity saw on the agent's result
/// topic, in arrival order.
struct Results {
    probe: TlsProbe,
    seen: Vec<CommandResult>,
}

impl Results {
    /// Waits until the result of `id` has arrived; returns it (the first one with that id not
    /// returned yet, so a repeated id gives its second answer on the second call).
    fn of(&mut self, id: &str, nth: usize) -> CommandResult {
        let topic = topics::cmd_result(STORE, AGENT);
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(r) = self.seen.iter().filter(|r| r.id == id).nth(nth) {
                return r.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let msgs = self
                .probe
                .receive_until(&topic, left)
                .unwrap_or_else(|e| panic!("no result #{nth} for {id}: {e}"));
            self.seen.extend(
                msgs.iter()
                    .filter(|m| m.topic == topic)
                    .filter_map(|m| CommandResult::decode(m.payload.as_slice()).ok()),
            );
        }
    }
}

/// Replays a range through the API and checks that it only produced duplicates.
fn replay_counts_only_duplicates(w: &World, body: Value, size: u64) {
    let before = w.stats();
    let before_agent = before.agent(STORE, AGENT).expect("agent stats").clone();
    let rec = w.send(body.clone());
    let id = rec["id"].as_str().expect("id").to_owned();
    let done = w.wait_state(&id, "answered", WAIT);
    let result = &done["result"];
    assert_eq!(result["ok"], true, "{body}: {done}");
    assert_eq!(result["events_queued"], size, "{body}: {done}");
    let after = wait_for(
        WAIT,
        &format!("{size} more duplicates after {body}"),
        || {
            let s = w.stats();
            if s.duplicates_total >= before.duplicates_total + size {
                Ok(s)
            } else {
                Err(format!("duplicates_total {}", s.duplicates_total))
            }
        },
    );
    // The mark is reached; a replay counted twice, or applied, would show by now.
    let settled = w.stats();
    w.env.log(format!(
        "{body}: duplicates {} -> {}, applied {} -> {}",
        before.duplicates_total,
        settled.duplicates_total,
        before.applied_total,
        settled.applied_total
    ));
    assert_eq!(
        settled.duplicates_total,
        before.duplicates_total + size,
        "duplicates rose by exactly the range"
    );
    assert_eq!(
        after.applied_total, before.applied_total,
        "nothing applied twice"
    );
    assert_eq!(
        settled.applied_total, before.applied_total,
        "nothing applied twice"
    );
    let agent = settled.agent(STORE, AGENT).expect("agent stats");
    assert_eq!(agent.applied_count, before_agent.applied_count);
    assert_eq!(settled.store(STORE).kinds, before.store(STORE).kinds);
}

#[test]
fn hq_commands_replay_dedup_refusal_acl_and_offline_agents() {
    let _serial = serial();
    let mut w = World::start();

    // 1. Replays.
    w.feed(0, 100);
    w.committed(100);
    let t0 = now_ms();
    wait_until(WAIT, "the clock moves past t0", || now_ms() > t0);
    w.feed(100, 50);
    w.committed(150);
    let t1 = now_ms();
    replay_counts_only_duplicates(&w, json!({"kind":"replay","from_seq":11,"to_seq":40}), 30);
    replay_counts_only_duplicates(
        &w,
        json!({"kind":"replay","from_time":t0 + 1,"to_time":t1}),
        50,
    );

    // 2. The same command twice, from a client holding the collector's identity.
    let mut probe = w.probe(HQ_TEST_IDENTITY, HQ_TEST_IDENTITY);
    assert!(probe
        .subscribe(&topics::cmd_result(STORE, AGENT), HTTP_TIMEOUT)
        .expect("subscribe"));
    let mut hq = Results {
        probe,
        seen: Vec::new(),
    };
    let cmd_topic = topics::cmd(STORE, AGENT);
    let before = w.agent_counts();
    let dup = status_command("test-dup-1", STORE, AGENT);
    hq.probe
        .publish(&cmd_topic, dup.clone(), false, HTTP_TIMEOUT)
        .expect("publish");
    let first = hq.of("test-dup-1", 0);
    hq.probe
        .publish(&cmd_topic, dup, false, HTTP_TIMEOUT)
        .expect("publish again");
    let second = hq.of("test-dup-1", 1);
    assert!(first.ok && !first.duplicate, "{first:?}");
    assert!(second.duplicate, "{second:?}");
    let after = w.agent_counts();
    assert_eq!(count(&after, "ok"), count(&before, "ok") + 1, "ran once");
    assert_eq!(count(&after, "duplicate"), count(&before, "duplicate") + 1);

    // 3. Valid credentials, wrong addressee.
    let before = w.agent_counts();
    hq.probe
        .publish(
            &cmd_topic,
            status_command("test-other-store", "store-2", AGENT),
            false,
            HTTP_TIMEOUT,
        )
        .expect("publish");
    let refused = hq.of("test-other-store", 0);
    assert!(!refused.ok, "{refused:?}");
    assert!(
        refused.message.contains("addressed to"),
        "refusal text: {refused:?}"
    );
    let after = w.agent_counts();
    assert_eq!(count(&after, "refused"), count(&before, "refused") + 1);
    assert_eq!(count(&after, "ok"), count(&before, "ok"));

    // 4. Another store's agent identity publishing on this agent's cmd topic.
    let before = w.agent_counts();
    let mut intruder = w.probe("store-2/agents/agent-9", "store-2/agents/agent-9");
    let _ = intruder.publish(
        &cmd_topic,
        status_command("test-forged-acl", STORE, AGENT),
        false,
        HTTP_TIMEOUT,
    );
    hq.probe
        .publish(
            &cmd_topic,
            status_command("test-control", STORE, AGENT),
            false,
            HTTP_TIMEOUT,
        )
        .expect("publish control");
    // Commands run one at a time in arrival order: had the forged one passed the broker, its
    // answer would come before the control's.
    hq.of("test-control", 0);
    let forged_seen = hq.seen.iter().any(|r| r.id == "test-forged-acl");
    assert!(!forged_seen, "the broker let a forged command through");
    let after = w.agent_counts();
    assert_eq!(
        count(&after, "ok"),
        count(&before, "ok") + 1,
        "only the control ran"
    );
    assert!(!w.done_ids().contains("test-forged-acl"));
    intruder.disconnect();
    hq.probe.disconnect();

    // 5. Offline agent: pending runs after the restart, a short expiry never runs.
    w.agent.terminate(Duration::from_secs(15));
    wait_until(WAIT, "the collector sees the agent offline", || {
        w.agent_online() == Some(false)
    });
    let pending = w.send(json!({"kind":"status_report"}));
    let pending_id = pending["id"].as_str().expect("id").to_owned();
    let short = w.send(json!({"kind":"replay","from_seq":1,"to_seq":5,"expires_in_secs":1}));
    let short_id = short["id"].as_str().expect("id").to_owned();
    assert_eq!(w.record(&pending_id)["state"], "pending");
    let expired = w.wait_state(&short_id, "expired", WAIT);
    assert_eq!(expired["attempts"], 0, "never published: {expired}");
    assert_eq!(
        w.record(&pending_id)["state"],
        "pending",
        "kept while offline"
    );
    let dups_before = w.stats().duplicates_total;

    w.agent.start_again();
    let answered = w.wait_state(&pending_id, "answered", Duration::from_secs(45));
    assert_eq!(answered["result"]["ok"], true, "{answered}");
    let counts = w.agent_counts();
    assert_eq!(
        count(&counts, "ok"),
        1,
        "only the pending command ran: {counts:?}"
    );
    let expired = w.record(&short_id);
    assert_eq!(expired["state"], "expired", "{expired}");
    assert!(expired["result"].is_null(), "{expired}");
    assert!(!w.done_ids().contains(&short_id), "the expired command ran");
    assert!(w.done_ids().contains(&pending_id));
    assert!(!w.agent.log_tail(2000).contains(&short_id));
    assert_eq!(
        w.stats().duplicates_total,
        dups_before,
        "the expired replay resent nothing"
    );
    w.agent.check_not_crashed().expect("agent alive");
    w.collector.check_not_crashed().expect("collector alive");
}
