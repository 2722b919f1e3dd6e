//! Transfer suggestions (key `{store}/transfer/{gtin}`): for a store with an active LOW/OUT
//! alert, the store of the same region with the most to spare gives (see the [`super`] docs for
//! the amounts). Runs after the stock alerts of an evaluation are decided, on the alert book.

use std::collections::{BTreeSet, HashMap, HashSet};

use store_proto::v1::AlertKind;

use super::{fmt, rules, Stock};
use crate::rules::engine::alerts::AlertBuilder;
use crate::rules::engine::part::Outbox;
use crate::rules::engine::profile::Profiles;

/// A store that could give a GTIN to another store of its region, during one evaluation.
struct Giver<'a> {
    store: &'a str,
    region: &'a str,
    /// Position − ROP − margin when the evaluation started.
    base: f64,
    /// Units already suggested from it in this evaluation.
    taken: f64,
}

impl Stock {
    pub(super) fn transfers(&mut self, profiles: &Profiles, now_ms: i64, out: &mut Outbox) {
        let stock_key = |k: &str| -> Option<(String, String)> {
            let (s, g) = k.split_once("/stock/")?;
            Some((s.to_owned(), g.to_owned()))
        };
        // In (store, GTIN) order: earlier suggestions take stock first.
        let mut lows: Vec<(String, String)> = out
            .alerts
            .all_active()
            .filter(|(_, a)| {
                (a.kind == AlertKind::Low as i32 || a.kind == AlertKind::Out as i32)
                    && !a.retrospective
            })
            .filter_map(|(k, _)| stock_key(k))
            .collect();
        lows.sort_unstable();
        // Hashed, borrowed lookups: a chain-wide shortage makes lows × stores checks per
        // evaluation, so each check must not allocate or walk ordered string keys.
        let low_set: HashSet<(&str, &str)> =
            lows.iter().map(|(s, g)| (s.as_str(), g.as_str())).collect();
        // Per GTIN, the stores that could give (a known ROP, no own stock alert), in store order
        // (ties go to the first), with what they have to spare before this evaluation's
        // suggestions; built once per GTIN on first need.
        let mut givers: HashMap<&str, Vec<Giver<'_>>> = HashMap::new();
        let mut wanted = BTreeSet::new();
        for (a, gtin) in &lows {
            let Some(ka) = self.stores.get(a).and_then(|m| m.get(gtin)) else {
                continue;
            };
            let Some(target) = ka.view.target else {
                continue;
            };
            let pos_a = ka.pos.value();
            let need = target - pos_a.max(0.0);
            let region = &profiles.get(a).region;
            let candidates = givers.entry(gtin.as_str()).or_insert_with(|| {
                self.by_gtin
                    .get(gtin)
                    .into_iter()
                    .flatten()
                    .filter(|b| !low_set.contains(&(b.as_str(), gtin.as_str())))
                    .filter_map(|b| {
                        let kb = self.stores.get(b).and_then(|m| m.get(gtin))?;
                        let rop_b = kb.view.rop?;
                        let profile = profiles.get(b);
                        let margin =
                            (profile.rules.stock.transfer_margin_fraction * rop_b).max(1.0);
                        Some(Giver {
                            store: b.as_str(),
                            region: profile.region.as_str(),
                            base: kb.pos.value() - rop_b - margin,
                            taken: 0.0,
                        })
                    })
                    .collect()
            });
            let mut best: Option<(f64, usize)> = None;
            for (i, b) in candidates.iter().enumerate() {
                // The store itself is low, so it is never among its own candidates.
                if b.region != region.as_str() {
                    continue;
                }
                let spare = b.base - b.taken;
                // Ties go to the first store id (the set is ordered), for a stable suggestion.
                if spare > 0.0 && best.is_none_or(|(s, _)| spare > s) {
                    best = Some((spare, i));
                }
            }
            let Some((spare, i)) = best else { continue };
            let from = candidates[i].store;
            let qty = rules::whole_packs(need.min(spare), ka.view.pack);
            if qty <= 0 {
                continue;
            }
            candidates[i].taken += qty as f64;
            let key = format!("{a}/transfer/{gtin}");
            if out
                .alerts
                .active(&key)
                .is_some_and(|t| t.from_store_id != from)
            {
                out.alerts.resolve(
                    &key,
                    format!(
                        "{} ({gtin}): a different store can now spare it",
                        ka.view.name
                    ),
                    ka.last_event_ms,
                    now_ms,
                );
            }
            let v = &ka.view;
            let message = format!(
                "{} ({gtin}) at {a}: position {} ≤ reorder point {}; {from} can spare {} (transfer {qty}, packs of {})",
                v.name,
                fmt(pos_a),
                fmt(v.rop.unwrap_or(0.0)),
                fmt(spare),
                v.pack
            );
            let alert = AlertBuilder::new(a, AlertKind::Transfer, gtin, message)
                .at(ka.last_event_ms)
                .position(pos_a, v.rop.unwrap_or(0.0))
                .transfer(from, qty)
                .build();
            out.alerts.raise(&key, alert, now_ms);
            wanted.insert(key);
        }
        let stale: Vec<(String, String, String)> = out
            .alerts
            .all_active()
            .filter(|(k, a)| a.kind == AlertKind::Transfer as i32 && !wanted.contains(*k))
            .filter_map(|(k, _)| {
                let (s, g) = k.split_once("/transfer/")?;
                Some((k.to_owned(), s.to_owned(), g.to_owned()))
            })
            .collect();
        for (key, store, gtin) in stale {
            let ka = self.stores.get(&store).and_then(|m| m.get(&gtin));
            let at = ka.map_or(now_ms, |k| k.last_event_ms);
            let why = if low_set.contains(&(store.as_str(), gtin.as_str())) {
                format!("{gtin} at {store}: no store of the region can spare it any more")
            } else {
                format!("{gtin} at {store}: no longer low")
            };
            out.alerts.resolve(&key, why, at, now_ms);
        }
    }
}
