//! `[rules.anomaly]`: the thresholds of every anomaly rule.
//!
//! Depends on no other part of the engine: profiles compose these rules, the rules' code reads
//! them.

use serde::Deserialize;

/// `[rules.anomaly]`: when an unusual pattern is worth an alert.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyRules {
    /// A returns spike needs this many times the usual returns per hour. Default 3: returns vary a
    /// lot from hour to hour, a tripling is rarely chance.
    #[serde(default = "default_returns_factor")]
    pub returns_factor: f64,
    /// …and at least this many returns in the hour. Default 5: keeps a store that usually sees
    /// none from alerting on its second return.
    #[serde(default = "default_returns_min_count")]
    pub returns_min_count: u32,
    /// Days of history for the returns baseline. Default 14: two of each weekday.
    #[serde(default = "default_returns_baseline_days")]
    pub returns_baseline_days: u32,
    /// Sliding window for the void rate, minutes. Default 60: one cashier's hour.
    #[serde(default = "default_void_window_minutes")]
    pub void_window_minutes: u32,
    /// Voids ÷ transactions at or above which a register is flagged. Default 0.2: normal
    /// void rates are a few percent; one in five is either a broken scanner or a fraud pattern.
    #[serde(default = "default_void_rate")]
    pub void_rate: f64,
    /// Transactions needed in the window before the rate is judged. Default 10: a rate over
    /// fewer is noise.
    #[serde(default = "default_void_min_transactions")]
    pub void_min_transactions: u32,
    /// A DISCONNECTED device not back after this many minutes is offline. Default 10: drivers
    /// reconnect within seconds to a minute; ten minutes means someone has to look.
    #[serde(default = "default_offline_minutes")]
    pub offline_minutes: u32,
    /// A regular device silent for this many minutes of opening time is flagged. Default 30:
    /// longer than a lull at a till, short enough to fix before the afternoon.
    #[serde(default = "default_silent_minutes")]
    pub silent_minutes: u32,
    /// Share of the past week's open hours in which a device must have sent events to count as
    /// regular. Default 0.8: a door counter or a busy till; a back-office scanner is not.
    #[serde(default = "default_silent_active_share")]
    pub silent_active_share: f64,
    /// Open hours of history needed before a device can count as regular. Default 8: about a
    /// trading day.
    #[serde(default = "default_silent_min_hours")]
    pub silent_min_hours: u32,
    /// Minutes of opening time without any entry before the door counter is suspect. Default 30.
    /// At most 240.
    #[serde(default = "default_stuck_minutes")]
    pub stuck_minutes: u32,
    /// …while the tills made at least this many sales in those minutes. Default 5: people are
    /// clearly in the store.
    #[serde(default = "default_stuck_min_sales")]
    pub stuck_min_sales: u32,
    /// Largest accepted difference between an agent's clock and the collector's, seconds.
    /// Default 120: allows for delivery delay through the broker; NTP keeps real clocks within
    /// milliseconds.
    #[serde(default = "default_clock_max_skew_seconds")]
    pub clock_max_skew_seconds: u32,
    /// A TAMPERED alert (an agent reported a forged commit mark) resolves itself after this many
    /// hours without a new report. Default 24: a day for someone to look; an agent reports every
    /// new forged mark (at most once a minute), so the alert stays up while someone keeps
    /// forging.
    #[serde(default = "default_tamper_quiet_hours")]
    pub tamper_quiet_hours: u32,
}

fn default_returns_factor() -> f64 {
    3.0
}
fn default_returns_min_count() -> u32 {
    5
}
fn default_returns_baseline_days() -> u32 {
    14
}
fn default_void_window_minutes() -> u32 {
    60
}
fn default_void_rate() -> f64 {
    0.2
}
fn default_void_min_transactions() -> u32 {
    10
}
fn default_offline_minutes() -> u32 {
    10
}
fn default_silent_minutes() -> u32 {
    30
}
fn default_silent_active_share() -> f64 {
    0.8
}
fn default_silent_min_hours() -> u32 {
    8
}
fn default_stuck_minutes() -> u32 {
    30
}
fn default_stuck_min_sales() -> u32 {
    5
}
fn default_clock_max_skew_seconds() -> u32 {
    120
}
fn default_tamper_quiet_hours() -> u32 {
    24
}

impl Default for AnomalyRules {
    fn default() -> Self {
        AnomalyRules {
            returns_factor: default_returns_factor(),
            returns_min_count: default_returns_min_count(),
            returns_baseline_days: default_returns_baseline_days(),
            void_window_minutes: default_void_window_minutes(),
            void_rate: default_void_rate(),
            void_min_transactions: default_void_min_transactions(),
            offline_minutes: default_offline_minutes(),
            silent_minutes: default_silent_minutes(),
            silent_active_share: default_silent_active_share(),
            silent_min_hours: default_silent_min_hours(),
            stuck_minutes: default_stuck_minutes(),
            stuck_min_sales: default_stuck_min_sales(),
            clock_max_skew_seconds: default_clock_max_skew_seconds(),
            tamper_quiet_hours: default_tamper_quiet_hours(),
        }
    }
}
