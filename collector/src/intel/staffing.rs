//! Staffing signals. Placeholder: being implemented.
use serde::Deserialize;

use super::profile::Profiles;
use super::staff::Staff;
use super::traffic::Traffic;
use super::{Outbox, Persist};

/// Staffing thresholds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffingRules {}

/// Staffing state.
#[derive(Debug, Default)]
pub struct Staffing {}

impl Staffing {
    /// Newest signal for the current and the next hour (placeholder).
    pub fn latest(
        &self,
        _store: &str,
    ) -> (
        Option<&store_proto::v1::StaffingSignal>,
        Option<&store_proto::v1::StaffingSignal>,
    ) {
        (None, None)
    }
    pub fn evaluate(
        &mut self,
        _p: &Profiles,
        _t: &Traffic,
        _s: &Staff,
        _now_ms: i64,
        _out: &mut Outbox,
    ) {
    }
}

impl Persist for Staffing {
    const PART: &'static str = "staffing";
    fn save(&mut self, _out: &mut Vec<(String, Option<Vec<u8>>)>) {}
    fn load(&mut self, _key: &str, _value: &[u8]) -> Result<(), String> {
        Ok(())
    }
}
