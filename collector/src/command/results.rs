//! Results from agents (`stores/{store}/agents/{agent}/cmd/result`): hostile bytes until
//! proven otherwise.
//!
//! A result is bounded ([`MAX_RESULT_BYTES`]), decoded, and recorded only when its id is a
//! command of this book and the topic it came on is that command's agent (the topic is the
//! sender's identity: the broker's ACL lets an agent publish only under its own name). Anything
//! else is ignored, counted by reason (`store_collector_command_results_rejected_total`) and
//! logged at most once a minute per reason; nothing a result carries can stall the collector or
//! change another command.

use prost::Message;
use store_proto::v1::CommandResult;
use store_runtime::log_limit::LogLimit;
use tokio::time::Instant;
use tracing::warn;

use super::book::Answered;
use super::Commands;
use crate::ledger::{AgentKey, DbError};

/// Largest result payload accepted.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// Why a result was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Larger than [`MAX_RESULT_BYTES`].
    TooLarge,
    /// Not a `CommandResult`.
    Undecodable,
    /// No command of this collector has the id (ids of other collectors are not counted).
    UnknownId,
    /// The command is for another agent than the topic names.
    WrongAgent,
    /// Results arrived faster than the command task takes them.
    Overload,
}

impl Reject {
    /// Every reason, in metric order.
    pub const ALL: [Reject; 5] = [
        Reject::TooLarge,
        Reject::Undecodable,
        Reject::UnknownId,
        Reject::WrongAgent,
        Reject::Overload,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reject::TooLarge => "too_large",
            Reject::Undecodable => "undecodable",
            Reject::UnknownId => "unknown_id",
            Reject::WrongAgent => "wrong_agent",
            Reject::Overload => "overload",
        }
    }
}

/// Counts and logs (rate limited) a rejected result.
pub fn note_rejected(
    commands: &Commands,
    log_limit: &mut LogLimit<Reject>,
    reject: Reject,
    from: &AgentKey,
    detail: &str,
) {
    commands.counters.rejected(reject);
    if let Some(n) = log_limit.note(&reject, 1, Instant::now()) {
        warn!(store_id = %from.store_id, agent_id = %from.agent_id, reason = reject.label(),
            results = n, detail = %detail.escape_debug(),
            "Command results ignored.");
    }
}

/// Takes one result payload from `from`'s result topic: records it, or counts and logs why
/// not. Blocking (a recorded result is written durably). Only a database error is returned.
pub fn take(
    commands: &Commands,
    log_limit: &mut LogLimit<Reject>,
    from: &AgentKey,
    payload: &[u8],
    now_ms: i64,
) -> Result<(), DbError> {
    if payload.len() > MAX_RESULT_BYTES {
        note_rejected(
            commands,
            log_limit,
            Reject::TooLarge,
            from,
            &format!("{} bytes", payload.len()),
        );
        return Ok(());
    }
    let result = match CommandResult::decode(payload) {
        Ok(r) => r,
        Err(e) => {
            note_rejected(
                commands,
                log_limit,
                Reject::Undecodable,
                from,
                &e.to_string(),
            );
            return Ok(());
        }
    };
    let outcome = commands.book().answer(from, &result, now_ms)?;
    let id: String = result.id.chars().take(128).collect();
    match outcome {
        Answered::Recorded => commands.counters.answered(),
        Answered::Repeat => {
            tracing::debug!(command_id = %id.escape_debug(), "Repeated command result ignored.")
        }
        Answered::UnknownId if !commands.is_own_id(&result.id) => {
            // Another collector's command (every collector hears every result).
            tracing::debug!(command_id = %id.escape_debug(), "Result of another collector's command ignored.")
        }
        Answered::UnknownId => note_rejected(commands, log_limit, Reject::UnknownId, from, &id),
        Answered::WrongAgent => note_rejected(commands, log_limit, Reject::WrongAgent, from, &id),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::request::Kind;
    use crate::command::tests::commands;
    use crate::command::Request;

    #[test]
    fn only_results_for_known_ids_from_their_agent_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (commands, _wakes) = commands(dir.path());
        let a1 = AgentKey::new("s1", "a1");
        let record = commands
            .issue(
                &a1,
                Request {
                    kind: Kind::Reload,
                    expires_in_secs: 60,
                },
                1_000,
            )
            .unwrap();
        let mut log_limit = LogLimit::default();
        let answer = |id: &str| {
            CommandResult {
                id: id.into(),
                ok: true,
                message: "reloaded".into(),
                ..Default::default()
            }
            .encode_to_vec()
        };
        let rejected = |c: &Commands, r: Reject| c.counters.rejected_count(r);

        take(&commands, &mut log_limit, &a1, &[0xff, 0xff, 0xff], 2_000).unwrap();
        assert_eq!(rejected(&commands, Reject::Undecodable), 1);
        take(
            &commands,
            &mut log_limit,
            &a1,
            &vec![0; MAX_RESULT_BYTES + 1],
            2_000,
        )
        .unwrap();
        assert_eq!(rejected(&commands, Reject::TooLarge), 1);
        // Right id, wrong topic.
        take(
            &commands,
            &mut log_limit,
            &AgentKey::new("s1", "a2"),
            &answer(&record.id),
            2_000,
        )
        .unwrap();
        assert_eq!(rejected(&commands, Reject::WrongAgent), 1);
        // An id of this collector's form that the book does not hold.
        let forged = format!("{:013}-hq-1-0000000000000000", 5);
        take(&commands, &mut log_limit, &a1, &answer(&forged), 2_000).unwrap();
        assert_eq!(rejected(&commands, Reject::UnknownId), 1);
        // Another collector's id: ignored, not counted.
        take(
            &commands,
            &mut log_limit,
            &a1,
            &answer("0000000000005-hq-2-00"),
            2_000,
        )
        .unwrap();
        assert_eq!(rejected(&commands, Reject::UnknownId), 1);
        assert_eq!(
            commands.get(&record.id).unwrap().state,
            crate::command::State::Pending
        );
        assert_eq!(commands.counters.answered_count(), 0);

        take(&commands, &mut log_limit, &a1, &answer(&record.id), 2_000).unwrap();
        let r = commands.get(&record.id).unwrap();
        assert_eq!(r.state, crate::command::State::Answered);
        assert_eq!(r.result.unwrap().message, "reloaded");
        assert_eq!(commands.counters.answered_count(), 1);
        // A redelivery changes nothing and is not counted again.
        take(&commands, &mut log_limit, &a1, &answer(&record.id), 3_000).unwrap();
        assert_eq!(commands.counters.answered_count(), 1);
    }
}
