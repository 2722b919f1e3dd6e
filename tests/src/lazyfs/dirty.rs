//! One file's unsynced changes: the pages written since its last fsync and its size.
//!
//! Pages, not whole-file images, because sled fsyncs often and its data file grows: a sync
//! must cost what was written, not the file's size.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const PAGE: u64 = 4096;

/// Volatile state of a file on top of its backing (durable) contents.
pub(crate) struct Dirty {
    /// Size as the processes see it.
    size: u64,
    /// Backing bytes at or past this offset are cut off (a truncation since the last sync).
    floor: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Dirty {
    pub(crate) fn new(backing_len: u64) -> Self {
        Self {
            size: backing_len,
            floor: backing_len,
            pages: BTreeMap::new(),
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Bytes held in memory (what a cut drops).
    pub(crate) fn held(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    fn load(&self, backing: &File, page: u64) -> io::Result<Box<[u8]>> {
        let mut buf = vec![0u8; PAGE as usize].into_boxed_slice();
        let start = page * PAGE;
        let end = ((page + 1) * PAGE).min(self.floor);
        let mut got = 0u64;
        while start + got < end {
            let n = backing.read_at(&mut buf[got as usize..(end - start) as usize], start + got)?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        Ok(buf)
    }

    pub(crate) fn write(&mut self, backing: &File, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let (page, within) = (at / PAGE, (at % PAGE) as usize);
            if !self.pages.contains_key(&page) {
                let loaded = self.load(backing, page)?;
                self.pages.insert(page, loaded);
            }
            let buf = self.pages.get_mut(&page).expect("inserted above");
            let n = (PAGE as usize - within).min(data.len() - done);
            buf[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.size = self.size.max(offset + data.len() as u64);
        Ok(())
    }

    pub(crate) fn truncate(&mut self, size: u64) {
        self.size = size;
        self.floor = self.floor.min(size);
        let first_gone = size.div_ceil(PAGE);
        self.pages.split_off(&first_gone);
        if size % PAGE != 0 {
            if let Some(buf) = self.pages.get_mut(&(size / PAGE)) {
                buf[(size % PAGE) as usize..].fill(0);
            }
        }
    }

    pub(crate) fn read(&self, backing: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let end = (offset + len as u64).min(self.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let (page, within) = (at / PAGE, (at % PAGE) as usize);
            let n = ((PAGE as usize - within) as u64).min(end - at) as usize;
            match self.pages.get(&page) {
                Some(buf) => out.extend_from_slice(&buf[within..within + n]),
                None => out.extend_from_slice(&self.load(backing, page)?[within..within + n]),
            }
            at += n as u64;
        }
        Ok(out)
    }

    /// Write everything to the backing file and make it durable there.
    pub(crate) fn sync(self, backing: &File) -> io::Result<()> {
        backing.set_len(self.floor)?;
        for (page, buf) in &self.pages {
            let start = page * PAGE;
            let n = (self.size.saturating_sub(start)).min(PAGE) as usize;
            backing.write_all_at(&buf[..n], start)?;
        }
        backing.set_len(self.size)?;
        backing.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backing(contents: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        std::fs::write(&path, contents).expect("write backing");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open backing");
        (dir, file)
    }

    fn on_disk(file: &File) -> Vec<u8> {
        let mut buf = vec![0; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut buf, 0).unwrap();
        buf
    }

    #[test]
    fn writes_stay_in_memory_until_sync_and_cross_pages() {
        let (_dir, file) = backing(b"old contents");
        let mut d = Dirty::new(12);
        let big = vec![7u8; 5000];
        d.write(&file, 4000, &big).unwrap();
        d.write(&file, 0, b"NEW").unwrap();
        assert_eq!(d.size(), 9000);
        assert_eq!(
            on_disk(&file),
            b"old contents",
            "a write reached the disk unsynced"
        );
        let read = d.read(&file, 0, 9000).unwrap();
        assert_eq!(&read[..12], b"NEW contents");
        assert!(read[12..4000].iter().all(|b| *b == 0));
        assert_eq!(&read[4000..], &big[..]);
        assert_eq!(d.held(), 3 * PAGE);
        d.sync(&file).unwrap();
        assert_eq!(on_disk(&file), read);
    }

    #[test]
    fn truncation_hides_backing_bytes_even_when_regrown() {
        let (_dir, file) = backing(b"0123456789");
        let mut d = Dirty::new(10);
        d.truncate(4);
        d.write(&file, 8, b"xy").unwrap();
        let read = d.read(&file, 0, 100).unwrap();
        assert_eq!(read, b"0123\0\0\0\0xy");
        assert_eq!(on_disk(&file), b"0123456789");
        d.sync(&file).unwrap();
        assert_eq!(on_disk(&file), b"0123\0\0\0\0xy");
    }
}
