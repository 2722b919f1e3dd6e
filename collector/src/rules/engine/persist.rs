//! How parts save their state: changed keys only, in the same sled batch as the dedup ranges
//! (ARCHITECTURE.md invariant 6 carried over to the rules).
//!
//! Depends on nothing else in the engine, so every part (and the alert book) can implement it
//! without an import circle.

/// A part's durable state, saved as changed keys only.
///
/// Keys are relative to the part's prefix (the collector stores them as `intel/{part}/{key}`);
/// `None` deletes a key. `load` is called once per stored key at start-up, in key order.
pub trait Persist {
    /// The part's key prefix, e.g. `"stock"`.
    const PART: &'static str;
    /// Moves the keys changed since the last call into `out`.
    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>);
    /// Restores one key written by `save`. An error names what is wrong with the value.
    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String>;
}

/// `save` of a part kept as one JSON value per store: writes each dirty store (a store no
/// longer held is deleted).
pub(crate) fn save_stores_json<T: serde::Serialize>(
    dirty: &mut std::collections::BTreeSet<String>,
    stores: &std::collections::BTreeMap<String, T>,
    out: &mut Vec<(String, Option<Vec<u8>>)>,
) {
    for store in std::mem::take(dirty) {
        let value = stores
            .get(&store)
            .map(|s| serde_json::to_vec(s).expect("plain struct serialises"));
        out.push((store, value));
    }
}

/// `load` counterpart of [`save_stores_json`].
pub(crate) fn load_store_json<T: serde::de::DeserializeOwned>(
    stores: &mut std::collections::BTreeMap<String, T>,
    key: &str,
    value: &[u8],
) -> Result<(), String> {
    let st: T = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    stores.insert(key.to_owned(), st);
    Ok(())
}

pub(crate) fn save_part<P: Persist>(part: &mut P, out: &mut Vec<(String, Option<Vec<u8>>)>) {
    let mut keys = Vec::new();
    part.save(&mut keys);
    out.extend(
        keys.into_iter()
            .map(|(k, v)| (format!("intel/{}/{k}", P::PART), v)),
    );
}
