//! Invariant 4 under real power cuts: the agent's state dir lives on a lazy FUSE filesystem
//! (store_tests::lazyfs) that keeps every write not yet fsynced in memory. Each cut freezes the
//! filesystem, SIGKILLs the agent, drops what was never synced and restarts the agent on what
//! is left, as a machine that lost power would. Every event the line feed answered `ok` must
//! still reach HQ exactly once, and the agent must always come back up.
//!
//! `STORE_TESTS_POWER_CUTS` sets the number of cuts (5 by default; 30 for the full run),
//! `STORE_TESTS_SEED` replays a run. The control test proves the filesystem really loses
//! unsynced writes, so a journal that skipped its fdatasync would fail the main test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store_tests::check::{assert_no_violations, delivery_violations};
use store_tests::lazyfs::{fuse_available, LazyFs};
use store_tests::wait::sleep_checking;
use store_tests::{
    env_u64, seed, serial, Agent, AgentConfig, Collector, CollectorConfig, Mosquitto, Stack,
    TestEnv, Writer, WriterOptions,
};

/// Backing and mount directories for one lazy filesystem.
fn lazy_dirs(name: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("store-edge-{name}-"))
        .tempdir()
        .expect("temp dir");
    let backing = tmp.path().join("backing");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&backing).expect("backing dir");
    std::fs::create_dir_all(&mnt).expect("mount dir");
    (tmp, backing, mnt)
}

fn require_fuse() {
    if let Err(why) = fuse_available() {
        panic!("power-cut tests need FUSE ({why}); scripts/test.sh installs fuse3");
    }
}

/// A separate process writes one file without fsync and one with `conv=fsync`, then the power
/// is cut: only the synced file may keep its data, on the backing disk and through the mount.
#[test]
fn lazyfs_drops_unsynced_writes() {
    let _serial = serial();
    require_fuse();
    let (_tmp, backing, mnt) = lazy_dirs("lazyfs-control");
    let fs = LazyFs::mount(&backing, &mnt).expect("mount lazyfs");
    // An old synced version must come back after the cut, not vanish.
    std::fs::write(backing.join("old"), b"synced before").expect("seed file");

    let script = "printf unsynced > unsynced \
        && printf 'overwritten, never synced' > old \
        && printf synced | dd of=synced conv=fsync status=none \
        && echo ready && exec sleep 600";
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(&mnt)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read ready");
    assert_eq!(line.trim(), "ready", "the writer did not finish its writes");
    // Before the cut the process sees its own writes, as on any page cache.
    assert_eq!(std::fs::read(mnt.join("unsynced")).unwrap(), b"unsynced");

    fs.power_cut(|| {
        child.kill().expect("SIGKILL writer");
        child.wait().expect("reap writer");
    });
    let stats = fs.stats();
    assert_eq!(stats.cuts, 1);
    assert!(stats.files_lost_in_last_cut >= 2, "{stats:?}");

    for root in [backing.as_path(), mnt.as_path()] {
        let read = |n: &str| std::fs::read(root.join(n)).expect(n);
        assert_eq!(read("unsynced"), b"", "unsynced data survived in {root:?}");
        assert_eq!(
            read("old"),
            b"synced before",
            "unsynced overwrite survived in {root:?}"
        );
        assert_eq!(read("synced"), b"synced", "synced data lost in {root:?}");
    }
    drop(fs);
    assert!(
        !Path::new(&mnt).join("synced").exists(),
        "the mount is still there after drop"
    );
}

/// Cuts land while a process is inside FUSE requests without pause. A request the kernel has
/// handed to the filesystem cannot be interrupted, so the process dies only once it is answered:
/// a cut that held the filesystem still while waiting for the death deadlocked (CI hung). The
/// cut's own watchdog aborts this test process if that ever comes back.
#[test]
fn cuts_during_busy_io_never_hang() {
    let _serial = serial();
    require_fuse();
    let (_tmp, backing, mnt) = lazy_dirs("lazyfs-busy");
    let fs = LazyFs::mount(&backing, &mnt).expect("mount lazyfs");
    let cuts = 20;
    for k in 1..=cuts {
        // Every loop is lookup, open, write, flush and release: a steady stream of requests.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec 2>/dev/null; echo go; while :; do printf x >> busy; done")
            .current_dir(&mnt)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn busy writer");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read go");
        // Let the writes run a little so the cut lands mid-request.
        std::thread::sleep(Duration::from_millis(20 + 7 * k));
        let status = fs.power_cut(|| {
            child.kill().expect("SIGKILL busy writer");
            child.wait().expect("reap busy writer")
        });
        assert!(!status.success(), "cut #{k}: the writer was not killed");
    }
    let stats = fs.stats();
    assert_eq!(stats.cuts, cuts, "{stats:?}");
    // The filesystem still works after the cuts: what was never synced is gone, new writes land.
    std::fs::write(mnt.join("after"), b"alive").expect("write after the cuts");
    assert_eq!(std::fs::read(mnt.join("after")).unwrap(), b"alive");
    assert_eq!(
        std::fs::read(backing.join("busy"))
            .map(|b| b.len())
            .unwrap_or(0),
        0,
        "unsynced appends survived a cut"
    );
}

#[test]
fn agent_power_cut() {
    let _serial = serial();
    require_fuse();
    let mut rng = StdRng::seed_from_u64(seed("agent_power_cut"));
    let cuts = env_u64("STORE_TESTS_POWER_CUTS", 5);
    let (_tmp, backing, mnt) = lazy_dirs("agent-power-cut");
    let fs = LazyFs::mount(&backing, &mnt).expect("mount lazyfs");
    let state = mnt.join("state");
    let mut stack = Stack::with_mosquitto_and("agent_power_cut", |cfg| cfg.state_dir = state);
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let addr = stack.agent.feed_addr();
    stack
        .env
        .log(format!("agent state on lazyfs at {}", mnt.display()));

    let writer = Writer::start(WriterOptions::new(addr).reconnect_timeout(Duration::from_secs(90)));
    writer.wait_acked(500, Duration::from_secs(60));
    let mut lost_bytes = 0;
    for k in 1..=cuts {
        let delay = Duration::from_millis(rng.random_range(200..=1_500));
        sleep_checking(delay, || stack.alive());
        let before = writer.progress();
        fs.power_cut(|| stack.agent.kill());
        let s = fs.stats();
        lost_bytes += s.bytes_lost_in_last_cut;
        stack.env.log(format!(
            "power cut #{k} after {delay:?}: writer {before:?}; dropped {} unsynced files \
             ({} bytes); collector: {}",
            s.files_lost_in_last_cut,
            s.bytes_lost_in_last_cut,
            stack.stats_summary()
        ));
        stack.agent.start_again();
        // No crash loop: the agent came back and takes new lines.
        writer.wait_reconnected(before.connections, Duration::from_secs(60));
        stack.agent.check_running().expect("agent up after the cut");
    }
    let mut report = writer.stop();
    stack
        .env
        .log(format!("stream stopped: {}", report.summary()));
    assert!(
        report.connections > cuts as u32,
        "the writer did not reconnect after each cut: {}",
        report.summary()
    );

    let last = Writer::start(
        WriterOptions::new(addr)
            .total(500)
            .first_index(report.next_index),
    )
    .finish(Duration::from_secs(120));
    report.merge(last);
    let max = report.max_acked().expect("acknowledged lines");
    let reached = stack.wait_committed(max, Duration::from_secs(300));
    let stats = stack.settled_stats(reached, Duration::from_secs(2));
    let v = delivery_violations(&stats, &store, &agent, &report);
    assert_no_violations("agent power cut", &v, &stats, &store, &agent, &report);
    let fstats = fs.stats();
    assert_eq!(fstats.cuts, cuts);
    assert!(fstats.syncs > 0, "the agent never synced: {fstats:?}");
    stack.env.log(format!(
        "ok: {} acknowledged, {} unanswered at cuts, {lost_bytes} unsynced bytes dropped, \
         {} file syncs",
        report.acked.len(),
        report.unanswered,
        fstats.syncs
    ));
    // Stop the agent before the filesystem goes away under it.
    stack.agent.kill();
}

/// The same cut against HQ: the collector's state dir on lazyfs, power cut mid-stream. A
/// committed mark that the ledger had not really made durable would let the agent forget events
/// HQ then lost; the delivery check sees that as a loss.
#[test]
fn collector_power_cut() {
    let _serial = serial();
    require_fuse();
    let mut rng = StdRng::seed_from_u64(seed("collector_power_cut"));
    let cuts = env_u64("STORE_TESTS_COLLECTOR_POWER_CUTS", 2);
    let (_tmp, backing, mnt) = lazy_dirs("collector-power-cut");
    let fs = LazyFs::mount(&backing, &mnt).expect("mount lazyfs");
    let env = TestEnv::new("collector_power_cut");
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let collector_dir = env.subdir("collector");
    let mut ccfg = CollectorConfig::new(&collector_dir, broker.port());
    ccfg.state_dir = mnt.join("state");
    let collector = Collector::start(&collector_dir, ccfg);
    let agent_dir = env.subdir("agent");
    let agent = Agent::start(&agent_dir, AgentConfig::new(&agent_dir, broker.port()));
    env.log(format!("collector state on lazyfs at {}", mnt.display()));
    let mut stack = Stack {
        agent,
        collector,
        broker: Some(broker),
        env,
    };
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let addr = stack.agent.feed_addr();

    let writer = Writer::start(WriterOptions::new(addr));
    writer.wait_acked(500, Duration::from_secs(60));
    let mut lost_bytes = 0;
    for k in 1..=cuts {
        let delay = Duration::from_millis(rng.random_range(300..=1_500));
        sleep_checking(delay, || stack.alive());
        let before = stack.stats_summary();
        fs.power_cut(|| stack.collector.kill());
        let s = fs.stats();
        lost_bytes += s.bytes_lost_in_last_cut;
        stack.env.log(format!(
            "collector power cut #{k} after {delay:?}: dropped {} unsynced files ({} bytes); \
             collector before: {before}",
            s.files_lost_in_last_cut, s.bytes_lost_in_last_cut
        ));
        stack.collector.start_again();
    }
    let mut report = writer.stop();
    let last = Writer::start(
        WriterOptions::new(addr)
            .total(500)
            .first_index(report.next_index),
    )
    .finish(Duration::from_secs(120));
    report.merge(last);
    let max = report.max_acked().expect("acknowledged lines");
    let reached = stack.wait_committed(max, Duration::from_secs(300));
    let stats = stack.settled_stats(reached, Duration::from_secs(2));
    let v = delivery_violations(&stats, &store, &agent, &report);
    assert_no_violations("collector power cut", &v, &stats, &store, &agent, &report);
    let fstats = fs.stats();
    assert_eq!(fstats.cuts, cuts);
    assert!(fstats.syncs > 0, "the collector never synced: {fstats:?}");
    stack.env.log(format!(
        "ok: {} acknowledged, {lost_bytes} unsynced bytes dropped, {} file syncs",
        report.acked.len(),
        fstats.syncs
    ));
    stack.collector.kill();
}
