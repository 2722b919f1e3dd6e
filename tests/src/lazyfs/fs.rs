//! The FUSE side: kernel requests served from [`State`], and the test's handle.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    consts::FOPEN_DIRECT_IO, BackgroundSession, FileAttr, FileType, Filesystem, MountOption,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

use super::state::{State, Stats, ROOT};

/// No attribute or entry caching in the kernel: after a cut the backing
/// directory is the only truth and the kernel must ask again.
const TTL: Duration = Duration::ZERO;

/// How long a power cut's kill may take before the test process gives up.
pub const CUT_LIMIT: Duration = Duration::from_secs(60);

/// Whether this machine can mount FUSE filesystems (device and helper present).
pub fn fuse_available() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse is missing".into());
    }
    let helper = ["/usr/bin/fusermount3", "/bin/fusermount3"];
    if !helper.iter().any(|p| Path::new(p).exists()) {
        return Err("fusermount3 is missing (install the fuse3 package)".into());
    }
    Ok(())
}

/// A mounted lazy filesystem. Dropping it unmounts.
pub struct LazyFs {
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
}

impl LazyFs {
    /// Mount a filesystem at `mountpoint` whose durable contents live in
    /// `backing` (both existing directories).
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Self> {
        let state = Arc::new(Mutex::new(State::new(backing.to_path_buf())));
        let fs = Fuse {
            state: state.clone(),
        };
        let opts = [
            MountOption::FSName("lazyfs".into()),
            MountOption::RW,
            MountOption::DefaultPermissions,
        ];
        let session = fuser::spawn_mount2(fs, mountpoint, &opts)?;
        Ok(Self {
            state,
            mountpoint: mountpoint.to_path_buf(),
            session: Some(session),
        })
    }

    /// Where processes see the filesystem.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.state).stats
    }

    /// Cut the power: freeze the filesystem (requests fail with EIO), run `kill`
    /// (which must SIGKILL and reap every process using the mount), drop all
    /// unsynced data, thaw. Returns what `kill` returned.
    ///
    /// A `kill` that has not returned after [`CUT_LIMIT`] aborts the whole test
    /// process with a message: a hung cut must fail the run, not stall it.
    pub fn power_cut<T>(&self, kill: impl FnOnce() -> T) -> T {
        // The lock must not be held while `kill` waits for the process to die: a FUSE request
        // the kernel has already handed to us cannot be interrupted, so a process blocked in
        // one stays unkillable until we answer it, and a FUSE thread waiting for this lock
        // would never answer (a deadlock that hung CI). Frozen, every request fails at once
        // with EIO instead, as I/O on a machine losing power would, and nothing reaches the
        // state while the process dies.
        lock(&self.state).frozen = true;
        let (done, watch) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(CUT_LIMIT) {
                eprintln!(
                    "lazyfs: the power cut's kill did not return within {CUT_LIMIT:?} \
                     (a process stuck in a FUSE request?); aborting the test process"
                );
                std::process::abort();
            }
        });
        let out = kill();
        let _ = done.send(());
        let mut state = lock(&self.state);
        state.discard();
        state.frozen = false;
        out
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        // Joining unmounts via fusermount3 and waits for the FUSE thread.
        if let Some(s) = self.session.take() {
            s.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic on the FUSE thread must not hide the state from the test.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn attr(ino: u64, md: &fs::Metadata, size: Option<u64>) -> FileAttr {
    let kind = if md.is_dir() {
        FileType::Directory
    } else if md.file_type().is_symlink() {
        FileType::Symlink
    } else {
        FileType::RegularFile
    };
    let time = |s: i64, ns: i64| {
        UNIX_EPOCH
            + Duration::new(
                u64::try_from(s).unwrap_or(0),
                ns.clamp(0, 999_999_999) as u32,
            )
    };
    let size = size.unwrap_or(md.size());
    FileAttr {
        ino,
        size,
        blocks: size.div_ceil(512),
        atime: time(md.atime(), md.atime_nsec()),
        mtime: time(md.mtime(), md.mtime_nsec()),
        ctime: time(md.ctime(), md.ctime_nsec()),
        crtime: time(md.ctime(), md.ctime_nsec()),
        kind,
        perm: (md.mode() & 0o7777) as u16,
        nlink: md.nlink() as u32,
        uid: md.uid(),
        gid: md.gid(),
        rdev: md.rdev() as u32,
        blksize: 4096,
        flags: 0,
    }
}

struct Fuse {
    state: Arc<Mutex<State>>,
}

impl Fuse {
    /// The state, unless a power cut is in progress (then the caller answers EIO).
    fn live(&self) -> Option<MutexGuard<'_, State>> {
        let st = lock(&self.state);
        (!st.frozen).then_some(st)
    }

    /// Attributes of a known inode, with the unsynced size if any.
    fn stat(st: &State, ino: u64) -> io::Result<FileAttr> {
        let path = st
            .real(ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let md = fs::symlink_metadata(path)?;
        Ok(attr(ino, &md, st.dirty_len(ino)))
    }

    fn entry_of(st: &mut State, rel: &Path) -> io::Result<FileAttr> {
        let md = fs::symlink_metadata(st.backing.join(rel))?;
        let ino = st.ino_of(rel);
        Ok(attr(ino, &md, st.dirty_len(ino)))
    }
}

impl Filesystem for Fuse {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let Some(rel) = st.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        match Self::entry_of(&mut st, &rel) {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let Some(st) = self.live() else {
            return reply.error(libc::EIO);
        };
        match Self::stat(&st, ino) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let result = (|| -> io::Result<FileAttr> {
            if let Some(mode) = mode {
                let path = st
                    .real(ino)
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
                fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
            }
            if let Some(size) = size {
                st.truncate(ino, size)?;
            }
            Self::stat(&st, ino)
        })();
        match result {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let Some(rel) = st.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        let result = fs::create_dir(st.backing.join(&rel))
            .and_then(|()| {
                fs::set_permissions(
                    st.backing.join(&rel),
                    fs::Permissions::from_mode(mode & !umask),
                )
            })
            .and_then(|()| Self::entry_of(&mut st, &rel));
        match result {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let Some(rel) = st.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        match fs::remove_file(st.backing.join(&rel)) {
            Ok(()) => {
                st.removed(&rel);
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let Some(rel) = st.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        match fs::remove_dir(st.backing.join(&rel)) {
            Ok(()) => {
                st.removed(&rel);
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        if flags != 0 {
            // RENAME_NOREPLACE / EXCHANGE are not needed by the code under test.
            return reply.error(libc::EINVAL);
        }
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let (Some(from), Some(to)) = (st.child(parent, name), st.child(newparent, newname)) else {
            return reply.error(libc::ENOENT);
        };
        match fs::rename(st.backing.join(&from), st.backing.join(&to)) {
            Ok(()) => {
                st.renamed(&from, &to);
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let result = (|| -> io::Result<()> {
            let path = st
                .real(ino)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
            fs::symlink_metadata(path)?;
            if flags & libc::O_TRUNC != 0 {
                st.truncate(ino, 0)?;
            }
            Ok(())
        })();
        match result {
            // Direct I/O keeps the kernel page cache out of the way: it would
            // otherwise serve data the cut has dropped.
            Ok(()) => reply.opened(0, FOPEN_DIRECT_IO),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let Some(st) = self.live() else {
            return reply.error(libc::EIO);
        };
        match st.read(ino, offset.max(0) as u64, size as usize) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let result = st.write(ino, offset.max(0) as u64, data);
        match result {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lo: u64, reply: ReplyEmpty) {
        // close() is not a sync: nothing becomes durable here.
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        match st.sync(ino) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let Some(rel) = st.rel(ino).map(Path::to_path_buf) else {
            return reply.error(libc::ENOENT);
        };
        let entries = match fs::read_dir(st.backing.join(&rel)) {
            Ok(rd) => rd,
            Err(e) => return reply.error(errno(&e)),
        };
        let mut all = vec![
            (ino, FileType::Directory, ".".into()),
            (ROOT, FileType::Directory, "..".into()),
        ];
        for entry in entries.flatten() {
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => FileType::Directory,
                Ok(t) if t.is_symlink() => FileType::Symlink,
                _ => FileType::RegularFile,
            };
            let child_ino = st.ino_of(&rel.join(entry.file_name()));
            all.push((child_ino, kind, entry.file_name()));
        }
        for (i, (ino, kind, name)) in all.into_iter().enumerate().skip(offset.max(0) as usize) {
            if reply.add(ino, (i + 1) as i64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        // Namespace changes are already durable in this model.
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        reply.statfs(1 << 24, 1 << 23, 1 << 23, 1 << 20, 1 << 19, 4096, 255, 4096);
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let Some(mut st) = self.live() else {
            return reply.error(libc::EIO);
        };
        let Some(rel) = st.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        let path = st.backing.join(&rel);
        let result = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .and_then(|_| fs::set_permissions(&path, fs::Permissions::from_mode(mode & !umask)))
            .and_then(|()| {
                let ino = st.ino_of(&rel);
                if flags & libc::O_TRUNC != 0 {
                    st.truncate(ino, 0)?;
                }
                Self::entry_of(&mut st, &rel)
            });
        match result {
            Ok(a) => reply.created(&TTL, &a, 0, 0, FOPEN_DIRECT_IO),
            Err(e) => reply.error(errno(&e)),
        }
    }
}
