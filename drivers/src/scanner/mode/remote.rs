//! Scan modes set from outside a scanner (HQ's SetScanMode command), applied as a staff mode
//! barcode would be: before the scanner's next scan, with the same logging and the same idle
//! timeout back to the default mode.
//!
//! Each running scanner driver holds a [`RemoteMode`] slot registered under its id; the agent
//! drops a requested mode into it with [`request`]. A scanner that is not running (stopped,
//! or between restarts) has no slot, and the request fails instead of waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::ScanMode;

type Slot = Arc<Mutex<Option<ScanMode>>>;

fn registry() -> &'static Mutex<HashMap<String, Slot>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// One running scanner's slot; unregistered when dropped.
#[derive(Debug)]
pub struct RemoteMode {
    id: String,
    slot: Slot,
}

impl RemoteMode {
    /// Registers the scanner `id`, replacing a slot left by an earlier run of the same driver.
    pub fn register(id: &str) -> Self {
        let slot: Slot = Arc::default();
        registry()
            .lock()
            .expect("remote mode lock")
            .insert(id.to_owned(), slot.clone());
        RemoteMode {
            id: id.to_owned(),
            slot,
        }
    }

    /// The mode requested since the last call, if any.
    pub fn take(&self) -> Option<ScanMode> {
        self.slot.lock().expect("remote mode lock").take()
    }
}

impl Drop for RemoteMode {
    fn drop(&mut self) {
        let mut map = registry().lock().expect("remote mode lock");
        // A newer run of the same driver may have registered already: leave its slot alone.
        if map
            .get(&self.id)
            .is_some_and(|s| Arc::ptr_eq(s, &self.slot))
        {
            map.remove(&self.id);
        }
    }
}

/// Asks the running scanner `device_id` to switch to `mode` before its next scan (a later
/// request replaces one not yet applied). An error when no scanner of that id is running.
pub fn request(device_id: &str, mode: ScanMode) -> Result<(), String> {
    let map = registry().lock().expect("remote mode lock");
    let slot = map
        .get(device_id)
        .ok_or_else(|| format!("no scanner driver {device_id:?} is running on this agent"))?;
    *slot.lock().expect("remote mode lock") = Some(mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_reach_only_a_registered_scanner_until_it_stops() {
        assert!(request("remote-test-scanner", ScanMode::Shrink).is_err());
        let first = RemoteMode::register("remote-test-scanner");
        request("remote-test-scanner", ScanMode::Shrink).unwrap();
        request("remote-test-scanner", ScanMode::Receiving).unwrap();
        assert_eq!(
            first.take(),
            Some(ScanMode::Receiving),
            "the later request wins"
        );
        assert_eq!(first.take(), None);
        // A restarted driver registers again before the old run's slot is dropped.
        let second = RemoteMode::register("remote-test-scanner");
        drop(first);
        request("remote-test-scanner", ScanMode::Sale).unwrap();
        assert_eq!(second.take(), Some(ScanMode::Sale));
        drop(second);
        assert!(request("remote-test-scanner", ScanMode::Sale).is_err());
    }
}
