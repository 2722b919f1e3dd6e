//! Foot traffic per store in 15-minute windows. Placeholder: being implemented.
use store_proto::Event;

use super::{Ctx, Persist};

/// Traffic state.
#[derive(Debug, Default)]
pub struct Traffic {}

impl Traffic {
    pub fn apply(&mut self, _ctx: &Ctx<'_>, _ev: &Event) {}
    /// Windows of one store (placeholder).
    pub fn windows(&self, _store: &str, _from_ms: i64, _to_ms: i64) -> Vec<serde_json::Value> {
        Vec::new()
    }
}

impl Persist for Traffic {
    const PART: &'static str = "traffic";
    fn save(&mut self, _out: &mut Vec<(String, Option<Vec<u8>>)>) {}
    fn load(&mut self, _key: &str, _value: &[u8]) -> Result<(), String> {
        Ok(())
    }
}
