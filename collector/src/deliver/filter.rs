//! Which alerts and signals a destination wants: kinds, stores, regions, a lowest severity and
//! whether signals go too. Also the severity of each alert kind, which the alert itself does not
//! carry (it is a property of the kind, the same for every store).

use std::collections::BTreeSet;

use store_proto::v1::{Alert, AlertKind};

use crate::config::FilterConfig;
use crate::rules::alert_kind_name;

/// How urgent an alert is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// `"info"`, `"warning"`, `"critical"` (the config's and the payloads' spelling).
    pub fn by_name(name: &str) -> Option<Severity> {
        match name {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity of an alert kind: an empty shelf, a lost device or tampering needs someone
    /// now; a suggestion (a transfer) can wait.
    pub fn of_kind(kind: i32) -> Severity {
        match AlertKind::try_from(kind).unwrap_or(AlertKind::Unspecified) {
            AlertKind::Out | AlertKind::DeviceOffline | AlertKind::Tampered => Severity::Critical,
            AlertKind::Low
            | AlertKind::ReturnsSpike
            | AlertKind::VoidRate
            | AlertKind::DeviceSilent
            | AlertKind::CounterStuck
            | AlertKind::ClockOff => Severity::Warning,
            AlertKind::Transfer | AlertKind::Unspecified => Severity::Info,
        }
    }
}

/// The alert kind with short name `name` (`"DEVICE_OFFLINE"`), if there is one.
pub fn kind_by_name(name: &str) -> Option<AlertKind> {
    AlertKind::from_str_name(&format!("ALERT_KIND_{name}")).filter(|k| *k != AlertKind::Unspecified)
}

/// The kinds IT is paged for: what Alertmanager destinations receive unless `kinds` says
/// otherwise. (Seq gaps and data loss are logged and counted, not alerts: they are not here.)
pub const IT_KINDS: [AlertKind; 5] = [
    AlertKind::DeviceOffline,
    AlertKind::DeviceSilent,
    AlertKind::CounterStuck,
    AlertKind::ClockOff,
    AlertKind::Tampered,
];

/// A destination's filter, compiled from its config (checked by `Config::validate`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    kinds: BTreeSet<i32>,
    stores: BTreeSet<String>,
    regions: BTreeSet<String>,
    min_severity: Option<Severity>,
    include_signals: bool,
}

impl Filter {
    /// `default_kinds` applies when the config lists none (empty: every kind).
    pub fn new(config: &FilterConfig, default_kinds: &[AlertKind]) -> Filter {
        let mut kinds: BTreeSet<i32> = config
            .kinds
            .iter()
            .filter_map(|k| kind_by_name(k))
            .map(|k| k as i32)
            .collect();
        if kinds.is_empty() {
            kinds = default_kinds.iter().map(|k| *k as i32).collect();
        }
        Filter {
            kinds,
            stores: config.stores.iter().cloned().collect(),
            regions: config.regions.iter().cloned().collect(),
            min_severity: config.min_severity.as_deref().and_then(Severity::by_name),
            include_signals: config.include_signals,
        }
    }

    fn place_matches(&self, store: &str, region: &str) -> bool {
        (self.stores.is_empty() || self.stores.contains(store))
            && (self.regions.is_empty() || self.regions.contains(region))
    }

    /// Whether the alert goes to this destination; `region` is its store's.
    pub fn alert(&self, alert: &Alert, region: &str) -> bool {
        self.place_matches(&alert.store_id, region)
            && (self.kinds.is_empty() || self.kinds.contains(&alert.kind))
            && self
                .min_severity
                .is_none_or(|min| Severity::of_kind(alert.kind) >= min)
    }

    /// Whether a signal of `store` goes to this destination.
    pub fn signal(&self, store: &str, region: &str) -> bool {
        self.include_signals && self.place_matches(store, region)
    }
}

/// Short names of every kind, for messages.
pub fn kind_names() -> Vec<&'static str> {
    (1..=16)
        .filter(|k| AlertKind::try_from(*k).is_ok())
        .map(alert_kind_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(store: &str, kind: AlertKind) -> Alert {
        Alert {
            store_id: store.into(),
            kind: kind as i32,
            ..Alert::default()
        }
    }

    #[test]
    fn kinds_stores_regions_severity_and_signals() {
        let everything = Filter::new(&FilterConfig::default(), &[]);
        assert!(everything.alert(&alert("s1", AlertKind::Transfer), "north"));
        assert!(!everything.signal("s1", "north"), "signals only when asked");

        let config = FilterConfig {
            kinds: vec!["LOW".into(), "OUT".into(), "TRANSFER".into()],
            stores: vec!["s1".into(), "s2".into()],
            regions: vec!["north".into()],
            min_severity: Some("warning".into()),
            include_signals: true,
        };
        let f = Filter::new(&config, &IT_KINDS);
        assert!(f.alert(&alert("s1", AlertKind::Out), "north"));
        assert!(f.alert(&alert("s2", AlertKind::Low), "north"));
        assert!(
            !f.alert(&alert("s1", AlertKind::Transfer), "north"),
            "info < warning"
        );
        assert!(
            !f.alert(&alert("s1", AlertKind::DeviceOffline), "north"),
            "kind not listed"
        );
        assert!(
            !f.alert(&alert("s3", AlertKind::Out), "north"),
            "store not listed"
        );
        assert!(
            !f.alert(&alert("s1", AlertKind::Out), "south"),
            "region not listed"
        );
        assert!(f.signal("s1", "north"));
        assert!(!f.signal("s1", "south"));

        let it = Filter::new(&FilterConfig::default(), &IT_KINDS);
        assert!(it.alert(&alert("s9", AlertKind::ClockOff), ""));
        assert!(it.alert(&alert("s9", AlertKind::Tampered), ""));
        assert!(
            !it.alert(&alert("s9", AlertKind::Low), ""),
            "stock is not IT's"
        );
    }

    #[test]
    fn kind_names_round_trip() {
        for name in kind_names() {
            assert_eq!(alert_kind_name(kind_by_name(name).unwrap() as i32), name);
        }
        assert!(kind_by_name("UNSPECIFIED").is_none());
        assert!(
            kind_by_name("low").is_none(),
            "names are upper case, as in payloads"
        );
    }
}
