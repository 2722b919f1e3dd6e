//! A scanner unplugged and plugged back in, through the real agent binary: the supervisor
//! records DISCONNECTED with the reason, restarts the driver with backoff, and scans flow again
//! once the device is back (CONNECTED), all delivered to the collector.
//!
//! The "scanner" is a pseudo-terminal behind a stable symlink, as `/dev/serial/by-id/...` is for a
//! USB serial scanner: unplugging closes the pty and removes the link, replugging points the link
//! at a new pty.

use std::ffi::CStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use store_tests::stats::Stats;
use store_tests::wait::wait_for;
use store_tests::{serial, Stack};

/// A pty pair in raw mode; the test writes scans on `master`, the agent opens `path`.
struct Pty {
    master: File,
    _slave: OwnedFd,
    path: String,
}

fn open_pty() -> Pty {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let mut name = [0 as libc::c_char; 256];
    // SAFETY: termios is plain data set by cfmakeraw over a zeroed value; openpty writes two fds
    // into ints we own (null name: no unsized write); ttyname_r writes at most name.len() bytes
    // NUL-terminated into our buffer; each fd gets exactly one owner.
    #[allow(unsafe_code)]
    unsafe {
        let mut raw: libc::termios = std::mem::zeroed();
        libc::cfmakeraw(&mut raw);
        let rc = libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            &raw,
            std::ptr::null(),
        );
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // openpty's fds are inherited by child processes (the agent, the broker) unless marked
        // close-on-exec; an inherited master would keep the "unplugged" terminal alive.
        for fd in [master, slave] {
            assert_eq!(libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC), 0);
        }
        let master = File::from_raw_fd(master);
        let slave = OwnedFd::from_raw_fd(slave);
        let rc = libc::ttyname_r(slave.as_raw_fd(), name.as_mut_ptr(), name.len());
        assert_eq!(rc, 0, "ttyname_r failed");
        let path = CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
        Pty {
            master,
            _slave: slave,
            path,
        }
    }
}

fn plug(link: &Path) -> Pty {
    let pty = open_pty();
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(&pty.path, link).expect("symlink the scanner");
    pty
}

fn kinds(stats: &Stats, store: &str) -> (u64, u64) {
    let s = stats.store(store);
    (
        s.kinds.get("scan").copied().unwrap_or(0),
        s.kinds.get("device_status").copied().unwrap_or(0),
    )
}

#[test]
fn unplugged_scanner_is_restarted_and_scans_flow_again() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("scanner-by-id");
    let mut pty = plug(&link);
    let link_for_config = link.clone();
    let mut stack = Stack::with_mosquitto_and("device_replug", move |cfg| {
        cfg.extra_toml = format!(
            "\n[[drivers]]\ntype = \"serial_scanner\"\nid = \"till-scanner\"\npath = {:?}\nframing = \"cr_lf\"\n",
            link_for_config.display().to_string()
        );
    });
    let store = stack.store_id();

    // Plugged in: CONNECTED, then the scan.
    pty.master.write_all(b"4006381333931\r\n").unwrap();
    wait_for(Duration::from_secs(30), "first scan at HQ", || {
        let stats = stack.stats()?;
        match kinds(&stats, &store) {
            (1, connected) if connected >= 1 => Ok(()),
            other => Err(format!("(scans, statuses) = {other:?}")),
        }
    });

    // Unplug: the agent records DISCONNECTED (supervisor) and keeps retrying with backoff.
    drop(pty);
    std::fs::remove_file(&link).unwrap();
    wait_for(Duration::from_secs(30), "DISCONNECTED at HQ", || {
        let stats = stack.stats()?;
        match kinds(&stats, &store) {
            (1, statuses) if statuses >= 2 => Ok(()),
            other => Err(format!("(scans, statuses) = {other:?}")),
        }
    });
    let before_replug = kinds(&stack.stats().unwrap(), &store).1;

    // Replug on the same stable path: the next restart opens it (CONNECTED) and scans flow.
    let mut pty = plug(&link);
    wait_for(Duration::from_secs(90), "CONNECTED again", || {
        let stats = stack.stats()?;
        let (_, statuses) = kinds(&stats, &store);
        if statuses > before_replug {
            Ok(())
        } else {
            Err(format!("{statuses} statuses"))
        }
    });
    pty.master.write_all(b"4006381333948\r\n").unwrap();
    wait_for(Duration::from_secs(30), "second scan at HQ", || {
        let stats = stack.stats()?;
        match kinds(&stats, &store) {
            (2, _) => Ok(()),
            other => Err(format!("(scans, statuses) = {other:?}")),
        }
    });
    stack.alive().unwrap();
}
