//! Read-only look at a journal for support (`store-agent journal stats|dump`), with the agent
//! stopped: sled locks its files, so a running agent's journal is reported as in use rather
//! than opened twice. Unlike [`super::Journal::open`], nothing is created, repaired or
//! quarantined here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use store_proto::{kind_name, Event, EventClass};

use super::seqfile::{Reservation, SeqFile};
use super::{key, META_ACKED, META_FLOOR, META_NEXT_SEQ};

/// Why a journal could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{path}: no journal here")]
    Missing { path: PathBuf },
    #[error("{path}: cannot open the journal (is the agent running? stop it first): {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
}

/// What a journal holds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub path: PathBuf,
    pub events: u64,
    /// Logical bytes (keys + values), what the byte budget counts.
    pub bytes: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub next_seq: Option<u64>,
    /// Per event kind: (events, bytes).
    pub kinds: BTreeMap<String, (u64, u64)>,
    pub oldest_wall_time_ms: Option<i64>,
    pub newest_wall_time_ms: Option<i64>,
    /// The seq reservation file, if present and readable.
    pub reserved_seq: Option<u64>,
    pub undecodable: u64,
    /// The highest committed mark the journal has seen; events at or below it are retained.
    pub acked_seq: Option<u64>,
    /// Every seq below it is no longer held.
    pub retain_floor: Option<u64>,
    /// Events at or below the acked mark (kept for a restored collector), and their bytes.
    pub retained_events: u64,
    pub retained_bytes: u64,
}

/// An opened journal for reading.
pub struct Inspector {
    path: PathBuf,
    db: sled::Db,
}

impl Inspector {
    /// Opens `{state_dir}/journal` without creating or repairing anything.
    pub fn open(state_dir: &Path) -> Result<Self, InspectError> {
        let path = state_dir.join("journal");
        if !path.join("conf").exists() {
            return Err(InspectError::Missing { path });
        }
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(8 << 20)
            .open()
            .map_err(|source| InspectError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(Self { path, db })
    }

    /// Scans every entry.
    pub fn summary(&self, state_dir: &Path) -> Result<Summary, InspectError> {
        let mut s = Summary {
            path: self.path.clone(),
            ..Default::default()
        };
        let meta = |key: &[u8]| -> Option<u64> {
            let v = self.db.get(key).ok()??;
            v.as_ref().try_into().ok().map(u64::from_be_bytes)
        };
        s.acked_seq = meta(META_ACKED);
        s.retain_floor = meta(META_FLOOR);
        for item in self.db.iter() {
            let (k, v) = item.map_err(|e| self.corrupt(format!("unreadable entry: {e}")))?;
            if k.as_ref() == META_NEXT_SEQ {
                s.next_seq = v.as_ref().try_into().ok().map(u64::from_be_bytes);
                continue;
            }
            let Ok(bytes) = <[u8; 8]>::try_from(k.as_ref()) else {
                continue;
            };
            let seq = u64::from_be_bytes(bytes);
            s.events += 1;
            let size = (k.len() + v.len()) as u64;
            s.bytes += size;
            if s.acked_seq.is_some_and(|a| seq <= a) {
                s.retained_events += 1;
                s.retained_bytes += size;
            }
            s.first_seq = Some(s.first_seq.map_or(seq, |f| f.min(seq)));
            s.last_seq = Some(s.last_seq.map_or(seq, |l| l.max(seq)));
            let kind = match v.first().and_then(|t| EventClass::from_tag(*t)) {
                Some(_) => match Event::decode(&v[1..]) {
                    Ok(ev) => {
                        s.oldest_wall_time_ms = Some(
                            s.oldest_wall_time_ms
                                .map_or(ev.wall_time_ms, |o| o.min(ev.wall_time_ms)),
                        );
                        s.newest_wall_time_ms = Some(
                            s.newest_wall_time_ms
                                .map_or(ev.wall_time_ms, |n| n.max(ev.wall_time_ms)),
                        );
                        kind_name(ev.body.as_ref())
                    }
                    Err(_) => {
                        s.undecodable += 1;
                        "undecodable"
                    }
                },
                None => {
                    s.undecodable += 1;
                    "undecodable"
                }
            };
            let e = s.kinds.entry(kind.to_owned()).or_default();
            e.0 += 1;
            e.1 += size;
        }
        s.reserved_seq = SeqFile::open(state_dir)
            .ok()
            .map(|(f, _)| f.get())
            .map(|Reservation { reserved, .. }| reserved)
            .filter(|r| *r > 0);
        Ok(s)
    }

    /// Events with `seq >= from`, at most `limit`, decoded (None for an undecodable entry).
    pub fn events(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Option<Event>)>, InspectError> {
        let mut out = Vec::new();
        for item in self.db.range(key(from)..=key(u64::MAX)).take(limit) {
            let (k, v) = item.map_err(|e| self.corrupt(format!("unreadable entry: {e}")))?;
            let Ok(bytes) = <[u8; 8]>::try_from(k.as_ref()) else {
                continue;
            };
            let ev = v.get(1..).and_then(|b| Event::decode(b).ok());
            out.push((u64::from_be_bytes(bytes), ev));
        }
        Ok(out)
    }

    fn corrupt(&self, detail: String) -> InspectError {
        InspectError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Journal;
    use super::*;
    use crate::config::JournalConfig;
    use store_proto::v1::{FootTraffic, Scan};
    use store_proto::Body;

    #[test]
    fn summarises_what_the_journal_holds_and_refuses_a_journal_in_use() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Inspector::open(dir.path()),
            Err(InspectError::Missing { .. })
        ));
        let (mut j, _r, _) = Journal::open(dir.path(), JournalConfig::default()).unwrap();
        let scan = Event {
            device_id: "s".into(),
            wall_time_ms: 1_000,
            body: Some(Body::Scan(Scan::default())),
            ..Default::default()
        };
        let tick = Event {
            device_id: "d".into(),
            wall_time_ms: 2_000,
            body: Some(Body::FootTraffic(FootTraffic::default())),
            ..Default::default()
        };
        j.append(vec![scan.clone(), tick, scan]).unwrap();
        j.trim(1).unwrap();
        // sled locks its files: a second open while the journal is in use fails cleanly.
        let e = Inspector::open(dir.path()).err().expect("locked");
        assert!(e.to_string().contains("agent running"), "{e}");
        drop(j);
        drop(_r);
        let i = Inspector::open(dir.path()).unwrap();
        let s = i.summary(dir.path()).unwrap();
        assert_eq!(
            (s.events, s.first_seq, s.last_seq, s.next_seq),
            (2, Some(2), Some(3), Some(4))
        );
        assert_eq!(s.kinds["scan"].0, 1);
        assert_eq!(s.kinds["foot_traffic"].0, 1);
        assert_eq!(
            (s.oldest_wall_time_ms, s.newest_wall_time_ms),
            (Some(1_000), Some(2_000))
        );
        assert!(s.reserved_seq.unwrap() >= 3);
        let evs = i.events(3, 10).unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].0, 3);
        assert!(matches!(
            evs[0].1.as_ref().unwrap().body,
            Some(Body::Scan(_))
        ));
    }
}
