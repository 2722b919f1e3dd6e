//! The journal's writer task: group commit.
//!
//! Records from the drivers are taken in groups (everything waiting, up to `group_max_events`),
//! written in one sled batch and made durable with one flush + fdatasync, and only then answered.
//! While one group is on its way to disk, the next one gathers in the channel, so a busy store
//! pays one fdatasync per group, not per event. Disk I/O runs on the blocking pool so it never
//! stalls the runtime's workers.

use store_drivers::{Record, RecordError};
use tokio::sync::mpsc;
use tracing::{debug, error};

use std::time::Duration;

use super::Journal;
use crate::privacy::Privacy;

/// How often retention is enforced without new events or marks.
const RETENTION_EVERY: Duration = Duration::from_secs(10);

/// Requests other than records: the uplink's trims and the agent's own events.
#[derive(Debug)]
pub enum JournalInput {
    /// The collector committed every seq up to this mark: delete them.
    Trim(u64),
    /// An event the agent itself records (e.g. a forged commit mark for HQ); nobody waits for
    /// its answer.
    Event(Box<store_proto::Event>),
}

/// Runs until the record channel closes (every driver is gone), then commits what is left.
/// Every record passes `privacy` first, so what is journaled is what may leave the store.
pub async fn run_writer(
    journal: Journal,
    mut records: mpsc::Receiver<Record>,
    mut inputs: mpsc::UnboundedReceiver<JournalInput>,
    privacy: Privacy,
) -> Journal {
    let mut journal = journal;
    let max_group = journal.cfg.group_max_events.max(1);
    let mut inputs_open = true;
    // Age expiry and leftover retention steps run even when the store is quiet.
    let mut retention = tokio::time::interval(RETENTION_EVERY);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A mark not yet applied in full: applied step by step between groups of records.
    let mut pending_trim: Option<u64> = None;
    // Commit the agent's own pending events (a quarantine's DataLoss) before anything else.
    if !journal.internal.is_empty() {
        journal = commit(journal, Vec::new(), &privacy).await;
    }
    loop {
        let first = tokio::select! {
            // Trims first: they free budget before the next group is sized against it.
            biased;
            input = inputs.recv(), if inputs_open => {
                match input {
                    Some(JournalInput::Trim(mark)) => {
                        let mark = pending_trim.map_or(mark, |p| p.max(mark));
                        let (j, done) = trim(journal, mark).await;
                        journal = j;
                        pending_trim = (!done).then_some(mark);
                    }
                    Some(JournalInput::Event(event)) => {
                        journal = commit(journal, vec![Record { event: *event, reply: None }], &privacy).await;
                    }
                    None => inputs_open = false,
                }
                continue;
            }
            record = records.recv() => match record {
                Some(r) => r,
                None => break,
            },
            _ = std::future::ready(()), if pending_trim.is_some() => {
                let mark = pending_trim.take().expect("checked");
                let (j, done) = trim(journal, mark).await;
                journal = j;
                pending_trim = (!done).then_some(mark);
                continue;
            }
            _ = retention.tick() => {
                journal = blocking(journal, Journal::retention_step).await;
                continue;
            }
        };
        let mut group = Vec::with_capacity(64);
        group.push(first);
        while group.len() < max_group {
            match records.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        journal = commit(journal, group, &privacy).await;
    }
    debug!("Journal writer stopped: all sources closed.");
    journal
}

async fn commit(journal: Journal, group: Vec<Record>, privacy: &Privacy) -> Journal {
    let (events, replies): (Vec<_>, Vec<_>) = group.into_iter().map(|r| (r.event, r.reply)).unzip();
    let privacy = privacy.clone();
    let (journal, result) = tokio::task::spawn_blocking(move || {
        let mut journal = journal;
        let mut events = events;
        for event in &mut events {
            privacy.apply(event);
        }
        crate::service::journal_busy(true);
        let result = journal.append(events);
        crate::service::journal_busy(false);
        (journal, result)
    })
    .await
    .expect("journal append does not panic");
    match result {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                if let Some(reply) = reply {
                    // A source that hung up does not need its answer; the event is stored anyway.
                    let _ = reply.send(outcome);
                }
            }
        }
        Err(e) => {
            error!(error = %e, "Journal write failed; the group is refused.");
            for reply in replies.into_iter().flatten() {
                let _ = reply.send(Err(RecordError::Journal(e.to_string())));
            }
        }
    }
    journal
}

/// One bounded trim step; returns whether the mark is applied in full (a failure counts as
/// done: the next mark retries).
async fn trim(journal: Journal, mark: u64) -> (Journal, bool) {
    let (journal, result) = tokio::task::spawn_blocking(move || {
        let mut journal = journal;
        crate::service::journal_busy(true);
        let result = journal.trim_step(mark, super::retain::STEP_EVENTS);
        crate::service::journal_busy(false);
        (journal, result)
    })
    .await
    .expect("journal trim does not panic");
    match result {
        Ok((n, done)) => {
            debug!(
                mark,
                committed = n,
                done,
                "Journal acknowledged the collector's mark."
            );
            (journal, done)
        }
        Err(e) => {
            error!(error = %e, mark, "Journal trim failed; will retry at the next mark.");
            (journal, true)
        }
    }
}

/// Runs one step of journal work on the blocking pool.
async fn blocking(journal: Journal, f: fn(&mut Journal)) -> Journal {
    tokio::task::spawn_blocking(move || {
        let mut journal = journal;
        crate::service::journal_busy(true);
        f(&mut journal);
        crate::service::journal_busy(false);
        journal
    })
    .await
    .expect("journal step does not panic")
}
