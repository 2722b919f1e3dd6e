//! Writes the seed corpora: a few valid inputs per target, with real protobuf payloads.
//!
//! `cargo run --example seeds -- corpus` in `fuzz/` (from the repository root: `scripts/fuzz.sh --seeds`).
//! Running it again overwrites the same `seed-N` files.

use std::path::Path;

use prost::Message;
use store_edge_fuzz::{ack, publish};
use store_proto::v1::{
    event::Body, CollectorStatus, CommitMark, DataLoss, FootTraffic, Scan, SeqRange,
};
use store_proto::{Event, EventBatch};

fn event(seq: u64, body: Body) -> Event {
    Event {
        seq,
        device_id: "scanner-1".into(),
        wall_time_ms: 1_700_000_000_000 + seq as i64,
        body: Some(body),
        ..Default::default()
    }
}

fn scan(seq: u64) -> Event {
    event(
        seq,
        Body::Scan(Scan {
            data: "0123456789012".into(),
            gtin: "00123456789012".into(),
            quantity: 1,
            ..Default::default()
        }),
    )
}

fn foot(seq: u64) -> Event {
    event(
        seq,
        Body::FootTraffic(FootTraffic {
            counter_id: "door".into(),
            entries: 3,
            exits: 2,
            ..Default::default()
        }),
    )
}

fn loss(seq: u64, ranges: &[(u64, u64)]) -> Event {
    event(
        seq,
        Body::DataLoss(DataLoss {
            ranges: ranges
                .iter()
                .map(|&(first, last)| SeqRange { first, last })
                .collect(),
            exact: true,
            ..Default::default()
        }),
    )
}

fn batch(store: &str, agent: &str, events: Vec<Event>) -> Vec<u8> {
    EventBatch {
        store_id: store.into(),
        agent_id: agent.into(),
        boot_id: "boot".into(),
        historical: false,
        events,
        sent_wall_time_ms: 1_700_000_000_000,
    }
    .encode_to_vec()
}

fn mark(committed: u64, done_above: &[(u64, u64)]) -> Vec<u8> {
    CommitMark {
        committed_seq: committed,
        collector_id: "hq-1".into(),
        wall_time_ms: 1_700_000_000_000,
        done_above: done_above
            .iter()
            .map(|&(first, last)| SeqRange { first, last })
            .collect(),
    }
    .encode_to_vec()
}

fn status(online: bool) -> Vec<u8> {
    CollectorStatus {
        collector_id: "hq-1".into(),
        online,
        wall_time_ms: 1_700_000_000_000,
    }
    .encode_to_vec()
}

fn publish_seeds() -> Vec<Vec<u8>> {
    let ev = "stores/s1/agents/a1/events";
    let mut seeds = Vec::new();

    // In order, then a duplicate, then a gap closed later.
    let mut s = publish::header(false, 4, 4, 0);
    publish::push(&mut s, ev, &batch("s1", "a1", (1..=5).map(scan).collect()));
    publish::push(&mut s, ev, &batch("s1", "a1", vec![scan(3), foot(6)]));
    publish::push(&mut s, ev, &batch("s1", "a1", vec![scan(9), scan(12)]));
    publish::push(&mut s, ev, &batch("s1", "a1", (7..=8).map(foot).collect()));
    publish::push(&mut s, "stores/s1/agents/a1/status", b"");
    seeds.push(s);

    // A small window and range cap; DataLoss settling a gap; seq 0; a far seq.
    let mut s = publish::header(false, 2, 2, 4);
    publish::push(
        &mut s,
        ev,
        &batch("s1", "a1", vec![scan(1), scan(4), scan(8)]),
    );
    publish::push(
        &mut s,
        ev,
        &batch("s1", "a1", vec![scan(0), scan(u64::MAX), scan(20)]),
    );
    publish::push(
        &mut s,
        ev,
        &batch("s1", "a1", vec![loss(10, &[(2, 3), (5, 7), (9, 40)])]),
    );
    publish::push(
        &mut s,
        ev,
        &batch("s1", "a1", (11..=16).map(scan).collect()),
    );
    seeds.push(s);

    // Several stores and agents against a store cap and an own-stores list; refused topics.
    let mut s = publish::header(true, 8, 2, 0);
    for (store, agent) in [("s1", "a1"), ("s2", "a2"), ("s3", "a1"), ("s1", "b+")] {
        let topic = format!("stores/{store}/agents/{agent}/events");
        publish::push(
            &mut s,
            &topic,
            &batch(store, agent, (1..=3).map(foot).collect()),
        );
    }
    publish::push(&mut s, "stores/s1/agents/a1/ack", &mark(3, &[]));
    publish::push(&mut s, "hq/collector/hq-1/status", &status(true));
    publish::push(&mut s, ev, b"\xff\xff\xff");
    seeds.push(s);
    seeds
}

fn ack_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();

    // Connect, send, PUBACK, a genuine mark, then a forged one and a collector online.
    let mut s = vec![1, 20, 0b0000_1011];
    s.extend_from_slice(&[ack::CONNECT, ack::SEND, 3, ack::SEND, 5, ack::PUBACK, 0]);
    ack::message_status(&mut s, "hq-1", &status(true));
    ack::message_ack(&mut s, &mark(4, &[(6, 7)]));
    ack::message_ack(&mut s, &mark(u64::MAX, &[]));
    s.extend_from_slice(&[
        ack::HEAD,
        10,
        ack::SEND,
        127,
        ack::PUBACK,
        1,
        ack::TICK,
        64,
        0,
    ]);
    ack::message_ack(&mut s, &mark(10, &[(12, 14), (20, 30)]));
    seeds.push(s);

    // A restart: a retained mark above what this run published; a refused publish; a
    // disconnect with batches in flight; a stall rewind with a collector online.
    let mut s = vec![5, 60, 0b1110_0111];
    ack::message_ack(&mut s, &mark(40, &[(45, 50)]));
    s.extend_from_slice(&[ack::CONNECT, ack::SEND, 0x82, ack::SEND, 9, ack::SEND, 9]);
    ack::message_status(&mut s, "hq-1", &status(true));
    s.extend_from_slice(&[
        ack::PUBACK,
        0,
        ack::TICK,
        0,
        1,
        ack::DISCONNECT,
        ack::CONNECT,
    ]);
    s.extend_from_slice(&[ack::SKIP, ack::SEND, 20, ack::PUBACK, 0, ack::TICK, 64, 0]);
    ack::message_status(&mut s, "hq-1", &status(false));
    ack::message_ack(&mut s, b"\x08");
    s.extend_from_slice(&[ack::MESSAGE, 2]);
    fuzz_short(&mut s, b"stores/s1/agents/a1/cmd");
    store_edge_fuzz::put_long(&mut s, &mark(3, &[]));
    seeds.push(s);
    seeds
}

fn fuzz_short(out: &mut Vec<u8>, b: &[u8]) {
    store_edge_fuzz::put_short(out, b);
}

fn write(dir: &Path, name: &str, seeds: Vec<Vec<u8>>) -> std::io::Result<()> {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed)?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let dir = Path::new(&dir);
    write(dir, "collector_publish", publish_seeds())?;
    write(dir, "agent_ack", ack_seeds())?;
    Ok(())
}
