//! The loaded catalogue and the lookup the stock rules do on every movement: a GTIN's chain-wide
//! entry with one store's overrides laid over it. Also the checks every parsed entry must pass,
//! whatever its file format.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes loaded catalogues, so the stock rules know when to re-check every position.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The fields one catalogue row or table sets (`None` = not set there).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Fields {
    pub(super) name: Option<String>,
    pub(super) pack_size: Option<u32>,
    pub(super) reorder_point: Option<f64>,
    pub(super) lead_time_days: Option<f64>,
    pub(super) service_level: Option<f64>,
    pub(super) max_stock: Option<f64>,
}

impl Fields {
    /// `self` with the fields `over` sets replacing ours.
    pub(super) fn overlaid(&self, over: &Fields) -> Fields {
        let derived = over.reorder_point.is_none()
            && (over.lead_time_days.is_some() || over.service_level.is_some());
        let fixed = over.reorder_point.is_some();
        Fields {
            name: over.name.clone().or_else(|| self.name.clone()),
            pack_size: over.pack_size.or(self.pack_size),
            reorder_point: if derived {
                None
            } else {
                over.reorder_point.or(self.reorder_point)
            },
            lead_time_days: over
                .lead_time_days
                .or(self.lead_time_days)
                .filter(|_| !fixed),
            service_level: over.service_level.or(self.service_level).filter(|_| !fixed),
            max_stock: over.max_stock.or(self.max_stock),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Entry {
    pub(super) chain: Fields,
    pub(super) stores: HashMap<String, Fields>,
}

/// One GTIN as it applies to one store (chain-wide entry with the store's overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedItem {
    /// 14 digits.
    pub gtin: String,
    pub name: String,
    /// Units per case; at least 1.
    pub pack_size: u32,
    /// Fixed reorder point; `None` means derive it from demand.
    pub reorder_point: Option<f64>,
    /// Supplier lead time; `None` means the rules' default.
    pub lead_time_days: Option<f64>,
    /// Cycle service level; `None` means the rules' default.
    pub service_level: Option<f64>,
    pub max_stock: Option<f64>,
}

/// The catalogue: chain-wide entries with per-store overrides, by 14-digit GTIN.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub(super) items: HashMap<String, Entry>,
    /// 0 for the empty default catalogue, unique per loaded catalogue otherwise.
    generation: u64,
}

impl Catalogue {
    pub(super) fn with_items(items: HashMap<String, Entry>) -> Catalogue {
        Catalogue {
            items,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The item as it applies to `store`; `gtin` must be normalised (14 digits).
    pub fn item(&self, store: &str, gtin: &str) -> Option<ResolvedItem> {
        let entry = self.items.get(gtin)?;
        let fields = match entry.stores.get(store) {
            Some(over) => entry.chain.overlaid(over),
            None => entry.chain.clone(),
        };
        Some(ResolvedItem {
            gtin: gtin.to_owned(),
            name: fields.name.unwrap_or_default(),
            pack_size: fields.pack_size.unwrap_or(1).max(1),
            reorder_point: fields.reorder_point,
            lead_time_days: fields.lead_time_days,
            service_level: fields.service_level,
            max_stock: fields.max_stock,
        })
    }

    /// Number of GTINs.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Changes whenever a catalogue is loaded (0 for the empty default one).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Checks one set of fields; `complete` when they are what a store ends up with (chain-wide row,
/// or chain-wide row with an override laid over it). Returns (field, message).
pub(super) fn validate(f: &Fields, complete: bool) -> Result<(), (&'static str, String)> {
    if complete && f.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(("name", "required".to_owned()));
    }
    if f.pack_size == Some(0) {
        return Err(("pack_size", "must be at least 1".to_owned()));
    }
    let finite = |name: &'static str, v: Option<f64>, min: f64, strict: bool| match v {
        Some(x) if !x.is_finite() || x < min || (strict && x == min) => Err((
            name,
            format!(
                "{x} is out of range (must be {} {min})",
                if strict { ">" } else { ">=" }
            ),
        )),
        _ => Ok(()),
    };
    finite("reorder_point", f.reorder_point, 0.0, false)?;
    finite("lead_time_days", f.lead_time_days, 0.0, true)?;
    finite("max_stock", f.max_stock, 0.0, true)?;
    if let Some(sl) = f.service_level {
        if !(0.5..1.0).contains(&sl) {
            return Err((
                "service_level",
                format!("{sl} is out of range (0.5 ≤ service level < 1, e.g. 0.95)"),
            ));
        }
    }
    if f.reorder_point.is_some() && (f.lead_time_days.is_some() || f.service_level.is_some()) {
        return Err((
            "reorder_point",
            "give either a fixed reorder_point or lead_time_days/service_level, not both"
                .to_owned(),
        ));
    }
    if let (Some(rop), Some(max)) = (f.reorder_point, f.max_stock) {
        if max < rop {
            return Err((
                "max_stock",
                format!("{max} is below the reorder point {rop}"),
            ));
        }
    }
    Ok(())
}
