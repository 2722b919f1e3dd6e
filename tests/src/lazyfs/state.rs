//! Inode table and the volatile layer: what the filesystem knows between cuts.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::dirty::Dirty;

/// FUSE's fixed inode number of the mount's root.
pub(crate) const ROOT: u64 = 1;

/// Everything the FUSE thread and the controlling test share.
pub(crate) struct State {
    pub(crate) backing: PathBuf,
    paths: HashMap<u64, PathBuf>,
    inos: HashMap<PathBuf, u64>,
    next_ino: u64,
    /// Unsynced changes of each file written since its last fsync.
    dirty: HashMap<u64, Dirty>,
    pub(crate) stats: Stats,
    /// Set for the duration of a power cut: requests fail instead of touching the state.
    pub(crate) frozen: bool,
}

/// Counters a test can assert on, so a cut that lost nothing is visible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// File syncs that moved data to the backing disk.
    pub syncs: u64,
    /// Power cuts performed.
    pub cuts: u64,
    /// Files whose unsynced data the last cut dropped.
    pub files_lost_in_last_cut: u64,
    /// Bytes of unsynced file images the last cut dropped.
    pub bytes_lost_in_last_cut: u64,
}

impl State {
    pub(crate) fn new(backing: PathBuf) -> Self {
        let mut paths = HashMap::new();
        let mut inos = HashMap::new();
        paths.insert(ROOT, PathBuf::new());
        inos.insert(PathBuf::new(), ROOT);
        Self {
            backing,
            paths,
            inos,
            next_ino: ROOT + 1,
            dirty: HashMap::new(),
            stats: Stats::default(),
            frozen: false,
        }
    }

    pub(crate) fn rel(&self, ino: u64) -> Option<&Path> {
        self.paths.get(&ino).map(PathBuf::as_path)
    }

    pub(crate) fn real(&self, ino: u64) -> Option<PathBuf> {
        self.rel(ino).map(|r| self.backing.join(r))
    }

    pub(crate) fn child(&self, parent: u64, name: &std::ffi::OsStr) -> Option<PathBuf> {
        self.rel(parent).map(|p| p.join(name))
    }

    /// Inode number of a relative path, assigned on first sight.
    pub(crate) fn ino_of(&mut self, rel: &Path) -> u64 {
        if let Some(ino) = self.inos.get(rel) {
            return *ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.paths.insert(ino, rel.to_path_buf());
        self.inos.insert(rel.to_path_buf(), ino);
        ino
    }

    /// Forget a removed path; its unsynced data goes with it.
    pub(crate) fn removed(&mut self, rel: &Path) {
        if let Some(ino) = self.inos.remove(rel) {
            self.paths.remove(&ino);
            self.dirty.remove(&ino);
        }
    }

    /// Re-key a renamed path and everything below it; inode numbers (and so
    /// unsynced data) follow the file, as they do on a real filesystem.
    pub(crate) fn renamed(&mut self, from: &Path, to: &Path) {
        self.removed(to);
        let moved: Vec<(PathBuf, u64)> = self
            .inos
            .iter()
            .filter(|(p, _)| p.starts_with(from))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (old, ino) in moved {
            let suffix = old
                .strip_prefix(from)
                .unwrap_or(Path::new(""))
                .to_path_buf();
            let new = if suffix.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(suffix)
            };
            self.inos.remove(&old);
            self.inos.insert(new.clone(), ino);
            self.paths.insert(ino, new);
        }
    }

    pub(crate) fn dirty_len(&self, ino: u64) -> Option<u64> {
        self.dirty.get(&ino).map(Dirty::size)
    }

    fn backing_file(&self, ino: u64, write: bool) -> io::Result<File> {
        let path = self
            .real(ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        OpenOptions::new().read(true).write(write).open(path)
    }

    pub(crate) fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> io::Result<()> {
        let file = self.backing_file(ino, false)?;
        let len = file.metadata()?.len();
        let dirty = self.dirty.entry(ino).or_insert_with(|| Dirty::new(len));
        dirty.write(&file, offset, data)
    }

    /// A truncation changes data, so it is as volatile as a write.
    pub(crate) fn truncate(&mut self, ino: u64, size: u64) -> io::Result<()> {
        let file = self.backing_file(ino, false)?;
        let len = file.metadata()?.len();
        self.dirty
            .entry(ino)
            .or_insert_with(|| Dirty::new(len))
            .truncate(size);
        Ok(())
    }

    pub(crate) fn read(&self, ino: u64, offset: u64, size: usize) -> io::Result<Vec<u8>> {
        let file = self.backing_file(ino, false)?;
        match self.dirty.get(&ino) {
            Some(dirty) => dirty.read(&file, offset, size),
            None => Dirty::new(file.metadata()?.len()).read(&file, offset, size),
        }
    }

    /// Make a file's unsynced data durable on the backing disk.
    pub(crate) fn sync(&mut self, ino: u64) -> io::Result<()> {
        let Some(dirty) = self.dirty.remove(&ino) else {
            return Ok(());
        };
        let file = self.backing_file(ino, true)?;
        dirty.sync(&file)?;
        self.stats.syncs += 1;
        Ok(())
    }

    /// Drop every unsynced write, as a power cut would.
    pub(crate) fn discard(&mut self) {
        self.stats.cuts += 1;
        self.stats.files_lost_in_last_cut = self.dirty.len() as u64;
        self.stats.bytes_lost_in_last_cut = self.dirty.values().map(Dirty::held).sum();
        self.dirty.clear();
    }
}
