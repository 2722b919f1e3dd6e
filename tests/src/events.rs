//! The line-feed events the tests send: a deterministic mix of kinds, so the expected per-kind
//! counts and foot-traffic sums of any set of sent lines can be computed from their indices.
//!
//! Line `i` is, by `i % 10`: 0-4 a scan, 5-7 a foot-traffic tick (always `entries = 1`,
//! `exits = 1` on odd `i`), 8 a POS sale, 9 a device status ("connected"). Each foot-traffic event
//! carries `entries = 1`, so `foot_traffic_entries` must equal the number of foot-traffic events
//! applied: a double apply or a coalescing bug shows up as a mismatch.

use std::collections::BTreeMap;

/// Kind of a line-feed event, named as the collector names kinds in its stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Scan,
    FootTraffic,
    PosTransaction,
    DeviceStatus,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Scan => "scan",
            Kind::FootTraffic => "foot_traffic",
            Kind::PosTransaction => "pos_transaction",
            Kind::DeviceStatus => "device_status",
        }
    }
}

/// Kind of line `i`.
pub fn kind_of(i: u64) -> Kind {
    match i % 10 {
        0..=4 => Kind::Scan,
        5..=7 => Kind::FootTraffic,
        8 => Kind::PosTransaction,
        _ => Kind::DeviceStatus,
    }
}

/// `(entries, exits)` of line `i` (zero for kinds other than foot traffic).
pub fn traffic_of(i: u64) -> (u64, u64) {
    match kind_of(i) {
        Kind::FootTraffic => (1, i % 2),
        _ => (0, 0),
    }
}

/// What one event does to the collector's store stats: its kind and, for foot traffic, the
/// people counted in and out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    pub kind: Kind,
    pub entries: u64,
    pub exits: u64,
}

impl Effect {
    /// An event of `kind` that counts nobody.
    pub fn of(kind: Kind) -> Self {
        Self {
            kind,
            entries: 0,
            exits: 0,
        }
    }
}

/// Effect of line `i`.
pub fn effect_of(i: u64) -> Effect {
    let (entries, exits) = traffic_of(i);
    Effect {
        kind: kind_of(i),
        entries,
        exits,
    }
}

/// The JSON line for index `i`, newline included.
pub fn line(i: u64) -> String {
    match kind_of(i) {
        Kind::Scan => format!(
            "{{\"type\":\"scan\",\"device_id\":\"scanner-{}\",\"data\":\"0950600{:07}\",\"symbology\":\"ean13\"}}\n",
            i % 3,
            i % 10_000_000
        ),
        Kind::FootTraffic => {
            let (entries, exits) = traffic_of(i);
            format!(
                "{{\"type\":\"foot_traffic\",\"device_id\":\"door-1\",\"counter_id\":\"c1\",\"line\":\"main\",\"entries\":{entries},\"exits\":{exits}}}\n"
            )
        }
        Kind::PosTransaction => format!(
            "{{\"type\":\"pos_transaction\",\"device_id\":\"till-1\",\"receipt_id\":\"R-{i}\",\"kind\":\"sale\",\"total_minor\":499,\"currency\":\"EUR\",\"items\":[{{\"gtin\":\"09506000134352\",\"quantity\":1,\"unit_price_minor\":499}}]}}\n"
        ),
        Kind::DeviceStatus => format!(
            "{{\"type\":\"device_status\",\"device_id\":\"scanner-{}\",\"state\":\"connected\"}}\n",
            i % 3
        ),
    }
}

/// Expected effect of a set of events on the collector's store stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Events by kind name.
    pub kinds: BTreeMap<String, u64>,
    pub entries: u64,
    pub exits: u64,
}

impl Tally {
    /// Adds line `i`.
    pub fn add(&mut self, i: u64) {
        self.add_effect(effect_of(i));
    }

    /// Adds one event by its effect (for lines other than the standard mix).
    pub fn add_effect(&mut self, e: Effect) {
        *self.kinds.entry(e.kind.name().to_string()).or_default() += 1;
        self.entries += e.entries;
        self.exits += e.exits;
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: &Tally) {
        for (k, n) in &other.kinds {
            *self.kinds.entry(k.clone()).or_default() += n;
        }
        self.entries += other.entries;
        self.exits += other.exits;
    }

    /// Events of one kind.
    pub fn count(&self, kind: Kind) -> u64 {
        self.kinds.get(kind.name()).copied().unwrap_or(0)
    }

    /// Events in total.
    pub fn total(&self) -> u64 {
        self.kinds.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_decodes_as_its_kind() {
        for i in 0..40 {
            let l = line(i);
            assert!(l.ends_with('\n'));
            let v: serde_json::Value = serde_json::from_str(l.trim_end()).unwrap();
            assert_eq!(v["type"], kind_of(i).name(), "{l}");
            if kind_of(i) == Kind::FootTraffic {
                assert_eq!(v["entries"], 1);
                assert_eq!(v["exits"], i % 2);
            }
        }
    }

    #[test]
    fn tally_of_a_hundred() {
        let mut t = Tally::default();
        (0..100).for_each(|i| t.add(i));
        assert_eq!(t.count(Kind::Scan), 50);
        assert_eq!(t.count(Kind::FootTraffic), 30);
        assert_eq!(t.count(Kind::PosTransaction), 10);
        assert_eq!(t.count(Kind::DeviceStatus), 10);
        assert_eq!(t.entries, 30);
        // i % 10 in 5..=7 and odd: 5 and 7.
        assert_eq!(t.exits, 20);
        assert_eq!(t.total(), 100);
    }
}
