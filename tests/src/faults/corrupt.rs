//! Corrupted journal files: with the broker down (so the journal holds events HQ lacks), the
//! agent is SIGKILLed, its largest sled file is truncated to half (`truncated`) or has bytes
//! flipped at random offsets (`flipped`), and the agent is started again. It must come up
//! (open the journal, or quarantine it and start a new one) and stay up, with seqs continuing
//! above every seq it confirmed; whatever it can no longer deliver must be named in a
//! `DataLoss` (reported), never silently missing.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;

use super::{drain, Outcome, Params};
use crate::wait::sleep_checking;
use crate::{Stack, Writer, WriterOptions};

pub fn truncated(p: &Params, rng: &mut StdRng) -> Outcome {
    run("faults-journal_truncated", p, rng, |file, _| {
        let len = std::fs::metadata(file).expect("stat").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .expect("open");
        f.set_len(len / 2).expect("truncate");
        format!("truncated from {len} to {} bytes", len / 2)
    })
}

pub fn flipped(p: &Params, rng: &mut StdRng) -> Outcome {
    run("faults-journal_flipped", p, rng, |file, rng| {
        let len = std::fs::metadata(file).expect("stat").len();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)
            .expect("open");
        let flips = 32;
        for _ in 0..flips {
            let at = rng.random_range(0..len);
            let mut b = [0u8; 1];
            f.seek(SeekFrom::Start(at)).expect("seek");
            f.read_exact(&mut b).expect("read");
            b[0] ^= 1 << rng.random_range(0..8u32);
            f.seek(SeekFrom::Start(at)).expect("seek");
            f.write_all(&b).expect("write");
        }
        format!("{flips} bits flipped in {len} bytes")
    })
}

fn run(
    name: &str,
    p: &Params,
    rng: &mut StdRng,
    damage: impl FnOnce(&Path, &mut StdRng) -> String,
) -> Outcome {
    let mut stack = Stack::with_mosquitto(name);
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let addr = stack.agent.feed_addr();
    // Half the events reach HQ (retained at the agent), half wait in the journal.
    let mut report = Writer::start(WriterOptions::new(addr).total(p.corrupt_events / 2))
        .finish(Duration::from_secs(120));
    stack.wait_committed(report.max_acked().expect("acked"), Duration::from_secs(120));
    stack.broker().kill();
    let held = Writer::start(
        WriterOptions::new(addr)
            .total(p.corrupt_events / 2)
            .first_index(report.next_index),
    )
    .finish(Duration::from_secs(120));
    report.merge(held);
    stack.agent.kill();
    let journal = stack.agent.config().state_dir.join("journal");
    let file = largest_file(&journal).expect("a sled file in the journal");
    let what = damage(&file, rng);
    stack
        .env
        .log(format!("agent killed; {} {what}", file.display()));
    // It must open or quarantine, not crash (start_again panics if it exits before its line
    // feed is up), and stay up.
    stack.agent.start_again();
    sleep_checking(Duration::from_secs(2), || stack.alive());
    stack.broker().start();
    let after = Writer::start(
        WriterOptions::new(addr)
            .total(200)
            .first_index(report.next_index),
    )
    .finish(Duration::from_secs(120));
    report.merge(after);
    let (stats, mut o) = drain(&mut stack, &report, p);
    o.violations.extend(report.violations());
    let quarantine = stack.agent.config().state_dir.join("quarantine");
    let quarantined = std::fs::read_dir(&quarantine)
        .map(|d| d.count())
        .unwrap_or(0)
        > 0;
    let a = stats.agent(&store, &agent).expect("agent entry");
    o.extra("damage", what);
    o.extra("quarantined", quarantined);
    o.extra(
        "DataLoss seqs",
        a.lost_ranges.iter().map(|&(x, y)| y - x + 1).sum::<u64>(),
    );
    o
}

fn largest_file(dir: &Path) -> Option<PathBuf> {
    let mut best: Option<(u64, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if best.as_ref().is_none_or(|(len, _)| meta.len() > *len) {
                best = Some((meta.len(), path));
            }
        }
    }
    best.map(|(_, p)| p)
}
