//! The conditions of a run, written next to the numbers: date, machine, disk, load, versions.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// Output of a command, trimmed (empty when it cannot run).
fn cmd(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.trim().to_owned()
        })
        .unwrap_or_default()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The first three fields of `/proc/loadavg`.
pub fn load() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// UTC now, as `date -u` prints it in ISO 8601.
pub fn now_utc() -> String {
    cmd("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
}

/// Date, CPU, memory, the disk under `tmp`, kernel, Mosquitto version, the binaries measured.
pub fn context(tmp: &Path) -> Value {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let mem = read("/proc/meminfo")
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let disk = cmd(
        "df",
        &["--output=source,fstype,size", &tmp.to_string_lossy()],
    )
    .lines()
    .last()
    .unwrap_or("")
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ");
    let device = disk.split_whitespace().next().unwrap_or("").to_owned();
    let block = device
        .trim_start_matches("/dev/")
        .trim_end_matches(char::is_numeric);
    let rotational = read(&format!("/sys/block/{block}/queue/rotational"));
    let mosquitto = cmd(&store_tests::bins::mosquitto().to_string_lossy(), &["-h"])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    json!({
        "date": now_utc(),
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory": mem,
        "tmp_dir": tmp.to_string_lossy(),
        "disk": disk,
        "disk_rotational": rotational,
        "kernel": cmd("uname", &["-r"]),
        "mosquitto": mosquitto,
        "load_at_start": load(),
        "agent_bin": store_tests::bins::agent().to_string_lossy(),
        "collector_bin": store_tests::bins::collector().to_string_lossy(),
    })
}
