//! Reconnect probing: a long backoff wait is cut short when the broker's port accepts again.
//!
//! Full-jitter backoff grows to its cap (30 s by default) during an outage, so without this a
//! store would stay blind for up to that long after the broker returns. A TCP connect (no TLS,
//! no MQTT: the port is opened and closed) costs the broker side one SYN and one RST while it is
//! down, and tells within one probe interval when it is back.
//!
//! Fleet arithmetic, with `every` = 1 s and 10,000 stores cut off together:
//! - while HQ is down, each store probes once per `every/2..3·every/2` (uniform): about
//!   10,000 connection attempts a second, each refused by the kernel (or lost, if the host is
//!   gone) before any TLS or MQTT work;
//! - once the port accepts, each store still waits a uniform `0..=every` before its real
//!   reconnect, on top of its own probe phase: the MQTT+TLS handshakes spread over about
//!   2.5 s, some 4,000 a second at the peak, instead of all within the same second;
//! - a port that accepts while the broker behind it does not (a load balancer in front of a
//!   dead broker) would turn probing into full reconnect attempts every second: after an
//!   attempt that a probe triggered fails, the next wait is the plain backoff delay, unprobed.

use std::time::Duration;

use rand::Rng;
use tokio::net::TcpStream;

/// How the wait before the next reconnect attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The whole backoff delay passed.
    Elapsed,
    /// A probe found the port accepting; the jittered spread after it has passed too.
    Probed,
}

/// Probe settings: one TCP connect per `every` (jittered) during long backoff waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    every: Duration,
}

impl Probe {
    /// Probing every `every_ms` milliseconds (at least 50); `0` turns probing off (`None`).
    pub fn from_millis(every_ms: u64) -> Option<Self> {
        (every_ms > 0).then(|| Self {
            every: Duration::from_millis(every_ms.max(50)),
        })
    }

    /// The probe interval.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// Waits `delay`, probing `host:port` meanwhile when `delay` is longer than one probe
    /// interval (a shorter wait gains nothing from a probe). Returns as soon as a probe
    /// connects and a uniform `0..=every` spread has passed.
    pub async fn wait(&self, delay: Duration, host: &str, port: u16) -> Waited {
        if delay <= self.every {
            tokio::time::sleep(delay).await;
            return Waited::Elapsed;
        }
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            let step = jitter(self.every / 2, self.every + self.every / 2);
            let next = tokio::time::Instant::now() + step;
            if next >= deadline {
                tokio::time::sleep_until(deadline).await;
                return Waited::Elapsed;
            }
            tokio::time::sleep_until(next).await;
            if accepts(host, port, self.every).await {
                tokio::time::sleep(jitter(Duration::ZERO, self.every)).await;
                return Waited::Probed;
            }
        }
    }
}

/// Whether a TCP connection to `host:port` opens within `timeout` (closed at once).
pub async fn accepts(host: &str, port: u16, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}

/// Uniform in `low..=high`, millisecond resolution.
fn jitter(low: Duration, high: Duration) -> Duration {
    let (lo, hi) = (low.as_millis() as u64, high.as_millis() as u64);
    Duration::from_millis(rand::rng().random_range(lo..=hi.max(lo)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn zero_turns_probing_off_and_tiny_values_are_raised() {
        assert_eq!(Probe::from_millis(0), None);
        assert_eq!(
            Probe::from_millis(1).unwrap().every(),
            Duration::from_millis(50)
        );
    }

    #[tokio::test]
    async fn a_long_wait_ends_soon_after_the_port_accepts() {
        let port = free_port();
        let probe = Probe::from_millis(200).unwrap();
        let started = Instant::now();
        let listen_after = Duration::from_millis(500);
        let opener = tokio::spawn(async move {
            tokio::time::sleep(listen_after).await;
            tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap()
        });
        let waited = tokio::time::timeout(
            Duration::from_secs(20),
            probe.wait(Duration::from_secs(60), "127.0.0.1", port),
        )
        .await
        .expect("the probe ends a 60 s wait");
        let took = started.elapsed();
        assert_eq!(waited, Waited::Probed);
        // At most one jittered step (300 ms), one connect and one spread (200 ms) after the
        // port opened; far below the 60 s backoff, with room for a loaded machine.
        assert!(took >= listen_after, "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        drop(opener.await.unwrap());
    }

    #[tokio::test]
    async fn a_closed_port_waits_the_whole_delay() {
        let port = free_port();
        let probe = Probe::from_millis(100).unwrap();
        let started = Instant::now();
        let waited = probe
            .wait(Duration::from_millis(700), "127.0.0.1", port)
            .await;
        assert_eq!(waited, Waited::Elapsed);
        assert!(started.elapsed() >= Duration::from_millis(700));
    }

    #[tokio::test]
    async fn a_short_delay_is_not_probed() {
        // Listening, yet a delay within one interval is simply slept.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let probe = Probe::from_millis(1000).unwrap();
        let waited = probe
            .wait(Duration::from_millis(300), "127.0.0.1", port)
            .await;
        assert_eq!(waited, Waited::Elapsed);
    }
}
