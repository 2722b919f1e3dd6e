//! Runs each configured driver and restarts it with capped exponential backoff when it fails
//! (a device that vanished, a port in use), recording a `DeviceStatus` event each time, so a
//! flaky device never takes the agent down and never goes unnoticed at HQ.

use std::time::{Duration, Instant};

use store_drivers::{clock, DriverConfig, DriverError, Record, Sink};
use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::{Body, Event};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::backoff::Backoff;

/// A driver that ran this long before failing starts its backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Starts one supervised task per driver.
pub fn spawn_drivers(configs: &[DriverConfig], sink: &Sink) -> Vec<JoinHandle<()>> {
    configs
        .iter()
        .cloned()
        .map(|config| tokio::spawn(supervise(config, sink.clone())))
        .collect()
}

async fn supervise(config: DriverConfig, sink: Sink) {
    let id = config.id().to_owned();
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
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
