//! Free `127.0.0.1` TCP ports.
//!
//! Ports are picked below the kernel's ephemeral range (`ip_local_port_range`, usually from
//! 32768): the processes under test open many outgoing connections, and an outgoing connection
//! could otherwise take a port between the moment we pick it and the moment its owner binds it.
//! A port is never handed out twice by one test process, so a stopped broker can be restarted on
//! its port while other components get different ones. 1883 and other well-known ports are never
//! picked, so a system Mosquitto does not interfere.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Lowest port we pick.
const LOW: u16 = 20_000;
/// One past the highest port we pick, unless the ephemeral range starts lower.
const HIGH: u16 = 32_000;

/// A `127.0.0.1` port that is free now and was not handed out before by this process.
pub fn free_port() -> u16 {
    let high = ephemeral_start().map_or(HIGH, |start| start.min(HIGH));
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = rand::rng();
    if high > LOW + 100 {
        for _ in 0..1000 {
            let port = rng.random_range(LOW..high);
            if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                handed_out.insert(port);
                return port;
            }
        }
    }
    // Odd kernel configuration: fall back to a port the kernel picks.
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// `127.0.0.1:port`.
pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether something accepts TCP connections on `addr` now.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_ok()
}

/// Waits until `addr` accepts connections; `alive` is asked between attempts and may abort the
/// wait with a reason (e.g. "the process exited").
pub fn wait_accepts(
    addr: SocketAddr,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if accepts(addr) {
            return Ok(());
        }
        alive()?;
        if Instant::now() >= deadline {
            return Err(format!(
                "{addr} did not accept connections within {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ephemeral_start() -> Option<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for &p in &ports {
            assert!(p >= LOW && p != 1883, "{p}");
            if let Some(start) = ephemeral_start() {
                assert!(p < start.max(LOW + 101), "{p} is in the ephemeral range");
            }
            TcpListener::bind(("127.0.0.1", p)).expect("picked port is bindable");
        }
    }

    #[test]
    fn wait_accepts_sees_a_listener_and_times_out_without_one() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        wait_accepts(addr, Duration::from_secs(2), || Ok(())).unwrap();
        drop(l);
        let err = wait_accepts(addr, Duration::from_millis(200), || Ok(())).unwrap_err();
        assert!(err.contains("did not accept"), "{err}");
        let err = wait_accepts(addr, Duration::from_secs(5), || Err("exited".into())).unwrap_err();
        assert_eq!(err, "exited");
    }
}
