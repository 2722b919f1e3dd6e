//! The unit files in `systemd/` pass `systemd-analyze verify` with no warning, pointed at the
//! binaries just built (verify checks that ExecStart is executable), and a misspelt key is
//! caught, so the check itself can fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use store_tests::{bins, TestEnv};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Copies a unit into `dir`, pointing ExecStart at `bin`, and applies `edit` to the text.
fn install(dir: &Path, unit: &str, bin: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("systemd").join(unit))
        .unwrap_or_else(|e| panic!("read systemd/{unit}: {e}"));
    let name = unit.trim_end_matches(".service");
    let text = text.replace(&format!("/usr/bin/{name}"), &bin.display().to_string());
    let path = dir.join(unit);
    std::fs::write(&path, edit(text)).expect("write unit");
    path
}

/// Runs `systemd-analyze verify`; returns (success, stderr).
fn verify(unit: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        // Only the unit itself matters, not the test machine's other units.
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .expect("systemd-analyze is installed by scripts/test.sh");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr)
}

#[test]
fn units_verify_cleanly() {
    let env = TestEnv::new("systemd-units");
    for (unit, bin) in [
        ("store-agent.service", bins::agent()),
        ("store-collector.service", bins::collector()),
    ] {
        let path = install(env.path(), unit, &bin, |t| t);
        let (ok, stderr) = verify(&path);
        assert!(ok && stderr.trim().is_empty(), "{unit}: {stderr}");
    }
}

#[test]
fn a_misspelt_key_is_reported() {
    let env = TestEnv::new("systemd-units-bad");
    let path = install(env.path(), "store-agent.service", &bins::agent(), |t| {
        t.replace("Restart=on-failure", "Restart=on-failure\nRestrat=always")
    });
    let (_, stderr) = verify(&path);
    assert!(
        stderr.contains("Restrat"),
        "verify did not flag the typo: {stderr}"
    );
}

#[test]
fn agent_unit_is_a_notify_service_with_a_watchdog() {
    let text = std::fs::read_to_string(repo_root().join("systemd/store-agent.service")).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=store-agent",
        "LoadCredential=",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "DeviceAllow=char-ttyUSB rw",
        "DeviceAllow=char-ttyACM rw",
        "DeviceAllow=char-hidraw rw",
        "SupplementaryGroups=dialout",
        "User=store-agent",
    ] {
        assert!(text.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
}

/// `[Service]` values of `key` in a unit (last one wins in systemd; all are returned).
fn values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_owned())
        .collect()
}

#[test]
fn both_units_run_as_a_dedicated_user_never_root() {
    for (unit, user) in [
        ("store-agent.service", "store-agent"),
        ("store-collector.service", "store-collector"),
    ] {
        let text = std::fs::read_to_string(repo_root().join("systemd").join(unit)).unwrap();
        assert_eq!(values(&text, "User"), [user], "{unit}");
        assert_eq!(values(&text, "Group"), [user], "{unit}");
        for v in values(&text, "User").iter().chain(&values(&text, "Group")) {
            assert!(v != "root" && v != "0", "{unit} runs as {v}");
        }
    }
    let collector =
        std::fs::read_to_string(repo_root().join("systemd/store-collector.service")).unwrap();
    assert_eq!(
        values(&collector, "DynamicUser"),
        ["yes"],
        "no package creates its user"
    );
    // The agent's user comes from the package, and gets the device group the unit and the udev
    // rule name.
    let postinst = std::fs::read_to_string(repo_root().join("packaging/deb/postinst")).unwrap();
    assert!(postinst.contains("adduser --system --group"), "{postinst}");
    assert!(
        postinst.contains("adduser store-agent dialout"),
        "{postinst}"
    );
    let rules =
        std::fs::read_to_string(repo_root().join("systemd/70-store-scanners.rules")).unwrap();
    assert!(rules
        .lines()
        .filter(|l| l.starts_with("SUBSYSTEM==\"hidraw\""))
        .all(|l| l.contains("GROUP=\"dialout\"")));
}

/// The agent speaks the sd_notify protocol: READY=1 once the journal is open and the drivers
/// are started, WATCHDOG=1 pings at about half of WATCHDOG_USEC while healthy, STOPPING=1 on SIGTERM.
#[test]
fn agent_notifies_ready_pings_the_watchdog_and_says_stopping() {
    use std::os::unix::net::UnixDatagram;
    use std::time::{Duration, Instant};
    use store_tests::{ports, AgentConfig};

    let env = TestEnv::new("sd-notify");
    let dir = env.subdir("agent");
    let config = AgentConfig::new(&dir, ports::free_port());
    let feed = format!("127.0.0.1:{}", config.feed_port);
    let config_path = dir.join("agent.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();
    let socket_path = env.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let log = std::fs::File::create(env.path().join("agent.log")).unwrap();
    let mut child = KillOnDrop(
        Command::new(bins::agent())
            .args(["run", "--config"])
            .arg(&config_path)
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "400000")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let recv = || {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = recv();
    assert_eq!(first.trim(), "READY=1");
    // The journal is open by then: the line feed comes up and stores events.
    let feed: std::net::SocketAddr = feed.parse().unwrap();
    store_tests::ports::wait_accepts(feed, Duration::from_secs(10), || Ok(()))
        .expect("line feed up");
    let start = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        assert_eq!(recv().trim(), "WATCHDOG=1");
        pings += 1;
    }
    // Three pings at 200 ms intervals (half of 400 ms); generous bounds for a busy machine.
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "pings too slow: {took:?}");
    send_sigterm(child.0.id());
    let mut saw_stopping = false;
    for _ in 0..20 {
        if recv().trim() == "STOPPING=1" {
            saw_stopping = true;
            break;
        }
    }
    assert!(saw_stopping, "no STOPPING=1 after SIGTERM");
    let status = child.0.wait().unwrap();
    assert!(status.success(), "agent exit status {status}");
}

fn send_sigterm(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Kills the agent if the test fails halfway, so no orphan keeps the test's pipes open.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
