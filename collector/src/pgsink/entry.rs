//! One sink feed entry: what one commit (a group of events, an evaluation or an acknowledgement)
//! hands to PostgreSQL.
//!
//! Built while the commit is assembled, from the events as applied and from the engine's changes
//! (never from the history's keys, whose layout is not ours), and stored as protobuf: ingest
//! already holds the decoded events, so an entry costs one re-encode and no JSON. The writer turns
//! it into rows.

use store_proto::v1::{Alert, StaffingSignal};
use store_proto::Event;

/// The value of a feed key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FeedEntry {
    /// Collector wall time of the commit (for the lag in seconds).
    #[prost(int64, tag = "1")]
    pub created_ms: i64,
    /// Events applied for the first time, in the order applied.
    #[prost(message, repeated, tag = "2")]
    pub events: Vec<FeedEvent>,
    /// Alert state changes, as published.
    #[prost(message, repeated, tag = "3")]
    pub alerts: Vec<Alert>,
    /// Staffing signals, as published.
    #[prost(message, repeated, tag = "4")]
    pub signals: Vec<StaffingSignal>,
    /// KPI days the commit changed, whole (the stored JSON of the engine's `StoreDay`): hourly
    /// rows are upserted from them, so PostgreSQL ends up with what the API reads.
    #[prost(message, repeated, tag = "5")]
    pub kpi_days: Vec<KpiDay>,
}

/// One applied event and where it came from.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FeedEvent {
    #[prost(string, tag = "1")]
    pub store: String,
    #[prost(string, tag = "2")]
    pub agent: String,
    /// Collector wall time of the group that applied it.
    #[prost(int64, tag = "3")]
    pub arrival_ms: i64,
    #[prost(message, optional, tag = "4")]
    pub event: Option<Event>,
}

/// One store's local day of KPIs after the commit.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KpiDay {
    #[prost(string, tag = "1")]
    pub store: String,
    /// Local day (days since 1970-01-01).
    #[prost(int64, tag = "2")]
    pub day: i64,
    /// JSON of the engine's `StoreDay`.
    #[prost(bytes = "vec", tag = "3")]
    pub row: Vec<u8>,
}

/// Prefix of the engine's KPI day keys (`intel/kpi/{store}/{day}`; `.../stockouts` is not a
/// KPI day).
const KPI_PREFIX: &str = "intel/kpi/";

impl FeedEntry {
    /// Whether the entry holds nothing to write.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.alerts.is_empty()
            && self.signals.is_empty()
            && self.kpi_days.is_empty()
    }

    /// Takes the changed KPI days out of a commit's key changes. A deleted day (pruned after
    /// its retention) is not a change PostgreSQL should follow: its rows stay there.
    pub fn add_kpi_changes(&mut self, changes: &[(String, Option<Vec<u8>>)]) {
        for (key, value) in changes {
            let (Some(rest), Some(value)) = (key.strip_prefix(KPI_PREFIX), value) else {
                continue;
            };
            let mut parts = rest.split('/');
            let (Some(store), Some(day), None) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Ok(day) = day.parse::<i64>() else {
                continue;
            };
            self.kpi_days.push(KpiDay {
                store: store.to_owned(),
                day,
                row: value.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kpi_day_keys_with_a_value_become_kpi_days() {
        let mut entry = FeedEntry::default();
        entry.add_kpi_changes(&[
            ("intel/kpi/s1/20000".to_owned(), Some(b"{}".to_vec())),
            (
                "intel/kpi/s1/20000/stockouts".to_owned(),
                Some(b"{}".to_vec()),
            ),
            ("intel/kpi/s1/19000".to_owned(), None),
            ("intel/stock/s1/x".to_owned(), Some(b"{}".to_vec())),
            ("intel/kpi/s2/notaday".to_owned(), Some(b"{}".to_vec())),
        ]);
        assert_eq!(
            entry.kpi_days,
            vec![KpiDay {
                store: "s1".to_owned(),
                day: 20000,
                row: b"{}".to_vec()
            }]
        );
    }
}
