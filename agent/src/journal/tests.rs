use super::*;
use store_proto::v1::{DataLoss, DataLossReason, DeviceStatus, FootTraffic, Scan};

fn cfg(max_bytes: u64) -> JournalConfig {
    JournalConfig {
        max_bytes,
        group_max_events: 4096,
        cache_bytes: 8 << 20,
        seq_reserve: 1000,
        // Most tests here are about the unacknowledged part: retention off, the old behaviour.
        retain_max_bytes: Some(0),
        ..JournalConfig::default()
    }
}

fn cfg_retain(max_bytes: u64, retain_max_bytes: u64, retain_age_secs: u64) -> JournalConfig {
    JournalConfig {
        retain_max_bytes: Some(retain_max_bytes),
        retain_age_secs,
        ..cfg(max_bytes)
    }
}

/// Opens the journal in `dir`, waiting while the previous instance of this process still holds
/// sled's lock (its background flusher lets go shortly after the drop).
fn open(dir: &std::path::Path, cfg: JournalConfig) -> (Journal, JournalReader, OpenReport) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Journal::open(dir, cfg.clone()) {
            Err(JournalError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.unwrap(),
        }
    }
}

fn scan(n: u32) -> Event {
    Event {
        device_id: "scanner-1".into(),
        body: Some(Body::Scan(Scan {
            data: format!("{n:014}"),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn tick(counter: &str, entries: u32) -> Event {
    Event {
        device_id: "door".into(),
        body: Some(Body::FootTraffic(FootTraffic {
            counter_id: counter.into(),
            line: "main".into(),
            entries,
            exits: 1,
            coalesced_ticks: 1,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn status() -> Event {
    Event {
        device_id: "scanner-1".into(),
        body: Some(Body::DeviceStatus(DeviceStatus::default())),
        ..Default::default()
    }
}

fn seqs(r: Vec<Result<u64, RecordError>>) -> Vec<u64> {
    r.into_iter().map(|x| x.expect("stored")).collect()
}

fn held(reader: &JournalReader) -> Vec<Event> {
    reader
        .read(0, u64::MAX, usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, v)| Event::decode(v.as_ref()).unwrap())
        .collect()
}

#[test]
fn reopen_continues_seq() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut j, reader, report) = open(dir.path(), cfg(1 << 30));
        assert_eq!(report.next_seq, 1);
        assert_eq!(
            seqs(j.append(vec![scan(1), scan(2), scan(3)]).unwrap()),
            [1, 2, 3]
        );
        assert_eq!(reader.head(), 3);
        // Trim everything: the journal is empty, yet seqs must not restart.
        j.trim(3).unwrap();
        assert_eq!(j.entries(), 0);
    }
    let (mut j, reader, report) = open(dir.path(), cfg(1 << 30));
    assert_eq!(report.next_seq, 4);
    assert_eq!(report.held, 0);
    assert_eq!(reader.head(), 3);
    assert_eq!(seqs(j.append(vec![scan(4)]).unwrap()), [4]);
    let e = reader.get(4).unwrap();
    assert_eq!(e.seq, 4);
    assert!(!e.boot_id.is_empty());
}

#[test]
fn mark_deletes_exactly_up_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, reader, _) = open(dir.path(), cfg(1 << 30));
    let events: Vec<Event> = (0..10).map(scan).collect();
    seqs(j.append(events).unwrap());
    assert_eq!(j.trim(6).unwrap(), 6);
    let left: Vec<u64> = held(&reader).iter().map(|e| e.seq).collect();
    assert_eq!(left, [7, 8, 9, 10]);
    assert_eq!(reader.first_seq(), Some(7));
    // An older mark changes nothing.
    assert_eq!(j.trim(3).unwrap(), 0);
    assert_eq!(j.entries(), 4);
    // Persisted: a reopen sees the same.
    drop(j);
    drop(reader);
    let (j, reader, _) = open(dir.path(), cfg(1 << 30));
    assert_eq!(j.entries(), 4);
    assert_eq!(reader.first_seq(), Some(7));
}

#[test]
fn read_respects_bounds_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, reader, _) = open(dir.path(), cfg(1 << 30));
    seqs(j.append((0..20).map(scan).collect()).unwrap());
    let r = reader.read(5, 12, 3, usize::MAX).unwrap();
    assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), [5, 6, 7]);
    let r = reader.read(5, 12, 100, usize::MAX).unwrap();
    assert_eq!(r.len(), 8);
    let r = reader.read(5, 12, 100, 1).unwrap();
    assert_eq!(r.len(), 1, "always at least one event");
}

fn loss_events(events: &[Event]) -> Vec<(u64, DataLoss)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            Some(Body::DataLoss(d)) => Some((e.encoded_len() as u64 + 9, d.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn budget_coalesces_ticks_first_then_sheds_by_class_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    // Seqs: 1 scan, 2 status, 3 tick a, 4 tick b, 5 scan, 6 status, 7 tick a, 8 tick b,
    // 9 status, 10 tick a, 11 scan, 12 scan, 13 tick b.
    let mut first = vec![
        scan(1),
        status(),
        tick("a", 1),
        tick("b", 10),
        scan(2),
        status(),
    ];
    first.extend([
        tick("a", 2),
        tick("b", 20),
        status(),
        tick("a", 3),
        scan(3),
        scan(4),
    ]);
    first.push(tick("b", 30));
    let full = {
        let (mut j, _r, _) = open(dir.path(), cfg(1 << 30));
        assert_eq!(seqs(j.append(first).unwrap()).len(), 13);
        j.bytes()
    };
    // Reopen with a budget that is just full.
    let max = full + 10;
    let (mut j, reader, _) = open(dir.path(), cfg(max));
    assert_eq!(j.bytes(), full, "the index is rebuilt with the same sizes");

    // A small overflow is absorbed by coalescing ticks alone: a/3 ticks -> 1, b/3 ticks -> 1.
    let out = seqs(j.append(vec![scan(5)]).unwrap());
    assert_eq!(out, [14]);
    let events = held(&reader);
    let loss = loss_events(&events);
    assert_eq!(loss.len(), 1, "one DataLoss event");
    let d = &loss[0].1;
    assert!(d.exact);
    assert_eq!(d.reason, DataLossReason::Budget as i32);
    assert_eq!(d.classes.len(), 1);
    assert_eq!(d.classes[0].class, "foot_traffic");
    assert_eq!((d.classes[0].dropped, d.classes[0].coalesced), (0, 4));
    // Ticks 3 (a) and 4 (b) are kept; 7, 10 and 8, 13 are merged into them.
    let lost: Vec<(u64, u64)> = d.ranges.iter().map(|r| (r.first, r.last)).collect();
    assert_eq!(lost, [(7, 8), (10, 10), (13, 13)]);
    let ticks: Vec<(u64, u32, u32)> = events
        .iter()
        .filter_map(|e| match &e.body {
            Some(Body::FootTraffic(f)) => Some((e.seq, f.entries, f.coalesced_ticks)),
            _ => None,
        })
        .collect();
    assert_eq!(ticks, [(3, 6, 3), (4, 60, 3)], "totals survive coalescing");
    let loss_bytes: u64 = loss.iter().map(|l| l.0).sum();
    assert!(j.bytes() - loss_bytes <= max, "{} > {max}", j.bytes());

    // A large overflow: status events go first, then foot traffic, then the oldest scans.
    let out = seqs(j.append((10..16).map(scan).collect()).unwrap());
    assert_eq!(out, (16..=21).collect::<Vec<u64>>());
    let events = held(&reader);
    let loss = loss_events(&events);
    assert_eq!(loss.len(), 2);
    let d = &loss[1].1;
    let count = |class: &str| {
        d.classes
            .iter()
            .find(|c| c.class == class)
            .map(|c| (c.dropped, c.coalesced))
            .unwrap_or((0, 0))
    };
    assert_eq!(count("device_status"), (3, 0));
    assert_eq!(count("foot_traffic"), (2, 0));
    let (scans_dropped, _) = count("business");
    assert!(scans_dropped > 0);
    // Every removed seq is in the ranges, and nothing held is.
    let removed: u64 = d.ranges.iter().map(|r| r.last - r.first + 1).sum();
    assert_eq!(removed, 3 + 2 + scans_dropped);
    for e in &events {
        assert!(
            !d.ranges.iter().any(|r| (r.first..=r.last).contains(&e.seq)),
            "held event {} listed as lost",
            e.seq
        );
    }
    assert!(events
        .iter()
        .all(|e| !matches!(e.body, Some(Body::DeviceStatus(_)))));
    assert!(events
        .iter()
        .all(|e| !matches!(e.body, Some(Body::FootTraffic(_)))));
    // Exactly the oldest scans went.
    let all_scans: Vec<u64> = [1, 5, 11, 12, 14].into_iter().chain(16..=21).collect();
    let held_scans: Vec<u64> = events
        .iter()
        .filter(|e| matches!(e.body, Some(Body::Scan(_))))
        .map(|e| e.seq)
        .collect();
    assert_eq!(held_scans, all_scans[scans_dropped as usize..]);
    let loss_bytes: u64 = loss.iter().map(|l| l.0).sum();
    assert!(j.bytes() - loss_bytes <= max);
}

#[test]
fn budget_refuses_what_cannot_fit_instead_of_dropping_silently() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _reader, _) = open(dir.path(), cfg(50));
    let out = j.append(vec![scan(1)]).unwrap();
    assert!(matches!(&out[0], Err(RecordError::Journal(m)) if m.contains("budget")));
    assert_eq!(j.entries(), 0);
}

#[test]
fn corrupt_journal_is_quarantined_and_seq_continues() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut j, _r, _) = open(dir.path(), cfg(1 << 30));
        seqs(j.append((0..50).map(scan).collect()).unwrap());
        j.trim(20).unwrap();
        seqs(j.append((0..50).map(scan).collect()).unwrap());
    }
    // Garbage over every file sled keeps.
    let jdir = dir.path().join("journal");
    for entry in std::fs::read_dir(&jdir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::write(&p, vec![0xA5u8; 4096]).unwrap();
        }
    }
    let (mut j, reader, report) = open(dir.path(), cfg(1 << 30));
    let q = report.quarantined_to.expect("quarantined");
    assert!(q.starts_with(dir.path().join("quarantine")) && q.exists());
    // Seqs up to 100 were issued and up to 1100 reserved: numbering continues above them.
    assert!(report.next_seq > 100, "next_seq {}", report.next_seq);
    // Nothing below the new journal's first seq is held: a restored collector asking for
    // those seqs hears they are gone.
    assert_eq!(reader.retain_floor(), report.next_seq);
    let out = seqs(j.append(vec![scan(7)]).unwrap());
    // The DataLoss event comes first, then the new event.
    assert_eq!(out, [report.next_seq + 1]);
    let loss = reader.get(report.next_seq).expect("DataLoss event");
    match loss.body {
        Some(Body::DataLoss(d)) => {
            assert_eq!(d.reason, DataLossReason::JournalQuarantined as i32);
            assert!(!d.exact);
            assert_eq!(d.ranges.len(), 1);
            // Lower bound: nothing acked is claimed lost... beyond what the reservation knows.
            assert!(d.ranges[0].first <= 21);
            assert_eq!(d.ranges[0].last, report.next_seq - 1);
            assert!(d.detail.contains("quarantine"), "{}", d.detail);
        }
        other => panic!("expected DataLoss, got {other:?}"),
    }
    // And a clean reopen after that keeps counting without another quarantine.
    drop(j);
    drop(reader);
    let (_j, _r, again) = open(dir.path(), cfg(1 << 30));
    assert_eq!(again.quarantined_to, None);
    assert_eq!(again.next_seq, out[0] + 1);
}

#[test]
fn deleted_journal_folder_does_not_reuse_seqs() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut j, _r, _) = open(dir.path(), cfg(1 << 30));
        seqs(j.append((0..5).map(scan).collect()).unwrap());
    }
    std::fs::remove_dir_all(dir.path().join("journal")).unwrap();
    let (_j, _r, report) = open(dir.path(), cfg(1 << 30));
    assert!(report.next_seq > 5);
}

#[test]
fn a_journal_in_use_is_refused_not_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _reader, _) = open(dir.path(), cfg(1 << 30));
    seqs(j.append((0..3).map(scan).collect()).unwrap());
    // A second agent on the same state_dir (the first still running).
    match Journal::open(dir.path(), cfg(1 << 30)) {
        Err(JournalError::Locked { .. }) => {}
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a journal in use was opened twice"),
    }
    assert!(
        !dir.path().join("quarantine").exists(),
        "a journal in use must never be moved aside"
    );
    assert_eq!(j.entries(), 3);
}

/// A scan stamped `age_ms` ago (retention ages events by their own time).
fn scan_aged(n: u32, age_ms: i64) -> Event {
    let mut e = scan(n);
    e.wall_time_ms = clock::reported_ms() - age_ms;
    e
}

/// Bytes one `scan_aged` event takes in the journal.
fn scan_bytes(j: &mut Journal, reader: &JournalReader) -> u64 {
    let before = j.bytes();
    let seq = seqs(j.append(vec![scan_aged(0, 0)]).unwrap())[0];
    let size = j.bytes() - before;
    assert!(reader.get(seq).is_some());
    size
}

fn held_seqs(reader: &JournalReader) -> Vec<u64> {
    held(reader).iter().map(|e| e.seq).collect()
}

#[test]
fn committed_events_are_retained_not_deleted_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut j, reader, _) = open(dir.path(), cfg_retain(1 << 30, 1 << 20, 3600));
        seqs(
            j.append((0..10).map(|n| scan_aged(n, 0)).collect())
                .unwrap(),
        );
        assert_eq!(j.trim(6).unwrap(), 6);
        assert_eq!(held_seqs(&reader).len(), 10, "the mark deletes nothing");
        assert_eq!((j.entries(), j.retained().0), (4, 6));
        assert_eq!(reader.first_unacked(), Some(7));
        assert_eq!((reader.acked(), reader.retain_floor()), (6, 1));
        let s = reader.stats();
        assert_eq!(s.retained_events.load(Ordering::Relaxed), 6);
        assert!(s.retained_bytes.load(Ordering::Relaxed) > 0);
    }
    let (j, reader, report) = open(dir.path(), cfg_retain(1 << 30, 1 << 20, 3600));
    assert_eq!(report.held, 10);
    assert_eq!((j.entries(), j.retained().0, j.acked()), (4, 6, 6));
    assert_eq!(reader.first_unacked(), Some(7));
    assert_eq!(reader.acked(), 6);
}

#[test]
fn retention_drops_by_age_and_moves_the_floor_persistently() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut j, reader, _) = open(dir.path(), cfg_retain(1 << 30, 1 << 20, 3600));
        // Seqs 1..=5 are two hours old, 6..=8 fresh.
        let mut events: Vec<Event> = (0..5).map(|n| scan_aged(n, 7_200_000)).collect();
        events.extend((5..8).map(|n| scan_aged(n, 0)));
        seqs(j.append(events).unwrap());
        // One chunk would expire only as a whole: commit the old ones first, alone.
        j.trim(5).unwrap();
        assert_eq!(held_seqs(&reader), [6, 7, 8], "expired on commit");
        assert_eq!(j.retain_floor(), 6);
        j.trim(8).unwrap();
        assert_eq!(held_seqs(&reader), [6, 7, 8], "fresh ones stay");
        assert_eq!(reader.retain_floor(), 6);
    }
    let (j, reader, _) = open(dir.path(), cfg_retain(1 << 30, 1 << 20, 3600));
    assert_eq!((j.retain_floor(), reader.retain_floor()), (6, 6));
    assert_eq!(j.retained().0, 3);
}

#[test]
fn retention_drops_oldest_over_its_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, reader, _) = open(dir.path(), cfg_retain(1 << 30, 1 << 20, 3600));
    let size = scan_bytes(&mut j, &reader);
    drop(j);
    drop(reader);
    let dir = tempfile::tempdir().unwrap();
    // Room for three retained events.
    let (mut j, reader, _) = open(dir.path(), cfg_retain(1 << 30, 3 * size, 3600));
    seqs(
        j.append((0..10).map(|n| scan_aged(n, 0)).collect())
            .unwrap(),
    );
    j.trim(8).unwrap();
    assert_eq!(held_seqs(&reader), [6, 7, 8, 9, 10]);
    assert_eq!(j.retained(), (3, 3 * size));
    assert_eq!(reader.retain_floor(), 6);
    // Which requested seqs are gone is exact: everything below the floor.
    assert_eq!(
        reader
            .held(1, 10, 100)
            .unwrap()
            .ranges()
            .collect::<Vec<_>>(),
        [(6, 10)]
    );
}

#[test]
fn budget_pressure_sheds_retained_first_without_data_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, reader, _) = open(dir.path(), cfg_retain(1 << 30, 1 << 20, 3600));
    let size = scan_bytes(&mut j, &reader);
    drop(j);
    drop(reader);
    let dir = tempfile::tempdir().unwrap();
    // Budget for 6 events (plus the slack of append's per-event upper estimate), retention up
    // to 5 of them.
    let (mut j, reader, _) = open(dir.path(), cfg_retain(6 * size + 60, 5 * size, 3600));
    seqs(j.append((0..6).map(|n| scan_aged(n, 0)).collect()).unwrap());
    j.trim(4).unwrap();
    assert_eq!(j.retained().0, 4);
    // Three new events need room for one more than the budget has: retained 1..=3 go, nothing
    // unacknowledged does, and no DataLoss is written.
    let new = seqs(j.append((6..9).map(|n| scan_aged(n, 0)).collect()).unwrap());
    assert_eq!(new, [7, 8, 9]);
    assert_eq!(held_seqs(&reader), [4, 5, 6, 7, 8, 9]);
    assert_eq!(reader.retain_floor(), 4);
    assert!(loss_events(&held(&reader)).is_empty());
    assert_eq!(reader.stats().shed_events.load(Ordering::Relaxed), 0);
    // Once retention is empty, the budget sheds unacknowledged events as before.
    let more = seqs(j.append(vec![scan_aged(9, 0), scan_aged(10, 0)]).unwrap());
    assert_eq!(more.len(), 2);
    assert_eq!(j.retained().0, 0);
    assert_eq!(loss_events(&held(&reader)).len(), 1, "now a DataLoss");
}

#[test]
fn retention_off_deletes_at_the_mark_and_sets_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, reader, _) = open(dir.path(), cfg(1 << 30));
    seqs(j.append((0..5).map(|n| scan_aged(n, 0)).collect()).unwrap());
    j.trim(3).unwrap();
    assert_eq!(held_seqs(&reader), [4, 5]);
    assert_eq!(
        (j.retained().0, reader.retain_floor(), reader.acked()),
        (0, 4, 3)
    );
}

#[test]
fn retained_events_cost_no_memory_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _reader, _) = open(dir.path(), cfg_retain(1 << 30, 1 << 29, 3600));
    let n = 3 * retain::CHUNK_EVENTS as u32;
    seqs(j.append((0..n).map(|n| scan_aged(n, 0)).collect()).unwrap());
    j.trim(u64::from(n)).unwrap();
    assert_eq!(j.retained().0, u64::from(n));
    assert_eq!(j.retained.chunk_count(), 3);
    assert_eq!(j.index.entries(), 0);
}

#[test]
fn a_mark_over_a_long_backlog_is_applied_in_bounded_steps() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, reader, _) = open(dir.path(), cfg_retain(1 << 30, 1 << 29, 3600));
    seqs(
        j.append((0..10).map(|n| scan_aged(n, 0)).collect())
            .unwrap(),
    );
    assert_eq!(j.trim_step(10, 4).unwrap(), (4, false));
    assert_eq!((reader.acked(), j.entries(), j.retained().0), (4, 6, 4));
    assert_eq!(j.trim_step(10, 4).unwrap(), (4, false));
    assert_eq!(j.trim_step(10, 4).unwrap(), (2, true));
    assert_eq!((reader.acked(), j.entries(), j.retained().0), (10, 0, 10));
    assert_eq!(j.trim_step(10, 4).unwrap(), (0, true));
}
