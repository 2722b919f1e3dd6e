//! Opening the journal, and what happens when it cannot be opened.
//!
//! Opening validates every entry (class tag, meta entry, key shapes) and rebuilds the in-memory
//! index from them; a journal that fails that, or makes sled panic, is moved to
//! `{state_dir}/quarantine/` and a fresh one is started, so the agent never crash-loops on it
//! (ARCHITECTURE.md invariant 7). A journal merely locked by another process is never
//! quarantined: it is fine, only in use.
//!
//! Seq numbering survives the loss: when the journal's own `next_seq` is gone, numbering
//! continues above the reservation file (or, with no trustworthy record at all, jumps to a
//! time-derived seq), and a `DataLoss` event settles the seqs the lost journal may have held, so
//! the collector does not wait for them (ARCHITECTURE.md invariants 2 and 5).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use store_drivers::clock;
use store_proto::v1::{DataLoss, DataLossReason, SeqRange};
use store_proto::{Body, Event, EventClass};
use tokio::sync::watch;
use tracing::{error, info, warn};

use prost::Message;

use super::index::Index;
use super::retain::Retained;
use super::seqfile::{Reservation, SeqFile};
use super::{
    Journal, JournalError, JournalReader, JournalStats, OpenReport, AGENT_DEVICE_ID, META_ACKED,
    META_FLOOR, META_NEXT_SEQ,
};
use crate::config::JournalConfig;

impl Journal {
    /// Opens (or creates) the journal under `state_dir`, quarantining one that cannot be opened.
    pub fn open(
        state_dir: &Path,
        cfg: JournalConfig,
    ) -> Result<(Journal, JournalReader, OpenReport), JournalError> {
        let io = |source| JournalError::Io {
            path: state_dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let (seqfile, seqfile_trusted) = match SeqFile::open(state_dir) {
            Ok((f, existed)) => (f, existed),
            Err(e) => {
                error!(error = %e, "Seq reservation file unreadable; seqs will jump ahead if the journal is also lost.");
                let path = state_dir.join("seq.reserved");
                let _ = std::fs::rename(&path, path.with_extension("corrupt"));
                (SeqFile::open(state_dir).map_err(io)?.0, false)
            }
        };
        let path = state_dir.join("journal");
        let existed = path.exists();
        let mut quarantined_to = None;
        let mut loss_detail = None;
        let cache = cfg.cache_bytes;
        let age = cfg.retain_age_secs;
        let opened = match open_db(&path, cache, age) {
            Ok(o) => o,
            Err(e @ JournalError::Locked { .. }) => return Err(e),
            Err(e) => {
                let dest = quarantine(state_dir, &path).map_err(io)?;
                error!(
                    error = %e,
                    quarantine = %dest.display(),
                    "JOURNAL CORRUPT: moved it to quarantine and started a fresh one; its unacknowledged events are lost."
                );
                loss_detail = Some(format!(
                    "journal could not be opened ({e}); moved to {}",
                    dest.display()
                ));
                quarantined_to = Some(dest);
                open_db(&path, cache, age)?
            }
        };
        let Opened {
            db,
            data_file,
            index,
            retained,
            acked: journal_acked,
            floor,
            next_seq: stored_next,
        } = opened;
        let Reservation { reserved, acked } = seqfile.get();
        let mut next_seq = stored_next.unwrap_or(1);
        let mut internal = Vec::new();
        if stored_next.is_none() && (reserved > 0 || !seqfile_trusted) {
            // The journal's own record of issued seqs is gone (quarantined, or the folder was
            // deleted): continue above anything that may have been issued.
            let mut floor = reserved + 1;
            if !seqfile_trusted && (existed || quarantined_to.is_some()) {
                // No trustworthy record at all: jump to a time-derived seq, far above any
                // count this agent can have reached.
                floor = floor.max(clock::wall_ms().max(1) as u64 * 1000);
            }
            if floor > 1 {
                next_seq = floor;
                let detail = loss_detail.take().unwrap_or_else(|| {
                    "journal folder was missing; continuing seq numbering".to_owned()
                });
                if quarantined_to.is_none() {
                    warn!(%detail, "Journal missing although seqs were issued before.");
                }
                internal.push(lost_journal_event(acked + 1, floor - 1, detail));
            }
        }
        if let Some(last) = index_last(&index) {
            next_seq = next_seq.max(last + 1);
        }
        // Retained seqs are issued too (a journal of only retained events has an empty index).
        if let Some(c) = retained.chunks().back() {
            next_seq = next_seq.max(c.last + 1);
        }
        // Below the lowest held seq nothing is held: after a quarantine or a lost folder that
        // is everything issued before, which a restored collector must hear is gone.
        let lowest = retained
            .chunks()
            .front()
            .map(|c| c.first)
            .or_else(|| index_first(&index))
            .unwrap_or(next_seq);
        let floor = floor.max(lowest);
        Self::assemble(
            path,
            db,
            data_file,
            Kept {
                index,
                retained,
                acked: journal_acked,
                floor,
            },
            next_seq,
            seqfile,
            cfg,
            internal,
            quarantined_to,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        path: PathBuf,
        db: sled::Db,
        data_file: File,
        kept: Kept,
        next_seq: u64,
        seqfile: SeqFile,
        cfg: JournalConfig,
        internal: Vec<Event>,
        quarantined_to: Option<PathBuf>,
    ) -> Result<(Journal, JournalReader, OpenReport), JournalError> {
        let Kept {
            index,
            retained,
            acked,
            floor,
        } = kept;
        let head = next_seq - 1;
        let (head_tx, head_rx) = watch::channel(head);
        let stats = Arc::new(JournalStats::default());
        stats.head.store(head, Ordering::Relaxed);
        stats.trimmed_through.store(acked, Ordering::Relaxed);
        let report = OpenReport {
            quarantined_to,
            next_seq,
            held: index.entries() + retained.events(),
        };
        let journal = Journal {
            path,
            db: db.clone(),
            data_file,
            index,
            next_seq,
            seqfile,
            cfg,
            trimmed_through: acked,
            retained,
            floor,
            head_tx,
            stats: stats.clone(),
            internal,
        };
        journal.publish_stats();
        info!(
            next_seq,
            held = report.held,
            bytes = journal.index.bytes(),
            retained = journal.retained.events(),
            retained_bytes = journal.retained.bytes(),
            acked,
            retain_floor = floor,
            "Journal open."
        );
        let reader = JournalReader {
            db,
            head: head_rx,
            stats,
        };
        Ok((journal, reader, report))
    }
}

/// The DataLoss event for a journal whose contents are gone: seqs `first..=last` are settled.
fn lost_journal_event(first: u64, last: u64, detail: String) -> Event {
    let mut ev = Event {
        device_id: AGENT_DEVICE_ID.to_owned(),
        body: Some(Body::DataLoss(DataLoss {
            reason: DataLossReason::JournalQuarantined as i32,
            ranges: if first <= last {
                vec![SeqRange { first, last }]
            } else {
                vec![]
            },
            classes: vec![],
            exact: false,
            detail,
        })),
        ..Default::default()
    };
    clock::stamp(&mut ev);
    ev
}

fn index_first(index: &Index) -> Option<u64> {
    [
        EventClass::Diagnostic,
        EventClass::FootTraffic,
        EventClass::Business,
        EventClass::Critical,
    ]
    .iter()
    .filter_map(|c| index.class(*c).front().map(|e| e.0))
    .min()
}

fn index_last(index: &Index) -> Option<u64> {
    [
        EventClass::Diagnostic,
        EventClass::FootTraffic,
        EventClass::Business,
        EventClass::Critical,
    ]
    .iter()
    .filter_map(|c| index.class(*c).back().map(|e| e.0))
    .max()
}

struct Opened {
    db: sled::Db,
    data_file: File,
    index: Index,
    retained: Retained,
    acked: u64,
    floor: u64,
    next_seq: Option<u64>,
}

/// What the journal holds, split at the acked mark.
struct Kept {
    index: Index,
    retained: Retained,
    acked: u64,
    floor: u64,
}

/// Opens sled and validates every entry. sled may panic on some corruptions: that is caught and
/// reported as corruption, so the caller can quarantine instead of crash-looping.
fn open_db(path: &Path, cache_bytes: u64, retain_age_secs: u64) -> Result<Opened, JournalError> {
    let p = path.to_owned();
    match std::panic::catch_unwind(move || open_db_inner(&p, cache_bytes, retain_age_secs)) {
        Ok(r) => r,
        Err(panic) => Err(JournalError::Corrupt {
            path: path.to_owned(),
            detail: format!(
                "sled panicked while opening: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            ),
        }),
    }
}

fn open_db_inner(
    path: &Path,
    cache_bytes: u64,
    retain_age_secs: u64,
) -> Result<Opened, JournalError> {
    let corrupt = |detail: String| JournalError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .open()
        .map_err(|source| {
            // sled reports a held lock as an I/O error of kind Other with this message
            // (sled 0.34 config.rs, try_lock); there is no typed variant to match.
            match &source {
                sled::Error::Io(e)
                    if e.kind() == std::io::ErrorKind::Other
                        && e.to_string().starts_with("could not acquire lock") =>
                {
                    JournalError::Locked {
                        path: path.to_owned(),
                    }
                }
                _ => JournalError::Sled {
                    path: path.to_owned(),
                    source,
                },
            }
        })?;
    store_runtime::sled_durable::sync(path).map_err(|source| JournalError::Io {
        path: path.to_owned(),
        source,
    })?;
    let data_path = path.join("db");
    let data_file = File::open(&data_path).map_err(|source| JournalError::Io {
        path: data_path.clone(),
        source,
    })?;
    let meta = |name: &[u8], key: &[u8]| -> Result<u64, JournalError> {
        match db.get(key) {
            Ok(Some(v)) => <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    corrupt(format!(
                        "meta {} is not 8 bytes",
                        String::from_utf8_lossy(name)
                    ))
                }),
            Ok(None) => Ok(0),
            Err(e) => Err(corrupt(format!("unreadable meta entry: {e}"))),
        }
    };
    let acked = meta(b"acked", META_ACKED)?;
    let floor = meta(b"retain_floor", META_FLOOR)?;
    let mut index = Index::default();
    let mut retained = Retained::new(retain_age_secs);
    let mut next_seq = None;
    for item in db.iter() {
        let (k, v) = item.map_err(|e| corrupt(format!("unreadable entry: {e}")))?;
        if k.len() == 8 {
            let seq = u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes"));
            let class = v
                .first()
                .and_then(|t| EventClass::from_tag(*t))
                .ok_or_else(|| corrupt(format!("entry {seq} has no valid class tag")))?;
            if seq <= acked {
                // Retained: only its time is needed, for the age limit.
                let wall = store_proto::Event::decode(&v[1..])
                    .map(|e| e.wall_time_ms)
                    .unwrap_or_else(|_| clock::reported_ms());
                retained.add(seq, (v.len() + 8) as u32, wall);
            } else {
                index.push(seq, class, (v.len() + 8) as u32);
            }
        } else if k.as_ref() == META_ACKED || k.as_ref() == META_FLOOR {
            // Read above.
        } else if k.as_ref() == META_NEXT_SEQ {
            let bytes: [u8; 8] = v
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("meta next_seq is not 8 bytes".to_owned()))?;
            next_seq = Some(u64::from_be_bytes(bytes));
        } else {
            return Err(corrupt(format!("unexpected key of {} bytes", k.len())));
        }
    }
    Ok(Opened {
        db,
        data_file,
        index,
        retained,
        acked,
        floor,
        next_seq,
    })
}

/// Moves a journal folder into `{state_dir}/quarantine/journal-<ms>`.
fn quarantine(state_dir: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let qdir = state_dir.join("quarantine");
    std::fs::create_dir_all(&qdir)?;
    let mut dest = qdir.join(format!("journal-{}", clock::wall_ms()));
    let mut n = 1;
    while dest.exists() {
        dest = qdir.join(format!("journal-{}-{n}", clock::wall_ms()));
        n += 1;
    }
    std::fs::rename(path, &dest)?;
    Ok(dest)
}
