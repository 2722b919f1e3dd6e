//! Test fixtures shared by the parts' unit tests: a fixed Monday, minute and hour spans, a
//! door-counter event and a [`Ctx`] for one store.

use store_proto::v1::FootTraffic;
use store_proto::{Body, Event};

use super::catalogue::Catalogue;
use super::part::Ctx;
use super::profile::StoreProfile;

/// 2026-11-23T00:00:00Z, a Monday.
pub const MONDAY: i64 = 1_795_392_000_000;
pub const MIN: i64 = 60_000;
pub const H: i64 = 3_600_000;

pub fn ft(start: i64, entries: u32, exits: u32) -> Event {
    Event {
        wall_time_ms: start + MIN,
        clock_synced: true,
        device_id: "door".into(),
        body: Some(Body::FootTraffic(FootTraffic {
            counter_id: "door".into(),
            interval_start_ms: start,
            interval_end_ms: start + MIN,
            entries,
            exits,
            ..FootTraffic::default()
        })),
        ..Event::default()
    }
}

pub fn ctx<'a>(
    store: &'a str,
    profile: &'a StoreProfile,
    cat: &'a Catalogue,
    now_ms: i64,
    historical: bool,
) -> Ctx<'a> {
    Ctx {
        store,
        agent: "a1",
        historical,
        now_ms,
        batch_sent_ms: now_ms,
        profile,
        catalogue: cat,
    }
}
