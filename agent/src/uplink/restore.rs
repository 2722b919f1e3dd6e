//! A collector restored from a backup: what the agent does about a commit mark that went back
//! (see [`super::state`] for how it is detected and what is replayed).
//!
//! The seqs the collector now lacks and the journal no longer holds (below the retention floor)
//! can only be reported: one `DataLoss` event with reason `NOT_RETAINED` and their exact ranges,
//! which the collector's dedup settles, so its mark moves on past them instead of waiting
//! forever. Each rewind is logged once at WARN with its numbers.

use store_drivers::clock;
use store_proto::v1::{DataLoss, DataLossReason, SeqRange};
use store_proto::{Body, Event, SeqSet};
use tokio::sync::mpsc;
use tracing::warn;

use super::state::State;
use crate::journal::{JournalInput, JournalReader, AGENT_DEVICE_ID};

/// Handles a rewind from mark `from` to `to`: reports what is out of retention, logs.
pub fn on_rewind(
    state: &mut State,
    from: u64,
    to: u64,
    reader: &JournalReader,
    journal: &mpsc::UnboundedSender<JournalInput>,
) {
    let lost = state.take_unheld(reader.retain_floor());
    let not_retained = lost.len();
    if !lost.is_empty() {
        let detail = format!(
            "collector's committed mark went back from {from} to {to} (HQ restored?); \
             {not_retained} of the seqs above it are out of this agent's retention"
        );
        let _ = journal.send(JournalInput::Event(Box::new(not_retained_event(
            &lost, detail,
        ))));
    }
    // Counting what is replayed reads the journal's keys: off the uplink's task.
    let reader = reader.clone();
    let requeued_above = state.todo_len();
    let replay = state.replay_ranges(to.saturating_add(1), from);
    tokio::task::spawn_blocking(move || {
        let resent: u64 = replay
            .into_iter()
            .map(|(a, b)| reader.held(a, b, u64::MAX).map_or(0, |s| s.len()))
            .sum();
        warn!(
            from,
            to,
            resent,
            not_retained,
            to_send_above = requeued_above,
            "Collector's committed mark went back (HQ restored from a backup, or the broker from old \
             persistence): resending what the journal still holds from retention, reporting the rest \
             as a DataLoss (NOT_RETAINED)."
        );
    });
}

/// Reports seqs queued for sending that the journal dropped from retention since they were
/// queued (the floor moved meanwhile): the collector would otherwise wait for them forever.
/// Cheap when there are none.
pub fn settle_unheld(
    state: &mut State,
    reader: &JournalReader,
    journal: &mpsc::UnboundedSender<JournalInput>,
) {
    let lost = state.take_unheld(reader.retain_floor());
    if lost.is_empty() {
        return;
    }
    warn!(
        not_retained = lost.len(),
        floor = reader.retain_floor(),
        "Events queued for resending left the journal's retention first; reporting them as lost."
    );
    let detail = format!(
        "{} seqs queued for resending left the retention window before they were sent",
        lost.len()
    );
    let _ = journal.send(JournalInput::Event(Box::new(not_retained_event(
        &lost, detail,
    ))));
}

/// The `DataLoss` event settling `lost` at the collector.
pub fn not_retained_event(lost: &SeqSet, detail: String) -> Event {
    let mut ev = Event {
        device_id: AGENT_DEVICE_ID.to_owned(),
        body: Some(Body::DataLoss(DataLoss {
            reason: DataLossReason::NotRetained as i32,
            ranges: lost
                .ranges()
                .map(|(first, last)| SeqRange { first, last })
                .collect(),
            classes: vec![],
            exact: true,
            detail,
        })),
        ..Default::default()
    };
    clock::stamp(&mut ev);
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_loss_names_exactly_the_ranges() {
        let ev = not_retained_event(&SeqSet::from_ranges([(3, 5), (9, 9)]), "x".into());
        let Some(Body::DataLoss(d)) = ev.body else {
            panic!()
        };
        assert_eq!(d.reason, DataLossReason::NotRetained as i32);
        assert_eq!(
            d.ranges,
            [
                SeqRange { first: 3, last: 5 },
                SeqRange { first: 9, last: 9 }
            ]
        );
        assert!(d.exact);
        assert_eq!(ev.device_id, AGENT_DEVICE_ID);
    }
}
