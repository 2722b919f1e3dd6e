//! `[clock]`: the simulated clock of demos and accelerated tests.
//!
//! Absent in production, where events carry the real wall clock.

use serde::Deserialize;

/// `[clock]`: a simulated clock for demos and tests that play a store day in minutes. Leave it
/// out in production: events then carry the real wall clock.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// Start of the simulated day, ms since the Unix epoch; unset = the real clock.
    #[serde(default)]
    pub simulated_start_ms: Option<i64>,
    /// How many times faster than real time the simulated clock runs (e.g. 240: a 14-hour store
    /// day in 3.5 minutes).
    #[serde(default = "default_clock_speed")]
    pub speed: f64,
    /// Real wall time (ms since the Unix epoch) at which the simulated clock reads
    /// `simulated_start_ms`; unset = when the agent starts. Lets a script that drives the
    /// simulated day know the simulated time exactly.
    #[serde(default)]
    pub anchor_ms: Option<i64>,
}

fn default_clock_speed() -> f64 {
    1.0
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            simulated_start_ms: None,
            speed: default_clock_speed(),
            anchor_ms: None,
        }
    }
}
