//! What the engine hands every part and what parts hand back: the event's context in, alerts
//! and signals out.
//!
//! Kept apart from the engine ([`super::Engine`]) so that parts depend on this small contract
//! rather than on the engine that owns them (no import circle between the engine and its parts).

use store_proto::v1::StaffingSignal;

use super::alerts::AlertBook;
use super::catalogue::Catalogue;
use super::profile::StoreProfile;

/// Everything a part needs to know about the event it is applying.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Store id from the topic (not from the payload: the topic is what the broker authorised).
    pub store: &'a str,
    pub agent: &'a str,
    /// The event came in a historical (backlog) batch.
    pub historical: bool,
    /// The collector's notion of now (see the module docs), ms since the Unix epoch.
    pub now_ms: i64,
    /// `sent_wall_time_ms` of the batch: the agent's clock when it sent the batch (compared with
    /// `now_ms` on live batches, it tells whether the agent's clock is off).
    pub batch_sent_ms: i64,
    /// The store's profile: region, opening hours, UTC offset, rules merged with chain defaults.
    pub profile: &'a StoreProfile,
    pub catalogue: &'a Catalogue,
}

/// Where parts put what they conclude.
#[derive(Debug, Default)]
pub struct Outbox {
    pub alerts: AlertBook,
    /// Staffing signals to publish (the newest per store and horizon is also kept by
    /// [`super::staffing`] for the API).
    pub signals: Vec<StaffingSignal>,
}
