//! Anomalies. Placeholder: being implemented.
use serde::Deserialize;
use store_proto::Event;

use super::profile::Profiles;
use super::traffic::Traffic;
use super::{Ctx, Outbox, Persist};

/// Anomaly thresholds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyRules {}

/// Anomaly state.
#[derive(Debug, Default)]
pub struct Anomalies {}

impl Anomalies {
    pub fn apply(&mut self, _ctx: &Ctx<'_>, _ev: &Event, _out: &mut Outbox) {}
    pub fn evaluate(&mut self, _p: &Profiles, _t: &Traffic, _now_ms: i64, _out: &mut Outbox) {}
}

impl Persist for Anomalies {
    const PART: &'static str = "anomaly";
    fn save(&mut self, _out: &mut Vec<(String, Option<Vec<u8>>)>) {}
    fn load(&mut self, _key: &str, _value: &[u8]) -> Result<(), String> {
        Ok(())
    }
}
