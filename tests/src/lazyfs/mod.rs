//! A FUSE passthrough filesystem that loses what was never made durable.
//!
//! A SIGKILL leaves the kernel page cache intact, so it cannot tell whether a
//! process really called `fdatasync` before answering. This filesystem keeps
//! every data write in memory (per file) until the file is `fsync`ed or
//! `fdatasync`ed; only then does the data reach the backing directory and its
//! disk. [`LazyFs::power_cut`] freezes the filesystem, runs a caller's kill
//! (SIGKILL the process whose state lives there), drops every unsynced write
//! and thaws: the backing directory then holds exactly what a machine that lost
//! power would find. The idea is that of LazyFS.
//!
//! What is modelled: file contents and file size (writes and truncations) are
//! volatile until an fsync of that file. What is not: namespace operations
//! (create, mkdir, rename, unlink, rmdir) reach the backing directory at once,
//! as on a filesystem that journals metadata synchronously; a file created and
//! never synced therefore survives a cut with its last synced (often empty)
//! contents. Attributes other than size (mode, times) pass through.
//!
//! Test code only: it lives in the tests crate and is never a dependency of a
//! shipped binary. Mounting needs `/dev/fuse` and `fusermount3` (the `fuse3`
//! package, installed by `scripts/test.sh`); no libfuse C library is linked.

mod dirty;
mod fs;
mod state;

pub use fs::{fuse_available, LazyFs, CUT_LIMIT};
pub use state::Stats;
