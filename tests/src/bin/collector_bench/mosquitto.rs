//! The `mosquitto` measurement: a Mosquitto broker on a free 127.0.0.1 port (no queue limits)
//! and the real `store-collector` binary; `--publishers` connections publish the batches at
//! QoS 1. Timed from the first publish until `/v1/stats` reports every event applied, so the
//! number is what a deployment gets, broker and process boundaries included.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prost::Message;
use store_proto::topics;
use store_proto::v1::CollectorStatus;
use store_tests::agent::toml_str;
use store_tests::benchkit::{metric, Metric};
use store_tests::mqtt_probe::MqttProbe;
use store_tests::{Collector, CollectorConfig, Mosquitto, TestEnv};

use crate::workload::{catalogue_csv, workload};
use crate::Opts;

/// How long the collector may take to come online on the broker.
const ONLINE_TIMEOUT: Duration = Duration::from_secs(30);

pub fn through_mosquitto(opts: &Opts) -> Result<Vec<Metric>, String> {
    let env = TestEnv::new("collector-bench");
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let dir = env.subdir("collector");
    let catalogue = dir.join("catalogue.csv");
    std::fs::write(&catalogue, catalogue_csv()).map_err(|e| e.to_string())?;
    let mut config = CollectorConfig::new(&dir, broker.port());
    config.extra_toml = format!(
        "\n[intel]\ncatalogue = {}\n",
        toml_str(&catalogue.to_string_lossy())
    );
    let collector = Collector::start(&dir, config);
    wait_online(&broker, "hq-1")?;

    let work = workload(opts);
    let total_events = work.events;
    let publishers = opts.publishers.max(1);
    // Each connection takes whole agents, so each agent's batches stay in seq order.
    let mut shares: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); publishers];
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (topic, payload) in work.batches {
        let next = owner.len() % publishers;
        let p = *owner.entry(topic.clone()).or_insert(next);
        shares[p].push((topic, payload));
    }
    let addr = broker.addr();
    let started = Instant::now();
    let handles: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(i, share)| {
            std::thread::spawn(move || -> Result<Instant, String> {
                let (mut client, _) = MqttProbe::connect(
                    addr,
                    &format!("bench-publisher-{i}"),
                    true,
                    Duration::from_secs(30),
                )?;
                for (topic, payload) in &share {
                    client.publish(topic, payload, false)?;
                }
                let done = Instant::now();
                client.disconnect();
                Ok(done)
            })
        })
        .collect();
    let mut last_puback = started;
    for h in handles {
        let done = h.join().map_err(|_| "publisher panicked".to_owned())??;
        last_puback = last_puback.max(done);
    }
    let deadline = Instant::now() + Duration::from_secs(1_800);
    let applied_at = loop {
        let stats = collector.stats()?;
        if stats.applied_total >= total_events {
            break Instant::now();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "applied {} of {total_events} events in time",
                stats.applied_total
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = applied_at - started;
    let stats = collector.stats()?;
    if stats.applied_total != total_events {
        return Err(format!(
            "applied {} events, expected {total_events}",
            stats.applied_total
        ));
    }
    Ok(vec![
        metric(
            "events_per_sec",
            "events/s",
            total_events as f64 / took.as_secs_f64(),
        ),
        metric(
            "publish_events_per_sec",
            "events/s",
            total_events as f64 / (last_puback - started).as_secs_f64(),
        ),
        metric("duplicates", "events", stats.duplicates_total as f64),
    ])
}

/// Waits for the collector's retained online status: it is published after the subscription
/// request, so from then on no batch misses the subscription.
fn wait_online(broker: &Mosquitto, collector_id: &str) -> Result<(), String> {
    let (mut probe, _) = MqttProbe::connect(
        broker.addr(),
        "bench-status-probe",
        true,
        Duration::from_secs(5),
    )?;
    let topic = topics::collector_status(collector_id);
    probe.subscribe(&topic, 1)?;
    let deadline = Instant::now() + ONLINE_TIMEOUT;
    while Instant::now() < deadline {
        for m in probe.receive_for(Duration::from_millis(100))? {
            if CollectorStatus::decode(m.payload.as_slice()).is_ok_and(|s| s.online) {
                probe.disconnect();
                return Ok(());
            }
        }
    }
    Err(format!(
        "collector {collector_id} not online within {ONLINE_TIMEOUT:?}"
    ))
}
