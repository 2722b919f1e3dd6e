//! Publishes each agent's contiguous committed mark, retained, on
//! `stores/{store}/agents/{agent}/ack`.
//!
//! Marks come from the ingest task only after their group is durable. They are coalesced: at
//! most one publish per agent per interval, and only when the mark moved. After every
//! (re)connection all marks are published again, because a broker that lost its state lost the
//! retained marks too, and agents free journal space only when they see them.

use std::collections::HashMap;
use std::time::Duration;

use prost::Message;
use store_proto::v1::{CommitMark, SeqRange};
use store_runtime::clock::now_ms;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tracing::{debug, warn};

use crate::mqtt::Mqtt;
use crate::state::{AgentKey, Mark};

/// Requests to the mark publisher.
#[derive(Debug)]
pub enum AckCommand {
    /// Committed marks after a group commit.
    Marks(Vec<(AgentKey, Mark)>),
    /// After a (re)connection: forget what was published and publish all of these.
    RepublishAll(Vec<(AgentKey, Mark)>),
    /// Publish these marks at the next tick even if unchanged: their agents resent events that
    /// were already applied, so they may have missed the last mark.
    Refresh(Vec<(AgentKey, Mark)>),
    /// Publish what is pending now (shutdown), then answer.
    Flush(oneshot::Sender<()>),
}

/// Runs until the command channel closes, publishing what is pending one last time.
pub async fn run<M: Mqtt>(
    mqtt: M,
    collector_id: String,
    interval: Duration,
    mut commands: mpsc::UnboundedReceiver<AckCommand>,
) {
    let mut publisher = Publisher {
        mqtt,
        collector_id,
        pending: HashMap::new(),
        published: HashMap::new(),
    };
    let mut ticker = tokio::time::interval(interval);
    // After a slow publish round, wait a full interval again rather than bursting.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(AckCommand::Marks(marks)) => publisher.pending.extend(marks),
                Some(AckCommand::RepublishAll(marks)) => {
                    publisher.published.clear();
                    publisher.pending.extend(marks);
                }
                Some(AckCommand::Refresh(marks)) => {
                    for (key, mark) in marks {
                        publisher.published.remove(&key);
                        publisher.pending.insert(key, mark);
                    }
                }
                Some(AckCommand::Flush(done)) => {
                    publisher.publish_pending().await;
                    let _ = done.send(());
                }
                None => {
                    publisher.publish_pending().await;
                    return;
                }
            },
            // Pending marks wait for the tick: that is the coalescing.
            _ = ticker.tick() => publisher.publish_pending().await,
        }
    }
}

struct Publisher<M> {
    mqtt: M,
    collector_id: String,
    /// Latest mark per agent not yet published.
    pending: HashMap<AgentKey, Mark>,
    /// Last mark published per agent on this connection.
    published: HashMap<AgentKey, Mark>,
}

impl<M: Mqtt> Publisher<M> {
    async fn publish_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut marks: Vec<(AgentKey, Mark)> = self.pending.drain().collect();
        marks.sort();
        for (key, mark) in marks {
            // An empty mark says nothing an agent can act on.
            let empty = mark.committed == 0 && mark.done_above.is_empty();
            if empty || self.published.get(&key) == Some(&mark) {
                continue;
            }
            let committed = mark.committed;
            let payload = CommitMark {
                committed_seq: committed,
                collector_id: self.collector_id.clone(),
                wall_time_ms: now_ms(),
                done_above: mark
                    .done_above
                    .iter()
                    .map(|&(first, last)| SeqRange { first, last })
                    .collect(),
            }
            .encode_to_vec();
            let topic = store_proto::topics::ack(&key.store_id, &key.agent_id);
            match self.mqtt.publish(topic, true, payload).await {
                Ok(()) => {
                    debug!(store_id = %key.store_id, agent_id = %key.agent_id, committed, "Ack published.");
                    self.published.insert(key, mark);
                }
                Err(e) => {
                    // Only when the client is closed, i.e. shutting down.
                    warn!(error = %e, "Cannot publish commit marks.");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::FakeMqtt;

    fn key(agent: &str) -> AgentKey {
        AgentKey::new("s1", agent)
    }

    fn marks(fake: &FakeMqtt) -> Vec<(String, u64)> {
        fake.published()
            .into_iter()
            .map(|(topic, retain, payload)| {
                assert!(retain);
                (
                    topic,
                    CommitMark::decode(payload.as_slice())
                        .unwrap()
                        .committed_seq,
                )
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn marks_are_coalesced_per_interval_and_only_sent_when_changed() {
        let fake = FakeMqtt::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(
            fake.clone(),
            "hq-1".into(),
            Duration::from_millis(200),
            rx,
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        for m in 1..=50 {
            tx.send(AckCommand::Marks(vec![(key("a1"), m.into())]))
                .unwrap();
        }
        tx.send(AckCommand::Marks(vec![(key("a2"), 7.into())]))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(marks(&fake).is_empty(), "nothing before the interval ends");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            marks(&fake),
            vec![
                ("stores/s1/agents/a1/ack".to_owned(), 50),
                ("stores/s1/agents/a2/ack".to_owned(), 7)
            ]
        );
        // Unchanged marks are not published again.
        tx.send(AckCommand::Marks(vec![
            (key("a1"), 50.into()),
            (key("a2"), 7.into()),
        ]))
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(marks(&fake).len(), 2);
        // A reconnection republishes everything.
        tx.send(AckCommand::RepublishAll(vec![
            (key("a1"), 50.into()),
            (key("a3"), 0.into()),
        ]))
        .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(marks(&fake).len(), 3);
        assert_eq!(marks(&fake)[2], ("stores/s1/agents/a1/ack".to_owned(), 50));
        // Duplicates from an agent make its unchanged mark go out again.
        tx.send(AckCommand::Refresh(vec![(key("a1"), 50.into())]))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(marks(&fake).len(), 4);
        // Flush publishes at once.
        tx.send(AckCommand::Marks(vec![(key("a2"), 9.into())]))
            .unwrap();
        let (done_tx, done_rx) = oneshot::channel();
        tx.send(AckCommand::Flush(done_tx)).unwrap();
        done_rx.await.unwrap();
        assert_eq!(marks(&fake)[4], ("stores/s1/agents/a2/ack".to_owned(), 9));
        // Ranges done above a stuck mark go out with it, and a change in them is news.
        let stuck = |above: Vec<(u64, u64)>| Mark {
            committed: 9,
            done_above: above,
        };
        tx.send(AckCommand::Marks(vec![(key("a2"), stuck(vec![(12, 20)]))]))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        tx.send(AckCommand::Marks(vec![(key("a2"), stuck(vec![(12, 30)]))]))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        let published = fake.published();
        assert_eq!(published.len(), 7);
        let last = CommitMark::decode(published[6].2.as_slice()).unwrap();
        assert_eq!(last.committed_seq, 9);
        assert_eq!(
            last.done_above,
            vec![SeqRange {
                first: 12,
                last: 30
            }]
        );
        drop(tx);
        task.await.unwrap();
    }
}
