//! One peer setup: HQ's broker, the store's broker bridged to it, and HQ's subscriber.
//!
//! Fields drop in order: subscriber, store broker, HQ broker (each process killed on drop).

use std::path::Path;
use std::time::Duration;

use super::{bridge, CentralSubscriber, Durability};
use crate::mqtt_probe::MqttProbe;
use crate::Mosquitto;

/// How long the bridge may take to connect and forward the warm-up probe.
const WARM_UP: Duration = Duration::from_secs(30);

pub struct PeerStack {
    pub subscriber: CentralSubscriber,
    /// The store's broker (persistence, bridge).
    pub local: Mosquitto,
    /// HQ's broker.
    pub central: Mosquitto,
    pub durability: Durability,
}

impl PeerStack {
    /// Starts both brokers under `dir` and the subscriber, and waits until a probe published to
    /// the store's broker arrives at the subscriber (bridge connected, subscription active).
    pub fn start(dir: &Path, durability: Durability) -> Result<Self, String> {
        let central = Mosquitto::start_in(&dir.join("central"));
        let central_port = central.port();
        let local = Mosquitto::start_with_config(&dir.join("local"), |port, pdir, log| {
            bridge::local_config(port, pdir, log, central_port, durability)
        });
        let subscriber = CentralSubscriber::start(central.addr(), "bench-hq-subscriber");
        let stack = Self {
            subscriber,
            local,
            central,
            durability,
        };
        stack.probe()?;
        Ok(stack)
    }

    /// Publishes one probe (no event index) to the store's broker and waits for it at HQ.
    pub fn probe(&self) -> Result<(), String> {
        let before = self.subscriber.arrivals().other;
        let (mut p, _) = MqttProbe::connect(
            self.local.addr(),
            "bench-probe",
            true,
            Duration::from_secs(5),
        )?;
        let deadline = std::time::Instant::now() + WARM_UP;
        // Until the bridge is up the probe is queued for it; resend now and then anyway, in case
        // the subscriber's subscription came after the bridge forwarded the first one.
        loop {
            p.publish("bench/probe", b"probe", false)?;
            let wait = Duration::from_millis(500);
            if self
                .subscriber
                .wait(wait, "the probe", |a| a.other > before)
                .is_ok()
            {
                p.disconnect();
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "the bridge did not deliver a probe within {WARM_UP:?}\nstore broker log:\n{}",
                    self.local.log_tail(20)
                ));
            }
        }
    }
}
