//! Staff on duty. Placeholder: being implemented.
use store_proto::Event;

use super::{Ctx, Persist};

/// Staff state.
#[derive(Debug, Default)]
pub struct Staff {}

impl Staff {
    pub fn apply(&mut self, _ctx: &Ctx<'_>, _ev: &Event) {}
}

impl Persist for Staff {
    const PART: &'static str = "staff";
    fn save(&mut self, _out: &mut Vec<(String, Option<Vec<u8>>)>) {}
    fn load(&mut self, _key: &str, _value: &[u8]) -> Result<(), String> {
        Ok(())
    }
}
