//! The demo's closing summary and its verdict: what the devices did against what HQ applied.
//!
//! The verdict is the delivery guarantee seen end to end: every event an agent journaled is
//! applied at HQ exactly once (ARCHITECTURE.md invariants 1 and 5), and HQ's counts, stock and
//! alerts are those the devices' day should produce. Each departure is listed, none is fatal
//! before the whole summary is printed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::day::Plan;
use super::hq::Watcher;
use super::play::Progress;
use super::stores::Store;
use super::text::thousands;
use crate::stats::{short_ranges, Stats};
use crate::store_day::{NOTEBOOKS, PENS};

pub struct Summary<'a> {
    pub stats: &'a Stats,
    pub done: &'a Progress,
    pub plan: &'a Plan,
    pub stores: [&'a Store; 2],
    pub watcher: &'a Watcher,
    pub positions: &'a Value,
    pub printed_bytes: u64,
    pub outage: &'a str,
    /// The HQ command's round trip ("FAILED..." or empty when it did not succeed).
    pub command: &'a str,
    /// The webhook receiver's first delivery (empty when none came).
    pub webhook: &'a str,
    pub wall: Duration,
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "nothing seen"
    } else {
        s
    }
}

/// Prints the summary; true when the verdict holds.
pub fn summary(s: &Summary<'_>) -> bool {
    let mut violations: Vec<String> = Vec::new();
    let d = s.done;
    println!();
    println!("==== summary ====");
    println!(
        "store s1 devices: {} scans ({} staff commands not recorded), {} receipts ({} returns) through the tap, {} door-counter posts ({} in / {} out)",
        thousands(d.s1_scans),
        thousands(d.commands),
        thousands(d.receipts),
        thousands(d.returns),
        thousands(d.door_posts),
        thousands(d.entries),
        thousands(d.exits)
    );
    println!(
        "store s2 line feed: {} lines, each answered ok",
        thousands(d.feed_lines)
    );
    for e in &d.errors {
        violations.push(format!("device error: {e}"));
    }
    if s.printed_bytes != d.receipt_bytes {
        violations.push(format!(
            "the printer got {} bytes, the till sent {}",
            s.printed_bytes, d.receipt_bytes
        ));
    } else {
        println!(
            "printer: all {} bytes the till sent arrived through the tap",
            thousands(s.printed_bytes)
        );
    }
    println!(
        "outage: {}",
        if s.outage.is_empty() {
            "HQ down; its backlog drained after the day"
        } else {
            s.outage
        }
    );
    if s.command.is_empty() || s.command.starts_with("FAILED") {
        violations.push(format!("HQ command round trip: {}", or_none(s.command)));
    }
    println!("HQ command: {}", or_none(s.command));
    if !s.webhook.contains("signature valid") {
        violations.push(format!("webhook: {}", or_none(s.webhook)));
    }
    println!("webhook: {}", or_none(s.webhook));

    // Zero loss: every event each agent journaled is applied at HQ, exactly once.
    println!();
    println!(
        "  {:<6} {:>10} {:>10} {:>10}  gaps / lost",
        "store", "journaled", "applied", "committed"
    );
    for store in s.stores {
        let head = store.head();
        match s.stats.agent(store.id, &store.agent_id()) {
            None => violations.push(format!(
                "HQ has no entry for {}/{}",
                store.id,
                store.agent_id()
            )),
            Some(a) => {
                let applied = a.applied();
                let missing: u64 = (1..=head).filter(|&q| !applied.contains(q)).count() as u64;
                println!(
                    "  {:<6} {:>10} {:>10} {:>10}  {} / {}",
                    store.id,
                    thousands(head),
                    thousands(a.applied_count),
                    thousands(a.committed_seq),
                    if a.gaps.is_empty() {
                        "none".into()
                    } else {
                        short_ranges(&a.gaps)
                    },
                    if a.lost_ranges.is_empty() {
                        "none".into()
                    } else {
                        short_ranges(&a.lost_ranges)
                    },
                );
                if missing > 0 {
                    violations.push(format!(
                        "LOSS: {missing} of {}'s journaled seqs 1..={head} never applied",
                        store.id
                    ));
                }
                if a.applied_count != applied.len() {
                    violations.push(format!(
                        "{}: applied_count {} but ranges hold {}",
                        store.id,
                        a.applied_count,
                        applied.len()
                    ));
                }
                if !a.gaps.is_empty() || !a.lost_ranges.is_empty() {
                    violations.push(format!("{}: gaps or lost ranges at HQ", store.id));
                }
                if a.committed_seq < head {
                    violations.push(format!(
                        "{}: committed mark {} below the journal head {head}",
                        store.id, a.committed_seq
                    ));
                }
            }
        }
    }
    let s2_agent = s.stats.agent("s2", "agent-s2");
    let unacked: Vec<(u64, u64)> = d
        .feed_acked
        .ranges()
        .filter(|&(a, b)| s2_agent.is_none_or(|x| !(a..=b).all(|q| x.applied().contains(q))))
        .collect();
    if !unacked.is_empty() {
        violations.push(format!(
            "s2: ok'd seqs not applied: {}",
            short_ranges(&unacked)
        ));
    }
    let distinct: u64 = s.stats.agents.iter().map(|a| a.applied_count).sum();
    if s.stats.applied_total != distinct {
        violations.push(format!(
            "DOUBLE APPLY: applied_total {} != distinct seqs applied {distinct}",
            s.stats.applied_total
        ));
    }
    println!(
        "duplicates recognised by seq and ignored at HQ: {}",
        thousands(s.stats.duplicates_total)
    );

    // What the devices did, as HQ counted it.
    let s1 = s.stats.store("s1");
    let kind = |k: &str| s1.kinds.get(k).copied().unwrap_or(0);
    for (what, sent, at_hq) in [
        ("scans", d.s1_scans, kind("scan")),
        ("receipts", d.receipts, kind("pos_transaction")),
        ("door-counter ticks", d.door_ticks, kind("foot_traffic")),
        ("people in", d.entries, s1.foot_traffic_entries),
        ("people out", d.exits, s1.foot_traffic_exits),
    ] {
        if sent != at_hq {
            violations.push(format!(
                "s1 {what}: the devices made {sent}, HQ applied {at_hq}"
            ));
        }
    }
    println!(
        "s1 at HQ: {} scans, {} receipts, {} door ticks ({} in / {} out), {} device statuses - as the devices made them",
        thousands(kind("scan")),
        thousands(kind("pos_transaction")),
        thousands(kind("foot_traffic")),
        thousands(s1.foot_traffic_entries),
        thousands(s1.foot_traffic_exits),
        thousands(kind("device_status"))
    );

    // Stock: HQ's positions against the store's own books.
    let at_hq: BTreeMap<String, f64> = s.positions["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["gtin"].as_str()?.to_owned(), p["position"].as_f64()?)))
        .collect();
    let mut stock_line = Vec::new();
    for (&i, &want) in &s.plan.closing_stock {
        let p = &s.plan.products[i];
        let got = at_hq.get(&format!("{:0>14}", p.gtin)).copied();
        stock_line.push(format!(
            "{} {}",
            p.name,
            got.map_or("-".into(), |g| g.to_string())
        ));
        if got != Some(want) {
            violations.push(format!(
                "s1 stock of {}: HQ has {got:?}, the store's books {want}",
                p.name
            ));
        }
    }
    println!("s1 stock at HQ: {}", stock_line.join(", "));

    // The alerts and signals of the day.
    let by_kind = s.watcher.alerts_by_kind();
    println!(
        "alerts: {} ({})",
        by_kind.values().sum::<u64>(),
        by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "signals shown: {} ({})",
        s.watcher.signals_shown.values().sum::<u64>(),
        s.watcher
            .signals_shown
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let gtin14 = |g: &str| format!("{g:0>14}");
    let mut story = Vec::new();
    for (what, seen) in [
        (
            "OUT for pens at s1",
            s.watcher.saw_alert("s1", "OUT", Some(&gtin14(PENS))),
        ),
        (
            "LOW for notebooks at s1",
            s.watcher.saw_alert("s1", "LOW", Some(&gtin14(NOTEBOOKS))),
        ),
        (
            "TRANSFER of pens to s1",
            s.watcher.saw_alert("s1", "TRANSFER", Some(&gtin14(PENS))),
        ),
        (
            "RETURNS_SPIKE at s1",
            s.watcher.saw_alert("s1", "RETURNS_SPIKE", None),
        ),
        (
            "UNDERSTAFFED at s1 in the rush",
            s.watcher.saw_signal("UNDERSTAFFED"),
        ),
    ] {
        if !seen {
            story.push(what);
        }
    }
    if story.is_empty() {
        println!("the day's story is all there: OUT, LOW, TRANSFER, RETURNS_SPIKE, UNDERSTAFFED");
    } else {
        violations.push(format!("not raised: {}", story.join(", ")));
    }
    println!("wall time so far: {:.1} s", s.wall.as_secs_f64());
    println!();
    if violations.is_empty() {
        println!(
            "VERDICT: zero loss, exactly once - all {} events the stores journaled are applied at HQ, each once",
            thousands(s.stores.iter().map(|x| x.head()).sum())
        );
        true
    } else {
        println!("VERDICT: FAILED");
        for v in &violations {
            println!("  - {v}");
        }
        false
    }
}
