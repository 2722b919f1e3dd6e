//! A time limit per end-to-end test, so a hang fails the run instead of eating CI's budget.
//!
//! Every wait in the tests has its own timeout, but a process stuck where no timeout reaches
//! (a child in uninterruptible sleep, a deadlock inside the harness) would otherwise stall the
//! whole run until CI gives up, with no word about which test hung. [`Watchdog::arm`] starts a
//! thread that, once the limit passes, prints the test's name, SIGKILLs the test process's own
//! children (brokers, agents, collectors) and aborts, so the test binary fails at once and the
//! next one runs. `STORE_TESTS_LIMIT_SECS` sets the limit (600 s by default).

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

/// Default limit of one test; the slowest test takes well under a minute on an idle machine.
pub const DEFAULT_LIMIT_SECS: u64 = 600;

/// Disarms when dropped.
pub struct Watchdog {
    _disarm: Sender<()>,
}

impl Watchdog {
    /// Arms a watchdog for the test `name` with the configured limit.
    pub fn arm(name: &str) -> Self {
        let limit =
            Duration::from_secs(crate::env_u64("STORE_TESTS_LIMIT_SECS", DEFAULT_LIMIT_SECS));
        Self::arm_for(name, limit)
    }

    /// Arms a watchdog with an explicit limit.
    pub fn arm_for(name: &str, limit: Duration) -> Self {
        let (disarm, watch) = channel::<()>();
        let name = name.to_string();
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = watch.recv_timeout(limit) {
                eprintln!(
                    "[{name}] still running after {limit:?}: killing its processes and aborting \
                     (STORE_TESTS_LIMIT_SECS changes the limit)"
                );
                kill_children();
                std::process::abort();
            }
        });
        Self { _disarm: disarm }
    }
}

/// SIGKILLs every process whose parent is this process.
fn kill_children() {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if parent_of(pid) == Some(me) {
            // At worst the process is already gone.
            let _ = crate::signal::send(pid, crate::signal::Signal::Kill);
        }
    }
}

/// The parent pid from `/proc/<pid>/stat` (the field after the parenthesised command name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_of_a_child_is_us() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        assert_eq!(parent_of(child.id()), Some(std::process::id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_disarmed_watchdog_stays_quiet() {
        let dog = Watchdog::arm_for("quiet", Duration::from_millis(50));
        drop(dog);
        // Had the drop not disarmed it, the process would abort within this wait.
        std::thread::sleep(Duration::from_millis(200));
    }
}
