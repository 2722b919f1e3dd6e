//! A restored HQ loses nothing: real Mosquitto, the real collector and two real agents fed
//! through their line feeds at a steady rate.
//!
//! The operator's procedure runs mid-stream: `store-collector backup DEST` (the real CLI), the
//! stream goes on for thousands of events, the collector is SIGKILLed, `store-collector restore
//! DEST` puts the backup back, and the collector restarts on it. The agents see the committed
//! mark go back and refill the collector from their retention windows.
//!
//! - [`refilled_from_retention_exactly_once`]: every event a line feed answered `ok` to is
//!   applied exactly once, and the agents counted the restore.
//! - [`out_of_retention_reported_as_exact_loss`]: one agent retains only a few KiB, so part of
//!   what the backup lacks is gone; the collector gets one `DataLoss` (`NOT_RETAINED`) whose
//!   ranges are exactly the seqs neither in the backup nor retained, and its mark moves on.
//!
//! Both print the figures the README's "Backup and restore" quotes: events resent, the time from
//! the restart until every agent's mark is back at its head, and the loss reported.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use store_proto::SeqSet;
use store_tests::check;
use store_tests::mqtt_probe::MqttProbe;
use store_tests::stats::{short_ranges, Stats};
use store_tests::wait::{sleep_checking, wait_for};
use store_tests::{
    bins, http, ports, serial, Agent, AgentConfig, Collector, CollectorConfig, Mosquitto, TestEnv,
    Writer, WriterOptions, WriterReport,
};

const TOKEN: &str = "restore-operator-token";
/// Line-feed events per second and agent: steady, well below what the stack sustains.
const RATE: f64 = 1_000.0;
/// Events each agent journals between the backup and the SIGKILL.
const AFTER_BACKUP: u64 = 4_000;
const WAIT: Duration = Duration::from_secs(120);

/// Each agent is its own store's (`agent-1` in `store-1`): the harness's delivery check judges
/// a store's totals against one writer.
fn store_of(agent: &str) -> String {
    agent.replacen("agent", "store", 1)
}

/// One store's agent with its metrics endpoint and its writer.
struct Feed {
    agent: Agent,
    metrics: SocketAddr,
    writer: Option<Writer>,
}

impl Feed {
    fn start(env: &TestEnv, broker: u16, id: &str, retain_max_bytes: Option<u64>) -> Self {
        let dir = env.subdir(id);
        let mut config = AgentConfig::new(&dir, broker);
        config.store_id = store_of(id);
        config.agent_id = id.into();
        let metrics = ports::localhost(ports::free_port());
        config.extra_toml = format!("\n[metrics]\nlisten = \"{metrics}\"\n");
        let mut agent = Agent::create(&dir, config.clone());
        if let Some(bytes) = retain_max_bytes {
            // The harness writes `[journal]`; a second such table would be a TOML error, so the
            // key goes into its text.
            let text = config.to_toml().replace(
                "[journal]\n",
                &format!("[journal]\nretain_max_bytes = {bytes}\n"),
            );
            std::fs::write(agent.config_path(), text).expect("rewrite agent.toml");
        }
        agent.start_again();
        let writer = Writer::start(WriterOptions::new(agent.feed_addr()).rate(RATE));
        Self {
            agent,
            metrics,
            writer: Some(writer),
        }
    }

    fn id(&self) -> String {
        self.agent.config().agent_id.clone()
    }

    fn writer(&self) -> &Writer {
        self.writer.as_ref().expect("writer running")
    }

    /// One sample of the agent's Prometheus text (first sample of `name`, labels ignored).
    fn metric(&self, name: &str) -> Result<u64, String> {
        let r = http::get(self.metrics, "/metrics", Duration::from_secs(5))?;
        if r.status != 200 {
            return Err(format!("agent /metrics answered {}", r.status));
        }
        r.body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
            .ok_or_else(|| format!("{name} not on the agent's /metrics"))
    }

    /// The journal's head: the highest seq acknowledged to the line feed so far.
    fn head(&self) -> u64 {
        self.writer().progress().max_acked.unwrap_or(0)
    }
}

/// Broker, collector (with an operator token: backups need it) and the agents.
struct Hq {
    feeds: Vec<Feed>,
    collector: Collector,
    broker: Mosquitto,
    env: TestEnv,
}

impl Hq {
    fn start(name: &str, retain: &[Option<u64>]) -> Self {
        let env = TestEnv::new(name);
        let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
        let dir = env.subdir("collector");
        let mut config = CollectorConfig::new(&dir, broker.port());
        config.api_token = Some(TOKEN.into());
        let collector = Collector::start(&dir, config);
        wait_online(broker.addr());
        let feeds = retain
            .iter()
            .enumerate()
            .map(|(i, r)| Feed::start(&env, broker.port(), &format!("agent-{}", i + 1), *r))
            .collect();
        Self {
            feeds,
            collector,
            broker,
            env,
        }
    }

    fn alive(&mut self) -> Result<(), String> {
        for f in &mut self.feeds {
            f.agent.check_not_crashed()?;
        }
        self.collector.check_not_crashed()?;
        self.broker.check_not_crashed()
    }

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

    /// Waits until every agent's contiguous mark reaches `targets[i]` with no gaps.
    fn wait_marks(&mut self, targets: &[u64], timeout: Duration) -> Stats {
        let ids: Vec<String> = self.feeds.iter().map(Feed::id).collect();
        wait_for(timeout, "every agent's mark at its target", || {
            self.alive()?;
            let s = self.stats()?;
            for (id, &t) in ids.iter().zip(targets) {
                match s.agent(&store_of(id), id) {
                    Some(a) if a.committed_seq >= t && a.gaps.is_empty() => {}
                    _ => return Err(format!("{id} below {t}: {}", s.summary(&store_of(id), id))),
                }
            }
            Ok(s)
        })
    }

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

    /// Streams until every agent journaled `events` more, then waits for the collector to
    /// commit them (so the backup taken next is mid-stream, not at the start).
    fn stream(&mut self, events: u64) -> Vec<u64> {
        let targets: Vec<u64> = self.feeds.iter().map(|f| f.head() + events).collect();
        for (f, &t) in self.feeds.iter().zip(&targets) {
            // Seqs, not line counts: the agent journals events of its own (a DataLoss) too.
            wait_for(WAIT, &format!("{} acknowledging seq {t}", f.id()), || {
                let p = f.writer().progress();
                match p.max_acked {
                    Some(m) if m >= t => Ok(()),
                    _ if p.finished => Err(format!("writer ended: {p:?}")),
                    _ => Err(format!("{p:?}")),
                }
            });
        }
        targets
    }

    fn restores(&self) -> Vec<u64> {
        self.feeds
            .iter()
            .map(|f| {
                f.metric("store_agent_collector_restores_total")
                    .expect("restores")
            })
            .collect()
    }

    fn stop_writers(&mut self) -> Vec<WriterReport> {
        self.feeds
            .iter_mut()
            .map(|f| f.writer.take().expect("writer").stop())
            .collect()
    }
}

/// The collector's retained online status comes after its subscription, so from then on no
/// batch misses it.
fn wait_online(broker: SocketAddr) {
    let (mut probe, _) = MqttProbe::connect(broker, "restore-test-status", true, WAIT)
        .expect("connect status probe");
    probe
        .subscribe(&store_proto::topics::collector_status("hq-1"), 1)
        .expect("subscribe to the collector's status");
    wait_for(WAIT, "the collector's online status", || {
        use prost::Message as _;
        let online = probe
            .receive_for(Duration::from_millis(100))?
            .iter()
            .any(|m| {
                store_proto::v1::CollectorStatus::decode(m.payload.as_slice())
                    .is_ok_and(|s| s.online)
            });
        if online {
            Ok(())
        } else {
            Err("not online yet".to_owned())
        }
    });
    probe.disconnect();
}

fn manifest_mark(manifest: &Value, agent: &str) -> u64 {
    manifest["agents"]
        .as_array()
        .expect("agents in the manifest")
        .iter()
        .find(|a| a["store_id"] == store_of(agent).as_str() && a["agent_id"] == agent)
        .unwrap_or_else(|| panic!("{agent} in the manifest"))["committed_seq"]
        .as_u64()
        .expect("committed_seq")
}

/// What happened around one restore, per agent.
struct Restored {
    manifest: Value,
    /// The journal's head when the collector was killed.
    heads: Vec<u64>,
    /// The collector's committed mark just before the kill: what it had and forgot.
    committed_at_kill: Vec<u64>,
    /// What the restored collector held above the backup's mark (in flight at the backup).
    applied_at_restart: Vec<SeqSet>,
    /// The agent's retain floor after the kill (every seq below it was no longer held).
    floors: Vec<u64>,
    restores_before: Vec<u64>,
    restarted: Instant,
}

/// Backup mid-stream, stream on, SIGKILL, restore, restart.
fn backup_kill_restore_restart(hq: &mut Hq, dest: &Path) -> Restored {
    let out = hq.cli(&["backup".as_ref(), dest.as_os_str()]);
    assert!(out.status.success(), "backup failed");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dest.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    let restores_before = hq.restores();

    // Thousands of events past the backup, committed by the collector: all of it is what the
    // restore forgets.
    let committed = hq.stream(AFTER_BACKUP);
    hq.wait_marks(&committed, WAIT);

    let before = hq.stats().expect("stats before the kill");
    let committed_at_kill: Vec<u64> = hq
        .feeds
        .iter()
        .map(|f| {
            before
                .agent(&store_of(&f.id()), &f.id())
                .expect("agent")
                .committed_seq
        })
        .collect();
    hq.collector.kill();
    let heads: Vec<u64> = hq.feeds.iter().map(Feed::head).collect();
    hq.env
        .log(format!("collector SIGKILLed; journal heads {heads:?}"));
    // The floor moves only when a commit mark arrives; the last one may still be on its way.
    let mut floors = Vec::new();
    for f in &hq.feeds {
        let mut last = None;
        let floor = wait_for(Duration::from_secs(30), "a settled retain floor", || {
            let now = (
                f.metric("store_agent_journal_retain_floor_seq")?,
                f.metric("store_agent_collector_committed_seq")?,
            );
            let seen = last.replace(now);
            if seen == Some(now) {
                Ok(now.0)
            } else {
                std::thread::sleep(Duration::from_millis(300));
                Err(format!("floor/mark {now:?}"))
            }
        });
        floors.push(floor);
    }

    let out = hq.cli(&["restore".as_ref(), dest.as_os_str()]);
    assert!(out.status.success(), "restore failed");
    hq.collector.start_again();
    let restarted = Instant::now();
    hq.env.log("collector restarted on the restored state");
    let now = hq.stats().expect("stats after the restart");
    let applied_at_restart = hq
        .feeds
        .iter()
        .map(|f| {
            now.agent(&store_of(&f.id()), &f.id())
                .map(|a| a.applied())
                .unwrap_or_default()
        })
        .collect();
    Restored {
        manifest,
        heads,
        committed_at_kill,
        applied_at_restart,
        floors,
        restores_before,
        restarted,
    }
}

/// Every agent's restore counter rose; returns the time until every mark was back at the head
/// it had at the kill.
fn wait_refilled(hq: &mut Hq, r: &Restored) -> Duration {
    let heads = r.heads.clone();
    hq.wait_marks(&heads, WAIT);
    let refill = r.restarted.elapsed();
    let after = hq.restores();
    for (i, (b, a)) in r.restores_before.iter().zip(&after).enumerate() {
        assert!(
            a > b,
            "agent-{} did not count the restore: {b} -> {a}",
            i + 1
        );
    }
    refill
}

#[test]
fn refilled_from_retention_exactly_once() {
    let _serial = serial();
    let mut hq = Hq::start("restored_hq_refill", &[None, None]);
    let warm = hq.stream(2_000);
    hq.wait_marks(&warm, WAIT);
    let dest = hq.env.subdir("backups").join("mid-stream");
    let r = backup_kill_restore_restart(&mut hq, &dest);
    let dup_before = hq.stats().expect("stats after restart").duplicates_total;
    let refill = wait_refilled(&mut hq, &r);

    // Stream a bit more on the restored collector, then stop and judge.
    hq.stream(1_000);
    let reports = hq.stop_writers();
    let maxes: Vec<u64> = reports
        .iter()
        .map(|r| r.max_acked().expect("acknowledged"))
        .collect();
    let reached = hq.wait_marks(&maxes, WAIT);
    let stats = {
        sleep_checking(Duration::from_secs(2), || hq.alive());
        hq.stats().expect("settled stats")
    };
    assert_eq!(reached.agents.len(), stats.agents.len());

    let mut resent_total = 0;
    for (i, (feed, report)) in hq.feeds.iter().zip(&reports).enumerate() {
        let id = feed.id();
        let v = check::delivery_violations(&stats, &store_of(&id), &id, report);
        check::assert_no_violations("restored HQ", &v, &stats, &store_of(&id), &id, report);
        assert_eq!(report.unanswered, 0, "{}", report.summary());
        let a = stats.agent(&store_of(&id), &id).expect("agent");
        // Exactly once: the distinct seqs applied are exactly the acknowledged ones.
        assert_eq!(a.applied_count, report.acked.len() as u64, "{id}");
        assert_eq!(a.applied_ranges, [(1, maxes[i])], "{id}");
        let mark = manifest_mark(&r.manifest, &id);
        assert!(mark >= 2_000, "{id}: backup taken mid-stream at {mark}");
        assert!(
            r.heads[i] >= mark + AFTER_BACKUP,
            "{id}: the stream went on past the backup"
        );
        let resent = r.committed_at_kill[i] - mark;
        resent_total += resent;
        hq.env.log(format!(
            "{id}: backup mark {mark}, committed at kill {}, head at kill {}, resent from \
             retention {resent}",
            r.committed_at_kill[i], r.heads[i]
        ));
    }
    assert_eq!(
        stats.applied_total,
        reports.iter().map(|r| r.acked.len() as u64).sum::<u64>(),
        "applied_total equals every acknowledged event, once"
    );
    let dups = stats.duplicates_total - dup_before;
    // Only broker redeliveries of batches in flight at the kill can be duplicates: the
    // restored state never saw the resent events.
    assert!(
        dups <= resent_total,
        "{dups} duplicates for {resent_total} events resent"
    );
    let figures = format!(
        "restored HQ figures: {} agents, events resent {resent_total}, refill (restart to every \
         mark back at its head) {:.2} s, duplicates {dups}, loss reported none",
        hq.feeds.len(),
        refill.as_secs_f64()
    );
    println!("{figures}");
    hq.env.log(figures);
    hq.collector.check_not_crashed().expect("collector");
}

#[test]
fn out_of_retention_reported_as_exact_loss() {
    let _serial = serial();
    // agent-1 retains a few KiB (a few dozen events), agent-2 the default.
    let mut hq = Hq::start("restored_hq_loss", &[Some(8 * 1024), None]);
    let warm = hq.stream(2_000);
    hq.wait_marks(&warm, WAIT);
    let dest = hq.env.subdir("backups").join("mid-stream");
    let r = backup_kill_restore_restart(&mut hq, &dest);
    let refill = wait_refilled(&mut hq, &r);
    hq.stream(500);
    let reports = hq.stop_writers();
    let maxes: Vec<u64> = reports
        .iter()
        .map(|r| r.max_acked().expect("acknowledged"))
        .collect();
    hq.wait_marks(&maxes, WAIT);
    sleep_checking(Duration::from_secs(2), || hq.alive());
    let stats = hq.stats().expect("settled stats");

    // The small agent: what the backup lacks below its floor is reported, exactly.
    let id = hq.feeds[0].id();
    let mark = manifest_mark(&r.manifest, &id);
    let floor = r.floors[0];
    assert!(
        floor > mark + 1,
        "{id}: part of what the backup lacks must be out of retention (mark {mark}, floor {floor})"
    );
    // Neither in the backup (above its mark, not among what it held above it) nor retained.
    let mut gone = SeqSet::from_ranges([(mark + 1, floor - 1)]);
    for (a, b) in r.applied_at_restart[0].ranges() {
        gone.remove_range(a, b);
    }
    let expected: Vec<(u64, u64)> = gone.ranges().collect();
    let a = stats.agent(&store_of(&id), &id).expect("agent-1");
    assert_eq!(
        a.lost_ranges,
        expected,
        "{id}: DataLoss ranges = seqs neither in the backup nor retained: {}",
        short_ranges(&a.lost_ranges)
    );
    assert!(a.gaps.is_empty(), "{id}: gaps settled: {:?}", a.gaps);
    assert!(a.committed_seq >= maxes[0], "{id}: the mark moved on");
    assert_eq!(
        stats.store(&store_of(&id)).kinds.get("data_loss").copied(),
        Some(1),
        "exactly one DataLoss for the small agent's store"
    );
    let applied = a.applied();
    let report = &reports[0];
    assert!(report.violations().is_empty(), "{:?}", report.violations());
    let lost = gone.len();
    let mut missing = Vec::new();
    for &seq in &report.acked {
        let is_lost = gone.contains(seq);
        if is_lost == applied.contains(seq) {
            missing.push(seq);
        }
    }
    assert!(
        missing.is_empty(),
        "{id}: acknowledged seqs applied although lost, or lost although not reported: {} \
         (first {:?})",
        missing.len(),
        missing.first()
    );

    // The other agent refilled everything.
    let id2 = hq.feeds[1].id();
    let v = check::delivery_violations(&stats, &store_of(&id2), &id2, &reports[1]);
    check::assert_no_violations(
        "restored HQ",
        &v,
        &stats,
        &store_of(&id2),
        &id2,
        &reports[1],
    );
    let distinct: u64 = stats.agents.iter().map(|a| a.applied_count).sum();
    assert_eq!(stats.applied_total, distinct, "nothing applied twice");

    let resent = (r.committed_at_kill[0] - mark - lost)
        + (r.committed_at_kill[1] - manifest_mark(&r.manifest, &id2));
    let figures = format!(
        "restored HQ loss figures: {id} retains 8 KiB: backup mark {mark}, retain floor {floor}, \
         head at kill {}, loss reported {} ({lost} seqs); events resent (both agents) {resent}; \
         refill {:.2} s",
        r.heads[0],
        short_ranges(&expected),
        refill.as_secs_f64()
    );
    println!("{figures}");
    hq.env.log(figures);
}
