//! Stock positions and stock alerts. Placeholder: being implemented.
use serde::Deserialize;
use store_proto::Event;

use super::catalogue::Catalogue;
use super::profile::Profiles;
use super::{Ctx, Outbox, Persist};

/// Stock rule thresholds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockRules {}

/// Stock state.
#[derive(Debug, Default)]
pub struct Stock {}

impl Stock {
    pub fn apply(&mut self, _ctx: &Ctx<'_>, _ev: &Event, _out: &mut Outbox) {}
    /// Positions of one store (placeholder).
    pub fn positions(&self, _store: &str) -> Vec<serde_json::Value> {
        Vec::new()
    }
    /// GTINs seen that the catalogue does not know (placeholder).
    pub fn unknown_gtins(&self) -> Vec<serde_json::Value> {
        Vec::new()
    }
    pub fn evaluate(&mut self, _p: &Profiles, _c: &Catalogue, _now_ms: i64, _out: &mut Outbox) {}
}

impl Persist for Stock {
    const PART: &'static str = "stock";
    fn save(&mut self, _out: &mut Vec<(String, Option<Vec<u8>>)>) {}
    fn load(&mut self, _key: &str, _value: &[u8]) -> Result<(), String> {
        Ok(())
    }
}
