//! The command task: publishes due commands, records results, expires and prunes.
//!
//! It is the only place commands go out, so the overall rate bound
//! (`[commands] max_publishes_per_sec`, a token bucket) holds however many agents come online
//! at once: agents whose commands are due wait in a queue, each once. An agent's commands are
//! due when its retained status says online (birth, the periodic status, or the retained one a
//! collector gets at start-up) or when a command is issued while it is online. Every book
//! change is a durable write, done off the async workers; a failed write is logged and the
//! memory copy is left as it was, so the next wake-up tries again.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use store_proto::topics;
use store_runtime::log_limit::LogLimit;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{error, warn};

use super::results::{self, Reject};
use super::{Commands, Wake};
use crate::clock::now_ms;
use crate::ingest::mqtt::Mqtt;
use crate::ledger::AgentKey;
use crate::rules::Runtime;

/// How often the token bucket is refilled and waiting agents are served.
const REFILL_EVERY: Duration = Duration::from_millis(100);
/// How often expiry is swept and the book pruned.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Runs until the wake channel closes (never while the collector runs; the task is aborted at
/// shutdown, which loses nothing: every change is durable before it is acted on).
pub async fn run<M: Mqtt>(
    commands: Arc<Commands>,
    mqtt: M,
    rules: Arc<Runtime>,
    mut wakes: mpsc::Receiver<Wake>,
) {
    let rate = f64::from(commands.max_publishes_per_sec().max(1));
    let mut tokens = rate;
    let mut refilled = Instant::now();
    let mut ready: VecDeque<AgentKey> = VecDeque::new();
    let mut queued: HashSet<AgentKey> = HashSet::new();
    let mut log_limit: Option<LogLimit<Reject>> = Some(LogLimit::default());
    let mut refill = tokio::time::interval(REFILL_EVERY);
    refill.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            wake = wakes.recv() => match wake {
                None => return,
                Some(Wake::Online(key)) => {
                    if queued.insert(key.clone()) {
                        ready.push_back(key);
                    }
                }
                Some(Wake::Issued(key)) => {
                    // Offline: it waits for the agent's birth.
                    if rules.is_online(&key) && queued.insert(key.clone()) {
                        ready.push_back(key);
                    }
                }
                Some(Wake::Result(key, payload)) => {
                    let c = commands.clone();
                    let mut limit = log_limit.take().unwrap_or_default();
                    let outcome = tokio::task::spawn_blocking(move || {
                        let r = results::take(&c, &mut limit, &key, &payload, now_ms());
                        (limit, r)
                    })
                    .await;
                    match outcome {
                        Ok((limit, r)) => {
                            log_limit = Some(limit);
                            if let Err(e) = r {
                                error!(error = %e, "Command result not recorded: the command book cannot be written.");
                            }
                        }
                        Err(e) => error!(error = %e, "Command result task failed."),
                    }
                }
            },
            _ = refill.tick() => {}
            _ = sweep.tick() => sweep_book(&commands).await,
        }
        let now = Instant::now();
        tokens = (tokens + now.duration_since(refilled).as_secs_f64() * rate).min(rate);
        refilled = now;
        while tokens >= 1.0 {
            let Some(key) = ready.pop_front() else { break };
            let max = tokens as usize;
            let sent = send_due(&commands, &mqtt, &key, max).await;
            tokens -= sent as f64;
            if sent >= max {
                // Out of tokens with maybe more due: this agent goes first next time.
                ready.push_front(key);
                break;
            }
            queued.remove(&key);
        }
    }
}

/// Publishes up to `max` of `key`'s due commands; returns how many went out.
async fn send_due<M: Mqtt>(
    commands: &Arc<Commands>,
    mqtt: &M,
    key: &AgentKey,
    max: usize,
) -> usize {
    let c = commands.clone();
    let k = key.clone();
    let due = match tokio::task::spawn_blocking(move || c.book().take_due(&k, now_ms(), max)).await
    {
        Ok(Ok(due)) => due,
        Ok(Err(e)) => {
            error!(error = %e, store_id = %key.store_id, agent_id = %key.agent_id,
                "Commands not sent: the command book cannot be written.");
            return 0;
        }
        Err(e) => {
            error!(error = %e, "Command send task failed.");
            return 0;
        }
    };
    let topic = topics::cmd(&key.store_id, &key.agent_id);
    for command in &due {
        // QoS 1, not retained: a retained command would run again on every reconnect.
        if let Err(e) = mqtt
            .publish(topic.clone(), false, command.encode_to_vec())
            .await
        {
            // The book says sent: the agent's next status after resend_after_secs retries it.
            warn!(command_id = %command.id, error = %e, "Command publish failed.");
        }
    }
    commands.counters.sent(due.len() as u64);
    due.len()
}

/// Expires what is due and prunes the book.
async fn sweep_book(commands: &Arc<Commands>) {
    let c = commands.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let expired = c.book().expire_due(now)?;
        c.counters.expired(expired as u64);
        c.book().prune(now)
    })
    .await;
    match outcome {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => error!(error = %e, "Command book sweep failed; trying again."),
        Err(e) => error!(error = %e, "Command book sweep task failed."),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost::Message;
    use store_proto::v1::{AgentStatus, Command};
    use tokio::sync::mpsc;

    use super::*;
    use crate::command::request::Kind;
    use crate::command::Request;
    use crate::config::Config;
    use crate::ingest::fake_mqtt::FakeMqtt;
    use crate::ledger::Db;

    /// Commands published so far, in order.
    fn published(fake: &FakeMqtt) -> Vec<(String, Command)> {
        fake.published()
            .into_iter()
            .map(|(topic, retain, payload)| {
                assert!(!retain, "commands are never retained");
                (topic, Command::decode(payload.as_slice()).unwrap())
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publishes_only_to_online_agents_and_never_faster_than_the_rate() {
        const RATE: u64 = 5;
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(
            &format!(
                "collector_id = \"hq-1\"\nstate_dir = \"/unused\"\n[commands]\n\
                 max_publishes_per_sec = {RATE}\nmax_outstanding_per_agent = 50\n"
            ),
            "t.toml",
        )
        .unwrap();
        let (db, _) = Db::open(&dir.path().join("state")).unwrap();
        let db = Arc::new(db);
        let (outputs, _) = mpsc::unbounded_channel();
        let rules = Arc::new(Runtime::open(&config, db.clone(), outputs).unwrap());
        let (commands, wakes) = Commands::open(db, &config).unwrap();
        let (a1, a2) = (AgentKey::new("s1", "a1"), AgentKey::new("s1", "a2"));
        let request = Request {
            kind: Kind::StatusReport,
            expires_in_secs: 600,
        };
        let offline = commands.issue(&a2, request.clone(), now_ms()).unwrap();
        for _ in 0..20 {
            commands.issue(&a1, request.clone(), now_ms()).unwrap();
        }
        let fake = FakeMqtt::default();
        let online = AgentStatus {
            online: true,
            ..Default::default()
        }
        .encode_to_vec();
        assert!(rules.note_status(a1.clone(), &online));
        let task = tokio::spawn(run(commands.clone(), fake.clone(), rules, wakes));
        // The issued wake-ups find a1 online and a2 not.
        let started = Instant::now();
        let deadline = started + Duration::from_secs(20);
        loop {
            let n = published(&fake).len() as u64;
            let elapsed = started.elapsed().as_secs_f64();
            // The bucket starts full (RATE) and refills at RATE per second, however slow the
            // machine: more than that means the bound is broken.
            assert!(
                n as f64 <= RATE as f64 * (1.0 + elapsed) + 1.0,
                "{n} publishes after {elapsed:.2} s"
            );
            if n == 20 {
                break;
            }
            assert!(Instant::now() < deadline, "only {n} of 20 published");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // 15 beyond the first burst take at least 3 s at 5 per second (less one refill tick).
        assert!(
            started.elapsed() >= Duration::from_millis(2_800),
            "{:?}",
            started.elapsed()
        );
        let sent = published(&fake);
        assert!(sent
            .iter()
            .all(|(topic, c)| topic == "stores/s1/agents/a1/cmd" && c.agent_id == "a1"));
        assert_eq!(commands.counters.sent_count(), 20);
        assert_eq!(
            commands.get(&offline.id).unwrap().state,
            crate::command::State::Pending
        );
        task.abort();
    }
}
