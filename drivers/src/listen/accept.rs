//! [`Listener`]: the accept loop with a connection cap and accept-error backoff.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use super::{stats_for, warn_if_every_interface, ListenerStats, LogLimiter, LOG_EVERY};
use crate::DriverError;

/// First pause after an accept error that is not the client's doing (file descriptors or kernel
/// memory exhausted); doubles per consecutive error up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A driver's listening socket under a connection cap.
#[derive(Debug)]
pub struct Listener {
    id: String,
    inner: TcpListener,
    gate: Arc<Semaphore>,
    max_connections: usize,
    /// Written to each connection refused for the cap, before closing it.
    refusal: &'static [u8],
    stats: Arc<ListenerStats>,
    busy_log: LogLimiter,
    error_log: LogLimiter,
    /// Consecutive accept errors that paused accepting.
    failures: u32,
}

/// A connection's place under the cap, given back when dropped: keep it as long as the
/// connection is open.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    stats: Arc<ListenerStats>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Listener {
    /// Binds `addr` for driver `id`.
    pub async fn bind(
        id: &str,
        addr: SocketAddr,
        max_connections: usize,
        refusal: &'static [u8],
    ) -> Result<Self, DriverError> {
        let inner = crate::bind(id, addr).await?;
        warn_if_every_interface(id, addr);
        Ok(Self::new(id, inner, max_connections, refusal))
    }

    /// Wraps a bound listener (tests bind port 0 and pass it in).
    pub fn new(
        id: &str,
        inner: TcpListener,
        max_connections: usize,
        refusal: &'static [u8],
    ) -> Self {
        let max_connections = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            id: id.to_owned(),
            inner,
            gate: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            refusal,
            stats: stats_for(id),
            busy_log: LogLimiter::new(LOG_EVERY),
            error_log: LogLimiter::new(LOG_EVERY),
            failures: 0,
        }
    }

    /// The counters of this driver's listener.
    pub fn stats(&self) -> &Arc<ListenerStats> {
        &self.stats
    }

    /// The next connection to serve, with its [`Slot`]. Connections beyond the cap are refused
    /// here, and accept errors are waited out; an error comes back only when the listening socket
    /// itself is unusable (the supervisor then restarts the driver, binding afresh).
    pub async fn accept(&mut self) -> Result<(TcpStream, SocketAddr, Slot), DriverError> {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    self.failures = 0;
                    match self.gate.clone().try_acquire_owned() {
                        Ok(permit) => {
                            self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                            self.stats.open.fetch_add(1, Ordering::Relaxed);
                            let slot = Slot {
                                _permit: permit,
                                stats: self.stats.clone(),
                            };
                            return Ok((stream, peer, slot));
                        }
                        Err(_) => self.refuse(stream, peer),
                    }
                }
                Err(e) => self.accept_failed(e).await?,
            }
        }
    }

    /// Answers with the refusal and closes, without waiting for anything: a client that does not
    /// read cannot hold the accept loop up.
    fn refuse(&self, stream: TcpStream, peer: SocketAddr) {
        let total = self.stats.refused_busy.fetch_add(1, Ordering::Relaxed) + 1;
        // A fresh socket's send buffer is empty, so this non-blocking write takes the short
        // refusal whole. (Through std because tokio may not have seen the socket writable yet.)
        if let Ok(mut std) = stream.into_std() {
            let _ = std.write(self.refusal);
        }
        if let Some(not_logged) = self.busy_log.allow() {
            warn!(
                driver_id = %self.id,
                %peer,
                max_connections = self.max_connections,
                not_logged,
                refused_total = total,
                "Refused a connection: too many open."
            );
        }
    }

    async fn accept_failed(&mut self, e: std::io::Error) -> Result<(), DriverError> {
        let total = self.stats.accept_errors.fetch_add(1, Ordering::Relaxed) + 1;
        if is_listener_broken(&e) {
            return Err(DriverError::Io {
                id: self.id.clone(),
                source: e,
            });
        }
        let pause = if is_connection_gone(&e) {
            Duration::ZERO
        } else {
            let pause = BACKOFF_MIN
                .saturating_mul(1 << self.failures.min(10))
                .min(BACKOFF_MAX);
            self.failures = self.failures.saturating_add(1);
            pause
        };
        if let Some(not_logged) = self.error_log.allow() {
            warn!(
                driver_id = %self.id,
                error = %e,
                pause_ms = pause.as_millis() as u64,
                not_logged,
                accept_errors_total = total,
                "Accept failed; still listening."
            );
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        Ok(())
    }
}

/// The connection went away between the kernel's handshake and our accept: nothing to wait for.
fn is_connection_gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) || matches!(e.raw_os_error(), Some(libc::EPROTO))
}

/// Errors that no amount of waiting cures: the socket is not (or no longer) a listener.
fn is_listener_broken(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn classifies_accept_errors() {
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert!(!is_connection_gone(&emfile) && !is_listener_broken(&emfile));
        let enfile = std::io::Error::from_raw_os_error(libc::ENFILE);
        assert!(!is_connection_gone(&enfile) && !is_listener_broken(&enfile));
        let aborted = std::io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(aborted.kind(), ErrorKind::ConnectionAborted);
        assert!(is_connection_gone(&aborted));
        assert!(is_listener_broken(&std::io::Error::from_raw_os_error(
            libc::EBADF
        )));
    }

    #[tokio::test]
    async fn backoff_doubles_to_one_second_and_resets() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut listener = Listener::new("backoff-test", inner, 1, b"busy\n");
        tokio::time::pause();
        let mut pauses = Vec::new();
        for _ in 0..6 {
            let start = tokio::time::Instant::now();
            listener
                .accept_failed(std::io::Error::from_raw_os_error(libc::EMFILE))
                .await
                .unwrap();
            // Tokio's timer may round a sleep up by a millisecond.
            pauses.push(start.elapsed().as_millis() / 10 * 10);
        }
        assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000]);
        let start = tokio::time::Instant::now();
        listener
            .accept_failed(std::io::Error::from_raw_os_error(libc::ECONNABORTED))
            .await
            .unwrap();
        assert_eq!(start.elapsed().as_millis(), 0);
        assert!(listener
            .accept_failed(std::io::Error::from_raw_os_error(libc::EBADF))
            .await
            .is_err());
        assert_eq!(listener.stats().accept_errors.load(Ordering::Relaxed), 8);
    }
}
