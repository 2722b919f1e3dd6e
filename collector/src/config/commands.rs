//! `[commands]`: commands from HQ to agents (see the `command` module): how many may wait per
//! agent, how fast they go out, when a delivered but unanswered one is sent again, and how long
//! the command book keeps them.

use serde::Deserialize;

/// `[commands]`: the command book and its delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsConfig {
    /// Most commands per agent that are neither answered nor expired. Further requests for that
    /// agent are refused with 429 until some are answered or expire.
    #[serde(default = "default_max_outstanding_per_agent")]
    pub max_outstanding_per_agent: usize,
    /// Most command publishes per second, all agents together (a burst of births after a
    /// broker restart must not flood the broker).
    #[serde(default = "default_max_publishes_per_sec")]
    pub max_publishes_per_sec: u32,
    /// A command published but not answered is published again on the agent's next online
    /// status once this many seconds have passed (the agent runs each id at most once, so a
    /// resend is harmless; it covers a publish lost while the agent reconnected).
    #[serde(default = "default_resend_after_secs")]
    pub resend_after_secs: u64,
    /// Most commands the book keeps; the oldest are pruned beyond it.
    #[serde(default = "default_keep_commands")]
    pub keep_commands: usize,
    /// Commands issued longer ago than this many days are pruned.
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
}

fn default_max_outstanding_per_agent() -> usize {
    100
}

fn default_max_publishes_per_sec() -> u32 {
    50
}

fn default_resend_after_secs() -> u64 {
    60
}

fn default_keep_commands() -> usize {
    100_000
}

fn default_keep_days() -> u32 {
    30
}

pub(super) fn default_commands() -> CommandsConfig {
    CommandsConfig {
        max_outstanding_per_agent: default_max_outstanding_per_agent(),
        max_publishes_per_sec: default_max_publishes_per_sec(),
        resend_after_secs: default_resend_after_secs(),
        keep_commands: default_keep_commands(),
        keep_days: default_keep_days(),
    }
}
