//! A scanner unplugged and plugged back in, through the real agent binary: the supervisor
//! records DISCONNECTED with the reason, restarts the driver with backoff, and scans flow again
//! once the device is back (CONNECTED), all delivered to the collector.
//!
//! The "scanner" is a pseudo-terminal behind a stable symlink, as `/dev/serial/by-id/...` is for a
//! USB serial scanner: unplugging closes the pty and removes the link, replugging points the link
//! at a new pty.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use store_tests::pty::Pty;
use store_tests::stats::Stats;
use store_tests::wait::wait_for;
use store_tests::{serial, Stack};

fn plug(link: &Path) -> Pty {
    let pty = Pty::open().expect("open a pty");
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(pty.path(), link).expect("symlink the scanner");
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
