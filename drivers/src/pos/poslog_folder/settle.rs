//! Which files of a drop folder are ready to read: pure bookkeeping over directory listings.
//!
//! A name is a candidate when it ends in `.xml` (any case) and does not start with `.`; names
//! ending `.tmp` or `.part` never end in `.xml`, so writers that write under such a name and
//! rename at the end are never read early. A candidate is ready once its size and modification
//! time have been seen unchanged for the settle time, measured on the tap's monotonic clock
//! from the first listing that showed them (so a clock jump, or a writer that sets an old
//! mtime, cannot make a half-written file look settled).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// Whether a file name is one the driver reads.
pub fn is_candidate(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.starts_with('.')
        && lower.ends_with(".xml")
        && lower.len() > ".xml".len()
        && !lower.ends_with(".tmp")
        && !lower.ends_with(".part")
}

/// What a listing says of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// Remembers when each candidate's current stamp was first seen.
#[derive(Debug)]
pub struct Settle {
    settle: Duration,
    seen: HashMap<String, (Stamp, Instant)>,
}

impl Settle {
    pub fn new(settle: Duration) -> Self {
        Settle {
            settle,
            seen: HashMap::new(),
        }
    }

    /// Takes one full listing (candidates only) and returns the names ready to read, sorted
    /// (POS software numbers its files, so this is usually the order they were written in).
    /// Names missing from the listing are forgotten.
    pub fn observe(&mut self, listing: &[(String, Stamp)], now: Instant) -> Vec<String> {
        let mut next = HashMap::with_capacity(listing.len());
        let mut ready = Vec::new();
        for (name, stamp) in listing {
            let since = match self.seen.get(name) {
                Some((old, since)) if old == stamp => *since,
                _ => now,
            };
            if now.saturating_duration_since(since) >= self.settle {
                ready.push(name.clone());
            }
            next.insert(name.clone(), (*stamp, since));
        }
        self.seen = next;
        ready.sort();
        ready
    }

    /// Forgets a file (after it was moved away, or changed while being read).
    pub fn forget(&mut self, name: &str) {
        self.seen.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates() {
        for ok in ["a.xml", "TX-0001.XML", "x.part.xml", "b c.Xml"] {
            assert!(is_candidate(ok), "{ok}");
        }
        for no in [
            ".a.xml",
            "a.xml.tmp",
            "a.xml.part",
            "a.tmp",
            "a.json",
            ".xml",
            "xml",
            "a.xml~",
        ] {
            assert!(!is_candidate(no), "{no}");
        }
    }

    #[test]
    fn ready_only_after_the_stamp_held_for_the_settle_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Settle::new(ms(500));
        let at = |len| Stamp {
            len,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(len)),
        };
        let l = |v: &[(&str, u64)]| -> Vec<(String, Stamp)> {
            v.iter().map(|(n, len)| (n.to_string(), at(*len))).collect()
        };
        assert!(s.observe(&l(&[("b.xml", 10), ("a.xml", 5)]), t0).is_empty());
        // b grows: its clock starts again.
        assert!(s
            .observe(&l(&[("b.xml", 20), ("a.xml", 5)]), t0 + ms(400))
            .is_empty());
        assert_eq!(
            s.observe(&l(&[("b.xml", 20), ("a.xml", 5)]), t0 + ms(500)),
            ["a.xml"]
        );
        assert_eq!(
            s.observe(&l(&[("b.xml", 20), ("a.xml", 5)]), t0 + ms(900)),
            ["a.xml", "b.xml"]
        );
        // A file that went away and came back starts over.
        assert!(s.observe(&l(&[]), t0 + ms(1000)).is_empty());
        assert!(s.observe(&l(&[("a.xml", 5)]), t0 + ms(1100)).is_empty());
        s.forget("a.xml");
        assert!(s.observe(&l(&[("a.xml", 5)]), t0 + ms(1700)).is_empty());
        assert_eq!(s.observe(&l(&[("a.xml", 5)]), t0 + ms(2200)), ["a.xml"]);
    }

    #[test]
    fn zero_settle_reads_at_first_sight() {
        let mut s = Settle::new(Duration::ZERO);
        let stamp = Stamp {
            len: 1,
            modified: None,
        };
        assert_eq!(
            s.observe(&[("a.xml".into(), stamp)], Instant::now()),
            ["a.xml"]
        );
    }
}
