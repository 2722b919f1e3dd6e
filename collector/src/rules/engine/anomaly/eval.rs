//! What every anomaly rule sees when a store is evaluated, and the one raising helper the rules
//! share.

use store_proto::v1::Alert;

use super::rules::AnomalyRules;
use crate::rules::engine::part::Outbox;
use crate::rules::engine::profile::StoreProfile;

/// One store's evaluation: the same for every rule, computed once per store.
#[derive(Debug, Clone, Copy)]
pub(super) struct Eval<'a> {
    pub(super) store: &'a str,
    pub(super) profile: &'a StoreProfile,
    pub(super) rules: &'a AnomalyRules,
    pub(super) now_ms: i64,
    /// The store is open now.
    pub(super) open: bool,
    /// Start of the current (or last) opening session: silence and stuck counters are measured
    /// in opening time only.
    pub(super) opened: i64,
}

/// Raises `a` under `key` unless the same kind with the same observed value is already active
/// (saves rewriting an unchanged alert on every evaluation).
pub(super) fn raise(out: &mut Outbox, key: &str, a: Alert, now_ms: i64) {
    if out
        .alerts
        .active(key)
        .is_some_and(|old| old.kind == a.kind && old.observed == a.observed)
    {
        return;
    }
    out.alerts.raise(key, a, now_ms);
}
