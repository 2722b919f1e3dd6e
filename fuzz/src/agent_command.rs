//! The agent's HQ command decoder (`command::validate::{decode, check}`): the bytes of a
//! publish on the agent's `.../cmd` topic in, a command the agent may run or a refusal out.
//!
//! Input: the payload.
//!
//! Asserted besides "no panic": a payload over `MAX_COMMAND_BYTES` is not read; a command that
//! decodes has an id of 1 to `MAX_ID_BYTES` bytes and encodes back to the same command; a
//! checked command is addressed to this agent, unexpired and at most 7 days ahead, and its
//! action is within the bounds (a replay of at most `MAX_REPLAY_SEQS` seqs in order, a log
//! filter of at most a day); a refusal's message is bounded (it goes back in the answer).

use prost::Message;
use store_agent::command::validate::{
    check, decode, Action, Unreadable, MAX_COMMAND_BYTES, MAX_EXPIRY_AHEAD_MS, MAX_ID_BYTES,
    MAX_LOG_FILTER_SECS, MAX_REPLAY_SEQS,
};
use store_agent::uplink::resend::ResendRange;
use store_proto::v1::Command;

/// The agent's clock in the fuzzed runs.
pub const NOW_MS: i64 = 1_700_000_000_000;
pub const STORE: &str = "s1";
pub const AGENT: &str = "a1";

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let command = match decode(data) {
        Ok(c) => c,
        Err(Unreadable::NoAnswer { reason, detail }) => {
            assert_eq!(
                reason == "too_large",
                data.len() > MAX_COMMAND_BYTES,
                "{detail}"
            );
            return;
        }
        Err(Unreadable::BadId(message)) => {
            assert!(message.len() <= 256, "{message}");
            return;
        }
    };
    assert!(data.len() <= MAX_COMMAND_BYTES);
    assert!((1..=MAX_ID_BYTES).contains(&command.id.len()));
    let bytes = command.encode_to_vec();
    assert_eq!(
        Command::decode(bytes.as_slice()).ok().as_ref(),
        Some(&command)
    );

    match check(&command, STORE, AGENT, NOW_MS) {
        Ok(action) => {
            assert_eq!(
                (command.store_id.as_str(), command.agent_id.as_str()),
                (STORE, AGENT)
            );
            assert!(command.expires_at_ms > NOW_MS);
            assert!(command.expires_at_ms - NOW_MS <= MAX_EXPIRY_AHEAD_MS);
            match action {
                Action::Replay(ResendRange::Seqs { from, to }) => {
                    assert!(from <= to && to - from < MAX_REPLAY_SEQS, "{from}..={to}");
                }
                Action::Replay(ResendRange::Time { from_ms, to_ms }) => {
                    assert!(0 <= from_ms && from_ms <= to_ms, "{from_ms}..={to_ms}");
                }
                Action::SetLogFilter { filter, duration } => {
                    assert!(!filter.is_empty());
                    assert!(duration.as_secs() >= 1);
                    assert!(duration.as_secs() <= u64::from(MAX_LOG_FILTER_SECS));
                }
                Action::SetScanMode { device_id, .. } => assert!(!device_id.is_empty()),
                Action::Reload | Action::StatusReport => {}
            }
        }
        Err(refusal) => {
            // Two ids of at most 128 bytes, a filter of at most 1024 and the words around them.
            assert!(
                refusal.message.len() <= 4096,
                "{} bytes",
                refusal.message.len()
            );
            assert!(!refusal.message.is_empty());
        }
    }
}
