//! A Mosquitto broker owned by one test: its own port, config, persistence directory and log.
//!
//! The config is written by the harness: one `127.0.0.1` listener, anonymous clients,
//! persistence saved every second (`autosave_interval 1`) and on SIGTERM, and no limits on queued
//! or in-flight QoS 1 messages (`max_queued_messages 0`, `max_inflight_messages 0`), so the broker
//! itself never drops a batch queued for an offline collector: any loss in a test is ours.
//!
//! Outages: [`Mosquitto::stop`] is graceful (SIGTERM, the database is saved),
//! [`Mosquitto::kill`] is a crash (SIGKILL: whatever arrived since the last autosave is lost), and
//! [`Mosquitto::wipe`] deletes the persistence directory's contents (sessions, subscriptions,
//! queued and retained messages are gone, including batches the broker had already PUBACKed).
//! [`Mosquitto::start`] brings it back on the same port. [`Mosquitto::stored_messages`] tells how
//! many messages the broker holds (from `$SYS`, published every second).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::mqtt_probe::MqttProbe;
use crate::ports;
use crate::process::Proc;

/// How long the broker may take to accept connections after a start.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A broker process.
pub struct Mosquitto {
    port: u16,
    dir: PathBuf,
    persistence_dir: PathBuf,
    proc: Proc,
}

impl Mosquitto {
    /// Writes a config under `dir` (created), starts the broker on a free port and waits until
    /// it accepts connections.
    pub fn start_in(dir: &Path) -> Self {
        Self::start_with_config(dir, config)
    }

    /// The shipped `config/mosquitto/{conf_name}` (TLS listener, ACL, no anonymous clients) with
    /// its paths moved under `dir`: a broker certificate for 127.0.0.1/localhost from `pki` in
    /// `dir/certs/`, `pki`'s CA as `cafile`, the shipped `acl` as `dir/store-edge.acl`. A
    /// password file, if the config names one, is the caller's (`dir/store-edge.passwd`).
    /// `acl_extra` is appended to the ACL (test-only identities, e.g. an observer).
    pub fn start_shipped(
        dir: &Path,
        conf_name: &str,
        pki: &crate::pki::Pki,
        acl_extra: &str,
    ) -> Self {
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).expect("create certs dir");
        let server = pki.server("broker");
        std::fs::copy(&server.cert, certs.join("broker.pem")).expect("copy broker cert");
        std::fs::copy(&server.key, certs.join("broker.key")).expect("copy broker key");
        std::fs::copy(&pki.ca_file, certs.join("hq-ca.pem")).expect("copy CA");
        let acl = std::fs::read_to_string(shipped_dir().join("acl")).expect("read shipped acl");
        std::fs::write(dir.join("store-edge.acl"), acl + acl_extra).expect("write acl");
        let dir_owned = dir.to_path_buf();
        let conf_name = conf_name.to_owned();
        Self::start_with_config(dir, move |port, persistence_dir, log_file| {
            shipped_config(&conf_name, &dir_owned, port, persistence_dir, log_file)
        })
    }

    /// Starts the broker on a free port with the config `make(port, persistence_dir, log_file)`
    /// written to `dir/mosquitto.conf`.
    pub fn start_with_config(dir: &Path, make: impl FnOnce(u16, &Path, &Path) -> String) -> Self {
        std::fs::create_dir_all(dir).expect("create mosquitto dir");
        let port = ports::free_port();
        let persistence_dir = dir.join("persistence");
        std::fs::create_dir_all(&persistence_dir).expect("create persistence dir");
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            make(port, &persistence_dir, &dir.join("mosquitto.log")),
        )
        .expect("write mosquitto.conf");
        let proc = Proc::new(
            "mosquitto (stdout/stderr)",
            crate::bins::mosquitto(),
            [std::ffi::OsString::from("-c"), conf.into_os_string()],
            dir.join("mosquitto.stderr.log"),
        );
        let mut m = Self {
            port,
            dir: dir.to_path_buf(),
            persistence_dir,
            proc,
        };
        m.start();
        m
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        ports::localhost(self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// `Ok` unless the broker exited on its own.
    pub fn check_not_crashed(&mut self) -> Result<(), String> {
        self.proc.check_not_crashed()
    }

    /// Starts the broker again on the same port and waits until it accepts connections.
    pub fn start(&mut self) {
        self.proc.start();
        let addr = self.addr();
        let proc = &mut self.proc;
        if let Err(e) = ports::wait_accepts(addr, START_TIMEOUT, || proc.check_running()) {
            panic!(
                "mosquitto did not start on {addr}: {e}\nbroker log:\n{}",
                crate::process::tail(&self.dir.join("mosquitto.log"), 30)
            );
        }
    }

    /// Graceful stop: SIGTERM, the broker saves its database and exits. Panics if it does not
    /// exit within 10 s.
    pub fn stop(&mut self) {
        let status = self.proc.terminate(Duration::from_secs(10));
        assert!(
            status.is_some(),
            "mosquitto did not exit within 10 s of SIGTERM"
        );
        assert!(
            !ports::accepts(self.addr()),
            "port {} still accepts after mosquitto stopped",
            self.port
        );
    }

    /// Crash: SIGKILL, nothing saved since the last autosave.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Deletes everything in the persistence directory. The broker must be stopped.
    pub fn wipe(&mut self) {
        assert!(
            !self.proc.is_running(),
            "wipe() needs the broker stopped or killed first"
        );
        for entry in std::fs::read_dir(&self.persistence_dir).expect("read persistence dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        }
        self.proc.note("persistence directory wiped");
    }

    /// Files in the persistence directory (`mosquitto.db` once saved).
    pub fn persistence_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.persistence_dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    }

    /// Messages the broker holds now (queued for offline persistent sessions, in flight,
    /// retained), from its `$SYS/broker/store/messages/count` topic (updated every second).
    /// `None` when the broker is down or did not answer within 3 s.
    pub fn stored_messages(&self) -> Option<u64> {
        let timeout = Duration::from_secs(3);
        let (mut probe, _) =
            MqttProbe::connect(self.addr(), "store-tests-sys-probe", true, timeout).ok()?;
        probe
            .subscribe("$SYS/broker/store/messages/count", 0)
            .ok()?;
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            let got = probe.receive_for(Duration::from_millis(200)).ok()?;
            if let Some(m) = got.last() {
                let n = String::from_utf8_lossy(&m.payload).trim().parse().ok();
                probe.disconnect();
                return n;
            }
        }
        None
    }

    /// The last lines of the broker's own log file.
    pub fn log_tail(&self, lines: usize) -> String {
        crate::process::tail(&self.dir.join("mosquitto.log"), lines)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- last 30 lines of mosquitto.log ({}) ----\n{}\n---- end of mosquitto.log ----",
                self.dir.display(),
                self.log_tail(30)
            );
        }
        // `proc` kills the process when it drops.
    }
}

/// The broker's config text.
pub fn config(port: u16, persistence_dir: &Path, log_file: &Path) -> String {
    let mut c = format!(
        "# Written by the store-edge test harness.\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence true\n\
         persistence_location {}/\n\
         autosave_interval 1\n\
         max_queued_messages 0\n\
         max_inflight_messages 0\n\
         log_dest file {}\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         log_type information\n\
         connection_messages true\n\
         sys_interval 1\n\
         log_timestamp_format %Y-%m-%dT%H:%M:%S\n",
        persistence_dir.display(),
        log_file.display()
    );
    // As root, Mosquitto switches to the `mosquitto` user, which cannot write our temp dir.
    if is_root() {
        c.push_str("user root\n");
    }
    c
}

/// The repository's `config/mosquitto/`.
pub fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/mosquitto")
}

/// `config/mosquitto/{conf_name}` with `/etc/mosquitto/` moved to `dir`, the persistence
/// directory and the listener (`127.0.0.1:port`) replaced, and the harness's logging added.
/// Panics if the shipped file no longer has what is replaced (the test would then not test it).
pub fn shipped_config(
    conf_name: &str,
    dir: &Path,
    port: u16,
    persistence_dir: &Path,
    log_file: &Path,
) -> String {
    let path = shipped_dir().join(conf_name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut out = text.clone();
    for (from, to) in [
        ("/etc/mosquitto/".to_owned(), format!("{}/", dir.display())),
        (
            "/var/lib/mosquitto/".to_owned(),
            format!("{}/", persistence_dir.display()),
        ),
        (
            "\nlistener 8883\n".to_owned(),
            format!("\nlistener {port} 127.0.0.1\n"),
        ),
    ] {
        assert!(
            out.contains(&from),
            "{} no longer contains {from:?}",
            path.display()
        );
        out = out.replace(&from, &to);
    }
    out.push_str(&format!(
        "\n# Added by the store-edge test harness.\n\
         log_dest file {}\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         log_type information\n\
         connection_messages true\n\
         log_timestamp_format %Y-%m-%dT%H:%M:%S\n",
        log_file.display()
    ));
    if is_root() {
        out.push_str("user root\n");
    }
    out
}

pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}
