//! The byte-budget policy (ARCHITECTURE.md invariant 5): when the journal is full, make room by class,
//! cheapest loss first, and account for every removed seq.
//!
//! 1. Coalesce foot-traffic ticks: ticks of the same counter and line are merged into the oldest
//!    of them (entries and exits summed, interval widened). The totals survive; only resolution
//!    is lost.
//! 2. Drop the oldest device-status events.
//! 3. Drop the oldest foot-traffic events.
//! 4. Drop the oldest sales and stock events (scans, POS transactions).
//!
//! DataLoss events are never dropped. Every removed seq goes into one `DataLoss` event with exact
//! per-class counts, written in the same atomic batch as the removals.

use std::collections::HashMap;

use prost::Message;
use store_drivers::clock;
use store_proto::v1::{ClassCount, DataLoss, DataLossReason, FootTraffic, SeqRange};
use store_proto::{Body, Event, EventClass, SeqSet};

use super::index::Index;
use super::{key, JournalError, AGENT_DEVICE_ID};

/// Ticks are merged per (device id, counter id, line).
type CounterLine = (String, String, String);

/// Foot-traffic events read per coalescing step.
const COALESCE_CHUNK: usize = 4096;

#[derive(Debug, Default)]
pub struct ShedPlan {
    /// Seqs to delete.
    pub removes: Vec<u64>,
    /// Seqs to overwrite with a merged event (class tag + encoded Event).
    pub rewrites: Vec<(u64, Vec<u8>)>,
    lost: SeqSet,
    counts: HashMap<EventClass, (u64, u64)>,
}

impl ShedPlan {
    pub fn is_empty(&self) -> bool {
        self.removes.is_empty() && self.rewrites.is_empty()
    }

    pub fn dropped_total(&self) -> u64 {
        self.counts.values().map(|c| c.0).sum()
    }

    pub fn coalesced_total(&self) -> u64 {
        self.counts.values().map(|c| c.1).sum()
    }

    /// The DataLoss event that records this plan, if it removed anything.
    pub fn loss_event(&self) -> Option<Event> {
        if self.removes.is_empty() {
            return None;
        }
        let mut classes: Vec<ClassCount> = self
            .counts
            .iter()
            .map(|(c, &(dropped, coalesced))| ClassCount {
                class: c.name().to_owned(),
                dropped,
                coalesced,
            })
            .collect();
        classes.sort_by(|a, b| a.class.cmp(&b.class));
        let mut ev = Event {
            device_id: AGENT_DEVICE_ID.to_owned(),
            body: Some(Body::DataLoss(DataLoss {
                reason: DataLossReason::Budget as i32,
                ranges: self
                    .lost
                    .ranges()
                    .map(|(first, last)| SeqRange { first, last })
                    .collect(),
                classes,
                exact: true,
                detail: format!(
                    "journal byte budget full: {} events dropped, {} coalesced",
                    self.dropped_total(),
                    self.coalesced_total()
                ),
            })),
            ..Default::default()
        };
        clock::stamp(&mut ev);
        Some(ev)
    }

    fn record(&mut self, class: EventClass, seq: u64, coalesced: bool) {
        self.removes.push(seq);
        self.lost.insert(seq);
        let c = self.counts.entry(class).or_default();
        if coalesced {
            c.1 += 1;
        } else {
            c.0 += 1;
        }
    }
}

/// Frees at least `need` bytes from the index if the policy allows, and returns what to write.
pub fn shed(db: &sled::Db, index: &mut Index, need: u64) -> Result<ShedPlan, JournalError> {
    let mut plan = ShedPlan::default();
    let mut freed = coalesce_foot_traffic(db, index, need, &mut plan)?;
    for class in EventClass::SHED_ORDER {
        while freed < need {
            let Some((seq, bytes)) = index.pop_oldest(class) else {
                break;
            };
            plan.record(class, seq, false);
            freed += u64::from(bytes);
        }
    }
    Ok(plan)
}

fn coalesce_foot_traffic(
    db: &sled::Db,
    index: &mut Index,
    need: u64,
    plan: &mut ShedPlan,
) -> Result<u64, JournalError> {
    let held: Vec<(u64, u32)> = index
        .class(EventClass::FootTraffic)
        .iter()
        .copied()
        .collect();
    let mut freed = 0u64;
    for chunk in held.chunks(COALESCE_CHUNK) {
        if freed >= need {
            break;
        }
        // Group ticks of the same counter line, keeping seq order within each group.
        let mut groups: HashMap<CounterLine, Vec<(u64, u32, Event)>> = HashMap::new();
        let mut order = Vec::new();
        for &(seq, bytes) in chunk {
            let Some(v) = db.get(key(seq)).map_err(|source| JournalError::Sled {
                path: "journal".into(),
                source,
            })?
            else {
                continue;
            };
            let Ok(ev) = Event::decode(&v[1..]) else {
                continue; // never merge what we cannot read; the drop steps may still take it
            };
            let Some(Body::FootTraffic(ft)) = &ev.body else {
                continue;
            };
            let k = (ev.device_id.clone(), ft.counter_id.clone(), ft.line.clone());
            if !groups.contains_key(&k) {
                order.push(k.clone());
            }
            groups.entry(k).or_default().push((seq, bytes, ev));
        }
        let mut removed = Vec::new();
        for k in order {
            let group = groups.remove(&k).expect("key from order");
            if group.len() < 2 {
                continue;
            }
            let mut iter = group.into_iter();
            let (kept_seq, kept_bytes, mut kept) = iter.next().expect("len >= 2");
            for (seq, bytes, ev) in iter {
                if let (Some(Body::FootTraffic(into)), Some(Body::FootTraffic(from))) =
                    (kept.body.as_mut(), ev.body.as_ref())
                {
                    merge(into, from);
                }
                plan.record(EventClass::FootTraffic, seq, true);
                removed.push(seq);
                freed += u64::from(bytes);
            }
            let mut value = Vec::with_capacity(kept.encoded_len() + 1);
            value.push(EventClass::FootTraffic.tag());
            kept.encode(&mut value).expect("Vec grows as needed");
            let new_bytes = (value.len() + 8) as u32;
            freed = (freed + u64::from(kept_bytes)).saturating_sub(u64::from(new_bytes));
            index.resize(EventClass::FootTraffic, kept_seq, new_bytes);
            plan.rewrites.push((kept_seq, value));
        }
        index.remove_seqs(EventClass::FootTraffic, &removed);
    }
    Ok(freed)
}

fn merge(into: &mut FootTraffic, from: &FootTraffic) {
    into.entries = into.entries.saturating_add(from.entries);
    into.exits = into.exits.saturating_add(from.exits);
    if from.interval_start_ms != 0
        && (into.interval_start_ms == 0 || from.interval_start_ms < into.interval_start_ms)
    {
        into.interval_start_ms = from.interval_start_ms;
    }
    into.interval_end_ms = into.interval_end_ms.max(from.interval_end_ms);
    into.coalesced_ticks = into
        .coalesced_ticks
        .max(1)
        .saturating_add(from.coalesced_ticks.max(1));
}
