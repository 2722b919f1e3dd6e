//! Stopping the demo in order: Ctrl-C and SIGTERM only raise a flag, every loop of the demo
//! polls it, and the children are then stopped agents first, collector last.
//!
//! The children run in their own process group, so a Ctrl-C at the terminal reaches only the
//! demo; were it to kill the demo outright, the agents and the collector would be left running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::stores::Store;
use crate::Collector;

/// Grace period of SIGTERM before SIGKILL when stopping a process.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Set by SIGINT (Ctrl-C) or SIGTERM; every loop of the demo polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether SIGINT or SIGTERM has asked the demo to stop.
pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Makes SIGINT and SIGTERM set `STOP` instead of killing the process, so the children can be
/// stopped in order first (they run in their own process group and do not see a Ctrl-C).
#[allow(unsafe_code)]
pub fn install_stop_handler() -> std::io::Result<()> {
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to a static atomic, which is async-signal-safe. The
        // sigaction struct is zero-initialised (a valid value for this plain C struct), then
        // given the handler and an empty mask, and lives across the call; the previous action
        // is not asked for (null pointer, allowed by sigaction(2)).
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sleeps `d` in small steps; false if a stop was asked for meanwhile.
pub fn nap(d: Duration) -> bool {
    let end = Instant::now() + d;
    while !stopping() {
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
    false
}

/// SIGTERM the agents, then the collector, each waited for (SIGKILL after [`STOP_GRACE`]).
pub fn stop_processes(stores: &mut [&mut Store], collector: &mut Collector) {
    for s in stores.iter_mut() {
        let ran = s.agent.check_running().is_ok();
        let status = s.agent.terminate(STOP_GRACE);
        report_stop(&format!("store-agent {}", s.id), ran, status);
    }
    let ran = collector.check_running().is_ok();
    let status = collector.terminate(STOP_GRACE);
    report_stop("store-collector", ran, status);
}

fn report_stop(name: &str, was_running: bool, status: Option<std::process::ExitStatus>) {
    match (was_running, status) {
        (false, _) => println!("{name} was not running"),
        (true, Some(s)) => println!("stopped {name} ({s})"),
        (true, None) => println!("{name} ignored SIGTERM for {STOP_GRACE:?}: killed"),
    }
}
