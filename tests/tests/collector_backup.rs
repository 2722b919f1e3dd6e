//! Backup and restore of the collector with real processes: Mosquitto, the `store-collector`
//! binary, its CLI and an MQTT publisher standing in for an agent.
//!
//! `store-collector backup` runs mid-stream (a real HTTP call to the running collector), the
//! stream goes on past the backup, the collector is SIGKILLed, `store-collector restore` puts
//! the backup back (refused while the collector runs), and the restarted collector starts with
//! the backup's marks and ingests again. [`Hq::backup_kill_restore_restart`] is the operator's
//! procedure in one step, for tests that add real agents refilling from their retention.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prost::Message as _;
use serde_json::Value;
use store_proto::v1::{CollectorStatus, Scan};
use store_proto::{Body, Event, EventBatch};
use store_tests::mqtt_probe::MqttProbe;
use store_tests::stats::{AgentStats, Stats};
use store_tests::wait::wait_for;
use store_tests::{bins, http, serial, Collector, CollectorConfig, Mosquitto, TestEnv};

const STORE: &str = "s1";
const AGENT: &str = "a1";
const TOKEN: &str = "backup-operator-token";
const EVENTS_PER_BATCH: u64 = 20;
const WAIT: Duration = Duration::from_secs(60);

/// A stand-in for an agent: publishes batches of scans with consecutive seqs at QoS 1 (each
/// waits for the broker's PUBACK) from `from` until stopped or past `to`.
struct Publisher {
    stop: Arc<AtomicBool>,
    /// Highest seq published so far.
    head: Arc<AtomicU64>,
    thread: JoinHandle<Result<(), String>>,
}

impl Publisher {
    fn start(broker: SocketAddr, from: u64, to: Option<u64>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let head = Arc::new(AtomicU64::new(from.saturating_sub(1)));
        let thread = {
            let (stop, head) = (stop.clone(), head.clone());
            std::thread::spawn(move || {
                let (mut mqtt, _) =
                    MqttProbe::connect(broker, "backup-test-agent", true, Duration::from_secs(10))?;
                let topic = store_proto::topics::events(STORE, AGENT);
                let mut next = from;
                while !stop.load(Ordering::Relaxed) && to.is_none_or(|to| next <= to) {
                    let last = to.map_or(next + EVENTS_PER_BATCH - 1, |to| {
                        to.min(next + EVENTS_PER_BATCH - 1)
                    });
                    mqtt.publish(&topic, &batch(next..=last), false)?;
                    head.store(last, Ordering::Relaxed);
                    next = last + 1;
                    // A steady stream rather than a flood: the test is about what happens around
                    // the backup, not about throughput.
                    std::thread::sleep(Duration::from_millis(5));
                }
                mqtt.disconnect();
                Ok(())
            })
        };
        Self { stop, head, thread }
    }

    /// Stops and returns the highest seq published.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .expect("publisher thread")
            .expect("publisher");
        self.head.load(Ordering::Relaxed)
    }
}

fn batch(seqs: std::ops::RangeInclusive<u64>) -> Vec<u8> {
    let now = store_runtime::clock::now_ms();
    EventBatch {
        store_id: STORE.into(),
        agent_id: AGENT.into(),
        sent_wall_time_ms: now,
        events: seqs
            .map(|seq| Event {
                seq,
                wall_time_ms: now,
                body: Some(Body::Scan(Scan {
                    data: format!("04000000{seq:06}"),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The broker and the collector of one test.
struct Hq {
    env: TestEnv,
    broker: Mosquitto,
    collector: Collector,
}

impl Hq {
    fn start(name: &str) -> Self {
        let env = TestEnv::new(name);
        let broker = Mosquitto::start_in(&env.subdir("broker"));
        let dir = env.subdir("collector");
        let mut config = CollectorConfig::new(&dir, broker.port());
        config.api_token = Some(TOKEN.into());
        let collector = Collector::start(&dir, config);
        let hq = Self {
            env,
            broker,
            collector,
        };
        hq.wait_online();
        hq
    }

    /// Waits for the collector's retained online status: it is published after its
    /// subscription request, so from then on no batch misses the subscription (`/healthz`
    /// answers earlier).
    fn wait_online(&self) {
        let (mut probe, _) = MqttProbe::connect(
            self.broker.addr(),
            "backup-test-status",
            true,
            Duration::from_secs(10),
        )
        .expect("connect status probe");
        probe
            .subscribe(&store_proto::topics::collector_status("hq-1"), 1)
            .expect("subscribe to the collector's status");
        wait_for(WAIT, "the collector's online status", || {
            let online = probe
                .receive_for(Duration::from_millis(100))?
                .iter()
                .any(|m| CollectorStatus::decode(m.payload.as_slice()).is_ok_and(|s| s.online));
            if online {
                Ok(())
            } else {
                Err("not online yet".to_owned())
            }
        });
        probe.disconnect();
    }

    fn state_dir(&self) -> PathBuf {
        self.collector.config().state_dir.clone()
    }

    /// `GET /v1/stats` with the token (the API has one: backups need the operator's).
    fn stats(&self) -> Result<Stats, String> {
        let auth = format!("Bearer {TOKEN}");
        let r = http::request(
            self.collector.api_addr(),
            "GET",
            "/v1/stats",
            &[("Authorization", auth.as_str())],
            None,
            Duration::from_secs(5),
        )?;
        if r.status != 200 {
            return Err(format!("/v1/stats answered {}: {}", r.status, r.body));
        }
        Stats::parse(&r.body)
    }

    /// The agent's line in `/v1/stats`.
    fn agent(&self) -> Result<AgentStats, String> {
        let stats = self.stats()?;
        stats
            .agent(STORE, AGENT)
            .cloned()
            .ok_or_else(|| "agent not known yet".to_owned())
    }

    fn wait_committed(&mut self, at_least: u64) -> AgentStats {
        let what = format!("the committed mark reaching {at_least}");
        wait_for(WAIT, &what, || {
            self.collector.check_running()?;
            let a = self.agent()?;
            if a.committed_seq >= at_least {
                Ok(a)
            } else {
                Err(format!(
                    "committed {} highest {}",
                    a.committed_seq, a.highest_seq
                ))
            }
        })
    }

    /// `store-collector <args> --config <the collector's config>`, token in the environment.
    fn cli(&self, args: &[&std::ffi::OsStr]) -> Output {
        let output = Command::new(bins::collector())
            .args(args)
            .arg("--config")
            .arg(self.collector.config_path())
            .env("STORE_COLLECTOR_TOKEN", TOKEN)
            .output()
            .expect("run store-collector");
        self.env.log(format!(
            "store-collector {:?}: {}\n{}{}",
            args,
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
        output
    }

    /// `store-collector backup DEST`; returns the manifest it wrote.
    fn backup(&self, dest: &Path) -> Value {
        let out = self.cli(&["backup".as_ref(), dest.as_os_str()]);
        assert!(out.status.success(), "backup failed");
        let manifest = std::fs::read_to_string(dest.join("manifest.json")).expect("manifest");
        serde_json::from_str(&manifest).expect("manifest JSON")
    }

    fn restore(&self, src: &Path) -> Output {
        self.cli(&["restore".as_ref(), src.as_os_str()])
    }

    /// The recovery procedure: backup now, then (after `meanwhile` ran) SIGKILL, restore and
    /// restart. Returns the backup's manifest.
    fn backup_kill_restore_restart(
        &mut self,
        dest: &Path,
        meanwhile: impl FnOnce(&mut Hq),
    ) -> Value {
        let manifest = self.backup(dest);
        meanwhile(self);
        self.collector.kill();
        self.env.log("collector SIGKILLed");
        let out = self.restore(dest);
        assert!(out.status.success(), "restore failed");
        self.collector.start_again();
        self.env.log("collector restarted on the restored state");
        manifest
    }
}

fn manifest_mark(manifest: &Value, field: &str) -> u64 {
    let agents = manifest["agents"].as_array().expect("agents");
    let agent = agents
        .iter()
        .find(|a| a["store_id"] == STORE && a["agent_id"] == AGENT)
        .expect("the agent in the manifest");
    agent[field].as_u64().expect("a number")
}

fn siblings_named(dir: &Path, part: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(part))
        .collect()
}

#[test]
fn backup_mid_stream_then_sigkill_restore_and_resume() {
    let _serial = serial();
    let mut hq = Hq::start("collector_backup");
    let publisher = Publisher::start(hq.broker.addr(), 1, None);
    hq.wait_committed(400);
    let backups = hq.env.subdir("backups");
    let dest = backups.join("hq-1-mid-stream");

    let mut published = 0;
    let manifest = hq.backup_kill_restore_restart(&dest, |hq| {
        // The backup is a whole state of a running collector, taken while events kept coming.
        assert_eq!(hq.backup(&dest.with_extension("second"))["online"], true);
        let again = hq.cli(&["backup".as_ref(), dest.as_os_str()]);
        assert!(
            !again.status.success(),
            "an existing backup must not be overwritten"
        );
        assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

        // Ingest goes on past the backup.
        let mark = manifest_mark(
            &serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).unwrap())
                .unwrap(),
            "committed_seq",
        );
        hq.wait_committed(mark + 400);

        // Restoring under a running collector is refused, and changes nothing.
        let out = hq.restore(&dest);
        assert!(!out.status.success(), "restore over a running collector");
        assert!(String::from_utf8_lossy(&out.stderr).contains("stop"));
        assert!(siblings_named(&hq.state_dir(), "before-restore").is_empty());
        hq.collector.check_running().expect("still running");
        published = publisher.stop();
        hq.env.log(format!("publisher stopped at seq {published}"));
    });

    assert_eq!(manifest["online"], true);
    assert_eq!(manifest["collector_id"], "hq-1");
    let mark = manifest_mark(&manifest, "committed_seq");
    let applied = manifest_mark(&manifest, "applied_count");
    assert!(mark >= 400, "the backup was taken mid-stream: mark {mark}");
    assert!(
        published > mark + 400,
        "the stream went on after the backup"
    );
    let paused = manifest["ingest_paused_us"].as_u64().expect("pause");
    hq.env
        .log(format!("backup at mark {mark}; ingest paused {paused} us"));

    // The old state was moved aside, not deleted.
    let aside = siblings_named(&hq.state_dir(), "before-restore");
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(aside[0].join("state").join("db").is_file());

    // The restarted collector has the backup's marks. Batches the broker redelivers from its
    // session are above them and cannot close the gap the restore opened.
    let now = hq.agent().expect("agent after restore");
    assert_eq!(now.committed_seq, mark, "{now:?}");
    assert!(now.applied_count >= applied, "{now:?}");

    // Ingest resumes: the agent resends from just above the restored mark (what a real agent
    // does from its retention window), and every event is applied exactly once.
    let target = published + 200;
    let resend = Publisher::start(hq.broker.addr(), mark + 1, Some(target));
    let done = hq.wait_committed(target);
    assert_eq!(resend.stop(), target);
    assert_eq!(done.committed_seq, target);
    assert_eq!(done.applied_count, target);
    let stats = hq.stats().expect("stats");
    assert_eq!(
        stats.stores[STORE].kinds.get("scan").copied(),
        Some(target),
        "every scan applied exactly once across backup, kill and restore"
    );
    hq.collector.check_not_crashed().expect("collector");
}
