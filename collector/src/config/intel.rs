//! `[intel]`: the rules engine's catalogue, clock and output format.
//!
//! The chain's `[rules.*]` thresholds and the `[store.*]` profiles stay raw TOML tables on
//! `Config`: `rules::engine::profile` owns their keys and defaults, and `Config::profiles`
//! resolves them (so `Config::validate` reports their errors with line numbers too).

use std::path::PathBuf;

use serde::Deserialize;

/// `[intel]`: the rules engine that turns events into stock alerts and staffing signals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelConfig {
    /// Product catalogue HQ maintains (`.csv` or `.toml`). Re-read when the file changes; a file
    /// with errors is refused (logged with file and line) and the last good one stays in force.
    /// Without one, every GTIN is "unknown" and reorder points come from observed demand.
    #[serde(default)]
    pub catalogue: Option<PathBuf>,
    /// What "now" is for the rules: `"wall"` (the collector's clock, the default) or `"event"`
    /// (the newest event time seen: for replays and the accelerated demo).
    #[serde(default = "default_clock")]
    pub clock: ClockMode,
    /// Payload of `hq/alerts/{store}` and `hq/signals/{store}`: `"protobuf"` (store.edge.v1.Alert
    /// and StaffingSignal, the default) or `"json"` (same field names) for dashboards.
    #[serde(default = "default_format")]
    pub format: OutputFormat,
    /// How often time-based rules (staffing, silence, transfers) are evaluated, milliseconds.
    #[serde(default = "default_evaluate_interval_ms")]
    pub evaluate_interval_ms: u64,
    /// How often the catalogue file is checked for changes, seconds.
    #[serde(default = "default_catalogue_check_secs")]
    pub catalogue_check_secs: u64,
}

/// See [`IntelConfig::clock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    Wall,
    Event,
}

/// See [`IntelConfig::format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Protobuf,
    Json,
}

fn default_clock() -> ClockMode {
    ClockMode::Wall
}
fn default_format() -> OutputFormat {
    OutputFormat::Protobuf
}
fn default_evaluate_interval_ms() -> u64 {
    1000
}
fn default_catalogue_check_secs() -> u64 {
    5
}

pub(super) fn default_intel() -> IntelConfig {
    IntelConfig {
        catalogue: None,
        clock: ClockMode::Wall,
        format: OutputFormat::Protobuf,
        evaluate_interval_ms: default_evaluate_interval_ms(),
        catalogue_check_secs: default_catalogue_check_secs(),
    }
}
