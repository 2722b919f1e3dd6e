//! The task that polls rumqttc's event loop.
//!
//! rumqttc's event loop must be polled continuously, and `publish().await` / `ack().await` block
//! when its request channel is full, which deadlocks if called from the polling task
//! (rumqtt#1025). So this task does nothing but poll, hand each event to a [`PollHandler`] that
//! turns it into a notice for the rest of the binary, forward notices over an unbounded channel,
//! and back off between reconnect attempts. The handler must not await and must not block on the
//! client (`try_*` requests only).
//!
//! Invariants the skeleton keeps for every handler: the backoff restarts from its first bound on
//! each CONNACK; after an error the loop sleeps one jittered delay before polling again (rumqttc
//! reconnects on the next poll); a notice that cannot be delivered after an error ends the task.
//!
//! With a [`Probe`], a long backoff wait ends as soon as the broker's port accepts again (see
//! [`crate::probe`]); after an attempt a probe triggered fails, the next wait is not probed, so a
//! port that accepts while the broker behind it is down costs no more than plain backoff.

use std::time::Duration;

use rumqttc::{ConnectionError, Event, EventLoop, Packet};
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::probe::{Probe, Waited};

/// What to do after a connection error.
#[derive(Debug)]
pub enum AfterError<N> {
    /// Forward the notice, back off, then poll again (reconnect).
    Retry(N),
    /// Forward the notice, if any, and end the task (a deliberate disconnect).
    Stop(Option<N>),
}

/// A binary's handling of its connection's events.
pub trait PollHandler: Send + 'static {
    /// What the polling task reports to the rest of the binary.
    type Notice: Send + 'static;

    /// An event from the event loop (a CONNACK has already reset the backoff). Returns the notice
    /// to forward, if any.
    fn on_event(&mut self, event: Event) -> Option<Self::Notice>;

    /// The connection failed or dropped; the next attempt comes after `retry_in`. The event loop is
    /// lent so the handler can drop requests rumqttc still holds.
    fn on_error(
        &mut self,
        eventloop: &mut EventLoop,
        error: &ConnectionError,
        retry_in: Duration,
    ) -> AfterError<Self::Notice>;

    /// A notice from [`PollHandler::on_event`] could not be delivered: the receiver is gone.
    /// Returns whether to end the task (the default) or to keep polling, e.g. so a disconnect
    /// requested during shutdown still goes out.
    fn on_receiver_gone(&mut self) -> bool {
        true
    }
}

/// Polls `eventloop` until the handler stops it or the receiver of `notices` is gone. With a
/// `probe`, long waits between reconnect attempts end when the broker's port accepts.
pub async fn run<H: PollHandler>(
    mut eventloop: EventLoop,
    mut backoff: Backoff,
    probe: Option<Probe>,
    notices: mpsc::UnboundedSender<H::Notice>,
    mut handler: H,
) {
    let (host, port) = eventloop.mqtt_options.broker_address();
    // Whether the attempt in progress was started by a probe (and, failing, must not be
    // followed by another probed wait).
    let mut probed = false;
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                    backoff.reset();
                    probed = false;
                }
                if let Some(notice) = handler.on_event(event) {
                    if notices.send(notice).is_err() && handler.on_receiver_gone() {
                        return;
                    }
                }
            }
            Err(error) => {
                let delay = backoff.next_delay();
                match handler.on_error(&mut eventloop, &error, delay) {
                    AfterError::Retry(notice) => {
                        if notices.send(notice).is_err() {
                            return;
                        }
                        probed = match (probe, probed) {
                            (Some(p), false) => p.wait(delay, &host, port).await == Waited::Probed,
                            _ => {
                                tokio::time::sleep(delay).await;
                                false
                            }
                        };
                    }
                    AfterError::Stop(notice) => {
                        if let Some(notice) = notice {
                            let _ = notices.send(notice);
                        }
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::{AsyncClient, MqttOptions};

    /// Counts errors; stops after `stop_after`.
    struct Counting {
        errors: u32,
        stop_after: u32,
    }

    impl PollHandler for Counting {
        type Notice = String;

        fn on_event(&mut self, event: Event) -> Option<String> {
            Some(format!("{event:?}"))
        }

        fn on_error(
            &mut self,
            _eventloop: &mut EventLoop,
            _error: &ConnectionError,
            retry_in: Duration,
        ) -> AfterError<String> {
            // The delay handed over is the one the loop sleeps: within the backoff's bound.
            assert!(retry_in <= Duration::from_millis(4), "{retry_in:?}");
            self.errors += 1;
            if self.errors >= self.stop_after {
                AfterError::Stop(Some(format!("stopped after {}", self.errors)))
            } else {
                AfterError::Retry(format!("error {}", self.errors))
            }
        }
    }

    /// A loopback port nothing listens on: every connection attempt is refused at once.
    fn refused_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        port
    }

    #[tokio::test]
    async fn errors_back_off_and_stop_forwards_the_last_notice() {
        let opts = MqttOptions::new("t", "127.0.0.1", refused_port());
        let (_client, eventloop) = AsyncClient::new(opts, 10);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let handler = Counting {
            errors: 0,
            stop_after: 3,
        };
        run(eventloop, Backoff::from_millis(1, 4), None, tx, handler).await;
        let mut got = Vec::new();
        while let Some(n) = rx.recv().await {
            got.push(n);
        }
        assert_eq!(got, ["error 1", "error 2", "stopped after 3"]);
    }

    #[tokio::test]
    async fn a_gone_receiver_ends_the_task_after_an_error() {
        let opts = MqttOptions::new("t", "127.0.0.1", refused_port());
        let (_client, eventloop) = AsyncClient::new(opts, 10);
        let (tx, rx) = mpsc::unbounded_channel();
        drop(rx);
        let handler = Counting {
            errors: 0,
            stop_after: u32::MAX,
        };
        // Returns after the first error instead of reconnecting forever.
        tokio::time::timeout(
            Duration::from_secs(10),
            run(eventloop, Backoff::from_millis(1, 1), None, tx, handler),
        )
        .await
        .expect("the task ends");
    }
}
