//! A child process with a log file: start, SIGKILL, SIGTERM, restart, and the tail of its log
//! when a test fails.
//!
//! stdout and stderr go to one log file that is appended to across restarts; the harness writes
//! a marker line before each start so the log reads as a history. When the `Proc` is dropped while
//! the thread is panicking, the log tail is printed to stderr, which the test runner shows with the
//! failure.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::signal::{self, Signal};

/// Lines of log shown when a test fails.
pub const TAIL_LINES: usize = 60;

static OWN_PROCESS_GROUP: AtomicBool = AtomicBool::new(false);

/// Starts every child started after this call in a process group of its own, so a Ctrl-C at the
/// terminal (SIGINT to the whole foreground group) reaches only this process, which then stops
/// its children itself, in its own order. For interactive programs (the `demo`); off by default.
pub fn children_in_own_process_group() {
    OWN_PROCESS_GROUP.store(true, Ordering::SeqCst);
}

/// One supervised child process.
pub struct Proc {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    log_path: PathBuf,
    child: Option<Child>,
    starts: u32,
    /// Set when the process was seen exiting on its own (not killed by us) since its last start.
    unexpected_exit: Option<ExitStatus>,
    /// Every exit we did not cause, over all starts.
    crashes: Vec<ExitStatus>,
}

impl Proc {
    /// Describes a process; nothing runs until [`Proc::start`].
    pub fn new(
        name: impl Into<String>,
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        log_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            envs: Vec::new(),
            log_path: log_path.into(),
            child: None,
            starts: 0,
            unexpected_exit: None,
            crashes: Vec::new(),
        }
    }

    /// Adds an environment variable for the next starts.
    pub fn env(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> &mut Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Starts the process. Panics if it is already running.
    pub fn start(&mut self) {
        assert!(
            !self.is_running(),
            "{} is already running (pid {:?})",
            self.name,
            self.pid()
        );
        self.starts += 1;
        self.unexpected_exit = None;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log_path.display()));
        let _ = writeln!(
            log,
            "==== harness: start #{} of {}: {} {} ====",
            self.starts,
            self.name,
            self.program.display(),
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let err = log.try_clone().expect("clone log file handle");
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err));
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        // Plain text in log files, whatever the child's logger thinks of terminals.
        cmd.env("NO_COLOR", "1");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        if OWN_PROCESS_GROUP.load(Ordering::SeqCst) {
            cmd.process_group(0);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} ({}): {e}", self.name, self.program.display()));
        self.child = Some(child);
    }

    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running; notes an exit we did not cause.
    pub fn is_running(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                self.unexpected_exit = Some(status);
                self.crashes.push(status);
                self.child = None;
                false
            }
            Err(_) => false,
        }
    }

    /// `Ok` while running; otherwise an error naming how it exited, with its log tail.
    pub fn check_running(&mut self) -> Result<(), String> {
        if self.is_running() {
            return Ok(());
        }
        let how = match self.unexpected_exit {
            Some(status) => format!("exited with {status}"),
            None => "is not running".to_string(),
        };
        Err(format!(
            "{} {how}; last log lines ({}):\n{}",
            self.name,
            self.log_path.display(),
            self.log_tail(TAIL_LINES)
        ))
    }

    /// `Ok` unless the process ever exited on its own (a crash, or a refusal to start), in any
    /// of its runs. A process the harness stopped or killed, or never started, is fine.
    pub fn check_not_crashed(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            self.is_running();
        }
        if self.crashes.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{} exited on its own ({}); last log lines ({}):\n{}",
            self.name,
            self.crashes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.log_path.display(),
            self.log_tail(TAIL_LINES)
        ))
    }

    /// SIGKILL, then reap. A process that already exited is just reaped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            match child.try_wait() {
                Ok(None) => signal::send(child.id(), Signal::Kill)
                    .unwrap_or_else(|e| panic!("SIGKILL {}: {e}", self.name)),
                Ok(Some(status)) => self.crashes.push(status),
                Err(_) => {}
            }
            let _ = child.wait();
            self.note(&format!("killed {} with SIGKILL", self.name));
        }
    }

    /// SIGTERM, wait up to `grace` for the exit, then SIGKILL. Returns the exit status when the
    /// process exited within the grace period.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            self.crashes.push(status);
            return Some(status);
        }
        signal::send(child.id(), Signal::Term)
            .unwrap_or_else(|e| panic!("SIGTERM {}: {e}", self.name));
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.note(&format!("{} stopped with SIGTERM: {status}", self.name));
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = signal::send(child.id(), Signal::Kill);
                let _ = child.wait();
                self.note(&format!(
                    "{} ignored SIGTERM for {grace:?}; killed with SIGKILL",
                    self.name
                ));
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last `lines` lines of the log file.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path, lines)
    }

    /// Appends a harness note to the log, so the log shows what the test did when.
    pub fn note(&self, msg: &str) {
        if let Ok(mut f) = OpenOptions::new().append(true).open(&self.log_path) {
            let _ = writeln!(f, "==== harness: {msg} ====");
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- last {TAIL_LINES} lines of {} log ({}) ----\n{}\n---- end of {} log ----",
                self.name,
                self.log_path.display(),
                self.log_tail(TAIL_LINES),
                self.name
            );
        }
        self.kill();
    }
}

/// The last `lines` lines of a text file (lossy UTF-8), or a note when it cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// CPU time the process has used (user + system), in clock ticks (see [`clock_ticks`]).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis,
    // where utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 when that cannot be asked).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Resident set size (`VmRSS`) and its peak (`VmHWM`) of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user + system) a process has used so far, in seconds, from `/proc/<pid>/stat`.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = cpu_ticks_of_stat(&stat)?;
    // SAFETY: sysconf only reads a constant of the running system.
    #[allow(unsafe_code)]
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_sec > 0).then(|| ticks as f64 / per_sec as f64)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted from the last `)`.
fn cpu_ticks_of_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_count_fields_after_the_command_name() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 1 0 9 1 2";
        assert_eq!(cpu_ticks_of_stat(stat), Some(22));
        assert_eq!(cpu_ticks_of_stat("42 (x) S 1"), None);
        let own = cpu_secs(std::process::id()).expect("own stat");
        assert!(own >= 0.0);
    }

    #[test]
    fn start_kill_restart_and_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let mut p = Proc::new(
            "sleeper",
            "/bin/sh",
            ["-c", "echo hello; exec sleep 30"],
            &log,
        );
        p.start();
        assert!(p.is_running());
        let pid = p.pid().unwrap();
        assert!(rss_kib(pid).is_some());
        crate::wait::wait_until(Duration::from_secs(5), "echo in log", || {
            p.log_tail(10).contains("hello")
        });
        p.kill();
        assert!(!p.is_running());
        assert!(p.check_running().is_err());
        p.start();
        assert_ne!(p.pid().unwrap(), pid);
        assert!(p.terminate(Duration::from_secs(5)).is_some());
        let tail = p.log_tail(100);
        assert!(tail.contains("start #2 of sleeper"), "{tail}");
        assert!(tail.contains("killed sleeper with SIGKILL"), "{tail}");
    }

    #[test]
    fn an_exit_we_did_not_cause_is_reported_with_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Proc::new(
            "crasher",
            "/bin/sh",
            ["-c", "echo 'boom: bad config'; exit 3"],
            dir.path().join("c.log"),
        );
        p.start();
        let err = crate::wait::wait_for(Duration::from_secs(5), "crasher exits", || {
            match p.check_running() {
                Ok(()) => Err("still running".into()),
                Err(e) => Ok(e),
            }
        });
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("boom: bad config"), "{err}");
        // The crash is remembered after a restart, and a deliberate kill is not a crash.
        p.start();
        std::thread::sleep(Duration::from_millis(200));
        p.kill();
        let err = p.check_not_crashed().unwrap_err();
        assert!(err.contains("exit status: 3"), "{err}");
        let mut fine = Proc::new(
            "fine",
            "/bin/sh",
            ["-c", "exec sleep 30"],
            dir.path().join("f.log"),
        );
        fine.start();
        fine.kill();
        fine.check_not_crashed().unwrap();
    }
}
