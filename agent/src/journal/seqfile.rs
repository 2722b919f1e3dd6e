//! The seq reservation file, `{state_dir}/seq.reserved`, kept outside the journal folder.
//!
//! It records the highest seq the journal may have issued (reserved ahead in blocks, one fsync per
//! block) and a lower bound of the collector's committed mark. It exists for the one case where
//! the journal itself cannot be trusted: after a quarantine the new journal continues from
//! `reserved + 1`, so a seq is never reused, and the DataLoss event covers
//! `acked + 1 ..= reserved`.
//!
//! Format: one line of ASCII, `reserved=<u64> acked=<u64>\n`. Written to a temporary file,
//! fsynced, renamed over the old one, and the directory fsynced.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reservation {
    /// Every seq ever issued is `<= reserved`.
    pub reserved: u64,
    /// Every seq `<= acked` was committed by a collector (a lower bound; may be stale).
    pub acked: u64,
}

#[derive(Debug)]
pub struct SeqFile {
    path: PathBuf,
    current: Reservation,
}

impl SeqFile {
    /// Opens the file; a missing file is a fresh install, an unreadable one an error.
    pub fn open(state_dir: &Path) -> std::io::Result<(Self, bool)> {
        let path = state_dir.join("seq.reserved");
        let (current, existed) = match fs::read_to_string(&path) {
            Ok(text) => (
                parse(&text).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: cannot parse {:?}", path.display(), text.trim()),
                    )
                })?,
                true,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Reservation::default(), false),
            Err(e) => return Err(e),
        };
        Ok((Self { path, current }, existed))
    }

    pub fn get(&self) -> Reservation {
        self.current
    }

    /// Makes sure every seq up to `needed` is reserved, reserving `block` more when not.
    /// Returns true when it had to write (and fsync) the file.
    pub fn ensure(&mut self, needed: u64, block: u64, acked: u64) -> std::io::Result<bool> {
        if needed <= self.current.reserved {
            return Ok(false);
        }
        let next = Reservation {
            reserved: needed.saturating_add(block),
            acked: acked.max(self.current.acked),
        };
        self.write(next)?;
        Ok(true)
    }

    /// Writes a reservation durably.
    pub fn write(&mut self, r: Reservation) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = File::create(&tmp)?;
            writeln!(f, "reserved={} acked={}", r.reserved, r.acked)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.current = r;
        Ok(())
    }
}

fn parse(text: &str) -> Option<Reservation> {
    let mut r = Reservation::default();
    let mut seen = 0;
    for part in text.split_whitespace() {
        let (k, v) = part.split_once('=')?;
        let v: u64 = v.parse().ok()?;
        match k {
            "reserved" => r.reserved = v,
            "acked" => r.acked = v,
            _ => return None,
        }
        seen += 1;
    }
    (seen == 2).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_in_blocks_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, existed) = SeqFile::open(dir.path()).unwrap();
        assert!(!existed);
        assert!(f.ensure(1, 100, 0).unwrap());
        assert!(!f.ensure(50, 100, 0).unwrap());
        assert!(f.ensure(102, 100, 7).unwrap());
        let (f2, existed) = SeqFile::open(dir.path()).unwrap();
        assert!(existed);
        assert_eq!(
            f2.get(),
            Reservation {
                reserved: 202,
                acked: 7
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("seq.reserved"), "reserved=x").unwrap();
        assert!(SeqFile::open(dir.path()).is_err());
    }
}
