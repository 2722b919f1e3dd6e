//! Runs each configured driver and restarts it with capped exponential backoff when it fails
//! (a device that vanished, a port in use), recording a `DeviceStatus` event each time, so a
//! flaky device never takes the agent down and never goes unnoticed at HQ (ARCHITECTURE.md invariant 7).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use store_drivers::{clock, DriverConfig, DriverError, Record, Sink};
use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::{Body, Event};
use store_runtime::backoff::Backoff;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::status::Board;

/// A driver that ran this long before failing starts its backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The running drivers, by id. A reload restarts only those whose config changed.
pub struct Drivers {
    sink: Sink,
    board: Arc<Board>,
    running: HashMap<String, (DriverConfig, JoinHandle<()>)>,
}

/// What a reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub started: Vec<String>,
    pub restarted: Vec<String>,
    pub stopped: Vec<String>,
    pub unchanged: Vec<String>,
}

impl Drivers {
    pub fn new(sink: Sink, board: Arc<Board>) -> Self {
        Self {
            sink,
            board,
            running: HashMap::new(),
        }
    }

    /// Makes the running set match `configs`: new ids start, removed ids stop, changed configs
    /// restart, unchanged drivers keep running untouched (their connections stay open).
    pub fn apply(&mut self, configs: &[DriverConfig]) -> Applied {
        let mut applied = Applied::default();
        let wanted: HashMap<&str, &DriverConfig> = configs.iter().map(|c| (c.id(), c)).collect();
        let ids: Vec<String> = self.running.keys().cloned().collect();
        for id in ids {
            if !wanted.contains_key(id.as_str()) {
                let (_, handle) = self.running.remove(&id).expect("listed");
                handle.abort();
                self.board.remove_driver(&id);
                applied.stopped.push(id);
            }
        }
        for config in configs {
            let id = config.id().to_owned();
            match self.running.get(&id) {
                Some((old, _)) if old == config => applied.unchanged.push(id),
                Some(_) => {
                    let (_, handle) = self.running.remove(&id).expect("present");
                    handle.abort();
                    self.start(config.clone());
                    applied.restarted.push(id);
                }
                None => {
                    self.start(config.clone());
                    applied.started.push(id);
                }
            }
        }
        applied
    }

    fn start(&mut self, config: DriverConfig) {
        let id = config.id().to_owned();
        let handle = tokio::spawn(supervise(
            config.clone(),
            self.sink.clone(),
            self.board.clone(),
        ));
        self.running.insert(id, (config, handle));
    }

    /// Stops every driver and waits for their tasks to end.
    pub async fn stop_all(self) {
        let handles: Vec<JoinHandle<()>> = self.running.into_values().map(|(_, h)| h).collect();
        for h in &handles {
            h.abort();
        }
        for h in handles {
            let _ = h.await;
        }
    }
}

async fn supervise(config: DriverConfig, sink: Sink, board: Arc<Board>) {
    let id = config.id().to_owned();
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        board.driver(&id, |d| {
            d.kind = config.kind().to_owned();
            d.state = "running".to_owned();
        });
        let started = Instant::now();
        let result = store_drivers::run(config.clone(), sink.clone()).await;
        if started.elapsed() > HEALTHY_RUN {
            backoff.reset();
        }
        let reason = match result {
            Ok(()) => "driver stopped".to_owned(),
            Err(DriverError::SinkClosed { .. }) => return,
            Err(e) => e.to_string(),
        };
        board.driver(&id, |d| {
            d.state = "restarting".to_owned();
            d.restarts += 1;
            d.last_error = Some(reason.clone());
        });
        let delay = backoff.next_delay();
        warn!(driver_id = %id, %reason, retry_in_ms = delay.as_millis() as u64, "Driver failed; restarting.");
        let mut event = Event {
            device_id: id.clone(),
            body: Some(Body::DeviceStatus(DeviceStatus {
                state: DeviceState::Disconnected as i32,
                reason,
                raw: Vec::new(),
            })),
            ..Default::default()
        };
        clock::stamp(&mut event);
        if sink.send(Record { event, reply: None }).await.is_err() {
            return; // the journal is gone: the agent is shutting down
        }
        tokio::time::sleep(delay).await;
        info!(driver_id = %id, kind = config.kind(), "Restarting driver.");
    }
}
