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

/// The drivers' and agent's test vectors, read from the repository (`fuzz/` is one level down).
fn fixture(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn with(header: &[u8], body: &[u8]) -> Vec<u8> {
    [header, body].concat()
}

fn gs1_seeds() -> Vec<Vec<u8>> {
    [
        &b"]C101095060001343521012345\x1D17220630"[..],
        b"]d201095011015300031714070410AB-123\x1D21SN-0042",
        b"]C10010614141123456789702095060001343523724",
        b"]C101095060001343523932978499\x1D3202000150",
        b"]C10109506000134352112401151324011616240200",
        b"]E05901234123457",
        b"]E40012345670",
        b"]E3590123412345712345",
        b"]I10950600013435",
        b"]Q1hello",
        b"\x1D0109506000134352",
        b"4006381333931",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

fn serial_framing_seeds() -> Vec<Vec<u8>> {
    vec![
        with(
            &[1, 64, 7],
            &fixture("agent/tests/fixtures/replay/serial_scanner_crlf.bin"),
        ),
        with(
            &[3, 64, 5],
            &fixture("agent/tests/fixtures/replay/serial_scanner_stx_etx.bin"),
        ),
        with(&[0, 8, 3], b"]E05901234123457\r4006381333931\r"),
        with(&[2, 4, 2], b"toolongline\nok\n\n"),
    ]
}

fn hid_pos_report(aim: &[u8], data: &[u8], more: bool) -> Vec<u8> {
    let mut r = vec![0u8; 64];
    r[0] = 2;
    r[1] = data.len() as u8;
    r[2..5].copy_from_slice(aim);
    r[5..5 + data.len()].copy_from_slice(data);
    r[63] = u8::from(more);
    r
}

fn hid_pos_seeds() -> Vec<Vec<u8>> {
    let mut reports = vec![0u8, 255];
    // Operation 0 takes the report without its id byte from the input.
    for r in [
        hid_pos_report(b"]E0", b"5901234123457", false),
        hid_pos_report(b"]C1", &[b'7'; 56], true),
        hid_pos_report(b"]C1", b"0123", false),
    ] {
        reports.push(0);
        reports.extend_from_slice(&r[1..]);
    }
    reports.push(3);
    let mut capture = vec![2u8, 255];
    for r in fixture("agent/tests/fixtures/replay/hid_pos.bin").chunks(64) {
        capture.push(2);
        fuzz_short(&mut capture, r);
    }
    let mut round = vec![4u8, 20];
    fuzz_short(&mut round, b"E05901234123457");
    fuzz_short(&mut round, &[b'C'; 130]);
    vec![reports, capture, round]
}

fn wedge_seeds() -> Vec<Vec<u8>> {
    let mut typed = vec![1u8, 0];
    // "0950" then Enter, each key released.
    for usage in [0x27u8, 0x26, 0x22, 0x27] {
        typed.extend_from_slice(&[0, 0, usage, 0, 0, 0, 0, 0]);
        typed.extend_from_slice(&[0; 8]);
    }
    typed.extend_from_slice(&[0, 0, 0x28, 0, 0, 0, 0, 0, 0xFF]);
    let capture = with(&[1, 64], &fixture("agent/tests/fixtures/replay/wedge.bin"));
    let round_us = with(&[0x11, 200], b"]C1 0109506000134352 hello WORLD");
    let round_de = with(&[0x18 | 4, 10], b"Gr\xfc\xdfe ^a `e 0123456789012345");
    vec![typed, capture, round_us, round_de]
}

fn escpos_seeds() -> Vec<Vec<u8>> {
    [
        "sale_cut.bin",
        "euro_code128_images.bin",
        "two_receipts_qr.bin",
    ]
    .iter()
    .enumerate()
    .map(|(i, f)| {
        let header = [i as u8, 255, 255, 77];
        with(
            &header,
            &fixture(&format!("drivers/tests/fixtures/pos/escpos/{f}")),
        )
    })
    .chain([with(
        &[0, 2, 1, 3],
        b"\x1b@Milk  1.99\nTOTAL  1.99\n\x1dV\x00",
    )])
    .collect()
}

fn receipt_template_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        with(&[0], b"Ticket # A-17\r\nCoffee      2.40\r\nDeposit     0.25\r\nCoupon      0.50-\r\nSUBTOTAL    2.15\r\nTotal: 2.15\r\n"),
        with(&[0], b"RETURN\nMilk   2 x 1.99   3.98-\nCoupon   0.50\nTOTAL 3.48-\n"),
        with(&[1], "R\u{fc}ckgabe\nBon-Nr. 4712\nMilch 1,5%      1,19- A\n---------\nSUMME EUR   1,19-\n".as_bytes()),
        with(&[1], b"*** Storno-Bon ***\nBon-Nr. 4713\nBrot      2,49 A\n------\nSUMME   2,49\n"),
        with(&[2], b"Receipt: 9\n4006381333931 Milk   1.99\nTOTAL EUR 1.99\n"),
    ];
    for (_, toml) in store_drivers::pos::template::BUILTIN {
        seeds.push(with(&[0xF0], toml.as_bytes()));
    }
    seeds
}

fn counter_payload_seeds() -> Vec<Vec<u8>> {
    use store_drivers::counter::Vendor;
    use store_edge_fuzz::counter_payload::VENDORS;
    let pick = |v: Vendor| VENDORS.iter().position(|&x| x == v).unwrap() as u8;
    let mut seeds = Vec::new();
    for line in fixture("agent/tests/fixtures/replay/axis.jsonl").split(|&b| b == b'\n') {
        if !line.is_empty() {
            seeds.push(with(&[pick(Vendor::Axis)], line));
        }
    }
    for (v, f) in [
        (Vendor::Xovis, "xovis.json"),
        (Vendor::Irisys, "irisys.json"),
        (Vendor::Hikvision, "hikvision.json"),
        (Vendor::Vivotek, "vivotek.json"),
    ] {
        seeds.push(with(
            &[pick(v)],
            &fixture(&format!("agent/tests/fixtures/replay/{f}")),
        ));
    }
    seeds.push(with(
        &[pick(Vendor::Axis3d)],
        br#"{"data":[{"start":"2020-06-23 00:00:00","end":"2020-06-23 01:00:00","in":0,"out":0},{"start":"2020-06-23 01:00:00","end":"2020-06-23 02:00:00","in":7,"out":5}]}"#,
    ));
    seeds
}

fn counter_serial_seeds() -> Vec<Vec<u8>> {
    vec![
        with(
            &[9],
            &fixture("agent/tests/fixtures/replay/counter_serial.txt"),
        ),
        with(
            &[3],
            b"IN 3\r\nOUT 1\r\n# hi\r\nIN\nTOTAL 1204 1187\r\nTOTAL 1210 1190\nIN 4294967295\n",
        ),
    ]
}

fn poslog_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = ["sale", "return", "multi", "vendor_ext", "missing_total"]
        .iter()
        .map(|f| fixture(&format!("drivers/tests/fixtures/pos/poslog/{f}.xml")))
        .collect();
    seeds.push(fixture("agent/tests/fixtures/replay/poslog_broken.xml"));
    seeds
}

fn line_feed_seeds() -> Vec<Vec<u8>> {
    [
        &br#"{"type":"scan","device_id":"scanner-1","data":"09506000134352","symbology":"ean13","mode":"sale","quantity":1}"#[..],
        br#"{"type":"pos_transaction","device_id":"till-1","receipt_id":"R-1001","kind":"sale","total_minor":499,"currency":"EUR","items":[{"gtin":"09506000134352","quantity":1.5,"unit_price_minor":499}]}"#,
        br#"{"type":"foot_traffic","device_id":"door-1","counter_id":"door-1","line":"main","entries":3,"exits":1,"interval_start_ms":1700000000000,"interval_end_ms":1700000060000}"#,
        br#"{"type":"device_status","device_id":"scanner-1","state":"disconnected","reason":"unplugged"}"#,
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

fn config_seeds(example: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8(fixture(example)).expect("UTF-8");
    // The whole example, and each of its sections alone (smaller inputs mutate faster).
    let mut seeds = vec![text.clone().into_bytes()];
    let head: String = text
        .lines()
        .take_while(|l| !l.starts_with('['))
        .collect::<Vec<_>>()
        .join("\n");
    for section in text.split("\n[").skip(1) {
        seeds.push(format!("{head}\n[{section}").into_bytes());
    }
    seeds
}

fn command(kind: store_proto::v1::command::Kind) -> Vec<u8> {
    use store_edge_fuzz::agent_command::{AGENT, NOW_MS, STORE};
    store_proto::v1::Command {
        id: "c-1".into(),
        store_id: STORE.into(),
        agent_id: AGENT.into(),
        issued_at_ms: NOW_MS,
        expires_at_ms: NOW_MS + 3_600_000,
        issued_by: "ops".into(),
        kind: Some(kind),
    }
    .encode_to_vec()
}

fn agent_command_seeds() -> Vec<Vec<u8>> {
    use store_proto::v1::{command::Kind, Replay, SetLogFilter, SetScanMode};
    vec![
        command(Kind::Replay(Replay {
            from_seq: 10,
            to_seq: 20,
            ..Default::default()
        })),
        command(Kind::Replay(Replay {
            from_time_ms: 1,
            to_time_ms: 1_700_000_000_000,
            ..Default::default()
        })),
        command(Kind::Reload(Default::default())),
        command(Kind::StatusReport(Default::default())),
        command(Kind::SetScanMode(SetScanMode {
            device_id: "scanner-1".into(),
            mode: 2,
        })),
        command(Kind::SetLogFilter(SetLogFilter {
            filter: "store_agent=debug,info".into(),
            duration_s: 600,
        })),
    ]
}

fn collector_command_seeds() -> Vec<Vec<u8>> {
    use store_proto::v1::{CommandResult, SeqRange};
    let mut seeds: Vec<Vec<u8>> = [
        &br#"{"kind":"replay","from_seq":1,"to_seq":100}"#[..],
        br#"{"kind":"replay","from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z","expires_in_secs":600}"#,
        br#"{"kind":"reload"}"#,
        br#"{"kind":"status_report"}"#,
        br#"{"kind":"set_scan_mode","device_id":"scanner-1","mode":"stock_count"}"#,
        br#"{"kind":"set_log_filter","filter":"store_agent=debug","duration_secs":60}"#,
    ]
    .iter()
    .map(|b| with(&[0], b))
    .collect();
    let result = CommandResult {
        id: "c-1".into(),
        ok: true,
        message: "queued 11 events".into(),
        detail_json: r#"{"queued":11,"ranges":[[1,2]]}"#.into(),
        events_queued: 11,
        not_retained: vec![SeqRange { first: 1, last: 4 }],
        wall_time_ms: 1_700_000_000_000,
        ..Default::default()
    };
    seeds.push(with(&[1], &result.encode_to_vec()));
    seeds
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let dir = Path::new(&dir);
    write(dir, "collector_publish", publish_seeds())?;
    write(dir, "agent_ack", ack_seeds())?;
    write(dir, "gs1", gs1_seeds())?;
    write(dir, "serial_framing", serial_framing_seeds())?;
    write(dir, "hid_pos", hid_pos_seeds())?;
    write(dir, "wedge", wedge_seeds())?;
    write(dir, "escpos", escpos_seeds())?;
    write(dir, "receipt_template", receipt_template_seeds())?;
    write(dir, "counter_payload", counter_payload_seeds())?;
    write(dir, "counter_serial", counter_serial_seeds())?;
    write(dir, "poslog", poslog_seeds())?;
    write(dir, "line_feed", line_feed_seeds())?;
    write(
        dir,
        "agent_config",
        config_seeds("config/agent.example.toml"),
    )?;
    write(
        dir,
        "collector_config",
        config_seeds("config/collector.example.toml"),
    )?;
    write(dir, "agent_command", agent_command_seeds())?;
    write(dir, "collector_command", collector_command_seeds())?;
    Ok(())
}
