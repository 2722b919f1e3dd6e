//! From untrusted bytes to a command the agent may run, checked in a fixed order: size,
//! protobuf, id, (the caller's duplicate check), addressee, expiry, kind and arguments. Each
//! refusal says why in words for the operator; nothing here has side effects.

use std::time::Duration;

use prost::Message;
use store_drivers::scanner::mode::ScanMode;
use store_proto::v1::{self, command::Kind, Command};

use super::Outcome;
use crate::uplink::resend::ResendRange;

/// Largest command payload read; a bigger one is dropped unread.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// Longest command id.
pub const MAX_ID_BYTES: usize = 128;
/// Latest expiry accepted, from now: a command meant to wait longer is a mistake or a replay.
pub const MAX_EXPIRY_AHEAD_MS: i64 = 7 * 24 * 3600 * 1000;
/// Most seqs one replay may name.
pub const MAX_REPLAY_SEQS: u64 = 1_000_000;
/// Longest a temporary log filter may last.
pub const MAX_LOG_FILTER_SECS: u32 = 24 * 3600;
/// Longest log filter text.
const MAX_FILTER_BYTES: usize = 1024;

/// Why bytes could not become an identified command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Too large or not a `Command`: there is no id to answer to.
    NoAnswer {
        reason: &'static str,
        detail: String,
    },
    /// Readable but its id is unusable: answered with an empty id, not remembered.
    BadId(String),
}

/// Size, protobuf and id checks.
pub fn decode(payload: &[u8]) -> Result<Command, Unreadable> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(Unreadable::NoAnswer {
            reason: "too_large",
            detail: format!(
                "{} bytes, at most {MAX_COMMAND_BYTES} are read",
                payload.len()
            ),
        });
    }
    let command = Command::decode(payload).map_err(|e| Unreadable::NoAnswer {
        reason: "undecodable",
        detail: e.to_string(),
    })?;
    if command.id.is_empty() {
        return Err(Unreadable::BadId("refused: the command has no id".into()));
    }
    if command.id.len() > MAX_ID_BYTES {
        return Err(Unreadable::BadId(format!(
            "refused: the command id is {} bytes long, at most {MAX_ID_BYTES} are allowed",
            command.id.len()
        )));
    }
    Ok(command)
}

/// What a checked command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Replay(ResendRange),
    Reload,
    SetScanMode { device_id: String, mode: ScanMode },
    StatusReport,
    SetLogFilter { filter: String, duration: Duration },
}

/// A command that must not run: the outcome it counts as and the message for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub outcome: Outcome,
    pub message: String,
}

fn refused(message: String) -> Refusal {
    Refusal {
        outcome: Outcome::Refused,
        message,
    }
}

fn invalid(message: String) -> Refusal {
    Refusal {
        outcome: Outcome::Invalid,
        message,
    }
}

/// Addressee, expiry, kind and argument checks for a command with a usable id, at the agent's
/// wall clock `now_ms`.
pub fn check(
    command: &Command,
    store_id: &str,
    agent_id: &str,
    now_ms: i64,
) -> Result<Action, Refusal> {
    if command.store_id != store_id || command.agent_id != agent_id {
        return Err(refused(format!(
            "refused: addressed to store {:?} agent {:?}, this is store {store_id:?} agent {agent_id:?}",
            bounded(&command.store_id),
            bounded(&command.agent_id)
        )));
    }
    if command.expires_at_ms <= now_ms {
        return Err(refused(format!(
            "refused: expired at {} ms, the agent's clock reads {now_ms} ms",
            command.expires_at_ms
        )));
    }
    if command.expires_at_ms - now_ms > MAX_EXPIRY_AHEAD_MS {
        return Err(refused(format!(
            "refused: expires at {} ms, more than 7 days after the agent's clock ({now_ms} ms)",
            command.expires_at_ms
        )));
    }
    match &command.kind {
        None => Err(invalid("unknown command".into())),
        Some(Kind::Replay(r)) => replay(r).map(Action::Replay).map_err(invalid),
        Some(Kind::Reload(_)) => Ok(Action::Reload),
        Some(Kind::StatusReport(_)) => Ok(Action::StatusReport),
        Some(Kind::SetScanMode(s)) => scan_mode(s).map_err(invalid),
        Some(Kind::SetLogFilter(f)) => log_filter(f).map_err(invalid),
    }
}

fn replay(r: &v1::Replay) -> Result<ResendRange, String> {
    if r.to_seq != 0 {
        if r.from_seq > r.to_seq {
            return Err(format!(
                "invalid replay: from_seq {} is after to_seq {}",
                r.from_seq, r.to_seq
            ));
        }
        if r.to_seq - r.from_seq >= MAX_REPLAY_SEQS {
            return Err(format!(
                "invalid replay: {} seqs requested, at most {MAX_REPLAY_SEQS} per command",
                (r.to_seq - r.from_seq).saturating_add(1)
            ));
        }
        return Ok(ResendRange::Seqs {
            from: r.from_seq,
            to: r.to_seq,
        });
    }
    if r.from_seq != 0 {
        return Err("invalid replay: from_seq is set but to_seq is 0".into());
    }
    if r.from_time_ms < 0 || r.to_time_ms <= 0 {
        return Err("invalid replay: give a seq range or a time range (ms since 1970)".into());
    }
    if r.from_time_ms > r.to_time_ms {
        return Err(format!(
            "invalid replay: from_time_ms {} is after to_time_ms {}",
            r.from_time_ms, r.to_time_ms
        ));
    }
    Ok(ResendRange::Time {
        from_ms: r.from_time_ms,
        to_ms: r.to_time_ms,
    })
}

fn scan_mode(s: &v1::SetScanMode) -> Result<Action, String> {
    if s.device_id.is_empty() {
        return Err("invalid set_scan_mode: no device_id".into());
    }
    let mode = match v1::ScanMode::try_from(s.mode) {
        Ok(v1::ScanMode::Sale) => ScanMode::Sale,
        Ok(v1::ScanMode::StockCount) => ScanMode::StockCount,
        Ok(v1::ScanMode::Receiving) => ScanMode::Receiving,
        Ok(v1::ScanMode::Shrink) => ScanMode::Shrink,
        Ok(v1::ScanMode::TransferOut) => ScanMode::TransferOut,
        Ok(v1::ScanMode::TransferIn) => ScanMode::TransferIn,
        // Badge is what a badge scan records, not a mode a scanner can be put in.
        _ => {
            return Err(format!(
                "invalid set_scan_mode: {} is not a scan mode a scanner can be set to",
                s.mode
            ))
        }
    };
    Ok(Action::SetScanMode {
        device_id: s.device_id.clone(),
        mode,
    })
}

fn log_filter(f: &v1::SetLogFilter) -> Result<Action, String> {
    if f.filter.is_empty() || f.filter.len() > MAX_FILTER_BYTES {
        return Err(format!(
            "invalid set_log_filter: the filter must be 1 to {MAX_FILTER_BYTES} bytes"
        ));
    }
    super::log_filter::check(&f.filter)
        .map_err(|e| format!("invalid set_log_filter: {:?} does not parse: {e}", f.filter))?;
    if f.duration_s == 0 || f.duration_s > MAX_LOG_FILTER_SECS {
        return Err(format!(
            "invalid set_log_filter: duration_s {} is not within 1..={MAX_LOG_FILTER_SECS}",
            f.duration_s
        ));
    }
    Ok(Action::SetLogFilter {
        filter: f.filter.clone(),
        duration: Duration::from_secs(u64::from(f.duration_s)),
    })
}

/// Untrusted text quoted back in an answer or a log line, cut to [`MAX_ID_BYTES`] so it cannot
/// bloat either (logs print it with `Debug`, so control characters cannot forge lines).
pub fn bounded(text: &str) -> &str {
    let mut end = text.len().min(MAX_ID_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The kind's name for logs.
pub fn kind_name(command: &Command) -> &'static str {
    match &command.kind {
        None => "unknown",
        Some(Kind::Replay(_)) => "replay",
        Some(Kind::Reload(_)) => "reload",
        Some(Kind::SetScanMode(_)) => "set_scan_mode",
        Some(Kind::StatusReport(_)) => "status_report",
        Some(Kind::SetLogFilter(_)) => "set_log_filter",
    }
}
